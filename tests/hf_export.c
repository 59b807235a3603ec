/* Test helper: writes a GGUF model with float tensors as a model directory
 * in the Hugging Face layout (config.json + model.safetensors), undoing what
 * a converter to GGUF does (names, llama's Q/K row order, gemma's +1 on norm
 * weights). Used to run the golden GGUF models of every architecture through
 * the model-directory loader; the shared oracle/mlx directories, made by an
 * independent converter, are the independent check. */
#include "hf_export.h"

#include "core/core.h"
#include "hfdir/hfdir.h"
#include "safetensors/safetensors.h"
#include "tektra/gguf.h"
#include "tektra/quant.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_u32(cJSON *cfg, const tk_gguf *g, const char *arch, const char *key, const char *hf)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    uint64_t v;
    if (tk_gguf_kv_uint(g, tk_gguf_find_kv(g, k), &v)) cJSON_AddNumberToObject(cfg, hf, (double)v);
}

static void put_f32(cJSON *cfg, const tk_gguf *g, const char *arch, const char *key, const char *hf)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    double v;
    if (tk_gguf_kv_float(g, tk_gguf_find_kv(g, k), &v)) cJSON_AddNumberToObject(cfg, hf, v);
}

tk_status hf_export(const char *gguf_path, const char *dir)
{
    tk_gguf *g = NULL;
    tk_status st = tk_gguf_open(gguf_path, &g);
    if (st) return st;
    const char *arch = NULL;
    tk_gguf_get_str(g, "general.architecture", &arch);
    const bool gemma = strncmp(arch, "gemma", 5) == 0, llama = strcmp(arch, "llama") == 0;
    uint64_t n_head = 0, n_head_kv = 0, n_embd = 0, hd = 0;
    char k[128];
    snprintf(k, sizeof k, "%s.attention.head_count", arch);
    tk_gguf_kv_uint(g, tk_gguf_find_kv(g, k), &n_head);
    snprintf(k, sizeof k, "%s.attention.head_count_kv", arch);
    if (!tk_gguf_kv_uint(g, tk_gguf_find_kv(g, k), &n_head_kv)) n_head_kv = n_head;
    snprintf(k, sizeof k, "%s.embedding_length", arch);
    tk_gguf_kv_uint(g, tk_gguf_find_kv(g, k), &n_embd);
    snprintf(k, sizeof k, "%s.attention.key_length", arch);
    if (!tk_gguf_kv_uint(g, tk_gguf_find_kv(g, k), &hd)) hd = n_embd / n_head;

    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "model_type", strcmp(arch, "gemma3") == 0 ? "gemma3_text" : arch);
    put_u32(cfg, g, arch, "embedding_length", "hidden_size");
    put_u32(cfg, g, arch, "block_count", "num_hidden_layers");
    put_u32(cfg, g, arch, "feed_forward_length", "intermediate_size");
    put_u32(cfg, g, arch, "attention.head_count", "num_attention_heads");
    put_u32(cfg, g, arch, "attention.head_count_kv", "num_key_value_heads");
    put_u32(cfg, g, arch, "context_length", "max_position_embeddings");
    put_u32(cfg, g, arch, "attention.sliding_window", "sliding_window");
    put_f32(cfg, g, arch, "attention.layer_norm_rms_epsilon", "rms_norm_eps");
    put_f32(cfg, g, arch, "rope.freq_base", "rope_theta");
    put_f32(cfg, g, arch, "rope.freq_base_swa", "rope_local_base_freq");
    put_f32(cfg, g, arch, "attn_logit_softcapping", "attn_logit_softcapping");
    put_f32(cfg, g, arch, "final_logit_softcapping", "final_logit_softcapping");
    cJSON_AddNumberToObject(cfg, "head_dim", (double)hd);
    cJSON_AddBoolToObject(cfg, "tie_word_embeddings", !tk_gguf_find_tensor(g, "output.weight"));

    st_writer *w = NULL;
    float **bufs = core_calloc((size_t)tk_gguf_n_tensors(g) + 1, sizeof *bufs);
    st = bufs ? st_writer_create(&w) : TK_ERR_NOMEM;
    for (int64_t i = 0; !st && i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        char name[256];
        if (t->type != TK_TYPE_F32 || t->n_dims > 2 ||
            !hf_name_for_gguf(arch, t->name, name, sizeof name)) {
            st = core_error(TK_ERR_UNSUPPORTED, "hf_export: %s (%s) not exported", t->name,
                            tk_type_get(t->type)->name);
            break;
        }
        const int64_t cols = t->ne[0], rows = t->ne[1];
        float *f = malloc((size_t)t->size);
        bufs[i] = f;
        if (!f) {
            st = TK_ERR_NOMEM;
            break;
        }
        const float *src = t->data;
        const bool q = strstr(t->name, ".attn_q.") != NULL,
                   kk = strstr(t->name, ".attn_k.") != NULL;
        for (int64_t r = 0; r < rows; r++) {
            int64_t dst_row = r;
            if (llama && (q || kk) && t->n_dims == 2) {
                /* GGUF row h*hd + 2i + j is HF row h*hd + j*hd/2 + i */
                int64_t h = r / (int64_t)hd, x = r % (int64_t)hd;
                dst_row = h * (int64_t)hd + (x % 2) * (int64_t)(hd / 2) + x / 2;
            }
            memcpy(f + dst_row * cols, src + r * cols, (size_t)cols * sizeof *f);
        }
        if (gemma && t->n_dims == 1 && strstr(t->name, "norm.weight"))
            for (int64_t c = 0; c < cols; c++) f[c] -= 1.0f;
        int64_t shape[2] = {t->n_dims == 2 ? rows : cols, cols};
        st = st_writer_add(w, name, ST_F32, t->n_dims, shape, f, t->size);
    }
    char path[4096];
    if (!st) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        st = st_writer_write(w, path);
    }
    if (!st) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        char *text = cJSON_Print(cfg);
        FILE *f = text ? fopen(path, "wb") : NULL;
        if (!f || fputs(text, f) < 0) st = core_error(TK_ERR_IO, "%s: cannot write", path);
        if (f) fclose(f);
        free(text);
    }
    st_writer_free(w);
    for (int64_t i = 0; bufs && i < tk_gguf_n_tensors(g); i++) free(bufs[i]);
    free(bufs);
    cJSON_Delete(cfg);
    tk_gguf_close(g);
    return st;
}
