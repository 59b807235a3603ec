/* The MLX backend's model and forward pass (only with TEKTRA_HAVE_MLX).
 *
 * model.c    loading a model directory: hyper-parameters from the
 *            directory's metadata (tk_model_dir_open_meta), weights with
 *            mlx-c's safetensors loader as stored (MLX affine uint32-packed
 *            weights with scales and biases, or bf16/f16/f32), checked
 *            against the architecture
 * forward.c  contexts (KV caches as MLX arrays) and the forward pass
 *
 * Every MLX call is serialized by one process-wide lock (mlxb_lock): MLX's
 * graph evaluation is not meant to be driven from several threads at once. */
#ifndef TK_BACKEND_MLXB_H
#define TK_BACKEND_MLXB_H

#include "backend/mlx/mx.h"
#include "tektra/gguf.h"
#include "tektra/model.h"

/* What distinguishes the architectures (Hugging Face modelling code). */
typedef struct mlxb_arch {
    const char *name;   /* general.architecture */
    bool qkv_bias;      /* qwen2 */
    bool qk_norm;       /* RMSNorm of q and k per head (qwen3, gemma3) */
    bool norm_plus_one; /* norms scale by (1 + w) (gemma*) */
    bool post_norms;    /* post-attention and post-feed-forward norms (gemma2/3) */
    bool embd_scale;    /* embeddings times sqrt(n_embd) (gemma*) */
    bool gelu;          /* gelu (tanh approximation) instead of silu (gemma*) */
    bool fused;         /* qkv_proj and gate_up_proj (phi3) */
    int swa_pattern;    /* 0: no sliding window; n: layers i with i % n != n - 1
                           slide (gemma3: 6); 2: even layers slide (gemma2) */
} mlxb_arch;

/* A linear layer: y = x W^T (+ bias). */
typedef struct mlxb_linear {
    mlx_array w;              /* [n_out][n_in] as stored, or [n_out][n_in*bits/32] uint32 */
    mlx_array scales, biases; /* [n_out][n_in/group] float32 (quantized only) */
    mlx_array bias;           /* [n_out] float32, or empty */
    int bits, group;          /* 0 when not quantized */
    int n_in, n_out;
} mlxb_linear;

typedef struct mlxb_layer {
    mlx_array attn_norm, ffn_norm;           /* [n_embd] float32 (+1 applied) */
    mlx_array post_attn_norm, post_ffn_norm; /* gemma2/3, else empty */
    mlx_array q_norm, k_norm;                /* [head_dim], qk_norm only */
    mlxb_linear q, k, v, o;                  /* or qkv (fused) */
    mlxb_linear gate, up, down;              /* or gate_up (fused) */
    bool sliding;                            /* sliding-window attention */
    float rope_base, rope_scale;
} mlxb_layer;

typedef struct mlxb_model {
    const mlxb_arch *arch;
    tk_gguf *meta; /* metadata and tokenizer (owned) */
    mlx_stream stream;
    int n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim, n_rot, n_vocab, n_ctx_train;
    float eps, rope_scale, attn_scale, attn_softcap, final_softcap;
    int sliding_window;        /* 0 = none */
    mlxb_linear embed, output; /* output shares embed's arrays when tied */
    mlx_array out_norm;
    mlxb_layer *layers;          /* [n_layer] */
    mlx_map_string_to_array map; /* every tensor as loaded (owns them) */
    mlx_array *owned;            /* arrays made while loading (float32 copies) */
    int n_owned, cap_owned;
    uint64_t size_bytes, n_params;
} mlxb_model;

/* The process-wide MLX lock. */
void mlxb_lock(void);
void mlxb_unlock(void);

/* Loads the model directory `dir` (lock held by the caller). */
tk_status mlxb_model_load(const char *dir, mlxb_model **out);
void mlxb_model_free(mlxb_model *m);

typedef struct mlxb_ctx mlxb_ctx;

tk_status mlxb_ctx_create(mlxb_model *m, int32_t n_ctx, tk_cancel_fn cancel, void *cancel_user,
                          mlxb_ctx **out);
void mlxb_ctx_free(mlxb_ctx *c);
tk_status mlxb_decode(mlxb_ctx *c, const int32_t *tokens, int n, float *logits, bool all_logits);
tk_status mlxb_truncate(mlxb_ctx *c, int32_t n_past);
void mlxb_reset(mlxb_ctx *c);

#endif
