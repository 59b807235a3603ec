/* The GGUF writer: collects metadata (already serialized in file format) and
 * tensors, then writes a version 3 file with aligned tensor data to a
 * temporary name beside the target, fsyncs it and renames it into place. It
 * refuses to write anything the reader would refuse. */
#include "gguf/gguf.h"

#include "tektra/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long long ull;

/* Bool arrays are taken as arrays of C bool, stored as one byte each. */
_Static_assert(sizeof(bool) == 1, "bool must be one byte");

/* A growable byte buffer; `failed` sticks after the first allocation error
 * so a sequence of puts needs one check at the end. */
typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} wbuf;

static void put_bytes(wbuf *b, const void *src, size_t n)
{
    if (b->failed) return;
    if (n > SIZE_MAX - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}

/* Stores the low `n` bytes of v little-endian. */
static void put_le(wbuf *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    put_bytes(b, tmp, n);
}

static void put_str(wbuf *b, const char *s, uint64_t n)
{
    put_le(b, n, 8);
    put_bytes(b, s, (size_t)n);
}

/* Host-order value of `esz` bytes at p, widened. */
static uint64_t load_host(const uint8_t *p, size_t esz)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (esz) {
    case 1:
        memcpy(&u8, p, 1);
        return u8;
    case 2:
        memcpy(&u16, p, 2);
        return u16;
    case 4:
        memcpy(&u32, p, 4);
        return u32;
    default:
        memcpy(&u64, p, 8);
        return u64;
    }
}

typedef struct wkv {
    char *key;
    tk_gguf_type type;
    wbuf val; /* the value exactly as the file stores it after the type field */
} wkv;

typedef struct wtensor {
    char *name;
    int type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data; /* borrowed until tk_gguf_writer_write returns */
    uint64_t size;
    uint64_t offset; /* relative to the data section, set when writing */
} wtensor;

struct tk_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    bool engine_types; /* tensors may have the engine's own types (virtual images only) */
};

void gguf_writer_allow_engine_types(tk_gguf_writer *w)
{
    w->engine_types = true;
}

bool gguf_writer_has_key(const tk_gguf_writer *w, const char *key)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return true;
    return false;
}

tk_status tk_gguf_writer_create(tk_gguf_writer **out)
{
    if (!out) return core_error(TK_ERR_INVALID_ARG, "tk_gguf_writer_create: out is NULL");
    *out = core_calloc(1, sizeof **out);
    return *out ? TK_OK : core_error(TK_ERR_NOMEM, "GGUF writer: out of memory");
}

void tk_gguf_writer_free(tk_gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static tk_status check_name(const char *what, const char *name)
{
    if (!name || !*name) return core_error(TK_ERR_INVALID_ARG, "GGUF writer: empty %s", what);
    size_t n = strlen(name);
    if (n > GGUF_MAX_NAME)
        return core_error(TK_ERR_INVALID_ARG, "GGUF writer: %s '%.40s...' is %zu bytes, over %u",
                          what, name, n, GGUF_MAX_NAME);
    return TK_OK;
}

/* Stores key = value, taking ownership of val's memory (freed on failure). */
static tk_status set_kv(tk_gguf_writer *w, const char *key, tk_gguf_type type, wbuf val)
{
    tk_status st = TK_OK;
    if (!w) st = core_error(TK_ERR_INVALID_ARG, "GGUF writer: NULL writer");
    if (!st) st = check_name("key", key);
    if (!st && val.failed) st = core_error(TK_ERR_NOMEM, "GGUF writer: out of memory");
    if (st) {
        free(val.p);
        return st;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val.p);
            w->kv[i].type = type;
            w->kv[i].val = val;
            return TK_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *nk = realloc(w->kv, cap * sizeof *nk);
        if (!nk) {
            free(val.p);
            return core_error(TK_ERR_NOMEM, "GGUF writer: out of memory");
        }
        w->kv = nk;
        w->cap_kv = cap;
    }
    char *k = dup_str(key);
    if (!k) {
        free(val.p);
        return core_error(TK_ERR_NOMEM, "GGUF writer: out of memory");
    }
    w->kv[w->n_kv++] = (wkv){k, type, val};
    return TK_OK;
}

static tk_status set_scalar(tk_gguf_writer *w, const char *key, tk_gguf_type type, uint64_t bits)
{
    wbuf v = {0};
    put_le(&v, bits, gguf_type_size(type));
    return set_kv(w, key, type, v);
}

