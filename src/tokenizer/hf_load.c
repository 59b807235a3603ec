/* Loading a Hugging Face tokenizer.json (and its companions) from the
 * metadata of an in-memory GGUF that stands for a model directory:
 *   tokenizer.huggingface.json              tokenizer.json (required)
 *   tokenizer.huggingface.config            tokenizer_config.json
 *   tokenizer.huggingface.generation_config generation_config.json
 *   tokenizer.huggingface.model_config      config.json
 *
 * The documents are untrusted: every field is type-checked before use and
 * errors name it ("tokenizer.json: model.merges[12]: expected a string");
 * ids are bounded by TOK_MAX_VOCAB; merges must name tokens of the
 * vocabulary, as the `tokenizers` library requires.
 *
 * Special tokens: BOS / EOS / UNK / PAD come from tokenizer_config.json
 * (a string or an object with "content"), then from the post-processor
 * (BOS = its first id), then from config.json. add_special adds what the
 * post-processor adds; where it adds nothing, tokenizer_config.json's
 * add_bos_token / add_eos_token add BOS / EOS, as the Python `transformers`
 * library does (the JS library ignores those keys). End of generation: EOS,
 * generation_config.json's eos_token_id (an id or a list), and the usual
 * end-of-turn texts (vocab.c).
 */
#include "tokenizer/tokenizer.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "tokenizer.huggingface."
#define TJ  "tokenizer.json"

/* ---- JSON access ---------------------------------------------------------------- */

char *tok_hf_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static const cJSON *field(const cJSON *obj, const char *key)
{
    const cJSON *x = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return cJSON_IsNull(x) ? NULL : x;
}

tk_status tok_hf_get_str(const cJSON *obj, const char *key, const char *what, bool required,
                         const char **out)
{
    const cJSON *x = field(obj, key);
    if (!x) return required ? core_error(TK_ERR_FORMAT, "%s.%s is missing", what, key) : TK_OK;
    if (!cJSON_IsString(x)) return core_error(TK_ERR_FORMAT, "%s.%s: expected a string", what, key);
    *out = x->valuestring;
    return TK_OK;
}

tk_status tok_hf_get_bool(const cJSON *obj, const char *key, const char *what, bool *out)
{
    const cJSON *x = field(obj, key);
    if (!x) return TK_OK;
    if (!cJSON_IsBool(x)) return core_error(TK_ERR_FORMAT, "%s.%s: expected a boolean", what, key);
    *out = cJSON_IsTrue(x);
    return TK_OK;
}

static bool as_index(const cJSON *x, uint32_t max, uint32_t *out)
{
    if (!cJSON_IsNumber(x)) return false;
    double d = x->valuedouble;
    if (!(d >= 0) || d > (double)max || d != floor(d)) return false;
    *out = (uint32_t)d;
    return true;
}

tk_status tok_hf_get_uint(const cJSON *obj, const char *key, const char *what, uint32_t max,
                          uint32_t *out)
{
    const cJSON *x = field(obj, key);
    if (!x) return TK_OK;
    if (!as_index(x, max, out))
        return core_error(TK_ERR_FORMAT, "%s.%s: expected an integer in 0..%u", what, key, max);
    return TK_OK;
}

tk_status tok_hf_get_type(const cJSON *obj, const char *what, const char **out)
{
    if (!cJSON_IsObject(obj)) return core_error(TK_ERR_FORMAT, "%s: expected an object", what);
    return tok_hf_get_str(obj, "type", what, true, out);
}

tk_status tok_hf_step_type(const cJSON *obj, const char *key, const char *what, int depth,
                           tok_hf_step_fn step, void *ctx, const char **type)
{
    *type = NULL;
    const char *t = NULL;
    tk_status st = tok_hf_get_type(obj, what, &t);
    if (st != TK_OK) return st;
    if (strcmp(t, "Sequence") != 0) {
        *type = t;
        return TK_OK;
    }
    if (depth > 4) return core_error(TK_ERR_LIMIT, "%s: Sequences nested too deep", what);
    const cJSON *list = field(obj, key);
    if (!cJSON_IsArray(list))
        return core_error(TK_ERR_FORMAT, "%s.%s: expected an array", what, key);
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, list)
    {
        char sub[256];
        snprintf(sub, sizeof sub, "%.200s.%s[%d]", what, key, i++);
        if ((st = step(ctx, x, sub, depth + 1)) != TK_OK) return st;
    }
    return TK_OK;
}

