/* Pieces of the chat REPL (app/cmd_chat.c): the conversation kept between
 * turns and how it is fitted into the context. */
#ifndef TK_APP_CHAT_H
#define TK_APP_CHAT_H

#include "app.h"

#include <signal.h>

/* The conversation: an optional system message at index 0, then user and
 * assistant messages. Every string is owned (freed by chat_history_clear /
 * chat_history_free). */
typedef struct chat_history {
    tk_message *msgs;
    int n, cap;
} chat_history;

/* Appends a message (copies of both strings). False when out of memory. */
bool chat_history_add(chat_history *h, const char *role, const char *content);
/* Removes the last message. */
void chat_history_pop(chat_history *h);
/* Forgets every message, or every one but the system message. */
void chat_history_clear(chat_history *h, bool keep_system);
void chat_history_free(chat_history *h);

/* Makes the conversation fit session `s`'s context of `n_ctx` tokens
 * before the next answer, as ollama and llama-cli do: when the rendered
 * history and `reserve` tokens for the answer do not fit, the oldest turns
 * (a user message and the answers after it) are dropped, keeping the system
 * message and the newest turns, until the prompt takes at most half the
 * context. Dropping that much at once lets the next turns reuse the KV
 * cache (the session reuses the longest common prefix) instead of
 * evaluating the whole conversation again on every turn. The newest user
 * message is always kept; when it does not fit even alone the history is
 * left as it is (the answer then fails with the numbers). *n_dropped is the
 * number of turns dropped. A session without a model has nothing to fit
 * (TK_OK, nothing dropped). */
tk_status chat_history_fit(chat_history *h, tk_session *s, int64_t n_ctx, int64_t reserve,
                           int *n_dropped);

/* ---- reading messages (app/chat_input.c) -------------------------------- */

/* The longest message the chat takes, in bytes. */
enum { CHAT_MESSAGE_MAX = 1 << 20 };

typedef enum chat_input_status {
    CHAT_INPUT_OK,
    CHAT_INPUT_EOF,         /* end of input (Ctrl-D at an empty prompt) */
    CHAT_INPUT_INTERRUPTED, /* Ctrl-C: the message being typed is dropped */
    CHAT_INPUT_TOO_LONG,    /* over CHAT_MESSAGE_MAX: read to its end, dropped */
    CHAT_INPUT_NOMEM,
} chat_input_status;

/* Prepares reading: `tty` (stdin is a terminal) uses the line editor with
 * its history and bracketed paste; `interrupted` is the flag the SIGINT
 * handler sets (borrowed for the program's life). */
void chat_input_init(bool tty, volatile sig_atomic_t *interrupted);
/* Frees what reading holds. */
void chat_input_end(void);

/* Reads one message: a line, a bracketed paste (one message however many
 * lines), a block between """ lines, or lines joined by a trailing \.
 * On CHAT_INPUT_OK *out is the message without its final newline
 * (caller frees with free()) and *multi tells whether it came from a
 * block or joined lines (a paste is one line of the editor); otherwise
 * *out is NULL. On a terminal the message goes into the line editor's
 * history. */
chat_input_status chat_read_message(char **out, bool *multi);

/* The line source of a terminal (chat_line_posix.c: libedit with bracketed
 * paste; chat_line_win32.c: the Windows console's own line editing, read
 * as UTF-16 and returned as UTF-8). chat_line_read prints the prompt and
 * returns one line without its newline (caller frees with free()), NULL at
 * the end of input or on Ctrl-C (which sets *interrupted); remember puts a
 * sent message into the editor's history. */
void chat_line_init(volatile sig_atomic_t *interrupted);
void chat_line_end(void);
char *chat_line_read(const char *prompt);
void chat_line_remember(const char *message);

#endif
