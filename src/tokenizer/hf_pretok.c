/* Pre-tokenizers of Hugging Face tokenizer.json files, and the patterns
 * (literal strings or regexes) that Split, Replace and the decoders share.
 *
 * The semantics follow the `tokenizers` library: a pattern finds its
 * matches left to right (the text between matches and the matches form a
 * list of segments), `invert` swaps which segments count as matches, and
 * the behaviour decides what becomes of the matched segments:
 *   Isolated           every segment is a piece;
 *   Removed            matched segments are dropped;
 *   MergedWithPrevious a matched segment joins the piece before it;
 *   MergedWithNext     a matched segment joins the piece after it;
 *   Contiguous         neighbouring segments of the same kind join.
 * Empty pieces are dropped.
 *
 * Regexes are written for Oniguruma (Ruby syntax); PCRE2 runs them with
 * PCRE2_UTF | PCRE2_UCP (so \s, \w, \d and \p{..} are Unicode-aware) and
 * PCRE2_MULTILINE (Oniguruma's ^ and $ are line anchors). Lookaheads such
 * as \s+(?!\S), (?i:...) groups and possessive quantifiers mean the same in
 * both.
 */
#include "tokenizer/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* A segment of a piece: [s, e), matched by the pattern or not. */
struct tok_hf_seg {
    uint32_t s, e;
    bool m;
};

/* ---- byte strings and piece lists ------------------------------------------ */

tk_status tok_hf_str_add(tok_hf_str *s, const void *p, size_t n)
{
    if (n > TOK_MAX_TEXT * 4 || s->len + n > TOK_MAX_TEXT * 4)
        return core_error(TK_ERR_LIMIT, "tokenize: text grows past %zu bytes", TOK_MAX_TEXT * 4);
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1) cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q) return core_error(TK_ERR_NOMEM, "tokenize: out of memory");
        s->p = q;
        s->cap = cap;
    }
    if (n) memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
    return TK_OK;
}

static void pieces_clear(tok_hf_pieces *p)
{
    p->n = 0;
    p->buf.len = 0;
}

/* Registers p->buf[at..at + n) as a piece. */
static tk_status pieces_push_span(tok_hf_pieces *p, size_t at, size_t n)
{
    if (n == 0) return TK_OK;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        uint32_t *o = realloc(p->off, cap * sizeof *o);
        if (o) p->off = o;
        uint32_t *l = o ? realloc(p->len, cap * sizeof *l) : NULL;
        if (!o || !l) return core_error(TK_ERR_NOMEM, "tokenize: out of memory");
        p->len = l;
        p->cap = cap;
    }
    if (at + n > UINT32_MAX) return core_error(TK_ERR_LIMIT, "tokenize: text over 4 GiB");
    p->off[p->n] = (uint32_t)at;
    p->len[p->n] = (uint32_t)n;
    p->n++;
    return TK_OK;
}

/* Appends a piece with the text s[0..n) (not inside p->buf). */
static tk_status pieces_add(tok_hf_pieces *p, const char *s, size_t n)
{
    if (n == 0) return TK_OK;
    size_t at = p->buf.len;
    tk_status st = tok_hf_str_add(&p->buf, s, n);
    return st == TK_OK ? pieces_push_span(p, at, n) : st;
}

static void pieces_free(tok_hf_pieces *p)
{
    free(p->buf.p);
    free(p->off);
    free(p->len);
    memset(p, 0, sizeof *p);
}

void tok_hf_prework_free(tok_hf_prework *w)
{
    if (!w) return;
    pieces_free(&w->a);
    pieces_free(&w->b);
    free(w->tmp.p);
    free(w->segs);
    pcre2_match_data_free(w->md);
    memset(w, 0, sizeof *w);
}

/* ---- patterns ----------------------------------------------------------------- */

void tok_hf_pattern_free(tok_hf_pattern *p)
{
    free(p->lit);
    pcre2_code_free(p->re);
    memset(p, 0, sizeof *p);
}

