/* AVX-512 kernels (F, BW, VL, VNNI: the target region of this file, see
 * target.h; called only when the CPU has them: see dispatch.c).
 *
 * Quantized matrices are packed (pack.c): one 512-bit vector holds 4
 * consecutive elements of 16 rows, so vpdpbusd multiplies 16 rows by 4
 * broadcast activation bytes at once and the lanes are rows: no horizontal
 * sums, and the scales of 16 rows are one vector. Two paths:
 *   - few activation vectors (generation): each block is decoded in
 *     registers and used for up to 4 vectors;
 *   - many (prompts, n >= KERNELS_BATCH_MIN): a group of 16 rows is decoded
 *     once into scratch as bytes with per-row float scale and offset
 *     (w = s * v + o) and multiplied with all vectors, 8 at a time, by one
 *     microkernel shared by every type.
 * Float weights use float activations: tiles of 4 rows x 4 vectors. */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__x86_64__) || defined(_M_X64)

#include "core/core.h"
#include "kernels/target.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>

TK_TARGET_BEGIN(TK_TARGET_AVX512) /* to TK_TARGET_END at the end of the file */

#include "kernels/kernels_x86.h"

/* ---- small helpers ------------------------------------------------------- */

static inline __m512 load_f16x16(const void *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* Four activation bytes broadcast to every lane. */
static inline __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

static inline __mmask16 row_mask(int64_t n)
{
    return n >= G ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

/* e^x with a degree-6 polynomial on [-ln2/2, ln2/2] (about 1 ulp); x is
 * clamped to [-104, 89] so -inf gives 0 and large x gives inf. */
static inline __m512 exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* ---- activations ---------------------------------------------------------- */

static void quantize_act(const float *x, int64_t cols, int64_t b0, int64_t b1, void *out)
{
    const kernels_act_q8 a = kernels_act_view(out, cols);
    int8_t *q = (int8_t *)a.q;
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = b0; b < b1; b++) {
        const float *xb = x + 32 * (b - b0);
        const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
        const __m512 a0 = _mm512_andnot_ps(sign, x0), a1 = _mm512_andnot_ps(sign, x1);
        const __m512 big = _mm512_set1_ps(FLT_MAX);
        if ((_mm512_cmp_ps_mask(a0, big, _CMP_LE_OQ) & _mm512_cmp_ps_mask(a1, big, _CMP_LE_OQ)) !=
            0xFFFF) {
            kernels_act_put_nonfinite(&a, b); /* a NaN or an infinity */
            continue;
        }
        const float db = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1)) / 127.0f;
        const float id = kernels_act_inv(db);
        const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, _mm512_set1_ps(id)));
        const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, _mm512_set1_ps(id)));
        _mm_storeu_si128((__m128i *)(void *)(q + 32 * b), _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(void *)(q + 32 * b + 16), _mm512_cvtsepi32_epi8(q1));
        const int32_t h0 = _mm512_reduce_add_epi32(q0), h1 = _mm512_reduce_add_epi32(q1);
        act_put_sums(&a, b, db, h0, h1);
    }
}

/* ---- decoding packed blocks into 8 k-group vectors ----------------------- */

/* Low nibbles are k-groups 0..3, high nibbles 4..7 (pack.c). */
static inline void decode_nibbles(const uint8_t *nib, __m512i w[8])
{
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int m = 0; m < 4; m++) {
        const __m512i raw = _mm512_loadu_si512(nib + 64 * m);
        w[m] = _mm512_and_si512(raw, m4);
        w[m + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
    }
}

static inline void decode_q8_0(const uint8_t *blk, __m512i w[8])
{
    for (int g = 0; g < 8; g++) w[g] = _mm512_loadu_si512(blk + PK_Q8_0_Q + 64 * g);
}

static inline void decode_q4_0(const uint8_t *blk, __m512i w[8])
{
    decode_nibbles(blk + PK_Q4_0_NIB, w);
}

static inline void decode_iq4_nl(const uint8_t *blk, __m512i w[8])
{
    int8_t lut[16];
    for (int i = 0; i < 16; i++) lut[i] = (int8_t)(kvalues_iq4nl[i] + 128);
    const __m512i t = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)lut));
    decode_nibbles(blk + PK_Q4_0_NIB, w);
    for (int g = 0; g < 8; g++) w[g] = _mm512_shuffle_epi8(t, w[g]);
}

/* Adds bit 4 from the masks hbit[8] at hb (Q5_0, Q5_K). */
static inline void add_hbits(const uint8_t *hb, __m512i w[8])
{
    const __m512i b4 = _mm512_set1_epi8(16);
    for (int g = 0; g < 8; g++) {
        uint64_t bits;
        memcpy(&bits, hb + 8 * g, sizeof bits);
        w[g] = _mm512_mask_add_epi8(w[g], _cvtu64_mask64(bits), w[g], b4);
    }
}

static inline void decode_q5_0(const uint8_t *blk, __m512i w[8])
{
    decode_nibbles(blk + PK_Q5_0_NIB, w);
    add_hbits(blk + PK_Q5_0_HBIT, w);
}

/* Q4_K and Q5_K (five): scales, mins and values of sub-block s. */
static inline __attribute__((always_inline)) void kq_sub(const uint8_t *blk, int s, bool five,
                                                         __m512 dw, __m512 dm, __m512 *sc,
                                                         __m512 *mn, __m512i w[8])
{
    const uint8_t *psc = blk + (five ? PK_Q5_K_SC(s) : PK_Q4_K_SC(s));
    const uint8_t *pmn = blk + (five ? PK_Q5_K_MIN(s) : PK_Q4_K_MIN(s));
    *sc = _mm512_mul_ps(dw, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                _mm_loadu_si128((const __m128i *)(const void *)psc))));
    *mn = _mm512_mul_ps(dm, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                _mm_loadu_si128((const __m128i *)(const void *)pmn))));
    decode_nibbles(blk + (five ? PK_Q5_K_NIB(s) : PK_Q4_K_NIB(s)), w);
    if (five) add_hbits(blk + PK_Q5_K_HBIT(s), w);
}

/* Q6_K: 6-bit values of sub-block s of a superblock. */
static inline void decode_q6_k(const uint8_t *blk, int s, __m512i w[8])
{
    decode_nibbles(blk + PK_Q6_K_NIB(s), w);
    const __m512i m = _mm512_set1_epi8(0x30);
    for (int j = 0; j < 2; j++) {
        const __m512i h = _mm512_loadu_si512(blk + PK_Q6_K_H2(s) + 64 * j);
        w[4 * j + 0] = _mm512_or_si512(w[4 * j + 0], _mm512_and_si512(_mm512_slli_epi16(h, 4), m));
        w[4 * j + 1] = _mm512_or_si512(w[4 * j + 1], _mm512_and_si512(_mm512_slli_epi16(h, 2), m));
        w[4 * j + 2] = _mm512_or_si512(w[4 * j + 2], _mm512_and_si512(h, m));
        w[4 * j + 3] = _mm512_or_si512(w[4 * j + 3], _mm512_and_si512(_mm512_srli_epi16(h, 2), m));
    }
}

