/* Safetensors tensors -> GGUF tensors.
 *
 * Names: Hugging Face module paths ("model.layers.3.self_attn.q_proj.weight")
 * become GGUF names ("blk.3.attn_q.weight"). Shapes: safetensors lists the
 * outermost dimension first ([rows, cols]); GGUF lists the row length first
 * (ne = {cols, rows}).
 *
 * Layout changes a converter makes, made here while opening:
 *  - llama's Q and K rows: HF keeps each head's two RoPE halves apart
 *    (rotate-half); GGUF interleaves them, so GGUF row h*hd + 2i + j is HF
 *    row h*hd + j*hd/2 + i.
 *  - gemma's RMSNorm weights: HF applies (1 + w), GGUF stores 1 + w.
 *  - MLX affine quantization: `weight` (uint32 words, [rows][cols*bits/32],
 *    element j of a word in bits bits*j upwards), `scales` and `biases`
 *    ([rows][cols/group], bf16/f16/f32) become one TK_TYPE_MLX* block per
 *    group: { f32 scale, f32 bias, the group's packed bytes }. The words are
 *    little-endian, so the packed bytes are copied as they are.
 * Tensors that need none of this stay views into the mapped files.
 */
#include "hfdir/hfdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

/* Per-layer HF suffix -> GGUF suffix. `post` marks names that depend on
 * whether the architecture has post-norms (gemma2/3). */
typedef struct name_map {
    const char *hf, *gguf;
} name_map;

static const name_map layer_names[] = {
    {"input_layernorm", "attn_norm"},
    {"self_attn.q_proj", "attn_q"},
    {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},
    {"self_attn.qkv_proj", "attn_qkv"},
    {"self_attn.q_norm", "attn_q_norm"},
    {"self_attn.k_norm", "attn_k_norm"},
    {"mlp.gate_proj", "ffn_gate"},
    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
    {"mlp.gate_up_proj", "ffn_up"},
    {"pre_feedforward_layernorm", "ffn_norm"},
    {"post_feedforward_layernorm", "post_ffw_norm"},
};

static const name_map global_names[] = {
    {"model.embed_tokens", "token_embd"},
    {"model.norm", "output_norm"},
    {"lm_head", "output"},
};

/* Prefixes of multimodal checkpoints whose language model we run. */
static const char *const lm_prefixes[] = {"language_model.", "model.language_model."};
/* Tensors of other towers, and buffers some checkpoints save, that the
 * engine does not use. */
static const char *const ignored_prefixes[] = {"vision_tower.", "multi_modal_projector.",
                                               "model.vision_tower.",
                                               "model.multi_modal_projector."};

bool hf_name_for_gguf(const char *arch, const char *gname, char *out, size_t size)
{
    const hf_arch *ha = hf_arch_for_engine(arch);
    const char *dot = strrchr(gname, '.'); /* ".weight" / ".bias" */
    if (!ha || !dot) return false;
    char base[160];
    snprintf(base, sizeof base, "%.*s", (int)(dot - gname), gname);
    for (size_t i = 0; i < sizeof global_names / sizeof *global_names; i++)
        if (strcmp(base, global_names[i].gguf) == 0)
            return snprintf(out, size, "%s%s", global_names[i].hf, dot) < (int)size;
    int il, used = 0;
    if (sscanf(base, "blk.%d.%n", &il, &used) != 1 || used == 0) return false;
    const char *rest = base + used, *hf = NULL;
    const bool phi3 = strcmp(arch, "phi3") == 0;
    if (strcmp(rest, "ffn_norm") == 0)
        hf = ha->post_norms ? "pre_feedforward_layernorm" : "post_attention_layernorm";
    else if (strcmp(rest, "post_attention_norm") == 0)
        hf = "post_attention_layernorm";
    else if (strcmp(rest, "ffn_up") == 0)
        hf = phi3 ? "mlp.gate_up_proj" : "mlp.up_proj";
    for (size_t i = 0; !hf && i < sizeof layer_names / sizeof *layer_names; i++)
        if (strcmp(rest, layer_names[i].gguf) == 0) hf = layer_names[i].hf;
    return hf && snprintf(out, size, "model.layers.%d.%s%s", il, hf, dot) < (int)size;
}

