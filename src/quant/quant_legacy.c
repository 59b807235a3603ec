/* The 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (and the nibble
 * packing they share). Layouts: see quant/quant.h. */
#include "quant/quant.h"

/* After the search picked a scale, the stored scale is its fp16 rounding;
 * re-rounding the codes against the stored value keeps the two consistent. */
static void requant_sym(int n, const float *x, float d, int qmin, int qmax, int8_t *L)
{
    float id = d != 0 ? 1.0f / d : 0.0f;
    for (int i = 0; i < n; i++) L[i] = (int8_t)quant_round_clamp(x[i] * id, qmin, qmax);
}

static void requant_asym(int n, const float *x, float d, float m, int qmax, uint8_t *L)
{
    float id = d != 0 ? 1.0f / d : 0.0f;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)quant_round_clamp((x[i] - m) * id, 0, qmax);
}

/* Symmetric search result stored as fp16 scale + re-rounded codes. */
static uint16_t quant_block_sym(int n, const float *x, int qmin, int qmax, int ntry, int8_t *L)
{
    float s = quant_search_sym(n, x, qmin, qmax, ntry, L);
    uint16_t h = tk_fp32_to_fp16(s);
    requant_sym(n, x, tk_fp16_to_fp32(h), qmin, qmax, L);
    return h;
}

static void quant_block_asym(int n, const float *x, int qmax, uint8_t *L, uint16_t *d16,
                             uint16_t *m16)
{
    float m;
    float s = quant_search_asym(n, x, qmax, false, 20, -1.0f, 0.1f, L, &m);
    *d16 = tk_fp32_to_fp16(s);
    *m16 = tk_fp32_to_fp16(m);
    requant_asym(n, x, tk_fp16_to_fp32(*d16), tk_fp16_to_fp32(*m16), qmax, L);
}

static void pack_nibbles(const uint8_t *q, uint8_t *qs)
{
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}

static uint32_t pack_high_bits(const uint8_t *q)
{
    uint32_t qh = 0;
    for (int j = 0; j < 32; j++) qh |= (uint32_t)((q[j] >> 4) & 1) << j;
    return qh;
}

static void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ---- Q4_0 ---------------------------------------------------------------- */

void quant_dequantize_q4_0(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        block_q4_0 b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d);
        float *y = dst + i * QK4_0;
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)((b.qs[j] & 0xF) - 8);
            y[j + 16] = d * (float)((b.qs[j] >> 4) - 8);
        }
    }
}

void quant_quantize_q4_0(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int8_t L[QK4_0];
        uint8_t q[QK4_0];
        block_q4_0 b;
        b.d = quant_to_le16(quant_block_sym(QK4_0, src + i * QK4_0, -8, 7, 4, L));
        for (int j = 0; j < QK4_0; j++) q[j] = (uint8_t)(L[j] + 8);
        pack_nibbles(q, b.qs);
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}

/* ---- Q4_1 ---------------------------------------------------------------- */

void quant_dequantize_q4_1(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        block_q4_1 b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d), m = quant_half(b.m);
        float *y = dst + i * QK4_1;
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)(b.qs[j] & 0xF) + m;
            y[j + 16] = d * (float)(b.qs[j] >> 4) + m;
        }
    }
}

void quant_quantize_q4_1(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        uint8_t q[QK4_1];
        block_q4_1 b;
        uint16_t d16, m16;
        quant_block_asym(QK4_1, src + i * QK4_1, 15, q, &d16, &m16);
        b.d = quant_to_le16(d16);
        b.m = quant_to_le16(m16);
        pack_nibbles(q, b.qs);
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}

/* ---- Q5_0 ---------------------------------------------------------------- */

void quant_dequantize_q5_0(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        block_q5_0 b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d);
        uint32_t qh = load_le32(b.qh);
        float *y = dst + i * QK5_0;
        for (int j = 0; j < 16; j++) {
            int lo = (b.qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int hi = (b.qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = d * (float)(lo - 16);
            y[j + 16] = d * (float)(hi - 16);
        }
    }
}

void quant_quantize_q5_0(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        int8_t L[QK5_0];
        uint8_t q[QK5_0];
        block_q5_0 b;
        b.d = quant_to_le16(quant_block_sym(QK5_0, src + i * QK5_0, -16, 15, 4, L));
        for (int j = 0; j < QK5_0; j++) q[j] = (uint8_t)(L[j] + 16);
        pack_nibbles(q, b.qs);
        store_le32(b.qh, pack_high_bits(q));
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}

/* ---- Q5_1 ---------------------------------------------------------------- */

void quant_dequantize_q5_1(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        block_q5_1 b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d), m = quant_half(b.m);
        uint32_t qh = load_le32(b.qh);
        float *y = dst + i * QK5_1;
        for (int j = 0; j < 16; j++) {
            int lo = (b.qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int hi = (b.qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = d * (float)lo + m;
            y[j + 16] = d * (float)hi + m;
        }
    }
}

void quant_quantize_q5_1(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        uint8_t q[QK5_1];
        block_q5_1 b;
        uint16_t d16, m16;
        quant_block_asym(QK5_1, src + i * QK5_1, 31, q, &d16, &m16);
        b.d = quant_to_le16(d16);
        b.m = quant_to_le16(m16);
        pack_nibbles(q, b.qs);
        store_le32(b.qh, pack_high_bits(q));
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}

/* ---- Q8_0 ---------------------------------------------------------------- */

void quant_dequantize_q8_0(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        block_q8_0 b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d);
        float *y = dst + i * QK8_0;
        for (int j = 0; j < QK8_0; j++) y[j] = d * (float)b.qs[j];
    }
}

void quant_quantize_q8_0(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        block_q8_0 b;
        /* -127..127: keeping -128 out lets SIMD kernels use sign tricks
         * (|q| fits in int8) */
        b.d = quant_to_le16(quant_block_sym(QK8_0, src + i * QK8_0, -127, 127, 0, b.qs));
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}