tk_status tk_gguf_writer_set_u32(tk_gguf_writer *w, const char *key, uint32_t v)
{
    return set_scalar(w, key, TK_GGUF_UINT32, v);
}

tk_status tk_gguf_writer_set_i32(tk_gguf_writer *w, const char *key, int32_t v)
{
    return set_scalar(w, key, TK_GGUF_INT32, (uint32_t)v);
}

tk_status tk_gguf_writer_set_u64(tk_gguf_writer *w, const char *key, uint64_t v)
{
    return set_scalar(w, key, TK_GGUF_UINT64, v);
}

tk_status tk_gguf_writer_set_f32(tk_gguf_writer *w, const char *key, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(w, key, TK_GGUF_FLOAT32, bits);
}

tk_status tk_gguf_writer_set_bool(tk_gguf_writer *w, const char *key, bool v)
{
    return set_scalar(w, key, TK_GGUF_BOOL, v ? 1 : 0);
}

tk_status tk_gguf_writer_set_scalar(tk_gguf_writer *w, const char *key, tk_gguf_type type,
                                    const void *v)
{
    tk_status st = check_name("key", key);
    if (st) return st;
    size_t esz = gguf_type_size(type);
    if (esz == 0 || !v)
        return core_error(TK_ERR_INVALID_ARG, "GGUF writer: '%s': %s is not a scalar type", key,
                          tk_gguf_type_name(type));
    uint64_t bits;
    if (type == TK_GGUF_BOOL) {
        bool b;
        memcpy(&b, v, sizeof b);
        bits = b ? 1 : 0;
    } else {
        bits = load_host(v, esz);
    }
    return set_scalar(w, key, type, bits);
}

tk_status tk_gguf_writer_set_str(tk_gguf_writer *w, const char *key, const char *v)
{
    tk_status st = check_name("key", key);
    if (st) return st;
    if (!v) return core_error(TK_ERR_INVALID_ARG, "GGUF writer: NULL string for '%s'", key);
    size_t n = strlen(v);
    if (n > GGUF_MAX_STRING)
        return core_error(TK_ERR_LIMIT, "GGUF writer: string for '%s' is over %llu bytes", key,
                          (ull)GGUF_MAX_STRING);
    wbuf b = {0};
    put_str(&b, v, n);
    return set_kv(w, key, TK_GGUF_STRING, b);
}

tk_status tk_gguf_writer_set_arr(tk_gguf_writer *w, const char *key, tk_gguf_type type,
                                 const void *data, uint64_t n)
{
    tk_status st = check_name("key", key);
    if (st) return st;
    size_t esz = gguf_type_size(type);
    if (esz == 0)
        return core_error(TK_ERR_INVALID_ARG, "GGUF writer: '%s': %s is not a numeric type", key,
                          tk_gguf_type_name(type));
    if (n && !data) return core_error(TK_ERR_INVALID_ARG, "GGUF writer: '%s': NULL data", key);
    uint64_t bytes;
    if (!core_mul_u64(n, esz, &bytes) || bytes > SIZE_MAX / 2)
        return core_error(TK_ERR_OVERFLOW, "GGUF writer: '%s': array too large", key);
    const uint8_t *p = data;
    if (type == TK_GGUF_BOOL)
        for (uint64_t j = 0; j < n; j++)
            if (p[j] > 1)
                return core_error(TK_ERR_INVALID_ARG,
                                  "GGUF writer: '%s': bool element %llu is %u, not 0 or 1", key,
                                  (ull)j, p[j]);
    wbuf b = {0};
    put_le(&b, (uint64_t)type, 4);
    put_le(&b, n, 8);
    for (uint64_t j = 0; j < n && !b.failed; j++) put_le(&b, load_host(p + j * esz, esz), esz);
    return set_kv(w, key, TK_GGUF_ARRAY, b);
}

tk_status tk_gguf_writer_set_arr_str(tk_gguf_writer *w, const char *key, const char *const *strs,
                                     uint64_t n)
{
    tk_status st = check_name("key", key);
    if (st) return st;
    if (n && !strs) return core_error(TK_ERR_INVALID_ARG, "GGUF writer: '%s': NULL strings", key);
    wbuf b = {0};
    put_le(&b, TK_GGUF_STRING, 4);
    put_le(&b, n, 8);
    for (uint64_t j = 0; j < n && !b.failed; j++) {
        size_t len = strs[j] ? strlen(strs[j]) : 0;
        if (!strs[j] || len > GGUF_MAX_STRING) {
            free(b.p);
            return core_error(TK_ERR_INVALID_ARG,
                              "GGUF writer: '%s': element %llu is NULL or over %llu bytes", key,
                              (ull)j, (ull)GGUF_MAX_STRING);
        }
        put_str(&b, strs[j], len);
    }
    return set_kv(w, key, TK_GGUF_ARRAY, b);
}

