/* Stop-string matching with hold-back. */
#include "backend/stop.h"

#include "core/core.h"

#include <stdlib.h>
#include <string.h>

tk_status stop_init(stop_matcher *m, const char *const *stops, int n_stops)
{
    memset(m, 0, sizeof *m);
    m->stops = stops;
    m->n_stops = stops ? n_stops : 0;
    m->cap = 256;
    m->pending = malloc(m->cap);
    if (!m->pending) return core_error(TK_ERR_NOMEM, "out of memory");
    return TK_OK;
}

void stop_free(stop_matcher *m)
{
    free(m->pending);
    memset(m, 0, sizeof *m);
}

/* Length of the longest suffix of `s` that is a proper prefix of `stop`. */
static size_t partial_overlap(const char *s, size_t len, const char *stop)
{
    size_t sl = strlen(stop);
    size_t max = TK_MIN(len, sl - 1);
    for (size_t k = max; k > 0; k--)
        if (memcmp(s + len - k, stop, k) == 0) return k;
    return 0;
}

tk_status stop_feed(stop_matcher *m, const char *text, size_t len, size_t *release, bool *stopped)
{
    *stopped = false;
    if (m->len + len + 1 > m->cap) {
        size_t nc = m->cap;
        while (m->len + len + 1 > nc) nc *= 2;
        char *np = realloc(m->pending, nc);
        if (!np) return core_error(TK_ERR_NOMEM, "out of memory");
        m->pending = np;
        m->cap = nc;
    }
    memcpy(m->pending + m->len, text, len);
    m->len += len;
    m->pending[m->len] = '\0';

    /* A complete stop string: release what stands before the earliest one. */
    size_t first = SIZE_MAX;
    for (int i = 0; i < m->n_stops; i++) {
        const char *st = m->stops[i];
        size_t sl = strlen(st);
        if (sl == 0 || sl > m->len) continue;
        for (size_t p = 0; p + sl <= m->len && p < first; p++) {
            if (memcmp(m->pending + p, st, sl) == 0) {
                first = p;
                break;
            }
        }
    }
    if (first != SIZE_MAX) {
        *release = first;
        *stopped = true;
        return TK_OK;
    }
    /* Hold back the longest tail that could still become a stop string. */
    size_t hold = 0;
    for (int i = 0; i < m->n_stops; i++) {
        if (!m->stops[i][0]) continue;
        hold = TK_MAX(hold, partial_overlap(m->pending, m->len, m->stops[i]));
    }
    *release = m->len - hold;
    return TK_OK;
}

void stop_consume(stop_matcher *m, size_t n)
{
    if (n > m->len) n = m->len;
    memmove(m->pending, m->pending + n, m->len - n);
    m->len -= n;
    m->pending[m->len] = '\0';
}

size_t stop_flush(const stop_matcher *m)
{
    return m->len;
}
