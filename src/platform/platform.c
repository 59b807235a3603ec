/* Platform detection: OS, architecture, Apple Silicon / Rosetta, CPU
 * features (cpuid + xgetbv on x86, hwcaps or sysctl on ARM), cores, memory.
 * The OS-specific parts are chosen by the compiler's target macros; each
 * piece falls back to a safe default when it cannot be read. */
#include "platform/platform.h"

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/os.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__aarch64__)
#include <sys/auxv.h>
#endif
#if defined(__APPLE__)
#include <sys/sysctl.h>
#include <sys/types.h>
#endif
#if defined(_WIN32)
#include <windows.h>
#endif

static const char *const feature_names[] = {
#define TK_CPU_NAME_(name, str) str,
    TK_CPU_FEATURE_LIST(TK_CPU_NAME_)
#undef TK_CPU_NAME_
};

const char *tk_cpu_feature_name(int bit)
{
    if (bit < 0 || bit >= TK_CPU_FEATURE_COUNT) return NULL;
    return feature_names[bit];
}

char *tk_cpu_features_str(uint32_t features, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    for (int b = 0; b < TK_CPU_FEATURE_COUNT; b++) {
        if (!(features & (1u << b))) continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? " " : "", feature_names[b]);
        if (n < 0 || (size_t)n >= size - used) break;
        used += (size_t)n;
    }
    if (used == 0) core_strlcpy(buf, "none", size);
    return buf;
}

const char *tk_os_name(tk_os os)
{
    switch (os) {
    case TK_OS_LINUX:
        return "linux";
    case TK_OS_MACOS:
        return "macos";
    case TK_OS_WINDOWS:
        return "windows";
    default:
        return "other";
    }
}

const char *tk_arch_name(tk_arch arch)
{
    switch (arch) {
    case TK_ARCH_X86_64:
        return "x86_64";
    case TK_ARCH_AARCH64:
        return "aarch64";
    default:
        return "other";
    }
}

/* ---- x86: cpuid + xgetbv ---------------------------------------------- */

uint32_t platform_x86_features(const platform_cpuid *r)
{
    uint32_t f = 0;
    bool osxsave = (r->l1_ecx >> 27) & 1;
    /* XCR0 bits: 1 SSE (XMM), 2 AVX (YMM), 5-7 AVX-512 (opmask, ZMM0-15 upper, ZMM16-31). */
    bool ymm_os = osxsave && (r->xcr0 & 0x6) == 0x6;
    bool zmm_os = ymm_os && (r->xcr0 & 0xe0) == 0xe0;
    if ((r->l1_ecx >> 20) & 1) f |= TK_CPU(SSE42);
    if (ymm_os && ((r->l1_ecx >> 28) & 1)) {
        f |= TK_CPU(AVX);
        if ((r->l1_ecx >> 12) & 1) f |= TK_CPU(FMA);
        if ((r->l1_ecx >> 29) & 1) f |= TK_CPU(F16C);
        if ((r->l7_ebx >> 5) & 1) f |= TK_CPU(AVX2);
        if ((r->l7s1_eax >> 4) & 1) f |= TK_CPU(AVXVNNI);
    }
    if (zmm_os && ((r->l7_ebx >> 16) & 1)) {
        f |= TK_CPU(AVX512F);
        if ((r->l7_ebx >> 30) & 1) f |= TK_CPU(AVX512BW);
        if ((r->l7_ebx >> 31) & 1) f |= TK_CPU(AVX512VL);
        if ((r->l7_ecx >> 11) & 1) f |= TK_CPU(AVX512VNNI);
        if ((r->l7s1_eax >> 5) & 1) f |= TK_CPU(AVX512BF16);
    }
    return f;
}

