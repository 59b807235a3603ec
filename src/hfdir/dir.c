/* Opening a model directory as a virtual GGUF (see tektra/modeldir.h). */
#include "hfdir/hfdir.h"

#include "core/os.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <sys/mman.h>
#endif

/* ---- owned memory ---------------------------------------------------------- */

static void *page_alloc(size_t size)
{
#ifdef _WIN32
    return VirtualAlloc(NULL, size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
#else
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
#endif
}

static void page_free(void *p, size_t size)
{
#ifdef _WIN32
    (void)size;
    VirtualFree(p, 0, MEM_RELEASE);
#else
    munmap(p, size);
#endif
}

void *hf_owner_alloc(hf_owner *o, size_t size)
{
    if (size == 0) size = 1;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        void **nb = realloc(o->buf, cap * sizeof *nb);
        if (!nb) goto nomem;
        o->buf = nb;
        size_t *nl = realloc(o->len, cap * sizeof *nl);
        if (!nl) goto nomem;
        o->len = nl;
        o->cap = cap;
    }
    void *p = page_alloc(size);
    if (!p) goto nomem;
    o->buf[o->n] = p;
    o->len[o->n] = size;
    o->n++;
    return p;
nomem:
    core_error(TK_ERR_NOMEM, "model directory: cannot allocate %zu bytes", size);
    return NULL;
}

void hf_owner_release(void *owner)
{
    hf_owner *o = owner;
    if (!o) return;
    for (size_t i = 0; i < o->n; i++) page_free(o->buf[i], o->len[i]);
    free(o->buf);
    free(o->len);
    st_close(o->st);
    free(o);
}

/* ---- files ------------------------------------------------------------------ */

bool tk_model_dir_is(const char *path)
{
    os_stat_info si;
    return path && os_stat(path, &si) && si.is_dir;
}

/* Reads `name` into the string key `key` when the file exists. */
static tk_status put_file(tk_gguf_writer *w, const char *dir, const char *name, size_t max,
                          const char *key, bool json)
{
    char path[4096];
    tk_status st = hf_path(path, sizeof path, dir, name);
    if (st) return st;
    char *text = NULL;
    size_t len = 0;
    if (json) {
        cJSON *j;
        st = hf_json_load(dir, name, max, &j, &text, &len);
        cJSON_Delete(j);
    } else {
        st = core_read_file(path, max, &text, &len);
        if (st == TK_ERR_NOT_FOUND) core_error_clear();
    }
    if (st == TK_ERR_NOT_FOUND) return TK_OK;
    if (st) return st;
    if (memchr(text, '\0', len)) {
        free(text);
        return core_error(TK_ERR_FORMAT, "%s: contains a NUL byte", path);
    }
    st = tk_gguf_writer_set_str(w, key, text);
    free(text);
    return st;
}

/* The chat template: chat_template.jinja beside the tokenizer (what newer
 * tools save), else tokenizer_config.json's "chat_template": a string, or a
 * list of {"name", "template"} of which "default" (else the first) is used. */
static tk_status put_template(tk_gguf_writer *w, const char *dir)
{
    tk_status st =
        put_file(w, dir, "chat_template.jinja", HF_MAX_TEMPLATE, "tokenizer.chat_template", false);
    if (st) return st;
    if (gguf_writer_has_key(w, "tokenizer.chat_template")) return TK_OK;
    cJSON *tc;
    st = hf_json_load(dir, "tokenizer_config.json", HF_MAX_TOKENIZER, &tc, NULL, NULL);
    if (st == TK_ERR_NOT_FOUND) return TK_OK;
    if (st) return st;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(tc, "chat_template");
    const char *text = NULL;
    if (cJSON_IsString(t)) {
        text = t->valuestring;
    } else if (cJSON_IsArray(t)) {
        for (const cJSON *e = t->child; e; e = e->next) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
            const cJSON *tt = cJSON_GetObjectItemCaseSensitive(e, "template");
            if (!cJSON_IsString(tt)) continue;
            if (!text) text = tt->valuestring;
            if (cJSON_IsString(nm) && strcmp(nm->valuestring, "default") == 0) {
                text = tt->valuestring;
                break;
            }
        }
    } else if (t && !cJSON_IsNull(t)) {
        cJSON_Delete(tc);
        return core_error(TK_ERR_FORMAT,
                          "%s/tokenizer_config.json: \"chat_template\": expected a string or a "
                          "list of named templates",
                          dir);
    }
    st = text ? tk_gguf_writer_set_str(w, "tokenizer.chat_template", text) : TK_OK;
    cJSON_Delete(tc);
    return st;
}

