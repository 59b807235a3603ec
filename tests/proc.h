/* Running the real programs from tests: a shell command line, its exit code
 * and everything it printed (stdout and stderr together). */
#ifndef TK_TEST_PROC_H
#define TK_TEST_PROC_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

typedef struct proc_result {
    int rc;          /* exit code, or 128 + signal */
    char out[65536]; /* stdout + stderr, truncated */
} proc_result;

/* Runs `sh -c "cd DIR? ; CMD 2>&1"`. `cmd` may use $TK_BIN and $TK_SHARED. */
static inline void proc_run(proc_result *r, const char *cmd)
{
    char full[16384];
    snprintf(full, sizeof full, "( %s ) 2>&1", cmd);
    r->out[0] = '\0';
    r->rc = -1;
    FILE *p = popen(full, "r");
    if (!p) return;
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    while (fread((char[4096]){0}, 1, 4096, p) > 0) {
    }
    int st = pclose(p);
    if (WIFEXITED(st))
        r->rc = WEXITSTATUS(st);
    else if (WIFSIGNALED(st))
        r->rc = 128 + WTERMSIG(st);
}

/* Runs a command built from `fmt` after `setup` (shell text that prepares a
 * clean environment), in a clean settings environment: no TEKTRA_* variable
 * from outside. */
static inline void proc_runf(proc_result *r, const char *setup, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void proc_runf(proc_result *r, const char *setup, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8192];
    snprintf(full, sizeof full, "unset $(env | grep -o '^TEKTRA_[A-Z_]*') 2>/dev/null; %s; ( %s )",
             setup, cmd);
    proc_run(r, full);
}

#endif