static bool has_suffix(const char *s, size_t n, const char *suf)
{
    size_t m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* Maps `module` (the HF name without ".weight"/".bias"/".scales"/".biases")
 * to its GGUF base name in `out`. Returns false for names the engine does not
 * use (to be skipped) and sets *unknown for names that are not understood. */
static bool map_name(const hf_ctx *c, const char *module, char *out, size_t size, bool *unknown)
{
    *unknown = false;
    char buf[1100];
    for (size_t i = 0; i < sizeof lm_prefixes / sizeof *lm_prefixes; i++) {
        size_t n = strlen(lm_prefixes[i]);
        if (strncmp(module, lm_prefixes[i], n) == 0) {
            module += n;
            /* "language_model.model.layers..." and "model.language_model.layers..." */
            if (strncmp(module, "model.", 6) != 0 && strncmp(module, "lm_head", 7) != 0) {
                snprintf(buf, sizeof buf, "model.%s", module);
                module = buf;
            }
            break;
        }
    }
    for (size_t i = 0; i < sizeof ignored_prefixes / sizeof *ignored_prefixes; i++)
        if (strncmp(module, ignored_prefixes[i], strlen(ignored_prefixes[i])) == 0) return false;
    if (has_suffix(module, strlen(module), "rotary_emb")) return false;

    for (size_t i = 0; i < sizeof global_names / sizeof *global_names; i++) {
        if (strcmp(module, global_names[i].hf) == 0) {
            snprintf(out, size, "%s", global_names[i].gguf);
            return true;
        }
    }
    int il, used = 0;
    if (sscanf(module, "model.layers.%d.%n", &il, &used) == 1 && used > 0 && il >= 0 &&
        il < 100000) {
        const char *rest = module + used;
        if (strcmp(rest, "post_attention_layernorm") == 0) {
            snprintf(out, size, "blk.%d.%s", il,
                     c->ha->post_norms ? "post_attention_norm" : "ffn_norm");
            return true;
        }
        for (size_t i = 0; i < sizeof layer_names / sizeof *layer_names; i++) {
            if (strcmp(rest, layer_names[i].hf) == 0) {
                snprintf(out, size, "blk.%d.%s", il, layer_names[i].gguf);
                return true;
            }
        }
    }
    *unknown = true;
    return false;
}

/* After a tensor has been converted into memory of our own, its pages of
 * the mapped file need not stay resident: they are read again from the
 * page cache if ever touched (the mapping is private and read-only), so the
 * conversion does not hold the file and its converted copy at once. */
static void release_source(const st_tensor *t)
{
#if defined(__linux__) && defined(MADV_DONTNEED)
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)t->data / page * page;
    uintptr_t b = ((uintptr_t)t->data + t->size + page - 1) / page * page;
    if (t->size && b > a) madvise((void *)a, b - a, MADV_DONTNEED);
#else
    (void)t;
#endif
}

static float half_to_f32(st_dtype t, const uint8_t *p)
{
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    return t == ST_BF16 ? tk_bf16_to_fp32(h) : tk_fp16_to_fp32(h);
}

