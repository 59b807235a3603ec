/* Loading a vocabulary from GGUF metadata, and the queries on it.
 *
 * Every array the file gives is checked against the token count and its
 * element type before use; ids the file names must lie inside the
 * vocabulary. Beyond the keys, a few conventions of the reference engine are
 * applied so that ids agree with it: end-of-turn tokens found by their text
 * are promoted to control tokens, and Phi-3 vocabularies strip whitespace
 * after their special tokens.
 */
#include "tokenizer/tokenizer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_PREFIX "tokenizer.ggml."

/* ---- typed metadata access --------------------------------------------- */

tk_status tok_gguf_opt_str(const tk_gguf *g, const char *key, const char **s, uint64_t *len)
{
    *s = NULL;
    *len = 0;
    int64_t i = tk_gguf_find_kv(g, key);
    if (i < 0) return TK_OK;
    if (tk_gguf_kv_type(g, i) != TK_GGUF_STRING || !tk_gguf_kv_str(g, i, s, len))
        return core_error(TK_ERR_FORMAT, "%s: expected a string, found %s", key,
                          tk_gguf_type_name(tk_gguf_kv_type(g, i)));
    return TK_OK;
}

tk_status tok_alloc_token_arrays(tk_tokenizer *t, size_t n)
{
    t->text_off = core_calloc(n, sizeof *t->text_off);
    t->text_len = core_calloc(n, sizeof *t->text_len);
    t->score = core_calloc(n, sizeof *t->score);
    t->attr = core_calloc(n, sizeof *t->attr);
    if (!t->text_off || !t->text_len || !t->score || !t->attr)
        return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    return TK_OK;
}

static tk_status opt_bool(const tk_gguf *g, const char *key, bool *v)
{
    int64_t i = tk_gguf_find_kv(g, key);
    if (i < 0) return TK_OK;
    if (tk_gguf_kv_type(g, i) != TK_GGUF_BOOL || !tk_gguf_kv_bool(g, i, v))
        return core_error(TK_ERR_FORMAT, "%s: expected a bool, found %s", key,
                          tk_gguf_type_name(tk_gguf_kv_type(g, i)));
    return TK_OK;
}

static bool is_int_type(tk_gguf_type ty)
{
    return ty == TK_GGUF_UINT8 || ty == TK_GGUF_INT8 || ty == TK_GGUF_UINT16 ||
           ty == TK_GGUF_INT16 || ty == TK_GGUF_UINT32 || ty == TK_GGUF_INT32 ||
           ty == TK_GGUF_UINT64 || ty == TK_GGUF_INT64;
}

/* Optional token id: leaves *id alone when absent. A negative value, or
 * 0xFFFFFFFF (-1 written as u32, as some converters do), means "none". A
 * value >= n_vocab is an error, or only a warning (then "none") when
 * `lenient` (the padding id, which tokenizing never uses). */
static tk_status opt_id(const tk_gguf *g, const char *key, int32_t n_vocab, bool lenient,
                        int32_t *id)
{
    int64_t i = tk_gguf_find_kv(g, key);
    if (i < 0) return TK_OK;
    tk_gguf_type ty = tk_gguf_kv_type(g, i);
    int64_t v;
    if (!is_int_type(ty))
        return core_error(TK_ERR_FORMAT, "%s: expected an integer, found %s", key,
                          tk_gguf_type_name(ty));
    if (!tk_gguf_kv_int(g, i, &v)) {
        uint64_t u;
        if (tk_gguf_kv_uint(g, i, &u) && u != UINT64_MAX) {
            if (lenient) {
                core_log(TK_LOG_WARN, "tokenizer: %s = %llu is out of range (n_vocab %d): ignored",
                         key, (unsigned long long)u, n_vocab);
                *id = -1;
                return TK_OK;
            }
            return core_error(TK_ERR_FORMAT, "%s = %llu is out of range (n_vocab %d)", key,
                              (unsigned long long)u, n_vocab);
        }
        v = -1;
    }
    if (v < 0 || (ty == TK_GGUF_UINT32 && v == UINT32_MAX)) {
        *id = -1;
        return TK_OK;
    }
    if (v >= n_vocab) {
        if (lenient) {
            core_log(TK_LOG_WARN, "tokenizer: %s = %lld is out of range (n_vocab %d): ignored", key,
                     (long long)v, n_vocab);
            *id = -1;
            return TK_OK;
        }
        return core_error(TK_ERR_FORMAT, "%s = %lld is out of range (n_vocab %d)", key,
                          (long long)v, n_vocab);
    }
    *id = (int32_t)v;
    return TK_OK;
}

/* An array kv: checks presence (optional or required), element type class
 * and, when n_expect > 0, the length. *idx = -1 when absent. */
enum { ARR_STRING, ARR_NUMBER, ARR_INTEGER };

