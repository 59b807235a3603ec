/* The model runner shared by the backends that run a model through a
 * forward pass (see runner.h).
 *
 * A runner holds the model (the backend's), its tokenizer and its chat
 * template; each session holds a context (KV cache) and the tokens in it,
 * so a conversation only evaluates what is new each turn. Without a model
 * it answers every message with how to get one. */
#include "backend/runner.h"

#include "backend/stop.h"
#include "backend/constrain.h"
#include "core/core.h"
#include "tektra/chat.h"
#include "tektra/hub.h"
#include "tektra/sampling.h"
#include "tektra/tokenizer.h"

#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct runner {
    const runner_ops *ops;
    tk_platform platform;
    tk_config config;
    char looked_for[1200]; /* the model name load() could not find, "" when none was given */
    void *model;           /* the backend's model; NULL in no-model mode */
    tk_tokenizer *tok;
    char *template_src;          /* the model's chat template, or a built-in one (owned) */
    char template_name[64];      /* "the model's own" or the built-in's name */
    bool template_builtin;       /* the model has no template of its own */
    atomic_bool template_warned; /* the fallback from a failing template was reported */
    char bos_text[64], eos_text[64];
    char model_name[256];
    int32_t n_ctx, n_threads, n_vocab;
} runner;

static void unload(runner *b)
{
    tk_tokenizer_free(b->tok);
    if (b->model) b->ops->model_free(b->model);
    free(b->template_src);
    b->tok = NULL;
    b->model = NULL;
    b->template_src = NULL;
    b->model_name[0] = '\0';
}

tk_status runner_create(const runner_ops *ops, const tk_platform *p, const tk_config *c, void **ctx)
{
    runner *b = calloc(1, sizeof *b);
    if (!b) return core_error(TK_ERR_NOMEM, "out of memory");
    b->ops = ops;
    b->platform = *p;
    b->config = *c;
    b->looked_for[0] = '\0';
    *ctx = b;
    return TK_OK;
}

void runner_destroy(void *ctx)
{
    runner *b = ctx;
    if (!b) return;
    unload(b);
    free(b);
}

/* Has the vocabulary a token with this exact text? (for the built-in template choice) */
static bool vocab_has(const char *text, void *user)
{
    return tk_token_find(user, text) >= 0;
}

static void token_text_or_empty(const tk_tokenizer *t, int32_t id, char *out, size_t size)
{
    const char *s = id >= 0 ? tk_token_text(t, id, NULL) : NULL;
    core_strlcpy(out, s ? s : "", size);
}

