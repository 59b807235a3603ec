/* tektra run: one prompt, streamed to stdout. */
#include "settings.h"

#include "tektra/grammar.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_run_summary[] = "answer one prompt, streamed to stdout";

static volatile sig_atomic_t interrupted;
static char last_char = '\n'; /* of what was printed, to end with one newline */

static bool was_interrupted(void *user)
{
    (void)user;
    return interrupted != 0;
}

static void on_sigint(void)
{
    interrupted = 1;
}

static void usage(void)
{
    printf("Usage: tektra run -m MODEL [OPTIONS] PROMPT...\n"
           "       tektra run -m MODEL -p PROMPT [OPTIONS]\n\n"
           "Generates a continuation of PROMPT (raw completion), or with --chat an answer to it\n"
           "as a chat message (through the model's chat template), streamed to stdout as it\n"
           "is written. In raw mode the prompt is printed first, unless --no-echo. The prompt\n"
           "is -p's value or the arguments after the options, joined by spaces (after --,\n"
           "arguments that start with '-' too).\n\n"
           "Options:\n%s"
           "  -p, --prompt TEXT      the prompt; '-' reads it from standard input\n"
           "      --chat             format the prompt as a chat message\n"
           "      --system TEXT      system message (with --chat)\n"
           "      --stop TEXT        stop when this text is generated (repeatable)\n"
           "      --grammar FILE     only generate text of this grammar (tektra's grammar\n"
           "                         language: docs/grammar.md)\n"
           "      --json-schema FILE only generate JSON that validates against this JSON\n"
           "                         schema (a keyword that cannot be enforced is an error)\n"
           "      --no-echo          do not print the prompt first (raw mode)\n"
           "  -h, --help             show this help\n",
           app_settings_help);
}

static bool on_text(const char *text, size_t len, const tk_token_info *infos, int n_infos,
                    void *user)
{
    (void)infos;
    (void)n_infos;
    (void)user;
    if (len) last_char = text[len - 1];
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return !interrupted;
}

/* The grammar of --grammar FILE or --json-schema FILE (one of them NULL).
 * Errors name the file and the problem. */
static int load_grammar(const char *grammar_file, const char *schema_file, tk_grammar **out)
{
    const char *path = grammar_file ? grammar_file : schema_file;
    const char *flag = grammar_file ? "--grammar" : "--json-schema";
    char *text = NULL;
    size_t len = 0;
    if (tk_read_file(path, 4u << 20, &text, &len) != TK_OK) {
        app_error("%s: %s", flag, tk_last_error());
        return APP_EXIT_FAIL;
    }
    char why[512];
    if (schema_file) {
        char *rules = NULL;
        tk_status st = tk_json_schema_to_grammar(text, NULL, &rules, why, sizeof why);
        free(text);
        if (st != TK_OK) {
            app_error("--json-schema %s: %s", path, why[0] ? why : tk_status_str(st));
            return APP_EXIT_FAIL;
        }
        text = rules;
    }
    tk_status st = tk_grammar_parse(text, out, why, sizeof why);
    free(text);
    if (st != TK_OK) {
        app_error("%s %s: %s", flag, path, why[0] ? why : tk_status_str(st));
        return APP_EXIT_FAIL;
    }
    return APP_EXIT_OK;
}

/* Reads all of standard input (at most 16 MiB). */
static char *read_stdin(void)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) {
            if (cap >= (16u << 20)) {
                free(buf);
                app_error("-p -: the prompt on standard input is larger than 16 MiB");
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, stdin);
        n += got;
        if (got == 0) break;
    }
    if (buf) buf[n] = '\0';
    return buf;
}

