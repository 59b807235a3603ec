/* Loading a model: hyper-parameters from the metadata, checked against each
 * other and against limits; every tensor the architecture needs found and
 * checked for shape and type. Nothing in the forward pass re-checks what is
 * checked here. */
#include "model/model.h"

#include "gguf/gguf.h"
#include "tektra/modeldir.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

/* ---- metadata ---------------------------------------------------------- */

/* "{arch}.{suffix}" into buf. */
static const char *arch_key(char *buf, size_t size, const tk_model *m, const char *suffix)
{
    snprintf(buf, size, "%s.%s", m->arch->name, suffix);
    return buf;
}

/* Reads u32 key "{arch}.{suffix}" into *out when present. Absent: *out is
 * `def` (def < 0: the key is required). The value must lie in [lo, hi]. */
static tk_status get_int(const tk_model *m, const char *suffix, int64_t def, int64_t lo, int64_t hi,
                         int32_t *out)
{
    char key[160];
    arch_key(key, sizeof key, m, suffix);
    int64_t i = tk_gguf_find_kv(m->gguf, key);
    int64_t v;
    if (i < 0) {
        if (def < 0) return core_error(TK_ERR_FORMAT, "missing metadata key '%s'", key);
        v = def;
    } else {
        if (tk_gguf_kv_type(m->gguf, i) == TK_GGUF_ARRAY)
            return core_error(TK_ERR_UNSUPPORTED,
                              "metadata '%s': per-layer values (an array) are not supported", key);
        if (!tk_gguf_kv_int(m->gguf, i, &v))
            return core_error(TK_ERR_FORMAT, "metadata '%s': expected an integer, found %s", key,
                              tk_gguf_type_name(tk_gguf_kv_type(m->gguf, i)));
    }
    if (v < lo || v > hi)
        return core_error(TK_ERR_FORMAT, "metadata '%s' = %lld: outside [%lld, %lld]", key,
                          (long long)v, (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return TK_OK;
}

/* Float key "{arch}.{suffix}"; *present says whether it was there (out is
 * left alone otherwise). The value must be finite and in [lo, hi]. */
static tk_status get_float(const tk_model *m, const char *suffix, double lo, double hi, float *out,
                           bool *present)
{
    char key[160];
    arch_key(key, sizeof key, m, suffix);
    int64_t i = tk_gguf_find_kv(m->gguf, key);
    *present = i >= 0;
    if (i < 0) return TK_OK;
    double v;
    if (!tk_gguf_kv_float(m->gguf, i, &v))
        return core_error(TK_ERR_FORMAT, "metadata '%s': expected a float, found %s", key,
                          tk_gguf_type_name(tk_gguf_kv_type(m->gguf, i)));
    if (!isfinite(v) || v < lo || v > hi)
        return core_error(TK_ERR_FORMAT, "metadata '%s' = %g: outside [%g, %g]", key, v, lo, hi);
    *out = (float)v;
    return TK_OK;
}

/* ---- tensors ----------------------------------------------------------- */

static void shape_str(char *buf, size_t size, int n_dims, const int64_t *ne)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int d = 0; d < n_dims && used < size; d++) {
        int w = snprintf(buf + used, size - used, "%s%lld", d ? "," : "[", (long long)ne[d]);
        if (w < 0) return;
        used += (size_t)w;
    }
    if (used < size) snprintf(buf + used, size - used, "]");
}

/* Finds tensor `name` and checks that its shape is exactly ne[0..n_dims).
 * Absent: NULL, and an error when `required`. */
static tk_status find_tensor(const tk_model *m, const char *name, int n_dims, const int64_t *ne,
                             bool required, const tk_gguf_tensor **out)
{
    *out = NULL;
    const tk_gguf_tensor *t = tk_gguf_find_tensor(m->gguf, name);
    if (!t) {
        if (!required) return TK_OK;
        return core_error(TK_ERR_FORMAT, "missing tensor '%s' (required by %s)", name,
                          m->arch->name);
    }
    int64_t want[4] = {1, 1, 1, 1};
    for (int d = 0; d < n_dims; d++) want[d] = ne[d];
    bool same = true;
    for (int d = 0; d < 4; d++) same = same && t->ne[d] == want[d];
    if (!same) {
        char found[96], expected[96];
        shape_str(found, sizeof found, t->n_dims, t->ne);
        shape_str(expected, sizeof expected, n_dims, want);
        return core_error(TK_ERR_FORMAT, "tensor '%s': shape %s, expected %s", name, found,
                          expected);
    }
    const tk_type_info *ti = tk_type_get(t->type);
    if (!ti || !ti->dequantize)
        return core_error(TK_ERR_UNSUPPORTED, "tensor '%s': tensor type %d is not supported", name,
                          t->type);
    uint64_t need;
    if (tk_type_size(t->type, t->ne[0], &need) != TK_OK)
        return core_error(TK_ERR_FORMAT,
                          "tensor '%s': row of %lld is not a multiple of the %s "
                          "block size %d",
                          name, (long long)t->ne[0], ti->name, ti->block_size);
    if (!core_mul_u64(need, (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]), &need) || need > t->size)
        return core_error(TK_ERR_FORMAT, "tensor '%s': %llu bytes of data, shape needs more", name,
                          (unsigned long long)t->size);
    *out = t;
    return TK_OK;
}