tk_status runner_load(void *ctx, const char *path)
{
    runner *b = ctx;
    unload(b);
    /* What the user named: a file, else a model of the store (name, alias,
     * hf: spec); nothing named: the store's first model, if any. */
    char resolved[1280];
    if (!path || !*path) {
        char store[1024];
        tk_hub_entry *list = NULL;
        size_t n = 0;
        resolved[0] = '\0';
        if (tk_hub_store_dir(&b->config, &b->platform, NULL, NULL, store, sizeof store) == TK_OK &&
            tk_hub_list(store, &list, &n) == TK_OK) {
            for (size_t i = 0; i < n && !resolved[0]; i++)
                if (list[i].valid) core_strlcpy(resolved, list[i].path, sizeof resolved);
        }
        free(list);
        if (!resolved[0]) {
            b->looked_for[0] = '\0';
            return core_error(TK_ERR_NOT_FOUND, "no model configured");
        }
        core_log(TK_LOG_INFO, "using %s from the model store", resolved);
    } else if (tk_hub_resolve(&b->config, &b->platform, path, resolved, sizeof resolved) != TK_OK) {
        core_strlcpy(b->looked_for, path, sizeof b->looked_for);
        return TK_ERR_NOT_FOUND;
    }
    path = resolved;
    tk_status s = b->ops->check(path);
    if (s != TK_OK) return s;

    s = b->ops->load(path, &b->platform, &b->config, &b->model);
    if (s != TK_OK) {
        b->model = NULL;
        core_error_prefix("%s", path);
        return s;
    }
    b->n_vocab = b->ops->n_vocab(b->model);
    s = tk_tokenizer_load(b->ops->meta(b->model), &b->tok);
    if (s != TK_OK) {
        core_error_prefix("%s: tokenizer", path);
        unload(b);
        return s;
    }
    if (tk_tokenizer_n_vocab(b->tok) > b->n_vocab) {
        s = core_error(TK_ERR_FORMAT, "%s: the vocabulary has %d tokens but the model only %d",
                       path, tk_tokenizer_n_vocab(b->tok), b->n_vocab);
        unload(b);
        return s;
    }
    token_text_or_empty(b->tok, tk_token_bos(b->tok), b->bos_text, sizeof b->bos_text);
    token_text_or_empty(b->tok, tk_token_eos(b->tok), b->eos_text, sizeof b->eos_text);

    /* The model's own chat template, else a built-in one chosen by the
     * special tokens of the vocabulary. */
    const char *tmpl = NULL;
    if (tk_gguf_get_str(b->ops->meta(b->model), "tokenizer.chat_template", &tmpl) == TK_OK &&
        tmpl && *tmpl) {
        b->template_src = strdup(tmpl);
        core_strlcpy(b->template_name, "the model's own", sizeof b->template_name);
        b->template_builtin = false;
    } else {
        const char *name = tk_chat_builtin_for_vocab(vocab_has, b->tok);
        b->template_src = strdup(tk_chat_builtin(name));
        snprintf(b->template_name, sizeof b->template_name, "built-in %s", name);
        b->template_builtin = true;
        core_log(TK_LOG_INFO, "%s has no chat template; using the built-in %s template", path,
                 name);
    }
    atomic_store(&b->template_warned, false);
    if (!b->template_src) {
        unload(b);
        return core_error(TK_ERR_NOMEM, "out of memory");
    }

    /* Context size: the setting, else the model's own up to 4096. */
    int64_t n_ctx = b->config.context_size;
    if (n_ctx <= 0) n_ctx = TK_MIN(b->ops->n_ctx_train(b->model), 4096);
    if (n_ctx <= 0) n_ctx = 4096;
    b->n_ctx = (int32_t)n_ctx;
    b->n_threads =
        (int32_t)(b->config.threads > 0 ? b->config.threads : b->platform.n_physical_cores);

    /* The file's or directory's name, without .gguf. */
    char trimmed[1280];
    core_strlcpy(trimmed, path, sizeof trimmed);
    size_t n = strlen(trimmed);
    while (n > 1 && trimmed[n - 1] == '/') trimmed[--n] = '\0';
    const char *base = strrchr(trimmed, '/');
    base = base ? base + 1 : trimmed;
    core_strlcpy(b->model_name, base, sizeof b->model_name);
    n = strlen(b->model_name);
    if (n > 5 && strcmp(b->model_name + n - 5, ".gguf") == 0) b->model_name[n - 5] = '\0';
    return TK_OK;
}

bool runner_has_model(const void *ctx)
{
    return ((const runner *)ctx)->model != NULL;
}

int64_t runner_n_ctx(const void *ctx)
{
    const runner *b = ctx;
    return b->model ? b->n_ctx : 0;
}

const char *runner_model_name(const void *ctx)
{
    return ((const runner *)ctx)->model_name;
}

const char *runner_chat_template(const void *ctx)
{
    return ((const runner *)ctx)->template_src;
}

uint64_t runner_memory(const void *ctx)
{
    const runner *b = ctx;
    return b->model ? b->ops->size_bytes(b->model) : 0;
}

void runner_model_info(const void *ctx, tk_model_info *out)
{
    const runner *b = ctx;
    memset(out, 0, sizeof *out);
    out->arch = "";
    if (!b->model) return;
    out->arch = b->ops->arch(b->model);
    out->n_vocab = b->n_vocab;
    out->n_ctx_train = b->ops->n_ctx_train(b->model);
    out->n_params = b->ops->n_params(b->model);
    out->size_bytes = b->ops->size_bytes(b->model);
}

/* ---- sessions ------------------------------------------------------------ */

enum { MAX_TOP_LOGPROBS = 20, MAX_PENDING_INFOS = 256, PIECE_MAX = 256 };

/* A token waiting for its text to be released, for log-probabilities. */
typedef struct pending_info {
    char text[PIECE_MAX];
    int32_t top_ids[MAX_TOP_LOGPROBS];
    double top_logprobs[MAX_TOP_LOGPROBS];
    char top_texts[MAX_TOP_LOGPROBS][PIECE_MAX];
    const char *top_text_ptrs[MAX_TOP_LOGPROBS];
} pending_info;

