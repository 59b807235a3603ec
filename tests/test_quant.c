/* Tests of the tensor type table: table rows, sizes and names, fp16/bf16
 * conversions, dequantization against the reference engine's golden floats,
 * quantize round trips (random data, the reference's own inputs, a real
 * model), the quantization-scheme rule, and threaded conversions. */
#include "check.h"

#include "core/core.h"
#include "quant/quant.h"
#include "tektra/gguf.h"

#include <dirent.h>
#include <math.h>

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static double rng_uniform(void)
{
    return ((double)(rng_next() >> 11) + 0.5) * 0x1p-53;
}

static float rng_gauss(void)
{
    double u = rng_uniform(), v = rng_uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* sqrt(sum (a-b)^2 / sum b^2) */
static double rel_rmse(const float *a, const float *b, int64_t n)
{
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        e += d * d;
        s += (double)b[i] * (double)b[i];
    }
    return s > 0 ? sqrt(e / s) : sqrt(e);
}

/* Quantizes x with `type` and decodes it into y. */
static bool round_trip(int type, const float *x, float *y, int64_t n, int threads)
{
    uint64_t bytes;
    if (tk_type_size(type, n, &bytes) != TK_OK) return false;
    void *q = malloc(bytes ? bytes : 1);
    bool ok = q && tk_type_quantize(type, x, q, n, threads) == TK_OK &&
              tk_type_dequantize(type, q, y, n, threads) == TK_OK;
    free(q);
    return ok;
}

/* ---- the table ------------------------------------------------------------ */

static void test_table(void)
{
    static const struct {
        int type;
        const char *name;
        int block;
        size_t bytes;
        bool quantized;
    } rows[] = {
        {TK_TYPE_F32, "F32", 1, 4, false},
        {TK_TYPE_F16, "F16", 1, 2, false},
        {TK_TYPE_BF16, "BF16", 1, 2, false},
        {TK_TYPE_Q4_0, "Q4_0", 32, 18, true},
        {TK_TYPE_Q4_1, "Q4_1", 32, 20, true},
        {TK_TYPE_Q5_0, "Q5_0", 32, 22, true},
        {TK_TYPE_Q5_1, "Q5_1", 32, 24, true},
        {TK_TYPE_Q8_0, "Q8_0", 32, 34, true},
        {TK_TYPE_Q2_K, "Q2_K", 256, 84, true},
        {TK_TYPE_Q3_K, "Q3_K", 256, 110, true},
        {TK_TYPE_Q4_K, "Q4_K", 256, 144, true},
        {TK_TYPE_Q5_K, "Q5_K", 256, 176, true},
        {TK_TYPE_Q6_K, "Q6_K", 256, 210, true},
        {TK_TYPE_Q8_K, "Q8_K", 256, 292, true},
        {TK_TYPE_IQ4_NL, "IQ4_NL", 32, 18, true},
        {TK_TYPE_IQ4_XS, "IQ4_XS", 256, 136, true},
        {TK_TYPE_MLX4_G32, "MLX4_G32", 32, 24, true},
        {TK_TYPE_MLX4_G64, "MLX4_G64", 64, 40, true},
        {TK_TYPE_MLX4_G128, "MLX4_G128", 128, 72, true},
        {TK_TYPE_MLX8_G32, "MLX8_G32", 32, 40, true},
        {TK_TYPE_MLX8_G64, "MLX8_G64", 64, 72, true},
        {TK_TYPE_MLX8_G128, "MLX8_G128", 128, 136, true},
    };
    int supported = 0;
    for (int t = -5; t < TK_TYPE_COUNT + 5; t++)
        if (tk_type_get(t)) supported++;
    CHECK_INT(supported, (int)(sizeof rows / sizeof rows[0]));
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const tk_type_info *ti = tk_type_get(rows[i].type);
        CHECK_MSG(ti != NULL, "type %d missing", rows[i].type);
        if (!ti) continue;
        CHECK_STR(ti->name, rows[i].name);
        CHECK_INT(ti->block_size, rows[i].block);
        CHECK_INT(ti->block_bytes, rows[i].bytes);
        CHECK_INT(ti->quantized, rows[i].quantized);
        CHECK(ti->dequantize != NULL);
        CHECK(ti->quantize != NULL);
        CHECK_INT(tk_type_from_name(rows[i].name), rows[i].type);
        CHECK(quant_type_get(rows[i].type) && &quant_type_get(rows[i].type)->info == ti);
    }
    CHECK(tk_type_get(TK_TYPE_Q8_1) == NULL);
    CHECK(tk_type_get(-1) == NULL);
    CHECK(tk_type_get(TK_TYPE_COUNT) == NULL);
    CHECK(tk_type_get(1 << 30) == NULL);

    CHECK_INT(tk_type_from_name("q4_k"), TK_TYPE_Q4_K);
    CHECK_INT(tk_type_from_name("iq4_xs"), TK_TYPE_IQ4_XS);
    CHECK_INT(tk_type_from_name("Bf16"), TK_TYPE_BF16);
    CHECK_INT(tk_type_from_name("mlx4_g64"), TK_TYPE_MLX4_G64);
    CHECK_INT(tk_type_from_name("MLX8_G128"), TK_TYPE_MLX8_G128);
    CHECK_INT(tk_type_from_name("MLX4"), -1);
    CHECK_INT(tk_type_from_name("Q4_K_M"), -1);
    CHECK_INT(tk_type_from_name("Q4"), -1);
    CHECK_INT(tk_type_from_name(""), -1);
    CHECK_INT(tk_type_from_name(NULL), -1);
}

static void test_sizes(void)
{
    uint64_t sz = 0;
    CHECK_INT(tk_type_size(TK_TYPE_Q4_K, 512, &sz), TK_OK);
    CHECK_INT(sz, 288);
    CHECK_INT(tk_type_size(TK_TYPE_F16, 7, &sz), TK_OK);
    CHECK_INT(sz, 14);
    CHECK_INT(tk_type_size(TK_TYPE_Q8_0, 0, &sz), TK_OK);
    CHECK_INT(sz, 0);
    CHECK_INT(tk_type_size(TK_TYPE_Q4_K, 4096 + 64, &sz), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "Q4_K");
    CHECK_INT(tk_type_size(TK_TYPE_Q4_0, 33, &sz), TK_ERR_FORMAT);
    CHECK_INT(tk_type_size(TK_TYPE_F32, INT64_MAX, &sz), TK_ERR_OVERFLOW);
    CHECK_INT(tk_type_size(TK_TYPE_F32, (int64_t)1 << 62, &sz), TK_ERR_OVERFLOW);
    CHECK_INT(tk_type_size(TK_TYPE_F32, ((int64_t)1 << 62) - 1, &sz), TK_OK);
    CHECK_INT(sz, (((uint64_t)1 << 62) - 1) * 4);
    /* the largest multiple of 256 still fits for Q8_K: 292/256 < 2 */
    CHECK_INT(tk_type_size(TK_TYPE_Q8_K, INT64_MAX / 256 * 256, &sz), TK_OK);
    CHECK_INT(tk_type_size(TK_TYPE_Q4_0, -32, &sz), TK_ERR_INVALID_ARG);
    CHECK_INT(tk_type_size(TK_TYPE_Q8_1, 32, &sz), TK_ERR_UNSUPPORTED);
    CHECK_INT(tk_type_size(77, 32, &sz), TK_ERR_UNSUPPORTED);

    float x[64] = {0};
    uint8_t q[64 * 4];
    CHECK_INT(tk_type_quantize(TK_TYPE_Q4_K, x, q, 64, 1), TK_ERR_FORMAT);
    CHECK_INT(tk_type_quantize(TK_TYPE_Q8_1, x, q, 32, 1), TK_ERR_UNSUPPORTED);
    CHECK_INT(tk_type_dequantize(-3, q, x, 32, 1), TK_ERR_UNSUPPORTED);
}

