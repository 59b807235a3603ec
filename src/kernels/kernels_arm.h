/* Code shared by the AArch64 kernel levels, kernels_neon.c,
 * kernels_dotprod.c and kernels_i8mm.c.
 *
 * Everything here is static: each including file compiles its own copy
 * with its own flags (cmake/isa.cmake), so the shared code runs only where
 * that file's level is chosen (dispatch.c) and no symbol is exported.
 * Before including it, the file includes <arm_neon.h> and defines
 *
 *   dot_q8x32(acc, w[8], x0, x1, small): acc plus the dots of 4 rows by 32
 *       columns: w[g] holds k-group g of the 4 rows (4 bytes per row, the
 *       packed layout's 16-byte quarter), x0/x1 the 32 activation bytes;
 *       `small` when |w| <= 31 (unsigned packed values), else |w| <= 128;
 *   ARM_I8MM: 1 when the prompt path multiplies with SMMLA.
 *
 * The packed layouts are x86's (pack.c): a 64-byte k-group vector holds 4
 * consecutive elements of 16 rows; a 128-bit register is a quarter of it,
 * 4 rows x 4 bytes, which is what SDOT multiplies by 4 activation bytes
 * (one 32-bit lane of the activations: vdotq_laneq_s32).
 *
 * Two paths, as on x86 (KERNELS_BATCH_MIN):
 *   - generation: each block of a group is decoded in registers, a quarter
 *     (4 rows) at a time, and multiplied by up to TG vectors;
 *   - prompt: a group is decoded once into scratch (DEC_BYTES per 32
 *     columns: int8 values and per-row float scale s and offset o, so that
 *     w = s * v + o), then multiplied by all vectors in tiles of 8 rows x TP
 *     vectors. With ARM_I8MM the values are stored as row pairs x 8
 *     columns, SMMLA's operand, and a tile multiplies 2 rows by 2 vectors
 *     per instruction.
 * Every output is computed the same way whatever the row range asked for,
 * so results do not depend on the thread count. */
#ifndef TK_KERNELS_ARM_H
#define TK_KERNELS_ARM_H

#if defined(__aarch64__)

#include "core/core.h"
#include "kernels/kernels.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>

#ifndef ARM_I8MM
#error "define ARM_I8MM (and dot_q8x32) before including kernels_arm.h"
#endif

/* Rows of a packed group (KERNELS_GROUP_ROWS). */
#define G 16

/* ---- small helpers ---------------------------------------------------------- */

/* Four fp16 values (little-endian bits) as floats. */
static inline float32x4_t load_f16x4(const void *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8((const uint8_t *)p)));
}

/* Four floats from any address. */
static inline float32x4_t load_f32x4(const void *p)
{
    return vreinterpretq_f32_u8(vld1q_u8((const uint8_t *)p));
}

static inline float load_f32(const void *p)
{
    float f;
    memcpy(&f, p, sizeof f);
    return f;
}

/* Stores the first `valid` lanes (all four when valid >= 4). */
static inline void store_rows4(float *y, float32x4_t v, int64_t valid)
{
    if (valid >= 4) {
        vst1q_f32(y, v);
    } else if (valid > 0) {
        float t[4];
        vst1q_f32(t, v);
        memcpy(y, t, (size_t)valid * sizeof *t);
    }
}

/* e^x with a degree-6 polynomial on [-ln2/2, ln2/2] (about 1 ulp), as at
 * the x86 levels; x is clamped to [-104, 89], and 2^n is built in two
 * halves so that n down to -151 stays exact. */
static inline float32x4_t exp_f32x4(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-104.0f)), vdupq_n_f32(89.0f));
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));
    r = vfmsq_f32(r, n, vdupq_n_f32(1.428606765330187045e-06f));
    float32x4_t p = vdupq_n_f32(1.0f / 720.0f);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    const int32x4_t ni = vcvtq_s32_f32(n);
    const int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
    const int32x4_t bias = vdupq_n_s32(127);
    const float32x4_t f1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    const float32x4_t f2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(p, f1), f2);
}

/* ---- activations ------------------------------------------------------------- */

/* Bit for bit kernels_quantize_act_ref: FCVTNS rounds to nearest, ties to
 * even, like lrintf; the narrowing never saturates (|q| <= 127). */
