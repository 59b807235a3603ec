/* The model store: where it is, what it holds (GGUF files and model
 * directories), finding and removing models, resolving what the user calls a
 * model, and the first-run help text. */
#include "core/core.h"
#include "hub/hub.h"
#include "hub/sha256.h"
#include "tektra/gguf.h"
#include "tektra/quant.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- small helpers ----------------------------------------------------- */

/* cJSON takes raw control characters in strings and \u0000, and nests up to
 * 1000 deep; this pass refuses them first, in one look at the text. */
static bool json_text_ok(const char *text, size_t len)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (in_string) {
            if (c < 0x20) return false;
            if (c == '"') in_string = false;
            if (c != '\\') continue;
            if (len - i >= 6 && memcmp(text + i + 1, "u0000", 5) == 0) return false;
            i++; /* the escaped character: cJSON checks the rest */
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > HUB_JSON_MAX_DEPTH) return false;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return true;
}

cJSON *hub_json_parse(const char *text, size_t len)
{
    if (!json_text_ok(text, len)) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) return NULL;
    size_t at = (size_t)(end - text);
    while (at < len &&
           (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r'))
        at++;
    if (at == len) return root;
    cJSON_Delete(root);
    return NULL;
}

bool hub_json_u64(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != (double)(uint64_t)v) return false;
    *out = (uint64_t)v;
    return true;
}

bool hub_json_str(const cJSON *item, char *out, size_t size)
{
    if (!cJSON_IsString(item) || strlen(item->valuestring) >= size) return false;
    memcpy(out, item->valuestring, strlen(item->valuestring) + 1);
    return true;
}

const char *hub_env(tk_getenv_fn get, void *user, const char *name)
{
    const char *v = get ? get(name, user) : getenv(name);
    return v && *v ? v : NULL;
}

bool hub_valid_store_name(const char *name)
{
    if (!name || !*name || name[0] == '.') return false;
    size_t n = strlen(name);
    if (n > 200) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == ':') return false;
    }
    return true;
}

tk_status hub_join(const char *dir, const char *name, char *out, size_t size)
{
    size_t dl = strlen(dir);
    bool sep = dl > 0 && (dir[dl - 1] == '/' || dir[dl - 1] == '\\');
    int n = snprintf(out, size, "%s%s%s", dir, sep ? "" : "/", name);
    if (n < 0 || (size_t)n >= size)
        return core_error(TK_ERR_LIMIT, "path too long: %s/%s", dir, name);
    return TK_OK;
}

tk_status hub_mkdir_p(const char *dir)
{
    char path[4096];
    if (strlen(dir) >= sizeof path) return core_error(TK_ERR_LIMIT, "path too long: %s", dir);
    core_strlcpy(path, dir, sizeof path);
    for (char *p = path + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            char keep = *p;
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                return core_error(TK_ERR_IO, "cannot create the directory %s: %s", path,
                                  strerror(e));
            }
            *p = keep;
        }
        if (end) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return core_error(TK_ERR_IO, "%s is not a directory", dir);
    return TK_OK;
}

tk_status hub_check_space(const char *dir, uint64_t need)
{
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0) return TK_OK;
    uint64_t avail;
    if (!core_mul_u64((uint64_t)vfs.f_bavail, (uint64_t)vfs.f_frsize, &avail)) return TK_OK;
    if (avail >= need) return TK_OK;
    char a[32], b[32];
    return core_error(TK_ERR_IO, "not enough disk space in %s: the download needs %s, %s are free",
                      dir, tk_hub_format_size(need, a, sizeof a),
                      tk_hub_format_size(avail, b, sizeof b));
}

bool hub_has_gguf_magic(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char magic[4];
    ssize_t n = read(fd, magic, sizeof magic);
    close(fd);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

tk_status hub_sha256_file(const char *path, char hex[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return core_error(TK_ERR_IO, "%s: %s", path, strerror(e));
    }
    static _Thread_local unsigned char buf[1 << 16];
    hub_sha256 s;
    hub_sha256_init(&s);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return core_error(TK_ERR_IO, "reading %s: %s", path, strerror(e));
        }
        if (n == 0) break;
        hub_sha256_update(&s, buf, (size_t)n);
    }
    close(fd);
    uint8_t d[32];
    hub_sha256_final(&s, d);
    hub_sha256_hex(d, hex);
    return TK_OK;
}

static bool ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && core_strcasecmp(s + n - m, suffix) == 0;
}

/* ---- model directories ------------------------------------------------- */

static bool regular_at(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, 0) == 0 && S_ISREG(st.st_mode);
}

bool hub_is_model_dir(const char *path)
{
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return false;
    bool yes = regular_at(dfd, "config.json") || regular_at(dfd, "tokenizer.json");
    close(dfd);
    return yes;
}

enum { TREE_MAX_DEPTH = 16 };

