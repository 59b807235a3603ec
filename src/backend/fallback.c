/* What a backend says when it has no model. It tells the user what it
 * looked for, how to get a model that fits this machine and how to point
 * tektra at it; it never answers the question itself. */
#include "backend/backend.h"

#include "core/core.h"
#include "tektra/hub.h"

#include <stdio.h>

void backend_no_model_text(const tk_platform *p, const tk_config *c, const char *looked_for,
                           char *buf, size_t size)
{
    int n = snprintf(buf, size,
                     "I can't answer that: no language model is loaded, and I won't "
                     "make up an answer.\n");
    if (n < 0 || (size_t)n >= size) return;
    tk_hub_help_text(c, p, looked_for, buf + n, size - (size_t)n);
}