#if defined(__x86_64__)
static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect_x86(tk_platform *p)
{
    platform_cpuid r;
    memset(&r, 0, sizeof r);
    unsigned a, b, c, d;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf >= 1 && __get_cpuid(1, &a, &b, &c, &d)) r.l1_ecx = c;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        r.l7_ebx = b;
        r.l7_ecx = c;
        unsigned max_sub = a;
        if (max_sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            r.l7s1_eax = a;
        }
    }
    if ((r.l1_ecx >> 27) & 1) r.xcr0 = read_xcr0();
    p->cpu_features = platform_x86_features(&r);

    /* Brand string, leaves 0x80000002..4. */
    if ((unsigned)__get_cpuid_max(0x80000000, NULL) >= 0x80000004u) {
        unsigned regs[12];
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &regs[i * 4], &regs[i * 4 + 1], &regs[i * 4 + 2],
                        &regs[i * 4 + 3]);
        char brand[49];
        memcpy(brand, regs, 48);
        brand[48] = '\0';
        const char *s = brand;
        while (*s == ' ') s++;
        core_strlcpy(p->cpu_name, s, sizeof p->cpu_name);
        size_t n = strlen(p->cpu_name);
        while (n > 0 && p->cpu_name[n - 1] == ' ') p->cpu_name[--n] = '\0';
    }
}
#endif

/* ---- ARM ----------------------------------------------------------------- */

#if defined(__aarch64__)
#if defined(__linux__)
/* "ARM Cortex-A76" from the MIDR fields implementer and part number; the
 * numbers where the part is not in the short table. */
static void arm_cpu_name(unsigned impl, unsigned part, char *out, size_t size)
{
    static const struct {
        unsigned part;
        const char *name;
    } arm_parts[] = {
        {0xd03, "Cortex-A53"}, {0xd04, "Cortex-A35"},  {0xd05, "Cortex-A55"},
        {0xd07, "Cortex-A57"}, {0xd08, "Cortex-A72"},  {0xd09, "Cortex-A73"},
        {0xd0a, "Cortex-A75"}, {0xd0b, "Cortex-A76"},  {0xd0c, "Neoverse-N1"},
        {0xd0d, "Cortex-A77"}, {0xd40, "Neoverse-V1"}, {0xd41, "Cortex-A78"},
        {0xd44, "Cortex-X1"},  {0xd46, "Cortex-A510"}, {0xd47, "Cortex-A710"},
        {0xd48, "Cortex-X2"},  {0xd49, "Neoverse-N2"}, {0xd4f, "Neoverse-V2"},
    };
    const char *vendor = impl == 0x41   ? "ARM"
                         : impl == 0x51 ? "Qualcomm"
                         : impl == 0x61 ? "Apple"
                         : impl == 0xc0 ? "Ampere"
                         : impl == 0x48 ? "HiSilicon"
                         : impl == 0x4e ? "NVIDIA"
                                        : NULL;
    if (impl == 0x41)
        for (size_t i = 0; i < TK_ARRAY_LEN(arm_parts); i++)
            if (arm_parts[i].part == part) {
                snprintf(out, size, "ARM %s", arm_parts[i].name);
                return;
            }
    if (vendor)
        snprintf(out, size, "%s part 0x%03x", vendor, part);
    else
        snprintf(out, size, "implementer 0x%02x part 0x%03x", impl, part);
}

#ifndef HWCAP_FPHP
#define HWCAP_FPHP (1ul << 9)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1ul << 10)
#endif
#ifndef HWCAP_CPUID
#define HWCAP_CPUID (1ul << 11)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1ul << 13)
#endif

/* The CPU's name: /proc/cpuinfo's "CPU implementer" and "CPU part" (the
 * last core listed: the big one on big.LITTLE phones and laptops), else
 * MIDR_EL1 (which the kernel lets user space read when HWCAP_CPUID says
 * so; qemu-user does too, while its /proc/cpuinfo is the host's), else a
 * "model name" line from a kernel that writes one. */
