/* tektra bench: prompt processing (pp) and token generation (tg) speed, in
 * the table format of the common llama-bench tool, plus the kernel level,
 * the measured memory bandwidth and the tg roofline fraction. */
#include "app.h"
#include "settings.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifndef _WIN32
#include <sys/resource.h>
#endif

const char cmd_bench_summary[] = "measure prompt and generation speed (tokens/s)";

static void usage(void)
{
    printf("Usage: tektra bench -m MODEL [OPTIONS]\n\n"
           "Measures prompt processing (ppN: N tokens in one batch) and token generation\n"
           "(tgN: N tokens one at a time) on random tokens, R times each, and prints\n"
           "tokens/s as mean ± standard deviation. Each value of -p, -n and -d makes its\n"
           "own row (every depth with every -p and -n value), printed when measured.\n\n"
           "Options:\n"
           "  -m, --model PATH   model: a GGUF file or a model directory (MLX / HF layout)\n"
           "  -p N[,N...]        prompt tokens (default 512; 0 = skip)\n"
           "  -n N[,N...]        generated tokens (default 128; 0 = skip)\n"
           "  -d N[,N...]        depth: tokens put in the KV cache before each\n"
           "                     measurement, which then runs on top of them (default 0)\n"
           "  -t, --threads N    threads (default: physical cores)\n"
           "  -r, --reps R       repetitions (default 3)\n"
           "      --backend NAME auto, gguf or mlx (default auto); mlx measures Apple's MLX\n"
           "                     on a model directory (Metal on Apple Silicon)\n"
           "  -ctk, --cache-type-k TYPE\n"
           "  -ctv, --cache-type-v TYPE\n"
           "                     KV cache types of the CPU engine: f16 (default), f32, q8_0\n"
           "                     or q4_0; the memory they take is printed\n"
           "      --no-bandwidth skip the memory bandwidth measurement\n"
           "      --json         print a JSON array instead of the table, at the end: one\n"
           "                     object per depth (and per -p/-n value, paired by position)\n"
           "  -h, --help         show this help\n\n"
           "The kernel level follows the CPU (TEKTRA_CPU=generic|avx2|avx512|... forces one).\n");
}

/* Peak resident memory of this process so far, in bytes (0 when unknown). */
static uint64_t peak_rss(void)
{
#ifndef _WIN32
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) return (uint64_t)ru.ru_maxrss * 1024u; /* KiB on Linux */
#endif
    return 0;
}

static double tk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct stats {
    double mean, sd;
} stats;

static stats summarize(const double *v, int n)
{
    stats s = {0, 0};
    for (int i = 0; i < n; i++) s.mean += v[i];
    s.mean /= n;
    for (int i = 0; i < n; i++) s.sd += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0;
    return s;
}

static uint32_t rng_next(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*x >> 33);
}

/* What is measured: the CPU engine's context directly, or a session of
 * another backend. */
typedef struct target {
    tk_context *c;
    tk_session *s;
} target;

static tk_status target_decode(const target *t, const int32_t *toks, int n, float *logits)
{
    return t->c ? tk_context_decode(t->c, toks, n, logits, false)
                : tk_session_decode(t->s, toks, n, logits, false);
}

static void target_reset(const target *t)
{
    if (t->c)
        tk_context_reset(t->c);
    else
        tk_session_reset(t->s);
}

/* The cache holds `depth` tokens before each measurement. The CPU context
 * is filled once per depth (fill_depth) and cut back to it before each run
 * (what a run adds lies past it); a session is refilled every run. */
typedef struct depth_state {
    const int32_t *fill; /* [max depth] random tokens */
    int depth;
} depth_state;

static tk_status fill_depth(const target *t, const depth_state *d, float *logits)
{
    target_reset(t);
    return d->depth > 0 ? target_decode(t, d->fill, d->depth, logits) : TK_OK;
}

static tk_status prepare(const target *t, const depth_state *d, float *logits)
{
    if (t->c) return tk_context_truncate(t->c, d->depth);
    return fill_depth(t, d, logits);
}

