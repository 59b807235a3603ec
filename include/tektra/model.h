/* tektra model: decoder-only transformers from GGUF files on the CPU.
 *
 * A tk_model is a validated, memory-mapped model file: the hyper-parameters
 * of its architecture and views of its weights (used in place). A
 * tk_context is one conversation's state on a model: the KV cache and the
 * work buffers, all sized when it is created, so decoding allocates
 * nothing. Several contexts may share one model; a model is read-only after
 * loading and may be used from several threads, each context from one
 * thread at a time.
 *
 * Supported architectures: llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3
 * (tk_model_archs()), with weights in any tensor type of tektra/quant.h that
 * has a dequantize function.
 */
#ifndef TEKTRA_MODEL_H
#define TEKTRA_MODEL_H

#include "tektra/core.h"

#include <stdbool.h>
#include "tektra/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_model tk_model;
typedef struct tk_context tk_context;

/* ---- model ------------------------------------------------------------- */

/* Opens, maps and validates the GGUF model at `path`. Every tensor the
 * architecture needs is checked for presence, type and shape; the
 * hyper-parameters are checked against each other and against limits.
 * Errors: TK_ERR_NOT_FOUND / TK_ERR_IO (file), TK_ERR_FORMAT (bad file,
 * missing or wrongly shaped tensor: the message names the tensor, the shape
 * found and the shape expected), TK_ERR_UNSUPPORTED (architecture or tensor
 * type: the message lists what is supported), TK_ERR_LIMIT.
 * On success *out is owned by the caller: free with tk_model_free(). */
tk_status tk_model_load(const char *path, tk_model **out);

/* Options of tk_model_load_ex(); zero-initialise for the defaults. */
typedef struct tk_model_load_opts {
    /* Skip the check of every weight for NaN and infinities and of the norm
     * vectors for all zeros (by default a model with such a tensor is
     * refused with TK_ERR_NONFINITE, naming the tensor and the first bad
     * index). */
    bool skip_tensor_check;
} tk_model_load_opts;

/* tk_model_load() with options (`opts` may be NULL for the defaults). */
tk_status tk_model_load_ex(const char *path, const tk_model_load_opts *opts, tk_model **out);

/* Frees the model and unmaps the file. Every context of the model must have
 * been freed first. NULL is fine. */
void tk_model_free(tk_model *m);

/* The reader of the model's file, e.g. for loading the tokenizer from it.
 * Borrowed: lives as long as the model. */
const tk_gguf *tk_model_gguf(const tk_model *m);

/* "llama", "gemma2", ... (borrowed, static). */
const char *tk_model_arch(const tk_model *m);
/* The supported architectures, comma-separated ("llama, qwen2, ..."). */
const char *tk_model_archs(void);

int32_t tk_model_n_vocab(const tk_model *m);
int32_t tk_model_n_ctx_train(const tk_model *m);
int32_t tk_model_n_embd(const tk_model *m);
int32_t tk_model_n_layer(const tk_model *m);
/* Number of weights (elements of all tensors of the file). */
uint64_t tk_model_n_params(const tk_model *m);
/* Bytes of tensor data in the file. */
uint64_t tk_model_size_bytes(const tk_model *m);
/* Mixture of experts: experts per layer and experts each token uses (0 and
 * 0 for a dense model). */
int32_t tk_model_n_expert(const tk_model *m);
int32_t tk_model_n_expert_used(const tk_model *m);
/* Bytes of weights generating one token reads, as stored in the file: every
 * tensor but the embedding table (one row of it is read; unless the output
 * matrix is the embedding table), and of a mixture's expert tensors only
 * the share of the experts a token uses (n_expert_used / n_expert). */
uint64_t tk_model_active_bytes(const tk_model *m);

/* ---- context ----------------------------------------------------------- */

/* Called between layers of a long decode; returning true stops it with
 * TK_ERR_CANCELLED. Called from the decoding thread. */
typedef bool (*tk_cancel_fn)(void *user);

