/* Chooses the kernel level once per process and fills the tables.
 *
 * The level is tk_kernel_level_choose() on tk_platform_detect(): the best
 * the CPU supports, or the one TEKTRA_CPU forces. TEKTRA_KERNELS=ref, the
 * older switch, means TEKTRA_CPU=generic. A forced level the CPU cannot run
 * makes kernels_get() fail with the chooser's message, so the engine refuses
 * to start instead of meeting an illegal instruction.
 *
 * The avx512 kernels use VNNI (vpdpbusd); on a CPU with AVX-512 F/BW/VL but
 * without VNNI (Skylake-X) the avx512 level runs the avx2 kernels. On
 * aarch64 the levels neon, dotprod and i8mm each have their own file. */
#include "kernels/kernels.h"

#include "core/core.h"

#include <pthread.h>
#include <stdlib.h>

static kernels_t tables[TK_LEVEL_COUNT];
static bool table_ok[TK_LEVEL_COUNT];
static tk_platform platform;
static const kernels_t *chosen;
static char chosen_error[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fill_level(tk_kernel_level level)
{
    kernels_t *k = &tables[level];
    kernels_fill_ref(k);
    table_ok[level] = true;
#if defined(__x86_64__) || defined(_M_X64)
    if (level == TK_LEVEL_AVX2) {
        kernels_fill_avx2(k);
    } else if (level == TK_LEVEL_AVX512) {
        if (platform.cpu_features & TK_CPU(AVX512VNNI))
            kernels_fill_avx512(k);
        else
            kernels_fill_avx2(k);
        k->level = TK_LEVEL_AVX512;
        k->name = "avx512";
    }
#elif defined(__aarch64__)
    if (level == TK_LEVEL_NEON)
        kernels_fill_neon(k);
    else if (level == TK_LEVEL_DOTPROD)
        kernels_fill_dotprod(k);
    else if (level == TK_LEVEL_I8MM)
        kernels_fill_i8mm(k);
#else
    /* No SIMD kernels for this architecture: its levels run the
     * reference, under their own name. */
    if (level != TK_LEVEL_GENERIC) {
        k->level = level;
        k->name = tk_kernel_level_name(level);
    }
#endif
}

static void kernels_init(void)
{
    tk_platform_detect(&platform);
    for (int l = 0; l < TK_LEVEL_COUNT; l++)
        if (tk_kernel_level_supported(&platform, (tk_kernel_level)l))
            fill_level((tk_kernel_level)l);

    const char *env = getenv("TEKTRA_CPU");
    const char *old = getenv("TEKTRA_KERNELS");
    if ((!env || !*env) && old && *old) {
        if (core_strcasecmp(old, "ref") == 0)
            env = "generic";
        else
            core_log(TK_LOG_WARN, "TEKTRA_KERNELS=%s: unknown value (use TEKTRA_CPU=generic)", old);
    }
    tk_kernel_level level;
    if (tk_kernel_level_choose(&platform, env, &level) != TK_OK) {
        core_strlcpy(chosen_error, tk_last_error(), sizeof chosen_error);
        return;
    }
    chosen = &tables[level];
}

const kernels_t *kernels_get(void)
{
    pthread_once(&once, kernels_init);
    if (!chosen) core_error(TK_ERR_UNSUPPORTED, "%s", chosen_error);
    return chosen;
}

const kernels_t *kernels_for_level(tk_kernel_level level)
{
    pthread_once(&once, kernels_init);
    if ((int)level < 0 || level >= TK_LEVEL_COUNT || !table_ok[level]) {
        core_error(TK_ERR_UNSUPPORTED, "kernel level %s cannot run on this CPU",
                   tk_kernel_level_name(level));
        return NULL;
    }
    return &tables[level];
}
