/* Kernel tests: every level this CPU can run (generic, avx2, avx512, ...)
 * against plain double-precision arithmetic on the same operands, for every
 * weight type, odd sizes, partial row groups, both matmul paths (few and
 * many activation vectors), attention over F16 and F32 caches, and the
 * vector operations; plus the reference engine's dequantized weights
 * (shared/oracle) multiplied at every level.
 *
 * Where a level rounds activations to 8 bits, the expected product uses the
 * rounded activations (d * q), so the comparison checks the kernel's
 * arithmetic, not the rounding: the bound is float accumulation error. */
#include "check.h"

#include "core/core.h"
#include "kernels/kernels.h"
#include "tektra/gguf.h"

#include <float.h>
#include <math.h>

static uint64_t rng = 88172645463325252ull;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* The larger error, NaN counting as the largest. Not fmax(): GCC 12's
 * aarch64 vectorizer fails with an internal error on fmax reductions. */
static double worse(double worst, double err)
{
    return isnan(worst) || err <= worst ? worst : err;
}

/* Roughly Gaussian, mean 0, std s. */
static float grand(float s)
{
    return (float)((urand() + urand() + urand() + urand() - 2.0) * 1.7320508 * s);
}

/* The activations a level's matmul of `type` sees, as floats: x itself, or
 * the dequantized 8-bit rounding the level makes (written to q). */
static void level_act(const kernels_t *k, int type, const float *x, int64_t cols, void *q,
                      float *seen)
{
    if (k->types[type].act == KERNELS_ACT_F32) {
        memcpy(seen, x, (size_t)cols * sizeof *seen);
        return;
    }
    k->quantize_act(x, cols, 0, cols / 32, q);
    kernels_act_q8 a = kernels_act_view(q, cols);
    for (int64_t i = 0; i < cols; i++) seen[i] = a.d[i / 32] * (float)a.q[i];
}

/* Runs w (rows x cols of `type`, file layout in `data`) through level k on
 * n random vectors and compares with double arithmetic on the dequantized
 * weights (`wd`, rows x cols floats). Returns the worst error relative to
 * sum |w x| of the row. */
static double check_matmul(const kernels_t *k, int type, const void *data, size_t row_bytes,
                           const float *wd, int64_t rows, int64_t cols, int64_t n)
{
    const kernels_type *kt = &k->types[type];
    kernels_mat w = {data, type, cols, rows, row_bytes, false};
    void *packed = NULL;
    if (kt->packed) {
        const size_t bytes = kernels_packed_bytes(type, rows, cols);
        packed = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (!packed) return INFINITY;
        const int64_t groups = (rows + KERNELS_GROUP_ROWS - 1) / KERNELS_GROUP_ROWS;
        /* In two calls, as the loader packs in chunks. */
        kernels_pack(type, data, row_bytes, rows, cols, 0, groups / 2, packed);
        kernels_pack(type, data, row_bytes, rows, cols, groups / 2, groups, packed);
        w.data = packed;
        w.packed = true;
        /* Rows read back from the packed form are the file's rows. */
        float *row = malloc((size_t)cols * sizeof *row);
        for (int64_t r = 0; row && r < rows; r++) {
            kernels_unpack_row(type, packed, cols, r, row);
            if (memcmp(row, wd + r * cols, (size_t)cols * sizeof *row) != 0) {
                CHECK_MSG(0, "%s: unpacked row %lld differs", tk_type_get(type)->name,
                          (long long)r);
                break;
            }
        }
        free(row);
    }
    const size_t xs =
        kt->act == KERNELS_ACT_Q8 ? kernels_act_bytes(cols) : (size_t)cols * sizeof(float);
    float *x = malloc((size_t)cols * sizeof *x);
    float *seen = malloc((size_t)(n * cols) * sizeof *seen);
    char *xin = aligned_alloc(64, ((size_t)n * xs + 63) / 64 * 64);
    const int64_t ldy = rows + 3;
    float *y = malloc((size_t)(n * ldy) * sizeof *y);
    void *scratch = aligned_alloc(64, (k->scratch_bytes(cols) + 63) / 64 * 64);
    double worst = 0.0;
    if (!x || !seen || !xin || !y || !scratch) {
        worst = INFINITY;
        goto done;
    }
    for (int64_t t = 0; t < n; t++) {
        for (int64_t i = 0; i < cols; i++) x[i] = grand(1.0f);
        if (kt->act == KERNELS_ACT_Q8)
            level_act(k, type, x, cols, xin + (size_t)t * xs, seen + t * cols);
        else {
            memcpy(xin + (size_t)t * xs, x, (size_t)cols * sizeof *x);
            memcpy(seen + t * cols, x, (size_t)cols * sizeof *x);
        }
    }
    for (int64_t i = 0; i < n * ldy; i++) y[i] = NAN;
    /* Two row ranges split at a group boundary, as threads would. */
    const int64_t mid = TK_MIN(rows, KERNELS_GROUP_ROWS);
    kt->matmul(&w, 0, mid, xin, xs, n, y, ldy, scratch);
    if (mid < rows) kt->matmul(&w, mid, rows, xin, xs, n, y, ldy, scratch);
    /* Bit for bit the same with other splits: one call, and one call per
     * group from the last one (as threads would take them). */
    for (int split = 0; split < 2; split++) {
        float *y2 = malloc((size_t)(n * ldy) * sizeof *y2);
        if (!y2) {
            worst = INFINITY;
            goto done;
        }
        if (split == 0)
            kt->matmul(&w, 0, rows, xin, xs, n, y2, ldy, scratch);
        else
            for (int64_t r = (rows - 1) / KERNELS_GROUP_ROWS * KERNELS_GROUP_ROWS; r >= 0;
                 r -= KERNELS_GROUP_ROWS)
                kt->matmul(&w, r, TK_MIN(rows, r + KERNELS_GROUP_ROWS), xin, xs, n, y2, ldy,
                           scratch);
        bool same = true;
        for (int64_t t = 0; t < n; t++)
            same = same && memcmp(y + t * ldy, y2 + t * ldy, (size_t)rows * sizeof *y) == 0;
        CHECK_MSG(same, "%s %s %lldx%lld n=%lld: results depend on the row split", k->name,
                  tk_type_get(type)->name, (long long)rows, (long long)cols, (long long)n);
        free(y2);
    }
    for (int64_t t = 0; t < n; t++) {
        for (int64_t r = 0; r < rows; r++) {
            double ref = 0.0, mag = 0.0;
            for (int64_t c = 0; c < cols; c++) {
                const double p = (double)wd[r * cols + c] * (double)seen[t * cols + c];
                ref += p;
                mag += fabs(p);
            }
            const double got = y[t * ldy + r];
            const double err = isfinite(got) ? fabs(got - ref) / (mag > 0.0 ? mag : 1.0) : INFINITY;
            if (err > worst) worst = err;
        }
        /* Nothing written past the rows asked for. */
        for (int64_t r = rows; r < ldy; r++)
            if (!isnan(y[t * ldy + r])) worst = INFINITY;
    }
done:
    free(packed);
    free(x);
    free(seen);
    free(xin);
    free(y);
    free(scratch);
    return worst;
}