static tk_status find_array(const tk_gguf *g, const char *key, int cls, bool required,
                            uint64_t n_expect, const char *n_what, int64_t *idx)
{
    int64_t i = tk_gguf_find_kv(g, key);
    *idx = -1;
    if (i < 0) {
        if (required) return core_error(TK_ERR_NOT_FOUND, "%s is missing", key);
        return TK_OK;
    }
    tk_gguf_type ty = tk_gguf_kv_type(g, i);
    if (ty != TK_GGUF_ARRAY)
        return core_error(TK_ERR_FORMAT, "%s: expected an array, found %s", key,
                          tk_gguf_type_name(ty));
    tk_gguf_type et = tk_gguf_kv_arr_type(g, i);
    bool ok = cls == ARR_STRING ? et == TK_GGUF_STRING
              : cls == ARR_INTEGER
                  ? is_int_type(et)
                  : (is_int_type(et) || et == TK_GGUF_FLOAT32 || et == TK_GGUF_FLOAT64);
    if (!ok)
        return core_error(TK_ERR_FORMAT, "%s: expected an array of %s, found an array of %s", key,
                          cls == ARR_STRING    ? "strings"
                          : cls == ARR_INTEGER ? "integers"
                                               : "numbers",
                          tk_gguf_type_name(et));
    uint64_t n = tk_gguf_kv_arr_len(g, i);
    if (n_expect && n != n_expect)
        return core_error(TK_ERR_FORMAT, "%s has %llu entries but %s has %llu", key,
                          (unsigned long long)n, n_what, (unsigned long long)n_expect);
    *idx = i;
    return TK_OK;
}

/* ---- growable byte buffer ------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static tk_status buf_add(buf *b, const void *s, size_t n)
{
    if (n > SIZE_MAX - b->len - 1) return core_error(TK_ERR_LIMIT, "buffer too large");
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return TK_OK;
}

/* ---- token attributes ---------------------------------------------------- */

static uint16_t attr_of_type(int64_t type)
{
    switch (type) {
    case TK_TOKEN_NORMAL:
        return TOK_ATTR_NORMAL;
    case TK_TOKEN_UNKNOWN:
        return TOK_ATTR_UNKNOWN;
    case TK_TOKEN_CONTROL:
        return TOK_ATTR_CONTROL;
    case TK_TOKEN_USER_DEFINED:
        return TOK_ATTR_USER_DEFINED;
    case TK_TOKEN_UNUSED:
        return TOK_ATTR_UNUSED;
    case TK_TOKEN_BYTE:
        return TOK_ATTR_BYTE;
    default:
        return TOK_ATTR_UNDEFINED;
    }
}

static const char *tok_text(const tk_tokenizer *t, int32_t id)
{
    return t->text_arena + t->text_off[id];
}

/* Marks a token found by its text as a control token (the reference engine
 * does the same for end-of-turn and fill-in-the-middle tokens, which some
 * converters type as normal or user-defined). */
static void promote_control(tk_tokenizer *t, int32_t id)
{
    if (!(t->attr[id] & TOK_ATTR_CONTROL)) {
        core_log(TK_LOG_DEBUG, "tokenizer: token %d '%s' treated as a control token", id,
                 tok_text(t, id));
        t->attr[id] |= TOK_ATTR_CONTROL;
    }
}

static int32_t find_cstr(const tk_tokenizer *t, const char *s)
{
    return tok_find(t, s, strlen(s));
}

/* First token of `texts` present in the vocabulary, -1 if none. */
static int32_t find_first(const tk_tokenizer *t, const char *const *texts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int32_t id = find_cstr(t, texts[i]);
        if (id >= 0) return id;
    }
    return -1;
}

/* Tokens that end a generation, by text. */
#define BAR  "\xef\xbd\x9c" /* U+FF5C, in DeepSeek's special tokens */
#define MARK "\xe2\x96\x81" /* U+2581, SentencePiece's space */
static const char *const eog_texts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<" BAR "end" MARK "of" MARK "sentence" BAR ">",
    "[e~[",
};
/* EOT candidates, in order of preference. */
static const char *const eot_texts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<" BAR "end" MARK "of" MARK "sentence" BAR ">",
    "<end_of_utterance>",
};
/* Fill-in-the-middle tokens: prefix, suffix, middle, pad, repo, file separator. */
static const char *const fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",    "<" BAR "fim" MARK "begin" BAR ">",
    "<PRE>",          MARK "<PRE>",   "<|code_prefix|>", "<|prefix|>"};
static const char *const fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",    "<" BAR "fim" MARK "hole" BAR ">",
    "<SUF>",          MARK "<SUF>",   "<|code_suffix|>", "<|suffix|>"};
static const char *const fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>",    "<" BAR "fim" MARK "end" BAR ">",
    "<MID>",          MARK "<MID>",   "<|code_middle|>", "<|middle|>"};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
                                            "[PAD]"};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                            "<reponame>"};
static const char *const fim_sep_texts[] = {"<|file_sep|>"};

static bool is_eog_text(const tk_tokenizer *t, const char *s)
{
    int32_t id = find_cstr(t, s);
    return id >= 0 && (t->attr[id] & TOK_ATTR_EOG);
}