/* A weight matrix [cols] -> [rows] (GGUF shape [cols, rows]). */
static tk_status load_matrix(tk_model *m, const char *name, int64_t cols, int64_t rows,
                             bool required, model_tensor *out)
{
    const tk_gguf_tensor *t;
    int64_t ne[2] = {cols, rows};
    memset(out, 0, sizeof *out);
    tk_status st = find_tensor(m, name, 2, ne, required, &t);
    if (st != TK_OK || !t) return st;
    if (!m->kern->types[t->type].matmul)
        return core_error(TK_ERR_UNSUPPORTED, "tensor '%s': no matrix kernel for type %s", name,
                          tk_type_get(t->type)->name);
    uint64_t row_bytes;
    tk_type_size(t->type, cols, &row_bytes);
    out->data = t->data;
    out->type = t->type;
    out->cols = cols;
    out->rows = rows;
    out->row_bytes = (size_t)row_bytes;
    if (cols > m->max_cols) m->max_cols = cols;
    return TK_OK;
}

/* A 3-D tensor of n_expert weight matrices [cols] -> [rows] (GGUF shape
 * [cols, rows, n_expert]), as n_expert matrices of their own in out[]. */
static tk_status load_experts(tk_model *m, const char *name, int64_t cols, int64_t rows,
                              model_tensor *out)
{
    const tk_gguf_tensor *t;
    int64_t ne[3] = {cols, rows, m->n_expert};
    tk_status st = find_tensor(m, name, 3, ne, true, &t);
    if (st != TK_OK) return st;
    if (!m->kern->types[t->type].matmul)
        return core_error(TK_ERR_UNSUPPORTED, "tensor '%s': no matrix kernel for type %s", name,
                          tk_type_get(t->type)->name);
    uint64_t row_bytes;
    tk_type_size(t->type, cols, &row_bytes);
    const size_t expert_bytes = (size_t)row_bytes * (size_t)rows; /* checked by find_tensor */
    for (int e = 0; e < m->n_expert; e++)
        out[e] = (model_tensor){(const char *)t->data + (size_t)e * expert_bytes,
                                t->type,
                                cols,
                                rows,
                                (size_t)row_bytes,
                                false};
    if (cols > m->max_cols) m->max_cols = cols;
    return TK_OK;
}

/* Rows [r0, r0 + rows) of w as a matrix of its own. */
static model_tensor row_view(const model_tensor *w, int64_t r0, int64_t rows)
{
    model_tensor v = *w;
    v.data = (const char *)w->data + (size_t)r0 * w->row_bytes;
    v.rows = rows;
    return v;
}

/* A vector of n floats (see model_layer about conversion). */
static tk_status load_vector(tk_model *m, const char *name, int64_t n, bool required,
                             const float **out)
{
    const tk_gguf_tensor *t;
    *out = NULL;
    tk_status st = find_tensor(m, name, 1, &n, required, &t);
    if (st != TK_OK || !t) return st;
    if (m->vec_arena_used + (size_t)n > m->vec_arena_len)
        return core_error(TK_ERR_INTERNAL, "tensor '%s': vector arena too small", name);
    float *dst = m->vec_arena + m->vec_arena_used;
    m->vec_arena_used += (size_t)n;
    tk_type_get(t->type)->dequantize(t->data, dst, n);
    if (m->check_tensors && strstr(name, "norm")) {
        bool zero = true;
        for (int64_t i = 0; i < n && zero; i++) zero = dst[i] == 0.0f;
        if (zero)
            return core_error(TK_ERR_NONFINITE,
                              "tensor '%s': every value is zero, which erases its layer's "
                              "input (a damaged file?); --no-check-tensors loads it anyway",
                              name);
    }
    *out = dst;
    return TK_OK;
}

/* Every tensor of the file, checked for NaN and infinities (without
 * decoding: float types value by value, block types by their scales). */
static tk_status check_weights(const tk_model *m)
{
    for (int64_t i = 0; i < tk_gguf_n_tensors(m->gguf); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(m->gguf, i);
        const int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        const int64_t bad = tk_type_first_nonfinite(t->type, t->data, n);
        if (bad >= 0)
            return core_error(TK_ERR_NONFINITE,
                              "tensor '%s': value %lld (row %lld, column %lld) is not finite "
                              "(NaN or infinity): the file is damaged; --no-check-tensors loads "
                              "it anyway",
                              t->name, (long long)bad, (long long)(bad / t->ne[0]),
                              (long long)(bad % t->ne[0]));
    }
    return TK_OK;
}

/* Per-layer tensor name "blk.{il}.{suffix}". */
static const char *blk_name(char *buf, size_t size, int il, const char *suffix)
{
    snprintf(buf, size, "blk.%d.%s", il, suffix);
    return buf;
}

