/* Option parsing shared by the programs. */
#include "app.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void app_error(const char *fmt, ...)
{
    va_list ap;
    app_status_clear();
    va_start(ap, fmt);
    fputs("tektra: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int app_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    app_status_clear();
    va_start(ap, fmt);
    fputs("tektra: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd && *cmd)
        fprintf(stderr, " (try 'tektra %s --help')\n", cmd);
    else
        fputs(" (try 'tektra --help')\n", stderr);
    return APP_EXIT_USAGE;
}

bool app_parse_long(const char *flag, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno == ERANGE) {
        app_error("%s: '%s' is not a whole number", flag, s);
        return false;
    }
    if (v < min || v > max) {
        app_error("%s: %ld is out of range [%ld, %ld]", flag, v, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool app_parse_double(const char *flag, const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !isfinite(v)) {
        app_error("%s: '%s' is not a number", flag, s);
        return false;
    }
    if (v < min || v > max) {
        app_error("%s: %g is out of range [%g, %g]", flag, v, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool app_flag_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

const char *app_flag_value(int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    if (arg[0] == '-' && arg[1] == '-' && eq) return eq + 1;
    if (*i + 1 >= argc) {
        app_error("%s needs a value", arg);
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

size_t app_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* The environment as the store commands read it: they run no model, so
 * a TEKTRA_BACKEND they could not use anyway is left out (with a warning
 * when it is not a backend name) instead of stopping them. */
static const char *store_getenv(const char *name, void *user)
{
    (void)user;
    const char *v = getenv(name);
    if (v && strcmp(name, "TEKTRA_BACKEND") == 0) {
        tk_backend_kind kind;
        if (tk_backend_kind_parse(v, &kind) != TK_OK)
            fprintf(stderr,
                    "tektra: warning: TEKTRA_BACKEND=%s is not a backend (auto, gguf, "
                    "mlx); ignored here, where no model runs\n",
                    v);
        return NULL;
    }
    return v;
}

bool app_load_store(const char *config_path, tk_platform *plat, tk_config *cfg, char *store,
                    size_t size, bool *have_store)
{
    tk_platform_detect(plat);
    if (tk_config_load(cfg, config_path, plat, store_getenv, NULL) != TK_OK) {
        app_error("%s", tk_last_error());
        return false;
    }
    *have_store = tk_hub_store_dir(cfg, plat, NULL, NULL, store, size) == TK_OK;
    return true;
}
