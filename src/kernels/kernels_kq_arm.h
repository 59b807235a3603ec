/* Code shared by the ARM levels' kernels of the K-quants (Q2_K .. Q6_K),
 * IQ4_XS and the MLX affine types: kernels_kq_neon.c, kernels_kq_dotprod.c
 * and kernels_kq_i8mm.c.
 *
 * Everything here is static: each including file defines KQ_LEVEL (0 neon,
 * 1 dotprod, 2 i8mm) and compiles its own copy with its level's flags
 * (cmake/isa.cmake), so no symbol is exported and the code runs only where
 * that level is chosen (dispatch.c).
 *
 * Packed layouts (pack.c): a 64-byte k-group vector (4 consecutive elements
 * of 16 rows) is four 128-bit registers, "quarters" of 4 rows x 4 bytes.
 * SDOT by lane (vdotq_laneq_s32) multiplies one quarter by 4 activation
 * bytes and sums them per row: one instruction per 16 weight bytes, with
 * the rows in the lanes, so no horizontal sums and the per-row scales of a
 * quarter are one float vector. Without dot product (neon) the same
 * products are widening multiplies (vmull_s8 / vmlal_s8) summed in 16 bits
 * while that is exact, then pairwise widened (vpaddlq_s16, vpaddq_s32).
 *
 * Weights are multiplied as signed bytes, all exactly:
 *   - K-quant values are 0..63 and fit in int8 as they are; the offsets of
 *     Q6_K (-32) and Q3_K (-4) are folded into the int32 dot as that many
 *     times the code sum of each 16 activations (s16);
 *   - IQ4_XS nibbles are mapped to kvalues_iq4nl (signed) with one TBL;
 *   - MLX8 values (0..255) are multiplied as v - 128 and 128 times the code
 *     sum of the 32 activations (s) is added back.
 * In 16 bits (neon) a lane sums at most 8 products of |w| <= 31 or 4 of
 * |w| <= 63 (8 * 31 * 127, 4 * 63 * 127 < 32768), or 2 of |w| <= 128
 * (IQ4_XS, MLX8).
 *
 * Float arithmetic, per row and activation vector, for each activation
 * block b of 32 (or each half of 16 for the types with 16-column scales:
 * Q2_K, Q3_K, Q6_K) in order, p_b the exact integer dot:
 *
 *     acc = fma(float(p_b), s * d_b, acc);   s: the row's sub-block scale
 *     acc = fma(o, ds_b, acc);               types with an offset o only
 *
 * with d_b the activations' scale and ds_b = d_b * (code sum) (ds or ds16).
 * For the MLX types s, o are the file's scale and bias and these are the
 * x86 levels' operations (kernels_mlx_avx512.c). The same operations in the
 * same order on both paths and at all three levels, so a row's results are
 * bit for bit the same whatever the level, the path, the thread count or
 * the row split.
 *
 * Two paths, as on x86:
 *   - generation (n < KERNELS_BATCH_MIN): each packed sub-block is decoded
 *     in registers, one quarter at a time, and used for up to KQ_TG
 *     vectors (16 float accumulators for 16 rows x 2 vectors);
 *   - prompts: a group of 16 rows is decoded once into scratch (signed
 *     bytes plus float s, o per 16 rows; KQ_DEC_BYTES per 32 columns) and
 *     multiplied with all the vectors, KQ_TP at a time. The i8mm level
 *     stores the decoded bytes as 2-row x 8-column tiles for SMMLA instead
 *     (kernels_kq_i8mm.c). */
#ifndef TK_KERNELS_KQ_ARM_H
#define TK_KERNELS_KQ_ARM_H

#if defined(__aarch64__)

#if !defined(KQ_LEVEL)
#error "define KQ_LEVEL (0 neon, 1 dotprod, 2 i8mm) before including kernels_kq_arm.h"
#endif
#if KQ_LEVEL >= 1 && !defined(__ARM_FEATURE_DOTPROD)
#error "KQ_LEVEL >= 1 needs the dot product instructions (-march=...+dotprod)"
#endif
#if KQ_LEVEL >= 2 && !defined(__ARM_FEATURE_MATMUL_INT8)
#error "KQ_LEVEL 2 needs the int8 matrix multiply instructions (-march=...+i8mm)"
#endif

