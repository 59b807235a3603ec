/* A context: KV cache, work buffers, worker threads, and the forward pass.
 *
 * One forward pass serves every architecture; where they differ it reads
 * the traits of model_arch and the hyper-parameters of tk_model. A pass
 * takes up to n_batch tokens at consecutive positions and runs as one job
 * on the context's thread pool: every thread walks the same sequence of
 * steps and the threads meet at a barrier between steps. Work inside a
 * step is split by tokens (norms, RoPE, cache writes, activation
 * quantization), by groups of 16 weight rows handed out from a shared
 * counter (matrix products), or by tiles of tokens or chunks of positions,
 * also from the counter (attention, model/attention.c). Every output value
 * is computed with the same arithmetic whatever the split, so results do
 * not depend on the thread count.
 */
#include "model/attention.h"
#include "model/model.h"
#include "model/step.h"

#include "tektra/platform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows [r0, r1) of `total` split evenly among nth threads. */
static void split(int64_t total, int ith, int nth, int64_t *r0, int64_t *r1)
{
    *r0 = total * ith / nth;
    *r1 = total * (ith + 1) / nth;
}

static float softcap(float x, float cap)
{
    return tanhf(x * (1.0f / cap)) * cap;
}

/* ---- one forward pass ---------------------------------------------------- */

typedef struct fwd {
    tk_context *c;
    const int32_t *tokens;
    int64_t n;
    float *logits; /* rows [out_first, n) of logits, or NULL */
    int64_t out_first;
    bool cancelled; /* written by thread 0 before a barrier */
    int cancel_layer;
} fwd;

/* Up to three products sharing their input; their row groups form one list
 * that the threads take from in chunks. */
static void matmul_step(tk_context *c, step_state *s, const mm_part *parts, int np, const mm_in *in)
{
    const kernels_t *k = c->model->kern;
    _Atomic int64_t *ctr = dyn_counter(c, s);
    int64_t groups[3], total = 0;
    for (int p = 0; p < np; p++) {
        groups[p] = (parts[p].w->rows + KERNELS_GROUP_ROWS - 1) / KERNELS_GROUP_ROWS;
        total += groups[p];
    }
    const int64_t chunk = TK_MAX(1, total / (8 * s->nth));
    void *scratch = thread_scratch(c, s->ith);
    for (;;) {
        int64_t u0 = atomic_fetch_add_explicit(ctr, chunk, memory_order_relaxed);
        if (u0 >= total) break;
        const int64_t u1 = TK_MIN(total, u0 + chunk);
        int64_t base = 0;
        for (int p = 0; p < np; p++) {
            const int64_t a = TK_MAX(u0, base), b = TK_MIN(u1, base + groups[p]);
            if (a < b) {
                const int64_t r0 = (a - base) * KERNELS_GROUP_ROWS;
                const int64_t r1 = TK_MIN(parts[p].w->rows, (b - base) * KERNELS_GROUP_ROWS);
                part_rows(k, &parts[p], in, r0, r1, scratch);
            }
            base += groups[p];
        }
    }
}

/* Gate and up products of the same rows on the same thread, then
 * act(gate) * up. When the down matrix reads quantized activations, a unit
 * is 32 rows (one activation block of every token): the product goes
 * straight into c->act_ffn, so no float copy of the whole FFN is needed.
 * Otherwise a unit is one row group and the product goes to c->ffn. */
