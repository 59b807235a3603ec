/* Text -> ids.
 *
 * 1. Special tokens written in the text are cut out first (tok_partition()).
 *    Like the reference engine, tokens are taken longest first: each takes
 *    its leftmost non-overlapping occurrences inside text no longer token
 *    has taken. All occurrences are found in one pass over the text with a
 *    byte trie, then claimed in (priority, position) order, which gives the
 *    same result as scanning the text once per special token.
 * 2. Each stretch of ordinary text is tokenized by the vocabulary's model:
 *    - spm: a space prefix, spaces written as U+2581, then bigram merges by
 *      token score (highest first, leftmost on ties) over UTF-8 characters;
 *      what is left that is no token becomes byte tokens.
 *    - bpe: pre-tokenizer pieces (pretok.c), each mapped through the GPT-2
 *      byte table and merged by rank (lowest first, leftmost on ties).
 * Both merge loops use a binary heap with lazy invalidation, so a long word
 * costs O(n log n), not O(n^2).
 */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

/* ---- growable arrays ------------------------------------------------------ */

typedef tok_ivec ivec;
#define ivec_push tok_ivec_push

tk_status tok_ivec_push(tok_ivec *v, int32_t x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        int32_t *p = realloc(v->p, cap * sizeof *p);
        if (!p) return core_error(TK_ERR_NOMEM, "tokenize: out of memory");
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = x;
    return TK_OK;
}

/* Grows *p to hold at least n elements of `size` bytes. */
static tk_status reserve(void **p, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap) return TK_OK;
    size_t c = *cap ? *cap : 64;
    while (c < n) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return core_error(TK_ERR_NOMEM, "tokenize: out of memory");
    *p = q;
    *cap = c;
    return TK_OK;
}
#define RESERVE(arr, cap, n) reserve((void **)&(arr), &(cap), (n), sizeof *(arr))

/* Working memory of one tokenize call, reused across its text stretches. */
typedef struct symbol {
    int32_t prev, next; /* neighbours in the chain, -1 at the ends */
    uint32_t start, n;  /* bytes of the symbol; n = 0 once merged into its left */
    int32_t sid;        /* bpe: string id of its text, -1 unknown */
} symbol;

typedef struct bigram {
    float score;    /* spm: score of the merged token (higher first) */
    int32_t rank;   /* bpe: merge rank (lower first) */
    int32_t result; /* bpe: string id of the merged text */
    int32_t left, right;
    uint32_t nl, nr; /* sizes of both symbols when queued (stale if changed) */
} bigram;

typedef struct scratch {
    char *text; /* spm: escaped text; bpe: the piece's bytes */
    size_t text_cap;
    char *subject; /* bpe: text for the pre-tokenizer */
    size_t subject_cap;
    uint32_t *cps; /* bpe: code points */
    size_t cps_cap;
    uint32_t *cp_at; /* bpe: code point index at each subject byte */
    size_t cp_at_cap;
    uint32_t *cuts, *cuts_tmp;
    size_t cuts_cap, cuts_tmp_cap;
    char *mapped; /* bpe: byte-mapped word (ignore_merges lookups) */
    size_t mapped_cap;
    symbol *sym;
    size_t sym_cap;
    bigram *heap;
    size_t heap_cap, heap_n;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->text);
    free(s->subject);
    free(s->cps);
    free(s->cp_at);
    free(s->cuts);
    free(s->cuts_tmp);
    free(s->mapped);
    free(s->sym);
    free(s->heap);
}

/* ---- heap ------------------------------------------------------------------ */

/* spm: higher score first; bpe: lower rank first; then the leftmost. */
static bool before(bool spm, const bigram *a, const bigram *b)
{
    if (spm) {
        if (a->score != b->score) return a->score > b->score;
    } else if (a->rank != b->rank) {
        return a->rank < b->rank;
    }
    return a->left < b->left;
}

static tk_status heap_push(scratch *s, bool spm, bigram g)
{
    tk_status st = RESERVE(s->heap, s->heap_cap, s->heap_n + 1);
    if (st != TK_OK) return st;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(spm, &g, &s->heap[parent])) break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = g;
    return TK_OK;
}

