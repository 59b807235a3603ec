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
           "tokens/s as mean ± standard deviation.\n\n"
           "Options:\n"
           "  -m, --model PATH   model: a GGUF file or a model directory (MLX / HF layout)\n"
           "  -p N               prompt tokens (default 512; 0 = skip)\n"
           "  -n N               generated tokens (default 128; 0 = skip)\n"
           "  -t, --threads N    threads (default: physical cores)\n"
           "  -r, --reps R       repetitions (default 3)\n"
           "      --backend NAME auto, gguf or mlx (default auto); mlx measures Apple's MLX\n"
           "                     on a model directory (Metal on Apple Silicon)\n"
           "      --no-bandwidth skip the memory bandwidth measurement\n"
           "      --json         print one JSON object instead of the table\n"
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

/* One pp run: n random tokens in one decode from an empty cache. */
static tk_status run_pp(const target *c, int32_t *toks, int n, int32_t n_vocab, uint64_t *rng,
                        float *logits, double *tps)
{
    for (int i = 0; i < n; i++) toks[i] = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
    target_reset(c);
    double t0 = tk_now();
    tk_status s = target_decode(c, toks, n, logits);
    double dt = tk_now() - t0;
    *tps = n / dt;
    return s;
}

/* One tg run: n single-token decodes after one token. */
static tk_status run_tg(const target *c, int n, int32_t n_vocab, uint64_t *rng, float *logits,
                        double *tps)
{
    target_reset(c);
    int32_t tok = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
    tk_status s = target_decode(c, &tok, 1, logits);
    double t0 = tk_now();
    for (int i = 0; i < n && s == TK_OK; i++) {
        tok = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
        s = target_decode(c, &tok, 1, logits);
    }
    double dt = tk_now() - t0;
    *tps = n / dt;
    return s;
}

int cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL, *backend = NULL;
    long n_pp = 512, n_tg = 128, threads = 0, reps = 3;
    bool json = false, bandwidth = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return APP_EXIT_OK;
        } else if (!strcmp(a, "-m") || app_flag_is(a, "--model")) {
            if (!(model_path = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (!strcmp(a, "-p")) {
            if (!(v = app_flag_value(argc, argv, &i)) || !app_parse_long("-p", v, 0, 65536, &n_pp))
                return APP_EXIT_USAGE;
        } else if (!strcmp(a, "-n")) {
            if (!(v = app_flag_value(argc, argv, &i)) || !app_parse_long("-n", v, 0, 65536, &n_tg))
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
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--no-bandwidth")) {
            bandwidth = false;
        } else {
            return app_usage_error("bench", "unknown option '%s'", a);
        }
    }
    if (!model_path) return app_usage_error("bench", "missing -m MODEL");
    if (n_pp == 0 && n_tg == 0) return app_usage_error("bench", "nothing to measure (-p 0 -n 0)");

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
    const int64_t n_ctx = (n_pp > n_tg + 1 ? n_pp : n_tg + 1) + 16;
    tk_model *m = NULL;
    tk_context *c = NULL;
    tk_engine *e = NULL;
    tk_session *sess = NULL;
    tk_model_info info;
    uint64_t active_bytes = 0; /* MoE only */
    char backend_label[64];
    if (kind == TK_BACKEND_GGUF) {
        /* The CPU engine directly, with a batch as large as the prompt. */
        app_status("loading %s...", app_base_name(model_path));
        tk_status ls = tk_model_load(model_path, &m);
        app_status_clear();
        if (ls != TK_OK) {
            app_error("%s", tk_last_error());
            return APP_EXIT_FAIL;
        }
        tk_context_params cp = tk_context_default_params();
        cp.n_ctx = (int32_t)n_ctx;
        cp.n_batch = (int32_t)(n_pp > 0 ? n_pp : 1);
        cp.n_threads = (int32_t)threads;
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
        if (!app_tool_session(kind, model_path, n_ctx, threads, &e, &sess)) return APP_EXIT_FAIL;
        tk_engine_model_info(e, &info);
        snprintf(backend_label, sizeof backend_label, "%s", tk_engine_backend_name(e));
    }
    const target tgt = {c, sess};
    int32_t n_vocab = info.n_vocab;
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    int32_t *toks = malloc((size_t)(n_pp > 0 ? n_pp : 1) * sizeof *toks);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    int rc = APP_EXIT_OK;
    if (!logits || !toks || !pp || !tg) {
        app_error("out of memory");
        rc = APP_EXIT_FAIL;
        goto done;
    }
    uint64_t rng = 12345;
    double warm;
    const char *name = app_base_name(model_path);
    double size_mib = (double)info.size_bytes / (1 << 20);
    double params_m = (double)info.n_params / 1e6;
    /* Warm-up: page the weights in and start the threads. */
    tk_status s =
        n_pp > 0 ? run_pp(&tgt, toks, (int)(n_pp < 32 ? n_pp : 32), n_vocab, &rng, logits, &warm)
                 : run_tg(&tgt, 4, n_vocab, &rng, logits, &warm);
    /* Each test runs all its repetitions (as llama-bench does), and its row
     * is printed as soon as it is measured. */
    if (!json && s == TK_OK) {
        printf("| model | arch | size | params | backend | threads | test | t/s |\n");
        printf("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
        fflush(stdout);
    }
    stats spp = {0, 0}, stg = {0, 0};
    for (long r = 0; r < reps && s == TK_OK && n_pp > 0; r++)
        s = run_pp(&tgt, toks, (int)n_pp, n_vocab, &rng, logits, &pp[r]);
    if (s == TK_OK && n_pp > 0) {
        spp = summarize(pp, (int)reps);
        if (!json) {
            printf("| %s | %s | %.2f MiB | %.2f M | %s | %ld | pp%ld | %.2f ± %.2f |\n", name,
                   info.arch, size_mib, params_m, backend_label, threads, n_pp, spp.mean, spp.sd);
            fflush(stdout);
        }
    }
    for (long r = 0; r < reps && s == TK_OK && n_tg > 0; r++)
        s = run_tg(&tgt, (int)n_tg, n_vocab, &rng, logits, &tg[r]);
    if (s == TK_OK && n_tg > 0) {
        stg = summarize(tg, (int)reps);
        if (!json) {
            printf("| %s | %s | %.2f MiB | %.2f M | %s | %ld | tg%ld | %.2f ± %.2f |\n", name,
                   info.arch, size_mib, params_m, backend_label, threads, n_tg, stg.mean, stg.sd);
            fflush(stdout);
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
    double bw = 0;
    if (bandwidth && n_tg > 0) tk_platform_measure_bandwidth((int)threads, 512u << 20, &bw);

    /* Generation streams every weight once per token: bandwidth / bytes is
     * the most tokens/s memory allows. */
    double roof = bw > 0 ? bw / (double)info.size_bytes : 0;
    /* A mixture of experts reads only the experts a token goes to (and no
     * embedding table): its roofline is that of the active bytes. */
    double roof_active = bw > 0 && active_bytes ? bw / (double)active_bytes : 0;
    if (json) {
        printf("{\"model\":\"%s\",\"arch\":\"%s\",\"size_bytes\":%llu,\"params\":%llu,"
               "\"backend\":\"%s\",\"kernel_level\":\"%s\",\"threads\":%ld",
               name, info.arch, (unsigned long long)info.size_bytes,
               (unsigned long long)info.n_params, c ? "CPU" : backend_label,
               tk_kernel_level_name(level), threads);
        if (n_pp > 0)
            printf(",\"pp\":{\"n\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f}", n_pp, spp.mean, spp.sd);
        if (n_tg > 0)
            printf(",\"tg\":{\"n\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f}", n_tg, stg.mean, stg.sd);
        if (bw > 0)
            printf(",\"bandwidth_gbs\":%.2f,\"tg_roofline_tps\":%.2f,"
                   "\"tg_roofline_fraction\":%.4f",
                   bw / 1e9, roof, stg.mean / roof);
        if (roof_active > 0)
            printf(",\"active_bytes\":%llu,\"tg_roofline_active_tps\":%.2f,"
                   "\"tg_roofline_active_fraction\":%.4f",
                   (unsigned long long)active_bytes, roof_active, stg.mean / roof_active);
        printf(",\"context_bytes\":%llu", (unsigned long long)ctx_mem);
        if (rss) printf(",\"peak_rss_bytes\":%llu", (unsigned long long)rss);
        printf("}\n");
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
        if (bw > 0)
            printf("memory bandwidth: %.1f GB/s (%ld threads); tg roofline %.1f t/s; "
                   "tg%ld reaches %.0f%% of it\n",
                   bw / 1e9, threads, roof, n_tg, 100 * stg.mean / roof);
        if (roof_active > 0)
            printf("mixture of experts: %.1f MiB of weights active per token; active-bytes tg "
                   "roofline %.1f t/s; tg%ld reaches %.0f%% of it\n",
                   (double)active_bytes / (1 << 20), roof_active, n_tg,
                   100 * stg.mean / roof_active);
    }
done:
    free(pp);
    free(tg);
    free(toks);
    free(logits);
    tk_context_free(c);
    tk_model_free(m);
    tk_session_free(sess);
    tk_engine_free(e);
    return rc;
}