static tk_status put_tokenizer(tk_gguf_writer *w, const char *dir)
{
    tk_status st;
    if ((st = put_file(w, dir, "tokenizer.json", HF_MAX_TOKENIZER, "tokenizer.huggingface.json",
                       true)))
        return st;
    if ((st = put_file(w, dir, "tokenizer_config.json", HF_MAX_TOKENIZER,
                       "tokenizer.huggingface.config", true)))
        return st;
    if ((st = put_file(w, dir, "generation_config.json", HF_MAX_CONFIG,
                       "tokenizer.huggingface.generation_config", true)))
        return st;
    if ((st = put_file(w, dir, "config.json", HF_MAX_CONFIG, "tokenizer.huggingface.model_config",
                       true)))
        return st;
    return put_template(w, dir);
}

/* The directory's last path component, for general.name. */
static void base_name(const char *dir, char *out, size_t size)
{
    size_t n = strlen(dir);
    while (n > 1 && (dir[n - 1] == '/' || dir[n - 1] == '\\')) n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/' && dir[b - 1] != '\\') b--;
    size_t len = n - b < size - 1 ? n - b : size - 1;
    memcpy(out, dir + b, len);
    out[len] = '\0';
}

static tk_status open_dir(hf_ctx *c, bool meta_only)
{
    tk_status st = hf_json_load(c->dir, "config.json", HF_MAX_CONFIG, &c->config, NULL, NULL);
    if (st && st != TK_ERR_NOT_FOUND) return st;
    const char *format = "tokenizer";
    if (c->config && meta_only) {
        if ((st = hf_config_apply(c))) return st;
        format = c->bits ? "mlx" : "safetensors";
    } else if (c->config) {
        st = st_open_dir(c->dir, &c->own->st);
        if (st == TK_ERR_NOT_FOUND)
            return core_error(TK_ERR_NOT_FOUND,
                              "%s: has config.json but no weights (model.safetensors, or shards "
                              "listed in model.safetensors.index.json)",
                              c->dir);
        if (st) return st;
        if ((st = hf_config_apply(c))) return st;
        if ((st = hf_tensors_apply(c))) return st;
        format = c->quantized ? "mlx" : "safetensors";
    }
    char name[256];
    base_name(c->dir, name, sizeof name);
    if ((st = tk_gguf_writer_set_str(c->w, "general.name", name))) return st;
    if ((st = tk_gguf_writer_set_str(c->w, "tektra.source.format", format))) return st;
    if (c->bits) {
        if ((st = tk_gguf_writer_set_u32(c->w, "tektra.source.bits", (uint32_t)c->bits))) return st;
        if ((st = tk_gguf_writer_set_u32(c->w, "tektra.source.group_size", (uint32_t)c->group)))
            return st;
    }
    if ((st = put_tokenizer(c->w, c->dir))) return st;
    if (!c->config && !gguf_writer_has_key(c->w, "tokenizer.huggingface.json"))
        return core_error(TK_ERR_NOT_FOUND,
                          "%s: not a model directory (no config.json and no tokenizer.json)",
                          c->dir);
    return TK_OK;
}

static tk_status dir_open(const char *dir, bool meta_only, tk_gguf **out)
{
    if (!out) return core_error(TK_ERR_INVALID_ARG, "tk_model_dir_open: out is NULL");
    *out = NULL;
    if (!dir || !*dir) return core_error(TK_ERR_INVALID_ARG, "tk_model_dir_open: no directory");
    if (!tk_model_dir_is(dir)) return core_error(TK_ERR_NOT_FOUND, "%s: not a directory", dir);
    hf_ctx c = {.dir = dir};
    c.own = core_calloc(1, sizeof *c.own);
    tk_status st = c.own ? tk_gguf_writer_create(&c.w) : TK_ERR_NOMEM;
    if (st) {
        free(c.own);
        return st == TK_ERR_NOMEM ? core_error(st, "model directory: out of memory") : st;
    }
    gguf_writer_allow_engine_types(c.w);
    st = open_dir(&c, meta_only);
    cJSON_Delete(c.config);
    if (st) {
        tk_gguf_writer_free(c.w);
        hf_owner_release(c.own);
        return st;
    }
    st = gguf_open_virtual(c.w, c.own, hf_owner_release, out);
    tk_gguf_writer_free(c.w);
    if (st) core_error_prefix("%s", dir);
    return st;
}

tk_status tk_model_dir_open(const char *dir, tk_gguf **out)
{
    return dir_open(dir, false, out);
}

tk_status tk_model_dir_open_meta(const char *dir, tk_gguf **out)
{
    return dir_open(dir, true, out);
}

tk_status tk_model_source_open(const char *path, tk_gguf **out)
{
    if (path && tk_model_dir_is(path)) return tk_model_dir_open(path, out);
    return tk_gguf_open(path, out);
}

const char *tk_model_source_format(const tk_gguf *g)
{
    const char *s = NULL;
    if (!g || tk_gguf_get_str(g, "tektra.source.format", &s) != TK_OK) {
        core_error_clear();
        return NULL;
    }
    return s;
}