/* A random rows x cols matrix in `type` (via the type table's quantizer),
 * and its dequantized floats. */
static bool make_matrix(int type, int64_t rows, int64_t cols, void **data, size_t *row_bytes,
                        float **wd)
{
    const tk_type_info *ti = tk_type_get(type);
    uint64_t rb;
    if (!ti || tk_type_size(type, cols, &rb) != TK_OK) return false;
    *row_bytes = (size_t)rb;
    *data = malloc((size_t)rows * (size_t)rb);
    *wd = malloc((size_t)(rows * cols) * sizeof **wd);
    float *src = malloc((size_t)cols * sizeof *src);
    if (!*data || !*wd || !src) {
        free(src);
        return false;
    }
    for (int64_t r = 0; r < rows; r++) {
        /* Rows of different magnitudes, and an outlier now and then. */
        const float s = 0.02f * (float)(1 + r % 5);
        for (int64_t c = 0; c < cols; c++) src[c] = grand(s) * (urand() < 0.01 ? 8.0f : 1.0f);
        char *dst = (char *)*data + (size_t)r * rb;
        if (type == TK_TYPE_F32)
            memcpy(dst, src, (size_t)cols * sizeof *src);
        else
            CHECK_INT(tk_type_quantize(type, src, dst, cols, 1), TK_OK);
        ti->dequantize(dst, *wd + r * cols, cols);
    }
    free(src);
    return true;
}

static const int weight_types[] = {
    TK_TYPE_F32,       TK_TYPE_F16,      TK_TYPE_BF16,      TK_TYPE_Q8_0,     TK_TYPE_Q4_0,
    TK_TYPE_Q4_1,      TK_TYPE_Q5_0,     TK_TYPE_Q5_1,      TK_TYPE_Q2_K,     TK_TYPE_Q3_K,
    TK_TYPE_Q4_K,      TK_TYPE_Q5_K,     TK_TYPE_Q6_K,      TK_TYPE_IQ4_NL,   TK_TYPE_IQ4_XS,
    TK_TYPE_MLX4_G32,  TK_TYPE_MLX4_G64, TK_TYPE_MLX4_G128, TK_TYPE_MLX8_G32, TK_TYPE_MLX8_G64,
    TK_TYPE_MLX8_G128,
};

/* Columns of the test matrices of a type: several blocks (an odd number of
 * them in the second size), activation blocks of 32 included. */
