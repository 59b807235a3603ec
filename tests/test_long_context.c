/* Long context: a synthetic F32 llama (tools/synth_model, preset tiny) and
 * a 4,096-token prompt. The engine's chunked attention (model/attention.c:
 * tiled for prompts, split across threads for generation, partial softmaxes
 * merged) gives the logits of a plain forward pass written here, whose
 * attention is the textbook one (all scores, softmax, weighted values, in
 * double): NMSE <= 1e-6 on every token's logits, batched (one pass of 4,096
 * tokens, and passes of 1,000) and one token at a time, at 1, 2 and 3
 * threads; and the same bits at every thread count. */
#include "check.h"
#include "proc.h"

#include "model/model.h"
#include "tektra/gguf.h"
#include "tektra/model.h"

#include <math.h>
#include <stdarg.h>
#include <unistd.h>

#define N_TOK 4096

static tk_gguf *g;

/* The F32 data of tensor `name` (printf-style), NULL (and a failed check)
 * when absent or not F32. */
static const float *weight(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const float *weight(const char *fmt, ...)
{
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const tk_gguf_tensor *t = tk_gguf_find_tensor(g, name);
    CHECK_MSG(t && t->type == TK_TYPE_F32, "tensor %s: %s", name, t ? "not F32" : "missing");
    return t && t->type == TK_TYPE_F32 ? t->data : NULL;
}

/* y[r] = W[r] . x, rows of `cols`. */
static void matvec(const float *w, int64_t rows, int64_t cols, const float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (int64_t c = 0; c < cols; c++) s += (double)w[r * cols + c] * x[c];
        y[r] = (float)s;
    }
}

static void rms_norm(float *out, const float *x, const float *w, int64_t n, float eps)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
    const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

/* RoPE as the engine forms it (llama: pairs 2i, 2i + 1; the angle by
 * repeated multiplication in float), so that only attention differs. */
static void rope(float *v, int n_heads, int64_t hd, int64_t n_rot, float base, int64_t pos)
{
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int64_t i = 0; i < n_rot / 2; i++) {
        const float c = cosf(theta), s = sinf(theta);
        for (int h = 0; h < n_heads; h++) {
            float *x = v + h * hd;
            const float x0 = x[2 * i], x1 = x[2 * i + 1];
            x[2 * i] = x0 * c - x1 * s;
            x[2 * i + 1] = x0 * s + x1 * c;
        }
        theta *= theta_scale;
    }
}

/* The reference forward pass: logits [N_TOK][n_vocab] of tokens at
 * positions 0..N_TOK-1. */