static tk_status load_layer(tk_model *m, int il)
{
    const model_arch *a = m->arch;
    model_layer *l = &m->layers[il];
    char nb[96];
    const int64_t n_embd = m->n_embd;
    const int64_t n_q = (int64_t)m->n_head * m->head_dim_k;
    const int64_t n_k = (int64_t)m->n_head_kv * m->head_dim_k;
    const int64_t n_v = (int64_t)m->n_head_kv * m->head_dim_v;
    const int64_t n_o = (int64_t)m->n_head * m->head_dim_v;
    tk_status st;

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if ((st = (expr)) != TK_OK) return st;                                                     \
    } while (0)
    TRY(load_vector(m, blk_name(nb, sizeof nb, il, "attn_norm.weight"), n_embd, true,
                    &l->attn_norm));
    if (a->fused_qkv) {
        /* One matrix with Q, K and V stacked: the forward pass (and the
         * packing) sees three views of its row ranges. */
        model_tensor wqkv;
        const float *bqkv;
        TRY(load_matrix(m, blk_name(nb, sizeof nb, il, "attn_qkv.weight"), n_embd, n_q + n_k + n_v,
                        true, &wqkv));
        TRY(load_vector(m, blk_name(nb, sizeof nb, il, "attn_qkv.bias"), n_q + n_k + n_v, false,
                        &bqkv));
        l->wq = row_view(&wqkv, 0, n_q);
        l->wk = row_view(&wqkv, n_q, n_k);
        l->wv = row_view(&wqkv, n_q + n_k, n_v);
        if (bqkv) {
            l->bq = bqkv;
            l->bk = bqkv + n_q;
            l->bv = bqkv + n_q + n_k;
        }
    } else {
        TRY(load_matrix(m, blk_name(nb, sizeof nb, il, "attn_q.weight"), n_embd, n_q, true,
                        &l->wq));
        TRY(load_matrix(m, blk_name(nb, sizeof nb, il, "attn_k.weight"), n_embd, n_k, true,
                        &l->wk));
        TRY(load_matrix(m, blk_name(nb, sizeof nb, il, "attn_v.weight"), n_embd, n_v, true,
                        &l->wv));
        TRY(load_vector(m, blk_name(nb, sizeof nb, il, "attn_q.bias"), n_q, a->qkv_bias, &l->bq));
        TRY(load_vector(m, blk_name(nb, sizeof nb, il, "attn_k.bias"), n_k, a->qkv_bias, &l->bk));
        TRY(load_vector(m, blk_name(nb, sizeof nb, il, "attn_v.bias"), n_v, a->qkv_bias, &l->bv));
    }
    if (a->qk_norm) {
        TRY(load_vector(m, blk_name(nb, sizeof nb, il, "attn_q_norm.weight"), m->head_dim_k, true,
                        &l->q_norm));
        TRY(load_vector(m, blk_name(nb, sizeof nb, il, "attn_k_norm.weight"), m->head_dim_k, true,
                        &l->k_norm));
    }
    TRY(load_matrix(m, blk_name(nb, sizeof nb, il, "attn_output.weight"), n_o, n_embd, true,
                    &l->wo));
    TRY(load_vector(m, blk_name(nb, sizeof nb, il, "attn_output.bias"), n_embd, false, &l->bo));
    if (a->post_norms) {
        TRY(load_vector(m, blk_name(nb, sizeof nb, il, "post_attention_norm.weight"), n_embd, true,
                        &l->post_attn_norm));
        TRY(load_vector(m, blk_name(nb, sizeof nb, il, "post_ffw_norm.weight"), n_embd, true,
                        &l->post_ffn_norm));
    }
    TRY(load_vector(m, blk_name(nb, sizeof nb, il, "ffn_norm.weight"), n_embd, true, &l->ffn_norm));
    if (a->gating != MODEL_GATING_NONE) {
        const int64_t ne = m->n_expert;
        l->gate_exps = m->experts + (size_t)il * 3 * (size_t)ne;
        l->up_exps = l->gate_exps + ne;
        l->down_exps = l->up_exps + ne;
        TRY(load_matrix(m, blk_name(nb, sizeof nb, il, "ffn_gate_inp.weight"), n_embd, ne, true,
                        &l->w_router));
        /* The router reads float activations at every kernel level (the
         * reference quantizer keeps it F32): its choices must not depend
         * on 8-bit rounding of its input. */
        if (l->w_router.type != TK_TYPE_F32 && l->w_router.type != TK_TYPE_F16 &&
            l->w_router.type != TK_TYPE_BF16)
            return core_error(TK_ERR_UNSUPPORTED,
                              "tensor '%s': the router must be F32, F16 or BF16, found %s", nb,
                              tk_type_get(l->w_router.type)->name);
        TRY(load_experts(m, blk_name(nb, sizeof nb, il, "ffn_gate_exps.weight"), n_embd,
                         m->n_ff_exp, l->gate_exps));
        TRY(load_experts(m, blk_name(nb, sizeof nb, il, "ffn_up_exps.weight"), n_embd, m->n_ff_exp,
                         l->up_exps));
        TRY(load_experts(m, blk_name(nb, sizeof nb, il, "ffn_down_exps.weight"), m->n_ff_exp,
                         n_embd, l->down_exps));
        return TK_OK;
    }
    if (a->fused_gate_up) {
        /* Gate rows then up rows in one matrix: two views. */
        model_tensor up;
        TRY(load_matrix(m, blk_name(nb, sizeof nb, il, "ffn_up.weight"), n_embd,
                        2 * (int64_t)m->n_ff, true, &up));
        l->w_gate = row_view(&up, 0, m->n_ff);
        l->w_up = row_view(&up, m->n_ff, m->n_ff);
    } else {
        TRY(load_matrix(m, blk_name(nb, sizeof nb, il, "ffn_gate.weight"), n_embd, m->n_ff, true,
                        &l->w_gate));
        TRY(load_matrix(m, blk_name(nb, sizeof nb, il, "ffn_up.weight"), n_embd, m->n_ff, true,
                        &l->w_up));
    }
    TRY(load_matrix(m, blk_name(nb, sizeof nb, il, "ffn_down.weight"), m->n_ff, n_embd, true,
                    &l->w_down));
