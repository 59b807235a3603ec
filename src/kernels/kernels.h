/* Compute kernels of the CPU engine: matrix products for every tensor type,
 * attention, and the float vector operations around them.
 *
 * Layering (STYLE.md rule 8): the `*_ref` functions in kernels_ref.c are
 * plain C and are the specification; per-ISA files (kernels_avx2.c,
 * kernels_avx512.c, kernels_neon.c, ...) provide faster versions of the
 * entries they cover and keep the reference for the rest. kernels_get() fills one table once, the
 * first time it is called, for the level tk_kernel_level_choose() picks from
 * the CPU's features and TEKTRA_CPU (TEKTRA_KERNELS=ref is an older spelling
 * of TEKTRA_CPU=generic), and every caller goes through that table.
 *
 * Determinism: every entry computes each output element with arithmetic
 * that depends only on the operands (the number of activation vectors n
 * included: see KERNELS_BATCH_MIN), never on which thread computes it or
 * how rows are split (in groups of KERNELS_GROUP_ROWS), so results are
 * identical for any thread count.
 *
 * Quantized weights at the SIMD levels are multiplied with activations
 * rounded to 8 bits in blocks of 32 (KERNELS_ACT_Q8), as the reference
 * engine does; float weights (F32, F16, BF16) always use float activations.
 */
#ifndef TK_KERNELS_H
#define TK_KERNELS_H

#include "tektra/platform.h"
#include "tektra/quant.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Packed weights are stored in groups of this many rows (interleaved, see
 * pack.c), and the row ranges handed to a packed matmul start at multiples
 * of it. */
#define KERNELS_GROUP_ROWS 16

/* From this many activation vectors on, a packed matmul decodes each group
 * of weight rows once into scratch and reuses it for all vectors (the
 * prompt path); below, it decodes in registers per block (generation). */
#define KERNELS_BATCH_MIN 8

/* What a matmul reads as activations. */
typedef enum kernels_act {
    KERNELS_ACT_F32, /* `cols` floats per vector */
    KERNELS_ACT_Q8,  /* kernels_quantize_act() output, kernels_act_bytes(cols) per vector */
} kernels_act;

/* A weight matrix as the kernels see it: `rows` rows of `cols` elements of
 * `type`. Unpacked: row r at (const char *)data + r * row_bytes (the file's
 * layout). Packed: the layout of kernels_pack() for this type. `data` is
 * borrowed (the mapped file, or the model's packed copy). */
typedef struct kernels_mat {
    const void *data;
    int type;         /* tk_type */
    int64_t cols;     /* ne[0]: elements per row */
    int64_t rows;     /* ne[1] */
    size_t row_bytes; /* bytes of one row in the file's layout */
    bool packed;      /* data is in the packed layout */
} kernels_mat;

/* Matrix product of rows [r0, r1) of `w` with n activation vectors:
 *
 *     y[t * ldy + r] = sum_c W[r][c] * x_t[c]   for r0 <= r < r1, 0 <= t < n
 *
 * x: n vectors in the type's activation format (kernels_type.act), vector t
 *    at (const char *)x + t * x_stride (x_stride a multiple of 4).
 * y: written at the positions above only.
 * scratch: per-thread memory of kernels_t.scratch_bytes(cols) bytes,
 *    64-byte aligned.
 * cols is a multiple of the type's block size (checked at model load). For
 * packed weights r0 is a multiple of KERNELS_GROUP_ROWS and r1 is a multiple
 * of it or equal to rows. */
typedef void (*kernels_matmul_fn)(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,
                                  size_t x_stride, int64_t n, float *y, int64_t ldy, void *scratch);

/* One row per tensor type: what the engine needs to multiply by it. */
typedef struct kernels_type {
    kernels_matmul_fn matmul; /* NULL when the type cannot be a weight */
    kernels_act act;          /* the activations matmul reads */
    bool packed;              /* matmul wants the weights packed (kernels_pack) */
} kernels_type;