/* ---- fp16 / bf16 ---------------------------------------------------------- */

/* Independent reference for fp32 -> fp16: the nearest of the two half
 * neighbours found by ordered search, ties to the even one. */
static bool half_is_nearest(float f, uint16_t h)
{
    float v = tk_fp16_to_fp32(h);
    if (isinf(v)) return fabsf(f) >= 65520.0f;
    double err = fabs((double)f - (double)v);
    uint16_t mag = h & 0x7FFF;
    for (int dir = -1; dir <= 1; dir += 2) {
        int m = (int)mag + dir;
        if (m < 0 || m > 0x7BFF) continue;
        double e2 = fabs((double)fabsf(f) - (double)tk_fp16_to_fp32((uint16_t)m));
        if (e2 < err) return false;
        if (e2 == err && (mag & 1)) return false; /* tie must pick the even mantissa */
    }
    return true;
}

static void test_fp16(void)
{
    CHECK_INT(tk_fp32_to_fp16(0.0f), 0x0000);
    CHECK_INT(tk_fp32_to_fp16(-0.0f), 0x8000);
    CHECK_INT(tk_fp32_to_fp16(1.0f), 0x3C00);
    CHECK_INT(tk_fp32_to_fp16(-2.0f), 0xC000);
    CHECK_INT(tk_fp32_to_fp16(65504.0f), 0x7BFF);
    CHECK_INT(tk_fp32_to_fp16(65519.996f), 0x7BFF);
    CHECK_INT(tk_fp32_to_fp16(65520.0f), 0x7C00); /* tie rounds to even = infinity */
    CHECK_INT(tk_fp32_to_fp16(1e10f), 0x7C00);
    CHECK_INT(tk_fp32_to_fp16(INFINITY), 0x7C00);
    CHECK_INT(tk_fp32_to_fp16(-INFINITY), 0xFC00);
    uint16_t hn = tk_fp32_to_fp16(NAN);
    CHECK((hn & 0x7C00) == 0x7C00 && (hn & 0x3FF) != 0);
    CHECK(isnan(tk_fp16_to_fp32(tk_fp32_to_fp16(u2f(0x7F800001u))))); /* signalling NaN stays NaN */
    CHECK(isnan(tk_fp16_to_fp32(tk_fp32_to_fp16(u2f(0xFFC00000u)))));
    /* subnormals */
    CHECK_INT(tk_fp32_to_fp16(0x1p-24f), 0x0001);
    CHECK_INT(tk_fp32_to_fp16(0x1p-25f), 0x0000);               /* tie -> even (0) */
    CHECK_INT(tk_fp32_to_fp16(u2f(f2u(0x1p-25f) + 1)), 0x0001); /* just above the tie */
    CHECK_INT(tk_fp32_to_fp16(3 * 0x1p-25f), 0x0002);           /* 1.5 units -> 2 */
    CHECK_INT(tk_fp32_to_fp16(5 * 0x1p-25f), 0x0002);           /* 2.5 units -> 2 */
    CHECK_INT(tk_fp32_to_fp16(-1023 * 0x1p-24f), 0x83FF);       /* largest subnormal */
    CHECK_INT(tk_fp32_to_fp16(0x1p-14f), 0x0400);               /* smallest normal */
    CHECK_INT(tk_fp32_to_fp16(0x1p-14f - 0x1p-26f), 0x0400);    /* rounds up into normal */
    CHECK_INT(tk_fp32_to_fp16(1e-30f), 0x0000);
    CHECK_NEAR(tk_fp16_to_fp32(0x0001), 0x1p-24, 0);
    CHECK_NEAR(tk_fp16_to_fp32(0x03FF), 1023 * 0x1p-24, 0);
    CHECK_NEAR(tk_fp16_to_fp32(0x3555), 0.333251953125, 0);
    /* ties in the normal range */
    CHECK_INT(tk_fp32_to_fp16(1.0f + 0x1p-11f), 0x3C00);
    CHECK_INT(tk_fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3C02);
    CHECK_INT(tk_fp32_to_fp16(2047.5f), 0x6800); /* 2047.5: tie between 2047 and 2048 -> 2048 */

    /* every half value survives the round trip; infinities stay infinities */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = tk_fp16_to_fp32((uint16_t)h);
        bool is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
        if (is_nan ? !isnan(f) : tk_fp32_to_fp16(f) != h) bad++;
    }
    CHECK_INT(bad, 0);

    /* random floats in and around the half range round to the nearest half */
    bad = 0;
    for (int i = 0; i < 300000; i++) {
        uint32_t u = (uint32_t)rng_next();
        u = (u & 0x80FFFFFFu) | ((uint32_t)(100 + rng_next() % 46) << 23); /* 2^-27 .. 2^18 */
        float f = u2f(u);
        if (!half_is_nearest(fabsf(f), tk_fp32_to_fp16(fabsf(f)) & 0x7FFF)) bad++;
        if ((tk_fp32_to_fp16(f) & 0x8000) != ((u >> 16) & 0x8000)) bad++;
    }
    CHECK_INT(bad, 0);
}

