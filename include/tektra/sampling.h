/* tektra sampling: turning logits into the next token.
 *
 * The chain, in this order: repetition penalties over the last
 * `repeat_last_n` accepted tokens (repeat, frequency, presence), top-k,
 * top-p, min-p, temperature, then a draw. Temperature 0 is greedy: the
 * model's most likely token, with the penalties off, so it reproduces the
 * model's own greedy continuation. A seed makes the draws repeatable.
 * Nothing is allocated per token: buffers are sized at creation. */
#ifndef TEKTRA_SAMPLING_H
#define TEKTRA_SAMPLING_H

#include "tektra/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_sampler_params {
    double temperature;       /* >= 0; 0 = greedy */
    double top_p;             /* (0, 1]; 1 = off */
    int64_t top_k;            /* >= 0; 0 = off */
    double min_p;             /* [0, 1); 0 = off */
    double repeat_penalty;    /* > 0; 1 = off. Divides positive logits, multiplies negative */
    double frequency_penalty; /* subtracted once per earlier occurrence; 0 = off */
    double presence_penalty;  /* subtracted once if the token occurred; 0 = off */
    int64_t repeat_last_n;    /* how many recent tokens the penalties look at; 0 = none */
    uint64_t seed;
} tk_sampler_params;

/* Defaults: temperature 0.7, top_p 0.9, top_k 40, min_p 0.05, repeat 1.1 over
 * 64 tokens, no frequency/presence penalty, seed 0. */
void tk_sampler_params_default(tk_sampler_params *p);

typedef struct tk_sampler tk_sampler;

/* A sampler for vocabularies of `n_vocab` tokens. Free with
 * tk_sampler_free(). TK_ERR_INVALID_ARG names a parameter out of range. */
tk_status tk_sampler_create(const tk_sampler_params *p, int32_t n_vocab, tk_sampler **out);
void tk_sampler_free(tk_sampler *s);

/* Chooses the next token from `logits` ([n_vocab], not modified). */
int32_t tk_sampler_sample(tk_sampler *s, const float *logits);

/* The probability the chain gave `token` in the last tk_sampler_sample()
 * (0 when it was cut), and the chain's candidates after the cut: up to `n`
 * (id, probability) pairs, most likely first; returns how many. */
double tk_sampler_last_prob(const tk_sampler *s, int32_t token);
int tk_sampler_last_top(const tk_sampler *s, int32_t *ids, double *probs, int n);

/* Records a token (sampled, or from the prompt) for the penalties. */
void tk_sampler_accept(tk_sampler *s, int32_t token);

/* Forgets the accepted tokens and restarts the random sequence from the
 * seed. */
void tk_sampler_reset(tk_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
