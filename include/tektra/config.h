/* tektra configuration: tektra.toml, environment and flags merged into one
 * struct. Precedence, highest first: command-line flag > environment >
 * file > built-in default. Each value remembers where it came from. */
#ifndef TEKTRA_CONFIG_H
#define TEKTRA_CONFIG_H

#include "tektra/core.h"
#include "tektra/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tk_backend_kind {
    TK_BACKEND_AUTO = 0,
    TK_BACKEND_GGUF = 1,
    TK_BACKEND_MLX = 2,
    TK_BACKEND_KIND_COUNT
} tk_backend_kind;

/* "auto", "gguf", "mlx". */
const char *tk_backend_kind_name(tk_backend_kind kind);

/* Parses a backend name, case-insensitive. Anything else is TK_ERR_CONFIG
 * with a message listing the valid names. */
tk_status tk_backend_kind_parse(const char *s, tk_backend_kind *out);

typedef enum tk_config_source {
    TK_SOURCE_DEFAULT = 0,
    TK_SOURCE_FILE,
    TK_SOURCE_ENV,
    TK_SOURCE_FLAG,
} tk_config_source;

/* The settings, one row each: X(section, key, ENV_SUFFIX, field, kind).
 * The environment variable is TEKTRA_<ENV_SUFFIX>. */
#define TK_CONFIG_KEY_LIST(X)                                                                      \
    X(inference, backend, BACKEND, backend, BACKEND)                                               \
    X(inference, benchmark_on_startup, BENCHMARK, benchmark_on_startup, BOOL)                      \
    X(inference, max_tokens, MAX_TOKENS, max_tokens, INT)                                          \
    X(inference, temperature, TEMPERATURE, temperature, FLOAT)                                     \
    X(inference, top_p, TOP_P, top_p, FLOAT)                                                       \
    X(inference, top_k, TOP_K, top_k, INT)                                                         \
    X(inference, min_p, MIN_P, min_p, FLOAT)                                                       \
    X(inference, repeat_penalty, REPEAT_PENALTY, repeat_penalty, FLOAT)                            \
    X(inference, repeat_last_n, REPEAT_LAST_N, repeat_last_n, INT)                                 \
    X(inference, seed, SEED, seed, INT)                                                            \
    X(inference, threads, THREADS, threads, INT)                                                   \
    X(inference, context_size, CONTEXT_SIZE, context_size, INT)                                    \
    X(inference, cache_type_k, CACHE_TYPE_K, cache_type_k, CACHE)                                  \
    X(inference, cache_type_v, CACHE_TYPE_V, cache_type_v, CACHE)                                  \
    X(inference, check_tensors, CHECK_TENSORS, check_tensors, BOOL)                                \
    X(model, path, MODEL, model_path, STRING)                                                      \
    X(model, dir, MODELS, model_dir, STRING)

enum {
#define TK_CONFIG_ENUM_(sec, key, env, field, kind) TK_CONFIG_##field,
    TK_CONFIG_KEY_LIST(TK_CONFIG_ENUM_)
#undef TK_CONFIG_ENUM_
        TK_CONFIG_KEY_COUNT
};

typedef struct tk_config {
    tk_backend_kind backend;   /* auto */
    bool benchmark_on_startup; /* false */
    int64_t max_tokens;        /* 512, >= 1 */
    double temperature;        /* 0.7, >= 0; 0 = greedy */
    double top_p;              /* 0.9, in (0, 1] */
    int64_t top_k;             /* 40, >= 0; 0 = off */
    double min_p;              /* 0.05, in [0, 1) */
    double repeat_penalty;     /* 1.1, > 0; 1.0 = off */
    int64_t repeat_last_n;     /* 64, >= 0 */
    int64_t seed;              /* -1 = a random seed each run */
    int64_t threads;           /* 0 = the number of physical cores */
    int64_t context_size;      /* 0 = the model's own, capped at 4096 */
    int32_t cache_type_k;      /* KV cache types (GGUF engine): TK_TYPE_F16 (default), */
    int32_t cache_type_v;      /* TK_TYPE_F32, TK_TYPE_Q8_0 or TK_TYPE_Q4_0 */
    bool check_tensors;        /* true: refuse weights with NaN/infinity, all-zero norms */
    char model_path[1024];     /* "" = none configured */
    char model_dir[1024];      /* "" = the default model store */
    char file[1024];           /* the tektra.toml that was read, "" when none */
    tk_config_source source[TK_CONFIG_KEY_COUNT];
} tk_config;

/* Fills in the built-in defaults. */
void tk_config_defaults(tk_config *c);

/* Where tektra.toml is looked for, in order: `explicit_path` (when not NULL:
 * it must exist), ./tektra.toml, then the user config dir
 * ($XDG_CONFIG_HOME/tektra or ~/.config/tektra on Linux, ~/Library/Application
 * Support/tektra on macOS, %APPDATA%\tektra on Windows). Writes the first
 * that exists into `out`; TK_ERR_NOT_FOUND when none does (for an explicit
 * path that is an error worth showing; otherwise it just means defaults). */
tk_status tk_config_find_file(const char *explicit_path, const tk_platform *p, char *out,
                              size_t size);

/* Reads a tektra.toml and applies its values (source FILE). Syntax errors
 * name file:line:column and what was expected; values of the wrong type or
 * out of range name key and value (TK_ERR_CONFIG). Unknown keys are logged
 * as warnings. On error `c` is left unchanged. */
tk_status tk_config_load_file(tk_config *c, const char *path);
/* The same on a TOML text in memory; `name` is used in messages. */
tk_status tk_config_load_string(tk_config *c, const char *text, const char *name);

/* Applies TEKTRA_* variables read through `get` (getenv when NULL). */
typedef const char *(*tk_getenv_fn)(const char *name, void *user);
tk_status tk_config_apply_env(tk_config *c, tk_getenv_fn get, void *user);

/* Sets one key from text ("temperature" or "inference.temperature"), with
 * the same checks as the file; `src` is recorded. */
tk_status tk_config_set(tk_config *c, const char *key, const char *value, tk_config_source src);

/* Defaults, then the file found by tk_config_find_file(), then the
 * environment. Flags are applied afterwards by the program. */
tk_status tk_config_load(tk_config *c, const char *explicit_path, const tk_platform *p,
                         tk_getenv_fn get, void *user);

/* Describing the settings, for `tektra config`. */
const char *tk_config_key_name(int key);               /* "inference.temperature" */
const char *tk_config_env_name(int key);               /* "TEKTRA_TEMPERATURE" */
const char *tk_config_source_name(tk_config_source s); /* "default", "file", "env", "flag" */
/* Writes the value of `key` as TOML would spell it. */
void tk_config_format(const tk_config *c, int key, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
