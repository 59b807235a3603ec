/* End-to-end tests of `tektra quantize` (argv[1] = "quantize") and of the
 * synth_model tool (argv[1] = "synth"): they run the real programs
 * ($TK_BIN/tektra, $TK_BIN/synth_model) on real files in a temporary
 * directory and check the files they write with the GGUF reader. */
#include "check.h"

#include "tektra/gguf.h"
#include "tektra/quant.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];
static char out_text[1 << 16], err_text[1 << 16];

static void slurp(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs `cmd` through the shell with stdout/stderr captured into out_text and
 * err_text; returns the exit status (-1 when it did not exit normally). */
static int run(const char *cmd)
{
    char full[8192], o[512], e[512];
    snprintf(o, sizeof o, "%s/stdout.txt", tmpdir);
    snprintf(e, sizeof e, "%s/stderr.txt", tmpdir);
    snprintf(full, sizeof full, "%s >'%s' 2>'%s'", cmd, o, e);
    int st = system(full);
    slurp(o, out_text, sizeof out_text);
    slurp(e, err_text, sizeof err_text);
    remove(o);
    remove(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *bin(const char *name)
{
    static char buf[2][1024];
    static int k;
    const char *dir = getenv("TK_BIN");
    char *b = buf[k++ % 2];
    snprintf(b, sizeof buf[0], "%s/%s", dir ? dir : ".", name);
    return b;
}

static double rel_rmse(const float *a, const float *b, int64_t n)
{
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        e += d * d;
        s += (double)b[i] * (double)b[i];
    }
    return s > 0 ? sqrt(e / s) : sqrt(e);
}

static int64_t n_elem(const tk_gguf_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* Every key of `in` is in `out` with the same type (and the same value for
 * strings and array lengths), except general.file_type. */
static void check_metadata(const tk_gguf *in, const tk_gguf *out, const char *what)
{
    int extra = (tk_gguf_find_kv(in, "general.file_type") < 0) +
                (tk_gguf_find_kv(in, "general.quantization_version") < 0);
    CHECK_MSG(tk_gguf_n_kv(out) == tk_gguf_n_kv(in) + extra, "%s: %lld keys, input %lld (+%d)",
              what, (long long)tk_gguf_n_kv(out), (long long)tk_gguf_n_kv(in), extra);
    for (int64_t i = 0; i < tk_gguf_n_kv(in); i++) {
        const char *key = tk_gguf_kv_key(in, i);
        int64_t j = tk_gguf_find_kv(out, key);
        CHECK_MSG(j >= 0, "%s: key %s lost", what, key);
        if (j < 0 || strcmp(key, "general.file_type") == 0) continue;
        CHECK_MSG(tk_gguf_kv_type(in, i) == tk_gguf_kv_type(out, j), "%s: %s changed type", what,
                  key);
        CHECK(tk_gguf_kv_arr_len(in, i) == tk_gguf_kv_arr_len(out, j));
        const char *a, *b;
        uint64_t la, lb;
        if (tk_gguf_kv_str(in, i, &a, &la)) {
            CHECK(tk_gguf_kv_str(out, j, &b, &lb) && la == lb && memcmp(a, b, la) == 0);
        }
        int64_t va, vb;
        if (tk_gguf_kv_int(in, i, &va)) CHECK(tk_gguf_kv_int(out, j, &vb) && va == vb);
    }
    if (tk_gguf_kv_arr_len(in, tk_gguf_find_kv(in, "tokenizer.ggml.tokens")) > 300) {
        const char *a, *b;
        uint64_t la, lb;
        int64_t i = tk_gguf_find_kv(in, "tokenizer.ggml.tokens");
        int64_t j = tk_gguf_find_kv(out, "tokenizer.ggml.tokens");
        CHECK(tk_gguf_arr_str(in, i, 300, &a, &la) && tk_gguf_arr_str(out, j, 300, &b, &lb) &&
              la == lb && memcmp(a, b, la) == 0);
    }
}

/* ---- tektra quantize --------------------------------------------------------- */

/* Largest relative RMSE a correctly quantized stories260K tensor may show
 * (the type's error on real weights, with slack for small tensors). */
static double type_limit(int type)
{
    switch (type) {
    case TK_TYPE_F32:
        return 0;
    case TK_TYPE_F16:
        return 0.0004;
    case TK_TYPE_Q8_0:
        return 0.008;
    case TK_TYPE_Q6_K:
        return 0.025;
    case TK_TYPE_Q5_0:
    case TK_TYPE_Q5_1:
    case TK_TYPE_Q5_K:
        return 0.055;
    default:
        return 0.11;
    }
}

static void check_quantized(const char *scheme_name)
{
    const char *model = shared_path("models/stories260K.gguf");
    char out[512], cmd[4096];
    snprintf(out, sizeof out, "%s/stories-%s.gguf", tmpdir, scheme_name);
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' %s --threads 2", bin("tektra"), model, out,
             scheme_name);
    int rc = run(cmd);
    CHECK_MSG(rc == 0, "%s: exit %d, stderr: %s", cmd, rc, err_text);
    if (rc != 0) return;
    CHECK_CONTAINS(out_text, scheme_name);
    CHECK_CONTAINS(out_text, "tensor data:");
    /* Not a terminal: no progress line, no carriage returns. */
    CHECK_MSG(strchr(err_text, '\r') == NULL && strstr(err_text, "/48]") == NULL,
              "progress noise on a pipe: %s", err_text);

    const tk_quant_scheme *s = tk_quant_scheme_find(scheme_name);
    tk_gguf *in = NULL, *g = NULL;
    CHECK(tk_gguf_open(model, &in) == TK_OK);
    CHECK_MSG(tk_gguf_open(out, &g) == TK_OK, "%s: %s", out, tk_last_error());
    if (!in || !g || !s) goto done;
    check_metadata(in, g, scheme_name);
    uint32_t ft = 0;
    CHECK(tk_gguf_get_u32(g, "general.file_type", &ft) == TK_OK && ft == s->ftype);

    CHECK_INT(tk_gguf_n_tensors(g), tk_gguf_n_tensors(in));
    int quantized = 0, fallbacks = 0, kept = 0;
    for (int64_t i = 0; i < tk_gguf_n_tensors(in) && i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *a = tk_gguf_tensor_at(in, i), *b = tk_gguf_tensor_at(g, i);
        CHECK_STR(b->name, a->name);
        CHECK(b->n_dims == a->n_dims && memcmp(a->ne, b->ne, sizeof a->ne) == 0);
        /* what the file must hold, spelled out for this model (n_embd 64,
         * n_ff 172, 5 layers, separate output.weight) */
        int want;
        bool fb = false;
        if (a->n_dims == 1) {
            want = TK_TYPE_F32;
        } else {
            want = s->type;
            if (s->mix) {
                int il = -1;
                sscanf(a->name, "blk.%d.", &il);
                bool more = il == 2 || il == 4; /* use_more_bits for 5 layers */
                /* the output matrix: Q6_K, or Q8_0 (not a fallback) when
                 * its rows do not fit 256-blocks */
                if (strcmp(a->name, "output.weight") == 0)
                    want = a->ne[0] % 256 ? TK_TYPE_Q8_0 : TK_TYPE_Q6_K;
                if ((strstr(a->name, "attn_v") || strstr(a->name, "ffn_down")) && more)
                    want = TK_TYPE_Q6_K;
            }
            int block = tk_type_get(want)->block_size;
            if (a->ne[0] % block != 0) {
                fb = true;
                want = want == TK_TYPE_Q4_K   ? TK_TYPE_Q5_0
                       : want == TK_TYPE_Q5_K ? TK_TYPE_Q5_1
                       : want == TK_TYPE_Q6_K ? TK_TYPE_Q8_0
                                              : TK_TYPE_F16;
                if (a->ne[0] % tk_type_get(want)->block_size != 0) want = TK_TYPE_F16;
            }
        }
        CHECK_MSG(b->type == want, "%s %s: type %s, expected %s", scheme_name, a->name,
                  tk_type_get(b->type)->name, tk_type_get(want)->name);
        if (fb) {
            fallbacks++;
            char line[256];
            snprintf(line, sizeof line, "tektra: %s: row length %lld", a->name,
                     (long long)a->ne[0]);
            CHECK_CONTAINS(err_text, line);
        }
        if (b->type == TK_TYPE_F32) {
            kept++;
            CHECK(b->size == a->size && memcmp(a->data, b->data, a->size) == 0);
        } else {
            quantized++;
            int64_t n = n_elem(a);
            float *y = malloc((size_t)n * sizeof(float));
            CHECK(tk_type_dequantize(b->type, b->data, y, n, 1) == TK_OK);
            double e = rel_rmse(y, a->data, n);
            CHECK_MSG(e <= type_limit(b->type), "%s %s (%s): rmse %.5f", scheme_name, a->name,
                      tk_type_get(b->type)->name, e);
            free(y);
        }
    }
    printf("quantize %-7s: %d quantized, %d kept F32, %d fallbacks\n", scheme_name, quantized, kept,
           fallbacks);
    if (fallbacks) {
        char line[64];
        snprintf(line, sizeof line, "fallbacks: %d tensors", fallbacks);
        CHECK_CONTAINS(out_text, line);
    } else {
        CHECK(strstr(err_text, "row length") == NULL);
    }
    CHECK(quantized >= 30);
    CHECK_INT(kept, 11); /* 2 norms per layer + output_norm */
done:
    tk_gguf_close(g);
    tk_gguf_close(in);
}

/* Models the reference quantized to Q4_K_M from the same F32 file: llama,
 * whose rows fit 256-blocks, so the K-quants are used for real, and the
 * qwen3moe of 8 experts (3-D expert tensors; its down experts' rows of 128
 * fall back). Our file must have the same type for every tensor and be at
 * least as close to the F32 weights (2% slack per tensor); `k_quants`
 * tensors of it are Q4_K or Q6_K. */
static void check_vs_reference_mix(const char *name, int k_quants_want, bool fallbacks)
{
    char f32[512], ref[512];
    snprintf(f32, sizeof f32, "%s", shared_path(name));
    snprintf(ref, sizeof ref, "%.*s-mix-q4_k_m.gguf", (int)(strlen(f32) - strlen("-f32.gguf")),
             f32);
    char out[512], cmd[4096];
    snprintf(out, sizeof out, "%s/q4_k_m.gguf", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' Q4_K_M", bin("tektra"), f32, out);
    int rc = run(cmd);
    CHECK_MSG(rc == 0, "%s: exit %d, stderr: %s", cmd, rc, err_text);
    CHECK((strstr(err_text, "row length") != NULL) == fallbacks);
    tk_gguf *a = NULL, *b = NULL, *g = NULL;
    CHECK(tk_gguf_open(f32, &a) == TK_OK);
    CHECK(tk_gguf_open(ref, &b) == TK_OK);
    CHECK_MSG(rc == 0 && tk_gguf_open(out, &g) == TK_OK, "%s", tk_last_error());
    if (a && b && g) {
        check_metadata(a, g, name);
        int k_quants = 0;
        for (int64_t i = 0; i < tk_gguf_n_tensors(a); i++) {
            const tk_gguf_tensor *x = tk_gguf_tensor_at(a, i);
            const tk_gguf_tensor *r = tk_gguf_find_tensor(b, x->name);
            const tk_gguf_tensor *o = tk_gguf_find_tensor(g, x->name);
            CHECK(r && o);
            if (!r || !o) continue;
            CHECK_MSG(o->type == r->type, "%s: ours %s, reference %s", x->name,
                      tk_type_get(o->type)->name, tk_type_get(r->type)->name);
            if (o->type != r->type || o->type == TK_TYPE_F32) continue;
            k_quants += o->type == TK_TYPE_Q4_K || o->type == TK_TYPE_Q6_K;
            int64_t n = n_elem(x);
            float *yo = malloc((size_t)n * 4), *yr = malloc((size_t)n * 4);
            CHECK(tk_type_dequantize(o->type, o->data, yo, n, 1) == TK_OK);
            CHECK(tk_type_dequantize(r->type, r->data, yr, n, 1) == TK_OK);
            double eo = rel_rmse(yo, x->data, n), er = rel_rmse(yr, x->data, n);
            CHECK_MSG(eo <= er * 1.02, "%s (%s): ours %.5f, reference %.5f", x->name,
                      tk_type_get(o->type)->name, eo, er);
            free(yo);
            free(yr);
        }
        CHECK_INT(k_quants, k_quants_want);
    }
    tk_gguf_close(a);
    tk_gguf_close(b);
    tk_gguf_close(g);
    remove(out);
}

static void test_quantize(void)
{
    check_vs_reference_mix("oracle/llama-f32.gguf", 16, false);
    check_vs_reference_mix("oracle/moe/qwen3moe-f32.gguf", 8, true);
    check_quantized("Q8_0");
    check_quantized("Q4_0");
    check_quantized("Q4_K_M");
    check_quantized("Q5_K_M");
    check_quantized("Q6_K");
    check_quantized("F16");
    check_quantized("IQ4_NL");

    /* re-quantizing a quantized file: decoded to F32, encoded again */
    char in2[512], out2[512], cmd[4096];
    snprintf(in2, sizeof in2, "%s/stories-Q8_0.gguf", tmpdir);
    snprintf(out2, sizeof out2, "%s/requant.gguf", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' q4_0", bin("tektra"), in2, out2);
    CHECK_INT(run(cmd), 0);
    tk_gguf *g = NULL;
    CHECK(tk_gguf_open(out2, &g) == TK_OK);
    if (g) {
        const tk_gguf_tensor *t = tk_gguf_find_tensor(g, "blk.0.attn_q.weight");
        CHECK(t && t->type == TK_TYPE_Q4_0);
        tk_gguf_close(g);
    }
    remove(out2);

    /* errors */
    const char *model = shared_path("models/stories260K.gguf");
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s/x.gguf' Q9_9", bin("tektra"), model, tmpdir);
    CHECK_INT(run(cmd), 2);
    CHECK_CONTAINS(err_text, "Q9_9");
    CHECK_CONTAINS(err_text, "Q4_K_M");
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s/missing.gguf' '%s/x.gguf' Q8_0", bin("tektra"),
             tmpdir, tmpdir);
    CHECK_INT(run(cmd), 1);
    CHECK_CONTAINS(err_text, "missing.gguf");
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s/x.gguf' Q8_0", bin("tektra"),
             shared_path("oracle/tokens.txt"), tmpdir);
    CHECK_INT(run(cmd), 1);
    CHECK(err_text[0] != '\0');
    struct stat sb;
    CHECK(stat(in2, &sb) == 0);
    off_t before = sb.st_size;
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' Q4_0", bin("tektra"), in2, in2);
    CHECK_INT(run(cmd), 2);
    CHECK_CONTAINS(err_text, "same file");
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' quantize stories-Q8_0.gguf ./stories-Q8_0.gguf Q4_0",
             tmpdir, bin("tektra"));
    CHECK_INT(run(cmd), 2);
    CHECK(stat(in2, &sb) == 0 && sb.st_size == before);
    /* OUT is checked before any work: a missing directory, a file where a
     * directory should be, a directory as OUT, a directory that takes no
     * files. With an IN that is not a model at all, the OUT error comes
     * first: nothing was read. */
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s/nodir/x.gguf' Q8_0", bin("tektra"), model,
             tmpdir);
    CHECK_INT(run(cmd), 1);
    CHECK_CONTAINS(err_text, "nodir' does not exist");
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s/nodir/x.gguf' Q8_0", bin("tektra"),
             shared_path("oracle/tokens.txt"), tmpdir);
    CHECK_INT(run(cmd), 1);
    CHECK_CONTAINS(err_text, "nodir' does not exist");
    CHECK_MSG(strchr(err_text, '\n') == strrchr(err_text, '\n'), "more than one error: %s",
              err_text);
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s/x.gguf' Q8_0", bin("tektra"), model,
             shared_path("oracle/tokens.txt"));
    CHECK_INT(run(cmd), 1);
    CHECK_CONTAINS(err_text, "tokens.txt' is not a directory");
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' Q8_0", bin("tektra"), model, tmpdir);
    CHECK_INT(run(cmd), 1);
    CHECK_CONTAINS(err_text, "is a directory; give a file name");
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' /proc/x.gguf Q8_0", bin("tektra"), model);
    CHECK_INT(run(cmd), 1);
    CHECK_CONTAINS(err_text, "cannot create files in '/proc'");
    if (getuid() != 0) {
        char ro[512];
        snprintf(ro, sizeof ro, "%s/ro", tmpdir);
        CHECK(mkdir(ro, 0555) == 0);
        snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s/x.gguf' Q8_0", bin("tektra"), model, ro);
        CHECK_INT(run(cmd), 1);
        CHECK_CONTAINS(err_text, "Permission denied");
        rmdir(ro);
    }
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' Q8_0", bin("tektra"), model);
    CHECK_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' quantize a b Q8_0 --threads 0", bin("tektra"));
    CHECK_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' quantize a b Q8_0 --bogus", bin("tektra"));
    CHECK_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' quantize --help", bin("tektra"));
    CHECK_INT(run(cmd), 0);
    CHECK_CONTAINS(out_text, "Q5_K_M");
    CHECK_CONTAINS(out_text, "--threads");

    /* nothing but the finished files is left in the directory (no temporaries) */
    DIR *d = opendir(tmpdir);
    int stray = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".tmp")) stray++;
    if (d) closedir(d);
    CHECK_INT(stray, 0);
}

