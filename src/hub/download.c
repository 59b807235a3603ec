/* Downloads into the model store with libcurl: sources, resume, checks,
 * verification, atomic rename, progress. */
#include "core/core.h"
#include "hub/hub.h"
#include "hub/sha256.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HF_DEFAULT_ENDPOINT "https://huggingface.co"

/* ---- sources ----------------------------------------------------------- */

static bool starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static bool has_ctl_or_space(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f) return true;
    return false;
}

/* The Hugging Face endpoint without trailing slashes. */
static tk_status hf_endpoint(tk_getenv_fn get, void *user, char *out, size_t size)
{
    const char *ep = hub_env(get, user, "HF_ENDPOINT");
    if (!ep) ep = HF_DEFAULT_ENDPOINT;
    if ((!starts_with_ci(ep, "http://") && !starts_with_ci(ep, "https://")) || has_ctl_or_space(ep))
        return core_error(TK_ERR_CONFIG, "HF_ENDPOINT='%s' is not an http:// or https:// URL", ep);
    if (strlen(ep) >= size) return core_error(TK_ERR_LIMIT, "HF_ENDPOINT is too long");
    core_strlcpy(out, ep, size);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/') out[--n] = '\0';
    return TK_OK;
}

/* Appends `s` to out percent-encoding everything but RFC 3986 unreserved
 * characters and '/'. */
static bool append_encoded(char *out, size_t size, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~' || c == '/';
        if (n + (plain ? 1 : 3) >= size) return false;
        if (plain) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return true;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The store name from the last segment of a URL path or repository file:
 * percent-decoded, checked, ".gguf" appended when missing. */
static tk_status store_name_from(const char *segment, size_t len, const char *spec, char *out,
                                 size_t size)
{
    char name[256];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = segment[i];
        if (c == '%' && i + 2 < len && hex_value(segment[i + 1]) >= 0 &&
            hex_value(segment[i + 2]) >= 0) {
            c = (char)(hex_value(segment[i + 1]) * 16 + hex_value(segment[i + 2]));
            i += 2;
        }
        if (n + 1 >= sizeof name)
            return core_error(TK_ERR_INVALID_ARG, "the file name in '%s' is too long", spec);
        name[n++] = c;
    }
    name[n] = '\0';
    if (n < 5 || core_strcasecmp(name + n - 5, ".gguf") != 0) {
        if (n + 6 > sizeof name)
            return core_error(TK_ERR_INVALID_ARG, "the file name in '%s' is too long", spec);
        memcpy(name + n, ".gguf", 6);
    }
    if (!hub_valid_store_name(name) || strlen(name) >= size)
        return core_error(TK_ERR_INVALID_ARG,
                          "cannot use '%s' from '%s' as a file name in the model store", name,
                          spec);
    core_strlcpy(out, name, size);
    return TK_OK;
}

static bool valid_repo_part(const char *s, size_t n)
{
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static tk_status hf_url(tk_getenv_fn get, void *user, const char *repo, const char *file,
                        tk_hub_source *out)
{
    char ep[1024];
    tk_status s = hf_endpoint(get, user, ep, sizeof ep);
    if (s != TK_OK) return s;
    int n = snprintf(out->url, sizeof out->url, "%s/%s/resolve/main/", ep, repo);
    if (n < 0 || (size_t)n >= sizeof out->url || !append_encoded(out->url, sizeof out->url, file))
        return core_error(TK_ERR_LIMIT, "the URL for %s/%s is too long", repo, file);
    out->huggingface = true;
    core_strlcpy(out->repo, repo, sizeof out->repo);
    return TK_OK;
}

static void catalogue_list(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < tk_hub_catalogue_count(); i++) {
        const tk_hub_model *m = tk_hub_catalogue_at(i);
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", m->alias);
        if (n < 0 || (size_t)n >= size - used) break;
        used += (size_t)n;
    }
}

