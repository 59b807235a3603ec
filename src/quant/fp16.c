/* IEEE 754 binary16 and bfloat16 conversions in portable C (no F16C), exact:
 * round to nearest, ties to even; subnormals, infinities and NaN kept. */
#include "quant/quant.h"

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float tk_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in float */
        float v = (float)man * 0x1p-24f;
        return f32_from_bits(f32_bits(v) | sign);
    }
    if (exp == 31) return f32_from_bits(sign | 0x7F800000u | (man << 13)); /* inf / NaN */
    return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t tk_fp32_to_fp16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) {
        /* NaN: keep the top payload bits and force a quiet NaN, so a NaN never
         * turns into an infinity */
        return (uint16_t)(sign | 0x7E00 | ((ax >> 13) & 0x3FF));
    }
    /* 65520 = 65504 + half an ulp: ties to even round up to infinity */
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00);
    if (ax < 0x38800000u) {
        /* result is a half subnormal (or zero): units of 2^-24 */
        if (ax <= 0x33000000u) return sign; /* <= 2^-25 rounds to zero (tie to even) */
        uint32_t e = ax >> 23;              /* 102..112 */
        uint32_t man = (ax & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r); /* r == 0x400 is the smallest normal: right */
    }
    uint32_t r = (ax - 0x38000000u) >> 13; /* rebias exponent 127 -> 15 */
    uint32_t rem = ax & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++; /* carries into the exponent correctly */
    return (uint16_t)(sign | r);
}

float tk_bf16_to_fp32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

uint16_t tk_fp32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    /* round to nearest even; the largest floats round up to infinity, as IEEE says */
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1)) >> 16);
}
