/* Model directories: what opening one makes of config.json and the
 * safetensors tensors (keys, names, types, the +1 of gemma norms, llama's
 * Q/K row order, MLX blocks), tokenizer-only directories, and a clear error
 * for every kind of broken directory. The golden logits of the oracle/mlx
 * directories are checked by test_model. */
#include "check.h"

#include "core/core.h"
#include "hfdir/hfdir.h"
#include "safetensors/safetensors.h"
#include "tektra/modeldir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];
static int n_dirs;

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* A fresh directory under root. */
static const char *new_dir(char *buf, size_t size)
{
    snprintf(buf, size, "%s/d%d", root, n_dirs++);
    CHECK(mkdir(buf, 0700) == 0);
    return buf;
}

/* A tiny llama: n_embd 64, 2 heads of 32 (1 kv head), n_ff 128, vocab 12,
 * 1 layer; every weight's value encodes its position so that layout
 * changes can be checked exactly. With bits > 0, the 2-D weights are
 * MLX-quantized (bf16 scales and biases) in groups of `group`. */
typedef struct tiny {
    const char *model_type;
    int bits, group;
    bool drop_scales; /* leave out one .scales tensor */
    bool extra;       /* add a tensor no model has */
    int64_t bad_rows; /* give attn_k this many rows instead (0 = right) */
} tiny;

static float value_at(int t, int64_t i)
{
    return (float)(t * 1000 + (int)(i % 997)) / 1024.0f;
}

static void make_tiny(const char *dir, const tiny *o)
{
    static const struct {
        const char *name;
        int64_t rows, cols; /* rows 0: 1-D of cols */
    } ts[] = {
        {"model.embed_tokens.weight", 12, 64},
        {"model.norm.weight", 0, 64},
        {"lm_head.weight", 12, 64},
        {"model.layers.0.input_layernorm.weight", 0, 64},
        {"model.layers.0.self_attn.q_proj.weight", 64, 64},
        {"model.layers.0.self_attn.k_proj.weight", 32, 64},
        {"model.layers.0.self_attn.v_proj.weight", 32, 64},
        {"model.layers.0.self_attn.o_proj.weight", 64, 64},
        {"model.layers.0.post_attention_layernorm.weight", 0, 64},
        {"model.layers.0.mlp.gate_proj.weight", 128, 64},
        {"model.layers.0.mlp.up_proj.weight", 128, 64},
        {"model.layers.0.mlp.down_proj.weight", 64, 128},
    };
    enum { N = sizeof ts / sizeof ts[0] };
    st_writer *w = NULL;
    CHECK(st_writer_create(&w) == TK_OK);
    void *bufs[3 * N + 1] = {0};
    int nb = 0;
    for (int t = 0; t < N; t++) {
        int64_t rows = ts[t].rows, cols = ts[t].cols;
        if (o->bad_rows && strstr(ts[t].name, "k_proj")) rows = o->bad_rows;
        const int64_t n = (rows ? rows : 1) * cols;
        if (!o->bits || !rows) {
            float *f = malloc((size_t)n * sizeof *f);
            for (int64_t i = 0; i < n; i++) f[i] = value_at(t, i);
            bufs[nb++] = f;
            int64_t shape[2] = {rows ? rows : cols, cols};
            CHECK(st_writer_add(w, ts[t].name, ST_F32, rows ? 2 : 1, shape, f,
                                (uint64_t)n * sizeof *f) == TK_OK);
            continue;
        }
        /* q = column % 2^bits; scale = 1/16 + row/64, bias = -(group index) */
        const int64_t ng = cols / o->group, words = cols * o->bits / 32;
        uint32_t *q = calloc((size_t)(rows * words), sizeof *q);
        uint16_t *sc = malloc((size_t)(rows * ng) * 2), *bi = malloc((size_t)(rows * ng) * 2);
        bufs[nb++] = q;
        bufs[nb++] = sc;
        bufs[nb++] = bi;
        const int per = 32 / o->bits;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++)
                q[r * words + c / per] |= (uint32_t)(c % (1 << o->bits)) << (o->bits * (c % per));
        for (int64_t r = 0; r < rows; r++)
            for (int64_t g = 0; g < ng; g++) {
                sc[r * ng + g] = tk_fp32_to_bf16(1.0f / 16 + (float)r / 64);
                bi[r * ng + g] = tk_fp32_to_bf16(-(float)g);
            }
        char base[200], nm[220];
        snprintf(base, sizeof base, "%.*s", (int)(strlen(ts[t].name) - 7), ts[t].name);
        int64_t wsh[2] = {rows, words}, ssh[2] = {rows, ng};
        CHECK(st_writer_add(w, ts[t].name, ST_U32, 2, wsh, q, (uint64_t)(rows * words) * 4) ==
              TK_OK);
        snprintf(nm, sizeof nm, "%s.scales", base);
        if (!(o->drop_scales && t == 4))
            CHECK(st_writer_add(w, nm, ST_BF16, 2, ssh, sc, (uint64_t)(rows * ng) * 2) == TK_OK);
        snprintf(nm, sizeof nm, "%s.biases", base);
        CHECK(st_writer_add(w, nm, ST_BF16, 2, ssh, bi, (uint64_t)(rows * ng) * 2) == TK_OK);
    }
    static float extra[4];
    int64_t esh[1] = {4};
    if (o->extra)
        CHECK(st_writer_add(w, "model.layers.0.mystery.weight", ST_F32, 1, esh, extra,
                            sizeof extra) == TK_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(st_writer_write(w, path) == TK_OK);
    st_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);

    char cfg[1024];
    char quant[128] = "";
    if (o->bits)
        snprintf(quant, sizeof quant, ", \"quantization\": {\"group_size\": %d, \"bits\": %d}",
                 o->group, o->bits);
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"%s\", \"hidden_size\": 64, \"num_hidden_layers\": 1,"
             " \"intermediate_size\": 128, \"num_attention_heads\": 2,"
             " \"num_key_value_heads\": 1, \"vocab_size\": 12, \"rms_norm_eps\": 1e-6,"
             " \"rope_theta\": 10000.0, \"max_position_embeddings\": 64%s}",
             o->model_type, quant);
    write_text(dir, "config.json", cfg);
}

