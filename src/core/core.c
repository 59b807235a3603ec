/* Status strings, per-thread error messages, logging, small utilities. */
#include "core/core.h"

#include "core/os.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const status_strings[] = {
#define TK_STATUS_STR_(name, msg) msg,
    TK_STATUS_LIST(TK_STATUS_STR_)
#undef TK_STATUS_STR_
};

const char *tk_status_str(tk_status status)
{
    if ((int)status < 0 || (int)status >= TK_STATUS_COUNT_) return "unknown status";
    return status_strings[status];
}

const char *tk_version(void)
{
    return TEKTRA_VERSION;
}

/* ---- errors ------------------------------------------------------------ */

static _Thread_local char last_error[1024];

const char *tk_last_error(void)
{
    return last_error;
}

void core_error_clear(void)
{
    last_error[0] = '\0';
}

tk_status core_error(tk_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

void core_error_prefix(const char *fmt, ...)
{
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    /* A message that starts with the prefix already (a file name that
     * two layers add) keeps it once. */
    if (strncmp(old, prefix, n) == 0 && old[n] == ':' && old[n + 1] == ' ') return;
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    core_strlcpy(last_error + n + 2, old, sizeof last_error - n - 2);
}

/* ---- logging ----------------------------------------------------------- */

static tk_log_fn log_fn;
static void *log_user;
static tk_log_level log_min = TK_LOG_WARN;

void tk_log_set(tk_log_fn fn, void *user, tk_log_level min_level)
{
    log_fn = fn;
    log_user = user;
    log_min = min_level;
}

void core_log(tk_log_level level, const char *fmt, ...)
{
    if (level < log_min) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_fn) {
        log_fn(level, msg, log_user);
    } else {
        static const char *const names[] = {"debug", "info", "warning", "error"};
        fprintf(stderr, "tektra: %s: %s\n", names[level], msg);
    }
}

/* ---- utilities --------------------------------------------------------- */

void *core_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

tk_status core_read_file(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL;
    if (len) *len = 0;
    FILE *f = os_fopen(path, "rb");
    if (!f) {
        int e = errno;
        return core_error(e == ENOENT ? TK_ERR_NOT_FOUND : TK_ERR_IO, "%s: %s", path, strerror(e));
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return core_error(TK_ERR_NOMEM, "%s: out of memory", path);
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (n > max) {
            free(buf);
            fclose(f);
            return core_error(TK_ERR_LIMIT, "%s: larger than the limit of %zu bytes", path, max);
        }
        if (got == 0) break;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return core_error(TK_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return TK_OK;
}

bool core_write_all(FILE *f, const void *p, uint64_t n)
{
    const uint8_t *b = p;
    while (n) {
        size_t chunk = n > (1u << 30) ? (size_t)1 << 30 : (size_t)n;
        if (fwrite(b, 1, chunk, f) != chunk) return false;
        b += chunk;
        n -= chunk;
    }
    return true;
}

/* ---- files replaced in one step --------------------------------------- */

tk_status core_atomic_open(core_atomic_file *af, const char *path)
{
    af->f = NULL;
    af->path = path;
    size_t tlen = strlen(path) + 32;
    af->tmp = malloc(tlen);
    if (!af->tmp) return core_error(TK_ERR_NOMEM, "%s: out of memory", path);
    snprintf(af->tmp, tlen, "%s.tmp.%ld", path, os_pid());
    af->f = os_fopen(af->tmp, "wb");
    if (!af->f) {
        int e = errno;
        free(af->tmp);
        af->tmp = NULL;
        return core_error(TK_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    return TK_OK;
}

static bool replace_file(const char *from, const char *to)
{
    if (os_rename(from, to) != 0) return false;
    /* Make the rename itself durable: sync the directory (best effort). */
    char dir[4096];
    core_strlcpy(dir, to, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        core_strlcpy(dir, ".", sizeof dir);
    os_sync_dir(dir);
    return true;
}

tk_status core_atomic_commit(core_atomic_file *af, bool writes_ok)
{
    bool ok = writes_ok && os_sync_file(af->f);
    int e = errno;
    ok = (fclose(af->f) == 0) && ok;
    af->f = NULL;
    if (ok && !replace_file(af->tmp, af->path)) {
        e = errno;
        ok = false;
    }
    if (!ok) os_remove(af->tmp);
    free(af->tmp);
    af->tmp = NULL;
    return ok ? TK_OK : core_error(TK_ERR_IO, "%s: write failed: %s", af->path, strerror(e));
}

char *core_strlcpy(char *dst, const char *src, size_t size)
{
    if (size == 0) return dst;
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return dst;
}

char *core_strndup(const char *s, size_t n)
{
    size_t len = 0;
    while (len < n && s[len]) len++;
    char *d = malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

const void *core_memmem(const void *hay, size_t nh, const void *needle, size_t nn)
{
    if (nn == 0) return hay;
    if (nn > nh) return NULL;
    const unsigned char *h = hay, *n = needle;
    for (size_t i = 0; i + nn <= nh; i++) {
        const unsigned char *c = memchr(h + i, n[0], nh - nn + 1 - i);
        if (!c) return NULL;
        i = (size_t)(c - h);
        if (memcmp(c, n, nn) == 0) return c;
    }
    return NULL;
}

int core_strcasecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca != cb || ca == 0) return ca - cb;
    }
}

int core_edit_distance(const char *a, const char *b)
{
    enum { MAX = 63 };
    size_t na = strlen(a), nb = strlen(b);
    if (na > MAX || nb > MAX) return 1000;
    int row[MAX + 1];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
            int best = diag + (same ? 0 : 1);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

double core_now(void)
{
    return os_now();
}

uint64_t core_peak_rss(void)
{
    return os_peak_rss();
}

tk_status tk_read_file(const char *path, size_t max, char **out, size_t *len)
{
    size_t n = 0;
    tk_status st = core_read_file(path, max, out, &n);
    if (len) *len = n;
    return st;
}

FILE *tk_fopen(const char *path, const char *mode)
{
    return os_fopen(path, mode);
}