/* One pp run: n random tokens in one decode on top of the depth. */
static tk_status run_pp(const target *c, const depth_state *d, int32_t *toks, int n,
                        int32_t n_vocab, uint64_t *rng, float *logits, double *tps)
{
    for (int i = 0; i < n; i++) toks[i] = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
    tk_status s = prepare(c, d, logits);
    if (s != TK_OK) return s;
    double t0 = tk_now();
    s = target_decode(c, toks, n, logits);
    double dt = tk_now() - t0;
    *tps = n / dt;
    return s;
}

/* One tg run: n single-token decodes after one token, on top of the depth. */
static tk_status run_tg(const target *c, const depth_state *d, int n, int32_t n_vocab,
                        uint64_t *rng, float *logits, double *tps)
{
    tk_status s = prepare(c, d, logits);
    int32_t tok = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
    if (s == TK_OK) s = target_decode(c, &tok, 1, logits);
    double t0 = tk_now();
    for (int i = 0; i < n && s == TK_OK; i++) {
        tok = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
        s = target_decode(c, &tok, 1, logits);
    }
    double dt = tk_now() - t0;
    *tps = n / dt;
    return s;
}

#define BENCH_MAX_VALUES 16

/* A flag's comma-separated values, each in [min, max]. */
typedef struct values {
    long v[BENCH_MAX_VALUES];
    int n;
} values;

