/* Code shared by the x86 kernel levels, kernels_avx2.c and kernels_avx512.c.
 *
 * Everything here is static or a macro that defines static functions: each
 * including file compiles its own copy for its own level, inside the file's
 * target region (TK_TARGET_BEGIN, target.h: include this header after it),
 * so the shared code runs only where that file's level is chosen
 * (dispatch.c) and no symbol is exported. Hence the name: a file ending in
 * _avx2.c or _avx512.c must open a region of its level. Nothing here may
 * need more than AVX2, FMA and F16C. Outside a region the intrinsics below
 * do not compile (their targets do not match), so a missing region cannot
 * go unnoticed; the feature macros (__AVX2__) are not tested because clang
 * does not define them inside a region.
 *
 * The macros name functions the including file defines before it uses the
 * macro (listed with each); the vector width, tile sizes and kernels stay
 * in the level's file. */
#ifndef TK_KERNELS_X86_H
#define TK_KERNELS_X86_H

#if defined(__x86_64__) || defined(_M_X64)

#include "core/core.h"
#include "kernels/kernels.h"
#include "quant/quant.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* Rows of a packed group (KERNELS_GROUP_ROWS). */
#define G 16

/* ---- activations ---------------------------------------------------------- */

/* Stores the scale db and the sums of the two halves h0, h1 of block b of
 * the quantized activations `a` (a view of the caller's output buffer). */
static inline void act_put_sums(const kernels_act_q8 *a, int64_t b, float db, int32_t h0,
                                int32_t h1)
{
    float *d = (float *)a->d, *ds = (float *)a->ds, *ds16 = (float *)a->ds16;
    int32_t *s = (int32_t *)a->s, *s16 = (int32_t *)a->s16;
    d[b] = db;
    s[b] = h0 + h1;
    s16[2 * b] = h0;
    s16[2 * b + 1] = h1;
    ds[b] = db * (float)(h0 + h1);
    ds16[2 * b] = db * (float)h0;
    ds16[2 * b + 1] = db * (float)h1;
}

/* ---- generation path: up to TG activation vectors per decoded block ------- */

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

/* direct_q4_k and direct_q5_k from the file's always-inline
 * direct_kq(w, r0, r1, x, xs, n, y, ldy, bool five). */
#define DEFINE_DIRECT_KQ                                                                           \
    static void direct_q4_k(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,           \
                            size_t xs, int64_t n, float *y, int64_t ldy)                           \
    {                                                                                              \
        direct_kq(w, r0, r1, x, xs, n, y, ldy, false);                                             \
    }                                                                                              \
                                                                                                   \
    static void direct_q5_k(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,           \
                            size_t xs, int64_t n, float *y, int64_t ldy)                           \
    {                                                                                              \
        direct_kq(w, r0, r1, x, xs, n, y, ldy, true);                                              \
    }

/* ---- prompt path: a group decoded once into scratch ------------------------ */

/* A decoded sub-block of SB columns (32, or 16 for Q6_K, Q2_K, Q3_K) for
 * the 16 rows of a group: u8 v[SB/4][64], then float s[16], o[16]; each
 * row's weights are w = s * v + o. */
#define DEC32_BYTES (512 + 128)
#define DEC16_BYTES (256 + 128)

/* Decodes the packed group at grp (cols columns) into dec. */
typedef void (*unpack_fn)(const uint8_t *grp, int64_t cols, uint8_t *dec);

/* unpack_q4_k and unpack_q5_k from the file's always-inline
 * unpack_kq(grp, cols, dec, bool five). */
#define DEFINE_UNPACK_KQ                                                                           \
    static void unpack_q4_k(const uint8_t *grp, int64_t cols, uint8_t *dec)                        \
    {                                                                                              \
        unpack_kq(grp, cols, dec, false);                                                          \
    }                                                                                              \
                                                                                                   \
    static void unpack_q5_k(const uint8_t *grp, int64_t cols, uint8_t *dec)                        \
    {                                                                                              \
        unpack_kq(grp, cols, dec, true);                                                           \
    }

/* matmul_<name> for a packed type of BLOCK-column blocks of BB bytes: the
 * prompt path (the file's batch_matmul with unpack_<name> and GROUP, which
 * picks the group kernel) from KERNELS_BATCH_MIN vectors, else the file's
 * direct_<name>. */