tk_status tk_gguf_writer_copy_kv(tk_gguf_writer *w, const tk_gguf *g, int64_t i)
{
    if (!g || i < 0 || i >= g->n_kv)
        return core_error(TK_ERR_INVALID_ARG, "GGUF writer: kv %lld does not exist", (long long)i);
    const gguf_kv *kv = &g->kv[i];
    const char *key = g->arena + kv->key_off;
    wbuf b = {0};
    if (kv->type == TK_GGUF_STRING) {
        put_str(&b, g->arena + kv->str_off, kv->str_len);
    } else if (kv->type != TK_GGUF_ARRAY) {
        put_bytes(&b, kv->raw, gguf_type_size(kv->type)); /* already little-endian */
    } else {
        put_le(&b, kv->arr_type, 4);
        put_le(&b, kv->arr_len, 8);
        if (kv->arr_type == TK_GGUF_STRING) {
            for (uint64_t j = 0; j < kv->arr_len && !b.failed; j++) {
                const char *s;
                uint64_t len;
                tk_gguf_arr_str(g, i, j, &s, &len);
                put_str(&b, s, len);
            }
        } else {
            put_bytes(&b, kv->raw, (size_t)(kv->arr_len * gguf_type_size(kv->arr_type)));
        }
    }
    return set_kv(w, key, kv->type, b);
}

tk_status tk_gguf_writer_add_tensor(tk_gguf_writer *w, const char *name, int type, int n_dims,
                                    const int64_t *ne, const void *data, uint64_t size)
{
    if (!w || !ne || !data) return core_error(TK_ERR_INVALID_ARG, "GGUF writer: NULL argument");
    tk_status st = check_name("tensor name", name);
    if (st) return st;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return core_error(TK_ERR_INVALID_ARG, "GGUF writer: tensor '%s' added twice", name);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return core_error(TK_ERR_INVALID_ARG, "GGUF writer: tensor '%s': n_dims %d not in 1..%d",
                          name, n_dims, GGUF_MAX_DIMS);
    const tk_type_info *ti =
        (type < TK_TYPE_GGUF_END || w->engine_types) ? tk_type_get(type) : NULL;
    if (!ti)
        return core_error(TK_ERR_INVALID_ARG, "GGUF writer: tensor '%s': unknown type %d", name,
                          type);
    uint64_t n = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1 || !core_mul_u64(n, (uint64_t)ne[d], &n) || n > (uint64_t)INT64_MAX)
            return core_error(TK_ERR_INVALID_ARG,
                              "GGUF writer: tensor '%s': dimension %d (%lld) is invalid", name, d,
                              (long long)ne[d]);
    }
    if (ne[0] % ti->block_size != 0)
        return core_error(TK_ERR_INVALID_ARG,
                          "GGUF writer: tensor '%s': row length %lld is not a multiple of %d (%s)",
                          name, (long long)ne[0], ti->block_size, ti->name);
    uint64_t expect;
    if (tk_type_size(type, (int64_t)n, &expect) != TK_OK || expect != size)
        return core_error(TK_ERR_INVALID_ARG,
                          "GGUF writer: tensor '%s': %llu bytes given, %s shape needs %llu", name,
                          (ull)size, ti->name, (ull)expect);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 16;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) return core_error(TK_ERR_NOMEM, "GGUF writer: out of memory");
        w->t = nt;
        w->cap_t = cap;
    }
    char *nm = dup_str(name);
    if (!nm) return core_error(TK_ERR_NOMEM, "GGUF writer: out of memory");
    wtensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = nm;
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->size = size;
    return TK_OK;
}

/* ---- writing ----------------------------------------------------------- */

static tk_status writer_alignment(const tk_gguf_writer *w, uint32_t *out)
{
    *out = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        if (w->kv[i].type != TK_GGUF_UINT32)
            return core_error(TK_ERR_INVALID_ARG, "GGUF writer: general.alignment must be u32");
        uint32_t a = gguf_rd32(w->kv[i].val.p);
        if (a == 0 || (a & (a - 1)) || a > GGUF_MAX_ALIGNMENT)
            return core_error(TK_ERR_INVALID_ARG,
                              "GGUF writer: general.alignment %u is not a power of two in 1..%u", a,
                              GGUF_MAX_ALIGNMENT);
        *out = a;
    }
    return TK_OK;
}

