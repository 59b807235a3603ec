/* Normalizers of Hugging Face tokenizer.json files: NFC and NFD, Prepend,
 * Replace, Lowercase, Strip, and Sequences of them.
 *
 * NFC / NFD are complete for canonical (de)composition: the tables in
 * hf_nfc_table.h hold every canonical decomposition, composition and
 * combining class of Unicode 14 (generated from Python's unicodedata by
 * tests/hf/gen_nfc_table.py); Hangul syllables are handled by arithmetic.
 * The compatibility forms (NFKC, NFKD) and the Precompiled normalizer of
 * Unigram vocabularies are not supported.
 *
 * Lowercase uses simple case mappings for Latin (ASCII, Latin-1, Latin
 * Extended-A), Greek and Cyrillic; other scripts are left as they are, and
 * the special cases of full case mapping (final sigma, U+0130) are not
 * applied.
 */
#include "tokenizer/tokenizer.h"

#include "tokenizer/hf_nfc_table.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Unicode data --------------------------------------------------------- */

#define ROWS(a) (TK_ARRAY_LEN(a) / 3)

static unsigned ccc_of(uint32_t cp)
{
    if (cp < 0x300) return 0;
    size_t lo = 0, hi = ROWS(hf_nfc_ccc);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *r = hf_nfc_ccc + 3 * mid;
        if (cp < r[0])
            hi = mid;
        else if (cp > r[1])
            lo = mid + 1;
        else
            return r[2];
    }
    return 0;
}

/* One-level decomposition row of cp, NULL if none. */
static const uint32_t *decomp_of(uint32_t cp)
{
    if (cp < 0xC0) return NULL;
    size_t lo = 0, hi = ROWS(hf_nfc_decomp);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *r = hf_nfc_decomp + 3 * mid;
        uint32_t c = r[0] & 0x7FFFFFFFu;
        if (cp < c)
            hi = mid;
        else if (cp > c)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

enum { S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7 };
enum { L_COUNT = 19, V_COUNT = 21, T_COUNT = 28, S_COUNT = L_COUNT * V_COUNT * T_COUNT };

/* The primary composite of a + b, 0 if none. */
static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
        b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    size_t lo = 0, hi = ROWS(hf_nfc_comp);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *r = hf_nfc_comp + 3 * mid;
        if (a < r[0] || (a == r[0] && b < r[1]))
            hi = mid;
        else if (a > r[0] || b > r[1])
            lo = mid + 1;
        else
            return r[2];
    }
    return 0;
}

typedef struct cpbuf {
    uint32_t *p;
    size_t n, cap;
} cpbuf;

static tk_status cp_push(cpbuf *b, uint32_t cp)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        uint32_t *q = realloc(b->p, cap * sizeof *q);
        if (!q) return core_error(TK_ERR_NOMEM, "normalize: out of memory");
        b->p = q;
        b->cap = cap;
    }
    b->p[b->n++] = cp;
    return TK_OK;
}

/* Full canonical decomposition of cp (depth is bounded by the data: at
 * most 4 levels). */
static tk_status decompose(uint32_t cp, cpbuf *out, int depth)
{
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE;
        tk_status st = cp_push(out, L_BASE + s / (V_COUNT * T_COUNT));
        if (st == TK_OK) st = cp_push(out, V_BASE + (s % (V_COUNT * T_COUNT)) / T_COUNT);
        if (st == TK_OK && s % T_COUNT) st = cp_push(out, T_BASE + s % T_COUNT);
        return st;
    }
    const uint32_t *r = depth < 8 ? decomp_of(cp) : NULL;
    if (!r) return cp_push(out, cp);
    tk_status st = decompose(r[1], out, depth + 1);
    if (st == TK_OK && r[2]) st = decompose(r[2], out, depth + 1);
    return st;
}

