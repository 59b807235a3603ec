/* AVX2 kernels (AVX2, FMA, F16C: the target region of this file, see
 * target.h; called only when the CPU has them: see dispatch.c).
 *
 * Same packed layouts and the same two paths as the AVX-512 level (see
 * kernels_avx512.c), on 256-bit vectors: a 64-byte k-group vector of the
 * packed layout is two halves of 8 rows, handled one after the other. There
 * is no vpdpbusd: bytes are multiplied with vpmaddubsw (u8 x s8, pairs
 * summed into saturating int16) and widened with vpmaddwd. Values up to 63
 * (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) let two such
 * products be added in 16 bits before widening without saturating
 * (2 * 2 * 63 * 127 < 32768); Q8_0, IQ4_NL and IQ4_XS values are signed and
 * go through vpsignb, one product at a time. */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__x86_64__) || defined(_M_X64)

#include "core/core.h"
#include "kernels/target.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>

TK_TARGET_BEGIN(TK_TARGET_AVX2) /* to TK_TARGET_END at the end of the file */

#include "kernels/kernels_x86.h"

/* ---- small helpers ------------------------------------------------------- */

static inline __m256 load_f16x8(const void *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static inline __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int32_t hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* Lanes [0, n) set (n <= 8), as a mask for maskload/maskstore. */
static inline __m256i lane_mask(int64_t n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)TK_MIN(n, 8)), idx);
}

/* Stores the lanes of rows [r, r + 8) that are below `valid`. */
static inline void store_rows8(float *y, __m256 v, int64_t valid)
{
    if (valid >= 8)
        _mm256_storeu_ps(y, v);
    else if (valid > 0)
        _mm256_maskstore_ps(y, lane_mask(valid), v);
}

/* e^x as in the AVX-512 level: degree-6 polynomial, x clamped to [-104, 89];
 * 2^n built in two halves so that n down to -151 stays exact. */
static inline __m256 exp256(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    /* 2^n = 2^(n/2) * 2^(n - n/2), each factor a normal float. */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
}

/* ---- activations ---------------------------------------------------------- */

static void quantize_act(const float *x, int64_t cols, int64_t b0, int64_t b1, void *out)
{
    const kernels_act_q8 a = kernels_act_view(out, cols);
    int8_t *q = (int8_t *)a.q;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = b0; b < b1; b++) {
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        int finite = 0xFF;
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(x + 32 * (b - b0) + 8 * j);
            const __m256 av = _mm256_andnot_ps(sign, v[j]);
            finite &= _mm256_movemask_ps(_mm256_cmp_ps(av, _mm256_set1_ps(FLT_MAX), _CMP_LE_OQ));
            m = _mm256_max_ps(m, av);
        }
        if (finite != 0xFF) {
            kernels_act_put_nonfinite(&a, b); /* a NaN or an infinity */
            continue;
        }
        const float db = hmax(m) / 127.0f;
        const float id = kernels_act_inv(db);
        __m256i qi[4];
        for (int j = 0; j < 4; j++)
            qi[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], _mm256_set1_ps(id)));
        /* int32 -> int8 keeping the order: packs work per 128-bit lane. */
        const __m256i p16a = _mm256_packs_epi32(qi[0], qi[1]);
        const __m256i p16b = _mm256_packs_epi32(qi[2], qi[3]);
        __m256i p8 = _mm256_packs_epi16(p16a, p16b);
        p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(void *)(q + 32 * b), p8);
        const int32_t h0 = hsum_i32(_mm256_add_epi32(qi[0], qi[1]));
        const int32_t h1 = hsum_i32(_mm256_add_epi32(qi[2], qi[3]));
        act_put_sums(&a, b, db, h0, h1);
    }
}

/* ---- byte products ---------------------------------------------------------- */

/* Sum over k-group pairs of w . x for values <= 63, into acc (8 rows). */
static inline __m256i dot_pair(__m256i acc, __m256i w0, __m256i w1, const int8_t *x0,
                               const int8_t *x1)
{
    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w0, bcast4(x0)),
                                       _mm256_maddubs_epi16(w1, bcast4(x1)));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* One k-group of signed values (stored as v = q + 128). */
static inline __m256i dot_signed(__m256i acc, __m256i v, const int8_t *x)
{
    const __m256i q = _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80));
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(bcast4(x), q));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* ---- decoding half a packed block (8 rows) ---------------------------------- */

/* The 32 bytes of half h of the 64-byte vector at p. */
static inline __m256i half_load(const uint8_t *p, int h)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 * h));
}

/* Bits 32h..32h+31 of the 64-bit word at p, each as a byte: 0xFF if set. */
static inline __m256i bits_to_bytes(const uint8_t *p, int h)
{
    uint32_t bits;
    memcpy(&bits, p + 4 * h, sizeof bits);
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                          2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int32_t)bits), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, sel), sel);
}

/* The same, 0x10 if set. */
static inline __m256i bits_to_0x10(const uint8_t *p, int h)
{
    return _mm256_and_si256(bits_to_bytes(p, h), _mm256_set1_epi8(16));
}