#undef TRY
    return TK_OK;
}

/* ---- hyper-parameters -------------------------------------------------- */

static tk_status load_hparams(tk_model *m)
{
    const model_arch *a = m->arch;
    tk_status st;
    bool present;
    char key[160];

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if ((st = (expr)) != TK_OK) return st;                                                     \
    } while (0)
    TRY(get_int(m, "context_length", -1, 1, MODEL_MAX_CTX, &m->n_ctx_train));
    TRY(get_int(m, "embedding_length", -1, 1, MODEL_MAX_EMBD, &m->n_embd));
    TRY(get_int(m, "block_count", -1, 1, MODEL_MAX_LAYERS, &m->n_layer));
    TRY(get_int(m, "feed_forward_length", -1, 1, MODEL_MAX_FF, &m->n_ff));
    TRY(get_int(m, "attention.head_count", -1, 1, MODEL_MAX_HEADS, &m->n_head));
    TRY(get_int(m, "attention.head_count_kv", m->n_head, 1, m->n_head, &m->n_head_kv));
    if (m->n_head % m->n_head_kv != 0)
        return core_error(TK_ERR_FORMAT, "%s: head_count %d is not a multiple of head_count_kv %d",
                          a->name, m->n_head, m->n_head_kv);
    bool has_key_length =
        tk_gguf_find_kv(m->gguf, arch_key(key, sizeof key, m, "attention.key_length")) >= 0;
    if (!has_key_length && m->n_embd % m->n_head != 0)
        return core_error(TK_ERR_FORMAT,
                          "%s: embedding_length %d is not a multiple of head_count %d", a->name,
                          m->n_embd, m->n_head);
    TRY(get_int(m, "attention.key_length", m->n_embd / m->n_head, 1, MODEL_MAX_HEAD_DIM,
                &m->head_dim_k));
    TRY(get_int(m, "attention.value_length", m->head_dim_k, 1, MODEL_MAX_HEAD_DIM, &m->head_dim_v));
    TRY(get_int(m, "rope.dimension_count", m->head_dim_k, 2, m->head_dim_k, &m->n_rot));
    if (m->n_rot % 2 != 0)
        return core_error(TK_ERR_FORMAT, "%s.rope.dimension_count = %d: must be even", a->name,
                          m->n_rot);

    m->norm_eps = 1e-5f;
    TRY(get_float(m, "attention.layer_norm_rms_epsilon", 1e-12, 0.1, &m->norm_eps, &present));
    if (!present)
        return core_error(TK_ERR_FORMAT,
                          "missing metadata key '%s.attention.layer_norm_rms_epsilon'", a->name);

    float rope_base = 10000.0f;
    TRY(get_float(m, "rope.freq_base", 1.0, 1e12, &rope_base, &present));
    float rope_base_swa = a->rope_base_swa > 0 ? a->rope_base_swa : rope_base;
    TRY(get_float(m, "rope.freq_base_swa", 1.0, 1e12, &rope_base_swa, &present));

    /* RoPE scaling: linear (positions divided by the factor) or none; the
     * long/short factors of phi3 come as tensors (below). */
    float rope_scale = 1.0f;
    int64_t ki = tk_gguf_find_kv(m->gguf, arch_key(key, sizeof key, m, "rope.scaling.type"));
    const char *scaling = "none";
    uint64_t slen;
    if (ki >= 0 && !tk_gguf_kv_str(m->gguf, ki, &scaling, &slen))
        return core_error(TK_ERR_FORMAT, "metadata '%s': expected a string", key);
    float factor = 1.0f;
    TRY(get_float(m, "rope.scaling.factor", 0.0, 1e6, &factor, &present));
    if (!present) TRY(get_float(m, "rope.scale_linear", 0.0, 1e6, &factor, &present));
    if (strcmp(scaling, "linear") == 0 || (ki < 0 && present)) {
        if (factor > 0.0f) rope_scale = 1.0f / factor;
    } else if (strcmp(scaling, "none") != 0 && strcmp(scaling, "longrope") != 0) {
        return core_error(TK_ERR_UNSUPPORTED,
                          "%s.rope.scaling.type '%s' is not supported (supported: none, linear)",
                          a->name, scaling);
    }
    m->rope_attn_factor = 1.0f;
    TRY(get_float(m, "rope.scaling.attn_factor", 1e-3, 1e3, &m->rope_attn_factor, &present));
    TRY(get_int(m, "rope.scaling.original_context_length", m->n_ctx_train, 1, MODEL_MAX_CTX,
                &m->n_ctx_orig));

    m->n_swa = 0;
    if (a->swa != MODEL_SWA_NONE)
        TRY(get_int(m, "attention.sliding_window", a->swa_default > 0 ? a->swa_default : -1, 0,
                    MODEL_MAX_CTX, &m->n_swa));

    /* Query scale: the file's, or 1/sqrt(head size) (see arch.c for gemma). */
    m->attn_scale = 1.0f / sqrtf((float)m->head_dim_k);
    if (a->layers_pre_attn_embd && m->n_layer == a->layers_pre_attn_embd)
        m->attn_scale = 1.0f / sqrtf((float)(m->n_embd / m->n_head));
    TRY(get_float(m, "attention.scale", 1e-6, 1e6, &m->attn_scale, &present));

    m->attn_softcap = 0.0f;
    m->final_softcap = 0.0f;
    if (a->softcaps) {
        m->attn_softcap = 50.0f;
        m->final_softcap = 30.0f;
        TRY(get_float(m, "attn_logit_softcapping", 0.0, 1e6, &m->attn_softcap, &present));
        TRY(get_float(m, "final_logit_softcapping", 0.0, 1e6, &m->final_softcap, &present));
    }
    m->embd_scale = a->embd_scale ? sqrtf((float)m->n_embd) : 1.0f;

    if (a->gating != MODEL_GATING_NONE) {
        TRY(get_int(m, "expert_count", -1, 1, MODEL_MAX_EXPERTS, &m->n_expert));
        TRY(get_int(m, "expert_used_count", -1, 1, m->n_expert, &m->n_expert_used));
        TRY(get_int(m, "expert_feed_forward_length", -1, 1, MODEL_MAX_FF, &m->n_ff_exp));
        m->moe_norm_w = a->moe_norm_w;
        ki = tk_gguf_find_kv(m->gguf, arch_key(key, sizeof key, m, "expert_weights_norm"));
        if (ki >= 0 && !tk_gguf_kv_bool(m->gguf, ki, &m->moe_norm_w))
            return core_error(TK_ERR_FORMAT, "metadata '%s': expected a bool", key);
        uint64_t n;
        if (!core_mul_u64((uint64_t)m->n_layer * 3, (uint64_t)m->n_expert, &n) ||
            !(m->experts = core_calloc((size_t)n, sizeof *m->experts)))
            return core_error(TK_ERR_NOMEM, "model: %d layers of %d experts", m->n_layer,
                              m->n_expert);
    }

    for (int il = 0; il < m->n_layer; il++) {
        model_layer *l = &m->layers[il];
        bool local = false;
        if (m->n_swa > 0 && a->swa == MODEL_SWA_ALL) local = true;
        if (m->n_swa > 0 && a->swa == MODEL_SWA_PATTERN) local = (il + 1) % a->swa_period != 0;
        l->swa = local;
        /* Local layers of gemma3 keep the base and scale they were trained with. */
        bool own_base = local && a->rope_base_swa > 0;
        l->rope_base = own_base ? rope_base_swa : rope_base;
        l->rope_scale = own_base ? 1.0f : rope_scale;
        l->rope_factors = !own_base;
    }
