/* config.json -> the engine's architecture and its GGUF hyper-parameter keys.
 *
 * Facts encoded here (from the Hugging Face model classes' configurations
 * and the GGUF conventions converters follow):
 *  - mistral checkpoints are llama models for the engine; a sliding window
 *    in their config is not applied (as the reference engine does).
 *  - gemma2/gemma3 scale queries by query_pre_attn_scalar^-1/2; GGUF has no
 *    key for it, so it becomes `attention.scale`.
 *  - gemma3 checkpoints with vision (model_type gemma3) keep the language
 *    model's settings in `text_config`.
 *  - RoPE scaling: "linear" maps to GGUF's linear scaling; "llama3" becomes
 *    the frequency factors tensor `rope_freqs.weight` a converter computes;
 *    phi3's "longrope"/"su" becomes `rope_factors_long/short.weight` and the
 *    attention factor sqrt(1 + ln(s) / ln(n_ctx_orig)).
 */
#include "hfdir/hfdir.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const hf_arch arches[] = {
    {"llama", "llama", true, false, false},  {"mistral", "llama", true, false, false},
    {"qwen2", "qwen2", false, false, false}, {"qwen3", "qwen3", false, false, false},
    {"gemma", "gemma", false, true, false},  {"gemma2", "gemma2", false, true, true},
    {"gemma3", "gemma3", false, true, true}, {"gemma3_text", "gemma3", false, true, true},
    {"phi3", "phi3", false, false, false},
};

const hf_arch *hf_arch_find(const char *model_type)
{
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (strcmp(arches[i].model_type, model_type) == 0) return &arches[i];
    return NULL;
}

const hf_arch *hf_arch_for_engine(const char *arch)
{
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (strcmp(arches[i].arch, arch) == 0) return &arches[i];
    return NULL;
}

const char *hf_arch_list(void)
{
    return "llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3, gemma3_text, phi3";
}

#define CFG "config.json"

/* Sets "{arch}.{suffix}" = the config's integer `key` (or `def` when absent
 * and def >= 0; required when def < 0). */
static tk_status put_int(hf_ctx *c, const char *suffix, const char *key, int64_t def, int64_t lo,
                         int64_t hi, int64_t *val)
{
    int64_t v = def;
    tk_status st = key ? hf_json_int(c->cfg, CFG, key, lo, hi, &v) : TK_ERR_NOT_FOUND;
    if (st == TK_ERR_NOT_FOUND) {
        if (def < 0)
            return core_error(TK_ERR_FORMAT, "%s/" CFG ": \"%s\" is missing", c->dir,
                              key ? key : suffix);
        st = TK_OK;
    }
    if (st) return st;
    char k[128];
    snprintf(k, sizeof k, "%s.%s", c->ha->arch, suffix);
    if (val) *val = v;
    return tk_gguf_writer_set_u32(c->w, k, (uint32_t)v);
}

static tk_status put_f32(hf_ctx *c, const char *suffix, double v)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", c->ha->arch, suffix);
    return tk_gguf_writer_set_f32(c->w, k, (float)v);
}

/* A vector of n floats from a JSON array, as an F32 tensor `name`. */
static tk_status factor_tensor(hf_ctx *c, const cJSON *arr, const char *what, int n,
                               const char *name)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n)
        return core_error(TK_ERR_FORMAT,
                          "%s/" CFG ": rope_scaling.%s: expected an array of %d numbers", c->dir,
                          what, n);
    float *f = hf_owner_alloc(c->own, (size_t)n * sizeof *f);
    if (!f) return TK_ERR_NOMEM;
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || !(e->valuedouble > 0))
            return core_error(TK_ERR_FORMAT,
                              "%s/" CFG ": rope_scaling.%s[%d]: expected a positive number", c->dir,
                              what, i);
        f[i] = (float)e->valuedouble;
    }
    int64_t ne[1] = {n};
    return tk_gguf_writer_add_tensor(c->w, name, TK_TYPE_F32, 1, ne, f, (uint64_t)n * sizeof *f);
}

