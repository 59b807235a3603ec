/* The MLX backend's model: a model directory's weights loaded with mlx-c's
 * safetensors loader as stored, checked against the architecture's shapes,
 * with the hyper-parameters from the directory's metadata (the same GGUF
 * keys the CPU engine reads, from tk_model_dir_open_meta).
 *
 * Facts from the Hugging Face modelling code of each architecture: tensor
 * names (model.layers.N.self_attn.q_proj, ...); gemma's RMSNorm scales by
 * (1 + w); gemma2/3 put norms after attention and feed-forward; qwen3 and
 * gemma3 normalise q and k per head; phi3 fuses qkv_proj and gate_up_proj.
 * MLX's affine quantization (mlx-community checkpoints): `weight` uint32
 * [n_out][n_in*bits/32], `scales` and `biases` [n_out][n_in/group]. */
#if TEKTRA_HAVE_MLX
#include "backend/mlx/mlxb.h"

#include "core/core.h"
#include "tektra/modeldir.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mlxb_arch arches[] = {
    {.name = "llama"},
    {.name = "qwen2", .qkv_bias = true},
    {.name = "qwen3", .qk_norm = true},
    {.name = "gemma", .norm_plus_one = true, .embd_scale = true, .gelu = true},
    {.name = "gemma2",
     .norm_plus_one = true,
     .post_norms = true,
     .embd_scale = true,
     .gelu = true,
     .swa_pattern = 2},
    {.name = "gemma3",
     .qk_norm = true,
     .norm_plus_one = true,
     .post_norms = true,
     .embd_scale = true,
     .gelu = true,
     .swa_pattern = 6},
    {.name = "phi3", .fused = true},
};
#define ARCH_LIST "llama, qwen2, qwen3, gemma, gemma2, gemma3, phi3"

/* ---- loading state --------------------------------------------------------- */

typedef struct loader {
    mlxb_model *m;
    const char *dir;
    mlx_map_string_to_array map;
    mx x; /* for the float32 copies */
} loader;

static tk_status own(mlxb_model *m, mlx_array a)
{
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        mlx_array *t = realloc(m->owned, (size_t)cap * sizeof *t);
        if (!t) {
            mlx_array_free(a);
            return core_error(TK_ERR_NOMEM, "out of memory");
        }
        m->owned = t;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = a;
    return TK_OK;
}

/* The tensor `name`; TK_ERR_NOT_FOUND (no message) when absent. */
static tk_status get(loader *l, const char *name, mlx_array *out)
{
    mlx_array a = mlx_array_new();
    int rc = mlx_map_string_to_array_get(&a, l->map, name);
    if (rc == 2) {
        mlx_array_free(a);
        *out = mlx_array_empty;
        return TK_ERR_NOT_FOUND;
    }
    if (rc != 0) {
        mlx_array_free(a);
        return mx_status(TK_ERR_FORMAT, name);
    }
    tk_status st = own(l->m, a);
    *out = st == TK_OK ? a : mlx_array_empty;
    return st;
}

static const char *dtype_name(mlx_dtype t)
{
    switch (t) {
    case MLX_FLOAT32:
        return "F32";
    case MLX_FLOAT16:
        return "F16";
    case MLX_BFLOAT16:
        return "BF16";
    case MLX_UINT32:
        return "U32";
    default:
        return "another type";
    }
}

static bool is_float(mlx_dtype t)
{
    return t == MLX_FLOAT32 || t == MLX_FLOAT16 || t == MLX_BFLOAT16;
}

