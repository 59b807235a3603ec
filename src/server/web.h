/* The chat page of `tektra serve`: the files of web/, compiled in by
 * cmake/embed.cmake, and GET /props, what the page shows about the engine.
 * Kept apart from server.c, which only routes to these. */
#ifndef TK_SERVER_WEB_H
#define TK_SERVER_WEB_H

#include "server/server.h"
#include "tektra/backend.h"

#include <microhttpd.h>
#include <stddef.h>

/* One embedded file. */
typedef struct server_web_file {
    const char *path;          /* URL path, "/index.html" */
    const unsigned char *data; /* [len] bytes (static) */
    size_t len;
    const char *mime; /* Content-Type value */
} server_web_file;

/* Generated from web/ at build time (sorted by path). */
extern const server_web_file server_web_files[];
extern const int server_web_n_files;

/* The file a request path names ("/" is "/index.html"), or NULL. `url` is
 * the path without the query string, as libmicrohttpd gives it. */
const server_web_file *server_web_find(const char *url);

/* Queues `f` as a 200 answer with the page's security headers (a
 * Content-Security-Policy allowing only this origin and no inline script,
 * X-Content-Type-Options: nosniff). The bytes are static: nothing is
 * copied. */
enum MHD_Result server_web_respond(struct MHD_Connection *c, const server_web_file *f);

/* Writes the JSON of GET /props: the model's name (`model_name`, borrowed),
 * the backend ("gguf" or "mlx"), the CPU kernel level (GGUF; null for MLX),
 * the context size, the slots and what the model is. `e` is borrowed. */
void server_web_props(server_buf *b, const tk_engine *e, const char *model_name, int n_parallel);

#endif
