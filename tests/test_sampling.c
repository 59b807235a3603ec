/* The sampling chain: each stage on hand-made distributions, the draws
 * against the expected distribution (chi-square), and seeds. */
#include "check.h"
#include "tektra.h"
#include "tektra.h"

#include <math.h>

static tk_sampler_params plain(void)
{
    tk_sampler_params p;
    tk_sampler_params_default(&p);
    p.temperature = 1;
    p.top_p = 1;
    p.top_k = 0;
    p.min_p = 0;
    p.repeat_penalty = 1;
    p.seed = 1234;
    return p;
}

/* Draws `n` samples and checks their frequencies against `want` (zero
 * entries must never be drawn) with a chi-square test at p ~ 0.001. */
static void check_distribution(const char *what, tk_sampler_params p, const float *logits,
                               int n_vocab, const double *want)
{
    tk_sampler *s;
    CHECK_INT(tk_sampler_create(&p, n_vocab, &s), TK_OK);
    enum { N = 20000 };
    int counts[16] = {0};
    for (int i = 0; i < N; i++) {
        int32_t t = tk_sampler_sample(s, logits);
        if (t >= 0 && t < 16) counts[t]++;
    }
    double chi2 = 0;
    int dof = -1;
    for (int i = 0; i < n_vocab; i++) {
        if (want[i] == 0) {
            CHECK_MSG(counts[i] == 0, "%s: token %d drawn %d times, want never", what, i,
                      counts[i]);
            continue;
        }
        double e = want[i] * N;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
        dof++;
    }
    /* 99.9th percentiles of chi-square for 1..5 degrees of freedom. */
    const double limit[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52};
    CHECK_MSG(dof >= 0 && dof <= 5 && chi2 < limit[dof > 0 ? dof : 1], "%s: chi2 %.2f (dof %d)",
              what, chi2, dof);
    tk_sampler_free(s);
}

static void test_stages(void)
{
    /* p = 0.5, 0.3, 0.15, 0.05 */
    float logits[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};

    tk_sampler_params p = plain();
    double all[4] = {0.5, 0.3, 0.15, 0.05};
    check_distribution("no cuts", p, logits, 4, all);

    p = plain();
    p.top_k = 2;
    double k2[4] = {0.625, 0.375, 0, 0};
    check_distribution("top-k 2", p, logits, 4, k2);

    p = plain();
    p.top_p = 0.75; /* 0.5 + 0.3 reaches it */
    check_distribution("top-p 0.75", p, logits, 4, k2);
    p.top_p = 0.81; /* needs the third */
    double p3[4] = {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0};
    check_distribution("top-p 0.81", p, logits, 4, p3);

    p = plain();
    p.min_p = 0.4; /* keeps p >= 0.2 */
    check_distribution("min-p 0.4", p, logits, 4, k2);
    p.min_p = 0.29; /* keeps p >= 0.145 */
    check_distribution("min-p 0.29", p, logits, 4, p3);

    /* Temperature 2 flattens: p ~ sqrt(p). */
    p = plain();
    p.temperature = 2;
    double t2[4], sum = 0;
    for (int i = 0; i < 4; i++) sum += t2[i] = sqrt(all[i]);
    for (int i = 0; i < 4; i++) t2[i] /= sum;
    check_distribution("temperature 2", p, logits, 4, t2);

    /* Temperature applies after top-p: top-p 0.75 at temperature 0.5 keeps
     * ids 0 and 1 with p ~ p^2. */
    p = plain();
    p.top_p = 0.75;
    p.temperature = 0.5;
    double t05[4] = {0.25 / 0.34, 0.09 / 0.34, 0, 0};
    check_distribution("top-p then temperature", p, logits, 4, t05);

    /* The same cuts on a large vocabulary without top-k (the prefix-growing path). */
    enum { V = 5000 };
    static float big[V];
    for (int i = 0; i < V; i++) big[i] = -20.0f - (float)i * 0.001f;
    big[7] = logf(0.5f);
    big[9] = logf(0.3f);
    big[11] = logf(0.15f);
    p = plain();
    p.top_p = 0.75;
    tk_sampler *s;
    CHECK_INT(tk_sampler_create(&p, V, &s), TK_OK);
    for (int i = 0; i < 2000; i++) {
        int32_t t = tk_sampler_sample(s, big);
        CHECK_MSG(t == 7 || t == 9, "top-p on 5000: drew %d", t);
        if (t != 7 && t != 9) break;
    }
    int32_t ids[8];
    double probs[8];
    CHECK_INT(tk_sampler_last_top(s, ids, probs, 8), 2);
    CHECK_INT(ids[0], 7);
    CHECK_NEAR(probs[0] + probs[1], 1.0, 1e-6);
    tk_sampler_free(s);
}

