/* The harness of the server tests: spawning the real `tektra serve` on a
 * free loopback port, HTTP requests with libcurl, and checks of answers
 * and streams. Included by each server test program. */
#ifndef TK_TEST_SERVER_HARNESS_H
#define TK_TEST_SERVER_HARNESS_H

#include "check.h"
#include "proc.h"
#include "server/server.h"
#include "tektra/gguf.h"
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wunused-function"

extern char **environ;

static char dir[] = "/tmp/tk_server_XXXXXX";
static const char *model; /* stories260K */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- a server process ------------------------------------------------------ */

typedef struct server_proc {
    pid_t pid;
    int port;
    int out_fd;
    pthread_t reader;
    pthread_mutex_t mu;
    server_buf out; /* everything it printed, stdout and stderr */
    bool exited;
    int rc;
} server_proc;

static void *read_output(void *arg)
{
    server_proc *sp = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(sp->out_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pthread_mutex_lock(&sp->mu);
        server_buf_append(&sp->out, buf, (size_t)n);
        pthread_mutex_unlock(&sp->mu);
    }
    return NULL;
}

/* True when the output contains `s`, waiting up to 10 s for it. */
static bool output_has(server_proc *sp, const char *s)
{
    double end = now_s() + 10;
    for (;;) {
        pthread_mutex_lock(&sp->mu);
        bool has = sp->out.data && strstr(sp->out.data, s);
        pthread_mutex_unlock(&sp->mu);
        if (has || now_s() > end) return has;
        sleep_ms(10);
    }
}

static bool server_exited(server_proc *sp, int wait_ms)
{
    double end = now_s() + wait_ms / 1000.0;
    while (!sp->exited) {
        int st;
        pid_t r = waitpid(sp->pid, &st, WNOHANG);
        if (r == sp->pid) {
            sp->exited = true;
            sp->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (now_s() > end) return false;
        sleep_ms(10);
    }
    return true;
}

/* Starts `tektra serve --port 0 ARGS` in the test directory with a clean
 * environment and waits for its "listening on" line. */
static bool server_spawn(server_proc *sp, const char *args)
{
    memset(sp, 0, sizeof *sp);
    pthread_mutex_init(&sp->mu, NULL);
    int fds[2];
    if (pipe(fds) != 0) return false;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec \"$TK_BIN/tektra\" serve --port 0 %s", args);
    sp->pid = fork();
    if (sp->pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        /* No settings from outside: no TEKTRA_* and no user config. */
        for (;;) {
            char **e = environ;
            while (*e && strncmp(*e, "TEKTRA_", 7) != 0) e++;
            if (!*e) break;
            char name[256];
            size_t n = strcspn(*e, "=");
            snprintf(name, sizeof name, "%.*s", (int)n, *e);
            unsetenv(name);
        }
        setenv("HOME", dir, 1);
        setenv("XDG_CONFIG_HOME", dir, 1);
        if (chdir(dir) != 0) _exit(127);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    sp->out_fd = fds[0];
    if (sp->pid < 0) return false;
    pthread_create(&sp->reader, NULL, read_output, sp);
    double end = now_s() + 30;
    while (now_s() < end) {
        pthread_mutex_lock(&sp->mu);
        const char *p =
            sp->out.data ? strstr(sp->out.data, "tektra: listening on http://127.0.0.1:") : NULL;
        if (p) sp->port = atoi(p + strlen("tektra: listening on http://127.0.0.1:"));
        pthread_mutex_unlock(&sp->mu);
        if (sp->port > 0) return true;
        if (server_exited(sp, 0)) break;
        sleep_ms(10);
    }
    fprintf(stderr, "server did not start: %s\n", sp->out.data ? sp->out.data : "");
    return false;
}

/* SIGTERM, then waits for the exit; returns the exit code (-1: it hung). */
static int server_stop(server_proc *sp)
{
    if (!sp->exited) kill(sp->pid, SIGTERM);
    if (!server_exited(sp, 60000)) {
        kill(sp->pid, SIGKILL);
        server_exited(sp, 10000);
        sp->rc = -1;
    }
    pthread_join(sp->reader, NULL);
    close(sp->out_fd);
    if (sp->rc != 0) fprintf(stderr, "server output:\n%s\n", sp->out.data ? sp->out.data : "");
    return sp->rc;
}

static void server_release(server_proc *sp)
{
    server_buf_free(&sp->out);
    pthread_mutex_destroy(&sp->mu);
}

/* ---- HTTP -------------------------------------------------------------- */

typedef struct resp {
    CURLcode rc;
    long status;
    server_buf body;
    server_buf headers;
} resp;

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    server_buf_append(user, p, size * n);
    return size * n;
}

