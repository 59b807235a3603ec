/* tektra serve: the OpenAI-compatible HTTP API (include/tektra/server.h)
 * and the chat page at /. The server listens first and loads the model in a
 * thread meanwhile, so /health can say "loading"; SIGINT or SIGTERM stop it
 * cleanly. */
#include "settings.h"
#include "tektra/server.h" /* until tektra.h includes it */

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_serve_summary[] =
    "serve a chat page and an OpenAI-compatible HTTP API (chat, completions, SSE)";

static void usage(void)
{
    printf("Usage: tektra serve -m MODEL [OPTIONS]\n\n"
           "Serves the model over an OpenAI-compatible HTTP API, with a chat page:\n"
           "  GET  /                     the chat page (built into this program; works\n"
           "                             offline; open it in a browser)\n"
           "  POST /v1/chat/completions  chat through the model's chat template\n"
           "  POST /v1/completions       raw completion of a prompt\n"
           "  GET  /v1/models            the loaded model\n"
           "  GET  /props                model, backend, kernel level, context size, slots\n"
           "  GET  /health               200 {\"status\":\"ok\"} when ready, 503 while loading\n"
           "It listens at once, prints 'tektra: listening on http://HOST:PORT (chat page:\n"
           "http://HOST:PORT/)', loads the model and prints 'tektra: ready'. Ctrl-C\n"
           "(SIGINT) or SIGTERM stops it: running answers are cancelled and everything is\n"
           "freed. With -v it logs every request.\n\n"
           "Options:\n%s"
           "      --host ADDR        address to listen on (default 127.0.0.1: this machine\n"
           "                         only; 0.0.0.0 or :: to accept other machines)\n"
           "      --port N           TCP port (default 8080; 0 picks a free port)\n"
           "      --parallel N       answers generated at once, each with its own KV cache\n"
           "                         of --ctx-size tokens (default: 2, or 4 with 8 cores\n"
           "                         or more, fewer when their caches would take over a\n"
           "                         quarter of the free memory; at most 256)\n"
           "      --queue N          requests that may wait for a free slot (default 16, at\n"
           "                         most 4096); beyond that: 503 with Retry-After\n"
           "      --api-key KEY      require 'Authorization: Bearer KEY' on /v1/ and /props\n"
           "                         (default: TEKTRA_API_KEY from the environment; none =\n"
           "                         open); the chat page itself stays open and asks for\n"
           "                         the key, which it keeps until the browser tab closes\n"
           "      --cors ORIGIN      let web pages from ORIGIN (e.g. http://localhost:3000,\n"
           "                         or * for any) call the API from a browser (default:\n"
           "                         no CORS headers, so other sites' pages cannot)\n"
           "      --open             open the chat page in the default browser (xdg-open,\n"
           "                         open on macOS); says so when that is not possible\n"
           "  -h, --help             show this help\n\n",
           app_settings_help);
    printf("Requests. Settings a request leaves out come from the flags above, the\n"
           "environment and tektra.toml. Fields: messages (content: a string, an array of\n"
           "{\"type\":\"text\",\"text\":...} parts joined with newlines, or null; roles system,\n"
           "developer, user, assistant, tool; tool_calls, tool_call_id, name), prompt\n"
           "(/v1/completions: a string or an array of one string; echo), max_tokens or\n"
           "max_completion_tokens, temperature [0, 2], top_p [0, 1], top_k, min_p,\n"
           "repeat_penalty and repeat_last_n (tektra's), frequency_penalty and\n"
           "presence_penalty [-2, 2] (as OpenAI defines them: subtracted from a token's\n"
           "logit once per earlier occurrence, and once if it occurred at all, counting\n"
           "the last repeat_last_n tokens), seed (-1 = random), stop (a string or up to\n"
           "16 strings, never part of the answer), stream and stream_options.include_usage,\n"
           "n (1 only), logprobs and top_logprobs (0..20; /v1/completions: logprobs N),\n"
           "logit_bias (token id -> -100..100; -100 bans), response_format (json_object,\n"
           "or json_schema: the answer follows the schema; a keyword that cannot be\n"
           "enforced is a 400), tools, tool_choice (none, auto, required or one function:\n"
           "enforced) and parallel_tool_calls, for models whose template writes calls as\n"
           "Qwen/Hermes, Llama 3, Mistral, Granite, Qwen3-Coder, gpt-oss or Gemma 4 do\n"
           "(answers carry tool_calls, streamed as delta.tool_calls). /v1/embeddings and\n"
           "/v1/responses are not served (404). Unknown fields are ignored. A prompt\n"
           "longer than the context is refused (400), never cut. Bodies over 1 MiB get\n"
           "413.\n\n"
           "With an OpenAI client, set the base URL to http://127.0.0.1:8080/v1 and any\n"
           "API key (or the --api-key one), e.g.\n"
           "  export OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=local\n"
           "  python3 -c 'from openai import OpenAI; print(OpenAI().chat.completions.create(\n"
           "      model=\"local\", messages=[{\"role\":\"user\",\"content\":\"Hi\"}]))'\n"
           "or with curl:\n"
           "  curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: "
           "application/json' \\\n"
           "       -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"stream\":true}'\n");
}

