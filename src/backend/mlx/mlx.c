/* The MLX backend: Apple's MLX on Apple Silicon. This build has no MLX
 * implementation, so the backend describes why it is not available; on
 * Apple Silicon the auto selection then uses GGUF and says so. */
#include "backend/backend.h"

#include "core/core.h"

#include <stdio.h>

static bool mlx_available(const tk_platform *p, bool compiled, char *reason, size_t size)
{
    if (!p->apple_silicon) {
        snprintf(reason, size, "Not available (Apple Silicon only - using GGUF on %s)",
                 p->os == TK_OS_MACOS     ? "Intel Macs"
                 : p->os == TK_OS_WINDOWS ? "Windows"
                                          : "Linux");
        return false;
    }
    if (p->rosetta) {
        snprintf(reason, size,
                 "Not available (this is an x86_64 build running under Rosetta 2 - "
                 "run the arm64 build of tektra to use MLX)");
        return false;
    }
    if (!compiled) {
        snprintf(reason, size,
                 "Not available (this build of tektra was made without Apple's MLX C API)");
        return false;
    }
    snprintf(reason, size, "Available (Apple Silicon, Metal GPU)");
    return true;
}

/* MLX reads MLX model directories (config.json + *.safetensors), not GGUF. */
static bool mlx_can_read(const char *path)
{
    char cfg[1100];
    snprintf(cfg, sizeof cfg, "%s/config.json", path);
    FILE *f = fopen(cfg, "rb");
    if (!f) return false;
    fclose(f);
    return true;
}

static tk_status mlx_create(const tk_platform *p, const tk_config *c, void **ctx)
{
    (void)p;
    (void)c;
    *ctx = NULL;
    return core_error(TK_ERR_BACKEND_UNAVAILABLE,
                      "MLX: this build of tektra was made without Apple's MLX C API");
}

static void mlx_destroy(void *ctx)
{
    (void)ctx;
}

const backend_vtable backend_mlx = {
    .kind = TK_BACKEND_MLX,
    .name = "MLX",
    .display_name = "Apple MLX (Metal GPU)",
    .available = mlx_available,
    .compiled = TEKTRA_HAVE_MLX != 0,
    .can_read = mlx_can_read,
    .troubleshooting = "To use MLX: (1) run on an Apple Silicon Mac with the arm64 build of "
                       "tektra; (2) install the Xcode command line tools "
                       "(xcode-select --install) and check that `xcrun -find metal` prints a "
                       "path; (3) install Apple's MLX C API (mlx-c) and rebuild tektra so that "
                       "CMake finds it. Or use --backend gguf.",
    .create = mlx_create,
    .destroy = mlx_destroy,
};
