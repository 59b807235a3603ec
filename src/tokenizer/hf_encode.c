/* Text -> ids for Hugging Face tokenizer.json vocabularies.
 *
 * The pipeline of the `tokenizers` library:
 * 1. Added tokens are cut out of the raw text (leftmost, then longest
 *    match; lstrip / rstrip swallow the whitespace next to a token,
 *    single_word tokens only match whole words). Without parse_special only
 *    the non-special added tokens are cut out.
 * 2. Each stretch of text between them is normalized; added tokens marked
 *    `normalized` are then cut out of the normalized text the same way.
 * 3. What is left is pre-tokenized (hf_pretok.c) into words, and each word
 *    goes through the BPE model: one symbol per character (byte fallback
 *    <0xNN> tokens or the unknown token for characters outside the
 *    vocabulary), then merges by rank, lowest first, leftmost on ties, with
 *    a binary heap (O(n log n) per word).
 * 4. add_special: the post-processor's ids go before and after.
 * Input that is not valid UTF-8 is read with U+FFFD for each maximal
 * ill-formed subpart, as a lossy UTF-8 decoder would.
 */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

/* ---- trie of added tokens ------------------------------------------------------ */

tk_status tok_hf_trie_add(tok_hf_trie *tr, const char *s, size_t len, int32_t value)
{
    if (len == 0) return TK_OK;
    if (tr->n == 0) tr->n = 1; /* node 0 means "none" */
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        uint32_t c = i == 0 ? tr->root[b] : tr->node[node].first_child;
        while (c && tr->node[c].byte != b) c = tr->node[c].next_sibling;
        if (!c) {
            if (tr->n >= tr->cap) {
                if (tr->cap >= (1u << 28)) return core_error(TK_ERR_LIMIT, "added tokens too long");
                uint32_t cap = tr->cap ? 2 * tr->cap : 1024;
                struct tok_hf_trie_node *q = realloc(tr->node, cap * sizeof *q);
                if (!q) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
                tr->node = q;
                tr->cap = cap;
            }
            c = tr->n++;
            tr->node[c] = (struct tok_hf_trie_node){0, 0, -1, b};
            if (i == 0) {
                tr->node[c].next_sibling = tr->root[b];
                tr->root[b] = c;
            } else {
                tr->node[c].next_sibling = tr->node[node].first_child;
                tr->node[node].first_child = c;
            }
        }
        node = c;
    }
    if (tr->node[node].value < 0) tr->node[node].value = value;
    return TK_OK;
}

static bool is_word_char(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
               cp == '_';
    return !tok_is_whitespace(cp); /* approximation: non-ASCII letters and marks */
}

/* Code point that ends right before s[pos]. */
static uint32_t cp_before(const char *s, size_t pos, size_t *start)
{
    size_t j = pos - 1;
    while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80 && pos - j < 4) j--;
    size_t i = j;
    *start = j;
    return tok_utf8_decode((const unsigned char *)s, pos, &i);
}

/* A piece of text: a token id, or text [off, off + len) when id < 0. */
typedef struct span {
    uint32_t off, len;
    int32_t id;
} span;

typedef struct work {
    span *sp;
    size_t n_sp, cap_sp;
    tok_hf_str norm, tmp, clean;
    tok_hf_prework pre;
    struct sym {
        int32_t id, prev, next;
        uint32_t len;
    } * sym;
    size_t cap_sym;
    struct merge {
        int32_t rank, pos, right, lid, rid, result;
    } * heap;
    size_t n_heap, cap_heap;
} work;

static void work_free(work *w)
{
    free(w->sp);
    free(w->norm.p);
    free(w->tmp.p);
    free(w->clean.p);
    tok_hf_prework_free(&w->pre);
    free(w->sym);
    free(w->heap);
}

static tk_status grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return TK_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return core_error(TK_ERR_NOMEM, "tokenize: out of memory");
    *p = q;
    *cap = c;
    return TK_OK;
}
#define GROW(arr, cap, n) grow((void **)&(arr), &(cap), (n), sizeof *(arr))

