/* Kernel levels: which SIMD code a CPU can run, and TEKTRA_CPU. */
#include "tektra/platform.h"

#include "core/core.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    tk_arch arch;
    uint32_t needs;
} levels[TK_LEVEL_COUNT] = {
    [TK_LEVEL_GENERIC] = {"generic", TK_ARCH_OTHER, 0},
    [TK_LEVEL_AVX2] = {"avx2", TK_ARCH_X86_64,
                       TK_CPU(AVX) | TK_CPU(AVX2) | TK_CPU(FMA) | TK_CPU(F16C)},
    /* The AVX-512 kernels use VNNI for their 8-bit dot products. */
    [TK_LEVEL_AVX512] = {"avx512", TK_ARCH_X86_64,
                         TK_CPU(AVX) | TK_CPU(AVX2) | TK_CPU(FMA) | TK_CPU(F16C) | TK_CPU(AVX512F) |
                             TK_CPU(AVX512BW) | TK_CPU(AVX512VL) | TK_CPU(AVX512VNNI)},
    [TK_LEVEL_NEON] = {"neon", TK_ARCH_AARCH64, TK_CPU(NEON)},
    [TK_LEVEL_DOTPROD] = {"dotprod", TK_ARCH_AARCH64, TK_CPU(NEON) | TK_CPU(DOTPROD)},
    [TK_LEVEL_I8MM] = {"i8mm", TK_ARCH_AARCH64, TK_CPU(NEON) | TK_CPU(DOTPROD) | TK_CPU(I8MM)},
};

const char *tk_kernel_level_name(tk_kernel_level level)
{
    return (int)level >= 0 && level < TK_LEVEL_COUNT ? levels[level].name : "?";
}

tk_status tk_kernel_level_parse(const char *name, tk_kernel_level *out)
{
    for (int l = 0; l < TK_LEVEL_COUNT; l++) {
        if (core_strcasecmp(name, levels[l].name) == 0) {
            *out = (tk_kernel_level)l;
            return TK_OK;
        }
    }
    char valid[128] = "";
    size_t used = 0;
    for (int l = 0; l < TK_LEVEL_COUNT && used < sizeof valid; l++) {
        const int n =
            snprintf(valid + used, sizeof valid - used, "%s%s", l ? ", " : "", levels[l].name);
        if (n < 0) break;
        used += (size_t)n;
    }
    return core_error(TK_ERR_CONFIG, "unknown CPU level '%s' (valid: %s)", name, valid);
}

bool tk_kernel_level_supported(const tk_platform *p, tk_kernel_level level)
{
    if ((int)level < 0 || level >= TK_LEVEL_COUNT) return false;
    if (level == TK_LEVEL_GENERIC) return true;
    return p->arch == levels[level].arch &&
           (p->cpu_features & levels[level].needs) == levels[level].needs;
}

tk_kernel_level tk_kernel_level_select(const tk_platform *p)
{
    tk_kernel_level best = TK_LEVEL_GENERIC;
    for (int l = 0; l < TK_LEVEL_COUNT; l++)
        if (tk_kernel_level_supported(p, (tk_kernel_level)l)) best = (tk_kernel_level)l;
    return best;
}

tk_status tk_kernel_level_choose(const tk_platform *p, const char *env, tk_kernel_level *out)
{
    *out = tk_kernel_level_select(p);
    if (!env || !*env) return TK_OK;
    tk_kernel_level want = TK_LEVEL_GENERIC;
    tk_status s = tk_kernel_level_parse(env, &want);
    if (s != TK_OK) {
        core_error_prefix("TEKTRA_CPU");
        return s;
    }
    if (!tk_kernel_level_supported(p, want)) {
        char missing[256];
        uint32_t lack = levels[want].needs & ~p->cpu_features;
        if (p->arch != levels[want].arch)
            snprintf(missing, sizeof missing, "it is for %s and this CPU is %s",
                     tk_arch_name(levels[want].arch), tk_arch_name(p->arch));
        else
            snprintf(missing, sizeof missing, "this CPU lacks %s",
                     tk_cpu_features_str(lack, (char[200]){0}, 200));
        return core_error(TK_ERR_UNSUPPORTED, "TEKTRA_CPU=%s cannot run here: %s", env, missing);
    }
    *out = want;
    return TK_OK;
}
