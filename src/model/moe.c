/* The mixture-of-experts FFN: router, top-k selection, and the experts.
 *
 *     p      = softmax(W_router x)                      [n_expert]
 *     E      = the k experts of highest p (ties: the lower index first)
 *     w_e    = p_e / sum_{E} p       (with moe_norm_w; else w_e = p_e)
 *     out    = sum_{e in E} w_e * down_e(silu(gate_e x) * up_e x)
 *
 * A batch's (token, chosen expert) pairs are its "slots". They are grouped
 * by expert, so each expert's matrices are multiplied once with all of its
 * tokens (the prompt path decodes each expert's weights once per batch, not
 * once per token), and an expert no token chose is never read (generation
 * reads only the k chosen experts' rows). The steps, each ended by a
 * barrier:
 *
 *   router   scores of every token, in blocks of ROUTER_TOKENS tokens
 *   route    per token: softmax, top k, weights
 *   group    thread 0: slots ordered by expert, then by token
 *   gather   per slot: the token's input, quantized when the experts read
 *            8-bit activations
 *   glu      per (expert, 32 or 16 rows): gate and up of its tokens, then
 *            silu(gate) * up (quantized straight away when the down
 *            matrices read 8-bit activations, as in the dense FFN)
 *   down     per (expert, 16 rows): the down product of its tokens
 *   combine  per token: the weighted sum of its k outputs, in the order of
 *            choice (the reference engine's order)
 *
 * Every value is computed by one thread with arithmetic that depends only
 * on the routing, which depends only on the input: results are the same
 * bits for any thread count.
 */
#include "model/step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tokens per router product: a constant, so that each score is computed
 * with the same number of activation vectors whatever the thread count. */
#define ROUTER_TOKENS 16

/* The reference engine clamps the sum of the chosen weights from below
 * before dividing by it (the smallest normal half-precision value). */
#define MOE_MIN_WEIGHT_SUM 6.103515625e-5f

/* Tokens [t0, t1) of thread ith among nth, of tokens [r0, n). */
static void token_share(int64_t r0, int64_t n, const step_state *s, int64_t *t0, int64_t *t1)
{
    *t0 = r0 + (n - r0) * s->ith / s->nth;
    *t1 = r0 + (n - r0) * (s->ith + 1) / s->nth;
}

static void router_step(tk_context *c, step_state *s, const model_layer *l, int64_t r0, int64_t n)
{
    const tk_model *m = c->model;
    const int64_t n_embd = m->n_embd;
    const int64_t blocks = (n - r0 + ROUTER_TOKENS - 1) / ROUTER_TOKENS;
    const int64_t groups = (m->n_expert + KERNELS_GROUP_ROWS - 1) / KERNELS_GROUP_ROWS;
    _Atomic int64_t *ctr = dyn_counter(c, s);
    void *scratch = thread_scratch(c, s->ith);
    for (;;) {
        const int64_t u = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
        if (u >= blocks * groups) break;
        const int64_t tok = r0 + u / groups * ROUTER_TOKENS, g = u % groups;
        const mm_in in = {c->xb + tok * n_embd, n_embd, NULL, 0, TK_MIN(ROUTER_TOKENS, n - tok)};
        const mm_part p = {&l->w_router, NULL, c->moe_logits + tok * m->n_expert, m->n_expert};
        part_rows(m->kern, &p, &in, g * KERNELS_GROUP_ROWS,
                  TK_MIN(m->n_expert, (g + 1) * KERNELS_GROUP_ROWS), scratch);
    }
}

void moe_route(const float *scores, int n_expert, int k, bool norm_w, float *probs, int32_t *sel,
               float *w)
{
    float max = scores[0];
    for (int e = 1; e < n_expert; e++) max = scores[e] > max ? scores[e] : max;
    double sum = 0.0;
    for (int e = 0; e < n_expert; e++) {
        probs[e] = expf(scores[e] - max);
        sum += probs[e];
    }
    const float inv = (float)(1.0 / sum);
    for (int e = 0; e < n_expert; e++) probs[e] *= inv;

    /* Top k by repeated selection: the first maximum not yet taken (a NaN
     * is never a maximum, so a row of NaN still picks k distinct experts,
     * and the NaN reaches the output). */
    unsigned char taken[MODEL_MAX_EXPERTS];
    memset(taken, 0, (size_t)n_expert);
    double wsum = 0.0;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < n_expert; e++)
            if (!taken[e] && (best < 0 || probs[e] > probs[best])) best = e;
        taken[best] = 1;
        sel[j] = best;
        w[j] = probs[best];
        wsum += w[j];
    }
    if (norm_w) {
        const float wdiv = TK_MAX((float)wsum, MOE_MIN_WEIGHT_SUM);
        for (int j = 0; j < k; j++) w[j] /= wdiv;
    }
}

