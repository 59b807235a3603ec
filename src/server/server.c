/* The HTTP server: libmicrohttpd in thread-per-connection mode in front of
 * n_parallel slot workers (see include/tektra/server.h for the design).
 *
 * A request's life: the connection's thread reads and checks the body,
 * makes a job and puts it in the queue; a slot's worker takes it, runs the
 * session on it and writes the output into the job (server-sent events
 * ready to send, or the answer's text); the connection's thread waits on
 * the job's wake-up pipe and on the client's socket at once, so it notices
 * both new output and a client that has gone. Jobs are reference-counted:
 * the connection (or its streamed response) holds one reference, the queue
 * or the worker the other.
 *
 * Locks: the server's `mu` guards the queue, the slots' current jobs and the
 * state flags; a job's `mu` guards its output and state. When both are
 * needed the server's is taken first. */
#include "tektra/server.h"

#include "core/core.h"
#include "core/os.h"
#include "server/job.h"
#include "server/web.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Idle keep-alive connections are closed after this many seconds, so they
 * do not hold threads for ever. A request being answered is never idle. */
#define SERVER_IDLE_TIMEOUT_S 600
/* Connections beyond the slots and the queue, for /health, /v1/models and
 * requests that are about to be told 503. */
#define SERVER_SPARE_CONNECTIONS 64
/* With n_parallel 0 the slots are chosen when the model is in: 2, or 4 on a
 * machine with 8 cores or more, as long as their KV caches take at most a
 * quarter of the memory available. */
#define SERVER_AUTO_PARALLEL_MAX 4

/* ---- jobs ------------------------------------------------------------------- */

static void job_wake(job *j)
{
    char c = 1;
    ssize_t n = write(j->wake[1], &c, 1); /* a full pipe already wakes the reader */
    (void)n;
}

static void job_release(job *j)
{
    pthread_mutex_lock(&j->mu);
    int refs = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (refs > 0) return;
    server_request_free(&j->req);
    server_buf_free(&j->out);
    server_buf_free(&j->answer);
    for (int i = 0; i < 4; i++) server_buf_free(&j->lp[i]);
    close(j->wake[0]);
    close(j->wake[1]);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

static bool set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 &&
           fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Takes ownership of `req` (also on failure). */
/* FNV-1a of `n` bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

/* What a request's prompt starts with: a chat's messages up to its first
 * user message (the system prompt and the first question stay the same
 * while a conversation goes on), the first 256 bytes of a completion's
 * prompt. A slot whose cache holds the same conversation reads only what
 * is new. */
static uint64_t conversation_key(const server_request *r)
{
    uint64_t h = 0xcbf29ce484222325ull;
    if (r->endpoint != SERVER_CHAT) {
        size_t n = strlen(r->prompt);
        return fnv(h, r->prompt, n < 256 ? n : 256);
    }
    for (int i = 0; i < r->n_msgs; i++) {
        h = fnv(h, r->msgs[i].role, strlen(r->msgs[i].role) + 1);
        h = fnv(h, r->msgs[i].content, strlen(r->msgs[i].content) + 1);
        if (strcmp(r->msgs[i].role, "user") == 0) break;
    }
    return h;
}

static job *job_new(tk_server *s, server_request *req, int client_fd)
{
    job *j = calloc(1, sizeof *j);
    if (!j) {
        server_request_free(req);
        return NULL;
    }
    j->req = *req;
    j->req.g.stop = j->req.stops; /* it pointed into the copy's source */
    memset(req, 0, sizeof *req);
    if (pipe(j->wake) != 0) {
        server_request_free(&j->req);
        free(j);
        return NULL;
    }
    if (!set_nonblock_cloexec(j->wake[0]) || !set_nonblock_cloexec(j->wake[1])) {
        close(j->wake[0]);
        close(j->wake[1]);
        server_request_free(&j->req);
        free(j);
        return NULL;
    }
    pthread_mutex_init(&j->mu, NULL);
    j->refs = 1;
    j->srv = s;
    uint64_t n = atomic_fetch_add(&s->id_counter, 1);
    uint64_t a = splitmix64(s->id_seed ^ (n * 2)), b = splitmix64(s->id_seed ^ (n * 2 + 1));
    snprintf(j->id, sizeof j->id, "%s%016llx%08llx",
             j->req.endpoint == SERVER_CHAT ? "chatcmpl-" : "cmpl-", (unsigned long long)a,
             (unsigned long long)(b >> 32));
    j->tool_seed = splitmix64(a ^ b);
    j->key = conversation_key(&j->req);
    j->created = (int64_t)time(NULL);
    j->model = s->model_name;
    j->client_fd = client_fd;
    j->watch_client = client_fd >= 0;
    j->state = JOB_QUEUED;
    return j;
}

/* Waits for a wake-up of `j` or for its client to go. Returns false when the
 * client has hung up. */
static bool job_wait(job *j)
{
    struct pollfd p[2] = {{.fd = j->wake[0], .events = POLLIN}, {.fd = -1}};
    int n = 1;
    if (j->watch_client) {
#ifdef POLLRDHUP
        p[1] = (struct pollfd){.fd = j->client_fd, .events = POLLIN | POLLRDHUP};
#else
        p[1] = (struct pollfd){.fd = j->client_fd, .events = POLLIN};
#endif
        n = 2;
    }
    int r = poll(p, (nfds_t)n, -1);
    if (r < 0) return errno == EINTR || errno == EAGAIN;
    if (p[0].revents & POLLIN) {
        char buf[64];
        while (read(j->wake[0], buf, sizeof buf) > 0) {
        }
    }
    if (n == 2 && p[1].revents) {
        if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL)) return false;
#ifdef POLLRDHUP
        if (p[1].revents & POLLRDHUP) return false;
#endif
        /* Readable: either the end of the stream (the client is gone) or
         * a pipelined next request, which this connection reads later. */
        char c;
        ssize_t got = recv(j->client_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (got == 0) return false;
        if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
        if (got > 0) j->watch_client = false;
    }
    return true;
}

