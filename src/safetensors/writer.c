/* The safetensors writer: a JSON header with the tensors in insertion order
 * (and "__metadata__" first when there is any), padded with spaces so that
 * the data section starts at a multiple of 8 bytes, then the tensors' bytes
 * back to back. Written to a temporary name beside the target, fsynced and
 * renamed into place. It refuses whatever the reader would refuse. */
#include "safetensors/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long long ull;

typedef struct wtensor {
    char *name;
    st_dtype dtype;
    int n_dims;
    int64_t shape[ST_MAX_DIMS];
    const void *data; /* borrowed until st_writer_write returns */
    uint64_t size;
} wtensor;

typedef struct wmeta {
    char *key, *value;
} wmeta;

struct st_writer {
    wtensor *t;
    size_t n_t, cap_t;
    wmeta *m;
    size_t n_m, cap_m;
};

tk_status st_writer_create(st_writer **out)
{
    if (!out) return core_error(TK_ERR_INVALID_ARG, "st_writer_create: out is NULL");
    *out = core_calloc(1, sizeof **out);
    return *out ? TK_OK : core_error(TK_ERR_NOMEM, "safetensors writer: out of memory");
}

void st_writer_free(st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    for (size_t i = 0; i < w->n_m; i++) {
        free(w->m[i].key);
        free(w->m[i].value);
    }
    free(w->t);
    free(w->m);
    free(w);
}

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static bool utf8_ok(const char *s)
{
    size_t bad;
    return st_utf8_valid((const uint8_t *)s, strlen(s), &bad);
}

/* Grows an array of `esz`-byte elements to hold one more. */
static bool grow(void **p, size_t *cap, size_t n, size_t esz)
{
    if (n < *cap) return true;
    size_t c = *cap ? *cap * 2 : 16;
    void *np = realloc(*p, c * esz);
    if (!np) return false;
    *p = np;
    *cap = c;
    return true;
}

tk_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int n_dims,
                        const int64_t *shape, const void *data, uint64_t size)
{
    if (!w || !name || (n_dims > 0 && !shape) || (!data && size))
        return core_error(TK_ERR_INVALID_ARG, "st_writer_add: NULL argument");
    char pn[96];
    st_printable(pn, sizeof pn, name, strlen(name));
    size_t len = strlen(name);
    if (len == 0 || len > ST_MAX_NAME || !utf8_ok(name) || strcmp(name, "__metadata__") == 0)
        return core_error(TK_ERR_INVALID_ARG,
                          "safetensors writer: tensor '%s': the name must be 1..%u bytes of UTF-8 "
                          "and not \"__metadata__\"",
                          pn, ST_MAX_NAME);
    if ((unsigned)dtype >= ST_DTYPE_COUNT)
        return core_error(TK_ERR_INVALID_ARG,
                          "safetensors writer: tensor '%s': dtype %d is unknown", pn, (int)dtype);
    if (n_dims < 0 || n_dims > ST_MAX_DIMS)
        return core_error(TK_ERR_INVALID_ARG,
                          "safetensors writer: tensor '%s': %d dimensions (0..%d are possible)", pn,
                          n_dims, ST_MAX_DIMS);
    uint64_t n_elem = 1;
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 0 || (uint64_t)shape[d] > ST_MAX_INT ||
            !core_mul_u64(n_elem, (uint64_t)shape[d], &n_elem) || n_elem > (uint64_t)INT64_MAX)
            return core_error(TK_ERR_INVALID_ARG,
                              "safetensors writer: tensor '%s': shape[%d] = %lld is out of range "
                              "or the element count overflows",
                              pn, d, (long long)shape[d]);
    }
    uint64_t need;
    if (!core_mul_u64(n_elem, st_dtype_size(dtype), &need) || need != size || size > ST_MAX_INT)
        return core_error(TK_ERR_INVALID_ARG,
                          "safetensors writer: tensor '%s': %llu bytes given, the shape of %s "
                          "needs %llu",
                          pn, (ull)size, st_dtype_name(dtype), (ull)need);
    if (!grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t))
        return core_error(TK_ERR_NOMEM, "safetensors writer: out of memory");
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = str_dup(name);
    if (!t->name) return core_error(TK_ERR_NOMEM, "safetensors writer: out of memory");
    t->dtype = dtype;
    t->n_dims = n_dims;
    for (int d = 0; d < n_dims; d++) t->shape[d] = shape[d];
    t->data = data;
    t->size = size;
    w->n_t++;
    return TK_OK;
}