static void glu_step(tk_context *c, step_state *s, const model_layer *l, const mm_in *in)
{
    const tk_model *m = c->model;
    const kernels_t *k = m->kern;
    const int64_t n_ff = m->n_ff;
    const bool q8 = wants_q8(k, &l->w_down);
    const int64_t unit = q8 ? 32 : KERNELS_GROUP_ROWS;
    _Atomic int64_t *ctr = dyn_counter(c, s);
    const int64_t total = (n_ff + unit - 1) / unit;
    const int64_t chunk = TK_MAX(1, total / (8 * s->nth));
    const bool gelu = m->arch->act == MODEL_ACT_GELU;
    void *scratch = thread_scratch(c, s->ith);
    float *gb = c->up + (size_t)s->ith * (size_t)c->n_batch * 64; /* [n][unit] gate */
    float *ub = gb + (size_t)c->n_batch * 32;                     /* [n][unit] up */
    for (;;) {
        const int64_t u0 = atomic_fetch_add_explicit(ctr, chunk, memory_order_relaxed);
        if (u0 >= total) break;
        for (int64_t u = u0; u < TK_MIN(total, u0 + chunk); u++) {
            const int64_t r0 = u * unit, nr = TK_MIN(n_ff - r0, unit);
            const model_tensor wg = mat_rows(&l->w_gate, r0, nr), wu = mat_rows(&l->w_up, r0, nr);
            const mm_part gate =
                q8 ? (mm_part){&wg, NULL, gb, unit} : (mm_part){&l->w_gate, NULL, c->ffn, n_ff};
            const mm_part upp = {&wu, NULL, ub, unit};
            if (q8)
                part_rows(k, &gate, in, 0, nr, scratch);
            else
                part_rows(k, &gate, in, r0, r0 + nr, scratch);
            part_rows(k, &upp, in, 0, nr, scratch);
            for (int64_t t = 0; t < in->n; t++) {
                float *g = q8 ? gb + t * unit : c->ffn + t * n_ff + r0;
                k->glu(g, ub + t * unit, nr, gelu);
                if (q8)
                    k->quantize_act(g, n_ff, r0 / 32, r0 / 32 + 1,
                                    (char *)c->act_ffn + (size_t)t * c->act_ffn_stride);
            }
        }
    }
}

/* Quantizes rows [t0, t1) of x ([.][ldx], `cols` used) into c->act. */
static void quantize_rows(tk_context *c, const float *x, int64_t ldx, int64_t cols, int64_t t0,
                          int64_t t1)
{
    for (int64_t t = t0; t < t1; t++)
        c->model->kern->quantize_act(x + t * ldx, cols, 0, cols / 32,
                                     (char *)c->act + (size_t)t * c->act_stride);
}

static void rope_heads(float *v, int n_heads, int64_t head_dim, int64_t n_rot,
                       model_rope_style style, const float *cs)
{
    const int64_t half = n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *x = v + h * head_dim;
        for (int64_t i = 0; i < half; i++) {
            const float cos_t = cs[2 * i], sin_t = cs[2 * i + 1];
            const int64_t i0 = style == MODEL_ROPE_NORM ? 2 * i : i;
            const int64_t i1 = style == MODEL_ROPE_NORM ? 2 * i + 1 : i + half;
            const float x0 = x[i0], x1 = x[i1];
            x[i0] = x0 * cos_t - x1 * sin_t;
            x[i1] = x0 * sin_t + x1 * cos_t;
        }
    }
}

/* Per token: Q/K head norms, RoPE, and the cache write of K and V. */
static void rope_step(tk_context *c, const model_layer *l, int il, int64_t t0, int64_t t1,
                      float *cs)
{
    const tk_model *m = c->model;
    const kernels_t *k = m->kern;
    const int64_t hd_k = m->head_dim_k;
    const int64_t n_q = (int64_t)m->n_head * hd_k;
    const int64_t half = m->n_rot / 2;
    /* Frequencies: theta_i = pos * base^(-2i/n_rot), divided by the file's
     * per-frequency factors, times the linear scale. The power is formed by
     * repeated multiplication, as the reference engine does, so long
     * contexts round the same way. */
    const float theta_scale = powf(l->rope_base, -2.0f / (float)m->n_rot);
    const float *factors = l->rope_factors ? c->rope_factors : NULL;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t pos = c->n_past + t;
        float theta = (float)pos;
        for (int64_t i = 0; i < half; i++) {
            const float ang = l->rope_scale * (factors ? theta / factors[i] : theta);
            cs[2 * i] = cosf(ang) * m->rope_attn_factor;
            cs[2 * i + 1] = sinf(ang) * m->rope_attn_factor;
            theta *= theta_scale;
        }
        float *q = c->qkv + t * c->qkv_ld;
        float *kk = q + n_q;
        float *v = kk + c->n_embd_k;
        if (l->q_norm) {
            for (int h = 0; h < m->n_head; h++)
                k->rms_norm(q + h * hd_k, q + h * hd_k, l->q_norm, hd_k, m->norm_eps);
            for (int h = 0; h < m->n_head_kv; h++)
                k->rms_norm(kk + h * hd_k, kk + h * hd_k, l->k_norm, hd_k, m->norm_eps);
        }
        rope_heads(q, m->n_head, hd_k, m->n_rot, m->arch->rope, cs);
        rope_heads(kk, m->n_head_kv, hd_k, m->n_rot, m->arch->rope, cs);

        /* K transposed in blocks of 16 positions, V by position. */
        const size_t vrow = (size_t)il * (size_t)c->n_ctx + (size_t)pos;
        for (int h = 0; h < m->n_head_kv; h++) {
            const size_t block =
                ((size_t)il * (size_t)m->n_head_kv + (size_t)h) * (size_t)c->kv_blocks +
                (size_t)pos / 16;
            kernels_kv_store_k(c->k_type, (char *)c->k_cache + block * c->k_block_bytes,
                               (int)(pos % 16), kk + h * hd_k, hd_k);
            kernels_kv_store_v(
                c->v_type, (char *)c->v_cache + vrow * c->v_row_bytes + (size_t)h * c->v_head_bytes,
                v + h * m->head_dim_v, m->head_dim_v);
        }
    }
}