#define DEFINE_MATMUL(name, BLOCK, BB, GROUP)                                                      \
    static void matmul_##name(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,         \
                              size_t xs, int64_t n, float *y, int64_t ldy, void *scratch)          \
    {                                                                                              \
        if (n >= KERNELS_BATCH_MIN)                                                                \
            batch_matmul(w, r0, r1, x, xs, n, y, ldy, scratch, (size_t)(w->cols / BLOCK) * BB,     \
                         unpack_##name, GROUP);                                                    \
        else                                                                                       \
            direct_##name(w, r0, r1, x, xs, n, y, ldy);                                            \
    }

static size_t scratch_bytes(int64_t cols)
{
    /* The decoded group: 20 bytes per column (24 for Q6_K's 16-column
     * sub-blocks); the reference's row of floats for unpacked types. */
    return TK_MAX((size_t)cols * 24, (size_t)cols * sizeof(float)) + 64;
}

/* ---- float weights ------------------------------------------------------------ */

/* float_matmul and matmul_f32, matmul_f16, matmul_bf16: tiles of RT rows x
 * FT vectors by the file's float_tile(type, w, r, nr, x, xs, t, nt, y, ldy). */
#define DEFINE_FLOAT_MATMULS                                                                       \
    static inline void float_matmul(int type, const kernels_mat *w, int64_t r0, int64_t r1,        \
                                    const void *x, size_t xs, int64_t n, float *y, int64_t ldy)    \
    {                                                                                              \
        for (int64_t r = r0; r < r1; r += RT)                                                      \
            for (int64_t t = 0; t < n; t += FT)                                                    \
                float_tile(type, w, r, (int)TK_MIN(RT, r1 - r), x, xs, t, (int)TK_MIN(FT, n - t),  \
                           y, ldy);                                                                \
    }                                                                                              \
                                                                                                   \
    static void matmul_f32(const kernels_mat *w, int64_t r0, int64_t r1, const void *x, size_t xs, \
                           int64_t n, float *y, int64_t ldy, void *scratch)                        \
    {                                                                                              \
        (void)scratch;                                                                             \
        float_matmul(TK_TYPE_F32, w, r0, r1, x, xs, n, y, ldy);                                    \
    }                                                                                              \
                                                                                                   \
    static void matmul_f16(const kernels_mat *w, int64_t r0, int64_t r1, const void *x, size_t xs, \
                           int64_t n, float *y, int64_t ldy, void *scratch)                        \
    {                                                                                              \
        (void)scratch;                                                                             \
        float_matmul(TK_TYPE_F16, w, r0, r1, x, xs, n, y, ldy);                                    \
    }                                                                                              \
                                                                                                   \
    static void matmul_bf16(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,           \
                            size_t xs, int64_t n, float *y, int64_t ldy, void *scratch)            \
    {                                                                                              \
        (void)scratch;                                                                             \
        float_matmul(TK_TYPE_BF16, w, r0, r1, x, xs, n, y, ldy);                                   \
    }

/* ---- the table ------------------------------------------------------------------ */

/* fill_x86(k): installs the file's kernels in k (all but level and name):
 * matmul_<type> for F32, F16, BF16 and every packed type, scratch_bytes,
 * quantize_act, attn, rms_norm and glu. */
#define DEFINE_FILL_X86                                                                            \
    static void fill_x86(kernels_t *k)                                                             \
    {                                                                                              \
        k->types[TK_TYPE_F32] = (kernels_type){matmul_f32, KERNELS_ACT_F32, false};                \
        k->types[TK_TYPE_F16] = (kernels_type){matmul_f16, KERNELS_ACT_F32, false};                \
        k->types[TK_TYPE_BF16] = (kernels_type){matmul_bf16, KERNELS_ACT_F32, false};              \
        k->types[TK_TYPE_Q8_0] = (kernels_type){matmul_q8_0, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q4_0] = (kernels_type){matmul_q4_0, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q5_0] = (kernels_type){matmul_q5_0, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_IQ4_NL] = (kernels_type){matmul_iq4_nl, KERNELS_ACT_Q8, true};            \
        k->types[TK_TYPE_Q4_K] = (kernels_type){matmul_q4_k, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q5_K] = (kernels_type){matmul_q5_k, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q6_K] = (kernels_type){matmul_q6_k, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q4_1] = (kernels_type){matmul_q4_1, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q5_1] = (kernels_type){matmul_q5_1, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q2_K] = (kernels_type){matmul_q2_k, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_Q3_K] = (kernels_type){matmul_q3_k, KERNELS_ACT_Q8, true};                \
        k->types[TK_TYPE_IQ4_XS] = (kernels_type){matmul_iq4_xs, KERNELS_ACT_Q8, true};            \
        k->scratch_bytes = scratch_bytes;                                                          \
        k->quantize_act = quantize_act;                                                            \
        k->attn = attn;                                                                            \
        k->rms_norm = rms_norm;                                                                    \
        k->glu = glu;                                                                              \
    }

#endif /* x86 */

#endif