/* Special ids found by key or by text, and the end-of-generation set. */
static tk_status detect_special(tk_tokenizer *t, const tk_gguf *g)
{
    int32_t fim[6] = {-1, -1, -1, -1, -1, -1}; /* pre suf mid pad rep sep */
    static const char *const fim_keys[6] = {
        KEY_PREFIX "fim_pre_token_id", KEY_PREFIX "fim_suf_token_id",
        KEY_PREFIX "fim_mid_token_id", KEY_PREFIX "fim_pad_token_id",
        KEY_PREFIX "fim_rep_token_id", KEY_PREFIX "fim_sep_token_id"};
    static const char *const old_keys[3] = {
        KEY_PREFIX "prefix_token_id", KEY_PREFIX "suffix_token_id", KEY_PREFIX "middle_token_id"};
    tk_status st;
    for (int k = 0; k < 6; k++)
        if ((st = opt_id(g, fim_keys[k], t->n_vocab, true, &fim[k])) != TK_OK) return st;
    for (int k = 0; k < 3; k++)
        if ((st = opt_id(g, old_keys[k], t->n_vocab, true, &fim[k])) != TK_OK) return st;

    static const struct {
        const char *const *texts;
        size_t n;
    } fim_lists[6] = {
        {fim_pre_texts, TK_ARRAY_LEN(fim_pre_texts)}, {fim_suf_texts, TK_ARRAY_LEN(fim_suf_texts)},
        {fim_mid_texts, TK_ARRAY_LEN(fim_mid_texts)}, {fim_pad_texts, TK_ARRAY_LEN(fim_pad_texts)},
        {fim_rep_texts, TK_ARRAY_LEN(fim_rep_texts)}, {fim_sep_texts, TK_ARRAY_LEN(fim_sep_texts)},
    };
    if (t->eot < 0) {
        t->eot = find_first(t, eot_texts, TK_ARRAY_LEN(eot_texts));
        if (t->eot >= 0) promote_control(t, t->eot);
    }
    if (t->eom < 0) {
        t->eom = find_cstr(t, "<|eom_id|>");
        if (t->eom >= 0) promote_control(t, t->eom);
    }
    for (int k = 0; k < 6; k++) {
        if (fim[k] >= 0) continue;
        fim[k] = find_first(t, fim_lists[k].texts, fim_lists[k].n);
        if (fim[k] >= 0) promote_control(t, fim[k]);
    }

    /* End of generation: fim pad/repo/file-separator, the texts above, then
     * EOS, EOT and EOM. */
    for (int k = 3; k < 6; k++)
        if (fim[k] >= 0) t->attr[fim[k]] |= TOK_ATTR_EOG;
    for (size_t i = 0; i < TK_ARRAY_LEN(eog_texts); i++) {
        int32_t id = find_cstr(t, eog_texts[i]);
        if (id < 0) continue;
        t->attr[id] |= TOK_ATTR_EOG;
        promote_control(t, id);
    }
    /* gpt-oss (harmony) structure tokens are always rendered. */
    static const char *const harmony[] = {"<|channel|>", "<|message|>", "<|start|>",
                                          "<|constrain|>"};
    for (size_t i = 0; i < TK_ARRAY_LEN(harmony); i++) {
        int32_t id = find_cstr(t, harmony[i]);
        if (id >= 0) t->attr[id] = (uint16_t)((t->attr[id] & TOK_ATTR_EOG) | TOK_ATTR_USER_DEFINED);
    }
    if (t->eos >= 0) t->attr[t->eos] |= TOK_ATTR_EOG;
    if (t->eot >= 0) t->attr[t->eot] |= TOK_ATTR_EOG;
    if (t->eom >= 0) t->attr[t->eom] |= TOK_ATTR_EOG;
    /* Harmony-style vocabularies end a message with <|end|> but a turn with
     * <|return|> / <|call|>: there <|end|> is not the end of a generation. */
    bool has_call = is_eog_text(t, "<|call|>") || is_eog_text(t, "<|calls|>");
    if (is_eog_text(t, "<|end|>") && has_call &&
        (is_eog_text(t, "<|return|>") || is_eog_text(t, "<|flush|>"))) {
        int32_t id = find_cstr(t, "<|end|>");
        t->attr[id] = TOK_ATTR_USER_DEFINED;
        if (t->eot == id) t->eot = -1;
    }
    /* Gemma 4 uses </s> as ordinary text. */
    if (is_eog_text(t, "<|tool_response>") && is_eog_text(t, "</s>")) {
        int32_t id = find_cstr(t, "</s>");
        t->attr[id] = TOK_ATTR_NORMAL;
    }
    return TK_OK;
}

/* ---- special-token cache and trie --------------------------------------- */

typedef struct spec_key {
    uint32_t len;
    int32_t id;
} spec_key;

static int cmp_special(const void *a, const void *b)
{
    const spec_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static tk_status build_special(tk_tokenizer *t)
{
    uint32_t n = 0;
    uint64_t total = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) {
            n++;
            total += t->text_len[id];
        }
    }
    t->special = core_calloc(n ? n : 1, sizeof *t->special);
    if (total >= UINT32_MAX - 2) return core_error(TK_ERR_LIMIT, "special tokens too long");
    t->trie = core_calloc((size_t)total + 2, sizeof *t->trie);
    if (!t->special || !t->trie) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    spec_key *keys = core_calloc(n ? n : 1, sizeof *keys);
    if (!keys) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            keys[t->n_special++] = (spec_key){t->text_len[id], id};
    /* The reference splits by the longest special tokens first; among equal
     * lengths we take the lower id first (it leaves that order open). */
    qsort(keys, t->n_special, sizeof *keys, cmp_special);
    for (uint32_t k = 0; k < t->n_special; k++) t->special[k] = keys[k].id;
    free(keys);

    t->n_trie = 1; /* node 0 is "none" */
    for (uint32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        const unsigned char *s = (const unsigned char *)tok_text(t, id);
        uint32_t len = t->text_len[id];
        uint32_t *link = &t->trie_root[s[0]];
        uint32_t node = 0;
        for (uint32_t i = 0; i < len; i++) {
            /* find the child with byte s[i] in the list starting at *link */
            uint32_t c = *link;
            while (c && t->trie[c].byte != s[i]) c = t->trie[c].next_sibling;
            if (!c) {
                c = t->n_trie++;
                t->trie[c].byte = s[i];
                t->trie[c].spec = -1;
                t->trie[c].next_sibling = i == 0 ? t->trie_root[s[0]] : t->trie[node].first_child;
                if (i == 0)
                    t->trie_root[s[0]] = c;
                else
                    t->trie[node].first_child = c;
            }
            node = c;
            link = &t->trie[node].first_child;
        }
        if (t->trie[node].spec < 0) t->trie[node].spec = (int32_t)k;
    }
    return TK_OK;
}

