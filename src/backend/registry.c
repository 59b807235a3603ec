/* The backend registry, auto selection and the tk_engine wrapper. */
#include "backend/backend.h"

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line per backend. */
static const backend_vtable *const registry[] = {
    &backend_gguf,
    &backend_mlx,
};

int tk_backend_count(void)
{
    return (int)TK_ARRAY_LEN(registry);
}

const backend_vtable *backend_find(tk_backend_kind kind)
{
    for (size_t i = 0; i < TK_ARRAY_LEN(registry); i++)
        if (registry[i]->kind == kind) return registry[i];
    return NULL;
}

static bool compiled_state(const backend_vtable *b, tk_backend_kind kind, bool mlx_compiled)
{
    return kind == TK_BACKEND_MLX ? mlx_compiled : b->compiled;
}

/* Whether auto may choose `b` on `p`: MLX only on Apple Silicon (elsewhere
 * a build with MLX runs it on the CPU device, for tests, when forced). */
static bool auto_may_use(const backend_vtable *b, const tk_platform *p)
{
    return b->kind != TK_BACKEND_MLX || p->apple_silicon;
}

void tk_backend_describe(int index, const tk_platform *p, tk_backend_info *out)
{
    memset(out, 0, sizeof *out);
    if (index < 0 || index >= tk_backend_count()) return;
    const backend_vtable *b = registry[index];
    out->kind = b->kind;
    out->name = b->name;
    out->display_name = b->display_name;
    out->available = b->available(p, b->compiled, out->reason, sizeof out->reason);
    out->compiled = b->compiled;
    out->automatic = out->available && auto_may_use(b, p);
}

bool tk_backend_can_read(tk_backend_kind kind, const char *path)
{
    const backend_vtable *b = backend_find(kind);
    return b && path && b->can_read && b->can_read(path);
}

tk_status backend_select(tk_backend_kind requested, const tk_platform *p, const char *model_path,
                         bool mlx_compiled, tk_backend_choice *out)
{
    memset(out, 0, sizeof *out);
    char reason[256];
    if (requested != TK_BACKEND_AUTO) {
        const backend_vtable *b = backend_find(requested);
        if (!b) return core_error(TK_ERR_INVALID_ARG, "unknown backend %d", (int)requested);
        const bool compiled = compiled_state(b, requested, mlx_compiled);
        if (!b->available(p, compiled, reason, sizeof reason)) {
            char help[1024];
            if (b->unavailable) b->unavailable(p, compiled, help, sizeof help);
            return core_error(TK_ERR_BACKEND_UNAVAILABLE,
                              "the %s backend was requested but is not available: %s", b->name,
                              b->unavailable ? help : reason);
        }
        out->kind = requested;
        snprintf(out->reason, sizeof out->reason, "%s was requested explicitly", b->name);
        return TK_OK;
    }

    /* The matrix: Apple Silicon (native, MLX available) -> MLX; else GGUF. */
    const backend_vtable *mlx = backend_find(TK_BACKEND_MLX);
    const backend_vtable *gguf = backend_find(TK_BACKEND_GGUF);
    bool mlx_ok = mlx && mlx->available(p, mlx_compiled, reason, sizeof reason);
    const backend_vtable *pref;
    if (p->apple_silicon && mlx_ok) {
        pref = mlx;
        snprintf(out->reason, sizeof out->reason, "auto: Apple Silicon, MLX is available");
    } else {
        pref = gguf;
        if (p->apple_silicon)
            snprintf(out->reason, sizeof out->reason, "auto: Apple Silicon, but %s", reason);
        else
            snprintf(out->reason, sizeof out->reason,
                     "auto: %s %s is not Apple Silicon; GGUF works on all systems",
                     tk_os_name(p->os), tk_arch_name(p->arch));
    }
    out->kind = pref->kind;

    /* Fall back to a backend that can read the model's format. */
    if (model_path && *model_path && pref->can_read && !pref->can_read(model_path)) {
        for (size_t i = 0; i < TK_ARRAY_LEN(registry); i++) {
            const backend_vtable *b = registry[i];
            if (b == pref || !b->can_read || !b->can_read(model_path)) continue;
            if (!auto_may_use(b, p)) continue;
            if (!b->available(p, compiled_state(b, b->kind, mlx_compiled), reason, sizeof reason))
                continue;
            out->kind = b->kind;
            out->fell_back = true;
            snprintf(out->reason, sizeof out->reason,
                     "auto: %s cannot read '%s', so %s is used instead", pref->name, model_path,
                     b->name);
            break;
        }
    }
    return TK_OK;
}