tk_status tk_hub_source_parse(const char *spec, tk_getenv_fn get, void *user, tk_hub_source *out)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec) return core_error(TK_ERR_INVALID_ARG, "nothing to pull: no model given");
    if (strlen(spec) >= sizeof out->url)
        return core_error(TK_ERR_INVALID_ARG, "'%.64s...' is too long", spec);
    if (has_ctl_or_space(spec))
        return core_error(TK_ERR_INVALID_ARG, "'%s' contains spaces or control characters", spec);

    if (starts_with_ci(spec, "hf:")) {
        const char *rest = spec + 3;
        const char *s1 = strchr(rest, '/');
        const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        const char *file = s2 ? s2 + 1 : NULL;
        if (!s1 || !s2 || !*file || !valid_repo_part(rest, (size_t)(s1 - rest)) ||
            !valid_repo_part(s1 + 1, (size_t)(s2 - s1 - 1)))
            return core_error(TK_ERR_INVALID_ARG, "'%s' is not of the form hf:OWNER/REPO/FILE.gguf",
                              spec);
        if (file[0] == '/' || strstr(file, "..") || strchr(file, '?') || strchr(file, '#') ||
            file[strlen(file) - 1] == '/')
            return core_error(TK_ERR_INVALID_ARG, "'%s': bad file path '%s' in the repository",
                              spec, file);
        char repo[256];
        snprintf(repo, sizeof repo, "%.*s", (int)(s2 - rest), rest);
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        tk_status s = store_name_from(base, strlen(base), spec, out->file, sizeof out->file);
        if (s == TK_OK) s = hf_url(get, user, repo, file, out);
        if (s != TK_OK) return s;
        const tk_hub_model *m = tk_hub_find_file(base);
        if (m && core_strcasecmp(m->repo, repo) == 0 && strcmp(file, base) == 0) {
            out->model = m;
            out->size = m->size;
            core_strlcpy(out->sha256, m->sha256, sizeof out->sha256);
        }
        return TK_OK;
    }

    if (starts_with_ci(spec, "http://") || starts_with_ci(spec, "https://")) {
        const char *host = strstr(spec, "://") + 3;
        const char *path = strchr(host, '/');
        if (host[0] == '\0' || host[0] == '/' || host[0] == '?' || host[0] == '#')
            return core_error(TK_ERR_INVALID_ARG, "'%s' has no host", spec);
        const char *end = path ? path + strcspn(path, "?#") : NULL;
        const char *seg = NULL;
        if (path)
            for (const char *q = path; q < end; q++)
                if (*q == '/') seg = q + 1;
        if (!seg || seg == end)
            return core_error(TK_ERR_INVALID_ARG,
                              "'%s' does not end in a file name to store the model under", spec);
        tk_status s = store_name_from(seg, (size_t)(end - seg), spec, out->file, sizeof out->file);
        if (s != TK_OK) return s;
        core_strlcpy(out->url, spec, sizeof out->url);
        /* The token goes only to the Hugging Face endpoint, never elsewhere. */
        char ep[1024];
        if (hf_endpoint(get, user, ep, sizeof ep) == TK_OK) {
            size_t n = strlen(ep);
            out->huggingface = strncasecmp(spec, ep, n) == 0 && spec[n] == '/';
        }
        return TK_OK;
    }

    if (strstr(spec, "://"))
        return core_error(TK_ERR_UNSUPPORTED,
                          "'%s': only http://, https:// and hf:OWNER/REPO/FILE sources are "
                          "supported",
                          spec);

    const tk_hub_model *m = tk_hub_find_alias(spec);
    if (!m) {
        char names[512];
        catalogue_list(names, sizeof names);
        return core_error(TK_ERR_NOT_FOUND,
                          "'%s' is not a model name tektra knows (known: %s); give "
                          "hf:OWNER/REPO/FILE.gguf or an https:// URL for other files",
                          spec, names);
    }
    tk_status s = hf_url(get, user, m->repo, m->file, out);
    if (s != TK_OK) return s;
    core_strlcpy(out->file, m->file, sizeof out->file);
    out->model = m;
    out->size = m->size;
    core_strlcpy(out->sha256, m->sha256, sizeof out->sha256);
    return TK_OK;
}

/* ---- progress text ----------------------------------------------------- */

static void format_duration(double s, char *buf, size_t size)
{
    if (!(s >= 0) || s > 359999) s = 359999;
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%lu:%02lu", t / 60, t % 60);
}

