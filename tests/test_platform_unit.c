/* Platform detection, kernel levels and backend selection. Machines are
 * described by hand so every decision is checked for Apple Silicon, Intel
 * Macs, Windows and Linux on this one machine. */
#include "backend/backend.h"
#include "check.h"
#include "platform/platform.h"
#include "tektra.h"

static tk_platform machine(tk_os os, tk_arch arch, bool apple_silicon, bool rosetta)
{
    tk_platform p;
    memset(&p, 0, sizeof p);
    p.os = os;
    p.arch = arch;
    p.apple_silicon = apple_silicon;
    p.rosetta = rosetta;
    p.n_physical_cores = p.n_logical_cores = 8;
    p.ram_total = 16ull << 30;
    if (arch == TK_ARCH_AARCH64) p.cpu_features = TK_CPU(NEON) | TK_CPU(DOTPROD);
    if (arch == TK_ARCH_X86_64)
        p.cpu_features = TK_CPU(SSE42) | TK_CPU(AVX) | TK_CPU(AVX2) | TK_CPU(FMA) | TK_CPU(F16C);
    return p;
}

static void test_detect(void)
{
    tk_platform p;
    tk_platform_detect(&p);
    CHECK(p.n_physical_cores >= 1);
    CHECK(p.n_logical_cores >= p.n_physical_cores);
#if defined(__linux__)
    CHECK_INT(p.os, TK_OS_LINUX);
    CHECK(p.ram_total > 0);
    CHECK(p.ram_available > 0 && p.ram_available <= p.ram_total);
    CHECK(!p.apple_silicon && !p.rosetta);
#endif
#if defined(__x86_64__)
    CHECK_INT(p.arch, TK_ARCH_X86_64);
    /* Compare with what the kernel reports in /proc/cpuinfo. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[8192];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "flags", 5) != 0) continue;
            CHECK_INT(!!(p.cpu_features & TK_CPU(AVX2)), strstr(line, " avx2") != NULL);
            CHECK_INT(!!(p.cpu_features & TK_CPU(FMA)), strstr(line, " fma") != NULL);
            CHECK_INT(!!(p.cpu_features & TK_CPU(AVX512F)), strstr(line, " avx512f") != NULL);
            CHECK_INT(!!(p.cpu_features & TK_CPU(AVX512VNNI)),
                      strstr(line, " avx512_vnni") != NULL);
            CHECK_INT(!!(p.cpu_features & TK_CPU(AVX512BF16)),
                      strstr(line, " avx512_bf16") != NULL);
            CHECK_INT(!!(p.cpu_features & TK_CPU(SSE42)), strstr(line, " sse4_2") != NULL);
            break;
        }
        fclose(f);
    }
#endif
    char buf[256];
    CHECK_STR(tk_cpu_features_str(0, buf, sizeof buf), "none");
    CHECK_STR(tk_cpu_features_str(TK_CPU(AVX2) | TK_CPU(FMA), buf, sizeof buf), "avx2 fma");
    CHECK_STR(tk_cpu_feature_name(TK_CPU_BIT_I8MM), "i8mm");
    CHECK(tk_cpu_feature_name(TK_CPU_FEATURE_COUNT) == NULL);
}

static void test_x86_words(void)
{
    /* AVX2 and AVX-512 advertised, OS saves YMM and ZMM. */
    platform_cpuid r = {0};
    r.l1_ecx = (1u << 20) | (1u << 27) | (1u << 28) | (1u << 12) | (1u << 29);
    r.l7_ebx = (1u << 5) | (1u << 16) | (1u << 30) | (1u << 31);
    r.l7_ecx = 1u << 11;
    r.l7s1_eax = (1u << 4) | (1u << 5);
    r.xcr0 = 0xe7;
    uint32_t f = platform_x86_features(&r);
    CHECK(f & TK_CPU(AVX2));
    CHECK(f & TK_CPU(AVX512F));
    CHECK(f & TK_CPU(AVX512VNNI));
    CHECK(f & TK_CPU(AVX512BF16));
    CHECK(f & TK_CPU(AVXVNNI));
    /* The OS saves YMM but not ZMM: no AVX-512 whatever cpuid says. */
    r.xcr0 = 0x7;
    f = platform_x86_features(&r);
    CHECK(f & TK_CPU(AVX2));
    CHECK(!(f & TK_CPU(AVX512F)));
    CHECK(!(f & TK_CPU(AVX512VNNI)));
    /* No OSXSAVE: no AVX at all. */
    r.l1_ecx &= ~(1u << 27);
    r.xcr0 = 0;
    f = platform_x86_features(&r);
    CHECK(f & TK_CPU(SSE42));
    CHECK(!(f & TK_CPU(AVX)) && !(f & TK_CPU(AVX2)) && !(f & TK_CPU(FMA)));
}

