/* The gguf backend: GGUF files on the CPU with tektra's own engine. Without
 * a model it answers every message with how to get one. */
#include "backend/backend.h"

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct gguf_backend {
    tk_platform platform;
    tk_config config;
    char looked_for[1200]; /* the model name load() could not find, "" when none was given */
} gguf_backend;

static bool gguf_available(const tk_platform *p, bool compiled, char *reason, size_t size)
{
    (void)p;
    (void)compiled;
    snprintf(reason, size, "Available (cross-platform - works on all systems)");
    return true;
}

/* A GGUF file starts with the magic "GGUF". */
static bool gguf_can_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

static tk_status gguf_create(const tk_platform *p, const tk_config *c, void **ctx)
{
    gguf_backend *b = calloc(1, sizeof *b);
    if (!b) return core_error(TK_ERR_NOMEM, "out of memory");
    b->platform = *p;
    b->config = *c;
    b->looked_for[0] = '\0';
    *ctx = b;
    return TK_OK;
}

static void gguf_destroy(void *ctx)
{
    free(ctx);
}

static tk_status gguf_load(void *ctx, const char *path)
{
    gguf_backend *b = ctx;
    if (!path || !*path) {
        b->looked_for[0] = '\0';
        return core_error(TK_ERR_NOT_FOUND, "no model configured");
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        core_strlcpy(b->looked_for, path, sizeof b->looked_for);
        return core_error(TK_ERR_NOT_FOUND, "model file '%s' not found", path);
    }
    if (!gguf_can_read(path))
        return core_error(TK_ERR_FORMAT, "'%s' is not a GGUF file (no GGUF magic)", path);
    return core_error(TK_ERR_UNSUPPORTED, "'%s': the CPU engine cannot run models yet", path);
}

static bool gguf_has_model(const void *ctx)
{
    (void)ctx;
    return false;
}

static int64_t gguf_n_ctx(const void *ctx)
{
    (void)ctx;
    return 0;
}

static const char *gguf_model_name(const void *ctx)
{
    (void)ctx;
    return "";
}

static uint64_t gguf_memory(const void *ctx)
{
    (void)ctx;
    return 0;
}

/* ---- sessions ------------------------------------------------------------ */

typedef struct gguf_session {
    gguf_backend *b;
} gguf_session;

static tk_status gguf_session_create(void *ctx, void **out)
{
    gguf_session *s = calloc(1, sizeof *s);
    if (!s) return core_error(TK_ERR_NOMEM, "out of memory");
    s->b = ctx;
    *out = s;
    return TK_OK;
}

static void gguf_session_free(void *session)
{
    free(session);
}

static tk_status answer_without_model(gguf_session *s, tk_stream_fn fn, void *user,
                                      tk_metrics *m)
{
    char text[4096];
    backend_no_model_text(&s->b->platform, &s->b->config, s->b->looked_for, text, sizeof text);
    return backend_stream_text(text, fn, user, m);
}

static tk_status gguf_session_chat(void *session, const tk_message *msgs, int n_msgs,
                                   const tk_gen_params *g, tk_stream_fn fn, void *user,
                                   tk_metrics *m)
{
    (void)msgs;
    (void)n_msgs;
    (void)g;
    return answer_without_model(session, fn, user, m);
}

static tk_status gguf_session_complete(void *session, const char *prompt, const tk_gen_params *g,
                                       tk_stream_fn fn, void *user, tk_metrics *m)
{
    (void)prompt;
    (void)g;
    return answer_without_model(session, fn, user, m);
}

static void gguf_session_cancel(void *session)
{
    (void)session;
}

static tk_status gguf_session_count(void *session, const tk_message *msgs, int n_msgs,
                                    int64_t *n_tokens)
{
    (void)session;
    (void)msgs;
    (void)n_msgs;
    *n_tokens = 0;
    return core_error(TK_ERR_NO_MODEL, "no model is loaded");
}

const backend_vtable backend_gguf = {
    .kind = TK_BACKEND_GGUF,
    .name = "GGUF",
    .display_name = "tektra CPU engine",
    .available = gguf_available,
    .compiled = true,
    .can_read = gguf_can_read,
    .troubleshooting = NULL,
    .create = gguf_create,
    .destroy = gguf_destroy,
    .load = gguf_load,
    .has_model = gguf_has_model,
    .n_ctx = gguf_n_ctx,
    .model_name = gguf_model_name,
    .memory = gguf_memory,
    .session_create = gguf_session_create,
    .session_free = gguf_session_free,
    .session_chat = gguf_session_chat,
    .session_complete = gguf_session_complete,
    .session_cancel = gguf_session_cancel,
    .session_count = gguf_session_count,
};