char *tk_hub_progress_format(const tk_hub_progress *pr, bool tty, int width, char *buf, size_t size)
{
    if (!buf || size == 0) return buf;
    buf[0] = '\0';
    const char *file = pr->file ? pr->file : "";
    char done[32], total[32], rate[32], eta[32];
    tk_hub_format_size(pr->done, done, sizeof done);
    tk_hub_format_size(pr->total, total, sizeof total);
    if (pr->rate > 0) {
        tk_hub_format_size((uint64_t)pr->rate, rate, sizeof rate);
        strncat(rate, "/s", sizeof rate - strlen(rate) - 1);
    } else {
        snprintf(rate, sizeof rate, "-");
    }
    bool known = pr->total > 0 && pr->done <= pr->total;
    int pct = known ? (int)(pr->done * 100 / pr->total) : 0;
    eta[0] = '\0';
    if (pr->finished)
        format_duration(pr->elapsed, eta, sizeof eta);
    else if (known && pr->rate > 0)
        format_duration((double)(pr->total - pr->done) / pr->rate, eta, sizeof eta);

    if (!tty) {
        if (pr->finished)
            snprintf(buf, size, "%s: %s done in %s (%s)", file, done, eta, rate);
        else if (known)
            snprintf(buf, size, "%s: %3d%% %s of %s, %s%s%s", file, pct, done, total, rate,
                     eta[0] ? ", ETA " : "", eta);
        else
            snprintf(buf, size, "%s: %s, %s", file, done, rate);
        return buf;
    }

    /* Layout: NAME PCT [BAR] STATS; the stats and percentage are kept whole,
     * the bar gets up to 30 columns when there is room, the name the rest. */
    char stats[200], pct_s[16] = "";
    if (known) {
        snprintf(stats, sizeof stats, " %s / %s  %s  %s %s", done, total, rate,
                 pr->finished ? "in" : "ETA", eta[0] ? eta : "-:--");
        snprintf(pct_s, sizeof pct_s, " %3d%%", pct);
    } else {
        snprintf(stats, sizeof stats, " %s  %s", done, rate);
    }
    if (width < 20) width = 20;
    if ((size_t)width >= size) width = (int)size - 1;
    int fixed = (int)strlen(pct_s) + (int)strlen(stats);
    int file_len = (int)strlen(file);
    int avail = width - fixed; /* for the name and the bar */
    int name_w = file_len, bar_w = 0;
    if (known) {
        bar_w = avail - name_w - 3;
        if (bar_w < 10) {
            /* Shorten the name (down to 16 columns) to fit a bar of 10. */
            int want = avail - 13;
            if (want >= (file_len < 16 ? file_len : 16)) {
                name_w = want;
                bar_w = 10;
            } else {
                bar_w = 0;
            }
        }
        if (bar_w > 30) bar_w = 30;
    }
    if (!bar_w && name_w > avail) name_w = avail;
    if (name_w < 0) name_w = 0;
    char bar[40] = "";
    if (bar_w) {
        int fill = (int)((uint64_t)bar_w * pr->done / pr->total);
        bar[0] = ' ';
        bar[1] = '[';
        for (int i = 0; i < bar_w; i++) bar[2 + i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[2 + bar_w] = ']';
        bar[3 + bar_w] = '\0';
    }
    snprintf(buf, size, "%.*s%s%s%s", name_w, file, pct_s, bar, stats);
    if (strlen(buf) > (size_t)width) buf[width] = '\0';
    return buf;
}

/* ---- the transfer ------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_status = CURLE_OK;

static void curl_init(void)
{
    curl_init_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct pull_state {
    CURL *curl;
    const tk_hub_pull_params *params;
    const char *store_dir;
    const char *file;     /* store name */
    const char *partial;  /* path of the partial file */
    int fd;               /* the partial file, opened O_APPEND */
    hub_sha256 sha;       /* of the bytes in the file so far */
    uint64_t offset;      /* bytes in the file when this request began */
    uint64_t done;        /* bytes in the file now */
    uint64_t total;       /* final size, 0 when unknown */
    uint64_t expect_size; /* size the source promises, 0 when unknown */
    bool started;         /* the first body byte of the final response was seen */
    bool discard;         /* the final response is an error: its body is dropped */
    bool restarted;       /* the server ignored Range: started from zero */
    bool retry_from_zero; /* the partial file cannot be continued: start over */
    tk_status err;        /* set by the callbacks; the message is in core_error */
    /* Headers of the latest response (reset at each status line). */
    bool have_length;
    uint64_t length;
    bool have_range;        /* Content-Range: bytes START-END/TOTAL or bytes * /TOTAL */
    bool range_unsatisfied; /* the "bytes * /TOTAL" form */
    uint64_t range_start, range_total;
    bool range_total_known;
    /* Progress. */
    double t0, last_report;
} pull_state;