/* Slots of tokens [r0, n) ordered by expert, then by token: moe_off,
 * moe_tok, moe_slot and the list of active experts. */
static void group_slots(tk_context *c, int64_t r0, int64_t n)
{
    const tk_model *m = c->model;
    const int ne = m->n_expert, k = m->n_expert_used;
    int32_t *off = c->moe_off, *cursor = c->moe_active;
    memset(off, 0, (size_t)(ne + 1) * sizeof *off);
    for (int64_t t = r0; t < n; t++)
        for (int j = 0; j < k; j++) off[c->moe_sel[t * k + j] + 1]++;
    for (int e = 0; e < ne; e++) off[e + 1] += off[e];
    memcpy(cursor, off, (size_t)ne * sizeof *cursor);
    for (int64_t t = r0; t < n; t++)
        for (int j = 0; j < k; j++) {
            const int32_t slot = cursor[c->moe_sel[t * k + j]]++;
            c->moe_tok[slot] = (int32_t)t;
            c->moe_slot[t * k + j] = slot;
        }
    c->moe_n_active = 0;
    for (int e = 0; e < ne; e++)
        if (off[e + 1] > off[e]) c->moe_active[c->moe_n_active++] = e;
}

/* The experts' input of each slot: its token's normed row, as 8-bit
 * activations (at offset 0) and as floats (at moe_x_f32), each where some
 * expert matrix of the layer reads that form. */
static void gather_step(tk_context *c, const step_state *s, const model_layer *l)
{
    const tk_model *m = c->model;
    const kernels_t *k = m->kern;
    const int64_t n_embd = m->n_embd;
    const bool q8 = wants_q8(k, &l->gate_exps[0]) || wants_q8(k, &l->up_exps[0]);
    const bool f32 = !wants_q8(k, &l->gate_exps[0]) || !wants_q8(k, &l->up_exps[0]);
    const int64_t slots = c->moe_off[m->n_expert];
    for (int64_t i = slots * s->ith / s->nth; i < slots * (s->ith + 1) / s->nth; i++) {
        const float *x = c->xb + (int64_t)c->moe_tok[i] * n_embd;
        char *dst = (char *)c->moe_x + (size_t)i * c->moe_x_stride;
        if (q8) k->quantize_act(x, n_embd, 0, n_embd / 32, dst);
        if (f32) memcpy(dst + c->moe_x_f32, x, (size_t)n_embd * sizeof(float));
    }
}

/* The input of expert e's products: its slots of moe_x. */
static mm_in expert_in(const tk_context *c, int e)
{
    const int32_t o = c->moe_off[e];
    const char *base = (const char *)c->moe_x + (size_t)o * c->moe_x_stride;
    return (mm_in){(const float *)(const void *)(base + c->moe_x_f32),
                   (int64_t)(c->moe_x_stride / sizeof(float)), base, c->moe_x_stride,
                   c->moe_off[e + 1] - o};
}

/* As glu_step of the dense FFN (context.c), per expert: units of 32 rows
 * written as 8-bit activations when the down matrices read them, else
 * groups of 16 rows written as floats. */
