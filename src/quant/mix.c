/* Quantization schemes and the rule that gives each tensor its type.
 *
 * Single-type schemes ("Q8_0", "Q4_K", ...) store every quantizable weight in
 * that type ("pure"). The mixes follow what llama.cpp's quantizer writes for
 * its Q4_K_M / Q5_K_M files, the files users download most, so our files
 * have the same size and quality profile:
 *
 *   default type                      Q4_K (Q4_K_M) / Q5_K (Q5_K_M)
 *   output.weight, or token_embd.weight when the model has no separate
 *   output (tied embeddings)          Q6_K; Q8_0 when ne[0] % 256 != 0
 *   blk.N.attn_v.weight               Q6_K when use_more_bits(N)
 *   blk.N.ffn_down*                   Q6_K when use_more_bits(N)
 *   blk.N.attn_qkv.weight (fused)     Q5_K (Q4_K_M) / Q6_K (Q5_K_M)
 *
 *
 * With exactly 8 experts (n_expert, the model's {arch}.expert_count), as the
 * reference does for its 8-expert models: attn_k and attn_v Q8_0,
 * attn_output Q5_K. Expert tensors (3-D, ffn_*_exps) follow the rules of
 * their dense names, the layer taken from the name.
 *
 * use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2: the first
 * and last eighth of the layers and every third layer in between.
 *
 * Fallback (any scheme): when ne[0] is not a multiple of the chosen type's
 * block, Q2_K/Q3_K/IQ4_XS become IQ4_NL, Q4_K becomes Q5_0, Q5_K becomes
 * Q5_1, Q6_K becomes Q8_0 (a 32-block type of at least the same precision);
 * if even a 32-element block does not fit, F16.
 *
 * Not quantized (kept F32): tensors with fewer than 2 dimensions, names not
 * ending in ".weight", norms, MoE routers (ffn_gate_inp), position and token
 * type embeddings, rope frequency factors. */
#include "quant/quant.h"

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>

/* general.file_type values (llama.cpp's LLAMA_FTYPE_*). A pure K-quant maps
 * to the "_S" variant of its family, the closest published value. */
enum {
    FTYPE_ALL_F32 = 0,
    FTYPE_F16 = 1,
    FTYPE_Q4_0 = 2,
    FTYPE_Q4_1 = 3,
    FTYPE_Q8_0 = 7,
    FTYPE_Q5_0 = 8,
    FTYPE_Q5_1 = 9,
    FTYPE_Q2_K = 10,
    FTYPE_Q3_K_S = 11,
    FTYPE_Q4_K_S = 14,
    FTYPE_Q4_K_M = 15,
    FTYPE_Q5_K_S = 16,
    FTYPE_Q5_K_M = 17,
    FTYPE_Q6_K = 18,
    FTYPE_IQ4_NL = 25,
    FTYPE_IQ4_XS = 30,
    FTYPE_BF16 = 32,
};

/* clang-format off */
static const tk_quant_scheme schemes[] = {
    {"F32",    TK_TYPE_F32,    FTYPE_ALL_F32, false},
    {"F16",    TK_TYPE_F16,    FTYPE_F16,     false},
    {"BF16",   TK_TYPE_BF16,   FTYPE_BF16,    false},
    {"Q8_0",   TK_TYPE_Q8_0,   FTYPE_Q8_0,    false},
    {"Q6_K",   TK_TYPE_Q6_K,   FTYPE_Q6_K,    false},
    {"Q5_1",   TK_TYPE_Q5_1,   FTYPE_Q5_1,    false},
    {"Q5_0",   TK_TYPE_Q5_0,   FTYPE_Q5_0,    false},
    {"Q5_K_M", TK_TYPE_Q5_K,   FTYPE_Q5_K_M,  true},
    {"Q5_K",   TK_TYPE_Q5_K,   FTYPE_Q5_K_S,  false},
    {"Q4_1",   TK_TYPE_Q4_1,   FTYPE_Q4_1,    false},
    {"Q4_0",   TK_TYPE_Q4_0,   FTYPE_Q4_0,    false},
    {"Q4_K_M", TK_TYPE_Q4_K,   FTYPE_Q4_K_M,  true},
    {"Q4_K",   TK_TYPE_Q4_K,   FTYPE_Q4_K_S,  false},
    {"IQ4_NL", TK_TYPE_IQ4_NL, FTYPE_IQ4_NL,  false},
    {"IQ4_XS", TK_TYPE_IQ4_XS, FTYPE_IQ4_XS,  false},
    {"Q3_K",   TK_TYPE_Q3_K,   FTYPE_Q3_K_S,  false},
    {"Q2_K",   TK_TYPE_Q2_K,   FTYPE_Q2_K,    false},
};
/* clang-format on */

