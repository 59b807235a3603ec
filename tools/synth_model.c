/* synth_model: writes a GGUF model with random weights in the shape of a
 * real one (llama, qwen2, gemma2, qwen3moe presets), for tests and benchmarks of
 * models we cannot ship. Weights are Gaussian (std 0.02), norm weights are
 * near 1, and the vocabulary is a synthetic SentencePiece-style one (<unk>,
 * <s>, </s>, 256 byte tokens, filler pieces) of the preset's size.
 *
 * Weights are generated and quantized in chunks of whole rows by a pool of
 * threads; every chunk has its own random stream derived from (seed, tensor,
 * chunk), so the file depends on the seed only, not on the thread count. */
#include "tektra.h"

#include "hfdir/hfdir.h"
#include "safetensors/safetensors.h"

#include <cJSON.h>
#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct preset {
    const char *name;
    const char *arch;
    int n_embd, n_layer, n_head, n_head_kv;
    int head_dim; /* 0: n_embd / n_head */
    int n_ff, n_vocab, n_ctx;
    bool tied;     /* no output.weight: the embedding matrix is the output matrix */
    bool qkv_bias; /* attn_q/k/v biases */
    bool post_norms;
    float rope_base, rms_eps;
    float attn_softcap, final_softcap; /* 0: none */
    int sliding_window;                /* 0: none */
    bool qk_norm;                      /* attn_{q,k}_norm.weight per head */
    int n_expert, n_expert_used;       /* mixture of experts (0: a dense FFN) */
    int n_ff_exp;                      /* hidden size of one expert */
} preset;

static const preset presets[] = {
    {"tiny", "llama", 64,       2,     4, 2, 0, 128,   512, 2048, false,
     false,  false,   10000.0f, 1e-5f, 0, 0, 0, false, 0,   0,    0},
    {"qwen2.5-0.5b", "qwen2", 896,  24,    14, 2, 0, 4864,  151936, 32768, true,
     true,           false,   1e6f, 1e-6f, 0,  0, 0, false, 0,      0,     0},
    {"llama-3.2-1b", "llama", 2048,      16,    32, 8, 0, 8192,  128256, 131072, true,
     false,          false,   500000.0f, 1e-5f, 0,  0, 0, false, 0,      0,      0},
    {"gemma-2-2b", "gemma2", 2304,     26,    8,     4,     256,  9216,  256000, 8192, true,
     false,        true,     10000.0f, 1e-6f, 50.0f, 30.0f, 4096, false, 0,      0,    0},
    /* Qwen3-30B-A3B: 128 experts of 768, 8 per token; n_ff is the
     * configuration's intermediate_size (no dense FFN uses it) */
    {"qwen3-30b-a3b", "qwen3moe", 2048, 48,    32, 4, 128, 6144, 151936, 40960, false,
     false,           false,      1e6f, 1e-6f, 0,  0, 0,   true, 128,    8,     768},
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: synth_model --preset NAME --type TYPE -o OUT.gguf [--seed S] [--layers N]\n"
            "                   [--threads N]\n\n"
            "Writes a GGUF model with random weights (Gaussian, std 0.02; norms near 1.0) and a\n"
            "synthetic vocabulary in the shape of a preset. TYPE is a tensor type or a mix, as\n"
            "for 'tektra quantize' (1-D tensors stay F32). With an MLX type (MLX4_G64, MLX8_G32,\n"
            "...: 4 or 8 bits, groups of 32, 64 or 128) OUT is a model directory in the\n"
            "mlx-community layout instead (config.json, model.safetensors with uint32 weights and\n"
            "bf16 scales and biases; no tokenizer).\n\n"
            "Presets:\n");
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const preset *p = &presets[i];
        fprintf(f, "  %-14s %s, n_embd %d, %d layers, %d heads (%d kv), n_ff %d, vocab %d%s",
                p->name, p->arch, p->n_embd, p->n_layer, p->n_head, p->n_head_kv, p->n_ff,
                p->n_vocab, p->tied ? ", tied output" : "");
        if (p->n_expert)
            fprintf(f, ", %d experts of %d (%d used)", p->n_expert, p->n_ff_exp, p->n_expert_used);
        fputc('\n', f);
    }
    fprintf(f, "\nTypes:");
    for (int i = 0; i < tk_quant_scheme_count(); i++)
        fprintf(f, " %s", tk_quant_scheme_at(i)->name);
    fprintf(f, "\n\nOptions:\n"
               "  --seed S      random seed (default 1)\n"
               "  --layers N    override the number of layers\n"
               "  --threads N   threads (default: the number of CPUs)\n");
}