static void quantize_act(const float *x, int64_t cols, int64_t b0, int64_t b1, void *out)
{
    const kernels_act_q8 a = kernels_act_view(out, cols);
    int8_t *q = (int8_t *)a.q;
    float *d = (float *)a.d, *ds = (float *)a.ds, *ds16 = (float *)a.ds16;
    int32_t *s = (int32_t *)a.s, *s16 = (int32_t *)a.s16;
    for (int64_t b = b0; b < b1; b++) {
        const float *xb = x + 32 * (b - b0);
        float32x4_t v[8];
        float32x4_t m = vdupq_n_f32(0.0f);
        uint32x4_t finite = vdupq_n_u32(0xFFFFFFFFu);
        for (int j = 0; j < 8; j++) {
            v[j] = vld1q_f32(xb + 4 * j);
            const float32x4_t av = vabsq_f32(v[j]);
            finite = vandq_u32(finite, vcleq_f32(av, vdupq_n_f32(FLT_MAX)));
            m = vmaxq_f32(m, av);
        }
        if (vminvq_u32(finite) != 0xFFFFFFFFu) {
            kernels_act_put_nonfinite(&a, b); /* a NaN or an infinity */
            continue;
        }
        const float db = vmaxvq_f32(m) / 127.0f;
        const float id = kernels_act_inv(db);
        int32x4_t qi[8];
        for (int j = 0; j < 8; j++) qi[j] = vcvtnq_s32_f32(vmulq_n_f32(v[j], id));
        for (int k = 0; k < 2; k++) {
            const int16x8_t lo = vcombine_s16(vqmovn_s32(qi[4 * k]), vqmovn_s32(qi[4 * k + 1]));
            const int16x8_t hi = vcombine_s16(vqmovn_s32(qi[4 * k + 2]), vqmovn_s32(qi[4 * k + 3]));
            vst1q_s8(q + 32 * b + 16 * k, vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
        }
        const int32_t h0 = vaddvq_s32(vaddq_s32(vaddq_s32(qi[0], qi[1]), vaddq_s32(qi[2], qi[3])));
        const int32_t h1 = vaddvq_s32(vaddq_s32(vaddq_s32(qi[4], qi[5]), vaddq_s32(qi[6], qi[7])));
        d[b] = db;
        s[b] = h0 + h1;
        s16[2 * b] = h0;
        s16[2 * b + 1] = h1;
        ds[b] = db * (float)(h0 + h1);
        ds16[2 * b] = db * (float)h0;
        ds16[2 * b + 1] = db * (float)h1;
    }
}

/* ---- decoding a quarter (4 rows) of a packed 32-column block ---------------------- */

/* The legacy 32-column types: w = d * (v - C), or d * v + m (HAS_M). */
enum { KQ8_0, KQ4_0, KQ5_0, KIQ4_NL, KQ4_1, KQ5_1 };

static inline size_t kind_bytes(int kind)
{
    static const size_t bytes[] = {PK_Q8_0_BYTES, PK_Q4_0_BYTES, PK_Q5_0_BYTES,
                                   PK_Q4_0_BYTES, PK_Q4_1_BYTES, PK_Q5_1_BYTES};
    return bytes[kind];
}

static inline int kind_c(int kind)
{
    return kind == KQ4_0 ? 8 : kind == KQ5_0 ? 16 : 0;
}

static inline bool kind_has_m(int kind)
{
    return kind == KQ4_1 || kind == KQ5_1;
}

/* Unsigned values below 32 (else signed q: Q8_0, IQ4_NL). */
static inline bool kind_small(int kind)
{
    return kind != KQ8_0 && kind != KIQ4_NL;
}

/* k-groups m and m + 4 of quarter j from the nibble vectors at nib. */
static inline void decode_nibbles(const uint8_t *nib, int j, int8x16_t w[8])
{
    const uint8x16_t m4 = vdupq_n_u8(15);
    for (int m = 0; m < 4; m++) {
        const uint8x16_t raw = vld1q_u8(nib + 64 * m + 16 * j);
        w[m] = vreinterpretq_s8_u8(vandq_u8(raw, m4));
        w[m + 4] = vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
    }
}

/* Adds 16 where bit 4 is set: hbit[g] bits 16j..16j+15 are quarter j. */
static inline void add_hbits(const uint8_t *hb, int j, int8x16_t w[8])
{
    static const uint8_t sel_bytes[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t sel = vld1q_u8(sel_bytes), v16 = vdupq_n_u8(16);
    for (int g = 0; g < 8; g++) {
        const uint8_t *p = hb + 8 * g + 2 * j;
        const uint8x16_t bits = vcombine_u8(vdup_n_u8(p[0]), vdup_n_u8(p[1]));
        const uint8x16_t add = vandq_u8(vtstq_u8(bits, sel), v16);
        w[g] = vreinterpretq_s8_u8(vorrq_u8(vreinterpretq_u8_s8(w[g]), add));
    }
}

static inline __attribute__((always_inline)) void decode_legacy(int kind, const uint8_t *blk, int j,
                                                                int8x16_t w[8])
{
    switch (kind) {
    case KQ8_0: {
        const uint8x16_t flip = vdupq_n_u8(0x80);
        for (int g = 0; g < 8; g++)
            w[g] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(blk + PK_Q8_0_Q + 64 * g + 16 * j), flip));
        break;
    }
    case KQ4_0:
        decode_nibbles(blk + PK_Q4_0_NIB, j, w);
        break;
    case KQ5_0:
        decode_nibbles(blk + PK_Q5_0_NIB, j, w);
        add_hbits(blk + PK_Q5_0_HBIT, j, w);
        break;
    case KIQ4_NL: {
        const int8x16_t lut = vld1q_s8(kvalues_iq4nl);
        decode_nibbles(blk + PK_Q4_0_NIB, j, w);
        for (int g = 0; g < 8; g++) w[g] = vqtbl1q_s8(lut, vreinterpretq_u8_s8(w[g]));
        break;
    }
    case KQ4_1:
        decode_nibbles(blk + PK_Q4_1_NIB, j, w);
        break;
    default: /* KQ5_1 */
        decode_nibbles(blk + PK_Q5_1_NIB, j, w);
        add_hbits(blk + PK_Q5_1_HBIT, j, w);
        break;
    }
}