static void test_layout(void)
{
    char dir[128];
    tk_gguf *g = NULL;
    make_tiny(new_dir(dir, sizeof dir), &(tiny){.model_type = "llama"});
    tk_status st = tk_model_dir_open(dir, &g);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (st) return;
    CHECK_STR(tk_model_source_format(g), "safetensors");
    const char *s = NULL;
    CHECK(tk_gguf_get_str(g, "general.architecture", &s) == TK_OK && strcmp(s, "llama") == 0);
    uint32_t u = 0;
    CHECK(tk_gguf_get_u32(g, "llama.attention.head_count_kv", &u) == TK_OK && u == 1);
    CHECK(tk_gguf_get_u32(g, "llama.attention.key_length", &u) == TK_OK && u == 32);
    float f = 0;
    CHECK(tk_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f) == TK_OK && f == 1e-6f);
    /* HF's post-attention norm is GGUF's ffn_norm for llama */
    CHECK(tk_gguf_find_tensor(g, "blk.0.ffn_norm.weight") != NULL);
    const tk_gguf_tensor *q = tk_gguf_find_tensor(g, "blk.0.attn_q.weight");
    CHECK(q && q->type == TK_TYPE_F32 && q->ne[0] == 64 && q->ne[1] == 64);
    if (q) {
        /* GGUF row 1 of head 0 is HF row hd/2 = 16; row 2 is HF row 1 */
        const float *v = q->data;
        CHECK(v[1 * 64] == value_at(4, 16 * 64));
        CHECK(v[2 * 64] == value_at(4, 1 * 64));
        CHECK(v[33 * 64] == value_at(4, (32 + 16) * 64));
    }
    const tk_gguf_tensor *vv = tk_gguf_find_tensor(g, "blk.0.attn_v.weight");
    CHECK(vv && ((const float *)vv->data)[64] == value_at(6, 64)); /* not permuted */
    tk_gguf_close(g);

    /* gemma: norm weights get +1, Q/K stay as they are */
    make_tiny(new_dir(dir, sizeof dir), &(tiny){.model_type = "gemma"});
    st = tk_model_dir_open(dir, &g);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (st) return;
    const tk_gguf_tensor *n = tk_gguf_find_tensor(g, "blk.0.attn_norm.weight");
    CHECK(n && n->type == TK_TYPE_F32 && ((const float *)n->data)[5] == value_at(3, 5) + 1.0f);
    q = tk_gguf_find_tensor(g, "blk.0.attn_q.weight");
    CHECK(q && ((const float *)q->data)[64] == value_at(4, 64));
    tk_gguf_close(g);
}

