/* The tensor type table, size arithmetic, and threaded whole-tensor
 * conversions. */
#include "quant/quant.h"

#include "core/core.h"

#include <pthread.h>
#include <stdlib.h>

/* ---- plain float types ------------------------------------------------- */

static void dequantize_f32(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void quantize_f32(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void dequantize_f16(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = tk_fp16_to_fp32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
}

static void quantize_f16(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = tk_fp32_to_fp16(src[i]);
        p[2 * i] = (uint8_t)(h & 0xFF);
        p[2 * i + 1] = (uint8_t)(h >> 8);
    }
}

static void dequantize_bf16(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = tk_bf16_to_fp32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
}

static void quantize_bf16(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = tk_fp32_to_bf16(src[i]);
        p[2 * i] = (uint8_t)(h & 0xFF);
        p[2 * i + 1] = (uint8_t)(h >> 8);
    }
}

/* ---- the table ---------------------------------------------------------- */

#define ROW(id, nm, bs, bytes, q, deq, quant)                                                      \
    [id] = {{.name = nm,                                                                           \
             .block_size = bs,                                                                     \
             .block_bytes = bytes,                                                                 \
             .quantized = q,                                                                       \
             .dequantize = deq,                                                                    \
             .quantize = quant}}

static const quant_type type_table[TK_TYPE_COUNT] = {
    ROW(TK_TYPE_F32, "F32", 1, 4, false, dequantize_f32, quantize_f32),
    ROW(TK_TYPE_F16, "F16", 1, 2, false, dequantize_f16, quantize_f16),
    ROW(TK_TYPE_BF16, "BF16", 1, 2, false, dequantize_bf16, quantize_bf16),
    ROW(TK_TYPE_Q4_0, "Q4_0", QK4_0, sizeof(block_q4_0), true, quant_dequantize_q4_0,
        quant_quantize_q4_0),
    ROW(TK_TYPE_Q4_1, "Q4_1", QK4_1, sizeof(block_q4_1), true, quant_dequantize_q4_1,
        quant_quantize_q4_1),
    ROW(TK_TYPE_Q5_0, "Q5_0", QK5_0, sizeof(block_q5_0), true, quant_dequantize_q5_0,
        quant_quantize_q5_0),
    ROW(TK_TYPE_Q5_1, "Q5_1", QK5_1, sizeof(block_q5_1), true, quant_dequantize_q5_1,
        quant_quantize_q5_1),
    ROW(TK_TYPE_Q8_0, "Q8_0", QK8_0, sizeof(block_q8_0), true, quant_dequantize_q8_0,
        quant_quantize_q8_0),
    ROW(TK_TYPE_Q2_K, "Q2_K", QK_K, sizeof(block_q2_K), true, quant_dequantize_q2_k,
        quant_quantize_q2_k),
    ROW(TK_TYPE_Q3_K, "Q3_K", QK_K, sizeof(block_q3_K), true, quant_dequantize_q3_k,
        quant_quantize_q3_k),
    ROW(TK_TYPE_Q4_K, "Q4_K", QK_K, sizeof(block_q4_K), true, quant_dequantize_q4_k,
        quant_quantize_q4_k),
    ROW(TK_TYPE_Q5_K, "Q5_K", QK_K, sizeof(block_q5_K), true, quant_dequantize_q5_k,
        quant_quantize_q5_k),
    ROW(TK_TYPE_Q6_K, "Q6_K", QK_K, sizeof(block_q6_K), true, quant_dequantize_q6_k,
        quant_quantize_q6_k),
    ROW(TK_TYPE_Q8_K, "Q8_K", QK_K, sizeof(block_q8_K), true, quant_dequantize_q8_k,
        quant_quantize_q8_k),
    ROW(TK_TYPE_IQ4_NL, "IQ4_NL", QK4_NL, sizeof(block_iq4_nl), true, quant_dequantize_iq4_nl,
        quant_quantize_iq4_nl),
    ROW(TK_TYPE_IQ4_XS, "IQ4_XS", QK_K, sizeof(block_iq4_xs), true, quant_dequantize_iq4_xs,
        quant_quantize_iq4_xs),
    ROW(TK_TYPE_MLX4_G32, "MLX4_G32", 32, sizeof(block_mlx4_g32), true, quant_dequantize_mlx4_g32,
        quant_quantize_mlx4_g32),
    ROW(TK_TYPE_MLX4_G64, "MLX4_G64", 64, sizeof(block_mlx4_g64), true, quant_dequantize_mlx4_g64,
        quant_quantize_mlx4_g64),
    ROW(TK_TYPE_MLX4_G128, "MLX4_G128", 128, sizeof(block_mlx4_g128), true,
        quant_dequantize_mlx4_g128, quant_quantize_mlx4_g128),
    ROW(TK_TYPE_MLX8_G32, "MLX8_G32", 32, sizeof(block_mlx8_g32), true, quant_dequantize_mlx8_g32,
        quant_quantize_mlx8_g32),
    ROW(TK_TYPE_MLX8_G64, "MLX8_G64", 64, sizeof(block_mlx8_g64), true, quant_dequantize_mlx8_g64,
        quant_quantize_mlx8_g64),
    ROW(TK_TYPE_MLX8_G128, "MLX8_G128", 128, sizeof(block_mlx8_g128), true,
        quant_dequantize_mlx8_g128, quant_quantize_mlx8_g128),
};