/* Sum over k-groups [g0, g0 + ng) of w . x, added to acc. */
static inline __m512i dot_groups(__m512i acc, const __m512i *w, const int8_t *x, int ng)
{
    for (int g = 0; g < ng; g++) acc = _mm512_dpbusd_epi32(acc, w[g], bcast4(x + 4 * g));
    return acc;
}

/* ---- generation path: decode in registers, up to TG vectors -------------- */

static inline void store_rows(float *y, int64_t ldy, int64_t t0, int nt, int64_t r, __mmask16 m,
                              const __m512 *acc)
{
    for (int i = 0; i < TG; i++)
        if (i < nt) _mm512_mask_storeu_ps(y + (t0 + i) * ldy + r, m, acc[i]);
}

/* Legacy 32-blocks: w = d * (v - c). */
#define DEFINE_LEGACY_DIRECT(name, BB, C, DECODE)                                                  \
    static void direct_##name(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,         \
                              size_t xs, int64_t n, float *y, int64_t ldy)                         \
    {                                                                                              \
        const int64_t nb = w->cols / 32;                                                           \
        for (int64_t r = r0; r < r1; r += G) {                                                     \
            const uint8_t *grp = (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nb * BB;     \
            for (int64_t t0 = 0; t0 < n; t0 += TG) {                                               \
                act_set as;                                                                        \
                act_set_load(&as, x, xs, t0, n, w->cols);                                          \
                __m512 acc[TG];                                                                    \
                for (int i = 0; i < TG; i++) acc[i] = _mm512_setzero_ps();                         \
                for (int64_t b = 0; b < nb; b++) {                                                 \
                    const uint8_t *blk = grp + (size_t)b * BB;                                     \
                    __m512i wv[8];                                                                 \
                    DECODE(blk, wv);                                                               \
                    const __m512 dw = load_f16x16(blk);                                            \
                    for (int i = 0; i < TG; i++) {                                                 \
                        if (i >= as.n) break;                                                      \
                        __m512i s = _mm512_set1_epi32(-(C)*as.a[i].s[b]);                          \
                        s = dot_groups(s, wv, as.a[i].q + 32 * b, 8);                              \
                        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),                            \
                                                 _mm512_mul_ps(dw, _mm512_set1_ps(as.a[i].d[b])),  \
                                                 acc[i]);                                          \
                    }                                                                              \
                }                                                                                  \
                store_rows(y, ldy, t0, as.n, r, row_mask(r1 - r), acc);                            \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_LEGACY_DIRECT(q8_0, PK_Q8_0_BYTES, 128, decode_q8_0)
DEFINE_LEGACY_DIRECT(q4_0, PK_Q4_0_BYTES, 8, decode_q4_0)
DEFINE_LEGACY_DIRECT(q5_0, PK_Q5_0_BYTES, 16, decode_q5_0)
DEFINE_LEGACY_DIRECT(iq4_nl, PK_Q4_0_BYTES, 128, decode_iq4_nl)

static inline __attribute__((always_inline)) void direct_kq(const kernels_mat *w, int64_t r0,
                                                            int64_t r1, const void *x, size_t xs,
                                                            int64_t n, float *y, int64_t ldy,
                                                            bool five)
{
    const int64_t nsb = w->cols / 256;
    const size_t bb = five ? PK_Q5_K_BYTES : PK_Q4_K_BYTES;
    for (int64_t r = r0; r < r1; r += G) {
        const uint8_t *grp = (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nsb * bb;
        for (int64_t t0 = 0; t0 < n; t0 += TG) {
            act_set as;
            act_set_load(&as, x, xs, t0, n, w->cols);
            __m512 acc[TG];
            for (int i = 0; i < TG; i++) acc[i] = _mm512_setzero_ps();
            for (int64_t B = 0; B < nsb; B++) {
                const uint8_t *blk = grp + (size_t)B * bb;
                const __m512 dw = load_f16x16(blk), dm = load_f16x16(blk + PK_Q4_K_DMIN);
                for (int s = 0; s < 8; s++) {
                    __m512 sc, mn;
                    __m512i wv[8];
                    kq_sub(blk, s, five, dw, dm, &sc, &mn, wv);
                    const int64_t ab = 8 * B + s;
                    for (int i = 0; i < TG; i++) {
                        if (i >= as.n) break;
                        const __m512i d =
                            dot_groups(_mm512_setzero_si512(), wv, as.a[i].q + 32 * ab, 8);
                        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d),
                                                 _mm512_mul_ps(sc, _mm512_set1_ps(as.a[i].d[ab])),
                                                 acc[i]);
                        acc[i] = _mm512_fnmadd_ps(mn, _mm512_set1_ps(as.a[i].ds[ab]), acc[i]);
                    }
                }
            }
            store_rows(y, ldy, t0, as.n, r, row_mask(r1 - r), acc);
        }
    }
}

DEFINE_DIRECT_KQ

static inline __m512 q6_scale(const uint8_t *blk, int h, __m512 dw)
{
    const __m128i s8 = _mm_loadu_si128((const __m128i *)(const void *)(blk + PK_Q6_K_SC(h)));
    return _mm512_mul_ps(dw, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s8)));
}

static void direct_q6_k(const kernels_mat *w, int64_t r0, int64_t r1, const void *x, size_t xs,
                        int64_t n, float *y, int64_t ldy)
{
    const int64_t nsb = w->cols / 256;
    for (int64_t r = r0; r < r1; r += G) {
        const uint8_t *grp =
            (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nsb * PK_Q6_K_BYTES;
        for (int64_t t0 = 0; t0 < n; t0 += TG) {
            act_set as;
            act_set_load(&as, x, xs, t0, n, w->cols);
            __m512 acc[TG];
            for (int i = 0; i < TG; i++) acc[i] = _mm512_setzero_ps();
            for (int64_t B = 0; B < nsb; B++) {
                const uint8_t *blk = grp + (size_t)B * PK_Q6_K_BYTES;
                const __m512 dw = load_f16x16(blk);
                for (int s = 0; s < 8; s++) {
                    const __m512 sc0 = q6_scale(blk, 2 * s, dw), sc1 = q6_scale(blk, 2 * s + 1, dw);
                    __m512i wv[8];
                    decode_q6_k(blk, s, wv);
                    const int64_t ab = 8 * B + s;
                    for (int i = 0; i < TG; i++) {
                        if (i >= as.n) break;
                        const int8_t *q = as.a[i].q + 32 * ab;
                        __m512i d0 = _mm512_set1_epi32(-32 * as.a[i].s16[2 * ab]);
                        __m512i d1 = _mm512_set1_epi32(-32 * as.a[i].s16[2 * ab + 1]);
                        d0 = dot_groups(d0, wv, q, 4);
                        d1 = dot_groups(d1, wv + 4, q + 16, 4);
                        const __m512 da = _mm512_set1_ps(as.a[i].d[ab]);
                        acc[i] =
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), _mm512_mul_ps(sc0, da), acc[i]);
                        acc[i] =
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(d1), _mm512_mul_ps(sc1, da), acc[i]);
                    }
                }
            }
            store_rows(y, ldy, t0, as.n, r, row_mask(r1 - r), acc);
        }
    }
}

