/* Mixture-of-experts tests: the routing of one token (ties, k = 1,
 * k = n_expert, non-finite scores), and qwen3moe models built from the
 * dense qwen3 oracle model whose answers are known exactly: one expert that
 * is the dense FFN; four experts of which the router's tie sends every
 * token of the batch to the first two (copies of the dense FFN, so any
 * other choice is visible); and all four chosen. They must give the dense
 * model's logits, batched and one token at a time, for 1..3 threads.
 * (The reference engine's logits of qwen3moe are checked by test_model.) */
#include "check.h"

#include "core/core.h"
#include "model/model.h"
#include "tektra/gguf.h"
#include "tektra/model.h"

#include <math.h>
#include <unistd.h>

#define N_TOKENS 48

static int32_t tokens[N_TOKENS];

/* ---- routing ------------------------------------------------------------ */

static void test_route(void)
{
    float probs[128], w[128];
    int32_t sel[128];

    /* All scores equal: the lowest indices, equal weights. */
    float flat[8] = {0};
    moe_route(flat, 8, 2, true, probs, sel, w);
    CHECK_INT(sel[0], 0);
    CHECK_INT(sel[1], 1);
    CHECK(w[0] == 0.5f && w[1] == 0.5f);
    CHECK_NEAR(probs[5], 0.125, 1e-7);

    /* A tie for the second place: the lower index. */
    const float tie[4] = {1.0f, 3.0f, 2.0f, 2.0f};
    moe_route(tie, 4, 2, true, probs, sel, w);
    CHECK_INT(sel[0], 1);
    CHECK_INT(sel[1], 2);
    CHECK_NEAR(w[0], 1.0 / (1.0 + exp(-1.0)), 1e-6);

    /* k = 1: weight 1 when renormalised, else the probability. */
    const float s3[3] = {0.5f, 2.0f, -1.0f};
    moe_route(s3, 3, 1, true, probs, sel, w);
    CHECK_INT(sel[0], 1);
    CHECK(w[0] == 1.0f);
    moe_route(s3, 3, 1, false, probs, sel, w);
    const double z = exp(0.5) + exp(2.0) + exp(-1.0);
    CHECK_NEAR(w[0], exp(2.0) / z, 1e-6);
    CHECK_NEAR(probs[0], exp(0.5) / z, 1e-6);

    /* k = n_expert: every expert, best first, weights the probabilities. */
    const float s4[4] = {0.5f, -1.0f, 2.0f, 0.0f};
    moe_route(s4, 4, 4, true, probs, sel, w);
    const int32_t order[4] = {2, 0, 3, 1};
    double sum = 0.0;
    for (int j = 0; j < 4; j++) {
        CHECK_INT(sel[j], order[j]);
        CHECK_NEAR(w[j], probs[order[j]], 1e-6);
        sum += w[j];
    }
    CHECK_NEAR(sum, 1.0, 1e-6);

    /* The scores array may be the probabilities' (in place). */
    float inplace[4] = {0.5f, -1.0f, 2.0f, 0.0f};
    moe_route(inplace, 4, 2, false, inplace, sel, w);
    CHECK_INT(sel[0], 2);
    CHECK_INT(sel[1], 0);
    CHECK_NEAR(inplace[1], exp(-1.0) / (exp(0.5) + exp(-1.0) + exp(2.0) + 1.0), 1e-6);

    /* 128 experts, top 8: the 8 largest in descending order. */
    float big[128];
    for (int e = 0; e < 128; e++) big[e] = (float)((e * 37) % 128) / 16.0f;
    moe_route(big, 128, 8, true, probs, sel, w);
    for (int j = 0; j < 8; j++) CHECK_INT((sel[j] * 37) % 128, 127 - j);
    for (int j = 1; j < 8; j++) CHECK(w[j] < w[j - 1]);

    /* A NaN score: still k distinct experts in range (the NaN reaches the
     * output through the weights, where the runner reports it). */
    const float bad[3] = {NAN, 1.0f, 2.0f};
    moe_route(bad, 3, 3, true, probs, sel, w);
    CHECK(sel[0] >= 0 && sel[0] < 3 && sel[1] >= 0 && sel[1] < 3 && sel[2] >= 0 && sel[2] < 3);
    CHECK(sel[0] != sel[1] && sel[1] != sel[2] && sel[0] != sel[2]);
}