/* Prints a usage error and returns the exit code 2. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "synth_model: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (try 'synth_model --help')\n");
    va_end(ap);
    return 2;
}

/* ---- random numbers ------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fills x[n] with std * N(0, 1) + mean (Marsaglia's polar method: no
 * trigonometry, both outputs used). */
static void fill_gauss(uint64_t stream, float *x, int64_t n, float mean, float std)
{
    uint64_t s = stream;
    for (int64_t i = 0; i < n; i += 2) {
        double u, v, r2;
        do {
            uint64_t z = splitmix64(&s);
            u = (double)(int32_t)(uint32_t)z * 0x1p-31; /* [-1, 1) */
            v = (double)(int32_t)(uint32_t)(z >> 32) * 0x1p-31;
            r2 = u * u + v * v;
        } while (r2 >= 1.0 || r2 == 0.0);
        double f = sqrt(-2.0 * log(r2) / r2);
        x[i] = mean + std * (float)(u * f);
        if (i + 1 < n) x[i + 1] = mean + std * (float)(v * f);
    }
}

static uint64_t stream_of(uint64_t seed, uint64_t tensor, uint64_t chunk)
{
    uint64_t s = seed;
    uint64_t a = splitmix64(&s) ^ (tensor * 0xD1B54A32D192ED03ull);
    uint64_t b = splitmix64(&a) ^ (chunk * 0x8CB92BA72F3D8DD7ull);
    return splitmix64(&b);
}

/* ---- tensors -------------------------------------------------------------- */

typedef struct tensor {
    char name[96];
    int n_dims;
    int64_t ne[3]; /* rows: ne[1] * ne[2] */
    int type;
    float mean, std; /* distribution of the values */
    void *data;
    uint64_t size;
    int64_t rows_per_chunk, n_chunks;
} tensor;

typedef struct plan {
    tensor *t;
    int n, cap;
} plan;

static tensor *add_tensor(plan *p, const char *name, int n_dims, int64_t ne0, int64_t ne1,
                          int64_t ne2, float mean, float std)
{
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 64;
        tensor *nt = realloc(p->t, (size_t)cap * sizeof *nt);
        if (!nt) return NULL;
        p->t = nt;
        p->cap = cap;
    }
    tensor *t = &p->t[p->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = n_dims > 1 ? ne1 : 1;
    t->ne[2] = n_dims > 2 ? ne2 : 1;
    t->mean = mean;
    t->std = std;
    return t;
}