static tk_status remove_contents(int dfd, const char *what, int depth)
{
    if (depth > TREE_MAX_DEPTH)
        return core_error(TK_ERR_IO, "cannot remove %s: nested too deeply", what);
    int fd2 = dup(dfd);
    DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
    if (!d) {
        int e = errno;
        if (fd2 >= 0) close(fd2);
        return core_error(TK_ERR_IO, "cannot read %s: %s", what, strerror(e));
    }
    tk_status s = TK_OK;
    struct dirent *de;
    while (s == TK_OK && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                int e = errno;
                s = core_error(TK_ERR_IO, "cannot open %s/%s: %s", what, name, strerror(e));
                break;
            }
            s = remove_contents(sub, what, depth + 1);
            close(sub);
            if (s == TK_OK && unlinkat(dfd, name, AT_REMOVEDIR) != 0) {
                int e = errno;
                s = core_error(TK_ERR_IO, "cannot remove %s/%s: %s", what, name, strerror(e));
            }
        } else if (unlinkat(dfd, name, 0) != 0) {
            int e = errno;
            s = core_error(TK_ERR_IO, "cannot remove %s/%s: %s", what, name, strerror(e));
        }
    }
    closedir(d);
    return s;
}

tk_status hub_remove_tree_at(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = errno;
        return e == ENOENT ? TK_OK : core_error(TK_ERR_IO, "%s: %s", name, strerror(e));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dfd, name, 0) != 0) {
            int e = errno;
            return core_error(TK_ERR_IO, "cannot remove %s: %s", name, strerror(e));
        }
        return TK_OK;
    }
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) {
        int e = errno;
        return core_error(TK_ERR_IO, "cannot open %s: %s", name, strerror(e));
    }
    tk_status s = remove_contents(sub, name, 1);
    close(sub);
    if (s == TK_OK && unlinkat(dfd, name, AT_REMOVEDIR) != 0) {
        int e = errno;
        s = core_error(TK_ERR_IO, "cannot remove %s: %s", name, strerror(e));
    }
    return s;
}

tk_status hub_remove_tree(const char *path)
{
    return hub_remove_tree_at(AT_FDCWD, path);
}

/* Bytes of the regular files under directory `dfd` (links to files count
 * as their target; linked directories are not entered). */
static uint64_t tree_size(int dfd, int depth)
{
    int fd2 = dup(dfd);
    DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;
    if (!d) {
        if (fd2 >= 0) close(fd2);
        return 0;
    }
    uint64_t sum = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth >= TREE_MAX_DEPTH) continue;
            int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) continue;
            sum += tree_size(sub, depth + 1);
            close(sub);
        } else if (fstatat(dfd, name, &st, 0) == 0 && S_ISREG(st.st_mode)) {
            sum += (uint64_t)st.st_size;
        }
    }
    closedir(d);
    return sum;
}

/* What a model directory is, from its config.json: "MLX dir, 4-bit, qwen2"
 * (MLX writes a "quantization" object with "bits"), "safetensors dir,
 * llama", or "tokenizer only" without config.json. */
static void describe_dir(int dfd, const char *path, char *out, size_t size)
{
    if (!regular_at(dfd, "config.json")) {
        snprintf(out, size, "tokenizer only");
        return;
    }
    char cfg[1400];
    snprintf(cfg, sizeof cfg, "%s/config.json", path);
    char *text = NULL;
    size_t len = 0;
    if (core_read_file(cfg, 4u << 20, &text, &len) != TK_OK) {
        snprintf(out, size, "model dir, unreadable config.json");
        return;
    }
    char model_type[64] = "";
    uint64_t bits = 0;
    bool quantized = false;
    cJSON *root = hub_json_parse(text, len);
    free(text);
    bool ok = cJSON_IsObject(root);
    if (ok) {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
        if (cJSON_IsString(mt)) ok = hub_json_str(mt, model_type, sizeof model_type);
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantization");
        if (ok && cJSON_IsObject(q)) {
            quantized = true;
            const cJSON *bw = cJSON_GetObjectItemCaseSensitive(q, "bits");
            if (bw && !cJSON_IsString(bw)) ok = hub_json_u64(bw, &bits);
        }
    }
    cJSON_Delete(root);
    if (!ok) {
        snprintf(out, size, "model dir, config.json is not valid JSON");
        return;
    }
    char b[32] = "";
    if (quantized && bits) snprintf(b, sizeof b, ", %llu-bit", (unsigned long long)bits);
    snprintf(out, size, "%s%s%s%s", quantized ? "MLX dir" : "safetensors dir", b,
             model_type[0] ? ", " : "", model_type);
}

char *tk_hub_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"kB", "MB", "GB", "TB", "PB"};
    if (bytes < 1000) {
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1000.0;
    size_t u = 0;
    while (v >= 999.5 && u + 1 < TK_ARRAY_LEN(units)) {
        v /= 1000.0;
        u++;
    }
    /* Three significant digits, as the Hugging Face pages show sizes. */
    if (v >= 99.95)
        snprintf(buf, size, "%.0f %s", v, units[u]);
    else if (v >= 9.995)
        snprintf(buf, size, "%.1f %s", v, units[u]);
    else
        snprintf(buf, size, "%.2f %s", v, units[u]);
    return buf;
}