static bool parse_u64(const char *s, const char **end, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (!core_mul_u64(v, 10, &v) || !core_add_u64(v, (uint64_t)(*p - '0'), &v)) return false;
    }
    *end = p;
    *out = v;
    return true;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *user)
{
    pull_state *st = user;
    size_t n = size * nitems;
    char line[512];
    size_t len = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, data, len);
    line[len] = '\0';
    if (starts_with_ci(line, "HTTP/")) {
        st->have_length = st->have_range = st->range_unsatisfied = false;
        st->range_total_known = false;
        return n;
    }
    const char *v;
    if (starts_with_ci(line, "content-length:")) {
        v = line + 15;
        while (*v == ' ' || *v == '\t') v++;
        const char *end;
        st->have_length = parse_u64(v, &end, &st->length);
    } else if (starts_with_ci(line, "content-range:")) {
        v = line + 14;
        while (*v == ' ' || *v == '\t') v++;
        if (!starts_with_ci(v, "bytes")) return n;
        v += 5;
        while (*v == ' ') v++;
        const char *end;
        uint64_t a, b;
        if (*v == '*') {
            st->have_range = st->range_unsatisfied = true;
            v++;
        } else if (parse_u64(v, &end, &a) && *end == '-' && parse_u64(end + 1, &end, &b) &&
                   b >= a) {
            st->have_range = true;
            st->range_start = a;
            v = end;
        } else {
            return n;
        }
        if (*v == '/' && parse_u64(v + 1, &end, &st->range_total)) st->range_total_known = true;
    }
    return n;
}

static void report(pull_state *st, bool finished)
{
    const tk_hub_pull_params *pp = st->params;
    if (!pp->progress) return;
    double now = core_now();
    if (!finished && st->last_report > 0 && now - st->last_report < pp->progress_interval) return;
    st->last_report = now;
    tk_hub_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.file = st->file;
    pr.done = st->done;
    pr.total = st->total;
    pr.resumed = st->offset;
    pr.restarted = st->restarted;
    pr.elapsed = now - st->t0;
    uint64_t moved = st->done - st->offset;
    /* Early rates are noise; the final one is exact. */
    pr.rate = pr.elapsed > 0.2 || (finished && pr.elapsed > 0) ? (double)moved / pr.elapsed : 0;
    pr.finished = finished;
    pp->progress(&pr, pp->progress_user);
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* The first body bytes of the final response: decide what they are. */
static tk_status begin_body(pull_state *st)
{
    long code = 0;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code >= 300) {
        st->discard = true;
        return TK_OK;
    }
    uint64_t total = 0;
    if (code == 206) {
        if (!st->have_range || st->range_unsatisfied || st->range_start != st->offset) {
            st->retry_from_zero = true;
            return core_error(TK_ERR_NETWORK, "the server resumed at another offset than asked");
        }
        if (st->range_total_known)
            total = st->range_total;
        else if (st->have_length)
            core_add_u64(st->offset, st->length, &total);
    } else {
        if (st->offset > 0) {
            /* The server ignored the Range request and sends the whole file. */
            if (ftruncate(st->fd, 0) != 0) {
                int e = errno;
                return core_error(TK_ERR_IO, "cannot truncate %s: %s", st->partial, strerror(e));
            }
            hub_sha256_init(&st->sha);
            st->offset = st->done = 0;
            st->restarted = true;
        }
        if (st->have_length) total = st->length;
    }
    if (st->expect_size && total && total != st->expect_size)
        return core_error(TK_ERR_CHECKSUM,
                          "the server offers %llu bytes for %s where %llu were expected: "
                          "refusing a different file (give --sha256 to accept it)",
                          (unsigned long long)total, st->file, (unsigned long long)st->expect_size);
    if (!total) total = st->expect_size;
    if (total && st->done > total) {
        st->retry_from_zero = true;
        return core_error(TK_ERR_NETWORK, "%s is larger than the file", st->partial);
    }
    st->total = total;
    if (total) {
        tk_status s = hub_check_space(st->store_dir, total - st->done);
        if (s != TK_OK) return s;
    }
    st->t0 = core_now();
    report(st, false);
    return TK_OK;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    pull_state *st = user;
    size_t n = size * nmemb;
    if (!st->started) {
        st->started = true;
        st->err = begin_body(st);
        if (st->err != TK_OK) return 0;
    }
    if (st->discard) return n;
    uint64_t next;
    if (!core_add_u64(st->done, n, &next) || (st->total && next > st->total)) {
        st->err = core_error(TK_ERR_NETWORK,
                             "the server sent more than the %llu bytes of %s it announced",
                             (unsigned long long)st->total, st->file);
        return 0;
    }
    if (!write_all(st->fd, data, n)) {
        int e = errno;
        st->err = core_error(TK_ERR_IO, "writing %s: %s%s", st->partial, strerror(e),
                             e == ENOSPC ? " (the disk is full)" : "");
        return 0;
    }
    hub_sha256_update(&st->sha, data, n);
    st->done = next;
    report(st, false);
    return n;
}