static bool build_plan(const preset *pr, int n_layer, plan *p)
{
    int hd = pr->head_dim ? pr->head_dim : pr->n_embd / pr->n_head;
    int64_t e = pr->n_embd, q = (int64_t)pr->n_head * hd, kv = (int64_t)pr->n_head_kv * hd;
    char nm[96];
    bool ok = add_tensor(p, "token_embd.weight", 2, e, pr->n_vocab, 1, 0, 0.02f) != NULL;
    for (int il = 0; il < n_layer && ok; il++) {
#define T2(suffix, a, b)                                                                           \
    (snprintf(nm, sizeof nm, "blk.%d." suffix, il), add_tensor(p, nm, 2, a, b, 1, 0, 0.02f) != NULL)
#define T3(suffix, a, b, c)                                                                        \
    (snprintf(nm, sizeof nm, "blk.%d." suffix, il), add_tensor(p, nm, 3, a, b, c, 0, 0.02f) != NULL)
#define T1(suffix, a, mean, std)                                                                   \
    (snprintf(nm, sizeof nm, "blk.%d." suffix, il),                                                \
     add_tensor(p, nm, 1, a, 1, 1, mean, std) != NULL)
        ok = ok && T1("attn_norm.weight", e, 1.0f, 0.02f);
        ok = ok && T2("attn_q.weight", e, q);
        ok = ok && T2("attn_k.weight", e, kv);
        ok = ok && T2("attn_v.weight", e, kv);
        if (pr->qkv_bias) {
            ok = ok && T1("attn_q.bias", q, 0.0f, 0.02f);
            ok = ok && T1("attn_k.bias", kv, 0.0f, 0.02f);
            ok = ok && T1("attn_v.bias", kv, 0.0f, 0.02f);
        }
        if (pr->qk_norm) {
            ok = ok && T1("attn_q_norm.weight", hd, 1.0f, 0.02f);
            ok = ok && T1("attn_k_norm.weight", hd, 1.0f, 0.02f);
        }
        ok = ok && T2("attn_output.weight", q, e);
        if (pr->post_norms) ok = ok && T1("post_attention_norm.weight", e, 1.0f, 0.02f);
        ok = ok && T1("ffn_norm.weight", e, 1.0f, 0.02f);
        if (pr->n_expert) {
            ok = ok && T2("ffn_gate_inp.weight", e, pr->n_expert);
            ok = ok && T3("ffn_gate_exps.weight", e, pr->n_ff_exp, pr->n_expert);
            ok = ok && T3("ffn_up_exps.weight", e, pr->n_ff_exp, pr->n_expert);
            ok = ok && T3("ffn_down_exps.weight", pr->n_ff_exp, e, pr->n_expert);
        } else {
            ok = ok && T2("ffn_gate.weight", e, pr->n_ff);
            ok = ok && T2("ffn_up.weight", e, pr->n_ff);
            ok = ok && T2("ffn_down.weight", pr->n_ff, e);
        }
        if (pr->post_norms) ok = ok && T1("post_ffw_norm.weight", e, 1.0f, 0.02f);
#undef T1
#undef T2
#undef T3
    }
    ok = ok && add_tensor(p, "output_norm.weight", 1, e, 1, 1, 1.0f, 0.02f) != NULL;
    if (!pr->tied)
        ok = ok && add_tensor(p, "output.weight", 2, e, pr->n_vocab, 1, 0, 0.02f) != NULL;
    return ok;
}

/* ---- generation: a pool of threads over (tensor, chunk) jobs --------------- */

enum { CHUNK_ELEMS = 1 << 16 };

typedef struct pool {
    plan *p;
    uint64_t seed;
    int64_t *first_job; /* [p->n + 1]: prefix sums of n_chunks */
    int64_t n_jobs;
    int64_t max_chunk; /* elements of the largest chunk */
    atomic_llong next;
    atomic_int failed;
} pool;

static void run_job(pool *pl, int64_t job, float *buf)
{
    int ti = 0;
    while (pl->first_job[ti + 1] <= job) ti++; /* few hundred tensors: linear is fine */
    tensor *t = &pl->p->t[ti];
    int64_t chunk = job - pl->first_job[ti];
    int64_t row0 = chunk * t->rows_per_chunk;
    const int64_t n_rows = t->ne[1] * t->ne[2];
    int64_t rows = n_rows - row0 < t->rows_per_chunk ? n_rows - row0 : t->rows_per_chunk;
    int64_t n = rows * t->ne[0];
    fill_gauss(stream_of(pl->seed, (uint64_t)ti, (uint64_t)chunk), buf, n, t->mean, t->std);
    const tk_type_info *info = tk_type_get(t->type);
    uint64_t row_bytes = (uint64_t)(t->ne[0] / info->block_size) * info->block_bytes;
    info->quantize(buf, (uint8_t *)t->data + (uint64_t)row0 * row_bytes, n);
}

static void *worker(void *arg)
{
    pool *pl = arg;
    float *buf = malloc((size_t)pl->max_chunk * sizeof(float));
    if (!buf) {
        atomic_store(&pl->failed, 1);
        return NULL;
    }
    for (;;) {
        int64_t job = atomic_fetch_add(&pl->next, 1);
        if (job >= pl->n_jobs) break;
        run_job(pl, job, buf);
    }
    free(buf);
    return NULL;
}

/* ---- vocabulary ------------------------------------------------------------ */