#include "core/core.h"
#include "kernels/kernels.h"
#include "quant/quant.h"

#include <arm_neon.h>
#include <stdbool.h>
#include <string.h>

#define KQ_AI static inline __attribute__((always_inline))

#define KQ_GR KERNELS_GROUP_ROWS
#define KQ_TG 2 /* vectors per decoded sub-block on the generation path */
#define KQ_TP 4 /* vectors per tile on the prompt path */
#define KQ_DEC_BYTES                                                                               \
    768 /* one decoded 32-column sub-block: i8 v[8][64], f32 s[2][16], o[2][16]                    \
         */
#define KQ_DEC_S(k) (512 + 64 * (k))
#define KQ_DEC_O(k) (640 + 64 * (k))

/* The weight types of these kernels; constants after inlining. */
enum { KQ_Q2_K, KQ_Q3_K, KQ_Q4_K, KQ_Q5_K, KQ_Q6_K, KQ_IQ4_XS, KQ_MLX4, KQ_MLX8 };

/* Columns per scale: 16 for Q2_K, Q3_K, Q6_K, else 32. */
KQ_AI int kq_sb(const int kind)
{
    return kind == KQ_Q2_K || kind == KQ_Q3_K || kind == KQ_Q6_K ? 16 : 32;
}

/* Whether w = s * v + o has an offset o (else w = s * (v + c)). */
KQ_AI bool kq_has_o(const int kind)
{
    return kind == KQ_Q2_K || kind == KQ_Q4_K || kind == KQ_Q5_K || kind == KQ_MLX4 ||
           kind == KQ_MLX8;
}

/* The integer offset c times the code sum added to the dot: of each 16
 * activations for 16-column types, of each 32 for the others. */
KQ_AI int kq_c(const int kind)
{
    return kind == KQ_Q6_K ? -32 : kind == KQ_Q3_K ? -4 : kind == KQ_MLX8 ? 128 : 0;
}

/* Weights up to 128 in magnitude (else <= 63, or <= 31 with 32-column scales). */
KQ_AI bool kq_big(const int kind)
{
    return kind == KQ_IQ4_XS || kind == KQ_MLX8;
}

/* Columns of one packed block, and its bytes. */
KQ_AI int kq_block(const int kind, const int group)
{
    return kind == KQ_MLX4 || kind == KQ_MLX8 ? group : 256;
}

KQ_AI size_t kq_bb(const int kind, const int group)
{
    switch (kind) {
    case KQ_Q2_K:
        return PK_Q2_K_BYTES;
    case KQ_Q3_K:
        return PK_Q3_K_BYTES;
    case KQ_Q4_K:
        return PK_Q4_K_BYTES;
    case KQ_Q5_K:
        return PK_Q5_K_BYTES;
    case KQ_Q6_K:
        return PK_Q6_K_BYTES;
    case KQ_IQ4_XS:
        return PK_IQ4_XS_BYTES;
    case KQ_MLX4:
        return PK_MLX_BYTES((size_t)group, 4);
    default:
        return PK_MLX_BYTES((size_t)group, 8);
    }
}

/* ---- decoding one quarter (rows 4q..4q+3) of a 32-column sub-block -------- */

/* k-groups m (low nibbles) and m + 4 (high) of the nibble vectors at nib. */
KQ_AI void kq_nibbles(const uint8_t *nib, int q, int8x16_t w[8])
{
    const uint8x16_t m4 = vdupq_n_u8(15);
    for (int m = 0; m < 4; m++) {
        const uint8x16_t raw = vld1q_u8(nib + 64 * m + 16 * q);
        w[m] = vreinterpretq_s8_u8(vandq_u8(raw, m4));
        w[m + 4] = vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
    }
}

/* The two-bit values of the q2 layout (bits 2u..2u+1 of vector j are
 * k-group 4j + u). */
KQ_AI void kq_2bits(const uint8_t *q2, int q, int8x16_t w[8])
{
    const uint8x16_t m3 = vdupq_n_u8(3);
    for (int j = 0; j < 2; j++) {
        const uint8x16_t raw = vld1q_u8(q2 + 64 * j + 16 * q);
        w[4 * j + 0] = vreinterpretq_s8_u8(vandq_u8(raw, m3));
        w[4 * j + 1] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(raw, 2), m3));
        w[4 * j + 2] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(raw, 4), m3));
        w[4 * j + 3] = vreinterpretq_s8_u8(vshrq_n_u8(raw, 6));
    }
}