static void test_bf16(void)
{
    CHECK_INT(tk_fp32_to_bf16(1.0f), 0x3F80);
    CHECK_INT(tk_fp32_to_bf16(-0.0f), 0x8000);
    CHECK_INT(tk_fp32_to_bf16(u2f(0x3F808000u)), 0x3F80); /* tie -> even */
    CHECK_INT(tk_fp32_to_bf16(u2f(0x3F818000u)), 0x3F82); /* tie -> even (up) */
    CHECK_INT(tk_fp32_to_bf16(u2f(0x3F808001u)), 0x3F81);
    CHECK_INT(tk_fp32_to_bf16(u2f(0x7F7FFFFFu)), 0x7F80); /* max float rounds to infinity */
    CHECK_INT(tk_fp32_to_bf16(INFINITY), 0x7F80);
    CHECK_INT(tk_fp32_to_bf16(-INFINITY), 0xFF80);
    CHECK_INT(tk_fp32_to_bf16(u2f(0x00008000u)), 0x0000); /* subnormal tie -> even */
    CHECK_INT(tk_fp32_to_bf16(u2f(0x00018000u)), 0x0002);
    CHECK_INT(tk_fp32_to_bf16(u2f(0x00010001u)), 0x0001);
    uint16_t n1 = tk_fp32_to_bf16(u2f(0x7F800001u)); /* payload only in the low bits */
    CHECK((n1 & 0x7F80) == 0x7F80 && (n1 & 0x7F) != 0);
    CHECK(isnan(tk_bf16_to_fp32(tk_fp32_to_bf16(NAN))));
    CHECK_INT(f2u(tk_bf16_to_fp32(0x4049)), 0x40490000u);
    CHECK_INT(f2u(tk_bf16_to_fp32(0x0001)), 0x00010000u);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = tk_bf16_to_fp32((uint16_t)h);
        bool is_nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F);
        if (is_nan ? !isnan(f) : tk_fp32_to_bf16(f) != h) bad++;
    }
    CHECK_INT(bad, 0);
}

/* ---- golden dequantization ------------------------------------------------ */

static float *read_floats(const char *path, int64_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *v = len > 0 ? malloc((size_t)len) : NULL;
    if (v && fread(v, 1, (size_t)len, f) != (size_t)len) {
        free(v);
        v = NULL;
    }
    fclose(f);
    *n = len / 4;
    return v;
}

static void test_golden(void)
{
    const char *dir = shared_path("oracle");
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (!d) return;
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *suffix = ".blk0_attn_q.f32";
        size_t len = strlen(de->d_name), sl = strlen(suffix);
        if (len <= sl || strcmp(de->d_name + len - sl, suffix) != 0) continue;
        if (strncmp(de->d_name, "llama-", 6) != 0) continue;
        char base[256], path[4096];
        snprintf(base, sizeof base, "%.*s", (int)(len - sl), de->d_name);
        const char *file_type = base + 6; /* "q4_k_s" */
        files++;
        int64_t n = 0;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        float *golden = read_floats(path, &n);
        snprintf(path, sizeof path, "%s/%s.gguf", dir, base);
        tk_gguf *g = NULL;
        tk_status st = tk_gguf_open(path, &g);
        CHECK_MSG(st == TK_OK && golden, "%s: %s", path, tk_last_error());
        if (st != TK_OK || !golden) {
            free(golden);
            continue;
        }
        const tk_gguf_tensor *t = tk_gguf_find_tensor(g, "blk.0.attn_q.weight");
        CHECK(t != NULL);
        const tk_type_info *ti = t ? tk_type_get(t->type) : NULL;
        CHECK_MSG(ti != NULL, "%s: tensor type %d unsupported", base, t ? t->type : -1);
        if (ti) {
            int64_t ne = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
            CHECK_INT(ne, n);
            /* the file name says the type: "q4_k_s" holds Q4_K, "q8_0" Q8_0 */
            char want[64];
            snprintf(want, sizeof want, "%.32s", file_type);
            size_t wl = strlen(want);
            if (wl > 2 && strcmp(want + wl - 2, "_s") == 0) want[wl - 2] = '\0';
            CHECK_MSG(core_strcasecmp(ti->name, want) == 0, "%s holds %s", base, ti->name);
            float *y = malloc((size_t)ne * sizeof(float));
            CHECK_INT(tk_type_dequantize(t->type, t->data, y, ne, 1), TK_OK);
            double max_err = 0;
            int64_t bad = 0;
            for (int64_t i = 0; i < ne && ne == n; i++) {
                double diff = fabs((double)y[i] - (double)golden[i]);
                double tol = 1e-6 * fmax(1.0, fabs((double)golden[i]));
                if (!(diff <= tol)) bad++;
                if (diff > max_err) max_err = diff;
            }
            CHECK_MSG(bad == 0, "%s: %lld values off, max error %g", base, (long long)bad, max_err);
            printf("golden %-8s tensor type %-6s %lld values, max |error| %.3g\n", file_type,
                   ti->name, (long long)ne, max_err);
            free(y);
        }
        tk_gguf_close(g);
        free(golden);
    }
    closedir(d);
    CHECK_MSG(files >= 14, "only %d golden files found in %s", files, dir);
}

/* ---- round trips on synthetic data ------------------------------------------ */

/* Per-type limits of the relative RMSE (sqrt(sum err^2 / sum x^2)) of a
 * quantize -> dequantize round trip on Gaussian data and on the real weights
 * of stories260K. Set ~10% above what the quantizers measure (printed), so a
 * wrong scale, sign, nibble or bit order fails them. */
/* clang-format off */
static const struct {
    int type;
    double gauss, outliers, real; /* Gaussian rows, the row with outliers, stories260K */
} limits[] = {
    {TK_TYPE_F16,    0.00025, 0.00025, 0.00025},
    {TK_TYPE_BF16,   0.0020,  0.0020,  0.0020},
    {TK_TYPE_Q8_0,   0.0058,  0.0137,  0.0058},
    {TK_TYPE_Q8_K,   0.0078,  0.0332,  0.0078},
    {TK_TYPE_Q6_K,   0.0190,  0.0370,  0.0187},
    {TK_TYPE_Q5_1,   0.0370,  0.0535,  0.0385},
    {TK_TYPE_Q5_0,   0.0445,  0.0915,  0.0450},
    {TK_TYPE_Q5_K,   0.0395,  0.0560,  0.0405},
    {TK_TYPE_Q4_1,   0.0775,  0.0980,  0.0810},
    {TK_TYPE_Q4_0,   0.0900,  0.1300,  0.0890},
    {TK_TYPE_Q4_K,   0.0790,  0.1010,  0.0820},
    {TK_TYPE_IQ4_NL, 0.0830,  0.1180,  0.0840},
    {TK_TYPE_IQ4_XS, 0.0840,  0.1200,  0.0850},
    {TK_TYPE_Q3_K,   0.1600,  0.1260,  0.1610},
    {TK_TYPE_Q2_K,   0.2980,  0.2360,  0.3120},
    {TK_TYPE_MLX4_G32,  0.0870,  0.1310,  0.0920},
    {TK_TYPE_MLX4_G64,  0.1005,  0.1870,  0.1015},
    {TK_TYPE_MLX4_G128, 0.1115,  0.2720,  0.1125},
    {TK_TYPE_MLX8_G32,  0.0051,  0.0071,  0.0052},
    {TK_TYPE_MLX8_G64,  0.0059,  0.0100,  0.0059},
    {TK_TYPE_MLX8_G128, 0.0066,  0.0149,  0.0066},
};
/* clang-format on */

