/* Memory read bandwidth: the ceiling of token generation, which streams
 * every weight once per token. */
#include "tektra/platform.h"

#include "core/core.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct bw_job {
    const uint64_t *data;
    size_t n; /* words */
    int passes;
    uint64_t sum; /* keeps the reads from being optimised away */
} bw_job;

static void *bw_worker(void *arg)
{
    bw_job *j = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int p = 0; p < j->passes; p++) {
        for (size_t i = 0; i + 4 <= j->n; i += 4) {
            s0 += j->data[i];
            s1 += j->data[i + 1];
            s2 += j->data[i + 2];
            s3 += j->data[i + 3];
        }
    }
    j->sum = s0 ^ s1 ^ s2 ^ s3;
    return NULL;
}

tk_status tk_platform_measure_bandwidth(int n_threads, size_t bytes, double *out)
{
    *out = 0;
    if (n_threads < 1 || n_threads > 256) return core_error(TK_ERR_INVALID_ARG, "threads");
    if (bytes < (1u << 20)) bytes = 1u << 20;
    size_t words = bytes / sizeof(uint64_t);
    uint64_t *data = malloc(words * sizeof *data);
    if (!data) return core_error(TK_ERR_NOMEM, "out of memory for %zu bytes", bytes);
    for (size_t i = 0; i < words; i++) data[i] = i * 0x9e3779b97f4a7c15ull;

    bw_job jobs[256];
    pthread_t th[256];
    size_t per = words / (size_t)n_threads;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = core_now();
        for (int t = 0; t < n_threads; t++) {
            jobs[t] = (bw_job){data + per * (size_t)t, per, 2, 0};
            if (t > 0) pthread_create(&th[t], NULL, bw_worker, &jobs[t]);
        }
        bw_worker(&jobs[0]);
        for (int t = 1; t < n_threads; t++) pthread_join(th[t], NULL);
        double dt = core_now() - t0;
        double bw = (double)(per * (size_t)n_threads * sizeof(uint64_t)) * 2 / dt;
        if (bw > best) best = bw;
    }
    volatile uint64_t sink = 0;
    for (int t = 0; t < n_threads; t++) sink ^= jobs[t].sum;
    (void)sink;
    free(data);
    *out = best;
    return TK_OK;
}

tk_status tk_platform_measure_quick(tk_platform *p)
{
    if (p->mem_bandwidth > 0) return TK_OK;
    int n = p->n_physical_cores > 0 ? p->n_physical_cores : 1;
    return tk_platform_measure_bandwidth(n > 256 ? 256 : n, 128u << 20, &p->mem_bandwidth);
}
