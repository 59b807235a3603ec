/* Internal pieces of the model module: architecture traits, the loaded
 * model, the thread pool and the context. */
#ifndef TK_MODEL_INTERNAL_H
#define TK_MODEL_INTERNAL_H

#include "tektra/model.h"
#include "tektra/quant.h"

#include "core/core.h"
#include "core/os.h"
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdatomic.h>

#define MODEL_MAX_LAYERS      512
#define MODEL_MAX_EMBD        (1 << 16)
#define MODEL_MAX_FF          (1 << 20)
#define MODEL_MAX_HEADS       1024
#define MODEL_MAX_HEAD_DIM    1024
#define MODEL_MAX_VOCAB       (1 << 22)
#define MODEL_MAX_CTX         (1 << 24)
#define MODEL_MAX_THREADS     256
#define MODEL_MAX_EXPERTS     1024
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

/* How a mixture-of-experts FFN turns router scores into expert weights. */
typedef enum model_gating {
    MODEL_GATING_NONE,    /* a dense FFN: no experts */
    MODEL_GATING_SOFTMAX, /* softmax over all experts, then the top k (qwen3moe) */
} model_gating;

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
    /* Mixture of experts (gating != NONE): every layer's FFN is a linear
     * router ffn_gate_inp [n_embd] -> [n_expert] choosing expert_used_count
     * of expert_count gated FFNs (ffn_{gate,up,down}_exps, 3-D), whose
     * outputs are summed with the router's weights. */
    model_gating gating;
    bool moe_norm_w; /* the k weights renormalised to sum to 1 (default of the
                      * {arch}.expert_weights_norm key) */
} model_arch;

/* The row for `name`, or NULL. */
const model_arch *model_arch_find(const char *name);
/* "llama, qwen2, ..." (static, built from the table). */
const char *model_arch_list(void);

/* A weight matrix as the forward pass uses it: a view into the mapped file,
 * or into the model's packed copy when the kernel level packs its type
 * (kernels_mat.packed). */
typedef kernels_mat model_tensor;

/* Vectors (norm weights, biases) are F32 copies owned by the model (its
 * vec_arena), whatever the file's type, so no page of the file has to stay
 * resident for them. NULL when absent. */
typedef struct model_layer {
    const float *attn_norm; /* [n_embd] */
    /* [n_embd] -> [n_head hd_k], [n_head_kv hd_k], [n_head_kv hd_v]; with
     * fused_qkv, views of the row ranges of attn_qkv.weight. */
    model_tensor wq, wk, wv;
    const float *bq, *bk, *bv;    /* optional biases, [rows of wq, wk, wv] */
    const float *q_norm, *k_norm; /* [hd_k] */
    model_tensor wo;              /* [n_head hd_v] -> [n_embd] */
    const float *bo;              /* optional [n_embd] */
    const float *post_attn_norm;  /* [n_embd] */
    const float *ffn_norm;        /* [n_embd] */
    model_tensor w_gate, w_up;    /* [n_embd] -> [n_ff]; fused: the two halves of ffn_up */
    model_tensor w_down;          /* [n_ff] -> [n_embd] */
    const float *post_ffn_norm;   /* [n_embd] */
    bool swa;                     /* this layer attends over the sliding window only */
    float rope_base;              /* RoPE base frequency of this layer */
    float rope_scale;             /* position multiplier (1 / linear scaling factor) */
    bool rope_factors;            /* the model's frequency factors apply to this layer */

    /* Mixture of experts (instead of w_gate, w_up, w_down): expert e of a
     * 3-D tensor is the 2-D matrix at byte offset e * (bytes per expert). */
    model_tensor w_router;   /* [n_embd] -> [n_expert] */
    model_tensor *gate_exps; /* [n_expert] matrices [n_embd] -> [n_ff_exp], or NULL */
    model_tensor *up_exps;   /* [n_expert] matrices [n_embd] -> [n_ff_exp] */
    model_tensor *down_exps; /* [n_expert] matrices [n_ff_exp] -> [n_embd] */
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
    int32_t n_expert;       /* experts per layer (0 = dense FFN) */
    int32_t n_expert_used;  /* experts each token goes to */
    int32_t n_ff_exp;       /* hidden size of one expert */
    bool moe_norm_w;        /* renormalise the selected experts' weights */

    model_tensor tok_embd;    /* [n_embd] x n_vocab rows, any dequantizable type */
    const float *output_norm; /* [n_embd] */
    model_tensor output;      /* [n_embd] -> [n_vocab]; tok_embd when tied */
    bool tied_output;         /* output is tok_embd (then embeddings are read from
                               * output, which may be packed) */
    const float *rope_freqs;  /* optional [n_rot/2]: divides each frequency */
    const float *rope_long;   /* optional [n_rot/2], for n_ctx > n_ctx_orig */
    model_layer *layers;      /* [n_layer], owned */
    model_tensor *experts;    /* owned: [n_layer][3][n_expert], the layers' *_exps */

    bool check_tensors; /* while loading: refuse non-finite weights, all-zero norms */
    float *vec_arena;   /* owned: converted vectors */
    size_t vec_arena_len, vec_arena_used;
    void *packed;       /* owned: packed copies of the matrices whose type the kernels pack */
    size_t packed_size; /* bytes */

    uint64_t n_params;
    uint64_t size_bytes;
    int64_t max_cols;      /* widest matrix row (scratch sizing) */
    const kernels_t *kern; /* the process's kernel level (static) */
};

