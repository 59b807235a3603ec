/* The model runner: what every backend that runs a model through a forward
 * pass shares - finding the model, its tokenizer and chat template,
 * sessions with their own KV caches, the sampling loop with stop strings,
 * streaming, log-probabilities, cancel and metrics. A backend supplies only
 * its forward pass (runner_ops) and points its vtable at the runner_*
 * functions below; the gguf backend (tektra's CPU engine) and the MLX
 * backend both do. */
#ifndef TK_BACKEND_RUNNER_H
#define TK_BACKEND_RUNNER_H

#include "backend/backend.h"

#include "tektra/gguf.h"
#include "tektra/model.h"

/* A backend's forward pass. `model` and `ctx` are the backend's own
 * objects; the runner only passes them back. */
typedef struct runner_ops {
    /* TK_OK when the backend can read the model at `path` (a resolved file or
     * directory), else an error whose message says why not. */
    tk_status (*check)(const char *path);
    /* Loads the model at `path`; *model is freed with model_free. */
    tk_status (*load)(const char *path, const tk_platform *p, const tk_config *c, void **model);
    void (*model_free)(void *model);
    /* The model's metadata (tokenizer keys, chat template), borrowed: lives
     * as long as the model. */
    const tk_gguf *(*meta)(const void *model);
    int32_t (*n_vocab)(const void *model);
    int32_t (*n_ctx_train)(const void *model);
    const char *(*arch)(const void *model);
    uint64_t (*n_params)(const void *model);
    /* Bytes of the model's weights. */
    uint64_t (*size_bytes)(const void *model);
    /* Peak bytes the backend's allocator has held (0 when it has none of its
     * own; the runner then reports the process's peak RSS only). */
    uint64_t (*peak_memory)(void);

    /* A context: one KV cache of n_ctx positions, of the cache types
     * cfg->cache_type_k/v. `cancel` is polled during long decodes
     * (TK_ERR_CANCELLED). */
    tk_status (*ctx_create)(void *model, const tk_config *cfg, int32_t n_ctx, int32_t n_threads,
                            tk_cancel_fn cancel, void *cancel_user, void **ctx);
    void (*ctx_free)(void *ctx);
    /* As tk_context_decode: n tokens at positions n_past.., appended to the
     * cache; logits of the last token ([n_vocab]) or of all ([n][n_vocab]).
     * On error the cache is as before the call. */
    tk_status (*decode)(void *ctx, const int32_t *tokens, int n, float *logits, bool all_logits);
    /* Keeps the first n_past positions (as tk_context_truncate). */
    tk_status (*truncate)(void *ctx, int32_t n_past);
    void (*reset)(void *ctx);
    /* Bytes a context holds (its KV cache and buffers); NULL = unknown. */
    uint64_t (*ctx_memory)(const void *ctx);
} runner_ops;

/* The backend vtable's functions, shared. runner_create takes the backend's
 * forward pass; the others take what it made. */
tk_status runner_create(const runner_ops *ops, const tk_platform *p, const tk_config *c,
                        void **ctx);
void runner_destroy(void *ctx);
tk_status runner_load(void *ctx, const char *path);
bool runner_has_model(const void *ctx);
int64_t runner_n_ctx(const void *ctx);
const char *runner_model_name(const void *ctx);
/* The chat template in use (the model's or a built-in one), NULL without a model. */
const char *runner_chat_template(const void *ctx);
uint64_t runner_memory(const void *ctx);
void runner_model_info(const void *ctx, tk_model_info *out);

tk_status runner_session_create(void *ctx, void **session);
void runner_session_free(void *session);
tk_status runner_session_chat(void *session, const tk_message *msgs, int n_msgs,
                              const tk_gen_params *g, tk_stream_fn fn, void *user, tk_metrics *m);
tk_status runner_session_complete(void *session, const char *prompt, const tk_gen_params *g,
                                  tk_stream_fn fn, void *user, tk_metrics *m);
void runner_session_cancel(void *session);
tk_status runner_session_count(void *session, const tk_message *msgs, int n_msgs,
                               int64_t *n_tokens);
tk_status runner_session_decode(void *session, const int32_t *tokens, int n, float *logits,
                                bool all_logits);
void runner_session_reset(void *session);
uint64_t runner_session_memory(const void *session);

#endif