/* k-groups m and m + 4 of a 32-column sub-block whose nibbles are at nib. */
static inline void nib_pair(const uint8_t *nib, int m, int h, __m256i *lo, __m256i *hi)
{
    const __m256i raw = half_load(nib + 64 * m, h);
    const __m256i m4 = _mm256_set1_epi8(15);
    *lo = _mm256_and_si256(raw, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
}

/* All 8 k-groups of half h of a 32-column sub-block whose nibbles are at nib. */
static inline void decode_nibbles(const uint8_t *nib, int h, __m256i w[8])
{
    for (int m = 0; m < 4; m++) nib_pair(nib, m, h, &w[m], &w[m + 4]);
}

/* All 8 k-groups of half h of a legacy block into w[8]. */
static inline void decode_q8_0(const uint8_t *blk, int h, __m256i w[8])
{
    for (int g = 0; g < 8; g++) w[g] = half_load(blk + PK_Q8_0_Q + 64 * g, h);
}

static inline void decode_q4_0(const uint8_t *blk, int h, __m256i w[8])
{
    decode_nibbles(blk + PK_Q4_0_NIB, h, w);
}

static inline void decode_iq4_nl(const uint8_t *blk, int h, __m256i w[8])
{
    int8_t lut[16];
    for (int i = 0; i < 16; i++) lut[i] = (int8_t)(kvalues_iq4nl[i] + 128);
    const __m128i l = _mm_loadu_si128((const __m128i *)(const void *)lut);
    const __m256i t = _mm256_set_m128i(l, l);
    decode_q4_0(blk, h, w);
    for (int g = 0; g < 8; g++) w[g] = _mm256_shuffle_epi8(t, w[g]);
}

/* Adds bit 4 from the masks hbit[8] at hb (Q5_0, Q5_K). */
static inline void add_hbits(const uint8_t *hb, int h, __m256i w[8])
{
    for (int g = 0; g < 8; g++) w[g] = _mm256_or_si256(w[g], bits_to_0x10(hb + 8 * g, h));
}

static inline void decode_q5_0(const uint8_t *blk, int h, __m256i w[8])
{
    decode_nibbles(blk + PK_Q5_0_NIB, h, w);
    add_hbits(blk + PK_Q5_0_HBIT, h, w);
}

static inline void decode_q6_k(const uint8_t *blk, int s, int h, __m256i w[8])
{
    decode_nibbles(blk + PK_Q6_K_NIB(s), h, w);
    const __m256i m = _mm256_set1_epi8(0x30);
    for (int j = 0; j < 2; j++) {
        const __m256i hb = half_load(blk + PK_Q6_K_H2(s) + 64 * j, h);
        w[4 * j + 0] = _mm256_or_si256(w[4 * j + 0], _mm256_and_si256(_mm256_slli_epi16(hb, 4), m));
        w[4 * j + 1] = _mm256_or_si256(w[4 * j + 1], _mm256_and_si256(_mm256_slli_epi16(hb, 2), m));
        w[4 * j + 2] = _mm256_or_si256(w[4 * j + 2], _mm256_and_si256(hb, m));
        w[4 * j + 3] = _mm256_or_si256(w[4 * j + 3], _mm256_and_si256(_mm256_srli_epi16(hb, 2), m));
    }
}

/* Dot of 8 k-groups (or 4 when ng == 4) with activations x. */
static inline __m256i dot_unsigned(__m256i acc, const __m256i *w, const int8_t *x, int ng)
{
    for (int g = 0; g + 1 < ng; g += 2)
        acc = dot_pair(acc, w[g], w[g + 1], x + 4 * g, x + 4 * g + 4);
    return acc;
}

static inline __m256i dot_signed8(__m256i acc, const __m256i *w, const int8_t *x)
{
    for (int g = 0; g < 8; g++) acc = dot_signed(acc, w[g], x + 4 * g);
    return acc;
}

/* ---- generation path (act_set: kernels_x86.h) ---------------------------------- */

/* Legacy 32-blocks: w = d * (v - C); signed types multiply q directly. */
#define DEFINE_LEGACY_DIRECT(name, BB, C, DECODE, SIGNED)                                          \
    static void direct_##name(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,         \
                              size_t xs, int64_t n, float *y, int64_t ldy)                         \
    {                                                                                              \
        const int64_t nb = w->cols / 32;                                                           \
        for (int64_t r = r0; r < r1; r += G) {                                                     \
            const uint8_t *grp = (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nb * BB;     \
            for (int h = 0; h < 2; h++) {                                                          \
                if (r + 8 * h >= r1) break;                                                        \
                for (int64_t t0 = 0; t0 < n; t0 += TG) {                                           \
                    act_set as;                                                                    \
                    act_set_load(&as, x, xs, t0, n, w->cols);                                      \
                    __m256 acc[TG];                                                                \
                    for (int i = 0; i < TG; i++) acc[i] = _mm256_setzero_ps();                     \
                    for (int64_t b = 0; b < nb; b++) {                                             \
                        const uint8_t *blk = grp + (size_t)b * BB;                                 \
                        __m256i wv[8];                                                             \
                        DECODE(blk, h, wv);                                                        \
                        const __m256 dw = load_f16x8(blk + 16 * h);                                \
                        for (int i = 0; i < TG; i++) {                                             \
                            if (i >= as.n) break;                                                  \
                            __m256i s;                                                             \
                            if (SIGNED)                                                            \
                                s = dot_signed8(_mm256_setzero_si256(), wv, as.a[i].q + 32 * b);   \
                            else                                                                   \
                                s = dot_unsigned(_mm256_set1_epi32(-(C)*as.a[i].s[b]), wv,         \
                                                 as.a[i].q + 32 * b, 8);                           \
                            acc[i] = _mm256_fmadd_ps(                                              \
                                _mm256_cvtepi32_ps(s),                                             \
                                _mm256_mul_ps(dw, _mm256_set1_ps(as.a[i].d[b])), acc[i]);          \
                        }                                                                          \
                    }                                                                              \
                    for (int i = 0; i < as.n; i++)                                                 \
                        store_rows8(y + (t0 + i) * ldy + r + 8 * h, acc[i], r1 - r - 8 * h);       \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_LEGACY_DIRECT(q8_0, PK_Q8_0_BYTES, 0, decode_q8_0, 1)
DEFINE_LEGACY_DIRECT(q4_0, PK_Q4_0_BYTES, 8, decode_q4_0, 0)
DEFINE_LEGACY_DIRECT(q5_0, PK_Q5_0_BYTES, 16, decode_q5_0, 0)
DEFINE_LEGACY_DIRECT(iq4_nl, PK_Q4_0_BYTES, 0, decode_iq4_nl, 1)

/* d times the 8 bytes of half h of a 16-byte scale vector, as floats. */
static inline __m256 u8_scale(const uint8_t *p, int h, __m256 d)
{
    const __m128i v = _mm_loadl_epi64((const __m128i *)(const void *)(p + 8 * h));
    return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)));
}

static inline __m256 i8_scale(const uint8_t *p, int h, __m256 d)
{
    const __m128i v = _mm_loadl_epi64((const __m128i *)(const void *)(p + 8 * h));
    return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)));
}

/* Q4_K and Q5_K (five): the same but the fifth bit. */
static inline __attribute__((always_inline)) void direct_kq(const kernels_mat *w, int64_t r0,
                                                            int64_t r1, const void *x, size_t xs,
                                                            int64_t n, float *y, int64_t ldy,
                                                            bool five)
{
    const int64_t nsb = w->cols / 256;
    const size_t bb = five ? PK_Q5_K_BYTES : PK_Q4_K_BYTES;
    for (int64_t r = r0; r < r1; r += G) {
        const uint8_t *grp = (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nsb * bb;
        for (int h = 0; h < 2; h++) {
            if (r + 8 * h >= r1) break;
            for (int64_t t0 = 0; t0 < n; t0 += TG) {
                act_set as;
                act_set_load(&as, x, xs, t0, n, w->cols);
                __m256 acc[TG];
                for (int i = 0; i < TG; i++) acc[i] = _mm256_setzero_ps();
                for (int64_t B = 0; B < nsb; B++) {
                    const uint8_t *blk = grp + (size_t)B * bb;
                    const __m256 dw = load_f16x8(blk + 16 * h),
                                 dm = load_f16x8(blk + PK_Q4_K_DMIN + 16 * h);
                    for (int s = 0; s < 8; s++) {
                        const __m256 sc =
                            u8_scale(blk + (five ? PK_Q5_K_SC(s) : PK_Q4_K_SC(s)), h, dw);
                        const __m256 mn =
                            u8_scale(blk + (five ? PK_Q5_K_MIN(s) : PK_Q4_K_MIN(s)), h, dm);
                        __m256i wv[8];
                        decode_nibbles(blk + (five ? PK_Q5_K_NIB(s) : PK_Q4_K_NIB(s)), h, wv);
                        if (five) add_hbits(blk + PK_Q5_K_HBIT(s), h, wv);
                        const int64_t ab = 8 * B + s;
                        for (int i = 0; i < TG; i++) {
                            if (i >= as.n) break;
                            const __m256i d =
                                dot_unsigned(_mm256_setzero_si256(), wv, as.a[i].q + 32 * ab, 8);
                            acc[i] = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(d),
                                _mm256_mul_ps(sc, _mm256_set1_ps(as.a[i].d[ab])), acc[i]);
                            acc[i] = _mm256_fnmadd_ps(mn, _mm256_set1_ps(as.a[i].ds[ab]), acc[i]);
                        }
                    }
                }
                for (int i = 0; i < as.n; i++)
                    store_rows8(y + (t0 + i) * ldy + r + 8 * h, acc[i], r1 - r - 8 * h);
            }
        }
    }
}

