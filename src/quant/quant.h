/* Internal side of the tensor type table (see include/tektra/quant.h).
 *
 * One quant_type row per tensor type. The public tk_type_info is the first
 * member, so tk_type_get() hands out a pointer into this table; the kernel
 * work adds its fields (dot products, activation type) after it.
 *
 * Block layouts follow the public ggml/GGUF format (ggml-common.h): all
 * multi-byte fields little-endian, fp16 scales stored as raw IEEE half bits.
 * The structs below are byte-exact (checked by the static asserts). Mapped
 * tensor data carries no alignment promise beyond what the file chose, so the
 * reference code copies each block into a local struct (memcpy) instead of
 * dereferencing the mapped bytes as structs, and reads 16-bit fields through
 * quant_le16(). Q8_K (float d, int16 bsums) only ever lives in memory, in
 * host byte order.
 */
#ifndef TK_QUANT_INTERNAL_H
#define TK_QUANT_INTERNAL_H

#include "tektra/quant.h"

#include <assert.h>
#include <string.h>

#define QK4_0        32
#define QK4_1        32
#define QK5_0        32
#define QK5_1        32
#define QK8_0        32
#define QK4_NL       32
#define QK_K         256
#define K_SCALE_SIZE 12

/* Q4_0: x = d * (q - 8), q in 0..15. qs[j] low nibble = element j,
 * high nibble = element j + 16. */
typedef struct block_q4_0 {
    uint16_t d; /* fp16 */
    uint8_t qs[QK4_0 / 2];
} block_q4_0;

/* Q4_1: x = d * q + m, q in 0..15; nibbles as Q4_0. */
typedef struct block_q4_1 {
    uint16_t d; /* fp16 */
    uint16_t m; /* fp16 */
    uint8_t qs[QK4_1 / 2];
} block_q4_1;

/* Q5_0: x = d * (q - 16), q in 0..31: low 4 bits as Q4_0, bit 4 of element
 * j is bit j of the little-endian 32-bit qh. */
typedef struct block_q5_0 {
    uint16_t d; /* fp16 */
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
} block_q5_0;

