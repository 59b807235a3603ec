/* End to end: the assistant with a real model. `tektra run` reproduces the
 * reference's greedy text, `-p -` reads stdin, the chat REPL works through
 * pipes (multi-turn, /commands, EOF) and through a pseudo-terminal (line
 * editing history, Ctrl-C stopping an answer but not the program). */
#include "check.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <util.h> /* forkpty: <util.h> on macOS, <pty.h> with glibc */
#else
#include <pty.h>
#endif

static proc_result r;

static void core_copy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}
static char model[4096];

/* Commands run with no user config dir and an empty model store. */
#define run(...)                                                                                   \
    proc_runf(&r, "export XDG_CONFIG_HOME=/nonexistent TEKTRA_MODELS=/nonexistent", __VA_ARGS__)

/* The token ids of the reference's greedy continuation. */
static int read_greedy(const char *name, int *ids, int max)
{
    char *text = NULL;
    FILE *f = fopen(shared_path(name), "r");
    if (!f) return 0;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    text = strstr(buf, "greedy=");
    if (!text) return 0;
    text += 7;
    int k = 0;
    while (k < max && *text && *text != '\n' && *text != ' ') {
        ids[k++] = (int)strtol(text, &text, 10);
        if (*text == ',') text++;
    }
    return k;
}

static void test_run_reproduces_reference(void)
{
    const struct {
        const char *prompt, *txt, *greedy;
    } cases[] = {
        {"Once upon a time", "oracle/stories260K-p1.txt", "oracle/stories260K-p1.greedy"},
        {"Lily and Tom went to the park. They saw a", "oracle/stories260K-p2.txt",
         "oracle/stories260K-p2.greedy"},
    };
    for (int c = 0; c < 2; c++) {
        run("$TK_BIN/tektra run -m %s -p '%s' --temp 0 -n 100", model, cases[c].prompt);
        CHECK_INT(r.rc, 0);
        /* The reference's text (prompt + continuation, with the leading
         * space its detokenizer keeps after BOS) starts what we print. */
        static char want[65536];
        FILE *f = fopen(shared_path(cases[c].txt), "r");
        size_t n = f ? fread(want, 1, sizeof want - 1, f) : 0;
        if (f) fclose(f);
        want[n] = '\0';
        while (n > 0 && (want[n - 1] == '\n' || want[n - 1] == ' ')) want[--n] = '\0';
        const char *w = want[0] == ' ' ? want + 1 : want;
        CHECK_MSG(strncmp(r.out, w, strlen(w)) == 0, "case %d:\nours: %s\nwant: %s", c, r.out, w);

        /* And the ids are the reference's, all 100 of them. */
        int ids[128];
        int n_ids = read_greedy(cases[c].greedy, ids, 128);
        CHECK_INT(n_ids, 100);
        char esc[65536];
        size_t k = 0;
        for (const char *p = r.out; *p && k + 8 < sizeof esc; p++) {
            if (*p == '\'') {
                memcpy(esc + k, "'\\''", 4);
                k += 4;
            } else {
                esc[k++] = *p;
            }
        }
        while (k > 0 && esc[k - 1] == '\n') k--;
        esc[k] = '\0';
        run("$TK_BIN/tektra tokenize -m %s --ids-only --add-special '%s'", model, esc);
        char want_ids[4096];
        size_t used = 0;
        run("$TK_BIN/tektra tokenize -m %s --ids-only --add-special '%s'", model, cases[c].prompt);
        char prompt_ids[1024];
        core_copy(prompt_ids, r.out, sizeof prompt_ids);
        used = (size_t)snprintf(want_ids, sizeof want_ids, "%s", prompt_ids);
        while (used > 0 && (want_ids[used - 1] == '\n')) want_ids[--used] = '\0';
        for (int i = 0; i < n_ids; i++)
            used += (size_t)snprintf(want_ids + used, sizeof want_ids - used, " %d", ids[i]);
        run("$TK_BIN/tektra tokenize -m %s --ids-only --add-special '%s'", model, esc);
        CHECK_MSG(strncmp(r.out, want_ids, strlen(want_ids)) == 0, "ids:\nours: %s\nwant: %s",
                  r.out, want_ids);
    }

    /* -p - reads the prompt from stdin; --no-echo prints only the answer. */
    run("printf 'Once upon a time' | $TK_BIN/tektra run -m %s -p - --temp 0 -n 8 --no-echo", model);
    CHECK_INT(r.rc, 0);
    CHECK_STR(r.out, ", there was a little girl\n");
    /* A stop string ends the answer before it, and nothing of it shows. */
    run("$TK_BIN/tektra run -m %s -p 'Once upon a time' --temp 0 -n 40 --no-echo --stop Lily",
        model);
    CHECK_INT(r.rc, 0);
    CHECK_STR(r.out, ", there was a little girl named \n");
    /* -n bounds the answer; the same seed gives the same text. */
    char first[4096];
    run("$TK_BIN/tektra run -m %s -p 'Once' --temp 1 --seed 7 -n 20 --no-echo", model);
    CHECK_INT(r.rc, 0);
    core_copy(first, r.out, sizeof first);
    run("$TK_BIN/tektra run -m %s -p 'Once' --temp 1 --seed 7 -n 20 --no-echo", model);
    CHECK_STR(r.out, first);
    /* Verbose mode reports the seed and the numbers. */
    run("$TK_BIN/tektra run -m %s -p 'Once' -n 5 -v --no-echo 2>&1 >/dev/null", model);
    CHECK_CONTAINS(r.out, "tektra: seed ");
    CHECK_CONTAINS(r.out, "generated 5 tokens");
    /* A prompt longer than the context is an error with the numbers. */
    run("$TK_BIN/tektra run -m %s -c 16 -p 'Once upon a time there was a little girl named Lily "
        "and she liked to play in the park' -n 5",
        model);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "the context holds 16");
    /* benchmark_on_startup measures the backend on the loaded model. */
    run("TEKTRA_BENCHMARK=true $TK_BIN/tektra run -m %s -p 'Once' -n 3 --no-echo", model);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "benchmark: GGUF ");
    CHECK_CONTAINS(r.out, " tokens/s");
    /* --chat uses a chat template (a built-in one for this model). */
    run("$TK_BIN/tektra run -m %s -p 'Hello' --chat -n 10 --temp 0", model);
    CHECK_INT(r.rc, 0);
}