/* Writes a synthetic SentencePiece vocabulary of n tokens into w. */
static tk_status write_vocab(tk_gguf_writer *w, int n)
{
    char **tok = calloc((size_t)n, sizeof *tok);
    float *scores = calloc((size_t)n, sizeof *scores);
    int32_t *types = calloc((size_t)n, sizeof *types);
    tk_status st = TK_ERR_NOMEM;
    if (!tok || !scores || !types) goto out;
    for (int i = 0; i < n; i++) {
        char buf[32];
        if (i == 0) {
            snprintf(buf, sizeof buf, "<unk>");
            types[i] = 2; /* unknown */
        } else if (i <= 2) {
            snprintf(buf, sizeof buf, i == 1 ? "<s>" : "</s>");
            types[i] = 3; /* control */
        } else if (i < 3 + 256) {
            snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
            types[i] = 6; /* byte */
        } else {
            /* filler: "\u2581" + letters for even k, letters alone for odd k;
             * the letters are k/2 in bijective base 26, so every piece is unique */
            int k = i - 259, len = 0;
            char letters[16];
            for (int v = k / 2 + 1; v > 0 && len < 15; v = (v - 1) / 26)
                letters[len++] = (char)('a' + (v - 1) % 26);
            int o = 0;
            if (k % 2 == 0) o = snprintf(buf, sizeof buf, "\xE2\x96\x81");
            for (int j = len - 1; j >= 0; j--) buf[o++] = letters[j];
            buf[o] = '\0';
            types[i] = 1; /* normal */
            scores[i] = -(float)(k + 1) * 0.001f;
        }
        tok[i] = strdup(buf);
        if (!tok[i]) goto out;
    }
    st = tk_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (!st)
        st = tk_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok,
                                        (uint64_t)n);
    if (!st)
        st = tk_gguf_writer_set_arr(w, "tokenizer.ggml.scores", TK_GGUF_FLOAT32, scores,
                                    (uint64_t)n);
    if (!st)
        st = tk_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TK_GGUF_INT32, types,
                                    (uint64_t)n);
    if (!st) st = tk_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    if (!st) st = tk_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    if (!st) st = tk_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    if (!st) st = tk_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    if (!st) st = tk_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
out:
    for (int i = 0; tok && i < n; i++) free(tok[i]);
    free(tok);
    free(scores);
    free(types);
    return st;
}

/* Sets "<arch>.<key>" (u32 or f32) unless an earlier step failed. */
static void arch_u32(tk_gguf_writer *w, tk_status *st, const char *arch, const char *key,
                     uint32_t v)
{
    char full[160];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (*st == TK_OK) *st = tk_gguf_writer_set_u32(w, full, v);
}

static void arch_f32(tk_gguf_writer *w, tk_status *st, const char *arch, const char *key, float v)
{
    char full[160];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (*st == TK_OK) *st = tk_gguf_writer_set_f32(w, full, v);
}

static tk_status write_hparams(tk_gguf_writer *w, const preset *pr, int n_layer,
                               const tk_quant_scheme *s)
{
    char name[128];
    const char *a = pr->arch;
    uint32_t hd = (uint32_t)(pr->head_dim ? pr->head_dim : pr->n_embd / pr->n_head);
    snprintf(name, sizeof name, "synthetic %s (%s)", pr->name, s->name);
    tk_status st = tk_gguf_writer_set_str(w, "general.architecture", a);
    if (!st) st = tk_gguf_writer_set_str(w, "general.name", name);
    if (!st) st = tk_gguf_writer_set_u32(w, "general.file_type", s->ftype);
    if (!st) st = tk_gguf_writer_set_u32(w, "general.quantization_version", 2);
    arch_u32(w, &st, a, "context_length", (uint32_t)pr->n_ctx);
    arch_u32(w, &st, a, "embedding_length", (uint32_t)pr->n_embd);
    arch_u32(w, &st, a, "block_count", (uint32_t)n_layer);
    arch_u32(w, &st, a, "feed_forward_length", (uint32_t)pr->n_ff);
    arch_u32(w, &st, a, "attention.head_count", (uint32_t)pr->n_head);
    arch_u32(w, &st, a, "attention.head_count_kv", (uint32_t)pr->n_head_kv);
    arch_u32(w, &st, a, "rope.dimension_count", hd);
    arch_f32(w, &st, a, "rope.freq_base", pr->rope_base);
    arch_f32(w, &st, a, "attention.layer_norm_rms_epsilon", pr->rms_eps);
    if (hd * (uint32_t)pr->n_head != (uint32_t)pr->n_embd) {
        arch_u32(w, &st, a, "attention.key_length", hd);
        arch_u32(w, &st, a, "attention.value_length", hd);
    }
    if (pr->attn_softcap > 0) arch_f32(w, &st, a, "attn_logit_softcapping", pr->attn_softcap);
    if (pr->final_softcap > 0) arch_f32(w, &st, a, "final_logit_softcapping", pr->final_softcap);
    if (pr->sliding_window > 0)
        arch_u32(w, &st, a, "attention.sliding_window", (uint32_t)pr->sliding_window);
    if (pr->n_expert) {
        arch_u32(w, &st, a, "expert_count", (uint32_t)pr->n_expert);
        arch_u32(w, &st, a, "expert_used_count", (uint32_t)pr->n_expert_used);
        arch_u32(w, &st, a, "expert_feed_forward_length", (uint32_t)pr->n_ff_exp);
    }
    return st;
}

