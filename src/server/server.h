/* Internal pieces of the HTTP server: a growable byte buffer with a JSON
 * writer, and the parsing and checking of request bodies. Kept apart from
 * the HTTP plumbing (server.c) so tests can drive them directly. */
#ifndef TK_SERVER_INTERNAL_H
#define TK_SERVER_INTERNAL_H

#include "tektra/backend.h"

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
void server_buf_printf(server_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
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
};

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

/* Fills `err`: status, type, code (static or NULL), param ("" or NULL for
 * none) and a printf-style message. Returns false, for `return
 * server_error_set(...)`. */
bool server_error_set(server_error *err, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Writes `err` as {"error":{"message","type","param","code"}}. */
void server_error_json(const server_error *err, server_buf *out);

#endif