/* Optional string kv of the GGUF, at most TOK_HF_MAX_JSON bytes. */
static tk_status gguf_str(const tk_gguf *g, const char *key, const char **s, uint64_t *len)
{
    tk_status st = tok_gguf_opt_str(g, key, s, len);
    if (st != TK_OK) return st;
    if (*len > TOK_HF_MAX_JSON)
        return core_error(TK_ERR_LIMIT, "%s: %llu bytes (limit %zu)", key, (unsigned long long)*len,
                          TOK_HF_MAX_JSON);
    return TK_OK;
}

/* Parses an optional document; *out NULL when the key is absent. */
static tk_status parse_doc(const tk_gguf *g, const char *key, const char *name, cJSON **out)
{
    const char *s;
    uint64_t len;
    *out = NULL;
    tk_status st = gguf_str(g, key, &s, &len);
    if (st != TK_OK || !s) return st;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, (size_t)len, &end, false);
    if (!j) {
        size_t at = end && end >= s && end <= s + len ? (size_t)(end - s) : 0;
        return core_error(TK_ERR_FORMAT, "%s: not valid JSON (near byte %zu of %llu)", name, at,
                          (unsigned long long)len);
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return core_error(TK_ERR_FORMAT, "%s: expected a JSON object", name);
    }
    *out = j;
    return TK_OK;
}

/* ---- vocabulary -------------------------------------------------------------------- */

typedef struct loader {
    tk_tokenizer *t;
    tok_hf *h;
    const cJSON *tj, *cfg, *gen, *mcfg;
    const char **text_of; /* [n_vocab] borrowed from the JSON; NULL = a hole */
} loader;

