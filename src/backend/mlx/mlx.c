/* The MLX backend: Apple's MLX through its C API (mlx-c).
 *
 * It reads model directories (config.json, *.safetensors, tokenizer.json)
 * and runs them with MLX ops on MLX's default device: the Metal GPU on
 * Apple Silicon, the CPU elsewhere (Linux builds use it through MLX's CPU
 * device, which is how it is tested). The runner (runner.c) does the rest:
 * tokenizer, chat template, sessions, sampling, streaming and metrics.
 *
 * Selection: `auto` uses MLX on Apple Silicon only; on other machines a
 * build with MLX offers it when forced (--backend mlx, TEKTRA_BACKEND=mlx).
 * A build without mlx-c keeps the backend in the registry, unavailable,
 * with the reason. */
#include "backend/runner.h"

#include "core/core.h"
#include "tektra/modeldir.h"
#include "tektra/quant.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#if TEKTRA_HAVE_MLX && (defined(__APPLE__) && !(defined(__aarch64__) || defined(__arm64__)))
/* The x86_64 slice of a universal macOS build: MLX exists for arm64 only. */
#undef TEKTRA_HAVE_MLX
#define TEKTRA_HAVE_MLX 0
#endif

#if TEKTRA_HAVE_MLX
#include "backend/mlx/mlxb.h"

#include <pthread.h>
#include <stdlib.h>
#endif

static bool be_available(const tk_platform *p, bool compiled, char *reason, size_t size)
{
    if (p->rosetta) {
        snprintf(reason, size,
                 "Not available (this is an x86_64 build running under Rosetta 2 - "
                 "run the arm64 build of tektra to use MLX)");
        return false;
    }
    if (!compiled) {
        if (p->apple_silicon)
            snprintf(reason, size,
                     "Not available (this build of tektra was made without Apple's MLX C API)");
        else
            snprintf(reason, size, "Not available (Apple Silicon only - using GGUF on %s)",
                     p->os == TK_OS_MACOS     ? "Intel Macs"
                     : p->os == TK_OS_WINDOWS ? "Windows"
                                              : "Linux");
        return false;
    }
    if (p->apple_silicon) {
        snprintf(reason, size, "Available (Apple Silicon, Metal GPU)");
    } else {
        /* Compiled in on a machine without Metal: MLX runs on its CPU device.
         * It is offered (forced only: auto keeps GGUF here), which is how
         * the backend is tested off Apple hardware. */
        snprintf(reason, size,
                 "Available when forced (compiled in, MLX's CPU device; not the default on %s - "
                 "use --backend mlx)",
                 p->os == TK_OS_MACOS     ? "Intel Macs"
                 : p->os == TK_OS_WINDOWS ? "Windows"
                                          : "Linux");
    }
    return true;
}

/* Why MLX cannot be used when it is forced, and what works instead: steps
 * that are true for this platform and this build. */