/* Attention of the query heads that share one KV head, for one token.
 *
 * Keys are stored transposed in blocks of 16 positions: block p / 16 holds
 * position p and starts at (const char *)k + (p / 16) * k_block_bytes.
 * Values are rows: position p at (const char *)v + p * v_stride. The cache
 * types (k_type, v_type) are:
 *  - F32, F16 (IEEE half): key element [d * 16 + p % 16] of the block;
 *    value element d of the row.
 *  - Q8_0, Q4_0 (head sizes multiples of 32): a key block is hd_k / 32
 *    groups of KERNELS_KQ_GROUP_BYTES(type) bytes, group g for dimensions
 *    32g .. 32g + 31: first 16 F16 scales dk[p % 16], then for Q8_0 int8
 *    q[32][16] (dimension j of the group, position p % 16), x = dk * q; for
 *    Q4_0 bytes q[16][16]: byte [i][p % 16] holds dimension 2i in its low
 *    nibble and 2i + 1 in its high nibble, x = dk * (nibble - 8). Each
 *    position owns its bytes, so positions are written independently. A
 *    value row is hd_v / 32 GGUF blocks (block_q8_0 or block_q4_0).
 */
#define KERNELS_KQ_GROUP_BYTES(type) ((type) == TK_TYPE_Q8_0 ? 32 + 32 * 16 : 32 + 16 * 16)

/* Bytes of one 16-position key block of one head, and of one head's value
 * row, for a cache type. */
static inline size_t kernels_k_block_bytes(int type, int64_t hd_k)
{
    if (type == TK_TYPE_Q8_0 || type == TK_TYPE_Q4_0)
        return (size_t)(hd_k / 32) * KERNELS_KQ_GROUP_BYTES(type);
    return (size_t)hd_k * 16 * (type == TK_TYPE_F16 ? 2 : 4);
}
static inline size_t kernels_v_row_bytes(int type, int64_t hd_v)
{
    if (type == TK_TYPE_Q8_0) return (size_t)(hd_v / 32) * 34;
    if (type == TK_TYPE_Q4_0) return (size_t)(hd_v / 32) * 18;
    return (size_t)hd_v * (type == TK_TYPE_F16 ? 2 : 4);
}

/* Writes one position's key (hd_k floats) into its block (p16 = p % 16),
 * and one position's value (hd_v floats) into its row, in a cache type. */
void kernels_kv_store_k(int type, void *block, int p16, const float *x, int64_t hd_k);
void kernels_kv_store_v(int type, void *row, const float *x, int64_t hd_v);

/* What kernels_t.attn computes:
 *
 *     s[h][p] = softcap(scale * q_h . k_p)          for lo <= p <= hi
 *     out_h   = sum_p softmax_p(s[h]) * v_p
 *
 * Partial form (part_max set), for one piece of a longer range whose
 * pieces are merged afterwards (online softmax, see model/attention.c):
 *
 *     part_max[h] = m_h = max_p s[h][p]
 *     part_sum[h] = sum_p exp(s[h][p] - m_h)
 *     out_h       = sum_p exp(s[h][p] - m_h) * v_p  (not divided by the sum)
 */
typedef struct kernels_attn {
    const float *q;     /* [nh][q_stride], head h at q + h * q_stride */
    int64_t q_stride;   /* floats */
    int nh;             /* query heads */
    int64_t hd_k, hd_v; /* key and value head sizes */
    const void *k;      /* borrowed, see above */
    size_t k_block_bytes;
    const void *v;      /* borrowed, see above */
    size_t v_stride;    /* bytes */
    int k_type, v_type; /* TK_TYPE_F32, F16, Q8_0 or Q4_0 (above) */
    int64_t lo, hi;     /* positions lo..hi (inclusive) are attended */
    float scale;        /* multiplies q . k */
    float softcap;      /* 0 = none */
    float *out;         /* [nh][out_stride], written */
    int64_t out_stride; /* floats */
    float *scores;      /* scratch of kernels_attn_scratch(nh, lo, hi) floats */
    float *part_max;    /* [nh] or NULL: the partial form above, written */
    float *part_sum;    /* [nh] with part_max, written */
} kernels_attn;