const quant_type *quant_type_get(int type)
{
    if (type < 0 || type >= TK_TYPE_COUNT) return NULL;
    const quant_type *t = &type_table[type];
    return t->info.name ? t : NULL;
}

const tk_type_info *tk_type_get(int type)
{
    const quant_type *t = quant_type_get(type);
    return t ? &t->info : NULL;
}

int tk_type_from_name(const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < TK_TYPE_COUNT; i++)
        if (type_table[i].info.name && core_strcasecmp(type_table[i].info.name, name) == 0)
            return i;
    return -1;
}

tk_status tk_type_size(int type, int64_t n, uint64_t *out)
{
    const quant_type *t = quant_type_get(type);
    if (!t) return core_error(TK_ERR_UNSUPPORTED, "tensor type %d is not supported", type);
    if (n < 0) return core_error(TK_ERR_INVALID_ARG, "negative element count %lld", (long long)n);
    if (n % t->info.block_size != 0)
        return core_error(TK_ERR_FORMAT, "%lld elements are not a multiple of the %s block size %d",
                          (long long)n, t->info.name, t->info.block_size);
    uint64_t bytes;
    if (!core_mul_u64((uint64_t)(n / t->info.block_size), t->info.block_bytes, &bytes))
        return core_error(TK_ERR_OVERFLOW, "%lld elements of %s overflow a 64-bit size",
                          (long long)n, t->info.name);
    *out = bytes;
    return TK_OK;
}

/* ---- threaded conversions ----------------------------------------------- */

typedef struct convert_job {
    const quant_type *t;
    bool to_float;
    const void *src;
    void *dst;
    int64_t first_block, n_blocks;
} convert_job;

static void convert_run(const convert_job *j)
{
    const tk_type_info *in = &j->t->info;
    int64_t bs = in->block_size;
    if (j->to_float) {
        const uint8_t *s = (const uint8_t *)j->src + (size_t)j->first_block * in->block_bytes;
        in->dequantize(s, (float *)j->dst + j->first_block * bs, j->n_blocks * bs);
    } else {
        uint8_t *d = (uint8_t *)j->dst + (size_t)j->first_block * in->block_bytes;
        in->quantize((const float *)j->src + j->first_block * bs, d, j->n_blocks * bs);
    }
}

static void *convert_thread(void *arg)
{
    convert_run(arg);
    return NULL;
}

#define CONVERT_MAX_THREADS 256

static tk_status convert(int type, bool to_float, const void *src, void *dst, int64_t n,
                         int n_threads)
{
    uint64_t bytes;
    tk_status st = tk_type_size(type, n, &bytes);
    if (st != TK_OK) return st;
    const quant_type *t = quant_type_get(type);
    if (!to_float && !t->info.quantize)
        return core_error(TK_ERR_UNSUPPORTED, "no quantizer for type %s", t->info.name);
    if (n == 0) return TK_OK;
    if (!src || !dst) return core_error(TK_ERR_INVALID_ARG, "NULL buffer");
    int64_t n_blocks = n / t->info.block_size;
    /* at least ~64K elements per thread: below that, starting threads costs
     * more than it saves */
    int64_t max_useful = TK_MAX(1, n / 65536);
    int64_t nt = TK_MIN((int64_t)TK_MAX(n_threads, 1), TK_MIN(max_useful, n_blocks));
    if (nt > CONVERT_MAX_THREADS) nt = CONVERT_MAX_THREADS;

    convert_job jobs[CONVERT_MAX_THREADS];
    pthread_t tids[CONVERT_MAX_THREADS];
    bool started[CONVERT_MAX_THREADS];
    int64_t per = n_blocks / nt, extra = n_blocks % nt, at = 0;
    for (int64_t i = 0; i < nt; i++) {
        int64_t cnt = per + (i < extra ? 1 : 0);
        jobs[i] = (convert_job){t, to_float, src, dst, at, cnt};
        at += cnt;
        started[i] = false;
    }
    /* job 0 runs on this thread; a thread that cannot start runs here too */
    for (int64_t i = 1; i < nt; i++)
        started[i] = pthread_create(&tids[i], NULL, convert_thread, &jobs[i]) == 0;
    convert_run(&jobs[0]);
    for (int64_t i = 1; i < nt; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        else
            convert_run(&jobs[i]);
    }
    return TK_OK;
}

tk_status tk_type_quantize(int type, const float *src, void *dst, int64_t n, int n_threads)
{
    return convert(type, false, src, dst, n, n_threads);
}

tk_status tk_type_dequantize(int type, const void *src, float *dst, int64_t n, int n_threads)
{
    return convert(type, true, src, dst, n, n_threads);
}
