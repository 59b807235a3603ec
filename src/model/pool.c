/* A fixed set of worker threads that run one function at a time on all
 * threads together (fork-join). The caller takes part as thread 0, so a
 * pool of 1 runs everything on the caller's thread with no locking. */
#include "model/model.h"

#include <stdlib.h>

struct model_pool {
    int n;              /* threads, the caller included */
    pthread_t *threads; /* [n - 1] */
    pthread_mutex_t mu;
    pthread_cond_t start; /* a new job (gen advanced) or quit */
    pthread_cond_t done;  /* pending reached 0 */
    uint64_t gen;         /* job counter */
    int pending;          /* workers still running the current job */
    bool quit;
    model_pool_fn fn;
    void *arg;
    struct pool_worker *workers; /* [n - 1] */
};

typedef struct pool_worker {
    model_pool *pool;
    int ith;
} pool_worker;

static void *pool_main(void *p)
{
    pool_worker *w = p;
    model_pool *pool = w->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (pool->gen == seen && !pool->quit) pthread_cond_wait(&pool->start, &pool->mu);
        if (pool->quit) break;
        seen = pool->gen;
        model_pool_fn fn = pool->fn;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->mu);
        fn(arg, w->ith, pool->n);
        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

tk_status model_pool_create(int n, model_pool **out)
{
    *out = NULL;
    if (n < 1 || n > MODEL_MAX_THREADS)
        return core_error(TK_ERR_INVALID_ARG, "thread count %d outside [1, %d]", n,
                          MODEL_MAX_THREADS);
    model_pool *p = core_calloc(1, sizeof *p);
    if (!p) return core_error(TK_ERR_NOMEM, "thread pool");
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    if (n > 1) {
        p->threads = core_calloc((size_t)n - 1, sizeof *p->threads);
        p->workers = core_calloc((size_t)n - 1, sizeof *p->workers);
        if (!p->threads || !p->workers) {
            model_pool_free(p);
            return core_error(TK_ERR_NOMEM, "thread pool of %d", n);
        }
        /* p->n is the number of threads actually started, so a failure
         * part-way leaves a pool that frees correctly. The workers read
         * pool->n only inside jobs, after all have started. */
        for (int i = 0; i < n - 1; i++) {
            p->workers[i] = (pool_worker){p, i + 1};
            if (pthread_create(&p->threads[i], NULL, pool_main, &p->workers[i]) != 0) {
                model_pool_free(p);
                return core_error(TK_ERR_NOMEM, "cannot start worker thread %d of %d", i + 1, n);
            }
            p->n = i + 2;
        }
    }
    *out = p;
    return TK_OK;
}

void model_pool_free(model_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n - 1; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p->workers);
    free(p);
}

void model_pool_run(model_pool *p, model_pool_fn fn, void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

int model_pool_size(const model_pool *p)
{
    return p->n;
}
