/* tektra tensor types: one table row per type. Block layouts follow the
 * public GGUF/ggml format, so files move freely between engines. */
#ifndef TEKTRA_QUANT_H
#define TEKTRA_QUANT_H

#include "tektra/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tensor types, numbered as GGUF files store them. */
typedef enum tk_type {
    TK_TYPE_F32 = 0,
    TK_TYPE_F16 = 1,
    TK_TYPE_Q4_0 = 2,
    TK_TYPE_Q4_1 = 3,
    TK_TYPE_Q5_0 = 6,
    TK_TYPE_Q5_1 = 7,
    TK_TYPE_Q8_0 = 8,
    TK_TYPE_Q8_1 = 9,
    TK_TYPE_Q2_K = 10,
    TK_TYPE_Q3_K = 11,
    TK_TYPE_Q4_K = 12,
    TK_TYPE_Q5_K = 13,
    TK_TYPE_Q6_K = 14,
    TK_TYPE_Q8_K = 15,
    TK_TYPE_IQ4_NL = 20,
    TK_TYPE_IQ4_XS = 23,
    TK_TYPE_BF16 = 30,
    TK_TYPE_COUNT = 40 /* upper bound of the numbering, not a type */
} tk_type;

/* What the public table says about a type. */
typedef struct tk_type_info {
    const char *name;      /* "Q4_K", "F16", ... */
    int block_size;        /* elements per block (1 for F32/F16/BF16) */
    size_t block_bytes;    /* bytes per block */
    bool quantized;        /* true for block-quantized types */
    /* Reference conversions of `n` elements (n a multiple of block_size).
     * dequantize is set for every supported type; quantize may be NULL. */
    void (*dequantize)(const void *src, float *dst, int64_t n);
    void (*quantize)(const float *src, void *dst, int64_t n);
} tk_type_info;

/* The row for `type`, or NULL when the type is unknown or not supported. */
const tk_type_info *tk_type_get(int type);

/* Type by name, case-insensitive ("q4_k", "F16"); -1 when unknown. */
int tk_type_from_name(const char *name);

/* Bytes needed for `n` elements of `type`, with overflow and block-multiple
 * checks (TK_ERR_FORMAT when n is not a multiple of the block size). */
tk_status tk_type_size(int type, int64_t n, uint64_t *out);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float tk_fp16_to_fp32(uint16_t h);
uint16_t tk_fp32_to_fp16(float f);
float tk_bf16_to_fp32(uint16_t h);
uint16_t tk_fp32_to_bf16(float f);

#ifdef __cplusplus
}
#endif
#endif