/* ---- where the store is ------------------------------------------------ */

tk_status tk_hub_default_store(tk_os os, tk_getenv_fn get, void *user, char *out, size_t size)
{
    const char *home = hub_env(get, user, "HOME");
    int n;
    switch (os) {
    case TK_OS_WINDOWS: {
        const char *local = hub_env(get, user, "LOCALAPPDATA");
        const char *profile = hub_env(get, user, "USERPROFILE");
        if (local)
            n = snprintf(out, size, "%s\\tektra\\models", local);
        else if (profile)
            n = snprintf(out, size, "%s\\AppData\\Local\\tektra\\models", profile);
        else
            return core_error(TK_ERR_NOT_FOUND, "cannot place the model store: neither "
                                                "LOCALAPPDATA nor USERPROFILE is set (set "
                                                "TEKTRA_MODELS to a directory)");
        break;
    }
    case TK_OS_MACOS:
        if (!home)
            return core_error(TK_ERR_NOT_FOUND, "cannot place the model store: HOME is not set "
                                                "(set TEKTRA_MODELS to a directory)");
        n = snprintf(out, size, "%s/Library/Application Support/tektra/models", home);
        break;
    default: {
        /* XDG Base Directory: a relative XDG_DATA_HOME is invalid and ignored. */
        const char *xdg = hub_env(get, user, "XDG_DATA_HOME");
        if (xdg && xdg[0] == '/')
            n = snprintf(out, size, "%s/tektra/models", xdg);
        else if (home)
            n = snprintf(out, size, "%s/.local/share/tektra/models", home);
        else
            return core_error(TK_ERR_NOT_FOUND, "cannot place the model store: neither "
                                                "XDG_DATA_HOME nor HOME is set (set "
                                                "TEKTRA_MODELS to a directory)");
        break;
    }
    }
    if (n < 0 || (size_t)n >= size) return core_error(TK_ERR_LIMIT, "model store path too long");
    return TK_OK;
}

/* Copies `path` into out, replacing a leading "~/" (or a lone "~") by $HOME. */
static tk_status expand_home(const char *path, tk_getenv_fn get, void *user, char *out, size_t size)
{
    const char *home = NULL;
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) home = hub_env(get, user, "HOME");
    int n = home ? snprintf(out, size, "%s%s", home, path + 1) : snprintf(out, size, "%s", path);
    if (n < 0 || (size_t)n >= size) return core_error(TK_ERR_LIMIT, "path too long: %s", path);
    return TK_OK;
}

tk_status tk_hub_store_dir(const tk_config *cfg, const tk_platform *p, tk_getenv_fn get, void *user,
                           char *out, size_t size)
{
    if (!out || size == 0) return core_error(TK_ERR_INVALID_ARG, "no output buffer");
    if (cfg && cfg->model_dir[0]) return expand_home(cfg->model_dir, get, user, out, size);
    const char *env = hub_env(get, user, "TEKTRA_MODELS");
    if (env) return expand_home(env, get, user, out, size);
    tk_os os = TK_OS_LINUX;
    if (p) {
        os = p->os;
    } else {
        tk_platform here;
        tk_platform_detect(&here);
        os = here.os;
    }
    return tk_hub_default_store(os, get, user, out, size);
}

/* ---- listing ----------------------------------------------------------- */

/* Writes the tensor type mix of an open GGUF file, largest total bytes
 * first: "Q4_K 169, Q6_K 25, F32 65". */
static void type_mix(const tk_gguf *g, char *buf, size_t size)
{
    enum { N_TYPES = TK_TYPE_COUNT + 1 }; /* the last slot counts unknown type ids */
    uint64_t count[N_TYPES] = {0}, bytes[N_TYPES] = {0};
    int64_t nt = tk_gguf_n_tensors(g);
    for (int64_t i = 0; i < nt; i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        if (!t) continue;
        int k = (t->type >= 0 && t->type < TK_TYPE_COUNT) ? t->type : TK_TYPE_COUNT;
        count[k]++;
        bytes[k] += t->size;
    }
    buf[0] = '\0';
    size_t used = 0;
    bool taken[N_TYPES] = {false};
    for (;;) {
        int best = -1;
        for (int k = 0; k < N_TYPES; k++)
            if (count[k] && !taken[k] && (best < 0 || bytes[k] > bytes[best])) best = k;
        if (best < 0) break;
        taken[best] = true;
        char name[24];
        const tk_type_info *info = best < TK_TYPE_COUNT ? tk_type_get(best) : NULL;
        if (info)
            snprintf(name, sizeof name, "%s", info->name);
        else if (best < TK_TYPE_COUNT)
            snprintf(name, sizeof name, "type%d", best);
        else
            snprintf(name, sizeof name, "unknown");
        int n = snprintf(buf + used, size - used, "%s%s %llu", used ? ", " : "", name,
                         (unsigned long long)count[best]);
        if (n < 0 || (size_t)n >= size - used) {
            buf[used] = '\0';
            break;
        }
        used += (size_t)n;
    }
    if (nt == 0) snprintf(buf, size, "no tensors");
}