static void shape_str(mlx_array a, char *buf, size_t size)
{
    size_t n = 0;
    int nd = (int)mlx_array_ndim(a);
    const int *sh = mlx_array_shape(a);
    n += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < nd && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ",%d" : "%d", sh[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
}

static tk_status shape_error(loader *l, const char *name, mlx_array a, const char *expected)
{
    char got[96];
    shape_str(a, got, sizeof got);
    return core_error(TK_ERR_FORMAT, "%s: tensor %s: shape %s %s, expected %s", l->dir, name, got,
                      dtype_name(mlx_array_dtype(a)), expected);
}

/* A float32 copy of `a` (+1 with plus_one), owned by the model. */
static tk_status to_f32(loader *l, mlx_array a, bool plus_one, mlx_array *out)
{
    mx_release(&l->x);
    mlx_array r = mx_astype(&l->x, a, MLX_FLOAT32);
    if (plus_one) r = mx_add(&l->x, r, mx_scalar(&l->x, 1.0f));
    if (l->x.failed) return mx_status(TK_ERR_FORMAT, l->dir);
    mlx_array kept = mlx_array_new();
    mlx_array_set(&kept, r);
    mx_release(&l->x);
    *out = kept;
    return own(l->m, kept);
}

/* A 1-D float vector `name` of n elements, as float32. */
static tk_status load_vec(loader *l, const char *name, int n, bool plus_one, mlx_array *out)
{
    mlx_array a;
    tk_status st = get(l, name, &a);
    if (st == TK_ERR_NOT_FOUND)
        return core_error(TK_ERR_FORMAT, "%s: tensor %s is missing", l->dir, name);
    if (st) return st;
    if (mlx_array_ndim(a) != 1 || mlx_array_dim(a, 0) != n || !is_float(mlx_array_dtype(a))) {
        char want[64];
        snprintf(want, sizeof want, "[%d] (a float type)", n);
        return shape_error(l, name, a, want);
    }
    l->m->size_bytes += mlx_array_nbytes(a);
    l->m->n_params += (uint64_t)n;
    return to_f32(l, a, plus_one, out);
}

/* The linear layer `prefix` (".weight", and ".scales"/".biases" when
 * quantized, ".bias" when `bias`) of n_out x n_in. */
static tk_status load_linear(loader *l, const char *prefix, int n_out, int n_in, bool bias,
                             mlxb_linear *lin)
{
    char name[256];
    memset(lin, 0, sizeof *lin);
    lin->w = lin->scales = lin->biases = lin->bias = mlx_array_empty;
    lin->n_in = n_in;
    lin->n_out = n_out;
    snprintf(name, sizeof name, "%s.weight", prefix);
    mlx_array w;
    tk_status st = get(l, name, &w);
    if (st == TK_ERR_NOT_FOUND)
        return core_error(TK_ERR_FORMAT, "%s: tensor %s is missing", l->dir, name);
    if (st) return st;
    lin->w = w;
    const int nd = (int)mlx_array_ndim(w);
    const mlx_dtype t = mlx_array_dtype(w);
    l->m->size_bytes += mlx_array_nbytes(w);
    l->m->n_params += (uint64_t)n_out * (uint64_t)n_in;
    if (t == MLX_UINT32) {
        /* MLX affine: bits and group size follow from the shapes (a model
         * may quantize some layers differently). */
        char sname[256], bname[256];
        snprintf(sname, sizeof sname, "%s.scales", prefix);
        snprintf(bname, sizeof bname, "%s.biases", prefix);
        mlx_array sc, bi;
        if ((st = get(l, sname, &sc)) != TK_OK || (st = get(l, bname, &bi)) != TK_OK) {
            if (st == TK_ERR_NOT_FOUND)
                return core_error(TK_ERR_FORMAT,
                                  "%s: tensor %s is packed (uint32) but %s or %s is missing",
                                  l->dir, name, sname, bname);
            return st;
        }
        int cols = nd == 2 ? mlx_array_dim(w, 1) : 0;
        int groups = mlx_array_ndim(sc) == 2 ? mlx_array_dim(sc, 1) : 0;
        int bits = cols > 0 && (cols * 32) % n_in == 0 ? cols * 32 / n_in : 0;
        int group = groups > 0 && n_in % groups == 0 ? n_in / groups : 0;
        bool bits_ok = bits == 2 || bits == 3 || bits == 4 || bits == 5 || bits == 6 || bits == 8;
        bool group_ok = group == 32 || group == 64 || group == 128;
        if (nd != 2 || mlx_array_dim(w, 0) != n_out || !bits_ok) {
            char want[128];
            snprintf(want, sizeof want, "[%d,%d x bits/32] U32 (%d x %d, 2..8-bit)", n_out, n_in,
                     n_out, n_in);
            return shape_error(l, name, w, want);
        }
        if (!group_ok || mlx_array_dim(sc, 0) != n_out || !is_float(mlx_array_dtype(sc))) {
            char want[128];
            snprintf(want, sizeof want, "[%d,%d/group] for a group size of 32, 64 or 128", n_out,
                     n_in);
            return shape_error(l, sname, sc, want);
        }
        if (mlx_array_ndim(bi) != 2 || mlx_array_dim(bi, 0) != n_out ||
            mlx_array_dim(bi, 1) != groups || !is_float(mlx_array_dtype(bi))) {
            char want[320];
            snprintf(want, sizeof want, "[%d,%d] like %s", n_out, groups, sname);
            return shape_error(l, bname, bi, want);
        }
        l->m->size_bytes += mlx_array_nbytes(sc) + mlx_array_nbytes(bi);
        lin->bits = bits;
        lin->group = group;
        /* Scales and biases in float32: w = scale * q + bias computed exactly. */
        if ((st = to_f32(l, sc, false, &lin->scales)) != TK_OK) return st;
        if ((st = to_f32(l, bi, false, &lin->biases)) != TK_OK) return st;
    } else if (!is_float(t) || nd != 2 || mlx_array_dim(w, 0) != n_out ||
               mlx_array_dim(w, 1) != n_in) {
        char want[96];
        snprintf(want, sizeof want, "[%d,%d] (F32, F16, BF16, or U32 with scales and biases)",
                 n_out, n_in);
        return shape_error(l, name, w, want);
    }
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        return load_vec(l, name, n_out, false, &lin->bias);
    }
    return TK_OK;
}