/* -m NAME finds a model in the store; with no model named, the store's
 * model is used. */
static void test_model_names(void)
{
    char dir[] = "/tmp/tk_assistant_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    run("cp %s %s/stories.gguf && TEKTRA_MODELS=%s $TK_BIN/tektra run -m stories -p Once -n 3 "
        "--temp 0 --no-echo",
        model, dir, dir);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "upon a time");
    /* info takes store names as -m does; run takes the prompt as words. */
    run("TEKTRA_MODELS=%s $TK_BIN/tektra info stories", dir);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "/stories.gguf\n");
    CHECK_CONTAINS(r.out, "architecture   llama");
    run("TEKTRA_MODELS=%s $TK_BIN/tektra info storys", dir);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "did you mean this model in the store?\n  stories.gguf\n");
    run("TEKTRA_MODELS=%s $TK_BIN/tektra info qwen2.5:0.5b", dir);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "get it with: tektra pull qwen2.5:0.5b");
    run("TEKTRA_MODELS=%s $TK_BIN/tektra run -m stories --temp 0 -n 3 --no-echo Once upon", dir);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "a time");
    run("TEKTRA_MODELS=%s $TK_BIN/tektra run -m stories 'Once upon' -n 3 --temp 0", dir);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "Once upon a time");
    run("TEKTRA_MODELS=%s $TK_BIN/tektra run -m stories -p Once upon", dir);
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.out, "two prompts");
    run("TEKTRA_MODELS=%s $TK_BIN/tektra run Once -m stories upon", dir);
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.out, "quote the prompt");
    run("echo hi | TEKTRA_MODELS=%s $TK_BIN/tektra -n 3 --temp 0", dir);
    CHECK_INT(r.rc, 0);
    CHECK(strstr(r.out, "no language model") == NULL);
    /* A catalogue name that was never pulled: an error that says how to get it. */
    run("TEKTRA_MODELS=%s $TK_BIN/tektra run -m qwen2.5-0.5b -p Once -n 3", dir);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "tektra pull qwen2.5-0.5b");
    /* A truncated file: the error names it once and says why it may be
     * short; tektra list gives the reason in full, below the table. */
    run("head -c 600000 %s > %s/trunc.gguf && $TK_BIN/tektra -m %s/trunc.gguf -p Once", model, dir,
        dir);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "runs past the end of the file");
    CHECK_CONTAINS(r.out, "; the file ends early - an incomplete download?\n");
    const char *first = strstr(r.out, "trunc.gguf");
    CHECK_MSG(first && !strstr(first + 1, "trunc.gguf"), "the name is not there once: %s", r.out);
    run("TEKTRA_MODELS=%s $TK_BIN/tektra list", dir);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "  unreadable (see below)  ");
    CHECK_CONTAINS(r.out, "/trunc.gguf\n");
    CHECK_CONTAINS(r.out, "\ntrunc.gguf: unreadable: tensor 19 'blk.1.ffn_up.weight': data ");
    CHECK_CONTAINS(r.out, "an incomplete download?\n");
    run("rm -rf %s", dir);
}

