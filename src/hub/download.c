/* Downloads into the model store with libcurl: sources, resume, checks,
 * verification, atomic rename, progress; whole repositories as model
 * directories. */
#include "core/core.h"
#include "hub/hub.h"
#include "hub/sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TK_HUB_HTTP_curl
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

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

static bool ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && core_strcasecmp(s + n - m, suffix) == 0;
}

/* A whole repository "OWNER/REPO" as a model directory named REPO. */
static tk_status dir_source(tk_getenv_fn get, void *user, const char *repo, const char *spec,
                            tk_hub_source *out)
{
    const char *slash = strchr(repo, '/');
    if (!slash || !valid_repo_part(repo, (size_t)(slash - repo)) ||
        !valid_repo_part(slash + 1, strlen(slash + 1)))
        return core_error(TK_ERR_INVALID_ARG, "'%s' is not of the form OWNER/REPO", spec);
    const char *name = slash + 1;
    if (!hub_valid_store_name(name) || ends_with_ci(name, ".gguf") ||
        ends_with_ci(name, HUB_PARTIAL_SUFFIX) || strlen(name) >= sizeof out->file)
        return core_error(TK_ERR_INVALID_ARG,
                          "cannot use '%s' from '%s' as a directory name in the model store", name,
                          spec);
    char ep[1024];
    tk_status s = hf_endpoint(get, user, ep, sizeof ep);
    if (s != TK_OK) return s;
    int n = snprintf(out->url, sizeof out->url, "%s/api/models/%s/tree/main", ep, repo);
    if (n < 0 || (size_t)n >= sizeof out->url)
        return core_error(TK_ERR_LIMIT, "the URL for %s is too long", repo);
    core_strlcpy(out->repo, repo, sizeof out->repo);
    core_strlcpy(out->file, name, sizeof out->file);
    out->huggingface = true;
    out->directory = true;
    for (int i = 0; i < tk_hub_catalogue_count(); i++) {
        const tk_hub_model *m = tk_hub_catalogue_at(i);
        if (m->kind == TK_HUB_KIND_DIR && core_strcasecmp(m->repo, repo) == 0) out->model = m;
    }
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
        if (s1 && !s2) return dir_source(get, user, rest, spec, out);
        if (!s1 || !s2 || !*file || !valid_repo_part(rest, (size_t)(s1 - rest)) ||
            !valid_repo_part(s1 + 1, (size_t)(s2 - s1 - 1)))
            return core_error(TK_ERR_INVALID_ARG,
                              "'%s' is not of the form hf:OWNER/REPO/FILE.gguf or hf:OWNER/REPO",
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
        if (m && m->kind == TK_HUB_KIND_GGUF && core_strcasecmp(m->repo, repo) == 0 &&
            strcmp(file, base) == 0) {
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
    if (strchr(spec, '/')) {
        if (strchr(strchr(spec, '/') + 1, '/'))
            return core_error(TK_ERR_INVALID_ARG,
                              "'%s' is not a model to pull: give OWNER/REPO (a whole repository), "
                              "hf:OWNER/REPO/FILE.gguf (one file) or a URL",
                              spec);
        return dir_source(get, user, spec, spec, out);
    }

    const tk_hub_model *m = tk_hub_find_alias(spec);
    if (!m) {
        char near[1024];
        if (hub_suggest_text(spec, near, sizeof near) > 0)
            return core_error(TK_ERR_NOT_FOUND,
                              "'%s' is not a model name tektra knows; %s\n('tektra list "
                              "--available' lists them all; give hf:OWNER/REPO/FILE.gguf or an "
                              "https:// URL for other files, OWNER/REPO for a whole repository)",
                              spec, near);
        char names[512];
        catalogue_list(names, sizeof names);
        return core_error(TK_ERR_NOT_FOUND,
                          "'%s' is not a model name tektra knows (known: %s); give "
                          "hf:OWNER/REPO/FILE.gguf or an https:// URL for other files, "
                          "OWNER/REPO for a whole repository",
                          spec, names);
    }
    if (m->kind == TK_HUB_KIND_DIR) return dir_source(get, user, m->repo, spec, out);
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

void tk_hub_pull_params_default(tk_hub_pull_params *p)
{
    memset(p, 0, sizeof *p);
    p->progress_interval = 0.25;
    p->connect_timeout = 30;
    p->low_speed_time = 60;
    p->low_speed_limit = 1024;
    p->max_redirects = 10;
}

bool hub_dir_wants_file(const char *name)
{
    static const char *const exact[] = {
        "config.json",         "generation_config.json", "model.safetensors.index.json",
        "tokenizer.json",      "tokenizer_config.json",  "special_tokens_map.json",
        "chat_template.jinja", "chat_template.json"};
    for (size_t i = 0; i < TK_ARRAY_LEN(exact); i++)
        if (strcmp(name, exact[i]) == 0) return true;
    return ends_with_ci(name, ".safetensors");
}

#ifdef TK_HUB_HTTP_curl
/* ---- the transfer ------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_status = CURLE_OK;

static void curl_init(void)
{
    curl_init_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Progress of a directory pull: its files' transfers report through it as
 * one download. */
typedef struct dir_progress {
    const char *name; /* the directory's store name */
    uint64_t before;  /* bytes of the files finished before the current one */
    uint64_t total;   /* bytes of all its files */
    uint64_t resumed; /* bytes that were already there when the pull began */
    bool restarted;   /* some file had to start over */
    double t0, last_report;
} dir_progress;

typedef struct pull_state {
    CURL *curl;
    dir_progress *dir; /* part of a directory pull, or NULL */
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

static void dir_report(const tk_hub_pull_params *pp, dir_progress *d, uint64_t done, bool finished,
                       bool force)
{
    if (!pp->progress) return;
    double now = core_now();
    if (!finished && !force && d->last_report > 0 && now - d->last_report < pp->progress_interval)
        return;
    d->last_report = now;
    tk_hub_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.file = d->name;
    pr.done = done;
    pr.total = d->total;
    pr.resumed = d->resumed;
    pr.restarted = d->restarted;
    pr.elapsed = now - d->t0;
    uint64_t moved = done > d->resumed ? done - d->resumed : 0;
    pr.rate = pr.elapsed > 0.2 || (finished && pr.elapsed > 0) ? (double)moved / pr.elapsed : 0;
    pr.finished = finished;
    pp->progress(&pr, pp->progress_user);
}

static void report(pull_state *st, bool finished)
{
    const tk_hub_pull_params *pp = st->params;
    if (!pp->progress) return;
    if (st->dir) {
        /* One file's end is not the directory's: the directory pull sends
         * the final report. */
        if (st->restarted) st->dir->restarted = true;
        dir_report(pp, st->dir, st->dir->before + st->done, false, finished);
        return;
    }
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

static bool valid_sha256(const char *s)
{
    if (strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (hex_value(s[i]) < 0) return false;
    return true;
}

/* Sets the options every request to a hub shares: the URL, redirects
 * (http and https only), the timeouts of pp, the user agent and the error
 * buffer (CURL_ERROR_SIZE bytes). An Authorization header for `token` is
 * appended to *headers, which become the request's headers when there are
 * any; the caller frees them with curl_slist_free_all after the request. */
static void request_setup(CURL *c, const char *url, const char *token, const tk_hub_pull_params *pp,
                          char *errbuf, struct curl_slist **headers)
{
    if (token) {
        char auth[1100];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        *headers = curl_slist_append(*headers, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
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
    if (*headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers);
}

/* Performs the request set up on c: *code is the HTTP status (0 when
 * none), `url` the URL last reached (after redirects; req_url when curl
 * reports none). */
static CURLcode request_perform(CURL *c, const char *req_url, long *code, char *url, size_t size)
{
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    char *eff = NULL;
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
    core_strlcpy(url, eff ? eff : req_url, size);
    return rc;
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
    request_setup(c, src->url, token, pp, errbuf, &headers);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, st);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, st);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (st->offset > 0) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)st->offset);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    st->started = st->discard = false;
    st->err = TK_OK;
    st->t0 = st->last_report = 0;
    long code = 0;
    char url[2048];
    CURLcode rc = request_perform(c, src->url, &code, url, sizeof url);

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

/* Downloads one file of `src` into `partial` (resumed when it exists) and
 * renames it to `final_path` once complete and checked: size, SHA-256 where
 * known, and the GGUF magic when `gguf`. Fills out->size, sha256, verified
 * and resumed. The partial file is locked while in use. */
static tk_status fetch_file(const char *store_dir, const char *spec, const tk_hub_source *src,
                            const char *token, const tk_hub_pull_params *params,
                            const char *final_path, const char *partial, bool gguf,
                            dir_progress *dir, tk_hub_pull_result *out)
{
    int fd = open(partial, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        int e = errno;
        return core_error(TK_ERR_IO, "cannot write %s: %s", partial, strerror(e));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return core_error(TK_ERR_LIMIT, "another 'tektra pull' is downloading %s right now",
                          src->file);
    }

    pull_state st;
    memset(&st, 0, sizeof st);
    st.params = params;
    st.dir = dir;
    st.store_dir = store_dir;
    st.file = src->file;
    st.partial = partial;
    st.fd = fd;
    st.expect_size = src->size;
    hub_sha256_init(&st.sha);

    tk_status s = TK_OK;
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
        if (!dir && st.expect_size && st.expect_size > have) {
            s = hub_check_space(store_dir, st.expect_size - have);
            if (s != TK_OK) break;
        }
        s = transfer(&st, src, token, &complete);
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
                           src->file, tk_hub_format_size(have, a, sizeof a),
                           tk_hub_format_size(st.total, b, sizeof b));
        } else if ((st.total && have != st.total) || (st.expect_size && have != st.expect_size)) {
            remove_partial = true;
            s = core_error(TK_ERR_CHECKSUM,
                           "%s has %llu bytes where %llu were expected; the download was "
                           "deleted",
                           src->file, (unsigned long long)have,
                           (unsigned long long)(st.expect_size ? st.expect_size : st.total));
        } else {
            /* With a known hash the hash decides first ("corrupt"); then the
             * format, which also catches error pages served as 200. */
            uint8_t d[32];
            hub_sha256_final(&st.sha, d);
            hub_sha256_hex(d, out->sha256);
            if (src->sha256[0] && strcmp(out->sha256, src->sha256) != 0) {
                remove_partial = true;
                s = core_error(TK_ERR_CHECKSUM,
                               "%s is corrupt: its SHA-256 is %s, expected %s; the download was "
                               "deleted, run the same command again",
                               src->file, out->sha256, src->sha256);
            } else if (gguf && !hub_has_gguf_magic(partial)) {
                remove_partial = true;
                s = core_error(TK_ERR_FORMAT,
                               "%s is not a GGUF model file (it does not start with \"GGUF\"); "
                               "the download was deleted",
                               src->url);
            } else {
                out->verified = src->sha256[0] != '\0';
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

static tk_status init_curl(void)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_status != CURLE_OK)
        return core_error(TK_ERR_NETWORK, "cannot initialise libcurl: %s",
                          curl_easy_strerror(curl_init_status));
    return TK_OK;
}

static tk_status pull_dir(const char *store_dir, const char *spec, const tk_hub_source *src,
                          const char *token, const tk_hub_pull_params *params,
                          tk_hub_pull_result *out);

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
    if (params->sha256 && src.directory)
        return core_error(TK_ERR_INVALID_ARG,
                          "--sha256 is for one file; %s is a whole repository, whose files are "
                          "checked against the SHA-256 digests its listing gives",
                          spec);
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
    if (src.directory) return pull_dir(store_dir, spec, &src, token, params, out);

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
    s = init_curl();
    if (s != TK_OK) return s;
    return fetch_file(store_dir, spec, &src, token, params, final_path, partial, true, NULL, out);
}

/* ---- whole repositories as model directories --------------------------- */

/* The repository listing is small (a few kB for a model); anything bigger
 * than this is not what was asked for. */
#define LISTING_MAX (8u << 20)
/* Files kept from one repository; shards of the largest models number a
 * few hundred. */
#define DIR_MAX_FILES 1024

typedef struct mem_body {
    char *data;
    size_t len;
    bool too_big;
    char error_code[64]; /* the Hub's X-Error-Code header ("RepoNotFound", "GatedRepo") */
} mem_body;

static size_t mem_write(char *data, size_t size, size_t nmemb, void *user)
{
    mem_body *b = user;
    size_t n = size * nmemb;
    if (b->len + n > LISTING_MAX) {
        b->too_big = true;
        return 0;
    }
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown) return 0;
    b->data = grown;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static size_t mem_header(char *data, size_t size, size_t nitems, void *user)
{
    mem_body *b = user;
    size_t n = size * nitems;
    static const char name[] = "x-error-code:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        const char *v = data + sizeof name - 1;
        size_t len = n - (sizeof name - 1);
        while (len && (*v == ' ' || *v == '\t')) v++, len--;
        while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' ')) len--;
        snprintf(b->error_code, sizeof b->error_code, "%.*s", (int)len, v);
    } else if (n >= 5 && strncasecmp(data, "HTTP/", 5) == 0) {
        b->error_code[0] = '\0';
    }
    return n;
}

