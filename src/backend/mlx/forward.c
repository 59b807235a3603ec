/* The MLX backend's forward pass and KV caches.
 *
 * One decode call builds the graph of all layers for its tokens lazily and
 * evaluates it once (mlx_eval of the logits and the updated caches
 * together); only the logits come back to the host. Activations are
 * float32, so the results match exact arithmetic on the stored weights
 * (quantized matmuls on the packed weights with float32 scales and biases;
 * bf16/f16 weights widened inside the graph).
 *
 * The KV cache of each layer is a pair of arrays [1][n_head_kv][cap][head_dim]
 * that grows in steps of CACHE_STEP positions up to n_ctx and is written
 * with slice_update; the old array is released before evaluation so MLX
 * can update its buffer in place. */
#if TEKTRA_HAVE_MLX
#include "backend/mlx/mlxb.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    CACHE_STEP = 256, /* cache positions added at a time */
    MAX_CHUNK = 512,  /* most prompt tokens per graph evaluation */
};

struct mlxb_ctx {
    mlxb_model *m;
    int32_t n_ctx, n_past, cap;
    mlx_array *k, *v; /* [n_layer] caches, empty while cap == 0 */
    tk_cancel_fn cancel;
    void *cancel_user;
    mx x;
    bool *mask;      /* [MAX_CHUNK][n_ctx] host buffer for attention masks */
    mlx_array *outs; /* [1 + 2 n_layer] what one step evaluates */
};

tk_status mlxb_ctx_create(mlxb_model *m, int32_t n_ctx, tk_cancel_fn cancel, void *cancel_user,
                          mlxb_ctx **out)
{
    *out = NULL;
    if (n_ctx < 1) return core_error(TK_ERR_INVALID_ARG, "n_ctx must be >= 1 (got %d)", n_ctx);
    mlxb_ctx *c = calloc(1, sizeof *c);
    if (!c) return core_error(TK_ERR_NOMEM, "out of memory");
    c->m = m;
    c->n_ctx = n_ctx;
    c->cancel = cancel;
    c->cancel_user = cancel_user;
    c->k = calloc((size_t)m->n_layer, sizeof *c->k);
    c->v = calloc((size_t)m->n_layer, sizeof *c->v);
    c->mask = calloc((size_t)TK_MIN(n_ctx, MAX_CHUNK) * (size_t)n_ctx, sizeof *c->mask);
    c->outs = calloc(1 + 2 * (size_t)m->n_layer, sizeof *c->outs);
    if (!c->k || !c->v || !c->mask || !c->outs) {
        mlxb_ctx_free(c);
        return core_error(TK_ERR_NOMEM, "out of memory for a context of %d tokens", n_ctx);
    }
    *out = c;
    return TK_OK;
}

static void free_cache(mlxb_ctx *c)
{
    for (int l = 0; l < c->m->n_layer; l++) {
        if (c->k[l].ctx) mlx_array_free(c->k[l]);
        if (c->v[l].ctx) mlx_array_free(c->v[l]);
        c->k[l] = c->v[l] = mlx_array_empty;
    }
    c->cap = 0;
    c->n_past = 0;
}

void mlxb_ctx_free(mlxb_ctx *c)
{
    if (!c) return;
    if (c->k && c->v) free_cache(c);
    free(c->k);
    free(c->v);
    free(c->mask);
    free(c->outs);
    mx_free(&c->x);
    free(c);
}

tk_status mlxb_truncate(mlxb_ctx *c, int32_t n_past)
{
    if (n_past < 0 || n_past > c->n_past)
        return core_error(TK_ERR_INVALID_ARG, "cannot keep %d tokens of a cache holding %d", n_past,
                          c->n_past);
    c->n_past = n_past; /* positions past n_past are overwritten before use */
    return TK_OK;
}

void mlxb_reset(mlxb_ctx *c)
{
    c->n_past = 0;
}

/* ---- graph pieces ---------------------------------------------------------- */

static mlx_array linear(mx *x, const mlxb_linear *lin, mlx_array in)
{
    mlx_array y;
    if (lin->bits) {
        y = mx_qmatmul(x, in, lin->w, lin->scales, lin->biases, lin->group, lin->bits);
    } else {
        const int axes[2] = {1, 0};
        mlx_array wt = mx_transpose(x, lin->w, axes, 2);
        if (mlx_array_dtype(lin->w) != MLX_FLOAT32) wt = mx_astype(x, wt, MLX_FLOAT32);
        y = mx_matmul(x, in, wt);
    }
    if (lin->bias.ctx) y = mx_add(x, y, lin->bias);
    return y;
}