/* ---- models built from the dense qwen3 model ----------------------------- */

/* qwen3-f32.gguf as qwen3moe with n_expert experts (n_used per token): a
 * zero router (every score ties), expert e the dense FFN times scale[e]. */
static bool write_moe(const char *path, int n_expert, int n_used, const float *scale)
{
    tk_gguf *g = NULL;
    if (tk_gguf_open(shared_path("oracle/qwen3-f32.gguf"), &g) != TK_OK) return false;
    tk_gguf_writer *w = NULL;
    bool ok = tk_gguf_writer_create(&w) == TK_OK;
    float *bufs[64] = {0};
    int n_bufs = 0;
    uint32_t n_ff = 0;
    for (int64_t i = 0; ok && i < tk_gguf_n_kv(g); i++) {
        const char *key = tk_gguf_kv_key(g, i);
        if (strncmp(key, "qwen3.", 6) != 0) {
            ok = tk_gguf_writer_copy_kv(w, g, i) == TK_OK;
            continue;
        }
        char name[160];
        snprintf(name, sizeof name, "qwen3moe.%s", key + 6);
        int64_t v;
        double f;
        if (tk_gguf_kv_type(g, i) == TK_GGUF_UINT32 && tk_gguf_kv_int(g, i, &v)) {
            ok = tk_gguf_writer_set_u32(w, name, (uint32_t)v) == TK_OK;
            if (strcmp(key, "qwen3.feed_forward_length") == 0) n_ff = (uint32_t)v;
        } else {
            ok = tk_gguf_kv_float(g, i, &f) && tk_gguf_writer_set_f32(w, name, (float)f) == TK_OK;
        }
    }
    ok = ok && tk_gguf_writer_set_str(w, "general.architecture", "qwen3moe") == TK_OK &&
         tk_gguf_writer_set_u32(w, "qwen3moe.expert_count", (uint32_t)n_expert) == TK_OK &&
         tk_gguf_writer_set_u32(w, "qwen3moe.expert_used_count", (uint32_t)n_used) == TK_OK &&
         tk_gguf_writer_set_u32(w, "qwen3moe.expert_feed_forward_length", n_ff) == TK_OK;
    for (int64_t i = 0; ok && i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        const char *ffn = strstr(t->name, ".ffn_");
        const bool expert = ffn && strstr(t->name, "_norm") == NULL;
        if (!expert) {
            ok = tk_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                           t->size) == TK_OK;
            continue;
        }
        /* blk.N.ffn_{gate,up,down}.weight -> blk.N.ffn_{...}_exps.weight */
        char name[128];
        const size_t stem = strlen(t->name) - strlen(".weight");
        snprintf(name, sizeof name, "%.*s_exps.weight", (int)stem, t->name);
        const int64_t per = t->ne[0] * t->ne[1];
        float *d = malloc((size_t)per * (size_t)n_expert * sizeof *d);
        ok = d && n_bufs < 62 && t->type == TK_TYPE_F32;
        if (!ok) {
            free(d);
            break;
        }
        bufs[n_bufs++] = d;
        const float *src = t->data;
        for (int e = 0; e < n_expert; e++)
            for (int64_t j = 0; j < per; j++) d[e * per + j] = src[j] * scale[e];
        const int64_t ne[3] = {t->ne[0], t->ne[1], n_expert};
        ok = tk_gguf_writer_add_tensor(w, name, TK_TYPE_F32, 3, ne, d,
                                       (uint64_t)per * (uint64_t)n_expert * 4) == TK_OK;
        if (ok && strstr(t->name, "ffn_gate.weight")) {
            /* the router of this layer: zeros */
            float *r = calloc((size_t)t->ne[0] * (size_t)n_expert, sizeof *r);
            ok = r != NULL;
            if (ok) bufs[n_bufs++] = r;
            snprintf(name, sizeof name, "%.*s_inp.weight", (int)stem, t->name);
            const int64_t rne[2] = {t->ne[0], n_expert};
            ok = ok &&
                 tk_gguf_writer_add_tensor(w, name, TK_TYPE_F32, 2, rne, r,
                                           (uint64_t)t->ne[0] * (uint64_t)n_expert * 4) == TK_OK;
        }
    }
    if (ok) ok = tk_gguf_writer_write(w, path) == TK_OK;
    if (!ok) fprintf(stderr, "writing %s: %s\n", path, tk_last_error());
    tk_gguf_writer_free(w);
    for (int i = 0; i < n_bufs; i++) free(bufs[i]);
    tk_gguf_close(g);
    return ok;
}

