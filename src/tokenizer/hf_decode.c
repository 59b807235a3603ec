/* Decoders of Hugging Face tokenizer.json files: ids -> text.
 *
 * The `tokenizers` library decodes a whole list of tokens with a chain of
 * steps. Most steps work on each token alone (Replace, ByteFallback,
 * ByteLevel, the space replacement of Metaspace, Strip before a Fuse), so
 * they are applied once at load time and give each token its piece (what
 * tk_token_piece and the streaming detokenizer hand out). The rest depend
 * on the position in the sequence and are applied by tok_hf_detok():
 *  - Metaspace: the first token loses one leading space (unless its
 *    prepend_scheme is "never");
 *  - Strip after a Fuse: strips the whole text;
 *  - clean_up_tokenization_spaces (tokenizer_config.json): " ." -> ".",
 *    " ?", " !", " ,", " ' " -> "'", " n't", " 'm", " 's", " 've", " 're",
 *    as the `transformers` library does.
 * The text is raw bytes: byte tokens that do not form valid UTF-8 are kept
 * as they are (the libraries write U+FFFD for them).
 */
#include "tokenizer/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- per-token steps -------------------------------------------------------- */

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static tk_status replace_in(const tok_hf *h, const tok_hf_pattern *pat, const char *to,
                            size_t to_len, const tok_hf_str *in, tok_hf_str *out,
                            pcre2_match_data *md)
{
    tk_status st = TK_OK;
    size_t prev = 0, from = 0, ms, me, n = in->len;
    out->len = 0;
    if ((st = tok_hf_str_add(out, "", 0)) != TK_OK) return st;
    while (from < n && tok_hf_pattern_next(pat, md, h->mctx, in->p, n, from, &ms, &me, &st)) {
        if (me == ms) { /* an empty match replaces nothing here */
            from = ms + 1;
            continue;
        }
        if ((st = tok_hf_str_add(out, in->p + prev, ms - prev)) != TK_OK) return st;
        if ((st = tok_hf_str_add(out, to, to_len)) != TK_OK) return st;
        prev = from = me;
    }
    if (st != TK_OK) return st;
    return tok_hf_str_add(out, in->p + prev, n - prev);
}

/* Applies the per-token steps to `cur` (the token's text), using `tmp`. */
static tk_status token_piece(const tok_hf *h, tok_hf_str *cur, tok_hf_str *tmp,
                             pcre2_match_data *md)
{
    tk_status st = TK_OK;
    for (int k = 0; k < h->n_dec && st == TK_OK; k++) {
        const tok_hf_dec *d = &h->dec[k];
        if (d->fused) continue;
        switch (d->type) {
        case TOK_HF_DEC_REPLACE:
        case TOK_HF_DEC_METASPACE: {
            /* Metaspace: its replacement character becomes a space. */
            tok_hf_pattern lit = {.lit = d->text, .lit_len = d->text_len};
            if (d->type == TOK_HF_DEC_REPLACE)
                st = replace_in(h, &d->pat, d->text, d->text_len, cur, tmp, md);
            else
                st = replace_in(h, &lit, " ", 1, cur, tmp, md);
            tok_hf_str swap = *cur;
            *cur = *tmp;
            *tmp = swap;
            break;
        }
        case TOK_HF_DEC_BYTE_FALLBACK:
            if (cur->len == 6 && memcmp(cur->p, "<0x", 3) == 0 && cur->p[5] == '>') {
                int hi = hex_digit((unsigned char)cur->p[3]),
                    lo = hex_digit((unsigned char)cur->p[4]);
                if (hi >= 0 && lo >= 0) {
                    cur->p[0] = (char)(hi * 16 + lo);
                    cur->len = 1;
                }
            }
            break;
        case TOK_HF_DEC_BYTE_LEVEL: {
            /* All characters from the byte table: their bytes; otherwise
             * the text stays as it is (added tokens such as "<|eot_id|>"). */
            bool ok = true;
            for (size_t i = 0; i < cur->len && ok;)
                ok = tok_cp_to_byte(tok_utf8_decode((const unsigned char *)cur->p, cur->len, &i)) >=
                     0;
            if (!ok) break;
            size_t w = 0;
            for (size_t i = 0; i < cur->len;)
                cur->p[w++] = (char)tok_cp_to_byte(
                    tok_utf8_decode((const unsigned char *)cur->p, cur->len, &i));
            cur->len = w;
            break;
        }
        case TOK_HF_DEC_STRIP: {
            size_t a = 0, b = cur->len;
            for (uint32_t i = 0; i < d->start && b - a >= d->text_len &&
                                 memcmp(cur->p + a, d->text, d->text_len) == 0;
                 i++)
                a += d->text_len;
            for (uint32_t i = 0; i < d->stop && b - a >= d->text_len &&
                                 memcmp(cur->p + b - d->text_len, d->text, d->text_len) == 0;
                 i++)
                b -= d->text_len;
            memmove(cur->p, cur->p + a, b - a);
            cur->len = b - a;
            break;
        }
        case TOK_HF_DEC_FUSE:
            break;
        }
    }
    return st;
}