/* Attention of tokens [r0, n) (model/attention.c). With `quantize`, each
 * token's output is also quantized (attn_quantizes() says when each KV
 * group's output is whole activation blocks). */
static void attn_step(tk_context *c, step_state *s, const model_layer *l, int il, int64_t r0,
                      int64_t n, bool quantize)
{
    model_attn_step(c, l, il, r0, n, quantize, dyn_counter(c, s), s->ith, s->nth);
}

static bool attn_quantizes(const tk_model *m, const model_layer *l)
{
    const int64_t per_pair = (int64_t)(m->n_head / m->n_head_kv) * m->head_dim_v;
    return wants_q8(m->kern, &l->wo) && per_pair % 32 == 0;
}

/* x += xb (after the block's optional post-norm) for tokens [t0, t1). */
static void residual(tk_context *c, const float *post_norm, int64_t t0, int64_t t1)
{
    const tk_model *m = c->model;
    const int64_t n_embd = m->n_embd;
    for (int64_t t = t0; t < t1; t++) {
        float *xb = c->xb + t * n_embd, *x = c->x + t * n_embd;
        if (post_norm) m->kern->rms_norm(xb, xb, post_norm, n_embd, m->norm_eps);
        for (int64_t i = 0; i < n_embd; i++) x[i] += xb[i];
    }
}

