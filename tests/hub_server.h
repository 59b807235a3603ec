/* A tiny HTTP/1.1 server on 127.0.0.1 for the hub tests: it serves files
 * from memory and misbehaves on request (ignores Range, drops the
 * connection halfway, stalls, redirects, answers 4xx). The tests also give
 * it a fake Hugging Face repository: its file listing
 * (/api/models/OWNER/REPO/tree/main) is a route like any file. One thread, one
 * connection at a time, "Connection: close" on every answer. */
#ifndef TK_TEST_HUB_SERVER_H
#define TK_TEST_HUB_SERVER_H

#include <stddef.h>

typedef enum hs_mode {
    HS_SERVE,     /* 200, or 206 for "Range: bytes=N-" (416 past the end) */
    HS_NO_RANGE,  /* always 200 with the whole file, Range ignored */
    HS_DROP_HALF, /* announces the whole file, sends half, closes; `drops` times, then HS_SERVE */
    HS_REDIRECT,  /* 302 to `location` */
    HS_STATUS,    /* answers `status` with a short text body */
    HS_STALL,     /* announces the file, sends 16 bytes, then nothing */
    HS_TOKEN,     /* HS_SERVE with "Authorization: Bearer <token>", else 401 */
} hs_mode;

typedef struct hs_route {
    const char *path; /* exact request path, query ignored */
    hs_mode mode;
    const void *data; /* body (borrowed: must outlive the server) */
    size_t len;
    int status;             /* HS_STATUS */
    const char *location;   /* HS_REDIRECT */
    int drops;              /* HS_DROP_HALF */
    const char *token;      /* HS_TOKEN */
    const char *error_code; /* HS_STATUS: sent as the Hub's "X-Error-Code" header when set */
} hs_route;

typedef struct hs_server hs_server;

/* Starts the server on a free port; NULL on failure. */
hs_server *hs_start(void);
int hs_port(const hs_server *s);
/* Adds or replaces the route of r->path (strings are copied). */
void hs_route_add(hs_server *s, const hs_route *r);
/* Requests seen for `path`. */
int hs_hits(hs_server *s, const char *path);
/* The Range header of the last request for `path` ("" when none). */
void hs_last_range(hs_server *s, const char *path, char *out, size_t size);
void hs_stop(hs_server *s);

#endif
