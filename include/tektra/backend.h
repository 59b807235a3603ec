/* tektra backends: the ways of running a model, and the choice between them.
 *
 * A backend is a vtable plus a context (src/backend/). `gguf` is tektra's own
 * CPU engine and works everywhere; `mlx` runs on Apple Silicon through
 * Apple's MLX and elsewhere reports itself unavailable, with the reason. */
#ifndef TEKTRA_BACKEND_H
#define TEKTRA_BACKEND_H

#include "tektra/config.h"
#include "tektra/core.h"
#include "tektra/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_backend_info {
    tk_backend_kind kind;
    const char *name;         /* "GGUF", "MLX" */
    const char *display_name; /* e.g. "tektra CPU engine" */
    bool available;
    bool compiled;    /* this build contains the backend's code */
    bool automatic;   /* auto may choose it on this machine (MLX: Apple Silicon only) */
    char reason[256]; /* why (not) available, one sentence */
} tk_backend_info;

/* The registry: backends 0 .. tk_backend_count()-1, described for `p`. */
int tk_backend_count(void);
void tk_backend_describe(int index, const tk_platform *p, tk_backend_info *out);

/* Whether backend `kind` can read the model at `path` by its format (GGUF:
 * a GGUF file; MLX: a model directory). */
bool tk_backend_can_read(tk_backend_kind kind, const char *path);

/* The version of Apple's MLX this build contains ("0.31.2"), or NULL when
 * it was built without MLX. Static storage. */
const char *tk_mlx_version(void);

typedef struct tk_backend_choice {
    tk_backend_kind kind; /* never AUTO */
    bool fell_back;       /* auto's preferred backend could not take the model */
    char reason[512];     /* why this backend, one or two sentences */
} tk_backend_choice;

/* Chooses a backend. `requested` AUTO follows the matrix (Apple Silicon with
 * MLX available -> MLX, everything else -> GGUF) and falls back to a backend
 * that can read the model's format when the preferred one cannot
 * (`model_path` may be NULL). A forced backend that is unavailable is
 * TK_ERR_BACKEND_UNAVAILABLE with the reason and troubleshooting steps. */
tk_status tk_backend_select(tk_backend_kind requested, const tk_platform *p, const char *model_path,
                            tk_backend_choice *out);

/* ---- running a model --------------------------------------------------- */

typedef struct tk_engine tk_engine;

/* One chat message; strings borrowed for the duration of the call. */
typedef struct tk_message {
    const char *role; /* "system", "user", "assistant", "tool" */
    const char *content;
    /* Tool use (all may be NULL): the calls an assistant turn made, as
     * OpenAI's JSON array [{"id", "type": "function", "function": {"name",
     * "arguments"}}]; a tool result's call id; a tool's or speaker's name. */
    const char *tool_calls_json;
    const char *tool_call_id;
    const char *name;
} tk_message;

/* Generation settings; tk_gen_params_from_config() fills them from config. */
typedef struct tk_gen_params {
    int64_t max_tokens; /* >= 1 */
    double temperature; /* 0 = greedy */
    double top_p;
    int64_t top_k;
    double min_p;
    double repeat_penalty;    /* 1 = off */
    double frequency_penalty; /* 0 = off (OpenAI's frequency_penalty) */
    double presence_penalty;  /* 0 = off (OpenAI's presence_penalty) */
    int64_t repeat_last_n;
    int64_t seed;            /* -1 = random */
    const char *const *stop; /* stop strings, borrowed; may be NULL */
    int n_stop;
    int top_logprobs; /* with logprobs: alternatives per token, 0..20 */
    bool logprobs;    /* report each token's log-probability */
    /* Polled during the prompt and between tokens (NULL = never): returning
     * true stops the answer with finish = TK_FINISH_CANCELLED. Unlike
     * tk_session_cancel(), it belongs to this one request, so a server can
     * cancel a request before its generation has started. */
    bool (*cancelled)(void *user);
    void *cancel_user;
    /* Constrained decoding: only text of this grammar is generated, and the
     * answer ends when the grammar is complete and the model ends it (or
     * nothing more can follow). NULL = unconstrained. Borrowed. */
    const struct tk_grammar *grammar;
    /* OpenAI's logit_bias: bias_values[i] is added to the logit of token
     * bias_ids[i] before sampling (-100 bans a token, 100 forces it). Ids are
     * checked against the vocabulary (TK_ERR_INVALID_ARG). Borrowed. */
    const int32_t *bias_ids;
    const float *bias_values;
    int n_bias;
    /* Chat only: the tools the model may call, a JSON array of OpenAI tool
     * definitions, given to the chat template as `tools`. NULL = none.
     * Borrowed. */
    const char *tools_json;
    /* Whether the text of control tokens is part of the answer (tool-call
     * markers such as Mistral's [TOOL_CALLS] or Llama's <|python_tag|> are
     * control tokens); end-of-generation tokens still end it. */
    bool render_special;
} tk_gen_params;

void tk_gen_params_from_config(tk_gen_params *g, const tk_config *c);

typedef enum tk_finish {
    TK_FINISH_STOP = 0,  /* end of turn, EOS or a stop string */
    TK_FINISH_LENGTH,    /* max_tokens reached */
    TK_FINISH_CONTEXT,   /* the context is full */
    TK_FINISH_CANCELLED, /* the callback asked to stop, or tk_session_cancel() */
} tk_finish;

