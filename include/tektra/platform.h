/* tektra platform: what machine we run on.
 *
 * Every decision that depends on the machine (backend choice, kernel level,
 * thread count, model recommendations) takes a tk_platform as input, so tests
 * can describe any machine on this one. */
#ifndef TEKTRA_PLATFORM_H
#define TEKTRA_PLATFORM_H

#include "tektra/core.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tk_os { TK_OS_LINUX, TK_OS_MACOS, TK_OS_WINDOWS, TK_OS_OTHER } tk_os;
typedef enum tk_arch { TK_ARCH_X86_64, TK_ARCH_AARCH64, TK_ARCH_OTHER } tk_arch;

/* CPU features, as bits of tk_platform.cpu_features. On x86 a feature that
 * needs OS support for its register state (AVX: YMM, AVX-512: ZMM/opmask)
 * is reported only when XGETBV says the OS saves that state. On AArch64:
 * NEON (Advanced SIMD, always there), DOTPROD (FEAT_DotProd: SDOT/UDOT),
 * I8MM (FEAT_I8MM: SMMLA/USDOT), FP16 (FEAT_FP16: half-precision
 * arithmetic, scalar and vector). */
#define TK_CPU_FEATURE_LIST(X)                                                                     \
    X(SSE42, "sse4.2")                                                                             \
    X(AVX, "avx")                                                                                  \
    X(AVX2, "avx2")                                                                                \
    X(FMA, "fma")                                                                                  \
    X(F16C, "f16c")                                                                                \
    X(AVX512F, "avx512f")                                                                          \
    X(AVX512BW, "avx512bw")                                                                        \
    X(AVX512VL, "avx512vl")                                                                        \
    X(AVX512VNNI, "avx512vnni")                                                                    \
    X(AVX512BF16, "avx512bf16")                                                                    \
    X(AVXVNNI, "avxvnni")                                                                          \
    X(NEON, "neon")                                                                                \
    X(DOTPROD, "dotprod")                                                                          \
    X(I8MM, "i8mm")                                                                                \
    X(FP16, "fp16")

enum {
#define TK_CPU_BIT_(name, str) TK_CPU_BIT_##name,
    TK_CPU_FEATURE_LIST(TK_CPU_BIT_)
#undef TK_CPU_BIT_
        TK_CPU_FEATURE_COUNT
};
#define TK_CPU(name) (1u << TK_CPU_BIT_##name)

typedef struct tk_platform {
    tk_os os;
    tk_arch arch;
    bool apple_silicon;     /* the hardware is an Apple M-series machine */
    bool rosetta;           /* an x86_64 process translated by Rosetta 2 */
    uint32_t cpu_features;  /* TK_CPU(...) bits */
    int n_physical_cores;   /* >= 1 */
    int n_logical_cores;    /* >= 1 */
    uint64_t ram_total;     /* bytes; 0 when unknown */
    uint64_t ram_available; /* bytes; 0 when unknown */
    char cpu_name[96];      /* e.g. "AMD EPYC", "" when unknown */
    double mem_bandwidth;   /* bytes/s read with every core; 0 = not measured
                               (tk_platform_measure_quick fills it) */
} tk_platform;

/* Describes the machine this process runs on. Never fails: what cannot be
 * read is left at a safe default (1 core, 0 bytes of RAM). */
void tk_platform_detect(tk_platform *out);

const char *tk_os_name(tk_os os);       /* "linux", "macos", "windows", "other" */
const char *tk_arch_name(tk_arch arch); /* "x86_64", "aarch64", "other" */
/* Name of feature bit `bit` (0 .. TK_CPU_FEATURE_COUNT-1), or NULL. */
const char *tk_cpu_feature_name(int bit);

/* Writes the feature names of `features` separated by spaces into buf
 * ("none" when empty); returns buf. */
char *tk_cpu_features_str(uint32_t features, char *buf, size_t size);