/* ---- pieces --------------------------------------------------------------- */

static int hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Byte of a <0xNN> token (the reference reads the two characters after
 * "<0x" as hex and takes 0 when they are not). */
static unsigned char byte_of_token(const char *s, uint32_t len)
{
    unsigned v = 0;
    for (uint32_t i = 3; i < 5 && i < len; i++) {
        int h = hex_value((unsigned char)s[i]);
        if (h < 0) break;
        v = v * 16 + (unsigned)h;
    }
    return (unsigned char)v;
}

/* Appends the bytes a byte-level BPE token stands for. Characters outside
 * the byte table are written as the reference does ("[UNK_BYTE_0x<hex><text>]")
 * as long as that stays small; otherwise the raw character. */
static tk_status bpe_decode_text(const char *s, uint32_t len, buf *out)
{
    size_t i = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (i < len) {
        size_t start = i;
        uint32_t cp = tok_utf8_decode(u, len, &i);
        int b = tok_cp_to_byte(cp);
        tk_status st;
        if (b >= 0) {
            unsigned char c = (unsigned char)b;
            st = buf_add(out, &c, 1);
        } else if (len <= 256) {
            char enc[4], hex[16] = "";
            size_t n = tok_utf8_encode(cp, enc);
            for (size_t k = 0; k < n; k++)
                snprintf(hex + 2 * k, sizeof hex - 2 * k, "%02x", (unsigned char)enc[k]);
            st = buf_add(out, "[UNK_BYTE_0x", 12);
            if (st == TK_OK) st = buf_add(out, hex, strlen(hex));
            if (st == TK_OK) st = buf_add(out, s, len);
            if (st == TK_OK) st = buf_add(out, "]", 1);
        } else {
            st = buf_add(out, s + start, i - start);
        }
        if (st != TK_OK) return st;
    }
    return TK_OK;
}

/* The text each token renders to (control tokens as their text; callers
 * decide whether to show them). */
static tk_status build_pieces(tk_tokenizer *t)
{
    buf b = {0};
    t->piece_off = core_calloc((size_t)t->n_vocab, sizeof *t->piece_off);
    t->piece_len = core_calloc((size_t)t->n_vocab, sizeof *t->piece_len);
    if (!t->piece_off || !t->piece_len) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    tk_status st = TK_OK;
    for (int32_t id = 0; id < t->n_vocab && st == TK_OK; id++) {
        const char *s = tok_text(t, id);
        uint32_t len = t->text_len[id];
        uint16_t a = t->attr[id];
        size_t start = b.len;
        if (start > UINT32_MAX) {
            st = core_error(TK_ERR_LIMIT, "token pieces over 4 GiB");
            break;
        }
        if (a & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED)) {
            st = buf_add(&b, s, len);
        } else if (a & TOK_ATTR_NORMAL) {
            if (t->kind == TOK_KIND_SPM) {
                /* U+2581 (E2 96 81) stands for a space. */
                for (uint32_t i = 0; i < len && st == TK_OK;) {
                    if (i + 3 <= len && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                        st = buf_add(&b, " ", 1);
                        i += 3;
                    } else {
                        st = buf_add(&b, s + i, 1);
                        i++;
                    }
                }
            } else {
                st = bpe_decode_text(s, len, &b);
            }
        } else if (a & TOK_ATTR_BYTE) {
            unsigned char c = byte_of_token(s, len);
            st = buf_add(&b, &c, 1);
        }
        if (st != TK_OK) break;
        if (b.len - start > UINT32_MAX) {
            st = core_error(TK_ERR_LIMIT, "token %d: piece too long", id);
            break;
        }
        t->piece_off[id] = (uint32_t)start;
        t->piece_len[id] = (uint32_t)(b.len - start);
        if (t->piece_len[id] > t->max_piece) t->max_piece = t->piece_len[id];
    }
    if (st != TK_OK) {
        free(b.p);
        return st;
    }
    if (!b.p && (st = buf_add(&b, "", 0)) != TK_OK) return st;
    t->piece_arena = b.p;
    return TK_OK;
}

/* ---- merges ---------------------------------------------------------------- */