/* Logits of all tokens: batched with n_threads, or one token at a time. */
static bool run_logits(tk_model *m, int n_threads, bool incremental, float *out)
{
    tk_context_params p = tk_context_default_params();
    p.n_ctx = N_TOKENS;
    p.n_threads = n_threads;
    tk_context *c = NULL;
    if (tk_context_create(m, &p, &c) != TK_OK) return false;
    bool ok = true;
    const size_t nv = (size_t)tk_model_n_vocab(m);
    if (incremental)
        for (int i = 0; i < N_TOKENS && ok; i++)
            ok = tk_context_decode(c, &tokens[i], 1, out + (size_t)i * nv, false) == TK_OK;
    else
        ok = tk_context_decode(c, tokens, N_TOKENS, out, true) == TK_OK;
    tk_context_free(c);
    return ok;
}

static double nmse(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return num / den;
}

/* The model of write_moe(n_expert, n_used, scale) against the dense
 * model's own logits (`dense` batched, `dense_inc` one token at a time):
 * identical bits when `exact` (weights of 1 or 1/2 make the weighted sum
 * exact), else within 1e-10. */
static void check_equivalent(const char *label, int n_expert, int n_used, const float *scale,
                             const float *dense, const float *dense_inc, bool exact)
{
    char path[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/tk_test_moe_%ld.gguf", tmp && *tmp ? tmp : "/tmp",
             (long)getpid());
    CHECK(write_moe(path, n_expert, n_used, scale));
    tk_model *m = NULL;
    tk_status st = tk_model_load(path, &m);
    CHECK_MSG(st == TK_OK, "%s: %s", label, tk_last_error());
    remove(path);
    if (st != TK_OK) return;
    CHECK_STR(tk_model_arch(m), "qwen3moe");
    const size_t count = (size_t)N_TOKENS * (size_t)tk_model_n_vocab(m);
    float *got = calloc(count, sizeof *got);
    for (int mode = 0; got && mode < 4; mode++) {
        /* batched with 1, 2, 3 threads; incremental with 2 */
        const bool inc = mode == 3;
        const int nth = inc ? 2 : mode + 1;
        CHECK_MSG(run_logits(m, nth, inc, got), "%s: %s", label, tk_last_error());
        const float *want = inc ? dense_inc : dense;
        const double e = nmse(got, want, count);
        printf("  %-34s %s, %d threads: nmse %.3e%s\n", label, inc ? "incremental" : "batched", nth,
               e, exact ? " (want identical)" : "");
        if (exact)
            CHECK_MSG(memcmp(got, want, count * sizeof *got) == 0, "%s: mode %d differs (%.3e)",
                      label, mode, e);
        else
            CHECK_MSG(e <= 1e-10, "%s: mode %d nmse %.3e", label, mode, e);
    }
    /* Only the last row's logits: the last layer's experts run for that
     * token alone. */
    tk_context_params p = tk_context_default_params();
    p.n_ctx = N_TOKENS;
    p.n_threads = 2;
    tk_context *c = NULL;
    const size_t nv = (size_t)tk_model_n_vocab(m);
    if (got && tk_context_create(m, &p, &c) == TK_OK) {
        CHECK_INT(tk_context_decode(c, tokens, N_TOKENS, got, false), TK_OK);
        const double e = nmse(got, dense + (N_TOKENS - 1) * nv, nv);
        CHECK_MSG(e <= 1e-10, "%s: last row only: nmse %.3e", label, e);
    }
    tk_context_free(c);
    free(got);
    tk_model_free(m);
}