tk_status st_writer_set_metadata(st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value)
        return core_error(TK_ERR_INVALID_ARG, "st_writer_set_metadata: NULL argument");
    if (!utf8_ok(key) || !utf8_ok(value))
        return core_error(TK_ERR_INVALID_ARG, "safetensors writer: metadata must be UTF-8 strings");
    char *v = str_dup(value);
    if (!v) return core_error(TK_ERR_NOMEM, "safetensors writer: out of memory");
    for (size_t i = 0; i < w->n_m; i++) {
        if (strcmp(w->m[i].key, key) == 0) {
            free(w->m[i].value);
            w->m[i].value = v;
            return TK_OK;
        }
    }
    if (w->n_m == ST_MAX_METADATA) {
        free(v);
        return core_error(TK_ERR_LIMIT, "safetensors writer: more than %d metadata entries",
                          ST_MAX_METADATA);
    }
    char *k = str_dup(key);
    if (!k || !grow((void **)&w->m, &w->cap_m, w->n_m, sizeof *w->m)) {
        free(k);
        free(v);
        return core_error(TK_ERR_NOMEM, "safetensors writer: out of memory");
    }
    w->m[w->n_m].key = k;
    w->m[w->n_m].value = v;
    w->n_m++;
    return TK_OK;
}

/* ---- the header -------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* A JSON string: quotes, backslashes and control bytes escaped, UTF-8 as is. */
static void put_json_str(sbuf *b, const char *s)
{
    put(b, "\"", 1);
    for (const char *q = s; *q; q++) {
        unsigned char c = (unsigned char)*q;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        } else {
            put(b, q, 1);
        }
    }
    put(b, "\"", 1);
}

static int cmp_str(const void *pa, const void *pb)
{
    return strcmp(*(char *const *)pa, *(char *const *)pb);
}

/* Names must be unique: sorted copies of the pointers, compared neighbours. */
static tk_status check_unique(const st_writer *w)
{
    if (w->n_t < 2) return TK_OK;
    char **v = core_calloc(w->n_t, sizeof *v);
    if (!v) return core_error(TK_ERR_NOMEM, "safetensors writer: out of memory");
    for (size_t i = 0; i < w->n_t; i++) v[i] = w->t[i].name;
    qsort(v, w->n_t, sizeof *v, cmp_str);
    tk_status st = TK_OK;
    for (size_t i = 0; i + 1 < w->n_t && !st; i++) {
        if (strcmp(v[i], v[i + 1]) == 0) {
            char pn[96];
            st_printable(pn, sizeof pn, v[i], strlen(v[i]));
            st = core_error(TK_ERR_INVALID_ARG, "safetensors writer: tensor '%s' was added twice",
                            pn);
        }
    }
    free(v);
    return st;
}

static tk_status build_header(const st_writer *w, sbuf *b)
{
    char num[64];
    puts_(b, "{");
    bool first = true;
    if (w->n_m) {
        puts_(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_m; i++) {
            if (i) puts_(b, ",");
            put_json_str(b, w->m[i].key);
            puts_(b, ":");
            put_json_str(b, w->m[i].value);
        }
        puts_(b, "}");
        first = false;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if (!first) puts_(b, ",");
        first = false;
        put_json_str(b, t->name);
        puts_(b, ":{\"dtype\":\"");
        puts_(b, st_dtype_name(t->dtype));
        puts_(b, "\",\"shape\":[");
        for (int d = 0; d < t->n_dims; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            puts_(b, num);
        }
        uint64_t end = off + t->size;
        if (end < off || end > ST_MAX_INT)
            return core_error(TK_ERR_LIMIT, "safetensors writer: the data is over 2^53 bytes");
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (ull)off, (ull)end);
        puts_(b, num);
        off = end;
    }
    puts_(b, "}");
    while ((8 + b->len) % 8) puts_(b, " ");
    if (b->failed) return core_error(TK_ERR_NOMEM, "safetensors writer: out of memory");
    if (b->len > ST_MAX_HEADER)
        return core_error(TK_ERR_LIMIT,
                          "safetensors writer: a header of %zu bytes is over the "
                          "limit of %llu",
                          b->len, (ull)ST_MAX_HEADER);
    return TK_OK;
}

/* ---- the file ---------------------------------------------------------- */

tk_status st_writer_write(st_writer *w, const char *path)
{
    if (!w || !path || !*path)
        return core_error(TK_ERR_INVALID_ARG, "safetensors writer: NULL argument");
    tk_status st = check_unique(w);
    if (st) return st;
    sbuf h = {0};
    st = build_header(w, &h);
    if (st) {
        free(h.p);
        return st;
    }
    core_atomic_file af;
    st = core_atomic_open(&af, path);
    if (st) {
        free(h.p);
        return st;
    }
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    bool ok = core_write_all(af.f, len, 8) && core_write_all(af.f, h.p, h.len);
    for (size_t i = 0; i < w->n_t && ok; i++) ok = core_write_all(af.f, w->t[i].data, w->t[i].size);
    st = core_atomic_commit(&af, ok);
    free(h.p);
    return st;
}
