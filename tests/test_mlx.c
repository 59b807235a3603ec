/* The MLX backend on MLX's CPU device (only built when MLX is compiled in).
 *
 * - Golden logits: on every directory of ../shared/oracle/mlx, `tektra
 *   logits --backend mlx` matches the reference engine's logits (NMSE: BF16
 *   <= 1e-4, 4/8-bit <= 1e-3), batched and one token at a time, and matches
 *   the CPU engine (`--backend gguf`) on the same directory.
 * - Through the library: a prompt split into chunks (cached prefix, then a
 *   batch), the reference's greedy continuation, sessions, cancel, metrics.
 * - Greedy text through `tektra run` and `tektra serve` is the same on both
 *   backends.
 * - MLX errors (a corrupt safetensors file, a shape mismatch) are clear
 *   errors, never an exit. */
#include "check.h"
#include "proc.h"

#include "tektra.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N_TOK = 48, N_VOCAB = 512, N_GREEDY = 16 };

typedef struct row {
    char name[64], type[16];
    int32_t greedy[N_GREEDY];
} row;

static row rows[8];
static int n_rows;
static int32_t tokens[N_TOK];
static char token_list[1024];
static proc_result r;
static char dir[] = "/tmp/tk_mlx_XXXXXX";
static char setup[256];
#define run(...) proc_runf(&r, setup, __VA_ARGS__)

static bool read_floats(const char *path, float *out, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    bool ok = fread(out, sizeof *out, n, f) == n;
    fclose(f);
    return ok;
}

static double nmse(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? num / den : INFINITY;
}

