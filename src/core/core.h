/* Internal helpers shared by every module: error reporting, logging,
 * checked arithmetic and allocation. */
#ifndef TK_CORE_INTERNAL_H
#define TK_CORE_INTERNAL_H

#include "tektra/core.h"

#include <stdarg.h>
#include <stdio.h>

#if defined(__MINGW32__)
/* mingw-w64's own C99 printf (__USE_MINGW_ANSI_STDIO), not msvcrt's. */
#define TK_PRINTF(fmt_idx, arg_idx) __attribute__((format(gnu_printf, fmt_idx, arg_idx)))
#elif defined(__GNUC__) || defined(__clang__)
#define TK_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define TK_PRINTF(fmt_idx, arg_idx)
#endif

#define TK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TK_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define TK_MAX(a, b)    ((a) > (b) ? (a) : (b))

/* Records a detailed message for tk_last_error() and returns `status`, so a
 * failure reads `return core_error(TK_ERR_FORMAT, "tensor %d ...", i);`. */
tk_status core_error(tk_status status, const char *fmt, ...) TK_PRINTF(2, 3);

/* Prefixes the current last-error message with "<prefix>: ", unless it
 * starts with that already. */
void core_error_prefix(const char *fmt, ...) TK_PRINTF(1, 2);

/* Clears the last-error message of this thread. */
void core_error_clear(void);

void core_log(tk_log_level level, const char *fmt, ...) TK_PRINTF(2, 3);

/* Checked arithmetic: return false on overflow. */
static inline bool core_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool core_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* calloc(n, size) that refuses products that overflow; NULL on failure. */
void *core_calloc(size_t n, size_t size);

/* Reads a whole file of at most `max` bytes into a NUL-terminated buffer
 * (caller frees with free()). TK_ERR_NOT_FOUND, TK_ERR_IO or TK_ERR_LIMIT
 * with a message naming the path. */
tk_status core_read_file(const char *path, size_t max, char **out, size_t *len);

/* Writes n bytes (any size) to f; false on a short write (errno says why). */
bool core_write_all(FILE *f, const void *p, uint64_t n);

/* A file replaced in one step: readers of `path` see the old file or the
 * complete new one, never a part. core_atomic_open creates a temporary file
 * beside `path` (its name plus ".tmp.<pid>") and opens it "wb"; the caller
 * writes through af->f, then ends with core_atomic_commit, which closes the
 * file and frees what open allocated. */
typedef struct core_atomic_file {
    FILE *f;          /* the temporary file; owned until commit */
    char *tmp;        /* its name; owned until commit */
    const char *path; /* the target; borrowed until commit */
} core_atomic_file;

/* TK_ERR_NOMEM, or TK_ERR_IO ("<path>: cannot create: <reason>"); on failure
 * there is nothing to commit. */
tk_status core_atomic_open(core_atomic_file *af, const char *path);

/* With `writes_ok` (every write to af->f succeeded): flushes, fsyncs and
 * closes the file, renames it over the target and fsyncs the directory (best
 * effort), so the new file survives a crash. Otherwise, or when any of that
 * fails, closes and removes the temporary file, leaving the target as it was,
 * and returns TK_ERR_IO ("<path>: write failed: <reason>", the reason from
 * errno as the failed write left it). */
tk_status core_atomic_commit(core_atomic_file *af, bool writes_ok);

/* Copies src into dst (size bytes), always NUL-terminating; returns dst. */
char *core_strlcpy(char *dst, const char *src, size_t size);

/* The first occurrence of needle[0..nn) in hay[0..nh) (memmem, which not
 * every C library has); NULL when there is none. An empty needle matches at
 * hay. */
const void *core_memmem(const void *hay, size_t nh, const void *needle, size_t nn);

/* A NUL-terminated copy of the first n bytes of s (fewer when s ends
 * before); caller frees with free(). NULL when out of memory. */
char *core_strndup(const char *s, size_t n);

/* Case-insensitive ASCII string comparison. */
int core_strcasecmp(const char *a, const char *b);

/* The edit distance (insertions, deletions, substitutions; ASCII case
 * ignored) between a and b, for "did you mean" suggestions; strings longer
 * than 63 bytes count as far from everything (returns 1000). */
int core_edit_distance(const char *a, const char *b);

/* Monotonic time in seconds. */
double core_now(void);

/* Peak resident memory of this process in bytes (0 when unknown). */
uint64_t core_peak_rss(void);

#endif