static uint64_t pad_to(uint64_t off, uint32_t align)
{
    uint64_t rem = off % align;
    return rem ? align - rem : 0;
}

static bool write_zeros(FILE *f, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n) {
        size_t chunk = n > sizeof zeros ? sizeof zeros : (size_t)n;
        if (fwrite(zeros, 1, chunk, f) != chunk) return false;
        n -= chunk;
    }
    return true;
}

/* Reads the alignment, lays out the tensor data (offsets relative to the
 * data section) and serializes the header, metadata and tensor infos into *h
 * (caller frees h->p on success). */
static tk_status writer_header(tk_gguf_writer *w, uint32_t *alignment, wbuf *h, uint64_t *data_size)
{
    tk_status st = writer_alignment(w, alignment);
    if (st) return st;
    uint32_t align = *alignment;
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        off += pad_to(off, align);
        w->t[i].offset = off;
        if (!core_add_u64(off, w->t[i].size, &off))
            return core_error(TK_ERR_OVERFLOW, "GGUF writer: tensor data too large");
    }
    *data_size = off;
    put_le(h, GGUF_MAGIC, 4);
    put_le(h, GGUF_VERSION_MAX, 4);
    put_le(h, w->n_t, 8);
    put_le(h, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(h, w->kv[i].key, strlen(w->kv[i].key));
        put_le(h, w->kv[i].type, 4);
        put_bytes(h, w->kv[i].val.p, w->kv[i].val.len);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(h, t->name, strlen(t->name));
        put_le(h, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) put_le(h, (uint64_t)t->ne[d], 8);
        put_le(h, (uint64_t)t->type, 4);
        put_le(h, t->offset, 8);
    }
    if (h->failed) {
        free(h->p);
        memset(h, 0, sizeof *h);
        return core_error(TK_ERR_NOMEM, "GGUF writer: out of memory");
    }
    return TK_OK;
}

tk_status gguf_writer_image(tk_gguf_writer *w, uint8_t **header, size_t *header_len,
                            uint64_t *total_size, const void ***data)
{
    uint32_t align;
    wbuf h = {0};
    uint64_t data_size = 0;
    tk_status st = writer_header(w, &align, &h, &data_size);
    if (st) return st;
    uint64_t total;
    if (!core_add_u64(h.len, pad_to(h.len, align), &total) ||
        !core_add_u64(total, data_size, &total)) {
        free(h.p);
        return core_error(TK_ERR_OVERFLOW, "GGUF writer: tensor data too large");
    }
    const void **d = core_calloc(w->n_t ? w->n_t : 1, sizeof *d);
    if (!d) {
        free(h.p);
        return core_error(TK_ERR_NOMEM, "GGUF writer: out of memory");
    }
    for (size_t i = 0; i < w->n_t; i++) d[i] = w->t[i].data;
    *header = h.p;
    *header_len = h.len;
    *total_size = total;
    *data = d;
    return TK_OK;
}

tk_status tk_gguf_writer_write(tk_gguf_writer *w, const char *path)
{
    if (!w || !path || !*path) return core_error(TK_ERR_INVALID_ARG, "GGUF writer: NULL argument");

    /* Header, metadata and tensor infos go to one buffer first. */
    uint32_t align;
    wbuf h = {0};
    uint64_t data_size = 0;
    tk_status st = writer_header(w, &align, &h, &data_size);
    if (st) return st;
    for (size_t i = 0; i < w->n_t; i++) {
        if (w->t[i].type >= TK_TYPE_GGUF_END) {
            free(h.p);
            return core_error(TK_ERR_INVALID_ARG,
                              "GGUF writer: tensor '%s': type %s has no GGUF encoding",
                              w->t[i].name, tk_type_get(w->t[i].type)->name);
        }
    }

    core_atomic_file af;
    st = core_atomic_open(&af, path);
    if (st) {
        free(h.p);
        return st;
    }
    FILE *f = af.f;
    bool ok = core_write_all(f, h.p, h.len);
    if (w->n_t) ok = ok && write_zeros(f, pad_to(h.len, align));
    uint64_t pos = 0;
    for (size_t i = 0; i < w->n_t && ok; i++) {
        ok = write_zeros(f, w->t[i].offset - pos) && core_write_all(f, w->t[i].data, w->t[i].size);
        pos = w->t[i].offset + w->t[i].size;
    }
    st = core_atomic_commit(&af, ok);
    free(h.p);
    return st;
}