/* ---- generation path ------------------------------------------------------------ */

#define TG 4

typedef struct act_set {
    kernels_act_q8 a[TG];
    int n;
} act_set;

static inline void act_set_load(act_set *s, const void *x, size_t stride, int64_t t0, int64_t n,
                                int64_t cols)
{
    s->n = (int)TK_MIN(TG, n - t0);
    for (int i = 0; i < s->n; i++)
        s->a[i] = kernels_act_view((const char *)x + (size_t)(t0 + i) * stride, cols);
}

/* Rows [r0, r1) by n < KERNELS_BATCH_MIN vectors: per block, the exact
 * integer dot (minus C times the activations' sum) times d * d_x, plus
 * m times d_x * sum(q) for the types with m. */
static inline __attribute__((always_inline)) void direct_legacy(int kind, const kernels_mat *w,
                                                                int64_t r0, int64_t r1,
                                                                const void *x, size_t xs, int64_t n,
                                                                float *y, int64_t ldy)
{
    const size_t bb = kind_bytes(kind);
    const int64_t nb = w->cols / 32;
    const int c = kind_c(kind);
    for (int64_t r = r0; r < r1; r += G) {
        const uint8_t *grp = (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nb * bb;
        const int nq = (int)TK_MIN(4, (r1 - r + 3) / 4); /* quarters with rows to compute */
        for (int64_t t0 = 0; t0 < n; t0 += TG) {
            act_set as;
            act_set_load(&as, x, xs, t0, n, w->cols);
            float32x4_t acc[TG][4];
            for (int i = 0; i < TG; i++)
                for (int j = 0; j < 4; j++) acc[i][j] = vdupq_n_f32(0.0f);
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *blk = grp + (size_t)b * bb;
                for (int j = 0; j < nq; j++) {
                    int8x16_t wv[8];
                    decode_legacy(kind, blk, j, wv);
                    const float32x4_t dw = load_f16x4(blk + 8 * j);
                    const float32x4_t mw =
                        kind_has_m(kind) ? load_f16x4(blk + PK_Q4_1_M + 8 * j) : dw;
                    for (int i = 0; i < TG; i++) {
                        if (i >= as.n) break;
                        const int8_t *q = as.a[i].q + 32 * b;
                        int32x4_t s = vdupq_n_s32(-c * as.a[i].s[b]);
                        s = dot_q8x32(s, wv, vld1q_s8(q), vld1q_s8(q + 16), kind_small(kind));
                        acc[i][j] =
                            vfmaq_f32(acc[i][j], vcvtq_f32_s32(s), vmulq_n_f32(dw, as.a[i].d[b]));
                        if (kind_has_m(kind)) acc[i][j] = vfmaq_n_f32(acc[i][j], mw, as.a[i].ds[b]);
                    }
                }
            }
            for (int i = 0; i < as.n; i++)
                for (int j = 0; j < nq; j++)
                    store_rows4(y + (t0 + i) * ldy + r + 4 * j, acc[i][j], r1 - r - 4 * j);
        }
    }
}

/* ---- prompt path: a group decoded once into scratch ------------------------------- */

/* One decoded 32-column sub-block of a group: int8 v[512] (k-group g,
 * quarter j at 64g + 16j; with ARM_I8MM row pair rp (rows 2rp, 2rp + 1) x
 * columns 8p..8p+7 at 128p + 16rp), then float s[16], o[16]. */
#define DEC_BYTES 640
#define DEC_S     512
#define DEC_O     576

static inline void put_dec_quarter(uint8_t *e, const int8x16_t w[8], int j)
{
#if ARM_I8MM
    for (int p = 0; p < 4; p++) {
        const int32x4_t a = vreinterpretq_s32_s8(w[2 * p]), b = vreinterpretq_s32_s8(w[2 * p + 1]);
        vst1q_s8((int8_t *)(e + 128 * p + 32 * j), vreinterpretq_s8_s32(vzip1q_s32(a, b)));
        vst1q_s8((int8_t *)(e + 128 * p + 32 * j + 16), vreinterpretq_s8_s32(vzip2q_s32(a, b)));
    }
#else
    for (int g = 0; g < 8; g++) vst1q_s8((int8_t *)(e + 64 * g + 16 * j), w[g]);
#endif
}

static inline __attribute__((always_inline)) void unpack_legacy(int kind, const uint8_t *grp,
                                                                int64_t cols, uint8_t *dec)
{
    const size_t bb = kind_bytes(kind);
    for (int64_t b = 0; b < cols / 32; b++) {
        const uint8_t *blk = grp + (size_t)b * bb;
        uint8_t *e = dec + (size_t)b * DEC_BYTES;
        for (int j = 0; j < 4; j++) {
            int8x16_t wv[8];
            decode_legacy(kind, blk, j, wv);
            put_dec_quarter(e, wv, j);
            const float32x4_t dw = load_f16x4(blk + 8 * j);
            const float32x4_t o = kind_has_m(kind) ? load_f16x4(blk + PK_Q4_1_M + 8 * j)
                                                   : vmulq_n_f32(dw, -(float)kind_c(kind));
            vst1q_f32((float *)(void *)(e + DEC_S) + 4 * j, dw);
            vst1q_f32((float *)(void *)(e + DEC_O) + 4 * j, o);
        }
    }
}

