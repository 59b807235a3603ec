/* Configuration: one table of keys (TK_CONFIG_KEY_LIST) drives defaults,
 * the TOML file, the environment, flags and `tektra config`. */
#include "tektra/config.h"

#include "config/toml.h"
#include "tektra/quant.h"
#include "core/core.h"
#include "core/os.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum key_kind {
    KIND_BACKEND,
    KIND_BOOL,
    KIND_INT,
    KIND_FLOAT,
    KIND_STRING,
    KIND_CACHE
} key_kind;

typedef struct key_row {
    const char *section;
    const char *name;
    const char *full; /* "section.name" */
    const char *env;  /* "TEKTRA_..." */
    key_kind kind;
    size_t offset; /* of the field in tk_config */
    size_t size;   /* of the field (strings: buffer size) */
    /* Valid range for numbers; min_open/max_open make the bound exclusive. */
    double min, max;
    bool min_open, max_open;
    const char *rule; /* the range in words, for messages */
} key_row;

#define KIND_OF_BACKEND KIND_BACKEND
#define KIND_OF_BOOL    KIND_BOOL
#define KIND_OF_INT     KIND_INT
#define KIND_OF_FLOAT   KIND_FLOAT
#define KIND_OF_STRING  KIND_STRING
#define KIND_OF_CACHE   KIND_CACHE

static key_row rows[TK_CONFIG_KEY_COUNT] = {
#define TK_CONFIG_ROW_(sec, key, envs, field, kind)                                                \
    {#sec,                                                                                         \
     #key,                                                                                         \
     #sec "." #key,                                                                                \
     "TEKTRA_" #envs,                                                                              \
     KIND_OF_##kind,                                                                               \
     offsetof(tk_config, field),                                                                   \
     sizeof(((tk_config *)0)->field),                                                              \
     0,                                                                                            \
     0,                                                                                            \
     false,                                                                                        \
     false,                                                                                        \
     NULL},
    TK_CONFIG_KEY_LIST(TK_CONFIG_ROW_)
#undef TK_CONFIG_ROW_
};

/* Ranges, set once (designated by key so the list above stays one line each). */
static void set_range(int key, double min, bool min_open, double max, bool max_open,
                      const char *rule)
{
    rows[key].min = min;
    rows[key].min_open = min_open;
    rows[key].max = max;
    rows[key].max_open = max_open;
    rows[key].rule = rule;
}

static void init_ranges(void)
{
    static bool done;
    if (done) return;
    set_range(TK_CONFIG_max_tokens, 1, false, 1 << 24, false, "between 1 and 16777216");
    set_range(TK_CONFIG_temperature, 0, false, 100, false, "between 0 and 100 (0 = greedy)");
    set_range(TK_CONFIG_top_p, 0, true, 1, false, "in (0, 1]");
    set_range(TK_CONFIG_top_k, 0, false, 1 << 20, false, "between 0 (off) and 1048576");
    set_range(TK_CONFIG_min_p, 0, false, 1, true, "in [0, 1)");
    set_range(TK_CONFIG_repeat_penalty, 0, true, 100, false, "in (0, 100] (1.0 = off)");
    set_range(TK_CONFIG_repeat_last_n, 0, false, 1 << 20, false, "between 0 and 1048576");
    set_range(TK_CONFIG_seed, -1, false, 4294967295.0, false, "between -1 (random) and 4294967295");
    set_range(TK_CONFIG_threads, 0, false, 1024, false, "between 0 (auto) and 1024");
    set_range(TK_CONFIG_context_size, 0, false, 1 << 24, false,
              "between 0 (the model's own) and 16777216");
    done = true;
}

const char *tk_config_key_name(int key)
{
    return key >= 0 && key < TK_CONFIG_KEY_COUNT ? rows[key].full : "?";
}

const char *tk_config_env_name(int key)
{
    return key >= 0 && key < TK_CONFIG_KEY_COUNT ? rows[key].env : "?";
}

const char *tk_config_source_name(tk_config_source s)
{
    switch (s) {
    case TK_SOURCE_DEFAULT:
        return "default";
    case TK_SOURCE_FILE:
        return "file";
    case TK_SOURCE_ENV:
        return "env";
    case TK_SOURCE_FLAG:
        return "flag";
    }
    return "?";
}

/* ---- backend names ----------------------------------------------------- */

static const char *const backend_names[TK_BACKEND_KIND_COUNT] = {"auto", "gguf", "mlx"};