/* Llama 3.1's frequency-dependent RoPE scaling as per-frequency divisors. */
static tk_status llama3_factors(hf_ctx *c, const cJSON *rs, double base)
{
    const char *f = CFG ": rope_scaling";
    double factor = 8, lo = 1, hi = 4, orig = 8192;
    tk_status st;
    if ((st = hf_json_float(rs, f, "factor", 1e-3, 1e6, &factor)) != TK_OK &&
        st != TK_ERR_NOT_FOUND)
        return st;
    if ((st = hf_json_float(rs, f, "low_freq_factor", 1e-3, 1e6, &lo)) != TK_OK &&
        st != TK_ERR_NOT_FOUND)
        return st;
    if ((st = hf_json_float(rs, f, "high_freq_factor", 1e-3, 1e6, &hi)) != TK_OK &&
        st != TK_ERR_NOT_FOUND)
        return st;
    if ((st = hf_json_float(rs, f, "original_max_position_embeddings", 1, 1e9, &orig)) != TK_OK &&
        st != TK_ERR_NOT_FOUND)
        return st;
    if (!(hi > lo))
        return core_error(TK_ERR_FORMAT,
                          "%s/" CFG ": rope_scaling: high_freq_factor must exceed "
                          "low_freq_factor",
                          c->dir);
    const int n = c->n_rot / 2;
    float *v = hf_owner_alloc(c->own, (size_t)n * sizeof *v);
    if (!v) return TK_ERR_NOMEM;
    const double lo_wavelen = orig / lo, hi_wavelen = orig / hi;
    for (int i = 0; i < n; i++) {
        double freq = 1.0 / pow(base, 2.0 * i / c->n_rot);
        double wavelen = 2 * M_PI / freq;
        double div;
        if (wavelen < hi_wavelen) {
            div = 1;
        } else if (wavelen > lo_wavelen) {
            div = factor;
        } else {
            double smooth = (orig / wavelen - lo) / (hi - lo);
            div = 1 / ((1 - smooth) / factor + smooth);
        }
        v[i] = (float)div;
    }
    int64_t ne[1] = {n};
    return tk_gguf_writer_add_tensor(c->w, "rope_freqs.weight", TK_TYPE_F32, 1, ne, v,
                                     (uint64_t)n * sizeof *v);
}

static tk_status rope_scaling(hf_ctx *c, double base, int64_t n_ctx)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c->cfg, "rope_scaling");
    if (!rs || cJSON_IsNull(rs)) return TK_OK;
    if (!cJSON_IsObject(rs))
        return core_error(TK_ERR_FORMAT, "%s/" CFG ": \"rope_scaling\": expected an object",
                          c->dir);
    const char *type = NULL;
    tk_status st = hf_json_str(rs, CFG ": rope_scaling", "rope_type", &type);
    if (st == TK_ERR_NOT_FOUND) st = hf_json_str(rs, CFG ": rope_scaling", "type", &type);
    if (st) return st == TK_ERR_NOT_FOUND ? TK_OK : st;
    if (strcmp(type, "default") == 0) return TK_OK;
    if (strcmp(type, "linear") == 0) {
        double factor = 1;
        st = hf_json_float(rs, CFG ": rope_scaling", "factor", 1e-3, 1e6, &factor);
        if (st) return st == TK_ERR_NOT_FOUND ? TK_OK : st;
        char k[128];
        snprintf(k, sizeof k, "%s.rope.scaling.type", c->ha->arch);
        if ((st = tk_gguf_writer_set_str(c->w, k, "linear")) != TK_OK) return st;
        return put_f32(c, "rope.scaling.factor", factor);
    }
    if (strcmp(type, "llama3") == 0) return llama3_factors(c, rs, base);
    if ((strcmp(type, "longrope") == 0 || strcmp(type, "su") == 0) &&
        strcmp(c->ha->arch, "phi3") == 0) {
        int64_t orig = n_ctx;
        st = hf_json_int(c->cfg, CFG, "original_max_position_embeddings", 1, 1 << 24, &orig);
        if (st && st != TK_ERR_NOT_FOUND) return st;
        if ((st = put_int(c, "rope.scaling.original_context_length", NULL, orig, 0, 0, NULL)))
            return st;
        if (n_ctx > orig) {
            double s = (double)n_ctx / (double)orig;
            if ((st = put_f32(c, "rope.scaling.attn_factor", sqrt(1 + log(s) / log((double)orig)))))
                return st;
        }
        const int n = c->n_rot / 2;
        if ((st = factor_tensor(c, cJSON_GetObjectItemCaseSensitive(rs, "long_factor"),
                                "long_factor", n, "rope_factors_long.weight")))
            return st;
        return factor_tensor(c, cJSON_GetObjectItemCaseSensitive(rs, "short_factor"),
                             "short_factor", n, "rope_factors_short.weight");
    }
    return core_error(TK_ERR_UNSUPPORTED,
                      "%s/" CFG ": rope_scaling type '%s' is not supported for %s (supported: "
                      "linear, llama3%s)",
                      c->dir, type, c->ha->model_type,
                      strcmp(c->ha->arch, "phi3") == 0 ? ", longrope" : "");
}