DEFINE_DIRECT_KQ

static void direct_q6_k(const kernels_mat *w, int64_t r0, int64_t r1, const void *x, size_t xs,
                        int64_t n, float *y, int64_t ldy)
{
    const int64_t nsb = w->cols / 256;
    for (int64_t r = r0; r < r1; r += G) {
        const uint8_t *grp =
            (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nsb * PK_Q6_K_BYTES;
        for (int h = 0; h < 2; h++) {
            if (r + 8 * h >= r1) break;
            for (int64_t t0 = 0; t0 < n; t0 += TG) {
                act_set as;
                act_set_load(&as, x, xs, t0, n, w->cols);
                __m256 acc[TG];
                for (int i = 0; i < TG; i++) acc[i] = _mm256_setzero_ps();
                for (int64_t B = 0; B < nsb; B++) {
                    const uint8_t *blk = grp + (size_t)B * PK_Q6_K_BYTES;
                    const __m256 dw = load_f16x8(blk + 16 * h);
                    for (int s = 0; s < 8; s++) {
                        const __m256 sc0 = i8_scale(blk + PK_Q6_K_SC(2 * s), h, dw);
                        const __m256 sc1 = i8_scale(blk + PK_Q6_K_SC(2 * s + 1), h, dw);
                        __m256i wv[8];
                        decode_q6_k(blk, s, h, wv);
                        const int64_t ab = 8 * B + s;
                        for (int i = 0; i < TG; i++) {
                            if (i >= as.n) break;
                            const int8_t *q = as.a[i].q + 32 * ab;
                            const __m256i d0 = dot_unsigned(
                                _mm256_set1_epi32(-32 * as.a[i].s16[2 * ab]), wv, q, 4);
                            const __m256i d1 =
                                dot_unsigned(_mm256_set1_epi32(-32 * as.a[i].s16[2 * ab + 1]),
                                             wv + 4, q + 16, 4);
                            const __m256 da = _mm256_set1_ps(as.a[i].d[ab]);
                            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_mul_ps(sc0, da),
                                                     acc[i]);
                            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_mul_ps(sc1, da),
                                                     acc[i]);
                        }
                    }
                }
                for (int i = 0; i < as.n; i++)
                    store_rows8(y + (t0 + i) * ldy + r + 8 * h, acc[i], r1 - r - 8 * h);
            }
        }
    }
}

/* ---- Q4_1, Q5_1, Q2_K, Q3_K, IQ4_XS ------------------------------------------ */

/* Adds `val` where the masks hbit[8] at hb have a bit (Q3_K: bit 2). */
static inline void add_bits(const uint8_t *hb, int h, __m256i w[8], char val)
{
    const __m256i v = _mm256_set1_epi8(val);
    for (int g = 0; g < 8; g++)
        w[g] = _mm256_or_si256(w[g], _mm256_and_si256(bits_to_bytes(hb + 8 * g, h), v));
}

/* The two-bit values of half h of a 32-column sub-block in the q2 layout. */
static inline void decode_2bits(const uint8_t *q2, int h, __m256i w[8])
{
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int j = 0; j < 2; j++) {
        const __m256i raw = half_load(q2 + 64 * j, h);
        w[4 * j + 0] = _mm256_and_si256(raw, m3);
        w[4 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 2), m3);
        w[4 * j + 2] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m3);
        w[4 * j + 3] = _mm256_and_si256(_mm256_srli_epi16(raw, 6), m3);
    }
}

static inline void decode_q4_1(const uint8_t *blk, int h, __m256i w[8])
{
    decode_nibbles(blk + PK_Q4_1_NIB, h, w);
}

static inline void decode_q5_1(const uint8_t *blk, int h, __m256i w[8])
{
    decode_nibbles(blk + PK_Q5_1_NIB, h, w);
    add_hbits(blk + PK_Q5_1_HBIT, h, w);
}

static inline void decode_q3_k(const uint8_t *blk, int s, int h, __m256i w[8])
{
    decode_2bits(blk + PK_Q3_K_Q(s), h, w);
    add_bits(blk + PK_Q3_K_HBIT(s), h, w, 4);
}

static inline void decode_iq4_xs(const uint8_t *blk, int s, int h, __m256i w[8])
{
    int8_t lut[16];
    for (int i = 0; i < 16; i++) lut[i] = (int8_t)(kvalues_iq4nl[i] + 128);
    const __m128i l = _mm_loadu_si128((const __m128i *)(const void *)lut);
    const __m256i t = _mm256_set_m128i(l, l);
    decode_nibbles(blk + PK_IQ4_XS_NIB(s), h, w);
    for (int g = 0; g < 8; g++) w[g] = _mm256_shuffle_epi8(t, w[g]);
}

/* Q2_K's scale (d * low nibble) and min (dmin * high nibble) of half h of
 * the 16 scale bytes at p. */
static inline void q2_k_scales(const uint8_t *p, int h, __m256 dw, __m256 dm, __m256 *sc,
                               __m256 *mn)
{
    const __m256i v =
        _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + 8 * h)));
    *sc = _mm256_mul_ps(dw, _mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(15))));
    *mn = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4)));
}

