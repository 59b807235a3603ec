/* The hub tests' loopback HTTP server (see hub_server.h). */
#include "hub_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HS_MAX_ROUTES 96

/* A client that hangs up must not end the test with SIGPIPE: Linux says so
 * per send (MSG_NOSIGNAL), macOS, which has no MSG_NOSIGNAL, per socket
 * (SO_NOSIGPIPE, set on each accepted connection). */
#if defined(__APPLE__)
#define HS_SEND_FLAGS 0
#else
#define HS_SEND_FLAGS MSG_NOSIGNAL
#endif

typedef struct hs_entry {
    hs_route r;
    char path[512], location[512], token[256], error_code[64];
    int hits;
    char last_range[128];
} hs_entry;

struct hs_server {
    int listen_fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    _Atomic int stop;
    hs_entry routes[HS_MAX_ROUTES];
    int n_routes;
};

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, HS_SEND_FLAGS);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        len -= (size_t)n;
    }
}

static void send_head(int fd, int code, const char *reason, const char *extra, size_t length)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", code,
                     reason, length, extra ? extra : "");
    send_all(fd, head, (size_t)n);
}

static void send_text(int fd, int code, const char *reason, const char *extra)
{
    char body[128];
    int n = snprintf(body, sizeof body, "%d %s\n", code, reason);
    send_head(fd, code, reason, extra, (size_t)n);
    send_all(fd, body, (size_t)n);
}

/* Waits until the client closes the connection or the server stops. */
static void wait_for_close(hs_server *s, int fd)
{
    for (int i = 0; i < 100 && !s->stop; i++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char c[64];
            if (recv(fd, c, sizeof c, 0) <= 0) return;
        }
    }
}

static void serve(hs_server *s, hs_entry *e, int fd, long long range_start)
{
    const hs_route *r = &e->r;
    const char *data = r->data;
    size_t len = r->len;
    switch (r->mode) {
    case HS_REDIRECT: {
        char extra[600];
        snprintf(extra, sizeof extra, "Location: %s\r\n", e->location);
        send_text(fd, 302, "Found", extra);
        return;
    }
    case HS_STATUS: {
        char extra[128] = "";
        if (e->error_code[0]) snprintf(extra, sizeof extra, "X-Error-Code: %s\r\n", e->error_code);
        send_text(fd, r->status,
                  r->status == 404   ? "Not Found"
                  : r->status == 401 ? "Unauthorized"
                  : r->status == 403 ? "Forbidden"
                                     : "Error",
                  extra);
        return;
    }
    case HS_STALL:
        send_head(fd, 200, "OK", NULL, len);
        send_all(fd, data, len < 16 ? len : 16);
        wait_for_close(s, fd);
        return;
    case HS_DROP_HALF:
        if (e->r.drops > 0) {
            e->r.drops--;
            send_head(fd, 200, "OK", NULL, len);
            send_all(fd, data, len / 2);
            return;
        }
        break;
    case HS_NO_RANGE:
        send_head(fd, 200, "OK", NULL, len);
        send_all(fd, data, len);
        return;
    default:
        break;
    }
    if (range_start >= 0) {
        char extra[128];
        if ((size_t)range_start >= len) {
            snprintf(extra, sizeof extra, "Content-Range: bytes */%zu\r\n", len);
            send_text(fd, 416, "Range Not Satisfiable", extra);
            return;
        }
        snprintf(extra, sizeof extra, "Content-Range: bytes %lld-%zu/%zu\r\n", range_start, len - 1,
                 len);
        send_head(fd, 206, "Partial Content", extra, len - (size_t)range_start);
        send_all(fd, data + range_start, len - (size_t)range_start);
        return;
    }
    send_head(fd, 200, "OK", NULL, len);
    send_all(fd, data, len);
}

