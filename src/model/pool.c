/* A fixed set of worker threads that run one function at a time on all
 * threads together (fork-join), with a barrier for the steps inside it.
 * The caller takes part as thread 0, so a pool of 1 runs everything on the
 * caller's thread with no synchronisation at all.
 *
 * A forward pass is one job with about ten barriers per layer, so both the
 * job start and the barrier spin first: a wake-up through the kernel costs
 * tens of microseconds, a spinning thread sees the change in well under
 * one. Spinning is bounded: barrier waiters yield the CPU after a short
 * spin (another process may need the core), and idle workers go to sleep
 * on a condition variable after POOL_IDLE_SPIN_S without a job. */
#include "model/model.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

#define POOL_IDLE_SPIN_S   0.002 /* a worker spins this long for the next job */
#define POOL_BARRIER_SPINS 2000  /* pauses before a barrier waiter yields */

typedef struct pool_worker {
    model_pool *pool;
    int ith;
} pool_worker;

struct model_pool {
    int n;              /* threads, the caller included */
    pthread_t *threads; /* [n - 1] */
    pool_worker *workers;

    /* Job start: gen advances once per job; fn/arg are written before. */
    _Atomic uint64_t gen;
    _Atomic bool quit;
    model_pool_fn fn;
    void *arg;
    /* Sleeping workers (after the idle spin), woken through cv. */
    _Atomic int sleeping;
    pthread_mutex_t mu;
    pthread_cond_t cv;

    /* Barrier: the last thread to arrive resets count, then advances phase. */
    _Alignas(64) _Atomic int bar_count;
    _Alignas(64) _Atomic unsigned bar_phase;
};

void model_pool_barrier(model_pool *p)
{
    if (p->n == 1) return;
    const unsigned phase = atomic_load_explicit(&p->bar_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->bar_phase, 1, memory_order_acq_rel);
        return;
    }
    int spins = 0;
    while (atomic_load_explicit(&p->bar_phase, memory_order_acquire) == phase) {
        if (++spins < POOL_BARRIER_SPINS) {
            cpu_relax();
        } else {
            sched_yield();
        }
    }
}

static void *pool_main(void *arg)
{
    pool_worker *w = arg;
    model_pool *p = w->pool;
    uint64_t seen = 0;
    for (;;) {
        double idle_since = core_now();
        int spins = 0;
        while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit)) {
            cpu_relax();
            if (++spins % 256 != 0 || core_now() - idle_since < POOL_IDLE_SPIN_S) continue;
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleeping, 1);
            /* Checked after announcing the sleep: model_pool_run advances
             * gen before reading `sleeping`, so one of us sees the other. */
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleeping, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = atomic_load(&p->gen);
        p->fn(p->arg, w->ith, p->n);
        model_pool_barrier(p);
    }
    return NULL;
}

static void pool_wake(model_pool *p)
{
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
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
    atomic_init(&p->gen, 0);
    atomic_init(&p->quit, false);
    atomic_init(&p->sleeping, 0);
    atomic_init(&p->bar_count, 0);
    atomic_init(&p->bar_phase, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (n > 1) {
        p->threads = core_calloc((size_t)n - 1, sizeof *p->threads);
        p->workers = core_calloc((size_t)n - 1, sizeof *p->workers);
        if (!p->threads || !p->workers) {
            model_pool_free(p);
            return core_error(TK_ERR_NOMEM, "thread pool of %d", n);
        }
        /* p->n counts the threads actually started, so a failure part-way
         * leaves a pool that frees correctly; workers read p->n only inside
         * jobs, which start after creation. */
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
    atomic_store(&p->quit, true);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n - 1; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
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
    p->fn = fn;
    p->arg = arg;
    atomic_fetch_add(&p->gen, 1);
    pool_wake(p);
    fn(arg, 0, p->n);
    /* Every worker meets here after its part, so the job is done for all
     * when the caller passes. */
    model_pool_barrier(p);
}

int model_pool_size(const model_pool *p)
{
    return p->n;
}
