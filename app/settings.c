/* Common flags and opening the engine. */
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char app_settings_help[] =
    "  -m, --model PATH       model: a GGUF file, a model directory (MLX / Hugging\n"
    "                         Face layout) or a name from the store\n"
    "  -n, --max-tokens N     most tokens per answer (default 512)\n"
    "      --temp T           temperature; 0 = greedy, penalties off (default 0.7)\n"
    "      --top-p P          nucleus sampling, (0, 1] (default 0.9)\n"
    "      --top-k K          keep the K most likely tokens, 0 = off (default 40)\n"
    "      --min-p P          drop tokens below P x the best, [0, 1) (default 0.05)\n"
    "      --repeat-penalty R penalty for repeated tokens, 1.0 = off (default 1.1)\n"
    "      --repeat-last-n N  how many recent tokens the penalty looks at (default 64)\n"
    "      --seed S           random seed, -1 = random (default -1)\n"
    "  -t, --threads N        CPU threads, 0 = physical cores (default 0)\n"
    "  -c, --ctx-size N       context size in tokens, 0 = the model's own up to 4096\n"
    "  -ctk, --cache-type-k T KV cache keys: f16 (default), f32, q8_0 (about half the\n"
    "                         memory of f16) or q4_0 (about a quarter); GGUF engine\n"
    "  -ctv, --cache-type-v T KV cache values: the same types\n"
    "      --backend NAME     auto, gguf or mlx (default auto)\n"
    "      --no-check-tensors load a model even when a weight is NaN or infinite\n"
    "      --config PATH      read settings from this tektra.toml\n"
    "  -v, --verbose          print the backend choice, seed and timings\n";

/* Flags that map to a configuration key. */
static const struct {
    const char *short_name;
    const char *long_name;
    const char *key;
} flag_keys[] = {
    {"-m", "--model", "model.path"},
    {"-n", "--max-tokens", "inference.max_tokens"},
    {NULL, "--temp", "inference.temperature"},
    {NULL, "--temperature", "inference.temperature"},
    {NULL, "--top-p", "inference.top_p"},
    {NULL, "--top-k", "inference.top_k"},
    {NULL, "--min-p", "inference.min_p"},
    {NULL, "--repeat-penalty", "inference.repeat_penalty"},
    {NULL, "--repeat-last-n", "inference.repeat_last_n"},
    {NULL, "--seed", "inference.seed"},
    {"-t", "--threads", "inference.threads"},
    {"-c", "--ctx-size", "inference.context_size"},
    {"-ctk", "--cache-type-k", "inference.cache_type_k"},
    {"-ctv", "--cache-type-v", "inference.cache_type_v"},
    {NULL, "--backend", "inference.backend"},
};

int app_settings_load(app_settings *s, int argc, char **argv)
{
    memset(s, 0, sizeof *s);
    tk_platform_detect(&s->platform);
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (app_flag_is(argv[i], "--config")) {
            config_path = app_flag_value(argc, argv, &i);
            if (!config_path) return APP_EXIT_USAGE;
        }
    }
    if (tk_config_load(&s->config, config_path, &s->platform, NULL, NULL) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_USAGE;
    }
    return APP_EXIT_OK;
}

int app_settings_flag(app_settings *s, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    if (app_flag_is(arg, "--config")) {
        return app_flag_value(argc, argv, i) ? 1 : -1; /* read in pass 1 */
    }
    if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
        s->verbose = true;
        return 1;
    }
    if (strcmp(arg, "--no-check-tensors") == 0) {
        if (tk_config_set(&s->config, "inference.check_tensors", "false", TK_SOURCE_FLAG) != TK_OK)
            return -1;
        return 1;
    }
    if (strcmp(arg, "-p") == 0 || app_flag_is(arg, "--prompt")) {
        s->prompt = app_flag_value(argc, argv, i);
        return s->prompt ? 1 : -1;
    }
    for (size_t k = 0; k < sizeof flag_keys / sizeof flag_keys[0]; k++) {
        bool short_match = flag_keys[k].short_name && strcmp(arg, flag_keys[k].short_name) == 0;
        if (!short_match && !app_flag_is(arg, flag_keys[k].long_name)) continue;
        const char *v = app_flag_value(argc, argv, i);
        if (!v) return -1;
        if (tk_config_set(&s->config, flag_keys[k].key, v, TK_SOURCE_FLAG) != TK_OK) {
            app_error("%s: %s", arg, tk_last_error());
            return -1;
        }
        return 1;
    }
    return 0;
}

/* Short fixed benchmark of one engine: tokens (or bytes, without a model)
 * per second of a greedy answer. */
static double bench_engine(tk_engine *e)
{
    tk_gen_params g;
    memset(&g, 0, sizeof g);
    g.max_tokens = 32;
    g.temperature = 0;
    g.top_p = 1;
    g.repeat_penalty = 1;
    g.seed = 1;
    tk_metrics m;
    if (tk_engine_complete(e, "The capital of France is", &g, NULL, NULL, &m) != TK_OK) return 0;
    if (m.gen_tps > 0) return m.gen_tps;
    return m.total_s > 0 ? (double)m.n_gen_tokens / m.total_s : 0;
}