/* The prompt tokens of each answer in -v output ("[seed S; N prompt
 * tokens"); returns how many answers there were. */
static int prompt_tokens(const char *out, int *n, int max)
{
    int k = 0;
    for (const char *p = strstr(out, "[seed "); p; p = strstr(p + 1, "[seed ")) {
        unsigned long long seed;
        int t;
        if (sscanf(p, "[seed %llu; %d prompt tokens", &seed, &t) == 2 && k < max) n[k] = t;
        k++;
    }
    return k;
}

/* Multi-line messages through a pipe: a """ block and lines joined by a
 * trailing backslash are one message each, the same one. */
static void test_multiline_pipes(void)
{
    int n[8], one_line;
    run("printf 'line one\\n' | $TK_BIN/tektra -m %s -n 2 -v 2>&1 >/dev/null", model);
    CHECK_INT(prompt_tokens(r.out, n, 8), 1);
    one_line = n[0];
    static const char *const forms[] = {
        "'\"\"\"\\nline one\\nline two\\n\"\"\"\\n'",
        "'\"\"\"line one\\nline two\"\"\"\\n'",
        "'line one\\\\\\nline two\\n'",
    };
    int want = 0;
    for (int i = 0; i < 3; i++) {
        run("printf %s | $TK_BIN/tektra -m %s -n 2 -v 2>&1 >/dev/null", forms[i], model);
        CHECK_INT(r.rc, 0);
        CHECK_MSG(prompt_tokens(r.out, n, 8) == 1, "form %d: not one message: %s", i, r.out);
        if (i == 0) want = n[0];
        CHECK_MSG(n[0] == want && n[0] > one_line, "form %d: %d prompt tokens, want %d (> %d)", i,
                  n[0], want, one_line);
    }
    /* A /command is still one line; the block's text is not a command. */
    run("printf '\"\"\"\\n/stats\\n\"\"\"\\n/stats\\n' | $TK_BIN/tektra -m %s -n 2 -v", model);
    CHECK_INT(r.rc, 0);
    CHECK_INT(prompt_tokens(r.out, n, 8), 1);
    CHECK_CONTAINS(r.out, "generated: 2 tokens");
}