#define RT_N 16384

static void test_round_trip_random(void)
{
    static float gauss[RT_N], small[RT_N], outl[RT_N], special[RT_N], y[RT_N];
    rng_state = 12345;
    for (int i = 0; i < RT_N; i++) {
        gauss[i] = rng_gauss();
        small[i] = 0.02f * rng_gauss();
        outl[i] = rng_gauss() * ((i % 97) == 13 ? 30.0f : 1.0f);
        special[i] = rng_gauss();
    }
    /* special: an all-zero super-block, a constant one, a tiny-valued one and
     * one with a single non-zero value */
    for (int i = 0; i < 256; i++) {
        special[i] = 0;
        special[256 + i] = 0.75f;
        special[512 + i] = 1e-3f * rng_gauss();
        special[768 + i] = i == 77 ? -3.0f : 0.0f;
    }
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        int t = limits[k].type;
        const char *name = tk_type_get(t)->name;
        double lim = limits[k].gauss;
        CHECK(round_trip(t, gauss, y, RT_N, 1));
        double e1 = rel_rmse(y, gauss, RT_N);
        CHECK(round_trip(t, small, y, RT_N, 1));
        double e2 = rel_rmse(y, small, RT_N);
        CHECK(round_trip(t, outl, y, RT_N, 1));
        double e3 = rel_rmse(y, outl, RT_N);
        CHECK(round_trip(t, special, y, RT_N, 1));
        double e4 = rel_rmse(y + 1024, special + 1024, RT_N - 1024);
        printf("round trip %-6s gauss %.5f  std0.02 %.5f  outliers %.5f  rest %.5f  (limit %.4f)\n",
               name, e1, e2, e3, e4, lim);
        CHECK_MSG(e1 <= lim, "%s gauss %.5f > %.5f", name, e1, lim);
        CHECK_MSG(e2 <= lim, "%s std 0.02 %.5f > %.5f", name, e2, lim);
        CHECK_MSG(e3 <= limits[k].outliers, "%s outliers %.5f > %.5f", name, e3,
                  limits[k].outliers);
        CHECK_MSG(e4 <= lim, "%s rest %.5f > %.5f", name, e4, lim);
        /* an all-zero block decodes to exact zeros */
        int nonzero = 0;
        for (int i = 0; i < 256; i++) nonzero += y[i] != 0.0f;
        CHECK_MSG(nonzero == 0, "%s: zero block decodes to %d non-zero values", name, nonzero);
        /* a constant block is (nearly) exact: the scale alone carries it */
        double cerr = 0;
        /* (not fmax: GCC 12 for aarch64 fails on vectorized fmax reductions) */
        for (int i = 256; i < 512; i++)
            if (fabs(y[i] - 0.75) > cerr) cerr = fabs(y[i] - 0.75);
        CHECK_MSG(cerr <= 0.75 * 2e-3, "%s: constant block error %g", name, cerr);
        /* a lone value is kept: small relative error, zeros stay near zero */
        double lone = fabs(y[768 + 77] + 3.0), rest = 0;
        for (int i = 768; i < 1024; i++)
            if (i != 768 + 77 && fabs(y[i]) > rest) rest = fabs(y[i]);
        CHECK_MSG(lone <= 3.0 * 2e-3 && rest <= 0.3, "%s: lone value %g, others up to %g", name,
                  (double)y[768 + 77], rest);
        /* tiny values keep their relative accuracy (no scale underflow) */
        double et = rel_rmse(y + 512, special + 512, 256);
        CHECK_MSG(et <= lim * 1.5, "%s: 1e-3 block error %.5f", name, et);
    }
}

/* Results must not depend on the thread count. */
static void test_threads(void)
{
    enum { N = 1 << 18 };
    float *x = malloc(N * sizeof(float)), *y1 = malloc(N * sizeof(float)),
          *y4 = malloc(N * sizeof(float));
    uint8_t *q1 = malloc(N * 4), *q4 = malloc(N * 4);
    rng_state = 777;
    for (int i = 0; i < N; i++) x[i] = rng_gauss();
    const int types[] = {TK_TYPE_Q4_K, TK_TYPE_Q8_0, TK_TYPE_F16, TK_TYPE_IQ4_XS};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint64_t bytes;
        CHECK_INT(tk_type_size(types[k], N, &bytes), TK_OK);
        memset(q1, 0xAA, bytes);
        memset(q4, 0x55, bytes);
        CHECK_INT(tk_type_quantize(types[k], x, q1, N, 1), TK_OK);
        CHECK_INT(tk_type_quantize(types[k], x, q4, N, 4), TK_OK);
        CHECK_MSG(memcmp(q1, q4, bytes) == 0, "%s: 1 and 4 threads differ",
                  tk_type_get(types[k])->name);
        CHECK_INT(tk_type_dequantize(types[k], q1, y1, N, 1), TK_OK);
        CHECK_INT(tk_type_dequantize(types[k], q1, y4, N, 3), TK_OK);
        CHECK(memcmp(y1, y4, N * sizeof(float)) == 0);
    }
    free(x);
    free(y1);
    free(y4);
    free(q1);
    free(q4);
}

/* Decoding unaligned block data (a file may place tensors at any offset). */
static void test_unaligned(void)
{
    float x[512], y[512], z[512];
    uint8_t q[512 * 4 + 1];
    rng_state = 99;
    for (int i = 0; i < 512; i++) x[i] = rng_gauss();
    for (int t = 0; t < TK_TYPE_COUNT; t++) {
        if (!tk_type_get(t)) continue;
        CHECK_INT(tk_type_quantize(t, x, q, 512, 1), TK_OK);
        CHECK_INT(tk_type_dequantize(t, q, y, 512, 1), TK_OK);
        uint64_t bytes;
        tk_type_size(t, 512, &bytes);
        memmove(q + 1, q, bytes);
        CHECK_INT(tk_type_dequantize(t, q + 1, z, 512, 1), TK_OK);
        CHECK_MSG(memcmp(y, z, sizeof y) == 0, "%s differs at odd address", tk_type_get(t)->name);
    }
}

/* Blocks are independent: NaN/Inf in one block leave the others exactly as
 * they would be without them, and never crash (the sanitizer build checks
 * for undefined behaviour in the rounding). Also checks Q8_K's bsums. */
