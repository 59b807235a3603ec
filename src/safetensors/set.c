/* Sets of safetensors files: one file, a memory range, or the shards of a
 * model directory (with or without model.safetensors.index.json), and the
 * lookups over them. */
#include "safetensors/internal.h"

#include "core/os.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_NAME  "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
#define SUFFIX      ".safetensors"

typedef unsigned long long ull;

void st_close(st_set *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) {
        st_file *f = &s->files[i];
        gguf_unmap(&f->map);
        free(f->path);
        free(f->strings);
        free(f->meta);
    }
    free(s->files);
    free(s->t);
    free(s->hdr_off);
    free(s->sorted);
    free(s);
}

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A new empty file entry owning a copy of path. */
static tk_status add_file(st_set *s, const char *path, st_file **out)
{
    if (s->n_files == s->cap_files) {
        int cap = s->cap_files ? s->cap_files * 2 : 4;
        st_file *nf = realloc(s->files, (size_t)cap * sizeof *nf);
        if (!nf) return core_error(TK_ERR_NOMEM, "safetensors: out of memory");
        s->files = nf;
        s->cap_files = cap;
    }
    st_file *f = &s->files[s->n_files];
    memset(f, 0, sizeof *f);
    f->path = str_dup(path);
    if (!f->path) return core_error(TK_ERR_NOMEM, "safetensors: out of memory");
    s->n_files++;
    *out = f;
    return TK_OK;
}

static tk_status open_one(st_set *s, const char *path)
{
    st_file *f = NULL;
    tk_status st = add_file(s, path, &f);
    if (st) return st;
    st = gguf_map_file(path, &f->map);
    if (st) return st;
    s->total_bytes += f->map.size;
    return st_parse_file(s, f);
}

static int cmp_name(const void *pa, const void *pb)
{
    const st_name *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    if (c) return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx; /* equal names: tensor order */
}

/* Sorts the names of all tensors for st_find and refuses duplicates, within a
 * file or across files. */
static tk_status set_finish(st_set *s)
{
    s->sorted = core_calloc((size_t)(s->n_t ? s->n_t : 1), sizeof *s->sorted);
    if (!s->sorted) return core_error(TK_ERR_NOMEM, "safetensors: out of memory");
    for (int64_t i = 0; i < s->n_t; i++) {
        s->sorted[i].name = s->t[i].name;
        s->sorted[i].idx = i;
    }
    qsort(s->sorted, (size_t)s->n_t, sizeof *s->sorted, cmp_name);
    for (int64_t k = 0; k + 1 < s->n_t; k++) {
        int64_t a = s->sorted[k].idx, b = s->sorted[k + 1].idx;
        if (strcmp(s->t[a].name, s->t[b].name) != 0) continue;
        char pn[96];
        st_printable(pn, sizeof pn, s->t[a].name, strlen(s->t[a].name));
        if (s->t[a].file == s->t[b].file)
            return core_error(TK_ERR_FORMAT,
                              "%s: tensor '%s': the name appears twice in the header (offsets "
                              "0x%llx and 0x%llx)",
                              s->t[a].file, pn, (ull)s->hdr_off[a], (ull)s->hdr_off[b]);
        return core_error(TK_ERR_FORMAT, "tensor '%s' is in two files: %s and %s", pn, s->t[a].file,
                          s->t[b].file);
    }
    return TK_OK;
}

static tk_status new_set(st_set **out)
{
    *out = core_calloc(1, sizeof **out);
    return *out ? TK_OK : core_error(TK_ERR_NOMEM, "safetensors: out of memory");
}

static tk_status done(st_set *s, tk_status st, st_set **out)
{
    if (!st) st = set_finish(s);
    if (st) {
        st_close(s);
        s = NULL;
    }
    *out = s;
    return st;
}

tk_status st_open_file(const char *path, st_set **out)
{
    if (!out) return core_error(TK_ERR_INVALID_ARG, "st_open_file: out is NULL");
    *out = NULL;
    if (!path) return core_error(TK_ERR_INVALID_ARG, "st_open_file: path is NULL");
    st_set *s;
    tk_status st = new_set(&s);
    if (st) return st;
    return done(s, open_one(s, path), out);
}

tk_status st_open_memory(const void *data, size_t size, st_set **out)
{
    if (!out) return core_error(TK_ERR_INVALID_ARG, "st_open_memory: out is NULL");
    *out = NULL;
    if (!data && size) return core_error(TK_ERR_INVALID_ARG, "st_open_memory: data is NULL");
    st_set *s;
    tk_status st = new_set(&s);
    if (st) return st;
    st_file *f = NULL;
    st = add_file(s, "<memory>", &f);
    if (!st) {
        f->map.data = data;
        f->map.size = size;
        s->total_bytes = size;
        st = st_parse_file(s, f);
    }
    return done(s, st, out);
}

/* ---- directories ------------------------------------------------------- */

static tk_status join(const char *dir, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return core_error(TK_ERR_LIMIT, "%s/%s: path too long", dir, name);
    return TK_OK;
}

