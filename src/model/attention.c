/* The attention step: chunks of cached positions, partial softmaxes merged
 * in a fixed order, shared among the threads by tiles of tokens (prompts)
 * or by chunks (generation). See attention.h for the contract. */
#include "model/attention.h"

#include <math.h>
#include <string.h>

#define C_POS MODEL_ATTN_CHUNK

/* The chunks of a context of n_ctx positions. */
static int64_t n_chunks(int32_t n_ctx)
{
    return ((int64_t)n_ctx + C_POS - 1) / C_POS;
}

size_t model_attn_scratch_floats(const tk_model *m)
{
    const size_t group = (size_t)(m->n_head / m->n_head_kv);
    /* Scores of one chunk, one chunk's partial (output, max, sum), and the
     * running max and sum of a tile's tokens. */
    return kernels_attn_scratch((int)group, 0, C_POS - 1) + group * (size_t)m->head_dim_v +
           2 * group + 2 * group * MODEL_ATTN_TILE;
}

uint64_t model_attn_part_floats(const tk_model *m, int32_t n_ctx)
{
    return (uint64_t)MODEL_ATTN_SPLIT_MAX * (uint64_t)n_chunks(n_ctx) * (uint64_t)m->n_head *
           ((uint64_t)m->head_dim_v + 2);
}

/* What every kernel call of the step shares. */
typedef struct attn_layer {
    tk_context *c;
    const model_layer *l;
    int il;
    int group;   /* query heads per KV head */
    int64_t n_o; /* n_head * head_dim_v: one token's output */
} attn_layer;

/* The positions token t sees: lo..hi. */
static void token_range(const attn_layer *L, int64_t t, int64_t *lo, int64_t *hi)
{
    const int64_t pos = L->c->n_past + t;
    *hi = pos;
    *lo = L->l->swa ? TK_MAX(0, pos - L->c->model->n_swa + 1) : 0;
}

/* The kernel over positions lo..hi for token t and KV head kvh, writing
 * the group's heads at out (stride head_dim_v); the partial form when pm
 * (and pl) are set. */
static void run_kernel(const attn_layer *L, int64_t t, int kvh, int64_t lo, int64_t hi, float *out,
                       float *scores, float *pm, float *pl)
{
    const tk_context *c = L->c;
    const tk_model *m = c->model;
    const int64_t hd_k = m->head_dim_k, hd_v = m->head_dim_v;
    kernels_attn a;
    memset(&a, 0, sizeof a);
    a.q = c->qkv + t * c->qkv_ld + (int64_t)kvh * L->group * hd_k;
    a.q_stride = hd_k;
    a.nh = L->group;
    a.hd_k = hd_k;
    a.hd_v = hd_v;
    a.k = (const char *)c->k_cache + ((size_t)L->il * (size_t)m->n_head_kv + (size_t)kvh) *
                                         (size_t)c->kv_blocks * c->k_block_bytes;
    a.k_block_bytes = c->k_block_bytes;
    a.v = (const char *)c->v_cache + (size_t)L->il * (size_t)c->n_ctx * c->v_row_bytes +
          (size_t)kvh * c->v_head_bytes;
    a.v_stride = c->v_row_bytes;
    a.k_type = c->k_type;
    a.v_type = c->v_type;
    a.lo = lo;
    a.hi = hi;
    a.scale = m->attn_scale;
    a.softcap = m->attn_softcap;
    a.out = out;
    a.out_stride = hd_v;
    a.scores = scores;
    a.part_max = pm;
    a.part_sum = pl;
    m->kern->attn(&a);
}

/* Merges a chunk's partial (o, m, l) of nh heads into the running state
 * (O, M, L); both outputs [nh][hd_v]. */
static void merge(float *O, float *M, float *L, const float *o, const float *m, const float *l,
                  int nh, int64_t hd_v)
{
    for (int h = 0; h < nh; h++) {
        const float mx = fmaxf(M[h], m[h]);
        const float a = expf(M[h] - mx), b = expf(m[h] - mx);
        float *Oh = O + h * hd_v;
        const float *oh = o + h * hd_v;
        for (int64_t d = 0; d < hd_v; d++) Oh[d] = Oh[d] * a + oh[d] * b;
        L[h] = L[h] * a + l[h] * b;
        M[h] = mx;
    }
}