static bool reference(const tk_model *m, const int32_t *tok, float *logits)
{
    const int64_t E = m->n_embd, F = m->n_ff, hd = m->head_dim_k;
    const int nh = m->n_head, nkv = m->n_head_kv, group = nh / nkv;
    const int64_t nq = nh * hd, nk = nkv * hd;
    float *x = malloc((size_t)(N_TOK * E) * sizeof *x);
    float *q = malloc((size_t)(N_TOK * nq) * sizeof *q);
    float *k = malloc((size_t)(N_TOK * nk) * sizeof *k);
    float *v = malloc((size_t)(N_TOK * nk) * sizeof *v);
    float *xb = malloc((size_t)E * sizeof *xb), *att = malloc((size_t)nq * sizeof *att);
    float *o = malloc((size_t)E * sizeof *o), *gt = malloc((size_t)(2 * F) * sizeof *gt);
    double *w = malloc((size_t)N_TOK * sizeof *w), *acc = malloc((size_t)hd * sizeof *acc);
    bool ok = x && q && k && v && xb && att && o && gt && w && acc;
    const float *embd = weight("token_embd.weight");
    ok = ok && embd;
    for (int64_t t = 0; ok && t < N_TOK; t++) memcpy(x + t * E, embd + tok[t] * E, E * sizeof *x);
    for (int il = 0; ok && il < m->n_layer; il++) {
        const float *an = weight("blk.%d.attn_norm.weight", il);
        const float *wq = weight("blk.%d.attn_q.weight", il);
        const float *wk = weight("blk.%d.attn_k.weight", il);
        const float *wv = weight("blk.%d.attn_v.weight", il);
        const float *wo = weight("blk.%d.attn_output.weight", il);
        const float *fn = weight("blk.%d.ffn_norm.weight", il);
        const float *wg = weight("blk.%d.ffn_gate.weight", il);
        const float *wu = weight("blk.%d.ffn_up.weight", il);
        const float *wd = weight("blk.%d.ffn_down.weight", il);
        if (!(ok = an && wq && wk && wv && wo && fn && wg && wu && wd)) break;
        for (int64_t t = 0; t < N_TOK; t++) {
            rms_norm(xb, x + t * E, an, E, m->norm_eps);
            matvec(wq, nq, E, xb, q + t * nq);
            matvec(wk, nk, E, xb, k + t * nk);
            matvec(wv, nk, E, xb, v + t * nk);
            rope(q + t * nq, nh, hd, m->n_rot, m->layers[il].rope_base, t);
            rope(k + t * nk, nkv, hd, m->n_rot, m->layers[il].rope_base, t);
        }
        for (int64_t t = 0; t < N_TOK; t++) {
            /* Every score, the softmax over them, the weighted values. */
            for (int h = 0; h < nh; h++) {
                const float *qh = q + t * nq + h * hd;
                const int kvh = h / group;
                double mx = -INFINITY, sum = 0.0;
                for (int64_t p = 0; p <= t; p++) {
                    double s = 0.0;
                    for (int64_t d = 0; d < hd; d++) s += (double)qh[d] * k[p * nk + kvh * hd + d];
                    w[p] = s * m->attn_scale;
                    mx = fmax(mx, w[p]);
                }
                for (int64_t p = 0; p <= t; p++) sum += (w[p] = exp(w[p] - mx));
                for (int64_t d = 0; d < hd; d++) acc[d] = 0.0;
                for (int64_t p = 0; p <= t; p++)
                    for (int64_t d = 0; d < hd; d++) acc[d] += w[p] * v[p * nk + kvh * hd + d];
                for (int64_t d = 0; d < hd; d++) att[h * hd + d] = (float)(acc[d] / sum);
            }
            matvec(wo, E, nq, att, o);
            for (int64_t i = 0; i < E; i++) x[t * E + i] += o[i];
            rms_norm(xb, x + t * E, fn, E, m->norm_eps);
            matvec(wg, F, E, xb, gt);
            matvec(wu, F, E, xb, gt + F);
            for (int64_t i = 0; i < F; i++) gt[i] = gt[i] / (1.0f + expf(-gt[i])) * gt[F + i];
            matvec(wd, E, F, gt, o);
            for (int64_t i = 0; i < E; i++) x[t * E + i] += o[i];
        }
    }
    const float *on = weight("output_norm.weight"), *wout = weight("output.weight");
    ok = ok && on && wout;
    for (int64_t t = 0; ok && t < N_TOK; t++) {
        rms_norm(xb, x + t * E, on, E, m->norm_eps);
        matvec(wout, m->n_vocab, E, xb, logits + t * m->n_vocab);
    }
    free(x);
    free(q);
    free(k);
    free(v);
    free(xb);
    free(att);
    free(o);
    free(gt);
    free(w);
    free(acc);
    return ok;
}

static double nmse(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0.0 ? num / den : num;
}

/* The engine's logits of every token: in passes of n_batch tokens, or one
 * token at a time when n_batch is 1. F32 cache, as the reference keeps K
 * and V in float. */