typedef struct runner_session {
    runner *b;
    void *ctx;       /* the backend's context (KV cache); NULL in no-model mode */
    int32_t *cached; /* [n_ctx] the tokens in the KV cache */
    int32_t n_cached;
    float *logits;  /* [n_vocab] of the last decoded token */
    float *scratch; /* [n_vocab] biased / masked logits */
    tk_detok_stream *detok;
    atomic_bool cancel;
    const tk_gen_params *cur; /* the request being generated, for its cancel callback */
    tk_token_info *infos;     /* [MAX_PENDING_INFOS] */
    pending_info *pinfo;      /* [MAX_PENDING_INFOS] */
    int n_infos;
} runner_session;

static bool session_cancelled(void *user)
{
    runner_session *s = user;
    if (atomic_load(&s->cancel)) return true;
    return s->cur && s->cur->cancelled && s->cur->cancelled(s->cur->cancel_user);
}

void runner_session_free(void *session)
{
    runner_session *s = session;
    if (!s) return;
    if (s->ctx) s->b->ops->ctx_free(s->ctx);
    tk_detok_stream_free(s->detok);
    free(s->cached);
    free(s->logits);
    free(s->scratch);
    free(s->infos);
    free(s->pinfo);
    free(s);
}

tk_status runner_session_create(void *ctx, void **out)
{
    runner *b = ctx;
    *out = NULL;
    runner_session *s = calloc(1, sizeof *s);
    if (!s) return core_error(TK_ERR_NOMEM, "out of memory");
    s->b = b;
    atomic_init(&s->cancel, false);
    if (b->model) {
        tk_status st = b->ops->ctx_create(b->model, &b->config, b->n_ctx, b->n_threads,
                                          session_cancelled, s, &s->ctx);
        if (st != TK_OK) s->ctx = NULL;
        if (st == TK_OK) st = tk_detok_stream_create(b->tok, 0, &s->detok);
        if (st != TK_OK) {
            runner_session_free(s);
            return st;
        }
        s->cached = core_calloc((size_t)b->n_ctx, sizeof *s->cached);
        s->logits = core_calloc((size_t)b->n_vocab, sizeof *s->logits);
        s->scratch = core_calloc((size_t)b->n_vocab, sizeof *s->scratch);
        s->infos = core_calloc(MAX_PENDING_INFOS, sizeof *s->infos);
        s->pinfo = core_calloc(MAX_PENDING_INFOS, sizeof *s->pinfo);
        if (!s->cached || !s->logits || !s->scratch || !s->infos || !s->pinfo) {
            runner_session_free(s);
            return core_error(TK_ERR_NOMEM, "out of memory");
        }
    }
    *out = s;
    return TK_OK;
}

void runner_session_cancel(void *session)
{
    runner_session *s = session;
    atomic_store(&s->cancel, true);
}

static tk_status answer_without_model(runner_session *s, tk_stream_fn fn, void *user, tk_metrics *m)
{
    char text[4096];
    backend_no_model_text(&s->b->platform, &s->b->config, s->b->looked_for, text, sizeof text);
    return backend_stream_text(text, fn, user, m);
}

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, &seed, sizeof seed) != (ssize_t)sizeof seed) seed = 0;
        close(fd);
    }
    if (seed == 0) seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return seed & 0xffffffffu; /* printable and reusable as --seed */
}

/* True when no logit is NaN or infinite: no exponent field is all ones.
 * Integer operations, so the loop vectorises and a 150k vocabulary costs
 * some microseconds. */
static bool logits_finite(const float *logits, int32_t n)
{
    uint32_t bad = 0;
    for (int32_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &logits[i], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return bad == 0;
}

/* Log-probabilities of `id` and of the best alternatives, from raw logits. */
static void fill_logprobs(runner_session *s, int32_t id, int n_top, tk_token_info *info,
                          pending_info *pi)
{
    const float *lg = s->logits;
    int32_t n_vocab = s->b->n_vocab;
    double max = -INFINITY, sum = 0;
    for (int32_t i = 0; i < n_vocab; i++) max = TK_MAX(max, (double)lg[i]);
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)lg[i] - max);
    double lse = max + log(sum);
    info->logprob = (double)lg[id] - lse;
    /* Top n by insertion into a small sorted list. */
    int n = 0;
    for (int32_t i = 0; i < n_vocab && n_top > 0; i++) {
        if (n == n_top && lg[i] <= lg[pi->top_ids[n - 1]]) continue;
        int k = n < n_top ? n++ : n_top - 1;
        while (k > 0 && lg[pi->top_ids[k - 1]] < lg[i]) {
            pi->top_ids[k] = pi->top_ids[k - 1];
            k--;
        }
        pi->top_ids[k] = i;
    }
    for (int k = 0; k < n; k++) {
        size_t len;
        pi->top_logprobs[k] = (double)lg[pi->top_ids[k]] - lse;
        if (tk_token_piece(s->b->tok, pi->top_ids[k], true, pi->top_texts[k], PIECE_MAX, &len) !=
            TK_OK)
            pi->top_texts[k][0] = '\0';
        pi->top_text_ptrs[k] = pi->top_texts[k];
    }
    info->n_top = n;
    info->top_ids = pi->top_ids;
    info->top_logprobs = pi->top_logprobs;
    info->top_texts = pi->top_text_ptrs;
}