/* The `quantization` (MLX) or `quantization_config` object: bits and group
 * size of the whole model. */
static tk_status quantization(hf_ctx *c)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(c->config, "quantization");
    if (!q || cJSON_IsNull(q))
        q = cJSON_GetObjectItemCaseSensitive(c->config, "quantization_config");
    if (!q || cJSON_IsNull(q)) return TK_OK;
    if (!cJSON_IsObject(q))
        return core_error(TK_ERR_FORMAT, "%s/" CFG ": \"quantization\": expected an object",
                          c->dir);
    const char *method = NULL;
    tk_status st = hf_json_str(q, CFG ": quantization", "quant_method", &method);
    if (st && st != TK_ERR_NOT_FOUND) return st;
    if (method && strcmp(method, "mlx") != 0 && strcmp(method, "affine") != 0)
        return core_error(TK_ERR_UNSUPPORTED,
                          "%s/" CFG ": quantization method '%s' is not supported (supported: "
                          "MLX affine 4- and 8-bit)",
                          c->dir, method);
    int64_t bits = 0, group = 64;
    st = hf_json_int(q, CFG ": quantization", "bits", 1, 64, &bits);
    if (st == TK_ERR_NOT_FOUND)
        return core_error(TK_ERR_FORMAT, "%s/" CFG ": quantization: \"bits\" is missing", c->dir);
    if (st) return st;
    st = hf_json_int(q, CFG ": quantization", "group_size", 1, 1 << 20, &group);
    if (st && st != TK_ERR_NOT_FOUND) return st;
    const char *mode = NULL;
    st = hf_json_str(q, CFG ": quantization", "mode", &mode);
    if (st && st != TK_ERR_NOT_FOUND) return st;
    if (mode && strcmp(mode, "affine") != 0)
        return core_error(TK_ERR_UNSUPPORTED,
                          "%s/" CFG ": quantization mode '%s' is not supported (supported: affine)",
                          c->dir, mode);
    c->bits = (int)bits;
    c->group = (int)group;
    c->quant = q;
    return TK_OK;
}

