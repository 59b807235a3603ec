/* Internal pieces of the tokenizer module, shared by its .c files.
 *
 * vocab.c   loading, special-token detection, pieces, queries
 * strmap.c  the string -> id hash table
 * unicode.c UTF-8 decoding the way the reference engine does it, the set of
 *           whitespace code points, the GPT-2 byte<->unicode table
 * pretok.c  byte-level BPE pre-tokenizer rules (PCRE2) and splitting
 * encode.c  special-token partition, SentencePiece and BPE merges, tk_tokenize
 * decode.c  pieces, tk_detokenize, the streaming detokenizer
 *
 * Hugging Face tokenizer.json vocabularies (TOK_KIND_HF):
 * hf_load.c      tokenizer.json / tokenizer_config.json / generation_config.json
 * hf_normalize.c normalizers (NFC with hf_nfc_table.h, Prepend, Replace, ...)
 * hf_pretok.c    pre-tokenizers (Split, ByteLevel, Metaspace, Digits, ...)
 * hf_encode.c    added tokens, the BPE model, post-processing: tok_hf_encode
 * hf_decode.c    decoders: per-token pieces and the whole-sequence rules
 */
#ifndef TK_TOKENIZER_INTERNAL_H
#define TK_TOKENIZER_INTERNAL_H

#include "core/core.h"
#include "tektra/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Hard limits on what a file may claim. */
#define TOK_MAX_VOCAB     (1u << 24)
#define TOK_MAX_MERGES    (1u << 24)
#define TOK_MAX_TEXT      ((size_t)1 << 30) /* bytes of text per tokenize call */
#define TOK_MAX_PRE_REGEX 8

/* Token attributes (bit set). The file gives one type per token; loading may
 * add CONTROL (end-of-turn tokens typed otherwise) and LSTRIP/RSTRIP. */
enum {
    TOK_ATTR_UNDEFINED = 1u << 0,
    TOK_ATTR_NORMAL = 1u << 1,
    TOK_ATTR_UNKNOWN = 1u << 2,
    TOK_ATTR_CONTROL = 1u << 3,
    TOK_ATTR_USER_DEFINED = 1u << 4,
    TOK_ATTR_UNUSED = 1u << 5,
    TOK_ATTR_BYTE = 1u << 6,
    TOK_ATTR_LSTRIP = 1u << 7, /* a special token that swallows whitespace before it */
    TOK_ATTR_RSTRIP = 1u << 8, /* ... and after it */
    TOK_ATTR_EOG = 1u << 9,    /* ends a generation */
};

/* ---- growable byte strings with a hash index ---------------------------- */

/* Maps byte strings to int32 values. Strings are copied into `arena`. */
typedef struct tok_strmap {
    char *arena; /* [arena_len] all strings, each followed by a NUL */
    size_t arena_len, arena_cap;
    uint32_t *off;  /* [n] offset of string i in arena */
    uint32_t *len;  /* [n] length of string i */
    int32_t *value; /* [n] */
    uint32_t n, cap;
    uint32_t *slots; /* [mask+1] entry index + 1, 0 = empty */
    uint32_t mask;
} tok_strmap;

void tok_strmap_free(tok_strmap *m);
/* Value of the string, or -1 when absent. */
int32_t tok_strmap_find(const tok_strmap *m, const char *s, size_t len);
/* Adds the string with `value` unless present; *found (optional) tells
 * which; *entry (optional) receives the entry index. TK_ERR_NOMEM/LIMIT. */
tk_status tok_strmap_add(tok_strmap *m, const char *s, size_t len, int32_t value, bool *found,
                         uint32_t *entry);
uint64_t tok_hash_bytes(const char *s, size_t len);

/* ---- unicode helpers (unicode.c) ---------------------------------------- */

/* Length of the UTF-8 sequence that starts with byte c, from its high nibble
 * only (1 for ASCII and stray continuation bytes, 2, 3 or 4). */
static inline size_t tok_utf8_len(unsigned char c)
{
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}
/* Decodes one code point at s[*i] (i < n) as the reference engine does:
 * structure is checked (lead byte, continuation bytes, enough bytes), but
 * overlong forms and surrogates are accepted. Ill-formed input and values
 * above U+10FFFF give U+FFFD and consume one byte. */
