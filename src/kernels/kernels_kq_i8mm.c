/* Int8 matrix-multiply kernels (ARMv8.6 I8MM: Apple M2+, Graviton3+) of
 * Q2_K .. Q6_K, IQ4_XS and the MLX affine types, installed by the i8mm
 * level's fill function. The generation path is the dotprod level's
 * (kernels_kq_arm.h); the prompt path multiplies with SMMLA, which takes
 * 2 rows x 8 columns of weights and 2 vectors x 8 activation bytes and adds
 * the 2 x 2 dot products: twice the multiply-adds of an SDOT.
 *
 * Each group of 16 rows is decoded once into scratch as at the other levels
 * (KQ_DEC_BYTES per 32 columns: signed bytes, then f32 s[2][16], o[2][16])
 * except that the bytes are SMMLA tiles: at 128 j + 16 p the columns
 * 8j..8j+7 of rows 2p and 2p + 1 (k-step j < 4, row pair p < 8), which is
 * two k-group quarters zipped by 32-bit lanes. A tile is 8 rows x 4 vectors:
 * 8 int32 and 8 float accumulators of [r0 t0, r0 t1, r1 t0, r1 t1]. The
 * integer dots are exact and the float operations per row and vector are
 * those of kernels_kq_arm.h in the same order (the row scale duplicated
 * for a row pair, the vectors' d, ds paired), so the results are bit for
 * bit those of the other ARM levels and paths. */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__aarch64__)

#define KQ_LEVEL 2
#include "kernels/kernels_kq_arm.h"

/* The decoded form of the packed group at grp for SMMLA (see the top). */
KQ_AI void mm_unpack(const int kind, const int group, const uint8_t *grp, int64_t cols,
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
                for (int j = 0; j < 4; j++) {
                    const int32x4_t a = vreinterpretq_s32_s8(wv[2 * j]);
                    const int32x4_t c = vreinterpretq_s32_s8(wv[2 * j + 1]);
                    vst1q_s8((int8_t *)e + 128 * j + 32 * q,
                             vreinterpretq_s8_s32(vzip1q_s32(a, c)));
                    vst1q_s8((int8_t *)e + 128 * j + 32 * q + 16,
                             vreinterpretq_s8_s32(vzip2q_s32(a, c)));
                }
                for (int k = 0; k < 2; k++) {
                    vst1q_f32((float *)(void *)(e + KQ_DEC_S(k)) + 4 * q, sc[k]);
                    vst1q_f32((float *)(void *)(e + KQ_DEC_O(k)) + 4 * q, o[k]);
                }
            }
        }
    }
}

/* {a, b, a, b}: the values of a vector pair in the lanes of an SMMLA result. */
KQ_AI float32x4_t mm_pair(float a, float b)
{
    const float32x2_t v = vset_lane_f32(b, vdup_n_f32(a), 1);
    return vcombine_f32(v, v);
}

KQ_AI int32x4_t mm_pair_i(int32_t a, int32_t b)
{
    const int32x2_t v = vset_lane_s32(b, vdup_n_s32(a), 1);
    return vcombine_s32(v, v);
}

/* Rows [8h, 8h + 8) of a decoded group times the 2 NP vectors a[] (vector
 * pairs a[2v], a[2v + 1]); the first nt vectors and `valid` rows are
 * stored at y + t * ldy + 8h. */