#undef TRY
    return TK_OK;
}

/* ---- packing ------------------------------------------------------------ */

/* Drops the pages of [p, p + len) (rounded out to whole pages) from this
 * process's resident set. The model's file is mapped read-only and private
 * (tk_gguf_open), so this only means the bytes are read again from the page
 * cache if used again, neighbours included: after a matrix is packed, its
 * file pages would otherwise count twice against memory. */
static void drop_pages(const void *p, size_t len, bool inner)
{
#if defined(__linux__) && defined(MADV_DONTNEED)
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p / page * page;
    uintptr_t b = ((uintptr_t)p + len + page - 1) / page * page;
    if (inner) {
        /* Memory that is not a file's (a model directory's converted
         * tensors): a dropped page reads back as zeros, so only the pages
         * wholly inside the range go. */
        a = ((uintptr_t)p + page - 1) / page * page;
        b = ((uintptr_t)p + len) / page * page;
    }
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
#else
    (void)p;
    (void)len;
    (void)inner;
#endif
}

/* After loading, the file's tensor pages that were read (packed matrices,
 * copied vectors) need not stay resident; what the forward pass reads in
 * place (unpacked matrices, embedding rows) comes back on first use. */
static void drop_file_pages(const tk_model *m)
{
    /* a model directory's tensors are not one file (see pack_worker) */
    if (tk_gguf_n_tensors(m->gguf) < 1 || gguf_is_virtual(m->gguf)) return;
    const tk_gguf_tensor *t = tk_gguf_tensor_at(m->gguf, 0);
    const char *base = (const char *)t->data - t->offset;
    const uint64_t start = tk_gguf_data_offset(m->gguf), end = tk_gguf_file_size(m->gguf);
    if (end > start) drop_pages(base + start, (size_t)(end - start), false);
}