static void resp_free(resp *r)
{
    server_buf_free(&r->body);
    server_buf_free(&r->headers);
}

static const char *body_of(const resp *r)
{
    return r->body.data ? r->body.data : "";
}

/* The value of response header `name` (case-insensitive), copied into
 * `out`; "" when absent. */
static const char *header_of(const resp *r, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    const char *h = r->headers.data;
    size_t nl = strlen(name);
    while (h && *h) {
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ') v++;
            size_t len = strcspn(v, "\r\n");
            snprintf(out, size, "%.*s", (int)len, v);
            return out;
        }
        h = strchr(h, '\n');
        if (h) h++;
    }
    return out;
}

/* One request on handle `h` (reused: keep-alive), or a fresh one when NULL. */
static void http_on(CURL *h, resp *r, int port, const char *method, const char *path,
                    const char *body, const char *key)
{
    memset(r, 0, sizeof *r);
    CURL *c = h ? h : curl_easy_init();
    if (h) curl_easy_reset(c);
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/json");
    hs = curl_slist_append(hs, "Expect:");
    char auth[300];
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        hs = curl_slist_append(hs, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (strcmp(method, body ? "POST" : "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hs);
    if (!h) curl_easy_cleanup(c);
}

static void http(resp *r, int port, const char *method, const char *path, const char *body)
{
    http_on(NULL, r, port, method, path, body, NULL);
}

/* Waits until /health answers 200. */
static bool wait_ready(server_proc *sp)
{
    double end = now_s() + 60;
    while (now_s() < end) {
        resp r;
        http(&r, sp->port, "GET", "/health", NULL);
        long st = r.status;
        resp_free(&r);
        if (st == 200) return true;
        if (server_exited(sp, 0)) break;
        sleep_ms(20);
    }
    fprintf(stderr, "server not ready: %s\n", sp->out.data ? sp->out.data : "");
    return false;
}

/* ---- JSON -------------------------------------------------------------- */

/* The item at `path` ("choices.0.message.content") or NULL. */
static const cJSON *jget(const cJSON *o, const char *path)
{
    char seg[64];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(seg, sizeof seg, "%.*s", (int)n, path);
        path += n + (path[n] == '.');
        if (cJSON_IsArray(o) && seg[0] >= '0' && seg[0] <= '9')
            o = cJSON_GetArrayItem(o, atoi(seg));
        else
            o = cJSON_GetObjectItemCaseSensitive(o, seg);
    }
    return o;
}

static const char *jstr(const cJSON *o, const char *path)
{
    const cJSON *v = jget(o, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *path)
{
    const cJSON *v = jget(o, path);
    return cJSON_IsNumber(v) ? v->valuedouble : -12345;
}

/* Checks an error answer: status, OpenAI's error shape, and that the
 * message / param / code contain what is expected (NULL: not checked). */
static void check_error(const resp *r, long status, const char *in_message, const char *param,
                        const char *code)
{
    CHECK_MSG(r->status == status, "status %ld, expected %ld: %s", r->status, status, body_of(r));
    cJSON *j = cJSON_Parse(body_of(r));
    CHECK_MSG(j != NULL, "error body is not JSON: %s", body_of(r));
    const cJSON *e = jget(j, "error");
    CHECK(cJSON_IsObject(e));
    CHECK(jstr(e, "message") != NULL);
    CHECK(jstr(e, "type") != NULL);
    CHECK(jget(e, "param") != NULL && jget(e, "code") != NULL);
    if (in_message) CHECK_CONTAINS(jstr(e, "message"), in_message);
    if (param) CHECK_STR(jstr(e, "param"), param);
    if (code) CHECK_STR(jstr(e, "code"), code);
    cJSON_Delete(j);
}

/* ---- server-sent events ------------------------------------------------- */

typedef struct stream_result {
    server_buf text; /* the deltas (chat) or texts (completion) joined */
    char id[64];
    char finish[16];
    int n_chunks;
    cJSON *usage; /* owned, NULL when there was none */
    int n_logprobs;
} stream_result;

/* Parses a streamed answer event by event and checks its shape: every
 * event "data: ", one id on all, the role in the first chat delta and only
 * there, finish_reason null until the last chunk with choices, the usage
 * chunk (empty choices) when asked, then [DONE] last. */
static void check_stream(const char *raw, bool chat, bool include_usage, stream_result *sr)
{
    memset(sr, 0, sizeof *sr);
    const char *p = raw;
    bool done = false, finished = false;
    int n_events = 0;
    while (*p) {
        const char *end = strstr(p, "\n\n");
        CHECK_MSG(end != NULL, "event not ended by a blank line: %.200s", p);
        if (!end) break;
        CHECK_MSG(strncmp(p, "data: ", 6) == 0, "event without 'data: ': %.100s", p);
        CHECK_MSG(!done, "event after [DONE]: %.100s", p);
        char *data = strndup(p + 6, (size_t)(end - p - 6));
        p = end + 2;
        n_events++;
        if (strcmp(data, "[DONE]") == 0) {
            done = true;
            free(data);
            continue;
        }
        cJSON *j = cJSON_Parse(data);
        CHECK_MSG(j != NULL, "event is not JSON: %s", data);
        free(data);
        if (!j) continue;
        const char *id = jstr(j, "id");
        CHECK(id != NULL);
        if (id && !sr->id[0]) snprintf(sr->id, sizeof sr->id, "%s", id);
        if (id) CHECK_STR(id, sr->id);
        CHECK(strncmp(sr->id, chat ? "chatcmpl-" : "cmpl-", chat ? 9 : 5) == 0);
        CHECK_STR(jstr(j, "object"), chat ? "chat.completion.chunk" : "text_completion");
        CHECK(jstr(j, "model") != NULL);
        CHECK(cJSON_IsNumber(jget(j, "created")));
        const cJSON *choices = jget(j, "choices");
        CHECK(cJSON_IsArray(choices));
        if (include_usage) CHECK(jget(j, "usage") != NULL);
        if (cJSON_GetArraySize(choices) == 0) {
            /* The usage chunk: last before [DONE], after the finish. */
            CHECK(include_usage && finished && !sr->usage);
            CHECK(cJSON_IsObject(jget(j, "usage")));
            sr->usage = cJSON_Duplicate(jget(j, "usage"), true);
            cJSON_Delete(j);
            continue;
        }
        CHECK_INT(cJSON_GetArraySize(choices), 1);
        CHECK_MSG(!finished, "a chunk after the finishing one");
        CHECK_INT(jnum(j, "choices.0.index"), 0);
        if (include_usage) CHECK(cJSON_IsNull(jget(j, "usage")));
        const cJSON *fr = jget(j, "choices.0.finish_reason");
        CHECK(fr != NULL);
        if (cJSON_IsString(fr)) {
            finished = true;
            snprintf(sr->finish, sizeof sr->finish, "%s", fr->valuestring);
            /* llama-server's timings ride on the finishing chunk. */
            CHECK_MSG(cJSON_IsObject(jget(j, "timings")), "no timings in the last chunk");
            CHECK(jnum(j, "timings.predicted_n") >= 0 && jnum(j, "timings.prompt_ms") >= 0);
        } else {
            CHECK(cJSON_IsNull(fr));
            CHECK(jget(j, "timings") == NULL);
        }
        const char *piece;
        if (chat) {
            const cJSON *role = jget(j, "choices.0.delta.role");
            if (sr->n_chunks == 0)
                CHECK_MSG(cJSON_IsString(role) && strcmp(role->valuestring, "assistant") == 0,
                          "no role in the first delta");
            else
                CHECK_MSG(role == NULL, "role in a later delta");
            piece = jstr(j, "choices.0.delta.content");
        } else {
            piece = jstr(j, "choices.0.text");
            CHECK(piece != NULL);
        }
        if (piece) server_buf_puts(&sr->text, piece);
        const cJSON *lp =
            jget(j, chat ? "choices.0.logprobs.content" : "choices.0.logprobs.tokens");
        if (cJSON_IsArray(lp)) sr->n_logprobs += cJSON_GetArraySize(lp);
        sr->n_chunks++;
        cJSON_Delete(j);
    }
    CHECK_MSG(done, "no [DONE] at the end");
    CHECK(finished);
    if (include_usage) CHECK_MSG(sr->usage != NULL, "no usage chunk");
    if (!sr->text.data) server_buf_puts(&sr->text, "");
    (void)n_events;
}

static void stream_free(stream_result *sr)
{
    server_buf_free(&sr->text);
    cJSON_Delete(sr->usage);
}

/* A non-streamed answer: checks the shape and returns the parsed body
 * (caller deletes), or NULL when it was not a 200 with JSON. */
static cJSON *check_answer(const resp *r, bool chat)
{
    CHECK_MSG(r->status == 200, "status %ld: %s", r->status, body_of(r));
    if (r->status != 200) return NULL;
    cJSON *j = cJSON_Parse(body_of(r));
    CHECK_MSG(j != NULL, "not JSON: %s", body_of(r));
    if (!j) return NULL;
    const char *id = jstr(j, "id");
    CHECK(id && strncmp(id, chat ? "chatcmpl-" : "cmpl-", chat ? 9 : 5) == 0);
    CHECK_STR(jstr(j, "object"), chat ? "chat.completion" : "text_completion");
    CHECK(cJSON_IsNumber(jget(j, "created")));
    CHECK(jstr(j, "model") != NULL);
    CHECK_INT(cJSON_GetArraySize(jget(j, "choices")), 1);
    if (chat) {
        CHECK_STR(jstr(j, "choices.0.message.role"), "assistant");
        CHECK(jstr(j, "choices.0.message.content") != NULL);
    } else {
        CHECK(jstr(j, "choices.0.text") != NULL);
    }
    const char *fr = jstr(j, "choices.0.finish_reason");
    CHECK(fr && (strcmp(fr, "stop") == 0 || strcmp(fr, "length") == 0));
    double pt = jnum(j, "usage.prompt_tokens"), ct = jnum(j, "usage.completion_tokens");
    CHECK(pt >= 0 && ct >= 0);
    CHECK_INT(jnum(j, "usage.total_tokens"), pt + ct);
    return j;
}

/* POSTs `body` to `path`, not streamed: the text of the answer (caller
 * frees) and optionally the parsed JSON. */
static char *ask(int port, const char *path, const char *body, cJSON **json_out)
{
    resp r;
    http(&r, port, "POST", path, body);
    bool chat = strstr(path, "chat") != NULL;
    cJSON *j = check_answer(&r, chat);
    resp_free(&r);
    const char *t = j ? jstr(j, chat ? "choices.0.message.content" : "choices.0.text") : NULL;
    char *text = strdup(t ? t : "");
    if (json_out)
        *json_out = j;
    else
        cJSON_Delete(j);
    return text;
}

/* One part of a test program. */
typedef struct harness_part {
    const char *name;
    void (*fn)(void);
} harness_part;

/* The main() of a server test: a scratch directory, libcurl, `model` =
 * stories260K, each part run and timed, the directory removed, the summary. */
static int harness_main(const harness_part *parts, size_t n)
{
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static char model_path[4096];
    snprintf(model_path, sizeof model_path, "%s", shared_path("models/stories260K.gguf"));
    model = model_path;
    for (size_t i = 0; i < n; i++) {
        double t0 = now_s();
        parts[i].fn();
        printf("%s: %.2f s\n", parts[i].name, now_s() - t0);
        fflush(stdout);
    }
    curl_global_cleanup();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}

/* Writes stories260K with the chat template `tmpl` to `path`. */
static bool harness_write_with_template(const char *tmpl, const char *path)
{
    tk_gguf *g = NULL;
    tk_gguf_writer *w = NULL;
    bool ok = tk_gguf_open(model, &g) == TK_OK && tk_gguf_writer_create(&w) == TK_OK;
    for (int64_t i = 0; ok && i < tk_gguf_n_kv(g); i++)
        ok = tk_gguf_writer_copy_kv(w, g, i) == TK_OK;
    ok = ok && tk_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl) == TK_OK;
    for (int64_t i = 0; ok && i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        ok = tk_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->size) ==
             TK_OK;
    }
    ok = ok && tk_gguf_writer_write(w, path) == TK_OK;
    CHECK_MSG(ok, "writing %s: %s", path, tk_last_error());
    tk_gguf_writer_free(w);
    tk_gguf_close(g);
    return ok;
}

#endif