static void linux_arm_cpu_name(tk_platform *p, unsigned long hw)
{
    unsigned impl = 0, part = 0;
    bool have_part = false, x86_host = false;
    char model[96] = "";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            unsigned v;
            if (sscanf(line, "CPU implementer : %x", &v) == 1) impl = v;
            if (sscanf(line, "CPU part : %x", &v) == 1) {
                part = v;
                have_part = true;
            }
            if (strncmp(line, "vendor_id", 9) == 0) x86_host = true;
            if (!model[0] && strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
                const char *s = strchr(line, ':') + 1;
                while (*s == ' ' || *s == '\t') s++;
                core_strlcpy(model, s, sizeof model);
                model[strcspn(model, "\n")] = '\0';
            }
        }
        fclose(f);
    }
    if (!have_part && (hw & HWCAP_CPUID)) {
        uint64_t midr;
        __asm__ volatile("mrs %0, MIDR_EL1" : "=r"(midr));
        impl = (unsigned)(midr >> 24) & 0xff;
        part = (unsigned)(midr >> 4) & 0xfff;
        have_part = true;
    }
    if (have_part)
        arm_cpu_name(impl, part, p->cpu_name, sizeof p->cpu_name);
    else if (model[0] && !x86_host)
        core_strlcpy(p->cpu_name, model, sizeof p->cpu_name);
}
#endif

#if defined(__APPLE__)
static bool sysctl_flag(const char *name)
{
    int v = 0;
    size_t n = sizeof v;
    return sysctlbyname(name, &v, &n, NULL, 0) == 0 && v != 0;
}
#endif

static void detect_arm(tk_platform *p)
{
    p->cpu_features |= TK_CPU(NEON); /* mandatory in AArch64 */
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (hw & HWCAP_ASIMDDP) p->cpu_features |= TK_CPU(DOTPROD);
    if (hw2 & HWCAP2_I8MM) p->cpu_features |= TK_CPU(I8MM);
    if ((hw & HWCAP_FPHP) && (hw & HWCAP_ASIMDHP)) p->cpu_features |= TK_CPU(FP16);
    linux_arm_cpu_name(p, hw);
#elif defined(__APPLE__)
    if (sysctl_flag("hw.optional.arm.FEAT_DotProd")) p->cpu_features |= TK_CPU(DOTPROD);
    if (sysctl_flag("hw.optional.arm.FEAT_I8MM")) p->cpu_features |= TK_CPU(I8MM);
    if (sysctl_flag("hw.optional.arm.FEAT_FP16")) p->cpu_features |= TK_CPU(FP16);
#elif defined(_WIN32)
    /* PF_ARM_V82_DP_INSTRUCTIONS_AVAILABLE, PF_ARM_V82_I8MM_..., PF_ARM_V82_FP16_...
     * (winnt.h; the numbers, for SDKs older than the names). */
    if (IsProcessorFeaturePresent(43)) p->cpu_features |= TK_CPU(DOTPROD);
    if (IsProcessorFeaturePresent(66)) p->cpu_features |= TK_CPU(I8MM);
    if (IsProcessorFeaturePresent(67)) p->cpu_features |= TK_CPU(FP16);
#endif
}
#endif

/* ---- cores and memory ---------------------------------------------------- */

#if defined(__linux__)
/* Physical cores = distinct (package, core) pairs in sysfs. */
static int linux_physical_cores(void)
{
    enum { MAX_PAIRS = 4096 };
    static long pairs[MAX_PAIRS][2];
    int n_pairs = 0;
    long n_cpu = os_cpu_count();
    for (long cpu = 0; cpu < n_cpu && cpu < MAX_PAIRS; cpu++) {
        char path[128];
        long ids[2] = {-1, -1};
        const char *files[2] = {"physical_package_id", "core_id"};
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/%s", cpu,
                     files[k]);
            FILE *f = fopen(path, "r");
            if (!f) break;
            if (fscanf(f, "%ld", &ids[k]) != 1) ids[k] = -1;
            fclose(f);
        }
        if (ids[0] < 0 || ids[1] < 0) continue;
        bool seen = false;
        for (int i = 0; i < n_pairs && !seen; i++)
            seen = pairs[i][0] == ids[0] && pairs[i][1] == ids[1];
        if (!seen && n_pairs < MAX_PAIRS) {
            pairs[n_pairs][0] = ids[0];
            pairs[n_pairs][1] = ids[1];
            n_pairs++;
        }
    }
    return n_pairs;
}

static void linux_memory(tk_platform *p)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) p->ram_total = kb * 1024ull;
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) p->ram_available = kb * 1024ull;
    }
    fclose(f);
}
#endif

