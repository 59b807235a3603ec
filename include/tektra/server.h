/* tektra server: an OpenAI-compatible HTTP API over an engine.
 *
 * Endpoints: POST /v1/chat/completions, POST /v1/completions (both with
 * server-sent-event streaming), GET /v1/models, GET /v1/models/{id},
 * GET /health, GET /props (model, backend, kernel level, n_ctx, n_parallel)
 * and the chat page: GET / and its files (web/, compiled in; no API key
 * needed, served with a Content-Security-Policy that allows this origin
 * only). Errors use OpenAI's shape {"error":{"message","type","param","code"}}.
 *
 * Threads. Every connection has a thread of its own (libmicrohttpd's
 * thread-per-connection mode), so a slow or waiting request never holds up
 * another one, and /health answers while the model is busy. Generation runs
 * on n_parallel worker threads, one per slot; a slot owns one tk_session
 * (its own KV cache) on the shared engine. A request that finds every slot
 * busy waits in a bounded queue of n_queue places; when that is full it is
 * answered 503 with Retry-After. The connection's thread passes the
 * request to a slot and waits for its output, watching the client's socket
 * meanwhile: a client that hangs up (while queued, while its prompt is
 * evaluated, or mid-stream) has its generation cancelled at once and its
 * slot freed, without touching the other requests.
 *
 * Answers. The status line goes out only once the slot has produced output
 * (or failed), so a request the engine refuses before any output, such as
 * a prompt longer than the context (TK_ERR_CONTEXT_FULL: 400
 * "context_length_exceeded" with the engine's numbers), gets an HTTP error
 * even when streamed; a failure after the first event ends the stream with
 * an error event. A full context mid-answer ends it with finish_reason
 * "length". Bodies larger than max_body get 413 (the body of a client
 * already sending it, up to 16 x max_body, is read and dropped first, so
 * that the client sees the answer rather than a reset).
 *
 * Life cycle: tk_server_start() listens at once and answers /health with
 * 503 ("loading") and generation requests with 503 until
 * tk_server_set_engine() hands it a loaded engine (load the model in a
 * thread of your own meanwhile). tk_server_stop() stops accepting, cancels
 * every queued and running generation and waits for the threads;
 * tk_server_free() then frees everything, after which the engine may be
 * freed. */
#ifndef TEKTRA_SERVER_H
#define TEKTRA_SERVER_H

#include "tektra/backend.h"
#include "tektra/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_server tk_server;

typedef struct tk_server_params {
    const char *host;        /* address or host name to listen on (copied); NULL = 127.0.0.1 */
    int port;                /* 0..65535; 0 = any free port (see tk_server_port) */
    int n_parallel;          /* requests generated at once (slots, one KV cache each), 1..256;
                                0 = chosen when the model is in: 2 (4 with 8 cores or more),
                                fewer when their KV caches would take more than a quarter
                                of the available memory */
    int n_queue;             /* requests that may wait for a slot, >= 0; more get 503 */
    const char *api_key;     /* NULL or "" = open; else required as "Authorization: Bearer
                                KEY" on /v1/ and /props (copied) */
    size_t max_body;         /* largest request body in bytes (larger: 413); 0 = 1 MiB */
    const char *cors_origin; /* NULL or "" = no CORS headers (browsers on other origins are
                                refused by the browser); else the Access-Control-Allow-Origin
                                value, e.g. "http://localhost:3000" or "*" (copied) */
    tk_gen_params defaults;  /* generation settings a request does not set (stop not used) */
} tk_server_params;

/* Defaults: 127.0.0.1, port 8080, slots chosen (0), 16 queue places, no key, 1 MiB
 * bodies, generation defaults of tk_config_defaults(). */
void tk_server_default_params(tk_server_params *p);

/* Binds, listens and starts answering. Errors: TK_ERR_INVALID_ARG (a
 * parameter out of range, named), TK_ERR_IO (cannot resolve or bind the
 * address: the message says which and why), TK_ERR_NOMEM. On success *out is
 * owned by the caller: stop and free it with tk_server_stop() and
 * tk_server_free(). */
tk_status tk_server_start(const tk_server_params *p, tk_server **out);

/* The port the server listens on (the chosen one when params.port was 0). */
int tk_server_port(const tk_server *s);

/* Makes the server ready: creates the n_parallel sessions on `e` (borrowed:
 * it must outlive the server) and starts the slot workers. Call once, from
 * any thread. An engine without a model is accepted: every answer is then
 * the engine's explanation of how to get one. Errors from
 * tk_session_create() (e.g. TK_ERR_NOMEM for the KV caches); the server then
 * stays not ready. */
tk_status tk_server_set_engine(tk_server *s, tk_engine *e);

/* Stops accepting connections, cancels queued and running generations,
 * ends open connections and joins every thread. Idempotent. Not to be
 * called from a callback of the server itself. */
void tk_server_stop(tk_server *s);

/* Stops the server if needed and frees it, its sessions included. NULL is
 * fine. */
void tk_server_free(tk_server *s);

#ifdef __cplusplus
}
#endif
#endif