static const uint8_t kq_bit_sel[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
static const uint8_t kq_bit_idx[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};

/* Sets bit `val` (a power of two the values do not have) where the masks
 * hbit[8] at hb have a bit: byte j of quarter q of k-group g is bit
 * 16q + j of hbit[g], in its bytes 2q and 2q + 1. TBL spreads those bytes,
 * CMTST makes 0xFF of a set bit and BSL takes bit `val` from it: three
 * instructions per k-group. */
KQ_AI void kq_hbits(const uint8_t *hb, int q, int8x16_t w[8], uint8_t val)
{
    const uint8x16_t sel = vld1q_u8(kq_bit_sel), v = vdupq_n_u8(val);
    const uint8x16_t idx0 = vaddq_u8(vld1q_u8(kq_bit_idx), vdupq_n_u8((uint8_t)(2 * q)));
    const uint8x16_t idx1 = vaddq_u8(idx0, vdupq_n_u8(8));
    for (int k = 0; k < 4; k++) {
        const uint8x16_t h = vld1q_u8(hb + 16 * k); /* hbit[2k], hbit[2k + 1] */
        const uint8x16_t b0 = vtstq_u8(vqtbl1q_u8(h, idx0), sel);
        const uint8x16_t b1 = vtstq_u8(vqtbl1q_u8(h, idx1), sel);
        w[2 * k] = vreinterpretq_s8_u8(vbslq_u8(v, b0, vreinterpretq_u8_s8(w[2 * k])));
        w[2 * k + 1] = vreinterpretq_s8_u8(vbslq_u8(v, b1, vreinterpretq_u8_s8(w[2 * k + 1])));
    }
}

/* Q6_K's bits 4-5 from the h2 vectors (layout of q2, at bits 4-5): each
 * shifted into place and inserted with BSL under the mask 0x30. */
KQ_AI void kq_h2(const uint8_t *h2, int q, int8x16_t w[8])
{
    const uint8x16_t m = vdupq_n_u8(0x30);
    for (int j = 0; j < 2; j++) {
        const uint8x16_t hb = vld1q_u8(h2 + 64 * j + 16 * q);
        const uint8x16_t hi[4] = {vshlq_n_u8(hb, 4), vshlq_n_u8(hb, 2), hb, vshrq_n_u8(hb, 2)};
        for (int u = 0; u < 4; u++)
            w[4 * j + u] =
                vreinterpretq_s8_u8(vbslq_u8(m, hi[u], vreinterpretq_u8_s8(w[4 * j + u])));
    }
}

/* The 8 k-groups of quarter q of 32-column sub-block s of a packed block,
 * as the signed bytes the dot products multiply. */
KQ_AI void kq_decode(const int kind, const uint8_t *blk, int s, int q, int8x16_t w[8])
{
    switch (kind) {
    case KQ_Q2_K:
        kq_2bits(blk + PK_Q2_K_Q(s), q, w);
        break;
    case KQ_Q3_K:
        kq_2bits(blk + PK_Q3_K_Q(s), q, w);
        kq_hbits(blk + PK_Q3_K_HBIT(s), q, w, 4);
        break;
    case KQ_Q4_K:
        kq_nibbles(blk + PK_Q4_K_NIB(s), q, w);
        break;
    case KQ_Q5_K:
        kq_nibbles(blk + PK_Q5_K_NIB(s), q, w);
        kq_hbits(blk + PK_Q5_K_HBIT(s), q, w, 16);
        break;
    case KQ_Q6_K:
        kq_nibbles(blk + PK_Q6_K_NIB(s), q, w);
        kq_h2(blk + PK_Q6_K_H2(s), q, w);
        break;
    case KQ_IQ4_XS: {
        const int8x16_t t = vld1q_s8(kvalues_iq4nl);
        kq_nibbles(blk + PK_IQ4_XS_NIB(s), q, w);
        for (int g = 0; g < 8; g++) w[g] = vqtbl1q_s8(t, vreinterpretq_u8_s8(w[g]));
        break;
    }
    case KQ_MLX4:
        kq_nibbles(blk + PK_MLX_Q(4, s), q, w);
        break;
    default: { /* KQ_MLX8: v - 128 */
        const uint8x16_t c = vdupq_n_u8(0x80);
        for (int g = 0; g < 8; g++)
            w[g] =
                vreinterpretq_s8_u8(veorq_u8(vld1q_u8(blk + PK_MLX_Q(8, s) + 64 * g + 16 * q), c));
        break;
    }
    }
}

/* 4 fp16 values (little-endian bits) at p as floats. */
KQ_AI float32x4_t kq_f16x4(const uint8_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p)));
}

