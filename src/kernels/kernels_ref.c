/* Reference kernels: plain C, the specification of every faster level.
 *
 * Quantized and half-precision weights are multiplied by dequantizing one
 * row at a time with the type table's reference dequantize (exact
 * arithmetic on the stored blocks) and taking float dot products with the
 * activations, so each row is decoded once per matmul call whatever the
 * number of activation vectors. */
#include "kernels/kernels.h"

#include "core/core.h"

#include <string.h>

float kernels_dot_f32_ref(const float *a, const float *b, int64_t n)
{
    /* Four partial sums: the same association a vector unit would use keeps
     * the reference close to faster levels, and it pipelines better. */
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i + 0] * b[i + 0];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

float kernels_dot_f16_ref(const uint16_t *a, const float *b, int64_t n)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += tk_fp16_to_fp32(a[i + 0]) * b[i + 0];
        s1 += tk_fp16_to_fp32(a[i + 1]) * b[i + 1];
        s2 += tk_fp16_to_fp32(a[i + 2]) * b[i + 2];
        s3 += tk_fp16_to_fp32(a[i + 3]) * b[i + 3];
    }
    for (; i < n; i++) s0 += tk_fp16_to_fp32(a[i]) * b[i];
    return (s0 + s1) + (s2 + s3);
}

void kernels_axpy_f32_ref(float *y, float a, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void kernels_axpy_f16_ref(float *y, float a, const uint16_t *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += a * tk_fp16_to_fp32(x[i]);
}

size_t kernels_scratch_floats_ref(int64_t cols)
{
    return (size_t)cols;
}

void kernels_matmul_f32_ref(const void *w, size_t row_bytes, int64_t cols, int64_t r0, int64_t r1,
                            const float *x, int64_t ldx, int64_t n, float *y, int64_t ldy,
                            float *scratch)
{
    (void)scratch;
    for (int64_t r = r0; r < r1; r++) {
        const float *row = (const float *)(const void *)((const char *)w + (size_t)r * row_bytes);
        for (int64_t t = 0; t < n; t++)
            y[t * ldy + r] = kernels_dot_f32_ref(row, x + t * ldx, cols);
    }
}

void kernels_matmul_dequant_ref(int type, const void *w, size_t row_bytes, int64_t cols, int64_t r0,
                                int64_t r1, const float *x, int64_t ldx, int64_t n, float *y,
                                int64_t ldy, float *scratch)
{
    const tk_type_info *ti = tk_type_get(type);
    for (int64_t r = r0; r < r1; r++) {
        ti->dequantize((const char *)w + (size_t)r * row_bytes, scratch, cols);
        for (int64_t t = 0; t < n; t++)
            y[t * ldy + r] = kernels_dot_f32_ref(scratch, x + t * ldx, cols);
    }
}

/* One thin wrapper per type, so that the table holds plain function
 * pointers with the type bound in (faster levels replace them one by one). */
#define KERNELS_DEQUANT_MATMUL(name, type)                                                         \
    static void kernels_matmul_##name##_ref(const void *w, size_t row_bytes, int64_t cols,         \
                                            int64_t r0, int64_t r1, const float *x, int64_t ldx,   \
                                            int64_t n, float *y, int64_t ldy, float *scratch)      \
    {                                                                                              \
        kernels_matmul_dequant_ref(type, w, row_bytes, cols, r0, r1, x, ldx, n, y, ldy, scratch);  \
    }

#define KERNELS_WEIGHT_TYPES(X)                                                                    \
    X(f16, TK_TYPE_F16)                                                                            \
    X(bf16, TK_TYPE_BF16)                                                                          \
    X(q4_0, TK_TYPE_Q4_0)                                                                          \
    X(q4_1, TK_TYPE_Q4_1)                                                                          \
    X(q5_0, TK_TYPE_Q5_0)                                                                          \
    X(q5_1, TK_TYPE_Q5_1)                                                                          \
    X(q8_0, TK_TYPE_Q8_0)                                                                          \
    X(q2_k, TK_TYPE_Q2_K)                                                                          \
    X(q3_k, TK_TYPE_Q3_K)                                                                          \
    X(q4_k, TK_TYPE_Q4_K)                                                                          \
    X(q5_k, TK_TYPE_Q5_K)                                                                          \
    X(q6_k, TK_TYPE_Q6_K)                                                                          \
    X(iq4_nl, TK_TYPE_IQ4_NL)                                                                      \
    X(iq4_xs, TK_TYPE_IQ4_XS)

KERNELS_WEIGHT_TYPES(KERNELS_DEQUANT_MATMUL)

/* Types that the type table does not know (or cannot dequantize) get no
 * matmul, so the model loader refuses them with a message. */
void kernels_fill_ref(kernels_t *k)
{
    memset(k, 0, sizeof *k);
    k->level = "ref";
    k->types[TK_TYPE_F32].matmul = kernels_matmul_f32_ref;
#define KERNELS_SET_ROW(name, type)                                                                \
    if (tk_type_get(type) && tk_type_get(type)->dequantize)                                        \
        k->types[type].matmul = kernels_matmul_##name##_ref;
    KERNELS_WEIGHT_TYPES(KERNELS_SET_ROW)
#undef KERNELS_SET_ROW
    k->scratch_floats = kernels_scratch_floats_ref;
    k->dot_f32 = kernels_dot_f32_ref;
    k->dot_f16 = kernels_dot_f16_ref;
    k->axpy_f32 = kernels_axpy_f32_ref;
    k->axpy_f16 = kernels_axpy_f16_ref;
}