static void run_forward(void *arg, int ith, int nth)
{
    fwd *f = arg;
    tk_context *c = f->c;
    const tk_model *m = c->model;
    const kernels_t *k = m->kern;
    const int64_t n = f->n, n_embd = m->n_embd, n_ff = m->n_ff;
    const int64_t n_q = (int64_t)m->n_head * m->head_dim_k;
    const int64_t n_o = (int64_t)m->n_head * m->head_dim_v;
    step_state s = {ith, nth, 0};
    int64_t t0, t1;
    split(n, ith, nth, &t0, &t1);
    if (ith == 0) {
        atomic_store(&c->chunk[0], 0);
        atomic_store(&c->chunk[1], 0);
    }

    /* Embeddings. A tied output matrix that was packed is read instead of
     * the file's rows: its file pages were let go after packing. */
    for (int64_t t = t0; t < t1; t++) {
        const model_tensor *e = m->tied_output ? &m->output : &m->tok_embd;
        float *x = c->x + t * n_embd;
        if (e->packed)
            kernels_unpack_row(e->type, e->data, n_embd, f->tokens[t], x);
        else
            tk_type_get(e->type)->dequantize(
                (const char *)e->data + (size_t)f->tokens[t] * e->row_bytes, x, n_embd);
        if (m->embd_scale != 1.0f)
            for (int64_t i = 0; i < n_embd; i++) x[i] *= m->embd_scale;
    }

    for (int il = 0; il < m->n_layer; il++) {
        const model_layer *l = &m->layers[il];
        if (ith == 0 && c->params.cancel && c->params.cancel(c->params.cancel_user)) {
            f->cancelled = true;
            f->cancel_layer = il;
        }

        /* Attention block: norm, Q/K/V, RoPE and cache, attention, output. */
        if (il > 0) residual(c, m->layers[il - 1].post_ffn_norm, t0, t1);
        for (int64_t t = t0; t < t1; t++)
            k->rms_norm(c->xb + t * n_embd, c->x + t * n_embd, l->attn_norm, n_embd, m->norm_eps);
        if (wants_q8(k, &l->wq) || wants_q8(k, &l->wk) || wants_q8(k, &l->wv))
            quantize_rows(c, c->xb, n_embd, n_embd, t0, t1);
        model_pool_barrier(c->pool);
        if (f->cancelled) return;

        const mm_in in_x = {c->xb, n_embd, c->act, c->act_stride, n};
        const mm_part qkv[3] = {{&l->wq, l->bq, c->qkv, c->qkv_ld},
                                {&l->wk, l->bk, c->qkv + n_q, c->qkv_ld},
                                {&l->wv, l->bv, c->qkv + n_q + c->n_embd_k, c->qkv_ld}};
        matmul_step(c, &s, qkv, 3, &in_x);
        model_pool_barrier(c->pool);

        rope_step(c, l, il, t0, t1, thread_scratch(c, ith));
        model_pool_barrier(c->pool);

        /* Past the cache writes, the last layer only matters for the rows
         * whose logits are wanted: the rest of it runs on rows [r0, n). */
        const int64_t r0 = il + 1 < m->n_layer ? 0 : f->logits ? f->out_first : n;
        const int64_t u0 = TK_MAX(t0, r0);
        if (r0 == n) break;
        const bool fused_q = attn_quantizes(m, l);
        attn_step(c, &s, l, il, r0, n, fused_q);
        model_pool_barrier(c->pool);
        if (wants_q8(k, &l->wo) && !fused_q) {
            quantize_rows(c, c->att, n_o, n_o, u0, t1);
            model_pool_barrier(c->pool);
        }
        const mm_in in_att = {c->att + r0 * n_o, n_o,
                              (const char *)c->act + (size_t)r0 * c->act_stride, c->act_stride,
                              n - r0};
        const mm_part wo = {&l->wo, l->bo, c->xb + r0 * n_embd, n_embd};
        matmul_step(c, &s, &wo, 1, &in_att);
        model_pool_barrier(c->pool);

        /* Feed-forward block. Its intermediate rows (ffn, act_ffn) count
         * from r0. */
        residual(c, l->post_attn_norm, u0, t1);
        for (int64_t t = u0; t < t1; t++)
            k->rms_norm(c->xb + t * n_embd, c->x + t * n_embd, l->ffn_norm, n_embd, m->norm_eps);
        if (l->gate_exps) {
            moe_ffn(c, &s, l, r0, n);
            continue;
        }
        if (wants_q8(k, &l->w_gate) || wants_q8(k, &l->w_up))
            quantize_rows(c, c->xb, n_embd, n_embd, u0, t1);
        model_pool_barrier(c->pool);
        const mm_in in_ffn_x = {c->xb + r0 * n_embd, n_embd,
                                (const char *)c->act + (size_t)r0 * c->act_stride, c->act_stride,
                                n - r0};
        glu_step(c, &s, l, &in_ffn_x);
        model_pool_barrier(c->pool);
        const mm_in in_ffn = {c->ffn, n_ff, c->act_ffn, c->act_ffn_stride, n - r0};
        const mm_part down = {&l->w_down, NULL, c->xb + r0 * n_embd, n_embd};
        matmul_step(c, &s, &down, 1, &in_ffn);
        model_pool_barrier(c->pool);
    }
    if (!f->logits) return;
    residual(c, m->layers[m->n_layer - 1].post_ffn_norm, TK_MAX(t0, f->out_first), t1);

    /* Logits of rows [out_first, n). */
    const int64_t o0 = TK_MAX(t0, f->out_first), n_out = n - f->out_first;
    for (int64_t t = o0; t < t1; t++)
        k->rms_norm(c->xb + t * n_embd, c->x + t * n_embd, m->output_norm, n_embd, m->norm_eps);
    if (wants_q8(k, &m->output)) quantize_rows(c, c->xb, n_embd, n_embd, o0, t1);
    model_pool_barrier(c->pool);
    const mm_in in_out = {c->xb + f->out_first * n_embd, n_embd,
                          (const char *)c->act + (size_t)f->out_first * c->act_stride,
                          c->act_stride, n_out};
    const mm_part out = {&m->output, NULL, f->logits, m->n_vocab};
    matmul_step(c, &s, &out, 1, &in_out);
    if (m->final_softcap > 0.0f) {
        model_pool_barrier(c->pool);
        int64_t i0, i1;
        split(n_out * m->n_vocab, ith, nth, &i0, &i1);
        for (int64_t i = i0; i < i1; i++) f->logits[i] = softcap(f->logits[i], m->final_softcap);
    }
}