static int entry_cmp(const void *a, const void *b)
{
    const tk_hub_entry *x = a, *y = b;
    if (x->kind != y->kind) return x->kind == TK_HUB_KIND_GGUF ? -1 : 1;
    /* An unfinished directory ".X.partial" sorts by X. */
    const char *xn = x->kind == TK_HUB_KIND_DIR && x->partial ? x->name + 1 : x->name;
    const char *yn = y->kind == TK_HUB_KIND_DIR && y->partial ? y->name + 1 : y->name;
    return strcmp(xn, yn);
}

/* True for ".X.partial" where X is a store name: an unfinished directory. */
static bool is_partial_dir_name(const char *name)
{
    size_t n = strlen(name), m = strlen(HUB_PARTIAL_SUFFIX);
    if (name[0] != '.' || n <= m + 1 || strcmp(name + n - m, HUB_PARTIAL_SUFFIX) != 0) return false;
    char inner[256];
    if (n - m - 1 >= sizeof inner) return false;
    memcpy(inner, name + 1, n - m - 1);
    inner[n - m - 1] = '\0';
    return hub_valid_store_name(inner);
}

/* Fills `e` for directory `name` of the store; false when it is not a model
 * directory (nor an unfinished one). */
static bool dir_entry(const char *path, const char *name, tk_hub_entry *e)
{
    bool partial = is_partial_dir_name(name);
    if (!partial && (!hub_valid_store_name(name) || ends_with_ci(name, HUB_PARTIAL_SUFFIX)))
        return false;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (partial ? O_NOFOLLOW : 0));
    if (dfd < 0) return false;
    bool model = regular_at(dfd, "config.json") || regular_at(dfd, "tokenizer.json");
    if (!partial && !model) {
        close(dfd);
        return false;
    }
    memset(e, 0, sizeof *e);
    core_strlcpy(e->name, name, sizeof e->name);
    core_strlcpy(e->path, path, sizeof e->path);
    e->kind = TK_HUB_KIND_DIR;
    e->partial = partial;
    e->size = tree_size(dfd, 0);
    char base[sizeof e->name];
    core_strlcpy(base, partial ? name + 1 : name, sizeof base);
    if (partial) base[strlen(base) - strlen(HUB_PARTIAL_SUFFIX)] = '\0';
    const tk_hub_model *m = tk_hub_find_file(base);
    if (m && m->kind == TK_HUB_KIND_DIR) core_strlcpy(e->alias, m->alias, sizeof e->alias);
    if (partial) {
        snprintf(e->types, sizeof e->types, "unfinished download");
    } else {
        e->valid = true;
        describe_dir(dfd, path, e->types, sizeof e->types);
    }
    close(dfd);
    return true;
}

tk_status tk_hub_list(const char *store_dir, tk_hub_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(store_dir);
    if (!d) {
        int e = errno;
        if (e == ENOENT) return TK_OK;
        return core_error(TK_ERR_IO, "cannot read the model store %s: %s", store_dir, strerror(e));
    }
    size_t cap = 0, len = 0;
    tk_hub_entry *list = NULL;
    tk_status status = TK_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        bool partial = ends_with_ci(name, ".gguf" HUB_PARTIAL_SUFFIX);
        bool gguf = partial || ends_with_ci(name, ".gguf");
        if (strlen(name) >= sizeof list->name) continue;
        if (gguf && !hub_valid_store_name(name)) continue;
        char path[sizeof list->path];
        if (hub_join(store_dir, name, path, sizeof path) != TK_OK) continue;
        struct stat st;
        if (stat(path, &st) != 0) continue;
        bool dir = S_ISDIR(st.st_mode);
        if (gguf ? !S_ISREG(st.st_mode) : !dir) continue;
        tk_hub_entry de_entry;
        if (dir && !dir_entry(path, name, &de_entry)) continue;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            tk_hub_entry *nl = realloc(list, ncap * sizeof *nl);
            if (!nl) {
                status = core_error(TK_ERR_NOMEM, "out of memory listing %s", store_dir);
                break;
            }
            list = nl;
            cap = ncap;
        }
        tk_hub_entry *e = &list[len++];
        if (dir) {
            *e = de_entry;
            continue;
        }
        memset(e, 0, sizeof *e);
        core_strlcpy(e->name, name, sizeof e->name);
        core_strlcpy(e->path, path, sizeof e->path);
        e->size = (uint64_t)st.st_size;
        e->partial = partial;
        char base[sizeof e->name];
        core_strlcpy(base, name, sizeof base);
        if (partial) base[strlen(base) - strlen(HUB_PARTIAL_SUFFIX)] = '\0';
        const tk_hub_model *m = tk_hub_find_file(base);
        if (m) core_strlcpy(e->alias, m->alias, sizeof e->alias);
        if (partial) {
            snprintf(e->types, sizeof e->types, "unfinished download");
            continue;
        }
        tk_gguf *g = NULL;
        if (tk_gguf_open(path, &g) == TK_OK) {
            e->valid = true;
            type_mix(g, e->types, sizeof e->types);
            tk_gguf_close(g);
        } else {
            /* The reason without the path, which the entry has. */
            const char *why = tk_last_error();
            size_t pl = strlen(path);
            if (strncmp(why, path, pl) == 0 && why[pl] == ':' && why[pl + 1] == ' ') why += pl + 2;
            snprintf(e->types, sizeof e->types, "unreadable: %s", why);
        }
    }
    closedir(d);
    if (status != TK_OK) {
        free(list);
        return status;
    }
    if (len) qsort(list, len, sizeof *list, entry_cmp);
    *out = list;
    *n = len;
    return TK_OK;
}