#if defined(_WIN32)
/* Physical cores: the processor-core relations of every group. */
static int windows_physical_cores(void)
{
    DWORD len = 0;
    GetLogicalProcessorInformationEx(RelationProcessorCore, NULL, &len);
    if (len == 0) return 0;
    char *buf = malloc(len);
    if (!buf) return 0;
    int n = 0;
    if (GetLogicalProcessorInformationEx(RelationProcessorCore,
                                         (SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX *)buf, &len)) {
        for (DWORD off = 0; off < len;) {
            const SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX *info =
                (const SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX *)(buf + off);
            if (info->Size == 0) break;
            if (info->Relationship == RelationProcessorCore) n++;
            off += info->Size;
        }
    }
    free(buf);
    return n;
}

static void windows_memory(tk_platform *p)
{
    MEMORYSTATUSEX ms;
    ms.dwLength = sizeof ms;
    if (!GlobalMemoryStatusEx(&ms)) return;
    p->ram_total = ms.ullTotalPhys;
    p->ram_available = ms.ullAvailPhys;
}
#endif

#if defined(__APPLE__)
static int64_t sysctl_i64(const char *name)
{
    int64_t v = 0;
    size_t n = sizeof v;
    if (sysctlbyname(name, &v, &n, NULL, 0) != 0) return 0;
    if (n == sizeof(int32_t)) {
        int32_t v32;
        memcpy(&v32, &v, sizeof v32);
        return v32;
    }
    return v;
}
#endif

void tk_platform_detect(tk_platform *p)
{
    memset(p, 0, sizeof *p);
    p->n_physical_cores = 1;
    p->n_logical_cores = 1;
#if defined(__linux__)
    p->os = TK_OS_LINUX;
#elif defined(__APPLE__)
    p->os = TK_OS_MACOS;
#elif defined(_WIN32)
    p->os = TK_OS_WINDOWS;
#else
    p->os = TK_OS_OTHER;
#endif
#if defined(__x86_64__)
    p->arch = TK_ARCH_X86_64;
    detect_x86(p);
#elif defined(__aarch64__)
    p->arch = TK_ARCH_AARCH64;
    detect_arm(p);
#else
    p->arch = TK_ARCH_OTHER;
#endif

    p->n_logical_cores = os_cpu_count();
#if defined(__linux__)
    int phys = linux_physical_cores();
    p->n_physical_cores = phys > 0 ? phys : p->n_logical_cores;
    linux_memory(p);
#elif defined(__APPLE__)
    int64_t phys = sysctl_i64("hw.physicalcpu");
    p->n_physical_cores = phys > 0 ? (int)phys : p->n_logical_cores;
    p->ram_total = (uint64_t)sysctl_i64("hw.memsize");
    /* Free + inactive pages would need Mach calls; total is the honest bound. */
    p->ram_available = p->ram_total;
    /* Apple Silicon: arm64 hardware, or an x86_64 process under Rosetta 2. */
    p->rosetta = sysctl_i64("sysctl.proc_translated") == 1;
    p->apple_silicon = p->arch == TK_ARCH_AARCH64 || p->rosetta;
    if (p->arch == TK_ARCH_AARCH64) {
        char brand[96] = "";
        size_t bn = sizeof brand;
        if (sysctlbyname("machdep.cpu.brand_string", brand, &bn, NULL, 0) == 0)
            core_strlcpy(p->cpu_name, brand, sizeof p->cpu_name);
    }
#elif defined(_WIN32)
    int phys = windows_physical_cores();
    p->n_physical_cores = phys > 0 ? phys : p->n_logical_cores;
    windows_memory(p);
#else
    p->n_physical_cores = p->n_logical_cores;
#endif
    if (p->n_physical_cores > p->n_logical_cores) p->n_physical_cores = p->n_logical_cores;
}

void tk_platform_init_program(int *argc, char ***argv)
{
    os_init_program(argc, argv);
}

void tk_platform_on_interrupt(void (*fn)(void))
{
    os_on_interrupt(fn);
}

int tk_platform_term_width(FILE *f)
{
    return os_term_width(f);
}

void tk_platform_stop_prepare(void)
{
    os_stop_prepare();
}

int tk_platform_stop_wait(void)
{
    return os_stop_wait();
}

void tk_platform_stop_wake(void)
{
    os_stop_wake();
}