static bool file_exists(const char *path)
{
    FILE *f = os_fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static int cmp_str(const void *pa, const void *pb)
{
    return strcmp(*(char *const *)pa, *(char *const *)pb);
}

/* A shard name from the index must be a plain file name in the directory. */
static bool plain_name(const char *n)
{
    size_t len = strlen(n);
    return len > 0 && len <= 255 && n[0] != '.' && !strchr(n, '/') && !strchr(n, '\\');
}

static void free_names(char **v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/* Opens the shards named in `names` (sorted, unique) from dir. */
static tk_status open_shards(st_set *s, const char *dir, char **names, int n)
{
    char path[4096];
    for (int i = 0; i < n; i++) {
        tk_status st = join(dir, names[i], path, sizeof path);
        if (!st) st = open_one(s, path);
        if (st) return st;
    }
    return TK_OK;
}

/* The basename of a shard's path: what the index names it by. */
static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static int cmp_entry(const void *pa, const void *pb)
{
    const cJSON *a = *(const cJSON *const *)pa, *b = *(const cJSON *const *)pb;
    return strcmp(a->string, b->string);
}

static tk_status open_index(st_set *s, const char *dir, const char *ipath)
{
    char *text = NULL;
    size_t len = 0;
    tk_status st = core_read_file(ipath, (size_t)ST_MAX_INDEX_BYTES, &text, &len);
    if (st) return st;
    /* weight_map entries, a few metadata values, the structure itself */
    st = st_json_precheck(ipath, (const uint8_t *)text, len, 8, 2 * (int64_t)ST_MAX_TENSORS + 1024);
    cJSON *root = NULL;
    const char *stop = NULL;
    if (!st) {
        root = cJSON_ParseWithLengthOpts(text, len + 1, &stop, 1); /* with its NUL */
        if (!root)
            st = core_error(TK_ERR_FORMAT, "%s: not valid JSON (offset 0x%llx)", ipath,
                            (ull)(stop ? stop - text : 0));
    }
    free(text);
    const cJSON *wm = NULL;
    if (!st && !cJSON_IsObject(root))
        st = core_error(TK_ERR_FORMAT, "%s: not a JSON object", ipath);
    if (!st) {
        wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
        if (!cJSON_IsObject(wm))
            st = core_error(TK_ERR_FORMAT, "%s: no \"weight_map\" object", ipath);
    }
    int n_map = st ? 0 : cJSON_GetArraySize(wm);
    if (!st && n_map == 0) st = core_error(TK_ERR_FORMAT, "%s: the weight_map is empty", ipath);
    if (!st && n_map > ST_MAX_TENSORS)
        st = core_error(TK_ERR_LIMIT, "%s: the weight_map has more than %d entries", ipath,
                        ST_MAX_TENSORS);
    /* entries sorted by name (duplicates refused), then shard names */
    const cJSON **ent = st ? NULL : core_calloc((size_t)n_map, sizeof *ent);
    char **names = st ? NULL : core_calloc((size_t)n_map, sizeof *names);
    if (!st && (!ent || !names)) st = core_error(TK_ERR_NOMEM, "safetensors: out of memory");
    int n_names = 0;
    if (!st) {
        int k = 0;
        for (const cJSON *e = wm->child; e; e = e->next) ent[k++] = e;
        qsort(ent, (size_t)n_map, sizeof *ent, cmp_entry);
    }
    for (int k = 0; !st && k < n_map; k++) {
        const cJSON *e = ent[k];
        char pn[96];
        st_printable(pn, sizeof pn, e->string, strlen(e->string));
        if (!*e->string || strlen(e->string) > ST_MAX_NAME)
            st = core_error(TK_ERR_FORMAT, "%s: weight_map name '%s' is empty or too long", ipath,
                            pn);
        else if (k > 0 && strcmp(ent[k - 1]->string, e->string) == 0)
            st = core_error(TK_ERR_FORMAT, "%s: tensor '%s' appears twice in the weight_map", ipath,
                            pn);
        else if (!cJSON_IsString(e))
            st = core_error(TK_ERR_FORMAT, "%s: weight_map entry '%s' is not a string", ipath, pn);
        else if (!plain_name(e->valuestring)) {
            char pf[96];
            st_printable(pf, sizeof pf, e->valuestring, strlen(e->valuestring));
            st = core_error(TK_ERR_FORMAT,
                            "%s: tensor '%s' is mapped to '%s', which is not a plain file name "
                            "in the same directory",
                            ipath, pn, pf);
        } else
            names[n_names++] = e->valuestring; /* borrowed from the tree until copied below */
    }
    if (!st) {
        qsort(names, (size_t)n_names, sizeof *names, cmp_str);
        int u = 0;
        for (int k = 0; k < n_names; k++)
            if (u == 0 || strcmp(names[u - 1], names[k]) != 0) names[u++] = names[k];
        n_names = u;
        if (n_names > ST_MAX_SHARDS)
            st = core_error(TK_ERR_LIMIT, "%s: more than %d shard files", ipath, ST_MAX_SHARDS);
    }
    if (!st) {
        st = open_shards(s, dir, names, n_names);
        if (st) core_error_prefix("%s: shard of the index", ipath);
    }
    if (!st) st = set_finish(s);
    /* every mapped name is in the shard the map names */
    for (int k = 0; !st && k < n_map; k++) {
        const cJSON *e = ent[k];
        const st_tensor *t = st_find(s, e->string);
        char pn[96], pf[96];
        st_printable(pn, sizeof pn, e->string, strlen(e->string));
        st_printable(pf, sizeof pf, e->valuestring, strlen(e->valuestring));
        if (!t) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->valuestring);
            st = core_error(TK_ERR_FORMAT,
                            "%s: tensor '%s' is mapped to %s, which has no such "
                            "tensor",
                            ipath, pn, path);
        } else if (strcmp(base_name(t->file), e->valuestring) != 0) {
            st = core_error(TK_ERR_FORMAT, "%s: tensor '%s' is mapped to '%s' but is in %s", ipath,
                            pn, pf, t->file);
        }
    }
    free(ent);
    free(names); /* the strings belonged to the tree */
    cJSON_Delete(root);
    return st;
}