int tk_quant_scheme_count(void)
{
    return (int)TK_ARRAY_LEN(schemes);
}

const tk_quant_scheme *tk_quant_scheme_at(int i)
{
    if (i < 0 || i >= tk_quant_scheme_count()) return NULL;
    return &schemes[i];
}

const tk_quant_scheme *tk_quant_scheme_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < TK_ARRAY_LEN(schemes); i++)
        if (core_strcasecmp(schemes[i].name, name) == 0) return &schemes[i];
    return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool is_quantizable(const char *name, int n_dims)
{
    if (n_dims < 2 || !ends_with(name, ".weight")) return false;
    static const char *const keep[] = {"_norm", "ffn_gate_inp", "pos_embd", "token_types",
                                       "rope_freqs"};
    for (size_t i = 0; i < TK_ARRAY_LEN(keep); i++)
        if (strstr(name, keep[i])) return false;
    return true;
}

/* Layer index from "blk.N.", or -1. */
static int layer_of(const char *name)
{
    if (strncmp(name, "blk.", 4) != 0) return -1;
    const char *p = name + 4;
    long v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 7) {
        v = v * 10 + (*p - '0');
        p++;
        digits++;
    }
    return (digits > 0 && *p == '.') ? (int)v : -1;
}

static bool use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int mix_type(const tk_quant_scheme *s, const char *name, const int64_t *ne, int n_layer,
                    bool has_output, int n_expert)
{
    int t = s->type;
    bool q5 = s->type == TK_TYPE_Q5_K;
    if (strcmp(name, "output.weight") == 0 ||
        (!has_output && strcmp(name, "token_embd.weight") == 0))
        return ne[0] % QK_K != 0 ? TK_TYPE_Q8_0 : TK_TYPE_Q6_K;
    int il = layer_of(name);
    bool more = il >= 0 && n_layer > 0 && il < n_layer && use_more_bits(il, n_layer);
    if (n_expert == 8) {
        if (strstr(name, "attn_v.weight") || strstr(name, "attn_k.weight")) return TK_TYPE_Q8_0;
        if (strstr(name, "attn_output.weight")) return TK_TYPE_Q5_K;
    }
    if (strstr(name, "attn_v.weight")) return more ? TK_TYPE_Q6_K : t;
    if (strstr(name, "ffn_down")) return more ? TK_TYPE_Q6_K : t;
    if (strstr(name, "attn_qkv.weight")) return q5 ? TK_TYPE_Q6_K : TK_TYPE_Q5_K;
    return t;
}

static int fallback_type(int t)
{
    switch (t) {
    case TK_TYPE_Q2_K:
    case TK_TYPE_Q3_K:
    case TK_TYPE_IQ4_XS:
        return TK_TYPE_IQ4_NL;
    case TK_TYPE_Q4_K:
        return TK_TYPE_Q5_0;
    case TK_TYPE_Q5_K:
        return TK_TYPE_Q5_1;
    case TK_TYPE_Q6_K:
        return TK_TYPE_Q8_0;
    default:
        return TK_TYPE_F16;
    }
}

tk_quant_choice tk_quant_tensor_type(const tk_quant_scheme *s, const char *name, int n_dims,
                                     const int64_t *ne, int n_layer, bool has_output, int n_expert)
{
    tk_quant_choice c = {false, TK_TYPE_F32, TK_TYPE_F32, false};
    if (!s || !name || !ne || !is_quantizable(name, n_dims) || ne[0] <= 0) return c;
    c.quantize = true;
    c.wanted = s->mix ? mix_type(s, name, ne, n_layer, has_output, n_expert) : s->type;
    c.type = c.wanted;
    const tk_type_info *ti = tk_type_get(c.type);
    if (ne[0] % ti->block_size != 0) {
        c.fallback = true;
        c.type = fallback_type(c.type);
        if (ne[0] % tk_type_get(c.type)->block_size != 0) c.type = TK_TYPE_F16;
    }
    return c;
}