static tk_status load_vocab(loader *L)
{
    tk_tokenizer *t = L->t;
    const cJSON *model = field(L->tj, "model");
    const cJSON *vocab = field(model, "vocab");
    const cJSON *added = field(L->tj, "added_tokens");
    if (!cJSON_IsObject(vocab))
        return core_error(TK_ERR_FORMAT, TJ ": model.vocab: expected an object");
    if (added && !cJSON_IsArray(added))
        return core_error(TK_ERR_FORMAT, TJ ": added_tokens: expected an array");

    /* Pass 1: the largest id. */
    uint32_t max_id = 0;
    bool any = false;
    const cJSON *x;
    cJSON_ArrayForEach(x, vocab)
    {
        uint32_t id;
        if (!as_index(x, TOK_MAX_VOCAB - 1, &id))
            return core_error(
                cJSON_IsNumber(x) && x->valuedouble > 0 ? TK_ERR_LIMIT : TK_ERR_FORMAT,
                TJ ": model.vocab['%.64s']: expected an id in 0..%u", x->string, TOK_MAX_VOCAB - 1);
        max_id = TK_MAX(max_id, id);
        any = true;
    }
    int i = 0;
    cJSON_ArrayForEach(x, added)
    {
        uint32_t id;
        const cJSON *jid = cJSON_GetObjectItemCaseSensitive(x, "id");
        if (!cJSON_IsObject(x))
            return core_error(TK_ERR_FORMAT, TJ ": added_tokens[%d]: expected an object", i);
        if (!as_index(jid, TOK_MAX_VOCAB - 1, &id))
            return core_error(TK_ERR_FORMAT, TJ ": added_tokens[%d].id: expected an id in 0..%u", i,
                              TOK_MAX_VOCAB - 1);
        max_id = TK_MAX(max_id, id);
        any = true;
        i++;
    }
    if (!any) return core_error(TK_ERR_FORMAT, TJ ": model.vocab is empty");
    t->n_vocab = (int32_t)max_id + 1;
    L->text_of = core_calloc((size_t)t->n_vocab, sizeof *L->text_of);
    if (!L->text_of) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");

    /* Pass 2: texts by id. */
    cJSON_ArrayForEach(x, vocab)
    {
        uint32_t id = (uint32_t)x->valuedouble;
        if (L->text_of[id])
            return core_error(TK_ERR_FORMAT,
                              TJ ": model.vocab: id %u is given to both '%.64s' and "
                                 "'%.64s'",
                              id, L->text_of[id], x->string);
        if (!x->string[0])
            return core_error(TK_ERR_FORMAT, TJ ": model.vocab: an empty token (id %u)", id);
        L->text_of[id] = x->string;
    }
    i = 0;
    cJSON_ArrayForEach(x, added)
    {
        char what[64];
        snprintf(what, sizeof what, TJ ": added_tokens[%d]", i++);
        const char *content = NULL;
        tk_status st = tok_hf_get_str(x, "content", what, true, &content);
        if (st != TK_OK) return st;
        if (!content[0]) return core_error(TK_ERR_FORMAT, "%s.content is empty", what);
        uint32_t id = (uint32_t)cJSON_GetObjectItemCaseSensitive(x, "id")->valuedouble;
        if (L->text_of[id] && strcmp(L->text_of[id], content) != 0)
            return core_error(TK_ERR_FORMAT, "%s: id %u is '%.64s' but the vocabulary has '%.64s'",
                              what, id, content, L->text_of[id]);
        L->text_of[id] = content;
    }

    /* Token arrays, as the GGUF path keeps them. */
    size_t n = (size_t)t->n_vocab;
    tk_status st = tok_alloc_token_arrays(t, n);
    if (st != TK_OK) return st;
    tok_hf_str arena = {0};
    st = tok_hf_str_add(&arena, "", 0);
    uint32_t holes = 0;
    for (size_t id = 0; id < n && st == TK_OK; id++) {
        const char *s = L->text_of[id];
        size_t len = s ? strlen(s) : 0;
        if (arena.len + len + 1 > UINT32_MAX) {
            st = core_error(TK_ERR_LIMIT, TJ ": token texts over 4 GiB");
            break;
        }
        t->text_off[id] = (uint32_t)arena.len;
        t->text_len[id] = (uint32_t)len;
        t->attr[id] = s ? TOK_ATTR_NORMAL : TOK_ATTR_UNUSED;
        holes += !s;
        st = tok_hf_str_add(&arena, s ? s : "", len + 1);
        if (st == TK_OK && s) {
            bool found = false;
            st = tok_strmap_add(&t->strings, s, len, (int32_t)id, &found, NULL);
            if (st == TK_OK && found)
                st = core_error(TK_ERR_FORMAT, TJ ": token '%.64s' appears twice (ids %d and %zu)",
                                s, tok_find(t, s, len), id);
        }
    }
    t->text_arena = arena.p;
    if (st == TK_OK && holes)
        core_log(TK_LOG_DEBUG, "tokenizer: %u ids below %d have no token", holes, t->n_vocab);
    return st;
}

/* Id of a token text, -1 if absent. */
static int32_t id_of(const tk_tokenizer *t, const char *s)
{
    return s ? tok_find(t, s, strlen(s)) : -1;
}

