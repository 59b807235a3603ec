/* AVX2 kernels of the MLX affine types (MLX4_G32 .. MLX8_G128), installed
 * by kernels_fill_avx2 (AVX2, FMA, F16C: the target region of this
 * file, see target.h; called only when the CPU has them: see dispatch.c).
 *
 * The packed layout, the two paths and the float arithmetic are those of
 * kernels_mlx_avx512.c (see there), on 256-bit vectors: a 64-byte k-group
 * vector is two halves of 8 rows, handled one after the other. Bytes are
 * multiplied with vpmaddubsw (u8 x s8, pairs summed into saturating int16)
 * and widened with vpmaddwd; the integer dots are exact, so the results
 * are bit for bit those of the AVX-512 level:
 *   - MLX4 values (<= 15): two products added in 16 bits stay below
 *     2 * 2 * 15 * 127;
 *   - MLX8 values (0..255) would saturate (2 * 255 * 127 > 32767): they are
 *     multiplied as q - 128 (|q - 128| <= 128 through vpsignb, 2 * 128 * 127
 *     < 32768) and 128 times the activations' code sum is added back in
 *     int32. */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__x86_64__) || defined(_M_X64)

#include "core/core.h"
#include "kernels/target.h"
#include "quant/quant.h"

#include <string.h>

TK_TARGET_BEGIN(TK_TARGET_AVX2) /* to TK_TARGET_END at the end of the file */

#define GR KERNELS_GROUP_ROWS
#define TG 4 /* vectors per decoded block on the generation path */
#define TP 4 /* vectors per tile on the prompt path */

/* Bytes of one decoded block (as at the AVX-512 level): the packed MLX8
 * layout, f32 scale[16], bias[16], u8 v[G/4][64]. */
#define DEC_BYTES(group) ((size_t)PK_MLX_BYTES(group, 8))

static inline __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

static inline float load_f32(const void *p)
{
    float f;
    memcpy(&f, p, sizeof f);
    return f;
}

/* Stores the lanes of rows [r, r + 8) that are below `valid`. */
static inline void store_rows8(float *y, __m256 v, int64_t valid)
{
    if (valid >= 8) {
        _mm256_storeu_ps(y, v);
    } else if (valid > 0) {
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_maskstore_ps(y, _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)valid), idx), v);
    }
}

/* The 8 k-group vectors of half h (rows 8h..8h+7) of 32-column sub-block s
 * of a packed block. */
static inline __attribute__((always_inline)) void decode(const uint8_t *blk, const int bits, int s,
                                                         int h, __m256i w[8])
{
    const uint8_t *q = blk + PK_MLX_Q(bits, s) + 32 * h;
    if (bits == 8) {
        for (int g = 0; g < 8; g++)
            w[g] = _mm256_loadu_si256((const __m256i *)(const void *)(q + 64 * g));
        return;
    }
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int m = 0; m < 4; m++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(const void *)(q + 64 * m));
        w[m] = _mm256_and_si256(raw, m4);
        w[m + 4] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
    }
}

/* k-groups g and g + 1 (values <= 15) times activation bytes x, x + 4,
 * added to acc. */
static inline __m256i dot_pair4(__m256i acc, __m256i w0, __m256i w1, const int8_t *x)
{
    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w0, bcast4(x)),
                                       _mm256_maddubs_epi16(w1, bcast4(x + 4)));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* One k-group of values 0..255 as (v - 128) times activation bytes x. */
static inline __m256i dot_centered8(__m256i acc, __m256i v, const int8_t *x)
{
    const __m256i c = _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80)); /* v - 128 */
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(c), _mm256_sign_epi8(bcast4(x), c));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* sum over the 32 columns of w * x; s32 is the sum of the 32 codes x. */
static inline __attribute__((always_inline)) __m256i dot32(const __m256i w[8], const int8_t *x,
                                                           int32_t s32, const int bits)
{
    if (bits == 4) {
        __m256i p = _mm256_setzero_si256();
        for (int g = 0; g < 8; g += 2) p = dot_pair4(p, w[g], w[g + 1], x + 4 * g);
        return p;
    }
    __m256i p = _mm256_set1_epi32(128 * s32);
    for (int g = 0; g < 8; g++) p = dot_centered8(p, w[g], x + 4 * g);
    return p;
}

/* ---- generation path ------------------------------------------------------ */