/* Generation state of one answer. */
typedef struct gen {
    runner_session *s;
    const tk_gen_params *g;
    tk_stream_fn fn;
    void *user;
    stop_matcher stop;
    bool stopped_by_callback;
    double t_start, t_first;
} gen;

/* Shows `n` bytes at the start of the stop matcher's pending text, with the
 * token infos gathered so far. */
static bool release(gen *st, size_t n, bool final)
{
    runner_session *s = st->s;
    int n_infos = st->g->logprobs ? s->n_infos : 0;
    /* Logprobs of tokens whose text is held back wait, unless this is the
     * end or the buffer of infos is full. */
    if (n == 0 && (n_infos == 0 || (!final && n_infos < MAX_PENDING_INFOS))) return true;
    bool go_on = true;
    if (st->fn) go_on = st->fn(st->stop.pending, n, n_infos ? s->infos : NULL, n_infos, st->user);
    stop_consume(&st->stop, n);
    s->n_infos = 0;
    if (!go_on) st->stopped_by_callback = true;
    return go_on;
}

/* Evaluates the prompt (reusing the cached prefix) and generates. */
static tk_status generate_with(runner_session *s, const int32_t *prompt, size_t n_prompt,
                               bool strip_leading_space, const tk_gen_params *g, tk_stream_fn fn,
                               void *user, tk_metrics *m)
{
    runner *b = s->b;
    double t0 = core_now();
    if (n_prompt == 0) return core_error(TK_ERR_INVALID_ARG, "the prompt is empty");
    if (n_prompt >= (size_t)b->n_ctx)
        return core_error(TK_ERR_CONTEXT_FULL,
                          "the prompt is %zu tokens but the context holds %d (use -c to raise "
                          "it)",
                          n_prompt, b->n_ctx);
    if (g->max_tokens < 1) return core_error(TK_ERR_INVALID_ARG, "max_tokens must be >= 1");
    tk_status bst = constrain_check_bias(g, b->n_vocab);
    if (bst != TK_OK) return bst;

    /* Reuse the longest common prefix of the cache; at least the last
     * prompt token is evaluated again, for its logits. */
    size_t keep = 0;
    while (keep < n_prompt && keep < (size_t)s->n_cached && s->cached[keep] == prompt[keep]) keep++;
    if (keep == n_prompt) keep--;
    tk_status st = b->ops->truncate(s->ctx, (int32_t)keep);
    if (st != TK_OK) {
        b->ops->reset(s->ctx);
        keep = 0;
    }
    s->n_cached = (int32_t)keep;
    st = b->ops->decode(s->ctx, prompt + keep, (int)(n_prompt - keep), s->logits, false);
    m->n_prompt_tokens = (int64_t)n_prompt;
    m->n_cached_tokens = (int64_t)keep;
    if (st == TK_ERR_CANCELLED) {
        m->finish = TK_FINISH_CANCELLED;
        m->total_s = core_now() - t0;
        return TK_OK;
    }
    if (st != TK_OK) return st;
    memcpy(s->cached + keep, prompt + keep, (n_prompt - keep) * sizeof *prompt);
    s->n_cached = (int32_t)n_prompt;
    double t_prompt = core_now() - t0;
    m->prompt_s = t_prompt;
    m->prompt_tps = t_prompt > 0 ? (double)(n_prompt - keep) / t_prompt : 0;

    tk_sampler_params sp;
    tk_sampler_params_default(&sp);
    sp.temperature = g->temperature;
    sp.top_p = g->top_p;
    sp.top_k = g->top_k;
    sp.min_p = g->min_p;
    sp.repeat_penalty = g->repeat_penalty;
    sp.frequency_penalty = g->frequency_penalty;
    sp.presence_penalty = g->presence_penalty;
    sp.repeat_last_n = g->repeat_last_n;
    sp.seed = g->seed >= 0 ? (uint64_t)g->seed : random_seed();
    m->seed = sp.seed;
    tk_sampler *sampler;
    st = tk_sampler_create(&sp, b->n_vocab, &sampler);
    if (st != TK_OK) return st;
    tk_constraint *cons = NULL;
    if (g->grammar) {
        st = tk_constraint_create(g->grammar, b->tok, &cons);
        if (st != TK_OK) {
            tk_sampler_free(sampler);
            return core_error(st, "grammar: cannot build the constraint");
        }
    }
    size_t from = n_prompt > (size_t)sp.repeat_last_n ? n_prompt - (size_t)sp.repeat_last_n : 0;
    for (size_t i = from; i < n_prompt; i++) tk_sampler_accept(sampler, prompt[i]);

    gen gs = {.s = s, .g = g, .fn = fn, .user = user, .t_start = t0};
    st = stop_init(&gs.stop, g->stop, g->n_stop);
    if (st != TK_OK) {
        tk_sampler_free(sampler);
        tk_constraint_free(cons);
        return st;
    }
    tk_detok_stream_reset(s->detok);
    tk_detok_stream_set_flags(s->detok, g->render_special ? TK_DETOK_RENDER_SPECIAL : 0);
    s->n_infos = 0;
    int n_top = g->logprobs ? TK_MAX(0, TK_MIN(g->top_logprobs, MAX_TOP_LOGPROBS)) : 0;
    m->finish = TK_FINISH_LENGTH;
    bool first_piece = true, hit_stop = false;
    double t_first = 0;

    for (int64_t n_gen = 0; n_gen < g->max_tokens;) {
        if (session_cancelled(s)) {
            m->finish = TK_FINISH_CANCELLED;
            break;
        }
        if (!logits_finite(s->logits, b->n_vocab)) {
            st = core_error(TK_ERR_NONFINITE,
                            "the model's output is not a number (NaN or infinity) after %lld "
                            "generated tokens: its weights or activations overflow; the answer "
                            "stops here",
                            (long long)n_gen);
            break;
        }
        int32_t id;
        st = constrain_sample(sampler, s->logits, s->scratch, b->n_vocab, g, cons, &id);
        if (st != TK_OK) break;
        if (n_gen == 0) t_first = core_now();
        if (tk_token_is_eog(b->tok, id)) {
            m->finish = TK_FINISH_STOP;
            break;
        }
        bool grammar_done = false;
        if (cons) {
            st = tk_constraint_accept(cons, id);
            if (st != TK_OK) break;
            tk_constraint_complete(cons, &grammar_done);
        }
        tk_sampler_accept(sampler, id);
        n_gen++;
        m->n_gen_tokens = n_gen;

        if (g->logprobs && s->n_infos < MAX_PENDING_INFOS) {
            tk_token_info *info = &s->infos[s->n_infos];
            pending_info *pi = &s->pinfo[s->n_infos];
            size_t len;
            if (tk_token_piece(b->tok, id, true, pi->text, PIECE_MAX, &len) != TK_OK)
                pi->text[0] = '\0';
            memset(info, 0, sizeof *info);
            info->id = id;
            info->text = pi->text;
            fill_logprobs(s, id, n_top, info, pi);
            s->n_infos++;
        }

        const char *text;
        size_t len;
        st = tk_detok_stream_feed(s->detok, id, &text, &len);
        if (st != TK_OK) break;
        if (first_piece && strip_leading_space && len > 0) {
            if (text[0] == ' ') {
                text++;
                len--;
            }
            first_piece = false;
        }
        size_t rel;
        bool stopped;
        st = stop_feed(&gs.stop, text, len, &rel, &stopped);
        if (st != TK_OK) break;
        if (!release(&gs, rel, false)) {
            m->finish = TK_FINISH_CANCELLED;
            break;
        }
        if (stopped) {
            m->finish = TK_FINISH_STOP;
            hit_stop = true;
            break;
        }
        if (grammar_done) {
            m->finish = TK_FINISH_STOP;
            break;
        }
        if (n_gen == g->max_tokens) break;
        if (s->n_cached + 1 > b->n_ctx) {
            m->finish = TK_FINISH_CONTEXT;
            break;
        }
        st = b->ops->decode(s->ctx, &id, 1, s->logits, false);
        if (st == TK_ERR_CANCELLED) {
            m->finish = TK_FINISH_CANCELLED;
            st = TK_OK;
            break;
        }
        if (st != TK_OK) break;
        s->cached[s->n_cached++] = id;
    }

    if (hit_stop) {
        /* The stop string and what follows it are dropped; only the logprobs
         * of tokens already shown remain to be sent. */
        stop_consume(&gs.stop, stop_flush(&gs.stop));
        release(&gs, 0, true);
    } else if (st == TK_OK && m->finish != TK_FINISH_CANCELLED) {
        /* What is still held back is shown now (an unfinished stop string
         * is not a stop string; an incomplete character becomes U+FFFD). */
        const char *text;
        size_t len;
        if (tk_detok_stream_flush(s->detok, &text, &len) == TK_OK && len) {
            size_t rel;
            bool stopped;
            stop_feed(&gs.stop, text, len, &rel, &stopped);
            if (stopped) gs.stop.len = rel;
        }
        release(&gs, stop_flush(&gs.stop), true);
    }
    stop_free(&gs.stop);
    tk_sampler_free(sampler);
    tk_constraint_free(cons);

    double t_end = core_now();
    m->total_s = t_end - t0;
    m->gen_s = TK_MAX(0.0, m->total_s - m->prompt_s);
    m->ttft_s = t_first > 0 ? t_first - t0 : m->total_s;
    if (m->n_gen_tokens > 1 && t_end > t_first)
        m->gen_tps = (double)(m->n_gen_tokens - 1) / (t_end - t_first);
    m->peak_rss = core_peak_rss();
    if (b->ops->peak_memory) m->peak_rss = TK_MAX(m->peak_rss, b->ops->peak_memory());
    return st;
}