/* 4 bytes at p, unsigned or signed, as floats. */
KQ_AI uint16x4_t kq_u8x4_u16(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(v))));
}

KQ_AI float32x4_t kq_u8x4(const uint8_t *p)
{
    return vcvtq_f32_u32(vmovl_u16(kq_u8x4_u16(p)));
}

KQ_AI float32x4_t kq_s8x4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(v))))));
}

/* Scale s[k] and offset o[k] of rows 4q..4q+3 for 32-column sub-block s
 * (k = 0), or its two 16-column halves (k = 0, 1). */
KQ_AI void kq_scales(const int kind, const uint8_t *blk, int s, int q, float32x4_t sc[2],
                     float32x4_t o[2])
{
    switch (kind) {
    case KQ_Q2_K: {
        const float32x4_t d = kq_f16x4(blk + 8 * q), dm = kq_f16x4(blk + PK_Q2_K_DMIN + 8 * q);
        for (int k = 0; k < 2; k++) {
            const uint16x4_t b = kq_u8x4_u16(blk + PK_Q2_K_SC(2 * s + k) + 4 * q);
            const float32x4_t lo = vcvtq_f32_u32(vmovl_u16(vand_u16(b, vdup_n_u16(15))));
            const float32x4_t hi = vcvtq_f32_u32(vmovl_u16(vshr_n_u16(b, 4)));
            sc[k] = vmulq_f32(d, lo);
            o[k] = vnegq_f32(vmulq_f32(dm, hi));
        }
        break;
    }
    case KQ_Q3_K:
    case KQ_Q6_K: {
        const float32x4_t d = kq_f16x4(blk + 8 * q);
        for (int k = 0; k < 2; k++)
            sc[k] = vmulq_f32(
                d, kq_s8x4(blk + (kind == KQ_Q3_K ? PK_Q3_K_SC(2 * s + k) : PK_Q6_K_SC(2 * s + k)) +
                           4 * q));
        o[0] = o[1] = vdupq_n_f32(0.0f);
        break;
    }
    case KQ_Q4_K:
    case KQ_Q5_K: {
        const bool five = kind == KQ_Q5_K;
        const float32x4_t d = kq_f16x4(blk + 8 * q), dm = kq_f16x4(blk + PK_Q4_K_DMIN + 8 * q);
        sc[0] = vmulq_f32(d, kq_u8x4(blk + (five ? PK_Q5_K_SC(s) : PK_Q4_K_SC(s)) + 4 * q));
        o[0] = vnegq_f32(
            vmulq_f32(dm, kq_u8x4(blk + (five ? PK_Q5_K_MIN(s) : PK_Q4_K_MIN(s)) + 4 * q)));
        sc[1] = sc[0];
        o[1] = o[0];
        break;
    }
    case KQ_IQ4_XS:
        sc[0] = sc[1] = vmulq_f32(kq_f16x4(blk + 8 * q), kq_s8x4(blk + PK_IQ4_XS_SC(s) + 4 * q));
        o[0] = o[1] = vdupq_n_f32(0.0f);
        break;
    default: /* MLX: the file's f32 scale and bias */
        sc[0] = sc[1] = vld1q_f32((const float *)(const void *)(blk + PK_MLX_SCALE + 16 * q));
        o[0] = o[1] = vld1q_f32((const float *)(const void *)(blk + PK_MLX_BIAS + 16 * q));
        break;
    }
}

/* ---- integer dots: one quarter by 16 or 32 activation bytes ---------------- */

#if KQ_LEVEL >= 1

/* acc + per row of the quarter, sum over k-groups g < 4 of w[g] . x[4g..4g+3]. */
KQ_AI int32x4_t kq_dot4(int32x4_t acc, const int8x16_t *w, int8x16_t x, const bool big)
{
    (void)big;
    acc = vdotq_laneq_s32(acc, w[0], x, 0);
    acc = vdotq_laneq_s32(acc, w[1], x, 1);
    acc = vdotq_laneq_s32(acc, w[2], x, 2);
    return vdotq_laneq_s32(acc, w[3], x, 3);
}