uint32_t tok_utf8_decode(const unsigned char *s, size_t n, size_t *i);
/* Writes cp as UTF-8 (1..4 bytes, surrogates included); returns the length. */
size_t tok_utf8_encode(uint32_t cp, char *out);
/* Unicode White_Space property. */
bool tok_is_whitespace(uint32_t cp);
/* GPT-2 byte-level mapping: the code point that stands for byte b. */
uint32_t tok_byte_to_cp(unsigned char b);
/* Inverse mapping; -1 when cp stands for no byte. */
int tok_cp_to_byte(uint32_t cp);
/* Length of the well-formed UTF-8 sequence at s (n bytes available), per the
 * Unicode table of well-formed byte sequences: >0 complete and valid; 0 a
 * valid but incomplete prefix (needs more bytes); <0 ill-formed, -k meaning
 * the first k bytes form a maximal ill-formed subpart (k >= 1). */
int tok_utf8_check(const unsigned char *s, size_t n);

/* ---- pre-tokenizer (pretok.c) ------------------------------------------- */

typedef struct tok_pretok {
    int n_re;
    pcre2_code *re[TOK_MAX_PRE_REGEX]; /* compiled once, shared read-only by all threads */
    pcre2_match_context *mctx;         /* limits for the interpreter fallback */
} tok_pretok;

typedef struct tok_pre_info {
    const char *name; /* canonical rule-set name */
    int rules;        /* internal rule-set id */
    bool clean_spaces;
    bool ignore_merges;
    bool add_bos;
} tok_pre_info;

/* Rule set for a `tokenizer.ggml.pre` value (NULL or "" = missing). Returns
 * false for unknown names (then *info describes the gpt-2 fallback). */
bool tok_pre_lookup(const char *pre, tok_pre_info *info);
tk_status tok_pretok_compile(tok_pretok *p, int rules);
void tok_pretok_free(tok_pretok *p);

/* Splits subject[0..n) (UTF-8, valid) into pieces. `cuts` receives the end
 * offsets of the pieces in order (the last is n); *n_cuts their number.
 * `cuts` must have room for n entries. Scratch `tmp` likewise. */
tk_status tok_pretok_split(const tok_pretok *p, const char *subject, size_t n, uint32_t *cuts,
                           uint32_t *tmp, size_t *n_cuts);

/* ---- the tokenizer ------------------------------------------------------ */

enum { TOK_KIND_SPM = 0, TOK_KIND_BPE = 1, TOK_KIND_HF = 2 };

typedef struct tok_hf tok_hf; /* defined below */

/* Byte-trie node for finding special tokens in text. */
typedef struct tok_trie_node {
    uint32_t first_child;  /* node index, 0 = none */
    uint32_t next_sibling; /* node index, 0 = none */
    int32_t spec;          /* index into special[] of the token ending here, or -1 */
    unsigned char byte;
} tok_trie_node;

/* One BPE merge: (left, right) string ids -> rank and the id of the result. */
typedef struct tok_merge {
    uint32_t left, right; /* string ids (tok_strmap values) */
    int32_t rank;         /* position in tokenizer.ggml.merges */
    int32_t result;       /* string id of left+right, -1 if not a known string */
} tok_merge;

struct tk_tokenizer {
    int kind;
    int32_t n_vocab;

    /* per token */
    char *text_arena;    /* token texts, each followed by a NUL */
    uint32_t *text_off;  /* [n_vocab] */
    uint32_t *text_len;  /* [n_vocab] */
    float *score;        /* [n_vocab] */
    uint16_t *attr;      /* [n_vocab] TOK_ATTR_* */
    char *piece_arena;   /* rendered pieces (special tokens as their text) */
    uint32_t *piece_off; /* [n_vocab] */
    uint32_t *piece_len; /* [n_vocab] */
    uint32_t max_piece;  /* longest piece */

    /* text -> id. Values < n_vocab are token ids (the first token with that
     * text); bpe adds merge halves that are no token with values >= n_vocab. */
    tok_strmap strings;

    /* bpe */
    tok_merge *merges; /* open-addressing table, [merge_mask+1]; left = UINT32_MAX empty */
    uint32_t merge_mask;
    int32_t byte_string[256];    /* string id of the mapped character of each byte, -1 none */
    int32_t byte_single[256][2]; /* single-byte tokens of its UTF-8 bytes, -1 none */
    char byte_utf8[256][2];      /* UTF-8 of the mapped character of each byte */
    unsigned char byte_utf8_len[256];
    tok_pretok pre;
    char pre_name[96];
    bool ignore_merges;