tk_status tok_hf_build_pieces(tk_tokenizer *t)
{
    const tok_hf *h = t->hf;
    tok_hf_str arena = {0}, cur = {0}, tmp = {0};
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    t->piece_off = core_calloc((size_t)t->n_vocab, sizeof *t->piece_off);
    t->piece_len = core_calloc((size_t)t->n_vocab, sizeof *t->piece_len);
    if (!md || !t->piece_off || !t->piece_len) {
        pcre2_match_data_free(md);
        return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    }
    tk_status st = tok_hf_str_add(&arena, "", 0);
    for (int32_t id = 0; id < t->n_vocab && st == TK_OK; id++) {
        cur.len = 0;
        st = tok_hf_str_add(&cur, t->text_arena + t->text_off[id], t->text_len[id]);
        if (st == TK_OK) st = token_piece(h, &cur, &tmp, md);
        if (st != TK_OK) break;
        if (arena.len > UINT32_MAX || cur.len > UINT32_MAX) {
            st = core_error(TK_ERR_LIMIT, "token pieces over 4 GiB");
            break;
        }
        t->piece_off[id] = (uint32_t)arena.len;
        t->piece_len[id] = (uint32_t)cur.len;
        if (cur.len > t->max_piece) t->max_piece = (uint32_t)cur.len;
        st = tok_hf_str_add(&arena, cur.p, cur.len);
    }
    pcre2_match_data_free(md);
    free(cur.p);
    free(tmp.p);
    if (st != TK_OK) {
        free(arena.p);
        return st;
    }
    t->piece_arena = arena.p;
    return TK_OK;
}

/* ---- whole sequences ----------------------------------------------------------- */

/* Replaces every non-overlapping `from` in s[0..n) by `to` (not longer);
 * returns the new length. */
static size_t replace_lit(char *s, size_t n, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), w = 0;
    for (size_t i = 0; i < n;) {
        if (i + fl <= n && memcmp(s + i, from, fl) == 0) {
            memmove(s + w, to, tl);
            w += tl;
            i += fl;
        } else {
            s[w++] = s[i++];
        }
    }
    return w;
}