/* ---- hyper-parameters ------------------------------------------------------ */

static tk_status hp_u32(const mlxb_model *m, const char *dir, const char *suffix, bool required,
                        int def, int lo, int hi, int *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", m->arch->name, suffix);
    uint32_t v;
    if (tk_gguf_get_u32(m->meta, key, &v) != TK_OK) {
        if (required)
            return core_error(TK_ERR_FORMAT, "%s: the model's metadata has no %s", dir, key);
        *out = def;
        return TK_OK;
    }
    if ((int64_t)v < lo || (int64_t)v > hi)
        return core_error(TK_ERR_FORMAT, "%s: %s = %u is outside [%d, %d]", dir, key, v, lo, hi);
    *out = (int)v;
    return TK_OK;
}

static float hp_f32(const mlxb_model *m, const char *suffix, float def)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", m->arch->name, suffix);
    float v;
    return tk_gguf_get_f32(m->meta, key, &v) == TK_OK && isfinite(v) ? v : def;
}

static tk_status read_hparams(mlxb_model *m, const char *dir)
{
    tk_status st;
    if ((st = hp_u32(m, dir, "embedding_length", true, 0, 1, 1 << 16, &m->n_embd)) ||
        (st = hp_u32(m, dir, "block_count", true, 0, 1, 512, &m->n_layer)) ||
        (st = hp_u32(m, dir, "feed_forward_length", true, 0, 1, 1 << 20, &m->n_ff)) ||
        (st = hp_u32(m, dir, "attention.head_count", true, 0, 1, 1024, &m->n_head)) ||
        (st = hp_u32(m, dir, "attention.head_count_kv", false, m->n_head, 1, m->n_head,
                     &m->n_head_kv)) ||
        (st = hp_u32(m, dir, "context_length", false, 4096, 1, 1 << 24, &m->n_ctx_train)))
        return st;
    if (m->n_head % m->n_head_kv)
        return core_error(TK_ERR_FORMAT, "%s: %d attention heads are not a multiple of %d KV heads",
                          dir, m->n_head, m->n_head_kv);
    if ((st = hp_u32(m, dir, "attention.key_length", false, m->n_embd / m->n_head, 1, 1024,
                     &m->head_dim)) ||
        (st = hp_u32(m, dir, "rope.dimension_count", false, m->head_dim, 2, m->head_dim,
                     &m->n_rot)) ||
        (st = hp_u32(m, dir, "attention.sliding_window", false, 0, 0, 1 << 24, &m->sliding_window)))
        return st;
    int v_len = 0;
    if ((st = hp_u32(m, dir, "attention.value_length", false, m->head_dim, 1, 1024, &v_len)))
        return st;
    if (v_len != m->head_dim)
        return core_error(TK_ERR_UNSUPPORTED,
                          "%s: value heads of %d differ from key heads of %d (not supported by "
                          "the MLX backend)",
                          dir, v_len, m->head_dim);
    m->eps = hp_f32(m, "attention.layer_norm_rms_epsilon", 1e-5f);
    m->attn_scale = hp_f32(m, "attention.scale", 1.0f / sqrtf((float)m->head_dim));
    /* Gemma 2's soft-caps default to its configuration's 50 and 30. */
    const bool gemma2 = strcmp(m->arch->name, "gemma2") == 0;
    m->attn_softcap = hp_f32(m, "attn_logit_softcapping", gemma2 ? 50.0f : 0.0f);
    m->final_softcap = hp_f32(m, "final_logit_softcapping", gemma2 ? 30.0f : 0.0f);
    m->rope_scale = 1;

    /* RoPE variants the backend does not implement are refused by name. */
    char key[128];
    const char *type = NULL;
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch->name);
    if (tk_gguf_get_str(m->meta, key, &type) == TK_OK && type && strcmp(type, "none") != 0) {
        if (strcmp(type, "linear") != 0)
            return core_error(TK_ERR_UNSUPPORTED,
                              "%s: RoPE scaling '%s' is not supported by the MLX backend "
                              "(supported: linear); use --backend gguf",
                              dir, type);
        float factor = hp_f32(m, "rope.scaling.factor", 1);
        if (factor > 0) m->rope_scale = 1 / factor;
    }
    const char *freq_tensors[] = {"rope_freqs.weight", "rope_factors_long.weight"};
    for (size_t i = 0; i < sizeof freq_tensors / sizeof freq_tensors[0]; i++)
        if (tk_gguf_find_tensor(m->meta, freq_tensors[i]))
            return core_error(TK_ERR_UNSUPPORTED,
                              "%s: frequency-dependent RoPE scaling (%s: llama3 or longrope) is "
                              "not supported by the MLX backend; use --backend gguf",
                              dir, freq_tensors[i]);
    snprintf(key, sizeof key, "%s.rope.scaling.original_context_length", m->arch->name);
    if (tk_gguf_find_kv(m->meta, key) >= 0)
        return core_error(TK_ERR_UNSUPPORTED,
                          "%s: longrope RoPE scaling is not supported by the MLX backend; use "
                          "--backend gguf",
                          dir);
    return TK_OK;
}