/* ---- MLX model directories ------------------------------------------------ */

static tk_status write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fputs(text, f) >= 0;
    if (f) ok = (fclose(f) == 0) && ok;
    if (!ok) fprintf(stderr, "synth_model: %s: cannot write\n", path);
    return ok ? TK_OK : TK_ERR_IO;
}

/* Splits each MLX block row ({f32 scale, f32 bias, packed q} per group) into
 * the three tensors MLX stores: uint32 words, bf16 scales, bf16 biases. */
static tk_status add_mlx_matrix(st_writer *w, const char *hf, const tensor *t, void **owned)
{
    const tk_type_info *ti = tk_type_get(t->type);
    const int64_t rows = t->ne[1], cols = t->ne[0], group = ti->block_size;
    const int64_t ng = cols / group;
    const size_t qbytes = ti->block_bytes - 8;
    uint8_t *q = malloc((size_t)(rows * ng) * qbytes);
    uint16_t *sc = malloc((size_t)(rows * ng) * sizeof *sc), *bi = malloc((size_t)(rows * ng) * 2);
    owned[0] = q;
    owned[1] = sc;
    owned[2] = bi;
    if (!q || !sc || !bi) return TK_ERR_NOMEM;
    const uint8_t *b = t->data;
    for (int64_t k = 0; k < rows * ng; k++, b += ti->block_bytes) {
        float f[2];
        memcpy(f, b, sizeof f);
        sc[k] = tk_fp32_to_bf16(f[0]);
        bi[k] = tk_fp32_to_bf16(f[1]);
        memcpy(q + (size_t)k * qbytes, b + 8, qbytes);
    }
    char name[300];
    const size_t n = strlen(hf) - strlen(".weight");
    int64_t wshape[2] = {rows, (int64_t)((size_t)ng * qbytes / 4)}, sshape[2] = {rows, ng};
    tk_status st = st_writer_add(w, hf, ST_U32, 2, wshape, q, (uint64_t)(rows * ng) * qbytes);
    snprintf(name, sizeof name, "%.*s.scales", (int)n, hf);
    if (!st) st = st_writer_add(w, name, ST_BF16, 2, sshape, sc, (uint64_t)(rows * ng) * 2);
    snprintf(name, sizeof name, "%.*s.biases", (int)n, hf);
    if (!st) st = st_writer_add(w, name, ST_BF16, 2, sshape, bi, (uint64_t)(rows * ng) * 2);
    return st;
}