/* Columns [from, to) of the last axis of a [1][L][n] array. */
static mlx_array cols(mx *x, mlx_array a, int L, int from, int to)
{
    const int start[3] = {0, 0, from}, stop[3] = {1, L, to};
    return mx_slice(x, a, start, stop, 3);
}

/* gelu with the tanh approximation (gemma's gelu_pytorch_tanh). */
static mlx_array gelu_tanh(mx *x, mlx_array a)
{
    mlx_array a3 = mx_mul(x, mx_mul(x, a, a), a);
    mlx_array in = mx_mul(x, mx_add(x, a, mx_mul(x, a3, mx_scalar(x, 0.044715f))),
                          mx_scalar(x, 0.7978845608028654f));
    mlx_array t = mx_add(x, mx_tanh(x, in), mx_scalar(x, 1.0f));
    return mx_mul(x, mx_mul(x, a, t), mx_scalar(x, 0.5f));
}

static mlx_array softcap(mx *x, mlx_array a, float cap)
{
    mlx_array t = mx_tanh(x, mx_mul(x, a, mx_scalar(x, 1.0f / cap)));
    return mx_mul(x, t, mx_scalar(x, cap));
}

/* [1][L][n_heads*head_dim] -> [1][n_heads][L][head_dim] */
static mlx_array heads(mx *x, mlx_array a, int L, int n_heads, int head_dim)
{
    const int shape[4] = {1, L, n_heads, head_dim}, axes[4] = {0, 2, 1, 3};
    return mx_transpose(x, mx_reshape(x, a, shape, 4), axes, 4);
}

/* The host mask [L][S] for queries at n_past.. over keys 0..S-1: causal,
 * and within the window when `window` > 0. Returns false when every entry
 * is the plain causal mask MLX can apply itself. */
static bool fill_mask(bool *mask, int n_past, int L, int S, int window)
{
    bool plain = n_past == 0;
    for (int i = 0; i < L; i++) {
        int pos = n_past + i;
        for (int j = 0; j < S; j++) {
            bool keep = j <= pos && (window <= 0 || pos - j < window);
            if (window > 0 && j <= pos && pos - j >= window) plain = false;
            mask[(size_t)i * (size_t)S + (size_t)j] = keep;
        }
    }
    return !plain;
}

/* Attention of q [1][H][L][hd] over the first S cached positions. */
static mlx_array attention(mlxb_ctx *c, const mlxb_layer *ly, mlx_array q, mlx_array keys,
                           mlx_array vals, int L, int S)
{
    mlxb_model *m = c->m;
    mx *x = &c->x;
    int window = ly->sliding ? m->sliding_window : 0;
    bool need_mask = L > 1 || (window > 0 && S > window);
    mlx_array mask = mlx_array_empty;
    bool explicit_mask = need_mask && fill_mask(c->mask, c->n_past, L, S, window);
    if (m->attn_softcap > 0) {
        /* Soft-capped scores (gemma2): the fused kernel has no cap, so the
         * attention is written out; GQA by grouping the query heads. */
        int rep = m->n_head / m->n_head_kv;
        const int qs[4] = {1, m->n_head_kv, rep * L, m->head_dim};
        mlx_array qg = mx_reshape(x, q, qs, 4);
        const int kt[4] = {0, 1, 3, 2};
        mlx_array sc = mx_matmul(x, qg, mx_transpose(x, keys, kt, 4));
        sc = softcap(x, mx_mul(x, sc, mx_scalar(x, m->attn_scale)), m->attn_softcap);
        const int s5[4] = {m->n_head_kv, rep, L, S};
        sc = mx_reshape(x, sc, s5, 4);
        if (need_mask) {
            const int ms[2] = {L, S};
            mask = mx_from(x, c->mask, ms, 2, MLX_BOOL);
            sc = mx_where(x, mask, sc, mx_scalar(x, -INFINITY));
        }
        const int back[4] = {1, m->n_head_kv, rep * L, S};
        mlx_array p = mx_reshape(x, mx_softmax_last(x, sc), back, 4);
        mlx_array o = mx_matmul(x, p, vals);
        const int os[4] = {1, m->n_head, L, m->head_dim};
        return mx_reshape(x, o, os, 4);
    }
    if (explicit_mask) {
        const int ms[2] = {L, S};
        mask = mx_from(x, c->mask, ms, 2, MLX_BOOL);
        return mx_sdpa(x, q, keys, vals, m->attn_scale, "array", mask);
    }
    return mx_sdpa(x, q, keys, vals, m->attn_scale, need_mask ? "causal" : "", mask);
}