/* Cancels `j` for its client's sake (or the server's): out of the queue if
 * it waits there, otherwise its session is asked to stop. */
static void job_cancel(job *j, bool shutdown)
{
    tk_server *s = j->srv;
    pthread_mutex_lock(&s->mu);
    bool drop_queue_ref = false;
    for (int i = 0; i < s->q_len; i++) {
        int k = (s->q_head + i) % s->q_cap;
        if (s->queue[k] != j) continue;
        for (int m = i; m + 1 < s->q_len; m++)
            s->queue[(s->q_head + m) % s->q_cap] = s->queue[(s->q_head + m + 1) % s->q_cap];
        s->q_len--;
        s->n_inflight--;
        drop_queue_ref = true;
        /* Another job may now be at the head: the idle slots look again. */
        pthread_cond_broadcast(&s->cond);
        break;
    }
    pthread_mutex_lock(&j->mu);
    if (j->state != JOB_DONE) {
        j->cancelled = true;
        j->shutdown = j->shutdown || shutdown;
        if (j->session) tk_session_cancel(j->session);
        if (drop_queue_ref) {
            j->state = JOB_DONE;
            j->status = TK_OK;
            j->m.finish = TK_FINISH_CANCELLED;
        }
    }
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_unlock(&s->mu);
    job_wake(j);
    if (drop_queue_ref) job_release(j);
}

/* ---- the slot workers ----------------------------------------------------- */

/* The session's stream callback, on the worker's thread. */
static bool on_text(const char *text, size_t len, const tk_token_info *infos, int n_infos,
                    void *user)
{
    job *j = user;
    const server_request *r = &j->req;
    pthread_mutex_lock(&j->mu);
    if (j->cancelled) {
        pthread_mutex_unlock(&j->mu);
        return false;
    }
    if (!r->g.logprobs) n_infos = 0;
    if (len == 0 && n_infos == 0) {
        pthread_mutex_unlock(&j->mu);
        return true;
    }
    if (r->stream && r->tool_format != TOOLFMT_NONE) {
        /* Text that is (or may become) a tool call is held back. */
        server_buf *a = &j->answer;
        server_buf_append(a, text, len);
        size_t hold = j->released; /* once a call has begun, nothing more goes out */
        if (!j->call_started && !a->failed)
            hold = server_tools_hold_from(r->tool_format, a->data, a->len, &j->call_started);
        if (hold > j->released) {
            answer_chunk(j, a->data + j->released, hold - j->released, infos, n_infos, NULL);
            j->released = hold;
        } else if (n_infos > 0) {
            answer_chunk(j, NULL, 0, infos, n_infos, NULL);
        }
        if (a->failed) j->oom = true;
    } else if (r->stream) {
        answer_chunk(j, text, len, infos, n_infos, NULL);
    } else {
        server_buf_append(&j->out, text, len);
        if (n_infos > 0) {
            if (r->endpoint == SERVER_CHAT)
                answer_chat_logprobs(&j->lp[0], infos, n_infos, r->g.top_logprobs, j->n_lp > 0);
            else
                answer_legacy_logprobs(j->lp, infos, n_infos, r->g.top_logprobs, j->n_lp > 0,
                                       &j->text_offset);
            j->n_lp += n_infos;
        }
    }
    bool failed = j->out.failed;
    for (int a = 0; a < 4; a++) failed = failed || j->lp[a].failed;
    if (failed) j->oom = true;
    j->started = j->started || r->stream;
    pthread_mutex_unlock(&j->mu);
    if (r->stream) job_wake(j);
    return !failed;
}