static void test_repl_pipes(void)
{
    run("printf 'Once upon a time\\n/stats\\nThe end\\n/reset\\n/quit\\n' | $TK_BIN/tektra -m %s "
        "--temp 0 -n 12",
        model);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "generated: 12 tokens");
    CHECK_CONTAINS(r.out, "finished by: length (max tokens)");
    CHECK_CONTAINS(r.out, "Conversation forgotten");
    /* A conversation that outgrows the context goes on: the oldest turns
     * are dropped (one plain note on stderr, not a tty here) and every
     * later message is answered. */
    run("printf 'Once upon a time there was a girl\\nShe liked to play in the park with her "
        "friends and her dog\\nThe dog ran to the tree\\nThey all went home\\n/stats\\n' | "
        "$TK_BIN/tektra -m %s -c 64 --temp 0 -n 8",
        model);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "[dropped 1 earlier turn to fit the context]\n");
    CHECK_MSG(strstr(r.out, "tektra: the prompt is") == NULL, "a turn failed: %s", r.out);
    CHECK_MSG(strstr(r.out, "\x1b[") == NULL, "escape codes in piped output: %s", r.out);
    CHECK_CONTAINS(r.out, "generated: 8 tokens");
    /* A message too long even alone fails with the numbers; the chat goes
     * on and the next message is answered. */
    run("printf 'Once upon a time there was a girl who liked to play in the park with her friends "
        "and her dog and her cat and the sun was shining all day long in the sky\\nHi\\n"
        "/stats\\n' | $TK_BIN/tektra -m %s -c 64 --temp 0 -n 8",
        model);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "the context holds 64");
    CHECK_CONTAINS(r.out, "does not fit the context even on its own");
    CHECK_CONTAINS(r.out, "generated: 8 tokens");
    /* A context longer than the model's training context: a warning, once. */
    run("$TK_BIN/tektra run -m %s -c 4096 -p Once -n 2 2>&1 >/dev/null", model);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "the context size 4096 (-c) is more than the 2048 tokens stories260K");
    const char *w = strstr(r.out, "warning");
    CHECK_MSG(w && !strstr(w + 1, "warning"), "not exactly one warning: %s", r.out);
    run("$TK_BIN/tektra run -m %s -c 2048 -p Once -n 2 2>&1 >/dev/null", model);
    CHECK_INT(r.rc, 0);
    CHECK_MSG(strstr(r.out, "warning") == NULL, "warned at the training context: %s", r.out);
    /* /bye leaves, as in ollama: nothing after it is answered. */
    run("printf '/bye\\nOnce upon a time\\n' | $TK_BIN/tektra -m %s -n 3 -v", model);
    CHECK_INT(r.rc, 0);
    CHECK_MSG(strstr(r.out, "[seed ") == NULL, "answered after /bye: %s", r.out);
    /* /system alone shows the system message; --clear removes it. */
    run("printf '/system\\n/system Be kind.\\n/system\\n/system --clear\\n/system\\n' | "
        "$TK_BIN/tektra -m %s",
        model);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "No system message. /system TEXT sets one.\nSystem message set; "
                          "conversation forgotten.\nSystem message: Be kind.\nSystem message "
                          "removed; conversation forgotten.\nNo system message.");
    /* --system shows there too. */
    run("printf '/system\\n' | $TK_BIN/tektra -m %s --system 'Be brief.'", model);
    CHECK_CONTAINS(r.out, "System message: Be brief.\n");
    /* No answer yet: /stats says so. EOF ends cleanly. */
    run("printf '/stats\\n' | $TK_BIN/tektra -m %s", model);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "No answer yet");
    CHECK(strstr(r.out, "0 tokens") == NULL);
}

/* ---- a pseudo-terminal --------------------------------------------------- */

typedef struct pty_proc {
    int fd;
    pid_t pid;
    char out[1 << 16];
    size_t len;
} pty_proc;