static float elem_f32(st_dtype t, const uint8_t *p)
{
    if (t == ST_F32) {
        uint32_t u =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    return half_to_f32(t, p);
}

static int float_type(st_dtype t)
{
    switch (t) {
    case ST_F32:
        return TK_TYPE_F32;
    case ST_F16:
        return TK_TYPE_F16;
    case ST_BF16:
        return TK_TYPE_BF16;
    default:
        return -1;
    }
}

/* The HF row that GGUF row `r` of a Q/K matrix comes from (see the top). */
static int64_t qk_source_row(int64_t r, int hd)
{
    int64_t h = r / hd, k = r % hd;
    return h * hd + (k % 2) * (hd / 2) + k / 2;
}

/* Bits and group size of module `module`: a per-module entry of the
 * quantization object (MLX writes {"bits":..,"group_size":..} there for
 * modules quantized differently), else the model's. */
static tk_status module_quant(const hf_ctx *c, const char *module, int *bits, int *group)
{
    *bits = c->bits;
    *group = c->group;
    const cJSON *q = c->quant ? cJSON_GetObjectItemCaseSensitive(c->quant, module) : NULL;
    if (!q || !cJSON_IsObject(q)) return TK_OK;
    int64_t b = *bits, g = *group;
    tk_status st = hf_json_int(q, "config.json: quantization", "bits", 1, 64, &b);
    if (st && st != TK_ERR_NOT_FOUND) return st;
    st = hf_json_int(q, "config.json: quantization", "group_size", 1, 1 << 20, &g);
    if (st && st != TK_ERR_NOT_FOUND) return st;
    *bits = (int)b;
    *group = (int)g;
    return TK_OK;
}

static int mlx_type(int bits, int group)
{
    static const int t4[3] = {TK_TYPE_MLX4_G32, TK_TYPE_MLX4_G64, TK_TYPE_MLX4_G128};
    static const int t8[3] = {TK_TYPE_MLX8_G32, TK_TYPE_MLX8_G64, TK_TYPE_MLX8_G128};
    int gi = group == 32 ? 0 : group == 64 ? 1 : group == 128 ? 2 : -1;
    if (gi < 0 || (bits != 4 && bits != 8)) return -1;
    return bits == 4 ? t4[gi] : t8[gi];
}

static tk_status add(hf_ctx *c, const char *name, int type, int n_dims, int64_t cols, int64_t rows,
                     const void *data, uint64_t size)
{
    int64_t ne[2] = {cols, rows};
    return tk_gguf_writer_add_tensor(c->w, name, type, n_dims, ne, data, size);
}

/* One MLX-quantized matrix: `wt` the packed weight, module its HF path. */
static tk_status add_quantized(hf_ctx *c, const st_set *st, const st_tensor *wt, const char *module,
                               const char *gname, bool permute, int hd)
{
    char nm[1100];
    snprintf(nm, sizeof nm, "%s.scales", module);
    const st_tensor *sc = st_find(st, nm);
    snprintf(nm, sizeof nm, "%s.biases", module);
    const st_tensor *bi = st_find(st, nm);
    if (!sc || !bi)
        return core_error(TK_ERR_FORMAT, "%s: %s.weight is uint32 but %s.%s is missing", c->dir,
                          module, module, sc ? "biases" : "scales");
    int bits, group;
    tk_status s = module_quant(c, module, &bits, &group);
    if (s) return s;
    if (!bits)
        return core_error(TK_ERR_FORMAT,
                          "%s: %s is quantized (uint32 weight with scales and biases) but "
                          "config.json has no \"quantization\"",
                          c->dir, module);
    const int type = mlx_type(bits, group);
    if (type < 0)
        return core_error(TK_ERR_UNSUPPORTED,
                          "%s: %s: %d-bit weights in groups of %d are not supported (supported: "
                          "4 and 8 bits, groups of 32, 64 and 128)",
                          c->dir, module, bits, group);
    if (wt->n_dims != 2 || sc->n_dims != 2 || bi->n_dims != 2)
        return core_error(TK_ERR_FORMAT, "%s: %s: quantized weights must be 2-D", c->dir, module);
    const int64_t rows = wt->shape[0], cols = wt->shape[1] * 32 / bits, ng = cols / group;
    if (sc->dtype != bi->dtype ||
        (sc->dtype != ST_BF16 && sc->dtype != ST_F16 && sc->dtype != ST_F32))
        return core_error(TK_ERR_FORMAT,
                          "%s: %s: scales (%s) and biases (%s) must both be bf16, f16 or f32",
                          c->dir, module, st_dtype_name(sc->dtype), st_dtype_name(bi->dtype));
    if (cols % group || sc->shape[0] != rows || sc->shape[1] != ng || bi->shape[0] != rows ||
        bi->shape[1] != ng)
        return core_error(TK_ERR_FORMAT,
                          "%s: %s: weight [%lld, %lld] (%d-bit: %lld columns), scales [%lld, "
                          "%lld] and biases [%lld, %lld] do not fit groups of %d",
                          c->dir, module, (long long)wt->shape[0], (long long)wt->shape[1], bits,
                          (long long)cols, (long long)sc->shape[0], (long long)sc->shape[1],
                          (long long)bi->shape[0], (long long)bi->shape[1], group);
    if (permute && (rows % hd || hd % 2))
        return core_error(TK_ERR_FORMAT, "%s: %s: %lld rows are not whole heads of %d", c->dir,
                          module, (long long)rows, hd);
    const tk_type_info *ti = tk_type_get(type);
    if (!ti)
        return core_error(TK_ERR_UNSUPPORTED, "%s: %s: this build has no %d-bit MLX type", c->dir,
                          module, bits);
    const size_t qbytes = (size_t)group * (size_t)bits / 8;
    const size_t esz = st_dtype_size(sc->dtype);
    uint64_t total;
    if (tk_type_size(type, rows * cols, &total) != TK_OK || total > SIZE_MAX)
        return core_error(TK_ERR_LIMIT, "%s: %s: too large", c->dir, module);
    uint8_t *dst = hf_owner_alloc(c->own, (size_t)total);
    if (!dst) return TK_ERR_NOMEM;
    const uint8_t *w8 = wt->data, *s8 = sc->data, *b8 = bi->data;
    uint8_t *o = dst;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t sr = permute ? qk_source_row(r, hd) : r;
        for (int64_t g = 0; g < ng; g++) {
            const size_t at = (size_t)(sr * ng + g) * esz;
            float scale = elem_f32(sc->dtype, s8 + at), bias = elem_f32(bi->dtype, b8 + at);
            memcpy(o, &scale, 4); /* the engine's blocks are host order: little-endian hosts */
            memcpy(o + 4, &bias, 4);
            memcpy(o + 8, w8 + (size_t)sr * (size_t)(cols * bits / 8) + (size_t)g * qbytes, qbytes);
            o += ti->block_bytes;
        }
    }
    release_source(wt);
    release_source(sc);
    release_source(bi);
    c->quantized = true;
    return add(c, gname, type, 2, cols, rows, dst, total);
}