/* The request's own cancel flag, polled by the engine (also while the
 * prompt is evaluated, before the first token). */
static bool job_cancelled(void *user)
{
    job *j = user;
    pthread_mutex_lock(&j->mu);
    bool c = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    return c;
}

static void run_job(slot *sl, job *j)
{
    tk_server *s = sl->srv;
    const server_request *r = &j->req;
    tk_metrics m;
    memset(&m, 0, sizeof m);
    pthread_mutex_lock(&j->mu);
    bool cancelled = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    tk_status st = TK_OK;
    char error[512] = "";
    if (cancelled) {
        m.finish = TK_FINISH_CANCELLED;
    } else {
        tk_gen_params g = r->g;
        g.cancelled = job_cancelled;
        g.cancel_user = j;
        if (r->endpoint == SERVER_CHAT)
            st = tk_session_chat(sl->session, r->msgs, r->n_msgs, &g, on_text, j, &m);
        else
            st = tk_session_complete(sl->session, r->prompt, &g, on_text, j, &m);
        if (st != TK_OK) core_strlcpy(error, tk_last_error(), sizeof error);
    }

    pthread_mutex_lock(&s->mu);
    sl->job = NULL;
    sl->last_used = ++s->n_finished;
    s->n_inflight--;
    pthread_mutex_lock(&j->mu);
    j->session = NULL;
    j->status = st;
    core_strlcpy(j->error, error[0] ? error : tk_status_str(st), sizeof j->error);
    j->m = m;
    if (r->stream) answer_finish_stream(j);
    j->state = JOB_DONE;
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_unlock(&s->mu);
    job_wake(j);
    static const char *const finish[] = {"stop", "length", "context", "cancelled"};
    core_log(TK_LOG_INFO,
             "%s: slot %d: %lld prompt tokens (%lld cached), %lld generated, finish %s, %.3f s",
             j->id, (int)(sl - s->slots), (long long)m.n_prompt_tokens,
             (long long)m.n_cached_tokens, (long long)m.n_gen_tokens,
             st == TK_OK ? finish[m.finish] : tk_status_str(st), m.total_s);
    job_release(j);
}

/* Whether `sl` is the idle slot that should take job `j` (under s->mu):
 * the one whose cache holds j's conversation, else the one used least
 * recently (so a short side request, such as a chat front-end's title,
 * does not evict the conversation just answered); ties: the lowest. */
static bool slot_preferred(const tk_server *s, const slot *sl, const job *j)
{
    const slot *best = NULL;
    bool best_match = false;
    for (int i = 0; i < s->n_parallel; i++) {
        const slot *o = &s->slots[i];
        if (!o->idle) continue;
        bool match = o->last_used > 0 && o->key == j->key;
        if (!best || (match && !best_match) ||
            (match == best_match && o->last_used < best->last_used))
            best = o, best_match = match;
    }
    return best == sl;
}

static void *worker_main(void *arg)
{
    slot *sl = arg;
    tk_server *s = sl->srv;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        sl->idle = true;
        while (!s->stopping && (s->q_len == 0 || !slot_preferred(s, sl, s->queue[s->q_head])))
            pthread_cond_wait(&s->cond, &s->mu);
        sl->idle = false;
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        job *j = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        sl->key = j->key;
        /* The next job may prefer another idle slot: let them all look. */
        if (s->q_len > 0) pthread_cond_broadcast(&s->cond);
        sl->job = j;
        pthread_mutex_lock(&j->mu);
        j->state = JOB_RUNNING;
        j->session = sl->session;
        pthread_mutex_unlock(&j->mu);
        pthread_mutex_unlock(&s->mu);
        run_job(sl, j);
    }
    return NULL;
}

/* ---- HTTP ------------------------------------------------------------------- */

typedef enum route {
    ROUTE_NONE = 0,
    ROUTE_HEALTH,
    ROUTE_MODELS,
    ROUTE_MODEL, /* /v1/models/{id} */
    ROUTE_CHAT,
    ROUTE_COMPLETIONS,
    ROUTE_PROPS, /* what the chat page shows (web.c) */
    ROUTE_WEB,   /* the chat page's files (web.c) */
} route;

/* What a connection keeps between the calls of one request. */
typedef struct conn_req {
    route route;
    server_buf body;
    bool responded; /* a response is queued; the rest of the body is dropped */
    bool too_large; /* the body passed max_body: dropped as it comes, then 413 */
    size_t dropped;
    int status;
    double t0;
    char method[16];
    char url[128];
    const char *cors; /* the server's CORS origin (borrowed), NULL for none */
} conn_req;

/* With --cors, every response says which origin may read it. */
static void add_cors(struct MHD_Response *resp, const conn_req *cr)
{
    if (!cr->cors) return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", cr->cors);
    if (strcmp(cr->cors, "*") != 0) MHD_add_response_header(resp, "Vary", "Origin");
}