static bool engine(tk_model *m, int n_batch, int n_threads, const int32_t *tok, float *logits)
{
    tk_context_params p = tk_context_default_params();
    p.n_ctx = N_TOK;
    p.n_batch = n_batch;
    p.n_threads = n_threads;
    p.type_k = p.type_v = TK_TYPE_F32;
    tk_context *c = NULL;
    tk_status st = tk_context_create(m, &p, &c);
    CHECK_MSG(st == TK_OK, "context: %s", tk_last_error());
    if (st != TK_OK) return false;
    const int64_t nv = tk_model_n_vocab(m);
    if (n_batch > 1) {
        st = tk_context_decode(c, tok, N_TOK, logits, true);
    } else {
        for (int t = 0; t < N_TOK && st == TK_OK; t++)
            st = tk_context_decode(c, &tok[t], 1, logits + t * nv, false);
    }
    CHECK_MSG(st == TK_OK, "decode (batch %d, %d threads): %s", n_batch, n_threads,
              tk_last_error());
    tk_context_free(c);
    return st == TK_OK;
}

/* The synthetic weights give nearly uniform attention, which hides errors
 * in the softmax; Q and K scaled by ATTN_SHARPEN each make it peaked (and
 * its maxima move from chunk to chunk). Rewrites the file in place. */
#define ATTN_SHARPEN 6.0f
static bool sharpen(const char *path)
{
    tk_gguf *f = NULL;
    if (tk_gguf_open(path, &f) != TK_OK) return false;
    FILE *fp = fopen(path, "r+b");
    bool ok = fp != NULL;
    for (int64_t i = 0; ok && i < tk_gguf_n_tensors(f); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(f, i);
        if (!strstr(t->name, "attn_q.weight") && !strstr(t->name, "attn_k.weight")) continue;
        const size_t n = (size_t)(t->size / sizeof(float));
        float *w = malloc(t->size);
        ok = w && t->type == TK_TYPE_F32;
        for (size_t j = 0; ok && j < n; j++) w[j] = ((const float *)t->data)[j] * ATTN_SHARPEN;
        ok = ok && fseek(fp, (long)t->offset, SEEK_SET) == 0 && fwrite(w, sizeof *w, n, fp) == n;
        free(w);
    }
    if (fp) ok = fclose(fp) == 0 && ok;
    tk_gguf_close(f);
    return ok;
}

/* The log lines of the library, kept for the checks. */
static char log_text[4096];
static void keep_log(tk_log_level level, const char *msg, void *user)
{
    (void)level;
    (void)user;
    const size_t len = strlen(log_text);
    snprintf(log_text + len, sizeof log_text - len, "%s\n", msg);
}

/* The context's memory is counted before allocation: logged with its
 * parts, and a context over the limit fails at creation with the numbers. */
static void test_context_memory(tk_model *m)
{
    tk_context_params p = tk_context_default_params();
    p.n_ctx = N_TOK;
    p.n_batch = 64;
    p.n_threads = 1;
    tk_log_set(keep_log, NULL, TK_LOG_INFO);
    tk_context *c = NULL;
    CHECK(tk_context_create(m, &p, &c) == TK_OK);
    char want[160];
    /* 2 layers x 4096 positions x (32 + 32) F16 = 1 MiB of cache. */
    snprintf(want, sizeof want,
             "context: 4096 positions, 64 per batch, 1 threads: %.1f MiB (KV "
             "cache 1.0 MiB, K f16, V f16 + buffers ",
             c ? (double)tk_context_memory(c) / (1024.0 * 1024.0) : 0.0);
    CHECK_CONTAINS(log_text, want);
    const uint64_t need = c ? tk_context_memory(c) : 0;
    tk_context_free(c);

    p.max_memory = need - 1;
    c = NULL;
    CHECK_INT(tk_context_create(m, &p, &c), TK_ERR_NOMEM);
    CHECK(c == NULL);
    CHECK_CONTAINS(tk_last_error(), "context of 4096 positions needs ");
    CHECK_CONTAINS(tk_last_error(), "(KV cache 1.0 MiB + buffers ");
    CHECK_CONTAINS(tk_last_error(), "MiB allowed (max_memory); use a smaller context size");
    p.max_memory = need;
    CHECK(tk_context_create(m, &p, &c) == TK_OK);
    tk_context_free(c);

    /* This model's heads are 16 wide: a quantized cache (blocks of 32) is
     * refused with the reason. */
    p.max_memory = 0;
    p.type_v = TK_TYPE_Q4_0;
    c = NULL;
    CHECK_INT(tk_context_create(m, &p, &c), TK_ERR_INVALID_ARG);
    CHECK_CONTAINS(tk_last_error(), "V cache type q4_0 needs a head size that is a multiple of 32");
    tk_log_set(NULL, NULL, TK_LOG_WARN);
}