/* ---- finding and removing ---------------------------------------------- */

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A model directory of the store: a directory (or a link to one) holding
 * config.json or tokenizer.json, under a store name. */
static bool is_store_model_dir(const char *path, const char *name)
{
    return hub_valid_store_name(name) && !ends_with_ci(name, HUB_PARTIAL_SUFFIX) &&
           !ends_with_ci(name, ".gguf") && hub_is_model_dir(path);
}

tk_status tk_hub_find(const char *store_dir, const char *name, char *out, size_t size)
{
    if (!name || !*name) return core_error(TK_ERR_INVALID_ARG, "no model name given");
    if (!hub_valid_store_name(name) || ends_with_ci(name, HUB_PARTIAL_SUFFIX))
        return core_error(TK_ERR_NOT_FOUND, "'%s' is not a model name of the store", name);
    char path[4096];
    /* The exact spellings first: "x.gguf" or a directory "x", then a
     * case-insensitive search: "x" + ".gguf", a directory, an alias. */
    bool found =
        hub_join(store_dir, name, path, sizeof path) == TK_OK &&
        (ends_with_ci(name, ".gguf") ? is_regular_file(path) : is_store_model_dir(path, name));
    const tk_hub_model *alias = tk_hub_find_alias(name);
    DIR *d = found ? NULL : opendir(store_dir);
    if (d) {
        struct dirent *de;
        while (!found && (de = readdir(d)) != NULL) {
            const char *f = de->d_name;
            if (!hub_valid_store_name(f)) continue;
            bool match;
            if (ends_with_ci(f, ".gguf")) {
                size_t stem = strlen(f) - 5;
                match = core_strcasecmp(f, name) == 0 ||
                        (strlen(name) == stem && strncasecmp(f, name, stem) == 0) ||
                        (alias && alias->kind == TK_HUB_KIND_GGUF &&
                         core_strcasecmp(f, alias->file) == 0);
                if (match && hub_join(store_dir, f, path, sizeof path) == TK_OK &&
                    is_regular_file(path))
                    found = true;
            } else {
                match = core_strcasecmp(f, name) == 0 || (alias && alias->kind == TK_HUB_KIND_DIR &&
                                                          core_strcasecmp(f, alias->file) == 0);
                if (match && hub_join(store_dir, f, path, sizeof path) == TK_OK &&
                    is_store_model_dir(path, f))
                    found = true;
            }
        }
        closedir(d);
    }
    if (found) {
        if (strlen(path) >= size) return core_error(TK_ERR_LIMIT, "path too long: %s", path);
        core_strlcpy(out, path, size);
        return TK_OK;
    }
    return core_error(TK_ERR_NOT_FOUND, "'%s' is not in the model store (%s)", name, store_dir);
}

/* "did you mean ...?" and the store's models whose names are a typo or two
 * from `name` (the closest ones, one per line), into buf; 0 and "" when
 * none is close. */
static size_t store_suggest_text(const char *store, const char *name, char *buf, size_t size)
{
    buf[0] = '\0';
    tk_hub_entry *list = NULL;
    size_t n = 0;
    if (tk_hub_list(store, &list, &n) != TK_OK) return 0;
    int *dist = calloc(n ? n : 1, sizeof *dist);
    int best = -1;
    for (size_t i = 0; dist && i < n; i++) {
        dist[i] = -1;
        if (!list[i].valid || list[i].partial) continue;
        char stem[sizeof list[i].name];
        core_strlcpy(stem, list[i].name, sizeof stem);
        if (ends_with_ci(stem, ".gguf")) stem[strlen(stem) - 5] = '\0';
        int d = core_edit_distance(name, stem), dn = core_edit_distance(name, list[i].name);
        if (dn < d) d = dn;
        int limit = (int)strlen(stem) / 4;
        if (d > (limit < 2 ? 2 : limit)) continue;
        dist[i] = d;
        if (best < 0 || d < best) best = d;
    }
    int count = 0;
    for (size_t i = 0; dist && best >= 0 && i < n; i++) count += dist[i] == best;
    size_t used = 0;
    if (count > 0) {
        int w = snprintf(buf, size, "did you mean %s in the store?",
                         count == 1 ? "this model" : "one of these models");
        used = w > 0 && (size_t)w < size ? (size_t)w : 0;
    }
    for (size_t i = 0, shown = 0; used && i < n && shown < 6; i++) {
        if (dist[i] != best) continue;
        int w = snprintf(buf + used, size - used, "\n  %s", list[i].name);
        if (w < 0 || (size_t)w >= size - used) break;
        used += (size_t)w;
        shown++;
    }
    free(dist);
    free(list);
    return used;
}

