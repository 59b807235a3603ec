/* K-quants: 256-element super-blocks whose sub-block scales are themselves
 * quantized against one or two fp16 super-scales. Layouts: quant/quant.h.
 *
 * Quantizing a super-block: (1) every sub-block gets its own best scale (and
 * min) from the shared searches, (2) those are quantized to the format's
 * small integers against super-scales chosen so the largest maps to the top
 * of the range, (3) every element is re-rounded against the scale it will be
 * decoded with. */
#include "quant/quant.h"

#include <math.h>

static float safe_inv(float d)
{
    return d != 0 ? 1.0f / d : 0.0f;
}

/* ---- Q2_K ---------------------------------------------------------------- */

void quant_dequantize_q2_k(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q2_K b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d), dmin = quant_half(b.dmin);
        float *y = dst + i * QK_K;
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                for (int half = 0; half < 2; half++) {
                    uint8_t sc = b.scales[8 * h + 2 * j + half];
                    float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                        y[128 * h + 32 * j + l] =
                            dl * (float)((b.qs[32 * h + l] >> (2 * j)) & 3) - ml;
                }
            }
        }
    }
}

/* Element e of a 256-block in the 2-bit layouts of Q2_K/Q3_K:
 * e = 128*h + 32*j + l -> byte 32*h + l of qs, shift 2*j. */
void quant_quantize_q2_k(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        uint8_t L[QK_K];
        float s[16], mn[16], max_s = 0, max_m = 0;
        for (int k = 0; k < 16; k++) {
            float m;
            s[k] = quant_search_asym(16, x + 16 * k, 3, true, 15, -0.5f, 0.1f, L + 16 * k, &m);
            mn[k] = -m;
            max_s = fmaxf(max_s, s[k]);
            max_m = fmaxf(max_m, mn[k]);
        }
        block_q2_K b;
        memset(&b, 0, sizeof b);
        uint16_t d16 = tk_fp32_to_fp16(max_s / 15.0f), m16 = tk_fp32_to_fp16(max_m / 15.0f);
        float d = tk_fp16_to_fp32(d16), dmin = tk_fp16_to_fp32(m16);
        float id = safe_inv(d), idmin = safe_inv(dmin);
        b.d = quant_to_le16(d16);
        b.dmin = quant_to_le16(m16);
        for (int k = 0; k < 16; k++) {
            int sc = quant_round_clamp(s[k] * id, 0, 15);
            int mc = quant_round_clamp(mn[k] * idmin, 0, 15);
            b.scales[k] = (uint8_t)(sc | (mc << 4));
            float dl = d * (float)sc, ml = dmin * (float)mc, idl = safe_inv(dl);
            for (int l = 0; l < 16; l++)
                L[16 * k + l] = (uint8_t)quant_round_clamp((x[16 * k + l] + ml) * idl, 0, 3);
        }
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            b.qs[32 * h + l] |= (uint8_t)(L[e] << (2 * j));
        }
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}

/* ---- Q3_K ---------------------------------------------------------------- */

void quant_dequantize_q3_k(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q3_K b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d);
        int8_t sc[16];
        quant_q3_k_scales(b.scales, sc);
        float *y = dst + i * QK_K;
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = (b.qs[32 * h + l] >> (2 * j)) & 3;
            int hb = (b.hmask[l] >> (4 * h + j)) & 1;
            y[e] = d * (float)sc[8 * h + 2 * j + l / 16] * (float)(q - (hb ? 0 : 4));
        }
    }
}

/* The symmetric scale of each of the 16 sub-blocks of a super-block (levels
 * qmin..qmax, into s[] and L[]), and the one of largest magnitude, with its
 * sign: Q3_K and Q6_K store the sub-scales relative to it. */
static float search_sub_scales(const float *x, int qmin, int qmax, float s[16], int8_t *L)
{
    float max_s = 0, amax = 0;
    for (int k = 0; k < 16; k++) {
        s[k] = quant_search_sym(16, x + 16 * k, qmin, qmax, 9, L + 16 * k);
        if (fabsf(s[k]) > amax) {
            amax = fabsf(s[k]);
            max_s = s[k];
        }
    }
    return max_s;
}