static tk_status compile_re(const char *src, size_t len, const char *what, pcre2_code **out)
{
    int err;
    PCRE2_SIZE where;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, len, PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE,
                                   &err, &where, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return core_error(TK_ERR_UNSUPPORTED, "%s: regex '%.80s' does not compile at %zu: %s", what,
                          src, (size_t)where, (const char *)msg);
    }
    /* JIT is an optimisation: without it pcre2_match interprets. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    *out = re;
    return TK_OK;
}

tk_status tok_hf_pattern_parse(const cJSON *j, const char *what, tok_hf_pattern *out)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(j)) return core_error(TK_ERR_FORMAT, "%s: expected an object", what);
    const cJSON *str = cJSON_GetObjectItemCaseSensitive(j, "String");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(j, "Regex");
    if (str) {
        if (!cJSON_IsString(str))
            return core_error(TK_ERR_FORMAT, "%s.String: expected a string", what);
        size_t n = strlen(str->valuestring);
        if (n == 0) return core_error(TK_ERR_FORMAT, "%s.String: empty pattern", what);
        out->lit = tok_hf_strndup(str->valuestring, n);
        if (!out->lit) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
        out->lit_len = n;
        return TK_OK;
    }
    if (re) {
        if (!cJSON_IsString(re))
            return core_error(TK_ERR_FORMAT, "%s.Regex: expected a string", what);
        size_t n = strlen(re->valuestring);
        if (n > 65536)
            return core_error(TK_ERR_LIMIT, "%s.Regex: %zu bytes (limit 64 KiB)", what, n);
        return compile_re(re->valuestring, n, what, &out->re);
    }
    return core_error(TK_ERR_FORMAT, "%s: expected a \"String\" or a \"Regex\"", what);
}

bool tok_hf_pattern_next(const tok_hf_pattern *p, pcre2_match_data *md, pcre2_match_context *mc,
                         const char *s, size_t n, size_t from, size_t *ms, size_t *me,
                         tk_status *st)
{
    *st = TK_OK;
    if (from > n) return false;
    if (!p->re) {
        if (p->lit_len > n - from) return false;
        const char *hit = core_memmem(s + from, n - from, p->lit, p->lit_len);
        if (!hit) return false;
        *ms = (size_t)(hit - s);
        *me = *ms + p->lit_len;
        return true;
    }
    int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, md, mc);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, mc);
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc < 0) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(rc, msg, sizeof msg);
        *st = core_error(TK_ERR_LIMIT, "tokenize: a %zu-byte piece of text: %s", n,
                         (const char *)msg);
        return false;
    }
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return true;
}

/* ---- splitting ------------------------------------------------------------------ */

static tk_status seg_push(tok_hf_prework *w, uint32_t s, uint32_t e, bool m)
{
    if (w->n_segs == w->cap_segs) {
        size_t cap = w->cap_segs ? 2 * w->cap_segs : 256;
        struct tok_hf_seg *g = realloc(w->segs, cap * sizeof *g);
        if (!g) return core_error(TK_ERR_NOMEM, "tokenize: out of memory");
        w->segs = g;
        w->cap_segs = cap;
    }
    w->segs[w->n_segs++] = (struct tok_hf_seg){s, e, m};
    return TK_OK;
}

/* Splits s[0..n) by the pattern with `behavior`: the spans of the pieces
 * are left in w->segs[0..*n_spans). */