static tk_status load_merges(tk_tokenizer *t, const tk_gguf *g)
{
    int64_t mi;
    tk_status st = find_array(g, KEY_PREFIX "merges", ARR_STRING, false, 0, NULL, &mi);
    if (st != TK_OK) return st;
    if (mi < 0)
        return core_error(TK_ERR_FORMAT,
                          KEY_PREFIX "merges is missing (byte-level BPE needs its merges)");
    uint64_t n = tk_gguf_kv_arr_len(g, mi);
    if (n > TOK_MAX_MERGES)
        return core_error(TK_ERR_LIMIT, KEY_PREFIX "merges has %llu entries (limit %u)",
                          (unsigned long long)n, TOK_MAX_MERGES);
    /* Pass 1: every half gets a string id (tokens keep theirs). */
    uint32_t *halves = core_calloc(n ? 2 * n : 1, sizeof *halves);
    if (!halves) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    int32_t next_id = t->n_vocab;
    for (uint64_t j = 0; j < n && st == TK_OK; j++) {
        const char *s;
        uint64_t len;
        if (!tk_gguf_arr_str(g, mi, j, &s, &len)) {
            st = core_error(TK_ERR_FORMAT, KEY_PREFIX "merges[%llu] is unreadable",
                            (unsigned long long)j);
            break;
        }
        /* "left right": the separator is the first space after the first
         * byte, and neither side may be empty. */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp || (uint64_t)(sp - s) + 1 >= len) {
            st = core_error(TK_ERR_FORMAT,
                            KEY_PREFIX "merges[%llu] = '%.*s' is not of the form 'left right'",
                            (unsigned long long)j, (int)TK_MIN(len, 64), s);
            break;
        }
        size_t ll = (size_t)(sp - s), rl = len - ll - 1;
        const char *part[2] = {s, sp + 1};
        size_t plen[2] = {ll, rl};
        for (int k = 0; k < 2 && st == TK_OK; k++) {
            bool found;
            uint32_t e;
            st = tok_strmap_add(&t->strings, part[k], plen[k], next_id, &found, &e);
            if (st == TK_OK) {
                if (!found) next_id++;
                halves[2 * j + (uint64_t)k] = (uint32_t)t->strings.value[e];
            }
        }
    }
    /* Pass 2: the table (left, right) -> rank, result. The first of
     * duplicate merges wins. */
    uint32_t cap = 16;
    while (st == TK_OK && cap < 2 * n + 16) cap *= 2;
    if (st == TK_OK) {
        t->merges = core_calloc(cap, sizeof *t->merges);
        if (!t->merges) st = core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    }
    if (st == TK_OK) {
        t->merge_mask = cap - 1;
        for (uint32_t i = 0; i < cap; i++) t->merges[i].left = UINT32_MAX;
    }
    for (uint64_t j = 0; j < n && st == TK_OK; j++) {
        uint32_t a = halves[2 * j], b = halves[2 * j + 1];
        uint32_t i = tok_merge_slot(t->merges, t->merge_mask, a, b);
        if (t->merges[i].left != UINT32_MAX) continue;
        /* The merged string: the bytes of the merge without its separator. */
        const char *s;
        uint64_t len;
        (void)tk_gguf_arr_str(g, mi, j, &s, &len);
        const char *sp = memchr(s + 1, ' ', len - 1);
        size_t ll = (size_t)(sp - s);
        char small[256];
        char *joined = len <= sizeof small ? small : malloc(len);
        if (!joined) {
            st = core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
            break;
        }
        memcpy(joined, s, ll);
        memcpy(joined + ll, sp + 1, len - ll - 1);
        t->merges[i].left = a;
        t->merges[i].right = b;
        t->merges[i].rank = (int32_t)j;
        t->merges[i].result = tok_strmap_find(&t->strings, joined, len - 1);
        if (joined != small) free(joined);
    }
    free(halves);
    return st;
}

/* ---- name-based conventions ---------------------------------------------- */

static bool contains(const char *s, const char *sub)
{
    return s && strstr(s, sub) != NULL;
}

static void set_strip(tk_tokenizer *t, const char *text, uint16_t bit, bool on)
{
    int32_t id = find_cstr(t, text);
    if (id < 0) return;
    if (on)
        t->attr[id] |= bit;
    else
        t->attr[id] &= (uint16_t)~bit;
}

/* A string value of a key outside the tokenizer's own, NULL when absent or
 * not a string (those keys are other readers' business). */
static const char *other_str(const tk_gguf *g, const char *key, uint64_t *len)
{
    const char *s = NULL;
    int64_t i = tk_gguf_find_kv(g, key);
    *len = 0;
    if (i < 0 || tk_gguf_kv_type(g, i) != TK_GGUF_STRING || !tk_gguf_kv_str(g, i, &s, len))
        return NULL;
    return s;
}

static tk_status apply_name_rules(tk_tokenizer *t, const tk_gguf *g, const char *pre)
{
    uint64_t nlen, alen;
    const char *name_raw = other_str(g, "general.name", &nlen);
    const char *arch = other_str(g, "general.architecture", &alen);
    char name[256] = "";
    if (name_raw) {
        size_t n = TK_MIN(nlen, sizeof name - 1);
        for (size_t i = 0; i < n; i++) name[i] = (char)tolower((unsigned char)name_raw[i]);
        name[n] = '\0';
    }
    if (contains(pre, "jina-v2-de") || contains(pre, "jina-v2-es") ||
        contains(pre, "jina-v2-code") || contains(arch, "nomic-bert-moe") ||
        contains(arch, "jina-bert-v3")) {
        set_strip(t, "<mask>", TOK_ATTR_LSTRIP, true);
    } else if (contains(name, "phi-3") || contains(name, "phi3")) {
        /* Phi-3's tokenizer.json marks its added tokens rstrip. */
        for (uint32_t k = 0; k < t->n_special; k++) t->attr[t->special[k]] |= TOK_ATTR_RSTRIP;
        set_strip(t, "</s>", TOK_ATTR_RSTRIP, true);
        set_strip(t, "<unk>", TOK_ATTR_RSTRIP, false);
        set_strip(t, "<s>", TOK_ATTR_RSTRIP, false);
        set_strip(t, "<|endoftext|>", TOK_ATTR_RSTRIP, false);
    } else if (contains(name, "modern-bert")) {
        set_strip(t, "[MASK]", TOK_ATTR_LSTRIP, true);
    }
    return TK_OK;
}

