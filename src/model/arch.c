/* The architecture table: one row of traits per supported architecture.
 *
 * Facts the rows encode (from the models' published configurations and the
 * GGUF conventions that converters follow):
 *  - llama stores Q and K with the rows of each head permuted by the
 *    converter so that RoPE rotates adjacent pairs; every other family here
 *    rotates the two halves of each head (NeoX style).
 *  - qwen2 has biases on Q, K and V; qwen3 and gemma3 normalize each Q and
 *    K head (RMSNorm with a [head_dim] weight) before RoPE.
 *  - The gemma family scales the embeddings by sqrt(n_embd) and uses GeGLU
 *    with the tanh approximation of GELU. Its RMSNorm weights are stored
 *    with the +1 already added by the converter, so they are used as is.
 *  - gemma2 and gemma3 normalize the output of attention and of the FFN
 *    before adding it to the residual. gemma2 alternates sliding-window and
 *    global layers (layer 0 local) and soft-caps attention scores and the
 *    final logits; gemma3 makes every 6th layer global and uses a RoPE base
 *    of 10000 on the local layers (the file's base is the global one).
 *  - gemma2/gemma3 scale queries by 1/sqrt(query_pre_attn_scalar); GGUF has
 *    no key for it. It equals the head size except in the 27B models (46
 *    and 62 layers), where it is n_embd / n_head.
 *  - qwen3moe is qwen3's attention with a mixture of experts in place of
 *    every FFN: softmax over the router's scores, the top k experts, their
 *    probabilities renormalised to sum to 1 (norm_topk_prob in the HF
 *    configuration; GGUF files of it carry no key, the reference engine
 *    renormalises).
 *  - phi3 stores Q, K, V in one matrix and gate and up in one matrix. Its
 *    configurations name a sliding window without saying which layers use
 *    it; like the reference engine we attend over the whole context.
 */
#include "model/model.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const model_arch arches[] = {
    {
        .name = "llama",
        .rope = MODEL_ROPE_NORM,
        .act = MODEL_ACT_SILU,
    },
    {
        .name = "qwen2",
        .rope = MODEL_ROPE_NEOX,
        .act = MODEL_ACT_SILU,
        .qkv_bias = true,
    },
    {
        .name = "qwen3",
        .rope = MODEL_ROPE_NEOX,
        .act = MODEL_ACT_SILU,
        .qk_norm = true,
    },
    {
        .name = "gemma",
        .rope = MODEL_ROPE_NEOX,
        .act = MODEL_ACT_GELU,
        .embd_scale = true,
    },
    {
        .name = "gemma2",
        .rope = MODEL_ROPE_NEOX,
        .act = MODEL_ACT_GELU,
        .embd_scale = true,
        .post_norms = true,
        .softcaps = true,
        .swa = MODEL_SWA_PATTERN,
        .swa_period = 2,
        .swa_default = 4096,
        .layers_pre_attn_embd = 46,
    },
    {
        .name = "gemma3",
        .rope = MODEL_ROPE_NEOX,
        .act = MODEL_ACT_GELU,
        .embd_scale = true,
        .post_norms = true,
        .qk_norm = true,
        .swa = MODEL_SWA_PATTERN,
        .swa_period = 6,
        .rope_base_swa = 10000.0f,
        .layers_pre_attn_embd = 62,
    },
    {
        .name = "phi3",
        .rope = MODEL_ROPE_NEOX,
        .act = MODEL_ACT_SILU,
        .fused_qkv = true,
        .fused_gate_up = true,
    },
    {
        .name = "qwen3moe",
        .rope = MODEL_ROPE_NEOX,
        .act = MODEL_ACT_SILU,
        .qk_norm = true,
        .gating = MODEL_GATING_SOFTMAX,
        .moe_norm_w = true,
    },
};

const model_arch *model_arch_find(const char *name)
{
    for (size_t i = 0; i < TK_ARRAY_LEN(arches); i++)
        if (strcmp(arches[i].name, name) == 0) return &arches[i];
    return NULL;
}

static char arch_list[256];
static pthread_once_t arch_list_once = PTHREAD_ONCE_INIT;

static void arch_list_build(void)
{
    size_t used = 0;
    for (size_t i = 0; i < TK_ARRAY_LEN(arches); i++) {
        int w = snprintf(arch_list + used, sizeof arch_list - used, "%s%s", i ? ", " : "",
                         arches[i].name);
        if (w < 0 || (size_t)w >= sizeof arch_list - used) break;
        used += (size_t)w;
    }
}

const char *model_arch_list(void)
{
    pthread_once(&arch_list_once, arch_list_build);
    return arch_list;
}