/* ---- Q4_1, Q5_1, Q2_K, Q3_K, IQ4_XS ---------------------------------------- */

/* Adds `val` where the masks hbit[8] at hb have a bit (Q3_K: bit 2). */
static inline void add_bits(const uint8_t *hb, __m512i w[8], char val)
{
    const __m512i b = _mm512_set1_epi8(val);
    for (int g = 0; g < 8; g++) {
        uint64_t bits;
        memcpy(&bits, hb + 8 * g, sizeof bits);
        w[g] = _mm512_mask_add_epi8(w[g], _cvtu64_mask64(bits), w[g], b);
    }
}

/* The two-bit values of a 32-column sub-block in the q2 layout (pack.c). */
static inline void decode_2bits(const uint8_t *q2, __m512i w[8])
{
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int j = 0; j < 2; j++) {
        const __m512i raw = _mm512_loadu_si512(q2 + 64 * j);
        w[4 * j + 0] = _mm512_and_si512(raw, m3);
        w[4 * j + 1] = _mm512_and_si512(_mm512_srli_epi16(raw, 2), m3);
        w[4 * j + 2] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m3);
        w[4 * j + 3] = _mm512_and_si512(_mm512_srli_epi16(raw, 6), m3);
    }
}

static inline void decode_q4_1(const uint8_t *blk, __m512i w[8])
{
    decode_nibbles(blk + PK_Q4_1_NIB, w);
}

static inline void decode_q5_1(const uint8_t *blk, __m512i w[8])
{
    decode_nibbles(blk + PK_Q5_1_NIB, w);
    add_bits(blk + PK_Q5_1_HBIT, w, 16);
}

static inline void decode_q3_k(const uint8_t *blk, int s, __m512i w[8])
{
    decode_2bits(blk + PK_Q3_K_Q(s), w);
    add_bits(blk + PK_Q3_K_HBIT(s), w, 4);
}

static inline void decode_iq4_xs(const uint8_t *blk, int s, __m512i w[8])
{
    int8_t lut[16];
    for (int i = 0; i < 16; i++) lut[i] = (int8_t)(kvalues_iq4nl[i] + 128);
    const __m512i t = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)lut));
    decode_nibbles(blk + PK_IQ4_XS_NIB(s), w);
    for (int g = 0; g < 8; g++) w[g] = _mm512_shuffle_epi8(t, w[g]);
}

/* d times the 16 signed bytes at p, as floats. */
static inline __m512 s8_scale(const uint8_t *p, __m512 d)
{
    const __m128i s8 = _mm_loadu_si128((const __m128i *)(const void *)p);
    return _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s8)));
}

/* Q2_K's scale (d * low nibble) and min (dmin * high nibble) of the 16
 * scale bytes at p. */
static inline void q2_k_scales(const uint8_t *p, __m512 dw, __m512 dm, __m512 *sc, __m512 *mn)
{
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    *sc = _mm512_mul_ps(dw, _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(15))));
    *mn = _mm512_mul_ps(dm, _mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4)));
}

/* Q4_1, Q5_1: w = d * v + m. */
#define DEFINE_LEGACY1_DIRECT(name, BB, DECODE)                                                    \
    static void direct_##name(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,         \
                              size_t xs, int64_t n, float *y, int64_t ldy)                         \
    {                                                                                              \
        const int64_t nb = w->cols / 32;                                                           \
        for (int64_t r = r0; r < r1; r += G) {                                                     \
            const uint8_t *grp = (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nb * BB;     \
            for (int64_t t0 = 0; t0 < n; t0 += TG) {                                               \
                act_set as;                                                                        \
                act_set_load(&as, x, xs, t0, n, w->cols);                                          \
                __m512 acc[TG];                                                                    \
                for (int i = 0; i < TG; i++) acc[i] = _mm512_setzero_ps();                         \
                for (int64_t b = 0; b < nb; b++) {                                                 \
                    const uint8_t *blk = grp + (size_t)b * BB;                                     \
                    __m512i wv[8];                                                                 \
                    DECODE(blk, wv);                                                               \
                    const __m512 dw = load_f16x16(blk), mw = load_f16x16(blk + PK_Q4_1_M);         \
                    for (int i = 0; i < TG; i++) {                                                 \
                        if (i >= as.n) break;                                                      \
                        const __m512i s =                                                          \
                            dot_groups(_mm512_setzero_si512(), wv, as.a[i].q + 32 * b, 8);         \
                        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),                            \
                                                 _mm512_mul_ps(dw, _mm512_set1_ps(as.a[i].d[b])),  \
                                                 acc[i]);                                          \
                        acc[i] = _mm512_fmadd_ps(mw, _mm512_set1_ps(as.a[i].ds[b]), acc[i]);       \
                    }                                                                              \
                }                                                                                  \
                store_rows(y, ldy, t0, as.n, r, row_mask(r1 - r), acc);                            \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_LEGACY1_DIRECT(q4_1, PK_Q4_1_BYTES, decode_q4_1)
DEFINE_LEGACY1_DIRECT(q5_1, PK_Q5_1_BYTES, decode_q5_1)

static void direct_q2_k(const kernels_mat *w, int64_t r0, int64_t r1, const void *x, size_t xs,
                        int64_t n, float *y, int64_t ldy)
{
    const int64_t nsb = w->cols / 256;
    for (int64_t r = r0; r < r1; r += G) {
        const uint8_t *grp =
            (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nsb * PK_Q2_K_BYTES;
        for (int64_t t0 = 0; t0 < n; t0 += TG) {
            act_set as;
            act_set_load(&as, x, xs, t0, n, w->cols);
            __m512 acc[TG];
            for (int i = 0; i < TG; i++) acc[i] = _mm512_setzero_ps();
            for (int64_t B = 0; B < nsb; B++) {
                const uint8_t *blk = grp + (size_t)B * PK_Q2_K_BYTES;
                const __m512 dw = load_f16x16(blk), dm = load_f16x16(blk + PK_Q2_K_DMIN);
                for (int s = 0; s < 8; s++) {
                    __m512 sc0, mn0, sc1, mn1;
                    q2_k_scales(blk + PK_Q2_K_SC(2 * s), dw, dm, &sc0, &mn0);
                    q2_k_scales(blk + PK_Q2_K_SC(2 * s + 1), dw, dm, &sc1, &mn1);
                    __m512i wv[8];
                    decode_2bits(blk + PK_Q2_K_Q(s), wv);
                    const int64_t ab = 8 * B + s;
                    for (int i = 0; i < TG; i++) {
                        if (i >= as.n) break;
                        const int8_t *q = as.a[i].q + 32 * ab;
                        const __m512i d0 = dot_groups(_mm512_setzero_si512(), wv, q, 4);
                        const __m512i d1 = dot_groups(_mm512_setzero_si512(), wv + 4, q + 16, 4);
                        const __m512 da = _mm512_set1_ps(as.a[i].d[ab]);
                        acc[i] =
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), _mm512_mul_ps(sc0, da), acc[i]);
                        acc[i] =
                            _mm512_fnmadd_ps(mn0, _mm512_set1_ps(as.a[i].ds16[2 * ab]), acc[i]);
                        acc[i] =
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(d1), _mm512_mul_ps(sc1, da), acc[i]);
                        acc[i] =
                            _mm512_fnmadd_ps(mn1, _mm512_set1_ps(as.a[i].ds16[2 * ab + 1]), acc[i]);
                    }
                }
            }
            store_rows(y, ldy, t0, as.n, r, row_mask(r1 - r), acc);
        }
    }
}

