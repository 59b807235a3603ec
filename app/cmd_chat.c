/* tektra chat (also `tektra` with no command): the chat REPL. A multi-turn
 * conversation through the model's template (the oldest turns dropped when
 * it outgrows the context), streamed answers, /commands, line editing when
 * stdin is a terminal, Ctrl-C stops the current answer. */
#include "chat.h"
#include "settings.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cmd_chat_summary[] = "chat with a model in the terminal (the default command)";

static volatile sig_atomic_t interrupted;

static void on_sigint(void)
{
    interrupted = 1;
}

/* The chat's commands, for /help and --help. */
static const struct {
    const char *usage, *what;
} chat_commands[] = {
    {"/help", "these commands"},
    {"/reset", "forget the conversation (the system message stays)"},
    {"/system", "show the system message"},
    {"/system TEXT", "set the system message (and forget the conversation)"},
    {"/system --clear", "remove the system message (and forget the conversation)"},
    {"/stats", "numbers about the last answer: tokens, speed, memory, seed"},
    {"/quit", "leave (also /exit, /bye, or Ctrl-D at an empty prompt)"},
};

static void print_commands(void)
{
    for (size_t i = 0; i < sizeof chat_commands / sizeof chat_commands[0]; i++)
        printf("  %-17s %s\n", chat_commands[i].usage, chat_commands[i].what);
}

static void usage(void)
{
    printf("Usage: tektra [chat] [OPTIONS]\n\n"
           "Chat with a model in the terminal. Type a message and press Enter; the answer is\n"
           "streamed as it is written. Ctrl-C stops an answer, Ctrl-D (or /quit) leaves.\n"
           "A message of several lines: paste it (Enter sends it), end lines with \\, or\n"
           "put it between lines of \"\"\" (as in ollama).\n\n"
           "Options:\n%s"
           "  -p, --prompt TEXT      answer this one message and exit\n"
           "      --system TEXT      system message for the conversation\n"
           "  -h, --help             show this help\n\n"
           "Commands in the chat:\n",
           app_settings_help);
    print_commands();
}

/* Collects the streamed answer and prints it as it comes. */
typedef struct answer {
    char *text;
    size_t len, cap;
} answer;

static bool on_text(const char *text, size_t len, const tk_token_info *infos, int n_infos,
                    void *user)
{
    answer *a = user;
    (void)infos;
    (void)n_infos;
    if (interrupted) return false;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (a->len + len + 1 > a->cap) {
        size_t nc = (a->cap ? a->cap * 2 : 1024) + len;
        char *nt = realloc(a->text, nc);
        if (!nt) return false;
        a->text = nt;
        a->cap = nc;
    }
    memcpy(a->text + a->len, text, len);
    a->len += len;
    a->text[a->len] = '\0';
    return !interrupted;
}

/* `have`: a model has answered (numbers of an answer without a model, or
 * of none, would all be zeros). */
static void print_stats(const tk_metrics *m, bool have, bool model)
{
    if (!model) {
        printf("No numbers: no model is loaded, so nothing has been generated.\n");
        return;
    }
    if (!have) {
        printf("No answer yet: /stats shows the numbers of the last answer once there is one.\n");
        return;
    }
    printf("prompt:    %lld tokens, %.1f tokens/s\n", (long long)m->n_prompt_tokens, m->prompt_tps);
    printf("generated: %lld tokens, %.1f tokens/s\n", (long long)m->n_gen_tokens, m->gen_tps);
    printf("first token after %.3f s, total %.3f s\n", m->ttft_s, m->total_s);
    printf("peak memory: %.1f MiB\n", (double)m->peak_rss / (1 << 20));
    static const char *const finish[] = {"stop", "length (max tokens)", "context full",
                                         "cancelled"};
    printf("finished by: %s\n", finish[m->finish]);
    printf("seed: %llu\n", (unsigned long long)m->seed);
}

static bool was_interrupted(void *user)
{
    (void)user;
    return interrupted != 0;
}

/* Says on stderr that earlier turns were dropped: dim on a terminal, as a
 * remark beside the conversation rather than part of it. */
static void note_dropped(int n)
{
    bool tty = isatty(STDERR_FILENO);
    fprintf(stderr, "%s[dropped %d earlier turn%s to fit the context]%s\n", tty ? "\x1b[2m" : "", n,
            n == 1 ? "" : "s", tty ? "\x1b[0m" : "");
}