/* Divides the merged output by its sum. */
static void finish(float *O, const float *L, int nh, int64_t hd_v)
{
    for (int h = 0; h < nh; h++) {
        const float inv = 1.0f / L[h];
        for (int64_t d = 0; d < hd_v; d++) O[h * hd_v + d] *= inv;
    }
}

/* Token t's output of KV head kvh in c->att. */
static float *att_out(const attn_layer *L, int64_t t, int kvh)
{
    return L->c->att + t * L->n_o + (int64_t)kvh * L->group * L->c->model->head_dim_v;
}

static void quantize_out(const attn_layer *L, int64_t t, int kvh)
{
    const tk_model *m = L->c->model;
    const int64_t b0 = (int64_t)kvh * L->group * m->head_dim_v / 32;
    m->kern->quantize_act(att_out(L, t, kvh), L->n_o, b0, b0 + L->group * m->head_dim_v / 32,
                          (char *)L->c->act + (size_t)t * L->c->act_stride);
}

/* Tiles of tokens [r0, n), each walking the chunks in order. The most
 * expensive tiles (the last, which see the most positions) go first. */
static void attn_tiled(const attn_layer *L, int64_t r0, int64_t n, bool quantize,
                       _Atomic int64_t *ctr, int nth, float *scratch)
{
    const tk_model *m = L->c->model;
    const int64_t hd_v = m->head_dim_v;
    const int g = L->group;
    const int64_t ntok = n - r0;
    /* Enough tiles for every thread, as large as that allows. */
    const int64_t tile =
        TK_MAX(1, TK_MIN(MODEL_ATTN_TILE, ntok * m->n_head_kv / (4 * (int64_t)nth)));
    const int64_t n_tiles = (ntok + tile - 1) / tile;
    const int64_t total = n_tiles * m->n_head_kv;
    float *scores = scratch;
    float *po = scores + kernels_attn_scratch(g, 0, C_POS - 1);
    float *pm = po + (size_t)g * (size_t)hd_v, *pl = pm + g;
    float *run_m = pl + g, *run_l = run_m + (size_t)g * MODEL_ATTN_TILE;
    for (;;) {
        const int64_t i = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
        if (i >= total) break;
        const int kvh = (int)(i % m->n_head_kv);
        const int64_t t0 = r0 + (n_tiles - 1 - i / m->n_head_kv) * tile;
        const int64_t t1 = TK_MIN(n, t0 + tile);
        int64_t lo, hi;
        token_range(L, t0, &lo, &hi);
        const int64_t c_first = lo / C_POS;
        token_range(L, t1 - 1, &lo, &hi);
        const int64_t c_last = hi / C_POS;
        for (int64_t ci = c_first; ci <= c_last; ci++) {
            for (int64_t t = t0; t < t1; t++) {
                token_range(L, t, &lo, &hi);
                const int64_t c0 = lo / C_POS, c1 = hi / C_POS;
                if (ci < c0 || ci > c1) continue;
                float *out = att_out(L, t, kvh);
                if (c0 == c1) {
                    run_kernel(L, t, kvh, lo, hi, out, scores, NULL, NULL);
                    continue;
                }
                const int64_t a = TK_MAX(lo, ci * C_POS), b = TK_MIN(hi, ci * C_POS + C_POS - 1);
                float *M = run_m + (t - t0) * g, *Lsum = run_l + (t - t0) * g;
                if (ci == c0) {
                    run_kernel(L, t, kvh, a, b, out, scores, M, Lsum);
                } else {
                    run_kernel(L, t, kvh, a, b, po, scores, pm, pl);
                    merge(out, M, Lsum, po, pm, pl, g, hd_v);
                }
                if (ci == c1) finish(out, Lsum, g, hd_v);
            }
        }
        if (quantize)
            for (int64_t t = t0; t < t1; t++) quantize_out(L, t, kvh);
    }
}

/* One (token, KV head, chunk) per work item, partials into c->attn_part,
 * then the merge of each (token, KV head) after a barrier. */
