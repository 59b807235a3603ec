/* A small test harness: CHECK macros that print both values on failure, and
 * a summary line "N passed, N failed" that CTest logs show. Header-only so a
 * test program is one .c file plus this. */
#ifndef TK_TEST_CHECK_H
#define TK_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed_, check_failed_;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed_++;                                                                       \
        } else {                                                                                   \
            check_failed_++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed_++;                                                                       \
        } else {                                                                                   \
            check_failed_++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        CHECK_MSG(a_ == b_, "%s = %lld, %s = %lld", #a, a_, #b, b_);                               \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        CHECK_MSG(a_ &&b_ &&strcmp(a_, b_) == 0, "%s = \"%s\", %s = \"%s\"", #a,                   \
                  a_ ? a_ : "(null)", #b, b_ ? b_ : "(null)");                                     \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        CHECK_MSG(h_ &&n_ &&strstr(h_, n_) != NULL, "\"%s\" does not contain \"%s\"",              \
                  h_ ? h_ : "(null)", n_ ? n_ : "(null)");                                         \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        CHECK_MSG((a_ - b_) <= (tol) && (b_ - a_) <= (tol), "%s = %.9g, %s = %.9g (tol %g)", #a,   \
                  a_, #b, b_, (double)(tol));                                                      \
    } while (0)

/* Prints the summary line and returns the exit status for main(). */
static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

/* Path of a file in ../shared (the TK_SHARED environment variable set by CTest). */
static inline const char *shared_path(const char *rel)
{
    static char buf[8][4096];
    static int next;
    const char *root = getenv("TK_SHARED");
    char *out = buf[next++ % 8];
    snprintf(out, sizeof buf[0], "%s/%s", root ? root : "../shared", rel);
    return out;
}

#endif