static void direct_q3_k(const kernels_mat *w, int64_t r0, int64_t r1, const void *x, size_t xs,
                        int64_t n, float *y, int64_t ldy)
{
    const int64_t nsb = w->cols / 256;
    for (int64_t r = r0; r < r1; r += G) {
        const uint8_t *grp =
            (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nsb * PK_Q3_K_BYTES;
        for (int64_t t0 = 0; t0 < n; t0 += TG) {
            act_set as;
            act_set_load(&as, x, xs, t0, n, w->cols);
            __m512 acc[TG];
            for (int i = 0; i < TG; i++) acc[i] = _mm512_setzero_ps();
            for (int64_t B = 0; B < nsb; B++) {
                const uint8_t *blk = grp + (size_t)B * PK_Q3_K_BYTES;
                const __m512 dw = load_f16x16(blk);
                for (int s = 0; s < 8; s++) {
                    const __m512 sc0 = s8_scale(blk + PK_Q3_K_SC(2 * s), dw);
                    const __m512 sc1 = s8_scale(blk + PK_Q3_K_SC(2 * s + 1), dw);
                    __m512i wv[8];
                    decode_q3_k(blk, s, wv);
                    const int64_t ab = 8 * B + s;
                    for (int i = 0; i < TG; i++) {
                        if (i >= as.n) break;
                        const int8_t *q = as.a[i].q + 32 * ab;
                        __m512i d0 = _mm512_set1_epi32(-4 * as.a[i].s16[2 * ab]);
                        __m512i d1 = _mm512_set1_epi32(-4 * as.a[i].s16[2 * ab + 1]);
                        d0 = dot_groups(d0, wv, q, 4);
                        d1 = dot_groups(d1, wv + 4, q + 16, 4);
                        const __m512 da = _mm512_set1_ps(as.a[i].d[ab]);
                        acc[i] =
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), _mm512_mul_ps(sc0, da), acc[i]);
                        acc[i] =
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(d1), _mm512_mul_ps(sc1, da), acc[i]);
                    }
                }
            }
            store_rows(y, ldy, t0, as.n, r, row_mask(r1 - r), acc);
        }
    }
}

static void direct_iq4_xs(const kernels_mat *w, int64_t r0, int64_t r1, const void *x, size_t xs,
                          int64_t n, float *y, int64_t ldy)
{
    const int64_t nsb = w->cols / 256;
    for (int64_t r = r0; r < r1; r += G) {
        const uint8_t *grp =
            (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nsb * PK_IQ4_XS_BYTES;
        for (int64_t t0 = 0; t0 < n; t0 += TG) {
            act_set as;
            act_set_load(&as, x, xs, t0, n, w->cols);
            __m512 acc[TG];
            for (int i = 0; i < TG; i++) acc[i] = _mm512_setzero_ps();
            for (int64_t B = 0; B < nsb; B++) {
                const uint8_t *blk = grp + (size_t)B * PK_IQ4_XS_BYTES;
                const __m512 dw = load_f16x16(blk);
                for (int s = 0; s < 8; s++) {
                    const __m512 sc = s8_scale(blk + PK_IQ4_XS_SC(s), dw);
                    __m512i wv[8];
                    decode_iq4_xs(blk, s, wv);
                    const int64_t ab = 8 * B + s;
                    for (int i = 0; i < TG; i++) {
                        if (i >= as.n) break;
                        /* v = kvalue + 128 */
                        __m512i d = _mm512_set1_epi32(-128 * as.a[i].s[ab]);
                        d = dot_groups(d, wv, as.a[i].q + 32 * ab, 8);
                        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d),
                                                 _mm512_mul_ps(sc, _mm512_set1_ps(as.a[i].d[ab])),
                                                 acc[i]);
                    }
                }
            }
            store_rows(y, ldy, t0, as.n, r, row_mask(r1 - r), acc);
        }
    }
}

/* ---- prompt path: decode a group once, multiply all vectors ------------- */

/* Decoded sub-blocks: DEC32_BYTES, DEC16_BYTES (kernels_x86.h). */

static inline void put_dec(uint8_t *e, const __m512i *w, int ng, __m512 s, __m512 o)
{
    for (int g = 0; g < ng; g++) _mm512_store_si512(e + 64 * g, w[g]);
    _mm512_store_ps(e + 64 * ng, s);
    _mm512_store_ps(e + 64 * ng + 64, o);
}

#define DEFINE_LEGACY_DECODE(name, BB, C, DECODE)                                                  \
    static void unpack_##name(const uint8_t *grp, int64_t cols, uint8_t *dec)                      \
    {                                                                                              \
        for (int64_t b = 0; b < cols / 32; b++) {                                                  \
            const uint8_t *blk = grp + (size_t)b * BB;                                             \
            __m512i wv[8];                                                                         \
            DECODE(blk, wv);                                                                       \
            const __m512 dw = load_f16x16(blk);                                                    \
            put_dec(dec + (size_t)b * DEC32_BYTES, wv, 8, dw,                                      \
                    _mm512_mul_ps(dw, _mm512_set1_ps(-(float)(C))));                               \
        }                                                                                          \
    }