const char *tk_backend_kind_name(tk_backend_kind kind)
{
    return (int)kind >= 0 && kind < TK_BACKEND_KIND_COUNT ? backend_names[kind] : "?";
}

tk_status tk_backend_kind_parse(const char *s, tk_backend_kind *out)
{
    for (int k = 0; k < TK_BACKEND_KIND_COUNT; k++) {
        if (core_strcasecmp(s, backend_names[k]) == 0) {
            *out = (tk_backend_kind)k;
            return TK_OK;
        }
    }
    return core_error(TK_ERR_CONFIG, "unknown backend '%s' (valid: auto, gguf, mlx)", s);
}

/* ---- defaults ------------------------------------------------------------ */

void tk_config_defaults(tk_config *c)
{
    init_ranges();
    memset(c, 0, sizeof *c);
    c->backend = TK_BACKEND_AUTO;
    c->benchmark_on_startup = false;
    c->check_tensors = true;
    c->max_tokens = 512;
    c->temperature = 0.7;
    c->top_p = 0.9;
    c->top_k = 40;
    c->min_p = 0.05;
    c->repeat_penalty = 1.1;
    c->repeat_last_n = 64;
    c->seed = -1;
    c->threads = 0;
    c->context_size = 0;
    c->cache_type_k = TK_TYPE_F16;
    c->cache_type_v = TK_TYPE_F16;
}

/* ---- setting one value ------------------------------------------------- */

static int find_key(const char *key)
{
    for (int k = 0; k < TK_CONFIG_KEY_COUNT; k++) {
        if (strcmp(rows[k].full, key) == 0) return k;
        /* Flags and `tk_config_set` may leave out the section. */
        if (strcmp(rows[k].name, key) == 0) return k;
    }
    return -1;
}

/* The known key closest to an unknown `key` ("inference.temprature",
 * "temprature"), as it would be written where `key` was: the bare name when
 * the section is the same (or `key` has none), else "section.name". ""
 * when nothing is close. */