/* One answer to the conversation in `h` (its last message is the user's),
 * on session `sess` with a context of `n_ctx` tokens. `one_shot` (-p):
 * Ctrl-C exits 130 with the note on stderr, and no advice about chat
 * commands. */
static int ask(tk_session *sess, int64_t n_ctx, chat_history *h, const tk_gen_params *g,
               tk_metrics *m, bool verbose, bool one_shot)
{
    /* Room for an answer: max_tokens, but at most a quarter of the
     * context, so a long conversation keeps most of its turns. */
    int64_t reserve = g->max_tokens < n_ctx / 4 ? g->max_tokens : n_ctx / 4;
    int n_dropped = 0;
    tk_status s = chat_history_fit(h, sess, n_ctx, reserve, &n_dropped);
    if (s != TK_OK) {
        app_error("%s", tk_last_error());
        chat_history_pop(h);
        return APP_EXIT_FAIL;
    }
    if (n_dropped > 0) note_dropped(n_dropped);

    answer a = {0};
    interrupted = 0;
    tk_gen_params gi = *g;
    gi.cancelled = was_interrupted; /* also while the prompt is evaluated */
    s = tk_session_chat(sess, h->msgs, h->n, &gi, on_text, &a, m);
    if (a.len == 0 || a.text[a.len - 1] != '\n') putchar('\n');
    const bool stopped = interrupted != 0;
    if (stopped && !one_shot) printf("[stopped]\n");
    interrupted = 0;
    fflush(stdout);
    if (stopped && one_shot && s == TK_OK) {
        fprintf(stderr, "tektra: stopped (Ctrl-C)\n");
        free(a.text);
        return APP_EXIT_INTERRUPTED;
    }
    if (s != TK_OK) {
        app_error("%s", tk_last_error());
        /* Earlier turns were already dropped as far as they can be: only
         * this message is too long. */
        if (s == TK_ERR_CONTEXT_FULL && !one_shot)
            fprintf(stderr, "tektra: this message does not fit the context even on its own; "
                            "start tektra with a larger -c\n");
        /* The message that was not answered leaves the history. */
        chat_history_pop(h);
        free(a.text);
        return APP_EXIT_FAIL;
    }
    if (m->finish == TK_FINISH_CONTEXT)
        fprintf(stderr, one_shot ? "tektra: stopped: the context is full\n"
                                 : "tektra: the answer stopped at the end of the context; the "
                                   "next message drops earlier turns to make room\n");
    chat_history_add(h, "assistant", a.text ? a.text : "");
    free(a.text);
    if (verbose) {
        fprintf(stderr,
                "[seed %llu; %lld prompt tokens (%lld cached), %.1f t/s; %lld generated, "
                "%.1f t/s; %.2f s]\n",
                (unsigned long long)m->seed, (long long)m->n_prompt_tokens,
                (long long)m->n_cached_tokens, m->prompt_tps, (long long)m->n_gen_tokens,
                m->gen_tps, m->total_s);
    }
    return APP_EXIT_OK;
}

