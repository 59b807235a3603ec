/* tektra logits: run a model on a list of token ids and write the logits of
 * every position as raw float32, for comparison with other engines. */
#include "app.h"
#include "settings.h"
/* Until tektra.h includes it (then this line is redundant but harmless). */
#include "tektra/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_logits_summary[] = "write a model's logits for a list of token ids (raw float32)";

static void usage(void)
{
    printf("Usage: tektra logits -m MODEL --tokens ID,ID,... -o OUT.f32 [options]\n\n"
           "Runs MODEL on the token ids at positions 0, 1, ... and writes the logits of\n"
           "every position to OUT.f32: little-endian float32, [n_tokens][n_vocab].\n\n"
           "Options:\n"
           "  -m, --model PATH     GGUF file or model directory (required)\n"
           "      --tokens LIST    comma-separated token ids (required)\n"
           "  -o, --output PATH    output file (required)\n"
           "      --incremental    one token per forward pass through the KV cache\n"
           "                       (default: all tokens in one batched pass)\n"
           "  -t, --threads N      worker threads (default: physical cores, at most 16)\n"
           "  -c, --ctx-size N     context size (default: the number of tokens)\n"
           "      --backend NAME   auto, gguf or mlx (default auto: the selection rules;\n"
           "                       mlx runs a model directory through Apple's MLX)\n"
           "  -h, --help           show this help\n\n"
           "Exit status: 0 ok, 1 model or I/O failure, 2 bad usage or token list.\n");
}

/* Parses "1,2,3" into a new array (caller frees). Prints the error. */
static bool parse_tokens(const char *s, int32_t **out, int *n_out)
{
    int cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int32_t *ids = calloc((size_t)cap, sizeof *ids);
    if (!ids) {
        app_error("--tokens: out of memory");
        return false;
    }
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        if (*p < '0' || *p > '9') {
            app_error("--tokens: expected a token id at '%.20s'", *p ? p : "(end)");
            free(ids);
            return false;
        }
        long v = strtol(p, &end, 10);
        if (errno == ERANGE || v > INT32_MAX) {
            app_error("--tokens: id '%.20s' is too large", p);
            free(ids);
            return false;
        }
        ids[n++] = (int32_t)v;
        if (*end == '\0') break;
        if (*end != ',') {
            app_error("--tokens: unexpected '%c' after a token id", *end);
            free(ids);
            return false;
        }
        p = end + 1;
    }
    *out = ids;
    *n_out = n;
    return true;
}

/* Writes `count` floats to `path`. Prints the error. */
static bool write_f32(const char *path, const float *v, size_t count)
{
    /* The file format is little-endian; the supported targets all are. */
    FILE *f = tk_fopen(path, "wb");
    if (!f) {
        app_error("%s: %s", path, strerror(errno));
        return false;
    }
    bool wrote = fwrite(v, sizeof *v, count, f) == count;
    bool closed = fclose(f) == 0;
    if (!wrote || !closed) {
        app_error("%s: write failed: %s", path, strerror(errno));
        return false;
    }
    return true;
}

/* The same through a backend's session (any backend; used for all but
 * the CPU engine, which is run directly above). */
static int logits_on_backend(tk_backend_kind kind, const char *model_path, const int32_t *tokens,
                             int n_tokens, const char *out_path, bool incremental, long n_threads,
                             long n_ctx)
{
    if (n_ctx && n_ctx < n_tokens) {
        app_error("--ctx-size %ld is smaller than the %d tokens", n_ctx, n_tokens);
        return APP_EXIT_USAGE;
    }
    tk_engine *e;
    tk_session *s;
    if (!app_tool_session(kind, model_path, n_ctx ? n_ctx : n_tokens, n_threads, &e, &s))
        return APP_EXIT_FAIL;
    int rc = APP_EXIT_FAIL;
    tk_model_info info;
    tk_engine_model_info(e, &info);
    const int32_t n_vocab = info.n_vocab;
    float *logits = calloc((size_t)n_tokens * (size_t)n_vocab, sizeof *logits);
    for (int i = 0; i < n_tokens; i++) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            app_error("--tokens: id %d is outside the vocabulary [0, %d)", tokens[i], n_vocab);
            rc = APP_EXIT_USAGE;
            goto done;
        }
    }
    if (!logits) {
        app_error("out of memory for %d x %d logits", n_tokens, n_vocab);
        goto done;
    }
    if (incremental) {
        for (int i = 0; i < n_tokens; i++) {
            if (tk_session_decode(s, tokens + i, 1, logits + (size_t)i * (size_t)n_vocab, false) !=
                TK_OK) {
                app_error("%s", tk_last_error());
                goto done;
            }
        }
    } else if (tk_session_decode(s, tokens, n_tokens, logits, true) != TK_OK) {
        app_error("%s", tk_last_error());
        goto done;
    }
    if (write_f32(out_path, logits, (size_t)n_tokens * (size_t)n_vocab)) rc = APP_EXIT_OK;