/* Removes the model directory `name` of the store: a link is removed
 * itself; a directory must hold config.json or tokenizer.json (or be an
 * unfinished download, `partial`), is renamed to a hidden name first and
 * then removed with everything in it, no link followed. */
static tk_status remove_dir_model(const char *store_dir, const char *name, bool partial)
{
    int sfd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0) {
        int e = errno;
        return core_error(TK_ERR_IO, "cannot open the model store %s: %s", store_dir, strerror(e));
    }
    tk_status s = TK_OK;
    struct stat st;
    if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = errno;
        s = core_error(TK_ERR_IO, "%s/%s: %s", store_dir, name, strerror(e));
    } else if (S_ISLNK(st.st_mode)) {
        if (unlinkat(sfd, name, 0) != 0) {
            int e = errno;
            s = core_error(TK_ERR_IO, "cannot remove %s/%s: %s", store_dir, name, strerror(e));
        }
    } else if (!S_ISDIR(st.st_mode)) {
        s = core_error(TK_ERR_INVALID_ARG, "%s/%s is not a model directory", store_dir, name);
    } else {
        int dfd = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
            int e = errno;
            s = core_error(TK_ERR_IO, "cannot open %s/%s: %s", store_dir, name, strerror(e));
        } else {
            if (!partial && !regular_at(dfd, "config.json") && !regular_at(dfd, "tokenizer.json"))
                s = core_error(TK_ERR_INVALID_ARG,
                               "refusing to remove %s/%s: it is not a model directory (no "
                               "config.json or tokenizer.json in it)",
                               store_dir, name);
            char hidden[320];
            snprintf(hidden, sizeof hidden, ".%s.removing-%ld", name, (long)getpid());
            if (s == TK_OK && renameat(sfd, name, sfd, hidden) != 0) {
                int e = errno;
                s = core_error(TK_ERR_IO, "cannot remove %s/%s: %s", store_dir, name, strerror(e));
            }
            close(dfd);
            if (s == TK_OK) {
                s = hub_remove_tree_at(sfd, hidden);
                if (s != TK_OK) core_error_prefix("removing %s/%s", store_dir, name);
            }
        }
    }
    close(sfd);
    return s;
}

/* The unfinished directory download of store name `name`, when there is one. */
static bool partial_dir_of(const char *store_dir, const char *name, char *hidden, size_t hsize)
{
    snprintf(hidden, hsize, ".%s%s", name, HUB_PARTIAL_SUFFIX);
    char path[4096];
    struct stat st;
    return hub_join(store_dir, hidden, path, sizeof path) == TK_OK && lstat(path, &st) == 0 &&
           S_ISDIR(st.st_mode);
}

tk_status tk_hub_remove(const char *store_dir, const char *name, char *removed, size_t size)
{
    if (removed && size) removed[0] = '\0';
    if (!name || !*name) return core_error(TK_ERR_INVALID_ARG, "no model name given");
    if (strchr(name, '/') || strchr(name, '\\') || strstr(name, "..") || name[0] == '.' ||
        !hub_valid_store_name(name))
        return core_error(TK_ERR_INVALID_ARG,
                          "refusing to remove '%s': give a model name as 'tektra list' shows "
                          "it, not a path",
                          name);
    char path[4096], partial[4096 + 16], hidden[320];
    tk_status s = tk_hub_find(store_dir, name, path, sizeof path);
    if (s == TK_OK) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        struct stat st;
        bool dir = lstat(path, &st) == 0 && !S_ISREG(st.st_mode);
        if (dir) {
            char entry[256];
            core_strlcpy(entry, base, sizeof entry);
            s = remove_dir_model(store_dir, entry, false);
            if (s != TK_OK) return s;
            if (partial_dir_of(store_dir, entry, hidden, sizeof hidden))
                remove_dir_model(store_dir, hidden, true);
        } else {
            if (unlink(path) != 0) {
                int e = errno;
                return core_error(TK_ERR_IO, "cannot remove %s: %s", path, strerror(e));
            }
            snprintf(partial, sizeof partial, "%s%s", path, HUB_PARTIAL_SUFFIX);
            unlink(partial);
        }
        if (removed) core_strlcpy(removed, path, size);
        return TK_OK;
    }
    /* Not a finished model: maybe an unfinished download of that name. */
    const tk_hub_model *alias = tk_hub_find_alias(name);
    const char *candidates[3] = {name, NULL, alias ? alias->file : NULL};
    char with_ext[512];
    snprintf(with_ext, sizeof with_ext, "%s.gguf", name);
    candidates[1] = with_ext;
    for (int i = 0; i < 3; i++) {
        if (!candidates[i]) continue;
        char file[600];
        snprintf(file, sizeof file, "%s%s", candidates[i], HUB_PARTIAL_SUFFIX);
        if (hub_join(store_dir, file, partial, sizeof partial) != TK_OK) continue;
        if (is_regular_file(partial) && unlink(partial) == 0) {
            if (removed) core_strlcpy(removed, partial, size);
            return TK_OK;
        }
        if (i != 1 && partial_dir_of(store_dir, candidates[i], hidden, sizeof hidden) &&
            remove_dir_model(store_dir, hidden, true) == TK_OK) {
            if (removed) hub_join(store_dir, hidden, removed, size);
            return TK_OK;
        }
    }
    /* Something of that name that is not a model is not ours to remove. */
    struct stat st;
    if (hub_join(store_dir, name, path, sizeof path) == TK_OK && stat(path, &st) == 0 &&
        S_ISDIR(st.st_mode))
        return core_error(TK_ERR_INVALID_ARG,
                          "refusing to remove %s: it is a directory but not a model directory "
                          "(no config.json or tokenizer.json in it)",
                          path);
    return core_error(TK_ERR_NOT_FOUND,
                      "'%s' is not in the model store (%s); 'tektra list' "
                      "shows what is there",
                      name, store_dir);
}