/* The model is loaded by this thread while the server already answers. */
typedef struct loader {
    const app_settings *settings;
    tk_server *server;
    tk_engine *engine; /* set by the loader, freed by the main thread */
    atomic_bool failed;
} loader;

static void *load_main(void *arg)
{
    loader *l = arg;
    if (app_open_engine(l->settings, &l->engine) != APP_EXIT_OK) {
        atomic_store(&l->failed, true);
    } else if (tk_server_set_engine(l->server, l->engine) != TK_OK) {
        app_error("%s", tk_last_error());
        atomic_store(&l->failed, true);
    } else {
        if (!tk_engine_has_model(l->engine))
            fprintf(stderr, "tektra: warning: no model is loaded; every answer explains how to "
                            "get one\n");
        const char *name = tk_engine_model_name(l->engine);
        fprintf(stderr, "tektra: ready: model '%s' on the %s backend, context %lld tokens\n",
                *name ? name : "none", tk_engine_backend_name(l->engine),
                (long long)tk_engine_n_ctx(l->engine));
    }
    /* Wakes the main thread either way: it waits for a signal. */
    if (atomic_load(&l->failed)) tk_platform_stop_wake();
    return NULL;
}

/* The address of the chat page for a server on `host`:`port`. An address
 * that means "every interface" is reached through this machine's loopback
 * address. */
