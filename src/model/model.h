/* Internal pieces of the model module: architecture traits, the loaded
 * model, the thread pool and the context. */
#ifndef TK_MODEL_INTERNAL_H
#define TK_MODEL_INTERNAL_H

#include "tektra/model.h"
#include "tektra/quant.h"

#include "core/core.h"
#include "kernels/kernels.h"

#include <pthread.h>

#define MODEL_MAX_LAYERS      512
#define MODEL_MAX_EMBD        (1 << 16)
#define MODEL_MAX_FF          (1 << 20)
#define MODEL_MAX_HEADS       1024
#define MODEL_MAX_HEAD_DIM    1024
#define MODEL_MAX_VOCAB       (1 << 22)
#define MODEL_MAX_CTX         (1 << 24)
#define MODEL_MAX_THREADS     256
#define MODEL_DEFAULT_N_CTX   4096
#define MODEL_DEFAULT_N_BATCH 512

typedef enum model_rope_style {
    MODEL_ROPE_NORM, /* rotates pairs (2i, 2i+1) */
    MODEL_ROPE_NEOX, /* rotates pairs (i, i + n_rot/2) */
} model_rope_style;

typedef enum model_act {
    MODEL_ACT_SILU, /* SwiGLU: silu(gate) * up */
    MODEL_ACT_GELU, /* GeGLU: gelu(gate) * up, tanh approximation */
} model_act;

/* Which layers use a sliding attention window. */
typedef enum model_swa {
    MODEL_SWA_NONE,
    MODEL_SWA_ALL,     /* every layer, when the file sets a window (phi3) */
    MODEL_SWA_PATTERN, /* layer il is local unless (il + 1) % swa_period == 0 */
} model_swa;

/* One row per architecture: everything in which the architectures differ,
 * as data. The forward pass reads these and nothing else. */
typedef struct model_arch {
    const char *name;
    model_rope_style rope;
    model_act act;
    bool qkv_bias;      /* attn_{q,k,v}.bias required */
    bool qk_norm;       /* attn_{q,k}_norm.weight: RMSNorm per head before RoPE */
    bool post_norms;    /* post_attention_norm, post_ffw_norm after each block */
    bool fused_qkv;     /* attn_qkv.weight holds Q, K, V stacked */
    bool fused_gate_up; /* ffn_up.weight holds gate then up (2 * n_ff rows) */
    bool embd_scale;    /* embeddings times sqrt(n_embd) */
    bool softcaps;      /* {arch}.attn_logit_softcapping / final_logit_softcapping */
    model_swa swa;
    int swa_period;           /* MODEL_SWA_PATTERN: every swa_period-th layer is global */
    int swa_default;          /* window when the file has no sliding_window key; 0 = key required */
    float rope_base_swa;      /* RoPE base of the local layers; 0 = same as global */
    int layers_pre_attn_embd; /* layer count of the size whose query scale is
                               * 1/sqrt(n_embd/n_head) instead of 1/sqrt(head_dim) */
} model_arch;

/* The row for `name`, or NULL. */
const model_arch *model_arch_find(const char *name);
/* "llama, qwen2, ..." (static, built from the table). */
const char *model_arch_list(void);

/* A weight matrix as the forward pass uses it: a view into the mapped file. */
typedef struct model_tensor {
    const void *data; /* borrowed from the mapping; NULL when absent */
    int type;         /* tk_type; the kernel table has a matmul for it */
    int64_t cols;     /* ne[0]: elements per row */
    int64_t rows;     /* ne[1] */
    size_t row_bytes;
} model_tensor;

/* Vectors (norm weights, biases) are F32: views into the mapping when the
 * file stores them as F32, converted copies owned by the model otherwise.
 * NULL when absent. */