/* Q4_1, Q5_1: w = d * v + m. */
#define DEFINE_LEGACY1_DIRECT(name, BB, DECODE)                                                    \
    static void direct_##name(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,         \
                              size_t xs, int64_t n, float *y, int64_t ldy)                         \
    {                                                                                              \
        const int64_t nb = w->cols / 32;                                                           \
        for (int64_t r = r0; r < r1; r += G) {                                                     \
            const uint8_t *grp = (const uint8_t *)w->data + (size_t)(r / G) * (size_t)nb * BB;     \
            for (int h = 0; h < 2; h++) {                                                          \
                if (r + 8 * h >= r1) break;                                                        \
                for (int64_t t0 = 0; t0 < n; t0 += TG) {                                           \
                    act_set as;                                                                    \
                    act_set_load(&as, x, xs, t0, n, w->cols);                                      \
                    __m256 acc[TG];                                                                \
                    for (int i = 0; i < TG; i++) acc[i] = _mm256_setzero_ps();                     \
                    for (int64_t b = 0; b < nb; b++) {                                             \
                        const uint8_t *blk = grp + (size_t)b * BB;                                 \
                        __m256i wv[8];                                                             \
                        DECODE(blk, h, wv);                                                        \
                        const __m256 dw = load_f16x8(blk + 16 * h);                                \
                        const __m256 mw = load_f16x8(blk + PK_Q4_1_M + 16 * h);                    \
                        for (int i = 0; i < TG; i++) {                                             \
                            if (i >= as.n) break;                                                  \
                            const __m256i s =                                                      \
                                dot_unsigned(_mm256_setzero_si256(), wv, as.a[i].q + 32 * b, 8);   \
                            acc[i] = _mm256_fmadd_ps(                                              \
                                _mm256_cvtepi32_ps(s),                                             \
                                _mm256_mul_ps(dw, _mm256_set1_ps(as.a[i].d[b])), acc[i]);          \
                            acc[i] = _mm256_fmadd_ps(mw, _mm256_set1_ps(as.a[i].ds[b]), acc[i]);   \
                        }                                                                          \
                    }                                                                              \
                    for (int i = 0; i < as.n; i++)                                                 \
                        store_rows8(y + (t0 + i) * ldy + r + 8 * h, acc[i], r1 - r - 8 * h);       \
                }                                                                                  \
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
        for (int h = 0; h < 2; h++) {
            if (r + 8 * h >= r1) break;
            for (int64_t t0 = 0; t0 < n; t0 += TG) {
                act_set as;
                act_set_load(&as, x, xs, t0, n, w->cols);
                __m256 acc[TG];
                for (int i = 0; i < TG; i++) acc[i] = _mm256_setzero_ps();
                for (int64_t B = 0; B < nsb; B++) {
                    const uint8_t *blk = grp + (size_t)B * PK_Q2_K_BYTES;
                    const __m256 dw = load_f16x8(blk + 16 * h),
                                 dm = load_f16x8(blk + PK_Q2_K_DMIN + 16 * h);
                    for (int s = 0; s < 8; s++) {
                        __m256 sc0, mn0, sc1, mn1;
                        q2_k_scales(blk + PK_Q2_K_SC(2 * s), h, dw, dm, &sc0, &mn0);
                        q2_k_scales(blk + PK_Q2_K_SC(2 * s + 1), h, dw, dm, &sc1, &mn1);
                        __m256i wv[8];
                        decode_2bits(blk + PK_Q2_K_Q(s), h, wv);
                        const int64_t ab = 8 * B + s;
                        for (int i = 0; i < TG; i++) {
                            if (i >= as.n) break;
                            const int8_t *q = as.a[i].q + 32 * ab;
                            const __m256i d0 = dot_unsigned(_mm256_setzero_si256(), wv, q, 4);
                            const __m256i d1 =
                                dot_unsigned(_mm256_setzero_si256(), wv + 4, q + 16, 4);
                            const __m256 da = _mm256_set1_ps(as.a[i].d[ab]);
                            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_mul_ps(sc0, da),
                                                     acc[i]);
                            acc[i] =
                                _mm256_fnmadd_ps(mn0, _mm256_set1_ps(as.a[i].ds16[2 * ab]), acc[i]);
                            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_mul_ps(sc1, da),
                                                     acc[i]);
                            acc[i] = _mm256_fnmadd_ps(mn1, _mm256_set1_ps(as.a[i].ds16[2 * ab + 1]),
                                                      acc[i]);
                        }
                    }
                }
                for (int i = 0; i < as.n; i++)
                    store_rows8(y + (t0 + i) * ldy + r + 8 * h, acc[i], r1 - r - 8 * h);
            }
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
        for (int h = 0; h < 2; h++) {
            if (r + 8 * h >= r1) break;
            for (int64_t t0 = 0; t0 < n; t0 += TG) {
                act_set as;
                act_set_load(&as, x, xs, t0, n, w->cols);
                __m256 acc[TG];
                for (int i = 0; i < TG; i++) acc[i] = _mm256_setzero_ps();
                for (int64_t B = 0; B < nsb; B++) {
                    const uint8_t *blk = grp + (size_t)B * PK_Q3_K_BYTES;
                    const __m256 dw = load_f16x8(blk + 16 * h);
                    for (int s = 0; s < 8; s++) {
                        const __m256 sc0 = i8_scale(blk + PK_Q3_K_SC(2 * s), h, dw);
                        const __m256 sc1 = i8_scale(blk + PK_Q3_K_SC(2 * s + 1), h, dw);
                        __m256i wv[8];
                        decode_q3_k(blk, s, h, wv);
                        const int64_t ab = 8 * B + s;
                        for (int i = 0; i < TG; i++) {
                            if (i >= as.n) break;
                            const int8_t *q = as.a[i].q + 32 * ab;
                            const __m256i d0 =
                                dot_unsigned(_mm256_set1_epi32(-4 * as.a[i].s16[2 * ab]), wv, q, 4);
                            const __m256i d1 = dot_unsigned(
                                _mm256_set1_epi32(-4 * as.a[i].s16[2 * ab + 1]), wv + 4, q + 16, 4);
                            const __m256 da = _mm256_set1_ps(as.a[i].d[ab]);
                            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d0), _mm256_mul_ps(sc0, da),
                                                     acc[i]);
                            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d1), _mm256_mul_ps(sc1, da),
                                                     acc[i]);
                        }
                    }
                }
                for (int i = 0; i < as.n; i++)
                    store_rows8(y + (t0 + i) * ldy + r + 8 * h, acc[i], r1 - r - 8 * h);
            }
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
        for (int h = 0; h < 2; h++) {
            if (r + 8 * h >= r1) break;
            for (int64_t t0 = 0; t0 < n; t0 += TG) {
                act_set as;
                act_set_load(&as, x, xs, t0, n, w->cols);
                __m256 acc[TG];
                for (int i = 0; i < TG; i++) acc[i] = _mm256_setzero_ps();
                for (int64_t B = 0; B < nsb; B++) {
                    const uint8_t *blk = grp + (size_t)B * PK_IQ4_XS_BYTES;
                    const __m256 dw = load_f16x8(blk + 16 * h);
                    for (int s = 0; s < 8; s++) {
                        const __m256 sc = i8_scale(blk + PK_IQ4_XS_SC(s), h, dw);
                        __m256i wv[8];
                        decode_iq4_xs(blk, s, h, wv);
                        const int64_t ab = 8 * B + s;
                        for (int i = 0; i < TG; i++) {
                            if (i >= as.n) break;
                            const __m256i d =
                                dot_signed8(_mm256_setzero_si256(), wv, as.a[i].q + 32 * ab);
                            acc[i] = _mm256_fmadd_ps(
                                _mm256_cvtepi32_ps(d),
                                _mm256_mul_ps(sc, _mm256_set1_ps(as.a[i].d[ab])), acc[i]);
                        }
                    }
                }
                for (int i = 0; i < as.n; i++)
                    store_rows8(y + (t0 + i) * ldy + r + 8 * h, acc[i], r1 - r - 8 * h);
            }
        }
    }
}

/* ---- prompt path ------------------------------------------------------------ */

/* Decoded sub-blocks as at the AVX-512 level (DEC32_BYTES: kernels_x86.h),
 * except that Q8_0 and IQ4_NL keep v = q + 128 with o = 0, multiplied as
 * signed (q). */

static inline void put_dec_half(uint8_t *e, const __m256i *w, int ng, int h, __m256 s, __m256 o)
{
    for (int g = 0; g < ng; g++) _mm256_store_si256((__m256i *)(void *)(e + 64 * g + 32 * h), w[g]);
    _mm256_store_ps((float *)(void *)(e + 64 * ng) + 8 * h, s);
    _mm256_store_ps((float *)(void *)(e + 64 * ng + 64) + 8 * h, o);
}