static int64_t test_cols(int type, int size)
{
    const tk_type_info *ti = tk_type_get(type);
    if (type >= TK_TYPE_MLX_FIRST) return size == 0 ? 384 : 640; /* 3 or 5 groups of 128 */
    if (ti->block_size >= 256) return size == 0 ? 512 : 768;
    if (type == TK_TYPE_F32) return size == 0 ? 83 : 7;
    return size == 0 ? 96 : 160;
}

static bool arm_level(tk_kernel_level l)
{
    return l == TK_LEVEL_NEON || l == TK_LEVEL_DOTPROD || l == TK_LEVEL_I8MM;
}

static void test_matmul(const kernels_t *k)
{
    /* Sizes: rows not a multiple of the 16-row group, several blocks, and
     * vector counts on both sides of KERNELS_BATCH_MIN. */
    static const int64_t ns[] = {1, 3, 5, KERNELS_BATCH_MIN, 13};
    for (size_t i = 0; i < TK_ARRAY_LEN(weight_types); i++) {
        const int type = weight_types[i];
        const tk_type_info *ti = tk_type_get(type);
        if (!ti || !k->types[type].matmul) {
            CHECK_MSG(0, "%s: no matmul for %s", k->name, ti ? ti->name : "?");
            continue;
        }
        /* At the SIMD levels (x86 and ARM alike) every quantized weight
         * type runs packed, with the level's kernels. */
        if (k->level != TK_LEVEL_GENERIC && ti->block_size > 1)
            CHECK_MSG(k->types[type].packed, "%s: %s is not packed", k->name, ti->name);
        /* Several groups and a partial one; then less than one group, with
         * an odd number of blocks. */
        const int64_t rows_of[2] = {37, 5};
        for (int sz = 0; sz < 2; sz++) {
            const int64_t rows = rows_of[sz], cols = test_cols(type, sz);
            void *data = NULL;
            float *wd = NULL;
            size_t rb = 0;
            if (make_matrix(type, rows, cols, &data, &rb, &wd)) {
                for (size_t j = 0; j < TK_ARRAY_LEN(ns); j++) {
                    const double err = check_matmul(k, type, data, rb, wd, rows, cols, ns[j]);
                    CHECK_MSG(err < 1e-5, "%s %s %lldx%lld n=%lld: relative error %.3g", k->name,
                              ti->name, (long long)rows, (long long)cols, (long long)ns[j], err);
                }
            } else {
                CHECK_MSG(0, "cannot make a %s matrix", ti->name);
            }
            free(data);
            free(wd);
        }
    }
}

/* The activations: the level's rounding is the reference's, bit for bit. */
static void test_quantize_act(const kernels_t *k)
{
    enum { C = 32 * 7 };
    static float x[C];
    static _Alignas(64) char a[4096], b[4096];
    CHECK(kernels_act_bytes(C) <= sizeof a);
    for (int i = 0; i < C; i++) x[i] = grand(1.0f) * (i % 37 == 0 ? 30.0f : 1.0f);
    for (int i = 64; i < 96; i++) x[i] = 0.0f; /* an all-zero block */
    kernels_quantize_act_ref(x, C, 0, C / 32, a);
    /* In two calls: a block range lands where the whole vector's would. */
    k->quantize_act(x, C, 0, 3, b);
    k->quantize_act(x + 3 * 32, C, 3, C / 32, b);
    CHECK_MSG(memcmp(a, b, (size_t)C + 7 * 4 * (C / 32)) == 0,
              "%s: quantized activations differ from the reference", k->name);
    kernels_act_q8 v = kernels_act_view(b, C);
    for (int bl = 0; bl < C / 32; bl++) {
        int s = 0;
        float maxerr = 0.0f;
        for (int i = 0; i < 32; i++) {
            s += v.q[32 * bl + i];
            maxerr = (float)worse(maxerr, fabsf(v.d[bl] * v.q[32 * bl + i] - x[32 * bl + i]));
        }
        CHECK_INT(v.s[bl], s);
        CHECK(maxerr <= v.d[bl] * 0.5f + 1e-6f);
    }
}

/* Activations that are not finite, huge or denormal: defined at every
 * level and the same as the reference (no float-to-integer conversion of a
 * NaN or an infinity, no overflowing sum). A block holding NaN or +-Inf
 * quantizes to zeros with NaN scales, so it poisons its dot products. */
