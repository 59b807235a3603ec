/* The operating-system layer: the few things tektra needs from the OS that
 * POSIX and Windows spell differently. One header, two implementations
 * chosen by the build (os_posix.c, os_win32.c: CMakeLists.txt compiles
 * files ending in _win32.c only for Windows and _posix.c only elsewhere),
 * so the rest of the code has no #ifdef for them.
 *
 * Paths are UTF-8 everywhere; on Windows they become UTF-16 at this
 * boundary (the wide-character API), so any file name works. Functions
 * that fail set errno (the POSIX codes: ENOENT, EEXIST, EACCES, EIO ...). */
#ifndef TK_CORE_OS_H
#define TK_CORE_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* ---- files -------------------------------------------------------------- */

/* fopen() of a UTF-8 path; the file is not inherited by child processes. */
FILE *os_fopen(const char *path, const char *mode);

typedef struct os_stat_info {
    uint64_t size; /* bytes */
    int64_t mtime; /* seconds since 1970 */
    bool is_dir;   /* a directory (a link to one counts) */
    bool is_file;  /* a regular file (a link to one counts) */
} os_stat_info;

/* stat() of a UTF-8 path, links followed; false (errno set) when it fails. */
bool os_stat(const char *path, os_stat_info *out);

/* mkdir (mode 0755 where modes exist); 0, or -1 with errno (EEXIST ...). */
int os_mkdir(const char *path);

/* remove() of a file, rmdir() of an empty directory; 0 or -1 with errno. */
int os_remove(const char *path);
int os_rmdir(const char *path);

/* Renames `from` to `to`, replacing `to` if it exists; 0 or -1 with errno. */
int os_rename(const char *from, const char *to);

/* Flushes f's buffers and the file's data to the disk (fsync); false on
 * failure. */
bool os_sync_file(FILE *f);

/* Makes a rename in `dir` durable (fsync of the directory where that means
 * something); best effort. */
void os_sync_dir(const char *dir);

/* A directory's entries, "." and ".." left out. */
typedef struct os_dir os_dir;

/* NULL (errno set) when the directory cannot be read. */
os_dir *os_dir_open(const char *path);

/* The next entry's name (UTF-8; valid until the next call), NULL at the
 * end. */
const char *os_dir_next(os_dir *d);

void os_dir_close(os_dir *d);

/* A file mapped read-only into memory. */
typedef struct os_map {
    const void *data; /* NULL when size is 0 */
    uint64_t size;    /* bytes */
    void *handle;     /* what os_unmap needs */
} os_map;

/* Maps the regular file `path` read-only (an empty file: size 0, nothing
 * mapped). False with errno: ENOENT, EACCES, EINVAL (not a regular file),
 * EFBIG (larger than the address space), EIO (the mapping failed). Opening
 * a FIFO does not wait for a writer. */
bool os_map_file(const char *path, os_map *m);

/* Unmaps what os_map_file mapped; a zeroed map is fine. */
void os_unmap(os_map *m);

/* ---- memory and processes ---------------------------------------------- */

/* `size` bytes aligned to `align` (a power of two, at least sizeof(void *));
 * free with os_aligned_free (not free: on Windows they differ). NULL when
 * out of memory. */
void *os_aligned_alloc(size_t align, size_t size);
void os_aligned_free(void *p);

/* Peak resident memory (working set) of this process in bytes; 0 when
 * unknown. */
uint64_t os_peak_rss(void);

/* The page size of virtual memory. */
size_t os_page_size(void);

/* Logical processors online. */
int os_cpu_count(void);

/* This process's id. */
long os_pid(void);

/* ---- time and randomness ------------------------------------------------ */

/* Monotonic time in seconds. */
double os_now(void);

/* Local broken-down time of t; false when it cannot be converted. */
bool os_localtime(time_t t, struct tm *out);

/* n bytes from the OS's cryptographic random source (getrandom or
 * /dev/urandom; BCryptGenRandom on Windows); false when it failed. */
bool os_random(void *buf, size_t n);

/* ---- the console ------------------------------------------------------- */

/* True when f is a terminal (a console on Windows). */
bool os_isatty(FILE *f);

/* The width in columns of the terminal f writes to; 0 when unknown. */
int os_term_width(FILE *f);

/* Called once at the start of a program with main's arguments: on Windows
 * replaces *argv with the command line in UTF-8 (from the UTF-16 one) and
 * makes the console read and write UTF-8; elsewhere does nothing. */
void os_init_program(int *argc, char ***argv);

/* Calls fn on Ctrl-C: from the SIGINT handler, or on Windows from the
 * console's control thread (Ctrl-C, Ctrl-Break, the console closing). fn
 * may only set a flag. NULL restores the default. */
void os_on_interrupt(void (*fn)(void));

/* Waiting in main() for the program to be asked to stop (a server): on
 * POSIX systems SIGINT and SIGTERM, taken with sigwait; on Windows the
 * console's Ctrl-C, Ctrl-Break and close events. os_stop_prepare runs
 * before any thread starts (on POSIX it blocks those signals, which every
 * thread then inherits, and ignores SIGPIPE); os_stop_wait blocks until a
 * stop request (1: Ctrl-C / SIGINT, 2: SIGTERM or the console closing) or
 * an os_stop_wake from another thread (0). */
void os_stop_prepare(void);
int os_stop_wait(void);
void os_stop_wake(void);

#endif