/* Generates for one request: `g` is the request's, for its cancel
 * callback, while it runs. */
static tk_status generate(runner_session *s, const int32_t *prompt, size_t n_prompt,
                          bool strip_leading_space, const tk_gen_params *g, tk_stream_fn fn,
                          void *user, tk_metrics *m)
{
    memset(m, 0, sizeof *m);
    atomic_store(&s->cancel, false);
    s->cur = g;
    tk_status st = generate_with(s, prompt, n_prompt, strip_leading_space, g, fn, user, m);
    s->cur = NULL;
    return st;
}

/* Renders the conversation with the model's template; when that fails (a
 * template feature or check this conversation trips), with the built-in
 * template for the vocabulary, saying so. *text is owned by the caller. */
static tk_status render_chat(runner_session *s, const tk_message *msgs, int n_msgs,
                             const char *tools_json, char **text)
{
    runner *b = s->b;
    tk_chat_msg stack_msgs[16];
    memset(stack_msgs, 0, sizeof stack_msgs);
    tk_chat_msg *cm = n_msgs <= 16 ? stack_msgs : core_calloc((size_t)n_msgs, sizeof *cm);
    if (!cm) return core_error(TK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_msgs; i++)
        cm[i] = (tk_chat_msg){msgs[i].role, msgs[i].content, msgs[i].tool_calls_json,
                              msgs[i].tool_call_id, msgs[i].name};
    tk_chat_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.add_generation_prompt = true;
    opts.bos_token = b->bos_text;
    opts.eos_token = b->eos_text;
    opts.tools_json = tools_json;
    bool merged = false;
    tk_status st = tk_chat_render(b->template_src, cm, n_msgs, &opts, text, NULL, &merged);
    if (st != TK_OK && !b->template_builtin) {
        char why[512];
        core_strlcpy(why, tk_last_error(), sizeof why);
        const char *name = tk_chat_builtin_for_vocab(vocab_has, b->tok);
        if (!atomic_exchange(&b->template_warned, true))
            core_log(TK_LOG_WARN,
                     "the model's chat template failed (%s); using the built-in %s "
                     "template",
                     why, name);
        st = tk_chat_render(tk_chat_builtin(name), cm, n_msgs, &opts, text, NULL, &merged);
    }
    if (cm != stack_msgs) free(cm);
    if (st != TK_OK) {
        core_error_prefix("chat template (%s)", b->template_name);
        return st;
    }
    if (merged)
        core_log(TK_LOG_INFO, "the chat template has no system role; the system message was "
                              "merged into the first user message");
    return TK_OK;
}