/* ---- loading ---------------------------------------------------------------- */

static tk_status load_tokens(tk_tokenizer *t, const tk_gguf *g)
{
    int64_t ti, si, yi;
    tk_status st = find_array(g, KEY_PREFIX "tokens", ARR_STRING, true, 0, NULL, &ti);
    if (st != TK_OK) return st;
    uint64_t n = tk_gguf_kv_arr_len(g, ti);
    if (n == 0) return core_error(TK_ERR_FORMAT, KEY_PREFIX "tokens is empty");
    if (n > TOK_MAX_VOCAB)
        return core_error(TK_ERR_LIMIT, KEY_PREFIX "tokens has %llu entries (limit %u)",
                          (unsigned long long)n, TOK_MAX_VOCAB);
    t->n_vocab = (int32_t)n;
    st = find_array(g, KEY_PREFIX "scores", ARR_NUMBER, false, n, KEY_PREFIX "tokens", &si);
    if (st == TK_OK)
        st =
            find_array(g, KEY_PREFIX "token_type", ARR_INTEGER, false, n, KEY_PREFIX "tokens", &yi);
    if (st == TK_OK) st = tok_alloc_token_arrays(t, (size_t)n);
    if (st != TK_OK) return st;

    buf text = {0};
    uint32_t n_dup = 0, n_empty = 0;
    bool float_scores = si >= 0 && (tk_gguf_kv_arr_type(g, si) == TK_GGUF_FLOAT32 ||
                                    tk_gguf_kv_arr_type(g, si) == TK_GGUF_FLOAT64);
    for (uint64_t i = 0; i < n && st == TK_OK; i++) {
        const char *s;
        uint64_t len;
        char empty[32];
        if (!tk_gguf_arr_str(g, ti, i, &s, &len)) {
            st = core_error(TK_ERR_FORMAT, KEY_PREFIX "tokens[%llu] is unreadable",
                            (unsigned long long)i);
            break;
        }
        if (len == 0) {
            /* As the reference: an empty token gets a placeholder text. */
            snprintf(empty, sizeof empty, "[EMPTY_%llu]", (unsigned long long)i);
            s = empty;
            len = strlen(empty);
            n_empty++;
        }
        if (text.len > UINT32_MAX || len > UINT32_MAX) {
            st = core_error(TK_ERR_LIMIT, KEY_PREFIX "tokens: texts over 4 GiB");
            break;
        }
        t->text_off[i] = (uint32_t)text.len;
        t->text_len[i] = (uint32_t)len;
        st = buf_add(&text, s, len);
        if (st == TK_OK) st = buf_add(&text, "", 1); /* keep a NUL after each text */
        if (st != TK_OK) break;
        bool found = false;
        st = tok_strmap_add(&t->strings, s, len, (int32_t)i, &found, NULL);
        if (found) n_dup++;

        if (si >= 0) {
            double d = 0;
            int64_t v = 0;
            bool ok =
                float_scores ? tk_gguf_arr_float(g, si, i, &d) : tk_gguf_arr_int(g, si, i, &v);
            if (!ok) {
                st = core_error(TK_ERR_FORMAT, KEY_PREFIX "scores[%llu] is unreadable",
                                (unsigned long long)i);
                break;
            }
            t->score[i] = float_scores ? (float)d : (float)v;
        }
        if (yi >= 0) {
            int64_t ty;
            if (!tk_gguf_arr_int(g, yi, i, &ty)) {
                st = core_error(TK_ERR_FORMAT, KEY_PREFIX "token_type[%llu] is unreadable",
                                (unsigned long long)i);
                break;
            }
            t->attr[i] = attr_of_type(ty);
        } else {
            t->attr[i] = TOK_ATTR_NORMAL;
        }
    }
    if (st != TK_OK) {
        free(text.p);
        return st;
    }
    /* A token list of only empty strings still has its placeholders. */
    t->text_arena = text.p;
    if (n_empty) core_log(TK_LOG_WARN, "tokenizer: %u empty tokens (named [EMPTY_<id>])", n_empty);
    if (n_dup)
        core_log(TK_LOG_WARN,
                 "tokenizer: %u tokens repeat the text of an earlier token; text lookups give "
                 "the first",
                 n_dup);
    return TK_OK;
}

