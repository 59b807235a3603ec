/* The server's private types, shared by the HTTP plumbing (server.c) and
 * the writing of answers (answer.c): the server, its slots and its jobs. */
#ifndef TK_SERVER_JOB_H
#define TK_SERVER_JOB_H

#include "server/server.h"
#include "tektra/server.h"

#include <pthread.h>
#include <stdatomic.h>

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE } job_state;

typedef struct job job;
typedef struct slot slot;

struct tk_server {
    char *host;    /* owned */
    char *api_key; /* owned, NULL when open */
    char *cors;    /* owned, NULL when no CORS headers are sent */
    size_t max_body;
    int n_parallel, n_queue;
    bool auto_parallel; /* n_parallel is the most; set_engine chooses */
    tk_gen_params defaults;
    int listen_fd;
    int port;
    struct MHD_Daemon *daemon;
    uint64_t id_seed;
    atomic_uint_fast64_t id_counter;
    atomic_bool ready; /* set once the engine and the slots are in place */

    pthread_mutex_t mu;
    pthread_cond_t cond; /* workers wait here for jobs */
    bool stopping, stopped;
    tk_engine *engine; /* borrowed */
    char model_name[256];
    int64_t model_created;
    slot *slots; /* [n_parallel] once ready */
    job **queue; /* ring of waiting jobs, [n_parallel + n_queue] */
    int q_head, q_len, q_cap;
    int n_inflight; /* queued + running */
    uint64_t n_finished; /* jobs finished, the slots' clock */
};

struct slot {
    tk_server *srv;
    tk_session *session;
    pthread_t thread;
    bool started;
    job *job; /* the running job, under srv->mu */
    /* Under srv->mu: waiting for a job; the conversation key of the last
     * job (whose prompt its KV cache holds); when it last finished one. */
    bool idle;
    uint64_t key;
    uint64_t last_used;
};

struct job {
    pthread_mutex_t mu;
    int refs;
    tk_server *srv;
    server_request req;
    char id[48];
    int64_t created;
    const char *model; /* srv->model_name */
    int wake[2];       /* worker -> connection thread: something changed */
    int client_fd;
    bool watch_client; /* false once the client sent more data we cannot peek past */

    /* Under mu. */
    job_state state;
    bool started;   /* output exists (or the job is done): the answer's status is 200 */
    bool cancelled; /* by the client's hang-up or by tk_server_stop */
    bool shutdown;  /* cancelled by tk_server_stop */
    bool oom;
    tk_session *session; /* while running */
    tk_status status;    /* when done */
    char error[512];     /* when done with status != TK_OK */
    tk_metrics m;
    server_buf out;     /* stream: events not yet sent; otherwise the answer's text */
    size_t out_pos;     /* stream: bytes of `out` already sent */
    server_buf lp[4];   /* not streamed: logprobs (chat: [0]; completion: the four arrays) */
    int64_t n_lp;       /* tokens in lp */
    size_t text_offset; /* completion logprobs: offset of the next token's text */
    bool first_sent;    /* stream: the first chunk (role, echo) is out */
    /* Streamed with tool calls: the whole answer, how much of it went out
     * as content, and whether a call has begun (the rest is held). */
    server_buf answer;
    size_t released;
    bool call_started;
    uint64_t tool_seed;
    uint64_t key; /* the conversation: its first messages (or prompt), hashed */ /* for the ids of tool calls */
};

/* ---- writing answers (answer.c) ------------------------------------------ */

/* One server-sent event with one choice: `text` (may be NULL for none),
 * `infos` for logprobs, `finish` (NULL while going on). Under j->mu. */
void answer_chunk(job *j, const char *text, size_t len, const tk_token_info *infos, int n_infos,
                  const char *finish);
/* Chat logprobs entries of `infos`, comma-separated (a leading comma when
 * `comma`). */
void answer_chat_logprobs(server_buf *b, const tk_token_info *infos, int n, int top, bool comma);
/* The legacy completion logprobs of `infos` appended to the four arrays
 * (tokens, token_logprobs, top_logprobs, text_offset). */
void answer_legacy_logprobs(server_buf lp[4], const tk_token_info *infos, int n, int top,
                            bool comma, size_t *offset);
/* The end of a streamed answer (under j->mu): held tool calls, the last
 * chunk with the reason, the usage, [DONE]; or an error event when it
 * failed after the first chunk went out. */
void answer_finish_stream(job *j);
/* The error of a job that ended before any output. */
void answer_error(const job *j, server_error *e);
/* The whole answer of a job that is done, not streamed. */
void answer_whole(const job *j, server_buf *b);

#endif
