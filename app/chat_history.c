/* The chat's conversation and fitting it into the context. */
#include "chat.h"

#include <stdlib.h>
#include <string.h>

bool chat_history_add(chat_history *h, const char *role, const char *content)
{
    if (h->n == h->cap) {
        int nc = h->cap ? h->cap * 2 : 16;
        tk_message *nm = realloc(h->msgs, (size_t)nc * sizeof *nm);
        if (!nm) return false;
        h->msgs = nm;
        h->cap = nc;
    }
    char *r = strdup(role), *c = strdup(content);
    if (!r || !c) {
        free(r);
        free(c);
        return false;
    }
    memset(&h->msgs[h->n], 0, sizeof h->msgs[h->n]);
    h->msgs[h->n].role = r;
    h->msgs[h->n].content = c;
    h->n++;
    return true;
}

static void free_message(tk_message *m)
{
    free((char *)m->role);
    free((char *)m->content);
}

void chat_history_pop(chat_history *h)
{
    if (h->n == 0) return;
    h->n--;
    free_message(&h->msgs[h->n]);
}

static bool is_system(const chat_history *h)
{
    return h->n > 0 && strcmp(h->msgs[0].role, "system") == 0;
}

void chat_history_clear(chat_history *h, bool keep_system)
{
    int keep = keep_system && is_system(h) ? 1 : 0;
    for (int i = keep; i < h->n; i++) free_message(&h->msgs[i]);
    h->n = keep;
}

void chat_history_free(chat_history *h)
{
    chat_history_clear(h, false);
    free(h->msgs);
    h->msgs = NULL;
    h->cap = 0;
}

/* Tokens of the system message (when `sys`) and msgs[first..n), rendered
 * with the template; `view` has room for h->n messages. */
static tk_status count_from(const chat_history *h, tk_session *s, int sys, int first,
                            tk_message *view, int64_t *n_tokens)
{
    int k = 0;
    if (sys) view[k++] = h->msgs[0];
    for (int i = first; i < h->n; i++) view[k++] = h->msgs[i];
    return tk_session_count_chat_tokens(s, view, k, n_tokens);
}

/* The index of the next user message after `i`, or -1. */
static int next_user(const chat_history *h, int i)
{
    for (int j = i + 1; j < h->n; j++)
        if (strcmp(h->msgs[j].role, "user") == 0) return j;
    return -1;
}

tk_status chat_history_fit(chat_history *h, tk_session *s, int64_t n_ctx, int64_t reserve,
                           int *n_dropped)
{
    *n_dropped = 0;
    if (n_ctx <= 0 || h->n == 0) return TK_OK;
    const int sys = is_system(h) ? 1 : 0;
    tk_message *view = malloc((size_t)h->n * sizeof *view);
    if (!view) return TK_ERR_NOMEM;
    int64_t n_tokens = 0;
    tk_status st = count_from(h, s, sys, sys, view, &n_tokens);
    if (st != TK_OK || n_tokens + reserve <= n_ctx) {
        free(view);
        return st == TK_ERR_NO_MODEL ? TK_OK : st;
    }
    /* Drop whole turns from the oldest; the turn of the newest user
     * message stays. */
    int first = sys, dropped = 0;
    while (n_tokens + reserve > n_ctx || n_tokens > n_ctx / 2) {
        int next = next_user(h, first);
        if (next < 0) break;
        st = count_from(h, s, sys, next, view, &n_tokens);
        if (st != TK_OK) break;
        first = next;
        dropped++;
    }
    free(view);
    if (st != TK_OK) return st;
    /* Even the newest turn alone is too long: nothing dropped, the answer
     * reports it. */
    if (n_tokens >= n_ctx) return TK_OK;
    for (int i = sys; i < first; i++) free_message(&h->msgs[i]);
    memmove(h->msgs + sys, h->msgs + first, (size_t)(h->n - first) * sizeof *h->msgs);
    h->n -= first - sys;
    *n_dropped = dropped;
    return TK_OK;
}