/* Tokens of a rendered chat: special tokens parsed, and BOS added only when
 * the vocabulary wants one and the template did not already write it. */
static tk_status tokenize_chat(runner_session *s, const char *text, int32_t **ids, size_t *n)
{
    runner *b = s->b;
    bool has_bos = b->bos_text[0] && strncmp(text, b->bos_text, strlen(b->bos_text)) == 0;
    bool add_bos = tk_tokenizer_add_bos(b->tok) && !has_bos;
    tk_status st = tk_tokenize_alloc(b->tok, text, strlen(text), false, true, ids, n);
    if (st != TK_OK || !add_bos) return st;
    int32_t *with = malloc((*n + 1) * sizeof *with);
    if (!with) {
        free(*ids);
        return core_error(TK_ERR_NOMEM, "out of memory");
    }
    with[0] = tk_token_bos(b->tok);
    memcpy(with + 1, *ids, *n * sizeof *with);
    free(*ids);
    *ids = with;
    (*n)++;
    return TK_OK;
}

/* The prompt tokens of a conversation: rendered, then tokenized.
 * *ids is owned by the caller. */
static tk_status chat_tokens(runner_session *s, const tk_message *msgs, int n_msgs,
                             const char *tools_json, int32_t **ids, size_t *n)
{
    if (n_msgs == 0) return core_error(TK_ERR_INVALID_ARG, "no messages");
    char *text;
    tk_status st = render_chat(s, msgs, n_msgs, tools_json, &text);
    if (st != TK_OK) return st;
    st = tokenize_chat(s, text, ids, n);
    free(text);
    return st;
}