static int on_xfer(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    pull_state *st = user;
    /* Keeps the rate and ETA moving while no data arrives. */
    if (st->started && !st->discard) report(st, false);
    return 0;
}

/* "host[:port]" of a URL, for messages. */
static void url_host(const char *url, char *out, size_t size)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    const char *at = NULL;
    size_t n = strcspn(h, "/?#");
    for (size_t i = 0; i < n; i++)
        if (h[i] == '@') at = h + i;
    if (at) {
        n -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    snprintf(out, size, "%.*s", (int)n, h);
}

static tk_status network_error(CURLcode rc, const char *errbuf, const pull_state *st,
                               const tk_hub_source *src, const char *url)
{
    char host[256], a[32], b[32];
    url_host(url, host, sizeof host);
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    const tk_hub_pull_params *pp = st->params;
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        return core_error(TK_ERR_NETWORK,
                          "cannot find the host '%s' (no network connection, or a typo in the "
                          "address?): %s",
                          host, detail);
    case CURLE_COULDNT_CONNECT:
        return core_error(TK_ERR_NETWORK,
                          "cannot connect to %s (no network connection, or the server is "
                          "down?): %s",
                          host, detail);
    case CURLE_OPERATION_TIMEDOUT:
        if (!st->started)
            return core_error(TK_ERR_NETWORK, "timed out talking to %s: %s", host, detail);
        return core_error(TK_ERR_NETWORK,
                          "the download from %s stalled (less than %ld bytes/s for %ld s) after "
                          "%s of %s; run the same command again to resume",
                          host, pp->low_speed_limit, pp->low_speed_time,
                          tk_hub_format_size(st->done, a, sizeof a),
                          st->total ? tk_hub_format_size(st->total, b, sizeof b) : "?");
    case CURLE_TOO_MANY_REDIRECTS:
        return core_error(TK_ERR_NETWORK, "too many redirects (more than %ld) from %s",
                          pp->max_redirects, url);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return core_error(TK_ERR_NETWORK, "%s redirected to an address that is not http(s): %s",
                          url, detail);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
#if LIBCURL_VERSION_NUM >= 0x073100
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
#endif
        return core_error(TK_ERR_NETWORK,
                          "the connection to %s was lost after %s of %s (%s); run the same "
                          "command again to resume",
                          host, tk_hub_format_size(st->done, a, sizeof a),
                          st->total ? tk_hub_format_size(st->total, b, sizeof b) : "?", detail);
    default:
        (void)src;
        return core_error(TK_ERR_NETWORK, "downloading %s failed: %s", url, detail);
    }
}