    /* spm */
    int32_t byte_token[256]; /* <0xNN> (or the one-byte token), else unk, else -1 */
    bool spm_word_split;     /* no token has U+2581 right after another character */

    /* special tokens: ids sorted by text length (longest first), then id */
    int32_t *special;
    uint32_t n_special;
    tok_trie_node *trie; /* [n_trie]; node 0 unused */
    uint32_t n_trie;
    uint32_t trie_root[256]; /* first node per first byte, 0 = none */

    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos, add_space_prefix, clean_spaces;

    tok_hf *hf; /* TOK_KIND_HF: the tokenizer.json pipeline, else NULL */
};

/* A stretch of text: raw text [off, off + len) when id < 0, else the special
 * token id written there. */
typedef struct tok_frag {
    uint32_t off, len;
    int32_t id;
} tok_frag;

/* Cuts the special tokens out of text (encode.c): longest tokens first, each
 * taking its leftmost non-overlapping occurrences in text no other token has
 * taken; whitespace next to tokens with LSTRIP/RSTRIP is dropped. Without
 * parse_special only user-defined tokens are cut. *frags is allocated (free
 * with free()), NULL when len is 0. */
tk_status tok_partition(const tk_tokenizer *t, const char *text, size_t len, bool parse_special,
                        tok_frag **frags, size_t *n_frags);

/* Growable id list. */
typedef struct tok_ivec {
    int32_t *p;
    size_t n, cap;
} tok_ivec;
tk_status tok_ivec_push(tok_ivec *v, int32_t x);

/* Optional string kv of g (vocab.c): *s = NULL when absent, TK_ERR_FORMAT
 * naming the key when it is not a string. */
tk_status tok_gguf_opt_str(const tk_gguf *g, const char *key, const char **s, uint64_t *len);

/* Allocates the per-token arrays (text_off, text_len, score, attr) for n
 * tokens, zeroed (vocab.c); TK_ERR_NOMEM, the arrays freed with t. */
tk_status tok_alloc_token_arrays(tk_tokenizer *t, size_t n);

/* Slot of merge (a, b) in the open-addressing table t->merges, whether
 * present (left == a) or the empty slot where it would go. */
static inline uint32_t tok_merge_slot(const tok_merge *m, uint32_t mask, uint32_t a, uint32_t b)
{
    uint64_t h = ((uint64_t)a << 32) | b;
    h ^= h >> 31;
    h *= 0x7fb5d329728ea185ull;
    h ^= h >> 27;
    h *= 0x81dadef4bc2dd44dull;
    h ^= h >> 33;
    uint32_t i = (uint32_t)h & mask;
    while (m[i].left != UINT32_MAX && (m[i].left != a || m[i].right != b)) i = (i + 1) & mask;
    return i;
}

/* Id of the token with exactly this text, -1 if none. */
static inline int32_t tok_find(const tk_tokenizer *t, const char *s, size_t len)
{
    int32_t v = tok_strmap_find(&t->strings, s, len);
    return v < t->n_vocab ? v : -1;
}

/* ---- Hugging Face tokenizer.json (hf_*.c) ------------------------------- */

#define TOK_HF_MAX_JSON  ((size_t)512 << 20) /* bytes of one JSON document */
#define TOK_HF_MAX_STEPS 32                  /* steps of a pipeline, Sequences flattened */
#define TOK_HF_MAX_ADD   8                   /* ids a post-processor adds on each side */

/* A Split / Replace pattern: literal text (re NULL) or a regex. */
typedef struct tok_hf_pattern {
    char *lit;
    size_t lit_len;
    pcre2_code *re;
} tok_hf_pattern;

enum {
    TOK_HF_NORM_NFC,
    TOK_HF_NORM_PREPEND,
    TOK_HF_NORM_REPLACE,
    TOK_HF_NORM_LOWERCASE,
    TOK_HF_NORM_STRIP,
};

typedef struct tok_hf_norm {
    int type;
    tok_hf_pattern pat; /* Replace */
    char *text;         /* Prepend: the prefix; Replace: the content */
    size_t text_len;
    bool left, right; /* Strip */
} tok_hf_norm;