static inline __attribute__((always_inline)) void direct(const kernels_mat *w, int64_t r0,
                                                         int64_t r1, const void *x, size_t xs,
                                                         int64_t n, float *y, int64_t ldy,
                                                         const int group, const int bits)
{
    const int ns = group / 32;
    const int64_t ngr = w->cols / group;
    const size_t bb = PK_MLX_BYTES((size_t)group, (size_t)bits);
    for (int64_t r = r0; r < r1; r += GR) {
        const uint8_t *grp = (const uint8_t *)w->data + (size_t)(r / GR) * (size_t)ngr * bb;
        for (int h = 0; h < 2; h++) {
            if (r + 8 * h >= r1) break;
            for (int64_t t0 = 0; t0 < n; t0 += TG) {
                const int nt = (int)TK_MIN(TG, n - t0);
                kernels_act_q8 a[TG];
                for (int i = 0; i < nt; i++)
                    a[i] = kernels_act_view((const char *)x + (size_t)(t0 + i) * xs, w->cols);
                __m256 acc[TG];
                for (int i = 0; i < TG; i++) acc[i] = _mm256_setzero_ps();
                for (int64_t gi = 0; gi < ngr; gi++) {
                    const uint8_t *blk = grp + (size_t)gi * bb;
                    const __m256 sc = _mm256_loadu_ps((const float *)(const void *)blk + 8 * h);
                    const __m256 bi =
                        _mm256_loadu_ps((const float *)(const void *)(blk + PK_MLX_BIAS) + 8 * h);
                    for (int s = 0; s < ns; s++) {
                        __m256i wv[8];
                        decode(blk, bits, s, h, wv);
                        const int64_t ab = gi * ns + s;
                        for (int i = 0; i < TG; i++) {
                            if (i >= nt) break;
                            const __m256i p = dot32(wv, a[i].q + 32 * ab, a[i].s[ab], bits);
                            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
                                                     _mm256_mul_ps(sc, _mm256_set1_ps(a[i].d[ab])),
                                                     acc[i]);
                            acc[i] = _mm256_fmadd_ps(bi, _mm256_set1_ps(a[i].ds[ab]), acc[i]);
                        }
                    }
                }
                for (int i = 0; i < nt; i++)
                    store_rows8(y + (t0 + i) * ldy + r + 8 * h, acc[i], r1 - r - 8 * h);
            }
        }
    }
}

/* ---- prompt path ------------------------------------------------------------ */

/* MLX4: the packed group at grp (cols columns) as bytes into dec. */
static inline __attribute__((always_inline)) void unpack4(const uint8_t *grp, int64_t cols,
                                                          uint8_t *dec, const int group)
{
    const size_t bb = PK_MLX_BYTES((size_t)group, 4);
    for (int64_t gi = 0; gi < cols / group; gi++) {
        const uint8_t *blk = grp + (size_t)gi * bb;
        uint8_t *e = dec + (size_t)gi * DEC_BYTES(group);
        memcpy(e, blk, 128); /* scale, bias */
        for (int s = 0; s < group / 32; s++)
            for (int h = 0; h < 2; h++) {
                __m256i wv[8];
                decode(blk, 4, s, h, wv);
                for (int g = 0; g < 8; g++)
                    _mm256_store_si256((__m256i *)(void *)(e + PK_MLX_Q(8, s) + 64 * g + 32 * h),
                                       wv[g]);
            }
    }
}

/* Rows [r + 8h, r + 8h + 8) and NT (<= TP) vectors from a decoded group;
 * see the AVX-512 batch_tile. */
static inline __attribute__((always_inline)) void
batch_tile(const uint8_t *dec, int64_t cols, const int group, const int bits, const int NT, int h,
           const kernels_act_q8 *a0, size_t xs, float *y, int64_t ldy, int64_t valid)
{
    const int ns = group / 32;
    __m256 acc[TP];
    for (int i = 0; i < NT; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t gi = 0; gi < cols / group; gi++) {
        const uint8_t *e = dec + (size_t)gi * DEC_BYTES(group);
        const __m256 sc = _mm256_loadu_ps((const float *)(const void *)e + 8 * h);
        const __m256 bi = _mm256_loadu_ps((const float *)(const void *)(e + PK_MLX_BIAS) + 8 * h);
        for (int s = 0; s < ns; s++) {
            const int64_t ab = gi * ns + s;
            const char *q = (const char *)(a0->q + 32 * ab);
            const uint8_t *v = e + PK_MLX_Q(8, s) + 32 * h;
            __m256i p[TP];
            if (bits == 4) {
                for (int i = 0; i < NT; i++) p[i] = _mm256_setzero_si256();
                for (int g = 0; g < 8; g += 2) {
                    const __m256i w0 =
                        _mm256_loadu_si256((const __m256i *)(const void *)(v + 64 * g));
                    const __m256i w1 =
                        _mm256_loadu_si256((const __m256i *)(const void *)(v + 64 * g + 64));
                    for (int i = 0; i < NT; i++)
                        p[i] =
                            dot_pair4(p[i], w0, w1, (const int8_t *)(q + (size_t)i * xs) + 4 * g);
                }
            } else {
                const char *sb = (const char *)(a0->s + ab);
                for (int i = 0; i < NT; i++) {
                    int32_t si;
                    memcpy(&si, sb + (size_t)i * xs, sizeof si);
                    p[i] = _mm256_set1_epi32(128 * si);
                }
                for (int g = 0; g < 8; g++) {
                    const __m256i wv =
                        _mm256_loadu_si256((const __m256i *)(const void *)(v + 64 * g));
                    for (int i = 0; i < NT; i++)
                        p[i] =
                            dot_centered8(p[i], wv, (const int8_t *)(q + (size_t)i * xs) + 4 * g);
                }
            }
            const char *da = (const char *)(a0->d + ab), *dsb = (const char *)(a0->ds + ab);
            for (int i = 0; i < NT; i++) {
                acc[i] = _mm256_fmadd_ps(
                    _mm256_cvtepi32_ps(p[i]),
                    _mm256_mul_ps(sc, _mm256_set1_ps(load_f32(da + (size_t)i * xs))), acc[i]);
                acc[i] =
                    _mm256_fmadd_ps(bi, _mm256_set1_ps(load_f32(dsb + (size_t)i * xs)), acc[i]);
            }
        }
    }
    for (int i = 0; i < NT; i++) store_rows8(y + i * ldy, acc[i], valid);
}