static void test_quantize_act_nonfinite(const kernels_t *k)
{
    enum { C = 32 * 8 };
    static float x[C];
    static _Alignas(64) char a[4096], b[4096];
    for (int i = 0; i < C; i++) x[i] = grand(1.0f);
    x[3] = NAN;                                                             /* block 0 */
    x[32 + 17] = INFINITY;                                                  /* block 1 */
    x[64 + 31] = -INFINITY;                                                 /* block 2 */
    for (int i = 96; i < 128; i++) x[i] = 3.0e38f * (i % 2 ? 1.0f : -1.0f); /* huge */
    for (int i = 128; i < 160; i++) x[i] = 1.0e-40f * (float)(i - 140);     /* denormal */
    x[160] = -NAN;                                                          /* block 5 */
    for (int i = 192; i < 224; i++) x[i] = FLT_MAX; /* block 6: the largest finite */
    kernels_quantize_act_ref(x, C, 0, C / 32, a);
    k->quantize_act(x, C, 0, C / 32, b);
    CHECK_MSG(memcmp(a, b, (size_t)C + 7 * 4 * (C / 32)) == 0,
              "%s: non-finite activations quantize differently from the reference", k->name);
    kernels_act_q8 v = kernels_act_view(b, C);
    const int bad[] = {0, 1, 2, 5};
    for (int i = 0; i < 4; i++) {
        const int bl = bad[i];
        CHECK_MSG(isnan(v.d[bl]) && isnan(v.ds[bl]) && v.s[bl] == 0, "%s: block %d", k->name, bl);
        for (int j = 0; j < 32; j++) CHECK_INT(v.q[32 * bl + j], 0);
    }
    const int good[] = {3, 4, 6, 7};
    for (int i = 0; i < 4; i++) {
        const int bl = good[i];
        CHECK_MSG(isfinite(v.d[bl]), "%s: block %d has scale %g", k->name, bl, (double)v.d[bl]);
        int s = 0;
        for (int j = 0; j < 32; j++) s += v.q[32 * bl + j];
        CHECK_INT(v.s[bl], s);
    }
    CHECK_INT(v.q[96], -127);
    CHECK_INT(v.q[97], 127);
}

static void test_vector_ops(const kernels_t *k)
{
    enum { N = 77 };
    static float x[N], w[N], a[N], b[N], u[N];
    for (int i = 0; i < N; i++) {
        x[i] = grand(2.0f);
        w[i] = grand(1.0f);
        u[i] = grand(1.0f);
    }
    kernels_rms_norm_ref(a, x, w, N, 1e-6f);
    k->rms_norm(b, x, w, N, 1e-6f);
    double worst = 0.0;
    for (int i = 0; i < N; i++) worst = worse(worst, fabs(a[i] - b[i]) / (fabs(a[i]) + 1e-3));
    CHECK_MSG(worst < 1e-5, "%s rms_norm: %.3g", k->name, worst);
    /* The activations against double precision, relative to the size of
     * the input (the tanh form of GELU cancels where tanh is near -1). */
    for (int gelu = 0; gelu < 2; gelu++) {
        float g[N];
        for (int i = 0; i < N; i++) g[i] = a[i] = grand(4.0f) * (i == 5 ? 40.0f : 1.0f);
        k->glu(a, u, N, gelu);
        worst = 0.0;
        for (int i = 0; i < N; i++) {
            const double v = g[i];
            const double act =
                gelu ? 0.5 * v * (1.0 + tanh(0.7978845608028654 * v * (1.0 + 0.044715 * v * v)))
                     : v / (1.0 + exp(-v));
            worst = worse(worst, fabs(a[i] - act * u[i]) / ((fabs(v) + 1.0) * fabs(u[i]) + 1e-30));
        }
        CHECK_MSG(worst < 1e-6, "%s glu(gelu=%d): %.3g", k->name, gelu, worst);
    }
}

/* Attention over a cache filled at random (written by kernels_kv_store_k/v
 * in the cache types kt and vt), in the normal and the partial form (with
 * a scratch of exactly the size asked). The reference kernel is checked
 * against attention in double precision over the values the cache holds
 * (each position's key and value quantized and dequantized by the type
 * table's GGUF codecs), and every level against the reference. */