#define DEFINE_LEGACY_UNPACK(name, BB, C, DECODE)                                                  \
    static void unpack_##name(const uint8_t *grp, int64_t cols, uint8_t *dec)                      \
    {                                                                                              \
        for (int64_t b = 0; b < cols / 32; b++) {                                                  \
            const uint8_t *blk = grp + (size_t)b * BB;                                             \
            for (int h = 0; h < 2; h++) {                                                          \
                __m256i wv[8];                                                                     \
                DECODE(blk, h, wv);                                                                \
                const __m256 dw = load_f16x8(blk + 16 * h);                                        \
                put_dec_half(dec + (size_t)b * DEC32_BYTES, wv, 8, h, dw,                          \
                             _mm256_mul_ps(dw, _mm256_set1_ps(-(float)(C))));                      \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_LEGACY_UNPACK(q8_0, PK_Q8_0_BYTES, 0, decode_q8_0)
DEFINE_LEGACY_UNPACK(q4_0, PK_Q4_0_BYTES, 8, decode_q4_0)
DEFINE_LEGACY_UNPACK(q5_0, PK_Q5_0_BYTES, 16, decode_q5_0)
DEFINE_LEGACY_UNPACK(iq4_nl, PK_Q4_0_BYTES, 0, decode_iq4_nl)

static inline __attribute__((always_inline)) void unpack_kq(const uint8_t *grp, int64_t cols,
                                                            uint8_t *dec, bool five)
{
    const size_t bb = five ? PK_Q5_K_BYTES : PK_Q4_K_BYTES;
    for (int64_t B = 0; B < cols / 256; B++) {
        const uint8_t *blk = grp + (size_t)B * bb;
        for (int h = 0; h < 2; h++) {
            const __m256 dw = load_f16x8(blk + 16 * h),
                         dm = load_f16x8(blk + PK_Q4_K_DMIN + 16 * h);
            for (int s = 0; s < 8; s++) {
                __m256i wv[8];
                decode_nibbles(blk + (five ? PK_Q5_K_NIB(s) : PK_Q4_K_NIB(s)), h, wv);
                if (five) add_hbits(blk + PK_Q5_K_HBIT(s), h, wv);
                const __m256 mn = u8_scale(blk + (five ? PK_Q5_K_MIN(s) : PK_Q4_K_MIN(s)), h, dm);
                put_dec_half(dec + (size_t)(8 * B + s) * DEC32_BYTES, wv, 8, h,
                             u8_scale(blk + (five ? PK_Q5_K_SC(s) : PK_Q4_K_SC(s)), h, dw),
                             _mm256_sub_ps(_mm256_setzero_ps(), mn));
            }
        }
    }
}

DEFINE_UNPACK_KQ

static void unpack_q6_k(const uint8_t *grp, int64_t cols, uint8_t *dec)
{
    const __m256 m32 = _mm256_set1_ps(-32.0f);
    for (int64_t B = 0; B < cols / 256; B++) {
        const uint8_t *blk = grp + (size_t)B * PK_Q6_K_BYTES;
        for (int h = 0; h < 2; h++) {
            const __m256 dw = load_f16x8(blk + 16 * h);
            for (int s = 0; s < 8; s++) {
                __m256i wv[8];
                decode_q6_k(blk, s, h, wv);
                for (int k = 0; k < 2; k++) {
                    const __m256 sc = i8_scale(blk + PK_Q6_K_SC(2 * s + k), h, dw);
                    put_dec_half(dec + (size_t)(16 * B + 2 * s + k) * DEC16_BYTES, wv + 4 * k, 4, h,
                                 sc, _mm256_mul_ps(sc, m32));
                }
            }
        }
    }
}

#define DEFINE_LEGACY1_UNPACK(name, BB, DECODE)                                                    \
    static void unpack_##name(const uint8_t *grp, int64_t cols, uint8_t *dec)                      \
    {                                                                                              \
        for (int64_t b = 0; b < cols / 32; b++) {                                                  \
            const uint8_t *blk = grp + (size_t)b * BB;                                             \
            for (int h = 0; h < 2; h++) {                                                          \
                __m256i wv[8];                                                                     \
                DECODE(blk, h, wv);                                                                \
                put_dec_half(dec + (size_t)b * DEC32_BYTES, wv, 8, h, load_f16x8(blk + 16 * h),    \
                             load_f16x8(blk + PK_Q4_1_M + 16 * h));                                \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_LEGACY1_UNPACK(q4_1, PK_Q4_1_BYTES, decode_q4_1)
DEFINE_LEGACY1_UNPACK(q5_1, PK_Q5_1_BYTES, decode_q5_1)

static void unpack_q2_k(const uint8_t *grp, int64_t cols, uint8_t *dec)
{
    for (int64_t B = 0; B < cols / 256; B++) {
        const uint8_t *blk = grp + (size_t)B * PK_Q2_K_BYTES;
        for (int h = 0; h < 2; h++) {
            const __m256 dw = load_f16x8(blk + 16 * h),
                         dm = load_f16x8(blk + PK_Q2_K_DMIN + 16 * h);
            for (int s = 0; s < 8; s++) {
                __m256i wv[8];
                decode_2bits(blk + PK_Q2_K_Q(s), h, wv);
                for (int k = 0; k < 2; k++) {
                    __m256 sc, mn;
                    q2_k_scales(blk + PK_Q2_K_SC(2 * s + k), h, dw, dm, &sc, &mn);
                    put_dec_half(dec + (size_t)(16 * B + 2 * s + k) * DEC16_BYTES, wv + 4 * k, 4, h,
                                 sc, _mm256_sub_ps(_mm256_setzero_ps(), mn));
                }
            }
        }
    }
}

static void unpack_q3_k(const uint8_t *grp, int64_t cols, uint8_t *dec)
{
    const __m256 m4 = _mm256_set1_ps(-4.0f);
    for (int64_t B = 0; B < cols / 256; B++) {
        const uint8_t *blk = grp + (size_t)B * PK_Q3_K_BYTES;
        for (int h = 0; h < 2; h++) {
            const __m256 dw = load_f16x8(blk + 16 * h);
            for (int s = 0; s < 8; s++) {
                __m256i wv[8];
                decode_q3_k(blk, s, h, wv);
                for (int k = 0; k < 2; k++) {
                    const __m256 sc = i8_scale(blk + PK_Q3_K_SC(2 * s + k), h, dw);
                    put_dec_half(dec + (size_t)(16 * B + 2 * s + k) * DEC16_BYTES, wv + 4 * k, 4, h,
                                 sc, _mm256_mul_ps(sc, m4));
                }
            }
        }
    }
}

/* IQ4_XS keeps v = kvalue + 128 with o = 0 and is multiplied as signed,
 * like IQ4_NL. */
static void unpack_iq4_xs(const uint8_t *grp, int64_t cols, uint8_t *dec)
{
    for (int64_t B = 0; B < cols / 256; B++) {
        const uint8_t *blk = grp + (size_t)B * PK_IQ4_XS_BYTES;
        for (int h = 0; h < 2; h++) {
            const __m256 dw = load_f16x8(blk + 16 * h);
            for (int s = 0; s < 8; s++) {
                __m256i wv[8];
                decode_iq4_xs(blk, s, h, wv);
                put_dec_half(dec + (size_t)(8 * B + s) * DEC32_BYTES, wv, 8, h,
                             i8_scale(blk + PK_IQ4_XS_SC(s), h, dw), _mm256_setzero_ps());
            }
        }
    }
}

#define TP 4

/* Rows [r + 8h, r + 8h + 8) and NT vectors from a decoded group; see the
 * AVX-512 batch_tile. */
static inline __attribute__((always_inline)) void
batch_tile(const uint8_t *dec, int64_t cols, const int SB, const int NT, const bool SIGNED, int h,
           const kernels_act_q8 *a0, size_t xs, float *y, int64_t ldy, int64_t valid)
{
    const int ng = SB / 4;
    const size_t eb = SB == 32 ? DEC32_BYTES : DEC16_BYTES;
    const int64_t nsb = cols / SB;
    __m256 acc[TP];
    for (int i = 0; i < NT; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nsb; b++) {
        const uint8_t *e = dec + (size_t)b * eb;
        const char *q = (const char *)(a0->q + SB * b);
        const char *da = (const char *)(a0->d + (SB == 32 ? b : b / 2));
        const char *dsum = (const char *)(SB == 32 ? a0->ds + b : a0->ds16 + b);
        __m256i d[TP];
        for (int i = 0; i < NT; i++) d[i] = _mm256_setzero_si256();
        if (SIGNED) {
            for (int g = 0; g < ng; g++) {
                const __m256i w =
                    _mm256_load_si256((const __m256i *)(const void *)(e + 64 * g + 32 * h));
                for (int i = 0; i < NT; i++)
                    d[i] = dot_signed(d[i], w, (const int8_t *)(q + (size_t)i * xs) + 4 * g);
            }
        } else {
            for (int g = 0; g < ng; g += 2) {
                const __m256i w0 =
                    _mm256_load_si256((const __m256i *)(const void *)(e + 64 * g + 32 * h));
                const __m256i w1 =
                    _mm256_load_si256((const __m256i *)(const void *)(e + 64 * g + 64 + 32 * h));
                for (int i = 0; i < NT; i++) {
                    const int8_t *qi = (const int8_t *)(q + (size_t)i * xs) + 4 * g;
                    d[i] = dot_pair(d[i], w0, w1, qi, qi + 4);
                }
            }
        }
        const __m256 s = _mm256_load_ps((const float *)(const void *)(e + 64 * ng) + 8 * h);
        const __m256 o = _mm256_load_ps((const float *)(const void *)(e + 64 * ng + 64) + 8 * h);
        for (int i = 0; i < NT; i++) {
            float dai, dsi;
            memcpy(&dai, da + (size_t)i * xs, sizeof dai);
            memcpy(&dsi, dsum + (size_t)i * xs, sizeof dsi);
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d[i]),
                                     _mm256_mul_ps(s, _mm256_set1_ps(dai)), acc[i]);
            acc[i] = _mm256_fmadd_ps(o, _mm256_set1_ps(dsi), acc[i]);
        }
    }
    for (int i = 0; i < NT; i++) store_rows8(y + i * ldy, acc[i], valid);
}

#define BATCH_TILE_CASES(SB, SIGNED)                                                               \
    switch (nt) {                                                                                  \
    case 4:                                                                                        \
        batch_tile(dec, cols, SB, 4, SIGNED, h, &a, xs, yt, ldy, valid);                           \
        break;                                                                                     \
    case 3:                                                                                        \
        batch_tile(dec, cols, SB, 3, SIGNED, h, &a, xs, yt, ldy, valid);                           \
        break;                                                                                     \
    case 2:                                                                                        \
        batch_tile(dec, cols, SB, 2, SIGNED, h, &a, xs, yt, ldy, valid);                           \
        break;                                                                                     \
    default:                                                                                       \
        batch_tile(dec, cols, SB, 1, SIGNED, h, &a, xs, yt, ldy, valid);                           \
        break;                                                                                     \
    }

#define DEFINE_BATCH_GROUP(name, SB, SIGNED)                                                       \
    static void name(const uint8_t *dec, int64_t cols, const void *x, size_t xs, int64_t n,        \
                     float *y, int64_t ldy, int64_t r, int64_t rows_left)                          \
    {                                                                                              \
        for (int h = 0; h < 2; h++) {                                                              \
            const int64_t valid = rows_left - 8 * h;                                               \
            if (valid <= 0) break;                                                                 \
            for (int64_t t0 = 0; t0 < n; t0 += TP) {                                               \
                const int nt = (int)TK_MIN(TP, n - t0);                                            \
                const kernels_act_q8 a =                                                           \
                    kernels_act_view((const char *)x + (size_t)t0 * xs, cols);                     \
                float *yt = y + t0 * ldy + r + 8 * h;                                              \
                BATCH_TILE_CASES(SB, SIGNED)                                                       \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_BATCH_GROUP(batch_group32, 32, false)
DEFINE_BATCH_GROUP(batch_group32s, 32, true)
DEFINE_BATCH_GROUP(batch_group16, 16, false)

typedef void (*group_fn)(const uint8_t *dec, int64_t cols, const void *x, size_t xs, int64_t n,
                         float *y, int64_t ldy, int64_t r, int64_t rows_left);

static void batch_matmul(const kernels_mat *w, int64_t r0, int64_t r1, const void *x, size_t xs,
                         int64_t n, float *y, int64_t ldy, void *scratch, size_t group_bytes,
                         unpack_fn unpack, group_fn run)
{
    uint8_t *dec = scratch;
    for (int64_t r = r0; r < r1; r += G) {
        unpack((const uint8_t *)w->data + (size_t)(r / G) * group_bytes, w->cols, dec);
        run(dec, w->cols, x, xs, n, y, ldy, r, r1 - r);
    }
}

DEFINE_MATMUL(q8_0, 32, PK_Q8_0_BYTES, batch_group32s)
DEFINE_MATMUL(q4_0, 32, PK_Q4_0_BYTES, batch_group32)
DEFINE_MATMUL(q5_0, 32, PK_Q5_0_BYTES, batch_group32)
DEFINE_MATMUL(iq4_nl, 32, PK_Q4_0_BYTES, batch_group32s)
DEFINE_MATMUL(q4_k, 256, PK_Q4_K_BYTES, batch_group32)
DEFINE_MATMUL(q5_k, 256, PK_Q5_K_BYTES, batch_group32)
DEFINE_MATMUL(q6_k, 256, PK_Q6_K_BYTES, batch_group16)
DEFINE_MATMUL(q4_1, 32, PK_Q4_1_BYTES, batch_group32)
DEFINE_MATMUL(q5_1, 32, PK_Q5_1_BYTES, batch_group32)
DEFINE_MATMUL(q2_k, 256, PK_Q2_K_BYTES, batch_group16)
DEFINE_MATMUL(q3_k, 256, PK_Q3_K_BYTES, batch_group16)
DEFINE_MATMUL(iq4_xs, 256, PK_IQ4_XS_BYTES, batch_group32s)

/* ---- float weights ------------------------------------------------------------ */

#define RT 4
#define FT 2

/* 8 (or fewer: n) elements of a row of F32, F16 or BF16 as floats. */
static inline __m256 load_w(int type, const void *row, int64_t c, int64_t n)
{
    if (n >= 8) {
        if (type == TK_TYPE_F32) return _mm256_loadu_ps((const float *)row + c);
        const __m128i h =
            _mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)row + c));
        if (type == TK_TYPE_F16) return _mm256_cvtph_ps(h);
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    if (type == TK_TYPE_F32) return _mm256_maskload_ps((const float *)row + c, lane_mask(n));
    uint16_t tmp[8] = {0};
    memcpy(tmp, (const uint16_t *)row + c, (size_t)n * sizeof *tmp);
    const __m128i h = _mm_loadu_si128((const __m128i *)(void *)tmp);
    if (type == TK_TYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static inline __m256 load_x(const float *x, int64_t c, int64_t n)
{
    return n >= 8 ? _mm256_loadu_ps(x + c) : _mm256_maskload_ps(x + c, lane_mask(n));
}

static inline void float_tile(int type, const kernels_mat *w, int64_t r, int nr, const void *x,
                              size_t xs, int64_t t, int nt, float *y, int64_t ldy)
{
    __m256 acc[RT][FT];
    for (int i = 0; i < RT; i++)
        for (int j = 0; j < FT; j++) acc[i][j] = _mm256_setzero_ps();
    const void *rows[RT];
    for (int i = 0; i < RT; i++)
        rows[i] = (const char *)w->data + (size_t)(r + (i < nr ? i : 0)) * w->row_bytes;
    const float *xv[FT];
    for (int j = 0; j < FT; j++)
        xv[j] =
            (const float *)(const void *)((const char *)x + (size_t)(t + (j < nt ? j : 0)) * xs);
    for (int64_t c = 0; c < w->cols; c += 8) {
        const int64_t left = w->cols - c;
        __m256 xx[FT];
        for (int j = 0; j < FT; j++) xx[j] = j < nt ? load_x(xv[j], c, left) : _mm256_setzero_ps();
        for (int i = 0; i < RT; i++) {
            if (i >= nr) break;
            const __m256 wv = load_w(type, rows[i], c, left);
            for (int j = 0; j < FT; j++)
                if (j < nt) acc[i][j] = _mm256_fmadd_ps(wv, xx[j], acc[i][j]);
        }
    }
    for (int i = 0; i < RT; i++)
        for (int j = 0; j < FT; j++)
            if (i < nr && j < nt) y[(t + j) * ldy + r + i] = hsum(acc[i][j]);
}

DEFINE_FLOAT_MATMULS

/* ---- attention --------------------------------------------------------------- */

#define AH 6

/* 8 cache elements (F16 or F32) from p + i as floats; n < 8 loads fewer. */
static inline __m256 load_kv(const void *p, bool f16, int64_t i, int64_t n)
{
    if (n >= 8) {
        if (f16)
            return _mm256_cvtph_ps(
                _mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)p + i)));
        return _mm256_loadu_ps((const float *)p + i);
    }
    if (!f16) return _mm256_maskload_ps((const float *)p + i, lane_mask(n));
    uint16_t tmp[8] = {0};
    memcpy(tmp, (const uint16_t *)p + i, (size_t)n * sizeof *tmp);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(void *)tmp));
}

/* acc[h] = sum_d qh[h][d] * (key block kb)[d][off..off + 8) for AH heads.
 * Inlined with f16 a constant, so the loop has no branch and the
 * accumulators stay in registers. */
static inline __attribute__((always_inline)) void
score_half(const void *kb, int type, int64_t off, const float *const *qh, int64_t hd, __m256 *acc)
{
    for (int h = 0; h < AH; h++) acc[h] = _mm256_setzero_ps();
    if (type == TK_TYPE_F16 || type == TK_TYPE_F32) {
        for (int64_t d = 0; d < hd; d++) {
            const __m256 kv = load_kv(kb, type == TK_TYPE_F16, d * 16 + off, 8);
            for (int h = 0; h < AH; h++)
                acc[h] = _mm256_fmadd_ps(_mm256_set1_ps(qh[h][d]), kv, acc[h]);
        }
        return;
    }
    /* Quantized groups of 32 dimensions: the 8 positions' scales multiply
     * the integers as they are widened to floats. */
    const __m128i low4 = _mm_set1_epi8(0x0F);
    const __m256i eight = _mm256_set1_epi32(8);
    for (int64_t g0 = 0; g0 < hd; g0 += 32) {
        const uint8_t *g = (const uint8_t *)kb + (size_t)(g0 / 32) * KERNELS_KQ_GROUP_BYTES(type);
        const __m256 sc =
            _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(g + 2 * off)));
        const uint8_t *q = g + 32 + off;
        if (type == TK_TYPE_Q8_0) {
            for (int j = 0; j < 32; j++) {
                const __m256 kv =
                    _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
                                      (const __m128i *)(const void *)(q + j * 16)))),
                                  sc);
                for (int h = 0; h < AH; h++)
                    acc[h] = _mm256_fmadd_ps(_mm256_set1_ps(qh[h][g0 + j]), kv, acc[h]);
            }
        } else {
            for (int i = 0; i < 16; i++) {
                const __m128i raw = _mm_loadl_epi64((const __m128i *)(const void *)(q + i * 16));
                const __m128i nib[2] = {_mm_and_si128(raw, low4),
                                        _mm_and_si128(_mm_srli_epi16(raw, 4), low4)};
                for (int e = 0; e < 2; e++) {
                    const __m256 kv = _mm256_mul_ps(
                        _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(nib[e]), eight)),
                        sc);
                    for (int h = 0; h < AH; h++)
                        acc[h] = _mm256_fmadd_ps(_mm256_set1_ps(qh[h][g0 + 2 * i + e]), kv, acc[h]);
                }
            }
        }
    }
}

