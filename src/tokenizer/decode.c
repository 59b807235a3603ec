/* Ids -> text: single pieces, whole sequences (with the reference engine's
 * leading-space and space clean-up rules) and the streaming detokenizer that
 * only ever hands out complete UTF-8. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

static const char *piece_of(const tk_tokenizer *t, int32_t id, bool special, size_t *len)
{
    if (!special && (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) {
        *len = 0;
        return "";
    }
    *len = t->piece_len[id];
    return t->piece_arena + t->piece_off[id];
}

tk_status tk_token_piece(const tk_tokenizer *t, int32_t id, bool special, char *buf, size_t size,
                         size_t *len)
{
    if (len) *len = 0;
    if (!t || !len || (!buf && size))
        return core_error(TK_ERR_INVALID_ARG, "tk_token_piece: NULL argument");
    if (id < 0 || id >= t->n_vocab)
        return core_error(TK_ERR_INVALID_ARG, "token id %d is out of range (n_vocab %d)", id,
                          t->n_vocab);
    size_t n;
    const char *p = piece_of(t, id, special, &n);
    *len = n;
    if (size < n + 1)
        return core_error(TK_ERR_LIMIT,
                          "token %d: a %zu-byte piece needs %zu bytes of buffer, "
                          "got %zu",
                          id, n, n + 1, size);
    memcpy(buf, p, n);
    buf[n] = '\0';
    return TK_OK;
}

/* The clean-up of tokenization spaces the reference applies to whole texts
 * of vocabularies that ask for it, in three passes over s[0..n). Returns the
 * new length. */
static size_t clean_spaces(char *s, size_t n)
{
    if (n == 0) return 0;
    /* 1: " ?", " !", " .", " ," lose the space. */
    size_t w = 1;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) w--;
        s[w++] = x;
    }
    n = w;
    /* 2: " ' " becomes "'". The byte after the apostrophe is consumed and
     * overwritten with NUL, so that an apostrophe right after it does not
     * see a space before it (the reference behaves so). */
    w = 1;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (x == '\'' && i + 1 < n && s[i - 1] == ' ' && s[i + 1] == ' ') {
            w--;
            s[++i] = '\0';
        }
        s[w++] = x;
    }
    n = w;
    /* 3: " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll"
     * keep it). */
    w = 1;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = s[i + 1];
            if (x1 == 's' || x1 == 'm') {
                w--;
            } else if (x1 != 't' && x1 != 'd' && i + 2 < n) {
                char x2 = s[i + 2];
                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) w--;
            }
        }
        s[w++] = x;
    }
    return w;
}

static tk_status detok(const tk_tokenizer *t, const int32_t *ids, size_t n, bool remove_special,
                       bool render_special, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return core_error(TK_ERR_INVALID_ARG,
                              "detokenize: id %d at position %zu is out of range (n_vocab %d)",
                              ids[i], i, t->n_vocab);
        total += t->piece_len[ids[i]];
    }
    if (total >= SIZE_MAX / 2) return core_error(TK_ERR_LIMIT, "detokenize: text too long");
    if (t->kind == TOK_KIND_HF)
        return tok_hf_detok(t, ids, n, (size_t)total, remove_special, render_special, out, len);
    char *s = malloc((size_t)total + 1);
    if (!s) return core_error(TK_ERR_NOMEM, "detokenize: out of memory");
    bool remove_space = t->add_space_prefix;
    if (remove_special && t->add_bos && n > 0 && ids[0] == t->bos) {
        remove_space = false;
        ids++;
        n--;
    }
    if (remove_special && t->add_eos && n > 0 && ids[n - 1] == t->eos) n--;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *p = piece_of(t, ids[i], render_special, &l);
        if (remove_space && l && p[0] == ' ') {
            p++;
            l--;
        }
        remove_space = false;
        memcpy(s + w, p, l);
        w += l;
    }
    if (t->clean_spaces) w = clean_spaces(s, w);
    s[w] = '\0';
    *out = s;
    *len = w;
    return TK_OK;
}

tk_status tk_detokenize_alloc(const tk_tokenizer *t, const int32_t *ids, size_t n,
                              bool remove_special, bool render_special, char **out, size_t *len)
{
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!t || !out || !len || (!ids && n))
        return core_error(TK_ERR_INVALID_ARG, "tk_detokenize_alloc: NULL argument");
    return detok(t, ids, n, remove_special, render_special, out, len);
}