static void suggest_key(const char *key, char *out, size_t size)
{
    out[0] = '\0';
    const char *dot = strrchr(key, '.');
    const char *leaf = dot ? dot + 1 : key;
    size_t section_len = dot ? (size_t)(dot - key) : 0;
    int best = -1, best_d = 1000;
    for (int k = 0; k < TK_CONFIG_KEY_COUNT; k++) {
        int d = core_edit_distance(leaf, rows[k].name);
        int df = core_edit_distance(key, rows[k].full);
        if (df < d) d = df;
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    /* Close: a typo or two, more for long names. */
    int limit = (int)strlen(leaf) / 4;
    if (limit < 2) limit = 2;
    if (best < 0 || best_d > limit || (best_d == 0 && !dot)) return;
    bool same_section = !dot || (strlen(rows[best].section) == section_len &&
                                 strncmp(rows[best].section, key, section_len) == 0);
    snprintf(out, size, "%s", same_section ? rows[best].name : rows[best].full);
}

static tk_status check_range(int k, double v, const char *where, const char *text)
{
    const key_row *r = &rows[k];
    bool low = r->min_open ? v <= r->min : v < r->min;
    bool high = r->max_open ? v >= r->max : v > r->max;
    if (isnan(v) || low || high)
        return core_error(TK_ERR_CONFIG, "%s%s = %s is out of range: must be %s", where, r->full,
                          text, r->rule);
    return TK_OK;
}

/* ---- KV cache types ---------------------------------------------------- */

static const struct {
    const char *name;
    int32_t type;
} cache_types[] = {
    {"f16", TK_TYPE_F16}, {"f32", TK_TYPE_F32}, {"q8_0", TK_TYPE_Q8_0}, {"q4_0", TK_TYPE_Q4_0}};

static const char *cache_name(int32_t type)
{
    for (size_t i = 0; i < TK_ARRAY_LEN(cache_types); i++)
        if (cache_types[i].type == type) return cache_types[i].name;
    return "?";
}

/* Stores a value of any origin. `text` is how the value was written, for
 * messages. Exactly one of the typed inputs is used according to `have`. */
typedef struct raw_value {
    toml_kind kind;
    const char *s;
    int64_t i;
    double f;
    bool b;
} raw_value;

static tk_status store(tk_config *c, int k, const raw_value *v, const char *where, const char *text,
                       tk_config_source src)
{
    const key_row *r = &rows[k];
    char *field = (char *)c + r->offset;
    switch (r->kind) {
    case KIND_BACKEND: {
        if (v->kind != TOML_STRING)
            return core_error(TK_ERR_CONFIG,
                              "%s%s: expected a string (\"auto\", \"gguf\" or "
                              "\"mlx\"), found %s",
                              where, r->full, toml_kind_name(v->kind));
        tk_backend_kind b = TK_BACKEND_AUTO;
        if (tk_backend_kind_parse(v->s, &b) != TK_OK)
            return core_error(TK_ERR_CONFIG,
                              "%s%s = \"%s\": unknown backend (valid: auto, gguf, "
                              "mlx)",
                              where, r->full, v->s);
        memcpy(field, &b, sizeof b);
        break;
    }
    case KIND_BOOL:
        if (v->kind != TOML_BOOL)
            return core_error(TK_ERR_CONFIG, "%s%s: expected true or false, found %s %s", where,
                              r->full, toml_kind_name(v->kind), text);
        memcpy(field, &v->b, sizeof v->b);
        break;
    case KIND_INT: {
        if (v->kind != TOML_INT)
            return core_error(TK_ERR_CONFIG, "%s%s: expected an integer, found %s %s", where,
                              r->full, toml_kind_name(v->kind), text);
        tk_status s = check_range(k, (double)v->i, where, text);
        if (s != TK_OK) return s;
        memcpy(field, &v->i, sizeof v->i);
        break;
    }
    case KIND_FLOAT: {
        double f;
        if (v->kind == TOML_FLOAT)
            f = v->f;
        else if (v->kind == TOML_INT)
            f = (double)v->i;
        else
            return core_error(TK_ERR_CONFIG, "%s%s: expected a number, found %s %s", where, r->full,
                              toml_kind_name(v->kind), text);
        tk_status s = check_range(k, f, where, text);
        if (s != TK_OK) return s;
        memcpy(field, &f, sizeof f);
        break;
    }
    case KIND_CACHE: {
        if (v->kind != TOML_STRING)
            return core_error(TK_ERR_CONFIG,
                              "%s%s: expected a string (\"f16\", \"f32\", \"q8_0\" or "
                              "\"q4_0\"), found %s",
                              where, r->full, toml_kind_name(v->kind));
        size_t i = 0;
        while (i < TK_ARRAY_LEN(cache_types) && core_strcasecmp(v->s, cache_types[i].name)) i++;
        if (i == TK_ARRAY_LEN(cache_types))
            return core_error(TK_ERR_CONFIG,
                              "%s%s = \"%s\": unknown cache type (valid: f16, f32, q8_0, q4_0)",
                              where, r->full, v->s);
        memcpy(field, &cache_types[i].type, sizeof cache_types[i].type);
        break;
    }
    case KIND_STRING:
        if (v->kind != TOML_STRING)
            return core_error(TK_ERR_CONFIG, "%s%s: expected a string, found %s %s", where, r->full,
                              toml_kind_name(v->kind), text);
        if (strlen(v->s) >= r->size)
            return core_error(TK_ERR_CONFIG, "%s%s: longer than %zu bytes", where, r->full,
                              r->size - 1);
        core_strlcpy(field, v->s, r->size);
        break;
    }
    c->source[k] = src;
    return TK_OK;
}

/* Text from the environment or a flag, read as the key's kind wants it. */
static tk_status store_text(tk_config *c, int k, const char *text, const char *where,
                            tk_config_source src)
{
    raw_value v = {TOML_STRING, text, 0, 0, false};
    char quoted[300];
    snprintf(quoted, sizeof quoted, "'%s'", text);
    switch (rows[k].kind) {
    case KIND_BOOL:
        if (!core_strcasecmp(text, "1") || !core_strcasecmp(text, "true") ||
            !core_strcasecmp(text, "yes") || !core_strcasecmp(text, "on")) {
            v.kind = TOML_BOOL;
            v.b = true;
        } else if (!core_strcasecmp(text, "0") || !core_strcasecmp(text, "false") ||
                   !core_strcasecmp(text, "no") || !core_strcasecmp(text, "off")) {
            v.kind = TOML_BOOL;
            v.b = false;
        }
        break;
    case KIND_INT: {
        char *end;
        errno = 0;
        long long i = strtoll(text, &end, 10);
        if (*text && !*end && errno != ERANGE) {
            v.kind = TOML_INT;
            v.i = i;
        }
        break;
    }
    case KIND_FLOAT: {
        char *end;
        errno = 0;
        double f = strtod(text, &end);
        if (*text && !*end && errno != ERANGE && isfinite(f)) {
            v.kind = TOML_FLOAT;
            v.f = f;
        }
        break;
    }
    default:
        break;
    }
    if (rows[k].kind == KIND_BOOL && v.kind != TOML_BOOL)
        return core_error(TK_ERR_CONFIG, "%s%s = '%s': expected true/false (or 1/0, yes/no)", where,
                          rows[k].full, text);
    if ((rows[k].kind == KIND_INT && v.kind != TOML_INT) ||
        (rows[k].kind == KIND_FLOAT && v.kind != TOML_FLOAT))
        return core_error(TK_ERR_CONFIG, "%s%s = '%s': expected %s", where, rows[k].full, text,
                          rows[k].kind == KIND_INT ? "an integer" : "a number");
    return store(c, k, &v, where, quoted, src);
}

tk_status tk_config_set(tk_config *c, const char *key, const char *value, tk_config_source src)
{
    init_ranges();
    int k = find_key(key);
    if (k < 0) {
        char near[128];
        suggest_key(key, near, sizeof near);
        return core_error(TK_ERR_CONFIG, "unknown setting '%s'%s%s%s", key,
                          near[0] ? "; did you mean '" : "", near, near[0] ? "'?" : "");
    }
    return store_text(c, k, value, "", src);
}

/* ---- the file ------------------------------------------------------------ */

static void format_toml_value(const toml_value *v, char *buf, size_t size)
{
    switch (v->kind) {
    case TOML_STRING:
        snprintf(buf, size, "\"%.200s\"", v->str);
        break;
    case TOML_INT:
        snprintf(buf, size, "%lld", (long long)v->i);
        break;
    case TOML_FLOAT:
        snprintf(buf, size, "%g", v->f);
        break;
    case TOML_BOOL:
        snprintf(buf, size, "%s", v->b ? "true" : "false");
        break;
    case TOML_ARRAY:
        snprintf(buf, size, "[...]");
        break;
    case TOML_NONE:
        snprintf(buf, size, "{...}");
        break;
    }
}

tk_status tk_config_load_string(tk_config *c, const char *text, const char *name)
{
    init_ranges();
    toml_doc doc;
    tk_status s = toml_parse(text, name, &doc);
    if (s != TK_OK) return s;
    tk_config tmp = *c;
    for (size_t i = 0; i < doc.n_entries && s == TK_OK; i++) {
        const toml_entry *e = &doc.entries[i];
        int k = -1;
        for (int j = 0; j < TK_CONFIG_KEY_COUNT; j++)
            if (strcmp(rows[j].full, e->key) == 0) k = j;
        if (k < 0) {
            char near[128];
            suggest_key(e->key, near, sizeof near);
            core_log(TK_LOG_WARN, "%s:%d:%d: unknown key '%s' (ignored)%s%s%s", name, e->line,
                     e->col, e->key, near[0] ? "; did you mean '" : "", near, near[0] ? "'?" : "");
            continue;
        }
        char where[1200], text_v[256];
        snprintf(where, sizeof where, "%s:%d:%d: ", name, e->line, e->col);
        format_toml_value(&e->value, text_v, sizeof text_v);
        raw_value v = {e->value.kind, e->value.str, e->value.i, e->value.f, e->value.b};
        s = store(&tmp, k, &v, where, text_v, TK_SOURCE_FILE);
    }
    toml_free(&doc);
    if (s == TK_OK) *c = tmp;
    return s;
}

tk_status tk_config_load_file(tk_config *c, const char *path)
{
    char *text;
    tk_status s = core_read_file(path, 1 << 20, &text, NULL);
    if (s != TK_OK) return s;
    if (memchr(text, '\0', strlen(text) + 1) != text + strlen(text)) {
        free(text);
        return core_error(TK_ERR_CONFIG, "%s: not a text file", path);
    }
    s = tk_config_load_string(c, text, path);
    free(text);
    if (s == TK_OK) core_strlcpy(c->file, path, sizeof c->file);
    return s;
}

static bool file_exists(const char *path)
{
    os_stat_info si;
    return os_stat(path, &si) && si.is_file;
}

static const char *env_or_null(tk_getenv_fn get, void *user, const char *name)
{
    const char *v = get ? get(name, user) : getenv(name);
    return v && *v ? v : NULL;
}

/* The user config dir of platform p, "" when it cannot be told. */
static void user_config_dir(const tk_platform *p, tk_getenv_fn get, void *user, char *out,
                            size_t size)
{
    const char *home = env_or_null(get, user, "HOME");
    out[0] = '\0';
    if (p->os == TK_OS_WINDOWS) {
        const char *appdata = env_or_null(get, user, "APPDATA");
        if (appdata) snprintf(out, size, "%s\\tektra", appdata);
    } else if (p->os == TK_OS_MACOS) {
        if (home) snprintf(out, size, "%s/Library/Application Support/tektra", home);
    } else {
        const char *xdg = env_or_null(get, user, "XDG_CONFIG_HOME");
        if (xdg)
            snprintf(out, size, "%s/tektra", xdg);
        else if (home)
            snprintf(out, size, "%s/.config/tektra", home);
    }
}

static tk_status find_file(const char *explicit_path, const tk_platform *p, tk_getenv_fn get,
                           void *user, char *out, size_t size)
{
    if (explicit_path) {
        if (!file_exists(explicit_path))
            return core_error(TK_ERR_NOT_FOUND, "config file '%s' does not exist", explicit_path);
        core_strlcpy(out, explicit_path, size);
        return TK_OK;
    }
    if (file_exists("tektra.toml")) {
        core_strlcpy(out, "tektra.toml", size);
        return TK_OK;
    }
    char dir[900];
    user_config_dir(p, get, user, dir, sizeof dir);
    if (dir[0]) {
        char path[1024];
        snprintf(path, sizeof path, "%s%ctektra.toml", dir, p->os == TK_OS_WINDOWS ? '\\' : '/');
        if (file_exists(path)) {
            core_strlcpy(out, path, size);
            return TK_OK;
        }
    }
    return core_error(TK_ERR_NOT_FOUND, "no tektra.toml found (looked in ./ and %s)",
                      dir[0] ? dir : "no user config dir");
}

tk_status tk_config_find_file(const char *explicit_path, const tk_platform *p, char *out,
                              size_t size)
{
    return find_file(explicit_path, p, NULL, NULL, out, size);
}

tk_status tk_config_apply_env(tk_config *c, tk_getenv_fn get, void *user)
{
    init_ranges();
    tk_config tmp = *c;
    for (int k = 0; k < TK_CONFIG_KEY_COUNT; k++) {
        const char *v = env_or_null(get, user, rows[k].env);
        if (!v) continue;
        char where[64];
        snprintf(where, sizeof where, "%s: ", rows[k].env);
        tk_status s = store_text(&tmp, k, v, where, TK_SOURCE_ENV);
        if (s != TK_OK) return s;
    }
    *c = tmp;
    return TK_OK;
}

tk_status tk_config_load(tk_config *c, const char *explicit_path, const tk_platform *p,
                         tk_getenv_fn get, void *user)
{
    tk_config_defaults(c);
    char path[1024];
    tk_status s = find_file(explicit_path, p, get, user, path, sizeof path);
    if (s == TK_OK) {
        s = tk_config_load_file(c, path);
        if (s != TK_OK) return s;
    } else if (explicit_path) {
        return s;
    }
    return tk_config_apply_env(c, get, user);
}

void tk_config_format(const tk_config *c, int key, char *buf, size_t size)
{
    if (key < 0 || key >= TK_CONFIG_KEY_COUNT) {
        core_strlcpy(buf, "?", size);
        return;
    }
    const key_row *r = &rows[key];
    const char *field = (const char *)c + r->offset;
    switch (r->kind) {
    case KIND_BACKEND: {
        tk_backend_kind b;
        memcpy(&b, field, sizeof b);
        snprintf(buf, size, "\"%s\"", tk_backend_kind_name(b));
        break;
    }
    case KIND_BOOL: {
        bool b;
        memcpy(&b, field, sizeof b);
        snprintf(buf, size, "%s", b ? "true" : "false");
        break;
    }
    case KIND_INT: {
        int64_t i;
        memcpy(&i, field, sizeof i);
        snprintf(buf, size, "%lld", (long long)i);
        break;
    }
    case KIND_FLOAT: {
        double f;
        memcpy(&f, field, sizeof f);
        snprintf(buf, size, "%g", f);
        break;
    }
    case KIND_STRING:
        snprintf(buf, size, "\"%s\"", field);
        break;
    case KIND_CACHE: {
        int32_t t;
        memcpy(&t, field, sizeof t);
        snprintf(buf, size, "\"%s\"", cache_name(t));
        break;
    }
    }
}
