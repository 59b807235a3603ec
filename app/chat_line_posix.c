/* The chat's line source on a terminal where libedit is (Linux, macOS): see
 * chat.h. The line editor (libedit's readline interface) gets its
 * characters from read_char() below, which decodes UTF-8 into code points
 * and turns a bracketed paste (the terminal wraps pasted text in ESC[200~
 * and ESC[201~) into quoted inserts (^V before each control character), so
 * the editor keeps the newlines instead of ending the line at the first
 * one. */
#include "chat.h"

#include <errno.h>
#include <editline/readline.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    CTRL_V = 0x16, /* ed-quoted-insert: the next character goes in as it is */
    ESC = 0x1b,
};

static volatile sig_atomic_t *stop_flag; /* set by the chat's SIGINT handler */

/* Bytes read ahead while matching an escape sequence, handed out first. */
static unsigned char ahead[8];
static int n_ahead;

/* Code points of a paste waiting to be handed to the editor. */
static int *paste;
static size_t paste_len, paste_pos;

/* One byte from the terminal; -1 at the end of input or on Ctrl-C. */
static int next_byte(FILE *f)
{
    if (n_ahead > 0) {
        int b = ahead[0];
        memmove(ahead, ahead + 1, (size_t)--n_ahead);
        return b;
    }
    for (;;) {
        unsigned char b;
        ssize_t n = read(fileno(f), &b, 1);
        if (n == 1) return b;
        /* Other signals (a resized window) interrupt a read too: only
         * Ctrl-C ends it. */
        if (n < 0 && errno == EINTR && !(stop_flag && *stop_flag)) continue;
        return -1;
    }
}

/* Decodes the UTF-8 character that starts with byte `b`; U+FFFD for bytes
 * that are not UTF-8. */
static int decode_utf8(FILE *f, int b)
{
    int n = b >= 0xf0 && b < 0xf5 ? 3 : b >= 0xe0 ? 2 : b >= 0xc2 ? 1 : b >= 0x80 ? -1 : 0;
    if (n < 0) return 0xfffd;
    unsigned char seq[4] = {(unsigned char)b};
    for (int i = 1; i <= n; i++) {
        int c = next_byte(f);
        if (c < 0) return 0xfffd;
        seq[i] = (unsigned char)c;
        if ((c & 0xc0) != 0x80) {
            /* Not a continuation: give it back, it starts the next one. */
            ahead[n_ahead++] = (unsigned char)c;
            return 0xfffd;
        }
    }
    if (app_utf8_seq(seq, (size_t)n + 1) != (size_t)n + 1) return 0xfffd;
    int cp = n == 0 ? b : n == 1 ? b & 0x1f : n == 2 ? b & 0x0f : b & 0x07;
    for (int i = 1; i <= n; i++) cp = (cp << 6) | (seq[i] & 0x3f);
    return cp;
}

static bool paste_push(size_t *cap, int cp)
{
    if (paste_len == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        int *np = realloc(paste, nc * sizeof *np);
        if (!np) return false;
        paste = np;
        *cap = nc;
    }
    paste[paste_len++] = cp;
    return true;
}

/* Reads a bracketed paste up to ESC[201~ (or CHAT_MESSAGE_MAX bytes; the
 * rest is dropped) into `paste`, as the editor is to receive it: control
 * characters quoted with ^V, CR and CRLF as newlines, trailing newlines
 * left out (Enter sends the message). */
static void read_paste(FILE *f)
{
    static const char end[] = "\x1b[201~";
    size_t cap = 0, bytes = 0, matched = 0;
    size_t newlines = 0; /* held back until more text follows them */
    bool cr = false;
    paste_len = paste_pos = 0;
    for (;;) {
        int b = next_byte(f);
        if (b < 0) break;
        if ((unsigned char)b == (unsigned char)end[matched]) {
            if (++matched == sizeof end - 1) break;
            continue;
        }
        /* A partial match that failed was text after all (only ESC and
         * '[' can be, in practice): drop it, it cannot be shown. */
        matched = (unsigned char)b == (unsigned char)end[0] ? 1 : 0;
        if (matched) continue;
        if (++bytes > CHAT_MESSAGE_MAX) continue;
        int cp = b;
        if (b == '\r' || b == '\n') {
            if (b == '\n' && cr) {
                cr = false;
                continue;
            }
            cr = b == '\r';
            newlines++;
            continue;
        }
        cr = false;
        if (b >= 0x80) cp = decode_utf8(f, b);
        for (; newlines > 0; newlines--)
            if (!paste_push(&cap, CTRL_V) || !paste_push(&cap, '\n')) return;
        if ((cp < 0x20 || cp == 0x7f) && !paste_push(&cap, CTRL_V)) return;
        if (!paste_push(&cap, cp)) return;
    }
}

/* The editor's source of characters (rl_getc_function): a code point, or
 * -1 at the end of input. */
static int read_char(FILE *f)
{
    for (;;) {
        if (paste_pos < paste_len) return paste[paste_pos++];
        int b = next_byte(f);
        if (b < 0) return -1;
        if (b == ESC) {
            /* ESC[200~ starts a paste; any other sequence is the editor's. */
            static const char start[] = "[200~";
            int got[5], k = 0;
            while (k < 5) {
                got[k] = next_byte(f);
                if (got[k] != start[k]) break;
                k++;
            }
            if (k == 5) {
                read_paste(f);
                continue;
            }
            for (int i = 0; i <= k && i < 5; i++)
                if (got[i] >= 0) ahead[n_ahead++] = (unsigned char)got[i];
            return ESC;
        }
        return b >= 0x80 ? decode_utf8(f, b) : b;
    }
}

static bool bracketed; /* the terminal is asked to bracket pastes */

/* The line editor reads characters in the locale's encoding: in the C
 * locale (no LANG at all, or LANG=C) it drops every non-ASCII byte. The
 * chat is UTF-8 whatever the environment says, so the character type
 * comes from the environment when that is UTF-8, else from C.UTF-8 (or
 * en_US.UTF-8). Only LC_CTYPE changes: numbers print as before. */
static void use_utf8_ctype(void)
{
    const char *set = setlocale(LC_CTYPE, "");
    if (set) {
        const char *cs = nl_langinfo(CODESET);
        if (cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0)) return;
    }
    if (!setlocale(LC_CTYPE, "C.UTF-8") && !setlocale(LC_CTYPE, "C.utf8"))
        setlocale(LC_CTYPE, "en_US.UTF-8");
}

void chat_line_init(volatile sig_atomic_t *interrupted)
{
    stop_flag = interrupted;
    use_utf8_ctype();
    const char *term = getenv("TERM");
    /* The request goes where the editor writes: only to a terminal that
     * understands escape sequences. */
    bracketed = term && *term && strcmp(term, "dumb") != 0 && isatty(STDOUT_FILENO);
    rl_getc_function = read_char;
    using_history();
}

void chat_line_end(void)
{
    free(paste);
    paste = NULL;
    paste_len = paste_pos = 0;
}

char *chat_line_read(const char *prompt)
{
    if (bracketed) {
        fputs("\x1b[?2004h", stdout);
        fflush(stdout);
    }
    char *line = readline(prompt);
    if (bracketed) {
        fputs("\x1b[?2004l", stdout);
        fflush(stdout);
    }
    return line;
}

void chat_line_remember(const char *message)
{
    add_history(message);
}
