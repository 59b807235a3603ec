/* Internal pieces of the HTTP server: a growable byte buffer with a JSON
 * writer, and the parsing and checking of request bodies. Kept apart from
 * the HTTP plumbing (server.c) so tests can drive them directly. */
#ifndef TK_SERVER_INTERNAL_H
#define TK_SERVER_INTERNAL_H

#include "tektra/backend.h"

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- output buffer -------------------------------------------------------- */

/* Bytes appended at the end; `failed` records an allocation failure (the
 * buffer then keeps what it had and ignores further appends), so a sequence
 * of appends is checked once at the end. */
typedef struct server_buf {
    char *data; /* owned, NUL-terminated when not NULL */
    size_t len, cap;
    bool failed;
} server_buf;

void server_buf_free(server_buf *b);
void server_buf_append(server_buf *b, const char *s, size_t n);
void server_buf_puts(server_buf *b, const char *s);
void server_buf_printf(server_buf *b, const char *fmt, ...) TK_PRINTF(2, 3);
/* Appends `s` (n bytes) as a quoted JSON string. Bytes that are not valid
 * UTF-8 become U+FFFD, so the output is always valid JSON. */
void server_buf_json_str(server_buf *b, const char *s, size_t n);
/* The same without the quotes, for a string written in pieces. */
void server_buf_json_chars(server_buf *b, const char *s, size_t n);
/* A finite number with enough digits to round-trip a float; NaN as null,
 * -inf as -9999 (what OpenAI reports for impossible tokens). */
void server_buf_json_num(server_buf *b, double v);
/* The bytes of `s` as a JSON array of integers, "[72,105]". */
void server_buf_json_bytes(server_buf *b, const char *s, size_t n);

/* Length of the valid UTF-8 character at s[0..n) (1..4), or 0 when the
 * bytes there are not one (bad lead byte, bad continuation, overlong form,
 * surrogate, above U+10FFFF, or cut short by n). */
size_t server_utf8_char_len(const unsigned char *s, size_t n);
bool server_utf8_valid(const char *s, size_t n);

/* ---- requests ------------------------------------------------------------- */

typedef enum server_endpoint {
    SERVER_CHAT = 0,   /* POST /v1/chat/completions */
    SERVER_COMPLETION, /* POST /v1/completions */
} server_endpoint;

enum {
    SERVER_MAX_STOP = 16,      /* stop strings per request */
    SERVER_MAX_STOP_LEN = 256, /* bytes per stop string */
    SERVER_MAX_TOP_LOGPROBS = 20,
    SERVER_MAX_MESSAGES = 65536,
    SERVER_MAX_TOOLS = 256,
    SERVER_MAX_BIAS = 1024, /* logit_bias entries */
};

/* tool_choice */
typedef enum server_tool_choice {
    SERVER_TOOLS_AUTO = 0, /* the model decides (the default with tools) */
    SERVER_TOOLS_NONE,     /* no tool calls: tools are not shown to the model */
    SERVER_TOOLS_REQUIRED, /* at least one call, enforced by a grammar */
    SERVER_TOOLS_NAMED,    /* a call of `tool_name`, enforced by a grammar */
} server_tool_choice;

/* response_format */
typedef enum server_format {
    SERVER_FORMAT_TEXT = 0,
    SERVER_FORMAT_JSON_OBJECT,
    SERVER_FORMAT_JSON_SCHEMA,
} server_format;

/* How a chat template's model writes tool calls (server_tools_detect). */
typedef enum server_tool_format {
    TOOLFMT_NONE = 0,     /* not known: tools cannot be offered */
    TOOLFMT_HERMES,       /* <tool_call>{"name", "arguments"}</tool_call>: Qwen2.5/3, Hermes */
    TOOLFMT_LLAMA3,       /* {"name", "parameters"}, maybe after <|python_tag|>: Llama 3.1-3.3 */
    TOOLFMT_MISTRAL,      /* [TOOL_CALLS][{"name", "arguments"}, ...]: Mistral Nemo */
    TOOLFMT_MISTRAL_ARGS, /* [TOOL_CALLS]name[ARGS]{...}: Ministral 3, Magistral, Devstral */
    TOOLFMT_GRANITE,      /* <|tool_call|>[{"name", "arguments"}, ...]: Granite 3 */
    TOOLFMT_QWEN3_CODER,  /* <tool_call><function=name><parameter=p>v</parameter>...: Qwen3-Coder */
    TOOLFMT_HARMONY,      /* to=functions.name ...<|message|>{...}: gpt-oss */
    TOOLFMT_GEMMA4,       /* <|tool_call>call:name{key:<|"|>v<|"|>,...}<tool_call|>: Gemma 4 */
} server_tool_format;

/* A checked request. Strings point into `json` or into `owned` storage and
 * live until server_request_free(). */