int cmd_run(int argc, char **argv)
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
    s.show_loading = true;
    bool chat = false, echo = true;
    const char *system_text = NULL, *grammar_file = NULL, *schema_file = NULL;
    const char *stops[16];
    int n_stops = 0;
    size_t words_len = 0; /* bytes of the positional prompt, spaces included */
    int first_word = 0, n_words = 0;
    bool only_words = false; /* after "--" */
    for (int i = 1; i < argc; i++) {
        if (only_words || (argv[i][0] != '-' || argv[i][1] == '\0')) {
            /* The prompt's words: after the options, as one text. */
            if (n_words == 0) first_word = i;
            if (i != first_word + n_words)
                return app_usage_error("run",
                                       "the prompt's words are apart ('%s' and '%s'): put them "
                                       "together, or quote the prompt",
                                       argv[first_word], argv[i]);
            words_len += strlen(argv[i]) + 1;
            n_words++;
            continue;
        }
        if (strcmp(argv[i], "--") == 0) {
            only_words = true;
            first_word = i + 1;
            continue;
        }
        int r = app_settings_flag(&s, argc, argv, &i);
        if (r < 0) return APP_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(argv[i], "--chat") == 0) {
            chat = true;
        } else if (strcmp(argv[i], "--no-echo") == 0) {
            echo = false;
        } else if (app_flag_is(argv[i], "--system")) {
            if (!(system_text = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (app_flag_is(argv[i], "--grammar")) {
            if (!(grammar_file = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (app_flag_is(argv[i], "--json-schema")) {
            if (!(schema_file = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (app_flag_is(argv[i], "--stop")) {
            const char *v = app_flag_value(argc, argv, &i);
            if (!v) return APP_EXIT_USAGE;
            if (n_stops == 16) return app_usage_error("run", "at most 16 --stop strings");
            stops[n_stops++] = v;
        } else {
            return app_usage_error("run", "unknown option '%s'", argv[i]);
        }
    }
    if (s.prompt && n_words)
        return app_usage_error("run", "two prompts: -p '%s' and '%s'", s.prompt, argv[first_word]);
    if (!s.prompt && !n_words)
        return app_usage_error("run", "missing the prompt (-p PROMPT, or PROMPT)");
    if (system_text && !chat) return app_usage_error("run", "--system needs --chat");
    if (grammar_file && schema_file)
        return app_usage_error("run", "--grammar and --json-schema cannot be used together");
    tk_grammar *grammar = NULL;
    if (grammar_file || schema_file) {
        rc = load_grammar(grammar_file, schema_file, &grammar);
        if (rc != APP_EXIT_OK) return rc;
    }
    char *words = NULL;
    if (n_words) {
        words = malloc(words_len);
        if (!words) {
            tk_grammar_free(grammar);
            app_error("out of memory");
            return APP_EXIT_FAIL;
        }
        size_t at = 0;
        for (int k = 0; k < n_words; k++) {
            size_t n = strlen(argv[first_word + k]);
            memcpy(words + at, argv[first_word + k], n);
            at += n;
            words[at++] = k + 1 < n_words ? ' ' : '\0';
        }
        s.prompt = words;
    }

    char *stdin_prompt = NULL;
    const char *prompt = s.prompt;
    if (strcmp(prompt, "-") == 0) {
        stdin_prompt = read_stdin();
        if (!stdin_prompt) {
            tk_grammar_free(grammar);
            free(words);
            return APP_EXIT_FAIL;
        }
        prompt = stdin_prompt;
    }

    tk_engine *e;
    rc = app_open_engine(&s, &e);
    if (rc != APP_EXIT_OK) {
        free(stdin_prompt);
        tk_grammar_free(grammar);
        free(words);
        return rc;
    }
    tk_gen_params g;
    tk_gen_params_from_config(&g, &s.config);
    g.stop = stops;
    g.n_stop = n_stops;
    g.cancelled = was_interrupted; /* also while the prompt is evaluated */
    g.grammar = grammar;

    tk_platform_on_interrupt(on_sigint);

    tk_metrics m;
    tk_status st;
    if (chat) {
        tk_message msgs[2];
        int n = 0;
        if (system_text) msgs[n++] = (tk_message){.role = "system", .content = system_text};
        msgs[n++] = (tk_message){.role = "user", .content = prompt};
        st = tk_engine_chat(e, msgs, n, &g, on_text, NULL, &m);
    } else {
        if (echo && tk_engine_has_model(e)) {
            fputs(prompt, stdout);
            fflush(stdout);
            if (*prompt) last_char = prompt[strlen(prompt) - 1];
        }
        st = tk_engine_complete(e, prompt, &g, on_text, NULL, &m);
    }
    if (last_char != '\n') putchar('\n');
    fflush(stdout);
    rc = APP_EXIT_OK;
    if (st != TK_OK) {
        app_error("%s", tk_last_error());
        rc = APP_EXIT_FAIL;
    } else if (interrupted) {
        /* Ctrl-C: the answer so far stays on stdout, the note goes to
         * stderr, and the exit code says it was interrupted (128 + SIGINT). */
        fprintf(stderr, "tektra: stopped (Ctrl-C)\n");
        rc = APP_EXIT_INTERRUPTED;
    } else {
        if (m.finish == TK_FINISH_CONTEXT)
            fprintf(stderr, "tektra: stopped: the context is full (%lld tokens)\n",
                    (long long)tk_engine_n_ctx(e));
        if (s.verbose)
            fprintf(stderr,
                    "tektra: seed %llu; prompt %lld tokens at %.1f t/s; generated %lld tokens "
                    "at %.1f t/s; first token %.3f s; total %.3f s; peak memory %.1f MiB\n",
                    (unsigned long long)m.seed, (long long)m.n_prompt_tokens, m.prompt_tps,
                    (long long)m.n_gen_tokens, m.gen_tps, m.ttft_s, m.total_s,
                    (double)m.peak_rss / (1 << 20));
    }
    tk_engine_free(e);
    tk_grammar_free(grammar);
    free(stdin_prompt);
    free(words);
    return rc;
}
