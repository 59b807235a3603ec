/* The gguf backend: tektra's own CPU engine, on GGUF files and on model
 * directories (opened as an in-memory GGUF).
 *
 * The engine's forward pass (tk_model, tk_context) behind the runner's
 * interface; the runner (runner.c) does the rest: tokenizer, chat template,
 * sessions, sampling, stop strings, streaming and metrics. */
#include "backend/runner.h"

#include "core/core.h"
#include "core/os.h"
#include "tektra/modeldir.h"

#include <stdio.h>
#include <string.h>

static bool gguf_available(const tk_platform *p, bool compiled, char *reason, size_t size)
{
    (void)p;
    (void)compiled;
    snprintf(reason, size, "Available (cross-platform - works on all systems)");
    return true;
}

/* A GGUF file starts with the magic "GGUF"; a model directory (Hugging
 * Face / MLX layout) has a config.json. */
static bool gguf_can_read(const char *path)
{
    if (tk_model_dir_is(path)) {
        char cfg[4200];
        snprintf(cfg, sizeof cfg, "%s/config.json", path);
        FILE *c = os_fopen(cfg, "rb");
        if (!c) return false;
        fclose(c);
        return true;
    }
    FILE *f = os_fopen(path, "rb");
    if (!f) return false;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

static tk_status gguf_check(const char *path)
{
    if (!gguf_can_read(path))
        return core_error(TK_ERR_FORMAT,
                          tk_model_dir_is(path)
                              ? "'%s' is a directory without config.json, not a model directory"
                              : "'%s' is not a GGUF file (no GGUF magic) nor a model directory",
                          path);
    return TK_OK;
}

static tk_status gguf_load_model(const char *path, const tk_platform *p, const tk_config *c,
                                 void **model)
{
    (void)p;
    const tk_model_load_opts o = {.skip_tensor_check = !c->check_tensors};
    return tk_model_load_ex(path, &o, (tk_model **)model);
}

static void gguf_model_free(void *model)
{
    tk_model_free(model);
}

static const tk_gguf *gguf_meta(const void *model)
{
    return tk_model_gguf(model);
}

static int32_t gguf_n_vocab(const void *model)
{
    return tk_model_n_vocab(model);
}

static int32_t gguf_n_ctx_train(const void *model)
{
    return tk_model_n_ctx_train(model);
}

static const char *gguf_arch(const void *model)
{
    return tk_model_arch(model);
}

static uint64_t gguf_n_params(const void *model)
{
    return tk_model_n_params(model);
}

static uint64_t gguf_size_bytes(const void *model)
{
    return tk_model_size_bytes(model);
}

static tk_status gguf_ctx_create(void *model, const tk_config *cfg, int32_t n_ctx,
                                 int32_t n_threads, tk_cancel_fn cancel, void *cancel_user,
                                 void **ctx)
{
    tk_context_params cp = tk_context_default_params();
    cp.n_ctx = n_ctx;
    cp.type_k = cfg->cache_type_k;
    cp.type_v = cfg->cache_type_v;
    cp.n_threads = n_threads;
    cp.cancel = cancel;
    cp.cancel_user = cancel_user;
    return tk_context_create(model, &cp, (tk_context **)ctx);
}

static void gguf_ctx_free(void *ctx)
{
    tk_context_free(ctx);
}

static tk_status gguf_decode(void *ctx, const int32_t *tokens, int n, float *logits,
                             bool all_logits)
{
    return tk_context_decode(ctx, tokens, n, logits, all_logits);
}

static tk_status gguf_truncate(void *ctx, int32_t n_past)
{
    return tk_context_truncate(ctx, n_past);
}

static void gguf_reset(void *ctx)
{
    tk_context_reset(ctx);
}

static uint64_t gguf_ctx_memory(const void *ctx)
{
    return tk_context_memory(ctx);
}

static const runner_ops gguf_ops = {
    .check = gguf_check,
    .load = gguf_load_model,
    .model_free = gguf_model_free,
    .meta = gguf_meta,
    .n_vocab = gguf_n_vocab,
    .n_ctx_train = gguf_n_ctx_train,
    .arch = gguf_arch,
    .n_params = gguf_n_params,
    .size_bytes = gguf_size_bytes,
    .peak_memory = NULL,
    .ctx_create = gguf_ctx_create,
    .ctx_free = gguf_ctx_free,
    .decode = gguf_decode,
    .truncate = gguf_truncate,
    .reset = gguf_reset,
    .ctx_memory = gguf_ctx_memory,
};

static tk_status gguf_create(const tk_platform *p, const tk_config *c, void **ctx)
{
    return runner_create(&gguf_ops, p, c, ctx);
}

const backend_vtable backend_gguf = {
    .kind = TK_BACKEND_GGUF,
    .name = "GGUF",
    .display_name = "tektra CPU engine",
    .available = gguf_available,
    .compiled = true,
    .can_read = gguf_can_read,
    .unavailable = NULL,
    .create = gguf_create,
    .destroy = runner_destroy,
    .load = runner_load,
    .has_model = runner_has_model,
    .n_ctx = runner_n_ctx,
    .model_name = runner_model_name,
    .chat_template = runner_chat_template,
    .memory = runner_memory,
    .model_info = runner_model_info,
    .session_create = runner_session_create,
    .session_free = runner_session_free,
    .session_chat = runner_session_chat,
    .session_complete = runner_session_complete,
    .session_cancel = runner_session_cancel,
    .session_count = runner_session_count,
    .session_decode = runner_session_decode,
    .session_reset = runner_session_reset,
    .session_memory = runner_session_memory,
};