/* Runs tokens[0..n) (n <= n_batch) at positions n_past.. and writes the
 * logits of rows [out_first, n) to `logits` (NULL: none). */
static tk_status forward(tk_context *c, const int32_t *tokens, int64_t n, float *logits,
                         int64_t out_first)
{
    fwd f = {c, tokens, n, out_first < n ? logits : NULL, out_first, false, 0};
    model_pool_run(c->pool, run_forward, &f);
    if (f.cancelled)
        return core_error(TK_ERR_CANCELLED, "decode cancelled at layer %d", f.cancel_layer);
    return TK_OK;
}

tk_status tk_context_decode(tk_context *c, const int32_t *tokens, int n, float *logits,
                            bool all_logits)
{
    if (!c || !tokens || n < 1)
        return core_error(TK_ERR_INVALID_ARG, "decode: %s",
                          !c || !tokens ? "NULL argument" : "no tokens");
    const tk_model *m = c->model;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab)
            return core_error(TK_ERR_INVALID_ARG, "decode: token %d (id %d) outside [0, %d)", i,
                              tokens[i], m->n_vocab);
    if ((int64_t)c->n_past + n > c->n_ctx)
        return core_error(TK_ERR_CONTEXT_FULL,
                          "context full: %d tokens in the cache + %d new > n_ctx %d", c->n_past, n,
                          c->n_ctx);
    const int32_t n_past0 = c->n_past;
    for (int start = 0; start < n; start += c->n_batch) {
        const int len = TK_MIN(c->n_batch, n - start);
        const bool last = start + len == n;
        float *out = NULL;
        int64_t out_first = len;
        if (logits && all_logits) {
            out = logits + (size_t)start * (size_t)m->n_vocab;
            out_first = 0;
        } else if (logits && last) {
            out = logits;
            out_first = len - 1;
        }
        tk_status st = forward(c, tokens + start, len, out, out_first);
        if (st != TK_OK) {
            c->n_past = n_past0;
            return st;
        }
        c->n_past += len;
    }
    return TK_OK;
}

/* ---- creation ---------------------------------------------------------- */

/* The KV cache is F16 by default. It halves the cache's memory, and the
 * reference engine's own cache is F16, so rounding K and V to half
 * precision moves our logits towards its: on the F32 oracle models the NMSE
 * against its logits is 2.2e-8 (llama), 2.1e-8 (qwen3), 2.5e-7 (gemma),
 * 1.3e-7 (gemma2) with an F16 cache, and 3.7e-8, 4.0e-8, 3.8e-7, 1.8e-7
 * with an F32 cache; both are far inside the 1e-6 the goldens allow. Q and
 * the attention weights stay F32: rounding them as well (as the reference
 * does) helps some architectures and hurts others. */
const char *tk_cache_type_name(int32_t type)
{
    switch (type) {
    case TK_TYPE_F32:
        return "f32";
    case TK_TYPE_F16:
        return "f16";
    case TK_TYPE_Q8_0:
        return "q8_0";
    case TK_TYPE_Q4_0:
        return "q4_0";
    default:
        return NULL;
    }
}

int32_t tk_cache_type_from_name(const char *name)
{
    const int32_t types[] = {TK_TYPE_F16, TK_TYPE_F32, TK_TYPE_Q8_0, TK_TYPE_Q4_0};
    for (size_t i = 0; name && i < TK_ARRAY_LEN(types); i++)
        if (core_strcasecmp(name, tk_cache_type_name(types[i])) == 0) return types[i];
    return -1;
}

uint64_t tk_context_kv_bytes(const tk_context *c, uint64_t *f16_bytes)
{
    const tk_model *m = c->model;
    const uint64_t cells = (uint64_t)m->n_layer * (uint64_t)c->n_ctx;
    const uint64_t kblocks = (uint64_t)m->n_layer * (uint64_t)m->n_head_kv * (uint64_t)c->kv_blocks;
    if (f16_bytes)
        *f16_bytes =
            kblocks * kernels_k_block_bytes(TK_TYPE_F16, m->head_dim_k) +
            cells * (uint64_t)m->n_head_kv * kernels_v_row_bytes(TK_TYPE_F16, m->head_dim_v);
    return kblocks * c->k_block_bytes + cells * c->v_row_bytes;
}

tk_context_params tk_context_default_params(void)
{
    tk_context_params p;
    memset(&p, 0, sizeof p);
    p.n_batch = MODEL_DEFAULT_N_BATCH;
    p.type_k = TK_TYPE_F16;
    p.type_v = TK_TYPE_F16;
    return p;
}

