/* The sampling chain. Candidates are (id, logit) pairs in a buffer sized at
 * creation; each stage narrows the candidate count `n`. */
#include "tektra/sampling.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    int32_t id;
    float logit;
    float p; /* probability after the last softmax */
} cand;

struct tk_sampler {
    tk_sampler_params params;
    int32_t n_vocab;
    cand *cands;     /* [n_vocab] */
    int n_cands;     /* candidates left after the last sample */
    bool sorted;     /* cands[0..n_cands) sorted by logit, descending */
    int32_t *recent; /* ring of the last repeat_last_n accepted tokens */
    int64_t n_recent, head;
    uint16_t *counts; /* [n_vocab] occurrences in the ring */
    uint64_t rng[4];  /* xoshiro256** state */
};

void tk_sampler_params_default(tk_sampler_params *p)
{
    memset(p, 0, sizeof *p);
    p->temperature = 0.7;
    p->top_p = 0.9;
    p->top_k = 40;
    p->min_p = 0.05;
    p->repeat_penalty = 1.1;
    p->repeat_last_n = 64;
}

/* ---- random numbers: splitmix64 seeding, xoshiro256** ------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double next_double(uint64_t s[4])
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void seed_rng(tk_sampler *s)
{
    uint64_t x = s->params.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

/* ---- life cycle ---------------------------------------------------------- */

tk_status tk_sampler_create(const tk_sampler_params *p, int32_t n_vocab, tk_sampler **out)
{
    *out = NULL;
    if (n_vocab <= 0) return core_error(TK_ERR_INVALID_ARG, "sampler: n_vocab %d", n_vocab);
    if (!(p->temperature >= 0))
        return core_error(TK_ERR_INVALID_ARG, "temperature %g must be >= 0", p->temperature);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return core_error(TK_ERR_INVALID_ARG, "top_p %g must be in (0, 1]", p->top_p);
    if (!(p->min_p >= 0 && p->min_p < 1))
        return core_error(TK_ERR_INVALID_ARG, "min_p %g must be in [0, 1)", p->min_p);
    if (!(p->repeat_penalty > 0))
        return core_error(TK_ERR_INVALID_ARG, "repeat_penalty %g must be > 0", p->repeat_penalty);
    if (!isfinite(p->frequency_penalty) || !isfinite(p->presence_penalty))
        return core_error(TK_ERR_INVALID_ARG, "frequency/presence penalty must be finite");
    if (p->top_k < 0 || p->repeat_last_n < 0 || p->repeat_last_n > (1 << 20))
        return core_error(TK_ERR_INVALID_ARG, "top_k and repeat_last_n must be >= 0");
    tk_sampler *s = calloc(1, sizeof *s);
    if (!s) return core_error(TK_ERR_NOMEM, "out of memory");
    s->params = *p;
    s->n_vocab = n_vocab;
    s->cands = core_calloc((size_t)n_vocab, sizeof *s->cands);
    s->counts = core_calloc((size_t)n_vocab, sizeof *s->counts);
    s->recent = core_calloc((size_t)(p->repeat_last_n ? p->repeat_last_n : 1), sizeof *s->recent);
    if (!s->cands || !s->counts || !s->recent) {
        tk_sampler_free(s);
        return core_error(TK_ERR_NOMEM, "out of memory");
    }
    seed_rng(s);
    *out = s;
    return TK_OK;
}

void tk_sampler_free(tk_sampler *s)
{
    if (!s) return;
    free(s->cands);
    free(s->counts);
    free(s->recent);
    free(s);
}

void tk_sampler_reset(tk_sampler *s)
{
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->n_recent = 0;
    s->head = 0;
    s->n_cands = 0;
    seed_rng(s);
}

void tk_sampler_accept(tk_sampler *s, int32_t token)
{
    int64_t cap = s->params.repeat_last_n;
    if (cap == 0 || token < 0 || token >= s->n_vocab) return;
    if (s->n_recent == cap) {
        int32_t old = s->recent[s->head];
        s->counts[old]--;
    } else {
        s->n_recent++;
    }
    s->recent[s->head] = token;
    s->counts[token]++;
    s->head = (s->head + 1) % cap;
}

/* ---- stages ---------------------------------------------------------------- */

static void apply_penalties(tk_sampler *s)
{
    const tk_sampler_params *p = &s->params;
    if (s->n_recent == 0) return;
    if (p->repeat_penalty == 1 && p->frequency_penalty == 0 && p->presence_penalty == 0) return;
    /* Only tokens in the ring are touched: walk the ring, each id once. */
    for (int64_t i = 0; i < s->n_recent; i++) {
        int32_t id = s->recent[i];
        cand *c = &s->cands[id]; /* candidates are still in id order here */
        if (c->id != id) continue;
        uint16_t n = s->counts[id];
        if (n == 0) continue;
        if (p->repeat_penalty != 1)
            c->logit = c->logit > 0 ? c->logit / (float)p->repeat_penalty
                                    : c->logit * (float)p->repeat_penalty;
        c->logit -= (float)(p->frequency_penalty * n + p->presence_penalty);
        /* Mark the id as done so repeats in the ring do not penalise twice. */
        c->id = -1 - id;
    }
    for (int64_t i = 0; i < s->n_recent; i++) {
        int32_t id = s->recent[i];
        if (s->cands[id].id < 0) s->cands[id].id = id;
    }
}