static tk_status span_push(work *w, size_t off, size_t len, int32_t id)
{
    if (id < 0 && len == 0) return TK_OK;
    tk_status st = GROW(w->sp, w->cap_sp, w->n_sp + 1);
    if (st == TK_OK) w->sp[w->n_sp++] = (span){(uint32_t)off, (uint32_t)len, id};
    return st;
}

/* Cuts the added tokens of `tr` out of s[0..n) into spans (offsets relative
 * to s plus `base`). */
static tk_status split_added(const tk_tokenizer *t, const tok_hf_trie *tr, const char *s, size_t n,
                             size_t base, bool parse_special, work *w)
{
    const tok_hf *h = t->hf;
    size_t seg = 0;
    tk_status st = TK_OK;
    for (size_t pos = 0; pos < n && st == TK_OK;) {
        int32_t best = -1;
        size_t best_len = 0;
        uint32_t c = tr->root[(unsigned char)s[pos]];
        for (size_t q = pos; c;) {
            int32_t v = tr->node[c].value;
            if (v >= 0 && (parse_special || !h->added[v].special)) {
                best = v;
                best_len = q + 1 - pos;
            }
            if (++q >= n) break;
            uint32_t ch = tr->node[c].first_child;
            while (ch && tr->node[ch].byte != (unsigned char)s[q]) ch = tr->node[ch].next_sibling;
            c = ch;
        }
        if (best >= 0 && h->added[best].single_word) {
            size_t i = pos + best_len, dummy;
            bool left_ok = pos == 0 || !is_word_char(cp_before(s, pos, &dummy));
            bool right_ok =
                i >= n || !is_word_char(tok_utf8_decode((const unsigned char *)s, n, &i));
            if (!left_ok || !right_ok) best = -1;
        }
        if (best < 0) {
            pos++;
            continue;
        }
        size_t start = pos, end = pos + best_len;
        if (h->added[best].lstrip)
            while (start > seg) {
                size_t prev;
                if (!tok_is_whitespace(cp_before(s, start, &prev)) || prev < seg) break;
                start = prev;
            }
        if (h->added[best].rstrip)
            while (end < n) {
                size_t i = end;
                if (!tok_is_whitespace(tok_utf8_decode((const unsigned char *)s, n, &i))) break;
                end = i;
            }
        st = span_push(w, base + seg, start - seg, -1);
        if (st == TK_OK) st = span_push(w, 0, 0, h->added[best].id);
        pos = seg = end;
    }
    if (st == TK_OK) st = span_push(w, base + seg, n - seg, -1);
    return st;
}

/* ---- the BPE model ----------------------------------------------------------------- */