DEFINE_LEGACY_DECODE(q8_0, PK_Q8_0_BYTES, 128, decode_q8_0)
DEFINE_LEGACY_DECODE(q4_0, PK_Q4_0_BYTES, 8, decode_q4_0)
DEFINE_LEGACY_DECODE(q5_0, PK_Q5_0_BYTES, 16, decode_q5_0)
DEFINE_LEGACY_DECODE(iq4_nl, PK_Q4_0_BYTES, 128, decode_iq4_nl)

static inline __attribute__((always_inline)) void unpack_kq(const uint8_t *grp, int64_t cols,
                                                            uint8_t *dec, bool five)
{
    const size_t bb = five ? PK_Q5_K_BYTES : PK_Q4_K_BYTES;
    for (int64_t B = 0; B < cols / 256; B++) {
        const uint8_t *blk = grp + (size_t)B * bb;
        const __m512 dw = load_f16x16(blk), dm = load_f16x16(blk + PK_Q4_K_DMIN);
        for (int s = 0; s < 8; s++) {
            __m512 sc, mn;
            __m512i wv[8];
            kq_sub(blk, s, five, dw, dm, &sc, &mn, wv);
            put_dec(dec + (size_t)(8 * B + s) * DEC32_BYTES, wv, 8, sc,
                    _mm512_sub_ps(_mm512_setzero_ps(), mn));
        }
    }
}

DEFINE_UNPACK_KQ

static void unpack_q6_k(const uint8_t *grp, int64_t cols, uint8_t *dec)
{
    const __m512 m32 = _mm512_set1_ps(-32.0f);
    for (int64_t B = 0; B < cols / 256; B++) {
        const uint8_t *blk = grp + (size_t)B * PK_Q6_K_BYTES;
        const __m512 dw = load_f16x16(blk);
        for (int s = 0; s < 8; s++) {
            __m512i wv[8];
            decode_q6_k(blk, s, wv);
            for (int h = 0; h < 2; h++) {
                const __m512 sc = q6_scale(blk, 2 * s + h, dw);
                put_dec(dec + (size_t)(16 * B + 2 * s + h) * DEC16_BYTES, wv + 4 * h, 4, sc,
                        _mm512_mul_ps(sc, m32));
            }
        }
    }
}

#define DEFINE_LEGACY1_DECODE(name, BB, DECODE)                                                    \
    static void unpack_##name(const uint8_t *grp, int64_t cols, uint8_t *dec)                      \
    {                                                                                              \
        for (int64_t b = 0; b < cols / 32; b++) {                                                  \
            const uint8_t *blk = grp + (size_t)b * BB;                                             \
            __m512i wv[8];                                                                         \
            DECODE(blk, wv);                                                                       \
            put_dec(dec + (size_t)b * DEC32_BYTES, wv, 8, load_f16x16(blk),                        \
                    load_f16x16(blk + PK_Q4_1_M));                                                 \
        }                                                                                          \
    }

DEFINE_LEGACY1_DECODE(q4_1, PK_Q4_1_BYTES, decode_q4_1)
DEFINE_LEGACY1_DECODE(q5_1, PK_Q5_1_BYTES, decode_q5_1)

static void unpack_q2_k(const uint8_t *grp, int64_t cols, uint8_t *dec)
{
    for (int64_t B = 0; B < cols / 256; B++) {
        const uint8_t *blk = grp + (size_t)B * PK_Q2_K_BYTES;
        const __m512 dw = load_f16x16(blk), dm = load_f16x16(blk + PK_Q2_K_DMIN);
        for (int s = 0; s < 8; s++) {
            __m512i wv[8];
            decode_2bits(blk + PK_Q2_K_Q(s), wv);
            for (int h = 0; h < 2; h++) {
                __m512 sc, mn;
                q2_k_scales(blk + PK_Q2_K_SC(2 * s + h), dw, dm, &sc, &mn);
                put_dec(dec + (size_t)(16 * B + 2 * s + h) * DEC16_BYTES, wv + 4 * h, 4, sc,
                        _mm512_sub_ps(_mm512_setzero_ps(), mn));
            }
        }
    }
}

static void unpack_q3_k(const uint8_t *grp, int64_t cols, uint8_t *dec)
{
    const __m512 m4 = _mm512_set1_ps(-4.0f);
    for (int64_t B = 0; B < cols / 256; B++) {
        const uint8_t *blk = grp + (size_t)B * PK_Q3_K_BYTES;
        const __m512 dw = load_f16x16(blk);
        for (int s = 0; s < 8; s++) {
            __m512i wv[8];
            decode_q3_k(blk, s, wv);
            for (int h = 0; h < 2; h++) {
                const __m512 sc = s8_scale(blk + PK_Q3_K_SC(2 * s + h), dw);
                put_dec(dec + (size_t)(16 * B + 2 * s + h) * DEC16_BYTES, wv + 4 * h, 4, sc,
                        _mm512_mul_ps(sc, m4));
            }
        }
    }
}

static void unpack_iq4_xs(const uint8_t *grp, int64_t cols, uint8_t *dec)
{
    const __m512 m128 = _mm512_set1_ps(-128.0f);
    for (int64_t B = 0; B < cols / 256; B++) {
        const uint8_t *blk = grp + (size_t)B * PK_IQ4_XS_BYTES;
        const __m512 dw = load_f16x16(blk);
        for (int s = 0; s < 8; s++) {
            __m512i wv[8];
            decode_iq4_xs(blk, s, wv);
            const __m512 sc = s8_scale(blk + PK_IQ4_XS_SC(s), dw);
            put_dec(dec + (size_t)(8 * B + s) * DEC32_BYTES, wv, 8, sc, _mm512_mul_ps(sc, m128));
        }
    }
}

#define TP 8

/* y for rows [r, r + 16) and NT (<= TP) vectors from a decoded group. SB
 * is the sub-block (32 or 16 columns), so the activation scale of sub-block
 * b is d[b * SB / 32] and its offset term ds[b] (SB 32) or ds16[b] (SB 16).
 * The k-group loop is outside the vector loop so that the NT dot products
 * are independent chains the CPU overlaps. Always inlined with constant NT
 * and SB: the accumulators stay in registers. */