/* ---- the model ------------------------------------------------------------- */

static tk_status load_layer(loader *l, int i, mlxb_layer *ly)
{
    mlxb_model *m = l->m;
    const mlxb_arch *a = m->arch;
    char p[160], n[200];
    tk_status st;
    const int q_out = m->n_head * m->head_dim, kv_out = m->n_head_kv * m->head_dim;
    snprintf(p, sizeof p, "model.layers.%d", i);

    ly->post_attn_norm = ly->post_ffn_norm = ly->q_norm = ly->k_norm = mlx_array_empty;
    snprintf(n, sizeof n, "%s.input_layernorm.weight", p);
    if ((st = load_vec(l, n, m->n_embd, a->norm_plus_one, &ly->attn_norm))) return st;
    if (a->post_norms) {
        snprintf(n, sizeof n, "%s.post_attention_layernorm.weight", p);
        if ((st = load_vec(l, n, m->n_embd, true, &ly->post_attn_norm))) return st;
        snprintf(n, sizeof n, "%s.pre_feedforward_layernorm.weight", p);
        if ((st = load_vec(l, n, m->n_embd, true, &ly->ffn_norm))) return st;
        snprintf(n, sizeof n, "%s.post_feedforward_layernorm.weight", p);
        if ((st = load_vec(l, n, m->n_embd, true, &ly->post_ffn_norm))) return st;
    } else {
        snprintf(n, sizeof n, "%s.post_attention_layernorm.weight", p);
        if ((st = load_vec(l, n, m->n_embd, a->norm_plus_one, &ly->ffn_norm))) return st;
    }
    if (a->qk_norm) {
        snprintf(n, sizeof n, "%s.self_attn.q_norm.weight", p);
        if ((st = load_vec(l, n, m->head_dim, a->norm_plus_one, &ly->q_norm))) return st;
        snprintf(n, sizeof n, "%s.self_attn.k_norm.weight", p);
        if ((st = load_vec(l, n, m->head_dim, a->norm_plus_one, &ly->k_norm))) return st;
    }
    if (a->fused) {
        snprintf(n, sizeof n, "%s.self_attn.qkv_proj", p);
        if ((st = load_linear(l, n, q_out + 2 * kv_out, m->n_embd, false, &ly->q))) return st;
        snprintf(n, sizeof n, "%s.mlp.gate_up_proj", p);
        if ((st = load_linear(l, n, 2 * m->n_ff, m->n_embd, false, &ly->gate))) return st;
    } else {
        snprintf(n, sizeof n, "%s.self_attn.q_proj", p);
        if ((st = load_linear(l, n, q_out, m->n_embd, a->qkv_bias, &ly->q))) return st;
        snprintf(n, sizeof n, "%s.self_attn.k_proj", p);
        if ((st = load_linear(l, n, kv_out, m->n_embd, a->qkv_bias, &ly->k))) return st;
        snprintf(n, sizeof n, "%s.self_attn.v_proj", p);
        if ((st = load_linear(l, n, kv_out, m->n_embd, a->qkv_bias, &ly->v))) return st;
        snprintf(n, sizeof n, "%s.mlp.gate_proj", p);
        if ((st = load_linear(l, n, m->n_ff, m->n_embd, false, &ly->gate))) return st;
        snprintf(n, sizeof n, "%s.mlp.up_proj", p);
        if ((st = load_linear(l, n, m->n_ff, m->n_embd, false, &ly->up))) return st;
    }
    snprintf(n, sizeof n, "%s.self_attn.o_proj", p);
    if ((st = load_linear(l, n, m->n_embd, q_out, false, &ly->o))) return st;
    snprintf(n, sizeof n, "%s.mlp.down_proj", p);
    if ((st = load_linear(l, n, m->n_embd, m->n_ff, false, &ly->down))) return st;

    /* Sliding-window layers: gemma2 every other layer from the first,
     * gemma3 five of every six. */
    ly->sliding = false;
    if (a->swa_pattern && m->sliding_window > 0)
        ly->sliding = a->swa_pattern == 2 ? i % 2 == 0 : i % a->swa_pattern != a->swa_pattern - 1;
    ly->rope_base = hp_f32(m, "rope.freq_base", 10000);
    ly->rope_scale = m->rope_scale;
    if (ly->sliding) {
        /* Local layers: their own base, no scaling (Gemma 3 scales only the
         * global layers' RoPE). */
        ly->rope_base = hp_f32(m, "rope.freq_base_swa", ly->rope_base);
        ly->rope_scale = 1;
    }
    return TK_OK;
}