void quant_quantize_q3_k(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        int8_t L[QK_K];
        float s[16];
        float max_s = search_sub_scales(x, -4, 3, s, L);
        block_q3_K b;
        memset(&b, 0, sizeof b);
        uint16_t d16 = tk_fp32_to_fp16(max_s / -32.0f);
        float d = tk_fp16_to_fp32(d16), id = safe_inv(d);
        b.d = quant_to_le16(d16);
        for (int k = 0; k < 16; k++) {
            int sc = quant_round_clamp(s[k] * id, -32, 31);
            unsigned u = (unsigned)(sc + 32);
            if (k < 8)
                b.scales[k] |= (uint8_t)(u & 0xF);
            else
                b.scales[k - 8] |= (uint8_t)((u & 0xF) << 4);
            b.scales[8 + k % 4] |= (uint8_t)((u >> 4) << (2 * (k / 4)));
            float idl = safe_inv(d * (float)sc);
            for (int l = 0; l < 16; l++)
                L[16 * k + l] = (int8_t)quant_round_clamp(x[16 * k + l] * idl, -4, 3);
        }
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q = L[e] + 4; /* 0..7 */
            b.qs[32 * h + l] |= (uint8_t)((q & 3) << (2 * j));
            if (q & 4) b.hmask[l] |= (uint8_t)(1u << (4 * h + j));
        }
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}

/* ---- Q4_K / Q5_K ------------------------------------------------------------ */

static void pack_scale_min_k4(const uint8_t sc[8], const uint8_t mc[8], uint8_t out[12])
{
    memset(out, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            out[j] |= sc[j] & 63;
            out[j + 4] |= mc[j] & 63;
        } else {
            out[j + 4] = (uint8_t)((sc[j] & 0xF) | ((mc[j] & 0xF) << 4));
            out[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            out[j] |= (uint8_t)((mc[j] >> 4) << 6);
        }
    }
}

/* Shared part of Q4_K and Q5_K: codes L[256] in 0..qmax, packed scales. */
static void quantize_k4_common(const float *x, int qmax, uint8_t L[QK_K], uint16_t *d16,
                               uint16_t *m16, uint8_t scales[12])
{
    float s[8], mn[8], max_s = 0, max_m = 0;
    for (int j = 0; j < 8; j++) {
        float m;
        s[j] = quant_search_asym(32, x + 32 * j, qmax, true, 20, -1.0f, 0.1f, L + 32 * j, &m);
        mn[j] = -m;
        max_s = fmaxf(max_s, s[j]);
        max_m = fmaxf(max_m, mn[j]);
    }
    *d16 = tk_fp32_to_fp16(max_s / 63.0f);
    *m16 = tk_fp32_to_fp16(max_m / 63.0f);
    float d = tk_fp16_to_fp32(*d16), dmin = tk_fp16_to_fp32(*m16);
    float id = safe_inv(d), idmin = safe_inv(dmin);
    uint8_t sc[8], mc[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)quant_round_clamp(s[j] * id, 0, 63);
        mc[j] = (uint8_t)quant_round_clamp(mn[j] * idmin, 0, 63);
        float dl = d * (float)sc[j], ml = dmin * (float)mc[j], idl = safe_inv(dl);
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)quant_round_clamp((x[32 * j + l] + ml) * idl, 0, qmax);
    }
    pack_scale_min_k4(sc, mc, scales);
}

void quant_dequantize_q4_k(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q4_K b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d), dmin = quant_half(b.dmin);
        float *y = dst + i * QK_K;
        for (int j = 0; j < 4; j++) {
            uint8_t sc, m;
            quant_get_scale_min_k4(2 * j, b.scales, &sc, &m);
            float d1 = d * (float)sc, m1 = dmin * (float)m;
            quant_get_scale_min_k4(2 * j + 1, b.scales, &sc, &m);
            float d2 = d * (float)sc, m2 = dmin * (float)m;
            const uint8_t *q = b.qs + 32 * j;
            for (int l = 0; l < 32; l++) y[64 * j + l] = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) y[64 * j + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void quant_quantize_q4_k(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t L[QK_K];
        block_q4_K b;
        uint16_t d16, m16;
        quantize_k4_common(src + i * QK_K, 15, L, &d16, &m16, b.scales);
        b.d = quant_to_le16(d16);
        b.dmin = quant_to_le16(m16);
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++)
                b.qs[32 * j + l] = (uint8_t)(L[64 * j + l] | (L[64 * j + 32 + l] << 4));
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}