static void glu_step(tk_context *c, step_state *s, const model_layer *l)
{
    const tk_model *m = c->model;
    const kernels_t *k = m->kern;
    const int64_t n_ff = m->n_ff_exp;
    const bool q8 = wants_q8(k, &l->down_exps[0]);
    const int64_t unit = q8 ? 32 : KERNELS_GROUP_ROWS;
    const int64_t per_expert = (n_ff + unit - 1) / unit;
    const int64_t total = c->moe_n_active * per_expert;
    const int64_t chunk = TK_MAX(1, total / (8 * s->nth));
    const int64_t ldh = (int64_t)(c->moe_h_stride / sizeof(float));
    const bool gelu = m->arch->act == MODEL_ACT_GELU;
    _Atomic int64_t *ctr = dyn_counter(c, s);
    void *scratch = thread_scratch(c, s->ith);
    float *gb = c->up + (size_t)s->ith * (size_t)c->n_batch * 64; /* [n][unit] gate */
    float *ub = gb + (size_t)c->n_batch * 32;                     /* [n][unit] up */
    for (;;) {
        const int64_t u0 = atomic_fetch_add_explicit(ctr, chunk, memory_order_relaxed);
        if (u0 >= total) break;
        for (int64_t u = u0; u < TK_MIN(total, u0 + chunk); u++) {
            const int e = c->moe_active[u / per_expert];
            const int64_t r0 = u % per_expert * unit, nr = TK_MIN(n_ff - r0, unit);
            const mm_in in = expert_in(c, e);
            float *h =
                (float *)(void *)((char *)c->moe_h + (size_t)c->moe_off[e] * c->moe_h_stride);
            const model_tensor wg = mat_rows(&l->gate_exps[e], r0, nr);
            const model_tensor wu = mat_rows(&l->up_exps[e], r0, nr);
            const mm_part upp = {&wu, NULL, ub, unit};
            if (q8) {
                const mm_part gate = {&wg, NULL, gb, unit};
                part_rows(k, &gate, &in, 0, nr, scratch);
            } else {
                const mm_part gate = {&l->gate_exps[e], NULL, h, ldh};
                part_rows(k, &gate, &in, r0, r0 + nr, scratch);
            }
            part_rows(k, &upp, &in, 0, nr, scratch);
            for (int64_t t = 0; t < in.n; t++) {
                float *g = q8 ? gb + t * unit : h + t * ldh + r0;
                k->glu(g, ub + t * unit, nr, gelu);
                if (q8)
                    k->quantize_act(g, n_ff, r0 / 32, r0 / 32 + 1,
                                    (char *)h + (size_t)t * c->moe_h_stride);
            }
        }
    }
}

/* Down products per (expert, row group) into moe_y. */
static void down_step(tk_context *c, step_state *s, const model_layer *l)
{
    const tk_model *m = c->model;
    const int64_t n_embd = m->n_embd;
    const int64_t per_expert = (n_embd + KERNELS_GROUP_ROWS - 1) / KERNELS_GROUP_ROWS;
    const int64_t total = c->moe_n_active * per_expert;
    const int64_t chunk = TK_MAX(1, total / (8 * s->nth));
    _Atomic int64_t *ctr = dyn_counter(c, s);
    void *scratch = thread_scratch(c, s->ith);
    for (;;) {
        const int64_t u0 = atomic_fetch_add_explicit(ctr, chunk, memory_order_relaxed);
        if (u0 >= total) break;
        for (int64_t u = u0; u < TK_MIN(total, u0 + chunk); u++) {
            const int e = c->moe_active[u / per_expert];
            const int64_t r0 = u % per_expert * KERNELS_GROUP_ROWS;
            const int32_t o = c->moe_off[e];
            const char *h = (const char *)c->moe_h + (size_t)o * c->moe_h_stride;
            const mm_in in = {(const float *)(const void *)h,
                              (int64_t)(c->moe_h_stride / sizeof(float)), h, c->moe_h_stride,
                              c->moe_off[e + 1] - o};
            const mm_part p = {&l->down_exps[e], NULL, c->moe_y + (int64_t)o * n_embd, n_embd};
            part_rows(m->kern, &p, &in, r0, TK_MIN(n_embd, r0 + KERNELS_GROUP_ROWS), scratch);
        }
    }
}

void moe_ffn(tk_context *c, step_state *s, const model_layer *l, int64_t r0, int64_t n)
{
    const tk_model *m = c->model;
    const int64_t n_embd = m->n_embd;
    const int k = m->n_expert_used;
    int64_t t0, t1;
    token_share(r0, n, s, &t0, &t1);
    model_pool_barrier(c->pool);

    router_step(c, s, l, r0, n);
    model_pool_barrier(c->pool);

    for (int64_t t = t0; t < t1; t++) {
        float *p = c->moe_logits + t * m->n_expert;
        moe_route(p, m->n_expert, k, m->moe_norm_w, p, c->moe_sel + t * k, c->moe_w + t * k);
    }
    model_pool_barrier(c->pool);

    if (s->ith == 0) group_slots(c, r0, n);
    model_pool_barrier(c->pool);

    gather_step(c, s, l);
    model_pool_barrier(c->pool);

    glu_step(c, s, l);
    model_pool_barrier(c->pool);

    down_step(c, s, l);
    model_pool_barrier(c->pool);

    for (int64_t t = t0; t < t1; t++) {
        float *out = c->xb + t * n_embd;
        for (int j = 0; j < k; j++) {
            const float w = c->moe_w[t * k + j];
            const float *y = c->moe_y + (int64_t)c->moe_slot[t * k + j] * n_embd;
            if (j == 0)
                for (int64_t i = 0; i < n_embd; i++) out[i] = w * y[i];
            else
                for (int64_t i = 0; i < n_embd; i++) out[i] += w * y[i];
        }
    }
    model_pool_barrier(c->pool);
}