static void test_greedy_and_penalties(void)
{
    tk_sampler_params p = plain();
    p.temperature = 0;
    float logits[3] = {2.0f, 1.5f, -1.0f};
    tk_sampler *s;
    CHECK_INT(tk_sampler_create(&p, 3, &s), TK_OK);
    for (int i = 0; i < 10; i++) CHECK_INT(tk_sampler_sample(s, logits), 0);
    CHECK_NEAR(tk_sampler_last_prob(s, 0), 1.0, 0);
    tk_sampler_free(s);

    /* Greedy ignores the penalties: temperature 0 is the model's own choice. */
    p.repeat_penalty = 2;
    p.repeat_last_n = 4;
    CHECK_INT(tk_sampler_create(&p, 3, &s), TK_OK);
    tk_sampler_accept(s, 0);
    CHECK_INT(tk_sampler_sample(s, logits), 0);
    tk_sampler_free(s);

    /* Repetition penalty 2 with top-k 1: 2.0 -> 1.0 < 1.5, so id 1 wins. */
    p = plain();
    p.top_k = 1;
    p.repeat_penalty = 2;
    p.repeat_last_n = 4;
    CHECK_INT(tk_sampler_create(&p, 3, &s), TK_OK);
    tk_sampler_accept(s, 0);
    tk_sampler_accept(s, 0); /* twice: still penalised once */
    CHECK_INT(tk_sampler_sample(s, logits), 1);
    /* Negative logits are multiplied: -1 -> -2, still last. A window of 4
     * forgets id 0 after four other tokens. */
    for (int i = 0; i < 4; i++) tk_sampler_accept(s, 2);
    CHECK_INT(tk_sampler_sample(s, logits), 0);
    tk_sampler_reset(s);
    CHECK_INT(tk_sampler_sample(s, logits), 0);
    tk_sampler_free(s);

    /* Frequency and presence: id 0 seen twice: 2.0 - 2*0.2 - 0.3 = 1.3 < 1.5. */
    p = plain();
    p.top_k = 1;
    p.frequency_penalty = 0.2;
    p.presence_penalty = 0.3;
    p.repeat_last_n = 8;
    CHECK_INT(tk_sampler_create(&p, 3, &s), TK_OK);
    tk_sampler_accept(s, 0);
    CHECK_INT(tk_sampler_sample(s, logits), 0); /* 2.0 - 0.5 = 1.5: tie, lower id */
    tk_sampler_accept(s, 0);
    CHECK_INT(tk_sampler_sample(s, logits), 1);
    tk_sampler_free(s);

    /* NaN never wins; top-k 1 is greedy whatever the temperature. */
    p = plain();
    p.top_k = 1;
    p.temperature = 5;
    float weird[3] = {NAN, 0.5f, 0.7f};
    CHECK_INT(tk_sampler_create(&p, 3, &s), TK_OK);
    for (int i = 0; i < 50; i++) CHECK_INT(tk_sampler_sample(s, weird), 2);
    tk_sampler_free(s);
}

static void test_seeds(void)
{
    enum { V = 1000, N = 64 };
    static float logits[V];
    for (int i = 0; i < V; i++) logits[i] = (float)sin(i * 0.37) * 3.0f;
    tk_sampler_params p;
    tk_sampler_params_default(&p);
    p.seed = 42;
    int32_t a[N], b[N], c[N];
    tk_sampler *s;
    CHECK_INT(tk_sampler_create(&p, V, &s), TK_OK);
    for (int i = 0; i < N; i++) tk_sampler_accept(s, a[i] = tk_sampler_sample(s, logits));
    tk_sampler_reset(s);
    for (int i = 0; i < N; i++) tk_sampler_accept(s, b[i] = tk_sampler_sample(s, logits));
    tk_sampler_free(s);
    CHECK(memcmp(a, b, sizeof a) == 0);
    p.seed = 43;
    CHECK_INT(tk_sampler_create(&p, V, &s), TK_OK);
    for (int i = 0; i < N; i++) tk_sampler_accept(s, c[i] = tk_sampler_sample(s, logits));
    tk_sampler_free(s);
    CHECK(memcmp(a, c, sizeof a) != 0);
}

static void test_bad_params(void)
{
    tk_sampler_params p = plain();
    tk_sampler *s;
    p.temperature = -1;
    CHECK_INT(tk_sampler_create(&p, 10, &s), TK_ERR_INVALID_ARG);
    CHECK_CONTAINS(tk_last_error(), "temperature");
    p = plain();
    p.top_p = 0;
    CHECK_INT(tk_sampler_create(&p, 10, &s), TK_ERR_INVALID_ARG);
    p = plain();
    p.min_p = 1;
    CHECK_INT(tk_sampler_create(&p, 10, &s), TK_ERR_INVALID_ARG);
    p = plain();
    p.repeat_penalty = 0;
    CHECK_INT(tk_sampler_create(&p, 10, &s), TK_ERR_INVALID_ARG);
    p = plain();
    CHECK_INT(tk_sampler_create(&p, 0, &s), TK_ERR_INVALID_ARG);
}

int main(void)
{
    test_stages();
    test_greedy_and_penalties();
    test_seeds();
    test_bad_params();
    return check_summary();
}