/* Every *.safetensors file of `dir` into one map. */
static tk_status load_files(loader *l)
{
    DIR *d = opendir(l->dir);
    if (!d) return core_error(TK_ERR_NOT_FOUND, "%s: cannot open the directory", l->dir);
    tk_status st = TK_OK;
    int n_files = 0;
    struct dirent *e;
    while (st == TK_OK && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 12 || strcmp(e->d_name + len - 12, ".safetensors") != 0) continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", l->dir, e->d_name);
        mlx_map_string_to_array arrays = mlx_map_string_to_array_new();
        mlx_map_string_to_string meta = mlx_map_string_to_string_new();
        mx_clear_error();
        if (mlx_load_safetensors(&arrays, &meta, path, l->m->stream) != 0) {
            st = mx_status(TK_ERR_FORMAT, path);
        } else {
            mlx_map_string_to_array_iterator it = mlx_map_string_to_array_iterator_new(arrays);
            const char *key;
            mlx_array value = mlx_array_new();
            while (mlx_map_string_to_array_iterator_next(&key, &value, it) == 0)
                mlx_map_string_to_array_insert(l->map, key, value);
            mlx_array_free(value);
            mlx_map_string_to_array_iterator_free(it);
            n_files++;
        }
        mlx_map_string_to_array_free(arrays);
        mlx_map_string_to_string_free(meta);
    }
    closedir(d);
    if (st == TK_OK && n_files == 0)
        st = core_error(TK_ERR_FORMAT, "%s: no *.safetensors weights in the directory", l->dir);
    return st;
}

