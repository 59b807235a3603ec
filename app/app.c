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
    va_start(ap, fmt);
    fputs("tektra: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int app_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
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