/* GETs the repository listing of `src` into body. */
static tk_status get_listing(const tk_hub_source *src, const char *token,
                             const tk_hub_pull_params *pp, mem_body *body)
{
    CURL *c = curl_easy_init();
    if (!c) return core_error(TK_ERR_NOMEM, "cannot start a download (curl_easy_init failed)");
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    request_setup(c, src->url, token, pp, errbuf, &headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, mem_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, body);
    long code = 0;
    char url[2048];
    CURLcode rc = request_perform(c, src->url, &code, url, sizeof url);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);

    char ep[1024];
    size_t ep_len = strcspn(src->url, "?#");
    const char *api = strstr(src->url, "/api/models/");
    if (api) ep_len = (size_t)(api - src->url);
    snprintf(ep, sizeof ep, "%.*s", (int)ep_len, src->url);
    if (body->too_big)
        return core_error(TK_ERR_LIMIT, "the file listing of %s is larger than %u MB", src->repo,
                          LISTING_MAX >> 20);
    if (rc != CURLE_OK) {
        pull_state tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.params = pp;
        tk_status s = network_error(rc, errbuf, &tmp, src, url);
        core_error_prefix("listing the files of %s", src->repo);
        return s;
    }
    bool not_found = strcmp(body->error_code, "RepoNotFound") == 0;
    bool gated = strcmp(body->error_code, "GatedRepo") == 0;
    if (code == 404 || (not_found && code != 401 && code != 403))
        return core_error(TK_ERR_NOT_FOUND,
                          "no repository %s on %s (HTTP %ld for %s): check the owner and the "
                          "name",
                          src->repo, ep, code, url);
    if (code == 401 || code == 403) {
        /* The Hub answers 401 for a repository that does not exist as well
         * as for a private one when no valid token is sent. */
        return core_error(TK_ERR_NETWORK,
                          "access denied (HTTP %ld) for %s: %s. Open %s/%s in a browser%s, "
                          "then create an access token at https://huggingface.co/settings/tokens "
                          "and run again with HF_TOKEN=<token>%s",
                          code, url,
                          gated   ? "the repository is gated"
                          : token ? "the repository may be gated or private"
                                  : "no such repository, or it is gated or private",
                          ep, src->repo, gated || !token ? " (and accept its terms if asked)" : "",
                          token ? " (the HF_TOKEN that was sent was not accepted)" : "");
    }
    if (code < 200 || code >= 300) return http_error(code, src, url, token != NULL);
    return TK_OK;
}