static tk_status find_spans(const tok_hf *h, const tok_hf_pattern *pat, int behavior, bool invert,
                            const char *s, size_t n, tok_hf_prework *w, size_t *n_spans)
{
    tk_status st = TK_OK;
    w->n_segs = 0;
    *n_spans = 0;
    size_t prev = 0, from = 0, ms, me;
    while (from <= n && tok_hf_pattern_next(pat, w->md, h->mctx, s, n, from, &ms, &me, &st)) {
        if (ms > prev && (st = seg_push(w, (uint32_t)prev, (uint32_t)ms, false)) != TK_OK) break;
        if ((st = seg_push(w, (uint32_t)ms, (uint32_t)me, true)) != TK_OK) break;
        prev = me;
        /* After an empty match, move on by one character. */
        from = me > ms ? me : me + (me < n ? tok_utf8_len((unsigned char)s[me]) : 1);
    }
    if (st != TK_OK) return st;
    if (prev < n && (st = seg_push(w, (uint32_t)prev, (uint32_t)n, false)) != TK_OK) return st;
    if (invert)
        for (size_t i = 0; i < w->n_segs; i++) w->segs[i].m = !w->segs[i].m;

    /* Fold segments into spans in place (never more spans than segments). */
    struct tok_hf_seg *g = w->segs;
    size_t k = 0, ns = w->n_segs;
    bool prev_match = false;
    switch (behavior) {
    case TOK_HF_ISOLATED:
        k = ns;
        break;
    case TOK_HF_REMOVED:
        for (size_t i = 0; i < ns; i++)
            if (!g[i].m) g[k++] = g[i];
        break;
    case TOK_HF_MERGED_PREV:
        for (size_t i = 0; i < ns; i++) {
            struct tok_hf_seg x = g[i];
            if (x.m && !prev_match && k > 0)
                g[k - 1].e = x.e;
            else
                g[k++] = x;
            prev_match = x.m;
        }
        break;
    case TOK_HF_MERGED_NEXT:
        /* From the end: a match joins the span that follows it. Spans are
         * built downwards from g[ns - 1]. */
        for (size_t i = ns; i-- > 0;) {
            struct tok_hf_seg x = g[i];
            if (x.m && !prev_match && k > 0) {
                g[ns - k].s = x.s;
            } else {
                k++;
                g[ns - k] = x;
            }
            prev_match = x.m;
        }
        memmove(g, g + ns - k, k * sizeof *g);
        break;
    case TOK_HF_CONTIGUOUS:
        for (size_t i = 0; i < ns; i++) {
            struct tok_hf_seg x = g[i];
            if (x.m == prev_match && k > 0)
                g[k - 1].e = x.e;
            else
                g[k++] = x;
            prev_match = x.m;
        }
        break;
    }
    *n_spans = k;
    return TK_OK;
}

/* ---- the steps --------------------------------------------------------------------- */

/* ByteLevel: each byte becomes the character the GPT-2 table gives it. */
static tk_status byte_map(const char *s, size_t n, tok_hf_pieces *out)
{
    if (n == 0) return TK_OK;
    char tmp[512];
    size_t m = 0, start = out->buf.len;
    tk_status st = TK_OK;
    for (size_t i = 0; i < n && st == TK_OK; i++) {
        m += tok_utf8_encode(tok_byte_to_cp((unsigned char)s[i]), tmp + m);
        if (m + 4 > sizeof tmp || i + 1 == n) {
            st = tok_hf_str_add(&out->buf, tmp, m);
            m = 0;
        }
    }
    return st == TK_OK ? pieces_push_span(out, start, out->buf.len - start) : st;
}