static void test_levels(void)
{
    tk_platform x86 = machine(TK_OS_LINUX, TK_ARCH_X86_64, false, false);
    tk_platform arm = machine(TK_OS_MACOS, TK_ARCH_AARCH64, true, false);
    tk_platform old = machine(TK_OS_LINUX, TK_ARCH_X86_64, false, false);
    old.cpu_features = TK_CPU(SSE42);
    CHECK_INT(tk_kernel_level_select(&x86), TK_LEVEL_AVX2);
    CHECK_INT(tk_kernel_level_select(&arm), TK_LEVEL_DOTPROD);
    CHECK_INT(tk_kernel_level_select(&old), TK_LEVEL_GENERIC);
    x86.cpu_features |= TK_CPU(AVX512F) | TK_CPU(AVX512BW) | TK_CPU(AVX512VL);
    /* AVX-512 without VNNI (Skylake-X) runs the AVX2 kernels. */
    CHECK_INT(tk_kernel_level_select(&x86), TK_LEVEL_AVX2);
    x86.cpu_features |= TK_CPU(AVX512VNNI);
    CHECK_INT(tk_kernel_level_select(&x86), TK_LEVEL_AVX512);

    tk_kernel_level l;
    CHECK_INT(tk_kernel_level_choose(&x86, NULL, &l), TK_OK);
    CHECK_INT(l, TK_LEVEL_AVX512);
    CHECK_INT(tk_kernel_level_choose(&x86, "AVX2", &l), TK_OK);
    CHECK_INT(l, TK_LEVEL_AVX2);
    CHECK_INT(tk_kernel_level_choose(&x86, "generic", &l), TK_OK);
    CHECK_INT(l, TK_LEVEL_GENERIC);
    CHECK_INT(tk_kernel_level_choose(&old, "avx2", &l), TK_ERR_UNSUPPORTED);
    CHECK_CONTAINS(tk_last_error(), "lacks avx avx2 fma f16c");
    CHECK_INT(tk_kernel_level_choose(&x86, "neon", &l), TK_ERR_UNSUPPORTED);
    CHECK_CONTAINS(tk_last_error(), "aarch64");
    CHECK_INT(tk_kernel_level_choose(&x86, "sse9", &l), TK_ERR_CONFIG);
    CHECK_CONTAINS(tk_last_error(), "valid: generic, avx2, avx512");
}