KQ_AI int32x4_t kq_dot8(int32x4_t acc, const int8x16_t *w, int8x16_t x0, int8x16_t x1,
                        const bool big)
{
    return kq_dot4(kq_dot4(acc, w, x0, big), w + 4, x1, big);
}

#else

/* The 4 bytes of k-group `lane` of x in every 32-bit lane. */
#define KQ_BCAST(x, lane) vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(x), lane))

/* Products of a quarter w (rows 0-1 in the low half, 2-3 in the high) and
 * broadcast activation bytes b, into (lo) or added to (*lo, *hi) 16 bits. */
KQ_AI void kq_mul(int16x8_t *lo, int16x8_t *hi, int8x16_t w, int8x16_t b, bool first)
{
    if (first) {
        *lo = vmull_s8(vget_low_s8(w), vget_low_s8(b));
        *hi = vmull_high_s8(w, b);
    } else {
        *lo = vmlal_s8(*lo, vget_low_s8(w), vget_low_s8(b));
        *hi = vmlal_high_s8(*hi, w, b);
    }
}

/* Per row: lanes 4r..4r+3 of lo (r = 0, 1) and hi (rows 2, 3) summed. */
KQ_AI int32x4_t kq_rowsum(int16x8_t lo, int16x8_t hi)
{
    return vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi));
}

KQ_AI int32x4_t kq_dot4(int32x4_t acc, const int8x16_t *w, int8x16_t x, const bool big)
{
    int16x8_t lo, hi;
    kq_mul(&lo, &hi, w[0], KQ_BCAST(x, 0), true);
    kq_mul(&lo, &hi, w[1], KQ_BCAST(x, 1), false);
    if (big) {
        /* two products per 16-bit lane at most */
        int32x4_t l32 = vpaddlq_s16(lo), h32 = vpaddlq_s16(hi);
        kq_mul(&lo, &hi, w[2], KQ_BCAST(x, 2), true);
        kq_mul(&lo, &hi, w[3], KQ_BCAST(x, 3), false);
        l32 = vpadalq_s16(l32, lo);
        h32 = vpadalq_s16(h32, hi);
        return vaddq_s32(acc, vpaddq_s32(l32, h32));
    }
    kq_mul(&lo, &hi, w[2], KQ_BCAST(x, 2), false);
    kq_mul(&lo, &hi, w[3], KQ_BCAST(x, 3), false);
    return vaddq_s32(acc, kq_rowsum(lo, hi));
}

KQ_AI int32x4_t kq_dot8(int32x4_t acc, const int8x16_t *w, int8x16_t x0, int8x16_t x1,
                        const bool big)
{
    if (big) return kq_dot4(kq_dot4(acc, w, x0, true), w + 4, x1, true);
    /* |w| <= 31: all 8 products of a lane in 16 bits */
    int16x8_t lo, hi;
    kq_mul(&lo, &hi, w[0], KQ_BCAST(x0, 0), true);
    kq_mul(&lo, &hi, w[1], KQ_BCAST(x0, 1), false);
    kq_mul(&lo, &hi, w[2], KQ_BCAST(x0, 2), false);
    kq_mul(&lo, &hi, w[3], KQ_BCAST(x0, 3), false);
    kq_mul(&lo, &hi, w[4], KQ_BCAST(x1, 0), false);
    kq_mul(&lo, &hi, w[5], KQ_BCAST(x1, 1), false);
    kq_mul(&lo, &hi, w[6], KQ_BCAST(x1, 2), false);
    kq_mul(&lo, &hi, w[7], KQ_BCAST(x1, 3), false);
    return vaddq_s32(acc, kq_rowsum(lo, hi));
}

#endif

/* ---- one quarter of one sub-block times one vector ------------------------- */

/* acc (rows of the quarter) plus the products of activation block ab of
 * vector a with the quarter's decoded weights w, scales sc and offsets o,
 * in the order of the contract at the top. */