#define TP 4

/* d_x and d_x * sum(q) of block b of vector i of a tile (stride xs). */
static inline float act_d(const kernels_act_q8 *a0, size_t xs, int i, int64_t b)
{
    return load_f32((const char *)(a0->d + b) + (size_t)i * xs);
}

static inline float act_ds(const kernels_act_q8 *a0, size_t xs, int i, int64_t b)
{
    return load_f32((const char *)(a0->ds + b) + (size_t)i * xs);
}

#if ARM_I8MM
/* Rows 8h..8h+7 of a decoded group by NT vectors (vectors padded to pairs
 * by repeating the last): SMMLA multiplies a row pair (2 x 8 bytes) by a
 * vector pair (2 x 8 bytes) into [r0 t0, r0 t1, r1 t0, r1 t1]. The float
 * arithmetic per output is the dot path's (tile below): exact integer dot,
 * then acc + dot * (s * d_x), then + o * d_x * sum(q). */
static inline __attribute__((always_inline)) void batch_tile(const uint8_t *dec, int64_t nsb,
                                                             bool small, const int NT, int h,
                                                             const kernels_act_q8 *a0, size_t xs,
                                                             float *y, int64_t ldy, int64_t valid)
{
    (void)small;
    const int NP = (NT + 1) / 2;
    float32x4_t acc[2][4];
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < 4; k++) acc[p][k] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nsb; b++) {
        const uint8_t *e = dec + (size_t)b * DEC_BYTES;
        int8x16_t xa[2][4];
        float32x4_t da2[2], ds2[2];
        for (int vp = 0; vp < NP; vp++) {
            const int t0 = 2 * vp, t1 = TK_MIN(2 * vp + 1, NT - 1);
            const int8_t *q0 = (const int8_t *)((const char *)(a0->q + 32 * b) + (size_t)t0 * xs);
            const int8_t *q1 = (const int8_t *)((const char *)(a0->q + 32 * b) + (size_t)t1 * xs);
            for (int k = 0; k < 2; k++) {
                const int64x2_t u = vreinterpretq_s64_s8(vld1q_s8(q0 + 16 * k));
                const int64x2_t v = vreinterpretq_s64_s8(vld1q_s8(q1 + 16 * k));
                xa[vp][2 * k] = vreinterpretq_s8_s64(vzip1q_s64(u, v));
                xa[vp][2 * k + 1] = vreinterpretq_s8_s64(vzip2q_s64(u, v));
            }
            const float dd[4] = {act_d(a0, xs, t0, b), act_d(a0, xs, t1, b), act_d(a0, xs, t0, b),
                                 act_d(a0, xs, t1, b)};
            const float dsum[4] = {act_ds(a0, xs, t0, b), act_ds(a0, xs, t1, b),
                                   act_ds(a0, xs, t0, b), act_ds(a0, xs, t1, b)};
            da2[vp] = vld1q_f32(dd);
            ds2[vp] = vld1q_f32(dsum);
        }
        int32x4_t d[2][4];
        for (int vp = 0; vp < NP; vp++)
            for (int k = 0; k < 4; k++) d[vp][k] = vdupq_n_s32(0);
        for (int p = 0; p < 4; p++)
            for (int k = 0; k < 4; k++) {
                const int8x16_t wv = vld1q_s8((const int8_t *)(e + 128 * p + 16 * (4 * h + k)));
                for (int vp = 0; vp < NP; vp++) d[vp][k] = vmmlaq_s32(d[vp][k], wv, xa[vp][p]);
            }
        for (int jj = 0; jj < 2; jj++) {
            const float32x4_t s =
                vld1q_f32((const float *)(const void *)(e + DEC_S) + 8 * h + 4 * jj);
            const float32x4_t o =
                vld1q_f32((const float *)(const void *)(e + DEC_O) + 8 * h + 4 * jj);
            const float32x4_t s2[2] = {vzip1q_f32(s, s), vzip2q_f32(s, s)};
            const float32x4_t o2[2] = {vzip1q_f32(o, o), vzip2q_f32(o, o)};
            for (int vp = 0; vp < NP; vp++)
                for (int u = 0; u < 2; u++) {
                    const int k = 2 * jj + u;
                    acc[vp][k] =
                        vfmaq_f32(acc[vp][k], vcvtq_f32_s32(d[vp][k]), vmulq_f32(s2[u], da2[vp]));
                    acc[vp][k] = vfmaq_f32(acc[vp][k], o2[u], ds2[vp]);
                }
        }
    }
    for (int vp = 0; vp < NP; vp++)
        for (int jj = 0; jj < 2; jj++) {
            const float32x4_t a = acc[vp][2 * jj], c = acc[vp][2 * jj + 1];
            float *yr = y + 4 * jj;
            store_rows4(yr + 2 * vp * ldy, vuzp1q_f32(a, c), valid - 4 * jj);
            if (2 * vp + 1 < NT)
                store_rows4(yr + (2 * vp + 1) * ldy, vuzp2q_f32(a, c), valid - 4 * jj);
        }
}
#else
/* Rows 8h..8h+7 (quarters 2h, 2h + 1) of a decoded group by NT vectors. */
static inline __attribute__((always_inline)) void batch_tile(const uint8_t *dec, int64_t nsb,
                                                             bool small, const int NT, int h,
                                                             const kernels_act_q8 *a0, size_t xs,
                                                             float *y, int64_t ldy, int64_t valid)
{
    float32x4_t acc[TP][2];
    for (int i = 0; i < NT; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nsb; b++) {
        const uint8_t *e = dec + (size_t)b * DEC_BYTES;
        int8x16_t x0[TP], x1[TP];
        for (int i = 0; i < NT; i++) {
            const int8_t *q = (const int8_t *)((const char *)(a0->q + 32 * b) + (size_t)i * xs);
            x0[i] = vld1q_s8(q);
            x1[i] = vld1q_s8(q + 16);
        }
        for (int jj = 0; jj < 2; jj++) {
            const int j = 2 * h + jj;
            int8x16_t wv[8];
            for (int g = 0; g < 8; g++) wv[g] = vld1q_s8((const int8_t *)(e + 64 * g + 16 * j));
            const float32x4_t s = vld1q_f32((const float *)(const void *)(e + DEC_S) + 4 * j);
            const float32x4_t o = vld1q_f32((const float *)(const void *)(e + DEC_O) + 4 * j);
            for (int i = 0; i < NT; i++) {
                const int32x4_t d = dot_q8x32(vdupq_n_s32(0), wv, x0[i], x1[i], small);
                acc[i][jj] =
                    vfmaq_f32(acc[i][jj], vcvtq_f32_s32(d), vmulq_n_f32(s, act_d(a0, xs, i, b)));
                acc[i][jj] = vfmaq_n_f32(acc[i][jj], o, act_ds(a0, xs, i, b));
            }
        }
    }
    for (int i = 0; i < NT; i++)
        for (int jj = 0; jj < 2; jj++)
            store_rows4(y + i * ldy + 4 * jj, acc[i][jj], valid - 4 * jj);
}
#endif