static tk_status http_error(long code, const tk_hub_source *src, const char *url, bool sent_token)
{
    char ep[1024] = HF_DEFAULT_ENDPOINT;
    if (code == 404) {
        if (src->huggingface && src->repo[0])
            return core_error(TK_ERR_NOT_FOUND,
                              "not found (HTTP 404): %s (check the repository and file name)", url);
        return core_error(TK_ERR_NOT_FOUND, "not found (HTTP 404): %s", url);
    }
    if (code == 401 || code == 403) {
        if (src->huggingface) {
            size_t n = strcspn(url, "?#");
            const char *r = strstr(url, "/resolve/");
            if (r && (size_t)(r - url) < n) n = (size_t)(r - url);
            snprintf(ep, sizeof ep, "%.*s", (int)n, url);
            return core_error(TK_ERR_NETWORK,
                              "access denied (HTTP %ld) for %s: the repository may be gated or "
                              "private. Open %s in a browser, accept its terms, then create an "
                              "access token at https://huggingface.co/settings/tokens and run "
                              "again with HF_TOKEN=<token>%s",
                              code, url, ep,
                              sent_token ? " (the HF_TOKEN that was sent was not accepted)" : "");
        }
        return core_error(TK_ERR_NETWORK, "access denied (HTTP %ld) for %s", code, url);
    }
    if (code == 429)
        return core_error(TK_ERR_NETWORK, "too many requests (HTTP 429) for %s: try again later",
                          url);
    if (code >= 500)
        return core_error(TK_ERR_NETWORK, "server error (HTTP %ld) for %s: try again later", code,
                          url);
    return core_error(TK_ERR_NETWORK, "unexpected answer HTTP %ld for %s", code, url);
}

/* Hashes the first `n` bytes of fd into s. */
static tk_status hash_prefix(int fd, uint64_t n, hub_sha256 *s, const char *path)
{
    static _Thread_local unsigned char buf[1 << 16];
    uint64_t pos = 0;
    while (pos < n) {
        size_t want = n - pos < sizeof buf ? (size_t)(n - pos) : sizeof buf;
        ssize_t got = pread(fd, buf, want, (off_t)pos);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            int e = got < 0 ? errno : EIO;
            return core_error(TK_ERR_IO, "reading %s: %s", path, strerror(e));
        }
        hub_sha256_update(s, buf, (size_t)got);
        pos += (uint64_t)got;
    }
    return TK_OK;
}

void tk_hub_pull_params_default(tk_hub_pull_params *p)
{
    memset(p, 0, sizeof *p);
    p->progress_interval = 0.25;
    p->connect_timeout = 30;
    p->low_speed_time = 60;
    p->low_speed_limit = 1024;
    p->max_redirects = 10;
}

static bool valid_sha256(const char *s)
{
    if (strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (hex_value(s[i]) < 0) return false;
    return true;
}

/* One request from st->offset; the partial file is open in st->fd. */
static tk_status transfer(pull_state *st, const tk_hub_source *src, const char *token,
                          bool *complete)
{
    const tk_hub_pull_params *pp = st->params;
    *complete = false;
    CURL *c = curl_easy_init();
    if (!c) return core_error(TK_ERR_NOMEM, "cannot start a download (curl_easy_init failed)");
    st->curl = c;
    char errbuf[CURL_ERROR_SIZE] = "";
    char range[48];
    struct curl_slist *headers = NULL;
    char auth[1100];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, src->url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, pp->max_redirects);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, pp->connect_timeout);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, pp->low_speed_limit);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, pp->low_speed_time);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tektra/" TEKTRA_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, st);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, st);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (st->offset > 0) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)st->offset);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    st->started = st->discard = false;
    st->err = TK_OK;
    st->t0 = st->last_report = 0;
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    char *eff = NULL;
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
    char url[2048];
    core_strlcpy(url, eff ? eff : src->url, sizeof url);

    tk_status status = TK_OK;
    if (st->err != TK_OK) {
        status = st->err;
    } else if (rc != CURLE_OK) {
        status = network_error(rc, errbuf, st, src, url);
    } else if (code == 416 && st->offset > 0) {
        /* Nothing left to send: complete when the file has exactly the
         * server's size, otherwise the partial file is not of this file. */
        if (st->have_range && st->range_total_known && st->range_total == st->offset) {
            st->total = st->offset;
            *complete = true;
        } else {
            st->retry_from_zero = true;
            status = core_error(TK_ERR_NETWORK, "the server refused to resume %s", st->file);
        }
    } else if (code >= 400 || code < 200) {
        status = code >= 300 && code < 400
                     ? core_error(TK_ERR_NETWORK, "redirect without a target (HTTP %ld) from %s",
                                  code, url)
                     : http_error(code, src, url, token != NULL);
    } else {
        if (!st->started) {
            /* An empty body: nothing was written; settle the total. */
            st->total = st->have_length ? st->length : 0;
            if (code == 200 && st->offset > 0) {
                if (ftruncate(st->fd, 0) != 0) {
                    int e = errno;
                    status =
                        core_error(TK_ERR_IO, "cannot truncate %s: %s", st->partial, strerror(e));
                }
                hub_sha256_init(&st->sha);
                st->offset = st->done = 0;
                st->restarted = true;
            }
        }
        if (status == TK_OK) *complete = true;
    }
    if (*complete && st->t0 == 0) st->t0 = core_now();
    if (*complete) report(st, true);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    st->curl = NULL;
    return status;
}