static void test_attn_case(const kernels_t *k, int kt, int vt, int nh, int64_t hd, int64_t lo,
                           int64_t hi, float softcap)
{
    const int64_t blocks = hi / 16 + 1;
    const size_t kblock = kernels_k_block_bytes(kt, hd), vrow = kernels_v_row_bytes(vt, hd);
    const size_t n_pos = (size_t)(hi + 1);
    char *kc = calloc((size_t)blocks, kblock);
    char *vc = calloc(n_pos, vrow);
    float *kx = malloc(n_pos * (size_t)hd * sizeof *kx); /* what the cache holds */
    float *vx = malloc(n_pos * (size_t)hd * sizeof *vx);
    float *tmp = malloc((size_t)hd * sizeof *tmp);
    char *blk = malloc((size_t)hd * 4);
    float *q = malloc((size_t)nh * (size_t)hd * sizeof *q);
    float *o1 = calloc((size_t)nh * (size_t)hd, sizeof *o1);
    float *o2 = calloc((size_t)nh * (size_t)hd, sizeof *o2);
    float *o3 = calloc((size_t)nh * (size_t)hd, sizeof *o3);
    float *ml = calloc(4 * (size_t)nh, sizeof *ml); /* max, sum: ref, then k */
    float *sc = malloc(kernels_attn_scratch(nh, lo, hi) * sizeof *sc);
    double *ps = malloc(n_pos * sizeof *ps);
    if (!kc || !vc || !kx || !vx || !tmp || !blk || !q || !o1 || !o2 || !o3 || !ml || !sc || !ps) {
        CHECK(0);
        goto done;
    }
    for (int64_t p = 0; p <= hi; p++) {
        for (int pass = 0; pass < 2; pass++) {
            const int type = pass ? vt : kt;
            float *held = (pass ? vx : kx) + p * hd;
            for (int64_t d = 0; d < hd; d++) tmp[d] = grand(1.0f);
            if (pass)
                kernels_kv_store_v(vt, vc + (size_t)p * vrow, tmp, hd);
            else
                kernels_kv_store_k(kt, kc + (size_t)(p / 16) * kblock, (int)(p % 16), tmp, hd);
            const tk_type_info *ti = tk_type_get(type);
            if (type == TK_TYPE_F32) {
                memcpy(held, tmp, (size_t)hd * sizeof *tmp);
            } else {
                ti->quantize(tmp, blk, hd);
                ti->dequantize(blk, held, hd);
            }
        }
    }
    for (int64_t i = 0; i < nh * hd; i++) q[i] = grand(1.0f);
    kernels_attn a;
    memset(&a, 0, sizeof a);
    a.q = q;
    a.q_stride = hd;
    a.nh = nh;
    a.hd_k = a.hd_v = hd;
    a.k = kc;
    a.k_block_bytes = kblock;
    a.v = vc;
    a.v_stride = vrow;
    a.k_type = kt;
    a.v_type = vt;
    a.lo = lo;
    a.hi = hi;
    a.scale = 1.0f / sqrtf((float)hd);
    a.softcap = softcap;
    a.out = o1;
    a.out_stride = hd;
    a.scores = sc;
    kernels_attn_ref(&a);
    double worst = 0.0;
    if (k->level == TK_LEVEL_GENERIC) {
        for (int h = 0; h < nh; h++) {
            double mx = -INFINITY, sum = 0.0;
            for (int64_t p = lo; p <= hi; p++) {
                double dot = 0.0;
                for (int64_t d = 0; d < hd; d++) dot += (double)q[h * hd + d] * kx[p * hd + d];
                dot *= a.scale;
                if (softcap > 0.0f) dot = tanh(dot / softcap) * softcap;
                ps[p] = dot;
                mx = fmax(mx, dot);
            }
            for (int64_t p = lo; p <= hi; p++) sum += ps[p] = exp(ps[p] - mx);
            for (int64_t d = 0; d < hd; d++) {
                double o = 0.0;
                for (int64_t p = lo; p <= hi; p++) o += ps[p] / sum * vx[p * hd + d];
                worst = worse(worst, fabs(o - o1[h * hd + d]) / (fabs(o) + 0.1));
            }
        }
        CHECK_MSG(worst < 1e-5, "ref attn k=%d v=%d nh=%d hd=%lld [%lld, %lld] vs double: %.3g", kt,
                  vt, nh, (long long)hd, (long long)lo, (long long)hi, worst);
    }
    a.out = o2;
    k->attn(&a);
    /* Outputs are weighted means of values of size ~1, some near 0 by
     * cancellation: the error is measured against that size. */
    worst = 0.0;
    for (int64_t i = 0; i < nh * hd; i++)
        worst = worse(worst, fabs((double)o1[i] - o2[i]) / (fabs(o1[i]) + 0.1));
    CHECK_MSG(worst < 1e-5, "%s attn k=%d v=%d nh=%d hd=%lld [%lld, %lld]: %.3g", k->name, kt, vt,
              nh, (long long)hd, (long long)lo, (long long)hi, worst);

    /* Partial form: the same max and sum as the reference, and the
     * unnormalized output divided by the sum is the normal output. */
    a.out = o3;
    a.part_max = ml;
    a.part_sum = ml + nh;
    kernels_attn_ref(&a);
    a.out = o2;
    a.part_max = ml + 2 * nh;
    a.part_sum = ml + 3 * nh;
    k->attn(&a);
    worst = 0.0;
    for (int h = 0; h < nh; h++) {
        CHECK_MSG(fabs(ml[h] - ml[2 * nh + h]) <= 1e-5 * (fabs(ml[h]) + 1),
                  "%s attn partial max %d: %g vs %g", k->name, h, ml[h], ml[2 * nh + h]);
        CHECK_MSG(fabs(ml[nh + h] - ml[3 * nh + h]) <= 1e-5 * ml[nh + h],
                  "%s attn partial sum %d: %g vs %g", k->name, h, ml[nh + h], ml[3 * nh + h]);
        CHECK_MSG(ml[nh + h] >= 1.0f, "%s attn partial sum %d: %g < 1", k->name, h, ml[nh + h]);
        for (int64_t d = 0; d < hd; d++) {
            const int64_t i = h * hd + d;
            worst = worse(worst, fabs((double)o3[i] - o2[i]) / (fabs(o3[i]) + 0.1 * ml[nh + h]));
            worst =
                worse(worst, fabs((double)o1[i] - o2[i] / ml[3 * nh + h]) / (fabs(o1[i]) + 0.1));
        }
    }
    CHECK_MSG(worst < 1e-5, "%s attn partial k=%d v=%d nh=%d hd=%lld [%lld, %lld]: %.3g", k->name,
              kt, vt, nh, (long long)hd, (long long)lo, (long long)hi, worst);
done:
    free(kc);
    free(vc);
    free(kx);
    free(vx);
    free(tmp);
    free(blk);
    free(q);
    free(o1);
    free(o2);
    free(o3);
    free(ml);
    free(sc);
    free(ps);
}

