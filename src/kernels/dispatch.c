/* Chooses the kernel level once per process. Only the reference level
 * exists so far; per-ISA levels will be selected here from the CPU features
 * of tk_platform_detect(), below any ceiling set by TEKTRA_KERNELS. */
#include "kernels/kernels.h"

#include "core/core.h"

#include <pthread.h>
#include <stdlib.h>

static kernels_t table_ref;
static kernels_t table_best;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void kernels_init(void)
{
    kernels_fill_ref(&table_ref);
    table_best = table_ref;
    const char *force = getenv("TEKTRA_KERNELS");
    if (force && *force && core_strcasecmp(force, "ref") != 0)
        core_log(TK_LOG_WARN, "TEKTRA_KERNELS=%s: unknown level, using '%s'", force,
                 table_best.level);
}

const kernels_t *kernels_get(void)
{
    pthread_once(&once, kernels_init);
    return &table_best;
}

const kernels_t *kernels_ref(void)
{
    pthread_once(&once, kernels_init);
    return &table_ref;
}