/* Floats of scratch kernels_t.attn needs for nh heads over positions
 * lo..hi: nh * 16 * (the key blocks they touch). */
size_t kernels_attn_scratch(int nh, int64_t lo, int64_t hi);

typedef struct kernels_t {
    tk_kernel_level level;
    const char *name; /* "generic", "avx2", "avx512", "neon", "dotprod", "i8mm" */
    kernels_type types[TK_TYPE_COUNT];

    /* Bytes of per-thread scratch that matmul needs for rows of `cols`. */
    size_t (*scratch_bytes)(int64_t cols);

    /* Blocks [b0, b1) of the Q8 activations of a vector of `cols` floats
     * (cols a multiple of 32): x holds their 32 * (b1 - b0) floats; written
     * into the vector's kernels_act_bytes(cols) bytes at `out` (4-byte
     * aligned), nothing else. A whole vector is (x, cols, 0, cols / 32). */
    void (*quantize_act)(const float *x, int64_t cols, int64_t b0, int64_t b1, void *out);

    void (*attn)(const kernels_attn *a);

    /* out[i] = x[i] / rms(x) * w[i] over n values; out may alias x. */
    void (*rms_norm)(float *out, const float *x, const float *w, int64_t n, float eps);
    /* g[i] = act(g[i]) * u[i]: SiLU, or GELU (tanh approximation) when gelu. */
    void (*glu)(float *g, const float *u, int64_t n, bool gelu);
} kernels_t;

/* The table of the level chosen for this process (see the top). NULL when
 * TEKTRA_CPU names a level this CPU cannot run or an unknown one; the
 * message is then in tk_last_error(), on every call. Filled once
 * (thread-safe), then read-only. */
const kernels_t *kernels_get(void);

/* The table of `level`, or NULL (with tk_last_error()) when this CPU cannot
 * run it or this build has no kernels for it; for tests that compare
 * levels. The generic level is the reference. */
const kernels_t *kernels_for_level(tk_kernel_level level);

/* ---- activations --------------------------------------------------------
 * Q8 activations of one vector of `cols` floats (a multiple of 32), with
 * nb = cols / 32 blocks, laid out one array after another:
 *     int8_t  q[cols];      x ~ d[b] * q, |q| <= 127, block b = elements 32b..32b+31
 *     float   d[nb];
 *     float   ds[nb];       d[b] * (sum of the block's q)
 *     float   ds16[2 nb];   d[b] * (sum of each half of 16)
 *     int32_t s[nb];        sum of the block's q
 *     int32_t s16[2 nb];    sum of each half of 16 */
size_t kernels_act_bytes(int64_t cols);

typedef struct kernels_act_q8 {
    const int8_t *q;
    const float *d, *ds, *ds16;
    const int32_t *s, *s16;
} kernels_act_q8;

static inline kernels_act_q8 kernels_act_view(const void *x, int64_t cols)
{
    const char *p = (const char *)x;
    const int64_t nb = cols / 32;
    kernels_act_q8 a;
    a.q = (const int8_t *)p;
    a.d = (const float *)(const void *)(p + cols);
    a.ds = a.d + nb;
    a.ds16 = a.ds + nb;
    a.s = (const int32_t *)(const void *)(a.ds16 + 2 * nb);
    a.s16 = a.s + nb;
    return a;
}

/* The inverse of a block's scale db = amax / 127 (amax finite): 0 when db
 * is 0, or so small that 1/db overflows (a block of denormals then
 * quantizes to zeros instead of multiplying by infinity). Every level
 * computes it with this scalar code, so all agree bit for bit. */
static inline float kernels_act_inv(float db)
{
    const float id = db > 0.0f ? 1.0f / db : 0.0f;
    return id <= FLT_MAX ? id : 0.0f;
}