static tk_status load_merges(loader *L, const cJSON *model)
{
    tk_tokenizer *t = L->t;
    const tok_hf *h = L->h;
    const cJSON *merges = field(model, "merges");
    size_t n = merges ? (size_t)cJSON_GetArraySize(merges) : 0;
    if (merges && !cJSON_IsArray(merges))
        return core_error(TK_ERR_FORMAT, TJ ": model.merges: expected an array");
    if (n > TOK_MAX_MERGES)
        return core_error(TK_ERR_LIMIT, TJ ": model.merges has %zu entries (limit %u)", n,
                          TOK_MAX_MERGES);
    uint32_t cap = 16;
    while (cap < 2 * n + 16) cap *= 2;
    t->merges = core_calloc(cap, sizeof *t->merges);
    if (!t->merges) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    t->merge_mask = cap - 1;
    for (uint32_t i = 0; i < cap; i++) t->merges[i].left = UINT32_MAX;
    tok_hf_str joined = {0};
    tk_status st = TK_OK;
    size_t j = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges)
    {
        const char *part[2];
        size_t plen[2];
        if (cJSON_IsString(m)) {
            /* "left right": exactly one space. */
            const char *s = m->valuestring, *sp = strchr(s, ' ');
            if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' ')) {
                st = core_error(TK_ERR_FORMAT,
                                TJ ": model.merges[%zu] = '%.64s': expected "
                                   "'left right'",
                                j, s);
                break;
            }
            part[0] = s;
            plen[0] = (size_t)(sp - s);
            part[1] = sp + 1;
            plen[1] = strlen(sp + 1);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            for (int k = 0; k < 2; k++) {
                part[k] = cJSON_GetArrayItem(m, k)->valuestring;
                plen[k] = strlen(part[k]);
            }
        } else {
            st = core_error(TK_ERR_FORMAT,
                            TJ ": model.merges[%zu]: expected a string or a pair of strings", j);
            break;
        }
        int32_t a = tok_find(t, part[0], plen[0]), b = tok_find(t, part[1], plen[1]);
        /* The merged text drops the continuing-subword prefix of the right part. */
        size_t skip = h->prefix ? TK_MIN(h->prefix_len, plen[1]) : 0;
        joined.len = 0;
        if ((st = tok_hf_str_add(&joined, part[0], plen[0])) != TK_OK ||
            (st = tok_hf_str_add(&joined, part[1] + skip, plen[1] - skip)) != TK_OK)
            break;
        int32_t r = tok_find(t, joined.p, joined.len);
        if (a < 0 || b < 0 || r < 0) {
            const char *miss = a < 0 ? part[0] : b < 0 ? part[1] : joined.p;
            st = core_error(TK_ERR_FORMAT,
                            TJ ": model.merges[%zu]: '%.64s' is not in the "
                               "vocabulary",
                            j, miss);
            break;
        }
        /* A repeated pair takes its last rank, as in the libraries. */
        uint32_t slot = tok_merge_slot(t->merges, t->merge_mask, (uint32_t)a, (uint32_t)b);
        t->merges[slot] = (tok_merge){(uint32_t)a, (uint32_t)b, (int32_t)j, r};
        j++;
    }
    free(joined.p);
    return st;
}

static tk_status load_model(loader *L)
{
    tok_hf *h = L->h;
    const cJSON *model = field(L->tj, "model");
    if (!cJSON_IsObject(model)) return core_error(TK_ERR_FORMAT, TJ ": model: expected an object");
    const char *type = NULL;
    tk_status st = tok_hf_get_str(model, "type", TJ ": model", false, &type);
    if (st != TK_OK) return st;
    if (!type && field(model, "merges")) type = "BPE";
    if (!type || strcmp(type, "BPE") != 0)
        return core_error(TK_ERR_UNSUPPORTED,
                          TJ ": model type '%.40s' is not supported (supported: BPE)",
                          type ? type : "(none)");
    const char *prefix = NULL, *suffix = NULL, *unk = NULL;
    if ((st = tok_hf_get_str(model, "continuing_subword_prefix", TJ ": model", false, &prefix)) !=
            TK_OK ||
        (st = tok_hf_get_str(model, "end_of_word_suffix", TJ ": model", false, &suffix)) != TK_OK ||
        (st = tok_hf_get_str(model, "unk_token", TJ ": model", false, &unk)) != TK_OK ||
        (st = tok_hf_get_bool(model, "byte_fallback", TJ ": model", &h->byte_fallback)) != TK_OK ||
        (st = tok_hf_get_bool(model, "fuse_unk", TJ ": model", &h->fuse_unk)) != TK_OK ||
        (st = tok_hf_get_bool(model, "ignore_merges", TJ ": model", &h->ignore_merges)) != TK_OK)
        return st;
    const cJSON *dropout = field(model, "dropout");
    if (dropout && !cJSON_IsNumber(dropout))
        return core_error(TK_ERR_FORMAT, TJ ": model.dropout: expected a number");
    if (dropout && dropout->valuedouble > 0)
        core_log(TK_LOG_WARN, "tokenizer: BPE dropout %g ignored (tokenizing is deterministic)",
                 dropout->valuedouble);
    if (prefix && prefix[0]) {
        h->prefix_len = strlen(prefix);
        if (!(h->prefix = tok_hf_strndup(prefix, h->prefix_len)))
            return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    }
    if (suffix && suffix[0]) {
        h->suffix_len = strlen(suffix);
        if (!(h->suffix = tok_hf_strndup(suffix, h->suffix_len)))
            return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    }
    if ((st = load_vocab(L)) != TK_OK) return st;
    if ((st = load_merges(L, model)) != TK_OK) return st;
    h->unk = id_of(L->t, unk);
    if (unk && h->unk < 0)
        core_log(TK_LOG_WARN, "tokenizer: unk_token '%.64s' is not in the vocabulary", unk);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        h->byte_id[b] = id_of(L->t, name);
        if (h->byte_fallback && h->byte_id[b] >= 0) L->t->attr[h->byte_id[b]] = TOK_ATTR_BYTE;
    }
    return TK_OK;
}

