/* tektra chat templates: renders a model's `tokenizer.chat_template` (a
 * Jinja template) into the prompt text the model was trained on.
 *
 * The engine is tektra's own sandboxed interpreter for the Jinja subset that
 * chat templates use. Its output is byte-identical to Jinja2 as Hugging Face
 * transformers configures it (ImmutableSandboxedEnvironment, trim_blocks and
 * lstrip_blocks on, `tojson` without HTML escaping and with non-ASCII kept,
 * `raise_exception(msg)` and `strftime_now(fmt)` available). Templates
 * cannot touch files, the network or the process; every render is bounded
 * in evaluation steps, nesting depth, memory and output size, so a hostile
 * template ends with TK_ERR_TEMPLATE instead of hanging or crashing.
 *
 * Errors: TK_ERR_TEMPLATE for syntax errors ("template error at line L:C:
 * ..."), runtime errors, exceeded limits, and exceptions the template raises
 * itself ("template raised an error: <message>", the message verbatim);
 * TK_ERR_FORMAT for a context that is not valid JSON; TK_ERR_INVALID_ARG
 * for bad arguments. tk_last_error() has the detail. */
#ifndef TEKTRA_CHAT_H
#define TEKTRA_CHAT_H

#include "tektra/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tm;

/* Optional settings of a render; zeroed fields take the defaults. */
typedef struct tk_template_opts {
    const struct tm *now; /* borrowed; the clock of strftime_now() (local time
                             fields); NULL = the current local time */
    uint64_t max_steps;   /* evaluation steps; 0 = 10,000,000 */
    size_t max_output;    /* bytes of output (and of any string); 0 = 16 MiB */
} tk_template_opts;

/* Renders `template_src` (NUL-terminated UTF-8) with the variables of
 * `context_json`, a JSON object such as {"messages": [{"role": "user",
 * "content": "Hi"}], "add_generation_prompt": true, "bos_token": "<s>",
 * "eos_token": "</s>", "tools": [...]} (NULL = no variables). On success
 * *out is the NUL-terminated rendering (caller frees with free()) and
 * *out_len (may be NULL) its length in bytes. */
tk_status tk_template_render(const char *template_src, const char *context_json, char **out,
                             size_t *out_len);

/* The same with explicit lengths (the texts need no NUL) and options
 * (`opts` may be NULL). */
tk_status tk_template_render_ex(const char *template_src, size_t template_len,
                                const char *context_json, size_t context_len,
                                const tk_template_opts *opts, char **out, size_t *out_len);

/* One chat turn. Every string is borrowed and must be UTF-8; a NULL
 * content renders as an empty string. The tool fields may be NULL (not
 * defined for the template): `tool_calls_json` is a JSON array of OpenAI
 * tool calls [{"id", "type", "function": {"name", "arguments"}}] given to
 * the template as message.tool_calls (an `arguments` string holding a JSON
 * object is given as that object, which is what templates that write
 * `arguments | tojson` expect); `tool_call_id` and `name` become
 * message.tool_call_id and message.name. */
typedef struct tk_chat_msg {
    const char *role; /* "system", "user", "assistant", "tool", ... */
    const char *content;
    const char *tool_calls_json;
    const char *tool_call_id;
    const char *name;
} tk_chat_msg;

/* Settings of tk_chat_render(); zero-initialize, then set what you need. */
typedef struct tk_chat_opts {
    bool add_generation_prompt; /* end with the header of an assistant turn */
    const char *bos_token;      /* borrowed; NULL = "" */
    const char *eos_token;      /* borrowed; NULL = "" */
    const char *tools_json;     /* borrowed JSON array for `tools`; NULL = not defined */
    const char *extra_json;     /* borrowed JSON object of more variables (for example
                                   {"enable_thinking": false}); NULL = none */
    const struct tm *now;       /* borrowed; see tk_template_opts.now */
} tk_chat_opts;

/* Renders a conversation without going through JSON text: the context is
 * {messages, add_generation_prompt, bos_token, eos_token[, tools][, extra]}.
 * `opts` may be NULL (no generation prompt, empty tokens).
 *
 * Many templates refuse a system message (Gemma: "System role not
 * supported"). When the conversation starts with a system message and the
 * render fails, it is rendered again with the system text merged into the
 * first user turn as "SYSTEM\n\nUSER" (or turned into a user turn when there
 * is none), which is what users expect; *system_merged (may be NULL) tells
 * whether that happened. *out as tk_template_render(). */
tk_status tk_chat_render(const char *template_src, const tk_chat_msg *msgs, int n_msgs,
                         const tk_chat_opts *opts, char **out, size_t *out_len,
                         bool *system_merged);

/* The Jinja text of a built-in template ("chatml", "gemma", "llama3",
 * "llama2", "phi3"), for models whose file carries no chat template; NULL
 * for other names. The string is static. */
const char *tk_chat_builtin(const char *name);

/* Answers whether the vocabulary has a token with exactly this text. */
typedef bool (*tk_chat_has_token_fn)(const char *token_text, void *user);

/* Chooses the built-in template a vocabulary was made for, by its special
 * tokens: <|im_start|> -> "chatml", <start_of_turn> -> "gemma",
 * <|start_header_id|> -> "llama3", <|user|> with <|end|> -> "phi3",
 * [INST] -> "llama2", otherwise "chatml". Returns the (static) name. */
const char *tk_chat_builtin_for_vocab(tk_chat_has_token_fn has_token, void *user);

#ifdef __cplusplus
}
#endif
#endif