typedef struct tk_context_params {
    int32_t n_ctx;       /* positions in the KV cache; 0 = training context, at most 4096 */
    int32_t n_batch;     /* most tokens per forward pass (buffers are sized from it); 0 = 512 */
    int32_t n_threads;   /* worker threads, the caller's included; 0 = physical cores (max 16) */
    int32_t type_k;      /* the K cache: TK_TYPE_F16, F32, Q8_0 or Q4_0 */
    int32_t type_v;      /* the V cache: the same types (Q8_0/Q4_0 need head sizes
                          * that are multiples of 32) */
    tk_cancel_fn cancel; /* NULL = never cancelled */
    void *cancel_user;   /* passed to cancel, borrowed */
    uint64_t max_memory; /* bytes the context may take; 0 = the memory available now */
} tk_context_params;

/* Defaults: n_ctx 0, n_batch 512, n_threads 0, type_k and type_v
 * TK_TYPE_F16 (half the memory of F32; it matches the reference engine's F16
 * cache better than an F32 cache does), no cancel callback. */
tk_context_params tk_context_default_params(void);

/* The KV cache types by name: "f16", "f32", "q8_0", "q4_0" (NULL / -1 for
 * any other; names are case-insensitive). */
const char *tk_cache_type_name(int32_t type);
int32_t tk_cache_type_from_name(const char *name);

/* Bytes of the context's KV cache; *f16_bytes (when not NULL) gets what an
 * F16 cache of the same size would take. */
uint64_t tk_context_kv_bytes(const tk_context *c, uint64_t *f16_bytes);

/* Creates a context on `m` (borrowed: must outlive the context). `p` may be
 * NULL for the defaults. Allocates the KV cache, the work buffers and the
 * worker threads, all of it now: the cache's pages are touched, so a
 * context that does not fit fails here, never during a decode. The size is
 * logged (TK_LOG_INFO). Errors: TK_ERR_INVALID_ARG (bad parameter, named),
 * TK_ERR_NOMEM (with the bytes needed, of the KV cache and the buffers, and
 * the bytes allowed: max_memory, or the memory available), TK_ERR_OVERFLOW.
 * On success *out is owned by the caller: free with tk_context_free(). */
tk_status tk_context_create(tk_model *m, const tk_context_params *p, tk_context **out);

/* Stops the worker threads and frees the context. NULL is fine. */
void tk_context_free(tk_context *c);

/* Runs the model on `n` tokens (n >= 1) placed at positions n_past ..
 * n_past + n - 1, in passes of at most n_batch tokens, and appends them to
 * the KV cache. A prompt (large n) and generation (n = 1) go through the
 * same code.
 *
 * logits: NULL (nothing computed beyond the cache), or, with all_logits,
 * n * n_vocab floats ([n][n_vocab], row i after token i), or, without,
 * n_vocab floats for the last token. Borrowed, written only.
 *
 * Errors: TK_ERR_INVALID_ARG (token id outside [0, n_vocab), n < 1),
 * TK_ERR_CONTEXT_FULL (n_past + n > n_ctx; the message gives the numbers),
 * TK_ERR_CANCELLED. On any error n_past is unchanged and the tokens of this
 * call are not in the cache. */
tk_status tk_context_decode(tk_context *c, const int32_t *tokens, int n, float *logits,
                            bool all_logits);

/* Tokens in the KV cache. */
int32_t tk_context_n_past(const tk_context *c);
int32_t tk_context_n_ctx(const tk_context *c);
int32_t tk_context_n_threads(const tk_context *c);

/* Keeps the first `n_past` positions of the cache and drops the rest, so a
 * conversation that shares a prefix with the previous one reuses it.
 * TK_ERR_INVALID_ARG when n_past is negative or above tk_context_n_past. */
tk_status tk_context_truncate(tk_context *c, int32_t n_past);

/* Empties the cache (n_past = 0). */
void tk_context_reset(tk_context *c);

/* Bytes the context allocated (KV cache and buffers). */
uint64_t tk_context_memory(const tk_context *c);

/* The model of the context (borrowed). */
const tk_model *tk_context_model(const tk_context *c);

#ifdef __cplusplus
}
#endif
#endif