/* ---- added tokens ------------------------------------------------------------------- */

static tk_status load_added(loader *L)
{
    tk_tokenizer *t = L->t;
    tok_hf *h = L->h;
    const cJSON *added = field(L->tj, "added_tokens");
    size_t n = added ? (size_t)cJSON_GetArraySize(added) : 0;
    h->added = core_calloc(n ? n : 1, sizeof *h->added);
    if (!h->added) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    tok_hf_str norm = {0}, tmp = {0};
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    tk_status st = md ? TK_OK : core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    const cJSON *x;
    cJSON_ArrayForEach(x, added)
    {
        if (st != TK_OK) break;
        char what[64];
        snprintf(what, sizeof what, TJ ": added_tokens[%u]", h->n_added);
        tok_hf_added *a = &h->added[h->n_added];
        a->id = (int32_t)cJSON_GetObjectItemCaseSensitive(x, "id")->valuedouble;
        if ((st = tok_hf_get_bool(x, "special", what, &a->special)) != TK_OK) break;
        a->normalized = !a->special;
        if ((st = tok_hf_get_bool(x, "lstrip", what, &a->lstrip)) != TK_OK ||
            (st = tok_hf_get_bool(x, "rstrip", what, &a->rstrip)) != TK_OK ||
            (st = tok_hf_get_bool(x, "single_word", what, &a->single_word)) != TK_OK ||
            (st = tok_hf_get_bool(x, "normalized", what, &a->normalized)) != TK_OK)
            break;
        t->attr[a->id] = a->special ? TOK_ATTR_CONTROL : TOK_ATTR_USER_DEFINED;
        const char *s = t->text_arena + t->text_off[a->id];
        size_t len = t->text_len[a->id];
        if (!a->normalized) {
            st = tok_hf_trie_add(&h->raw_trie, s, len, (int32_t)h->n_added);
        } else {
            st = tok_hf_normalize(h, s, len, &norm, &tmp, md);
            if (st == TK_OK)
                st = tok_hf_trie_add(&h->norm_trie, norm.p, norm.len, (int32_t)h->n_added);
        }
        h->n_added++;
    }
    free(norm.p);
    free(tmp.p);
    pcre2_match_data_free(md);
    return st;
}

/* ---- post-processor ----------------------------------------------------------------- */

static tk_status add_ids(int32_t *ids, int *n, int32_t id, const char *what)
{
    if (*n == TOK_HF_MAX_ADD)
        return core_error(TK_ERR_LIMIT, "%s: more than %d special tokens", what, TOK_HF_MAX_ADD);
    ids[(*n)++] = id;
    return TK_OK;
}

/* A special token of a template: its ids from special_tokens, or the token
 * of that text. */
