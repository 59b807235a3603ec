/* Reference kernels: plain C, the specification of every faster level.
 *
 * Quantized and half-precision weights are multiplied by dequantizing one
 * row at a time with the type table's reference dequantize (exact
 * arithmetic on the stored blocks) and taking float dot products with float
 * activations, so each row is decoded once per matmul call whatever the
 * number of activation vectors. */
#include "kernels/kernels.h"

#include "core/core.h"
#include "quant/quant.h"

#include <math.h>
#include <string.h>

/* Four partial sums: the association a vector unit would use keeps the
 * reference close to faster levels, and it pipelines better. */
static float dot_f32(const float *a, const float *b, int64_t n)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i + 0] * b[i + 0];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

size_t kernels_scratch_bytes_ref(int64_t cols)
{
    return (size_t)cols * sizeof(float);
}

void kernels_matmul_ref(const kernels_mat *w, int64_t r0, int64_t r1, const void *x,
                        size_t x_stride, int64_t n, float *y, int64_t ldy, void *scratch)
{
    float *row = scratch;
    const tk_type_info *ti = tk_type_get(w->type);
    for (int64_t r = r0; r < r1; r++) {
        const void *src = (const char *)w->data + (size_t)r * w->row_bytes;
        const float *rp = row;
        if (w->type == TK_TYPE_F32 && (uintptr_t)src % sizeof(float) == 0)
            rp = src;
        else
            ti->dequantize(src, row, w->cols);
        for (int64_t t = 0; t < n; t++) {
            const float *xt = (const float *)(const void *)((const char *)x + (size_t)t * x_stride);
            y[t * ldy + r] = dot_f32(rp, xt, w->cols);
        }
    }
}

size_t kernels_act_bytes(int64_t cols)
{
    /* q, then d, ds, ds16 (4 nb floats), s, s16 (3 nb ints); rounded to a
     * cache line so consecutive vectors stay aligned. */
    const size_t nb = (size_t)cols / 32;
    return ((size_t)cols + 7 * nb * 4 + 63) / 64 * 64;
}

void kernels_quantize_act_ref(const float *x, int64_t cols, int64_t b0, int64_t b1, void *out)
{
    kernels_act_q8 a = kernels_act_view(out, cols);
    int8_t *q = (int8_t *)a.q;
    float *d = (float *)a.d, *ds = (float *)a.ds, *ds16 = (float *)a.ds16;
    int32_t *s = (int32_t *)a.s, *s16 = (int32_t *)a.s16;
    for (int64_t b = b0; b < b1; b++) {
        const float *xb = x + 32 * (b - b0);
        float amax = 0.0f;
        bool finite = true;
        for (int i = 0; i < 32; i++) {
            const float v = fabsf(xb[i]);
            finite = finite && v <= FLT_MAX; /* false for NaN and infinities */
            amax = fmaxf(amax, v);
        }
        if (!finite) {
            kernels_act_put_nonfinite(&a, b);
            continue;
        }
        const float db = amax / 127.0f;
        const float id = kernels_act_inv(db);
        int32_t h[2] = {0, 0};
        for (int i = 0; i < 32; i++) {
            /* Nearest, ties to even: what the SIMD levels' conversions do. */
            const int v = (int)lrintf(xb[i] * id);
            q[32 * b + i] = (int8_t)v;
            h[i / 16] += v;
        }
        d[b] = db;
        s[b] = h[0] + h[1];
        s16[2 * b] = h[0];
        s16[2 * b + 1] = h[1];
        ds[b] = db * (float)s[b];
        ds16[2 * b] = db * (float)h[0];
        ds16[2 * b + 1] = db * (float)h[1];
    }
}

/* ---- attention ----------------------------------------------------------- */

size_t kernels_attn_scratch(int nh, int64_t lo, int64_t hi)
{
    return (size_t)nh * (size_t)(16 * (hi / 16 - lo / 16 + 1));
}