/* ---- resolution -------------------------------------------------------- */

static bool starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

tk_status tk_hub_resolve(const tk_config *cfg, const tk_platform *p, const char *name_or_path,
                         char *out, size_t size)
{
    if (!name_or_path || !*name_or_path) return core_error(TK_ERR_INVALID_ARG, "no model given");
    if (!out || size == 0) return core_error(TK_ERR_INVALID_ARG, "no output buffer");
    char expanded[4096];
    tk_status s = expand_home(name_or_path, NULL, NULL, expanded, sizeof expanded);
    if (s != TK_OK) return s;
    struct stat st;
    bool is_dir = false;
    if (stat(expanded, &st) == 0) {
        is_dir = S_ISDIR(st.st_mode);
        if (!is_dir) {
            if (strlen(expanded) >= size)
                return core_error(TK_ERR_LIMIT, "path too long: %s", expanded);
            core_strlcpy(out, expanded, size);
            return TK_OK;
        }
        /* A model directory is a model; another directory is not, though a
         * store name spelled the same may be. */
        if (hub_is_model_dir(expanded)) {
            if (strlen(expanded) >= size)
                return core_error(TK_ERR_LIMIT, "path too long: %s", expanded);
            core_strlcpy(out, expanded, size);
            return TK_OK;
        }
        if (strchr(name_or_path, '/') || strchr(name_or_path, '\\') ||
            !hub_valid_store_name(name_or_path))
            return core_error(TK_ERR_INVALID_ARG,
                              "%s is a directory but not a model: a model directory holds "
                              "config.json (and tokenizer.json, *.safetensors); a GGUF model is "
                              "one file",
                              expanded);
    }
    char store[2048];
    s = tk_hub_store_dir(cfg, p, NULL, NULL, store, sizeof store);
    if (s != TK_OK) return s;

    /* What to look for in the store. */
    const char *key = name_or_path;
    bool is_source = starts_with_ci(name_or_path, "hf:") ||
                     starts_with_ci(name_or_path, "http://") ||
                     starts_with_ci(name_or_path, "https://");
    tk_hub_source src;
    memset(&src, 0, sizeof src);
    if (is_source) {
        if (tk_hub_source_parse(name_or_path, NULL, NULL, &src) != TK_OK)
            return core_error(TK_ERR_NOT_FOUND, "no model '%s': %s", name_or_path, tk_last_error());
        key = src.file;
    } else if (strchr(name_or_path, '/') || strchr(name_or_path, '\\')) {
        /* "OWNER/REPO" that is not a path: the repository's directory. */
        if (name_or_path[0] == '.' || name_or_path[0] == '/' || name_or_path[0] == '~' ||
            tk_hub_source_parse(name_or_path, NULL, NULL, &src) != TK_OK || !src.directory)
            return core_error(TK_ERR_NOT_FOUND, "no model file %s: no such file", expanded);
        is_source = true;
        key = src.file;
    }
    if (tk_hub_find(store, key, out, size) == TK_OK) return TK_OK;
    if (is_dir)
        return core_error(TK_ERR_INVALID_ARG,
                          "%s is a directory, not a model file (nor a model "
                          "in the store %s)",
                          expanded, store);

    const tk_hub_model *m = is_source ? src.model : tk_hub_find_alias(name_or_path);
    char sz[32];
    if (m) {
        uint64_t bytes = m->size ? m->size : m->size_approx;
        return core_error(TK_ERR_NOT_FOUND,
                          "model '%s' is not downloaded yet (the model store %s does not have "
                          "it); get it with: tektra pull %s (%s, %s%s%s%s)",
                          name_or_path, store, is_source && src.directory ? src.repo : name_or_path,
                          m->title, m->quant, bytes ? ", " : "",
                          m->size ? ""
                          : bytes ? "about "
                                  : "",
                          bytes ? tk_hub_format_size(bytes, sz, sizeof sz) : "");
    }
    if (is_source && src.directory)
        return core_error(TK_ERR_NOT_FOUND,
                          "no model '%s': it is not a file, and the model store %s has no "
                          "directory %s; get the repository with: tektra pull %s",
                          name_or_path, store, key, src.repo);
    if (is_source)
        return core_error(TK_ERR_NOT_FOUND,
                          "model '%s' is not downloaded yet (the model store %s does not have "
                          "%s); get it with: tektra pull %s",
                          name_or_path, store, key, name_or_path);
    char near[1024];
    if (store_suggest_text(store, name_or_path, near, sizeof near) > 0 ||
        hub_suggest_text(name_or_path, near, sizeof near) > 0)
        return core_error(TK_ERR_NOT_FOUND,
                          "no model '%s': it is not a file, nor a model in the store %s; %s",
                          name_or_path, store, near);
    return core_error(TK_ERR_NOT_FOUND,
                      "no model '%s': it is not a file, nor a model in the store %s ('tektra "
                      "list' shows the store, 'tektra list --available' the models 'tektra "
                      "pull' knows by name)",
                      name_or_path, store);
}

