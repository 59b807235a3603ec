/* The pieces of a forward pass that its steps share (context.c runs the
 * pass; moe.c adds the mixture-of-experts FFN steps). Every thread of the
 * pool walks the same steps; see context.c for how work is split. */
#ifndef TK_MODEL_STEP_H
#define TK_MODEL_STEP_H

#include "model/model.h"

/* Per-thread state of a pass: the steps' shared counters alternate. */
typedef struct step_state {
    int ith, nth;
    int dyn; /* dynamic steps so far */
} step_state;

static inline void *thread_scratch(tk_context *c, int ith)
{
    return (char *)c->scratch + (size_t)ith * c->scratch_bytes;
}

/* The shared counter of the next dynamically split step. Thread 0 clears
 * the other counter: nobody uses it before the barrier ending this step. */
static inline _Atomic int64_t *dyn_counter(tk_context *c, step_state *s)
{
    const int i = s->dyn++;
    if (s->ith == 0) atomic_store_explicit(&c->chunk[(i + 1) & 1], 0, memory_order_relaxed);
    return &c->chunk[i & 1];
}

static inline bool wants_q8(const kernels_t *k, const model_tensor *w)
{
    return w->data && k->types[w->type].act == KERNELS_ACT_Q8;
}

/* A matrix product of the step: y[t * ldy + r] = W r . x_t (+ bias[r]). */
typedef struct mm_part {
    const model_tensor *w;
    const float *bias; /* [rows] or NULL */
    float *y;
    int64_t ldy;
} mm_part;

/* The input of a step's products, as floats and (when a part wants it) as
 * quantized activations. */
typedef struct mm_in {
    const float *x; /* [n][ldx] */
    int64_t ldx;
    const void *q; /* [n][act_stride] */
    size_t q_stride;
    int64_t n;
} mm_in;

static inline void part_rows(const kernels_t *k, const mm_part *p, const mm_in *in, int64_t r0,
                             int64_t r1, void *scratch)
{
    const model_tensor *w = p->w;
    if (k->types[w->type].act == KERNELS_ACT_Q8)
        k->types[w->type].matmul(w, r0, r1, in->q, in->q_stride, in->n, p->y, p->ldy, scratch);
    else
        k->types[w->type].matmul(w, r0, r1, in->x, (size_t)in->ldx * sizeof(float), in->n, p->y,
                                 p->ldy, scratch);
    if (p->bias)
        for (int64_t t = 0; t < in->n; t++)
            for (int64_t r = r0; r < r1; r++) p->y[t * p->ldy + r] += p->bias[r];
}

/* Rows [r0, r0 + rows) of w as a matrix of its own (r0 a multiple of the
 * group size when w is packed). */
static inline model_tensor mat_rows(const model_tensor *w, int64_t r0, int64_t rows)
{
    model_tensor v = *w;
    if (w->packed)
        v.data =
            (const char *)w->data + (size_t)(r0 / KERNELS_GROUP_ROWS) *
                                        kernels_packed_bytes(w->type, KERNELS_GROUP_ROWS, w->cols);
    else
        v.data = (const char *)w->data + (size_t)r0 * w->row_bytes;
    v.rows = rows;
    return v;
}

/* The mixture-of-experts FFN of layer l (moe.c) for tokens [r0, n), whose
 * normed inputs are in c->xb (each thread has written its share; the step
 * opens with a barrier). Writes the FFN output to rows [r0, n) of c->xb
 * and ends with a barrier. */
void moe_ffn(tk_context *c, step_state *s, const model_layer *l, int64_t r0, int64_t n);

/* The context's buffers of moe_ffn (nothing for a dense model), their
 * bytes added to c->memory; moe_free releases them. */
tk_status moe_alloc(tk_context *c);
void moe_free(tk_context *c);

#endif