/* Allocates `count` elements of `size` bytes, adding the bytes to c->memory. */
static void *ctx_alloc(tk_context *c, uint64_t count, size_t size, const char *what)
{
    uint64_t bytes;
    if (!core_mul_u64(count, size, &bytes) || bytes > SIZE_MAX) {
        core_error(TK_ERR_OVERFLOW, "context: %s: size overflow", what);
        return NULL;
    }
    void *p = core_calloc((size_t)count ? (size_t)count : 1, size);
    if (!p) {
        core_error(TK_ERR_NOMEM, "context: cannot allocate %llu bytes for %s",
                   (unsigned long long)bytes, what);
        return NULL;
    }
    c->memory += bytes;
    return p;
}

/* As ctx_alloc, 64-byte aligned (for the kernels' aligned vector stores). */
static void *ctx_alloc_aligned(tk_context *c, uint64_t bytes, const char *what)
{
    const uint64_t size = (bytes + 64) / 64 * 64; /* never 0 */
    void *p = size <= SIZE_MAX ? os_aligned_alloc(64, (size_t)size) : NULL;
    if (!p) {
        core_error(TK_ERR_NOMEM, "context: cannot allocate %llu bytes for %s",
                   (unsigned long long)bytes, what);
        return NULL;
    }
    memset(p, 0, (size_t)size);
    c->memory += bytes;
    return p;
}