static tk_status step(const tok_hf *h, const tok_hf_pre *p, const char *s, size_t n, bool first,
                      tok_hf_prework *w, tok_hf_pieces *out)
{
    tk_status st = TK_OK;
    size_t k = 0;
    switch (p->type) {
    case TOK_HF_PRE_SPLIT:
    case TOK_HF_PRE_DIGITS:
    case TOK_HF_PRE_WHITESPACE:
    case TOK_HF_PRE_WHITESPACE_SPLIT:
        st = find_spans(h, &p->pat, p->behavior, p->invert, s, n, w, &k);
        for (size_t i = 0; i < k && st == TK_OK; i++)
            st = pieces_add(out, s + w->segs[i].s, w->segs[i].e - w->segs[i].s);
        return st;
    case TOK_HF_PRE_BYTELEVEL: {
        const char *x = s;
        size_t nx = n;
        if (p->add_prefix_space && (n == 0 || s[0] != ' ')) {
            w->tmp.len = 0;
            if ((st = tok_hf_str_add(&w->tmp, " ", 1)) != TK_OK) return st;
            if ((st = tok_hf_str_add(&w->tmp, s, n)) != TK_OK) return st;
            x = w->tmp.p;
            nx = w->tmp.len;
        }
        if (!p->use_regex) return byte_map(x, nx, out);
        tok_hf_pattern re = {.re = h->gpt2_re};
        st = find_spans(h, &re, TOK_HF_ISOLATED, false, x, nx, w, &k);
        for (size_t i = 0; i < k && st == TK_OK; i++)
            st = byte_map(x + w->segs[i].s, w->segs[i].e - w->segs[i].s, out);
        return st;
    }
    case TOK_HF_PRE_METASPACE: {
        w->tmp.len = 0;
        bool starts =
            n > 0 && (s[0] == ' ' || (n >= p->repl_len && memcmp(s, p->repl, p->repl_len) == 0));
        bool prepend =
            p->prepend == TOK_HF_PREPEND_ALWAYS || (p->prepend == TOK_HF_PREPEND_FIRST && first);
        if (prepend && !starts && (st = tok_hf_str_add(&w->tmp, p->repl, p->repl_len)) != TK_OK)
            return st;
        for (size_t i = 0; i < n && st == TK_OK; i++)
            st = s[i] == ' ' ? tok_hf_str_add(&w->tmp, p->repl, p->repl_len)
                             : tok_hf_str_add(&w->tmp, s + i, 1);
        if (st != TK_OK) return st;
        if (!p->split) return pieces_add(out, w->tmp.p, w->tmp.len);
        tok_hf_pattern lit = {.lit = (char *)p->repl, .lit_len = p->repl_len};
        st = find_spans(h, &lit, TOK_HF_MERGED_NEXT, false, w->tmp.p, w->tmp.len, w, &k);
        for (size_t i = 0; i < k && st == TK_OK; i++)
            st = pieces_add(out, w->tmp.p + w->segs[i].s, w->segs[i].e - w->segs[i].s);
        return st;
    }
    }
    return core_error(TK_ERR_INTERNAL, "pre-tokenizer step %d", p->type);
}

tk_status tok_hf_pretokenize(const tok_hf *h, const char *s, size_t n, bool first,
                             tok_hf_prework *w)
{
    tk_status st;
    if (!w->md && !(w->md = pcre2_match_data_create(1, NULL)))
        return core_error(TK_ERR_NOMEM, "tokenize: out of memory");
    pieces_clear(&w->a);
    if ((st = pieces_add(&w->a, s, n)) != TK_OK) return st;
    for (int k = 0; k < h->n_pre; k++) {
        pieces_clear(&w->b);
        for (size_t i = 0; i < w->a.n; i++) {
            st = step(h, &h->pre[k], w->a.buf.p + w->a.off[i], w->a.len[i], first && i == 0, w,
                      &w->b);
            if (st != TK_OK) return st;
        }
        tok_hf_pieces swap = w->a;
        w->a = w->b;
        w->b = swap;
    }
    return TK_OK;
}

/* ---- parsing -------------------------------------------------------------------------- */

static tk_status parse_behavior(const cJSON *j, const char *what, int *out)
{
    const char *b = NULL;
    tk_status st = tok_hf_get_str(j, "behavior", what, true, &b);
    if (st != TK_OK) return st;
    static const char *const names[] = {"Isolated", "Removed", "MergedWithPrevious",
                                        "MergedWithNext", "Contiguous"};
    for (int i = 0; i < (int)TK_ARRAY_LEN(names); i++)
        if (strcmp(b, names[i]) == 0) {
            *out = i;
            return TK_OK;
        }
    return core_error(TK_ERR_UNSUPPORTED, "%s.behavior: unknown behaviour '%.40s'", what, b);
}

