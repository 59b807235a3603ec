/* Reading the chat's messages: lines from the line editor (a terminal) or
 * from stdin, joined into one message by the three multi-line forms that
 * ollama and shells have taught people:
 *
 *   - a bracketed paste (the terminal wraps pasted text in ESC[200~ and
 *     ESC[201~): the pasted lines go into the line being edited, newlines
 *     and all, and Enter sends them as one message;
 *   - """ on its own (or at the start of a line) opens a block that a line
 *     ending in """ closes;
 *   - a line that ends in \ goes on in the next line.
 *
 * On a terminal the lines come from the line editor (chat_line_*.c: libedit,
 * or the Windows console); otherwise from stdin as they are. */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t *stop_flag; /* set by the chat's Ctrl-C handler */

static bool use_tty;

void chat_input_init(bool tty, volatile sig_atomic_t *interrupted)
{
    use_tty = tty;
    stop_flag = interrupted;
    if (tty) chat_line_init(interrupted);
}

void chat_input_end(void)
{
    if (use_tty) chat_line_end();
}

/* A line from stdin without its newline, at most CHAT_MESSAGE_MAX bytes
 * (a longer one is read to its end and *too_long set); NULL at the end. */
static char *read_stdin_line(bool *too_long)
{
    size_t cap = 256, n = 0;
    char *line = malloc(cap);
    if (!line) return NULL;
    int c;
    bool any = false;
    while ((c = getchar()) != EOF) {
        any = true;
        if (c == '\n') break;
        if (n >= CHAT_MESSAGE_MAX) {
            *too_long = true;
            continue;
        }
        if (n + 1 >= cap) {
            char *nl = realloc(line, cap * 2);
            if (!nl) {
                free(line);
                return NULL;
            }
            line = nl;
            cap *= 2;
        }
        line[n++] = (char)c;
    }
    if (!any) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\r') n--;
    line[n] = '\0';
    return line;
}

static char *read_line(const char *prompt, bool *too_long)
{
    if (!use_tty) return read_stdin_line(too_long);
    char *line = chat_line_read(prompt);
    if (line && strlen(line) > CHAT_MESSAGE_MAX) *too_long = true;
    return line;
}

/* The message being put together. */
typedef struct text {
    char *s;
    size_t len, cap;
    bool too_long;
} text;

static bool text_add(text *t, const char *s, size_t n)
{
    if (t->len + n > CHAT_MESSAGE_MAX) {
        t->too_long = true;
        return true;
    }
    if (t->len + n + 1 > t->cap) {
        size_t nc = (t->len + n + 1) * 2;
        char *ns = realloc(t->s, nc);
        if (!ns) return false;
        t->s = ns;
        t->cap = nc;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
    return true;
}

static bool ends_with(const char *s, const char *end)
{
    size_t n = strlen(s), m = strlen(end);
    return n >= m && memcmp(s + n - m, end, m) == 0;
}

chat_input_status chat_read_message(char **out, bool *multi)
{
    *out = NULL;
    *multi = false;
    text t = {0};
    bool too_long = false;
    char *line = read_line("> ", &too_long);
    if (!line) return stop_flag && *stop_flag ? CHAT_INPUT_INTERRUPTED : CHAT_INPUT_EOF;
    bool ok = true;
    chat_input_status st = CHAT_INPUT_OK;
    if (strncmp(line, "\"\"\"", 3) == 0) {
        *multi = true;
        /* A block: from after the opening """ to before the closing one. */
        const char *first = line + 3;
        if (strlen(first) >= 3 && ends_with(first, "\"\"\"")) {
            ok = text_add(&t, first, strlen(first) - 3);
        } else {
            if (*first) ok = text_add(&t, first, strlen(first)) && text_add(&t, "\n", 1);
            for (;;) {
                free(line);
                line = read_line("... ", &too_long);
                if (!line) break;
                if (ends_with(line, "\"\"\"")) {
                    ok = ok && text_add(&t, line, strlen(line) - 3);
                    break;
                }
                ok = ok && text_add(&t, line, strlen(line)) && text_add(&t, "\n", 1);
            }
        }
    } else {
        /* Lines ending in \ go on in the next line. */
        while (line && ends_with(line, "\\")) {
            *multi = true;
            ok = ok && text_add(&t, line, strlen(line) - 1) && text_add(&t, "\n", 1);
            free(line);
            line = read_line("... ", &too_long);
        }
        if (line) ok = ok && text_add(&t, line, strlen(line));
    }
    if (!line && stop_flag && *stop_flag) st = CHAT_INPUT_INTERRUPTED;
    free(line);
    /* An unfinished block or continuation at the end of input is sent as
     * it is; Ctrl-C throws it away. */
    if (st == CHAT_INPUT_OK) {
        if (!ok)
            st = CHAT_INPUT_NOMEM;
        else if (t.too_long || too_long)
            st = CHAT_INPUT_TOO_LONG;
        else if (!t.s && !text_add(&t, "", 0))
            st = CHAT_INPUT_NOMEM;
    }
    if (st != CHAT_INPUT_OK) {
        free(t.s);
        return st;
    }
    /* A block's closing """ on a line of its own leaves a newline. */
    while (t.len > 0 && t.s[t.len - 1] == '\n') t.s[--t.len] = '\0';
    if (use_tty && t.len) chat_line_remember(t.s);
    *out = t.s;
    return CHAT_INPUT_OK;
}