/* A file of the repository listing that a model directory keeps. */
typedef struct repo_file {
    char name[256];
    uint64_t size;
    char sha256[65]; /* the LFS object's SHA-256, "" for a file kept in git itself */
} repo_file;

typedef struct listing {
    repo_file *files; /* the kept files, in listing order */
    int n;
    bool config, safetensors;
    char gguf[256]; /* the first *.gguf file of the listing, "" when none */
    int n_gguf;
} listing;

/* Reads one {type, path, size, lfs: {oid, size}} object of the listing:
 * type and path strings, size and lfs.size non-negative integers, lfs.oid a
 * string when there, each within its buffer; a path too long for a store
 * name is not an error but reported through *path_long. */
static bool listing_item(const cJSON *item, char *type, size_t type_size, char *path,
                         size_t path_size, uint64_t *size, char *oid, size_t oid_size,
                         bool *path_long)
{
    type[0] = path[0] = oid[0] = '\0';
    *size = 0;
    *path_long = false;
    if (!cJSON_IsObject(item)) return false;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(item, "type");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(item, "path");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(item, "size");
    const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(item, "lfs");
    if (t && !hub_json_str(t, type, type_size)) return false;
    if (p && !cJSON_IsString(p)) return false;
    if (p && !hub_json_str(p, path, path_size)) *path_long = true;
    if (n && !hub_json_u64(n, size)) return false;
    if (cJSON_IsObject(lfs)) {
        const cJSON *lo = cJSON_GetObjectItemCaseSensitive(lfs, "oid");
        const cJSON *ln = cJSON_GetObjectItemCaseSensitive(lfs, "size");
        if (cJSON_IsString(lo) && !hub_json_str(lo, oid, oid_size)) return false;
        if (ln && !hub_json_u64(ln, size)) return false;
    }
    return true;
}