static inline __attribute__((always_inline)) void batch_tile(const uint8_t *dec, int64_t cols,
                                                             const int SB, const int NT,
                                                             const kernels_act_q8 *a0, size_t xs,
                                                             float *y, int64_t ldy, __mmask16 rm)
{
    const int ng = SB / 4;
    const size_t eb = SB == 32 ? DEC32_BYTES : DEC16_BYTES;
    const int64_t nsb = cols / SB;
    __m512 acc[TP];
    for (int i = 0; i < NT; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nsb; b++) {
        const uint8_t *e = dec + (size_t)b * eb;
        /* The arrays of vector i are those of vector 0 moved by i * xs. */
        const char *q = (const char *)(a0->q + SB * b);
        const char *da = (const char *)(a0->d + (SB == 32 ? b : b / 2));
        const char *dsum = (const char *)(SB == 32 ? a0->ds + b : a0->ds16 + b);
        __m512i d[TP];
        for (int i = 0; i < NT; i++) d[i] = _mm512_setzero_si512();
        for (int g = 0; g < ng; g++) {
            const __m512i w = _mm512_load_si512(e + 64 * g);
            for (int i = 0; i < NT; i++)
                d[i] = _mm512_dpbusd_epi32(d[i], w,
                                           bcast4((const int8_t *)(q + (size_t)i * xs) + 4 * g));
        }
        const __m512 s = _mm512_load_ps(e + 64 * ng), o = _mm512_load_ps(e + 64 * ng + 64);
        for (int i = 0; i < NT; i++) {
            float dai, dsi;
            memcpy(&dai, da + (size_t)i * xs, sizeof dai);
            memcpy(&dsi, dsum + (size_t)i * xs, sizeof dsi);
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d[i]),
                                     _mm512_mul_ps(s, _mm512_set1_ps(dai)), acc[i]);
            acc[i] = _mm512_fmadd_ps(o, _mm512_set1_ps(dsi), acc[i]);
        }
    }
    for (int i = 0; i < NT; i++) _mm512_mask_storeu_ps(y + i * ldy, rm, acc[i]);
}

#define BATCH_TILE_CASES(SB)                                                                       \
    switch (nt) {                                                                                  \
    case 8:                                                                                        \
        batch_tile(dec, cols, SB, 8, &a, xs, yt, ldy, rm);                                         \
        break;                                                                                     \
    case 7:                                                                                        \
        batch_tile(dec, cols, SB, 7, &a, xs, yt, ldy, rm);                                         \
        break;                                                                                     \
    case 6:                                                                                        \
        batch_tile(dec, cols, SB, 6, &a, xs, yt, ldy, rm);                                         \
        break;                                                                                     \
    case 5:                                                                                        \
        batch_tile(dec, cols, SB, 5, &a, xs, yt, ldy, rm);                                         \
        break;                                                                                     \
    case 4:                                                                                        \
        batch_tile(dec, cols, SB, 4, &a, xs, yt, ldy, rm);                                         \
        break;                                                                                     \
    case 3:                                                                                        \
        batch_tile(dec, cols, SB, 3, &a, xs, yt, ldy, rm);                                         \
        break;                                                                                     \
    case 2:                                                                                        \
        batch_tile(dec, cols, SB, 2, &a, xs, yt, ldy, rm);                                         \
        break;                                                                                     \
    default:                                                                                       \
        batch_tile(dec, cols, SB, 1, &a, xs, yt, ldy, rm);                                         \
        break;                                                                                     \
    }

/* All n vectors against a decoded group of rows [r, r + 16). */
static void batch_group32(const uint8_t *dec, int64_t cols, const void *x, size_t xs, int64_t n,
                          float *y, int64_t ldy, int64_t r, __mmask16 rm)
{
    for (int64_t t0 = 0; t0 < n; t0 += TP) {
        const int nt = (int)TK_MIN(TP, n - t0);
        const kernels_act_q8 a = kernels_act_view((const char *)x + (size_t)t0 * xs, cols);
        float *yt = y + t0 * ldy + r;
        BATCH_TILE_CASES(32)
    }
}

static void batch_group16(const uint8_t *dec, int64_t cols, const void *x, size_t xs, int64_t n,
                          float *y, int64_t ldy, int64_t r, __mmask16 rm)
{
    for (int64_t t0 = 0; t0 < n; t0 += TP) {
        const int nt = (int)TK_MIN(TP, n - t0);
        const kernels_act_q8 a = kernels_act_view((const char *)x + (size_t)t0 * xs, cols);
        float *yt = y + t0 * ldy + r;
        BATCH_TILE_CASES(16)
    }
}

static void batch_matmul(const kernels_mat *w, int64_t r0, int64_t r1, const void *x, size_t xs,
                         int64_t n, float *y, int64_t ldy, void *scratch, size_t group_bytes,
                         unpack_fn unpack, int SB)
{
    uint8_t *dec = scratch;
    for (int64_t r = r0; r < r1; r += G) {
        unpack((const uint8_t *)w->data + (size_t)(r / G) * group_bytes, w->cols, dec);
        if (SB == 32)
            batch_group32(dec, w->cols, x, xs, n, y, ldy, r, row_mask(r1 - r));
        else
            batch_group16(dec, w->cols, x, xs, n, y, ldy, r, row_mask(r1 - r));
    }
}

DEFINE_MATMUL(q8_0, 32, PK_Q8_0_BYTES, 32)
DEFINE_MATMUL(q4_0, 32, PK_Q4_0_BYTES, 32)
DEFINE_MATMUL(q5_0, 32, PK_Q5_0_BYTES, 32)
DEFINE_MATMUL(iq4_nl, 32, PK_Q4_0_BYTES, 32)
DEFINE_MATMUL(q4_k, 256, PK_Q4_K_BYTES, 32)
DEFINE_MATMUL(q5_k, 256, PK_Q5_K_BYTES, 32)
DEFINE_MATMUL(q6_k, 256, PK_Q6_K_BYTES, 16)
DEFINE_MATMUL(q4_1, 32, PK_Q4_1_BYTES, 32)
DEFINE_MATMUL(q5_1, 32, PK_Q5_1_BYTES, 32)
DEFINE_MATMUL(q2_k, 256, PK_Q2_K_BYTES, 16)
DEFINE_MATMUL(q3_k, 256, PK_Q3_K_BYTES, 16)
DEFINE_MATMUL(iq4_xs, 256, PK_IQ4_XS_BYTES, 32)

/* ---- float weights --------------------------------------------------------- */

#define RT 4
#define FT 4