static route find_route(const char *url)
{
    if (strcmp(url, "/health") == 0) return ROUTE_HEALTH;
    if (strcmp(url, "/v1/models") == 0) return ROUTE_MODELS;
    if (strncmp(url, "/v1/models/", 11) == 0 && url[11]) return ROUTE_MODEL;
    if (strcmp(url, "/v1/chat/completions") == 0) return ROUTE_CHAT;
    if (strcmp(url, "/v1/completions") == 0) return ROUTE_COMPLETIONS;
    if (strcmp(url, "/props") == 0) return ROUTE_PROPS;
    if (server_web_find(url)) return ROUTE_WEB;
    return ROUTE_NONE;
}

/* Queues `body` (its data handed to MHD) with `status`, and up to two extra
 * headers (name, value pairs, NULL-terminated). */
static enum MHD_Result respond(struct MHD_Connection *c, conn_req *cr, int status, server_buf *body,
                               const char *content_type, const char *h1, const char *v1,
                               const char *h2, const char *v2)
{
    if (body->failed) {
        server_buf_free(body);
        status = 500;
        server_buf_puts(body, "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
                              "\"param\":null,\"code\":null}}");
        if (body->failed) return MHD_NO;
        h1 = h2 = NULL;
    }
    size_t len = body->len;
    char *data = body->data;
    memset(body, 0, sizeof *body);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, data ? data : (char *)"", data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    add_cors(resp, cr);
    if (h1) MHD_add_response_header(resp, h1, v1);
    if (h2) MHD_add_response_header(resp, h2, v2);
    enum MHD_Result r = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    cr->responded = true;
    cr->status = status;
    return r;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, conn_req *cr, int status,
                                    server_buf *body)
{
    return respond(c, cr, status, body, "application/json", NULL, NULL, NULL, NULL);
}

static enum MHD_Result respond_error(struct MHD_Connection *c, conn_req *cr, const server_error *e,
                                     const char *h1, const char *v1, const char *h2, const char *v2)
{
    server_buf b = {0};
    server_error_json(e, &b);
    return respond(c, cr, e->status, &b, "application/json", h1, v1, h2, v2);
}

static enum MHD_Result fail(struct MHD_Connection *c, conn_req *cr, int status, const char *type,
                            const char *code, const char *param, const char *message)
{
    server_error e;
    server_error_set(&e, status, type, code, param, "%s", message);
    return respond_error(c, cr, &e, NULL, NULL, NULL, NULL);
}

static enum MHD_Result busy(struct MHD_Connection *c, conn_req *cr, const char *code,
                            const char *message)
{
    server_error e;
    server_error_set(&e, 503, "server_error", code, NULL, "%s", message);
    return respond_error(c, cr, &e, "Retry-After", "1", NULL, NULL);
}

/* Compares the whole key whatever the first difference, so the time taken
 * does not tell how much of a guess was right. */
static bool key_equal(const char *given, size_t n, const char *key)
{
    size_t k = strlen(key);
    unsigned diff = (unsigned)(n != k);
    for (size_t i = 0; i < k; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < n ? given[i] : 0);
    return diff == 0;
}

static bool authorized(const tk_server *s, struct MHD_Connection *c)
{
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    return key_equal(h, strlen(h), s->api_key);
}

static enum MHD_Result handle_get(tk_server *s, struct MHD_Connection *c, conn_req *cr,
                                  const char *url)
{
    server_buf b = {0};
    bool ready = atomic_load(&s->ready);
    if (cr->route == ROUTE_WEB) {
        cr->responded = true;
        cr->status = 200;
        return server_web_respond(c, server_web_find(url));
    }
    if (cr->route == ROUTE_HEALTH) {
        if (!ready) {
            server_buf_puts(&b, "{\"status\":\"loading\"}");
            return respond(c, cr, 503, &b, "application/json", "Retry-After", "1", NULL, NULL);
        }
        server_buf_puts(&b, "{\"status\":\"ok\"}");
        return respond_json(c, cr, 200, &b);
    }
    if (!ready) return busy(c, cr, "model_loading", "the model is still loading");
    if (cr->route == ROUTE_MODEL && strcmp(url + 11, s->model_name) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "the model '%.200s' does not exist", url + 11);
        return fail(c, cr, 404, "invalid_request_error", "model_not_found", "model", msg);
    }
    if (cr->route == ROUTE_PROPS) {
        server_web_props(&b, s->engine, s->model_name, s->n_parallel);
        return respond_json(c, cr, 200, &b);
    }
    if (cr->route == ROUTE_MODELS) server_buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    server_buf_puts(&b, "{\"id\":");
    server_buf_json_str(&b, s->model_name, strlen(s->model_name));
    server_buf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"tektra\"}",
                      (long long)s->model_created);
    if (cr->route == ROUTE_MODELS) server_buf_puts(&b, "]}");
    return respond_json(c, cr, 200, &b);
}