static tk_status template_token(loader *L, const cJSON *pp, const cJSON *item, const char *what,
                                bool after)
{
    tok_hf *h = L->h;
    const char *name = NULL;
    tk_status st = tok_hf_get_str(item, "id", what, true, &name);
    if (st != TK_OK) return st;
    int32_t *ids = after ? h->post_ids : h->pre_ids;
    int *n = after ? &h->n_post_ids : &h->n_pre_ids;
    const cJSON *spec = field(field(pp, "special_tokens"), name);
    const cJSON *list = field(spec, "ids");
    if (list) {
        if (!cJSON_IsArray(list))
            return core_error(TK_ERR_FORMAT, "%s: special_tokens['%.40s'].ids: expected an array",
                              what, name);
        const cJSON *x;
        cJSON_ArrayForEach(x, list)
        {
            uint32_t id;
            if (!as_index(x, (uint32_t)L->t->n_vocab - 1, &id))
                return core_error(TK_ERR_FORMAT,
                                  "%s: special_tokens['%.40s'].ids: expected ids "
                                  "below %d",
                                  what, name, L->t->n_vocab);
            if ((st = add_ids(ids, n, (int32_t)id, what)) != TK_OK) return st;
        }
        return TK_OK;
    }
    int32_t id = id_of(L->t, name);
    if (id < 0) return core_error(TK_ERR_FORMAT, "%s: unknown special token '%.40s'", what, name);
    return add_ids(ids, n, id, what);
}

static tk_status load_post(void *ctx, const cJSON *pp, const char *what, int depth)
{
    loader *L = ctx;
    tok_hf *h = L->h;
    if (!pp) return TK_OK;
    const char *type = NULL;
    tk_status st = tok_hf_step_type(pp, "processors", what, depth, load_post, L, &type);
    if (st != TK_OK || !type) return st;
    char sub[256];
    if (strcmp(type, "ByteLevel") == 0) return TK_OK;
    if (strcmp(type, "TemplateProcessing") == 0) {
        /* A Sequence wraps: later templates go outside earlier ones. */
        int32_t inner_pre[TOK_HF_MAX_ADD];
        int n_inner = h->n_pre_ids;
        memcpy(inner_pre, h->pre_ids, sizeof inner_pre);
        h->n_pre_ids = 0;
        const cJSON *single = field(pp, "single");
        if (!cJSON_IsArray(single))
            return core_error(TK_ERR_FORMAT, "%s.single: expected an array", what);
        bool after = false;
        int i = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, single)
        {
            snprintf(sub, sizeof sub, "%.200s.single[%d]", what, i++);
            const cJSON *sp = field(item, "SpecialToken"), *seq = field(item, "Sequence");
            if (sp)
                st = template_token(L, pp, sp, sub, after);
            else if (seq)
                after = true;
            else
                st = core_error(TK_ERR_FORMAT, "%s: expected a SpecialToken or a Sequence", sub);
            if (st != TK_OK) return st;
        }
        for (int k = 0; k < n_inner && st == TK_OK; k++)
            st = add_ids(h->pre_ids, &h->n_pre_ids, inner_pre[k], what);
        return st;
    }
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        static const char *const keys[2] = {"cls", "sep"};
        for (int k = 0; k < 2; k++) {
            const cJSON *pair = field(pp, keys[k]);
            uint32_t id;
            if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 ||
                !as_index(cJSON_GetArrayItem(pair, 1), (uint32_t)L->t->n_vocab - 1, &id))
                return core_error(TK_ERR_FORMAT, "%s.%s: expected [text, id below %d]", what,
                                  keys[k], L->t->n_vocab);
            if (k == 0) {
                memmove(h->pre_ids + 1, h->pre_ids, (size_t)h->n_pre_ids * sizeof *h->pre_ids);
                if (h->n_pre_ids == TOK_HF_MAX_ADD)
                    return core_error(TK_ERR_LIMIT, "%s: too many special tokens", what);
                h->pre_ids[0] = (int32_t)id;
                h->n_pre_ids++;
            } else if ((st = add_ids(h->post_ids, &h->n_post_ids, (int32_t)id, what)) != TK_OK) {
                return st;
            }
        }
        return TK_OK;
    }
    return core_error(TK_ERR_UNSUPPORTED, "%s: post-processor type '%.40s' is not supported", what,
                      type);
}

