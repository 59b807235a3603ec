/* IQ4_NL and IQ4_XS: 4-bit codes into the non-linear table kvalues_iq4nl.
 * Layouts: quant/quant.h. */
#include "quant/quant.h"

#include <math.h>

/* Codes against the stored scale; d == 0 gives the code nearest to zero. */
static void requant_iq4(int n, const float *x, float d, uint8_t *L)
{
    float id = d != 0 ? 1.0f / d : 0.0f;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)quant_iq4_index(x[i] * id);
}

static void pack_nibbles32(const uint8_t *q, uint8_t *qs)
{
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}

void quant_dequantize_iq4_nl(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        block_iq4_nl b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d);
        float *y = dst + i * QK4_NL;
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)kvalues_iq4nl[b.qs[j] & 0xF];
            y[j + 16] = d * (float)kvalues_iq4nl[b.qs[j] >> 4];
        }
    }
}

void quant_quantize_iq4_nl(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        const float *x = src + i * QK4_NL;
        uint8_t L[QK4_NL];
        block_iq4_nl b;
        uint16_t d16 = tk_fp32_to_fp16(quant_search_iq4(QK4_NL, x, 7, L));
        requant_iq4(QK4_NL, x, tk_fp16_to_fp32(d16), L);
        b.d = quant_to_le16(d16);
        pack_nibbles32(L, b.qs);
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}

void quant_dequantize_iq4_xs(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        block_iq4_xs b;
        memcpy(&b, p + (size_t)i * sizeof b, sizeof b);
        float d = quant_half(b.d);
        unsigned sh = quant_le16(b.scales_h);
        float *y = dst + i * QK_K;
        for (int ib = 0; ib < 8; ib++) {
            int ls =
                ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (int)(((sh >> (2 * ib)) & 3) << 4);
            float dl = d * (float)(ls - 32);
            const uint8_t *qs = b.qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                y[32 * ib + j] = dl * (float)kvalues_iq4nl[qs[j] & 0xF];
                y[32 * ib + j + 16] = dl * (float)kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

void quant_quantize_iq4_xs(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        uint8_t L[QK_K];
        float s[8], max_s = 0, amax = 0;
        for (int ib = 0; ib < 8; ib++) {
            s[ib] = quant_search_iq4(32, x + 32 * ib, 7, L + 32 * ib);
            if (fabsf(s[ib]) > amax) {
                amax = fabsf(s[ib]);
                max_s = s[ib];
            }
        }
        block_iq4_xs b;
        memset(&b, 0, sizeof b);
        /* the signed 6-bit sub-scales span -32..31: the largest maps to -32 */
        uint16_t d16 = tk_fp32_to_fp16(max_s / -32.0f);
        float d = tk_fp16_to_fp32(d16), id = d != 0 ? 1.0f / d : 0.0f;
        unsigned sh = 0;
        for (int ib = 0; ib < 8; ib++) {
            int ls = quant_round_clamp(s[ib] * id, -32, 31);
            unsigned u = (unsigned)(ls + 32);
            b.scales_l[ib / 2] |= (uint8_t)((u & 0xF) << (4 * (ib % 2)));
            sh |= (u >> 4) << (2 * ib);
            requant_iq4(32, x + 32 * ib, d * (float)ls, L + 32 * ib);
            pack_nibbles32(L + 32 * ib, b.qs + 16 * ib);
        }
        b.d = quant_to_le16(d16);
        b.scales_h = quant_to_le16((uint16_t)sh);
        memcpy(p + (size_t)i * sizeof b, &b, sizeof b);
    }
}