/* The routing of one token (moe.c): probs = softmax(scores) over n_expert
 * (probs may alias scores); sel[0..k) the k experts of highest probability,
 * best first, ties to the lower index; w[j] their probabilities, divided by
 * their sum when norm_w. 1 <= k <= n_expert <= MODEL_MAX_EXPERTS. */
void moe_route(const float *scores, int n_expert, int k, bool norm_w, float *probs, int32_t *sel,
               float *w);

/* ---- thread pool ------------------------------------------------------- */

/* Runs `fn(arg, ith, nth)` on nth threads at once (the caller is thread 0)
 * and returns when all have finished. */
typedef void (*model_pool_fn)(void *arg, int ith, int nth);

typedef struct model_pool model_pool;

/* Starts n - 1 worker threads (n >= 1). */
tk_status model_pool_create(int n, model_pool **out);
void model_pool_free(model_pool *p);
void model_pool_run(model_pool *p, model_pool_fn fn, void *arg);
/* Inside a job: returns when all nth threads have called it (spin, then
 * yield). Every thread must call it the same number of times. */
void model_pool_barrier(model_pool *p);
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

    int k_type, v_type;   /* TK_TYPE_F16, F32, Q8_0 or Q4_0 */
    int64_t n_embd_k;     /* n_head_kv * head_dim_k */
    int64_t n_embd_v;     /* n_head_kv * head_dim_v */
    int64_t kv_blocks;    /* n_ctx / 16, rounded up */
    size_t k_block_bytes; /* one head's block of 16 keys (kernels_k_block_bytes) */
    size_t v_head_bytes;  /* one head's value of one position (kernels_v_row_bytes) */
    size_t v_row_bytes;   /* n_head_kv * v_head_bytes */
    /* Keys transposed in blocks of 16 positions (see kernels_attn):
     * [n_layer][n_head_kv][kv_blocks] blocks of k_block_bytes; values by
     * position: [n_layer][n_ctx] rows of v_row_bytes, head h at
     * h * v_head_bytes. */
    void *k_cache;
    void *v_cache;

    /* Work buffers for n_batch tokens. */
    float *x;                  /* [n_batch][n_embd] residual stream */
    float *xb;                 /* [n_batch][n_embd] normed input / block output */
    int64_t qkv_ld;            /* n_q + n_embd_k + n_embd_v */
    float *qkv;                /* [n_batch][qkv_ld]: q | k | v */
    float *att;                /* [n_batch][n_head * head_dim_v] */
    float *ffn;                /* [n_batch][n_ff]: act(gate) * up, when a down matrix
                                * reads floats (else unused, minimal) */
    float *up;                 /* [n_threads][2][n_batch][32]: gate and up rows of one unit */
    void *act;                 /* [n_batch][act_stride]: quantized inputs of the products
                                * other than the down matrices */
    size_t act_stride;         /* kernels_act_bytes(widest such input) */
    void *act_ffn;             /* [n_batch][act_ffn_stride]: quantized act(gate) * up */
    size_t act_ffn_stride;     /* kernels_act_bytes(n_ff), or 0 */
    float *attn_part;          /* the attention's partials (model/attention.h) */
    void *scratch;             /* [n_threads][scratch_bytes], 64-byte aligned */
    size_t scratch_bytes;      /* per thread */
    const float *rope_factors; /* the model's RoPE frequency factors for this n_ctx, or NULL */
    _Atomic int64_t chunk[2];  /* work counters of the matmul steps (alternating) */

    /* Mixture of experts (moe.c; all NULL for a dense model). A batch's
     * (token, expert) pairs are "slots", grouped by expert: the slots of
     * expert e are [moe_off[e], moe_off[e + 1]). n_batch * n_expert_used
     * slots at most. */
    float *moe_logits;   /* [n_batch][n_expert] router scores, then probabilities */
    int32_t *moe_sel;    /* [n_batch][n_expert_used] chosen experts, best first */
    float *moe_w;        /* [n_batch][n_expert_used] their weights */
    int32_t *moe_off;    /* [n_expert + 1] */
    int32_t *moe_active; /* [n_expert] experts with slots, ascending; moe_n_active of them */
    int32_t moe_n_active;
    int32_t *moe_tok;    /* [slots] the token of each slot */
    int32_t *moe_slot;   /* [n_batch][n_expert_used] the slot of each choice */
    void *moe_x;         /* [slots][moe_x_stride] inputs, quantized or float */
    size_t moe_x_stride; /* bytes */
    size_t moe_x_f32;    /* offset of the float form in a slot of moe_x */
    void *moe_h;         /* [slots][moe_h_stride] act(gate) * up, quantized or float */
    size_t moe_h_stride; /* bytes */
    float *moe_y;        /* [slots][n_embd] expert outputs */

    uint64_t memory;
};

#endif