static void test_equivalent(void)
{
    char *text;
    size_t len;
    tk_status st = core_read_file(shared_path("oracle/tokens.txt"), 1 << 16, &text, &len);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (st != TK_OK) return;
    int n = 0;
    for (char *p = text; *p && n < N_TOKENS; p++) {
        tokens[n++] = (int32_t)strtol(p, &p, 10);
        if (*p != ',') break;
    }
    free(text);
    CHECK_INT(n, N_TOKENS);

    /* The dense model through the same engine, batched and incremental. */
    tk_model *m = NULL;
    st = tk_model_load(shared_path("oracle/qwen3-f32.gguf"), &m);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (st != TK_OK) return;
    const size_t count = (size_t)N_TOKENS * (size_t)tk_model_n_vocab(m);
    float *dense = calloc(count, sizeof *dense), *dense_inc = calloc(count, sizeof *dense_inc);
    CHECK(dense && dense_inc && run_logits(m, 2, false, dense) &&
          run_logits(m, 1, true, dense_inc));
    tk_model_free(m);

    const float one[1] = {1.0f};
    check_equivalent("1 expert, k = 1", 1, 1, one, dense, dense_inc, true);
    /* Every score ties: experts 0 and 1 for every token, weights 1/2; a
     * choice of expert 2 or 3 would change the logits. */
    const float four[4] = {1.0f, 1.0f, -3.0f, 7.0f};
    check_equivalent("4 experts, k = 2, tied router", 4, 2, four, dense, dense_inc, true);
    const float same[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    check_equivalent("4 experts, k = n_expert = 4", 4, 4, same, dense, dense_inc, false);
    free(dense);
    free(dense_inc);
}

/* The counts and the bytes a token reads, on the reference's Q8_0 file:
 * 2 layers of 3 expert tensors of 278528 bytes (8 experts, 2 used: 3/4 of
 * them not read) and a 139264-byte embedding table (one row read). */
static void test_active_bytes(void)
{
    tk_model *m = NULL;
    tk_status st = tk_model_load(shared_path("oracle/moe/qwen3moe-q8_0.gguf"), &m);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (st != TK_OK) return;
    CHECK_INT(tk_model_n_expert(m), 8);
    CHECK_INT(tk_model_n_expert_used(m), 2);
    CHECK_INT(tk_model_active_bytes(m), tk_model_size_bytes(m) - 139264 - 2 * 3 * 278528 / 4 * 3);
    tk_model_free(m);
    CHECK_INT(tk_model_load(shared_path("oracle/qwen3-f32.gguf"), &m), TK_OK);
    if (m) {
        CHECK_INT(tk_model_n_expert(m), 0);
        CHECK_INT(tk_model_n_expert_used(m), 0);
        const tk_gguf_tensor *e = tk_gguf_find_tensor(tk_model_gguf(m), "token_embd.weight");
        CHECK(e && tk_model_active_bytes(m) == tk_model_size_bytes(m) - e->size);
    }
    tk_model_free(m);
}

int main(void)
{
    test_route();
    test_active_bytes();
    test_equivalent();
    return check_summary();
}