static void load_manifest(void)
{
    FILE *f = fopen(shared_path("oracle/mlx/tokens.txt"), "r");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fgets(token_list, sizeof token_list, f) != NULL);
    fclose(f);
    token_list[strcspn(token_list, "\r\n")] = '\0';
    const char *p = token_list;
    for (int i = 0; i < N_TOK; i++) {
        tokens[i] = (int32_t)strtol(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    f = fopen(shared_path("oracle/mlx/manifest.tsv"), "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[1024];
    CHECK(fgets(line, sizeof line, f) != NULL); /* header */
    while (n_rows < 8 && fgets(line, sizeof line, f)) {
        row *w = &rows[n_rows];
        char arch[32], logits[96], greedy[256];
        int n_vocab, n_tokens;
        if (sscanf(line, "%63s %31s %15s %d %d %95s %255s", w->name, arch, w->type, &n_vocab,
                   &n_tokens, logits, greedy) != 7)
            continue;
        CHECK_INT(n_vocab, N_VOCAB);
        CHECK_INT(n_tokens, N_TOK);
        const char *g = greedy;
        for (int i = 0; i < N_GREEDY; i++) {
            w->greedy[i] = (int32_t)strtol(g, (char **)&g, 10);
            if (*g == ',') g++;
        }
        n_rows++;
    }
    fclose(f);
    CHECK(n_rows >= 4);
}

static double limit_of(const row *w)
{
    return strcmp(w->type, "BF16") == 0 ? 1e-4 : 1e-3;
}

/* ---- golden logits through `tektra logits` ---------------------------------- */

static void test_golden_logits(void)
{
    static float gold[N_TOK * N_VOCAB], mlx[N_TOK * N_VOCAB], cpu[N_TOK * N_VOCAB];
    for (int i = 0; i < n_rows; i++) {
        const row *w = &rows[i];
        char path[1400];
        snprintf(path, sizeof path, "oracle/mlx/%s.logits", w->name);
        CHECK(read_floats(shared_path(path), gold, N_TOK * N_VOCAB));
        const char *modes[2] = {"", "--incremental"};
        for (int m = 0; m < 2; m++) {
            run("$TK_BIN/tektra logits --backend mlx -m $TK_SHARED/oracle/mlx/%s --tokens %s -o "
                "mlx.f32 %s",
                w->name, token_list, modes[m]);
            CHECK_MSG(r.rc == 0, "%s: %s", w->name, r.out);
            snprintf(path, sizeof path, "%s/mlx.f32", dir);
            CHECK(read_floats(path, mlx, N_TOK * N_VOCAB));
            double e = nmse(mlx, gold, N_TOK * N_VOCAB);
            printf("%-16s MLX %-13s NMSE %.3g (limit %.0e)\n", w->name,
                   m ? "incremental" : "batched", e, limit_of(w));
            CHECK_MSG(e <= limit_of(w), "%s %s: NMSE %g > %g", w->name, modes[m], e, limit_of(w));
        }
        /* The CPU engine on the same directory. */
        run("$TK_BIN/tektra logits --backend gguf -m $TK_SHARED/oracle/mlx/%s --tokens %s -o "
            "cpu.f32",
            w->name, token_list);
        CHECK_MSG(r.rc == 0, "%s: %s", w->name, r.out);
        snprintf(path, sizeof path, "%s/cpu.f32", dir);
        CHECK(read_floats(path, cpu, N_TOK * N_VOCAB));
        double e = nmse(mlx, cpu, N_TOK * N_VOCAB);
        printf("%-16s MLX vs CPU engine NMSE %.3g\n", w->name, e);
        CHECK_MSG(e <= limit_of(w), "%s: MLX vs CPU engine NMSE %g", w->name, e);
    }
}

/* ---- the library ------------------------------------------------------------ */

static tk_engine *open_engine(const char *name, int64_t n_ctx)
{
    tk_platform p;
    tk_platform_detect(&p);
    tk_config c;
    tk_config_defaults(&c);
    c.context_size = n_ctx;
    tk_engine *e = NULL;
    CHECK_INT(tk_engine_create(TK_BACKEND_MLX, &p, &c, &e), TK_OK);
    if (!e) return NULL;
    char path[512];
    snprintf(path, sizeof path, "oracle/mlx/%s", name);
    tk_status st = tk_engine_load(e, shared_path(path));
    CHECK_MSG(st == TK_OK, "%s: %s", name, tk_last_error());
    CHECK_STR(tk_engine_backend_name(e), "MLX");
    CHECK_STR(tk_engine_model_name(e), name);
    return e;
}

static int32_t argmax(const float *v, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* A cached prefix then a batch (the masked path at n_past > 0), and the
 * reference's greedy continuation. */
static void test_chunks_and_greedy(void)
{
    static float gold[N_TOK * N_VOCAB], got[N_TOK * N_VOCAB];
    for (int i = 0; i < n_rows; i++) {
        const row *w = &rows[i];
        char path[1400];
        snprintf(path, sizeof path, "oracle/mlx/%s.logits", w->name);
        CHECK(read_floats(shared_path(path), gold, N_TOK * N_VOCAB));
        tk_engine *e = open_engine(w->name, 256);
        tk_session *s = NULL;
        if (!e || tk_session_create(e, &s) != TK_OK) {
            CHECK(false);
            tk_engine_free(e);
            continue;
        }
        tk_model_info info;
        tk_engine_model_info(e, &info);
        CHECK_INT(info.n_vocab, N_VOCAB);
        CHECK(info.size_bytes > 0 && info.n_params > 0);
        CHECK_INT(tk_session_decode(s, tokens, 20, got, true), TK_OK);
        CHECK_INT(tk_session_decode(s, tokens + 20, N_TOK - 20, got + 20 * N_VOCAB, true), TK_OK);
        double e2 = nmse(got, gold, N_TOK * N_VOCAB);
        CHECK_MSG(e2 <= limit_of(w), "%s: chunked NMSE %g", w->name, e2);

        int32_t ids[N_GREEDY];
        float last[N_VOCAB];
        memcpy(last, got + (N_TOK - 1) * N_VOCAB, sizeof last);
        for (int k = 0; k < N_GREEDY; k++) {
            ids[k] = argmax(last, N_VOCAB);
            CHECK_INT(tk_session_decode(s, &ids[k], 1, last, false), TK_OK);
        }
        CHECK_MSG(memcmp(ids, w->greedy, sizeof ids) == 0, "%s: greedy continuation differs",
                  w->name);
        /* Past the context: an error with the numbers, and the cache stays usable. */
        int32_t many[256] = {0};
        CHECK_INT(tk_session_decode(s, many, 256, NULL, false), TK_ERR_CONTEXT_FULL);
        tk_session_reset(s);
        CHECK_INT(tk_session_decode(s, tokens, 1, last, false), TK_OK);
        CHECK(fabsf(last[0] - gold[0]) < 1e-2f);
        /* A token outside the vocabulary. */
        int32_t bad = N_VOCAB;
        CHECK_INT(tk_session_decode(s, &bad, 1, last, false), TK_ERR_INVALID_ARG);
        tk_session_free(s);
        tk_engine_free(e);
    }
}

typedef struct collected {
    char text[4096];
    size_t len;
    int calls, stop_after;
    tk_session *cancel_session;
} collected;

static bool collect(const char *text, size_t len, const tk_token_info *infos, int n_infos,
                    void *user)
{
    (void)infos;
    (void)n_infos;
    collected *c = user;
    if (c->len + len < sizeof c->text) {
        memcpy(c->text + c->len, text, len);
        c->len += len;
        c->text[c->len] = '\0';
    }
    c->calls++;
    if (c->cancel_session && c->calls == 2) tk_session_cancel(c->cancel_session);
    return c->stop_after == 0 || c->calls < c->stop_after;
}

static void greedy_params(tk_gen_params *g, int n)
{
    memset(g, 0, sizeof *g);
    g->max_tokens = n;
    g->temperature = 0;
    g->top_p = 1;
    g->repeat_penalty = 1;
    g->seed = 1;
}

/* Sessions, metrics and cancel behave as on the CPU engine. */
static void test_sessions(void)
{
    tk_engine *e = open_engine("qwen3-4bit", 512);
    if (!e) return;
    tk_gen_params g;
    greedy_params(&g, 12);
    tk_session *a = NULL, *b = NULL;
    CHECK_INT(tk_session_create(e, &a), TK_OK);
    CHECK_INT(tk_session_create(e, &b), TK_OK);
    if (!a || !b) {
        tk_session_free(a);
        tk_session_free(b);
        tk_engine_free(e);
        return;
    }
    tk_message msgs[3] = {{.role = "user", .content = "Hello there"},
                          {.role = "assistant", .content = ""},
                          {.role = "user", .content = "And again"}};
    collected c1 = {0}, c2 = {0};
    tk_metrics m;
    CHECK_INT(tk_session_chat(a, msgs, 1, &g, collect, &c1, &m), TK_OK);
    CHECK(m.n_prompt_tokens > 0);
    CHECK_INT(m.n_cached_tokens, 0);
    CHECK(m.n_gen_tokens > 0 && m.n_gen_tokens <= 12);
    CHECK(m.ttft_s > 0 && m.total_s >= m.ttft_s);
    CHECK(m.prompt_tps > 0);
    CHECK(m.peak_rss > 0);
    CHECK(m.finish == TK_FINISH_LENGTH || m.finish == TK_FINISH_STOP);
    int64_t n_count = 0;
    CHECK_INT(tk_session_count_chat_tokens(a, msgs, 1, &n_count), TK_OK);
    CHECK_INT(n_count, m.n_prompt_tokens);

    /* The same request on another session gives the same answer; a second
     * turn on the first reuses its cache. */
    CHECK_INT(tk_session_chat(b, msgs, 1, &g, collect, &c2, &m), TK_OK);
    CHECK_STR(c2.text, c1.text);
    msgs[1].content = c1.text;
    collected c3 = {0};
    CHECK_INT(tk_session_chat(a, msgs, 3, &g, collect, &c3, &m), TK_OK);
    CHECK(m.n_cached_tokens > 0);

    /* The callback stops the answer; tk_session_cancel from another party too. */
    greedy_params(&g, 64);
    collected c4 = {.stop_after = 2};
    CHECK_INT(tk_session_complete(b, "Once upon a time", &g, collect, &c4, &m), TK_OK);
    CHECK_INT(m.finish, TK_FINISH_CANCELLED);
    collected c5 = {.cancel_session = a};
    CHECK_INT(tk_session_complete(a, "Once upon a time", &g, collect, &c5, &m), TK_OK);
    CHECK_INT(m.finish, TK_FINISH_CANCELLED);
    CHECK(m.n_gen_tokens < 64);
    /* And the session works afterwards. */
    collected c6 = {0};
    greedy_params(&g, 4);
    CHECK_INT(tk_session_complete(a, "Once upon a time", &g, collect, &c6, &m), TK_OK);
    CHECK_INT(m.n_gen_tokens, 4);
    tk_session_free(a);
    tk_session_free(b);
    tk_engine_free(e);
}

/* ---- the programs ----------------------------------------------------------- */

/* Greedy text of `tektra run` on both backends (directories where the CPU
 * engine's 8-bit activation rounding leaves no near-ties in 24 tokens). */
static void test_run_same_text(void)
{
    const char *dirs[] = {"llama-bf16", "qwen3-4bit"};
    static char out_mlx[65536];
    for (size_t i = 0; i < 2; i++) {
        run("$TK_BIN/tektra run --backend mlx -m $TK_SHARED/oracle/mlx/%s --temp 0 -n 24 -p "
            "'Once upon a time' 2>/dev/null",
            dirs[i]);
        CHECK_MSG(r.rc == 0, "%s", r.out);
        CHECK(strlen(r.out) > strlen("Once upon a time"));
        memcpy(out_mlx, r.out, sizeof out_mlx);
        run("$TK_BIN/tektra run --backend gguf -m $TK_SHARED/oracle/mlx/%s --temp 0 -n 24 -p "
            "'Once upon a time' 2>/dev/null",
            dirs[i]);
        CHECK_MSG(r.rc == 0, "%s", r.out);
        CHECK_STR(r.out, out_mlx);
    }
    /* -v names the backend and why. */
    run("$TK_BIN/tektra run --backend mlx -m $TK_SHARED/oracle/mlx/llama-bf16 --temp 0 -n 2 -v -p "
        "hi");
    CHECK_CONTAINS(r.out, "backend mlx (MLX was requested explicitly)");
    /* A GGUF file is not for MLX: a clear error naming the way out. */
    run("$TK_BIN/tektra run --backend mlx -m $TK_SHARED/models/stories260K.gguf -n 2 -p hi");
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "--backend gguf");
}

/* The same completion through `tektra serve` on both backends. */
static void test_serve_same_text(void)
{
    static char answers[2][65536];
    const char *backends[2] = {"mlx", "gguf"};
    for (int b = 0; b < 2; b++) {
        run("$TK_BIN/tektra serve --port 0 --backend %s -m $TK_SHARED/oracle/mlx/qwen3-4bit > "
            "serve.log 2>&1 & pid=$!; port=; for i in $(seq 100); do "
            "port=$(sed -n 's|.*listening on http://127.0.0.1:\\([0-9]*\\).*|\\1|p' serve.log); "
            "grep -q 'ready' serve.log && [ -n \"$port\" ] && break; sleep 0.1; done; "
            "curl -s -X POST http://127.0.0.1:$port/v1/completions -H 'Content-Type: "
            "application/json' -d '{\"prompt\":\"Once upon a time\",\"max_tokens\":16,"
            "\"temperature\":0}' | sed 's/.*\"text\":\"\\([^\"]*\\)\".*/\\1/'; kill $pid; wait "
            "$pid",
            backends[b]);
        CHECK_MSG(r.rc == 0 || r.rc == 143, "%s: rc %d: %s", backends[b], r.rc, r.out);
        memcpy(answers[b], r.out, sizeof answers[b]);
        CHECK_MSG(strlen(r.out) > 0 && !strstr(r.out, "error"), "%s: %s", backends[b], r.out);
    }
    CHECK_STR(answers[0], answers[1]);
}

/* MLX errors become messages: a corrupt file, a shape that does not fit. */
static void test_errors(void)
{
    run("cp -r $TK_SHARED/oracle/mlx/qwen3-4bit bad1 && "
        "truncate -s 20000 bad1/model.safetensors && "
        "$TK_BIN/tektra logits --backend mlx -m bad1 --tokens 1,2 -o x.f32");
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "bad1");
    CHECK_CONTAINS(r.out, "MLX: ");
    run("cp -r $TK_SHARED/oracle/mlx/qwen3-4bit bad2 && "
        "printf 'garbage' | dd of=bad2/model.safetensors bs=1 seek=0 conv=notrunc 2>/dev/null && "
        "$TK_BIN/tektra logits --backend mlx -m bad2 --tokens 1,2 -o x.f32");
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "model.safetensors");
    run("cp -r $TK_SHARED/oracle/mlx/qwen3-4bit bad3 && "
        "sed -i 's/\"intermediate_size\": 512/\"intermediate_size\": 384/' bad3/config.json && "
        "$TK_BIN/tektra logits --backend mlx -m bad3 --tokens 1,2 -o x.f32");
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "model.layers.0.mlp.gate_proj.weight: shape [512,32]");
    CHECK_CONTAINS(r.out, "expected [384");
    /* The backend stays usable in the same process after an error. */
    tk_platform p;
    tk_platform_detect(&p);
    tk_config c;
    tk_config_defaults(&c);
    tk_engine *e = NULL;
    CHECK_INT(tk_engine_create(TK_BACKEND_MLX, &p, &c, &e), TK_OK);
    if (!e) return;
    char path[600];
    snprintf(path, sizeof path, "%s/bad1", dir);
    CHECK(tk_engine_load(e, path) != TK_OK);
    CHECK_CONTAINS(tk_last_error(), "MLX: ");
    CHECK(!tk_engine_has_model(e));
    CHECK_INT(tk_engine_load(e, shared_path("oracle/mlx/llama-4bit-g32")), TK_OK);
    tk_engine_free(e);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(setup, sizeof setup, "cd %s", dir);
    const char *mlx = tk_mlx_version();
    CHECK(mlx != NULL);
    printf("MLX %s\n", mlx ? mlx : "(none)");
    load_manifest();
    test_golden_logits();
    test_chunks_and_greedy();
    test_sessions();
    test_run_same_text();
    test_serve_same_text();
    test_errors();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