static void test_mlx_blocks(void)
{
    static const struct {
        int bits, group, type;
    } cases[] = {{4, 32, TK_TYPE_MLX4_G32},
                 {4, 64, TK_TYPE_MLX4_G64},
                 {8, 64, TK_TYPE_MLX8_G64},
                 {8, 32, TK_TYPE_MLX8_G32}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char dir[128];
        make_tiny(new_dir(dir, sizeof dir),
                  &(tiny){.model_type = "qwen2", .bits = cases[k].bits, .group = cases[k].group});
        tk_gguf *g = NULL;
        tk_status st = tk_model_dir_open(dir, &g);
        CHECK_MSG(st == TK_OK, "%s", tk_last_error());
        if (st) continue;
        CHECK_STR(tk_model_source_format(g), "mlx");
        const tk_gguf_tensor *t = tk_gguf_find_tensor(g, "blk.0.ffn_down.weight");
        CHECK(t && t->type == cases[k].type && t->ne[0] == 128 && t->ne[1] == 64);
        if (t && t->type == cases[k].type) {
            float *row = malloc(128 * sizeof *row);
            const size_t rb = (size_t)(128 / cases[k].group) * tk_type_get(t->type)->block_bytes;
            tk_type_get(t->type)->dequantize((const char *)t->data + 3 * rb, row, 128);
            /* row 3: scale 1/16 + 3/64, bias -(c / group), q = c % 2^bits */
            int bad = 0;
            for (int c = 0; c < 128; c++) {
                float p = tk_bf16_to_fp32(tk_fp32_to_bf16(1.0f / 16 + 3.0f / 64)) *
                          (float)(c % (1 << cases[k].bits));
                float want = p + (-(float)(c / cases[k].group));
                bad += row[c] != want;
            }
            CHECK_MSG(bad == 0, "%d-bit g%d: %d values differ", cases[k].bits, cases[k].group, bad);
            free(row);
        }
        tk_gguf_close(g);
    }
}

/* Opening `dir` fails with `want` and a message containing `msg`. */
static void expect_error(const char *dir, tk_status want, const char *msg)
{
    tk_gguf *g = NULL;
    tk_status st = tk_model_dir_open(dir, &g);
    CHECK_MSG(st == want, "%s: status %s, expected %s (%s)", dir, tk_status_str(st),
              tk_status_str(want), tk_last_error());
    CHECK(g == NULL);
    CHECK_CONTAINS(tk_last_error(), msg);
    tk_gguf_close(g);
}

static void test_errors(void)
{
    char dir[128];
    new_dir(dir, sizeof dir);
    expect_error(dir, TK_ERR_NOT_FOUND, "not a model directory");
    expect_error("/nonexistent/tektra", TK_ERR_NOT_FOUND, "not a directory");

    write_text(dir, "config.json", "{\"model_type\": \"llama\",");
    expect_error(dir, TK_ERR_FORMAT, "not valid JSON");
    write_text(dir, "config.json", "[1, 2]");
    expect_error(dir, TK_ERR_FORMAT, "expected a JSON object");
    write_text(dir, "config.json", "{\"model_type\": \"llama\"} trailing");
    expect_error(dir, TK_ERR_FORMAT, "text after the JSON value");
    write_text(dir, "config.json", "{\"hidden_size\": 8}");
    expect_error(dir, TK_ERR_NOT_FOUND, "no weights");

    make_tiny(new_dir(dir, sizeof dir), &(tiny){.model_type = "llama"});
    write_text(dir, "config.json", "{\"hidden_size\": 8}");
    expect_error(dir, TK_ERR_FORMAT, "\"model_type\" is missing");
    write_text(dir, "config.json", "{\"model_type\": \"bert\"}");
    expect_error(dir, TK_ERR_UNSUPPORTED, "model_type 'bert' is not supported");
    write_text(dir, "config.json", "{\"model_type\": \"llama\", \"hidden_size\": \"8\"}");
    expect_error(dir, TK_ERR_FORMAT, "\"hidden_size\": expected an integer");
    write_text(dir, "config.json", "{\"model_type\": \"llama\", \"hidden_size\": 8.5}");
    expect_error(dir, TK_ERR_FORMAT, "\"hidden_size\": expected an integer");
    write_text(dir, "config.json", "{\"model_type\": \"llama\", \"hidden_size\": -8}");
    expect_error(dir, TK_ERR_FORMAT, "out of range");
    write_text(dir, "config.json",
               "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 1,"
               " \"intermediate_size\": 128, \"num_attention_heads\": 2,"
               " \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}");
    expect_error(dir, TK_ERR_UNSUPPORTED, "rope_scaling type 'yarn' is not supported");
    write_text(dir, "config.json",
               "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 1,"
               " \"intermediate_size\": 128, \"num_attention_heads\": 2,"
               " \"quantization\": {\"bits\": 4, \"group_size\": 64, \"mode\": \"mxfp4\"}}");
    expect_error(dir, TK_ERR_UNSUPPORTED, "quantization mode 'mxfp4'");

    make_tiny(new_dir(dir, sizeof dir), &(tiny){.model_type = "llama", .extra = true});
    expect_error(dir, TK_ERR_UNSUPPORTED, "model.layers.0.mystery.weight");
    make_tiny(new_dir(dir, sizeof dir),
              &(tiny){.model_type = "llama", .bits = 4, .group = 64, .drop_scales = true});
    expect_error(dir, TK_ERR_FORMAT, "self_attn.q_proj.scales is missing");
    make_tiny(new_dir(dir, sizeof dir), &(tiny){.model_type = "llama", .bits = 4, .group = 64});
    write_text(dir, "config.json",
               "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 1,"
               " \"intermediate_size\": 128, \"num_attention_heads\": 2,"
               " \"quantization\": {\"bits\": 3, \"group_size\": 64}}");
    expect_error(dir, TK_ERR_UNSUPPORTED, "3-bit weights in groups of 64 are not supported");
    write_text(dir, "config.json",
               "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 1,"
               " \"intermediate_size\": 128, \"num_attention_heads\": 2,"
               " \"quantization\": {\"bits\": 4, \"group_size\": 32}}");
    expect_error(dir, TK_ERR_FORMAT, "do not fit groups of 32");
    make_tiny(new_dir(dir, sizeof dir), &(tiny){.model_type = "llama", .bad_rows = 30});
    expect_error(dir, TK_ERR_FORMAT, "rows are not whole heads");

    /* a corrupt weights file is the safetensors reader's error */
    make_tiny(new_dir(dir, sizeof dir), &(tiny){.model_type = "llama"});
    write_text(dir, "model.safetensors", "\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}");
    tk_gguf *g = NULL;
    CHECK(tk_model_dir_open(dir, &g) != TK_OK && g == NULL);
    CHECK_CONTAINS(tk_last_error(), "model.safetensors");
}