tk_status tk_backend_select(tk_backend_kind requested, const tk_platform *p, const char *model_path,
                            tk_backend_choice *out)
{
    const backend_vtable *mlx = backend_find(TK_BACKEND_MLX);
    return backend_select(requested, p, model_path, mlx && mlx->compiled, out);
}

/* ---- tk_engine ------------------------------------------------------------ */

struct tk_engine {
    const backend_vtable *vt;
    void *ctx;
    tk_session *session; /* the engine's own, created on first use */
};

struct tk_session {
    const backend_vtable *vt;
    void *impl;
};

tk_status tk_engine_create(tk_backend_kind kind, const tk_platform *p, const tk_config *c,
                           tk_engine **out)
{
    *out = NULL;
    const backend_vtable *b = backend_find(kind);
    if (!b) return core_error(TK_ERR_INVALID_ARG, "no backend '%s'", tk_backend_kind_name(kind));
    char reason[256];
    if (!b->available(p, b->compiled, reason, sizeof reason))
        return core_error(TK_ERR_BACKEND_UNAVAILABLE, "%s: %s", b->name, reason);
    tk_engine *e = calloc(1, sizeof *e);
    if (!e) return core_error(TK_ERR_NOMEM, "out of memory");
    e->vt = b;
    tk_status s = b->create(p, c, &e->ctx);
    if (s != TK_OK) {
        free(e);
        return s;
    }
    *out = e;
    return TK_OK;
}

void tk_engine_free(tk_engine *e)
{
    if (!e) return;
    tk_session_free(e->session);
    e->vt->destroy(e->ctx);
    free(e);
}

tk_status tk_engine_load(tk_engine *e, const char *model_path)
{
    tk_session_free(e->session);
    e->session = NULL;
    return e->vt->load(e->ctx, model_path);
}

bool tk_engine_has_model(const tk_engine *e)
{
    return e->vt->has_model(e->ctx);
}

const char *tk_engine_backend_name(const tk_engine *e)
{
    return e->vt->name;
}

const char *tk_engine_display_name(const tk_engine *e)
{
    return e->vt->display_name;
}

uint64_t tk_engine_memory(const tk_engine *e)
{
    return e->vt->memory(e->ctx);
}

int64_t tk_engine_n_ctx(const tk_engine *e)
{
    return e->vt->n_ctx(e->ctx);
}

const char *tk_engine_chat_template(const tk_engine *e)
{
    return e->vt->chat_template && e->vt->has_model(e->ctx) ? e->vt->chat_template(e->ctx) : NULL;
}

const char *tk_engine_model_name(const tk_engine *e)
{
    return e->vt->model_name(e->ctx);
}

void tk_engine_model_info(const tk_engine *e, tk_model_info *out)
{
    e->vt->model_info(e->ctx, out);
}

tk_status tk_session_create(tk_engine *e, tk_session **out)
{
    *out = NULL;
    tk_session *s = calloc(1, sizeof *s);
    if (!s) return core_error(TK_ERR_NOMEM, "out of memory");
    s->vt = e->vt;
    tk_status st = e->vt->session_create(e->ctx, &s->impl);
    if (st != TK_OK) {
        free(s);
        return st;
    }
    *out = s;
    return TK_OK;
}