static tk_status load(tk_tokenizer *t, const tk_gguf *g)
{
    const char *model, *pre;
    uint64_t mlen, plen;
    tk_status st = tok_gguf_opt_str(g, KEY_PREFIX "model", &model, &mlen);
    if (st != TK_OK) return st;
    if (!model && tk_gguf_find_kv(g, "tokenizer.huggingface.json") >= 0) {
        /* A model directory's tokenizer.json (hf_load.c). */
        if ((st = tok_hf_load(t, g)) != TK_OK) return st;
        return detect_special(t, g);
    }
    if (!model)
        return core_error(TK_ERR_NOT_FOUND,
                          KEY_PREFIX "model is missing: the file has no vocabulary");
    if (strcmp(model, "llama") == 0) {
        t->kind = TOK_KIND_SPM;
    } else if (strcmp(model, "gpt2") == 0) {
        t->kind = TOK_KIND_BPE;
    } else {
        return core_error(TK_ERR_UNSUPPORTED,
                          KEY_PREFIX "model '%.64s' is not supported (supported: 'llama' = "
                                     "SentencePiece, 'gpt2' = byte-level BPE)",
                          model);
    }
    if ((st = tok_gguf_opt_str(g, KEY_PREFIX "pre", &pre, &plen)) != TK_OK) return st;
    if ((st = load_tokens(t, g)) != TK_OK) return st;

    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = -1;
    if (t->kind == TOK_KIND_SPM) {
        t->bos = 1;
        t->eos = 2;
        t->unk = 0;
        t->add_bos = true;
        t->add_space_prefix = true;
        core_strlcpy(t->pre_name, "spm", sizeof t->pre_name);
        /* Defaults that fall outside a tiny vocabulary do not exist. */
        if (t->bos >= t->n_vocab) t->bos = -1;
        if (t->eos >= t->n_vocab) t->eos = -1;
        if (t->unk >= t->n_vocab) t->unk = -1;
    } else {
        if ((st = load_merges(t, g)) != TK_OK) return st;
        tok_pre_info info;
        if (!pre) {
            core_log(TK_LOG_WARN, "tokenizer: no " KEY_PREFIX "pre in the file: using the "
                                  "'default' pre-tokenizer (ids may differ from the model's)");
            tok_pre_lookup("default", &info);
            core_strlcpy(t->pre_name, "default", sizeof t->pre_name);
        } else if (tok_pre_lookup(pre, &info)) {
            snprintf(t->pre_name, sizeof t->pre_name, "%s", pre);
        } else {
            core_log(TK_LOG_WARN,
                     "tokenizer: unknown pre-tokenizer '%.64s': using the gpt-2 rules instead "
                     "(ids may differ from the model's)",
                     pre);
            snprintf(t->pre_name, sizeof t->pre_name, "gpt-2 (fallback for '%.40s')", pre);
        }
        t->clean_spaces = info.clean_spaces;
        t->ignore_merges = info.ignore_merges;
        t->add_bos = info.add_bos;
        if ((st = tok_pretok_compile(&t->pre, info.rules)) != TK_OK) return st;
        for (int b = 0; b < 256; b++) {
            char enc[4];
            size_t n = tok_utf8_encode(tok_byte_to_cp((unsigned char)b), enc);
            memcpy(t->byte_utf8[b], enc, n);
            t->byte_utf8_len[b] = (unsigned char)n;
            t->byte_string[b] = tok_strmap_find(&t->strings, enc, n);
            for (size_t k = 0; k < 2; k++)
                t->byte_single[b][k] = k < n ? tok_find(t, enc + k, 1) : -1;
        }
    }
    if ((st = opt_bool(g, KEY_PREFIX "add_space_prefix", &t->add_space_prefix)) != TK_OK) return st;

    static const struct {
        const char *key;
        size_t field;
    } ids[] = {
        {KEY_PREFIX "bos_token_id", offsetof(tk_tokenizer, bos)},
        {KEY_PREFIX "eos_token_id", offsetof(tk_tokenizer, eos)},
        {KEY_PREFIX "eot_token_id", offsetof(tk_tokenizer, eot)},
        {KEY_PREFIX "eom_token_id", offsetof(tk_tokenizer, eom)},
        {KEY_PREFIX "unknown_token_id", offsetof(tk_tokenizer, unk)},
        {KEY_PREFIX "padding_token_id", offsetof(tk_tokenizer, pad)},
    };
    for (size_t k = 0; k < TK_ARRAY_LEN(ids); k++) {
        int32_t *field = (int32_t *)((char *)t + ids[k].field);
        bool lenient = ids[k].field == offsetof(tk_tokenizer, pad);
        if ((st = opt_id(g, ids[k].key, t->n_vocab, lenient, field)) != TK_OK) return st;
    }
    if ((st = opt_bool(g, KEY_PREFIX "add_bos_token", &t->add_bos)) != TK_OK) return st;
    if ((st = opt_bool(g, KEY_PREFIX "add_eos_token", &t->add_eos)) != TK_OK) return st;
    if (t->add_bos && t->bos < 0)
        return core_error(TK_ERR_FORMAT, "BOS is to be added (" KEY_PREFIX "add_bos_token) but "
                                         "there is no BOS token (" KEY_PREFIX "bos_token_id)");
    if (t->add_eos && t->eos < 0)
        return core_error(TK_ERR_FORMAT, "EOS is to be added (" KEY_PREFIX "add_eos_token) but "
                                         "there is no EOS token (" KEY_PREFIX "eos_token_id)");

    if ((st = detect_special(t, g)) != TK_OK) return st;
    if ((st = build_special(t)) != TK_OK) return st;
    if ((st = build_pieces(t)) != TK_OK) return st;
    if ((st = apply_name_rules(t, g, pre)) != TK_OK) return st;

    if (t->kind == TOK_KIND_SPM) {
        /* Can text be cut before each word (a space mark after something
         * that is no space mark)? Only when no token could span such a cut. */
        t->spm_word_split = true;
        for (int32_t id = 0; id < t->n_vocab && t->spm_word_split; id++) {
            const char *s = tok_text(t, id);
            uint32_t len = t->text_len[id];
            bool prev_mark = false;
            for (uint32_t o = 0; o < len;) {
                uint32_t l = (uint32_t)TK_MIN(tok_utf8_len((unsigned char)s[o]), len - o);
                bool mark = l == 3 && memcmp(s + o, "\xe2\x96\x81", 3) == 0;
                if (mark && o > 0 && !prev_mark) {
                    t->spm_word_split = false;
                    break;
                }
                prev_mark = mark;
                o += l;
            }
        }
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            char one = (char)b;
            int32_t id = find_cstr(t, name);
            if (id < 0) id = tok_find(t, &one, 1);
            if (id < 0) id = t->unk;
            t->byte_token[b] = id;
        }
    }
    return TK_OK;
}

