/* Shared pieces of the tektra programs: option parsing that ends bad input
 * with a one-line error and exit code 2, and the subcommand contract. */
#ifndef TK_APP_H
#define TK_APP_H

#include "tektra.h"

#include <stdbool.h>
#include <stdint.h>

/* Exit codes of the programs. */
/* printf-style checking; mingw-w64's C99 printf on Windows (not msvcrt's). */
#if defined(__MINGW32__)
#define APP_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#else
#define APP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#endif

enum { APP_EXIT_OK = 0, APP_EXIT_FAIL = 1, APP_EXIT_USAGE = 2, APP_EXIT_INTERRUPTED = 130 };

/* Every subcommand: `int cmd_<name>(int argc, char **argv)` where argv[0] is
 * the subcommand's name, returning an exit code; and a one-line summary for
 * `tektra --help`. */
#define TK_CMD(name)                                                                               \
    int cmd_##name(int argc, char **argv);                                                         \
    extern const char cmd_##name##_summary[];
#define TK_CMD_OMITTED(name, why)
#include "cmd_list.h"
#undef TK_CMD
#undef TK_CMD_OMITTED

/* Prints "tektra: <message>" to stderr. */
void app_error(const char *fmt, ...) APP_PRINTF(1, 2);

/* Prints "tektra: <message>" and "Try 'tektra <cmd> --help'." and returns
 * APP_EXIT_USAGE, for `return app_usage_error(...)`. */
int app_usage_error(const char *cmd, const char *fmt, ...) APP_PRINTF(2, 3);

/* Strict number parsing for flag values: the whole string must be a number
 * within [min, max]. On failure prints a one-line error naming the flag and
 * returns false. */
bool app_parse_long(const char *flag, const char *s, long min, long max, long *out);
bool app_parse_double(const char *flag, const char *s, double min, double max, double *out);

/* For loops over argv: returns the value of flag `argv[*i]` (the next
 * argument, or the part after '=' in "--flag=value") and advances *i; prints an
 * error and returns NULL when the value is missing. */
const char *app_flag_value(int argc, char **argv, int *i);

/* True when argv[i] is `name` or starts with "name=". */
bool app_flag_is(const char *arg, const char *name);

/* A status line for long work (app/progress.c): when stderr is a
 * terminal, app_status() rewrites one line of it in place (at most 255
 * bytes) and app_status_clear() wipes it; when stderr is not a terminal
 * both do nothing. app_error() wipes the line before it prints. */
void app_status(const char *fmt, ...) APP_PRINTF(1, 2);
void app_status_clear(void);

/* The last component of `path` (trailing slashes ignored), in static
 * storage that the next call overwrites; at most 255 bytes. */
const char *app_base_name(const char *path);

/* Length of the valid UTF-8 sequence at `s` (at most `n` bytes available),
 * 0 when the bytes there are not valid UTF-8. */
size_t app_utf8_seq(const unsigned char *s, size_t n);

/* For the model-store commands: detects the platform, loads the settings
 * (config file at `config_path` or the usual places, environment) and finds
 * the store directory (*have_store false when none can be placed). Returns
 * false after printing the error. */
bool app_load_store(const char *config_path, tk_platform *plat, tk_config *cfg, char *store,
                    size_t size, bool *have_store);

#endif