tk_status tk_hub_pull(const char *store_dir, const char *spec, const tk_hub_pull_params *params,
                      tk_hub_pull_result *out)
{
    tk_hub_pull_result local;
    if (!out) out = &local;
    memset(out, 0, sizeof *out);
    tk_hub_pull_params defaults;
    if (!params) {
        tk_hub_pull_params_default(&defaults);
        params = &defaults;
    }
    if (!store_dir || !*store_dir) return core_error(TK_ERR_INVALID_ARG, "no model store given");

    tk_hub_source src;
    tk_status s = tk_hub_source_parse(spec, params->getenv, params->getenv_user, &src);
    if (s != TK_OK) return s;
    if (params->sha256) {
        if (!valid_sha256(params->sha256))
            return core_error(TK_ERR_INVALID_ARG, "'%s' is not a SHA-256 (64 hex digits)",
                              params->sha256);
        for (int i = 0; i < 64; i++) {
            char ch = params->sha256[i];
            src.sha256[i] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
        }
        src.sha256[64] = '\0';
        src.size = 0; /* the user's hash decides which file is right */
    }
    const char *token =
        src.huggingface ? hub_env(params->getenv, params->getenv_user, "HF_TOKEN") : NULL;
    if (token && (strlen(token) > 1000 || has_ctl_or_space(token)))
        return core_error(TK_ERR_CONFIG, "HF_TOKEN contains spaces or control characters");

    s = hub_mkdir_p(store_dir);
    if (s != TK_OK) return s;
    char final_path[sizeof out->path], partial[sizeof out->path + 16];
    s = hub_join(store_dir, src.file, final_path, sizeof final_path);
    if (s != TK_OK) return s;
    snprintf(partial, sizeof partial, "%s%s", final_path, HUB_PARTIAL_SUFFIX);
    core_strlcpy(out->path, final_path, sizeof out->path);

    struct stat fst;
    if (!params->force && stat(final_path, &fst) == 0 && S_ISREG(fst.st_mode)) {
        out->already_present = true;
        out->size = (uint64_t)fst.st_size;
        return TK_OK;
    }

    pthread_once(&curl_once, curl_init);
    if (curl_init_status != CURLE_OK)
        return core_error(TK_ERR_NETWORK, "cannot initialise libcurl: %s",
                          curl_easy_strerror(curl_init_status));

    int fd = open(partial, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        return core_error(TK_ERR_IO, "cannot write %s: %s", partial, strerror(e));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return core_error(TK_ERR_LIMIT, "another 'tektra pull' is downloading %s right now",
                          src.file);
    }

    pull_state st;
    memset(&st, 0, sizeof st);
    st.params = params;
    st.store_dir = store_dir;
    st.file = src.file;
    st.partial = partial;
    st.fd = fd;
    st.expect_size = src.size;
    hub_sha256_init(&st.sha);

    bool complete = false;
    for (int attempt = 0; attempt < 2 && s == TK_OK && !complete; attempt++) {
        struct stat pst;
        if (fstat(fd, &pst) != 0) {
            int e = errno;
            s = core_error(TK_ERR_IO, "%s: %s", partial, strerror(e));
            break;
        }
        uint64_t have = (uint64_t)pst.st_size;
        if (st.expect_size && have > st.expect_size) {
            if (ftruncate(fd, 0) != 0) {
                int e = errno;
                s = core_error(TK_ERR_IO, "cannot truncate %s: %s", partial, strerror(e));
                break;
            }
            have = 0;
        }
        hub_sha256_init(&st.sha);
        if (have > 0) {
            s = hash_prefix(fd, have, &st.sha, partial);
            if (s != TK_OK) break;
        }
        st.offset = st.done = have;
        st.total = 0;
        st.retry_from_zero = false;
        if (attempt == 0 && have > 0) out->resumed = true;
        if (st.expect_size && st.expect_size > have) {
            s = hub_check_space(store_dir, st.expect_size - have);
            if (s != TK_OK) break;
        }
        s = transfer(&st, &src, token, &complete);
        if (s != TK_OK && st.retry_from_zero && attempt == 0) {
            if (ftruncate(fd, 0) != 0) {
                int e = errno;
                s = core_error(TK_ERR_IO, "cannot truncate %s: %s", partial, strerror(e));
                break;
            }
            out->resumed = false;
            s = TK_OK;
        }
    }
    if (st.restarted) out->resumed = false;
    if (s == TK_OK && !complete) s = core_error(TK_ERR_NETWORK, "%s: download incomplete", spec);

    bool remove_partial = false;
    if (s == TK_OK) {
        if (fsync(fd) != 0) {
            int e = errno;
            s = core_error(TK_ERR_IO, "writing %s: %s", partial, strerror(e));
        }
    }
    if (s == TK_OK) {
        struct stat pst;
        uint64_t have = fstat(fd, &pst) == 0 ? (uint64_t)pst.st_size : 0;
        char a[32], b[32];
        if (st.total && have < st.total) {
            s = core_error(TK_ERR_NETWORK,
                           "the download of %s ended early at %s of %s; run the same command "
                           "again to resume",
                           src.file, tk_hub_format_size(have, a, sizeof a),
                           tk_hub_format_size(st.total, b, sizeof b));
        } else if ((st.total && have != st.total) || (st.expect_size && have != st.expect_size)) {
            remove_partial = true;
            s = core_error(TK_ERR_CHECKSUM,
                           "%s has %llu bytes where %llu were expected; the download was "
                           "deleted",
                           src.file, (unsigned long long)have,
                           (unsigned long long)(st.expect_size ? st.expect_size : st.total));
        } else {
            /* With a known hash the hash decides first ("corrupt"); then the
             * format, which also catches error pages served as 200. */
            uint8_t d[32];
            hub_sha256_final(&st.sha, d);
            hub_sha256_hex(d, out->sha256);
            if (src.sha256[0] && strcmp(out->sha256, src.sha256) != 0) {
                remove_partial = true;
                s = core_error(TK_ERR_CHECKSUM,
                               "%s is corrupt: its SHA-256 is %s, expected %s; the download was "
                               "deleted, run the same command again",
                               src.file, out->sha256, src.sha256);
            } else if (!hub_has_gguf_magic(partial)) {
                remove_partial = true;
                s = core_error(TK_ERR_FORMAT,
                               "%s is not a GGUF model file (it does not start with \"GGUF\"); "
                               "the download was deleted",
                               src.url);
            } else {
                out->verified = src.sha256[0] != '\0';
                out->size = have;
            }
        }
    }
    if (s == TK_OK && rename(partial, final_path) != 0) {
        int e = errno;
        s = core_error(TK_ERR_IO, "cannot rename %s to %s: %s", partial, final_path, strerror(e));
    }
    if (s != TK_OK && !remove_partial) {
        /* An empty partial file (a request that failed before any data) is
         * noise in the store, not something to resume. */
        struct stat pst;
        if (fstat(fd, &pst) == 0 && pst.st_size == 0) remove_partial = true;
    }
    if (remove_partial) unlink(partial);
    close(fd);
    if (s != TK_OK) {
        out->sha256[0] = '\0';
        out->verified = false;
    }
    return s;
}