static void test_blocks_independent(void)
{
    enum { N = 1024 };
    float x[N], clean[N], y[N], z[N];
    uint8_t q[N * 4], qc[N * 4];
    rng_state = 4242;
    for (int i = 0; i < N; i++) x[i] = clean[i] = rng_gauss();
    x[5] = NAN;
    x[300] = INFINITY;
    x[301] = -INFINITY;
    for (int t = 0; t < TK_TYPE_COUNT; t++) {
        const tk_type_info *ti = tk_type_get(t);
        if (!ti) continue;
        CHECK_INT(tk_type_quantize(t, x, q, N, 1), TK_OK);
        CHECK_INT(tk_type_quantize(t, clean, qc, N, 1), TK_OK);
        CHECK_INT(tk_type_dequantize(t, q, y, N, 1), TK_OK);
        CHECK_INT(tk_type_dequantize(t, qc, z, N, 1), TK_OK);
        /* elements 512.. are in blocks without a non-finite value for every
         * block size (1, 32, 256) */
        CHECK_MSG(memcmp(y + 512, z + 512, (N - 512) * sizeof(float)) == 0,
                  "%s: a NaN block changed other blocks", ti->name);
        int nonfinite = 0;
        for (int i = 512; i < N; i++) nonfinite += !isfinite(y[i]);
        CHECK_INT(nonfinite, 0);
    }
    /* Q8_K: bsums are the sums of 16 codes, d * q reproduces the input */
    block_q8_K b[N / QK_K];
    CHECK_INT(tk_type_quantize(TK_TYPE_Q8_K, clean, b, N, 1), TK_OK);
    int bad = 0;
    for (int i = 0; i < N / QK_K; i++) {
        for (int k = 0; k < QK_K / 16; k++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += b[i].qs[16 * k + l];
            bad += sum != b[i].bsums[k];
        }
        for (int j = 0; j < QK_K; j++)
            bad +=
                fabsf(b[i].d * (float)b[i].qs[j] - clean[i * QK_K + j]) > fabsf(b[i].d) * 0.5001f;
    }
    CHECK_INT(bad, 0);
}

/* ---- MLX affine types ---------------------------------------------------------- */

static const int mlx_types[] = {TK_TYPE_MLX4_G32, TK_TYPE_MLX4_G64, TK_TYPE_MLX4_G128,
                                TK_TYPE_MLX8_G32, TK_TYPE_MLX8_G64, TK_TYPE_MLX8_G128};

static void put_f32(uint8_t *p, float f)
{
    const uint32_t u = f2u(f);
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(u >> (8 * i));
}

/* Hand-built blocks: the bit order MLX packs (little end first), scale and
 * bias little-endian f32, and x = scale * q + bias with the product rounded
 * before the sum. */
static void test_mlx_dequantize(void)
{
    for (size_t k = 0; k < sizeof mlx_types / sizeof mlx_types[0]; k++) {
        const int t = mlx_types[k];
        const tk_type_info *ti = tk_type_get(t);
        const int g = ti->block_size, bits = t <= TK_TYPE_MLX4_G128 ? 4 : 8;
        const int qmax = (1 << bits) - 1;
        /* two blocks: q[j] = j * 7 + 3 (mod 2^bits) and its mirror */
        uint8_t blk[2 * 136];
        float y[256];
        memset(blk, 0, sizeof blk);
        CHECK_INT(ti->block_bytes, (size_t)(8 + g * bits / 8));
        for (int b = 0; b < 2; b++) {
            uint8_t *p = blk + (size_t)b * ti->block_bytes;
            put_f32(p, b == 0 ? 0.5f : -0.25f);
            put_f32(p + 4, b == 0 ? -1.25f : 3.0f);
            for (int j = 0; j < g; j++) {
                int q = (j * 7 + 3) & qmax;
                if (b == 1) q = qmax - q;
                if (bits == 4)
                    p[8 + j / 2] |= (uint8_t)(q << (4 * (j % 2)));
                else
                    p[8 + j] = (uint8_t)q;
            }
        }
        CHECK_INT(tk_type_dequantize(t, blk, y, 2 * g, 1), TK_OK);
        int bad = 0;
        for (int b = 0; b < 2; b++)
            for (int j = 0; j < g; j++) {
                int q = (j * 7 + 3) & qmax;
                if (b == 1) q = qmax - q;
                /* exact in float: halves and quarters of small integers */
                const float want = b == 0 ? 0.5f * (float)q - 1.25f : -0.25f * (float)q + 3.0f;
                bad += y[b * g + j] != want;
            }
        CHECK_MSG(bad == 0, "%s: %d hand-built values differ", ti->name, bad);

        /* The product is rounded before the sum: scale = 1 + 2^-23, q = top
         * code, bias = -q gives scale * q rounded, minus q (a fused
         * multiply-add would keep q * 2^-23 instead). */
        memset(blk, 0, sizeof blk);
        put_f32(blk, 0x1.000002p0f);
        put_f32(blk + 4, -(float)qmax);
        if (bits == 4)
            blk[8] = 0x0F;
        else
            blk[8] = 0xFF;
        CHECK_INT(tk_type_dequantize(t, blk, y, g, 1), TK_OK);
        /* 15 * (1 + 2^-23) rounds to 15 + 2^-19; 255 * (1 + 2^-23) to
         * 255 + 2^-15 */
        CHECK_MSG(f2u(y[0]) == f2u(bits == 4 ? 0x1p-19f : 0x1p-15f), "%s: unfused value %a",
                  ti->name, (double)y[0]);
        CHECK_MSG(y[1] == -(float)qmax, "%s: q = 0 gives %a", ti->name, (double)y[1]);
    }
}

/* quantize -> dequantize stays within half a step of every finite input,
 * the extremes of each group are (almost) exact, and constant, all-zero
 * and non-finite groups give finite, sensible codes. */