tk_status mlxb_model_load(const char *dir, mlxb_model **out)
{
    *out = NULL;
    mx_init();
    mlxb_model *m = calloc(1, sizeof *m);
    if (!m) return core_error(TK_ERR_NOMEM, "out of memory");
    m->out_norm = mlx_array_empty;
    /* The default device: Metal where MLX has it, else the CPU. */
    mlx_device dev = mlx_device_new();
    m->stream = mlx_stream_new();
    mx_clear_error();
    if (mlx_get_default_device(&dev) != 0 || mlx_get_default_stream(&m->stream, dev) != 0) {
        mlx_device_free(dev);
        tk_status st = mx_status(TK_ERR_INTERNAL, "MLX: no default device");
        mlxb_model_free(m);
        return st;
    }
    mlx_device_free(dev);

    loader l = {.m = m, .dir = dir, .map = mlx_map_string_to_array_new()};
    mx_begin(&l.x, m->stream);
    tk_status st = tk_model_dir_open_meta(dir, &m->meta);
    const char *arch = NULL;
    if (st == TK_OK && tk_gguf_get_str(m->meta, "general.architecture", &arch) != TK_OK)
        st = core_error(TK_ERR_FORMAT, "%s: the model's metadata names no architecture", dir);
    if (st == TK_OK) {
        for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
            if (strcmp(arches[i].name, arch) == 0) m->arch = &arches[i];
        if (!m->arch)
            st = core_error(TK_ERR_UNSUPPORTED,
                            "%s: architecture '%s' is not supported by the MLX backend "
                            "(supported: " ARCH_LIST ")",
                            dir, arch);
    }
    if (st == TK_OK) st = read_hparams(m, dir);
    if (st == TK_OK) st = load_files(&l);

    if (st == TK_OK) {
        mlx_array probe;
        st = get(&l, "model.embed_tokens.weight", &probe);
        if (st == TK_ERR_NOT_FOUND)
            st = core_error(TK_ERR_FORMAT, "%s: tensor model.embed_tokens.weight is missing", dir);
        if (st == TK_OK) m->n_vocab = mlx_array_ndim(probe) == 2 ? mlx_array_dim(probe, 0) : 0;
        if (st == TK_OK && m->n_vocab < 1)
            st = shape_error(&l, "model.embed_tokens.weight", probe, "[n_vocab,n_embd]");
    }
    if (st == TK_OK)
        st = load_linear(&l, "model.embed_tokens", m->n_vocab, m->n_embd, false, &m->embed);
    if (st == TK_OK) {
        mlx_array probe;
        tk_status has_head = get(&l, "lm_head.weight", &probe);
        if (has_head == TK_OK)
            st = load_linear(&l, "lm_head", m->n_vocab, m->n_embd, false, &m->output);
        else if (has_head == TK_ERR_NOT_FOUND)
            m->output = m->embed; /* tied: the arrays belong to embed */
        else
            st = has_head;
    }
    if (st == TK_OK)
        st = load_vec(&l, "model.norm.weight", m->n_embd, m->arch->norm_plus_one, &m->out_norm);
    if (st == TK_OK) {
        m->layers = calloc((size_t)m->n_layer, sizeof *m->layers);
        if (!m->layers) st = core_error(TK_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; st == TK_OK && i < m->n_layer; i++) st = load_layer(&l, i, &m->layers[i]);

    /* Read everything now, so a truncated file is an error here and not in
     * the middle of an answer. */
    if (st == TK_OK) {
        mx_clear_error();
        mlx_vector_array v = mlx_vector_array_new_data(m->owned, (size_t)m->n_owned);
        if (mlx_eval(v) != 0) st = mx_status(TK_ERR_FORMAT, dir);
        mlx_vector_array_free(v);
    }
    mx_free(&l.x);
    mlx_map_string_to_array_free(l.map);
    if (st != TK_OK) {
        mlxb_model_free(m);
        return st;
    }
    *out = m;
    return TK_OK;
}

void mlxb_model_free(mlxb_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) mlx_array_free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    tk_gguf_close(m->meta);
    mlx_stream_free(m->stream);
    free(m);
}
#else
typedef int mlxb_model_not_compiled; /* this build has no MLX */
#endif