/* Rows [r0, r1) by n >= KERNELS_BATCH_MIN vectors. */
static inline __attribute__((always_inline)) void batch_legacy(int kind, const kernels_mat *w,
                                                               int64_t r0, int64_t r1,
                                                               const void *x, size_t xs, int64_t n,
                                                               float *y, int64_t ldy, void *scratch)
{
    uint8_t *dec = scratch;
    const int64_t nsb = w->cols / 32;
    const size_t group_bytes = (size_t)nsb * kind_bytes(kind);
    const bool small = kind_small(kind);
    for (int64_t r = r0; r < r1; r += G) {
        unpack_legacy(kind, (const uint8_t *)w->data + (size_t)(r / G) * group_bytes, w->cols, dec);
        for (int h = 0; h < 2; h++) {
            const int64_t valid = r1 - r - 8 * h;
            if (valid <= 0) break;
            for (int64_t t0 = 0; t0 < n; t0 += TP) {
                const int nt = (int)TK_MIN(TP, n - t0);
                const kernels_act_q8 a =
                    kernels_act_view((const char *)x + (size_t)t0 * xs, w->cols);
                float *yt = y + t0 * ldy + r + 8 * h;
                switch (nt) {
                case 4:
                    batch_tile(dec, nsb, small, 4, h, &a, xs, yt, ldy, valid);
                    break;
                case 3:
                    batch_tile(dec, nsb, small, 3, h, &a, xs, yt, ldy, valid);
                    break;
                case 2:
                    batch_tile(dec, nsb, small, 2, h, &a, xs, yt, ldy, valid);
                    break;
                default:
                    batch_tile(dec, nsb, small, 1, h, &a, xs, yt, ldy, valid);
                    break;
                }
            }
        }
    }
}

#define DEFINE_LEGACY_MATMUL(name, KIND)                                                           \
    static void matmul_##name(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,         \
                              size_t xs, int64_t n, float *y, int64_t ldy, void *scratch)          \
    {                                                                                              \
        if (n >= KERNELS_BATCH_MIN)                                                                \
            batch_legacy(KIND, w, r0, r1, x, xs, n, y, ldy, scratch);                              \
        else                                                                                       \
            direct_legacy(KIND, w, r0, r1, x, xs, n, y, ldy);                                      \
    }

DEFINE_LEGACY_MATMUL(q8_0, KQ8_0)
DEFINE_LEGACY_MATMUL(q4_0, KQ4_0)
DEFINE_LEGACY_MATMUL(q5_0, KQ5_0)
DEFINE_LEGACY_MATMUL(iq4_nl, KIQ4_NL)
DEFINE_LEGACY_MATMUL(q4_1, KQ4_1)
DEFINE_LEGACY_MATMUL(q5_1, KQ5_1)

/* The decoded group of the prompt path (24 bytes per column at most, in
 * kernels_kq_*.c too: Q6_K's 16-column sub-blocks) with room to spare, or
 * the reference's row of floats. */