/* The matrices of the forward pass, for packing. */
static int model_matrices(tk_model *m, model_tensor **out, int max)
{
    int n = 0;
    for (int il = 0; il < m->n_layer; il++) {
        model_layer *l = &m->layers[il];
        model_tensor *ts[] = {&l->wq,     &l->wk,   &l->wv,     &l->wo,
                              &l->w_gate, &l->w_up, &l->w_down, &l->w_router};
        for (size_t i = 0; i < TK_ARRAY_LEN(ts); i++)
            if (ts[i]->data && n < max) out[n++] = ts[i];
    }
    /* each expert is a matrix of its own, packed on its own */
    const int64_t n_exp = (int64_t)m->n_layer * 3 * m->n_expert;
    for (int64_t i = 0; i < n_exp && n < max; i++) out[n++] = &m->experts[i];
    if (n < max) out[n++] = &m->output;
    return n;
}

/* One piece of packing work: groups [g0, g1) of a matrix, about 1 MiB of
 * the file. */
typedef struct pack_chunk {
    const model_tensor *w;
    int64_t g0, g1;
    char *dst; /* the matrix's packed copy */
} pack_chunk;

typedef struct pack_job {
    const pack_chunk *chunks;
    int64_t n;
    _Atomic int64_t next; /* the next chunk to take */
    bool inner;           /* drop only whole pages (drop_pages) */
} pack_job;

/* Threads take chunks in file order, so the file is read front to back.
 * Each chunk writes its own groups of its own matrix, from nothing but the
 * file's bytes, so the result is the same bytes for any thread count and
 * any order. */
static void pack_worker(void *arg, int ith, int nth)
{
    (void)ith;
    (void)nth;
    pack_job *job = arg;
    for (;;) {
        const int64_t i = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (i >= job->n) break;
        const pack_chunk *c = &job->chunks[i];
        const model_tensor *w = c->w;
        kernels_pack(w->type, w->data, w->row_bytes, w->rows, w->cols, c->g0, c->g1, c->dst);
        const int64_t r0 = c->g0 * KERNELS_GROUP_ROWS;
        const int64_t r1 = TK_MIN(w->rows, c->g1 * KERNELS_GROUP_ROWS);
        drop_pages((const char *)w->data + (size_t)r0 * w->row_bytes,
                   (size_t)(r1 - r0) * w->row_bytes, job->inner);
    }
}

/* The chunks of every packed matrix, in order; *n_out of them. Matrix i
 * goes to dsts[i]. */
static pack_chunk *pack_chunks(model_tensor *const *list, char *const *dsts, int n, int64_t *n_out)
{
    int64_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        pack_chunk *chunks = NULL;
        if (pass == 1 && !(chunks = core_calloc((size_t)total, sizeof *chunks))) return NULL;
        int64_t k = 0;
        for (int i = 0; i < n; i++) {
            if (!dsts[i]) continue;
            const model_tensor *w = list[i];
            const int64_t groups = (w->rows + KERNELS_GROUP_ROWS - 1) / KERNELS_GROUP_ROWS;
            const int64_t step =
                TK_MAX(1, (int64_t)((1u << 20) / (w->row_bytes * KERNELS_GROUP_ROWS)));
            for (int64_t g = 0; g < groups; g += step, k++)
                if (chunks) chunks[k] = (pack_chunk){w, g, TK_MIN(groups, g + step), dsts[i]};
        }
        total = k;
        if (chunks) {
            *n_out = total;
            return chunks;
        }
    }
    return NULL;
}

/* Copies every matrix whose type the kernel level wants packed into the
 * packed layout (kernels_pack), in one allocation owned by the model, and
 * lets the file's pages of it go (drop_pages), chunk by chunk, so memory
 * stays near the file's size while packing. The chunks are shared among
 * one thread per physical core (at most 16, as a context's default). */
static tk_status pack_weights(tk_model *m)
{
    const int max = 8 * m->n_layer + 3 * m->n_layer * m->n_expert + 1;
    model_tensor **list = core_calloc((size_t)max, sizeof *list);
    if (!list) return core_error(TK_ERR_NOMEM, "model: packing list");
    const int n = model_matrices(m, list, max);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        const model_tensor *w = list[i];
        if (!m->kern->types[w->type].packed) continue;
        const size_t bytes = kernels_packed_bytes(w->type, w->rows, w->cols);
        if (!bytes || !core_add_u64(total, (bytes + 63) / 64 * 64, &total) || total > SIZE_MAX) {
            free(list);
            return core_error(TK_ERR_LIMIT, "model: packed weights too large");
        }
    }
    if (total == 0) {
        free(list);
        return TK_OK;
    }
    /* In 2 MiB pages where the system has them (fewer faults while packing,
     * fewer TLB misses while streaming the weights). */
    const size_t huge = (size_t)2 << 20;
    total = (total + huge - 1) / huge * huge;
    m->packed = os_aligned_alloc(huge, (size_t)total);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (m->packed) madvise(m->packed, (size_t)total, MADV_HUGEPAGE);
