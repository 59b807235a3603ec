/* The MLX affine types: MLX4_G32 .. MLX8_G128 (layouts: quant/quant.h).
 *
 * dequantize is the definition the rest of the engine must reproduce bit
 * for bit: x = scale * (float)q + bias in float32, the product rounded
 * before the sum (never a fused multiply-add), which is also how the golden
 * data of model directories was computed.
 *
 * quantize follows MLX's affine rule: per group, scale = (max - min) /
 * (2^bits - 1) and bias = min, q = round((x - bias) / scale) clamped to the
 * code range. */
#include "quant/quant.h"

#include <math.h>

/* The float products are separate statements: a compiler that contracts
 * within an expression (clang's default) must not fuse them. */
static inline float mlx_value(float scale, int q, float bias)
{
    const float p = scale * (float)q;
    return p + bias;
}

static inline __attribute__((always_inline)) void mlx_dequantize(const void *src, float *dst,
                                                                 int64_t n, int group, int bits)
{
    const uint8_t *p = src;
    const size_t bb = MLX_BLOCK_BYTES((size_t)group, (size_t)bits);
    for (int64_t i = 0; i < n / group; i++) {
        const uint8_t *b = p + (size_t)i * bb;
        const float scale = quant_le_f32(b), bias = quant_le_f32(b + 4);
        const uint8_t *q = b + 8;
        float *y = dst + i * group;
        if (bits == 4) {
            for (int j = 0; j < group / 2; j++) {
                y[2 * j] = mlx_value(scale, q[j] & 15, bias);
                y[2 * j + 1] = mlx_value(scale, q[j] >> 4, bias);
            }
        } else {
            for (int j = 0; j < group; j++) y[j] = mlx_value(scale, q[j], bias);
        }
    }
}

/* Non-finite inputs are left out of the range (a group without a finite
 * value is all zero); they round to a valid code: NaN and -inf to 0, +inf
 * to the top. The range is taken in double so that it cannot overflow. */
static inline __attribute__((always_inline)) void mlx_quantize(const float *src, void *dst,
                                                               int64_t n, int group, int bits)
{
    uint8_t *p = dst;
    const size_t bb = MLX_BLOCK_BYTES((size_t)group, (size_t)bits);
    const int qmax = (1 << bits) - 1;
    for (int64_t i = 0; i < n / group; i++) {
        const float *x = src + i * group;
        float lo = INFINITY, hi = -INFINITY;
        for (int j = 0; j < group; j++) {
            if (!isfinite(x[j])) continue;
            lo = fminf(lo, x[j]);
            hi = fmaxf(hi, x[j]);
        }
        if (lo > hi) lo = hi = 0.0f;
        const float scale = (float)(((double)hi - (double)lo) / qmax);
        const float bias = lo;
        /* a constant group (or a range below the smallest scale) is its
         * bias alone, q = 0 */
        const double inv = scale > 0.0f ? 1.0 / (double)scale : 0.0;
        uint8_t q[128];
        for (int j = 0; j < group; j++)
            q[j] = (uint8_t)quant_round_clamp((float)(((double)x[j] - bias) * inv), 0, qmax);
        uint8_t *b = p + (size_t)i * bb;
        quant_put_le_f32(b, scale);
        quant_put_le_f32(b + 4, bias);
        if (bits == 4)
            for (int j = 0; j < group / 2; j++) b[8 + j] = (uint8_t)(q[2 * j] | q[2 * j + 1] << 4);
        else
            memcpy(b + 8, q, (size_t)group);
    }
}

#define DEFINE_MLX(name, GROUP, BITS)                                                              \
    void quant_dequantize_##name(const void *src, float *dst, int64_t n)                           \
    {                                                                                              \
        mlx_dequantize(src, dst, n, GROUP, BITS);                                                  \
    }                                                                                              \
    void quant_quantize_##name(const float *src, void *dst, int64_t n)                             \
    {                                                                                              \
        mlx_quantize(src, dst, n, GROUP, BITS);                                                    \
    }

DEFINE_MLX(mlx4_g32, 32, 4)
DEFINE_MLX(mlx4_g64, 64, 4)
DEFINE_MLX(mlx4_g128, 128, 4)
DEFINE_MLX(mlx8_g32, 32, 8)
DEFINE_MLX(mlx8_g64, 64, 8)
DEFINE_MLX(mlx8_g128, 128, 8)