static tk_status unicode_normalize(const char *in, size_t n, bool compose_back, tok_hf_str *out)
{
    /* Fast path: below U+0300 every character is its own normal form. */
    size_t i = 0;
    while (i < n && (unsigned char)in[i] < 0xCC) i++;
    if (i == n) return tok_hf_str_add(out, in, n);

    cpbuf b = {0};
    tk_status st = TK_OK;
    for (i = 0; i < n && st == TK_OK;) {
        uint32_t cp = tok_utf8_decode((const unsigned char *)in, n, &i);
        st = decompose(cp, &b, 0);
    }
    /* Canonical order: a stable sort of each run of non-starters by class. */
    for (size_t k = 1; k < b.n && st == TK_OK; k++) {
        unsigned c = ccc_of(b.p[k]);
        if (c == 0) continue;
        uint32_t x = b.p[k];
        size_t j = k;
        while (j > 0) {
            unsigned pc = ccc_of(b.p[j - 1]);
            if (pc == 0 || pc <= c) break;
            b.p[j] = b.p[j - 1];
            j--;
        }
        b.p[j] = x;
    }
    size_t m = b.n;
    if (compose_back && st == TK_OK) {
        /* Canonical composition: a character joins the last starter unless
         * blocked by a character of the same or higher class (or a starter)
         * in between. */
        m = 0;
        long starter = -1;
        unsigned last = 0;
        for (size_t k = 0; k < b.n; k++) {
            uint32_t c = b.p[k];
            unsigned cc = ccc_of(c);
            if (starter >= 0) {
                bool adjacent = (size_t)starter == m - 1;
                if (adjacent || (last != 0 && last < cc)) {
                    uint32_t comp = compose(b.p[starter], c);
                    if (comp) {
                        b.p[starter] = comp;
                        continue;
                    }
                }
            }
            if (cc == 0) starter = (long)m;
            last = cc;
            b.p[m++] = c;
        }
    }
    for (size_t k = 0; k < m && st == TK_OK; k++) {
        char enc[4];
        st = tok_hf_str_add(out, enc, tok_utf8_encode(b.p[k], enc));
    }
    free(b.p);
    return st;
}

tk_status tok_hf_nfc(const char *in, size_t n, tok_hf_str *out)
{
    return unicode_normalize(in, n, true, out);
}

/* ---- lowercase -------------------------------------------------------------- */

static uint32_t lower_cp(uint32_t c)
{
    if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x130 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
        if (c == 0x178) return 0xFF;
        bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        if (odd_upper) return (c & 1) ? c + 1 : c;
        return (c & 1) ? c : c + 1;
    }
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF)) return (c & 1) ? c : c + 1;
    return c;
}

static tk_status lowercase(const char *in, size_t n, tok_hf_str *out)
{
    tk_status st = TK_OK;
    for (size_t i = 0; i < n && st == TK_OK;) {
        size_t start = i;
        uint32_t cp = tok_utf8_decode((const unsigned char *)in, n, &i);
        uint32_t lc = lower_cp(cp);
        if (lc == cp) {
            st = tok_hf_str_add(out, in + start, i - start);
        } else {
            char enc[4];
            st = tok_hf_str_add(out, enc, tok_utf8_encode(lc, enc));
        }
    }
    return st;
}

/* ---- the pipeline ---------------------------------------------------------------- */

static tk_status replace_all(const tok_hf *h, const tok_hf_pattern *pat, const char *content,
                             size_t content_len, const char *in, size_t n, tok_hf_str *out,
                             pcre2_match_data *md)
{
    tk_status st = TK_OK;
    size_t prev = 0, from = 0, ms, me;
    while (from <= n && tok_hf_pattern_next(pat, md, h->mctx, in, n, from, &ms, &me, &st)) {
        if ((st = tok_hf_str_add(out, in + prev, ms - prev)) != TK_OK) return st;
        if ((st = tok_hf_str_add(out, content, content_len)) != TK_OK) return st;
        prev = me;
        if (me > ms) {
            from = me;
        } else {
            /* An empty match: keep the next character and go on after it. */
            size_t l = me < n ? tok_utf8_len((unsigned char)in[me]) : 1;
            if (me < n && (st = tok_hf_str_add(out, in + me, TK_MIN(l, n - me))) != TK_OK)
                return st;
            prev = from = me + l;
        }
    }
    if (st != TK_OK) return st;
    return prev < n ? tok_hf_str_add(out, in + prev, n - prev) : TK_OK;
}