tk_status hf_config_apply(hf_ctx *c)
{
    tk_status st;
    const char *model_type = NULL;
    if ((st = hf_json_str(c->config, CFG, "model_type", &model_type)) != TK_OK) {
        if (st == TK_ERR_NOT_FOUND)
            return core_error(TK_ERR_FORMAT, "%s/" CFG ": \"model_type\" is missing", c->dir);
        return st;
    }
    c->ha = hf_arch_find(model_type);
    if (!c->ha)
        return core_error(TK_ERR_UNSUPPORTED,
                          "%s/" CFG ": model_type '%s' is not supported (supported: %s)", c->dir,
                          model_type, hf_arch_list());
    c->cfg = c->config;
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(c->config, "text_config");
    if (cJSON_IsObject(tc)) c->cfg = tc;

    if ((st = tk_gguf_writer_set_str(c->w, "general.architecture", c->ha->arch))) return st;
    int64_t n_embd = 0, n_head = 0, n_head_kv = 0, head_dim, n_ctx = 0, v;
    if ((st = put_int(c, "embedding_length", "hidden_size", -1, 1, 1 << 16, &n_embd))) return st;
    if ((st = put_int(c, "block_count", "num_hidden_layers", -1, 1, 512, NULL))) return st;
    if ((st = put_int(c, "feed_forward_length", "intermediate_size", -1, 1, 1 << 20, NULL)))
        return st;
    if ((st = put_int(c, "attention.head_count", "num_attention_heads", -1, 1, 1024, &n_head)))
        return st;
    if ((st = put_int(c, "attention.head_count_kv", "num_key_value_heads", n_head, 1, n_head,
                      &n_head_kv)))
        return st;
    if ((st = put_int(c, "context_length", "max_position_embeddings", 4096, 1, 1 << 24, &n_ctx)))
        return st;
    head_dim = n_embd / n_head;
    st = hf_json_int(c->cfg, CFG, "head_dim", 1, 1024, &head_dim);
    if (st && st != TK_ERR_NOT_FOUND) return st;
    if (st == TK_ERR_NOT_FOUND && n_embd % n_head)
        return core_error(TK_ERR_FORMAT,
                          "%s/" CFG ": hidden_size %lld is not a multiple of num_attention_heads "
                          "%lld and head_dim is missing",
                          c->dir, (long long)n_embd, (long long)n_head);
    if ((st = put_int(c, "attention.key_length", NULL, head_dim, 0, 0, NULL))) return st;
    if ((st = put_int(c, "attention.value_length", NULL, head_dim, 0, 0, NULL))) return st;
    c->n_head = (int)n_head;
    c->n_head_kv = (int)n_head_kv;
    c->head_dim = (int)head_dim;
    c->n_rot = (int)head_dim;
    double prf = 1;
    st = hf_json_float(c->cfg, CFG, "partial_rotary_factor", 1e-3, 1, &prf);
    if (st && st != TK_ERR_NOT_FOUND) return st;
    if (st == TK_OK) {
        c->n_rot = (int)(head_dim * prf) & ~1;
        if ((st = put_int(c, "rope.dimension_count", NULL, c->n_rot, 0, 0, NULL))) return st;
    }

    double eps = strncmp(c->ha->arch, "gemma", 5) == 0 ? 1e-6 : 1e-5;
    st = hf_json_float(c->cfg, CFG, "rms_norm_eps", 1e-12, 0.1, &eps);
    if (st && st != TK_ERR_NOT_FOUND) return st;
    if ((st = put_f32(c, "attention.layer_norm_rms_epsilon", eps))) return st;
    double base = 10000;
    st = hf_json_float(c->cfg, CFG, "rope_theta", 1, 1e12, &base);
    if (st && st != TK_ERR_NOT_FOUND) return st;
    if ((st = put_f32(c, "rope.freq_base", base))) return st;

    if (c->ha->post_norms) { /* gemma2, gemma3 */
        double qpas;
        st = hf_json_float(c->cfg, CFG, "query_pre_attn_scalar", 1e-6, 1e9, &qpas);
        if (st == TK_OK) st = put_f32(c, "attention.scale", 1 / sqrt(qpas));
        if (st && st != TK_ERR_NOT_FOUND) return st;
        st = hf_json_int(c->cfg, CFG, "sliding_window", 0, 1 << 24, &v);
        if (st == TK_OK) st = put_int(c, "attention.sliding_window", NULL, v, 0, 0, NULL);
        if (st && st != TK_ERR_NOT_FOUND) return st;
        double cap;
        st = hf_json_float(c->cfg, CFG, "attn_logit_softcapping", 0, 1e6, &cap);
        if (st == TK_OK) st = put_f32(c, "attn_logit_softcapping", cap);
        if (st && st != TK_ERR_NOT_FOUND) return st;
        st = hf_json_float(c->cfg, CFG, "final_logit_softcapping", 0, 1e6, &cap);
        if (st == TK_OK) st = put_f32(c, "final_logit_softcapping", cap);
        if (st && st != TK_ERR_NOT_FOUND) return st;
        double local_base;
        st = hf_json_float(c->cfg, CFG, "rope_local_base_freq", 1, 1e12, &local_base);
        if (st == TK_OK) st = put_f32(c, "rope.freq_base_swa", local_base);
        if (st && st != TK_ERR_NOT_FOUND) return st;
        int64_t pattern;
        st = hf_json_int(c->cfg, CFG, "sliding_window_pattern", 1, 1 << 20, &pattern);
        if (st && st != TK_ERR_NOT_FOUND) return st;
        const int64_t want = strcmp(c->ha->arch, "gemma2") == 0 ? 2 : 6;
        if (st == TK_OK && pattern != want)
            return core_error(TK_ERR_UNSUPPORTED,
                              "%s/" CFG ": sliding_window_pattern %lld is not supported for %s "
                              "(its layers follow a pattern of %lld)",
                              c->dir, (long long)pattern, c->ha->model_type, (long long)want);
    }
    if ((st = rope_scaling(c, base, n_ctx))) return st;
    return quantization(c);
}