/* Key dimension d of position p16 in block kb. */
static float k_at(const void *kb, int type, int64_t d, int p16)
{
    if (type == TK_TYPE_F16) return tk_fp16_to_fp32(((const uint16_t *)kb)[d * 16 + p16]);
    if (type == TK_TYPE_F32) return ((const float *)kb)[d * 16 + p16];
    const uint8_t *g = (const uint8_t *)kb + (size_t)(d / 32) * KERNELS_KQ_GROUP_BYTES(type);
    uint16_t h;
    memcpy(&h, g + 2 * p16, 2);
    const float dk = tk_fp16_to_fp32(h);
    const int j = (int)(d % 32);
    if (type == TK_TYPE_Q8_0) return dk * (float)(int8_t)g[32 + j * 16 + p16];
    const uint8_t b = g[32 + (j / 2) * 16 + p16];
    return dk * (float)((j % 2 ? b >> 4 : b & 0xF) - 8);
}

/* Value dimension d of row vr. */
static float v_at(const void *vr, int type, int64_t d)
{
    if (type == TK_TYPE_F16) return tk_fp16_to_fp32(((const uint16_t *)vr)[d]);
    if (type == TK_TYPE_F32) return ((const float *)vr)[d];
    const size_t bb = type == TK_TYPE_Q8_0 ? 34 : 18;
    const uint8_t *b = (const uint8_t *)vr + (size_t)(d / 32) * bb;
    uint16_t h;
    memcpy(&h, b, 2);
    const float dv = tk_fp16_to_fp32(h);
    const int j = (int)(d % 32);
    if (type == TK_TYPE_Q8_0) return dv * (float)(int8_t)b[2 + j];
    return dv * (float)((j < 16 ? b[2 + j] & 0xF : b[2 + j - 16] >> 4) - 8);
}

void kernels_kv_store_k(int type, void *block, int p16, const float *x, int64_t hd_k)
{
    if (type == TK_TYPE_F16) {
        uint16_t *kd = (uint16_t *)block + p16;
        for (int64_t d = 0; d < hd_k; d++) kd[d * 16] = tk_fp32_to_fp16(x[d]);
        return;
    }
    if (type == TK_TYPE_F32) {
        float *kd = (float *)block + p16;
        for (int64_t d = 0; d < hd_k; d++) kd[d * 16] = x[d];
        return;
    }
    /* Quantized as a GGUF block of 32, then spread into the group. */
    for (int64_t g0 = 0; g0 < hd_k; g0 += 32) {
        uint8_t *g = (uint8_t *)block + (size_t)(g0 / 32) * KERNELS_KQ_GROUP_BYTES(type);
        uint8_t blk[34];
        if (type == TK_TYPE_Q8_0) {
            quant_quantize_q8_0(x + g0, blk, 32);
            for (int j = 0; j < 32; j++) g[32 + j * 16 + p16] = blk[2 + j];
        } else {
            quant_quantize_q4_0(x + g0, blk, 32);
            /* block_q4_0: byte i holds element i (low) and i + 16 (high). */
            for (int i = 0; i < 16; i++) {
                const int lo = (blk[2 + (2 * i) % 16] >> (2 * i < 16 ? 0 : 4)) & 0xF;
                const int hi = (blk[2 + (2 * i + 1) % 16] >> (2 * i + 1 < 16 ? 0 : 4)) & 0xF;
                g[32 + i * 16 + p16] = (uint8_t)(lo | hi << 4);
            }
        }
        memcpy(g + 2 * p16, blk, 2);
    }
}

void kernels_kv_store_v(int type, void *row, const float *x, int64_t hd_v)
{
    if (type == TK_TYPE_F16) {
        uint16_t *vd = row;
        for (int64_t i = 0; i < hd_v; i++) vd[i] = tk_fp32_to_fp16(x[i]);
    } else if (type == TK_TYPE_F32) {
        memcpy(row, x, (size_t)hd_v * sizeof(float));
    } else if (type == TK_TYPE_Q8_0) {
        quant_quantize_q8_0(x, row, hd_v);
    } else {
        quant_quantize_q4_0(x, row, hd_v);
    }
}