/* The value of header `name` in the request head, or NULL. */
static const char *header(const char *head, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ') v++;
            size_t len = strcspn(v, "\r\n");
            snprintf(out, size, "%.*s", (int)len, v);
            return out;
        }
    }
    return NULL;
}

static void handle(hs_server *s, int fd)
{
    char req[8192];
    size_t used = 0;
    while (used < sizeof req - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) return;
        ssize_t n = recv(fd, req + used, sizeof req - 1 - used, 0);
        if (n <= 0) return;
        used += (size_t)n;
        req[used] = '\0';
        if (strstr(req, "\r\n\r\n")) break;
    }
    char method[16], target[1024];
    if (sscanf(req, "%15s %1023s", method, target) != 2) return;
    target[strcspn(target, "?#")] = '\0';
    char range[128] = "", auth[512] = "";
    header(req, "Range", range, sizeof range);
    header(req, "Authorization", auth, sizeof auth);
    long long start = -1;
    if (range[0] && sscanf(range, "bytes=%lld-", &start) != 1) start = -1;

    pthread_mutex_lock(&s->lock);
    hs_entry *e = NULL;
    for (int i = 0; i < s->n_routes; i++)
        if (strcmp(s->routes[i].path, target) == 0) e = &s->routes[i];
    if (e) {
        e->hits++;
        snprintf(e->last_range, sizeof e->last_range, "%s", range);
    }
    pthread_mutex_unlock(&s->lock);

    if (!e) {
        send_text(fd, 404, "Not Found", NULL);
        return;
    }
    if (e->r.mode == HS_TOKEN) {
        char want[300];
        snprintf(want, sizeof want, "Bearer %s", e->token);
        if (strcmp(auth, want) != 0) {
            send_text(fd, 401, "Unauthorized", NULL);
            return;
        }
    }
    serve(s, e, fd, start);
}

static void *server_main(void *arg)
{
    hs_server *s = arg;
    while (!s->stop) {
        struct pollfd p = {s->listen_fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) continue;
#if defined(__APPLE__)
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
        handle(s, fd);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

hs_server *hs_start(void)
{
    hs_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t al = sizeof a;
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &al) != 0) {
        if (s->listen_fd >= 0) close(s->listen_fd);
        free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
        close(s->listen_fd);
        free(s);
        return NULL;
    }
    return s;
}

int hs_port(const hs_server *s)
{
    return s->port;
}

void hs_route_add(hs_server *s, const hs_route *r)
{
    pthread_mutex_lock(&s->lock);
    hs_entry *e = NULL;
    for (int i = 0; i < s->n_routes; i++)
        if (strcmp(s->routes[i].path, r->path) == 0) e = &s->routes[i];
    if (!e && s->n_routes < HS_MAX_ROUTES) e = &s->routes[s->n_routes++];
    if (e) {
        memset(e, 0, sizeof *e);
        e->r = *r;
        snprintf(e->path, sizeof e->path, "%s", r->path);
        snprintf(e->location, sizeof e->location, "%s", r->location ? r->location : "");
        snprintf(e->token, sizeof e->token, "%s", r->token ? r->token : "");
        snprintf(e->error_code, sizeof e->error_code, "%s", r->error_code ? r->error_code : "");
        e->r.path = e->path;
        e->r.location = e->location;
        e->r.token = e->token;
        e->r.error_code = e->error_code;
    }
    pthread_mutex_unlock(&s->lock);
}

int hs_hits(hs_server *s, const char *path)
{
    int n = 0;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_routes; i++)
        if (strcmp(s->routes[i].path, path) == 0) n = s->routes[i].hits;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void hs_last_range(hs_server *s, const char *path, char *out, size_t size)
{
    out[0] = '\0';
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_routes; i++)
        if (strcmp(s->routes[i].path, path) == 0)
            snprintf(out, size, "%s", s->routes[i].last_range);
    pthread_mutex_unlock(&s->lock);
}

void hs_stop(hs_server *s)
{
    if (!s) return;
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