static const char *pty_term = "dumb"; /* TERM of the programs started */

static bool pty_start(pty_proc *p, char *const argv[])
{
    memset(p, 0, sizeof *p);
    p->pid = forkpty(&p->fd, NULL, NULL, NULL);
    if (p->pid < 0) return false;
    if (p->pid == 0) {
        setenv("TERM", pty_term, 1);
        setenv("TEKTRA_MODELS", "/nonexistent", 1);
        setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
        execv(argv[0], argv);
        _exit(127);
    }
    return true;
}

/* Reads what the program prints until `want` appears (or `ms` pass). */
static bool pty_wait_for(pty_proc *p, const char *want, int ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (p->len && strstr(p->out, want)) return true;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int elapsed = (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (elapsed >= ms) return false;
        struct pollfd pfd = {p->fd, POLLIN, 0};
        if (poll(&pfd, 1, ms - elapsed) <= 0) continue;
        ssize_t n = read(p->fd, p->out + p->len, sizeof p->out - 1 - p->len);
        if (n <= 0) return p->len && strstr(p->out, want);
        p->len += (size_t)n;
        p->out[p->len] = '\0';
        if (p->len > sizeof p->out - 1024) {
            /* Keep the tail. */
            memmove(p->out, p->out + p->len / 2, p->len - p->len / 2 + 1);
            p->len -= p->len / 2;
        }
    }
}

/* Waits for `marker` and then for the prompt after it. */
static bool pty_wait_prompt_after(pty_proc *p, const char *marker, int ms)
{
    if (!pty_wait_for(p, marker, ms)) return false;
    for (int waited = 0; waited < ms; waited += 100) {
        const char *m = strstr(p->out, marker);
        if (m && strstr(m, "\r\n> ")) return true;
        pty_wait_for(p, "\x01never", 100);
    }
    return false;
}

/* Types `keys`, as a person would: not within microseconds of the prompt.
 * (The line editor prints the prompt before it switches the terminal to its
 * own mode; keys that arrive in between are taken by the tty driver.) */
static void pty_send(pty_proc *p, const char *keys)
{
    usleep(200 * 1000);
    ssize_t n = write(p->fd, keys, strlen(keys));
    (void)n;
}

/* Waits up to `ms` for the program to exit: its exit code, or -1 when it
 * is still running. */
static int pty_exited(pty_proc *p, int ms)
{
    int st = 0;
    for (int waited = 0; waited <= ms; waited += 100) {
        pty_wait_for(p, "\x01never", 50);
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            close(p->fd);
            p->pid = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(50 * 1000); /* the output may already be closed */
    }
    return -1;
}

/* Sends `keys` until the program exits. The line editor switches the
 * terminal mode at each prompt and may flush keys that arrive in the
 * switch, as a tty does; a person simply presses the key again. */
static int pty_finish_with(pty_proc *p, const char *keys)
{
    for (int tries = 0; tries < 10; tries++) {
        pty_send(p, keys);
        int rc = pty_exited(p, 2000);
        if (rc >= 0) return rc;
    }
    int st;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    close(p->fd);
    return -1;
}