int cmd_chat(int argc, char **argv)
{
    app_settings s;
    const char *system_text = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage();
            return APP_EXIT_OK;
        }
    }
    int rc = app_settings_load(&s, argc, argv);
    if (rc != APP_EXIT_OK) return rc;
    s.show_loading = true;
    for (int i = 1; i < argc; i++) {
        int r = app_settings_flag(&s, argc, argv, &i);
        if (r < 0) return APP_EXIT_USAGE;
        if (r > 0) continue;
        if (app_flag_is(argv[i], "--system")) {
            system_text = app_flag_value(argc, argv, &i);
            if (!system_text) return APP_EXIT_USAGE;
            continue;
        }
        return app_usage_error("chat", "unknown option '%s'", argv[i]);
    }

    tk_engine *e;
    rc = app_open_engine(&s, &e);
    if (rc != APP_EXIT_OK) return rc;
    /* The chat's own session: its KV cache keeps the conversation, and it
     * counts the conversation's tokens to keep it within the context. */
    tk_session *sess;
    if (tk_session_create(e, &sess) != TK_OK) {
        app_error("%s", tk_last_error());
        tk_engine_free(e);
        return APP_EXIT_FAIL;
    }
    const int64_t n_ctx = tk_engine_n_ctx(e);
    tk_gen_params g;
    tk_gen_params_from_config(&g, &s.config);

    tk_platform_on_interrupt(on_sigint);

    chat_history h = {0};
    if (system_text) chat_history_add(&h, "system", system_text);
    tk_metrics m;
    memset(&m, 0, sizeof m);
    bool have_stats = false;

    if (s.prompt) {
        chat_history_add(&h, "user", s.prompt);
        rc = ask(sess, n_ctx, &h, &g, &m, s.verbose, true);
        chat_history_free(&h);
        tk_session_free(sess);
        tk_engine_free(e);
        return rc;
    }

    bool tty = isatty(STDIN_FILENO);
    if (tty) {
        printf("tektra %s - %s backend (%s)%s\n", tk_version(), tk_engine_backend_name(e),
               tk_engine_display_name(e), tk_engine_has_model(e) ? "" : ", no model loaded");
        if (!tk_engine_has_model(e)) {
            /* First run: say what to do before the user types anything. */
            char help[4096];
            const char *named = s.config.model_path[0] ? s.config.model_path : NULL;
            tk_hub_help_text(&s.config, &s.platform, named, help, sizeof help);
            printf("\n%s\n", help);
        }
        printf("Type a message, /help for commands, Ctrl-D to leave. \"\"\" starts a block of "
               "lines.\n");
    }
    chat_input_init(tty, &interrupted);
    for (;;) {
        interrupted = 0;
        char *line;
        bool multi;
        chat_input_status in = chat_read_message(&line, &multi);
        if (in == CHAT_INPUT_INTERRUPTED && tty) {
            putchar('\n');
            continue;
        }
        if (in == CHAT_INPUT_TOO_LONG) {
            app_error("that message is longer than %d bytes; it was not sent", CHAT_MESSAGE_MAX);
            continue;
        }
        if (in != CHAT_INPUT_OK) {
            /* Ctrl-D at the prompt: the shell's prompt starts on a line of
             * its own. */
            if (in == CHAT_INPUT_EOF && tty) putchar('\n');
            break;
        }
        /* A /command is typed on one line: a block, joined lines or a
         * pasted text that starts with '/' is a message, except that
         * /system takes text of several lines. */
        bool one_line = !multi && !strchr(line, '\n');
        if (line[0] == '/' && (one_line || strncmp(line, "/system ", 8) == 0)) {
            if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0 ||
                strcmp(line, "/bye") == 0) {
                free(line);
                break;
            } else if (strcmp(line, "/help") == 0) {
                printf("Commands:\n");
                print_commands();
                printf("A message of several lines: paste it, end lines with \\, or put it "
                       "between lines of \"\"\".\n");
            } else if (strcmp(line, "/reset") == 0) {
                chat_history_clear(&h, true);
                printf("Conversation forgotten.\n");
            } else if (strcmp(line, "/system") == 0 || strcmp(line, "/system ") == 0) {
                if (h.n > 0 && strcmp(h.msgs[0].role, "system") == 0)
                    printf("System message: %s\n", h.msgs[0].content);
                else
                    printf("No system message. /system TEXT sets one.\n");
            } else if (strcmp(line, "/system --clear") == 0) {
                chat_history_clear(&h, false);
                printf("System message removed; conversation forgotten.\n");
            } else if (strncmp(line, "/system ", 8) == 0) {
                chat_history_clear(&h, false);
                chat_history_add(&h, "system", line + 8);
                printf("System message set; conversation forgotten.\n");
            } else if (strcmp(line, "/stats") == 0) {
                print_stats(&m, have_stats, tk_engine_has_model(e));
            } else {
                printf("Unknown command '%s'. Commands: /help /reset /system /stats /quit\n", line);
            }
            fflush(stdout);
            free(line);
            continue;
        }
        if (!*line) {
            free(line);
            continue;
        }
        bool added = chat_history_add(&h, "user", line);
        free(line);
        if (!added) {
            app_error("out of memory");
            continue;
        }
        if (ask(sess, n_ctx, &h, &g, &m, s.verbose, false) == APP_EXIT_OK && m.n_prompt_tokens > 0)
            have_stats = true;
    }
    chat_input_end();
    chat_history_free(&h);
    tk_session_free(sess);
    tk_engine_free(e);
    return APP_EXIT_OK;
}