static tk_status parse_one(void *ctx, const cJSON *j, const char *what, int depth)
{
    tok_hf *h = ctx;
    const char *type = NULL;
    tk_status st = tok_hf_step_type(j, "pretokenizers", what, depth, parse_one, h, &type);
    if (st != TK_OK || !type) return st;
    if (h->n_pre == TOK_HF_MAX_STEPS)
        return core_error(TK_ERR_LIMIT, "%s: more than %d pre-tokenizers", what, TOK_HF_MAX_STEPS);
    tok_hf_pre *p = &h->pre[h->n_pre];
    memset(p, 0, sizeof *p);
    p->behavior = TOK_HF_ISOLATED;
    char sub[256];
    if (strcmp(type, "Split") == 0) {
        p->type = TOK_HF_PRE_SPLIT;
        snprintf(sub, sizeof sub, "%.200s.pattern", what);
        if ((st = parse_behavior(j, what, &p->behavior)) != TK_OK) return st;
        if ((st = tok_hf_get_bool(j, "invert", what, &p->invert)) != TK_OK) return st;
        st = tok_hf_pattern_parse(cJSON_GetObjectItemCaseSensitive(j, "pattern"), sub, &p->pat);
    } else if (strcmp(type, "ByteLevel") == 0) {
        p->type = TOK_HF_PRE_BYTELEVEL;
        p->add_prefix_space = false;
        p->use_regex = true;
        if ((st = tok_hf_get_bool(j, "add_prefix_space", what, &p->add_prefix_space)) != TK_OK ||
            (st = tok_hf_get_bool(j, "use_regex", what, &p->use_regex)) != TK_OK)
            return st;
        if (p->use_regex && !h->gpt2_re)
            st = compile_re(RE_GPT2, strlen(RE_GPT2), what, &h->gpt2_re);
    } else if (strcmp(type, "Metaspace") == 0) {
        p->type = TOK_HF_PRE_METASPACE;
        const char *repl = "\xe2\x96\x81", *scheme = NULL;
        bool legacy_prefix = true;
        p->split = true;
        if ((st = tok_hf_get_str(j, "replacement", what, false, &repl)) != TK_OK ||
            (st = tok_hf_get_str(j, "prepend_scheme", what, false, &scheme)) != TK_OK ||
            (st = tok_hf_get_bool(j, "add_prefix_space", what, &legacy_prefix)) != TK_OK ||
            (st = tok_hf_get_bool(j, "split", what, &p->split)) != TK_OK)
            return st;
        size_t rl = strlen(repl);
        if (rl == 0 || rl != tok_utf8_len((unsigned char)repl[0]) || rl >= sizeof p->repl)
            return core_error(TK_ERR_FORMAT, "%s.replacement: expected one character", what);
        memcpy(p->repl, repl, rl);
        p->repl_len = rl;
        if (!scheme)
            p->prepend = legacy_prefix ? TOK_HF_PREPEND_ALWAYS : TOK_HF_PREPEND_NEVER;
        else if (strcmp(scheme, "always") == 0)
            p->prepend = TOK_HF_PREPEND_ALWAYS;
        else if (strcmp(scheme, "first") == 0)
            p->prepend = TOK_HF_PREPEND_FIRST;
        else if (strcmp(scheme, "never") == 0)
            p->prepend = TOK_HF_PREPEND_NEVER;
        else
            return core_error(TK_ERR_FORMAT, "%s.prepend_scheme: unknown scheme '%.40s'", what,
                              scheme);
    } else if (strcmp(type, "Digits") == 0) {
        /* Digits are numeric characters (Unicode N), as in the Rust library. */
        p->type = TOK_HF_PRE_DIGITS;
        if ((st = tok_hf_get_bool(j, "individual_digits", what, &p->individual_digits)) != TK_OK)
            return st;
        p->behavior = p->individual_digits ? TOK_HF_ISOLATED : TOK_HF_CONTIGUOUS;
        st = compile_re("\\p{N}", 5, what, &p->pat.re);
    } else if (strcmp(type, "Whitespace") == 0) {
        /* Words and runs of other non-space characters are kept. */
        p->type = TOK_HF_PRE_WHITESPACE;
        p->invert = true;
        p->behavior = TOK_HF_REMOVED;
        st = compile_re("\\w+|[^\\w\\s]+", 12, what, &p->pat.re);
    } else if (strcmp(type, "WhitespaceSplit") == 0) {
        p->type = TOK_HF_PRE_WHITESPACE_SPLIT;
        p->behavior = TOK_HF_REMOVED;
        st = compile_re("\\s", 2, what, &p->pat.re);
    } else {
        return core_error(TK_ERR_UNSUPPORTED, "%s: pre-tokenizer type '%.40s' is not supported",
                          what, type);
    }
    h->n_pre++; /* counted even on error, so that tok_hf_free frees its pattern */
    return st;
}

tk_status tok_hf_pre_parse(tok_hf *h, const cJSON *j, const char *what)
{
    if (!j || cJSON_IsNull(j)) return TK_OK;
    return parse_one(h, j, what, 0);
}