/* Every *.safetensors file of dir (not hidden), sorted. */
static tk_status list_dir(const char *dir, char ***out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    os_dir *d = os_dir_open(dir);
    if (!d) {
        int e = errno;
        return core_error(e == ENOENT ? TK_ERR_NOT_FOUND : TK_ERR_IO, "%s: %s", dir, strerror(e));
    }
    char **v = NULL;
    int n = 0, cap = 0;
    tk_status st = TK_OK;
    const char *name;
    size_t sl = strlen(SUFFIX);
    while (!st && (name = os_dir_next(d)) != NULL) {
        size_t len = strlen(name);
        if (name[0] == '.' || len <= sl || strcmp(name + len - sl, SUFFIX) != 0) continue;
        if (n == ST_MAX_SHARDS) {
            st = core_error(TK_ERR_LIMIT, "%s: more than %d *.safetensors files", dir,
                            ST_MAX_SHARDS);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                st = core_error(TK_ERR_NOMEM, "safetensors: out of memory");
                break;
            }
            v = nv;
        }
        v[n] = str_dup(name);
        if (!v[n]) {
            st = core_error(TK_ERR_NOMEM, "safetensors: out of memory");
            break;
        }
        n++;
    }
    os_dir_close(d);
    if (st) {
        free_names(v, n);
        return st;
    }
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    *n_out = n;
    return TK_OK;
}

tk_status st_open_dir(const char *dir, st_set **out)
{
    if (!out) return core_error(TK_ERR_INVALID_ARG, "st_open_dir: out is NULL");
    *out = NULL;
    if (!dir || !*dir) return core_error(TK_ERR_INVALID_ARG, "st_open_dir: no directory");
    char path[4096];
    tk_status st = join(dir, INDEX_NAME, path, sizeof path);
    if (st) return st;
    st_set *s;
    if ((st = new_set(&s))) return st;
    if (file_exists(path)) {
        st = open_index(s, dir, path);
        if (st) {
            st_close(s);
            return st;
        }
        *out = s; /* open_index has sorted and checked the names */
        return TK_OK;
    }
    if ((st = join(dir, SINGLE_NAME, path, sizeof path))) {
        st_close(s);
        return st;
    }
    if (file_exists(path)) return done(s, open_one(s, path), out);
    char **names;
    int n;
    st = list_dir(dir, &names, &n);
    if (!st && n == 0)
        st = core_error(TK_ERR_NOT_FOUND,
                        "%s: no " INDEX_NAME ", " SINGLE_NAME " or *" SUFFIX " file", dir);
    if (!st) st = open_shards(s, dir, names, n);
    free_names(names, n);
    return done(s, st, out);
}

/* ---- lookups ----------------------------------------------------------- */

int64_t st_count(const st_set *s)
{
    return s ? s->n_t : 0;
}

const st_tensor *st_at(const st_set *s, int64_t i)
{
    if (!s || i < 0 || i >= s->n_t) return NULL;
    return &s->t[i];
}

const st_tensor *st_find(const st_set *s, const char *name)
{
    if (!s || !name || !s->sorted) return NULL;
    int64_t lo = 0, hi = s->n_t;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->sorted[mid].name, name);
        if (c == 0) return &s->t[s->sorted[mid].idx];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *st_metadata(const st_set *s, const char *key)
{
    if (!s || !key) return NULL;
    for (int i = 0; i < s->n_files; i++) {
        const st_file *f = &s->files[i];
        int64_t lo = 0, hi = f->n_meta;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            int c = strcmp(f->meta[mid].key, key);
            if (c == 0) return f->meta[mid].value;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    return NULL;
}

uint64_t st_total_bytes(const st_set *s)
{
    return s ? s->total_bytes : 0;
}