/* Reads the next bytes of a streamed answer, on the connection's thread:
 * waits for the worker's output, ends after [DONE], and cancels the job
 * when the client goes. */
static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    job *j = cls;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        if (j->out_pos < j->out.len) {
            size_t n = j->out.len - j->out_pos;
            if (n > max) n = max;
            memcpy(buf, j->out.data + j->out_pos, n);
            j->out_pos += n;
            if (j->out_pos == j->out.len) j->out.len = j->out_pos = 0;
            pthread_mutex_unlock(&j->mu);
            return (ssize_t)n;
        }
        /* Done and all sent: [DONE], or the error event of a failure. */
        bool done = j->state == JOB_DONE;
        pthread_mutex_unlock(&j->mu);
        if (done) return MHD_CONTENT_READER_END_OF_STREAM;
        if (!job_wait(j)) {
            job_cancel(j, false);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

/* The streamed response is gone (sent, or the connection closed). */
static void free_stream(void *cls)
{
    job *j = cls;
    job_cancel(j, false);
    job_release(j);
}

/* Puts a job in the queue. False when the server is stopping or the queue
 * is full (nothing queued). */
static bool enqueue(tk_server *s, job *j, bool *stopping)
{
    pthread_mutex_lock(&s->mu);
    *stopping = s->stopping;
    bool ok = !s->stopping && s->n_inflight < s->n_parallel + s->n_queue;
    if (ok) {
        s->queue[(s->q_head + s->q_len) % s->q_cap] = j;
        s->q_len++;
        s->n_inflight++;
        pthread_mutex_lock(&j->mu);
        j->refs++; /* the queue's, then the worker's */
        pthread_mutex_unlock(&j->mu);
        /* Every idle slot looks; the preferred one takes it. */
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static enum MHD_Result handle_post(tk_server *s, struct MHD_Connection *c, conn_req *cr)
{
    if (!atomic_load(&s->ready)) return busy(c, cr, "model_loading", "the model is still loading");
    server_request req;
    server_error err;
    server_endpoint ep = cr->route == ROUTE_CHAT ? SERVER_CHAT : SERVER_COMPLETION;
    if (!server_request_parse(ep, cr->body.data ? cr->body.data : "", cr->body.len, &s->defaults,
                              &req, &err))
        return respond_error(c, cr, &err, NULL, NULL, NULL, NULL);
    server_buf_free(&cr->body);
    if (tk_engine_has_model(s->engine)) {
        tk_model_info mi;
        tk_engine_model_info(s->engine, &mi);
        if (!server_request_bind(&req, tk_engine_chat_template(s->engine), mi.n_vocab, &err)) {
            server_request_free(&req);
            return respond_error(c, cr, &err, NULL, NULL, NULL, NULL);
        }
    }

    /* An answer may take longer than the idle timeout between two bytes
     * (a long prompt, a long wait in the queue): no timeout until the
     * request is complete (on_completed restores it). */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    job *j = job_new(s, &req, ci ? (int)ci->connect_fd : -1);
    if (!j) return fail(c, cr, 500, "server_error", NULL, NULL, "out of memory");
    if (j->req.endpoint == SERVER_COMPLETION) j->text_offset = strlen(j->req.prompt);
    bool stopping;
    if (!enqueue(s, j, &stopping)) {
        job_release(j);
        if (stopping) return busy(c, cr, "server_shutting_down", "the server is shutting down");
        return busy(c, cr, "server_busy",
                    "every slot is busy and the queue is full; try again shortly");
    }

    /* Wait for the first output (streamed) or the end. */
    bool stream = j->req.stream;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        bool go = j->state == JOB_DONE || (stream && j->started);
        pthread_mutex_unlock(&j->mu);
        if (go) break;
        if (!job_wait(j)) {
            job_cancel(j, false);
            job_release(j);
            cr->status = 499; /* the client closed the request */
            return MHD_NO;
        }
    }

    pthread_mutex_lock(&j->mu);
    bool failed = !j->started && (j->status != TK_OK || j->cancelled || j->oom);
    pthread_mutex_unlock(&j->mu);
    if (failed) {
        server_error e;
        answer_error(j, &e);
        job_release(j);
        return respond_error(c, cr, &e, NULL, NULL, NULL, NULL);
    }
    if (!stream) {
        server_buf b = {0};
        answer_whole(j, &b);
        job_release(j);
        return respond_json(c, cr, 200, &b);
    }
    /* The job's reference passes to the response. */
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, read_stream, j, free_stream);
    if (!resp) {
        job_cancel(j, false);
        job_release(j);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    add_cors(resp, cr);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result r = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    cr->responded = true;
    cr->status = 200;
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    tk_server *s = cls;
    conn_req *cr = *con_cls;
    if (!cr) {
        /* The headers are in: route, method, key and size are decided now,
         * before any body is read. */
        cr = calloc(1, sizeof *cr);
        if (!cr) return MHD_NO;
        *con_cls = cr;
        cr->t0 = core_now();
        core_strlcpy(cr->method, method, sizeof cr->method);
        core_strlcpy(cr->url, url, sizeof cr->url);
        cr->route = find_route(url);
        cr->cors = s->cors;
        if (cr->route != ROUTE_NONE && s->cors && strcmp(method, "OPTIONS") == 0) {
            /* A browser's preflight: which methods and headers it may use. */
            server_buf empty = {0};
            return respond(c, cr, 204, &empty, "text/plain", "Access-Control-Allow-Methods",
                           "GET, POST, OPTIONS", "Access-Control-Allow-Headers",
                           "Authorization, Content-Type");
        }
        if (cr->route == ROUTE_NONE) {
            char msg[300];
            static const char *const unserved[] = {"/v1/embeddings", "/v1/responses", "/v1/audio/",
                                                   "/v1/images/", "/v1/moderations"};
            const char *known = NULL;
            for (size_t i = 0; i < sizeof unserved / sizeof unserved[0]; i++)
                if (strncmp(url, unserved[i], strlen(unserved[i])) == 0) known = unserved[i];
            if (known)
                snprintf(msg, sizeof msg,
                         "%.150s is not supported by tektra: it serves /v1/chat/completions, "
                         "/v1/completions and /v1/models",
                         url);
            else
                snprintf(msg, sizeof msg, "no such endpoint: %.150s", url);
            return fail(c, cr, 404, "invalid_request_error", "not_found", NULL, msg);
        }
        bool post = cr->route == ROUTE_CHAT || cr->route == ROUTE_COMPLETIONS;
        bool allowed = post ? strcmp(method, "POST") == 0
                            : strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        if (!allowed) {
            server_error e;
            server_error_set(&e, 405, "invalid_request_error", "method_not_allowed", NULL,
                             "%.15s is not allowed on %.100s; use %s", method, url,
                             post ? "POST" : "GET");
            return respond_error(c, cr, &e, MHD_HTTP_HEADER_ALLOW, post ? "POST" : "GET, HEAD",
                                 NULL, NULL);
        }
        if (cr->route != ROUTE_HEALTH && cr->route != ROUTE_WEB && !authorized(s, c)) {
            server_error e;
            server_error_set(&e, 401, "invalid_request_error", "invalid_api_key", NULL,
                             "a valid API key is required: 'Authorization: Bearer KEY'");
            return respond_error(c, cr, &e, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer", NULL, NULL);
        }
        if (!post) return MHD_YES; /* answered on the next call, after the (empty) body */
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long size = cl ? strtoull(cl, NULL, 10) : 0;
        if (size > s->max_body) {
            /* A client that waits for "100 Continue" has sent nothing yet:
             * answer now. One that is sending would miss an early answer
             * (its socket is reset when we close), so its body is read and
             * dropped first, unless it is absurdly large. */
            const char *expect =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
            if ((expect && strncasecmp(expect, "100-continue", 12) == 0) ||
                size / 16 > s->max_body) {
                server_error e;
                server_error_set(&e, 413, "invalid_request_error", "request_too_large", NULL,
                                 "the body is %llu bytes; at most %zu are accepted", size,
                                 s->max_body);
                return respond_error(c, cr, &e, MHD_HTTP_HEADER_CONNECTION, "close", NULL, NULL);
            }
            cr->too_large = true;
        }
        return MHD_YES;
    }
    if (cr->responded) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (cr->too_large || n > s->max_body - cr->body.len) {
            /* A body of unannounced size (chunked) that is too large: read
             * and drop the rest, so the client, still sending, gets the 413
             * rather than a reset; but not for ever. */
            server_buf_free(&cr->body);
            cr->too_large = true;
            cr->dropped += n;
            return cr->dropped / 16 > s->max_body ? MHD_NO : MHD_YES;
        }
        server_buf_append(&cr->body, upload_data, n);
        if (cr->body.failed) return fail(c, cr, 500, "server_error", NULL, NULL, "out of memory");
        return MHD_YES;
    }
    if (cr->too_large) {
        server_error e;
        server_error_set(&e, 413, "invalid_request_error", "request_too_large", NULL,
                         "the body is larger than %zu bytes", s->max_body);
        return respond_error(c, cr, &e, NULL, NULL, NULL, NULL);
    }
    if (cr->route == ROUTE_CHAT || cr->route == ROUTE_COMPLETIONS) return handle_post(s, c, cr);
    return handle_get(s, c, cr, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    conn_req *cr = *con_cls;
    if (!cr) return;
    if (cr->route == ROUTE_CHAT || cr->route == ROUTE_COMPLETIONS)
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned)SERVER_IDLE_TIMEOUT_S);
    *con_cls = NULL;
    core_log(TK_LOG_INFO, "%s %s %d%s %.3f s", cr->method, cr->url, cr->status,
             toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)",
             core_now() - cr->t0);
    server_buf_free(&cr->body);
    free(cr);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    core_log(TK_LOG_DEBUG, "http: %s", msg);
}