static void be_unavailable(const tk_platform *p, bool compiled, char *buf, size_t size)
{
    (void)compiled; /* compiled and not available happens under Rosetta only */
    if (p->rosetta) {
        snprintf(buf, size,
                 "this is an x86_64 build of tektra running under Rosetta 2.\n"
                 "To use MLX: build tektra natively on this Mac (arm64) with Apple's MLX C API "
                 "installed (brew install mlx mlx-c; cmake -S . -B build -DTEKTRA_MLX=ON). Or "
                 "use --backend gguf.");
    } else if (p->os == TK_OS_MACOS && p->apple_silicon) {
        snprintf(buf, size,
                 "this build of tektra was made without Apple's MLX C API (mlx-c).\n"
                 "To use MLX: install the Xcode command line tools (xcode-select --install; "
                 "`xcrun -find metal` must print a path) and mlx-c (brew install mlx mlx-c), "
                 "then build tektra again with -DTEKTRA_MLX=ON (CMake looks in /opt/homebrew; "
                 "-DTEKTRA_MLX_PREFIX=DIR for another prefix); see the README. Or use "
                 "--backend gguf.");
    } else if (p->os == TK_OS_MACOS) {
        snprintf(buf, size,
                 "MLX needs Apple Silicon, and this Mac has an Intel CPU.\n"
                 "Use the GGUF backend (--backend gguf, the default here).");
    } else if (p->os == TK_OS_LINUX) {
        snprintf(buf, size,
                 "this build of tektra was made without MLX. On Linux MLX runs on the CPU "
                 "only (Metal is Apple's), much slower than the GGUF backend; it is there to test "
                 "the MLX backend.\n"
                 "To build it in: scripts/setup.sh --deps-only --with-mlx (the packages MLX "
                 "needs), then cmake -S . -B build -DTEKTRA_MLX=ON "
                 "-DTEKTRA_MLX_PREFIX=\"$(scripts/mlx.sh)\" and cmake --build build "
                 "(scripts/mlx.sh builds MLX and mlx-c from ../shared/deps/mlx, about 8 "
                 "minutes on 2 cores, once). Or use --backend gguf, the default here.");
    } else {
        snprintf(buf, size,
                 "MLX does not run on %s.\n"
                 "Use the GGUF backend (--backend gguf, the default here).",
                 p->os == TK_OS_WINDOWS ? "Windows" : "this system");
    }
}

/* MLX reads model directories (config.json + *.safetensors), not GGUF. */
static bool be_can_read(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", path);
    return stat(cfg, &st) == 0 && S_ISREG(st.st_mode);
}

#if TEKTRA_HAVE_MLX
static char be_version_text[64];

static void read_version(void)
{
    mx_init();
    mlx_string s = mlx_string_new();
    if (mlx_version(&s) == 0 && mlx_string_data(s))
        core_strlcpy(be_version_text, mlx_string_data(s), sizeof be_version_text);
    else
        core_strlcpy(be_version_text, "unknown", sizeof be_version_text);
    mlx_string_free(s);
}
#endif

const char *tk_mlx_version(void)
{
#if TEKTRA_HAVE_MLX
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_version);
    return be_version_text;
#else
    return NULL;
#endif
}

#if TEKTRA_HAVE_MLX
/* ---- the forward pass behind the runner ----------------------------------- */

static pthread_mutex_t be_mutex = PTHREAD_MUTEX_INITIALIZER;

void mlxb_lock(void)
{
    pthread_mutex_lock(&be_mutex);
}

void mlxb_unlock(void)
{
    pthread_mutex_unlock(&be_mutex);
}

static tk_status be_check(const char *path)
{
    if (be_can_read(path)) return TK_OK;
    return core_error(TK_ERR_FORMAT,
                      "'%s' is not a model directory (config.json and *.safetensors): the MLX "
                      "backend reads MLX / Hugging Face model directories, not GGUF files (use "
                      "--backend gguf for those)",
                      path);
}

static tk_status be_load(const char *path, const tk_platform *p, const tk_config *c, void **model)
{
    (void)p;
    (void)c;
    mlxb_lock();
    tk_status st = mlxb_model_load(path, (mlxb_model **)model);
    mlxb_unlock();
    return st;
}

static void be_model_free(void *model)
{
    mlxb_lock();
    mlxb_model_free(model);
    mlxb_unlock();
}

static const tk_gguf *be_meta(const void *model)
{
    return ((const mlxb_model *)model)->meta;
}

static int32_t be_n_vocab(const void *model)
{
    return ((const mlxb_model *)model)->n_vocab;
}

static int32_t be_n_ctx_train(const void *model)
{
    return ((const mlxb_model *)model)->n_ctx_train;
}

static const char *be_arch(const void *model)
{
    return ((const mlxb_model *)model)->arch->name;
}

static uint64_t be_n_params(const void *model)
{
    return ((const mlxb_model *)model)->n_params;
}

