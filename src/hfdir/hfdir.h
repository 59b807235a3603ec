/* Internal pieces of the model-directory loader (see tektra/modeldir.h).
 *
 * dir.c      opening a directory: files, tokenizer keys, the virtual GGUF
 * config.c   config.json -> architecture and GGUF hyper-parameter keys
 * tensors.c  safetensors tensors -> GGUF tensors (names, layout, MLX blocks)
 * json.c     strict typed access to cJSON values
 */
#ifndef TK_HFDIR_INTERNAL_H
#define TK_HFDIR_INTERNAL_H

#include "tektra/modeldir.h"
#include "tektra/quant.h"

#include "core/core.h"
#include "gguf/gguf.h"
#include "safetensors/safetensors.h"

#include <cJSON.h>

/* Hard limits on what a directory's JSON files may be. */
#define HF_MAX_CONFIG    (4u << 20)  /* config.json, generation_config.json */
#define HF_MAX_TOKENIZER (96u << 20) /* tokenizer.json, tokenizer_config.json */
#define HF_MAX_TEMPLATE  (1u << 20)  /* chat_template.jinja */

/* Memory the virtual GGUF's tensors live in besides the mapped files: one
 * page-aligned mapping per converted tensor, so that the engine dropping the
 * pages of a matrix it has packed drops nothing else. */
typedef struct hf_owner {
    st_set *st;
    void **buf;
    size_t *len;
    size_t n, cap;
} hf_owner;

void hf_owner_release(void *owner);
/* A zeroed, page-aligned buffer of `size` bytes owned by `o`; NULL (with a
 * message) when out of memory. */
void *hf_owner_alloc(hf_owner *o, size_t size);

/* How the architecture's tensors differ from GGUF's. */
typedef struct hf_arch {
    const char *model_type; /* config.json model_type */
    const char *arch;       /* the engine's architecture (GGUF general.architecture) */
    bool permute_qk;        /* Q/K rows in HF order: permute for GGUF's RoPE (llama) */
    bool norm_plus_one;     /* RMSNorm weights stored without the +1 (gemma) */
    bool post_norms;        /* post_attention_layernorm is a post-norm (gemma2/3) */
} hf_arch;

typedef struct hf_ctx {
    const char *dir;
    cJSON *config;     /* config.json, owned */
    const cJSON *cfg;  /* the text model's settings (config, or its text_config) */
    const hf_arch *ha; /* NULL for a tokenizer-only directory */
    tk_gguf_writer *w;
    hf_owner *own;
    int n_head, n_head_kv, head_dim;
    int n_rot; /* dimensions RoPE rotates */
    /* Quantization of the whole model (0 = none) and the config object that
     * may override it per module. */
    int bits, group;
    const cJSON *quant;
    bool quantized; /* some tensor is MLX-quantized */
} hf_ctx;

/* ---- json.c ---------------------------------------------------------------
 * Typed lookups in a JSON object; `file` names it in messages. They return
 * TK_ERR_NOT_FOUND (no message) when the key is absent or null and the
 * default applies, TK_ERR_FORMAT with a message naming file and key when the
 * value has the wrong type or range. */
tk_status hf_json_int(const cJSON *obj, const char *file, const char *key, int64_t lo, int64_t hi,
                      int64_t *out);
tk_status hf_json_float(const cJSON *obj, const char *file, const char *key, double lo, double hi,
                        double *out);
tk_status hf_json_bool(const cJSON *obj, const char *file, const char *key, bool *out);
tk_status hf_json_str(const cJSON *obj, const char *file, const char *key, const char **out);
/* Reads and parses `dir`/`name` (at most `max` bytes). TK_ERR_NOT_FOUND
 * without a message when the file does not exist. With `text`, the file's
 * bytes are handed out too (caller frees). */
tk_status hf_json_load(const char *dir, const char *name, size_t max, cJSON **out, char **text,
                       size_t *text_len);
/* "dir/name" into buf (TK_ERR_LIMIT when it does not fit). */
tk_status hf_path(char *buf, size_t size, const char *dir, const char *name);

/* ---- config.c ------------------------------------------------------------ */

/* The row for a config.json model_type, or NULL. */
const hf_arch *hf_arch_find(const char *model_type);
/* The first row for the engine's architecture `arch`, or NULL. */
const hf_arch *hf_arch_for_engine(const char *arch);
/* "llama, mistral, ..." (static). */
const char *hf_arch_list(void);
/* Architecture, hyper-parameters and quantization from c->config into c->w
 * (and RoPE factor tensors, in memory owned by c->own). */
tk_status hf_config_apply(hf_ctx *c);

/* ---- tensors.c ----------------------------------------------------------- */

/* Every tensor of c->own->st into c->w under its GGUF name. */
tk_status hf_tensors_apply(hf_ctx *c);

/* The Hugging Face name of GGUF tensor `gguf_name` ("blk.0.attn_q.weight")
 * in a model of the engine's architecture `arch`; false when there is none.
 * The inverse of what opening a directory does, for tools and tests that
 * write directories. */
bool hf_name_for_gguf(const char *arch, const char *gname, char *out, size_t size);

#endif