/* Measures the memory read bandwidth (bytes per second) with `n_threads`
 * threads over a buffer of `bytes` (much larger than the caches: 512 MiB is
 * a good size). Takes about a second. */
tk_status tk_platform_measure_bandwidth(int n_threads, size_t bytes, double *out);

/* Fills p->mem_bandwidth when it is 0: a short measurement (128 MiB, every
 * physical core, about a quarter of a second), enough to tell a 10 GB/s
 * laptop from a 100 GB/s workstation when choosing a model. */
tk_status tk_platform_measure_quick(tk_platform *p);

/* ---- kernel levels ------------------------------------------------------ */

/* The instruction-set levels the CPU engine has kernels for. Each level
 * needs the features tk_kernel_level_supported() checks. */
typedef enum tk_kernel_level {
    TK_LEVEL_GENERIC = 0, /* portable C, any CPU */
    TK_LEVEL_AVX2,        /* x86-64: AVX2 + FMA + F16C */
    TK_LEVEL_AVX512,      /* x86-64: AVX-512 F/BW/VL/VNNI (+ AVX2 level features) */
    TK_LEVEL_NEON,        /* AArch64: NEON */
    TK_LEVEL_DOTPROD,     /* AArch64: NEON + dot product (ARMv8.2: Apple M1, Cortex-A76, ...) */
    TK_LEVEL_I8MM,        /* AArch64: NEON + dot product + 8-bit matrix multiply (Apple M2, ...) */
    TK_LEVEL_COUNT
} tk_kernel_level;

const char *tk_kernel_level_name(tk_kernel_level level); /* "generic", "avx2", ... */
/* Level by name (case-insensitive); TK_ERR_CONFIG listing the valid names. */
tk_status tk_kernel_level_parse(const char *name, tk_kernel_level *out);
/* Whether a CPU described by `p` can run `level`. */
bool tk_kernel_level_supported(const tk_platform *p, tk_kernel_level level);
/* The best level `p` supports. */
tk_kernel_level tk_kernel_level_select(const tk_platform *p);
/* The level to use: TEKTRA_CPU (read through `env`, which may be NULL for
 * none) when set, else the best. A forced level the CPU cannot run is
 * TK_ERR_UNSUPPORTED naming the missing features; never an illegal
 * instruction later. */
tk_status tk_kernel_level_choose(const tk_platform *p, const char *env, tk_kernel_level *out);

/* Opens `url` (http:// or https:// only, else TK_ERR_INVALID_ARG) in the
 * default browser through xdg-open, open or ShellExecute; waits for that tool.
 * TK_ERR_UNSUPPORTED when it cannot be started or reports failure. */
tk_status tk_platform_open_url(const char *url);

/* For main(): on Windows, replaces *argv with the command line in UTF-8 and
 * makes the console read and write UTF-8; elsewhere does nothing. The
 * strings live until the program ends. */
void tk_platform_init_program(int *argc, char ***argv);

/* The width in columns of the terminal (console) f writes to; 0 when f is
 * not one or the width is unknown. */
int tk_platform_term_width(FILE *f);

/* Calls fn on Ctrl-C (SIGINT; on Windows the console's Ctrl-C, Ctrl-Break
 * and close events, from another thread). fn may only set a flag. NULL
 * restores the default. */
void tk_platform_on_interrupt(void (*fn)(void));

/* Waiting in main() for the program to be asked to stop (tektra serve):
 * tk_platform_stop_prepare before any thread starts (on POSIX systems it
 * blocks SIGINT and SIGTERM in every thread and ignores SIGPIPE);
 * tk_platform_stop_wait blocks until Ctrl-C / SIGINT (returns 1), SIGTERM or
 * the console closing (2), or tk_platform_stop_wake from another thread
 * (0). */
void tk_platform_stop_prepare(void);
int tk_platform_stop_wait(void);
void tk_platform_stop_wake(void);

#ifdef __cplusplus
}
#endif
#endif