static size_t scratch_bytes(int64_t cols)
{
    return (size_t)cols * 32 + 256;
}

/* ---- float weights -------------------------------------------------------------- */

#define RT 4
#define FT 4

/* 4 (or fewer: n, the rest 0) elements of a row of F32, F16 or BF16. */
static inline float32x4_t load_w(int type, const void *row, int64_t c, int64_t n)
{
    const size_t es = type == TK_TYPE_F32 ? 4 : 2;
    const uint8_t *p = (const uint8_t *)row + (size_t)c * es;
    uint8_t tmp[16] = {0};
    if (n < 4) {
        memcpy(tmp, p, (size_t)n * es);
        p = tmp;
    }
    if (type == TK_TYPE_F32) return load_f32x4(p);
    if (type == TK_TYPE_F16) return load_f16x4(p);
    return vreinterpretq_f32_u32(vshll_n_u16(vreinterpret_u16_u8(vld1_u8(p)), 16));
}

static inline void float_tile(int type, const kernels_mat *w, int64_t r, int nr, const void *x,
                              size_t xs, int64_t t, int nt, float *y, int64_t ldy)
{
    float32x4_t acc[RT][FT];
    for (int i = 0; i < RT; i++)
        for (int j = 0; j < FT; j++) acc[i][j] = vdupq_n_f32(0.0f);
    const void *rows[RT];
    for (int i = 0; i < RT; i++)
        rows[i] = (const char *)w->data + (size_t)(r + (i < nr ? i : 0)) * w->row_bytes;
    const char *xv[FT];
    for (int j = 0; j < FT; j++) xv[j] = (const char *)x + (size_t)(t + (j < nt ? j : 0)) * xs;
    for (int64_t c = 0; c < w->cols; c += 4) {
        const int64_t left = w->cols - c;
        float32x4_t xx[FT];
        for (int j = 0; j < FT; j++) xx[j] = load_w(TK_TYPE_F32, xv[j], c, left);
        for (int i = 0; i < RT; i++) {
            if (i >= nr) break;
            const float32x4_t wv = load_w(type, rows[i], c, left);
            for (int j = 0; j < FT; j++)
                if (j < nt) acc[i][j] = vfmaq_f32(acc[i][j], wv, xx[j]);
        }
    }
    for (int i = 0; i < RT; i++)
        for (int j = 0; j < FT; j++)
            if (i < nr && j < nt) y[(t + j) * ldy + r + i] = vaddvq_f32(acc[i][j]);
}

static inline __attribute__((always_inline)) void float_matmul(int type, const kernels_mat *w,
                                                               int64_t r0, int64_t r1,
                                                               const void *x, size_t xs, int64_t n,
                                                               float *y, int64_t ldy)
{
    for (int64_t r = r0; r < r1; r += RT)
        for (int64_t t = 0; t < n; t += FT)
            float_tile(type, w, r, (int)TK_MIN(RT, r1 - r), x, xs, t, (int)TK_MIN(FT, n - t), y,
                       ldy);
}

#define DEFINE_FLOAT_MATMUL(name, TYPE)                                                            \
    static void matmul_##name(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,         \
                              size_t xs, int64_t n, float *y, int64_t ldy, void *scratch)          \
    {                                                                                              \
        (void)scratch;                                                                             \
        float_matmul(TYPE, w, r0, r1, x, xs, n, y, ldy);                                           \
    }

DEFINE_FLOAT_MATMUL(f32, TK_TYPE_F32)
DEFINE_FLOAT_MATMUL(f16, TK_TYPE_F16)
DEFINE_FLOAT_MATMUL(bf16, TK_TYPE_BF16)

/* ---- attention ------------------------------------------------------------------- */

#define AH 4

/* 4 cache elements (F16 or F32) from element i of p; n < 4 loads fewer. */
static inline float32x4_t load_kv(const void *p, bool f16, int64_t i, int64_t n)
{
    return load_w(f16 ? TK_TYPE_F16 : TK_TYPE_F32, p, i, n);
}

/* 16 int8 as floats, in order. */
static inline void widen_s8(int8x16_t q, float32x4_t out[4])
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_s8(vget_high_s8(q));
    out[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    out[1] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo)));
    out[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    out[3] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi)));
}

/* Q4_0 nibbles (low or high half of each byte) as int8 in -8..7. */
static inline int8x16_t nibbles_s8(uint8x16_t raw, bool high)
{
    const uint8x16_t n = high ? vshrq_n_u8(raw, 4) : vandq_u8(raw, vdupq_n_u8(0x0F));
    return vsubq_s8(vreinterpretq_s8_u8(n), vdupq_n_s8(8));
}

/* The 16 positions' keys of dimension d in block kb: kv[4]. For quantized
 * keys, sc holds the scales of d's group (loaded when d % 32 == 0). */