static tk_status apply(const tok_hf *h, const tok_hf_norm *m, const char *in, size_t n,
                       tok_hf_str *out, pcre2_match_data *md)
{
    tk_status st;
    switch (m->type) {
    case TOK_HF_NORM_NFC:
        return unicode_normalize(in, n, m->left, out);
    case TOK_HF_NORM_PREPEND:
        if (n == 0) return TK_OK;
        st = tok_hf_str_add(out, m->text, m->text_len);
        return st == TK_OK ? tok_hf_str_add(out, in, n) : st;
    case TOK_HF_NORM_REPLACE:
        return replace_all(h, &m->pat, m->text, m->text_len, in, n, out, md);
    case TOK_HF_NORM_LOWERCASE:
        return lowercase(in, n, out);
    case TOK_HF_NORM_STRIP: {
        size_t a = 0, b = n;
        if (m->left)
            while (a < b) {
                size_t i = a;
                if (!tok_is_whitespace(tok_utf8_decode((const unsigned char *)in, n, &i))) break;
                a = i;
            }
        if (m->right)
            while (b > a) {
                size_t j = b - 1;
                while (j > a && ((unsigned char)in[j] & 0xC0) == 0x80) j--;
                size_t i = j;
                if (!tok_is_whitespace(tok_utf8_decode((const unsigned char *)in, n, &i))) break;
                b = j;
            }
        return tok_hf_str_add(out, in + a, b - a);
    }
    }
    return core_error(TK_ERR_INTERNAL, "normalizer step %d", m->type);
}

tk_status tok_hf_normalize(const tok_hf *h, const char *in, size_t n, tok_hf_str *out,
                           tok_hf_str *tmp, pcre2_match_data *md)
{
    out->len = 0;
    tk_status st = tok_hf_str_add(out, in, n);
    for (int k = 0; k < h->n_norm && st == TK_OK; k++) {
        tmp->len = 0;
        if ((st = tok_hf_str_add(tmp, "", 0)) != TK_OK) break;
        st = apply(h, &h->norm[k], out->p, out->len, tmp, md);
        tok_hf_str swap = *out;
        *out = *tmp;
        *tmp = swap;
    }
    return st;
}

/* ---- parsing ------------------------------------------------------------------------ */

static tk_status parse_one(void *ctx, const cJSON *j, const char *what, int depth)
{
    tok_hf *h = ctx;
    const char *type = NULL;
    tk_status st = tok_hf_step_type(j, "normalizers", what, depth, parse_one, h, &type);
    if (st != TK_OK || !type) return st;
    if (h->n_norm == TOK_HF_MAX_STEPS)
        return core_error(TK_ERR_LIMIT, "%s: more than %d normalizers", what, TOK_HF_MAX_STEPS);
    tok_hf_norm *m = &h->norm[h->n_norm];
    memset(m, 0, sizeof *m);
    const char *text = NULL;
    char sub[256];
    if (strcmp(type, "NFC") == 0 || strcmp(type, "NFD") == 0) {
        m->type = TOK_HF_NORM_NFC;
        m->left = type[2] == 'C'; /* compose back */
    } else if (strcmp(type, "Prepend") == 0) {
        m->type = TOK_HF_NORM_PREPEND;
        st = tok_hf_get_str(j, "prepend", what, true, &text);
    } else if (strcmp(type, "Replace") == 0) {
        m->type = TOK_HF_NORM_REPLACE;
        snprintf(sub, sizeof sub, "%.200s.pattern", what);
        st = tok_hf_get_str(j, "content", what, true, &text);
        if (st == TK_OK)
            st = tok_hf_pattern_parse(cJSON_GetObjectItemCaseSensitive(j, "pattern"), sub, &m->pat);
    } else if (strcmp(type, "Lowercase") == 0) {
        m->type = TOK_HF_NORM_LOWERCASE;
    } else if (strcmp(type, "Strip") == 0) {
        m->type = TOK_HF_NORM_STRIP;
        m->left = m->right = true;
        if ((st = tok_hf_get_bool(j, "strip_left", what, &m->left)) == TK_OK)
            st = tok_hf_get_bool(j, "strip_right", what, &m->right);
    } else {
        return core_error(TK_ERR_UNSUPPORTED, "%s: normalizer type '%.40s' is not supported", what,
                          type);
    }
    h->n_norm++; /* counted even on error, so that tok_hf_free frees its pattern */
    if (st == TK_OK && text) {
        m->text_len = strlen(text);
        m->text = tok_hf_strndup(text, m->text_len);
        if (!m->text) st = core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    }
    return st;
}

tk_status tok_hf_norm_parse(tok_hf *h, const cJSON *j, const char *what)
{
    if (!j || cJSON_IsNull(j)) return TK_OK;
    return parse_one(h, j, what, 0);
}