/* ---- life cycle ------------------------------------------------------------- */

void tk_server_default_params(tk_server_params *p)
{
    memset(p, 0, sizeof *p);
    p->host = "127.0.0.1";
    p->port = 8080;
    p->n_parallel = 0;
    p->n_queue = 16;
    p->max_body = 1u << 20;
    tk_config c;
    tk_config_defaults(&c);
    tk_gen_params_from_config(&p->defaults, &c);
}

/* Resolves, binds and listens; the first address of `host` that works. */
static tk_status open_listener(const char *host, int port, int *fd_out, int *port_out)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &res);
    if (gai != 0)
        return core_error(TK_ERR_IO, "cannot resolve the address '%s': %s", host,
                          gai_strerror(gai));
    int err = 0, fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 128) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return core_error(TK_ERR_IO, "cannot listen on %s port %d: %s", host, port, strerror(err));
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        err = errno;
        close(fd);
        return core_error(TK_ERR_IO, "getsockname: %s", strerror(err));
    }
    *port_out = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    *fd_out = fd;
    return TK_OK;
}

static uint64_t random_seed(void)
{
    uint64_t v = 0;
    if (!os_random(&v, sizeof v)) v = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return v ^ splitmix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid());
}

tk_status tk_server_start(const tk_server_params *p, tk_server **out)
{
    *out = NULL;
    if (p->n_parallel < 0 || p->n_parallel > 256)
        return core_error(TK_ERR_INVALID_ARG, "n_parallel %d is outside [0, 256]", p->n_parallel);
    if (p->n_queue < 0 || p->n_queue > 4096)
        return core_error(TK_ERR_INVALID_ARG, "n_queue %d is outside [0, 4096]", p->n_queue);
    if (p->port < 0 || p->port > 65535)
        return core_error(TK_ERR_INVALID_ARG, "port %d is outside [0, 65535]", p->port);
    tk_server *s = calloc(1, sizeof *s);
    if (!s) return core_error(TK_ERR_NOMEM, "out of memory");
    s->listen_fd = -1;
    s->host = strdup(p->host ? p->host : "127.0.0.1");
    s->api_key = p->api_key && p->api_key[0] ? strdup(p->api_key) : NULL;
    s->cors = p->cors_origin && p->cors_origin[0] ? strdup(p->cors_origin) : NULL;
    s->max_body = p->max_body ? p->max_body : (1u << 20);
    s->auto_parallel = p->n_parallel == 0;
    s->n_parallel = s->auto_parallel ? SERVER_AUTO_PARALLEL_MAX : p->n_parallel;
    s->n_queue = p->n_queue;
    s->defaults = p->defaults;
    s->defaults.stop = NULL;
    s->defaults.n_stop = 0;
    s->q_cap = s->n_parallel + p->n_queue;
    s->queue = calloc((size_t)s->q_cap, sizeof *s->queue);
    s->id_seed = random_seed();
    atomic_init(&s->id_counter, 0);
    atomic_init(&s->ready, false);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (!s->host || (p->api_key && p->api_key[0] && !s->api_key) ||
        (p->cors_origin && p->cors_origin[0] && !s->cors) || !s->queue) {
        tk_server_free(s);
        return core_error(TK_ERR_NOMEM, "out of memory");
    }
    tk_status st = open_listener(s->host, p->port, &s->listen_fd, &s->port);
    if (st != TK_OK) {
        tk_server_free(s);
        return st;
    }
    unsigned limit = (unsigned)(s->n_parallel + s->n_queue + SERVER_SPARE_CONNECTIONS);
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET,
                                 (MHD_socket)s->listen_fd, MHD_OPTION_NOTIFY_COMPLETED,
                                 on_completed, s, MHD_OPTION_CONNECTION_LIMIT, limit,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_IDLE_TIMEOUT_S,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_END);
    if (!s->daemon) {
        tk_server_free(s);
        return core_error(TK_ERR_IO, "cannot start the HTTP server on %s port %d", p->host,
                          p->port);
    }
    *out = s;
    return TK_OK;
}