KQ_AI float32x4_t kq_step(const int kind, float32x4_t acc, const int8x16_t w[8],
                          const float32x4_t sc[2], const float32x4_t o[2], const kernels_act_q8 *a,
                          int64_t ab)
{
    const int8_t *xq = a->q + 32 * ab;
    const int8x16_t x0 = vld1q_s8(xq), x1 = vld1q_s8(xq + 16);
    const float d = a->d[ab];
    if (kq_sb(kind) == 32) {
        const int32x4_t p = kq_dot8(vdupq_n_s32(kq_c(kind) * a->s[ab]), w, x0, x1, kq_big(kind));
        acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vmulq_n_f32(sc[0], d));
        if (kq_has_o(kind)) acc = vfmaq_n_f32(acc, o[0], a->ds[ab]);
        return acc;
    }
    for (int k = 0; k < 2; k++) {
        const int32x4_t p =
            kq_dot4(vdupq_n_s32(kq_c(kind) * a->s16[2 * ab + k]), w + 4 * k, k ? x1 : x0, false);
        acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vmulq_n_f32(sc[k], d));
        if (kq_has_o(kind)) acc = vfmaq_n_f32(acc, o[k], a->ds16[2 * ab + k]);
    }
    return acc;
}

/* Stores the lanes of rows [r, r + 4) that are below `valid`. */
KQ_AI void kq_store4(float *y, float32x4_t v, int64_t valid)
{
    if (valid >= 4) {
        vst1q_f32(y, v);
    } else if (valid > 0) {
        float t[4];
        vst1q_f32(t, v);
        memcpy(y, t, (size_t)valid * sizeof *t);
    }
}

/* Rows [r, r + 16) of a group (the first `valid` of them are stored) times
 * NT vectors a[0..NT), into y + i * ldy (+ row). From the packed group at
 * src (dec false: generation path) or its decoded form (dec true). */
KQ_AI void kq_rows(const int kind, const int group, const int NT, const bool dec,
                   const uint8_t *src, int64_t cols, const kernels_act_q8 *a, float *y, int64_t ldy,
                   int64_t valid)
{
    const int nsub = kq_block(kind, group) / 32;
    const int64_t nblk = cols / kq_block(kind, group);
    const size_t bb = kq_bb(kind, group);
    float32x4_t acc[KQ_TP][4];
    for (int i = 0; i < NT; i++)
        for (int q = 0; q < 4; q++) acc[i][q] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nblk; b++) {
        for (int s = 0; s < nsub; s++) {
            const int64_t ab = b * nsub + s;
            for (int q = 0; q < 4; q++) {
                int8x16_t w[8];
                float32x4_t sc[2], o[2];
                if (dec) {
                    const uint8_t *e = src + (size_t)ab * KQ_DEC_BYTES;
                    for (int g = 0; g < 8; g++)
                        w[g] = vld1q_s8((const int8_t *)e + 64 * g + 16 * q);
                    for (int k = 0; k < 2; k++) {
                        sc[k] = vld1q_f32((const float *)(const void *)(e + KQ_DEC_S(k)) + 4 * q);
                        o[k] = vld1q_f32((const float *)(const void *)(e + KQ_DEC_O(k)) + 4 * q);
                    }
                } else {
                    const uint8_t *blk = src + (size_t)b * bb;
                    kq_decode(kind, blk, s, q, w);
                    kq_scales(kind, blk, s, q, sc, o);
                }
                for (int i = 0; i < NT; i++)
                    acc[i][q] = kq_step(kind, acc[i][q], w, sc, o, &a[i], ab);
            }
        }
    }
    for (int i = 0; i < NT; i++)
        for (int q = 0; q < 4; q++) kq_store4(y + i * ldy + 4 * q, acc[i][q], valid - 4 * q);
}

/* Views of vectors t0 .. t0 + nt - 1 of x into a[]. */
KQ_AI void kq_views(kernels_act_q8 *a, const void *x, size_t xs, int64_t t0, int nt, int64_t cols)
{
    for (int i = 0; i < nt; i++)
        a[i] = kernels_act_view((const char *)x + (size_t)(t0 + i) * xs, cols);
}

/* The generation path: rows [r0, r1) of w times n vectors, decoding in
 * registers. */