/* Q5_1: x = d * q + m, q in 0..31; bits as Q5_0. */
typedef struct block_q5_1 {
    uint16_t d; /* fp16 */
    uint16_t m; /* fp16 */
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;

/* Q8_0: x = d * q, q int8 (our quantizer uses -127..127). */
typedef struct block_q8_0 {
    uint16_t d; /* fp16 */
    int8_t qs[QK8_0];
} block_q8_0;

/* Q2_K: 16 sub-blocks of 16. scales[i]: low nibble scale, high nibble min;
 * x = d * (sc & 15) * q - dmin * (sc >> 4), q in 0..3. Element
 * 128*h + 32*j + l (l < 32) is bits 2j..2j+1 of qs[32*h + l], sub-block
 * 8*h + 2*j + l/16. */
typedef struct block_q2_K {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    uint16_t d;    /* fp16 */
    uint16_t dmin; /* fp16 */
} block_q2_K;

/* Q3_K: 16 sub-blocks of 16, x = d * (sc - 32) * (q - 4), q in 0..7. Element
 * 128*h + 32*j + l: low 2 bits = bits 2j of qs[32*h + l], bit 2 = bit 4h+j of
 * hmask[l]; sub-block 8*h + 2*j + l/16. The 6-bit scale i has its low 4 bits
 * in scales[i % 8] (low nibble for i < 8, high nibble otherwise) and its high
 * 2 bits at bits 2*(i/4) of scales[8 + i % 4]. */
typedef struct block_q3_K {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[K_SCALE_SIZE];
    uint16_t d; /* fp16 */
} block_q3_K;

/* Q4_K: 8 sub-blocks of 32 with 6-bit scale and min (packing: see
 * quant_get_scale_min_k4); x = d * sc * q - dmin * m, q in 0..15. Element
 * 64*j + l is the low nibble of qs[32*j + l] (sub-block 2j), element
 * 64*j + 32 + l the high nibble (sub-block 2j+1). */
typedef struct block_q4_K {
    uint16_t d;    /* fp16 */
    uint16_t dmin; /* fp16 */
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;

/* Q5_K: Q4_K plus a fifth bit: element 64*j + l has it at bit 2j of qh[l],
 * element 64*j + 32 + l at bit 2j+1. q in 0..31. */
typedef struct block_q5_K {
    uint16_t d;    /* fp16 */
    uint16_t dmin; /* fp16 */
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;

/* Q6_K: 16 sub-blocks of 16, x = d * scales[s] * (q - 32), q in 0..63.
 * Element 128*h + 32*k + l (k < 4, l < 32): low 4 bits from ql[64*h + l +
 * 32*(k & 1)] (low nibble for k < 2, high nibble for k >= 2), high 2 bits at
 * bits 2k of qh[32*h + l]; sub-block 8*h + 2*k + l/16. */
typedef struct block_q6_K {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d; /* fp16 */
} block_q6_K;

/* Q8_K: the activation type of K-quant dot products. x = d * q with a float
 * d; bsums[i] = sum of qs[16*i .. 16*i+15]. */
typedef struct block_q8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;

/* IQ4_NL: x = d * kvalues_iq4nl[q], nibbles as Q4_0. */
typedef struct block_iq4_nl {
    uint16_t d; /* fp16 */
    uint8_t qs[QK4_NL / 2];
} block_iq4_nl;

/* IQ4_XS: 8 sub-blocks of 32, x = d * (ls - 32) * kvalues_iq4nl[q]; ls is 6
 * bits: low 4 bits in scales_l[ib / 2] (nibble ib % 2), high 2 bits at bits
 * 2*ib of scales_h. Sub-block ib uses qs[16*ib ..] with the Q4_0 nibble
 * layout. */
typedef struct block_iq4_xs {
    uint16_t d; /* fp16 */
    uint16_t scales_h;
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
} block_iq4_xs;

static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");
static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");

/* MLX affine types (include/tektra/quant.h): one block is one group of G
 * consecutive elements of a row, x = scale * q + bias with q unsigned
 * (0..15 or 0..255). scale and bias are little-endian IEEE f32 (the loader
 * widens MLX's bf16/f16 values exactly). MLX4: element j in bits 4 * (j % 2)
 * of q[j / 2] (MLX's uint32 words, little end first, read as bytes); MLX8:
 * element j in q[j]. */
#define MLX_BLOCK_BYTES(group, bits) (8 + (group) * (bits) / 8)

typedef struct block_mlx4_g32 {
    float scale, bias;
    uint8_t q[32 / 2];
} block_mlx4_g32;
typedef struct block_mlx4_g64 {
    float scale, bias;
    uint8_t q[64 / 2];
} block_mlx4_g64;
typedef struct block_mlx4_g128 {
    float scale, bias;
    uint8_t q[128 / 2];
} block_mlx4_g128;
typedef struct block_mlx8_g32 {
    float scale, bias;
    uint8_t q[32];
} block_mlx8_g32;
typedef struct block_mlx8_g64 {
    float scale, bias;
    uint8_t q[64];
} block_mlx8_g64;
typedef struct block_mlx8_g128 {
    float scale, bias;
    uint8_t q[128];
} block_mlx8_g128;

static_assert(sizeof(block_mlx4_g32) == 24 && MLX_BLOCK_BYTES(32, 4) == 24, "MLX4_G32 size");
static_assert(sizeof(block_mlx4_g64) == 40 && MLX_BLOCK_BYTES(64, 4) == 40, "MLX4_G64 size");
static_assert(sizeof(block_mlx4_g128) == 72 && MLX_BLOCK_BYTES(128, 4) == 72, "MLX4_G128 size");
static_assert(sizeof(block_mlx8_g32) == 40 && MLX_BLOCK_BYTES(32, 8) == 40, "MLX8_G32 size");
static_assert(sizeof(block_mlx8_g64) == 72 && MLX_BLOCK_BYTES(64, 8) == 72, "MLX8_G64 size");
static_assert(sizeof(block_mlx8_g128) == 136 && MLX_BLOCK_BYTES(128, 8) == 136, "MLX8_G128 size");

/* Group size and bits of an MLX type; false for any other type. */
static inline bool quant_mlx_params(int type, int *group, int *bits)
{
    if (type < TK_TYPE_MLX4_G32 || type > TK_TYPE_MLX8_G128) return false;
    const int k = type - TK_TYPE_MLX4_G32;
    *group = 32 << (k % 3);
    *bits = k < 3 ? 4 : 8;
    return true;
}

/* The 16 levels of IQ4_NL / IQ4_XS. */
extern const int8_t kvalues_iq4nl[16];

/* One row of the type table. */
typedef struct quant_type {
    tk_type_info info; /* public part; must stay the first member */
} quant_type;

/* The row for `type`, or NULL when unknown/unsupported. */
const quant_type *quant_type_get(int type);

/* Scale and min of sub-block j (0..7) of a Q4_K/Q5_K block from the 12-byte
 * packed array: sub-blocks 0..3 keep 6 bits in the low bits of bytes j and
 * j+4; sub-blocks 4..7 keep their low 4 bits in the nibbles of byte j+4 and
 * their high 2 bits in the top bits of bytes j-4 (scale) and j (min). */
static inline void quant_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The 16 signed 6-bit scales (-32..31) of a Q3_K block. */
static inline void quant_q3_k_scales(const uint8_t *s, int8_t out[16])
{
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? (s[i] & 0xF) : (s[i - 8] >> 4);
        int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* Little-endian field access that works on any host byte order. */
static inline uint16_t quant_le16(uint16_t v)
{
    const uint8_t *b = (const uint8_t *)&v;
    return (uint16_t)(b[0] | (b[1] << 8));
}
static inline uint16_t quant_to_le16(uint16_t v)
{
    uint16_t r;
    uint8_t *b = (uint8_t *)&r;
    b[0] = (uint8_t)(v & 0xFF);
    b[1] = (uint8_t)(v >> 8);
    return r;
}
/* A little-endian IEEE f32 at p (any alignment), and its inverse. */
static inline float quant_le_f32(const uint8_t *p)
{
    const uint32_t u =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline void quant_put_le_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}
static inline float quant_half(uint16_t stored)
{
    return tk_fp16_to_fp32(quant_le16(stored));
}

/* Per-family reference conversions (quant_legacy.c, quant_k.c, quant_iq.c). */
void quant_dequantize_q4_0(const void *src, float *dst, int64_t n);
void quant_dequantize_q4_1(const void *src, float *dst, int64_t n);
void quant_dequantize_q5_0(const void *src, float *dst, int64_t n);
void quant_dequantize_q5_1(const void *src, float *dst, int64_t n);
void quant_dequantize_q8_0(const void *src, float *dst, int64_t n);
void quant_quantize_q4_0(const float *src, void *dst, int64_t n);
void quant_quantize_q4_1(const float *src, void *dst, int64_t n);
void quant_quantize_q5_0(const float *src, void *dst, int64_t n);
void quant_quantize_q5_1(const float *src, void *dst, int64_t n);
void quant_quantize_q8_0(const float *src, void *dst, int64_t n);

void quant_dequantize_q2_k(const void *src, float *dst, int64_t n);
void quant_dequantize_q3_k(const void *src, float *dst, int64_t n);
void quant_dequantize_q4_k(const void *src, float *dst, int64_t n);
void quant_dequantize_q5_k(const void *src, float *dst, int64_t n);
void quant_dequantize_q6_k(const void *src, float *dst, int64_t n);
void quant_dequantize_q8_k(const void *src, float *dst, int64_t n);
void quant_quantize_q2_k(const float *src, void *dst, int64_t n);
void quant_quantize_q3_k(const float *src, void *dst, int64_t n);
void quant_quantize_q4_k(const float *src, void *dst, int64_t n);
void quant_quantize_q5_k(const float *src, void *dst, int64_t n);
void quant_quantize_q6_k(const float *src, void *dst, int64_t n);
void quant_quantize_q8_k(const float *src, void *dst, int64_t n);

void quant_dequantize_iq4_nl(const void *src, float *dst, int64_t n);
void quant_dequantize_iq4_xs(const void *src, float *dst, int64_t n);
void quant_quantize_iq4_nl(const float *src, void *dst, int64_t n);
void quant_quantize_iq4_xs(const float *src, void *dst, int64_t n);

/* MLX affine types (quant_mlx.c): n a multiple of the type's group. */
void quant_dequantize_mlx4_g32(const void *src, float *dst, int64_t n);
void quant_dequantize_mlx4_g64(const void *src, float *dst, int64_t n);
void quant_dequantize_mlx4_g128(const void *src, float *dst, int64_t n);
void quant_dequantize_mlx8_g32(const void *src, float *dst, int64_t n);
void quant_dequantize_mlx8_g64(const void *src, float *dst, int64_t n);
void quant_dequantize_mlx8_g128(const void *src, float *dst, int64_t n);
void quant_quantize_mlx4_g32(const float *src, void *dst, int64_t n);
void quant_quantize_mlx4_g64(const float *src, void *dst, int64_t n);
void quant_quantize_mlx4_g128(const float *src, void *dst, int64_t n);
void quant_quantize_mlx8_g32(const float *src, void *dst, int64_t n);
void quant_quantize_mlx8_g64(const float *src, void *dst, int64_t n);
void quant_quantize_mlx8_g128(const float *src, void *dst, int64_t n);

/* ---- scale search helpers (quant_search.c) ----------------------------- */

/* Rounds to the nearest integer (ties to even) after clamping to [lo, hi];
 * NaN gives lo. Never undefined behaviour, whatever the input. */
static inline int quant_round_clamp(float v, int lo, int hi)
{
    /* branch-free clamp (maxss/minss): written so that NaN compares false
     * and becomes lo */
    float flo = (float)lo, fhi = (float)hi;
    v = v > flo ? v : flo;
    v = v < fhi ? v : fhi;
    /* |v| < 2^22 here: adding 1.5 * 2^23 leaves the rounded integer in the
     * low mantissa bits (round to nearest even by the FPU) */
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007FFFFF) - 0x00400000;
}

/* Symmetric search: finds s minimising sum (x[i] - s*L[i])^2 over integer
 * L[i] in [qmin, qmax], trying `ntry` candidate scales on each side of the
 * one that maps the largest-magnitude value to qmin, then refining the best
 * by alternating re-rounding and least squares. Writes L (may be NULL when
 * n <= 0), returns s (0 for an all-zero input). n <= 256. */
float quant_search_sym(int n, const float *x, int qmin, int qmax, int ntry, int8_t *L);

/* Asymmetric search: x ~ s*L + m with integer L in [0, qmax]. When
 * `min_le_zero`, m is constrained to <= 0 (K-quants store -m as an unsigned
 * value). Returns s >= 0 and writes *m and L. n <= 256. */
float quant_search_asym(int n, const float *x, int qmax, bool min_le_zero, int nstep, float rmin,
                        float rdelta, uint8_t *L, float *m);

/* Non-linear search over kvalues_iq4nl: x ~ s*kvalues_iq4nl[L]. Returns s
 * (signed; 0 for an all-zero input) and writes L (indices 0..15). */
float quant_search_iq4(int n, const float *x, int ntry, uint8_t *L);

/* Index of the kvalues_iq4nl entry nearest to v. */
int quant_iq4_index(float v);

#endif