static void test_selection_matrix(void)
{
    const struct {
        const char *what;
        tk_platform p;
        bool mlx_compiled;
        tk_backend_kind want;
    } rows[] = {
        {"Apple Silicon", machine(TK_OS_MACOS, TK_ARCH_AARCH64, true, false), true, TK_BACKEND_MLX},
        {"Apple Silicon without MLX in the build",
         machine(TK_OS_MACOS, TK_ARCH_AARCH64, true, false), false, TK_BACKEND_GGUF},
        {"Rosetta 2", machine(TK_OS_MACOS, TK_ARCH_X86_64, true, true), true, TK_BACKEND_GGUF},
        {"Intel Mac", machine(TK_OS_MACOS, TK_ARCH_X86_64, false, false), true, TK_BACKEND_GGUF},
        {"Linux", machine(TK_OS_LINUX, TK_ARCH_X86_64, false, false), true, TK_BACKEND_GGUF},
        {"Linux ARM", machine(TK_OS_LINUX, TK_ARCH_AARCH64, false, false), true, TK_BACKEND_GGUF},
        {"Windows", machine(TK_OS_WINDOWS, TK_ARCH_X86_64, false, false), true, TK_BACKEND_GGUF},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        tk_backend_choice c;
        CHECK_INT(backend_select(TK_BACKEND_AUTO, &rows[i].p, NULL, rows[i].mlx_compiled, &c),
                  TK_OK);
        CHECK_MSG(c.kind == rows[i].want, "%s: chose %s", rows[i].what,
                  tk_backend_kind_name(c.kind));
        CHECK(strlen(c.reason) > 0);
        /* Forcing GGUF works everywhere. */
        CHECK_INT(backend_select(TK_BACKEND_GGUF, &rows[i].p, NULL, rows[i].mlx_compiled, &c),
                  TK_OK);
        CHECK_INT(c.kind, TK_BACKEND_GGUF);
        /* Forcing MLX works wherever it is compiled in (Metal on Apple
         * Silicon, MLX's CPU device elsewhere), except under Rosetta. */
        tk_status s = backend_select(TK_BACKEND_MLX, &rows[i].p, NULL, rows[i].mlx_compiled, &c);
        CHECK_MSG((s == TK_OK) == (rows[i].mlx_compiled && !rows[i].p.rosetta), "%s: forced MLX %s",
                  rows[i].what, tk_status_str(s));
        if (s != TK_OK) CHECK_INT(s, TK_ERR_BACKEND_UNAVAILABLE);
    }
    /* A forced MLX that cannot run says why, and only steps that are true
     * for that platform and build. */
    tk_platform mac_p = machine(TK_OS_MACOS, TK_ARCH_AARCH64, true, false);
    tk_backend_choice c;
    CHECK_INT(backend_select(TK_BACKEND_MLX, &mac_p, NULL, false, &c), TK_ERR_BACKEND_UNAVAILABLE);
    CHECK_CONTAINS(tk_last_error(), "made without Apple's MLX C API");
    CHECK_CONTAINS(tk_last_error(), "Xcode command line tools");
    CHECK_CONTAINS(tk_last_error(), "xcrun -find metal");
    CHECK_CONTAINS(tk_last_error(), "brew install mlx mlx-c");
    CHECK_CONTAINS(tk_last_error(), "-DTEKTRA_MLX=ON");
    tk_platform linux_p = machine(TK_OS_LINUX, TK_ARCH_X86_64, false, false);
    CHECK_INT(backend_select(TK_BACKEND_MLX, &linux_p, NULL, false, &c),
              TK_ERR_BACKEND_UNAVAILABLE);
    CHECK_CONTAINS(tk_last_error(), "this build of tektra was made without MLX");
    CHECK_CONTAINS(tk_last_error(), "-DTEKTRA_MLX=ON -DTEKTRA_MLX_PREFIX=\"$(scripts/mlx.sh)\"");
    CHECK_CONTAINS(tk_last_error(), "scripts/setup.sh --deps-only --with-mlx");
    CHECK(strstr(tk_last_error(), "xcrun") == NULL && strstr(tk_last_error(), "brew") == NULL &&
          strstr(tk_last_error(), "Apple Silicon Mac") == NULL);
    tk_platform win = machine(TK_OS_WINDOWS, TK_ARCH_X86_64, false, false);
    CHECK_INT(backend_select(TK_BACKEND_MLX, &win, NULL, false, &c), TK_ERR_BACKEND_UNAVAILABLE);
    CHECK_CONTAINS(tk_last_error(), "MLX does not run on Windows");
    CHECK(strstr(tk_last_error(), "xcrun") == NULL && strstr(tk_last_error(), "mlx.sh") == NULL);
    tk_platform intel = machine(TK_OS_MACOS, TK_ARCH_X86_64, false, false);
    CHECK_INT(backend_select(TK_BACKEND_MLX, &intel, NULL, false, &c), TK_ERR_BACKEND_UNAVAILABLE);
    CHECK_CONTAINS(tk_last_error(), "MLX needs Apple Silicon, and this Mac has an Intel CPU");
    CHECK(strstr(tk_last_error(), "xcrun") == NULL);
    tk_platform ros = machine(TK_OS_MACOS, TK_ARCH_X86_64, true, true);
    CHECK_INT(backend_select(TK_BACKEND_MLX, &ros, NULL, true, &c), TK_ERR_BACKEND_UNAVAILABLE);
    CHECK_CONTAINS(tk_last_error(), "Rosetta 2");
    CHECK_CONTAINS(tk_last_error(), "natively on this Mac (arm64)");
    /* Compiled in on Linux: offered when forced, on the CPU device, never by auto. */
    CHECK_INT(backend_select(TK_BACKEND_MLX, &linux_p, NULL, true, &c), TK_OK);
    CHECK_INT(c.kind, TK_BACKEND_MLX);
    CHECK_INT(backend_select(TK_BACKEND_AUTO, &linux_p, NULL, true, &c), TK_OK);
    CHECK_INT(c.kind, TK_BACKEND_GGUF);

    /* Auto on Apple Silicon with a GGUF file: MLX cannot read it, GGUF can. */
    tk_platform mac = machine(TK_OS_MACOS, TK_ARCH_AARCH64, true, false);
    CHECK_INT(
        backend_select(TK_BACKEND_AUTO, &mac, shared_path("models/stories260K.gguf"), true, &c),
        TK_OK);
    CHECK_INT(c.kind, TK_BACKEND_GGUF);
    CHECK(c.fell_back);
    CHECK_CONTAINS(c.reason, "cannot read");
    /* On Linux the GGUF file needs no fallback. */
    CHECK_INT(
        backend_select(TK_BACKEND_AUTO, &linux_p, shared_path("models/stories260K.gguf"), true, &c),
        TK_OK);
    CHECK_INT(c.kind, TK_BACKEND_GGUF);
    CHECK(!c.fell_back);

    /* Backend names. */
    tk_backend_kind k;
    CHECK_INT(tk_backend_kind_parse("GgUf", &k), TK_OK);
    CHECK_INT(k, TK_BACKEND_GGUF);
    CHECK_INT(tk_backend_kind_parse("MLX", &k), TK_OK);
    CHECK_INT(k, TK_BACKEND_MLX);
    CHECK_INT(tk_backend_kind_parse("Auto", &k), TK_OK);
    CHECK_INT(k, TK_BACKEND_AUTO);
    CHECK_INT(tk_backend_kind_parse("cuda", &k), TK_ERR_CONFIG);
    CHECK_CONTAINS(tk_last_error(), "valid: auto, gguf, mlx");
}