tk_status tk_context_create(tk_model *m, const tk_context_params *params, tk_context **out)
{
    if (!m || !out) return core_error(TK_ERR_INVALID_ARG, "tk_context_create: NULL argument");
    *out = NULL;
    tk_context_params p = params ? *params : tk_context_default_params();
    if (p.n_ctx < 0 || p.n_ctx > MODEL_MAX_CTX)
        return core_error(TK_ERR_INVALID_ARG, "n_ctx %d outside [0, %d]", p.n_ctx, MODEL_MAX_CTX);
    if (p.n_batch < 0 || p.n_batch > MODEL_MAX_CTX)
        return core_error(TK_ERR_INVALID_ARG, "n_batch %d outside [0, %d]", p.n_batch,
                          MODEL_MAX_CTX);
    if (p.n_threads < 0 || p.n_threads > MODEL_MAX_THREADS)
        return core_error(TK_ERR_INVALID_ARG, "n_threads %d outside [0, %d]", p.n_threads,
                          MODEL_MAX_THREADS);
    for (int i = 0; i < 2; i++) {
        const int32_t t = i ? p.type_v : p.type_k;
        const int64_t hd = i ? m->head_dim_v : m->head_dim_k;
        const char *which = i ? "V" : "K";
        if (t != TK_TYPE_F16 && t != TK_TYPE_F32 && t != TK_TYPE_Q8_0 && t != TK_TYPE_Q4_0)
            return core_error(TK_ERR_INVALID_ARG,
                              "%s cache type %d: the cache is f16, f32, q8_0 or q4_0", which, t);
        if ((t == TK_TYPE_Q8_0 || t == TK_TYPE_Q4_0) && hd % 32 != 0)
            return core_error(TK_ERR_INVALID_ARG,
                              "%s cache type %s needs a head size that is a multiple of 32; "
                              "this model's is %lld (use f16)",
                              which, tk_cache_type_name(t), (long long)hd);
    }

    tk_context *c = core_calloc(1, sizeof *c);
    if (!c) return core_error(TK_ERR_NOMEM, "context");
    c->model = m;
    c->params = p;
    c->n_ctx = p.n_ctx ? p.n_ctx : TK_MIN(m->n_ctx_train, MODEL_DEFAULT_N_CTX);
    c->n_batch = TK_MIN(p.n_batch ? p.n_batch : MODEL_DEFAULT_N_BATCH, c->n_ctx);
    if (p.n_threads) {
        c->n_threads = p.n_threads;
    } else {
        tk_platform plat;
        tk_platform_detect(&plat);
        c->n_threads = TK_MAX(1, TK_MIN(plat.n_physical_cores, 16));
    }
    c->k_type = p.type_k;
    c->v_type = p.type_v;
    c->n_embd_k = (int64_t)m->n_head_kv * m->head_dim_k;
    c->n_embd_v = (int64_t)m->n_head_kv * m->head_dim_v;
    c->k_block_bytes = kernels_k_block_bytes(c->k_type, m->head_dim_k);
    c->v_head_bytes = kernels_v_row_bytes(c->v_type, m->head_dim_v);
    c->v_row_bytes = (size_t)m->n_head_kv * c->v_head_bytes;
    c->rope_factors = m->rope_long && c->n_ctx > m->n_ctx_orig ? m->rope_long : m->rope_freqs;

    c->kv_blocks = (c->n_ctx + 15) / 16;
    const uint64_t cells = (uint64_t)m->n_layer * (uint64_t)c->n_ctx;
    const uint64_t kblocks = (uint64_t)m->n_layer * (uint64_t)m->n_head_kv * (uint64_t)c->kv_blocks;
    const uint64_t nb = (uint64_t)c->n_batch;
    const int64_t n_q = (int64_t)m->n_head * m->head_dim_k;
    const int64_t n_o = (int64_t)m->n_head * m->head_dim_v;
    c->qkv_ld = n_q + c->n_embd_k + c->n_embd_v;

    /* Quantized activations only when some matrix reads them. */
    bool q8 = m->output.data && m->kern->types[m->output.type].act == KERNELS_ACT_Q8;
    for (int il = 0; il < m->n_layer; il++) {
        const model_layer *l = &m->layers[il];
        const model_tensor *ts[] = {&l->wq,     &l->wk,   &l->wv,    &l->wo,
                                    &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; i < TK_ARRAY_LEN(ts); i++)
            q8 = q8 || (ts[i]->data && m->kern->types[ts[i]->type].act == KERNELS_ACT_Q8);
    }
    /* The down matrices' input has its own buffer (the FFN step writes it
     * while reading the other); the float FFN buffer only when some down
     * matrix reads floats. */
    bool down_q8 = false, down_f32 = false;
    int64_t in_cols = m->n_embd;
    for (int il = 0; il < m->n_layer; il++) {
        const model_layer *l = &m->layers[il];
        in_cols = TK_MAX(in_cols, l->wo.cols);
        if (!l->w_down.data) continue; /* experts: moe.c's buffers */
        if (wants_q8(m->kern, &l->w_down))
            down_q8 = true;
        else
            down_f32 = true;
    }
    c->act_stride = q8 ? kernels_act_bytes(in_cols) : 0;
    c->act_ffn_stride = down_q8 ? kernels_act_bytes(m->n_ff) : 0;

    /* Per thread: the matmul's scratch, the attention's chunk of scores
     * and partials, or RoPE's cos/sin table; each on its own cache lines. */
    size_t sb = m->kern->scratch_bytes(m->max_cols);
    sb = TK_MAX(sb, model_attn_scratch_floats(m) * sizeof(float));
    sb = TK_MAX(sb, (size_t)m->n_rot * sizeof(float));
    c->scratch_bytes = (sb + 63) / 64 * 64;

    /* Every buffer's size first: the total is checked against the memory
     * available and logged before anything is allocated. */
    tk_status st = TK_OK;
    const uint64_t n_th = (uint64_t)c->n_threads;
    struct {
        void **dst;
        uint64_t count, size; /* elements, bytes each */
        bool aligned;         /* 64-byte aligned (ctx_alloc_aligned) */
        const char *what;
    } bufs[] = {
        {&c->k_cache, kblocks, c->k_block_bytes, false, "K cache"},
        {&c->v_cache, cells, c->v_row_bytes, false, "V cache"},
        {(void **)&c->x, nb * (uint64_t)m->n_embd, sizeof(float), false, "activations"},
        {(void **)&c->xb, nb * (uint64_t)m->n_embd, sizeof(float), false, "activations"},
        {(void **)&c->qkv, nb * (uint64_t)c->qkv_ld, sizeof(float), false, "Q/K/V"},
        {(void **)&c->att, nb * (uint64_t)n_o, sizeof(float), false, "attention output"},
        {(void **)&c->ffn, down_f32 ? nb * (uint64_t)m->n_ff : 0, sizeof(float), false, "FFN"},
        {(void **)&c->up, n_th * nb * 64, sizeof(float), false, "FFN rows"},
        {&c->act, nb, c->act_stride, true, "quantized activations"},
        {&c->act_ffn, nb, c->act_ffn_stride, true, "quantized FFN activations"},
        {(void **)&c->attn_part, model_attn_part_floats(m, c->n_ctx), sizeof(float), false,
         "attention partials"},
        {&c->scratch, n_th, c->scratch_bytes, true, "scratch"},
    };
    /* The products above cannot overflow (each factor is bounded by the
     * MODEL_MAX_* limits), the sums are checked. */
    uint64_t kv_bytes = 0, total = 0;
    for (size_t i = 0; i < TK_ARRAY_LEN(bufs); i++) {
        uint64_t b;
        if (!core_mul_u64(bufs[i].count, bufs[i].size, &b) || !core_add_u64(total, b, &total)) {
            st = core_error(TK_ERR_OVERFLOW, "context: %s: size overflow", bufs[i].what);
            goto fail;
        }
        if (i < 2) kv_bytes += b;
    }
    const double mib = 1024.0 * 1024.0;
    uint64_t allowed = p.max_memory;
    if (!allowed) {
        tk_platform plat;
        tk_platform_detect(&plat);
        allowed = plat.ram_available;
    }
    if (allowed && total > allowed) {
        st = core_error(TK_ERR_NOMEM,
                        "context of %d positions needs %.1f MiB (KV cache %.1f MiB + buffers "
                        "%.1f MiB), more than the %.1f MiB %s; use a smaller context size",
                        c->n_ctx, (double)total / mib, (double)kv_bytes / mib,
                        (double)(total - kv_bytes) / mib, (double)allowed / mib,
                        p.max_memory ? "allowed (max_memory)" : "of memory available");
        goto fail;
    }
    core_log(TK_LOG_INFO,
             "context: %d positions, %d per batch, %d threads: %.1f MiB (KV cache %.1f MiB, K %s, "
             "V %s + buffers %.1f MiB), allocated now",
             c->n_ctx, c->n_batch, c->n_threads, (double)total / mib, (double)kv_bytes / mib,
             tk_cache_type_name(c->k_type), tk_cache_type_name(c->v_type),
             (double)(total - kv_bytes) / mib);
    for (size_t i = 0; i < TK_ARRAY_LEN(bufs); i++) {
        *bufs[i].dst = bufs[i].aligned
                           ? ctx_alloc_aligned(c, bufs[i].count * bufs[i].size, bufs[i].what)
                           : ctx_alloc(c, bufs[i].count, (size_t)bufs[i].size, bufs[i].what);
        if (!*bufs[i].dst) {
            st = TK_ERR_NOMEM;
            goto fail;
        }
    }
    /* Zeroed memory is mapped lazily: touch every page of the cache now,
     * so that running short of memory shows here and not in the middle of
     * a conversation. */
    for (size_t i = 0; i < 2; i++) {
        volatile char *page = *bufs[i].dst;
        for (uint64_t o = 0; o < bufs[i].count * bufs[i].size; o += 4096) page[o] = 0;
    }
    if ((st = moe_alloc(c)) != TK_OK) goto fail;
    if ((st = model_pool_create(c->n_threads, &c->pool)) != TK_OK) goto fail;
    *out = c;
    return TK_OK;

fail:
    tk_context_free(c);
    return st;
}