static void test_tokenizer_only(void)
{
    char dir[128];
    new_dir(dir, sizeof dir);
    write_text(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\"}}");
    write_text(dir, "tokenizer_config.json",
               "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
               " {\"name\": \"default\", \"template\": \"D\"}]}");
    tk_gguf *g = NULL;
    tk_status st = tk_model_dir_open(dir, &g);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (st) return;
    CHECK_STR(tk_model_source_format(g), "tokenizer");
    CHECK_INT(tk_gguf_n_tensors(g), 0);
    const char *s = NULL;
    CHECK(tk_gguf_get_str(g, "tokenizer.chat_template", &s) == TK_OK && strcmp(s, "D") == 0);
    CHECK(tk_gguf_get_str(g, "tokenizer.huggingface.json", &s) == TK_OK && strstr(s, "BPE"));
    tk_gguf_close(g);

    /* chat_template.jinja wins over tokenizer_config.json */
    write_text(dir, "chat_template.jinja", "J");
    CHECK(tk_model_dir_open(dir, &g) == TK_OK);
    CHECK(g && tk_gguf_get_str(g, "tokenizer.chat_template", &s) == TK_OK && strcmp(s, "J") == 0);
    tk_gguf_close(g);
    write_text(dir, "tokenizer_config.json", "{\"chat_template\": 7}");
    char jinja[200];
    snprintf(jinja, sizeof jinja, "%s/chat_template.jinja", dir);
    CHECK(remove(jinja) == 0);
    expect_error(dir, TK_ERR_FORMAT, "\"chat_template\": expected a string");
}

static void test_golden_dirs(void)
{
    static const char *const names[] = {"llama-bf16", "qwen3-4bit", "qwen2-8bit", "llama-4bit-g32"};
    static const char *const formats[] = {"safetensors", "mlx", "mlx", "mlx"};
    for (int i = 0; i < 4; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "oracle/mlx/%s", names[i]);
        tk_gguf *g = NULL;
        tk_status st = tk_model_source_open(shared_path(rel), &g);
        CHECK_MSG(st == TK_OK, "%s: %s", names[i], tk_last_error());
        if (st) continue;
        CHECK_STR(tk_model_source_format(g), formats[i]);
        const char *t = NULL;
        CHECK(tk_gguf_get_str(g, "tokenizer.chat_template", &t) == TK_OK);
        tk_gguf_close(g);
        /* metadata only: no tensors, same keys */
        st = tk_model_dir_open_meta(shared_path(rel), &g);
        CHECK_MSG(st == TK_OK, "%s: %s", names[i], tk_last_error());
        CHECK(g && tk_gguf_n_tensors(g) == 0);
        CHECK(g && tk_gguf_find_kv(g, "tokenizer.huggingface.json") >= 0);
        tk_gguf_close(g);
    }
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/tektra-test-hfdir-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_layout();
    test_mlx_blocks();
    test_errors();
    test_tokenizer_only();
    test_golden_dirs();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    return check_summary();
}
