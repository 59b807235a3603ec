/* tektra bench: prompt processing (pp) and token generation (tg) speed, in
 * the table format of the common llama-bench tool, plus the kernel level,
 * the measured memory bandwidth and the tg roofline fraction. */
#include "app.h"

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

/* One pp run: n random tokens in one decode from an empty cache. */
static tk_status run_pp(tk_context *c, int32_t *toks, int n, int32_t n_vocab, uint64_t *rng,
                        float *logits, double *tps)
{
    for (int i = 0; i < n; i++) toks[i] = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
    tk_context_reset(c);
    double t0 = tk_now();
    tk_status s = tk_context_decode(c, toks, n, logits, false);
    double dt = tk_now() - t0;
    *tps = n / dt;
    return s;
}

/* One tg run: n single-token decodes after one token. */
static tk_status run_tg(tk_context *c, int n, int32_t n_vocab, uint64_t *rng, float *logits,
                        double *tps)
{
    tk_context_reset(c);
    int32_t tok = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
    tk_status s = tk_context_decode(c, &tok, 1, logits, false);
    double t0 = tk_now();
    for (int i = 0; i < n && s == TK_OK; i++) {
        tok = (int32_t)(rng_next(rng) % (uint32_t)n_vocab);
        s = tk_context_decode(c, &tok, 1, logits, false);
    }
    double dt = tk_now() - t0;
    *tps = n / dt;
    return s;
}

int cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL;
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

    tk_model *m;
    if (tk_model_load(model_path, &m) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    tk_context_params cp = tk_context_default_params();
    cp.n_ctx = (int32_t)((n_pp > n_tg + 1 ? n_pp : n_tg + 1) + 16);
    cp.n_batch = (int32_t)(n_pp > 0 ? n_pp : 1);
    cp.n_threads = (int32_t)threads;
    tk_context *c;
    if (tk_context_create(m, &cp, &c) != TK_OK) {
        app_error("%s", tk_last_error());
        tk_model_free(m);
        return APP_EXIT_FAIL;
    }
    int32_t n_vocab = tk_model_n_vocab(m);
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
    /* Warm-up: page the weights in and start the threads. */
    tk_status s = n_pp > 0
                      ? run_pp(c, toks, (int)(n_pp < 32 ? n_pp : 32), n_vocab, &rng, logits, &warm)
                      : run_tg(c, 4, n_vocab, &rng, logits, &warm);
    for (long r = 0; r < reps && s == TK_OK; r++) {
        if (n_pp > 0) s = run_pp(c, toks, (int)n_pp, n_vocab, &rng, logits, &pp[r]);
        if (s == TK_OK && n_tg > 0) s = run_tg(c, (int)n_tg, n_vocab, &rng, logits, &tg[r]);
    }
    if (s != TK_OK) {
        app_error("%s", tk_last_error());
        rc = APP_EXIT_FAIL;
        goto done;
    }
    /* Before the bandwidth measurement, whose buffer would count. */
    const uint64_t rss = peak_rss();
    const uint64_t ctx_mem = tk_context_memory(c);
    double bw = 0;
    if (bandwidth && n_tg > 0) tk_platform_measure_bandwidth((int)threads, 512u << 20, &bw);

    stats spp = summarize(pp, (int)reps), stg = summarize(tg, (int)reps);
    double size_mib = (double)tk_model_size_bytes(m) / (1 << 20);
    double params_m = (double)tk_model_n_params(m) / 1e6;
    /* Generation streams every weight once per token: bandwidth / bytes is
     * the most tokens/s memory allows. */
    double roof = bw > 0 ? bw / (double)tk_model_size_bytes(m) : 0;
    const char *name = strrchr(model_path, '/');
    name = name ? name + 1 : model_path;
    if (json) {
        printf("{\"model\":\"%s\",\"arch\":\"%s\",\"size_bytes\":%llu,\"params\":%llu,"
               "\"backend\":\"CPU\",\"kernel_level\":\"%s\",\"threads\":%ld",
               name, tk_model_arch(m), (unsigned long long)tk_model_size_bytes(m),
               (unsigned long long)tk_model_n_params(m), tk_kernel_level_name(level), threads);
        if (n_pp > 0)
            printf(",\"pp\":{\"n\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f}", n_pp, spp.mean, spp.sd);
        if (n_tg > 0)
            printf(",\"tg\":{\"n\":%ld,\"tps_mean\":%.3f,\"tps_sd\":%.3f}", n_tg, stg.mean, stg.sd);
        if (bw > 0)
            printf(",\"bandwidth_gbs\":%.2f,\"tg_roofline_tps\":%.2f,"
                   "\"tg_roofline_fraction\":%.4f",
                   bw / 1e9, roof, stg.mean / roof);
        printf(",\"context_bytes\":%llu", (unsigned long long)ctx_mem);
        if (rss) printf(",\"peak_rss_bytes\":%llu", (unsigned long long)rss);
        printf("}\n");
    } else {
        printf("| model | arch | size | params | backend | threads | test | t/s |\n");
        printf("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
        if (n_pp > 0)
            printf("| %s | %s | %.2f MiB | %.2f M | CPU (%s) | %ld | pp%ld | %.2f ± %.2f |\n", name,
                   tk_model_arch(m), size_mib, params_m, tk_kernel_level_name(level), threads, n_pp,
                   spp.mean, spp.sd);
        if (n_tg > 0)
            printf("| %s | %s | %.2f MiB | %.2f M | CPU (%s) | %ld | tg%ld | %.2f ± %.2f |\n", name,
                   tk_model_arch(m), size_mib, params_m, tk_kernel_level_name(level), threads, n_tg,
                   stg.mean, stg.sd);
        printf("\nkernel level: %s\n", tk_kernel_level_name(level));
        if (rss)
            printf("peak memory: %.1f MiB (model %.1f MiB, context %.1f MiB allocated)\n",
                   (double)rss / (1 << 20), size_mib, (double)ctx_mem / (1 << 20));
        if (bw > 0)
            printf("memory bandwidth: %.1f GB/s (%ld threads); tg roofline %.1f t/s; "
                   "tg%ld reaches %.0f%% of it\n",
                   bw / 1e9, threads, roof, n_tg, 100 * stg.mean / roof);
    }
done:
    free(pp);
    free(tg);
    free(toks);
    free(logits);
    tk_context_free(c);
    tk_model_free(m);
    return rc;
}