/* ---- buffers ------------------------------------------------------------ */

static void *moe_calloc(tk_context *c, uint64_t count, size_t size, tk_status *st)
{
    uint64_t bytes;
    if (*st != TK_OK) return NULL;
    if (!core_mul_u64(count, size, &bytes) || bytes > SIZE_MAX) {
        *st = core_error(TK_ERR_OVERFLOW, "context: expert buffers: size overflow");
        return NULL;
    }
    /* 64-byte aligned, for the kernels' aligned loads of activations */
    const uint64_t rounded = (bytes + 64) / 64 * 64;
    void *p = rounded <= SIZE_MAX ? os_aligned_alloc(64, (size_t)rounded) : NULL;
    if (!p) {
        *st = core_error(TK_ERR_NOMEM, "context: cannot allocate %llu bytes for expert buffers",
                         (unsigned long long)bytes);
        return NULL;
    }
    memset(p, 0, (size_t)rounded);
    c->memory += bytes;
    return p;
}

tk_status moe_alloc(tk_context *c)
{
    const tk_model *m = c->model;
    if (m->n_expert == 0) return TK_OK;
    const kernels_t *k = m->kern;
    /* Which forms of the inputs some layer's experts read. */
    bool x_q8 = false, x_f32 = false, h_q8 = false, h_f32 = false;
    for (int il = 0; il < m->n_layer; il++) {
        const model_layer *l = &m->layers[il];
        const bool g = wants_q8(k, &l->gate_exps[0]), u = wants_q8(k, &l->up_exps[0]);
        x_q8 = x_q8 || g || u;
        x_f32 = x_f32 || !g || !u;
        if (wants_q8(k, &l->down_exps[0]))
            h_q8 = true;
        else
            h_f32 = true;
    }
    const size_t q_bytes = x_q8 ? (kernels_act_bytes(m->n_embd) + 63) / 64 * 64 : 0;
    c->moe_x_f32 = q_bytes;
    c->moe_x_stride = q_bytes + (x_f32 ? (size_t)m->n_embd * sizeof(float) : 0);
    c->moe_h_stride = TK_MAX(h_q8 ? kernels_act_bytes(m->n_ff_exp) : 0,
                             h_f32 ? (size_t)m->n_ff_exp * sizeof(float) : 0);
    c->moe_h_stride = (c->moe_h_stride + 63) / 64 * 64;

    const uint64_t nb = (uint64_t)c->n_batch, slots = nb * (uint64_t)m->n_expert_used;
    if (slots > INT32_MAX) /* slots are counted in int32_t */
        return core_error(TK_ERR_LIMIT, "context: n_batch %d x %d experts per token: too many",
                          c->n_batch, m->n_expert_used);
    tk_status st = TK_OK;
    c->moe_logits = moe_calloc(c, nb * (uint64_t)m->n_expert, sizeof(float), &st);
    c->moe_sel = moe_calloc(c, slots, sizeof(int32_t), &st);
    c->moe_w = moe_calloc(c, slots, sizeof(float), &st);
    c->moe_off = moe_calloc(c, (uint64_t)m->n_expert + 1, sizeof(int32_t), &st);
    c->moe_active = moe_calloc(c, (uint64_t)m->n_expert, sizeof(int32_t), &st);
    c->moe_tok = moe_calloc(c, slots, sizeof(int32_t), &st);
    c->moe_slot = moe_calloc(c, slots, sizeof(int32_t), &st);
    c->moe_x = moe_calloc(c, slots, c->moe_x_stride, &st);
    c->moe_h = moe_calloc(c, slots, c->moe_h_stride, &st);
    c->moe_y = moe_calloc(c, slots * (uint64_t)m->n_embd, sizeof(float), &st);
    return st;
}

void moe_free(tk_context *c)
{
    os_aligned_free(c->moe_logits);
    os_aligned_free(c->moe_sel);
    os_aligned_free(c->moe_w);
    os_aligned_free(c->moe_off);
    os_aligned_free(c->moe_active);
    os_aligned_free(c->moe_tok);
    os_aligned_free(c->moe_slot);
    os_aligned_free(c->moe_x);
    os_aligned_free(c->moe_h);
    os_aligned_free(c->moe_y);
}