/* Parses the listing of the repository's top level (the Hub's
 * /api/models/OWNER/REPO/tree/main: a JSON array of entries). The Hub
 * pages long listings (a Link header); a model's top level is far shorter
 * than a page, so only the first page is read. */
static tk_status parse_listing(const tk_hub_source *src, const char *text, size_t len, listing *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = hub_json_parse(text, len);
    size_t cap = 0;
    tk_status s = TK_OK;
    bool well_formed = cJSON_IsArray(root);
    if (well_formed) {
        const cJSON *item;
        cJSON_ArrayForEach(item, root)
        {
            char type[16], path[256], oid[80];
            uint64_t size;
            bool path_long;
            if (!listing_item(item, type, sizeof type, path, sizeof path, &size, oid, sizeof oid,
                              &path_long)) {
                well_formed = false;
                break;
            }
            if (strcmp(type, "file") != 0 || path_long || strchr(path, '/')) continue;
            if (ends_with_ci(path, ".gguf")) {
                if (!out->gguf[0]) core_strlcpy(out->gguf, path, sizeof out->gguf);
                out->n_gguf++;
            }
            if (!hub_dir_wants_file(path)) continue;
            if (!hub_valid_store_name(path) || ends_with_ci(path, HUB_PARTIAL_SUFFIX)) continue;
            if (out->n >= DIR_MAX_FILES) {
                s = core_error(TK_ERR_LIMIT, "%s has more than %d model files", src->repo,
                               DIR_MAX_FILES);
                break;
            }
            if ((size_t)out->n == cap) {
                cap = cap ? cap * 2 : 16;
                repo_file *grown = realloc(out->files, cap * sizeof *grown);
                if (!grown) {
                    s = core_error(TK_ERR_NOMEM, "out of memory reading the listing of %s",
                                   src->repo);
                    break;
                }
                out->files = grown;
            }
            repo_file *f = &out->files[out->n++];
            memset(f, 0, sizeof *f);
            core_strlcpy(f->name, path, sizeof f->name);
            f->size = size;
            if (oid[0]) {
                if (!valid_sha256(oid)) {
                    s = core_error(TK_ERR_FORMAT,
                                   "the listing of %s gives '%s' as the SHA-256 of %s, which "
                                   "is not one",
                                   src->repo, oid, path);
                    break;
                }
                for (int i = 0; i < 65; i++)
                    f->sha256[i] = (char)(oid[i] >= 'A' && oid[i] <= 'F' ? oid[i] + 32 : oid[i]);
            }
            if (strcmp(path, "config.json") == 0) out->config = true;
            if (ends_with_ci(path, ".safetensors")) out->safetensors = true;
        }
    }
    cJSON_Delete(root);
    if (s == TK_OK && !well_formed)
        s = core_error(TK_ERR_FORMAT,
                       "the file listing of %s (%s) is not the JSON array of files expected",
                       src->repo, src->url);
    if (s != TK_OK) {
        free(out->files);
        out->files = NULL;
        out->n = 0;
    }
    return s;
}