void tk_context_free(tk_context *c)
{
    if (!c) return;
    model_pool_free(c->pool);
    free(c->k_cache);
    free(c->v_cache);
    free(c->x);
    free(c->xb);
    free(c->qkv);
    free(c->att);
    free(c->ffn);
    free(c->up);
    os_aligned_free(c->act);
    os_aligned_free(c->act_ffn);
    free(c->attn_part);
    os_aligned_free(c->scratch);
    moe_free(c);
    free(c);
}

int32_t tk_context_n_past(const tk_context *c)
{
    return c->n_past;
}

int32_t tk_context_n_ctx(const tk_context *c)
{
    return c->n_ctx;
}

int32_t tk_context_n_threads(const tk_context *c)
{
    return c->n_threads;
}

tk_status tk_context_truncate(tk_context *c, int32_t n_past)
{
    if (n_past < 0 || n_past > c->n_past)
        return core_error(TK_ERR_INVALID_ARG, "truncate to %d: the cache holds %d tokens", n_past,
                          c->n_past);
    c->n_past = n_past;
    return TK_OK;
}

void tk_context_reset(tk_context *c)
{
    c->n_past = 0;
}

uint64_t tk_context_memory(const tk_context *c)
{
    return c->memory;
}

const tk_model *tk_context_model(const tk_context *c)
{
    return c->model;
}