static bigram heap_pop(scratch *s, bool spm)
{
    bigram top = s->heap[0];
    bigram last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(spm, &s->heap[c + 1], &s->heap[c])) c++;
        if (!before(spm, &s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

/* ---- special tokens ------------------------------------------------------ */

typedef struct match {
    uint32_t rank; /* index into t->special: lower is taken first */
    uint32_t pos;
} match;

static bool ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

tk_status tok_partition(const tk_tokenizer *t, const char *text, size_t len, bool parse_special,
                        tok_frag **frags, size_t *n_frags)
{
    const unsigned char *u = (const unsigned char *)text;
    match *m = NULL;
    size_t n_m = 0, cap_m = 0;
    tk_status st = TK_OK;
    *frags = NULL;
    *n_frags = 0;

    for (size_t p = 0; p < len && st == TK_OK; p++) {
        uint32_t c = t->trie_root[u[p]];
        size_t q = p;
        while (c) {
            int32_t k = t->trie[c].spec;
            if (k >= 0) {
                uint16_t a = t->attr[t->special[k]];
                /* Without parse_special only user-defined tokens are cut out. */
                if (parse_special || !(a & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) {
                    st = RESERVE(m, cap_m, n_m + 1);
                    if (st != TK_OK) break;
                    m[n_m++] = (match){(uint32_t)k, (uint32_t)p};
                }
            }
            if (++q >= len) break;
            uint32_t ch = t->trie[c].first_child;
            while (ch && t->trie[ch].byte != u[q]) ch = t->trie[ch].next_sibling;
            c = ch;
        }
    }
    unsigned char *claimed = NULL; /* 0 free, 1 a token, 2 whitespace a token stripped */
    int32_t *tok_at = NULL;        /* token starting at each byte, or -1 */
    tok_frag *f = NULL;
    size_t n_f = 0, cap_f = 0;
    if (st == TK_OK && n_m) {
        /* Order by (rank, position): a counting sort by rank keeps the
         * position order in which the matches were found. */
        uint32_t *count = core_calloc((size_t)t->n_special + 1, sizeof *count);
        match *sorted = malloc(n_m * sizeof *sorted);
        if (!count || !sorted) {
            free(count);
            free(sorted);
            free(m);
            return core_error(TK_ERR_NOMEM, "tokenize: out of memory");
        }
        for (size_t i = 0; i < n_m; i++) count[m[i].rank + 1]++;
        for (uint32_t k = 0; k < t->n_special; k++) count[k + 1] += count[k];
        for (size_t i = 0; i < n_m; i++) sorted[count[m[i].rank]++] = m[i];
        free(count);
        free(m);
        m = sorted;
        claimed = calloc(len, 1);
        tok_at = malloc(len * sizeof *tok_at);
        if (!claimed || !tok_at) st = core_error(TK_ERR_NOMEM, "tokenize: out of memory");
        for (size_t p = 0; st == TK_OK && p < len; p++) tok_at[p] = -1;
        for (size_t i = 0; st == TK_OK && i < n_m; i++) {
            int32_t id = t->special[m[i].rank];
            size_t p = m[i].pos, l = t->text_len[id];
            bool free_span = true;
            for (size_t k = p; k < p + l && free_span; k++) free_span = claimed[k] == 0;
            if (!free_span) continue;
            memset(claimed + p, 1, l);
            tok_at[p] = id;
            if (t->attr[id] & TOK_ATTR_LSTRIP)
                for (size_t k = p; k > 0 && !claimed[k - 1] && ascii_space(u[k - 1]); k--)
                    claimed[k - 1] = 2;
            if (t->attr[id] & TOK_ATTR_RSTRIP)
                for (size_t k = p + l; k < len && !claimed[k] && ascii_space(u[k]); k++)
                    claimed[k] = 2;
        }
    }
    for (size_t p = 0; st == TK_OK && p < len;) {
        tok_frag x;
        if (!claimed || !claimed[p]) {
            size_t q = p;
            while (q < len && (!claimed || !claimed[q])) q++;
            x = (tok_frag){(uint32_t)p, (uint32_t)(q - p), -1};
            p = q;
        } else if (tok_at[p] >= 0) {
            x = (tok_frag){(uint32_t)p, t->text_len[tok_at[p]], tok_at[p]};
            p += t->text_len[tok_at[p]];
        } else {
            p++;
            continue;
        }
        st = RESERVE(f, cap_f, n_f + 1);
        if (st == TK_OK) f[n_f++] = x;
    }
    free(m);
    free(claimed);
    free(tok_at);
    if (st != TK_OK) {
        free(f);
        return st;
    }
    *frags = f;
    *n_frags = n_f;
    return TK_OK;
}

/* ---- SentencePiece ----------------------------------------------------------- */

static tk_status spm_try_bigram(const tk_tokenizer *t, scratch *s, const char *text, int32_t l,
                                int32_t r)
{
    if (l < 0 || r < 0) return TK_OK;
    const symbol *a = &s->sym[l], *b = &s->sym[r];
    int32_t id = tok_find(t, text + a->start, a->n + b->n);
    if (id < 0) return TK_OK;
    bigram g = {.score = t->score[id], .left = l, .right = r, .nl = a->n, .nr = b->n};
    return heap_push(s, true, g);
}

/* Tokenizes the escaped text text[0..n). */
static tk_status spm_run(const tk_tokenizer *t, scratch *s, const char *text, size_t n, ivec *out)
{
    size_t n_sym = 0;
    tk_status st = RESERVE(s->sym, s->sym_cap, n + 1);
    if (st != TK_OK) return st;
    for (size_t off = 0; off < n; n_sym++) {
        size_t l = TK_MIN(tok_utf8_len((unsigned char)text[off]), n - off);
        s->sym[n_sym] = (symbol){(int32_t)n_sym - 1, -1, (uint32_t)off, (uint32_t)l, -1};
        if (n_sym) s->sym[n_sym - 1].next = (int32_t)n_sym;
        off += l;
    }
    s->heap_n = 0;
    for (size_t i = 1; i < n_sym && st == TK_OK; i++)
        st = spm_try_bigram(t, s, text, (int32_t)i - 1, (int32_t)i);
    while (st == TK_OK && s->heap_n) {
        bigram g = heap_pop(s, true);
        symbol *a = &s->sym[g.left], *b = &s->sym[g.right];
        if (a->n == 0 || b->n == 0 || a->n != g.nl || b->n != g.nr) continue; /* stale */
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) s->sym[b->next].prev = g.left;
        st = spm_try_bigram(t, s, text, a->prev, g.left);
        if (st == TK_OK) st = spm_try_bigram(t, s, text, g.left, a->next);
    }
    for (int32_t i = n_sym ? 0 : -1; i >= 0 && st == TK_OK; i = s->sym[i].next) {
        const symbol *x = &s->sym[i];
        int32_t id = tok_find(t, text + x->start, x->n);
        if (id >= 0) {
            st = ivec_push(out, id);
            continue;
        }
        /* No token: one byte token per byte. */
        for (uint32_t k = 0; k < x->n && st == TK_OK; k++) {
            unsigned char c = (unsigned char)text[x->start + k];
            if (t->byte_token[c] < 0)
                return core_error(TK_ERR_TOKENIZER,
                                  "byte 0x%02X cannot be tokenized: the vocabulary has no <0x%02X> "
                                  "token and no unknown token",
                                  c, c);
            st = ivec_push(out, t->byte_token[c]);
        }
    }
    return st;
}

#define SPACE_MARK "\xe2\x96\x81" /* U+2581, how spm writes a space */

static bool is_mark(const char *p)
{
    return memcmp(p, SPACE_MARK, 3) == 0;
}

static tk_status spm_fragment(const tk_tokenizer *t, scratch *s, const char *raw, size_t len,
                              bool space_prefix, ivec *out)
{
    /* Each space becomes U+2581 (3 bytes). */
    tk_status st = RESERVE(s->text, s->text_cap, 3 * len + 4);
    if (st != TK_OK) return st;
    size_t n = 0;
    if (space_prefix) {
        memcpy(s->text, SPACE_MARK, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (raw[i] == ' ') {
            memcpy(s->text + n, SPACE_MARK, 3);
            n += 3;
        } else {
            s->text[n++] = raw[i];
        }
    }
    if (!t->spm_word_split) return spm_run(t, s, s->text, n, out);
    /* No token has a space mark right after another character (vocab.c), so
     * no merge crosses the start of a word: words are tokenized one at a
     * time, which gives the same ids and keeps the heap small. Cuts are made
     * only at character (symbol) boundaries. */
    size_t start = 0;
    bool prev_mark = false;
    for (size_t off = 0; off < n && st == TK_OK;) {
        size_t l = TK_MIN(tok_utf8_len((unsigned char)s->text[off]), n - off);
        bool mark = l == 3 && is_mark(s->text + off);
        if (mark && off > start && !prev_mark) {
            st = spm_run(t, s, s->text + start, off - start, out);
            start = off;
        }
        prev_mark = mark;
        off += l;
    }
    if (st == TK_OK) st = spm_run(t, s, s->text + start, n - start, out);
    return st;
}

/* ---- byte-level BPE --------------------------------------------------------- */

static const tok_merge *find_merge(const tk_tokenizer *t, int32_t a, int32_t b)
{
    const tok_merge *m =
        &t->merges[tok_merge_slot(t->merges, t->merge_mask, (uint32_t)a, (uint32_t)b)];
    return m->left == UINT32_MAX ? NULL : m;
}

static tk_status bpe_try_bigram(const tk_tokenizer *t, scratch *s, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return TK_OK;
    const symbol *a = &s->sym[l], *b = &s->sym[r];
    if (a->sid < 0 || b->sid < 0) return TK_OK;
    const tok_merge *m = find_merge(t, a->sid, b->sid);
    if (!m) return TK_OK;
    bigram g = {
        .rank = m->rank, .result = m->result, .left = l, .right = r, .nl = a->n, .nr = b->n};
    return heap_push(s, false, g);
}

/* Merges one pre-tokenizer piece w[0..n) (raw bytes). */
static tk_status bpe_word(const tk_tokenizer *t, scratch *s, const unsigned char *w, size_t n,
                          ivec *out)
{
    tk_status st;
    if (n == 0) return TK_OK;
    if (t->ignore_merges) {
        /* A whole word that is a token is taken as it is. */
        if ((st = RESERVE(s->mapped, s->mapped_cap, 2 * n)) != TK_OK) return st;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(s->mapped + m, t->byte_utf8[w[i]], t->byte_utf8_len[w[i]]);
            m += t->byte_utf8_len[w[i]];
        }
        int32_t id = tok_find(t, s->mapped, m);
        if (id >= 0) return ivec_push(out, id);
    }
    if ((st = RESERVE(s->sym, s->sym_cap, n)) != TK_OK) return st;
    for (size_t i = 0; i < n; i++)
        s->sym[i] = (symbol){(int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, (uint32_t)i, 1,
                             t->byte_string[w[i]]};
    s->heap_n = 0;
    for (size_t i = 1; i < n && st == TK_OK; i++)
        st = bpe_try_bigram(t, s, (int32_t)i - 1, (int32_t)i);
    while (st == TK_OK && s->heap_n) {
        bigram g = heap_pop(s, false);
        symbol *a = &s->sym[g.left], *b = &s->sym[g.right];
        if (a->n == 0 || b->n == 0 || a->n != g.nl || b->n != g.nr) continue; /* stale */
        a->sid = g.result;
        a->n += b->n;
        b->n = 0;
        a->next = b->next;
        if (b->next >= 0) s->sym[b->next].prev = g.left;
        st = bpe_try_bigram(t, s, a->prev, g.left);
        if (st == TK_OK) st = bpe_try_bigram(t, s, g.left, a->next);
    }
    for (int32_t i = 0; i >= 0 && st == TK_OK; i = s->sym[i].next) {
        const symbol *x = &s->sym[i];
        if (x->sid >= 0 && x->sid < t->n_vocab) {
            st = ivec_push(out, x->sid);
            continue;
        }
        /* Not a token: the single-byte tokens of its mapped characters
         * (others are dropped, as in the reference). */
        for (uint32_t k = 0; k < x->n && st == TK_OK; k++)
            for (int j = 0; j < 2 && st == TK_OK; j++)
                if (t->byte_single[w[x->start + k]][j] >= 0)
                    st = ivec_push(out, t->byte_single[w[x->start + k]][j]);
    }
    return st;
}

static tk_status bpe_fragment(const tk_tokenizer *t, scratch *s, const char *raw, size_t len,
                              ivec *out)
{
    tk_status st;
    if ((st = RESERVE(s->cps, s->cps_cap, len + 1)) != TK_OK) return st;
    if ((st = RESERVE(s->subject, s->subject_cap, 4 * len + 4)) != TK_OK) return st;
    if ((st = RESERVE(s->cp_at, s->cp_at_cap, 4 * len + 5)) != TK_OK) return st;
    /* Code points as the reference decodes them, and the pre-tokenizer's
     * subject: non-ASCII whitespace as U+000B (so \s is White_Space),
     * surrogates as U+FFFD (PCRE2 needs valid UTF-8; same category, same
     * length). */
    size_t n_cp = 0, sub = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = tok_utf8_decode((const unsigned char *)raw, len, &i);
        uint32_t shown = cp;
        if (cp >= 0x80 && tok_is_whitespace(cp))
            shown = 0x0B;
        else if (cp >= 0xD800 && cp <= 0xDFFF)
            shown = 0xFFFD;
        size_t l = tok_utf8_encode(shown, s->subject + sub);
        s->cp_at[sub] = (uint32_t)n_cp;
        sub += l;
        s->cps[n_cp++] = cp;
    }
    s->cp_at[sub] = (uint32_t)n_cp;
    if ((st = RESERVE(s->cuts, s->cuts_cap, sub + 1)) != TK_OK) return st;
    if ((st = RESERVE(s->cuts_tmp, s->cuts_tmp_cap, sub + 1)) != TK_OK) return st;
    size_t n_cuts;
    st = tok_pretok_split(&t->pre, s->subject, sub, s->cuts, s->cuts_tmp, &n_cuts);
    if (st != TK_OK) return st;
    if ((st = RESERVE(s->text, s->text_cap, 4 * n_cp + 4)) != TK_OK) return st;
    uint32_t start = 0;
    for (size_t k = 0; k < n_cuts && st == TK_OK; k++) {
        uint32_t a = s->cp_at[start], b = s->cp_at[s->cuts[k]];
        start = s->cuts[k];
        size_t n = 0;
        for (uint32_t c = a; c < b; c++) n += tok_utf8_encode(s->cps[c], s->text + n);
        st = bpe_word(t, s, (const unsigned char *)s->text, n, out);
    }
    return st;
}

/* ---- entry points ------------------------------------------------------------- */

static tk_status encode(const tk_tokenizer *t, const char *text, size_t len, bool add_special,
                        bool parse_special, ivec *out)
{
    if (len > TOK_MAX_TEXT)
        return core_error(TK_ERR_LIMIT, "tokenize: %zu bytes of text (limit %zu)", len,
                          TOK_MAX_TEXT);
    if (t->kind == TOK_KIND_HF) return tok_hf_encode(t, text, len, add_special, parse_special, out);
    tok_frag *f = NULL;
    size_t n_f = 0;
    tk_status st = tok_partition(t, text, len, parse_special, &f, &n_f);
    if (st != TK_OK) return st;
    scratch s = {0};
    bool spm = t->kind == TOK_KIND_SPM;
    if (add_special && t->add_bos) st = ivec_push(out, t->bos);
    /* spm: text after the start or after a special token gets the space
     * prefix. */
    bool prev_special = true;
    for (size_t i = 0; i < n_f && st == TK_OK; i++) {
        if (f[i].id >= 0) {
            st = ivec_push(out, f[i].id);
            prev_special = true;
        } else if (spm) {
            st = spm_fragment(t, &s, text + f[i].off, f[i].len, t->add_space_prefix && prev_special,
                              out);
            prev_special = false;
        } else {
            st = bpe_fragment(t, &s, text + f[i].off, f[i].len, out);
        }
    }
    if (st == TK_OK && add_special) {
        if (t->add_bos && out->n >= 2 && out->p[1] == t->bos)
            core_log(TK_LOG_WARN, "tokenize: the text starts with BOS and BOS was added: the "
                                  "ids start with two BOS tokens");
        if (t->add_eos) st = ivec_push(out, t->eos);
        if (st == TK_OK && !spm && t->add_eos && out->n >= 2 && out->p[out->n - 2] == t->eos)
            core_log(TK_LOG_WARN, "tokenize: the text ends with EOS and EOS was added: the ids "
                                  "end with two EOS tokens");
    }
    scratch_free(&s);
    free(f);
    return st;
}

tk_status tk_tokenize_alloc(const tk_tokenizer *t, const char *text, size_t len, bool add_special,
                            bool parse_special, int32_t **ids, size_t *n_ids)
{
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!t || !ids || !n_ids || (!text && len))
        return core_error(TK_ERR_INVALID_ARG, "tk_tokenize_alloc: NULL argument");
    ivec v = {0};
    tk_status st = encode(t, text, len, add_special, parse_special, &v);
    if (st == TK_OK && !v.p) {
        /* non-NULL even when empty */
        st = ivec_push(&v, 0);
        v.n = 0;
    }
    if (st != TK_OK) {
        free(v.p);
        return st;
    }
    *ids = v.p;
    *n_ids = v.n;
    return TK_OK;
}

tk_status tk_tokenize(const tk_tokenizer *t, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t *ids, size_t max_ids, size_t *n_ids)
{
    if (n_ids) *n_ids = 0;
    if (!t || !n_ids || (!text && len) || (!ids && max_ids))
        return core_error(TK_ERR_INVALID_ARG, "tk_tokenize: NULL argument");
    ivec v = {0};
    tk_status st = encode(t, text, len, add_special, parse_special, &v);
    if (st == TK_OK) {
        *n_ids = v.n;
        if (v.n > max_ids)
            st = core_error(TK_ERR_LIMIT, "tokenize: %zu ids do not fit in %zu", v.n, max_ids);
        else if (v.n)
            memcpy(ids, v.p, v.n * sizeof *ids);
    }
    free(v.p);
    return st;
}