static inline void key_row(const void *kb, int type, int64_t d, float32x4_t sc[4],
                           float32x4_t kv[4])
{
    if (type == TK_TYPE_F16 || type == TK_TYPE_F32) {
        for (int k = 0; k < 4; k++) kv[k] = load_kv(kb, type == TK_TYPE_F16, d * 16 + 4 * k, 4);
        return;
    }
    const uint8_t *g = (const uint8_t *)kb + (size_t)(d / 32) * KERNELS_KQ_GROUP_BYTES(type);
    if (d % 32 == 0)
        for (int k = 0; k < 4; k++) sc[k] = load_w(TK_TYPE_F16, g, 4 * k, 4);
    const int j = (int)(d % 32);
    if (type == TK_TYPE_Q8_0)
        widen_s8(vld1q_s8((const int8_t *)g + 32 + j * 16), kv);
    else
        widen_s8(nibbles_s8(vld1q_u8(g + 32 + (j / 2) * 16), j % 2), kv);
    for (int k = 0; k < 4; k++) kv[k] = vmulq_f32(kv[k], sc[k]);
}

/* The 32 values of dimensions d0 .. d0 + 31 of a quantized value row, not
 * multiplied by the block's scale (returned). */
static inline float value_block(const void *vr, int type, int64_t d0, float32x4_t vv[8])
{
    const uint8_t *b = (const uint8_t *)vr + (size_t)(d0 / 32) * (type == TK_TYPE_Q8_0 ? 34 : 18);
    uint16_t h;
    memcpy(&h, b, 2);
    if (type == TK_TYPE_Q8_0) {
        widen_s8(vld1q_s8((const int8_t *)b + 2), vv);
        widen_s8(vld1q_s8((const int8_t *)b + 18), vv + 4);
    } else {
        const uint8x16_t raw = vld1q_u8(b + 2);
        widen_s8(nibbles_s8(raw, false), vv);
        widen_s8(nibbles_s8(raw, true), vv + 4);
    }
    return tk_fp16_to_fp32(h);
}

static void attn(const kernels_attn *a)
{
    /* Scores of the key blocks touched: position p at s[p - off]. */
    const int64_t b0 = a->lo / 16, b1 = a->hi / 16;
    const int64_t off = 16 * b0, n_pos = 16 * (b1 + 1) - off;
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);

    /* Scores, a key block (16 positions) x up to 4 heads at a time. */
    for (int h0 = 0; h0 < a->nh; h0 += AH) {
        const int nh = TK_MIN(AH, a->nh - h0);
        for (int64_t b = b0; b <= b1; b++) {
            const void *kb = (const char *)a->k + (size_t)b * a->k_block_bytes;
            float32x4_t acc[AH][4];
            for (int h = 0; h < AH; h++)
                for (int k = 0; k < 4; k++) acc[h][k] = vdupq_n_f32(0.0f);
            /* Set by key_row at d = 0 for quantized keys; zeroed so that
             * the compiler can see it is never read unset. */
            float32x4_t sc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),
                                 vdupq_n_f32(0.0f)};
            for (int64_t d = 0; d < a->hd_k; d++) {
                float32x4_t kv[4];
                key_row(kb, a->k_type, d, sc, kv);
                for (int h = 0; h < AH; h++) {
                    if (h >= nh) break;
                    const float qd = a->q[(h0 + h) * a->q_stride + d];
                    for (int k = 0; k < 4; k++) acc[h][k] = vfmaq_n_f32(acc[h][k], kv[k], qd);
                }
            }
            for (int h = 0; h < nh; h++) {
                float *s = a->scores + (size_t)(h0 + h) * (size_t)n_pos + 16 * b - off;
                for (int k = 0; k < 4; k++) vst1q_f32(s + 4 * k, vmulq_n_f32(acc[h][k], a->scale));
                for (int i = 0; i < 16; i++) {
                    const int64_t p = 16 * b + i;
                    if (p < a->lo || p > a->hi)
                        s[i] = -INFINITY;
                    else if (a->softcap > 0.0f)
                        s[i] = tanhf(s[i] * (1.0f / a->softcap)) * a->softcap;
                }
            }
        }
    }

    for (int h = 0; h < a->nh; h++) {
        float *s = a->scores + (size_t)h * (size_t)n_pos;
        float32x4_t mx = ninf;
        for (int64_t p = 0; p < n_pos; p += 4) mx = vmaxq_f32(mx, vld1q_f32(s + p));
        const float max = vmaxvq_f32(mx);
        const float32x4_t m = vdupq_n_f32(max);
        float32x4_t sum = vdupq_n_f32(0.0f);
        for (int64_t p = 0; p < n_pos; p += 4) {
            const float32x4_t v = vld1q_f32(s + p);
            const uint32x4_t keep = vmvnq_u32(vceqq_f32(v, ninf));
            const float32x4_t e = vreinterpretq_f32_u32(
                vandq_u32(keep, vreinterpretq_u32_f32(exp_f32x4(vsubq_f32(v, m)))));
            vst1q_f32(s + p, e);
            sum = vaddq_f32(sum, e);
        }
        /* The partial form keeps the weights unnormalised and reports the
         * max and the sum for the merge. */
        if (a->part_max) {
            a->part_max[h] = max;
            a->part_sum[h] = vaddvq_f32(sum);
            continue;
        }
        const float inv = 1.0f / vaddvq_f32(sum);
        for (int64_t p = 0; p < n_pos; p += 4) vst1q_f32(s + p, vmulq_n_f32(vld1q_f32(s + p), inv));
    }

    /* Values: 2 heads x 32 dimensions at a time. */
    for (int h0 = 0; h0 < a->nh; h0 += 2) {
        const int nh = TK_MIN(2, a->nh - h0);
        for (int64_t d0 = 0; d0 < a->hd_v; d0 += 32) {
            float32x4_t acc[2][8];
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 8; k++) acc[h][k] = vdupq_n_f32(0.0f);
            for (int64_t p = a->lo; p <= a->hi; p++) {
                const void *vr = (const char *)a->v + (size_t)p * a->v_stride;
                float32x4_t vv[8];
                float dv = 1.0f;
                if (a->v_type == TK_TYPE_Q8_0 || a->v_type == TK_TYPE_Q4_0) {
                    dv = value_block(vr, a->v_type, d0, vv);
                } else {
                    for (int k = 0; k < 8; k++) {
                        const int64_t left = a->hd_v - d0 - 4 * k;
                        vv[k] = left > 0 ? load_kv(vr, a->v_type == TK_TYPE_F16, d0 + 4 * k, left)
                                         : vdupq_n_f32(0.0f);
                    }
                }
                for (int h = 0; h < nh; h++) {
                    const float wgt = a->scores[(size_t)(h0 + h) * (size_t)n_pos + p - off] * dv;
                    for (int k = 0; k < 8; k++) acc[h][k] = vfmaq_n_f32(acc[h][k], vv[k], wgt);
                }
            }
            for (int h = 0; h < nh; h++)
                for (int k = 0; k < 8; k++) {
                    const int64_t left = a->hd_v - d0 - 4 * k;
                    if (left > 0)
                        store_rows4(a->out + (h0 + h) * a->out_stride + d0 + 4 * k, acc[h][k],
                                    left);
                }
        }
    }
}