static void test_repl_pty(void)
{
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/tektra", getenv("TK_BIN") ? getenv("TK_BIN") : ".");
    char *argv[] = {bin, "-m", model, "--temp", "0", "-n", "6", "-c", "4096", NULL};
    pty_proc p;
    CHECK(pty_start(&p, argv));
    CHECK_MSG(pty_wait_for(&p, "Ctrl-D to leave", 20000), "no banner: %s", p.out);
    CHECK_CONTAINS(p.out, "GGUF backend");

    /* A message, then the same message again from the history (up arrow). */
    pty_send(&p, "Once upon a time\r");
    CHECK_MSG(pty_wait_for(&p, "> ", 20000), "no second prompt: %s", p.out);
    p.len = 0;
    p.out[0] = '\0';
    pty_send(&p, "\x1b[A\r");
    CHECK_MSG(pty_wait_for(&p, "Once upon a time", 20000), "history not recalled: %s", p.out);
    CHECK_MSG(pty_wait_for(&p, "> ", 20000), "no prompt after history: %s", p.out);

    /* Ctrl-C during a long answer stops the answer, not the program. */
    pty_send(&p, "/stats\r");
    CHECK(pty_wait_for(&p, "finished by", 20000));
    CHECK(pty_wait_prompt_after(&p, "seed: ", 20000));
    CHECK_INT(pty_finish_with(&p, "/quit\r"), 0);

    char *argv2[] = {bin, "-m", model, "--temp", "0", "-n", "100000", "-c", "8192", NULL};
    CHECK(pty_start(&p, argv2));
    CHECK(pty_wait_for(&p, "Ctrl-D to leave", 20000));
    pty_send(&p, "Once upon a time\r");
    CHECK(pty_wait_for(&p, "Lily", 20000)); /* the answer has started */
    pty_send(&p, "\x03");                   /* Ctrl-C */
    CHECK_MSG(pty_wait_for(&p, "[stopped]", 20000), "Ctrl-C did not stop: %.300s", p.out);
    p.len = 0;
    p.out[0] = '\0';
    pty_send(&p, "/stats\r");
    CHECK_MSG(pty_wait_for(&p, "finished by: cancelled", 20000), "stats: %s", p.out);
    /* Ctrl-D (EOF) at the prompt leaves cleanly. Keys typed before the line
     * editor has the terminal would be read by the tty driver instead, so
     * wait for the prompt. */
    CHECK(pty_wait_prompt_after(&p, "seed: ", 20000));
    int rc = pty_finish_with(&p, "\x04");
    CHECK_MSG(rc == 0, "Ctrl-D: exit %d; output: %s", rc, p.out);
    /* It ends the prompt's line: what follows starts on a line of its own. */
    size_t len = strlen(p.out);
    CHECK_MSG(len >= 2 && strcmp(p.out + len - 2, "\r\n") == 0, "Ctrl-D: the output ends '%s'",
              len > 8 ? p.out + len - 8 : p.out);
}

/* Non-ASCII typed at the prompt reaches the chat whole (the line editor
 * works in UTF-8 even when no locale is set), under LANG=C.UTF-8 and with
 * no locale variables at all: the editor echoes it, and the history holds
 * it (recalled with the up arrow). */
static void test_utf8_input_pty(void)
{
    static const char *const locales[] = {"C.UTF-8", NULL};
    static const char text[] = "h\xc3\xa9llo \xf0\x9f\x98\x80 \xe4\xb8\x96\xe7\x95\x8c "
                               "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
                               "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7";
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/tektra", getenv("TK_BIN") ? getenv("TK_BIN") : ".");
    for (size_t i = 0; i < sizeof locales / sizeof locales[0]; i++) {
        unsetenv("LC_ALL");
        unsetenv("LC_CTYPE");
        if (locales[i])
            setenv("LANG", locales[i], 1);
        else
            unsetenv("LANG");
        char *argv[] = {bin, "-m", model, "--temp", "0", "-n", "4", "-c", "4096", NULL};
        pty_proc p;
        CHECK(pty_start(&p, argv));
        CHECK_MSG(pty_wait_for(&p, "Ctrl-D to leave", 20000), "no banner: %s", p.out);
        p.len = 0;
        p.out[0] = '\0';
        pty_send(&p, text);
        CHECK_MSG(pty_wait_for(&p, text, 20000), "LANG=%s: typed text not echoed whole: %s",
                  locales[i] ? locales[i] : "(unset)", p.out);
        pty_send(&p, "\r");
        CHECK(pty_wait_prompt_after(&p, text, 20000));
        p.len = 0;
        p.out[0] = '\0';
        pty_send(&p, "\x1b[A");
        CHECK_MSG(pty_wait_for(&p, text, 20000), "LANG=%s: history lost the text: %s",
                  locales[i] ? locales[i] : "(unset)", p.out);
        CHECK_INT(pty_finish_with(&p, "\x15/quit\r"), 0);
    }
}

