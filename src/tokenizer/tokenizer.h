/* Internal pieces of the tokenizer module, shared by its .c files.
 *
 * vocab.c   loading, special-token detection, pieces, queries
 * strmap.c  the string -> id hash table
 * unicode.c UTF-8 decoding the way the reference engine does it, the set of
 *           whitespace code points, the GPT-2 byte<->unicode table
 * pretok.c  byte-level BPE pre-tokenizer rules (PCRE2) and splitting
 * encode.c  special-token partition, SentencePiece and BPE merges, tk_tokenize
 * decode.c  pieces, tk_detokenize, the streaming detokenizer
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

enum { TOK_KIND_SPM = 0, TOK_KIND_BPE = 1 };

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

/* Id of the token with exactly this text, -1 if none. */
static inline int32_t tok_find(const tk_tokenizer *t, const char *s, size_t len)
{
    int32_t v = tok_strmap_find(&t->strings, s, len);
    return v < t->n_vocab ? v : -1;
}

#endif
