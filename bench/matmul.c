/* Micro-benchmark of one packed matmul: a rows x cols weight matrix of
 * each type against n Q8 activation vectors, single thread, at every
 * kernel level this CPU runs (or the one TEKTRA_CPU names). Prints the
 * time per call and, for n = 1, the weight bytes streamed per second.
 *
 *   bench/matmul.sh [BUILD_DIR]   builds and runs it (see there)
 *   matmul [ROWS COLS [TYPE ...]] defaults: 896 4864 MLX4_G64 Q4_K Q4_1
 *
 * Not a test: numbers depend on the machine and its load. */
#include "core/core.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x243F6A8885A308D3ull;

static float grand(void)
{
    double s = 0.0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        s += (double)(rng >> 11) / 9007199254740992.0;
    }
    return (float)((s - 2.0) * 1.7320508);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best of several timed runs of `reps` calls, seconds per call. */
static double time_matmul(const kernels_t *k, const kernels_mat *w, const void *x, size_t xs,
                          int64_t n, float *y, void *scratch, int reps)
{
    const kernels_type *kt = &k->types[w->type];
    kt->matmul(w, 0, w->rows, x, xs, n, y, w->rows, scratch); /* warm up */
    double best = INFINITY;
    for (int run = 0; run < 5; run++) {
        const double t0 = now();
        for (int i = 0; i < reps; i++) kt->matmul(w, 0, w->rows, x, xs, n, y, w->rows, scratch);
        best = fmin(best, (now() - t0) / reps);
    }
    return best;
}

static int bench_type(const kernels_t *k, int type, int64_t rows, int64_t cols)
{
    const tk_type_info *ti = tk_type_get(type);
    const kernels_type *kt = &k->types[type];
    if (!ti || !kt->matmul || !kt->packed || kt->act != KERNELS_ACT_Q8 ||
        cols % ti->block_size != 0) {
        printf("  %-10s not a packed Q8 type at this level, or cols %% %d != 0\n",
               ti ? ti->name : "?", ti ? ti->block_size : 0);
        return 0;
    }
    uint64_t rb;
    if (tk_type_size(type, cols, &rb) != TK_OK) return 1;
    const size_t pb = kernels_packed_bytes(type, rows, cols);
    enum { NMAX = 512 };
    const size_t xs = kernels_act_bytes(cols);
    void *file = malloc((size_t)rows * rb);
    void *packed = aligned_alloc(64, (pb + 63) / 64 * 64);
    float *src = malloc((size_t)cols * sizeof *src);
    char *x = aligned_alloc(64, (NMAX * xs + 63) / 64 * 64);
    float *y = malloc((size_t)(NMAX * rows) * sizeof *y);
    void *scratch = aligned_alloc(64, (k->scratch_bytes(cols) + 63) / 64 * 64);
    int rc = 1;
    if (!file || !packed || !src || !x || !y || !scratch) goto done;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) src[c] = 0.02f * grand();
        tk_type_quantize(type, src, (char *)file + (size_t)r * rb, cols, 1);
    }
    kernels_pack(type, file, (size_t)rb, rows, cols, 0, (rows + 15) / 16, packed);
    for (int t = 0; t < NMAX; t++) {
        for (int64_t c = 0; c < cols; c++) src[c] = grand();
        k->quantize_act(src, cols, 0, cols / 32, x + (size_t)t * xs);
    }
    const kernels_mat w = {packed, type, cols, rows, (size_t)rb, true};
    const double t1 = time_matmul(k, &w, x, xs, 1, y, scratch, 200);
    const double tn = time_matmul(k, &w, x, xs, NMAX, y, scratch, 2);
    const double bpw = 8.0 * (double)pb / (double)(rows * cols);
    printf("  %-10s %5.2f bits/w  n=1: %8.1f us (%5.1f GB/s)  n=%d: %8.2f ms (%6.1f us/vector)\n",
           ti->name, bpw, t1 * 1e6, (double)pb / t1 * 1e-9, NMAX, tn * 1e3, tn / NMAX * 1e6);
    rc = 0;
done:
    free(file);
    free(packed);
    free(src);
    free(x);
    free(y);
    free(scratch);
    return rc;
}

int main(int argc, char **argv)
{
    int64_t rows = 896, cols = 4864;
    if (argc >= 3) {
        rows = atoll(argv[1]);
        cols = atoll(argv[2]);
    }
    if (rows < 1 || cols < 256 || cols % 256 != 0) {
        fprintf(stderr, "matmul: ROWS >= 1 and COLS a multiple of 256, please\n");
        return 2;
    }
    int types[32], nt = 0;
    for (int i = 3; i < argc && nt < 32; i++) {
        const int t = tk_type_from_name(argv[i]);
        if (t < 0) {
            fprintf(stderr, "matmul: unknown type %s\n", argv[i]);
            return 2;
        }
        types[nt++] = t;
    }
    if (nt == 0) {
        types[nt++] = TK_TYPE_MLX4_G64;
        types[nt++] = TK_TYPE_Q4_K;
        types[nt++] = TK_TYPE_Q4_1;
    }
    const char *forced = getenv("TEKTRA_CPU");
    int rc = 0;
    for (int l = TK_LEVEL_COUNT - 1; l > TK_LEVEL_GENERIC; l--) {
        const kernels_t *k = kernels_for_level((tk_kernel_level)l);
        if (!k || (forced && *forced && strcmp(forced, k->name) != 0)) continue;
        printf("level %s, %lld x %lld, 1 thread\n", k->name, (long long)rows, (long long)cols);
        for (int i = 0; i < nt; i++) rc |= bench_type(k, types[i], rows, cols);
    }
    return rc;
}