/* 16 (or fewer, masked) elements of a row of F32, F16 or BF16 as floats. */
static inline __m512 load_w(int type, const void *row, int64_t c, __mmask16 m)
{
    if (type == TK_TYPE_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + c);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + c);
    if (type == TK_TYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

static inline void float_tile(int type, const kernels_mat *w, int64_t r, int nr, const void *x,
                              size_t xs, int64_t t, int nt, float *y, int64_t ldy)
{
    __m512 acc[RT][FT];
    for (int i = 0; i < RT; i++)
        for (int j = 0; j < FT; j++) acc[i][j] = _mm512_setzero_ps();
    const void *rows[RT];
    for (int i = 0; i < RT; i++)
        rows[i] = (const char *)w->data + (size_t)(r + (i < nr ? i : 0)) * w->row_bytes;
    const float *xv[FT];
    for (int j = 0; j < FT; j++)
        xv[j] =
            (const float *)(const void *)((const char *)x + (size_t)(t + (j < nt ? j : 0)) * xs);
    for (int64_t c = 0; c < w->cols; c += 16) {
        const __mmask16 m = row_mask(w->cols - c);
        __m512 xx[FT];
        for (int j = 0; j < FT; j++)
            xx[j] = j < nt ? _mm512_maskz_loadu_ps(m, xv[j] + c) : _mm512_setzero_ps();
        for (int i = 0; i < RT; i++) {
            if (i >= nr) break;
            const __m512 wv = load_w(type, rows[i], c, m);
            for (int j = 0; j < FT; j++)
                if (j < nt) acc[i][j] = _mm512_fmadd_ps(wv, xx[j], acc[i][j]);
        }
    }
    for (int i = 0; i < RT; i++)
        for (int j = 0; j < FT; j++)
            if (i < nr && j < nt) y[(t + j) * ldy + r + i] = _mm512_reduce_add_ps(acc[i][j]);
}

DEFINE_FLOAT_MATMULS

/* ---- attention ------------------------------------------------------------- */

#define AH 8

static inline __m512 load_kv(const void *p, bool f16, int64_t i, __mmask16 m)
{
    if (f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
    return _mm512_maskz_loadu_ps(m, (const float *)p + i);
}

/* acc[h] = sum_d qh[h][d] * (key block kb)[d][0..16) for AH heads. Inlined
 * with f16 a constant, so the loop has no branch and the accumulators stay
 * in registers. */
static inline __attribute__((always_inline)) void
score_block(const void *kb, int type, const float *const *qh, int64_t hd, __m512 *acc)
{
    for (int h = 0; h < AH; h++) acc[h] = _mm512_setzero_ps();
    if (type == TK_TYPE_F16 || type == TK_TYPE_F32) {
        for (int64_t d = 0; d < hd; d++) {
            const __m512 kv = load_kv(kb, type == TK_TYPE_F16, d * 16, 0xFFFF);
            for (int h = 0; h < AH; h++)
                acc[h] = _mm512_fmadd_ps(_mm512_set1_ps(qh[h][d]), kv, acc[h]);
        }
        return;
    }
    /* Quantized groups of 32 dimensions: the 16 positions' scales multiply
     * the integers as they are widened to floats. */
    const __m128i low4 = _mm_set1_epi8(0x0F);
    const __m512i eight = _mm512_set1_epi32(8);
    for (int64_t g0 = 0; g0 < hd; g0 += 32) {
        const uint8_t *g = (const uint8_t *)kb + (size_t)(g0 / 32) * KERNELS_KQ_GROUP_BYTES(type);
        const __m512 sc = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)g));
        const uint8_t *q = g + 32;
        if (type == TK_TYPE_Q8_0) {
            for (int j = 0; j < 32; j++) {
                const __m512 kv =
                    _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
                                      (const __m128i *)(const void *)(q + j * 16)))),
                                  sc);
                for (int h = 0; h < AH; h++)
                    acc[h] = _mm512_fmadd_ps(_mm512_set1_ps(qh[h][g0 + j]), kv, acc[h]);
            }
        } else {
            for (int i = 0; i < 16; i++) {
                const __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)(q + i * 16));
                const __m128i nib[2] = {_mm_and_si128(raw, low4),
                                        _mm_and_si128(_mm_srli_epi16(raw, 4), low4)};
                for (int e = 0; e < 2; e++) {
                    const __m512 kv = _mm512_mul_ps(
                        _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(nib[e]), eight)),
                        sc);
                    for (int h = 0; h < AH; h++)
                        acc[h] = _mm512_fmadd_ps(_mm512_set1_ps(qh[h][g0 + 2 * i + e]), kv, acc[h]);
                }
            }
        }
    }
}

/* The 16 values of dimensions d .. d + 15 of a quantized value row (d a
 * multiple of 16), times their block's scale. */
static inline __attribute__((always_inline)) __m512 load_vq(const void *vr, int type, int64_t d)
{
    const uint8_t *b = (const uint8_t *)vr + (size_t)(d / 32) * (type == TK_TYPE_Q8_0 ? 34 : 18);
    uint16_t h;
    memcpy(&h, b, 2);
    const __m512 sc = _mm512_set1_ps(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))));
    const bool second = d % 32 != 0;
    __m512i q;
    if (type == TK_TYPE_Q8_0) {
        q = _mm512_cvtepi8_epi32(
            _mm_loadu_si128((const __m128i *)(const void *)(b + 2 + 16 * second)));
    } else {
        const __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)(b + 2));
        const __m128i nib =
            _mm_and_si128(second ? _mm_srli_epi16(raw, 4) : raw, _mm_set1_epi8(0x0F));
        q = _mm512_sub_epi32(_mm512_cvtepu8_epi32(nib), _mm512_set1_epi32(8));
    }
    return _mm512_mul_ps(_mm512_cvtepi32_ps(q), sc);
}

/* acc[h][j] = sum_p wh[h][p - off] * v_p[d0 + 16 j ..] for 4 heads, p in
 * lo..hi. */
static inline __attribute__((always_inline)) void value_rows(const kernels_attn *a, int type,
                                                             const float *const *wh, int64_t off,
                                                             int64_t d0, const __mmask16 *dm,
                                                             __m512 acc[4][4])
{
    for (int h = 0; h < 4; h++)
        for (int j = 0; j < 4; j++) acc[h][j] = _mm512_setzero_ps();
    for (int64_t p = a->lo; p <= a->hi; p++) {
        const void *vr = (const char *)a->v + (size_t)p * a->v_stride;
        __m512 vv[4];
        for (int j = 0; j < 4; j++) {
            if (type == TK_TYPE_F16 || type == TK_TYPE_F32)
                vv[j] = load_kv(vr, type == TK_TYPE_F16, d0 + 16 * j, dm[j]);
            else
                vv[j] = dm[j] ? load_vq(vr, type, d0 + 16 * j) : _mm512_setzero_ps();
        }
        for (int h = 0; h < 4; h++) {
            const __m512 wgt = _mm512_set1_ps(wh[h][p - off]);
            for (int j = 0; j < 4; j++) acc[h][j] = _mm512_fmadd_ps(wgt, vv[j], acc[h][j]);
        }
    }
}