tk_status runner_session_chat(void *session, const tk_message *msgs, int n_msgs,
                              const tk_gen_params *g, tk_stream_fn fn, void *user, tk_metrics *m)
{
    runner_session *s = session;
    if (!s->ctx) return answer_without_model(s, fn, user, m);
    int32_t *ids;
    size_t n;
    tk_status st = chat_tokens(s, msgs, n_msgs, g->tools_json, &ids, &n);
    if (st != TK_OK) return st;
    bool strip = strcmp(tk_tokenizer_model(s->b->tok), "spm") == 0;
    st = generate(s, ids, n, strip, g, fn, user, m);
    free(ids);
    return st;
}

tk_status runner_session_complete(void *session, const char *prompt, const tk_gen_params *g,
                                  tk_stream_fn fn, void *user, tk_metrics *m)
{
    runner_session *s = session;
    if (!s->ctx) return answer_without_model(s, fn, user, m);
    int32_t *ids;
    size_t n;
    /* A raw prompt is user text: BOS as the vocabulary asks, special-token
     * text left as text. */
    tk_status st = tk_tokenize_alloc(s->b->tok, prompt, strlen(prompt), true, false, &ids, &n);
    if (st != TK_OK) return st;
    st = generate(s, ids, n, false, g, fn, user, m);
    free(ids);
    return st;
}

tk_status runner_session_count(void *session, const tk_message *msgs, int n_msgs, int64_t *n_tokens)
{
    runner_session *s = session;
    *n_tokens = 0;
    if (!s->ctx) return core_error(TK_ERR_NO_MODEL, "no model is loaded");
    int32_t *ids;
    size_t n;
    tk_status st = chat_tokens(s, msgs, n_msgs, NULL, &ids, &n);
    if (st != TK_OK) return st;
    free(ids);
    *n_tokens = (int64_t)n;
    return TK_OK;
}

tk_status runner_session_decode(void *session, const int32_t *tokens, int n, float *logits,
                                bool all_logits)
{
    runner_session *s = session;
    if (!s->ctx) return core_error(TK_ERR_NO_MODEL, "no model is loaded");
    atomic_store(&s->cancel, false);
    /* The tokens are not known to the prompt cache: the next chat or
     * completion starts from an empty cache. */
    s->n_cached = 0;
    return s->b->ops->decode(s->ctx, tokens, n, logits, all_logits);
}

void runner_session_reset(void *session)
{
    runner_session *s = session;
    s->n_cached = 0;
    if (s->ctx) s->b->ops->reset(s->ctx);
}

uint64_t runner_session_memory(const void *session)
{
    const runner_session *s = session;
    return s->ctx && s->b->ops->ctx_memory ? s->b->ops->ctx_memory(s->ctx) : 0;
}