static bool collect(const char *text, size_t len, const tk_token_info *infos, int n_infos,
                    void *user)
{
    (void)infos;
    (void)n_infos;
    char *buf = user;
    strncat(buf, text, len);
    return true;
}

static void test_no_model_answer(void)
{
    tk_platform p = machine(TK_OS_LINUX, TK_ARCH_X86_64, false, false);
    tk_config cfg;
    tk_config_defaults(&cfg);
    tk_engine *e;
    CHECK_INT(tk_engine_create(TK_BACKEND_GGUF, &p, &cfg, &e), TK_OK);
    CHECK_STR(tk_engine_backend_name(e), "GGUF");
    CHECK_INT(tk_engine_load(e, "/nonexistent/model.gguf"), TK_ERR_NOT_FOUND);
    CHECK(!tk_engine_has_model(e));
    static char out[8192];
    out[0] = '\0';
    tk_message msg = {.role = "user", .content = "What is the capital of France?"};
    tk_gen_params g;
    tk_gen_params_from_config(&g, &cfg);
    tk_metrics m;
    CHECK_INT(tk_engine_chat(e, &msg, 1, &g, collect, out, &m), TK_OK);
    CHECK_CONTAINS(out, "/nonexistent/model.gguf");
    CHECK_CONTAINS(out, "tektra pull ");
    CHECK_CONTAINS(out, "tektra -m");
    CHECK(strstr(out, "Paris") == NULL);
    tk_engine_free(e);

    /* A bigger machine gets a bigger suggestion. */
    char small[4096], big[4096];
    p.ram_total = 2ull << 30;
    backend_no_model_text(&p, &cfg, "x", small, sizeof small);
    p.ram_total = 64ull << 30;
    backend_no_model_text(&p, &cfg, "x", big, sizeof big);
    CHECK_CONTAINS(small, "tektra pull qwen2.5-0.5b");
    CHECK_CONTAINS(big, "tektra pull qwen2.5-7b");
}

/* Only http(s) URLs reach the browser tool; nothing is opened here. */
static void test_open_url_rejects(void)
{
    CHECK(tk_platform_open_url(NULL) == TK_ERR_INVALID_ARG);
    CHECK(tk_platform_open_url("javascript:alert(1)") == TK_ERR_INVALID_ARG);
    CHECK(tk_platform_open_url("file:///etc/passwd") == TK_ERR_INVALID_ARG);
}

int main(void)
{
    test_detect();
    test_x86_words();
    test_levels();
    test_selection_matrix();
    test_no_model_answer();
    test_open_url_rejects();
    return check_summary();
}