/* One unquantized tensor. */
static tk_status add_plain(hf_ctx *c, const st_tensor *t, const char *gname, bool permute, int hd)
{
    const int type = float_type(t->dtype);
    if (type < 0)
        return core_error(TK_ERR_UNSUPPORTED,
                          "%s: tensor %s has dtype %s (supported: F32, F16, BF16, and uint32 "
                          "MLX-quantized weights)",
                          c->dir, t->name, st_dtype_name(t->dtype));
    if (t->n_dims < 1 || t->n_dims > 2)
        return core_error(TK_ERR_FORMAT, "%s: tensor %s has %d dimensions (expected 1 or 2)",
                          c->dir, t->name, t->n_dims);
    const int64_t cols = t->shape[t->n_dims - 1], rows = t->n_dims == 2 ? t->shape[0] : 1;
    const size_t esz = st_dtype_size(t->dtype);
    const bool plus_one =
        c->ha->norm_plus_one && t->n_dims == 1 && has_suffix(gname, strlen(gname), "norm.weight");
    if (plus_one) {
        float *f = hf_owner_alloc(c->own, (size_t)cols * sizeof *f);
        if (!f) return TK_ERR_NOMEM;
        for (int64_t i = 0; i < cols; i++)
            f[i] = elem_f32(t->dtype, (const uint8_t *)t->data + (size_t)i * esz) + 1.0f;
        return add(c, gname, TK_TYPE_F32, 1, cols, 1, f, (uint64_t)cols * sizeof *f);
    }
    if (permute) {
        /* a matrix's rows, or a bias's elements */
        const int64_t n_rows = t->n_dims == 2 ? rows : cols;
        const size_t rb = t->n_dims == 2 ? (size_t)cols * esz : esz;
        if (n_rows % hd || hd % 2)
            return core_error(TK_ERR_FORMAT, "%s: %s: %lld rows are not whole heads of %d", c->dir,
                              t->name, (long long)n_rows, hd);
        uint8_t *dst = hf_owner_alloc(c->own, (size_t)t->size);
        if (!dst) return TK_ERR_NOMEM;
        const uint8_t *src = t->data;
        for (int64_t r = 0; r < n_rows; r++)
            memcpy(dst + (size_t)r * rb, src + (size_t)qk_source_row(r, hd) * rb, rb);
        return add(c, gname, type, t->n_dims, cols, rows, dst, t->size);
    }
    const void *data = t->data;
    if ((uintptr_t)data % esz) { /* a file may place tensors at any byte */
        void *copy = hf_owner_alloc(c->own, (size_t)t->size);
        if (!copy) return TK_ERR_NOMEM;
        memcpy(copy, data, (size_t)t->size);
        data = copy;
    }
    return add(c, gname, type, t->n_dims, cols, rows, data, t->size);
}

