/* test_platform: the platform and backend report. Exit 0 when auto chose
 * what the selection matrix says for this machine (Apple Silicon -> MLX when
 * available, everything else -> GGUF). */
#include "tektra.h"

#include <stdio.h>
#include <string.h>

static const char *platform_label(const tk_platform *p)
{
    if (p->rosetta) return "Apple Silicon, x86_64 process under Rosetta 2";
    if (p->apple_silicon) return "Apple Silicon";
    return "Non-Apple Silicon";
}

int main(int argc, char **argv)
{
    tk_platform_init_program(&argc, &argv);
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            printf("Usage: test_platform\n\nPrints the platform and inference backend report "
                   "and checks that auto mode selects the backend the selection matrix gives "
                   "for this machine (exit 0) or not (exit 1).\n");
            return 0;
        }
        fprintf(stderr, "test_platform: unknown argument '%s' (try --help)\n", argv[1]);
        return 2;
    }
    tk_platform p;
    tk_platform_detect(&p);
    tk_config cfg;
    tk_config_defaults(&cfg);
    int failures = 0;

    printf("=== Cross-Platform Inference Backend Test ===\n\n");
    printf("Available Inference Backends:\n");
    bool mlx_available = false;
    for (int i = 0; i < tk_backend_count(); i++) {
        tk_backend_info info;
        tk_backend_describe(i, &p, &info);
        printf("- %s: %s\n", info.name, info.reason);
        if (info.kind == TK_BACKEND_MLX) mlx_available = info.available;
    }
    const char *mlx_version = tk_mlx_version();
    if (mlx_version)
        printf("\nMLX in this build: yes (Apple MLX %s)\n", mlx_version);
    else
        printf("\nMLX in this build: no (built without Apple's MLX C API)\n");
    printf("Current platform: %s %s (%s)\n", tk_os_name(p.os), tk_arch_name(p.arch),
           platform_label(&p));
    if (p.rosetta)
        printf("Note: tektra runs translated by Rosetta 2; run the arm64 build for full speed "
               "and MLX.\n");
    bool expect_mlx = p.apple_silicon && mlx_available;
    printf("Default backend: %s\n\n",
           expect_mlx ? "MLX (Apple Silicon GPU)" : "GGUF (cross-platform compatibility)");

    printf("1. Testing Auto mode:\n");
    tk_backend_choice choice;
    if (tk_backend_select(TK_BACKEND_AUTO, &p, NULL, &choice) != TK_OK) {
        printf("   ❌ Auto mode failed: %s\n", tk_last_error());
        failures++;
    } else {
        tk_engine *e = NULL;
        const char *display = "?";
        if (tk_engine_create(choice.kind, &p, &cfg, &e) == TK_OK)
            display = tk_engine_display_name(e);
        const char *name = choice.kind == TK_BACKEND_MLX ? "MLX" : "GGUF";
        printf("   ✅ Auto mode selected: %s (%s)\n", name, display);
        tk_engine_free(e);
        tk_backend_kind want = expect_mlx ? TK_BACKEND_MLX : TK_BACKEND_GGUF;
        const char *where = p.apple_silicon         ? "Apple Silicon"
                            : p.os == TK_OS_MACOS   ? "Intel Mac"
                            : p.os == TK_OS_WINDOWS ? "Windows"
                                                    : "Linux";
        if (choice.kind == want) {
            printf("   ✅ Correctly selected %s on %s!\n", name, where);
        } else {
            printf("   ❌ Expected %s on %s, got %s\n", want == TK_BACKEND_MLX ? "MLX" : "GGUF",
                   where, name);
            failures++;
        }
    }

    printf("\n2. Testing GGUF mode:\n");
    tk_engine *e = NULL;
    if (tk_engine_create(TK_BACKEND_GGUF, &p, &cfg, &e) == TK_OK) {
        printf("   ✅ GGUF backend created successfully (%s)\n", tk_engine_display_name(e));
        tk_engine_free(e);
    } else {
        printf("   ❌ GGUF backend failed: %s\n", tk_last_error());
        failures++;
    }

    printf("\n3. Testing MLX mode:\n");
    if (tk_backend_select(TK_BACKEND_MLX, &p, NULL, &choice) == TK_OK &&
        tk_engine_create(TK_BACKEND_MLX, &p, &cfg, &e) == TK_OK) {
        printf("   ✅ MLX backend created successfully (%s)\n", tk_engine_display_name(e));
        if (!p.apple_silicon)
            printf(
                "   ℹ️  MLX is compiled in (MLX %s, CPU device) but not the default here: auto "
                "uses GGUF on %s %s; --backend mlx or TEKTRA_BACKEND=mlx forces it\n",
                mlx_version ? mlx_version : "?", tk_os_name(p.os), tk_arch_name(p.arch));
        tk_engine_free(e);
    } else if (p.apple_silicon) {
        const char *msg = tk_last_error();
        printf("   ⚠️  MLX backend unavailable on this Apple Silicon machine:\n   %s\n", msg);
    } else {
        printf("   ✅ MLX unavailable on %s %s, as expected (Apple Silicon only)\n",
               tk_os_name(p.os), tk_arch_name(p.arch));
    }

    char feats[512];
    printf("\nCPU: %s\n", p.cpu_name[0] ? p.cpu_name : "(unknown)");
    printf("CPU features: %s\n", tk_cpu_features_str(p.cpu_features, feats, sizeof feats));
    printf("Cores: %d physical, %d logical\n", p.n_physical_cores, p.n_logical_cores);
    printf("Memory: %.1f GiB total, %.1f GiB available\n", (double)p.ram_total / (1 << 30),
           (double)p.ram_available / (1 << 30));
    printf("Kernel level: %s\n", tk_kernel_level_name(tk_kernel_level_select(&p)));
    printf("Kernel levels this CPU runs:");
    for (int l = 0; l < TK_LEVEL_COUNT; l++)
        if (tk_kernel_level_supported(&p, (tk_kernel_level)l))
            printf(" %s", tk_kernel_level_name((tk_kernel_level)l));
    printf(" (TEKTRA_CPU picks one)\n");
    return failures ? 1 : 0;
}