int app_open_engine(const app_settings *s, tk_engine **out)
{
    *out = NULL;
    const tk_config *c = &s->config;
    const char *model = c->model_path[0] ? c->model_path : NULL;
    tk_backend_choice choice;
    if (tk_backend_select(c->backend, &s->platform, model, &choice) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    /* -v also shows the library's information lines (among them the
     * context's memory, allocated when it is created). */
    if (s->verbose) tk_log_set(NULL, NULL, TK_LOG_INFO);
    if (s->verbose)
        fprintf(stderr, "tektra: backend %s (%s)\n", tk_backend_kind_name(choice.kind),
                choice.reason);
    else if (choice.fell_back)
        fprintf(stderr, "tektra: %s\n", choice.reason);

    if (c->benchmark_on_startup) {
        /* Measure every available backend that can read this model; auto
         * keeps the fastest, a forced backend is only reported. In auto
         * mode only the backends auto may choose here are measured (MLX on
         * Apple Silicon only). */
        double best_tps = -1;
        tk_backend_kind best = choice.kind;
        for (int i = 0; i < tk_backend_count(); i++) {
            tk_backend_info info;
            tk_backend_describe(i, &s->platform, &info);
            if (!info.available) continue;
            if (c->backend == TK_BACKEND_AUTO && !info.automatic) continue;
            if (model && info.kind != choice.kind && !tk_backend_can_read(info.kind, model))
                continue;
            tk_engine *e;
            if (tk_engine_create(info.kind, &s->platform, c, &e) != TK_OK) continue;
            tk_status ls = tk_engine_load(e, model);
            double tps = (ls == TK_OK || ls == TK_ERR_NOT_FOUND) ? bench_engine(e) : 0;
            fprintf(stderr, "tektra: benchmark: %s %.1f %s/s%s\n", info.name, tps,
                    tk_engine_has_model(e) ? "tokens" : "bytes",
                    tk_engine_has_model(e) ? "" : " (no model: fallback answer)");
            if (tps > best_tps) {
                best_tps = tps;
                best = info.kind;
            }
            tk_engine_free(e);
        }
        if (c->backend == TK_BACKEND_AUTO && best != choice.kind) {
            choice.kind = best;
            fprintf(stderr, "tektra: benchmark: using %s, the fastest\n",
                    tk_backend_kind_name(best));
        }
    }

    /* Without a model the engine's answer recommends one: by speed, which
     * a short bandwidth measurement tells. */
    tk_platform plat = s->platform;
    if (!model) tk_platform_measure_quick(&plat);
    tk_engine *e;
    if (tk_engine_create(choice.kind, &plat, c, &e) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    /* The load API has no progress callback: a line while it runs. */
    if (model && s->show_loading) app_status("loading %s...", app_base_name(model));
    tk_status ls = tk_engine_load(e, model);
    app_status_clear();
    /* Without any model configured, the engine answers with guidance on
     * getting one; a model the user named that cannot be loaded is an
     * error. */
    if (ls != TK_OK && (ls != TK_ERR_NOT_FOUND || model)) {
        app_error("%s", tk_last_error());
        tk_engine_free(e);
        return APP_EXIT_FAIL;
    }
    /* A context longer than the model was trained on works, but the model
     * has never seen positions past its own: say so once. */
    tk_model_info info;
    tk_engine_model_info(e, &info);
    if (info.n_ctx_train > 0 && c->context_size > info.n_ctx_train)
        fprintf(stderr,
                "tektra: warning: the context size %lld (-c) is more than the %d tokens %s was "
                "trained with; answers past that point may be poor\n",
                (long long)c->context_size, (int)info.n_ctx_train, tk_engine_model_name(e));
    *out = e;
    return APP_EXIT_OK;
}

int app_tool_backend(const char *name, const char *model, tk_backend_kind *out)
{
    tk_backend_kind want = TK_BACKEND_AUTO;
    if (name && tk_backend_kind_parse(name, &want) != TK_OK) {
        app_error("--backend: %s", tk_last_error());
        return APP_EXIT_USAGE;
    }
    tk_platform p;
    tk_platform_detect(&p);
    tk_backend_choice choice;
    if (tk_backend_select(want, &p, model, &choice) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    if (choice.fell_back) fprintf(stderr, "tektra: %s\n", choice.reason);
    *out = choice.kind;
    return APP_EXIT_OK;
}

bool app_tool_session(tk_backend_kind kind, const char *model, int64_t n_ctx, int64_t threads,
                      tk_engine **e, tk_session **s)
{
    *e = NULL;
    *s = NULL;
    tk_platform p;
    tk_platform_detect(&p);
    tk_config c;
    tk_config_defaults(&c);
    c.context_size = n_ctx;
    c.threads = threads;
    if (tk_engine_create(kind, &p, &c, e) != TK_OK) {
        app_error("%s", tk_last_error());
        return false;
    }
    app_status("loading %s...", app_base_name(model));
    tk_status st = tk_engine_load(*e, model);
    app_status_clear();
    if (st == TK_OK && !tk_engine_has_model(*e)) st = TK_ERR_NOT_FOUND;
    if (st != TK_OK) {
        app_error("%s", tk_last_error()[0] ? tk_last_error() : "no such model");
        tk_engine_free(*e);
        *e = NULL;
        return false;
    }
    if (tk_session_create(*e, s) != TK_OK) {
        app_error("%s", tk_last_error());
        tk_engine_free(*e);
        *e = NULL;
        return false;
    }
    return true;
}