static tk_status write_mlx_dir(const char *dir, const preset *pr, int n_layer, int type,
                               const plan *p)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "synth_model: %s: %s\n", dir, strerror(errno));
        return TK_ERR_IO;
    }
    const tk_type_info *ti = tk_type_get(type);
    const int bits = (int)((ti->block_bytes - 8) * 8 / (size_t)ti->block_size);
    const int hd = pr->head_dim ? pr->head_dim : pr->n_embd / pr->n_head;
    st_writer *w = NULL;
    void **owned = calloc((size_t)p->n * 3, sizeof *owned);
    tk_status st = owned ? st_writer_create(&w) : TK_ERR_NOMEM;
    for (int i = 0; i < p->n && !st; i++) {
        const tensor *t = &p->t[i];
        char hf[300];
        if (!hf_name_for_gguf(pr->arch, t->name, hf, sizeof hf)) {
            st = TK_ERR_UNSUPPORTED;
            break;
        }
        if (t->type == type) {
            st = add_mlx_matrix(w, hf, t, owned + 3 * i);
        } else {
            int64_t shape[2] = {t->n_dims == 2 ? t->ne[1] : t->ne[0], t->ne[0]};
            st = st_writer_add(w, hf, ST_F32, t->n_dims, shape, t->data, t->size);
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!st) st = st_writer_set_metadata(w, "format", "mlx");
    if (!st) st = st_writer_write(w, path);
    st_writer_free(w);
    for (int i = 0; owned && i < 3 * p->n; i++) free(owned[i]);
    free(owned);
    if (st) return st;

    cJSON *c = cJSON_CreateObject(), *q = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "model_type", pr->arch);
    cJSON_AddNumberToObject(c, "hidden_size", pr->n_embd);
    cJSON_AddNumberToObject(c, "num_hidden_layers", n_layer);
    cJSON_AddNumberToObject(c, "intermediate_size", pr->n_ff);
    cJSON_AddNumberToObject(c, "num_attention_heads", pr->n_head);
    cJSON_AddNumberToObject(c, "num_key_value_heads", pr->n_head_kv);
    cJSON_AddNumberToObject(c, "head_dim", hd);
    cJSON_AddNumberToObject(c, "vocab_size", pr->n_vocab);
    cJSON_AddNumberToObject(c, "max_position_embeddings", pr->n_ctx);
    cJSON_AddNumberToObject(c, "rope_theta", pr->rope_base);
    cJSON_AddNumberToObject(c, "rms_norm_eps", pr->rms_eps);
    cJSON_AddBoolToObject(c, "tie_word_embeddings", pr->tied);
    if (pr->attn_softcap > 0)
        cJSON_AddNumberToObject(c, "attn_logit_softcapping", pr->attn_softcap);
    if (pr->final_softcap > 0)
        cJSON_AddNumberToObject(c, "final_logit_softcapping", pr->final_softcap);
    if (pr->sliding_window > 0) cJSON_AddNumberToObject(c, "sliding_window", pr->sliding_window);
    cJSON_AddNumberToObject(q, "group_size", ti->block_size);
    cJSON_AddNumberToObject(q, "bits", bits);
    cJSON_AddItemToObject(c, "quantization", q);
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    snprintf(path, sizeof path, "%s/config.json", dir);
    st = text ? write_text(path, text) : TK_ERR_NOMEM;
    free(text);
    return st;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool parse_num(const char *flag, const char *v, long long min, long long max, long long *out)
{
    char *end;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || x < min || x > max) {
        fprintf(stderr, "synth_model: %s: '%s' is not a whole number in [%lld, %lld]\n", flag,
                v ? v : "", min, max);
        return false;
    }
    *out = x;
    return true;
}