/* ---- synth_model ------------------------------------------------------------ */

static void test_synth(void)
{
    char out[512], out2[512], cmd[4096];
    snprintf(out, sizeof out, "%s/tiny.gguf", tmpdir);
    snprintf(out2, sizeof out2, "%s/tiny2.gguf", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' --preset tiny --type F32 -o '%s' --seed 7 --threads 1",
             bin("synth_model"), out);
    CHECK_MSG(run(cmd) == 0, "%s: %s", cmd, err_text);
    tk_gguf *g = NULL;
    CHECK_MSG(tk_gguf_open(out, &g) == TK_OK, "%s: %s", out, tk_last_error());
    if (g) {
        const char *s = NULL;
        uint32_t u = 0;
        float f = 0;
        CHECK(tk_gguf_get_str(g, "general.architecture", &s) == TK_OK && strcmp(s, "llama") == 0);
        CHECK(tk_gguf_get_u32(g, "llama.block_count", &u) == TK_OK && u == 2);
        CHECK(tk_gguf_get_u32(g, "llama.embedding_length", &u) == TK_OK && u == 64);
        CHECK(tk_gguf_get_u32(g, "llama.feed_forward_length", &u) == TK_OK && u == 128);
        CHECK(tk_gguf_get_u32(g, "llama.attention.head_count", &u) == TK_OK && u == 4);
        CHECK(tk_gguf_get_u32(g, "llama.attention.head_count_kv", &u) == TK_OK && u == 2);
        CHECK(tk_gguf_get_u32(g, "llama.context_length", &u) == TK_OK && u > 0);
        CHECK(tk_gguf_get_f32(g, "llama.rope.freq_base", &f) == TK_OK && f == 10000.0f);
        CHECK(tk_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f) == TK_OK && f > 0 &&
              f < 1e-3f);
        CHECK(tk_gguf_get_str(g, "tokenizer.ggml.model", &s) == TK_OK && strcmp(s, "llama") == 0);
        CHECK(tk_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u) == TK_OK && u == 1);
        CHECK(tk_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &u) == TK_OK && u == 2);
        int64_t kt = tk_gguf_find_kv(g, "tokenizer.ggml.tokens");
        CHECK(tk_gguf_kv_arr_len(g, kt) == 512);
        CHECK(tk_gguf_kv_arr_len(g, tk_gguf_find_kv(g, "tokenizer.ggml.scores")) == 512);
        CHECK(tk_gguf_kv_arr_len(g, tk_gguf_find_kv(g, "tokenizer.ggml.token_type")) == 512);
        const char *tok;
        uint64_t len;
        CHECK(tk_gguf_arr_str(g, kt, 0, &tok, &len) && strcmp(tok, "<unk>") == 0);
        CHECK(tk_gguf_arr_str(g, kt, 1, &tok, &len) && strcmp(tok, "<s>") == 0);
        CHECK(tk_gguf_arr_str(g, kt, 3, &tok, &len) && strcmp(tok, "<0x00>") == 0);
        CHECK(tk_gguf_arr_str(g, kt, 258, &tok, &len) && strcmp(tok, "<0xFF>") == 0);
        /* the tensors of a llama model, with the right shapes and values */
        static const char *const names[] = {
            "token_embd.weight",     "blk.0.attn_norm.weight", "blk.1.attn_q.weight",
            "blk.1.attn_k.weight",   "blk.1.attn_v.weight",    "blk.1.attn_output.weight",
            "blk.1.ffn_norm.weight", "blk.1.ffn_gate.weight",  "blk.1.ffn_up.weight",
            "blk.1.ffn_down.weight", "output_norm.weight",     "output.weight"};
        static const int64_t shapes[][2] = {{64, 512}, {64, 1},   {64, 64}, {64, 32},
                                            {64, 32},  {64, 64},  {64, 1},  {64, 128},
                                            {64, 128}, {128, 64}, {64, 1},  {64, 512}};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            const tk_gguf_tensor *t = tk_gguf_find_tensor(g, names[i]);
            CHECK_MSG(t != NULL, "missing %s", names[i]);
            if (!t) continue;
            CHECK(t->ne[0] == shapes[i][0] && t->ne[1] == shapes[i][1] && t->type == TK_TYPE_F32);
            const float *x = t->data;
            double sum = 0, sq = 0;
            int64_t n = n_elem(t);
            for (int64_t j = 0; j < n; j++) {
                sum += x[j];
                sq += (double)x[j] * x[j];
            }
            double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
            bool norm = t->n_dims == 1;
            CHECK_MSG(fabs(mean - (norm ? 1.0 : 0.0)) < (norm ? 0.01 : 0.002) &&
                          fabs(sd - 0.02) < (norm ? 0.006 : 0.002),
                      "%s: mean %g std %g", names[i], mean, sd);
        }
        CHECK_INT(tk_gguf_n_tensors(g), 1 + 2 * 9 + 2);
        tk_gguf_close(g);
    }

    /* Q4_K_M: the mix rule and determinism (same seed, other thread count) */
    snprintf(cmd, sizeof cmd, "'%s' --preset tiny --type Q4_K_M -o '%s' --seed 7 --threads 1",
             bin("synth_model"), out);
    CHECK_INT(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' --preset tiny --type Q4_K_M -o '%s' --seed 7 --threads 3",
             bin("synth_model"), out2);
    CHECK_INT(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", out, out2);
    CHECK_MSG(run(cmd) == 0, "same seed, different files");
    snprintf(cmd, sizeof cmd, "'%s' --preset tiny --type Q4_K_M -o '%s' --seed 8",
             bin("synth_model"), out2);
    CHECK_INT(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", out, out2);
    CHECK_MSG(run(cmd) == 1, "different seeds, same file");
    g = NULL;
    CHECK(tk_gguf_open(out, &g) == TK_OK);
    if (g) {
        uint32_t ft = 0;
        CHECK(tk_gguf_get_u32(g, "general.file_type", &ft) == TK_OK && ft == 15);
        /* n_embd 64 does not fit 256-blocks: Q4_K -> Q5_0, Q6_K -> Q8_0 */
        const tk_gguf_tensor *t = tk_gguf_find_tensor(g, "blk.0.attn_q.weight");
        CHECK(t && t->type == TK_TYPE_Q5_0);
        t = tk_gguf_find_tensor(g, "blk.1.attn_v.weight");
        CHECK(t && t->type == TK_TYPE_Q8_0);
        t = tk_gguf_find_tensor(g, "output.weight");
        CHECK(t && t->type == TK_TYPE_Q8_0);
        t = tk_gguf_find_tensor(g, "blk.0.ffn_norm.weight");
        CHECK(t && t->type == TK_TYPE_F32);
        tk_gguf_close(g);
    }

    /* a K-quant layout for real: the qwen2 preset cut to one layer is too big
     * (151936-token vocabulary), so the tiny preset in Q6_K checks fallbacks */
    snprintf(cmd, sizeof cmd, "'%s' --preset tiny --type Q6_K -o '%s' --layers 3",
             bin("synth_model"), out2);
    CHECK_INT(run(cmd), 0);
    g = NULL;
    CHECK(tk_gguf_open(out2, &g) == TK_OK);
    if (g) {
        uint32_t u = 0;
        CHECK(tk_gguf_get_u32(g, "llama.block_count", &u) == TK_OK && u == 3);
        CHECK(tk_gguf_find_tensor(g, "blk.2.ffn_down.weight") != NULL);
        CHECK(tk_gguf_find_tensor(g, "blk.3.ffn_down.weight") == NULL);
        tk_gguf_close(g);
    }

    /* usage errors */
    snprintf(cmd, sizeof cmd, "'%s' --preset huge --type Q8_0 -o '%s'", bin("synth_model"), out2);
    CHECK_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' --preset tiny --type Q9 -o '%s'", bin("synth_model"), out2);
    CHECK_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' --preset tiny --type Q8_0", bin("synth_model"));
    CHECK_INT(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' --help", bin("synth_model"));
    CHECK_INT(run(cmd), 0);
    CHECK_CONTAINS(out_text, "qwen2.5-0.5b");
    remove(out);
    remove(out2);
}

int main(int argc, char **argv)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tk_quant_e2e_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    bool synth = argc > 1 && strcmp(argv[1], "synth") == 0;
    if (synth)
        test_synth();
    else
        test_quantize();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
