/* Settings shared by the commands that run a model (chat, run, serve,
 * bench): the conventional flags, merged over tektra.toml and the
 * environment, and opening an engine on the selected backend. */
#ifndef TK_APP_SETTINGS_H
#define TK_APP_SETTINGS_H

#include "app.h"

typedef struct app_settings {
    tk_platform platform;
    tk_config config;
    const char *prompt; /* -p, NULL when not given */
    bool verbose;
    /* app_open_engine shows "loading NAME..." on a terminal while the model
     * loads (false by default: serve loads while its log runs) */
    bool show_loading;
} app_settings;

/* The help lines of the common flags. */
extern const char app_settings_help[];

/* Pass 1 over argv: finds --config so the file can be read before the flags
 * are applied. Then loads defaults, file and environment. Returns an exit
 * code (APP_EXIT_OK to go on). */
int app_settings_load(app_settings *s, int argc, char **argv);

/* Tries to consume a common flag at argv[*i] (advancing *i past its
 * value). Returns 1 when consumed, 0 when not a common flag, or -1 after
 * printing an error (the caller exits with APP_EXIT_USAGE). */
int app_settings_flag(app_settings *s, int argc, char **argv, int *i);

/* Selects the backend (config, TEKTRA_BACKEND, --backend), creates the
 * engine and loads the model; a missing model leaves the engine in its
 * no-model mode. With benchmark_on_startup, measures each available
 * backend. Returns an exit code; *out is set on APP_EXIT_OK. */
int app_open_engine(const app_settings *s, tk_engine **out);

/* For the tools that run the forward pass alone (logits, bench): the
 * backend `name` ("auto", "gguf", "mlx"; NULL = auto) resolved for
 * `model` with the selection rules. Returns APP_EXIT_OK, or prints the
 * error and returns APP_EXIT_USAGE (unknown name) or APP_EXIT_FAIL (the
 * backend is unavailable). */
int app_tool_backend(const char *name, const char *model, tk_backend_kind *out);

/* Opens an engine on backend `kind` with `model` loaded (context n_ctx,
 * `threads` threads; 0 = defaults) and a session on it. Prints the error
 * and returns false on failure; free with tk_session_free and
 * tk_engine_free. */
bool app_tool_session(tk_backend_kind kind, const char *model, int64_t n_ctx, int64_t threads,
                      tk_engine **e, tk_session **s);

#endif
