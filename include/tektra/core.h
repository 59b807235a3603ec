/* tektra core: status codes, error messages, logging, version. */
#ifndef TEKTRA_CORE_H
#define TEKTRA_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one list of status codes. It generates the tk_status enum and the
 * strings of tk_status_str(); add a code here and nowhere else. */
#define TK_STATUS_LIST(X)                                                                          \
    X(OK, "ok")                                                                                    \
    X(ERR_INVALID_ARG, "invalid argument")                                                         \
    X(ERR_NOMEM, "out of memory")                                                                  \
    X(ERR_IO, "input/output error")                                                                \
    X(ERR_NOT_FOUND, "not found")                                                                  \
    X(ERR_FORMAT, "malformed input")                                                               \
    X(ERR_UNSUPPORTED, "not supported")                                                            \
    X(ERR_OVERFLOW, "size overflow")                                                               \
    X(ERR_LIMIT, "limit exceeded")                                                                 \
    X(ERR_CONFIG, "configuration error")                                                           \
    X(ERR_BACKEND_UNAVAILABLE, "backend not available")                                            \
    X(ERR_NO_MODEL, "no model loaded")                                                             \
    X(ERR_CONTEXT_FULL, "context is full")                                                         \
    X(ERR_TOKENIZER, "tokenizer error")                                                            \
    X(ERR_TEMPLATE, "template error")                                                              \
    X(ERR_CANCELLED, "cancelled")                                                                  \
    X(ERR_NETWORK, "network error")                                                                \
    X(ERR_CHECKSUM, "checksum mismatch")                                                           \
    X(ERR_NONFINITE, "non-finite values")                                                          \
    X(ERR_INTERNAL, "internal error")

typedef enum tk_status {
#define TK_STATUS_ENUM_(name, msg) TK_##name,
    TK_STATUS_LIST(TK_STATUS_ENUM_)
#undef TK_STATUS_ENUM_
        TK_STATUS_COUNT_
} tk_status;

/* A short English description of a status code; never NULL. */
const char *tk_status_str(tk_status status);

/* The detailed message of the last failure on this thread ("" if none).
 * Borrowed: valid until the next failing call on this thread. */
const char *tk_last_error(void);

/* The library version, "MAJOR.MINOR.PATCH". */
const char *tk_version(void);

typedef enum tk_log_level {
    TK_LOG_DEBUG = 0,
    TK_LOG_INFO = 1,
    TK_LOG_WARN = 2,
    TK_LOG_ERROR = 3,
} tk_log_level;

/* Receives every log line (without a trailing newline). `user` is the
 * pointer given to tk_log_set(). Called from any thread. */
typedef void (*tk_log_fn)(tk_log_level level, const char *msg, void *user);

/* Sets the log callback; NULL restores the default (warnings and errors to
 * stderr). Messages below `min_level` are dropped. */
void tk_log_set(tk_log_fn fn, void *user, tk_log_level min_level);

/* Reads a whole file of at most `max` bytes into a NUL-terminated buffer
 * (*out: caller frees with free(); *len may be NULL). TK_ERR_NOT_FOUND,
 * TK_ERR_IO or TK_ERR_LIMIT with a message naming the path. */
tk_status tk_read_file(const char *path, size_t max, char **out, size_t *len);

/* fopen() of a UTF-8 path: on Windows through the wide-character API, so
 * any file name works; elsewhere fopen() itself. */
FILE *tk_fopen(const char *path, const char *mode);

#ifdef __cplusplus
}
#endif
#endif