static bool parse_values(const char *flag, const char *s, long min, long max, values *out)
{
    out->n = 0;
    char buf[32];
    for (const char *p = s;;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        if (out->n == BENCH_MAX_VALUES || len >= sizeof buf) {
            app_error("%s: at most %d values of up to %zu characters", flag, BENCH_MAX_VALUES,
                      sizeof buf - 1);
            return false;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (!app_parse_long(flag, buf, min, max, &out->v[out->n++])) return false;
        if (!e) return true;
        p = e + 1;
    }
}

static long values_max(const values *v)
{
    long m = 0;
    for (int i = 0; i < v->n; i++) m = v->v[i] > m ? v->v[i] : m;
    return m;
}

/* One measured row: ppN or tgN at a depth. */
typedef struct row {
    long depth, n;
    bool tg;
    stats s;
} row;

static void json_test(const row *r)
{
    if (r)
        printf(",\"%s\":{\"n\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f}", r->tg ? "tg" : "pp", r->n,
               r->s.mean, r->s.sd);
}

int cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL, *backend = NULL;
    values pps = {{512}, 1}, tgs = {{128}, 1}, depths = {{0}, 1};
    long threads = 0, reps = 3;
    bool json = false, bandwidth = true;
    int32_t type_k = TK_TYPE_F16, type_v = TK_TYPE_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return APP_EXIT_OK;
        } else if (!strcmp(a, "-m") || app_flag_is(a, "--model")) {
            if (!(model_path = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (!strcmp(a, "-p")) {
            if (!(v = app_flag_value(argc, argv, &i)) || !parse_values("-p", v, 0, 65536, &pps))
                return APP_EXIT_USAGE;
        } else if (!strcmp(a, "-n")) {
            if (!(v = app_flag_value(argc, argv, &i)) || !parse_values("-n", v, 0, 65536, &tgs))
                return APP_EXIT_USAGE;
        } else if (!strcmp(a, "-d") || app_flag_is(a, "--depth")) {
            if (!(v = app_flag_value(argc, argv, &i)) ||
                !parse_values("-d", v, 0, 1 << 20, &depths))
                return APP_EXIT_USAGE;
        } else if (!strcmp(a, "-t") || app_flag_is(a, "--threads")) {
            if (!(v = app_flag_value(argc, argv, &i)) ||
                !app_parse_long("--threads", v, 1, 256, &threads))
                return APP_EXIT_USAGE;
        } else if (!strcmp(a, "-r") || app_flag_is(a, "--reps")) {
            if (!(v = app_flag_value(argc, argv, &i)) ||
                !app_parse_long("--reps", v, 1, 100, &reps))
                return APP_EXIT_USAGE;
        } else if (app_flag_is(a, "--backend")) {
            if (!(backend = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (!strcmp(a, "-ctk") || app_flag_is(a, "--cache-type-k") || !strcmp(a, "-ctv") ||
                   app_flag_is(a, "--cache-type-v")) {
            const bool is_k = !strcmp(a, "-ctk") || app_flag_is(a, "--cache-type-k");
            if (!(v = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
            const int32_t t = tk_cache_type_from_name(v);
            if (t < 0)
                return app_usage_error("bench", "%s '%s': the cache types are f16, f32, q8_0, q4_0",
                                       a, v);
            *(is_k ? &type_k : &type_v) = t;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--no-bandwidth")) {
            bandwidth = false;
        } else {
            return app_usage_error("bench", "unknown option '%s'", a);
        }
    }
    if (!model_path) return app_usage_error("bench", "missing -m MODEL");
    const long max_pp = values_max(&pps), max_tg = values_max(&tgs), max_d = values_max(&depths);
    if (max_pp == 0 && max_tg == 0)
        return app_usage_error("bench", "nothing to measure (-p 0 -n 0)");

    tk_platform p;
    tk_platform_detect(&p);
    tk_kernel_level level;
    if (tk_kernel_level_choose(&p, getenv("TEKTRA_CPU"), &level) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    if (threads == 0) threads = p.n_physical_cores;

    tk_backend_kind kind;
    int brc = app_tool_backend(backend, model_path, &kind);
    if (brc != APP_EXIT_OK) return brc;
    /* The deepest cache plus the longest test (a tg run decodes one token
     * before the timed ones). */
    const long need = max_d + (max_pp > max_tg + 1 ? max_pp : max_tg + 1);
    const int64_t n_ctx = need + 16;
    tk_model *m = NULL;
    tk_context *c = NULL;
    tk_engine *e = NULL;
    tk_session *sess = NULL;
    tk_model_info info;
    uint64_t active_bytes = 0; /* MoE only */
    char backend_label[64];
    if (kind == TK_BACKEND_GGUF) {
        /* The CPU engine directly, with a batch as large as the prompt (and
         * the depth filled in batches of up to 512). */
        app_status("loading %s...", app_base_name(model_path));
        tk_status ls = tk_model_load(model_path, &m);
        app_status_clear();
        if (ls != TK_OK) {
            app_error("%s", tk_last_error());
            return APP_EXIT_FAIL;
        }
        if (need > tk_model_n_ctx_train(m)) {
            app_error("depth %ld + %s%ld needs %ld positions; the model's context is %d", max_d,
                      max_pp > max_tg + 1 ? "pp" : "tg", max_pp > max_tg + 1 ? max_pp : max_tg,
                      need, tk_model_n_ctx_train(m));
            tk_model_free(m);
            return APP_EXIT_FAIL;
        }
        tk_context_params cp = tk_context_default_params();
        cp.n_ctx = (int32_t)n_ctx;
        cp.n_batch = (int32_t)(max_pp > 0 ? max_pp : 1);
        if (max_d > cp.n_batch) cp.n_batch = (int32_t)(max_d < 512 ? max_d : 512);
        cp.n_threads = (int32_t)threads;
        cp.type_k = type_k;
        cp.type_v = type_v;
        if (tk_context_create(m, &cp, &c) != TK_OK) {
            app_error("%s", tk_last_error());
            tk_model_free(m);
            return APP_EXIT_FAIL;
        }
        info = (tk_model_info){tk_model_arch(m), tk_model_n_vocab(m), tk_model_n_ctx_train(m),
                               tk_model_n_params(m), tk_model_size_bytes(m)};
        if (tk_model_n_expert(m) > 0) active_bytes = tk_model_active_bytes(m);
        snprintf(backend_label, sizeof backend_label, "CPU (%s)", tk_kernel_level_name(level));
    } else {
        if (type_k != TK_TYPE_F16 || type_v != TK_TYPE_F16) {
            app_error("--cache-type-k/-v apply to the CPU engine (GGUF files, --backend gguf)");
            return APP_EXIT_USAGE;
        }
        if (!app_tool_session(kind, model_path, n_ctx, threads, &e, &sess)) return APP_EXIT_FAIL;
        tk_engine_model_info(e, &info);
        snprintf(backend_label, sizeof backend_label, "%s", tk_engine_backend_name(e));
        if (need > info.n_ctx_train) {
            app_error("depth %ld + the longest test needs %ld positions; the model's context is "
                      "%d",
                      max_d, need, info.n_ctx_train);
            tk_session_free(sess);
            tk_engine_free(e);
            return APP_EXIT_FAIL;
        }
    }
    const target tgt = {c, sess};
    int32_t n_vocab = info.n_vocab;
    const int n_pairs = pps.n > tgs.n ? pps.n : tgs.n;
    const int max_rows = depths.n * n_pairs * 2;
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    int32_t *toks = malloc((size_t)(max_pp > 0 ? max_pp : 1) * sizeof *toks);
    int32_t *fill = malloc((size_t)(max_d > 0 ? max_d : 1) * sizeof *fill);
    double *runs = calloc((size_t)reps, sizeof *runs);
    row *rows = calloc((size_t)max_rows, sizeof *rows);
    int n_rows = 0, rc = APP_EXIT_OK;
    if (!logits || !toks || !fill || !runs || !rows) {
        app_error("out of memory");
        rc = APP_EXIT_FAIL;
        goto done;
    }
    double size_mib = (double)info.size_bytes / (1 << 20);
    double params_m = (double)info.n_params / 1e6;
    const char *name = app_base_name(model_path);
    uint64_t rng = 12345;
    for (long i = 0; i < max_d; i++) fill[i] = (int32_t)(rng_next(&rng) % (uint32_t)n_vocab);
    double warm;
    /* Warm-up: page the weights in and start the threads. */
    depth_state ds = {fill, 0};
    tk_status s = fill_depth(&tgt, &ds, logits);
    if (s == TK_OK)
        s = max_pp > 0 ? run_pp(&tgt, &ds, toks, (int)(max_pp < 32 ? max_pp : 32), n_vocab, &rng,
                                logits, &warm)
                       : run_tg(&tgt, &ds, 4, n_vocab, &rng, logits, &warm);
    if (!json && s == TK_OK) {
        printf("| model | arch | size | params | backend | threads | test | t/s |\n");
        printf("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
        fflush(stdout);
    }
    for (int di = 0; di < depths.n && s == TK_OK; di++) {
        ds.depth = (int)depths.v[di];
        if (c) s = fill_depth(&tgt, &ds, logits);
        for (int j = 0; j < 2 * n_pairs && s == TK_OK; j++) {
            const bool is_tg = j % 2 == 1;
            const values *vs = is_tg ? &tgs : &pps;
            if (j / 2 >= vs->n || vs->v[j / 2] == 0) continue;
            const int n = (int)vs->v[j / 2];
            for (long r = 0; r < reps && s == TK_OK; r++)
                s = is_tg ? run_tg(&tgt, &ds, n, n_vocab, &rng, logits, &runs[r])
                          : run_pp(&tgt, &ds, toks, n, n_vocab, &rng, logits, &runs[r]);
            if (s != TK_OK) break;
            row *rw = &rows[n_rows++];
            *rw = (row){ds.depth, n, is_tg, summarize(runs, (int)reps)};
            if (!json) {
                char test[48];
                if (ds.depth > 0)
                    snprintf(test, sizeof test, "%s%d @ d%d", is_tg ? "tg" : "pp", n, ds.depth);
                else
                    snprintf(test, sizeof test, "%s%d", is_tg ? "tg" : "pp", n);
                printf("| %s | %s | %.2f MiB | %.2f M | %s | %ld | %s | %.2f ± %.2f |\n", name,
                       info.arch, size_mib, params_m, backend_label, threads, test, rw->s.mean,
                       rw->s.sd);
                fflush(stdout);
            }
        }
    }
    if (s != TK_OK) {
        app_error("%s", tk_last_error());
        rc = APP_EXIT_FAIL;
        goto done;
    }
    /* Before the bandwidth measurement, whose buffer would count. */
    const uint64_t rss = peak_rss();
    const uint64_t ctx_mem = c ? tk_context_memory(c) : 0;
    uint64_t kv_f16 = 0;
    const uint64_t kv_mem = c ? tk_context_kv_bytes(c, &kv_f16) : 0;
    double bw = 0;
    if (bandwidth && max_tg > 0) tk_platform_measure_bandwidth((int)threads, 512u << 20, &bw);

    /* Generation streams every weight once per token: bandwidth / bytes is
     * the most tokens/s memory allows (at depth 0). */
    double roof = bw > 0 ? bw / (double)info.size_bytes : 0;
    /* A mixture of experts reads only the experts a token goes to (and no
     * embedding table): its roofline is that of the active bytes. */
    double roof_active = bw > 0 && active_bytes ? bw / (double)active_bytes : 0;
    if (json) {
        /* Per depth, the i-th -p value with the i-th -n value. */
        printf("[");
        int k = 0;
        for (int di = 0; di < depths.n; di++) {
            for (int i = 0; i < n_pairs; i++) {
                const row *pr = NULL, *tr = NULL;
                for (int q = 0; q < n_rows; q++) {
                    const row *rw = &rows[q];
                    if (rw->depth != depths.v[di]) continue;
                    if (!rw->tg && i < pps.n && rw->n == pps.v[i]) pr = rw;
                    if (rw->tg && i < tgs.n && rw->n == tgs.v[i]) tr = rw;
                }
                if (!pr && !tr) continue;
                printf("%s\n{\"model\":\"%s\",\"arch\":\"%s\",\"size_bytes\":%llu,\"params\":%llu,"
                       "\"backend\":\"%s\",\"kernel_level\":\"%s\",\"threads\":%ld,\"depth\":%ld",
                       k++ ? "," : "", name, info.arch, (unsigned long long)info.size_bytes,
                       (unsigned long long)info.n_params, c ? "CPU" : backend_label,
                       tk_kernel_level_name(level), threads, depths.v[di]);
                json_test(pr);
                json_test(tr);
                if (bw > 0 && tr)
                    printf(",\"bandwidth_gbs\":%.2f,\"tg_roofline_tps\":%.2f,"
                           "\"tg_roofline_fraction\":%.4f",
                           bw / 1e9, roof, tr->s.mean / roof);
                if (roof_active > 0 && tr)
                    printf(",\"active_bytes\":%llu,\"tg_roofline_active_tps\":%.2f,"
                           "\"tg_roofline_active_fraction\":%.4f",
                           (unsigned long long)active_bytes, roof_active, tr->s.mean / roof_active);
                printf(",\"context_bytes\":%llu", (unsigned long long)ctx_mem);
                if (c)
                    printf(",\"cache_type_k\":\"%s\",\"cache_type_v\":\"%s\",\"kv_bytes\":%llu,"
                           "\"kv_bytes_f16\":%llu",
                           tk_cache_type_name(type_k), tk_cache_type_name(type_v),
                           (unsigned long long)kv_mem, (unsigned long long)kv_f16);
                if (rss) printf(",\"peak_rss_bytes\":%llu", (unsigned long long)rss);
                printf("}");
            }
        }
        printf("\n]\n");
    } else {
        if (c)
            printf("\nkernel level: %s\n", tk_kernel_level_name(level));
        else
            printf("\nbackend: %s%s%s\n", tk_engine_display_name(e),
                   kind == TK_BACKEND_MLX ? ", MLX " : "",
                   kind == TK_BACKEND_MLX && tk_mlx_version() ? tk_mlx_version() : "");
        if (rss)
            printf("peak memory: %.1f MiB (model %.1f MiB, context %.1f MiB allocated)\n",
                   (double)rss / (1 << 20), size_mib, (double)ctx_mem / (1 << 20));
        if (c)
            printf("KV cache: K %s, V %s: %.1f MiB for %lld positions (%.0f%% of the %.1f MiB of "
                   "an f16 cache)\n",
                   tk_cache_type_name(type_k), tk_cache_type_name(type_v),
                   (double)kv_mem / (1 << 20), (long long)n_ctx,
                   100.0 * (double)kv_mem / (double)kv_f16, (double)kv_f16 / (1 << 20));
        for (int q = 0; bw > 0 && q < n_rows; q++)
            if (rows[q].tg && rows[q].depth == 0) {
                printf("memory bandwidth: %.1f GB/s (%ld threads); tg roofline %.1f t/s; "
                       "tg%ld reaches %.0f%% of it\n",
                       bw / 1e9, threads, roof, rows[q].n, 100 * rows[q].s.mean / roof);
                if (roof_active > 0)
                    printf("mixture of experts: %.1f MiB of weights active per token; "
                           "active-bytes tg roofline %.1f t/s; tg%ld reaches %.0f%% of it\n",
                           (double)active_bytes / (1 << 20), roof_active, rows[q].n,
                           100 * rows[q].s.mean / roof_active);
                break;
            }
    }
done:
    free(rows);
    free(runs);
    free(fill);
    free(toks);
    free(logits);
    tk_context_free(c);
    tk_model_free(m);
    tk_session_free(sess);
    tk_engine_free(e);
    return rc;
}