void tk_session_free(tk_session *s)
{
    if (!s) return;
    s->vt->session_free(s->impl);
    free(s);
}

tk_status tk_session_chat(tk_session *s, const tk_message *msgs, int n_msgs, const tk_gen_params *g,
                          tk_stream_fn fn, void *user, tk_metrics *m)
{
    tk_metrics local;
    if (n_msgs < 0 || (n_msgs > 0 && !msgs)) return core_error(TK_ERR_INVALID_ARG, "no messages");
    return s->vt->session_chat(s->impl, msgs, n_msgs, g, fn, user, m ? m : &local);
}

tk_status tk_session_complete(tk_session *s, const char *prompt, const tk_gen_params *g,
                              tk_stream_fn fn, void *user, tk_metrics *m)
{
    tk_metrics local;
    return s->vt->session_complete(s->impl, prompt ? prompt : "", g, fn, user, m ? m : &local);
}

void tk_session_cancel(tk_session *s)
{
    if (s) s->vt->session_cancel(s->impl);
}

tk_status tk_session_count_chat_tokens(tk_session *s, const tk_message *msgs, int n_msgs,
                                       int64_t *n_tokens)
{
    return s->vt->session_count(s->impl, msgs, n_msgs, n_tokens);
}

tk_status tk_session_decode(tk_session *s, const int32_t *tokens, int n, float *logits,
                            bool all_logits)
{
    if (n < 1 || !tokens) return core_error(TK_ERR_INVALID_ARG, "no tokens to decode");
    return s->vt->session_decode(s->impl, tokens, n, logits, all_logits);
}

void tk_session_reset(tk_session *s)
{
    if (s) s->vt->session_reset(s->impl);
}

uint64_t tk_session_memory(const tk_session *s)
{
    return s && s->vt->session_memory ? s->vt->session_memory(s->impl) : 0;
}

static tk_status own_session(tk_engine *e)
{
    if (e->session) return TK_OK;
    return tk_session_create(e, &e->session);
}

tk_status tk_engine_chat(tk_engine *e, const tk_message *msgs, int n_msgs, const tk_gen_params *g,
                         tk_stream_fn fn, void *user, tk_metrics *m)
{
    tk_status s = own_session(e);
    if (s != TK_OK) return s;
    return tk_session_chat(e->session, msgs, n_msgs, g, fn, user, m);
}

tk_status tk_engine_complete(tk_engine *e, const char *prompt, const tk_gen_params *g,
                             tk_stream_fn fn, void *user, tk_metrics *m)
{
    tk_status s = own_session(e);
    if (s != TK_OK) return s;
    return tk_session_complete(e->session, prompt, g, fn, user, m);
}

void tk_gen_params_from_config(tk_gen_params *g, const tk_config *c)
{
    memset(g, 0, sizeof *g);
    g->max_tokens = c->max_tokens;
    g->temperature = c->temperature;
    g->top_p = c->top_p;
    g->top_k = c->top_k;
    g->min_p = c->min_p;
    g->repeat_penalty = c->repeat_penalty;
    g->frequency_penalty = 0;
    g->presence_penalty = 0;
    g->repeat_last_n = c->repeat_last_n;
    g->seed = c->seed;
}

/* ---- answers without a model ---------------------------------------------- */

tk_status backend_stream_text(const char *text, tk_stream_fn fn, void *user, tk_metrics *m)
{
    double t0 = core_now();
    memset(m, 0, sizeof *m);
    size_t len = strlen(text), i = 0;
    while (i < len) {
        /* Whole lines, so no UTF-8 character is ever split. */
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) + 1 : len - i;
        if (fn && !fn(text + i, n, NULL, 0, user)) {
            m->finish = TK_FINISH_CANCELLED;
            break;
        }
        if (m->ttft_s == 0) m->ttft_s = core_now() - t0;
        i += n;
    }
    m->total_s = core_now() - t0;
    m->peak_rss = core_peak_rss();
    return TK_OK;
}