done:
    free(logits);
    tk_session_free(s);
    tk_engine_free(e);
    return rc;
}

int cmd_logits(int argc, char **argv)
{
    const char *model_path = NULL, *tokens_arg = NULL, *out_path = NULL, *backend = NULL;
    bool incremental = false;
    long n_threads = 0, n_ctx = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage();
            return APP_EXIT_OK;
        } else if (strcmp(a, "-m") == 0 || app_flag_is(a, "--model")) {
            if (!(model_path = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (app_flag_is(a, "--tokens")) {
            if (!(tokens_arg = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (strcmp(a, "-o") == 0 || app_flag_is(a, "--output")) {
            if (!(out_path = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (app_flag_is(a, "--backend")) {
            if (!(backend = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (strcmp(a, "--incremental") == 0) {
            incremental = true;
        } else if (strcmp(a, "-t") == 0 || app_flag_is(a, "--threads")) {
            if (!(v = app_flag_value(argc, argv, &i)) ||
                !app_parse_long("--threads", v, 1, 256, &n_threads))
                return APP_EXIT_USAGE;
        } else if (strcmp(a, "-c") == 0 || app_flag_is(a, "--ctx-size")) {
            if (!(v = app_flag_value(argc, argv, &i)) ||
                !app_parse_long("--ctx-size", v, 1, 1 << 24, &n_ctx))
                return APP_EXIT_USAGE;
        } else {
            return app_usage_error("logits", "unknown option '%s'", a);
        }
    }
    if (!model_path) return app_usage_error("logits", "missing -m MODEL");
    if (!tokens_arg) return app_usage_error("logits", "missing --tokens LIST");
    if (!out_path) return app_usage_error("logits", "missing -o OUT");

    int32_t *tokens = NULL;
    int n_tokens = 0;
    tk_backend_kind kind;
    int brc = app_tool_backend(backend, model_path, &kind);
    if (brc != APP_EXIT_OK) return brc;
    if (!parse_tokens(tokens_arg, &tokens, &n_tokens)) return APP_EXIT_USAGE;
    if (kind != TK_BACKEND_GGUF) {
        int rc = logits_on_backend(kind, model_path, tokens, n_tokens, out_path, incremental,
                                   n_threads, n_ctx);
        free(tokens);
        return rc;
    }

    int rc = APP_EXIT_FAIL;
    tk_model *model = NULL;
    tk_context *ctx = NULL;
    float *logits = NULL;
    FILE *f = NULL;
    if (tk_model_load(model_path, &model) != TK_OK) {
        app_error("%s", tk_last_error());
        goto done;
    }
    const int32_t n_vocab = tk_model_n_vocab(model);
    for (int i = 0; i < n_tokens; i++) {
        if (tokens[i] >= n_vocab) {
            app_error("--tokens: id %d is outside the vocabulary [0, %d)", tokens[i], n_vocab);
            rc = APP_EXIT_USAGE;
            goto done;
        }
    }
    if (n_ctx && n_ctx < n_tokens) {
        app_error("--ctx-size %ld is smaller than the %d tokens", n_ctx, n_tokens);
        rc = APP_EXIT_USAGE;
        goto done;
    }
    tk_context_params cp = tk_context_default_params();
    cp.n_ctx = (int32_t)(n_ctx ? n_ctx : n_tokens);
    cp.n_threads = (int32_t)n_threads;
    if (tk_context_create(model, &cp, &ctx) != TK_OK) {
        app_error("%s", tk_last_error());
        goto done;
    }
    logits = calloc((size_t)n_tokens * (size_t)n_vocab, sizeof *logits);
    if (!logits) {
        app_error("out of memory for %d x %d logits", n_tokens, n_vocab);
        goto done;
    }
    if (incremental) {
        for (int i = 0; i < n_tokens; i++) {
            if (tk_context_decode(ctx, tokens + i, 1, logits + (size_t)i * (size_t)n_vocab,
                                  false) != TK_OK) {
                app_error("%s", tk_last_error());
                goto done;
            }
        }
    } else if (tk_context_decode(ctx, tokens, n_tokens, logits, true) != TK_OK) {
        app_error("%s", tk_last_error());
        goto done;
    }
    /* The file format is little-endian; the supported targets all are. */
    f = tk_fopen(out_path, "wb");
    if (!f) {
        app_error("%s: %s", out_path, strerror(errno));
        goto done;
    }
    size_t count = (size_t)n_tokens * (size_t)n_vocab;
    bool wrote = fwrite(logits, sizeof *logits, count, f) == count;
    bool closed = fclose(f) == 0;
    f = NULL;
    if (!wrote || !closed) {
        app_error("%s: write failed: %s", out_path, strerror(errno));
        goto done;
    }
    rc = APP_EXIT_OK;

done:
    if (f) fclose(f);
    free(logits);
    tk_context_free(ctx);
    tk_model_free(model);
    free(tokens);
    return rc;
}
