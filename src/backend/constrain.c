#include "backend/constrain.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

tk_status constrain_check_bias(const tk_gen_params *g, int32_t n_vocab)
{
    if (g->n_bias < 0 || (g->n_bias > 0 && (!g->bias_ids || !g->bias_values)))
        return core_error(TK_ERR_INVALID_ARG, "logit_bias: missing ids or values");
    for (int i = 0; i < g->n_bias; i++)
        if (g->bias_ids[i] < 0 || g->bias_ids[i] >= n_vocab)
            return core_error(TK_ERR_INVALID_ARG,
                              "logit_bias: token id %d is outside the vocabulary (0..%d)",
                              (int)g->bias_ids[i], (int)n_vocab - 1);
    return TK_OK;
}

tk_status constrain_sample(tk_sampler *sampler, const float *logits, float *scratch,
                           int32_t n_vocab, const tk_gen_params *g, tk_constraint *c, int32_t *out)
{
    const float *lg = logits;
    if (g->n_bias > 0) {
        memcpy(scratch, logits, (size_t)n_vocab * sizeof *scratch);
        /* -100 bans the token outright, as OpenAI's documentation says,
         * however far ahead its logit was. */
        for (int i = 0; i < g->n_bias; i++)
            scratch[g->bias_ids[i]] =
                g->bias_values[i] <= -100 ? -INFINITY : scratch[g->bias_ids[i]] + g->bias_values[i];
        lg = scratch;
    }
    int32_t id = tk_sampler_sample(sampler, lg);
    if (!c || tk_constraint_allows(c, id)) {
        *out = id;
        return TK_OK;
    }
    if (lg != scratch) memcpy(scratch, logits, (size_t)n_vocab * sizeof *scratch);
    if (tk_constraint_apply(c, scratch) == 0)
        return core_error(TK_ERR_INVALID_ARG,
                          "grammar: dead end, no token of the vocabulary can continue the "
                          "answer");
    *out = tk_sampler_sample(sampler, scratch);
    if (!tk_constraint_allows(c, *out))
        return core_error(TK_ERR_INVALID_ARG,
                          "grammar: every allowed token was cut by the sampler settings");
    return TK_OK;
}