/* Grows every layer's cache to hold `need` positions. */
static void grow_cache(mlxb_ctx *c, int need)
{
    mlxb_model *m = c->m;
    mx *x = &c->x;
    int cap = (need + CACHE_STEP - 1) / CACHE_STEP * CACHE_STEP;
    if (cap > c->n_ctx) cap = c->n_ctx;
    const int shape[4] = {1, m->n_head_kv, cap, m->head_dim};
    for (int l = 0; l < m->n_layer; l++) {
        mlx_array *caches[2] = {&c->k[l], &c->v[l]};
        for (int j = 0; j < 2; j++) {
            mlx_array z = mx_zeros(x, shape, 4, MLX_FLOAT32);
            if (c->cap > 0) {
                const int start[4] = {0, 0, 0, 0}, stop[4] = {1, m->n_head_kv, c->cap, m->head_dim};
                z = mx_slice_update(x, z, *caches[j], start, stop, 4);
            }
            if (caches[j]->ctx) mlx_array_free(*caches[j]);
            *caches[j] = mx_take_out(x, z);
        }
    }
    c->cap = cap;
}

/* Writes `kv` [1][Hkv][L][hd] at n_past into *cache and returns the view of
 * the first S positions. */
static mlx_array cache_put(mlxb_ctx *c, mlx_array *cache, mlx_array kv, int L, int S)
{
    mlxb_model *m = c->m;
    mx *x = &c->x;
    const int start[4] = {0, 0, c->n_past, 0},
              stop[4] = {1, m->n_head_kv, c->n_past + L, m->head_dim};
    mlx_array upd = mx_slice_update(x, *cache, kv, start, stop, 4);
    /* Drop our reference to the old buffer before evaluation (in place). */
    mlx_array_free(*cache);
    *cache = mx_take_out(x, upd);
    const int s0[4] = {0, 0, 0, 0}, s1[4] = {1, m->n_head_kv, S, m->head_dim};
    return mx_slice(x, *cache, s0, s1, 4);
}