tk_status hf_tensors_apply(hf_ctx *c)
{
    const st_set *st = c->own->st;
    for (int64_t i = 0; i < st_count(st); i++) {
        const st_tensor *t = st_at(st, i);
        const size_t n = strlen(t->name);
        const char *suffix = NULL;
        static const char *const suffixes[] = {".weight", ".bias", ".scales", ".biases"};
        for (size_t k = 0; k < 4 && !suffix; k++)
            if (has_suffix(t->name, n, suffixes[k])) suffix = suffixes[k];
        char module[1024], gbase[160], gname[200];
        bool unknown = !suffix;
        if (suffix) {
            size_t m = n - strlen(suffix);
            if (m >= sizeof module)
                return core_error(TK_ERR_LIMIT, "%s: tensor name too long", c->dir);
            memcpy(module, t->name, m);
            module[m] = '\0';
            if (!map_name(c, module, gbase, sizeof gbase, &unknown) && !unknown) continue;
        }
        if (unknown)
            return core_error(TK_ERR_UNSUPPORTED,
                              "%s: tensor %s is not part of a %s model as tektra knows it", c->dir,
                              t->name, c->ha->model_type);
        if (strcmp(suffix, ".scales") == 0 || strcmp(suffix, ".biases") == 0) {
            /* read with their weight; one without a packed weight is an error */
            char wn[1100];
            snprintf(wn, sizeof wn, "%s.weight", module);
            const st_tensor *wt = st_find(st, wn);
            if (!wt || wt->dtype != ST_U32)
                return core_error(TK_ERR_FORMAT, "%s: %s has no quantized %s", c->dir, t->name, wn);
            continue;
        }
        snprintf(gname, sizeof gname, "%s%s", gbase, suffix);
        const bool is_q = has_suffix(gbase, strlen(gbase), "attn_q");
        const bool is_k = has_suffix(gbase, strlen(gbase), "attn_k");
        const bool permute = c->ha->permute_qk && (is_q || is_k);
        /* the rows of Q belong to n_head heads, those of K to n_head_kv */
        tk_status s;
        if (t->dtype == ST_U32 && strcmp(suffix, ".weight") == 0)
            s = add_quantized(c, st, t, module, gname, permute, c->head_dim);
        else
            s = add_plain(c, t, gname, permute, c->head_dim);
        if (s) return s;
    }
    return TK_OK;
}