int tk_server_port(const tk_server *s)
{
    return s->port;
}

tk_status tk_server_set_engine(tk_server *s, tk_engine *e)
{
    pthread_mutex_lock(&s->mu);
    bool busy_now = s->slots != NULL || s->stopping;
    pthread_mutex_unlock(&s->mu);
    if (busy_now)
        return core_error(TK_ERR_INVALID_ARG, "the server already has an engine or is stopping");
    slot *slots = calloc((size_t)s->n_parallel, sizeof *slots);
    if (!slots) return core_error(TK_ERR_NOMEM, "out of memory");
    int want = s->n_parallel;
    if (s->auto_parallel) {
        tk_platform pf;
        tk_platform_detect(&pf);
        want = pf.n_physical_cores >= 8 ? 4 : 2;
    }
    for (int i = 0; i < want; i++) {
        slots[i].srv = s;
        tk_status st = tk_session_create(e, &slots[i].session);
        if (st == TK_OK && i == 0 && s->auto_parallel) {
            tk_platform pf;
            tk_platform_detect(&pf);
            uint64_t per = tk_session_memory(slots[0].session);
            while (want > 1 && pf.ram_available && per * (uint64_t)want > pf.ram_available / 4)
                want--;
        }
        if (st != TK_OK) {
            core_error_prefix("slot %d of %d", i + 1, s->n_parallel);
            for (int k = 0; k < i; k++) tk_session_free(slots[k].session);
            free(slots);
            return st;
        }
    }
    const char *name = tk_engine_model_name(e);
    pthread_mutex_lock(&s->mu);
    s->engine = e;
    core_strlcpy(s->model_name, name && *name ? name : "none", sizeof s->model_name);
    s->model_created = (int64_t)time(NULL);
    s->slots = slots;
    s->n_parallel = want;
    if (s->auto_parallel)
        core_log(TK_LOG_INFO,
                 "%d slots (requests generated at once); --parallel sets another number", want);
    for (int i = 0; i < s->n_parallel; i++) {
        if (pthread_create(&slots[i].thread, NULL, worker_main, &slots[i]) != 0) {
            pthread_mutex_unlock(&s->mu);
            /* The slots started so far are stopped and freed by
             * tk_server_stop/free; the server stays not ready. */
            return core_error(TK_ERR_NOMEM, "cannot start the worker thread of slot %d", i + 1);
        }
        slots[i].started = true;
    }
    pthread_mutex_unlock(&s->mu);
    atomic_store(&s->ready, true);
    return TK_OK;
}