static inline __attribute__((always_inline)) void
batch(const kernels_mat *w, int64_t r0, int64_t r1, const void *x, size_t xs, int64_t n, float *y,
      int64_t ldy, void *scratch, const int group, const int bits)
{
    const int64_t cols = w->cols;
    const size_t group_bytes = (size_t)(cols / group) * PK_MLX_BYTES((size_t)group, (size_t)bits);
    for (int64_t r = r0; r < r1; r += GR) {
        const uint8_t *grp = (const uint8_t *)w->data + (size_t)(r / GR) * group_bytes;
        const uint8_t *dec = grp;
        if (bits == 4) {
            unpack4(grp, cols, scratch, group);
            dec = scratch;
        }
        for (int h = 0; h < 2; h++) {
            const int64_t valid = r1 - r - 8 * h;
            if (valid <= 0) break;
            for (int64_t t0 = 0; t0 < n; t0 += TP) {
                const int nt = (int)TK_MIN(TP, n - t0);
                const kernels_act_q8 a = kernels_act_view((const char *)x + (size_t)t0 * xs, cols);
                float *yt = y + t0 * ldy + r + 8 * h;
                switch (nt) {
                case 4:
                    batch_tile(dec, cols, group, bits, 4, h, &a, xs, yt, ldy, valid);
                    break;
                case 3:
                    batch_tile(dec, cols, group, bits, 3, h, &a, xs, yt, ldy, valid);
                    break;
                case 2:
                    batch_tile(dec, cols, group, bits, 2, h, &a, xs, yt, ldy, valid);
                    break;
                default:
                    batch_tile(dec, cols, group, bits, 1, h, &a, xs, yt, ldy, valid);
                    break;
                }
            }
        }
    }
}

#define DEFINE_MLX_MATMUL(name, GROUP, BITS)                                                       \
    static void matmul_##name(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,         \
                              size_t xs, int64_t n, float *y, int64_t ldy, void *scratch)          \
    {                                                                                              \
        if (n >= KERNELS_BATCH_MIN)                                                                \
            batch(w, r0, r1, x, xs, n, y, ldy, scratch, GROUP, BITS);                              \
        else                                                                                       \
            direct(w, r0, r1, x, xs, n, y, ldy, GROUP, BITS);                                      \
    }

DEFINE_MLX_MATMUL(mlx4_g32, 32, 4)
DEFINE_MLX_MATMUL(mlx4_g64, 64, 4)
DEFINE_MLX_MATMUL(mlx4_g128, 128, 4)
DEFINE_MLX_MATMUL(mlx8_g32, 32, 8)
DEFINE_MLX_MATMUL(mlx8_g64, 64, 8)
DEFINE_MLX_MATMUL(mlx8_g128, 128, 8)

/* Scratch: the x86 levels' scratch_bytes gives 24 bytes per column; a
 * decoded MLX4 group needs 16 + 128 / G <= 20. */
void kernels_fill_mlx_avx2(kernels_t *k)
{
    k->types[TK_TYPE_MLX4_G32] = (kernels_type){matmul_mlx4_g32, KERNELS_ACT_Q8, true};
    k->types[TK_TYPE_MLX4_G64] = (kernels_type){matmul_mlx4_g64, KERNELS_ACT_Q8, true};
    k->types[TK_TYPE_MLX4_G128] = (kernels_type){matmul_mlx4_g128, KERNELS_ACT_Q8, true};
    k->types[TK_TYPE_MLX8_G32] = (kernels_type){matmul_mlx8_g32, KERNELS_ACT_Q8, true};
    k->types[TK_TYPE_MLX8_G64] = (kernels_type){matmul_mlx8_g64, KERNELS_ACT_Q8, true};
    k->types[TK_TYPE_MLX8_G128] = (kernels_type){matmul_mlx8_g128, KERNELS_ACT_Q8, true};
}

TK_TARGET_END

#endif