/* ---- tokenizer_config.json, generation_config.json, config.json ------------------------ */

/* A special token of tokenizer_config.json: a string or {"content": ...}. */
static tk_status config_token(loader *L, const char *key, int32_t *id)
{
    const cJSON *x = field(L->cfg, key);
    if (!x) return TK_OK;
    const char *s = NULL;
    if (cJSON_IsString(x))
        s = x->valuestring;
    else if (cJSON_IsObject(x) && cJSON_IsString(field(x, "content")))
        s = field(x, "content")->valuestring;
    else
        return core_error(TK_ERR_FORMAT,
                          "tokenizer_config.json: %s: expected a string or an "
                          "object with a \"content\" string",
                          key);
    int32_t v = id_of(L->t, s);
    if (v < 0)
        core_log(TK_LOG_WARN, "tokenizer: tokenizer_config.json %s '%.64s' is not a token", key, s);
    else
        *id = v;
    return TK_OK;
}

/* An id or a list of ids (`first` gets the first, `eog` marks them all). */
static tk_status config_ids(loader *L, const cJSON *doc, const char *name, const char *key,
                            int32_t *first, bool eog)
{
    const cJSON *x = field(doc, key);
    if (!x) return TK_OK;
    const cJSON *one = cJSON_IsArray(x) ? x->child : x;
    int i = 0;
    for (; one; one = cJSON_IsArray(x) ? one->next : NULL, i++) {
        uint32_t id;
        if (!as_index(one, TOK_MAX_VOCAB, &id))
            return core_error(TK_ERR_FORMAT, "%s: %s: expected an id or a list of ids", name, key);
        if (id >= (uint32_t)L->t->n_vocab) {
            core_log(TK_LOG_WARN, "tokenizer: %s %s %u is out of range (n_vocab %d): ignored", name,
                     key, id, L->t->n_vocab);
            continue;
        }
        if (first && *first < 0) *first = (int32_t)id;
        if (eog) L->t->attr[id] |= TOK_ATTR_EOG;
    }
    return TK_OK;
}

static tk_status load_configs(loader *L)
{
    tk_tokenizer *t = L->t;
    tok_hf *h = L->h;
    tk_status st;
    const char *C = "tokenizer_config.json";
    bool add_bos = false, add_eos = false;
    if ((st = config_token(L, "bos_token", &t->bos)) != TK_OK ||
        (st = config_token(L, "eos_token", &t->eos)) != TK_OK ||
        (st = config_token(L, "unk_token", &t->unk)) != TK_OK ||
        (st = config_token(L, "pad_token", &t->pad)) != TK_OK ||
        (st = tok_hf_get_bool(L->cfg, "add_bos_token", C, &add_bos)) != TK_OK ||
        (st = tok_hf_get_bool(L->cfg, "add_eos_token", C, &add_eos)) != TK_OK ||
        (st = tok_hf_get_bool(L->cfg, "clean_up_tokenization_spaces", C, &h->clean_spaces)) !=
            TK_OK)
        return st;
    if (t->unk < 0) t->unk = h->unk;
    if (t->bos < 0 && h->n_pre_ids) t->bos = h->pre_ids[0];
    if ((st = config_ids(L, L->gen, "generation_config.json", "eos_token_id", &t->eos, true)) !=
            TK_OK ||
        (st = config_ids(L, L->mcfg, "config.json", "bos_token_id", &t->bos, false)) != TK_OK ||
        (st = config_ids(L, L->mcfg, "config.json", "eos_token_id", &t->eos, false)) != TK_OK)
        return st;
    /* Where the post-processor adds nothing, transformers adds BOS / EOS as
     * tokenizer_config.json asks. */
    if (add_bos && h->n_pre_ids == 0) {
        if (t->bos < 0)
            return core_error(TK_ERR_FORMAT, "%s: add_bos_token is set but there is no BOS token",
                              C);
        h->pre_ids[h->n_pre_ids++] = t->bos;
    }
    if (add_eos && h->n_post_ids == 0) {
        if (t->eos < 0)
            return core_error(TK_ERR_FORMAT, "%s: add_eos_token is set but there is no EOS token",
                              C);
        h->post_ids[h->n_post_ids++] = t->eos;
    }
    t->add_bos = h->n_pre_ids > 0;
    t->add_eos = h->n_post_ids > 0;
    return TK_OK;
}

