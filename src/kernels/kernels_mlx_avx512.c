/* AVX-512 VNNI kernels of the MLX affine types (MLX4_G32 .. MLX8_G128),
 * installed by kernels_fill_avx512 (the avx512 target region of this file,
 * see target.h; called only when the CPU has them: see dispatch.c).
 *
 * Packed layout (pack.c): per group of 16 rows and G columns, f32 scale[16]
 * and bias[16], then per 32 columns 8 k-group vectors of u8 values (MLX4:
 * as nibbles). vpdpbusd multiplies the u8 values (0..255: the 8-bit types
 * need no offset) by 4 broadcast activation bytes for 16 rows at once.
 *
 * Per row and activation vector, with the activations' blocks b of 32
 * (scale d_b, d_b * sum of codes ds_b) and the integer dots
 * p_b = sum q * qa (exact in int32), for each block b in order:
 *
 *     acc = fma(p_b, scale * d_b, acc); acc = fma(bias, ds_b, acc)
 *
 * (scale and bias those of b's group: a group of 64 or 128 spans 2 or 4
 * activation blocks.)
 * The same operations, in the same order, on both paths and at the AVX2
 * level (kernels_mlx_avx2.c), so a row's result depends only on the
 * operands. Two paths, as for the other types:
 *   - generation (n < KERNELS_BATCH_MIN): each packed block is decoded in
 *     registers and used for up to 4 vectors;
 *   - prompts: a group of 16 rows is decoded once (MLX4: nibbles to bytes
 *     into scratch; MLX8 is already in that form and is read in place) and
 *     multiplied with all vectors, 8 at a time. */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__x86_64__) || defined(_M_X64)

#include "core/core.h"
#include "kernels/target.h"
#include "quant/quant.h"

#include <string.h>

TK_TARGET_BEGIN(TK_TARGET_AVX512) /* to TK_TARGET_END at the end of the file */

#define GR KERNELS_GROUP_ROWS
#define TG 4 /* vectors per decoded block on the generation path */
#define TP 8 /* vectors per tile on the prompt path */

/* Bytes of one decoded block: the packed MLX8 layout, f32 scale[16],
 * bias[16], u8 v[G/4][64]. */
#define DEC_BYTES(group) ((size_t)PK_MLX_BYTES(group, 8))

static inline __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

