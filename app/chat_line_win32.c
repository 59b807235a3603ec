/* The chat's line source on Windows: see chat.h. The console's own line
 * input (cooked mode) does the editing - cursor keys, Home/End, the
 * history of this session on Up/Down and F7 - and ReadConsoleW gives the
 * line as UTF-16, which becomes UTF-8 here, so any character can be typed
 * whatever the console's code page. */
#include "chat.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t *stop_flag; /* set by the chat's Ctrl-C handler */

void chat_line_init(volatile sig_atomic_t *interrupted)
{
    stop_flag = interrupted;
}

void chat_line_end(void) {}

char *chat_line_read(const char *prompt)
{
    fputs(prompt, stdout);
    fflush(stdout);
    HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
    size_t cap = 1024, n = 0;
    wchar_t *w = malloc(cap * sizeof *w);
    if (!w) return NULL;
    for (;;) {
        if (cap - n < 512) {
            if (cap > (size_t)CHAT_MESSAGE_MAX * 2) break; /* the caller says too long */
            wchar_t *nw = realloc(w, cap * 2 * sizeof *nw);
            if (!nw) {
                free(w);
                return NULL;
            }
            w = nw;
            cap *= 2;
        }
        DWORD got = 0;
        BOOL ok = ReadConsoleW(in, w + n, (DWORD)(cap - n - 1), &got, NULL);
        if (!ok || got == 0) {
            /* Ctrl-C (the handler runs on another thread: give it a moment
             * to set the flag) or the end of input. */
            if (!(stop_flag && *stop_flag)) Sleep(50);
            free(w);
            return NULL;
        }
        n += got;
        if (n > 0 && w[n - 1] == L'\n') break;
    }
    while (n > 0 && (w[n - 1] == L'\n' || w[n - 1] == L'\r')) n--;
    w[n] = 0;
    /* Ctrl-Z then Enter: the end of input, as Ctrl-D on a terminal. */
    if (n == 1 && w[0] == 0x1a) {
        free(w);
        return NULL;
    }
    int len = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *line = len > 0 ? malloc((size_t)len) : NULL;
    if (line) WideCharToMultiByte(CP_UTF8, 0, w, -1, line, len, NULL, NULL);
    free(w);
    return line;
}

void chat_line_remember(const char *message)
{
    /* The console keeps the history of the lines typed itself. */
    (void)message;
}