static void attn_split(const attn_layer *L, int64_t r0, int64_t n, bool quantize,
                       _Atomic int64_t *ctr, int ith, int nth, float *scratch)
{
    tk_context *c = L->c;
    const tk_model *m = c->model;
    const int64_t hd_v = m->head_dim_v;
    const int g = L->group;
    const int64_t nc = n_chunks(c->n_ctx);
    const int64_t nc_used = (c->n_past + n - 1) / C_POS + 1;
    const int n_kv = m->n_head_kv;
    /* Token tt = t - r0, chunk ci: outputs [n_head][hd_v], max and sum
     * [n_head] each. */
    float *part_o = c->attn_part;
    float *part_ml =
        part_o + (size_t)MODEL_ATTN_SPLIT_MAX * (size_t)nc * (size_t)m->n_head * (size_t)hd_v;
#define PART_HEAD(tt, ci, kvh) ((((tt)*nc + (ci)) * m->n_head) + (int64_t)(kvh)*g)

    const int64_t total = (n - r0) * n_kv * nc_used;
    for (;;) {
        const int64_t i = atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
        if (i >= total) break;
        const int64_t ci = i % nc_used;
        const int kvh = (int)(i / nc_used % n_kv);
        const int64_t tt = i / (nc_used * n_kv), t = r0 + tt;
        int64_t lo, hi;
        token_range(L, t, &lo, &hi);
        const int64_t c0 = lo / C_POS, c1 = hi / C_POS;
        if (ci < c0 || ci > c1) continue;
        if (c0 == c1) {
            run_kernel(L, t, kvh, lo, hi, att_out(L, t, kvh), scratch, NULL, NULL);
            continue;
        }
        const int64_t a = TK_MAX(lo, ci * C_POS), b = TK_MIN(hi, ci * C_POS + C_POS - 1);
        const int64_t ph = PART_HEAD(tt, ci, kvh);
        float *pm = part_ml + 2 * ph;
        run_kernel(L, t, kvh, a, b, part_o + ph * hd_v, scratch, pm, pm + g);
    }
    model_pool_barrier(c->pool);

    const int64_t pairs = (n - r0) * n_kv;
    const int64_t p0 = pairs * ith / nth, p1 = pairs * (ith + 1) / nth;
    for (int64_t p = p0; p < p1; p++) {
        const int64_t tt = p / n_kv, t = r0 + tt;
        const int kvh = (int)(p % n_kv);
        int64_t lo, hi;
        token_range(L, t, &lo, &hi);
        const int64_t c0 = lo / C_POS, c1 = hi / C_POS;
        float *out = att_out(L, t, kvh);
        if (c0 < c1) {
            const int64_t ph0 = PART_HEAD(tt, c0, kvh);
            float *M = part_ml + 2 * ph0, *Lsum = M + g;
            memcpy(out, part_o + ph0 * hd_v, (size_t)g * (size_t)hd_v * sizeof(float));
            for (int64_t ci = c0 + 1; ci <= c1; ci++) {
                const int64_t ph = PART_HEAD(tt, ci, kvh);
                merge(out, M, Lsum, part_o + ph * hd_v, part_ml + 2 * ph, part_ml + 2 * ph + g, g,
                      hd_v);
            }
            finish(out, Lsum, g, hd_v);
        }
        if (quantize) quantize_out(L, t, kvh);
    }
#undef PART_HEAD
}

void model_attn_step(tk_context *c, const model_layer *l, int il, int64_t r0, int64_t n,
                     bool quantize, _Atomic int64_t *ctr, int ith, int nth)
{
    const tk_model *m = c->model;
    const attn_layer L = {c, l, il, m->n_head / m->n_head_kv, (int64_t)m->n_head * m->head_dim_v};
    float *scratch = (float *)(void *)((char *)c->scratch + (size_t)ith * c->scratch_bytes);
    if (n - r0 <= MODEL_ATTN_SPLIT_MAX)
        attn_split(&L, r0, n, quantize, ctr, ith, nth, scratch);
    else
        attn_tiled(&L, r0, n, quantize, ctr, nth, scratch);
}