static inline __mmask16 row_mask(int64_t n)
{
    return n >= GR ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

static inline float load_f32(const void *p)
{
    float f;
    memcpy(&f, p, sizeof f);
    return f;
}

/* The 8 k-group vectors of 32-column sub-block s of a packed block. */
static inline __attribute__((always_inline)) void decode(const uint8_t *blk, const int bits, int s,
                                                         __m512i w[8])
{
    const uint8_t *q = blk + PK_MLX_Q(bits, s);
    if (bits == 8) {
        for (int g = 0; g < 8; g++) w[g] = _mm512_loadu_si512(q + 64 * g);
        return;
    }
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int m = 0; m < 4; m++) {
        const __m512i raw = _mm512_loadu_si512(q + 64 * m);
        w[m] = _mm512_and_si512(raw, m4);
        w[m + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
    }
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
        const __mmask16 rm = row_mask(r1 - r);
        for (int64_t t0 = 0; t0 < n; t0 += TG) {
            const int nt = (int)TK_MIN(TG, n - t0);
            kernels_act_q8 a[TG];
            for (int i = 0; i < nt; i++)
                a[i] = kernels_act_view((const char *)x + (size_t)(t0 + i) * xs, w->cols);
            __m512 acc[TG];
            for (int i = 0; i < TG; i++) acc[i] = _mm512_setzero_ps();
            for (int64_t gi = 0; gi < ngr; gi++) {
                const uint8_t *blk = grp + (size_t)gi * bb;
                const __m512 sc = _mm512_loadu_ps(blk + PK_MLX_SCALE);
                const __m512 bi = _mm512_loadu_ps(blk + PK_MLX_BIAS);
                for (int s = 0; s < ns; s++) {
                    __m512i wv[8];
                    decode(blk, bits, s, wv);
                    const int64_t ab = gi * ns + s;
                    for (int i = 0; i < TG; i++) {
                        if (i >= nt) break;
                        const int8_t *q = a[i].q + 32 * ab;
                        __m512i p = _mm512_setzero_si512();
                        for (int g = 0; g < 8; g++)
                            p = _mm512_dpbusd_epi32(p, wv[g], bcast4(q + 4 * g));
                        acc[i] =
                            _mm512_fmadd_ps(_mm512_cvtepi32_ps(p),
                                            _mm512_mul_ps(sc, _mm512_set1_ps(a[i].d[ab])), acc[i]);
                        acc[i] = _mm512_fmadd_ps(bi, _mm512_set1_ps(a[i].ds[ab]), acc[i]);
                    }
                }
            }
            for (int i = 0; i < nt; i++) _mm512_mask_storeu_ps(y + (t0 + i) * ldy + r, rm, acc[i]);
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
        _mm512_store_si512(e, _mm512_loadu_si512(blk));
        _mm512_store_si512(e + 64, _mm512_loadu_si512(blk + 64));
        for (int s = 0; s < group / 32; s++) {
            __m512i wv[8];
            decode(blk, 4, s, wv);
            for (int g = 0; g < 8; g++) _mm512_store_si512(e + PK_MLX_Q(8, s) + 64 * g, wv[g]);
        }
    }
}

/* y for rows [r, r + 16) and NT (<= TP) vectors from a decoded group.
 * The k-group loop is outside the vector loop so that the NT dot products
 * are independent chains. Always inlined with constant NT and group: the
 * accumulators stay in registers. The activation arrays of vector i are
 * those of vector 0 moved by i * xs. */
static inline __attribute__((always_inline)) void batch_tile(const uint8_t *dec, int64_t cols,
                                                             const int group, const int NT,
                                                             const kernels_act_q8 *a0, size_t xs,
                                                             float *y, int64_t ldy, __mmask16 rm)
{
    const int ns = group / 32;
    __m512 acc[TP];
    for (int i = 0; i < NT; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t gi = 0; gi < cols / group; gi++) {
        const uint8_t *e = dec + (size_t)gi * DEC_BYTES(group);
        const __m512 sc = _mm512_loadu_ps(e + PK_MLX_SCALE), bi = _mm512_loadu_ps(e + PK_MLX_BIAS);
        for (int s = 0; s < ns; s++) {
            const int64_t ab = gi * ns + s;
            const char *q = (const char *)(a0->q + 32 * ab);
            __m512i p[TP];
            for (int i = 0; i < NT; i++) p[i] = _mm512_setzero_si512();
            for (int g = 0; g < 8; g++) {
                const __m512i wv = _mm512_loadu_si512(e + PK_MLX_Q(8, s) + 64 * g);
                for (int i = 0; i < NT; i++)
                    p[i] = _mm512_dpbusd_epi32(
                        p[i], wv, bcast4((const int8_t *)(q + (size_t)i * xs) + 4 * g));
            }
            const char *da = (const char *)(a0->d + ab), *dsb = (const char *)(a0->ds + ab);
            for (int i = 0; i < NT; i++) {
                acc[i] = _mm512_fmadd_ps(
                    _mm512_cvtepi32_ps(p[i]),
                    _mm512_mul_ps(sc, _mm512_set1_ps(load_f32(da + (size_t)i * xs))), acc[i]);
                acc[i] =
                    _mm512_fmadd_ps(bi, _mm512_set1_ps(load_f32(dsb + (size_t)i * xs)), acc[i]);
            }
        }
    }
    for (int i = 0; i < NT; i++) _mm512_mask_storeu_ps(y + i * ldy, rm, acc[i]);
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
        const __mmask16 rm = row_mask(r1 - r);
        for (int64_t t0 = 0; t0 < n; t0 += TP) {
            const int nt = (int)TK_MIN(TP, n - t0);
            const kernels_act_q8 a = kernels_act_view((const char *)x + (size_t)t0 * xs, cols);
            float *yt = y + t0 * ldy + r;
            switch (nt) {
            case 8:
                batch_tile(dec, cols, group, 8, &a, xs, yt, ldy, rm);
                break;
            case 7:
                batch_tile(dec, cols, group, 7, &a, xs, yt, ldy, rm);
                break;
            case 6:
                batch_tile(dec, cols, group, 6, &a, xs, yt, ldy, rm);
                break;
            case 5:
                batch_tile(dec, cols, group, 5, &a, xs, yt, ldy, rm);
                break;
            case 4:
                batch_tile(dec, cols, group, 4, &a, xs, yt, ldy, rm);
                break;
            case 3:
                batch_tile(dec, cols, group, 3, &a, xs, yt, ldy, rm);
                break;
            case 2:
                batch_tile(dec, cols, group, 2, &a, xs, yt, ldy, rm);
                break;
            default:
                batch_tile(dec, cols, group, 1, &a, xs, yt, ldy, rm);
                break;
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
void kernels_fill_mlx_avx512(kernels_t *k)
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