KQ_AI void kq_direct(const int kind, const int group, const kernels_mat *w, int64_t r0, int64_t r1,
                     const void *x, size_t xs, int64_t n, float *y, int64_t ldy)
{
    const size_t group_bytes = (size_t)(w->cols / kq_block(kind, group)) * kq_bb(kind, group);
    for (int64_t r = r0; r < r1; r += KQ_GR) {
        const uint8_t *grp = (const uint8_t *)w->data + (size_t)(r / KQ_GR) * group_bytes;
        for (int64_t t0 = 0; t0 < n; t0 += KQ_TG) {
            const int nt = (int)TK_MIN(KQ_TG, n - t0);
            kernels_act_q8 a[KQ_TG];
            kq_views(a, x, xs, t0, nt, w->cols);
            float *yt = y + t0 * ldy + r;
            if (nt == 2)
                kq_rows(kind, group, 2, false, grp, w->cols, a, yt, ldy, r1 - r);
            else
                kq_rows(kind, group, 1, false, grp, w->cols, a, yt, ldy, r1 - r);
        }
    }
}

/* The decoded form of the packed group at grp (cols columns) into dec:
 * per 32-column sub-block KQ_DEC_BYTES, the k-group vectors as signed
 * bytes in the packed order, then s[2][16] and o[2][16]. */
KQ_AI void kq_unpack(const int kind, const int group, const uint8_t *grp, int64_t cols,
                     uint8_t *dec)
{
    const int nsub = kq_block(kind, group) / 32;
    const size_t bb = kq_bb(kind, group);
    for (int64_t b = 0; b < cols / kq_block(kind, group); b++) {
        const uint8_t *blk = grp + (size_t)b * bb;
        for (int s = 0; s < nsub; s++) {
            uint8_t *e = dec + (size_t)(b * nsub + s) * KQ_DEC_BYTES;
            for (int q = 0; q < 4; q++) {
                int8x16_t wv[8];
                float32x4_t sc[2], o[2];
                kq_decode(kind, blk, s, q, wv);
                kq_scales(kind, blk, s, q, sc, o);
                for (int g = 0; g < 8; g++) vst1q_s8((int8_t *)e + 64 * g + 16 * q, wv[g]);
                for (int k = 0; k < 2; k++) {
                    vst1q_f32((float *)(void *)(e + KQ_DEC_S(k)) + 4 * q, sc[k]);
                    vst1q_f32((float *)(void *)(e + KQ_DEC_O(k)) + 4 * q, o[k]);
                }
            }
        }
    }
}

/* The prompt path with SDOT (or widening multiplies): each group decoded
 * once, then KQ_TP vectors at a time. */
KQ_AI void kq_batch_sdot(const int kind, const int group, const kernels_mat *w, int64_t r0,
                         int64_t r1, const void *x, size_t xs, int64_t n, float *y, int64_t ldy,
                         void *scratch)
{
    const size_t group_bytes = (size_t)(w->cols / kq_block(kind, group)) * kq_bb(kind, group);
    uint8_t *dec = scratch;
    for (int64_t r = r0; r < r1; r += KQ_GR) {
        kq_unpack(kind, group, (const uint8_t *)w->data + (size_t)(r / KQ_GR) * group_bytes,
                  w->cols, dec);
        for (int64_t t0 = 0; t0 < n; t0 += KQ_TP) {
            const int nt = (int)TK_MIN(KQ_TP, n - t0);
            kernels_act_q8 a[KQ_TP];
            kq_views(a, x, xs, t0, nt, w->cols);
            float *yt = y + t0 * ldy + r;
            switch (nt) {
            case 4:
                kq_rows(kind, group, 4, true, dec, w->cols, a, yt, ldy, r1 - r);
                break;
            case 3:
                kq_rows(kind, group, 3, true, dec, w->cols, a, yt, ldy, r1 - r);
                break;
            case 2:
                kq_rows(kind, group, 2, true, dec, w->cols, a, yt, ldy, r1 - r);
                break;
            default:
                kq_rows(kind, group, 1, true, dec, w->cols, a, yt, ldy, r1 - r);
                break;
            }
        }
    }
}

/* matmul_<name> for kind and group, with the prompt path BATCH. */
#define KQ_DEFINE_MATMUL(name, KIND, GROUP, BATCH)                                                 \
    static void matmul_##name(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,         \
                              size_t xs, int64_t n, float *y, int64_t ldy, void *scratch)          \
    {                                                                                              \
        if (n >= KERNELS_BATCH_MIN)                                                                \
            BATCH(KIND, GROUP, w, r0, r1, x, xs, n, y, ldy, scratch);                              \
        else                                                                                       \
            kq_direct(KIND, GROUP, w, r0, r1, x, xs, n, y, ldy);                                   \
    }