static void page_url(const char *host, int port, char *out, size_t size)
{
    if (strcmp(host, "0.0.0.0") == 0) host = "127.0.0.1";
    if (strcmp(host, "::") == 0 || strcmp(host, "[::]") == 0) host = "::1";
    bool v6 = strchr(host, ':') != NULL && host[0] != '[';
    snprintf(out, size, "http://%s%s%s:%d/", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

int cmd_serve(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return APP_EXIT_OK;
        }
    }
    app_settings s;
    int rc = app_settings_load(&s, argc, argv);
    if (rc != APP_EXIT_OK) return rc;
    tk_server_params p;
    tk_server_default_params(&p);
    bool open_page = false;
    const char *env_key = getenv("TEKTRA_API_KEY");
    p.api_key = env_key && *env_key ? env_key : NULL;
    for (int i = 1; i < argc; i++) {
        int r = app_settings_flag(&s, argc, argv, &i);
        if (r < 0) return APP_EXIT_USAGE;
        if (r > 0) continue;
        const char *flag = argv[i];
        long v;
        if (app_flag_is(flag, "--host")) {
            if (!(p.host = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
            if (!*p.host) return app_usage_error("serve", "--host: empty address");
        } else if (app_flag_is(flag, "--port")) {
            const char *val = app_flag_value(argc, argv, &i);
            if (!val || !app_parse_long("--port", val, 0, 65535, &v)) return APP_EXIT_USAGE;
            p.port = (int)v;
        } else if (app_flag_is(flag, "--parallel")) {
            const char *val = app_flag_value(argc, argv, &i);
            if (!val || !app_parse_long("--parallel", val, 1, 256, &v)) return APP_EXIT_USAGE;
            p.n_parallel = (int)v;
        } else if (app_flag_is(flag, "--queue")) {
            const char *val = app_flag_value(argc, argv, &i);
            if (!val || !app_parse_long("--queue", val, 0, 4096, &v)) return APP_EXIT_USAGE;
            p.n_queue = (int)v;
        } else if (app_flag_is(flag, "--cors")) {
            if (!(p.cors_origin = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
            if (!*p.cors_origin) return app_usage_error("serve", "--cors: empty origin");
        } else if (app_flag_is(flag, "--open")) {
            open_page = true;
        } else if (app_flag_is(flag, "--api-key")) {
            if (!(p.api_key = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
            if (!*p.api_key) return app_usage_error("serve", "--api-key: empty key");
        } else {
            return app_usage_error("serve", "unknown option '%s'", flag);
        }
    }
    if (s.verbose) tk_log_set(NULL, NULL, TK_LOG_INFO);
    tk_gen_params_from_config(&p.defaults, &s.config);

    /* A model the user named must exist before the server starts: serving
     * the no-model guidance instead would look like success. (Whether it
     * loads is known later; a failed load stops the server.) */
    if (s.config.model_path[0]) {
        char resolved[4096];
        if (tk_hub_resolve(&s.config, &s.platform, s.config.model_path, resolved,
                           sizeof resolved) != TK_OK) {
            app_error("%s", tk_last_error());
            return APP_EXIT_FAIL;
        }
    }

    /* Stop requests (SIGINT, SIGTERM; the console's Ctrl-C on Windows) are
     * waited for below: prepared here before any thread starts, so every
     * thread inherits the blocked signals. */
    tk_platform_stop_prepare();

    tk_server *srv;
    if (tk_server_start(&p, &srv) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    bool v6 = strchr(p.host, ':') != NULL;
    char page[320];
    page_url(p.host, tk_server_port(srv), page, sizeof page);
    printf("tektra: listening on http://%s%s%s:%d (chat page: %s)\n", v6 ? "[" : "", p.host,
           v6 ? "]" : "", tk_server_port(srv), page);
    fflush(stdout);

    loader l = {.settings = &s, .server = srv};
    atomic_init(&l.failed, false);
    pthread_t lt;
    if (pthread_create(&lt, NULL, load_main, &l) != 0) {
        app_error("cannot start the loading thread");
        tk_server_free(srv);
        return APP_EXIT_FAIL;
    }
    /* The page answers while the model loads (it shows "loading"), so the
     * browser can open now. Children must not inherit our blocked signals:
     * tk_platform_open_url clears the mask in the child. */
    if (open_page) {
        if (tk_platform_open_url(page) == TK_OK)
            fprintf(stderr, "tektra: opened %s in the browser\n", page);
        else
            fprintf(stderr,
                    "tektra: could not open a browser here (no working xdg-open or open); "
                    "open %s yourself\n",
                    page);
    }
    int why = 0;
    for (;;) {
        why = tk_platform_stop_wait();
        if (why != 0 || atomic_load(&l.failed)) break;
    }
    if (why != 0) fprintf(stderr, "tektra: stopping (%s)\n", why == 1 ? "SIGINT" : "SIGTERM");
    tk_server_stop(srv);
    pthread_join(lt, NULL);
    tk_server_free(srv);
    tk_engine_free(l.engine);
    return atomic_load(&l.failed) ? APP_EXIT_FAIL : APP_EXIT_OK;
}