void kernels_attn_ref(const kernels_attn *a)
{
    /* Scores of the key blocks touched: position p at s[p - off]. */
    const int64_t off = a->lo / 16 * 16, n_pos = 16 * (a->hi / 16 + 1) - off;
    for (int h = 0; h < a->nh; h++) {
        const float *q = a->q + h * a->q_stride;
        float *s = a->scores + (size_t)h * (size_t)n_pos;
        float max = -INFINITY;
        for (int64_t p = a->lo; p <= a->hi; p++) {
            const void *kb = (const char *)a->k + (size_t)(p / 16) * a->k_block_bytes;
            float dot = 0.0f;
            for (int64_t d = 0; d < a->hd_k; d++)
                dot += q[d] * k_at(kb, a->k_type, d, (int)(p % 16));
            float v = dot * a->scale;
            if (a->softcap > 0.0f) v = tanhf(v * (1.0f / a->softcap)) * a->softcap;
            s[p - off] = v;
            if (v > max) max = v;
        }
        double sum = 0.0;
        for (int64_t p = a->lo; p <= a->hi; p++) {
            s[p - off] = expf(s[p - off] - max);
            sum += s[p - off];
        }
        const float inv = a->part_max ? 1.0f : (float)(1.0 / sum);
        if (a->part_max) {
            a->part_max[h] = max;
            a->part_sum[h] = (float)sum;
        }
        float *out = a->out + h * a->out_stride;
        memset(out, 0, (size_t)a->hd_v * sizeof(float));
        for (int64_t p = a->lo; p <= a->hi; p++) {
            const void *vr = (const char *)a->v + (size_t)p * a->v_stride;
            const float wgt = s[p - off] * inv;
            for (int64_t d = 0; d < a->hd_v; d++) out[d] += wgt * v_at(vr, a->v_type, d);
        }
    }
}

/* ---- vector operations --------------------------------------------------- */

/* The sum of squares is accumulated in double so long rows lose nothing. */
void kernels_rms_norm_ref(float *out, const float *x, const float *w, int64_t n, float eps)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * (double)x[i];
    const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) out[i] = (x[i] * scale) * w[i];
}

void kernels_glu_ref(float *g, const float *u, int64_t n, bool gelu)
{
    const float sqrt_2_over_pi = 0.7978845608028654f;
    for (int64_t i = 0; i < n; i++) {
        const float v = g[i];
        const float a =
            gelu ? 0.5f * v * (1.0f + tanhf(sqrt_2_over_pi * v * (1.0f + 0.044715f * v * v)))
                 : v / (1.0f + expf(-v));
        g[i] = a * u[i];
    }
}

/* Types that the type table does not know (or cannot dequantize), and the
 * activation-only types Q8_1/Q8_K, get no matmul, so the model loader
 * refuses them with a message. */
void kernels_fill_ref(kernels_t *k)
{
    memset(k, 0, sizeof *k);
    k->level = TK_LEVEL_GENERIC;
    k->name = "generic";
    for (int t = 0; t < TK_TYPE_COUNT; t++) {
        const tk_type_info *ti = tk_type_get(t);
        if (!ti || !ti->dequantize || t == TK_TYPE_Q8_1 || t == TK_TYPE_Q8_K) continue;
        k->types[t] = (kernels_type){kernels_matmul_ref, KERNELS_ACT_F32, false};
    }
    k->scratch_bytes = kernels_scratch_bytes_ref;
    k->quantize_act = kernels_quantize_act_ref;
    k->attn = kernels_attn_ref;
    k->rms_norm = kernels_rms_norm_ref;
    k->glu = kernels_glu_ref;
}