/* Sum of the regular files in directory `dfd` (top level). */
static uint64_t dir_files_size(int dfd, int *count)
{
    uint64_t sum = 0;
    *count = 0;
    int fd2 = dup(dfd);
    DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
    if (!d) {
        if (fd2 >= 0) close(fd2);
        return 0;
    }
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
            sum += (uint64_t)st.st_size;
            (*count)++;
        }
    }
    closedir(d);
    return sum;
}

/* Removes from the partial directory whatever is neither a listed file nor
 * its partial download: files of an earlier listing must not end up in the
 * model. */
static void prune_partial_dir(int dfd, const listing *ls)
{
    int fd2 = dup(dfd);
    DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
    if (!d) {
        if (fd2 >= 0) close(fd2);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        bool keep = false;
        for (int i = 0; i < ls->n && !keep; i++) {
            size_t n = strlen(ls->files[i].name);
            keep = strncmp(name, ls->files[i].name, n) == 0 &&
                   (name[n] == '\0' || strcmp(name + n, HUB_PARTIAL_SUFFIX) == 0);
        }
        if (keep) continue;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            hub_remove_tree_at(dfd, name);
        else
            unlinkat(dfd, name, 0);
    }
    closedir(d);
}

/* "<name>.partial" (a static buffer: use before the next call). */
static const char *partial_name_of(const char *name)
{
    static _Thread_local char buf[300];
    snprintf(buf, sizeof buf, "%.255s%s", name, HUB_PARTIAL_SUFFIX);
    return buf;
}