static void test_attn(const kernels_t *k)
{
    const int floats[] = {TK_TYPE_F32, TK_TYPE_F16};
    for (int i = 0; i < 2; i++) {
        const int t = floats[i];
        test_attn_case(k, t, t, 1, 8, 0, 0, 0.0f);
        test_attn_case(k, t, t, 7, 64, 0, 40, 0.0f);
        test_attn_case(k, t, t, 9, 80, 5, 47, 0.0f);
        test_attn_case(k, t, t, 3, 32, 17, 33, 50.0f);
        test_attn_case(k, t, t, 2, 24, 0, 15, 0.0f);
        test_attn_case(k, t, t, 7, 64, 200, 511, 0.0f);
        test_attn_case(k, t, t, 5, 64, 263, 270, 30.0f);
    }
    /* Quantized caches (head sizes multiples of 32), mixed with the float
     * types as --cache-type-k/-v allow. */
    const int pairs[][2] = {{TK_TYPE_Q8_0, TK_TYPE_Q8_0}, {TK_TYPE_Q4_0, TK_TYPE_Q4_0},
                            {TK_TYPE_Q8_0, TK_TYPE_F16},  {TK_TYPE_F16, TK_TYPE_Q4_0},
                            {TK_TYPE_Q4_0, TK_TYPE_Q8_0}, {TK_TYPE_F32, TK_TYPE_Q8_0}};
    for (size_t i = 0; i < TK_ARRAY_LEN(pairs); i++) {
        const int kt = pairs[i][0], vt = pairs[i][1];
        test_attn_case(k, kt, vt, 1, 32, 0, 0, 0.0f);
        test_attn_case(k, kt, vt, 7, 64, 0, 40, 0.0f);
        test_attn_case(k, kt, vt, 3, 96, 17, 33, 50.0f);
        test_attn_case(k, kt, vt, 8, 128, 5, 300, 0.0f);
        test_attn_case(k, kt, vt, 5, 64, 263, 270, 30.0f);
    }
}

/* Packing group by group, in any order (as the loader's threads do), gives
 * the bytes of packing the whole matrix at once, and writes every byte. */
static void test_pack_chunks(void)
{
    for (size_t i = 0; i < TK_ARRAY_LEN(weight_types); i++) {
        const int type = weight_types[i];
        if (!kernels_pack_supported(type)) continue;
        const tk_type_info *ti = tk_type_get(type);
        const int64_t rows = 37, cols = test_cols(type, 0);
        const int64_t groups = (rows + KERNELS_GROUP_ROWS - 1) / KERNELS_GROUP_ROWS;
        const size_t bytes = kernels_packed_bytes(type, rows, cols);
        void *data = NULL;
        float *wd = NULL;
        size_t rb = 0;
        unsigned char *a = malloc(bytes), *b = malloc(bytes);
        if (bytes && a && b && make_matrix(type, rows, cols, &data, &rb, &wd)) {
            memset(a, 0x55, bytes);
            memset(b, 0xAA, bytes);
            kernels_pack(type, data, rb, rows, cols, 0, groups, a);
            for (int64_t g = groups - 1; g >= 0; g--)
                kernels_pack(type, data, rb, rows, cols, g, g + 1, b);
            CHECK_MSG(memcmp(a, b, bytes) == 0, "%s: packing by groups differs", ti->name);
        } else {
            CHECK_MSG(0, "%s: cannot set up the packing test", ti->name);
        }
        free(a);
        free(b);
        free(data);
        free(wd);
    }
}