static void attn(const kernels_attn *a)
{
    const int64_t b0 = a->lo / 16, b1 = a->hi / 16;
    const int64_t n_pos = 16 * (b1 - b0 + 1);
    /* Scores of the key blocks touched: position p of head h at
     * scores[h * n_pos + p - 16 * b0]. */
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

    /* Scores, 16 positions x up to 8 heads at a time; positions outside
     * [lo, hi] become -inf. */
    for (int h0 = 0; h0 < a->nh; h0 += AH) {
        const int nh = TK_MIN(AH, a->nh - h0);
        for (int64_t b = b0; b <= b1; b++) {
            const void *kb = (const char *)a->k + (size_t)b * a->k_block_bytes;
            /* Heads past the last repeat it (computed, not stored). */
            const float *qh[AH];
            for (int h = 0; h < AH; h++) qh[h] = a->q + (h0 + TK_MIN(h, nh - 1)) * a->q_stride;
            __m512 acc[AH];
            switch (a->k_type) {
            case TK_TYPE_F16:
                score_block(kb, TK_TYPE_F16, qh, a->hd_k, acc);
                break;
            case TK_TYPE_Q8_0:
                score_block(kb, TK_TYPE_Q8_0, qh, a->hd_k, acc);
                break;
            case TK_TYPE_Q4_0:
                score_block(kb, TK_TYPE_Q4_0, qh, a->hd_k, acc);
                break;
            default:
                score_block(kb, TK_TYPE_F32, qh, a->hd_k, acc);
            }
            const __m512i pos = _mm512_add_epi32(_mm512_set1_epi32((int32_t)(16 * b)), lane);
            const __mmask16 in = _mm512_cmpge_epi32_mask(pos, _mm512_set1_epi32((int32_t)a->lo)) &
                                 _mm512_cmple_epi32_mask(pos, _mm512_set1_epi32((int32_t)a->hi));
            for (int h = 0; h < nh; h++) {
                float *s = a->scores + (size_t)(h0 + h) * (size_t)n_pos + 16 * (b - b0);
                __m512 v = _mm512_mul_ps(acc[h], _mm512_set1_ps(a->scale));
                if (a->softcap > 0.0f) {
                    _mm512_storeu_ps(s, v);
                    for (int i = 0; i < 16; i++)
                        s[i] = tanhf(s[i] * (1.0f / a->softcap)) * a->softcap;
                    v = _mm512_loadu_ps(s);
                }
                _mm512_storeu_ps(s, _mm512_mask_blend_ps(in, ninf, v));
            }
        }
    }

    /* Softmax weights, in place. */
    for (int h = 0; h < a->nh; h++) {
        float *s = a->scores + (size_t)h * (size_t)n_pos;
        __m512 mx = ninf;
        for (int64_t b = 0; b < n_pos / 16; b++)
            mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + 16 * b));
        const float mxs = _mm512_reduce_max_ps(mx);
        const __m512 m = _mm512_set1_ps(mxs);
        __m512 sum = _mm512_setzero_ps();
        for (int64_t b = 0; b < n_pos / 16; b++) {
            const __m512 v = _mm512_loadu_ps(s + 16 * b);
            const __m512 e = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, ninf, _CMP_NEQ_OQ),
                                                 exp512(_mm512_sub_ps(v, m)));
            _mm512_storeu_ps(s + 16 * b, e);
            sum = _mm512_add_ps(sum, e);
        }
        const float total = _mm512_reduce_add_ps(sum);
        if (a->part_max) {
            /* Partial form: the weights stay exp(s - max). */
            a->part_max[h] = mxs;
            a->part_sum[h] = total;
            continue;
        }
        const __m512 inv = _mm512_set1_ps(1.0f / total);
        for (int64_t b = 0; b < n_pos / 16; b++)
            _mm512_storeu_ps(s + 16 * b, _mm512_mul_ps(_mm512_loadu_ps(s + 16 * b), inv));
    }

    /* Values: 4 heads x 64 dimensions at a time. */
    for (int h0 = 0; h0 < a->nh; h0 += 4) {
        const int nh = TK_MIN(4, a->nh - h0);
        for (int64_t d0 = 0; d0 < a->hd_v; d0 += 64) {
            __m512 acc[4][4];
            __mmask16 dm[4];
            for (int j = 0; j < 4; j++) {
                const int64_t left = a->hd_v - d0 - 16 * j;
                dm[j] = left <= 0 ? 0 : row_mask(left);
            }
            /* Weights by position; heads past the last repeat it. */
            const float *wh[4];
            for (int h = 0; h < 4; h++)
                wh[h] = a->scores + (size_t)(h0 + TK_MIN(h, nh - 1)) * (size_t)n_pos;
            switch (a->v_type) {
            case TK_TYPE_F16:
                value_rows(a, TK_TYPE_F16, wh, 16 * b0, d0, dm, acc);
                break;
            case TK_TYPE_Q8_0:
                value_rows(a, TK_TYPE_Q8_0, wh, 16 * b0, d0, dm, acc);
                break;
            case TK_TYPE_Q4_0:
                value_rows(a, TK_TYPE_Q4_0, wh, 16 * b0, d0, dm, acc);
                break;
            default:
                value_rows(a, TK_TYPE_F32, wh, 16 * b0, d0, dm, acc);
            }
            for (int h = 0; h < nh; h++)
                for (int j = 0; j < 4; j++)
                    if (dm[j])
                        _mm512_mask_storeu_ps(a->out + (h0 + h) * a->out_stride + d0 + 16 * j,
                                              dm[j], acc[h][j]);
        }
    }
}

/* ---- vector operations ------------------------------------------------------ */

static void rms_norm(float *out, const float *x, const float *w, int64_t n, float eps)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        s0 = _mm512_fmadd_ps(a, a, s0);
        s1 = _mm512_fmadd_ps(b, b, s1);
    }
    for (; i < n; i += 16) {
        const __m512 a = _mm512_maskz_loadu_ps(row_mask(n - i), x + i);
        s0 = _mm512_fmadd_ps(a, a, s0);
    }
    const float sum = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    const __m512 scale = _mm512_set1_ps(1.0f / sqrtf(sum / (float)n + eps));
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = row_mask(n - i);
        const __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale),
                                       _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(out + i, m, v);
    }
}

static void glu(float *g, const float *u, int64_t n, bool gelu)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = row_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, g + i);
        __m512 a;
        if (gelu) {
            /* 0.5 v (1 + tanh(y)) = v / (1 + e^-2y): no cancellation where
             * tanh(y) is near -1. */
            const __m512 y =
                _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f), v),
                              _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), _mm512_mul_ps(v, v), one));
            a = _mm512_div_ps(v,
                              _mm512_add_ps(one, exp512(_mm512_mul_ps(_mm512_set1_ps(-2.0f), y))));
        } else {
            a = _mm512_div_ps(v, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
        }
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

DEFINE_FILL_X86

void kernels_fill_avx512(kernels_t *k)
{
    k->level = TK_LEVEL_AVX512;
    k->name = "avx512";
    fill_x86(k);
    kernels_fill_mlx_avx512(k);
}

TK_TARGET_END

#endif