tk_status tk_tokenizer_load(const tk_gguf *g, tk_tokenizer **out)
{
    if (!out) return core_error(TK_ERR_INVALID_ARG, "tk_tokenizer_load: out is NULL");
    *out = NULL;
    if (!g) return core_error(TK_ERR_INVALID_ARG, "tk_tokenizer_load: no GGUF file");
    tk_tokenizer *t = core_calloc(1, sizeof *t);
    if (!t) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    tk_status st = load(t, g);
    if (st != TK_OK) {
        tk_tokenizer_free(t);
        return st;
    }
    *out = t;
    return TK_OK;
}

void tk_tokenizer_free(tk_tokenizer *t)
{
    if (!t) return;
    free(t->text_arena);
    free(t->text_off);
    free(t->text_len);
    free(t->score);
    free(t->attr);
    free(t->piece_arena);
    free(t->piece_off);
    free(t->piece_len);
    tok_strmap_free(&t->strings);
    free(t->merges);
    tok_pretok_free(&t->pre);
    free(t->special);
    free(t->trie);
    tok_hf_free(t->hf);
    free(t);
}

/* ---- queries ------------------------------------------------------------------ */

static bool in_range(const tk_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_vocab;
}

int32_t tk_tokenizer_n_vocab(const tk_tokenizer *t)
{
    return t ? t->n_vocab : 0;
}
const char *tk_tokenizer_model(const tk_tokenizer *t)
{
    if (t && t->kind == TOK_KIND_HF) return t->add_space_prefix ? "spm" : "bpe";
    return t && t->kind == TOK_KIND_BPE ? "bpe" : "spm";
}
const char *tk_tokenizer_pre(const tk_tokenizer *t)
{
    return t ? t->pre_name : "";
}
bool tk_tokenizer_add_bos(const tk_tokenizer *t)
{
    return t && t->add_bos;
}
bool tk_tokenizer_add_eos(const tk_tokenizer *t)
{
    return t && t->add_eos;
}
bool tk_tokenizer_add_space_prefix(const tk_tokenizer *t)
{
    return t && t->add_space_prefix;
}
int32_t tk_token_bos(const tk_tokenizer *t)
{
    return t ? t->bos : -1;
}
int32_t tk_token_eos(const tk_tokenizer *t)
{
    return t ? t->eos : -1;
}
int32_t tk_token_eot(const tk_tokenizer *t)
{
    return t ? t->eot : -1;
}
int32_t tk_token_unk(const tk_tokenizer *t)
{
    return t ? t->unk : -1;
}
int32_t tk_token_pad(const tk_tokenizer *t)
{
    return t ? t->pad : -1;
}

bool tk_token_is_eog(const tk_tokenizer *t, int32_t id)
{
    return in_range(t, id) && (t->attr[id] & TOK_ATTR_EOG);
}

bool tk_token_is_special(const tk_tokenizer *t, int32_t id)
{
    return in_range(t, id) && (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN));
}

tk_token_type tk_token_get_type(const tk_tokenizer *t, int32_t id)
{
    if (!in_range(t, id)) return TK_TOKEN_UNDEFINED;
    uint16_t a = t->attr[id];
    if (a & TOK_ATTR_CONTROL) return TK_TOKEN_CONTROL;
    if (a & TOK_ATTR_USER_DEFINED) return TK_TOKEN_USER_DEFINED;
    if (a & TOK_ATTR_UNKNOWN) return TK_TOKEN_UNKNOWN;
    if (a & TOK_ATTR_BYTE) return TK_TOKEN_BYTE;
    if (a & TOK_ATTR_UNUSED) return TK_TOKEN_UNUSED;
    if (a & TOK_ATTR_NORMAL) return TK_TOKEN_NORMAL;
    return TK_TOKEN_UNDEFINED;
}

const char *tk_token_text(const tk_tokenizer *t, int32_t id, size_t *len)
{
    if (!in_range(t, id)) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->text_len[id];
    return tok_text(t, id);
}

int32_t tk_token_find(const tk_tokenizer *t, const char *text)
{
    if (!t || !text) return -1;
    return tok_find(t, text, strlen(text));
}