enum {
    TOK_HF_PRE_SPLIT,
    TOK_HF_PRE_BYTELEVEL,
    TOK_HF_PRE_METASPACE,
    TOK_HF_PRE_DIGITS,
    TOK_HF_PRE_WHITESPACE,
    TOK_HF_PRE_WHITESPACE_SPLIT,
};
/* What a Split keeps of the text its pattern matches (the delimiters). */
enum {
    TOK_HF_ISOLATED,
    TOK_HF_REMOVED,
    TOK_HF_MERGED_PREV,
    TOK_HF_MERGED_NEXT,
    TOK_HF_CONTIGUOUS,
};
enum { TOK_HF_PREPEND_ALWAYS, TOK_HF_PREPEND_FIRST, TOK_HF_PREPEND_NEVER };

typedef struct tok_hf_pre {
    int type;
    tok_hf_pattern pat; /* Split; Whitespace (its own regex) */
    int behavior;       /* Split, and the built-in splits of the others */
    bool invert;
    bool add_prefix_space, use_regex; /* ByteLevel */
    char repl[8];                     /* Metaspace: the replacement character (UTF-8) */
    size_t repl_len;
    int prepend;
    bool split;
    bool individual_digits; /* Digits */
} tok_hf_pre;

enum {
    TOK_HF_DEC_REPLACE,
    TOK_HF_DEC_BYTE_FALLBACK,
    TOK_HF_DEC_BYTE_LEVEL,
    TOK_HF_DEC_METASPACE,
    TOK_HF_DEC_STRIP,
    TOK_HF_DEC_FUSE,
};

typedef struct tok_hf_dec {
    int type;
    tok_hf_pattern pat; /* Replace */
    char *text;         /* Replace: content; Strip: the character; Metaspace: replacement */
    size_t text_len;
    uint32_t start, stop; /* Strip */
    bool fused;           /* a Fuse came before: applies to the whole text */
} tok_hf_dec;

/* Byte trie over added-token texts: value = index into hf->added. */
typedef struct tok_hf_trie {
    struct tok_hf_trie_node {
        uint32_t first_child, next_sibling; /* node indices, 0 = none */
        int32_t value;                      /* added token ending here, -1 none */
        unsigned char byte;
    } * node; /* [n]; node 0 is unused */
    uint32_t n, cap;
    uint32_t root[256]; /* node of each first byte, 0 = none */
} tok_hf_trie;

typedef struct tok_hf_added {
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
} tok_hf_added;

struct tok_hf {
    tok_hf_norm norm[TOK_HF_MAX_STEPS];
    int n_norm;
    tok_hf_pre pre[TOK_HF_MAX_STEPS];
    int n_pre;
    tok_hf_dec dec[TOK_HF_MAX_STEPS];
    int n_dec;
    pcre2_code *gpt2_re;       /* ByteLevel's own split rule, when used */
    pcre2_match_context *mctx; /* match limits */

    /* BPE model */
    bool byte_fallback, fuse_unk, ignore_merges;
    int32_t unk;
    char *prefix; /* continuing_subword_prefix, NULL none */
    size_t prefix_len;
    char *suffix; /* end_of_word_suffix, NULL none */
    size_t suffix_len;
    int32_t byte_id[256]; /* <0xNN> tokens, -1 none */

    tok_hf_added *added; /* [n_added] */
    uint32_t n_added;
    tok_hf_trie raw_trie;  /* contents matched in the raw text */
    tok_hf_trie norm_trie; /* normalized contents, matched in normalized text */

    int32_t pre_ids[TOK_HF_MAX_ADD], post_ids[TOK_HF_MAX_ADD]; /* add_special */
    int n_pre_ids, n_post_ids;

    bool strip_first_space; /* Metaspace decoder: the first token loses a leading space */
    bool clean_spaces;      /* clean_up_tokenization_spaces */
};

/* hf_load.c: reads tokenizer.huggingface.* from g into t (kind HF). */
tk_status tok_hf_load(tk_tokenizer *t, const tk_gguf *g);
void tok_hf_free(tok_hf *h);
void tok_hf_pattern_free(tok_hf_pattern *p);

/* Typed access to JSON fields (hf_load.c). `what` names the object in
 * errors ("tokenizer.json: model"); an absent or null field leaves *out
 * alone (required ones give TK_ERR_FORMAT); a field of the wrong type gives
 * TK_ERR_FORMAT naming it ("tokenizer.json: model.unk_token: expected a
 * string"). */
struct cJSON;
tk_status tok_hf_get_str(const struct cJSON *obj, const char *key, const char *what, bool required,
                         const char **out);
tk_status tok_hf_get_bool(const struct cJSON *obj, const char *key, const char *what, bool *out);
tk_status tok_hf_get_uint(const struct cJSON *obj, const char *key, const char *what, uint32_t max,
                          uint32_t *out);
