/* tektra tensor types: one table row per type. Block layouts follow the
 * public GGUF/ggml format, so files move freely between engines. */
#ifndef TEKTRA_QUANT_H
#define TEKTRA_QUANT_H

#include "tektra/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tensor types, numbered as GGUF files store them. The MLX affine types
 * (from TK_TYPE_MLX_FIRST on) are the engine's own: they come from model
 * directories in the MLX layout, never from a GGUF file, and the GGUF reader
 * and writer refuse them. Their block is { float scale; float bias; q[] }
 * for a group of G elements, x = scale * q + bias, with q packed as MLX
 * packs it (little end first: 4-bit element j of the group in bits
 * 4 * (j % 2) of byte j / 2; 8-bit element j in byte j). */
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
    TK_TYPE_GGUF_END = 40, /* GGUF type ids are below this */
    TK_TYPE_MLX_FIRST = 64,
    TK_TYPE_MLX4_G32 = 64,
    TK_TYPE_MLX4_G64 = 65,
    TK_TYPE_MLX4_G128 = 66,
    TK_TYPE_MLX8_G32 = 67,
    TK_TYPE_MLX8_G64 = 68,
    TK_TYPE_MLX8_G128 = 69,
    TK_TYPE_COUNT = 72 /* upper bound of the numbering, not a type */
} tk_type;

/* What the public table says about a type. */
typedef struct tk_type_info {
    const char *name;   /* "Q4_K", "F16", ... */
    int block_size;     /* elements per block (1 for F32/F16/BF16) */
    size_t block_bytes; /* bytes per block */
    bool quantized;     /* true for block-quantized types */
    /* Reference conversions of `n` elements (n a multiple of block_size).
     * dequantize is set for every supported type; quantize may be NULL. */
    void (*dequantize)(const void *src, float *dst, int64_t n);
    void (*quantize)(const float *src, void *dst, int64_t n);
} tk_type_info;

/* The row for `type`, or NULL when the type is unknown or not supported. */
const tk_type_info *tk_type_get(int type);

/* The index of the first of the `n` elements of `type` at `data` whose
 * value is not finite (NaN or an infinity), or -1 when every value is
 * finite. Block types are checked through their scales (the first element
 * of the first block with a non-finite scale is reported), without
 * decoding; float types element by element. */
int64_t tk_type_first_nonfinite(int type, const void *data, int64_t n);

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

/* Whole-tensor conversions of `n` elements (a multiple of the block size)
 * using up to `n_threads` threads (< 1 means 1). `dst` must hold
 * tk_type_size(type, n) bytes (quantize) or n floats (dequantize); buffers
 * are borrowed. TK_ERR_UNSUPPORTED for an unknown type or a type without a
 * quantizer, TK_ERR_FORMAT for a bad n. Results do not depend on n_threads.
 * Non-finite inputs give unspecified (but valid) codes. */
tk_status tk_type_quantize(int type, const float *src, void *dst, int64_t n, int n_threads);
tk_status tk_type_dequantize(int type, const void *src, float *dst, int64_t n, int n_threads);

/* ---- quantization schemes ------------------------------------------------
 * What `tektra quantize` and tools/synth_model accept as TYPE: a single type
 * ("Q8_0", "Q4_K", ...: every 2-D weight in that type) or a mix ("Q4_K_M",
 * "Q5_K_M": some tensors get a higher type, following the rule users know
 * from llama.cpp's files; see tk_quant_tensor_type()). */
typedef struct tk_quant_scheme {
    const char *name; /* "Q4_K_M", "Q8_0", ... */
    int type;         /* the default tensor type (a tk_type) */
    uint32_t ftype;   /* value of general.file_type (llama.cpp's LLAMA_FTYPE numbering) */
    bool mix;         /* true when some tensors get a higher type than `type` */
} tk_quant_scheme;

/* The schemes, for listing: index 0..tk_quant_scheme_count()-1. */
int tk_quant_scheme_count(void);
const tk_quant_scheme *tk_quant_scheme_at(int i);
/* Scheme by name, case-insensitive; NULL when unknown. */
const tk_quant_scheme *tk_quant_scheme_find(const char *name);

/* The type one tensor gets under a scheme. */
typedef struct tk_quant_choice {
    bool quantize; /* false: not a quantizable weight (1-D, norm, router, ...):
                      keep it as F32 */
    int type;      /* the type to store it in (F32 when !quantize) */
    int wanted;    /* the type the scheme asked for before any fallback */
    bool fallback; /* true when ne[0] is not a multiple of wanted's block size
                      and `type` is the fallback that fits */
} tk_quant_choice;

/* Decides the type of tensor `name` (n_dims dimensions, shape ne) under
 * scheme `s`. `n_layer` is the model's block count (used by the mixes'
 * per-layer choices; <= 0 when unknown) and `has_output` tells whether the
 * model has a separate output.weight (without one, token_embd.weight is the
 * output matrix and is treated like it). `n_expert` is the model's expert
 * count ({arch}.expert_count; 0 for a dense model): the mixes treat some
 * tensors of 8-expert models differently. Tensors of more than 2 dimensions
 * (a mixture's 3-D expert tensors) are quantized row by row like matrices. */
tk_quant_choice tk_quant_tensor_type(const tk_quant_scheme *s, const char *name, int n_dims,
                                     const int64_t *ne, int n_layer, bool has_output, int n_expert);

#ifdef __cplusplus
}
#endif
#endif