typedef struct server_request {
    server_endpoint endpoint;
    void *json;       /* the parsed body (cJSON *), owned */
    tk_message *msgs; /* [n_msgs], owned array (chat) */
    int n_msgs;
    char **owned; /* [n_owned] joined contents, owned */
    int n_owned;
    const char *prompt; /* completion prompt */
    bool echo;          /* completion: the answer starts with the prompt */
    const char *stops[SERVER_MAX_STOP];
    tk_gen_params g; /* defaults with the request's values; g.stop points to
                        `stops` of this struct: set it again after a copy */
    bool stream;
    bool include_usage; /* stream_options.include_usage */

    /* Tools (chat). `tools` points into `json` (NULL = none). */
    const void *tools; /* cJSON array of the request's tool definitions */
    char *tools_json;  /* owned: `tools` as compact JSON, for the template */
    server_tool_choice tool_choice;
    const char *tool_name;    /* SERVER_TOOLS_NAMED */
    bool parallel_tool_calls; /* default true */
    /* Structured output: the grammar text of response_format, rules
     * prefixed "rf-" (owned, NULL for text). */
    server_format format;
    char *format_grammar;
    /* logit_bias, owned; g.bias_* point here. */
    int32_t *bias_ids;
    float *bias_values;

    /* Set by server_request_bind(): the model's tool-call format when tool
     * calls are to be parsed from the answer (TOOLFMT_NONE otherwise), and
     * the grammar every answer follows (owned; g.grammar points here). */
    server_tool_format tool_format;
    struct tk_grammar *grammar;
} server_request;

/* What is wrong with a request, in OpenAI's error shape. */
typedef struct server_error {
    int status;       /* HTTP status */
    const char *type; /* "invalid_request_error", ... (static) */
    const char *code; /* static, or NULL for null */
    char param[128];  /* the field at fault, "" for null */
    char message[768];
} server_error;

/* Parses and checks a request body (`n` bytes, need not be NUL-terminated)
 * for `endpoint`, starting from `defaults`. Unknown fields are ignored. On
 * failure returns false with `err` filled (status 400) and nothing to free;
 * on success the caller frees `out` with server_request_free(). */
bool server_request_parse(server_endpoint endpoint, const char *body, size_t n,
                          const tk_gen_params *defaults, server_request *out, server_error *err);
void server_request_free(server_request *r);

/* Binds a parsed request to the loaded model: checks logit_bias ids
 * against `n_vocab`, chooses the tool-call format from the chat template
 * `template_src` (NULL = none) and builds the grammar of tool_choice and
 * response_format. On failure returns false with `err` filled (400: the
 * template cannot take tools, a schema keyword cannot be enforced, a token
 * id is out of range). */
bool server_request_bind(server_request *r, const char *template_src, int32_t n_vocab,
                         server_error *err);

/* ---- tool calls (tools.c) -------------------------------------------------- */

/* The tool-call format of a chat template; *knows_tools tells whether the
 * template reads `tools` at all. */
server_tool_format server_tools_detect(const char *template_src, bool *knows_tools);
const char *server_tools_format_name(server_tool_format f);

/* The grammar (rules prefixed "tc-", start "tc-root") of answers that are
 * only tool calls of `tools` (a cJSON array) in format `f`: any of them, or
 * only `only_name` when not NULL; one call, or several when `parallel`.
 * Returns NULL with `err` filled when a tool's parameters cannot be
 * enforced, or when the format cannot be forced (Gemma 4, whose arguments
 * are not JSON). Caller frees with free(). */
char *server_tools_grammar(server_tool_format f, const void *tools, const char *only_name,
                           bool parallel, server_error *err);

/* One parsed tool call; strings owned. */
typedef struct server_tool_call {
    char *id;
    char *name;
    char *arguments; /* JSON text of an object */
} server_tool_call;

/* Tool calls parsed out of an answer. */
typedef struct server_tool_calls {
    server_tool_call *v;
    int n;
    char *content; /* owned: the answer's text without the calls ("" when none) */
} server_tool_calls;

/* Parses `text` (len bytes) written in format `f`. When it holds tool calls,
 * returns true and fills *out (content = the text around them); when it
 * holds none or they do not parse, returns false and *out is empty. Ids
 * are made from `seed` (Mistral's are 9 letters and digits, as its
 * template demands). */
bool server_tools_parse(server_tool_format f, const char *text, size_t len, uint64_t seed,
                        server_tool_calls *out);
void server_tool_calls_free(server_tool_calls *c);

/* While streaming: the offset in text[0, len) from which text has to be held
 * back because a tool call starts (or may start) there. *started is set
 * when a call certainly starts there (all later text is held). */
size_t server_tools_hold_from(server_tool_format f, const char *text, size_t len, bool *started);

/* Fills `err`: status, type, code (static or NULL), param ("" or NULL for
 * none) and a printf-style message. Returns false, for `return
 * server_error_set(...)`. */
bool server_error_set(server_error *err, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...) TK_PRINTF(6, 7);

/* Writes `err` as {"error":{"message","type","param","code"}}. */
void server_error_json(const server_error *err, server_buf *out);

#endif