int main(int argc, char **argv)
{
    const char *preset_name = NULL, *type_name = NULL, *out = NULL;
    long long seed = 1, layers = 0, threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        bool takes = !strcmp(a, "--preset") || !strcmp(a, "--type") || !strcmp(a, "-o") ||
                     !strcmp(a, "--seed") || !strcmp(a, "--layers") || !strcmp(a, "--threads");
        if (!takes) return fail("unknown argument '%s'", a);
        if (!v) return fail("%s needs a value", a);
        i++;
        if (!strcmp(a, "--preset"))
            preset_name = v;
        else if (!strcmp(a, "--type"))
            type_name = v;
        else if (!strcmp(a, "-o"))
            out = v;
        else if (!strcmp(a, "--seed") && !parse_num(a, v, 0, INT64_MAX, &seed))
            return 2;
        else if (!strcmp(a, "--layers") && !parse_num(a, v, 1, 1000, &layers))
            return 2;
        else if (!strcmp(a, "--threads") && !parse_num(a, v, 1, 256, &threads))
            return 2;
    }
    if (!preset_name || !type_name || !out) return fail("--preset, --type and -o are required");
    const preset *pr = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, preset_name) == 0) pr = &presets[i];
    if (!pr) return fail("unknown preset '%s'", preset_name);
    const tk_quant_scheme *s = tk_quant_scheme_find(type_name);
    const int mlx = tk_type_from_name(type_name);
    if (!s && mlx < TK_TYPE_MLX_FIRST) return fail("unknown type '%s'", type_name);
    if (!s && pr->n_expert)
        return fail("MLX model directories of a mixture of experts are not supported");
    int n_layer = layers > 0 ? (int)layers : pr->n_layer;

    double t0 = now_s();
    plan p = {0};
    tk_gguf_writer *w = NULL;
    pool pl = {0};
    int rc = 1;
    if (!build_plan(pr, n_layer, &p)) {
        fprintf(stderr, "synth_model: out of memory\n");
        goto done;
    }
    /* choose types, allocate outputs, lay out the chunks */
    pl.p = &p;
    pl.seed = (uint64_t)seed;
    pl.first_job = calloc((size_t)p.n + 1, sizeof *pl.first_job);
    if (!pl.first_job) goto done;
    int fallbacks = 0;
    uint64_t total = 0;
    for (int i = 0; i < p.n; i++) {
        tensor *t = &p.t[i];
        if (s) {
            tk_quant_choice c = tk_quant_tensor_type(s, t->name, t->n_dims, t->ne, n_layer,
                                                     !pr->tied, pr->n_expert);
            t->type = c.quantize ? c.type : TK_TYPE_F32;
            fallbacks += c.fallback;
        } else {
            t->type = t->n_dims == 2 ? mlx : TK_TYPE_F32;
        }
        if (tk_type_size(t->type, t->ne[0] * t->ne[1] * t->ne[2], &t->size) != TK_OK) {
            fprintf(stderr, "synth_model: %s: %s\n", t->name, tk_last_error());
            goto done;
        }
        t->data = malloc(t->size);
        if (!t->data) {
            fprintf(stderr, "synth_model: out of memory for %s\n", t->name);
            goto done;
        }
        total += t->size;
        t->rows_per_chunk = t->ne[0] >= CHUNK_ELEMS ? 1 : CHUNK_ELEMS / t->ne[0];
        t->n_chunks = (t->ne[1] * t->ne[2] + t->rows_per_chunk - 1) / t->rows_per_chunk;
        pl.first_job[i + 1] = pl.first_job[i] + t->n_chunks;
        if (t->rows_per_chunk * t->ne[0] > pl.max_chunk)
            pl.max_chunk = t->rows_per_chunk * t->ne[0];
    }
    pl.n_jobs = pl.first_job[p.n];
    atomic_init(&pl.next, 0);
    atomic_init(&pl.failed, 0);
    {
        pthread_t tids[256];
        int started = 0;
        for (int i = 1; i < threads; i++)
            if (pthread_create(&tids[started], NULL, worker, &pl) == 0) started++;
        worker(&pl);
        for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    }
    if (atomic_load(&pl.failed)) {
        fprintf(stderr, "synth_model: out of memory\n");
        goto done;
    }

    if (!s) {
        tk_status st = write_mlx_dir(out, pr, n_layer, mlx, &p);
        if (st) {
            fprintf(stderr, "synth_model: %s: %s\n", out,
                    tk_last_error()[0] ? tk_last_error() : tk_status_str(st));
            goto done;
        }
        printf("%s: %s preset, %d layers, %s model directory, %d tensors, %.1f MiB, %.1f s\n", out,
               pr->name, n_layer, type_name, p.n, (double)total / (1024.0 * 1024.0), now_s() - t0);
        rc = 0;
        goto done;
    }
    tk_status st = tk_gguf_writer_create(&w);
    if (!st) st = write_hparams(w, pr, n_layer, s);
    if (!st) st = write_vocab(w, pr->n_vocab);
    for (int i = 0; i < p.n && !st; i++)
        st = tk_gguf_writer_add_tensor(w, p.t[i].name, p.t[i].type, p.t[i].n_dims, p.t[i].ne,
                                       p.t[i].data, p.t[i].size);
    if (!st) st = tk_gguf_writer_write(w, out);
    if (st) {
        fprintf(stderr, "synth_model: %s\n", tk_last_error());
        goto done;
    }
    printf("%s: %s preset, %d layers, %s, %d tensors (%d fell back to a type that fits), "
           "%.1f MiB of tensor data, %.1f s\n",
           out, pr->name, n_layer, s->name, p.n, fallbacks, (double)total / (1024.0 * 1024.0),
           now_s() - t0);
    rc = 0;
done:
    tk_gguf_writer_free(w);
    for (int i = 0; i < p.n; i++) free(p.t[i].data);
    free(p.t);
    free(pl.first_job);
    return rc;
}
