/* Internal backend interface: a vtable plus a context. Adding a backend is
 * one file (or folder) defining a backend_vtable and one line in the
 * registry (registry.c). */
#ifndef TK_BACKEND_INTERNAL_H
#define TK_BACKEND_INTERNAL_H

#include "tektra/backend.h"

typedef struct backend_vtable {
    tk_backend_kind kind;
    const char *name;         /* "GGUF" */
    const char *display_name; /* "tektra CPU engine" */
    /* Whether the backend can run on `p`, given whether its code was compiled
     * in; writes a one-sentence reason either way. */
    bool (*available)(const tk_platform *p, bool compiled, char *reason, size_t size);
    /* Whether this build contains the backend's implementation. */
    bool compiled;
    /* Whether the backend can read the model at `path` (by its format). */
    bool (*can_read)(const char *path);
    /* When the backend is forced but unavailable on `p`: why, and what
     * works instead on this platform and build (steps that are true here,
     * not a list for every platform), into buf. NULL: the `available`
     * reason says it all. */
    void (*unavailable)(const tk_platform *p, bool compiled, char *buf, size_t size);

    tk_status (*create)(const tk_platform *p, const tk_config *c, void **ctx);
    void (*destroy)(void *ctx);
    /* TK_ERR_NOT_FOUND leaves the backend in its no-model mode. */
    tk_status (*load)(void *ctx, const char *path);
    bool (*has_model)(const void *ctx);
    int64_t (*n_ctx)(const void *ctx);
    const char *(*model_name)(const void *ctx);
    const char *(*chat_template)(const void *ctx); /* NULL = none */
    uint64_t (*memory)(const void *ctx);
    void (*model_info)(const void *ctx, tk_model_info *out);

    /* Sessions: one conversation each, with its own KV cache. */
    tk_status (*session_create)(void *ctx, void **session);
    void (*session_free)(void *session);
    tk_status (*session_chat)(void *session, const tk_message *msgs, int n_msgs,
                              const tk_gen_params *g, tk_stream_fn fn, void *user, tk_metrics *m);
    tk_status (*session_complete)(void *session, const char *prompt, const tk_gen_params *g,
                                  tk_stream_fn fn, void *user, tk_metrics *m);
    void (*session_cancel)(void *session);
    tk_status (*session_count)(void *session, const tk_message *msgs, int n_msgs,
                               int64_t *n_tokens);
    /* The forward pass alone, for tools (tk_session_decode, tk_session_reset). */
    tk_status (*session_decode)(void *session, const int32_t *tokens, int n, float *logits,
                                bool all_logits);
    void (*session_reset)(void *session);
    uint64_t (*session_memory)(const void *session); /* NULL = unknown */
} backend_vtable;

extern const backend_vtable backend_gguf;
extern const backend_vtable backend_mlx;

/* The registry entry for `kind` (not AUTO), or NULL. */
const backend_vtable *backend_find(tk_backend_kind kind);

/* Selection with the compiled-in state of MLX given explicitly, so tests can
 * describe a build with MLX on any machine. */
tk_status backend_select(tk_backend_kind requested, const tk_platform *p, const char *model_path,
                         bool mlx_compiled, tk_backend_choice *out);

/* Writes the answer the backend gives when it has no model: what was looked
 * for and where, how to get a model that fits `p`, how to point tektra at
 * it. Never an answer to the user's question itself. */
void backend_no_model_text(const tk_platform *p, const tk_config *c, const char *looked_for,
                           char *buf, size_t size);

/* Streams `text` through `fn` in small pieces (as a model would) and fills
 * the metrics of an answer that used no model. */
tk_status backend_stream_text(const char *text, tk_stream_fn fn, void *user, tk_metrics *m);

#endif