/* Per-thread scratch: a decoded group (KQ_DEC_BYTES per 32 columns), or
 * the reference's row of floats. */
static size_t kq_scratch_bytes(int64_t cols)
{
    return (size_t)cols * (KQ_DEC_BYTES / 32) + 64;
}

/* Whether the level's scratch_bytes (set before kq_fill) holds a decoded
 * group for every width. */
static bool kq_scratch_enough(const kernels_t *k)
{
    static const int64_t widths[] = {32, 256, 4096, 65536};
    if (!k->scratch_bytes) return false;
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++)
        if (k->scratch_bytes(widths[i]) < kq_scratch_bytes(widths[i])) return false;
    return true;
}

/* kq_fill(k): matmul_<type> for every type of these kernels, with the
 * prompt path BATCH (kq_batch_sdot or the i8mm level's); scratch_bytes
 * becomes kq_scratch_bytes unless the level's gives as much. */
#define KQ_DEFINE_FILL(BATCH)                                                                      \
    KQ_DEFINE_MATMUL(q2_k, KQ_Q2_K, 256, BATCH)                                                    \
    KQ_DEFINE_MATMUL(q3_k, KQ_Q3_K, 256, BATCH)                                                    \
    KQ_DEFINE_MATMUL(q4_k, KQ_Q4_K, 256, BATCH)                                                    \
    KQ_DEFINE_MATMUL(q5_k, KQ_Q5_K, 256, BATCH)                                                    \
    KQ_DEFINE_MATMUL(q6_k, KQ_Q6_K, 256, BATCH)                                                    \
    KQ_DEFINE_MATMUL(iq4_xs, KQ_IQ4_XS, 256, BATCH)                                                \
    KQ_DEFINE_MATMUL(mlx4_g32, KQ_MLX4, 32, BATCH)                                                 \
    KQ_DEFINE_MATMUL(mlx4_g64, KQ_MLX4, 64, BATCH)                                                 \
    KQ_DEFINE_MATMUL(mlx4_g128, KQ_MLX4, 128, BATCH)                                               \
    KQ_DEFINE_MATMUL(mlx8_g32, KQ_MLX8, 32, BATCH)                                                 \
    KQ_DEFINE_MATMUL(mlx8_g64, KQ_MLX8, 64, BATCH)                                                 \
    KQ_DEFINE_MATMUL(mlx8_g128, KQ_MLX8, 128, BATCH)                                               \
                                                                                                   \
    static void kq_fill(kernels_t *k)                                                              \
    {                                                                                              \
        k->types[TK_TYPE_Q2_K] = (kernels_type){matmul_q2_k, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q3_K] = (kernels_type){matmul_q3_k, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q4_K] = (kernels_type){matmul_q4_k, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q5_K] = (kernels_type){matmul_q5_k, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q6_K] = (kernels_type){matmul_q6_k, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_IQ4_XS] = (kernels_type){matmul_iq4_xs, KERNELS_ACT_Q8, true};            \
        k->types[TK_TYPE_MLX4_G32] = (kernels_type){matmul_mlx4_g32, KERNELS_ACT_Q8, true};        \
        k->types[TK_TYPE_MLX4_G64] = (kernels_type){matmul_mlx4_g64, KERNELS_ACT_Q8, true};        \
        k->types[TK_TYPE_MLX4_G128] = (kernels_type){matmul_mlx4_g128, KERNELS_ACT_Q8, true};      \
        k->types[TK_TYPE_MLX8_G32] = (kernels_type){matmul_mlx8_g32, KERNELS_ACT_Q8, true};        \
        k->types[TK_TYPE_MLX8_G64] = (kernels_type){matmul_mlx8_g64, KERNELS_ACT_Q8, true};        \
        k->types[TK_TYPE_MLX8_G128] = (kernels_type){matmul_mlx8_g128, KERNELS_ACT_Q8, true};      \
        if (!kq_scratch_enough(k)) k->scratch_bytes = kq_scratch_bytes;                            \
    }

#endif /* __aarch64__ */

#endif