static int cmp_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;
}

/* Moves the k largest candidates to the front, sorted (quickselect + sort). */
static void partial_sort(cand *c, int n, int k)
{
    if (k >= n) {
        qsort(c, (size_t)n, sizeof *c, cmp_desc);
        return;
    }
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        cand pivot = c[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (cmp_desc(&c[i], &pivot) < 0) i++;
            while (cmp_desc(&c[j], &pivot) > 0) j--;
            if (i <= j) {
                cand t = c[i];
                c[i] = c[j];
                c[j] = t;
                i++;
                j--;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
    qsort(c, (size_t)k, sizeof *c, cmp_desc);
}

/* Softmax over cands[0..n) (sorted: cands[0] is the max) at temperature 1. */
static void softmax(cand *c, int n, double temp)
{
    double max = c[0].logit, sum = 0;
    for (int i = 0; i < n; i++) {
        double e = exp(((double)c[i].logit - max) / temp);
        c[i].p = (float)e;
        sum += e;
    }
    for (int i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

int32_t tk_sampler_sample(tk_sampler *s, const float *logits)
{
    const tk_sampler_params *p = &s->params;
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) {
        s->cands[i].id = i;
        /* A NaN logit never wins. */
        s->cands[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
    }
    if (p->temperature == 0) {
        /* Greedy: the model's most likely token, penalties off, so that
         * temperature 0 reproduces the model's own greedy continuation. */
        int best = 0;
        for (int i = 1; i < n; i++)
            if (s->cands[i].logit > s->cands[best].logit) best = i;
        s->cands[0] = s->cands[best];
        s->cands[0].p = 1;
        s->n_cands = 1;
        return s->cands[0].id;
    }
    apply_penalties(s);

    /* top-k; without it, sort only as far as top-p and min-p need. */
    if (p->top_k > 0 && p->top_k < n) {
        partial_sort(s->cands, n, (int)p->top_k);
        n = (int)p->top_k;
        softmax(s->cands, n, 1.0);
    } else if (p->top_p < 1 || p->min_p > 0) {
        double max = -INFINITY, all = 0;
        for (int i = 0; i < n; i++) max = TK_MAX(max, (double)s->cands[i].logit);
        for (int i = 0; i < n; i++) all += exp((double)s->cands[i].logit - max);
        /* Grow the sorted prefix until it holds the nucleus and every token
         * min-p keeps; probabilities stay those of the whole vocabulary. */
        int k = TK_MIN(n, 64);
        for (;;) {
            partial_sort(s->cands, n, k);
            if (k == n) break;
            double in = 0;
            for (int i = 0; i < k; i++) in += exp((double)s->cands[i].logit - max);
            bool nucleus_in = p->top_p >= 1 || in / all >= p->top_p;
            bool min_p_in = p->min_p <= 0 || exp((double)s->cands[k - 1].logit - max) < p->min_p;
            if (nucleus_in && min_p_in) break;
            k = TK_MIN(n, k * 4);
        }
        for (int i = 0; i < k; i++)
            s->cands[i].p = (float)(exp((double)s->cands[i].logit - max) / all);
        n = k;
    } else {
        partial_sort(s->cands, n, n);
        softmax(s->cands, n, 1.0);
    }

    /* top-p: the smallest prefix whose mass reaches top_p. */
    if (p->top_p < 1) {
        double cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += s->cands[i].p;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    /* min-p: drop tokens below min_p times the best. */
    if (p->min_p > 0) {
        float floor_p = (float)p->min_p * s->cands[0].p;
        int keep = 1;
        while (keep < n && s->cands[keep].p >= floor_p) keep++;
        n = keep;
    }

    /* temperature, then the draw */
    softmax(s->cands, n, p->temperature);
    s->n_cands = n;
    double r = next_double(s->rng), cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->cands[i].p;
        if (r < cum) return s->cands[i].id;
    }
    return s->cands[n - 1].id;
}

double tk_sampler_last_prob(const tk_sampler *s, int32_t token)
{
    for (int i = 0; i < s->n_cands; i++)
        if (s->cands[i].id == token) return s->cands[i].p;
    return 0;
}

int tk_sampler_last_top(const tk_sampler *s, int32_t *ids, double *probs, int n)
{
    int k = TK_MIN(n, s->n_cands);
    for (int i = 0; i < k; i++) {
        ids[i] = s->cands[i].id;
        probs[i] = s->cands[i].p;
    }
    return k;
}