tk_status tk_detokenize(const tk_tokenizer *t, const int32_t *ids, size_t n, bool remove_special,
                        bool render_special, char *out, size_t size, size_t *len)
{
    if (len) *len = 0;
    if (!t || !len || (!ids && n) || (!out && size))
        return core_error(TK_ERR_INVALID_ARG, "tk_detokenize: NULL argument");
    char *s;
    size_t l;
    tk_status st = detok(t, ids, n, remove_special, render_special, &s, &l);
    if (st != TK_OK) return st;
    *len = l;
    if (size < l + 1) {
        free(s);
        return core_error(TK_ERR_LIMIT,
                          "detokenize: %zu bytes of text need %zu bytes of buffer, "
                          "got %zu",
                          l, l + 1, size);
    }
    memcpy(out, s, l + 1);
    free(s);
    return TK_OK;
}

/* ---- streaming ------------------------------------------------------------- */

struct tk_detok_stream {
    const tk_tokenizer *t;
    unsigned flags;
    bool first;            /* no piece fed yet */
    unsigned char held[4]; /* incomplete UTF-8 sequence carried over */
    size_t n_held;
    unsigned char *work; /* [max_piece + 4] held bytes + the new piece */
    char *out;           /* [3 * (max_piece + 4) + 1] */
};

tk_status tk_detok_stream_create(const tk_tokenizer *t, unsigned flags, tk_detok_stream **out)
{
    if (out) *out = NULL;
    if (!t || !out) return core_error(TK_ERR_INVALID_ARG, "tk_detok_stream_create: NULL argument");
    tk_detok_stream *s = core_calloc(1, sizeof *s);
    size_t work = (size_t)t->max_piece + 4;
    if (s) {
        s->work = malloc(work);
        /* Each input byte gives at most 3 output bytes (U+FFFD). */
        s->out = malloc(3 * work + 1);
    }
    if (!s || !s->work || !s->out) {
        tk_detok_stream_free(s);
        return core_error(TK_ERR_NOMEM, "detokenizer stream: out of memory");
    }
    s->t = t;
    s->flags = flags;
    s->first = true;
    s->out[0] = '\0';
    *out = s;
    return TK_OK;
}

void tk_detok_stream_free(tk_detok_stream *s)
{
    if (!s) return;
    free(s->work);
    free(s->out);
    free(s);
}

void tk_detok_stream_reset(tk_detok_stream *s)
{
    if (!s) return;
    s->n_held = 0;
    s->first = true;
}

void tk_detok_stream_set_flags(tk_detok_stream *s, unsigned flags)
{
    if (s) s->flags = flags;
}

static const char replacement[3] = {'\xef', '\xbf', '\xbd'}; /* U+FFFD */

tk_status tk_detok_stream_feed(tk_detok_stream *s, int32_t id, const char **text, size_t *len)
{
    if (text) *text = "";
    if (len) *len = 0;
    if (!s || !text || !len) return core_error(TK_ERR_INVALID_ARG, "tk_detok_stream_feed: NULL");
    const tk_tokenizer *t = s->t;
    if (id < 0 || id >= t->n_vocab)
        return core_error(TK_ERR_INVALID_ARG, "token id %d is out of range (n_vocab %d)", id,
                          t->n_vocab);
    size_t l;
    const char *p = piece_of(t, id, (s->flags & TK_DETOK_RENDER_SPECIAL) != 0, &l);
    if (s->first && (s->flags & TK_DETOK_STRIP_LEADING_SPACE) && t->add_space_prefix && l &&
        p[0] == ' ') {
        p++;
        l--;
    }
    s->first = false;
    size_t m = s->n_held;
    memcpy(s->work, s->held, m);
    memcpy(s->work + m, p, l);
    m += l;
    s->n_held = 0;
    size_t o = 0;
    for (size_t i = 0; i < m;) {
        int r = tok_utf8_check(s->work + i, m - i);
        if (r > 0) {
            memcpy(s->out + o, s->work + i, (size_t)r);
            o += (size_t)r;
            i += (size_t)r;
        } else if (r == 0) {
            s->n_held = m - i; /* at most 3 bytes: a valid, unfinished prefix */
            memcpy(s->held, s->work + i, s->n_held);
            break;
        } else {
            memcpy(s->out + o, replacement, 3);
            o += 3;
            i += (size_t)-r;
        }
    }
    s->out[o] = '\0';
    *text = s->out;
    *len = o;
    return TK_OK;
}

tk_status tk_detok_stream_flush(tk_detok_stream *s, const char **text, size_t *len)
{
    if (text) *text = "";
    if (len) *len = 0;
    if (!s || !text || !len) return core_error(TK_ERR_INVALID_ARG, "tk_detok_stream_flush: NULL");
    size_t o = 0;
    if (s->n_held) {
        memcpy(s->out, replacement, 3);
        o = 3;
    }
    s->out[o] = '\0';
    tk_detok_stream_reset(s);
    *text = s->out;
    *len = o;
    return TK_OK;
}
