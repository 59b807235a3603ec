/* Stop strings in a stream of text: text that might be the start of a stop
 * string is held back until it is decided, so a stop string never leaks
 * into the output, not even in part. */
#ifndef TK_BACKEND_STOP_H
#define TK_BACKEND_STOP_H

#include "tektra/core.h"

typedef struct stop_matcher {
    const char *const *stops; /* borrowed */
    int n_stops;
    char *pending; /* text received but not yet released */
    size_t len, cap;
} stop_matcher;

/* Prepares a matcher for `n_stops` strings (empty strings are ignored).
 * TK_ERR_NOMEM on failure; free with stop_free(). */
tk_status stop_init(stop_matcher *m, const char *const *stops, int n_stops);
void stop_free(stop_matcher *m);

/* Adds `text`. Writes to *release the number of bytes at the start of
 * m->pending that may be shown now; the caller shows them and calls
 * stop_consume(). Returns true when a stop string was found: then *release
 * covers the text before it and the rest is to be dropped. */
tk_status stop_feed(stop_matcher *m, const char *text, size_t len, size_t *release, bool *stopped);

/* Drops the first `n` pending bytes (after showing them). */
void stop_consume(stop_matcher *m, size_t n);

/* At the end of generation, everything still pending may be shown. */
size_t stop_flush(const stop_matcher *m);

#endif