/* Removes the partial directory when nothing in it is worth resuming. */
static void drop_partial_dir_if_empty(const char *path)
{
    rmdir(path); /* fails, as it should, when files are in it */
}

/* A model directory that is already in the store: out->size and n_files
 * from its files, out->already_present. */
static tk_status report_present(const char *final_path, tk_hub_pull_result *out)
{
    int fd = open(final_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        out->size = dir_files_size(fd, &out->n_files);
        close(fd);
    }
    out->already_present = true;
    return TK_OK;
}

static tk_status pull_dir(const char *store_dir, const char *spec, const tk_hub_source *src,
                          const char *token, const tk_hub_pull_params *params,
                          tk_hub_pull_result *out)
{
    out->directory = true;
    char final_path[sizeof out->path], partial_dir[sizeof out->path + 16], hidden[300];
    tk_status s = hub_join(store_dir, src->file, final_path, sizeof final_path);
    if (s != TK_OK) return s;
    snprintf(hidden, sizeof hidden, ".%s%s", src->file, HUB_PARTIAL_SUFFIX);
    s = hub_join(store_dir, hidden, partial_dir, sizeof partial_dir);
    if (s != TK_OK) return s;
    core_strlcpy(out->path, final_path, sizeof out->path);

    struct stat st;
    bool final_exists = lstat(final_path, &st) == 0;
    if (final_exists) {
        bool model_dir = hub_is_model_dir(final_path);
        if (!model_dir || (params->force && !S_ISDIR(st.st_mode)))
            return core_error(TK_ERR_IO,
                              "%s is in the way: it is not a model directory tektra pulled; "
                              "move it elsewhere and pull again",
                              final_path);
        if (!params->force) return report_present(final_path, out);
    }
    s = init_curl();
    if (s != TK_OK) return s;

    mem_body body;
    memset(&body, 0, sizeof body);
    s = get_listing(src, token, params, &body);
    listing ls;
    memset(&ls, 0, sizeof ls);
    if (s == TK_OK) s = parse_listing(src, body.data ? body.data : "", body.len, &ls);
    free(body.data);
    if (s != TK_OK) return s;
    if (!ls.config || !ls.safetensors) {
        const char *missing = !ls.config && !ls.safetensors ? "config.json and *.safetensors"
                              : !ls.config                  ? "config.json"
                                                            : "*.safetensors weights";
        if (ls.gguf[0])
            s = core_error(TK_ERR_FORMAT,
                           "%s is not a model directory (it has no %s), but it has %d GGUF "
                           "file%s: pull one with: tektra pull hf:%s/%s",
                           src->repo, missing, ls.n_gguf, ls.n_gguf == 1 ? "" : "s", src->repo,
                           ls.gguf);
        else
            s = core_error(TK_ERR_FORMAT,
                           "%s is not a model directory: it has no %s at its top level", src->repo,
                           missing);
        free(ls.files);
        return s;
    }
    uint64_t total = 0;
    for (int i = 0; i < ls.n; i++)
        if (!core_add_u64(total, ls.files[i].size, &total)) {
            free(ls.files);
            return core_error(TK_ERR_FORMAT, "the listing of %s gives impossible sizes", src->repo);
        }

    /* The partial directory: ours (not a link), locked while in use. */
    if (mkdir(partial_dir, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        free(ls.files);
        return core_error(TK_ERR_IO, "cannot create %s: %s", partial_dir, strerror(e));
    }
    int dfd = open(partial_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        free(ls.files);
        return core_error(TK_ERR_IO, "cannot use %s: %s", partial_dir,
                          e == ELOOP || e == ENOTDIR ? "it is not a directory" : strerror(e));
    }
    if (flock(dfd, LOCK_EX | LOCK_NB) != 0) {
        close(dfd);
        free(ls.files);
        return core_error(TK_ERR_LIMIT, "another 'tektra pull' is downloading %s right now",
                          src->file);
    }
    /* Another pull may have finished it while this one read the listing. */
    if (!final_exists && !params->force && hub_is_model_dir(final_path)) {
        close(dfd);
        free(ls.files);
        drop_partial_dir_if_empty(partial_dir);
        return report_present(final_path, out);
    }
    prune_partial_dir(dfd, &ls);

    /* What is there already: finished files (re-verified, since the listing
     * may have changed since) and partial ones. */
    bool *done = calloc((size_t)ls.n + 1, sizeof *done);
    if (!done) {
        close(dfd);
        free(ls.files);
        return core_error(TK_ERR_NOMEM, "out of memory");
    }
    uint64_t have = 0;
    for (int i = 0; i < ls.n && s == TK_OK; i++) {
        const repo_file *f = &ls.files[i];
        const char *partial_name = partial_name_of(f->name);
        if (fstatat(dfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            bool ok = S_ISREG(st.st_mode) && (uint64_t)st.st_size == f->size;
            if (ok && f->sha256[0]) {
                char path[1600], hex[65];
                ok = hub_join(partial_dir, f->name, path, sizeof path) == TK_OK &&
                     hub_sha256_file(path, hex) == TK_OK && strcmp(hex, f->sha256) == 0;
            }
            if (ok) {
                done[i] = true;
                have += f->size;
                continue;
            }
            unlinkat(dfd, f->name, 0);
        }
        if (fstatat(dfd, partial_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            have += (uint64_t)st.st_size < f->size ? (uint64_t)st.st_size : f->size;
    }
    if (have > 0) out->resumed = true;
    s = hub_check_space(store_dir, total - have);

    dir_progress dp;
    memset(&dp, 0, sizeof dp);
    dp.name = src->file;
    dp.total = total;
    dp.resumed = have;
    dp.t0 = core_now();
    if (s == TK_OK) dir_report(params, &dp, have, false, true);

    int n_sha = 0;
    for (int i = 0; i < ls.n && s == TK_OK; i++) {
        const repo_file *f = &ls.files[i];
        n_sha += f->sha256[0] != '\0';
        if (done[i]) {
            dp.before += f->size;
            out->n_verified += f->sha256[0] != '\0';
            continue;
        }
        tk_hub_source fs;
        memset(&fs, 0, sizeof fs);
        s = hf_url(params->getenv, params->getenv_user, src->repo, f->name, &fs);
        if (s != TK_OK) break;
        core_strlcpy(fs.file, f->name, sizeof fs.file);
        fs.size = f->size;
        core_strlcpy(fs.sha256, f->sha256, sizeof fs.sha256);
        char path[1600], partial[1600];
        s = hub_join(partial_dir, f->name, path, sizeof path);
        if (s == TK_OK)
            s = hub_join(partial_dir, partial_name_of(f->name), partial, sizeof partial);
        if (s != TK_OK) break;
        tk_hub_pull_result fr;
        memset(&fr, 0, sizeof fr);
        s = fetch_file(store_dir, spec, &fs, token, params, path, partial, false, &dp, &fr);
        if (s != TK_OK) {
            core_error_prefix("%s", src->repo);
            break;
        }
        out->n_verified += fr.verified;
        dp.before += f->size;
    }
    free(done);
    if (s == TK_OK) dir_report(params, &dp, total, true, true);
    if (s == TK_OK && fsync(dfd) != 0) {
        int e = errno;
        s = core_error(TK_ERR_IO, "writing %s: %s", partial_dir, strerror(e));
    }

    /* Into place as a whole. With --force the old directory is first moved
     * aside under a hidden name, then removed. */
    if (s == TK_OK) {
        char old[sizeof out->path + 64] = "";
        if (final_exists) {
            char old_name[320];
            snprintf(old_name, sizeof old_name, ".%s.old-%ld", src->file, (long)getpid());
            s = hub_join(store_dir, old_name, old, sizeof old);
            if (s == TK_OK && rename(final_path, old) != 0) {
                int e = errno;
                s = core_error(TK_ERR_IO, "cannot move %s aside: %s", final_path, strerror(e));
            }
        }
        if (s == TK_OK && rename(partial_dir, final_path) != 0) {
            int e = errno;
            s = core_error(TK_ERR_IO, "cannot rename %s to %s: %s", partial_dir, final_path,
                           strerror(e));
            if (old[0]) rename(old, final_path);
        } else if (s == TK_OK && old[0]) {
            hub_remove_tree(old);
        }
    }
    if (s == TK_OK) {
        out->size = total;
        out->n_files = ls.n;
        out->verified = n_sha > 0 && out->n_verified == n_sha;
    } else {
        drop_partial_dir_if_empty(partial_dir);
    }
    close(dfd);
    free(ls.files);
    return s;
}

#else /* no HTTP client in this build: the program has no pull command */

tk_status tk_hub_pull(const char *store_dir, const char *spec, const tk_hub_pull_params *params,
                      tk_hub_pull_result *out)
{
    (void)store_dir;
    (void)params;
    if (out) memset(out, 0, sizeof *out);
    return core_error(TK_ERR_UNSUPPORTED,
                      "cannot download %s: this build of tektra has no HTTP client (built "
                      "without libcurl)",
                      spec ? spec : "a model");
}
#endif