/* The 32 values of dimensions d0 .. d0 + 31 (a multiple of 32) of a
 * quantized value row, not yet multiplied by the block's scale (returned). */
static inline __attribute__((always_inline)) float value_block(const void *vr, int type, int64_t d0,
                                                               __m256 *vv)
{
    const uint8_t *b = (const uint8_t *)vr + (size_t)(d0 / 32) * (type == TK_TYPE_Q8_0 ? 34 : 18);
    uint16_t h;
    memcpy(&h, b, 2);
    if (type == TK_TYPE_Q8_0) {
        for (int j = 0; j < 4; j++)
            vv[j] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                _mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + 8 * j))));
    } else {
        const __m128i low4 = _mm_set1_epi8(0x0F);
        const __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)(b + 2));
        const __m128i lo = _mm_and_si128(raw, low4),
                      hi = _mm_and_si128(_mm_srli_epi16(raw, 4), low4);
        const __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        const __m256i eight = _mm256_set1_epi32(8);
        for (int j = 0; j < 4; j++)
            vv[j] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(part[j]), eight));
    }
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

static void attn(const kernels_attn *a)
{
    const int64_t b0 = a->lo / 16, b1 = a->hi / 16;
    const int64_t n_pos = 16 * (b1 - b0 + 1);
    /* Scores of the key blocks touched: position p of head h at
     * scores[h * n_pos + p - 16 * b0]. */
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);

    /* Scores, 8 positions (half a key block) x up to 6 heads at a time. */
    for (int h0 = 0; h0 < a->nh; h0 += AH) {
        const int nh = TK_MIN(AH, a->nh - h0);
        for (int64_t b = b0; b <= b1; b++) {
            const void *kb = (const char *)a->k + (size_t)b * a->k_block_bytes;
            /* Heads past the last repeat it (computed, not stored). */
            const float *qh[AH];
            for (int h = 0; h < AH; h++) qh[h] = a->q + (h0 + TK_MIN(h, nh - 1)) * a->q_stride;
            for (int half = 0; half < 2; half++) {
                __m256 acc[AH];
                switch (a->k_type) {
                case TK_TYPE_F16:
                    score_half(kb, TK_TYPE_F16, 8 * half, qh, a->hd_k, acc);
                    break;
                case TK_TYPE_Q8_0:
                    score_half(kb, TK_TYPE_Q8_0, 8 * half, qh, a->hd_k, acc);
                    break;
                case TK_TYPE_Q4_0:
                    score_half(kb, TK_TYPE_Q4_0, 8 * half, qh, a->hd_k, acc);
                    break;
                default:
                    score_half(kb, TK_TYPE_F32, 8 * half, qh, a->hd_k, acc);
                }
                const __m256i pos =
                    _mm256_add_epi32(_mm256_set1_epi32((int32_t)(16 * b + 8 * half)), lane);
                const __m256i in = _mm256_andnot_si256(
                    _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)a->lo), pos),
                                    _mm256_cmpgt_epi32(pos, _mm256_set1_epi32((int32_t)a->hi))),
                    _mm256_set1_epi32(-1));
                for (int h = 0; h < nh; h++) {
                    float *s =
                        a->scores + (size_t)(h0 + h) * (size_t)n_pos + 16 * (b - b0) + 8 * half;
                    __m256 v = _mm256_mul_ps(acc[h], _mm256_set1_ps(a->scale));
                    if (a->softcap > 0.0f) {
                        _mm256_storeu_ps(s, v);
                        for (int i = 0; i < 8; i++)
                            s[i] = tanhf(s[i] * (1.0f / a->softcap)) * a->softcap;
                        v = _mm256_loadu_ps(s);
                    }
                    _mm256_storeu_ps(s, _mm256_blendv_ps(ninf, v, _mm256_castsi256_ps(in)));
                }
            }
        }
    }

    for (int h = 0; h < a->nh; h++) {
        float *s = a->scores + (size_t)h * (size_t)n_pos;
        __m256 mx = ninf;
        for (int64_t p = 0; p < n_pos; p += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(s + p));
        const float mxs = hmax(mx);
        const __m256 m = _mm256_set1_ps(mxs);
        __m256 sum = _mm256_setzero_ps();
        for (int64_t p = 0; p < n_pos; p += 8) {
            const __m256 v = _mm256_loadu_ps(s + p);
            const __m256 keep = _mm256_cmp_ps(v, ninf, _CMP_NEQ_OQ);
            const __m256 e = _mm256_and_ps(keep, exp256(_mm256_sub_ps(v, m)));
            _mm256_storeu_ps(s + p, e);
            sum = _mm256_add_ps(sum, e);
        }
        const float total = hsum(sum);
        if (a->part_max) {
            /* Partial form: the weights stay exp(s - max). */
            a->part_max[h] = mxs;
            a->part_sum[h] = total;
            continue;
        }
        const __m256 inv = _mm256_set1_ps(1.0f / total);
        for (int64_t p = 0; p < n_pos; p += 8)
            _mm256_storeu_ps(s + p, _mm256_mul_ps(_mm256_loadu_ps(s + p), inv));
    }

    /* Values: 2 heads x 32 dimensions at a time. */
    for (int h0 = 0; h0 < a->nh; h0 += 2) {
        const int nh = TK_MIN(2, a->nh - h0);
        for (int64_t d0 = 0; d0 < a->hd_v; d0 += 32) {
            __m256 acc[2][4];
            for (int h = 0; h < 2; h++)
                for (int j = 0; j < 4; j++) acc[h][j] = _mm256_setzero_ps();
            for (int64_t p = a->lo; p <= a->hi; p++) {
                const void *vr = (const char *)a->v + (size_t)p * a->v_stride;
                __m256 vv[4];
                float dv = 1.0f;
                if (a->v_type == TK_TYPE_Q8_0) {
                    dv = value_block(vr, TK_TYPE_Q8_0, d0, vv);
                } else if (a->v_type == TK_TYPE_Q4_0) {
                    dv = value_block(vr, TK_TYPE_Q4_0, d0, vv);
                } else {
                    for (int j = 0; j < 4; j++) {
                        const int64_t left = a->hd_v - d0 - 8 * j;
                        vv[j] = left > 0 ? load_kv(vr, a->v_type == TK_TYPE_F16, d0 + 8 * j, left)
                                         : _mm256_setzero_ps();
                    }
                }
                for (int h = 0; h < nh; h++) {
                    const __m256 wgt = _mm256_set1_ps(
                        a->scores[(size_t)(h0 + h) * (size_t)n_pos + p - 16 * b0] * dv);
                    for (int j = 0; j < 4; j++) acc[h][j] = _mm256_fmadd_ps(wgt, vv[j], acc[h][j]);
                }
            }
            for (int h = 0; h < nh; h++)
                for (int j = 0; j < 4; j++) {
                    const int64_t left = a->hd_v - d0 - 8 * j;
                    if (left > 0)
                        store_rows8(a->out + (h0 + h) * a->out_stride + d0 + 8 * j, acc[h][j],
                                    left);
                }
        }
    }
}

