/* Windows (mingw-w64): the POSIX calls the test programs and tools use for
 * their scratch files, force-included into them on Windows only
 * (tests/CMakeLists.txt, CMakeLists.txt). Tests that start other programs
 * through a shell are not built there (tests/windows-skip.txt).
 *
 *   mkdtemp, mkdir(path, mode), setenv/unsetenv, sysconf(_SC_NPROCESSORS_ONLN), memmem,
 *   aligned_alloc whose blocks free() takes (a table of the aligned blocks),
 *   system("rm -rf DIR") (the one shell command the unit tests run: removing
 *   their scratch directory; anything else fails with a message). */
#ifndef TK_TEST_POSIX_SHIM_H
#define TK_TEST_POSIX_SHIM_H

#include <direct.h>
#include <errno.h>
#include <io.h>
#include <process.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- aligned blocks that free() takes ---------------------------------- */

enum { TK_SHIM_MAX_ALIGNED = 4096 };
static void *tk_shim_aligned[TK_SHIM_MAX_ALIGNED];

static inline void *tk_shim_aligned_alloc(size_t align, size_t size)
{
    void *p = _aligned_malloc(size ? size : align, align);
    if (!p) return NULL;
    for (int i = 0; i < TK_SHIM_MAX_ALIGNED; i++) {
        if (!tk_shim_aligned[i]) {
            tk_shim_aligned[i] = p;
            return p;
        }
    }
    _aligned_free(p);
    return NULL;
}

static inline void tk_shim_free(void *p)
{
    if (!p) return;
    for (int i = 0; i < TK_SHIM_MAX_ALIGNED; i++) {
        if (tk_shim_aligned[i] == p) {
            tk_shim_aligned[i] = NULL;
            _aligned_free(p);
            return;
        }
    }
    free(p);
}

/* ---- files ----------------------------------------------------------- */

static inline char *tk_shim_mkdtemp(char *tmpl)
{
    size_t n = strlen(tmpl);
    if (n < 6 || strcmp(tmpl + n - 6, "XXXXXX") != 0) {
        errno = EINVAL;
        return NULL;
    }
    /* "/tmp/..." is Z:\tmp under wine; on Windows it may need creating. */
    if (strncmp(tmpl, "/tmp/", 5) == 0) _mkdir("/tmp");
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned seed = (unsigned)time(NULL) ^ ((unsigned)_getpid() << 16);
    for (int attempt = 0; attempt < 100; attempt++) {
        for (size_t i = n - 6; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            tmpl[i] = chars[(seed >> 16) % (sizeof chars - 1)];
        }
        if (_mkdir(tmpl) == 0) return tmpl;
        if (errno != EEXIST) return NULL;
    }
    return NULL;
}

/* Removes path and everything under it. */
static inline int tk_shim_rm_rf(const char *path)
{
    struct _stat64 st;
    if (_stat64(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if ((st.st_mode & _S_IFMT) != _S_IFDIR) return _unlink(path);
    char pattern[4096];
    snprintf(pattern, sizeof pattern, "%s/*", path);
    struct __finddata64_t fd;
    intptr_t h = _findfirst64(pattern, &fd);
    int rc = 0;
    if (h != -1) {
        do {
            if (strcmp(fd.name, ".") == 0 || strcmp(fd.name, "..") == 0) continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, fd.name);
            if (tk_shim_rm_rf(sub) != 0) rc = -1;
        } while (_findnext64(h, &fd) == 0);
        _findclose(h);
    }
    if (_rmdir(path) != 0) rc = -1;
    return rc;
}

static inline int tk_shim_system(const char *cmd)
{
    if (strncmp(cmd, "rm -rf ", 7) == 0) {
        char path[4096];
        const char *p = cmd + 7;
        size_t n = strlen(p);
        if (n >= 2 && p[0] == '\'' && p[n - 1] == '\'') {
            p++;
            n -= 2;
        }
        if (n == 0 || n >= sizeof path || memchr(p, '\'', n) || memchr(p, ' ', n)) goto unsupported;
        memcpy(path, p, n);
        path[n] = '\0';
        return tk_shim_rm_rf(path) == 0 ? 0 : 1;
    }
unsupported:
    fprintf(stderr, "test shim: no shell on Windows for: %s\n", cmd);
    return -1;
}

static inline void *tk_shim_memmem(const void *hay, size_t nh, const void *needle, size_t nn)
{
    if (nn == 0) return (void *)hay;
    for (size_t i = 0; i + nn <= nh; i++)
        if (memcmp((const char *)hay + i, needle, nn) == 0) return (char *)hay + i;
    return NULL;
}

/* ---- environment and processors ----------------------------------------- */

static inline int tk_shim_setenv(const char *name, const char *value, int overwrite)
{
    if (!overwrite && getenv(name)) return 0;
    return _putenv_s(name, value) == 0 ? 0 : -1;
}

static inline int tk_shim_unsetenv(const char *name)
{
    return _putenv_s(name, "") == 0 ? 0 : -1;
}

#define _SC_NPROCESSORS_ONLN 84
static inline long tk_shim_sysconf(int name)
{
    if (name != _SC_NPROCESSORS_ONLN) return -1;
    const char *n = getenv("NUMBER_OF_PROCESSORS");
    long v = n ? strtol(n, NULL, 10) : 0;
    return v > 0 ? v : 1;
}

#define aligned_alloc(a, s) tk_shim_aligned_alloc(a, s)
#define free                tk_shim_free
#define mkdtemp             tk_shim_mkdtemp
#define mkdir(p, m)         _mkdir(p)
#define system              tk_shim_system
#define setenv              tk_shim_setenv
#define unsetenv            tk_shim_unsetenv
#define sysconf             tk_shim_sysconf
#define memmem              tk_shim_memmem

#endif