#endif
    if (!m->packed) {
        free(list);
        return core_error(TK_ERR_NOMEM, "model: cannot allocate %llu bytes for packed weights",
                          (unsigned long long)total);
    }
    m->packed_size = (size_t)total;
    char **dsts = core_calloc((size_t)n, sizeof *dsts);
    if (!dsts) {
        free(list);
        return core_error(TK_ERR_NOMEM, "model: packing list");
    }
    char *dst = m->packed;
    for (int i = 0; i < n; i++) {
        const model_tensor *w = list[i];
        if (!m->kern->types[w->type].packed) continue;
        dsts[i] = dst;
        dst += (kernels_packed_bytes(w->type, w->rows, w->cols) + 63) / 64 * 64;
    }
    int64_t n_chunks = 0;
    pack_job job = {.chunks = pack_chunks(list, dsts, n, &n_chunks)};
    job.n = n_chunks;
    job.inner = gguf_is_virtual(m->gguf);
    if (!job.chunks) {
        free(dsts);
        free(list);
        return core_error(TK_ERR_NOMEM, "model: packing list");
    }
    atomic_init(&job.next, 0);
    tk_platform plat;
    tk_platform_detect(&plat);
    const int nth = (int)TK_MIN(TK_MAX(1, TK_MIN(plat.n_physical_cores, 16)), job.n);
    model_pool *pool = NULL;
    /* Without threads (none can start), the caller packs alone. */
    if (nth > 1 && model_pool_create(nth, &pool) == TK_OK) {
        model_pool_run(pool, pack_worker, &job);
        model_pool_free(pool);
    } else {
        pack_worker(&job, 0, 1);
    }
    for (int i = 0; i < n; i++) {
        if (!dsts[i]) continue;
        list[i]->data = dsts[i];
        list[i]->packed = true;
    }
    free((void *)job.chunks);
    free(dsts);
    free(list);
    return TK_OK;
}

/* ---- load -------------------------------------------------------------- */

static tk_status load_tensors(tk_model *m)
{
    tk_status st;
    const int64_t n_embd = m->n_embd;

    /* Room for every 1-D tensor as F32: vectors are copied out of the file
     * (they are small), so that no page of the file needs to stay resident
     * for them (see drop_pages). */
    uint64_t vec_total = 0;
    for (int64_t i = 0; i < tk_gguf_n_tensors(m->gguf); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(m->gguf, i);
        if (t->n_dims == 1) vec_total += (uint64_t)t->ne[0];
        uint64_t ne = 1;
        for (int d = 0; d < 4; d++) ne *= (uint64_t)t->ne[d];
        m->n_params += ne;
        m->size_bytes += t->size;
    }
    if (vec_total) {
        m->vec_arena = core_calloc((size_t)vec_total, sizeof(float));
        if (!m->vec_arena)
            return core_error(TK_ERR_NOMEM, "model: %llu converted weights",
                              (unsigned long long)vec_total);
        m->vec_arena_len = (size_t)vec_total;
    }

    /* The vocabulary size is the embedding's row count; the tokenizer's
     * list, when present, must agree. */
    const tk_gguf_tensor *te = tk_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te)
        return core_error(TK_ERR_FORMAT, "missing tensor 'token_embd.weight' (required by %s)",
                          m->arch->name);
    if (te->ne[1] < 1 || te->ne[1] > MODEL_MAX_VOCAB)
        return core_error(TK_ERR_FORMAT, "tensor 'token_embd.weight': %lld rows, expected 1..%d",
                          (long long)te->ne[1], MODEL_MAX_VOCAB);
    m->n_vocab = (int32_t)te->ne[1];
    int64_t ki = tk_gguf_find_kv(m->gguf, "tokenizer.ggml.tokens");
    if (ki >= 0 && tk_gguf_kv_arr_len(m->gguf, ki) != (uint64_t)m->n_vocab)
        return core_error(TK_ERR_FORMAT,
                          "tokenizer.ggml.tokens has %llu entries but token_embd.weight has %d "
                          "rows",
                          (unsigned long long)tk_gguf_kv_arr_len(m->gguf, ki), m->n_vocab);

    const tk_gguf_tensor *t;
    int64_t ne_embd[2] = {n_embd, m->n_vocab};
    if ((st = find_tensor(m, "token_embd.weight", 2, ne_embd, true, &t)) != TK_OK) return st;
    uint64_t row_bytes;
    tk_type_size(t->type, n_embd, &row_bytes);
    m->tok_embd = (model_tensor){t->data, t->type, n_embd, m->n_vocab, (size_t)row_bytes, false};

    if ((st = load_vector(m, "output_norm.weight", n_embd, true, &m->output_norm)) != TK_OK)
        return st;
    if ((st = load_matrix(m, "output.weight", n_embd, m->n_vocab, false, &m->output)) != TK_OK)
        return st;
    if (!m->output.data) {
        /* Tied output: the embedding matrix doubles as the output projection. */
        if (!m->kern->types[m->tok_embd.type].matmul)
            return core_error(TK_ERR_UNSUPPORTED,
                              "token_embd.weight (used as output): no matrix kernel for type %s",
                              tk_type_get(m->tok_embd.type)->name);
        m->output = m->tok_embd;
        m->tied_output = true;
        if (n_embd > m->max_cols) m->max_cols = n_embd;
    }

    /* RoPE frequency factors: llama3's rope_freqs, or phi3's short/long pair. */
    int64_t n_half = m->n_rot / 2;
    if ((st = load_vector(m, "rope_freqs.weight", n_half, false, &m->rope_freqs)) != TK_OK)
        return st;
    if (!m->rope_freqs) {
        if ((st = load_vector(m, "rope_factors_short.weight", n_half, false, &m->rope_freqs)) !=
            TK_OK)
            return st;
        if ((st = load_vector(m, "rope_factors_long.weight", n_half, false, &m->rope_long)) !=
            TK_OK)
            return st;
    }
    for (const float *f = m->rope_freqs; f && f < m->rope_freqs + n_half; f++)
        if (!(*f > 0.0f) || !isfinite(*f))
            return core_error(TK_ERR_FORMAT, "RoPE frequency factors must be positive");
    for (const float *f = m->rope_long; f && f < m->rope_long + n_half; f++)
        if (!(*f > 0.0f) || !isfinite(*f))
            return core_error(TK_ERR_FORMAT, "RoPE frequency factors must be positive");

    for (int il = 0; il < m->n_layer; il++)
        if ((st = load_layer(m, il)) != TK_OK) return st;
    return TK_OK;
}