int main(void)
{
    if (!getenv("TK_BIN")) {
        fprintf(stderr, "TK_BIN must be set (run through ctest)\n");
        return 1;
    }
    char dir[] = "/tmp/tk_long_XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/tiny-f32.gguf", dir);
    static proc_result r;
    proc_runf(&r, "true", "'%s/synth_model' --preset tiny --type F32 --threads 1 -o '%s'",
              getenv("TK_BIN"), path);
    CHECK_MSG(r.rc == 0, "synth_model: %s", r.out);
    CHECK(sharpen(path));
    tk_model *m = NULL;
    CHECK_MSG(tk_model_load(path, &m) == TK_OK, "load: %s", tk_last_error());
    CHECK(tk_gguf_open(path, &g) == TK_OK);
    if (!m || !g) return check_summary();
    CHECK(m->n_head > m->n_head_kv); /* grouped queries */
    test_context_memory(m);

    const int64_t nv = tk_model_n_vocab(m);
    const size_t count = (size_t)N_TOK * (size_t)nv;
    int32_t *tok = malloc(N_TOK * sizeof *tok);
    float *ref = malloc(count * sizeof *ref);
    float *out[3], *batched = malloc(count * sizeof *batched);
    for (int i = 0; i < 3; i++) out[i] = malloc(count * sizeof *out[i]);
    uint64_t s = 42;
    for (int t = 0; t < N_TOK; t++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        tok[t] = (int32_t)((s >> 33) % (uint64_t)nv);
    }
    if (!tok || !ref || !batched || !out[0] || !out[1] || !out[2] || !reference(m, tok, ref)) {
        CHECK(0);
        return check_summary();
    }

    /* n_batch 4096: one pass; 1000: passes on top of a filled cache; 1:
     * generation. Threads 1, 2, 3: the same bits. */
    const int batches[] = {N_TOK, 1000, 1};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        for (int th = 1; th <= 3; th++) {
            float *o = out[th - 1];
            if (!engine(m, batches[b], th, tok, o)) continue;
            const double e = nmse(o, ref, count);
            printf("n_batch %d, %d threads: NMSE %.3g\n", batches[b], th, e);
            CHECK_MSG(e <= 1e-6, "n_batch %d, %d threads: NMSE %.3g > 1e-6", batches[b], th, e);
            /* The last token's logits alone, where attention spans 4,096. */
            const double last = nmse(o + (N_TOK - 1) * nv, ref + (N_TOK - 1) * nv, (size_t)nv);
            CHECK_MSG(last <= 1e-6, "n_batch %d, %d threads: last token NMSE %.3g", batches[b], th,
                      last);
            if (th > 1)
                CHECK_MSG(memcmp(o, out[0], count * sizeof *o) == 0,
                          "n_batch %d: %d threads differ from 1", batches[b], th);
        }
        if (b == 0) memcpy(batched, out[0], count * sizeof *batched);
    }
    /* out[0]: one token at a time, 1 thread. */
    const double e = nmse(out[0], batched, count);
    printf("one at a time vs one pass: NMSE %.3g\n", e);
    CHECK_MSG(e <= 1e-6, "one at a time vs one pass: NMSE %.3g", e);

    for (int i = 0; i < 3; i++) free(out[i]);
    free(batched);
    free(ref);
    free(tok);
    tk_gguf_close(g);
    tk_model_free(m);
    unlink(path);
    rmdir(dir);
    return check_summary();
}