/* ---- vector operations ---------------------------------------------------------- */

static void rms_norm(float *out, const float *x, const float *w, int64_t n, float eps)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        s0 = _mm256_fmadd_ps(a, a, s0);
        s1 = _mm256_fmadd_ps(b, b, s1);
    }
    for (; i < n; i += 8) {
        const __m256 a = load_x(x, i, n - i);
        s0 = _mm256_fmadd_ps(a, a, s0);
    }
    const float sum = hsum(_mm256_add_ps(s0, s1));
    const __m256 scale = _mm256_set1_ps(1.0f / sqrtf(sum / (float)n + eps));
    for (i = 0; i < n; i += 8)
        store_rows8(out + i,
                    _mm256_mul_ps(_mm256_mul_ps(load_x(x, i, n - i), scale), load_x(w, i, n - i)),
                    n - i);
}

static void glu(float *g, const float *u, int64_t n, bool gelu)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 v = load_x(g, i, n - i);
        __m256 e;
        if (gelu) {
            /* 0.5 v (1 + tanh(y)) = v / (1 + e^-2y) */
            const __m256 y =
                _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f), v),
                              _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), _mm256_mul_ps(v, v), one));
            e = exp256(_mm256_mul_ps(_mm256_set1_ps(-2.0f), y));
        } else {
            e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), v));
        }
        const __m256 a = _mm256_div_ps(v, _mm256_add_ps(one, e));
        store_rows8(g + i, _mm256_mul_ps(a, load_x(u, i, n - i)), n - i);
    }
}

DEFINE_FILL_X86

void kernels_fill_avx2(kernels_t *k)
{
    k->level = TK_LEVEL_AVX2;
    k->name = "avx2";
    fill_x86(k);
    kernels_fill_mlx_avx2(k);
}

TK_TARGET_END

#endif