/* The MLX types' SIMD kernels do the same float operations in the same
 * order on both paths and at both x86 levels (exact integer dots, then
 * the same fused multiply-adds): a row's results are bit for bit the same
 * for n = 1 and n >= KERNELS_BATCH_MIN, at avx2 and avx512. */
static void test_mlx_paths_agree(void)
{
    static const int types[] = {TK_TYPE_MLX4_G32, TK_TYPE_MLX4_G64, TK_TYPE_MLX4_G128,
                                TK_TYPE_MLX8_G32, TK_TYPE_MLX8_G64, TK_TYPE_MLX8_G128};
    enum { ROWS = 37, COLS = 384, N = KERNELS_BATCH_MIN + 1 };
    const size_t xs = kernels_act_bytes(COLS);
    char *x = aligned_alloc(64, (N * xs + 63) / 64 * 64);
    float *y0 = malloc(N * ROWS * sizeof *y0), *y = malloc(N * ROWS * sizeof *y);
    float *src = malloc(COLS * sizeof *src);
    if (!x || !y0 || !y || !src) {
        CHECK(0);
        goto done;
    }
    for (int t = 0; t < N; t++) {
        for (int c = 0; c < COLS; c++) src[c] = grand(1.0f);
        kernels_quantize_act_ref(src, COLS, 0, COLS / 32, x + (size_t)t * xs);
    }
    for (size_t i = 0; i < TK_ARRAY_LEN(types); i++) {
        void *data = NULL, *packed = NULL, *scratch = NULL;
        float *wd = NULL;
        size_t rb = 0;
        const size_t pb = kernels_packed_bytes(types[i], ROWS, COLS);
        packed = aligned_alloc(64, (pb + 63) / 64 * 64);
        if (!packed || !make_matrix(types[i], ROWS, COLS, &data, &rb, &wd)) {
            CHECK(0);
        } else {
            kernels_pack(types[i], data, rb, ROWS, COLS, 0, (ROWS + 15) / 16, packed);
            const kernels_mat w = {packed, types[i], COLS, ROWS, rb, true};
            int runs = 0;
            for (int l = 0; l < TK_LEVEL_COUNT; l++) {
                const kernels_t *k = kernels_for_level((tk_kernel_level)l);
                if (!k || k->level == TK_LEVEL_GENERIC || !k->types[types[i]].packed) continue;
                scratch = aligned_alloc(64, (k->scratch_bytes(COLS) + 63) / 64 * 64);
                if (!scratch) break;
                for (int path = 0; path < 2; path++) {
                    if (path == 0)
                        k->types[types[i]].matmul(&w, 0, ROWS, x, xs, N, y, ROWS, scratch);
                    else
                        for (int t = 0; t < N; t++)
                            k->types[types[i]].matmul(&w, 0, ROWS, x + (size_t)t * xs, xs, 1,
                                                      y + t * ROWS, ROWS, scratch);
                    if (runs++ == 0)
                        memcpy(y0, y, N * ROWS * sizeof *y);
                    else
                        CHECK_MSG(memcmp(y0, y, N * ROWS * sizeof *y) == 0,
                                  "%s %s: %s path differs from the first level's prompt path",
                                  k->name, tk_type_get(types[i])->name,
                                  path ? "generation" : "prompt");
                }
                free(scratch);
                scratch = NULL;
            }
        }
        free(data);
        free(packed);
        free(wd);
    }
done:
    free(x);
    free(y0);
    free(y);
    free(src);
}

/* The ARM levels' kernels of the 32-column types compute the same exact
 * integer dots (SMULL/SADALP, SDOT or SMMLA) and the same float operations
 * in the same order: bit for bit the same results at neon, dotprod and
 * i8mm, on both paths. */