static void test_mlx_quantize(void)
{
    enum { N = 1024 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    rng_state = 31337;
    for (size_t k = 0; k < sizeof mlx_types / sizeof mlx_types[0]; k++) {
        const int t = mlx_types[k];
        const tk_type_info *ti = tk_type_get(t);
        const int g = ti->block_size, qmax = t <= TK_TYPE_MLX4_G128 ? 15 : 255;
        for (int i = 0; i < N; i++) x[i] = rng_gauss() * (float)(1 + (i / g) % 7) * 0.1f;
        for (int i = 0; i < g; i++) x[i] = 0.0f;      /* group 0: zeros */
        for (int i = g; i < 2 * g; i++) x[i] = -2.5f; /* group 1: constant */
        x[2 * g + 3] = 1e30f;                         /* group 2: a huge range */
        x[2 * g + 4] = -1e30f;
        CHECK_INT(tk_type_quantize(t, x, q, N, 1), TK_OK);
        CHECK_INT(tk_type_dequantize(t, q, y, N, 1), TK_OK);
        int bad = 0;
        for (int b = 0; b < N / g; b++) {
            const uint8_t *blk = q + (size_t)b * ti->block_bytes;
            float scale, bias;
            memcpy(&scale, blk, 4);
            memcpy(&bias, blk + 4, 4);
            float lo = INFINITY, hi = -INFINITY;
            for (int j = 0; j < g; j++) {
                lo = fminf(lo, x[b * g + j]);
                hi = fmaxf(hi, x[b * g + j]);
                const double err = fabs((double)y[b * g + j] - x[b * g + j]);
                if (!(err <= 0.5001 * scale + 1e-6 * fabs(x[b * g + j]))) bad++;
            }
            /* the minimum is the bias, the range qmax steps */
            const double range = (double)hi - lo;
            if (bias != lo || fabs((double)scale * qmax - range) > 1e-6 * range) bad++;
        }
        CHECK_MSG(bad == 0, "%s: %d values or groups out of bounds", ti->name, bad);
        for (int i = 0; i < g; i++) bad += y[i] != 0.0f || y[g + i] != -2.5f;
        CHECK_MSG(bad == 0, "%s: zero or constant group not exact", ti->name);

        /* non-finite inputs: finite codes for the rest of the group */
        for (int i = 0; i < g; i++) x[i] = (float)i;
        x[1] = NAN;
        x[2] = INFINITY;
        x[3] = -INFINITY;
        for (int i = g; i < 2 * g; i++) x[i] = NAN;
        CHECK_INT(tk_type_quantize(t, x, q, 2 * g, 1), TK_OK);
        CHECK_INT(tk_type_dequantize(t, q, y, 2 * g, 1), TK_OK);
        for (int i = 0; i < 2 * g; i++) bad += !isfinite(y[i]);
        CHECK_MSG(bad == 0, "%s: non-finite inputs gave non-finite values", ti->name);
        CHECK_MSG(y[2] == y[g - 1] && y[3] == 0.0f && y[g] == 0.0f, "%s: inf/nan codes %g %g %g",
                  ti->name, (double)y[2], (double)y[3], (double)y[g]);
    }
}

/* ---- against the reference quantizer ------------------------------------------ */

/* The reference engine quantized llama-f32.gguf into the llama-<type>.gguf
 * files. Our quantizer, fed the same F32 weights, must be at least as close
 * to them (2% slack), and F16/BF16 must be bit-identical. */
static void test_vs_reference(void)
{
    static const char *const files[] = {"f16",    "bf16", "q8_0",   "q4_0",   "q4_1",
                                        "q5_0",   "q5_1", "q2_k",   "q3_k_s", "q4_k_s",
                                        "q5_k_s", "q6_k", "iq4_nl", "iq4_xs"};
    static const char *const tensors[] = {"blk.0.attn_q.weight", "blk.1.ffn_down.weight",
                                          "output.weight"};
    tk_gguf *f32 = NULL;
    CHECK_MSG(tk_gguf_open(shared_path("oracle/llama-f32.gguf"), &f32) == TK_OK, "%s",
              tk_last_error());
    if (!f32) return;
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "oracle/llama-%s.gguf", files[k]);
        tk_gguf *g = NULL;
        CHECK_MSG(tk_gguf_open(shared_path(rel), &g) == TK_OK, "%s: %s", rel, tk_last_error());
        if (!g) continue;
        double ref_sum = 0, mine_sum = 0;
        for (size_t j = 0; j < sizeof tensors / sizeof tensors[0]; j++) {
            const tk_gguf_tensor *a = tk_gguf_find_tensor(f32, tensors[j]);
            const tk_gguf_tensor *b = tk_gguf_find_tensor(g, tensors[j]);
            CHECK(a && b && a->type == TK_TYPE_F32);
            if (!a || !b || a->type != TK_TYPE_F32) continue;
            int64_t n = a->ne[0] * a->ne[1];
            uint64_t bytes;
            if (tk_type_size(b->type, n, &bytes) != TK_OK || bytes != b->size) {
                CHECK_MSG(false, "%s %s: size mismatch", rel, tensors[j]);
                continue;
            }
            float *ref = malloc((size_t)n * 4), *mine = malloc((size_t)n * 4);
            uint8_t *q = malloc(bytes);
            CHECK_INT(tk_type_dequantize(b->type, b->data, ref, n, 1), TK_OK);
            CHECK_INT(tk_type_quantize(b->type, a->data, q, n, 2), TK_OK);
            CHECK_INT(tk_type_dequantize(b->type, q, mine, n, 1), TK_OK);
            double er = rel_rmse(ref, a->data, n), em = rel_rmse(mine, a->data, n);
            ref_sum += er * er;
            mine_sum += em * em;
            if (!tk_type_get(b->type)->quantized)
                CHECK_MSG(memcmp(q, b->data, bytes) == 0, "%s %s: not bit-identical", rel,
                          tensors[j]);
            CHECK_MSG(em <= er * 1.02 + 1e-7, "%s %s (%s): ours %.5f, reference %.5f", rel,
                      tensors[j], tk_type_get(b->type)->name, em, er);
            free(ref);
            free(mine);
            free(q);
        }
        printf("vs reference %-7s rmse ours %.5f, reference %.5f (ratio %.3f)\n", files[k],
               sqrt(mine_sum / 3), sqrt(ref_sum / 3), sqrt(mine_sum / (ref_sum > 0 ? ref_sum : 1)));
        tk_gguf_close(g);
    }
    tk_gguf_close(f32);
}

/* ---- real weights ------------------------------------------------------------- */

static void test_round_trip_real(void)
{
    tk_gguf *g = NULL;
    CHECK_MSG(tk_gguf_open(shared_path("models/stories260K.gguf"), &g) == TK_OK, "%s",
              tk_last_error());
    if (!g) return;
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        int type = limits[k].type;
        double err = 0, sig = 0;
        int used = 0;
        for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
            const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
            if (t->n_dims < 2 || t->type != TK_TYPE_F32) continue;
            /* flattened: rows of 64 do not fit 256-blocks, the contiguous
             * data does */
            int64_t n = t->ne[0] * t->ne[1] / 256 * 256;
            float *y = malloc((size_t)n * 4);
            CHECK(round_trip(type, t->data, y, n, 2));
            const float *x = t->data;
            for (int64_t j = 0; j < n; j++) {
                double d = (double)y[j] - x[j];
                err += d * d;
                sig += (double)x[j] * x[j];
            }
            used++;
            free(y);
        }
        double e = sqrt(err / sig);
        printf("stories260K %-6s %d tensors, rmse %.5f (limit %.4f)\n", tk_type_get(type)->name,
               used, e, limits[k].real);
        CHECK(used >= 30);
        CHECK_MSG(e <= limits[k].real, "%s: %.5f > %.5f", tk_type_get(type)->name, e,
                  limits[k].real);
    }
    tk_gguf_close(g);
}

/* ---- schemes and the mix rule ------------------------------------------------- */