static size_t clean_up(char *s, size_t n)
{
    static const char *const rules[][2] = {
        {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    for (size_t k = 0; k < TK_ARRAY_LEN(rules); k++)
        n = replace_lit(s, n, rules[k][0], rules[k][1]);
    return n;
}

tk_status tok_hf_detok(const tk_tokenizer *t, const int32_t *ids, size_t n, size_t total,
                       bool remove_special, bool render_special, char **out, size_t *len)
{
    const tok_hf *h = t->hf;
    *out = NULL;
    *len = 0;
    if (remove_special) {
        size_t a = 0, b = n;
        if (h->n_pre_ids && n >= (size_t)h->n_pre_ids &&
            memcmp(ids, h->pre_ids, (size_t)h->n_pre_ids * sizeof *ids) == 0)
            a = (size_t)h->n_pre_ids;
        if (h->n_post_ids && b - a >= (size_t)h->n_post_ids &&
            memcmp(ids + b - h->n_post_ids, h->post_ids, (size_t)h->n_post_ids * sizeof *ids) == 0)
            b -= (size_t)h->n_post_ids;
        ids += a;
        n = b - a;
    }
    char *s = malloc(total + 1);
    if (!s) return core_error(TK_ERR_NOMEM, "detokenize: out of memory");
    size_t w = 0;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (!render_special && (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) continue;
        const char *p = t->piece_arena + t->piece_off[id];
        size_t l = t->piece_len[id];
        if (first && h->strip_first_space && l && p[0] == ' ') {
            p++;
            l--;
        }
        first = false;
        memcpy(s + w, p, l);
        w += l;
    }
    for (int k = 0; k < h->n_dec; k++) {
        const tok_hf_dec *d = &h->dec[k];
        if (!d->fused || d->type != TOK_HF_DEC_STRIP) continue;
        size_t a = 0, b = w;
        for (uint32_t i = 0;
             i < d->start && b - a >= d->text_len && memcmp(s + a, d->text, d->text_len) == 0; i++)
            a += d->text_len;
        for (uint32_t i = 0; i < d->stop && b - a >= d->text_len &&
                             memcmp(s + b - d->text_len, d->text, d->text_len) == 0;
             i++)
            b -= d->text_len;
        memmove(s, s + a, b - a);
        w = b - a;
    }
    if (h->clean_spaces) w = clean_up(s, w);
    s[w] = '\0';
    *out = s;
    *len = w;
    return TK_OK;
}

/* ---- parsing ------------------------------------------------------------------------ */

static tk_status parse_one(void *ctx, const cJSON *j, const char *what, int depth)
{
    tok_hf *h = ctx;
    const char *type = NULL;
    tk_status st = tok_hf_step_type(j, "decoders", what, depth, parse_one, h, &type);
    if (st != TK_OK || !type) return st;
    if (h->n_dec == TOK_HF_MAX_STEPS)
        return core_error(TK_ERR_LIMIT, "%s: more than %d decoders", what, TOK_HF_MAX_STEPS);
    tok_hf_dec *d = &h->dec[h->n_dec];
    memset(d, 0, sizeof *d);
    for (int k = 0; k < h->n_dec; k++) d->fused |= h->dec[k].type == TOK_HF_DEC_FUSE;
    const char *text = NULL;
    char sub[256];
    if (strcmp(type, "Replace") == 0) {
        d->type = TOK_HF_DEC_REPLACE;
        snprintf(sub, sizeof sub, "%.200s.pattern", what);
        st = tok_hf_get_str(j, "content", what, true, &text);
        if (st == TK_OK)
            st = tok_hf_pattern_parse(cJSON_GetObjectItemCaseSensitive(j, "pattern"), sub, &d->pat);
    } else if (strcmp(type, "ByteFallback") == 0) {
        d->type = TOK_HF_DEC_BYTE_FALLBACK;
    } else if (strcmp(type, "ByteLevel") == 0) {
        d->type = TOK_HF_DEC_BYTE_LEVEL;
    } else if (strcmp(type, "Fuse") == 0) {
        d->type = TOK_HF_DEC_FUSE;
    } else if (strcmp(type, "Strip") == 0) {
        d->type = TOK_HF_DEC_STRIP;
        if ((st = tok_hf_get_str(j, "content", what, true, &text)) == TK_OK &&
            (st = tok_hf_get_uint(j, "start", what, 1u << 20, &d->start)) == TK_OK)
            st = tok_hf_get_uint(j, "stop", what, 1u << 20, &d->stop);
        if (st == TK_OK && (!text[0] || strlen(text) != tok_utf8_len((unsigned char)text[0])))
            st = core_error(TK_ERR_FORMAT, "%s.content: expected one character", what);
    } else if (strcmp(type, "Metaspace") == 0) {
        d->type = TOK_HF_DEC_METASPACE;
        const char *scheme = NULL;
        bool legacy_prefix = true;
        text = "\xe2\x96\x81";
        if ((st = tok_hf_get_str(j, "replacement", what, false, &text)) == TK_OK &&
            (st = tok_hf_get_str(j, "prepend_scheme", what, false, &scheme)) == TK_OK)
            st = tok_hf_get_bool(j, "add_prefix_space", what, &legacy_prefix);
        if (st == TK_OK && !text[0])
            st = core_error(TK_ERR_FORMAT, "%s.replacement: expected one character", what);
        h->strip_first_space = scheme ? strcmp(scheme, "never") != 0 : legacy_prefix;
    } else {
        return core_error(TK_ERR_UNSUPPORTED, "%s: decoder type '%.40s' is not supported", what,
                          type);
    }
    h->n_dec++; /* counted even on error, so that tok_hf_free frees its pattern */
    if (st == TK_OK && text) {
        d->text_len = strlen(text);
        d->text = tok_hf_strndup(text, d->text_len);
        if (!d->text) st = core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    }
    return st;
}

tk_status tok_hf_dec_parse(tok_hf *h, const cJSON *j, const char *what)
{
    if (!j || cJSON_IsNull(j)) return TK_OK;
    return parse_one(h, j, what, 0);
}