void tk_server_stop(tk_server *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    if (s->stopped) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    s->stopped = true;
    pthread_mutex_unlock(&s->mu);

    /* No new connections. The listening socket is then ours, closed by
     * tk_server_free() (after MHD_stop_daemon, as MHD asks). */
    if (s->daemon && MHD_quiesce_daemon(s->daemon) == MHD_INVALID_SOCKET)
        s->listen_fd = -1; /* still MHD's: MHD_stop_daemon closes it */

    /* Cancel what waits and what runs; the workers then leave. */
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    job *queued[64];
    for (;;) {
        int n = 0;
        while (s->q_len > 0 && n < (int)TK_ARRAY_LEN(queued)) {
            queued[n++] = s->queue[s->q_head];
            s->q_head = (s->q_head + 1) % s->q_cap;
            s->q_len--;
            s->n_inflight--;
        }
        for (int i = 0; i < n; i++) {
            job *j = queued[i];
            pthread_mutex_lock(&j->mu);
            j->cancelled = j->shutdown = true;
            j->state = JOB_DONE;
            j->m.finish = TK_FINISH_CANCELLED;
            pthread_mutex_unlock(&j->mu);
            job_wake(j);
        }
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < n; i++) job_release(queued[i]);
        pthread_mutex_lock(&s->mu);
        if (s->q_len == 0) break;
    }
    for (int i = 0; s->slots && i < s->n_parallel; i++) {
        job *j = s->slots[i].job;
        if (!j) continue;
        pthread_mutex_lock(&j->mu);
        j->cancelled = j->shutdown = true;
        if (j->session) tk_session_cancel(j->session);
        pthread_mutex_unlock(&j->mu);
        job_wake(j);
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; s->slots && i < s->n_parallel; i++) {
        if (s->slots[i].started) pthread_join(s->slots[i].thread, NULL);
        s->slots[i].started = false;
    }

    /* Every job is done now; the connections finish and close. */
    if (s->daemon) MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    atomic_store(&s->ready, false);
}

void tk_server_free(tk_server *s)
{
    if (!s) return;
    tk_server_stop(s);
    for (int i = 0; s->slots && i < s->n_parallel; i++) tk_session_free(s->slots[i].session);
    free(s->slots);
    if (s->listen_fd >= 0) close(s->listen_fd);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s->queue);
    free(s->host);
    free(s->api_key);
    free(s->cors);
    free(s);
}