static void test_schemes(void)
{
    const tk_quant_scheme *s = tk_quant_scheme_find("q4_k_m");
    CHECK(s && s->mix && s->type == TK_TYPE_Q4_K && s->ftype == 15);
    const tk_quant_scheme *s5 = tk_quant_scheme_find("Q5_K_M");
    CHECK(s5 && s5->mix && s5->type == TK_TYPE_Q5_K && s5->ftype == 17);
    const tk_quant_scheme *q8 = tk_quant_scheme_find("Q8_0");
    CHECK(q8 && !q8->mix && q8->ftype == 7);
    CHECK(tk_quant_scheme_find("Q4_K")->ftype == 14);
    CHECK(tk_quant_scheme_find("F16")->ftype == 1);
    CHECK(tk_quant_scheme_find("BF16")->ftype == 32);
    CHECK(tk_quant_scheme_find("Q4_0")->ftype == 2);
    CHECK(tk_quant_scheme_find("Q6_K")->ftype == 18);
    CHECK(tk_quant_scheme_find("Q8_1") == NULL);
    CHECK(tk_quant_scheme_find("Q8_K") == NULL); /* activation type, not a file type */
    CHECK(tk_quant_scheme_find("") == NULL);
    CHECK(tk_quant_scheme_at(-1) == NULL);
    CHECK(tk_quant_scheme_at(tk_quant_scheme_count()) == NULL);
    for (int i = 0; i < tk_quant_scheme_count(); i++) {
        const tk_quant_scheme *x = tk_quant_scheme_at(i);
        const tk_type_info *ti = tk_type_get(x->type);
        CHECK(ti && ti->quantize);
        CHECK(tk_quant_scheme_find(x->name) == x);
    }

    /* n_layer 16: use_more_bits = layers 0,1 (< 2), 14,15 (>= 14), 4,7,10,13 */
    const int64_t sq[2] = {2048, 2048}, kv[2] = {2048, 512}, down[2] = {8192, 2048};
    const bool expect[16] = {1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1};
    for (int il = 0; il < 16; il++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", il);
        tk_quant_choice c = tk_quant_tensor_type(s, name, 2, kv, 16, true, 0);
        CHECK_MSG(c.quantize && c.type == (expect[il] ? TK_TYPE_Q6_K : TK_TYPE_Q4_K) && !c.fallback,
                  "%s -> %d", name, c.type);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", il);
        c = tk_quant_tensor_type(s, name, 2, down, 16, true, 0);
        CHECK_MSG(c.type == (expect[il] ? TK_TYPE_Q6_K : TK_TYPE_Q4_K), "%s -> %d", name, c.type);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", il);
        CHECK_INT(tk_quant_tensor_type(s, name, 2, sq, 16, true, 0).type, TK_TYPE_Q4_K);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", il);
        CHECK_INT(tk_quant_tensor_type(s5, name, 2, down, 16, true, 0).type,
                  expect[il] ? TK_TYPE_Q6_K : TK_TYPE_Q5_K);
        /* single-type schemes are pure */
        CHECK_INT(tk_quant_tensor_type(q8, name, 2, down, 16, true, 0).type, TK_TYPE_Q8_0);
    }
    const int64_t emb[2] = {2048, 32000}, emb896[2] = {896, 151936};
    CHECK_INT(tk_quant_tensor_type(s, "output.weight", 2, emb, 16, true, 0).type, TK_TYPE_Q6_K);
    CHECK_INT(tk_quant_tensor_type(s, "token_embd.weight", 2, emb, 16, true, 0).type, TK_TYPE_Q4_K);
    CHECK_INT(tk_quant_tensor_type(s, "token_embd.weight", 2, emb, 16, false, 0).type,
              TK_TYPE_Q6_K);
    tk_quant_choice c = tk_quant_tensor_type(s, "token_embd.weight", 2, emb896, 24, false, 0);
    CHECK(c.type == TK_TYPE_Q8_0 && !c.fallback);
    CHECK_INT(tk_quant_tensor_type(s, "blk.0.attn_qkv.weight", 2, sq, 16, true, 0).type,
              TK_TYPE_Q5_K);
    CHECK_INT(tk_quant_tensor_type(s5, "blk.0.attn_qkv.weight", 2, sq, 16, true, 0).type,
              TK_TYPE_Q6_K);
    /* fallbacks when the row does not fit a 256-block */
    const int64_t r896[2] = {896, 896}, r64[2] = {64, 64}, r48[2] = {48, 64};
    c = tk_quant_tensor_type(s, "blk.3.attn_q.weight", 2, r896, 24, true, 0);
    CHECK(c.quantize && c.fallback && c.wanted == TK_TYPE_Q4_K && c.type == TK_TYPE_Q5_0);
    /* 5 layers: use_more_bits picks layers 2 and 4 */
    c = tk_quant_tensor_type(s, "blk.3.attn_v.weight", 2, r64, 5, true, 0);
    CHECK(c.fallback && c.wanted == TK_TYPE_Q4_K && c.type == TK_TYPE_Q5_0);
    c = tk_quant_tensor_type(s, "blk.4.attn_v.weight", 2, r64, 5, true, 0);
    CHECK(c.fallback && c.wanted == TK_TYPE_Q6_K && c.type == TK_TYPE_Q8_0);
    c = tk_quant_tensor_type(s5, "blk.2.attn_q.weight", 2, r64, 5, true, 0);
    CHECK(c.fallback && c.type == TK_TYPE_Q5_1);
    c = tk_quant_tensor_type(tk_quant_scheme_find("Q3_K"), "blk.2.attn_q.weight", 2, r64, 5, true,
                             0);
    CHECK(c.fallback && c.type == TK_TYPE_IQ4_NL);
    c = tk_quant_tensor_type(tk_quant_scheme_find("IQ4_XS"), "blk.2.attn_q.weight", 2, r64, 5, true,
                             0);
    CHECK(c.fallback && c.type == TK_TYPE_IQ4_NL);
    c = tk_quant_tensor_type(s, "blk.2.ffn_up.weight", 2, r48, 5, true, 0);
    CHECK(c.fallback && c.type == TK_TYPE_F16);
    c = tk_quant_tensor_type(q8, "blk.2.ffn_up.weight", 2, r48, 5, true, 0);
    CHECK(c.fallback && c.type == TK_TYPE_F16);
    c = tk_quant_tensor_type(q8, "blk.2.ffn_up.weight", 2, r64, 5, true, 0);
    CHECK(!c.fallback && c.type == TK_TYPE_Q8_0);
    /* kept in F32 */
    const int64_t v1[1] = {2048};
    CHECK(!tk_quant_tensor_type(s, "blk.0.attn_norm.weight", 1, v1, 16, true, 0).quantize);
    CHECK(!tk_quant_tensor_type(s, "blk.0.attn_q.bias", 1, v1, 16, true, 0).quantize);
    CHECK(!tk_quant_tensor_type(s, "blk.0.attn_q_norm.weight", 2, sq, 16, true, 0).quantize);
    CHECK(!tk_quant_tensor_type(s, "blk.0.ffn_gate_inp.weight", 2, sq, 16, true, 0).quantize);
    CHECK_INT(tk_quant_tensor_type(s, "blk.0.attn_norm.weight", 1, v1, 16, true, 0).type,
              TK_TYPE_F32);
    CHECK(!tk_quant_tensor_type(NULL, "x.weight", 2, sq, 16, true, 0).quantize);

    /* 8 experts: attn_k, attn_v Q8_0 and attn_output Q5_K in the mixes (not
     * with 16 experts, and never in a single-type scheme); 3-D expert
     * tensors as their dense names (ffn_down_exps: more bits in layer 0). */
    CHECK_INT(tk_quant_tensor_type(s, "blk.5.attn_k.weight", 2, kv, 16, true, 8).type,
              TK_TYPE_Q8_0);
    CHECK_INT(tk_quant_tensor_type(s, "blk.5.attn_v.weight", 2, kv, 16, true, 8).type,
              TK_TYPE_Q8_0);
    CHECK_INT(tk_quant_tensor_type(s, "blk.5.attn_output.weight", 2, sq, 16, true, 8).type,
              TK_TYPE_Q5_K);
    CHECK_INT(tk_quant_tensor_type(s, "blk.5.attn_k.weight", 2, kv, 16, true, 16).type,
              TK_TYPE_Q4_K);
    CHECK_INT(tk_quant_tensor_type(q8, "blk.5.attn_output.weight", 2, sq, 16, true, 8).type,
              TK_TYPE_Q8_0);
    const int64_t exps[3] = {2048, 768, 128}, down_exps[3] = {768, 2048, 128};
    c = tk_quant_tensor_type(s, "blk.5.ffn_up_exps.weight", 3, exps, 16, true, 128);
    CHECK(c.quantize && c.type == TK_TYPE_Q4_K);
    CHECK_INT(
        tk_quant_tensor_type(s, "blk.0.ffn_down_exps.weight", 3, down_exps, 16, true, 128).type,
        TK_TYPE_Q6_K);
    c = tk_quant_tensor_type(s, "blk.5.ffn_down_exps.weight", 3, down_exps, 16, true, 128);
    CHECK(c.type == TK_TYPE_Q4_K && !c.fallback);
    const int64_t down128[3] = {128, 256, 8}; /* rows of 128: not whole 256-blocks */
    c = tk_quant_tensor_type(s, "blk.5.ffn_down_exps.weight", 3, down128, 16, true, 8);
    CHECK(c.type == TK_TYPE_Q5_0 && c.fallback);
}