/* The "type" of a pipeline step, required. */
tk_status tok_hf_get_type(const struct cJSON *obj, const char *what, const char **out);
/* Parses one pipeline step `j` (named `what` in errors, nested `depth`
 * Sequences deep) into the pipeline `ctx`. */
typedef tk_status (*tok_hf_step_fn)(void *ctx, const struct cJSON *j, const char *what, int depth);
/* Reads the required "type" of the pipeline step obj into *type. A
 * "Sequence" is parsed here instead, each element of obj[key] with `step`
 * (named "<what>.<key>[i]", depth + 1), and *type is left NULL: the caller
 * returns the status. TK_ERR_LIMIT when Sequences nest more than 4 deep,
 * TK_ERR_FORMAT when obj[key] is not an array. */
tk_status tok_hf_step_type(const struct cJSON *obj, const char *key, const char *what, int depth,
                           tok_hf_step_fn step, void *ctx, const char **type);
/* A copy of s[0..n) with a NUL (malloc'd), NULL when out of memory. */
char *tok_hf_strndup(const char *s, size_t n);

/* Compiles a pattern given as {"String": s} or {"Regex": r}; `what` names
 * it in errors. (hf_pretok.c) */
tk_status tok_hf_pattern_parse(const struct cJSON *j, const char *what, tok_hf_pattern *out);
/* Next match of p in s[0..n) at or after `from`: *ms, *me; false if none. */
bool tok_hf_pattern_next(const tok_hf_pattern *p, pcre2_match_data *md, pcre2_match_context *mc,
                         const char *s, size_t n, size_t from, size_t *ms, size_t *me,
                         tk_status *st);

/* Growable byte string. */
typedef struct tok_hf_str {
    char *p;
    size_t len, cap;
} tok_hf_str;
tk_status tok_hf_str_add(tok_hf_str *s, const void *p, size_t n);

/* hf_normalize.c */
tk_status tok_hf_norm_parse(tok_hf *h, const struct cJSON *j, const char *what);
/* Normalizes in[0..n) (valid UTF-8) into *out (replaced, not appended). */
tk_status tok_hf_normalize(const tok_hf *h, const char *in, size_t n, tok_hf_str *out,
                           tok_hf_str *tmp, pcre2_match_data *md);
/* NFC of in[0..n) appended to out. */
tk_status tok_hf_nfc(const char *in, size_t n, tok_hf_str *out);

/* hf_pretok.c: a list of pieces, spans of one buffer. */
typedef struct tok_hf_pieces {
    tok_hf_str buf;
    uint32_t *off, *len; /* [n] */
    size_t n, cap;
} tok_hf_pieces;
/* Working memory of the pre-tokenizer, reused across calls. */
typedef struct tok_hf_prework {
    tok_hf_pieces a, b; /* the result is in a */
    tok_hf_str tmp;
    struct tok_hf_seg *segs;
    size_t n_segs, cap_segs;
    pcre2_match_data *md;
} tok_hf_prework;
tk_status tok_hf_pre_parse(tok_hf *h, const struct cJSON *j, const char *what);
/* Pre-tokenizes one stretch of normalized text s[0..n) (valid UTF-8) into
 * w->a; `first` says it starts the input (Metaspace prepend_scheme "first"). */
tk_status tok_hf_pretokenize(const tok_hf *h, const char *s, size_t n, bool first,
                             tok_hf_prework *w);
void tok_hf_prework_free(tok_hf_prework *w);

/* hf_encode.c */
tk_status tok_hf_encode(const tk_tokenizer *t, const char *text, size_t len, bool add_special,
                        bool parse_special, tok_ivec *out);
tk_status tok_hf_trie_add(tok_hf_trie *tr, const char *s, size_t len, int32_t value);

/* hf_decode.c */
tk_status tok_hf_dec_parse(tok_hf *h, const struct cJSON *j, const char *what);
/* Per-token pieces (t->piece_*) from the decoder steps. */
tk_status tok_hf_build_pieces(tk_tokenizer *t);
/* The text of ids as the decoder makes it; *out malloc'd. The caller
 * (decode.c) has checked every id and passes the sum of their piece lengths
 * as `total`. */
tk_status tok_hf_detok(const tk_tokenizer *t, const int32_t *ids, size_t n, size_t total,
                       bool remove_special, bool render_special, char **out, size_t *len);

#endif
