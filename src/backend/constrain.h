/* logit_bias and grammar constraints around one draw of the sampler. */
#ifndef TEKTRA_BACKEND_CONSTRAIN_H
#define TEKTRA_BACKEND_CONSTRAIN_H

#include "tektra/backend.h"
#include "tektra/grammar.h"
#include "tektra/sampling.h"

/* Checks the request's logit_bias ids against the vocabulary. */
tk_status constrain_check_bias(const tk_gen_params *g, int32_t n_vocab);

/* Draws a token from `logits` with the request's bias added and only
 * tokens allowed by `c` (NULL = none). `scratch` has n_vocab floats (owned
 * by the session: no allocation here). The sampled token is checked first;
 * the mask is built only when it is refused, which draws from the same
 * distribution as masking first. TK_ERR_INVALID_ARG when the grammar
 * allows no token (a dead end). */
tk_status constrain_sample(tk_sampler *sampler, const float *logits, float *scratch,
                           int32_t n_vocab, const tk_gen_params *g, tk_constraint *c,
                           int32_t *out);

#endif