/* Block b of quantized activations `a` when its 32 values hold a NaN or an
 * infinity: q = 0 and the sums 0, so nothing non-finite is ever converted
 * to an integer, and the scales NaN, so every dot product with the block is
 * NaN: the non-finite value reaches the output (where the runner reports
 * it) instead of vanishing. The same at every level. */
static inline void kernels_act_put_nonfinite(const kernels_act_q8 *a, int64_t b)
{
    float *d = (float *)a->d, *ds = (float *)a->ds, *ds16 = (float *)a->ds16;
    int32_t *s = (int32_t *)a->s, *s16 = (int32_t *)a->s16;
    memset((int8_t *)a->q + 32 * b, 0, 32);
    d[b] = ds[b] = ds16[2 * b] = ds16[2 * b + 1] = NAN;
    s[b] = s16[2 * b] = s16[2 * b + 1] = 0;
}

/* ---- packing --------------------------------------------------------------
 * Packed layouts interleave KERNELS_GROUP_ROWS rows so that one 64-byte
 * vector holds 4 consecutive elements of each of 16 rows; see pack.c. */

/* Byte offsets inside one packed block of a group (layouts: pack.c). */
#define PK_Q8_0_BYTES    544
#define PK_Q8_0_Q        32
#define PK_Q4_0_BYTES    288 /* also IQ4_NL */
#define PK_Q4_0_NIB      32
#define PK_Q5_0_BYTES    352
#define PK_Q5_0_HBIT     32
#define PK_Q5_0_NIB      96
#define PK_Q4_K_BYTES    2368
#define PK_Q4_K_DMIN     32
#define PK_Q4_K_SC(s)    (64 + 288 * (s)) /* 32-column sub-block s */
#define PK_Q4_K_MIN(s)   (80 + 288 * (s))
#define PK_Q4_K_NIB(s)   (96 + 288 * (s))
#define PK_Q5_K_BYTES    2880
#define PK_Q5_K_DMIN     32
#define PK_Q5_K_SC(s)    (64 + 352 * (s)) /* 32-column sub-block s */
#define PK_Q5_K_MIN(s)   (80 + 352 * (s))
#define PK_Q5_K_NIB(s)   (96 + 352 * (s))
#define PK_Q5_K_HBIT(s)  (352 + 352 * (s))
#define PK_Q6_K_BYTES    3360
#define PK_Q6_K_SC(h)    (32 + 416 * ((h) / 2) + 16 * ((h) % 2)) /* 16-column sub-block h */
#define PK_Q6_K_NIB(s)   (64 + 416 * (s))                        /* 32-column sub-block s */
#define PK_Q6_K_H2(s)    (320 + 416 * (s))
#define PK_Q4_1_BYTES    320
#define PK_Q4_1_M        32
#define PK_Q4_1_NIB      64
#define PK_Q5_1_BYTES    384
#define PK_Q5_1_M        32
#define PK_Q5_1_HBIT     64
#define PK_Q5_1_NIB      128
#define PK_Q2_K_BYTES    1344
#define PK_Q2_K_DMIN     32
#define PK_Q2_K_SC(h)    (64 + 160 * ((h) / 2) + 16 * ((h) % 2)) /* 16-column sub-block h */
#define PK_Q2_K_Q(s)     (96 + 160 * (s))                        /* 32-column sub-block s */
#define PK_Q3_K_BYTES    1824
#define PK_Q3_K_SC(h)    (32 + 224 * ((h) / 2) + 16 * ((h) % 2)) /* 16-column sub-block h */
#define PK_Q3_K_Q(s)     (64 + 224 * (s))                        /* 32-column sub-block s */
#define PK_Q3_K_HBIT(s)  (192 + 224 * (s))
#define PK_IQ4_XS_BYTES  2208
#define PK_IQ4_XS_SC(s)  (32 + 16 * (s)) /* 32-column sub-block s */
#define PK_IQ4_XS_NIB(s) (160 + 256 * (s))