/* Numbers about one answer. */
typedef struct tk_metrics {
    int64_t n_prompt_tokens; /* tokens of the prompt (cached ones included) */
    int64_t n_cached_tokens; /* of which were already in the KV cache */
    int64_t n_gen_tokens;
    double prompt_tps; /* prompt tokens evaluated per second */
    double gen_tps;    /* generated tokens per second (after the first) */
    double ttft_s;     /* time to first token */
    double total_s;
    double prompt_s;   /* time spent evaluating the prompt (its uncached part) */
    double gen_s;      /* time spent generating: total_s - prompt_s */
    uint64_t peak_rss; /* bytes, whole process */
    tk_finish finish;
    uint64_t seed; /* the seed the sampler used */
} tk_metrics;

/* One generated token, for log-probabilities. */
typedef struct tk_token_info {
    int32_t id;
    const char *text; /* the token's text (borrowed, NUL-terminated) */
    double logprob;   /* the model's log-probability of the token */
    int n_top;        /* alternatives below, most likely first */
    const int32_t *top_ids;
    const double *top_logprobs;
    const char *const *top_texts;
} tk_token_info;

/* Receives generated text as it is produced: whole UTF-8 characters, never
 * part of a stop string. `infos` describes the tokens this text completes
 * (n_infos may be 0 while text is held back, and infos is NULL unless
 * logprobs were asked for). Return false to stop generating. */
typedef bool (*tk_stream_fn)(const char *text, size_t len, const tk_token_info *infos, int n_infos,
                             void *user);

/* Creates an engine on backend `kind` (not AUTO). */
tk_status tk_engine_create(tk_backend_kind kind, const tk_platform *p, const tk_config *c,
                           tk_engine **out);
void tk_engine_free(tk_engine *e);

/* Loads a model file. When the file does not exist the engine stays usable
 * in its fallback mode (it answers how to get a model) and TK_ERR_NOT_FOUND
 * is returned; other errors (a broken file) leave it without a model too. */
tk_status tk_engine_load(tk_engine *e, const char *model_path);
bool tk_engine_has_model(const tk_engine *e);
const char *tk_engine_backend_name(const tk_engine *e); /* "GGUF" */
const char *tk_engine_display_name(const tk_engine *e); /* "tektra CPU engine" */
uint64_t tk_engine_memory(const tk_engine *e);          /* bytes held by the engine */

/* Chat: renders `msgs` with the model's template and streams the answer,
 * on the engine's own session (its KV cache keeps the conversation, so the
 * next turn only evaluates what is new). A prompt that does not fit the
 * context is TK_ERR_CONTEXT_FULL with the numbers, never truncated. */
tk_status tk_engine_chat(tk_engine *e, const tk_message *msgs, int n_msgs, const tk_gen_params *g,
                         tk_stream_fn fn, void *user, tk_metrics *m);
/* Raw completion of `prompt` on the engine's own session. */
tk_status tk_engine_complete(tk_engine *e, const char *prompt, const tk_gen_params *g,
                             tk_stream_fn fn, void *user, tk_metrics *m);

/* The context size of a session in tokens (0 without a model). */
int64_t tk_engine_n_ctx(const tk_engine *e);
/* A short name of the loaded model (its file name without .gguf, or its
 * directory's name), "" when none. */
const char *tk_engine_model_name(const tk_engine *e);
/* The Jinja source of the chat template chats are rendered with (the
 * model's own, or the built-in one chosen for its vocabulary); NULL
 * without a model. Borrowed: lives as long as the loaded model. */
const char *tk_engine_chat_template(const tk_engine *e);

/* What the loaded model is (all zero and arch "" without a model). */
typedef struct tk_model_info {
    const char *arch; /* "llama", ... (borrowed: lives as long as the model) */
    int32_t n_vocab;
    int32_t n_ctx_train;
    uint64_t n_params;   /* weights, all tensors */
    uint64_t size_bytes; /* bytes of the weights as the backend holds them */
} tk_model_info;
void tk_engine_model_info(const tk_engine *e, tk_model_info *out);

/* ---- sessions: independent conversations on one engine ------------------- */

/* A session has its own KV cache and sampler state; several sessions share
 * the engine's model, each used by one thread at a time (a server runs one
 * per parallel request). Free with tk_session_free() before the engine. */
typedef struct tk_session tk_session;

tk_status tk_session_create(tk_engine *e, tk_session **out);
void tk_session_free(tk_session *s);
tk_status tk_session_chat(tk_session *s, const tk_message *msgs, int n_msgs, const tk_gen_params *g,
                          tk_stream_fn fn, void *user, tk_metrics *m);
tk_status tk_session_complete(tk_session *s, const char *prompt, const tk_gen_params *g,
                              tk_stream_fn fn, void *user, tk_metrics *m);
/* Asks a running chat/complete of `s` to stop as soon as possible (from any
 * thread); it then ends with finish = TK_FINISH_CANCELLED. */
void tk_session_cancel(tk_session *s);
/* Counts the tokens `msgs` make once rendered with the template (for
 * checking a request against the context before queueing it). */
tk_status tk_session_count_chat_tokens(tk_session *s, const tk_message *msgs, int n_msgs,
                                       int64_t *n_tokens);

/* The forward pass of a session's model alone, for tools that compare
 * backends (tektra logits, tektra bench): runs `n` tokens at the end of the
 * session's KV cache, as tk_context_decode (tektra/model.h) does - logits
 * NULL, or [n_vocab] of the last token, or with all_logits [n][n_vocab].
 * TK_ERR_NO_MODEL without a model, TK_ERR_CONTEXT_FULL past the context.
 * The next chat or completion on the session starts from an empty cache. */
tk_status tk_session_decode(tk_session *s, const int32_t *tokens, int n, float *logits,
                            bool all_logits);
/* Empties the session's KV cache. */
void tk_session_reset(tk_session *s);
/* Bytes the session holds for its context (KV cache and buffers); 0 when
 * the backend does not say. */
uint64_t tk_session_memory(const tk_session *s);

#ifdef __cplusplus
}
#endif
#endif