void quant_dequantize_q5_k(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q5_K b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d), dmin = quant_half(b.dmin);
        float *y = dst + i * QK_K;
        for (int j = 0; j < 4; j++) {
            uint8_t sc, m;
            quant_get_scale_min_k4(2 * j, b.scales, &sc, &m);
            float d1 = d * (float)sc, m1 = dmin * (float)m;
            quant_get_scale_min_k4(2 * j + 1, b.scales, &sc, &m);
            float d2 = d * (float)sc, m2 = dmin * (float)m;
            const uint8_t *q = b.qs + 32 * j;
            for (int l = 0; l < 32; l++) {
                int lo = (q[l] & 0xF) | (((b.qh[l] >> (2 * j)) & 1) << 4);
                int hi = (q[l] >> 4) | (((b.qh[l] >> (2 * j + 1)) & 1) << 4);
                y[64 * j + l] = d1 * (float)lo - m1;
                y[64 * j + 32 + l] = d2 * (float)hi - m2;
            }
        }
    }
}

void quant_quantize_q5_k(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t L[QK_K];
        block_q5_K b;
        uint16_t d16, m16;
        quantize_k4_common(src + i * QK_K, 31, L, &d16, &m16, b.scales);
        b.d = quant_to_le16(d16);
        b.dmin = quant_to_le16(m16);
        memset(b.qh, 0, sizeof b.qh);
        for (int j = 0; j < 4; j++) {
            for (int l = 0; l < 32; l++) {
                uint8_t lo = L[64 * j + l], hi = L[64 * j + 32 + l];
                b.qs[32 * j + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
                b.qh[l] |= (uint8_t)(((lo >> 4) & 1) << (2 * j));
                b.qh[l] |= (uint8_t)(((hi >> 4) & 1) << (2 * j + 1));
            }
        }
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}

/* ---- Q6_K ---------------------------------------------------------------- */

void quant_dequantize_q6_k(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q6_K b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d);
        float *y = dst + i * QK_K;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b.ql + 64 * h, *qh = b.qh + 32 * h;
            const int8_t *sc = b.scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[128 * h + l] = d * (float)sc[is + 0] * (float)q1;
                y[128 * h + l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[128 * h + l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[128 * h + l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

void quant_quantize_q6_k(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        int8_t L[QK_K];
        float s[16];
        float max_s = search_sub_scales(x, -32, 31, s, L);
        block_q6_K b;
        memset(&b, 0, sizeof b);
        uint16_t d16 = tk_fp32_to_fp16(max_s / -128.0f);
        float d = tk_fp16_to_fp32(d16), id = safe_inv(d);
        b.d = quant_to_le16(d16);
        for (int k = 0; k < 16; k++) {
            int sc = quant_round_clamp(s[k] * id, -128, 127);
            b.scales[k] = (int8_t)sc;
            float idl = safe_inv(d * (float)sc);
            for (int l = 0; l < 16; l++)
                L[16 * k + l] = (int8_t)quant_round_clamp(x[16 * k + l] * idl, -32, 31);
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = b.ql + 64 * h, *qh = b.qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = L[128 * h + l] + 32, q2 = L[128 * h + l + 32] + 32;
                int q3 = L[128 * h + l + 64] + 32, q4 = L[128 * h + l + 96] + 32;
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] =
                    (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}

/* ---- Q8_K ---------------------------------------------------------------- */

void quant_dequantize_q8_k(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_q8_K b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        for (int j = 0; j < QK_K; j++) dst[i * QK_K + j] = b.d * (float)b.qs[j];
    }
}

/* The activation type: no search, speed matters. The largest-magnitude value
 * maps to -128 exactly (so bsums and the codes are what a dot kernel needs);
 * codes are clamped to 127 on the other side. */
void quant_quantize_q8_k(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        block_q8_K b;
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (!(amax > 0)) {
            memset(&b, 0, sizeof b);
        } else {
            float iscale = -128.0f / max;
            for (int j = 0; j < QK_K; j++)
                b.qs[j] = (int8_t)quant_round_clamp(iscale * x[j], -128, 127);
            for (int k = 0; k < QK_K / 16; k++) {
                int sum = 0;
                for (int l = 0; l < 16; l++) sum += b.qs[16 * k + l];
                b.bsums[k] = (int16_t)sum;
            }
            b.d = 1.0f / iscale;
        }
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}