static uint64_t be_size_bytes(const void *model)
{
    return ((const mlxb_model *)model)->size_bytes;
}

static uint64_t be_peak_memory(void)
{
    size_t peak = 0;
    mlxb_lock();
    if (mlx_get_peak_memory(&peak) != 0) peak = 0;
    mlxb_unlock();
    return peak;
}

static tk_status be_ctx_create(void *model, const tk_config *cfg, int32_t n_ctx, int32_t n_threads,
                               tk_cancel_fn cancel, void *cancel_user, void **ctx)
{
    (void)n_threads; /* MLX's CPU device chooses its own threads (BLAS) */
    if (cfg->cache_type_k != TK_TYPE_F16 || cfg->cache_type_v != TK_TYPE_F16)
        return core_error(TK_ERR_INVALID_ARG,
                          "the MLX backend keeps its KV cache in its own type; --cache-type-k/-v "
                          "(f16 only here) apply to the GGUF engine (--backend gguf)");
    return mlxb_ctx_create(model, n_ctx, cancel, cancel_user, (mlxb_ctx **)ctx);
}

static void be_ctx_free(void *ctx)
{
    mlxb_lock();
    mlxb_ctx_free(ctx);
    mlxb_unlock();
}

static tk_status be_decode(void *ctx, const int32_t *tokens, int n, float *logits, bool all_logits)
{
    mlxb_lock();
    tk_status st = mlxb_decode(ctx, tokens, n, logits, all_logits);
    mlxb_unlock();
    return st;
}

static tk_status be_truncate(void *ctx, int32_t n_past)
{
    return mlxb_truncate(ctx, n_past);
}

static void be_reset(void *ctx)
{
    mlxb_reset(ctx);
}

static const runner_ops be_ops = {
    .check = be_check,
    .load = be_load,
    .model_free = be_model_free,
    .meta = be_meta,
    .n_vocab = be_n_vocab,
    .n_ctx_train = be_n_ctx_train,
    .arch = be_arch,
    .n_params = be_n_params,
    .size_bytes = be_size_bytes,
    .peak_memory = be_peak_memory,
    .ctx_create = be_ctx_create,
    .ctx_free = be_ctx_free,
    .decode = be_decode,
    .truncate = be_truncate,
    .reset = be_reset,
};

static tk_status be_create(const tk_platform *p, const tk_config *c, void **ctx)
{
    mx_init();
    return runner_create(&be_ops, p, c, ctx);
}
#else
static tk_status be_create(const tk_platform *p, const tk_config *c, void **ctx)
{
    (void)p;
    (void)c;
    *ctx = NULL;
    return core_error(TK_ERR_BACKEND_UNAVAILABLE,
                      "MLX: this build of tektra was made without Apple's MLX C API");
}

static void runner_noop_destroy(void *ctx)
{
    (void)ctx;
}
#endif

const backend_vtable backend_mlx = {
    .kind = TK_BACKEND_MLX,
    .name = "MLX",
    .display_name = "Apple MLX (Metal GPU on Apple Silicon, CPU elsewhere)",
    .available = be_available,
    .compiled = TEKTRA_HAVE_MLX != 0,
    .can_read = be_can_read,
    .unavailable = be_unavailable,
    .create = be_create,
#if TEKTRA_HAVE_MLX
    .destroy = runner_destroy,
    .load = runner_load,
    .has_model = runner_has_model,
    .n_ctx = runner_n_ctx,
    .model_name = runner_model_name,
    .chat_template = runner_chat_template,
    .memory = runner_memory,
    .model_info = runner_model_info,
    .session_create = runner_session_create,
    .session_free = runner_session_free,
    .session_chat = runner_session_chat,
    .session_complete = runner_session_complete,
    .session_cancel = runner_session_cancel,
    .session_count = runner_session_count,
    .session_decode = runner_session_decode,
    .session_reset = runner_session_reset,
    .session_memory = runner_session_memory,
#else
    .destroy = runner_noop_destroy,
#endif
};
