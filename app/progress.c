/* A status line on the terminal: one line of stderr rewritten in place
 * while long work runs (loading a model, quantizing), and wiped when the
 * work is done. Nothing is written when stderr is not a terminal, so
 * piped and logged output carries no progress noise. Spaces rather than
 * escape codes clear it, which works on every terminal, TERM=dumb too. */
#include "app.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static size_t shown; /* bytes of the line on the screen now */

static bool status_tty(void)
{
    static int tty = -1;
    if (tty < 0) tty = isatty(STDERR_FILENO) ? 1 : 0;
    return tty == 1;
}

void app_status(const char *fmt, ...)
{
    if (!status_tty()) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = strlen(line);
    fputc('\r', stderr);
    fputs(line, stderr);
    for (size_t i = len; i < shown; i++) fputc(' ', stderr);
    shown = len;
    fflush(stderr);
}

void app_status_clear(void)
{
    if (!shown) return;
    fputc('\r', stderr);
    for (size_t i = 0; i < shown; i++) fputc(' ', stderr);
    fputc('\r', stderr);
    shown = 0;
    fflush(stderr);
}

const char *app_base_name(const char *path)
{
    const char *end = path + strlen(path);
    while (end > path + 1 && end[-1] == '/') end--;
    const char *b = end;
    while (b > path && b[-1] != '/') b--;
    static char name[256];
    size_t n = (size_t)(end - b);
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, b, n);
    name[n] = '\0';
    return name;
}