/* ---- first-run help ---------------------------------------------------- */

typedef struct text_buf {
    char *buf;
    size_t size, len;
} text_buf;

static void tb_printf(text_buf *t, const char *fmt, ...) TK_PRINTF(2, 3);
static void tb_printf(text_buf *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = t->len < t->size ? t->buf + t->len : NULL;
    size_t room = t->len < t->size ? t->size - t->len : 0;
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0) t->len += (size_t)n;
}

size_t tk_hub_help_text(const tk_config *cfg, const tk_platform *p, const char *looked_for,
                        char *buf, size_t size)
{
    text_buf t = {buf, size, 0};
    if (buf && size) buf[0] = '\0';
    char store[2048];
    bool have_store = tk_hub_store_dir(cfg, p, NULL, NULL, store, sizeof store) == TK_OK;

    if (looked_for && *looked_for)
        tb_printf(&t, "No model to run: '%s' is not a file, nor a model in the store.\n",
                  looked_for);
    else
        tb_printf(&t, "No model to run: none was given (-m, TEKTRA_MODEL or [model] path).\n");

    if (have_store) {
        tk_hub_entry *list = NULL;
        size_t n = 0, usable = 0;
        if (tk_hub_list(store, &list, &n) == TK_OK)
            for (size_t i = 0; i < n; i++) usable += list[i].valid;
        if (usable == 0) {
            tb_printf(&t, "The model store %s has no models yet.\n", store);
        } else {
            tb_printf(&t, "The model store %s has:", store);
            for (size_t i = 0, shown = 0; i < n && shown < 8; i++) {
                if (!list[i].valid) continue;
                tb_printf(&t, "%s %s", shown ? "," : "",
                          list[i].alias[0] ? list[i].alias : list[i].name);
                shown++;
            }
            tb_printf(&t, "%s\nRun one with: tektra -m NAME\n", usable > 8 ? ", ..." : "");
        }
        free(list);
    } else {
        tb_printf(&t, "The model store cannot be placed: %s\n", tk_last_error());
    }

    /* A catalogue model the user named is the one to download. */
    const tk_hub_model *named = looked_for && *looked_for ? tk_hub_find_alias(looked_for) : NULL;
    const tk_hub_model *m = named ? named : tk_hub_recommend(p);
    char sz[48];
    uint64_t bytes = m->size ? m->size : m->size_approx;
    if (bytes)
        tk_hub_format_size(bytes, sz, sizeof sz);
    else
        snprintf(sz, sizeof sz, "%s", m->kind == TK_HUB_KIND_DIR ? "a model directory" : "?");
    if (named) {
        tb_printf(&t, "'%s' is %s (%s, %s) from the catalogue.\n", looked_for, m->title, m->quant,
                  sz);
    } else if (p && p->ram_total && tk_hub_expected_tps(p, m) > 0) {
        tb_printf(&t,
                  "This machine has %.1f GiB of memory and %d cores reading %.0f GB/s; a model "
                  "that fits it is %s (%s, %s), expected to write about %.0f tokens/s here.\n",
                  (double)p->ram_total / (1024.0 * 1024.0 * 1024.0), p->n_physical_cores,
                  p->mem_bandwidth / 1e9, m->title, m->quant, sz, tk_hub_expected_tps(p, m));
    } else if (p && p->ram_total) {
        tb_printf(&t, "This machine has %.1f GiB of memory; a model that fits it is %s (%s, %s).\n",
                  (double)p->ram_total / (1024.0 * 1024.0 * 1024.0), m->title, m->quant, sz);
    } else {
        tb_printf(&t, "A small model that runs on any machine is %s (%s, %s).\n", m->title,
                  m->quant, sz);
    }
    tb_printf(&t, "Download it with:\n    tektra pull %s\n", m->alias);
    tb_printf(&t, "Or use a GGUF file you already have:\n"
                  "    tektra -m /path/to/model.gguf\n"
                  "    export TEKTRA_MODEL=/path/to/model.gguf\n"
                  "    [model] path = \"/path/to/model.gguf\"   (in tektra.toml)\n");
    return t.len;
}