/* MLX affine types (G = 32, 64 or 128 columns per block, one MLX group):
 * f32 scale[16], bias[16] (little-endian, the file's values), then per 32
 * columns s the values as u8: MLX4 nib[4][64] as Q4_0, MLX8 q[8][64] as
 * Q8_0 but unsigned (0..255, no offset). 128 + 2 * G * bits bytes: 5 bits
 * per weight for MLX4_G64 (6 for G32, 4.5 for G128; MLX8: 10, 9, 8.5), the
 * same size as the file's blocks. */
#define PK_MLX_SCALE              0
#define PK_MLX_BIAS               64
#define PK_MLX_Q(bits, s)         (128 + 64 * (bits) * (s)) /* 32-column sub-block s */
#define PK_MLX_BYTES(group, bits) (128 + 2 * (group) * (bits))

/* Whether kernels_pack() knows `type`. */
bool kernels_pack_supported(int type);

/* Bytes of the packed form of a rows x cols matrix of `type` (rows rounded
 * up to a whole group); 0 when the type cannot be packed. */
size_t kernels_packed_bytes(int type, int64_t rows, int64_t cols);

/* Packs groups [g0, g1) of the matrix `src` (rows of row_bytes in the
 * file's layout) into `dst`, which holds kernels_packed_bytes() bytes; the
 * rows of the last group beyond `rows` are zero. */
void kernels_pack(int type, const void *src, size_t row_bytes, int64_t rows, int64_t cols,
                  int64_t g0, int64_t g1, void *dst);

/* Row `row` of a packed cols-wide matrix of `type` as floats (cols of
 * them), with the arithmetic of the type's reference dequantize: the same
 * values as dequantizing the file's row. For embedding lookups in a packed
 * tied output matrix. */
void kernels_unpack_row(int type, const void *packed, int64_t cols, int64_t row, float *out);

/* ---- reference level (kernels_ref.c) -------------------------------------- */

void kernels_fill_ref(kernels_t *k);
size_t kernels_scratch_bytes_ref(int64_t cols);
void kernels_quantize_act_ref(const float *x, int64_t cols, int64_t b0, int64_t b1, void *out);
void kernels_attn_ref(const kernels_attn *a);
void kernels_rms_norm_ref(float *out, const float *x, const float *w, int64_t n, float eps);
void kernels_glu_ref(float *g, const float *u, int64_t n, bool gelu);
/* Float activations, any dequantizable type, unpacked weights. */
void kernels_matmul_ref(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,
                        size_t x_stride, int64_t n, float *y, int64_t ldy, void *scratch);

/* ---- per-ISA fill functions: start from the reference and replace --------- */

void kernels_fill_avx2(kernels_t *k);   /* kernels_avx2.c; needs AVX2+FMA+F16C */
void kernels_fill_avx512(kernels_t *k); /* kernels_avx512.c; needs AVX-512 F/BW/VL/VNNI */
/* The MLX affine types' kernels, called by the two fill functions above
 * (kernels_mlx_avx2.c, kernels_mlx_avx512.c). */
void kernels_fill_mlx_avx2(kernels_t *k);
void kernels_fill_mlx_avx512(kernels_t *k);

/* AArch64 (kernels_neon.c, kernels_dotprod.c, kernels_i8mm.c; shared code in
 * kernels_arm.h): neon needs only Advanced SIMD, dotprod SDOT (FEAT_DotProd),
 * i8mm SMMLA (FEAT_I8MM) as well. Each installs F32, F16, BF16, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0, IQ4_NL and the vector work, then calls its k-quant fill
 * below, last. */
void kernels_fill_neon(kernels_t *k);
void kernels_fill_dotprod(kernels_t *k);
void kernels_fill_i8mm(kernels_t *k);
/* The k-quant (Q2_K..Q6_K, IQ4_XS) and MLX types' kernels of each AArch64
 * level (kernels_kq_neon.c, kernels_kq_dotprod.c, kernels_kq_i8mm.c). */
void kernels_fill_kq_neon(kernels_t *k);
void kernels_fill_kq_dotprod(kernels_t *k);
void kernels_fill_kq_i8mm(kernels_t *k);

#endif
