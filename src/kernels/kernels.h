/* Compute kernels of the CPU engine: matrix products for every tensor type
 * and the float vector operations of attention.
 *
 * Layering (STYLE.md rule 8): the `*_ref` functions in kernels_ref.c are
 * plain C and are the specification; per-ISA files (kernels_avx2.c, ...)
 * may provide faster versions of any entry. kernels_get() fills one table
 * once, the first time it is called, with the best level this CPU supports
 * (TEKTRA_KERNELS=ref forces the reference level), and every caller goes
 * through that table. An entry of a faster level must compute each output
 * element with arithmetic that does not depend on how the rows are split
 * among threads, so results are identical for any thread count.
 */
#ifndef TK_KERNELS_H
#define TK_KERNELS_H

#include "tektra/quant.h"

#include <stddef.h>
#include <stdint.h>

/* Matrix product of a row range of one weight matrix with n activation
 * vectors:
 *
 *     y[t * ldy + r] = sum_c W[r][c] * x[t * ldx + c]   for r0 <= r < r1, 0 <= t < n
 *
 * W: `rows` rows of `cols` elements in the kernel's tensor type, row r at
 *    (const char *)w + r * row_bytes (borrowed, usually the mapped file).
 * x: n vectors of `cols` floats, ldx floats apart.
 * y: written at the positions above only.
 * scratch: per-thread memory of kernels_t.scratch_floats(cols) floats, used
 *    for dequantized rows (or quantized activations at faster levels).
 * cols is a multiple of the type's block size (checked at model load). */
typedef void (*kernels_matmul_fn)(const void *w, size_t row_bytes, int64_t cols, int64_t r0,
                                  int64_t r1, const float *x, int64_t ldx, int64_t n, float *y,
                                  int64_t ldy, float *scratch);

/* One row per tensor type: what the engine needs to multiply by it. */
typedef struct kernels_type {
    kernels_matmul_fn matmul; /* NULL when the type cannot be a weight */
} kernels_type;

typedef struct kernels_t {
    const char *level; /* "ref", later "avx2", "neon", ... */
    kernels_type types[TK_TYPE_COUNT];

    /* Floats of per-thread scratch that matmul needs for rows of `cols`. */
    size_t (*scratch_floats)(int64_t cols);

    /* Attention over a KV cache stored as F32 or F16 (IEEE half). */
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    float (*dot_f16)(const uint16_t *a, const float *b, int64_t n);
    /* y[i] += a * x[i] */
    void (*axpy_f32)(float *y, float a, const float *x, int64_t n);
    void (*axpy_f16)(float *y, float a, const uint16_t *x, int64_t n);
} kernels_t;

/* The table of the best available level. Never NULL; filled once
 * (thread-safe), then read-only. */
const kernels_t *kernels_get(void);

/* The reference table (plain C), for tests that compare levels. */
const kernels_t *kernels_ref(void);

/* Fills `k` with the reference level (every entry set that the type table
 * supports). Per-ISA fill functions start from it and replace entries. */
void kernels_fill_ref(kernels_t *k);

/* Reference entries, exposed so per-ISA tables can fall back to them. */
void kernels_matmul_f32_ref(const void *w, size_t row_bytes, int64_t cols, int64_t r0, int64_t r1,
                            const float *x, int64_t ldx, int64_t n, float *y, int64_t ldy,
                            float *scratch);
void kernels_matmul_dequant_ref(int type, const void *w, size_t row_bytes, int64_t cols, int64_t r0,
                                int64_t r1, const float *x, int64_t ldx, int64_t n, float *y,
                                int64_t ldy, float *scratch);
size_t kernels_scratch_floats_ref(int64_t cols);
float kernels_dot_f32_ref(const float *a, const float *b, int64_t n);
float kernels_dot_f16_ref(const uint16_t *a, const float *b, int64_t n);
void kernels_axpy_f32_ref(float *y, float a, const float *x, int64_t n);
void kernels_axpy_f16_ref(float *y, float a, const uint16_t *x, int64_t n);

#endif