/* On a terminal the note about dropped turns is dim, and the chat goes on. */
static void test_context_pty(void)
{
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/tektra", getenv("TK_BIN") ? getenv("TK_BIN") : ".");
    char *argv[] = {bin, "-m", model, "--temp", "0", "-n", "8", "-c", "64", NULL};
    pty_proc p;
    CHECK(pty_start(&p, argv));
    CHECK_MSG(pty_wait_for(&p, "Ctrl-D to leave", 20000), "no banner: %s", p.out);
    static const char *const turns[] = {"Once upon a time there was a girl",
                                        "She liked to play in the park", "The dog ran"};
    for (int i = 0; i < 3; i++) {
        char keys[128];
        snprintf(keys, sizeof keys, "%s\r", turns[i]);
        pty_send(&p, keys);
        CHECK_MSG(pty_wait_prompt_after(&p, turns[i], 20000), "turn %d: no prompt: %s", i, p.out);
    }
    CHECK_CONTAINS(p.out, "\x1b[2m[dropped 1 earlier turn to fit the context]\x1b[0m");
    CHECK_MSG(strstr(p.out, "tektra: the prompt is") == NULL, "a turn failed: %s", p.out);
    CHECK_INT(pty_finish_with(&p, "/quit\r"), 0);
}

/* Long work on a terminal shows a progress line on stderr, rewritten in
 * place and wiped when done: quantize per tensor, loading a model. */
static void test_progress_pty(void)
{
    char bin[4096], out[64];
    snprintf(bin, sizeof bin, "%s/tektra", getenv("TK_BIN") ? getenv("TK_BIN") : ".");
    snprintf(out, sizeof out, "/tmp/tk_progress_%d.gguf", (int)getpid());
    char *argv[] = {bin, "quantize", model, out, "Q8_0", NULL};
    pty_proc p;
    CHECK(pty_start(&p, argv));
    CHECK_MSG(pty_wait_for(&p, "tensor data:", 20000), "no summary: %s", p.out);
    CHECK_INT(pty_exited(&p, 5000), 0);
    CHECK_CONTAINS(p.out, "\r[ 1/48] token_embd.weight  ");
    CHECK_CONTAINS(p.out, "\r[48/48] blk.4.ffn_norm.weight  F32");
    CHECK_CONTAINS(p.out, "\rwriting tk_progress_");
    /* The fallback notes start on a clean line. */
    CHECK_CONTAINS(p.out, "\rtektra: blk.0.ffn_down.weight: row length 172");
    remove(out);

    char *argv2[] = {bin, "-m", model, "-c", "256", NULL};
    CHECK(pty_start(&p, argv2));
    CHECK_MSG(pty_wait_for(&p, "Ctrl-D to leave", 20000), "no banner: %s", p.out);
    CHECK_CONTAINS(p.out, "\rloading stories260K.gguf...\r");
    CHECK_INT(pty_finish_with(&p, "/quit\r"), 0);
}

/* A bracketed paste of several lines is one message: the editor keeps the
 * newlines and Enter sends it. A line ending in \ continues on a "... "
 * prompt, and """ opens a block there too. */