KQ_AI void mm_tile(const int kind, const int NP, const uint8_t *dec, int64_t cols,
                   const kernels_act_q8 *a, int h, int nt, float *y, int64_t ldy, int64_t valid)
{
    const int sb = kq_sb(kind), c = kq_c(kind);
    float32x4_t acc[4][2];
    for (int p = 0; p < 4; p++)
        for (int v = 0; v < NP; v++) acc[p][v] = vdupq_n_f32(0.0f);
    for (int64_t ab = 0; ab < cols / 32; ab++) {
        const uint8_t *e = dec + (size_t)ab * KQ_DEC_BYTES;
        int8x16_t xp[2][4];
        for (int v = 0; v < NP; v++) {
            const int8_t *qa = a[2 * v].q + 32 * ab, *qb = a[2 * v + 1].q + 32 * ab;
            for (int j = 0; j < 4; j++)
                xp[v][j] = vcombine_s8(vld1_s8(qa + 8 * j), vld1_s8(qb + 8 * j));
        }
        /* k: the 32 columns (sb 32) or each half of 16 */
        for (int k = 0; k < 32 / sb; k++) {
            int32x4_t p[4][2];
            for (int v = 0; v < NP; v++) {
                const int32x4_t init =
                    c == 0 ? vdupq_n_s32(0)
                    : sb == 32
                        ? mm_pair_i(c * a[2 * v].s[ab], c * a[2 * v + 1].s[ab])
                        : mm_pair_i(c * a[2 * v].s16[2 * ab + k], c * a[2 * v + 1].s16[2 * ab + k]);
                for (int pp = 0; pp < 4; pp++) p[pp][v] = init;
            }
            for (int j = k * sb / 8; j < (k + 1) * sb / 8; j++)
                for (int pp = 0; pp < 4; pp++) {
                    const int8x16_t wv = vld1q_s8((const int8_t *)e + 128 * j + 64 * h + 16 * pp);
                    for (int v = 0; v < NP; v++) p[pp][v] = vmmlaq_s32(p[pp][v], wv, xp[v][j]);
                }
            const float *sp = (const float *)(const void *)(e + KQ_DEC_S(k)) + 8 * h;
            const float *op = (const float *)(const void *)(e + KQ_DEC_O(k)) + 8 * h;
            const float32x4_t s4[2] = {vld1q_f32(sp), vld1q_f32(sp + 4)};
            const float32x4_t o4[2] = {vld1q_f32(op), vld1q_f32(op + 4)};
            for (int v = 0; v < NP; v++) {
                const float32x4_t d = mm_pair(a[2 * v].d[ab], a[2 * v + 1].d[ab]);
                const float32x4_t ds =
                    sb == 32 ? mm_pair(a[2 * v].ds[ab], a[2 * v + 1].ds[ab])
                             : mm_pair(a[2 * v].ds16[2 * ab + k], a[2 * v + 1].ds16[2 * ab + k]);
                for (int pp = 0; pp < 4; pp++) {
                    /* the scales of rows 2pp, 2pp + 1 of the half, each twice */
                    const float32x4_t s = pp % 2 ? vzip2q_f32(s4[pp / 2], s4[pp / 2])
                                                 : vzip1q_f32(s4[pp / 2], s4[pp / 2]);
                    acc[pp][v] = vfmaq_f32(acc[pp][v], vcvtq_f32_s32(p[pp][v]), vmulq_f32(s, d));
                    if (kq_has_o(kind)) {
                        const float32x4_t o = pp % 2 ? vzip2q_f32(o4[pp / 2], o4[pp / 2])
                                                     : vzip1q_f32(o4[pp / 2], o4[pp / 2]);
                        acc[pp][v] = vfmaq_f32(acc[pp][v], o, ds);
                    }
                }
            }
        }
    }
    for (int v = 0; v < NP; v++) {
        const float32x4_t t0[2] = {vuzp1q_f32(acc[0][v], acc[1][v]),
                                   vuzp1q_f32(acc[2][v], acc[3][v])};
        const float32x4_t t1[2] = {vuzp2q_f32(acc[0][v], acc[1][v]),
                                   vuzp2q_f32(acc[2][v], acc[3][v])};
        for (int i = 0; i < 2; i++) {
            if (2 * v < nt) kq_store4(y + 2 * v * ldy + 8 * h + 4 * i, t0[i], valid - 4 * i);
            if (2 * v + 1 < nt)
                kq_store4(y + (2 * v + 1) * ldy + 8 * h + 4 * i, t1[i], valid - 4 * i);
        }
    }
}

/* The prompt path: each group decoded once, then 8 rows x 4 vectors at a
 * time (an odd last vector paired with itself). */
KQ_AI void kq_batch_mmla(const int kind, const int group, const kernels_mat *w, int64_t r0,
                         int64_t r1, const void *x, size_t xs, int64_t n, float *y, int64_t ldy,
                         void *scratch)
{
    const size_t group_bytes = (size_t)(w->cols / kq_block(kind, group)) * kq_bb(kind, group);
    uint8_t *dec = scratch;
    for (int64_t r = r0; r < r1; r += KQ_GR) {
        mm_unpack(kind, group, (const uint8_t *)w->data + (size_t)(r / KQ_GR) * group_bytes,
                  w->cols, dec);
        for (int h = 0; h < 2; h++) {
            const int64_t valid = r1 - r - 8 * h;
            if (valid <= 0) break;
            for (int64_t t0 = 0; t0 < n; t0 += 4) {
                const int nt = (int)TK_MIN(4, n - t0);
                kernels_act_q8 a[4];
                for (int i = 0; i < 4; i++)
                    a[i] = kernels_act_view((const char *)x + (size_t)(t0 + TK_MIN(i, nt - 1)) * xs,
                                            w->cols);
                float *yt = y + t0 * ldy + r;
                if (nt > 2)
                    mm_tile(kind, 2, dec, w->cols, a, h, nt, yt, ldy, valid);
                else
                    mm_tile(kind, 1, dec, w->cols, a, h, nt, yt, ldy, valid);
            }
        }
    }
}

KQ_DEFINE_FILL(kq_batch_mmla)

void kernels_fill_kq_i8mm(kernels_t *k)
{
    kq_fill(k);
}

#endif