static bool merge_before(const struct merge *a, const struct merge *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static tk_status heap_push(work *w, struct merge m)
{
    tk_status st = GROW(w->heap, w->cap_heap, w->n_heap + 1);
    if (st != TK_OK) return st;
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!merge_before(&m, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = m;
    return TK_OK;
}

static struct merge heap_pop(work *w)
{
    struct merge top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && merge_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!merge_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

static tk_status try_pair(const tk_tokenizer *t, work *w, int32_t l)
{
    if (l < 0) return TK_OK;
    int32_t r = w->sym[l].next;
    if (r < 0) return TK_OK;
    uint32_t a = (uint32_t)w->sym[l].id, b = (uint32_t)w->sym[r].id;
    const tok_merge *m = &t->merges[tok_merge_slot(t->merges, t->merge_mask, a, b)];
    if (m->left == UINT32_MAX) return TK_OK;
    return heap_push(w, (struct merge){m->rank, l, r, (int32_t)a, (int32_t)b, m->result});
}

static tk_status add_sym(work *w, size_t *n_sym, int32_t id, uint32_t len)
{
    tk_status st = GROW(w->sym, w->cap_sym, *n_sym + 1);
    if (st != TK_OK) return st;
    int32_t i = (int32_t)*n_sym;
    w->sym[i] = (struct sym){id, i - 1, -1, len};
    if (i > 0) w->sym[i - 1].next = i;
    (*n_sym)++;
    return TK_OK;
}

/* Tokenizes one word s[0..n) (valid UTF-8). */
static tk_status bpe_word(const tk_tokenizer *t, work *w, const char *s, size_t n, tok_ivec *out)
{
    const tok_hf *h = t->hf;
    tk_status st = TK_OK;
    if (n == 0) return TK_OK;
    if (h->ignore_merges) {
        int32_t id = tok_find(t, s, n);
        if (id >= 0) return tok_ivec_push(out, id);
    }
    size_t n_sym = 0;
    int32_t unk_pending = -1; /* a fused unknown run waiting to be added */
    uint32_t unk_len = 0;
    char small[64];
    for (size_t i = 0; i < n && st == TK_OK;) {
        size_t cl = TK_MIN(tok_utf8_len((unsigned char)s[i]), n - i);
        const char *c = s + i;
        size_t len = cl;
        bool first = i == 0, last = i + cl == n;
        /* The character with the prefix / suffix the model asks for. */
        if ((!first && h->prefix) || (last && h->suffix)) {
            size_t pl = !first && h->prefix ? h->prefix_len : 0;
            size_t sl = last && h->suffix ? h->suffix_len : 0;
            if (pl + cl + sl <= sizeof small) {
                if (pl) memcpy(small, h->prefix, pl);
                memcpy(small + pl, c, cl);
                if (sl) memcpy(small + pl + cl, h->suffix, sl);
                c = small;
                len = pl + cl + sl;
            }
        }
        int32_t id = tok_find(t, c, len);
        if (id >= 0) {
            if (unk_pending >= 0) st = add_sym(w, &n_sym, unk_pending, unk_len);
            unk_pending = -1;
            if (st == TK_OK) st = add_sym(w, &n_sym, id, (uint32_t)cl);
        } else {
            bool done = false;
            if (h->byte_fallback) {
                bool all = true;
                for (size_t k = 0; k < len && all; k++) all = h->byte_id[(unsigned char)c[k]] >= 0;
                if (all) {
                    if (unk_pending >= 0) st = add_sym(w, &n_sym, unk_pending, unk_len);
                    unk_pending = -1;
                    for (size_t k = 0; k < len && st == TK_OK; k++)
                        st = add_sym(w, &n_sym, h->byte_id[(unsigned char)c[k]], 1);
                    done = true;
                }
            }
            if (!done && h->unk >= 0) {
                if (unk_pending >= 0 && h->fuse_unk) {
                    unk_len += (uint32_t)cl;
                } else {
                    if (unk_pending >= 0) st = add_sym(w, &n_sym, unk_pending, unk_len);
                    unk_pending = h->unk;
                    unk_len = (uint32_t)cl;
                }
            }
        }
        i += cl;
    }
    if (st == TK_OK && unk_pending >= 0) st = add_sym(w, &n_sym, unk_pending, unk_len);
    if (st != TK_OK || n_sym == 0) return st;

    w->n_heap = 0;
    for (size_t i = 0; i + 1 < n_sym && st == TK_OK; i++) st = try_pair(t, w, (int32_t)i);
    while (st == TK_OK && w->n_heap) {
        struct merge m = heap_pop(w);
        struct sym *a = &w->sym[m.pos], *b = &w->sym[m.right];
        if (a->len == 0 || b->len == 0 || a->next != m.right || a->id != m.lid || b->id != m.rid)
            continue; /* stale */
        a->id = m.result;
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0) w->sym[b->next].prev = m.pos;
        st = try_pair(t, w, a->prev);
        if (st == TK_OK) st = try_pair(t, w, m.pos);
    }
    for (int32_t i = 0; i >= 0 && st == TK_OK; i = w->sym[i].next)
        st = tok_ivec_push(out, w->sym[i].id);
    return st;
}

/* ---- the pipeline -------------------------------------------------------------------- */

/* Replaces ill-formed UTF-8 with U+FFFD; *s / *n point at the clean text. */
static tk_status clean_utf8(work *w, const char **s, size_t *n)
{
    const unsigned char *u = (const unsigned char *)*s;
    size_t i = 0;
    while (i < *n) {
        int r = tok_utf8_check(u + i, *n - i);
        if (r <= 0) break;
        i += (size_t)r;
    }
    if (i == *n) return TK_OK;
    tk_status st = tok_hf_str_add(&w->clean, *s, i);
    while (i < *n && st == TK_OK) {
        int r = tok_utf8_check(u + i, *n - i);
        if (r > 0) {
            st = tok_hf_str_add(&w->clean, u + i, (size_t)r);
            i += (size_t)r;
        } else {
            st = tok_hf_str_add(&w->clean, "\xef\xbf\xbd", 3);
            i += r == 0 ? *n - i : (size_t)-r; /* an incomplete tail is one subpart */
        }
    }
    *s = w->clean.p;
    *n = w->clean.len;
    return st;
}

/* Normalizes, splits and tokenizes one stretch of raw text. */
static tk_status encode_text(const tk_tokenizer *t, work *w, const char *s, size_t n, bool first,
                             bool parse_special, tok_ivec *out)
{
    const tok_hf *h = t->hf;
    tk_status st = tok_hf_normalize(h, s, n, &w->norm, &w->tmp, w->pre.md);
    if (st != TK_OK || w->norm.len == 0) return st;
    size_t sp0 = w->n_sp;
    if (h->norm_trie.n) {
        st = split_added(t, &h->norm_trie, w->norm.p, w->norm.len, 0, parse_special, w);
    } else {
        st = span_push(w, 0, w->norm.len, -1);
    }
    for (size_t k = sp0; k < w->n_sp && st == TK_OK; k++) {
        span x = w->sp[k];
        if (x.id >= 0) {
            st = tok_ivec_push(out, x.id);
            continue;
        }
        st = tok_hf_pretokenize(h, w->norm.p + x.off, x.len, first && x.off == 0, &w->pre);
        for (size_t i = 0; i < w->pre.a.n && st == TK_OK; i++)
            st = bpe_word(t, w, w->pre.a.buf.p + w->pre.a.off[i], w->pre.a.len[i], out);
    }
    w->n_sp = sp0;
    return st;
}

tk_status tok_hf_encode(const tk_tokenizer *t, const char *text, size_t len, bool add_special,
                        bool parse_special, tok_ivec *out)
{
    const tok_hf *h = t->hf;
    work w = {0};
    tk_status st = TK_OK;
    if (!(w.pre.md = pcre2_match_data_create(1, NULL)))
        return core_error(TK_ERR_NOMEM, "tokenize: out of memory");
    if (len) st = clean_utf8(&w, &text, &len);
    if (add_special)
        for (int i = 0; i < h->n_pre_ids && st == TK_OK; i++)
            st = tok_ivec_push(out, h->pre_ids[i]);
    if (st == TK_OK && len) st = split_added(t, &h->raw_trie, text, len, 0, parse_special, &w);
    /* The raw spans are consumed in order; encode_text pushes its own after
     * them and pops them again. */
    size_t n_raw = w.n_sp;
    for (size_t k = 0; k < n_raw && st == TK_OK; k++) {
        span x = w.sp[k];
        if (x.id >= 0)
            st = tok_ivec_push(out, x.id);
        else
            st = encode_text(t, &w, text + x.off, x.len, x.off == 0, parse_special, out);
    }
    if (add_special)
        for (int i = 0; i < h->n_post_ids && st == TK_OK; i++)
            st = tok_ivec_push(out, h->post_ids[i]);
    work_free(&w);
    return st;
}