/* The mix rule against files the reference quantizer wrote from the same F32
 * models: every tensor gets the type the reference chose. */
static void test_mix_vs_reference(void)
{
    static const struct {
        const char *f32, *mix, *scheme;
    } cases[] = {
        {"oracle/llama-f32.gguf", "oracle/llama-mix-q4_k_m.gguf", "Q4_K_M"},
        {"oracle/qwen2-f32.gguf", "oracle/qwen2-mix-q4_k_m.gguf", "Q4_K_M"},
        {"oracle/qwen3-f32.gguf", "oracle/qwen3-mix-q5_k_m.gguf", "Q5_K_M"},
        {"oracle/phi3-f32.gguf", "oracle/phi3-mix-q6_k.gguf", "Q6_K"},
        {"oracle/gemma2-f32.gguf", "oracle/gemma2-mix-q8_0.gguf", "Q8_0"},
        /* 8 experts: attn_k/attn_v Q8_0, attn_output Q5_K; 3-D experts */
        {"oracle/moe/qwen3moe-f32.gguf", "oracle/moe/qwen3moe-mix-q4_k_m.gguf", "Q4_K_M"},
        {"oracle/moe/qwen3moe-f32.gguf", "oracle/moe/qwen3moe-q8_0.gguf", "Q8_0"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tk_gguf *a = NULL, *b = NULL;
        CHECK_MSG(tk_gguf_open(shared_path(cases[k].f32), &a) == TK_OK, "%s", tk_last_error());
        CHECK_MSG(tk_gguf_open(shared_path(cases[k].mix), &b) == TK_OK, "%s", tk_last_error());
        const tk_quant_scheme *s = tk_quant_scheme_find(cases[k].scheme);
        if (a && b && s) {
            const char *arch = NULL;
            uint32_t n_layer = 0;
            char key[128];
            CHECK(tk_gguf_get_str(a, "general.architecture", &arch) == TK_OK);
            snprintf(key, sizeof key, "%s.block_count", arch ? arch : "?");
            CHECK(tk_gguf_get_u32(a, key, &n_layer) == TK_OK);
            uint32_t n_expert = 0; /* absent: a dense model */
            snprintf(key, sizeof key, "%s.expert_count", arch ? arch : "?");
            tk_gguf_get_u32(a, key, &n_expert);
            bool has_output = tk_gguf_find_tensor(a, "output.weight") != NULL;
            int same = 0;
            CHECK_INT(tk_gguf_n_tensors(a), tk_gguf_n_tensors(b));
            for (int64_t i = 0; i < tk_gguf_n_tensors(a); i++) {
                const tk_gguf_tensor *t = tk_gguf_tensor_at(a, i);
                const tk_gguf_tensor *r = tk_gguf_find_tensor(b, t->name);
                CHECK_MSG(r != NULL, "%s: %s missing", cases[k].mix, t->name);
                if (!r) continue;
                tk_quant_choice c = tk_quant_tensor_type(s, t->name, t->n_dims, t->ne, (int)n_layer,
                                                         has_output, (int)n_expert);
                CHECK_MSG(c.type == r->type, "%s %s: ours %s, reference %s", cases[k].mix, t->name,
                          tk_type_get(c.type)->name, tk_type_get(r->type)->name);
                same += c.type == r->type;
            }
            printf("mix rule %-6s vs %s: %d/%lld tensors agree\n", cases[k].scheme, cases[k].mix,
                   same, (long long)tk_gguf_n_tensors(a));
            uint32_t ft = 0;
            CHECK(tk_gguf_get_u32(b, "general.file_type", &ft) == TK_OK && ft == s->ftype);
        }
        tk_gguf_close(a);
        tk_gguf_close(b);
    }
}

int main(void)
{
    test_table();
    test_sizes();
    test_fp16();
    test_bf16();
    test_golden();
    test_round_trip_random();
    test_threads();
    test_unaligned();
    test_blocks_independent();
    test_mlx_dequantize();
    test_mlx_quantize();
    test_vs_reference();
    test_round_trip_real();
    test_schemes();
    test_mix_vs_reference();
    return check_summary();
}