typedef struct model_layer {
    const float *attn_norm;    /* [n_embd] */
    model_tensor wq, wk, wv;   /* [n_embd] -> [n_head hd_k], [n_head_kv hd_k], [n_head_kv hd_v] */
    model_tensor wqkv;         /* fused_qkv: [n_embd] -> [n_q + n_embd_k + n_embd_v] */
    const float *bq, *bk, *bv; /* optional biases, [rows of wq, wk, wv] */
    const float *bqkv;         /* optional bias of wqkv */
    const float *q_norm, *k_norm; /* [hd_k] */
    model_tensor wo;              /* [n_head hd_v] -> [n_embd] */
    const float *bo;              /* optional [n_embd] */
    const float *post_attn_norm;  /* [n_embd] */
    const float *ffn_norm;        /* [n_embd] */
    model_tensor w_gate, w_up;    /* [n_embd] -> [n_ff]; fused: w_up [n_embd] -> [2 n_ff] */
    model_tensor w_down;          /* [n_ff] -> [n_embd] */
    const float *post_ffn_norm;   /* [n_embd] */
    bool swa;                     /* this layer attends over the sliding window only */
    float rope_base;              /* RoPE base frequency of this layer */
    float rope_scale;             /* position multiplier (1 / linear scaling factor) */
    bool rope_factors;            /* the model's frequency factors apply to this layer */
} model_layer;

struct tk_model {
    tk_gguf *gguf;          /* owned */
    const model_arch *arch; /* static row */

    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_ff;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim_k; /* key/query head size */
    int32_t head_dim_v; /* value head size */
    int32_t n_rot;      /* dimensions rotated by RoPE (<= head_dim_k, even) */
    int32_t n_swa;      /* sliding window in positions (0 = none) */
    int32_t n_ctx_orig; /* context the long/short RoPE factors switch at */
    float norm_eps;
    float attn_scale;       /* multiplies q . k */
    float attn_softcap;     /* 0 = none */
    float final_softcap;    /* 0 = none */
    float embd_scale;       /* multiplies the embeddings (1 = none) */
    float rope_attn_factor; /* multiplies cos and sin (1 = none) */

    model_tensor tok_embd;    /* [n_embd] x n_vocab rows, any dequantizable type */
    const float *output_norm; /* [n_embd] */
    model_tensor output;      /* [n_embd] -> [n_vocab]; tok_embd when tied */
    const float *rope_freqs;  /* optional [n_rot/2]: divides each frequency */
    const float *rope_long;   /* optional [n_rot/2], for n_ctx > n_ctx_orig */
    model_layer *layers;      /* [n_layer], owned */

    float *vec_arena; /* owned: converted vectors */
    size_t vec_arena_len, vec_arena_used;

    uint64_t n_params;
    uint64_t size_bytes;
    int64_t max_cols; /* widest matrix row (scratch sizing) */
    const kernels_t *kern;
};

/* ---- thread pool ------------------------------------------------------- */

/* Runs `fn(arg, ith, nth)` on nth threads at once (the caller is thread 0)
 * and returns when all have finished. */
typedef void (*model_pool_fn)(void *arg, int ith, int nth);

typedef struct model_pool model_pool;

/* Starts n - 1 worker threads (n >= 1). */
tk_status model_pool_create(int n, model_pool **out);
void model_pool_free(model_pool *p);
void model_pool_run(model_pool *p, model_pool_fn fn, void *arg);
int model_pool_size(const model_pool *p);

/* ---- context ----------------------------------------------------------- */

struct tk_context {
    tk_model *model; /* borrowed */
    tk_context_params params;
    int32_t n_ctx;
    int32_t n_batch;
    int32_t n_past;
    int n_threads;
    model_pool *pool; /* owned */

    int kv_type;      /* TK_TYPE_F16 or TK_TYPE_F32 */
    size_t kv_elt;    /* bytes per cache element */
    int64_t n_embd_k; /* n_head_kv * head_dim_k */
    int64_t n_embd_v; /* n_head_kv * head_dim_v */
    void *k_cache;    /* [n_layer][n_ctx][n_embd_k], kv_type */
    void *v_cache;    /* [n_layer][n_ctx][n_embd_v], kv_type */

    /* Work buffers for n_batch tokens. */
    float *x;                  /* [n_batch][n_embd] residual stream */
    float *xb;                 /* [n_batch][n_embd] normed input / block output */
    int64_t qkv_ld;            /* n_q + n_embd_k + n_embd_v */
    float *qkv;                /* [n_batch][qkv_ld]: q | k | v */
    float *att;                /* [n_batch][n_head * head_dim_v] */
    float *ffn;                /* [n_batch][2 n_ff]: gate | up */
    float *scratch;            /* [n_threads][scratch_floats] */
    size_t scratch_floats;     /* per thread: max(kernel scratch, n_ctx scores, n_rot) */
    const float *rope_factors; /* the model's RoPE frequency factors for this n_ctx, or NULL */

    uint64_t memory;
};

#endif