/* ---- entry ---------------------------------------------------------------------------- */

void tok_hf_free(tok_hf *h)
{
    if (!h) return;
    for (int i = 0; i < h->n_norm; i++) {
        tok_hf_pattern_free(&h->norm[i].pat);
        free(h->norm[i].text);
    }
    for (int i = 0; i < h->n_pre; i++) tok_hf_pattern_free(&h->pre[i].pat);
    for (int i = 0; i < h->n_dec; i++) {
        tok_hf_pattern_free(&h->dec[i].pat);
        free(h->dec[i].text);
    }
    pcre2_code_free(h->gpt2_re);
    pcre2_match_context_free(h->mctx);
    free(h->prefix);
    free(h->suffix);
    free(h->added);
    free(h->raw_trie.node);
    free(h->norm_trie.node);
    free(h);
}

tk_status tok_hf_load(tk_tokenizer *t, const tk_gguf *g)
{
    cJSON *tj = NULL, *cfg = NULL, *gen = NULL, *mcfg = NULL;
    loader L = {.t = t};
    t->kind = TOK_KIND_HF;
    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = -1;
    core_strlcpy(t->pre_name, "tokenizer.json", sizeof t->pre_name);
    tok_hf *h = t->hf = core_calloc(1, sizeof *t->hf);
    if (!h) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    L.h = h;
    h->unk = -1;
    h->mctx = pcre2_match_context_create(NULL);
    if (!h->mctx) return core_error(TK_ERR_NOMEM, "tokenizer: out of memory");
    /* The interpreter (used when JIT is missing or its stack runs out)
     * keeps its backtracking frames on the heap: bound them. */
    pcre2_set_heap_limit(h->mctx, 256 * 1024); /* KiB */

    tk_status st = parse_doc(g, KEY "json", TJ, &tj);
    if (st == TK_OK) st = parse_doc(g, KEY "config", "tokenizer_config.json", &cfg);
    if (st == TK_OK) st = parse_doc(g, KEY "generation_config", "generation_config.json", &gen);
    if (st == TK_OK) st = parse_doc(g, KEY "model_config", "config.json", &mcfg);
    L.tj = tj;
    L.cfg = cfg;
    L.gen = gen;
    L.mcfg = mcfg;
    if (st == TK_OK && !tj) st = core_error(TK_ERR_NOT_FOUND, KEY "json is missing");
    if (st == TK_OK) st = load_model(&L);
    if (st == TK_OK) st = tok_hf_norm_parse(h, field(tj, "normalizer"), TJ ": normalizer");
    if (st == TK_OK) st = tok_hf_pre_parse(h, field(tj, "pre_tokenizer"), TJ ": pre_tokenizer");
    if (st == TK_OK) st = tok_hf_dec_parse(h, field(tj, "decoder"), TJ ": decoder");
    if (st == TK_OK) st = load_post(&L, field(tj, "post_processor"), TJ ": post_processor", 0);
    if (st == TK_OK) st = load_added(&L);
    if (st == TK_OK) st = load_configs(&L);
    if (st == TK_OK) st = tok_hf_build_pieces(t);
    if (st == TK_OK) {
        /* A decoder that drops the leading space of the text: SentencePiece
         * style (the streaming detokenizer's TK_DETOK_STRIP_LEADING_SPACE). */
        t->add_space_prefix = h->strip_first_space;
        for (int k = 0; k < h->n_dec; k++)
            if (h->dec[k].type == TOK_HF_DEC_STRIP && h->dec[k].fused && h->dec[k].start &&
                h->dec[k].text_len == 1 && h->dec[k].text[0] == ' ')
                t->add_space_prefix = true;
    }
    free(L.text_of);
    cJSON_Delete(tj);
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    cJSON_Delete(mcfg);
    return st;
}