/* One chunk of at most MAX_CHUNK tokens. */
static tk_status decode_chunk(mlxb_ctx *c, const int32_t *tokens, int L, float *logits,
                              bool all_logits)
{
    mlxb_model *m = c->m;
    mx *x = &c->x;
    const int S = c->n_past + L;
    mx_begin(x, m->stream);
    if (S > c->cap) grow_cache(c, S);

    const int ts[1] = {L};
    mlx_array ids = mx_from(x, tokens, ts, 1, MLX_INT32);
    mlx_array h;
    if (m->embed.bits) {
        h = mx_dequantize(x, mx_take(x, m->embed.w, ids, 0), mx_take(x, m->embed.scales, ids, 0),
                          mx_take(x, m->embed.biases, ids, 0), m->embed.group, m->embed.bits);
    } else {
        h = mx_astype(x, mx_take(x, m->embed.w, ids, 0), MLX_FLOAT32);
    }
    const int hs[3] = {1, L, m->n_embd};
    h = mx_reshape(x, h, hs, 3);
    if (m->arch->embd_scale) h = mx_mul(x, h, mx_scalar(x, sqrtf((float)m->n_embd)));

    const int q_out = m->n_head * m->head_dim, kv_out = m->n_head_kv * m->head_dim;
    const int back[4] = {0, 2, 1, 3}, flat[3] = {1, L, q_out};
    for (int l = 0; l < m->n_layer; l++) {
        const mlxb_layer *ly = &m->layers[l];
        mlx_array a = mx_rms_norm(x, h, ly->attn_norm, m->eps);
        mlx_array q, k, v;
        if (m->arch->fused) {
            mlx_array qkv = linear(x, &ly->q, a);
            q = cols(x, qkv, L, 0, q_out);
            k = cols(x, qkv, L, q_out, q_out + kv_out);
            v = cols(x, qkv, L, q_out + kv_out, q_out + 2 * kv_out);
        } else {
            q = linear(x, &ly->q, a);
            k = linear(x, &ly->k, a);
            v = linear(x, &ly->v, a);
        }
        q = heads(x, q, L, m->n_head, m->head_dim);
        k = heads(x, k, L, m->n_head_kv, m->head_dim);
        v = heads(x, v, L, m->n_head_kv, m->head_dim);
        if (m->arch->qk_norm) {
            q = mx_rms_norm(x, q, ly->q_norm, m->eps);
            k = mx_rms_norm(x, k, ly->k_norm, m->eps);
        }
        q = mx_rope(x, q, m->n_rot, ly->rope_base, ly->rope_scale, c->n_past);
        k = mx_rope(x, k, m->n_rot, ly->rope_base, ly->rope_scale, c->n_past);
        mlx_array keys = cache_put(c, &c->k[l], k, L, S);
        mlx_array vals = cache_put(c, &c->v[l], v, L, S);
        mlx_array o = attention(c, ly, q, keys, vals, L, S);
        o = mx_reshape(x, mx_transpose(x, o, back, 4), flat, 3);
        o = linear(x, &ly->o, o);
        if (m->arch->post_norms) o = mx_rms_norm(x, o, ly->post_attn_norm, m->eps);
        h = mx_add(x, h, o);

        a = mx_rms_norm(x, h, ly->ffn_norm, m->eps);
        mlx_array g, u;
        if (m->arch->fused) {
            mlx_array gu = linear(x, &ly->gate, a);
            g = cols(x, gu, L, 0, m->n_ff);
            u = cols(x, gu, L, m->n_ff, 2 * m->n_ff);
        } else {
            g = linear(x, &ly->gate, a);
            u = linear(x, &ly->up, a);
        }
        g = m->arch->gelu ? gelu_tanh(x, g) : mx_mul(x, g, mx_sigmoid(x, g));
        mlx_array f = linear(x, &ly->down, mx_mul(x, g, u));
        if (m->arch->post_norms) f = mx_rms_norm(x, f, ly->post_ffn_norm, m->eps);
        h = mx_add(x, h, f);
    }
    /* Only the rows whose logits are wanted go through the output layer. */
    int n_out = 0;
    mlx_array *outs = c->outs;
    if (logits) {
        int n_rows = all_logits ? L : 1;
        if (!all_logits) {
            const int st3[3] = {0, L - 1, 0}, sp3[3] = {1, L, m->n_embd};
            h = mx_slice(x, h, st3, sp3, 3);
        }
        h = mx_rms_norm(x, h, m->out_norm, m->eps);
        mlx_array lg = linear(x, &m->output, h);
        if (m->final_softcap > 0) lg = softcap(x, lg, m->final_softcap);
        const int ls[2] = {n_rows, m->n_vocab};
        outs[n_out++] = mx_reshape(x, lg, ls, 2);
    }
    for (int l = 0; l < m->n_layer; l++) {
        outs[n_out++] = c->k[l];
        outs[n_out++] = c->v[l];
    }
    if (!mx_eval(x, outs, n_out)) {
        /* The caches were replaced by graph nodes that did not evaluate: the
         * context starts over. */
        tk_status st = mx_status(TK_ERR_INTERNAL, "MLX forward pass");
        mx_release(x);
        free_cache(c);
        return st;
    }
    if (logits) {
        const float *data = mlx_array_data_float32(outs[0]);
        size_t count = (size_t)(all_logits ? L : 1) * (size_t)m->n_vocab;
        if (!data) {
            tk_status st = mx_status(TK_ERR_INTERNAL, "MLX logits");
            mx_release(x);
            return st;
        }
        memcpy(logits, data, count * sizeof *logits);
    }
    mx_release(x);
    c->n_past += L;
    return TK_OK;
}

tk_status mlxb_decode(mlxb_ctx *c, const int32_t *tokens, int n, float *logits, bool all_logits)
{
    mlxb_model *m = c->m;
    if (n < 1 || !tokens) return core_error(TK_ERR_INVALID_ARG, "no tokens to decode");
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab)
            return core_error(TK_ERR_INVALID_ARG, "token id %d is outside the vocabulary [0, %d)",
                              tokens[i], m->n_vocab);
    if ((int64_t)c->n_past + n > c->n_ctx)
        return core_error(TK_ERR_CONTEXT_FULL,
                          "%d tokens after %d do not fit a context of %d tokens", n, c->n_past,
                          c->n_ctx);
    const int32_t start = c->n_past;
    for (int done = 0; done < n;) {
        if (c->cancel && c->cancel(c->cancel_user)) {
            c->n_past = start;
            return TK_ERR_CANCELLED;
        }
        int L = TK_MIN(n - done, MAX_CHUNK);
        bool last = done + L == n;
        float *out = NULL;
        if (logits && all_logits) out = logits + (size_t)done * (size_t)m->n_vocab;
        if (logits && !all_logits && last) out = logits;
        tk_status st = decode_chunk(c, tokens + done, L, out, all_logits);
        if (st != TK_OK) {
            if (c->n_past > start) c->n_past = start;
            return st;
        }
        done += L;
    }
    return TK_OK;
}
#else
typedef int mlxb_forward_not_compiled; /* this build has no MLX */
#endif