tk_status tk_model_load(const char *path, tk_model **out)
{
    return tk_model_load_ex(path, NULL, out);
}

tk_status tk_model_load_ex(const char *path, const tk_model_load_opts *opts, tk_model **out)
{
    if (!path || !out) return core_error(TK_ERR_INVALID_ARG, "tk_model_load: NULL argument");
    *out = NULL;
    tk_model *m = core_calloc(1, sizeof *m);
    if (!m) return core_error(TK_ERR_NOMEM, "model: out of memory");
    m->check_tensors = !(opts && opts->skip_tensor_check);
    m->kern = kernels_get();
    if (!m->kern) {
        /* TEKTRA_CPU names a level this CPU cannot run: refuse, with the
         * message kernels_get() left. */
        free(m);
        return TK_ERR_UNSUPPORTED;
    }
    tk_status st = tk_model_source_open(path, &m->gguf);
    if (st != TK_OK) {
        /* The reader's message already names the file. */
        tk_model_free(m);
        return st;
    }

    const char *arch_name = NULL;
    st = tk_gguf_get_str(m->gguf, "general.architecture", &arch_name);
    if (st == TK_ERR_NOT_FOUND) {
        st = core_error(TK_ERR_FORMAT, "missing metadata key 'general.architecture'");
        goto fail;
    }
    if (st != TK_OK) goto fail;
    m->arch = model_arch_find(arch_name);
    if (!m->arch) {
        st = core_error(TK_ERR_UNSUPPORTED, "architecture '%.64s' is not supported (supported: %s)",
                        arch_name, model_arch_list());
        goto fail;
    }
    /* The layer count is needed before the per-layer traits are set. */
    int32_t n_layer;
    if ((st = get_int(m, "block_count", -1, 1, MODEL_MAX_LAYERS, &n_layer)) != TK_OK) goto fail;
    m->layers = core_calloc((size_t)n_layer, sizeof *m->layers);
    if (!m->layers) {
        st = core_error(TK_ERR_NOMEM, "model: %d layers", n_layer);
        goto fail;
    }
    if ((st = load_hparams(m)) != TK_OK) goto fail;
    if (m->check_tensors && (st = check_weights(m)) != TK_OK) goto fail;
    if ((st = load_tensors(m)) != TK_OK) goto fail;
    if ((st = pack_weights(m)) != TK_OK) goto fail;
    drop_file_pages(m);
    *out = m;
    return TK_OK;

fail:
    core_error_prefix("%s", path);
    tk_model_free(m);
    return st;
}

void tk_model_free(tk_model *m)
{
    if (!m) return;
    tk_gguf_close(m->gguf);
    free(m->layers);
    free(m->experts);
    free(m->vec_arena);
    os_aligned_free(m->packed);
    free(m);
}

const tk_gguf *tk_model_gguf(const tk_model *m)
{
    return m->gguf;
}

const char *tk_model_arch(const tk_model *m)
{
    return m->arch->name;
}

const char *tk_model_archs(void)
{
    return model_arch_list();
}

int32_t tk_model_n_vocab(const tk_model *m)
{
    return m->n_vocab;
}

int32_t tk_model_n_ctx_train(const tk_model *m)
{
    return m->n_ctx_train;
}

int32_t tk_model_n_embd(const tk_model *m)
{
    return m->n_embd;
}

int32_t tk_model_n_layer(const tk_model *m)
{
    return m->n_layer;
}

uint64_t tk_model_n_params(const tk_model *m)
{
    return m->n_params;
}

uint64_t tk_model_size_bytes(const tk_model *m)
{
    return m->size_bytes;
}

int32_t tk_model_n_expert(const tk_model *m)
{
    return m->n_expert;
}

int32_t tk_model_n_expert_used(const tk_model *m)
{
    return m->n_expert_used;
}

uint64_t tk_model_active_bytes(const tk_model *m)
{
    uint64_t bytes = 0;
    for (int64_t i = 0; i < tk_gguf_n_tensors(m->gguf); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(m->gguf, i);
        if (!m->tied_output && strcmp(t->name, "token_embd.weight") == 0) continue;
        if (m->n_expert > 0 && strstr(t->name, "_exps."))
            bytes += t->size / (uint64_t)m->n_expert * (uint64_t)m->n_expert_used;
        else
            bytes += t->size;
    }
    return bytes;
}