static void test_arm_levels_agree(void)
{
    static const int types[] = {TK_TYPE_Q8_0,   TK_TYPE_Q4_0, TK_TYPE_Q5_0,
                                TK_TYPE_IQ4_NL, TK_TYPE_Q4_1, TK_TYPE_Q5_1};
    enum { ROWS = 37, COLS = 160, N = KERNELS_BATCH_MIN + 3 };
    const size_t xs = kernels_act_bytes(COLS);
    char *x = aligned_alloc(64, (N * xs + 63) / 64 * 64);
    float *y0 = malloc(N * ROWS * sizeof *y0), *y = malloc(N * ROWS * sizeof *y);
    float *src = malloc(COLS * sizeof *src);
    void *scratch = NULL;
    if (!x || !y0 || !y || !src) {
        CHECK(0);
        goto done;
    }
    for (int t = 0; t < N; t++) {
        for (int c = 0; c < COLS; c++) src[c] = grand(1.0f);
        kernels_quantize_act_ref(src, COLS, 0, COLS / 32, x + (size_t)t * xs);
    }
    for (size_t i = 0; i < TK_ARRAY_LEN(types); i++) {
        void *data = NULL, *packed = NULL;
        float *wd = NULL;
        size_t rb = 0;
        const size_t pb = kernels_packed_bytes(types[i], ROWS, COLS);
        packed = aligned_alloc(64, (pb + 63) / 64 * 64);
        if (!packed || !make_matrix(types[i], ROWS, COLS, &data, &rb, &wd)) {
            CHECK(0);
        } else {
            kernels_pack(types[i], data, rb, ROWS, COLS, 0, (ROWS + 15) / 16, packed);
            const kernels_mat w = {packed, types[i], COLS, ROWS, rb, true};
            for (int nn = 3; nn <= N; nn += N - 3) {
                int runs = 0;
                for (int l = 0; l < TK_LEVEL_COUNT; l++) {
                    const kernels_t *k = kernels_for_level((tk_kernel_level)l);
                    if (!k || !arm_level(k->level)) continue;
                    free(scratch);
                    scratch = aligned_alloc(64, (k->scratch_bytes(COLS) + 63) / 64 * 64);
                    if (!scratch) break;
                    k->types[types[i]].matmul(&w, 0, ROWS, x, xs, nn, y, ROWS, scratch);
                    if (runs++ == 0)
                        memcpy(y0, y, (size_t)nn * ROWS * sizeof *y);
                    else
                        CHECK_MSG(memcmp(y0, y, (size_t)nn * ROWS * sizeof *y) == 0,
                                  "%s %s n=%d: differs from the lowest ARM level", k->name,
                                  tk_type_get(types[i])->name, nn);
                }
            }
        }
        free(data);
        free(packed);
        free(wd);
    }
done:
    free(scratch);
    free(x);
    free(y0);
    free(y);
    free(src);
}

/* The reference engine's dequantized blk.0.attn_q.weight of each type,
 * multiplied by our kernels from the file's blocks. */
static void test_oracle_weights(const kernels_t *k)
{
    static const char *const names[] = {"f16",    "bf16", "q8_0",   "q4_0",   "q4_1",
                                        "q5_0",   "q5_1", "q2_k",   "q3_k_s", "q4_k_s",
                                        "q5_k_s", "q6_k", "iq4_nl", "iq4_xs"};
    enum { N = 256 };
    for (size_t f = 0; f < TK_ARRAY_LEN(names); f++) {
        char rel[128];
        snprintf(rel, sizeof rel, "oracle/llama-%s.blk0_attn_q.f32", names[f]);
        char *buf = NULL;
        size_t len = 0;
        tk_status st = core_read_file(shared_path(rel), 1u << 20, &buf, &len);
        CHECK_MSG(st == TK_OK && len == (size_t)N * N * sizeof(float), "%s", rel);
        snprintf(rel, sizeof rel, "oracle/llama-%s.gguf", names[f]);
        tk_gguf *g = NULL;
        CHECK_INT(tk_gguf_open(shared_path(rel), &g), TK_OK);
        const tk_gguf_tensor *t = g ? tk_gguf_find_tensor(g, "blk.0.attn_q.weight") : NULL;
        CHECK(t != NULL);
        if (st == TK_OK && len == (size_t)N * N * sizeof(float) && t) {
            float *wd = malloc(len);
            memcpy(wd, buf, len);
            uint64_t rb = 0;
            CHECK_INT(tk_type_size(t->type, N, &rb), TK_OK);
            const double err = check_matmul(k, t->type, t->data, (size_t)rb, wd, N, N, 3);
            CHECK_MSG(err < 1e-5, "%s %s: relative error %.3g", k->name, names[f], err);
            const double err_b = check_matmul(k, t->type, t->data, (size_t)rb, wd, N, N, 9);
            CHECK_MSG(err_b < 1e-5, "%s %s (batch): relative error %.3g", k->name, names[f], err_b);
            free(wd);
        }
        free(buf);
        tk_gguf_close(g);
    }
}

int main(void)
{
    int levels = 0;
    for (int l = 0; l < TK_LEVEL_COUNT; l++) {
        const kernels_t *k = kernels_for_level((tk_kernel_level)l);
        if (!k) continue;
        levels++;
        printf("level %s\n", k->name);
        CHECK_INT(k->level, l);
        test_quantize_act(k);
        test_quantize_act_nonfinite(k);
        test_vector_ops(k);
        test_matmul(k);
        test_attn(k);
        test_oracle_weights(k);
    }
    CHECK(levels >= 1);
    test_pack_chunks();
    test_mlx_paths_agree();
    test_arm_levels_agree();
    /* The generic level is the reference and always runs. */
    CHECK(kernels_for_level(TK_LEVEL_GENERIC) != NULL);
    CHECK(kernels_for_level(TK_LEVEL_COUNT) == NULL);
    return check_summary();
}