/* ---- vector operations ------------------------------------------------------------ */

static void rms_norm(float *out, const float *x, const float *w, int64_t n, float eps)
{
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
        s0 = vfmaq_f32(s0, a, a);
        s1 = vfmaq_f32(s1, b, b);
    }
    for (; i < n; i += 4) {
        const float32x4_t a = load_w(TK_TYPE_F32, x, i, n - i);
        s0 = vfmaq_f32(s0, a, a);
    }
    const float sum = vaddvq_f32(vaddq_f32(s0, s1));
    const float scale = 1.0f / sqrtf(sum / (float)n + eps);
    for (i = 0; i < n; i += 4) {
        const float32x4_t v = vmulq_f32(vmulq_n_f32(load_w(TK_TYPE_F32, x, i, n - i), scale),
                                        load_w(TK_TYPE_F32, w, i, n - i));
        store_rows4(out + i, v, n - i);
    }
}

static void glu(float *g, const float *u, int64_t n, bool gelu)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    for (int64_t i = 0; i < n; i += 4) {
        const float32x4_t v = load_w(TK_TYPE_F32, g, i, n - i);
        float32x4_t e;
        if (gelu) {
            /* 0.5 v (1 + tanh(y)) = v / (1 + e^-2y) */
            const float32x4_t y =
                vmulq_f32(vmulq_n_f32(v, 0.7978845608028654f),
                          vfmaq_f32(one, vdupq_n_f32(0.044715f), vmulq_f32(v, v)));
            e = exp_f32x4(vmulq_n_f32(y, -2.0f));
        } else {
            e = exp_f32x4(vnegq_f32(v));
        }
        const float32x4_t act = vdivq_f32(v, vaddq_f32(one, e));
        store_rows4(g + i, vmulq_f32(act, load_w(TK_TYPE_F32, u, i, n - i)), n - i);
    }
}

/* ---- the table -------------------------------------------------------------------- */

/* Installs this file's kernels (all but level and name). */
static void fill_arm(kernels_t *k)
{
    k->types[TK_TYPE_F32] = (kernels_type){matmul_f32, KERNELS_ACT_F32, false};
    k->types[TK_TYPE_F16] = (kernels_type){matmul_f16, KERNELS_ACT_F32, false};
    k->types[TK_TYPE_BF16] = (kernels_type){matmul_bf16, KERNELS_ACT_F32, false};
    k->types[TK_TYPE_Q8_0] = (kernels_type){matmul_q8_0, KERNELS_ACT_Q8, true};
    k->types[TK_TYPE_Q4_0] = (kernels_type){matmul_q4_0, KERNELS_ACT_Q8, true};
    k->types[TK_TYPE_Q5_0] = (kernels_type){matmul_q5_0, KERNELS_ACT_Q8, true};
    k->types[TK_TYPE_IQ4_NL] = (kernels_type){matmul_iq4_nl, KERNELS_ACT_Q8, true};
    k->types[TK_TYPE_Q4_1] = (kernels_type){matmul_q4_1, KERNELS_ACT_Q8, true};
    k->types[TK_TYPE_Q5_1] = (kernels_type){matmul_q5_1, KERNELS_ACT_Q8, true};
    k->scratch_bytes = scratch_bytes;
    k->quantize_act = quantize_act;
    k->attn = attn;
    k->rms_norm = rms_norm;
    k->glu = glu;
}

#endif /* __aarch64__ */

#endif