static void test_multiline_pty(void)
{
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/tektra", getenv("TK_BIN") ? getenv("TK_BIN") : ".");
    run("printf 'line one\\nline two\\n' | $TK_BIN/tektra -m %s -n 2 -v 2>&1 >/dev/null", model);
    int n[8];
    CHECK_INT(prompt_tokens(r.out, n, 8), 2);
    run("printf '\"\"\"\\nline one\\nline two\\n\"\"\"\\n' | $TK_BIN/tektra -m %s -n 2 -v "
        "2>&1 >/dev/null",
        model);
    CHECK_INT(prompt_tokens(r.out, n, 8), 1);
    const int want = n[0];

    char *argv[] = {bin, "-m", model, "-n", "2", "-v", "-c", "512", NULL};
    pty_proc p;
    CHECK(pty_start(&p, argv));
    CHECK_MSG(pty_wait_for(&p, "Ctrl-D to leave", 20000), "no banner: %s", p.out);
    p.len = 0;
    p.out[0] = '\0';
    /* Terminals send a pasted newline as CR, as the Enter key. */
    pty_send(&p, "\x1b[200~line one\rline two\r\x1b[201~");
    CHECK_MSG(pty_wait_for(&p, "line two", 20000), "paste not shown: %s", p.out);
    CHECK_MSG(strstr(p.out, "[seed ") == NULL, "the paste was sent before Enter: %s", p.out);
    pty_send(&p, "\r");
    CHECK(pty_wait_prompt_after(&p, "[seed ", 20000));
    CHECK_INT(prompt_tokens(p.out, n, 8), 1);
    CHECK_MSG(n[0] == want, "paste: %d prompt tokens, want %d: %s", n[0], want, p.out);

    p.len = 0;
    p.out[0] = '\0';
    pty_send(&p, "/reset\r");
    CHECK(pty_wait_prompt_after(&p, "forgotten", 20000));
    pty_send(&p, "line one\\\r");
    CHECK_MSG(pty_wait_for(&p, "... ", 20000), "no continuation prompt: %s", p.out);
    pty_send(&p, "line two\r");
    CHECK(pty_wait_prompt_after(&p, "[seed ", 20000));
    CHECK_INT(prompt_tokens(p.out, n, 8), 1);
    CHECK_MSG(n[0] == want, "backslash: %d prompt tokens, want %d", n[0], want);

    p.len = 0;
    p.out[0] = '\0';
    pty_send(&p, "/reset\r");
    CHECK(pty_wait_prompt_after(&p, "forgotten", 20000));
    pty_send(&p, "\"\"\"\r");
    CHECK(pty_wait_for(&p, "... ", 20000));
    pty_send(&p, "line one\r");
    pty_send(&p, "line two\r");
    pty_send(&p, "\"\"\"\r");
    CHECK(pty_wait_prompt_after(&p, "[seed ", 20000));
    CHECK_INT(prompt_tokens(p.out, n, 8), 1);
    CHECK_MSG(n[0] == want, "block: %d prompt tokens, want %d", n[0], want);
    CHECK_INT(pty_finish_with(&p, "/quit\r"), 0);

    /* A terminal that knows escape sequences is asked to bracket pastes
     * while a line is read, and not while an answer is written. */
    pty_term = "xterm";
    CHECK(pty_start(&p, argv));
    pty_term = "dumb";
    CHECK_MSG(pty_wait_for(&p, "\x1b[?2004h> ", 20000), "no bracketed paste mode: %s", p.out);
    p.len = 0;
    p.out[0] = '\0';
    pty_send(&p, "Once\r");
    CHECK_MSG(pty_wait_for(&p, "[seed ", 20000), "no answer: %s", p.out);
    const char *off = strstr(p.out, "\x1b[?2004l");
    const char *seed = strstr(p.out, "[seed ");
    CHECK_MSG(off && seed && off < seed, "paste mode still on during the answer: %s", p.out);
    CHECK_INT(pty_finish_with(&p, "/quit\r"), 0);
}

int main(void)
{
    snprintf(model, sizeof model, "%s", shared_path("models/stories260K.gguf"));
    test_run_reproduces_reference();
    test_model_names();
    test_repl_pipes();
    test_multiline_pipes();
    test_repl_pty();
    test_utf8_input_pty();
    test_context_pty();
    test_progress_pty();
    test_multiline_pty();
    return check_summary();
}
