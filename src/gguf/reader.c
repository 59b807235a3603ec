/* The GGUF reader. The file is parsed once, front to back, through a cursor
 * that refuses to step past the end; every count is bounded by the bytes
 * that remain before anything is allocated for it, and every failure names
 * the item, the problem and the byte offset.
 *
 * Layout (GGUF v2/v3, little-endian):
 *   magic u32 "GGUF", version u32, n_tensors u64, n_kv u64,
 *   n_kv x { key string, type u32, value },
 *   n_tensors x { name string, n_dims u32, ne u64[n_dims], type u32, offset u64 },
 *   padding to general.alignment, tensor data (offsets relative to its start).
 * A string is a u64 length and that many bytes; an array value is an element
 * type u32, a count u64 and the elements. */
#include "gguf/gguf.h"

#include "tektra/quant.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long long ull; /* for printing uint64_t with %llu / %llx */

static const char *const type_names[TK_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

const char *tk_gguf_type_name(tk_gguf_type type)
{
    if ((unsigned)type >= TK_GGUF_TYPE_COUNT) return "?";
    return type_names[type];
}

size_t gguf_type_size(tk_gguf_type type)
{
    switch (type) {
    case TK_GGUF_UINT8:
    case TK_GGUF_INT8:
    case TK_GGUF_BOOL:
        return 1;
    case TK_GGUF_UINT16:
    case TK_GGUF_INT16:
        return 2;
    case TK_GGUF_UINT32:
    case TK_GGUF_INT32:
    case TK_GGUF_FLOAT32:
        return 4;
    case TK_GGUF_UINT64:
    case TK_GGUF_INT64:
    case TK_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

/* ---- the cursor -------------------------------------------------------- */

typedef struct rd {
    tk_gguf *g;
    const uint8_t *p;
    uint64_t size, pos;
    char what[160]; /* the item being read, for messages: "kv 3 'general.name'" */
} rd;

/* Copies a name from the file into `dst` for a message: control bytes become
 * '?', long names are cut with "...". */
static void printable_name(char *dst, size_t cap, const char *s, uint64_t n)
{
    size_t k = 0;
    uint64_t limit = n > 80 ? 77 : n;
    for (uint64_t i = 0; i < limit && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n > limit)
        for (int d = 0; d < 3 && k + 1 < cap; d++) dst[k++] = '.';
    dst[k] = '\0';
}

static void rd_what(rd *r, const char *item, int64_t i, const char *name, uint64_t name_len)
{
    if (!name) {
        snprintf(r->what, sizeof r->what, "%s %lld", item, (long long)i);
        return;
    }
    char pn[96];
    printable_name(pn, sizeof pn, name, name_len);
    snprintf(r->what, sizeof r->what, "%s %lld '%s'", item, (long long)i, pn);
}

/* Records "<what>: <problem> (offset 0x..)" and returns `st`. */
static tk_status rd_fail(const rd *r, tk_status st, uint64_t at, const char *fmt, ...)
    TK_PRINTF(4, 5);
static tk_status rd_fail(const rd *r, tk_status st, uint64_t at, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return core_error(st, "%s: %s (offset 0x%llx)", r->what, msg, (ull)at);
}

/* rd_fail for a file that ends before what it describes: most often a
 * download that stopped early, which the message says. */
static tk_status rd_fail_short(const rd *r, uint64_t at, const char *fmt, ...) TK_PRINTF(3, 4);
static tk_status rd_fail_short(const rd *r, uint64_t at, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return core_error(TK_ERR_FORMAT,
                      "%s: %s (offset 0x%llx); the file ends early - an incomplete download?",
                      r->what, msg, (ull)at);
}

static uint64_t rd_left(const rd *r)
{
    return r->size - r->pos;
}

static tk_status rd_bytes(rd *r, uint64_t n, const char *field, const uint8_t **out)
{
    *out = NULL;
    if (n > rd_left(r))
        return rd_fail_short(r, r->pos, "%s (%llu bytes) is cut off: the file ends at 0x%llx",
                             field, (ull)n, (ull)r->size);
    *out = r->p + r->pos;
    r->pos += n;
    return TK_OK;
}

static tk_status rd_u32(rd *r, const char *field, uint32_t *out)
{
    const uint8_t *b;
    *out = 0;
    tk_status st = rd_bytes(r, 4, field, &b);
    if (st == TK_OK) *out = gguf_rd32(b);
    return st;
}

static tk_status rd_u64(rd *r, const char *field, uint64_t *out)
{
    const uint8_t *b;
    *out = 0;
    tk_status st = rd_bytes(r, 8, field, &b);
    if (st == TK_OK) *out = gguf_rd64(b);
    return st;
}

/* Appends n bytes and a NUL to the arena; the offset of the copy in *off. */
static tk_status arena_add(tk_gguf *g, const uint8_t *s, uint64_t n, uint64_t *off)
{
    /* n is at most the file size, so these sums cannot overflow. */
    uint64_t need = g->arena_len + n + 1;
    if (need > g->arena_cap) {
        uint64_t cap = g->arena_cap ? g->arena_cap * 2 : 4096;
        while (cap < need) cap *= 2;
        if (cap > SIZE_MAX) return core_error(TK_ERR_NOMEM, "GGUF strings: out of memory");
        char *a = realloc(g->arena, (size_t)cap);
        if (!a) return core_error(TK_ERR_NOMEM, "GGUF strings: out of memory");
        g->arena = a;
        g->arena_cap = cap;
    }
    if (n) memcpy(g->arena + g->arena_len, s, (size_t)n);
    g->arena[g->arena_len + n] = '\0';
    *off = g->arena_len;
    g->arena_len = need;
    return TK_OK;
}

/* Reads a string (u64 length + bytes) and copies it into the arena. Names
 * (keys, tensor names) must be non-empty and free of NUL bytes, so that
 * their C string is the whole name and uniqueness means what it says. */
static tk_status rd_string(rd *r, const char *field, uint64_t max, bool is_name, uint64_t *off,
                           uint64_t *len)
{
    uint64_t at = r->pos;
    uint64_t n = 0;
    *off = *len = 0;
    tk_status st = rd_u64(r, field, &n);
    if (st) return st;
    if (n > rd_left(r))
        return rd_fail_short(r, at,
                             "%s length %llu runs past the end of the file (%llu bytes left)",
                             field, (ull)n, (ull)rd_left(r));
    if (n > max)
        return rd_fail(r, TK_ERR_LIMIT, at, "%s length %llu is over the limit of %llu bytes", field,
                       (ull)n, (ull)max);
    const uint8_t *s = r->p + r->pos;
    if (is_name && n == 0) return rd_fail(r, TK_ERR_FORMAT, at, "%s is empty", field);
    if (is_name && memchr(s, 0, (size_t)n))
        return rd_fail(r, TK_ERR_FORMAT, at, "%s contains a NUL byte", field);
    r->pos += n;
    *len = n;
    return arena_add(r->g, s, n, off);
}

/* Grows *buf (elements of `esz` bytes, capacity *cap) to hold `need`. */
static tk_status grow(void **buf, uint64_t *cap, uint64_t need, size_t esz)
{
    if (need <= *cap) return TK_OK;
    uint64_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    uint64_t bytes;
    if (!core_mul_u64(c, esz, &bytes) || bytes > SIZE_MAX)
        return core_error(TK_ERR_NOMEM, "GGUF: out of memory");
    void *nb = realloc(*buf, (size_t)bytes);
    if (!nb) return core_error(TK_ERR_NOMEM, "GGUF: out of memory");
    *buf = nb;
    *cap = c;
    return TK_OK;
}

/* ---- metadata ---------------------------------------------------------- */

static tk_status rd_array(rd *r, gguf_kv *kv)
{
    tk_gguf *g = r->g;
    uint64_t at = r->pos;
    uint32_t et;
    tk_status st = rd_u32(r, "array element type", &et);
    if (st) return st;
    if (et >= TK_GGUF_TYPE_COUNT)
        return rd_fail(r, TK_ERR_FORMAT, at, "unknown array element type %u", et);
    if (et == TK_GGUF_ARRAY)
        return rd_fail(r, TK_ERR_UNSUPPORTED, at, "nested arrays are not supported");
    at = r->pos;
    uint64_t n;
    st = rd_u64(r, "array length", &n);
    if (st) return st;
    kv->arr_type = (tk_gguf_type)et;
    size_t esz = et == TK_GGUF_STRING ? 8 : gguf_type_size((tk_gguf_type)et);
    if (n > rd_left(r) / esz)
        return rd_fail(r, TK_ERR_FORMAT, at,
                       "array of %llu %s needs at least %llu bytes per element but only %llu "
                       "bytes are left",
                       (ull)n, type_names[et], (ull)esz, (ull)rd_left(r));
    kv->arr_len = n;
    if (et != TK_GGUF_STRING) {
        kv->raw = r->p + r->pos;
        if (et == TK_GGUF_BOOL) {
            for (uint64_t j = 0; j < n; j++)
                if (kv->raw[j] > 1)
                    return rd_fail(r, TK_ERR_FORMAT, r->pos + j,
                                   "bool element %llu is %u, not 0 or 1", (ull)j, kv->raw[j]);
        }
        r->pos += n * esz;
        return TK_OK;
    }
    /* n + 1 offsets for n strings, grown as elements are read so that memory
     * follows the strings present, not the count claimed. */
    kv->str_first = g->n_str_off;
    for (uint64_t j = 0; j < n; j++) {
        st = grow((void **)&g->str_off, &g->cap_str_off, g->n_str_off + 2, sizeof *g->str_off);
        if (st) return st;
        uint64_t off, len, left = rd_left(r);
        const uint8_t *p = r->p + r->pos;
        if (left >= 8 && gguf_rd64(p) <= left - 8 && gguf_rd64(p) <= GGUF_MAX_STRING) {
            /* the common case, without formatting a field name per element */
            len = gguf_rd64(p);
            r->pos += 8 + len;
            st = arena_add(g, p + 8, len, &off);
        } else {
            char field[48];
            snprintf(field, sizeof field, "element %llu", (ull)j);
            st = rd_string(r, field, GGUF_MAX_STRING, false, &off, &len);
        }
        if (st) return st;
        g->str_off[g->n_str_off++] = off;
    }
    st = grow((void **)&g->str_off, &g->cap_str_off, g->n_str_off + 1, sizeof *g->str_off);
    if (st) return st;
    g->str_off[g->n_str_off++] = g->arena_len;
    return TK_OK;
}

static tk_status rd_kv(rd *r, int64_t i, gguf_kv *kv)
{
    memset(kv, 0, sizeof *kv);
    kv->pos = r->pos;
    rd_what(r, "kv", i, NULL, 0);
    tk_status st = rd_string(r, "key", GGUF_MAX_NAME, true, &kv->key_off, &kv->key_len);
    if (st) return st;
    rd_what(r, "kv", i, r->g->arena + kv->key_off, kv->key_len);
    uint64_t at = r->pos;
    uint32_t type;
    st = rd_u32(r, "value type", &type);
    if (st) return st;
    if (type >= TK_GGUF_TYPE_COUNT)
        return rd_fail(r, TK_ERR_FORMAT, at, "unknown value type %u", type);
    kv->type = (tk_gguf_type)type;
    if (type == TK_GGUF_STRING)
        return rd_string(r, "string value", GGUF_MAX_STRING, false, &kv->str_off, &kv->str_len);
    if (type == TK_GGUF_ARRAY) return rd_array(r, kv);
    at = r->pos;
    st = rd_bytes(r, gguf_type_size(kv->type), "value", &kv->raw);
    if (st) return st;
    if (type == TK_GGUF_BOOL && kv->raw[0] > 1)
        return rd_fail(r, TK_ERR_FORMAT, at, "bool value is %u, not 0 or 1", kv->raw[0]);
    return TK_OK;
}

/* ---- sorted names ------------------------------------------------------ */

static int cmp_name(const void *pa, const void *pb)
{
    const gguf_name *a = pa, *b = pb;
    int c = memcmp(a->s, b->s, (size_t)(a->n < b->n ? a->n : b->n));
    if (c) return c;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx; /* equal names: file order */
}

/* Points the entries at the current arena (it moves while the file is read). */
static void names_refresh(const tk_gguf *g, gguf_name *v, int64_t n, bool tensors)
{
    for (int64_t k = 0; k < n; k++)
        v[k].s = g->arena + (tensors ? g->tensors[v[k].idx].name_off : g->kv[v[k].idx].key_off);
}

/* Sorts the n names of kvs or tensors into *out; on a duplicate, *first and
 * *second are the two indices (first < second) and TK_ERR_FORMAT is
 * returned without a message. */
static tk_status names_sort(const tk_gguf *g, int64_t n, bool tensors, gguf_name **out,
                            int64_t *first, int64_t *second)
{
    gguf_name *v = core_calloc((size_t)(n ? n : 1), sizeof *v);
    if (!v) return core_error(TK_ERR_NOMEM, "GGUF: out of memory");
    *out = v;
    for (int64_t k = 0; k < n; k++) {
        v[k].idx = k;
        v[k].n = tensors ? g->tensors[k].name_len : g->kv[k].key_len;
    }
    names_refresh(g, v, n, tensors);
    qsort(v, (size_t)n, sizeof *v, cmp_name);
    for (int64_t k = 0; k + 1 < n; k++) {
        if (v[k].n == v[k + 1].n && memcmp(v[k].s, v[k + 1].s, (size_t)v[k].n) == 0) {
            *first = v[k].idx;
            *second = v[k + 1].idx;
            return TK_ERR_FORMAT;
        }
    }
    return TK_OK;
}

static int64_t names_find(const gguf_name *v, int64_t n, const char *s)
{
    if (!v || !s) return -1;
    gguf_name key = {s, strlen(s), -1};
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = memcmp(v[mid].s, key.s, (size_t)(v[mid].n < key.n ? v[mid].n : key.n));
        if (c == 0 && v[mid].n != key.n) c = v[mid].n < key.n ? -1 : 1;
        if (c == 0) return v[mid].idx;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- header and tensors ------------------------------------------------ */

static tk_status rd_header(rd *r, uint64_t *n_tensors, uint64_t *n_kv)
{
    tk_gguf *g = r->g;
    snprintf(r->what, sizeof r->what, "header");
    if (r->size < 8)
        return rd_fail(r, TK_ERR_FORMAT, 0, "file of %llu bytes is too short for a GGUF header",
                       (ull)r->size);
    uint32_t magic = gguf_rd32(r->p);
    if (magic != GGUF_MAGIC) {
        if (magic == 0x47475546u)
            return rd_fail(r, TK_ERR_UNSUPPORTED, 0,
                           "magic is \"FUGG\": a byte-swapped (big-endian) GGUF file; only "
                           "little-endian files are supported");
        char pm[8];
        printable_name(pm, sizeof pm, (const char *)r->p, 4);
        return rd_fail(r, TK_ERR_FORMAT, 0,
                       "not a GGUF file: magic 0x%08x (\"%s\"), expected \"GGUF\"", magic, pm);
    }
    r->pos = 4;
    uint32_t version;
    (void)rd_u32(r, "version", &version);
    if (version == 0 || version > GGUF_VERSION_MAX) {
        uint32_t swapped = __builtin_bswap32(version);
        if ((version & 0xffffu) == 0 && swapped >= 1 && swapped <= GGUF_VERSION_MAX)
            return rd_fail(r, TK_ERR_UNSUPPORTED, 4,
                           "version field 0x%08x is version %u byte-swapped: a big-endian GGUF "
                           "file; only little-endian files are supported",
                           version, swapped);
        return rd_fail(r, TK_ERR_UNSUPPORTED, 4,
                       "version %u is not supported (this reader reads versions %u to %u)", version,
                       GGUF_VERSION_MIN, GGUF_VERSION_MAX);
    }
    if (version < GGUF_VERSION_MIN)
        return rd_fail(r, TK_ERR_UNSUPPORTED, 4,
                       "version %u is an early GGUF format that is not supported (versions %u "
                       "to %u are); convert the file again with a current tool",
                       version, GGUF_VERSION_MIN, GGUF_VERSION_MAX);
    g->version = version;
    tk_status st = rd_u64(r, "tensor count", n_tensors);
    if (st) return st;
    st = rd_u64(r, "metadata count", n_kv);
    if (st) return st;
    uint64_t left = rd_left(r);
    if (*n_kv > left / GGUF_MIN_KV_BYTES)
        return rd_fail_short(r, 16,
                             "metadata count %llu cannot fit in the %llu bytes after the header",
                             (ull)*n_kv, (ull)left);
    if (*n_tensors > left / GGUF_MIN_TENSOR_BYTES)
        return rd_fail_short(r, 8,
                             "tensor count %llu cannot fit in the %llu bytes after the header",
                             (ull)*n_tensors, (ull)left);
    /* Both products are at most `left` now, so the sum cannot overflow. */
    if (*n_kv * GGUF_MIN_KV_BYTES + *n_tensors * GGUF_MIN_TENSOR_BYTES > left)
        return rd_fail_short(r, 8,
                             "%llu tensors and %llu metadata entries cannot fit in the %llu bytes "
                             "after the header",
                             (ull)*n_tensors, (ull)*n_kv, (ull)left);
    return TK_OK;
}

static tk_status rd_alignment(rd *r)
{
    tk_gguf *g = r->g;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = names_find(g->kv_sorted, g->n_kv, "general.alignment");
    if (i < 0) return TK_OK;
    const gguf_kv *kv = &g->kv[i];
    rd_what(r, "kv", i, "general.alignment", 17);
    if (kv->type != TK_GGUF_UINT32)
        return rd_fail(r, TK_ERR_FORMAT, kv->pos, "has type %s, expected u32",
                       tk_gguf_type_name(kv->type));
    uint32_t a = gguf_rd32(kv->raw);
    if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT)
        return rd_fail(r, TK_ERR_FORMAT, kv->pos,
                       "alignment %u is not a power of two between 1 and %u", a,
                       GGUF_MAX_ALIGNMENT);
    g->alignment = a;
    return TK_OK;
}

static tk_status rd_tensor_info(rd *r, int64_t i, gguf_tensor *t)
{
    memset(t, 0, sizeof *t);
    t->pos = r->pos;
    rd_what(r, "tensor", i, NULL, 0);
    tk_status st = rd_string(r, "name", GGUF_MAX_NAME, true, &t->name_off, &t->name_len);
    if (st) return st;
    rd_what(r, "tensor", i, r->g->arena + t->name_off, t->name_len);
    uint64_t at = r->pos;
    uint32_t n_dims;
    st = rd_u32(r, "n_dims", &n_dims);
    if (st) return st;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return rd_fail(r, TK_ERR_FORMAT, at, "n_dims %u is not between 1 and %d", n_dims,
                       GGUF_MAX_DIMS);
    t->pub.n_dims = (int)n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->pub.ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        at = r->pos;
        uint64_t ne;
        st = rd_u64(r, "dimension", &ne);
        if (st) return st;
        if (ne == 0) return rd_fail(r, TK_ERR_FORMAT, at, "dimension %u is 0", d);
        if (ne > (uint64_t)INT64_MAX)
            return rd_fail(r, TK_ERR_FORMAT, at, "dimension %u (%llu) is too large", d, (ull)ne);
        t->pub.ne[d] = (int64_t)ne;
    }
    at = r->pos;
    uint32_t type;
    st = rd_u32(r, "type", &type);
    if (st) return st;
    if ((type >= TK_TYPE_GGUF_END && !r->g->virt_size) || !tk_type_get((int)type))
        return rd_fail(r, TK_ERR_UNSUPPORTED, at, "tensor type %u is unknown or not supported",
                       type);
    t->pub.type = (int)type;
    return rd_u64(r, "data offset", &t->pub.offset); /* relative until rd_tensor_data */
}

typedef struct extent {
    uint64_t start, end;
    int64_t idx;
} extent;

static int cmp_extent(const void *pa, const void *pb)
{
    const extent *a = pa, *b = pb;
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Sizes, alignment and bounds of every tensor's data, then overlaps. */
static tk_status rd_tensor_data(rd *r)
{
    tk_gguf *g = r->g;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        rd_what(r, "tensor", i, g->arena + t->name_off, t->name_len);
        const tk_type_info *ti = tk_type_get(t->pub.type);
        uint64_t n = 1;
        for (int d = 0; d < t->pub.n_dims; d++) {
            if (!core_mul_u64(n, (uint64_t)t->pub.ne[d], &n) || n > (uint64_t)INT64_MAX)
                return rd_fail(r, TK_ERR_OVERFLOW, t->pos,
                               "shape [%lld, %lld, %lld, %lld] has more than 2^63 elements",
                               (long long)t->pub.ne[0], (long long)t->pub.ne[1],
                               (long long)t->pub.ne[2], (long long)t->pub.ne[3]);
        }
        if (t->pub.ne[0] % ti->block_size != 0)
            return rd_fail(r, TK_ERR_FORMAT, t->pos,
                           "row length %lld is not a multiple of the block size %d of %s",
                           (long long)t->pub.ne[0], ti->block_size, ti->name);
        uint64_t bytes;
        if (tk_type_size(t->pub.type, (int64_t)n, &bytes) != TK_OK)
            return rd_fail(r, TK_ERR_OVERFLOW, t->pos, "%llu elements of %s overflow a byte size",
                           (ull)n, ti->name);
        uint64_t rel = t->pub.offset, start, end;
        if (rel % g->alignment != 0)
            return rd_fail(r, TK_ERR_FORMAT, t->pos,
                           "data offset 0x%llx is not a multiple of the alignment %u", (ull)rel,
                           g->alignment);
        if (!core_add_u64(g->data_offset, rel, &start) || !core_add_u64(start, bytes, &end))
            return rd_fail(r, TK_ERR_FORMAT, t->pos,
                           "data offset 0x%llx + 0x%llx bytes runs past the end of the file "
                           "(0x%llx) and of 64-bit offsets",
                           (ull)rel, (ull)bytes, (ull)r->size);
        const uint64_t limit = g->virt_size ? g->virt_size : r->size;
        if (end > limit)
            return rd_fail_short(r, t->pos,
                                 "data [0x%llx, 0x%llx) runs past the end of the file (0x%llx)",
                                 (ull)start, (ull)end, (ull)limit);
        t->pub.offset = start;
        t->pub.size = bytes;
        t->pub.data = g->virt_data ? g->virt_data[i] : r->p + start;
    }
    if (g->n_tensors < 2) return TK_OK;
    extent *ex = core_calloc((size_t)g->n_tensors, sizeof *ex);
    if (!ex) return core_error(TK_ERR_NOMEM, "GGUF: out of memory");
    for (int64_t i = 0; i < g->n_tensors; i++)
        ex[i] = (extent){g->tensors[i].pub.offset,
                         g->tensors[i].pub.offset + g->tensors[i].pub.size, i};
    qsort(ex, (size_t)g->n_tensors, sizeof *ex, cmp_extent);
    tk_status st = TK_OK;
    for (int64_t k = 0; k + 1 < g->n_tensors; k++) {
        if (ex[k].end > ex[k + 1].start) {
            const gguf_tensor *a = &g->tensors[ex[k + 1].idx], *b = &g->tensors[ex[k].idx];
            char other[96];
            printable_name(other, sizeof other, g->arena + b->name_off, b->name_len);
            rd_what(r, "tensor", ex[k + 1].idx, g->arena + a->name_off, a->name_len);
            st = rd_fail(r, TK_ERR_FORMAT, a->pos,
                         "data [0x%llx, 0x%llx) overlaps tensor %lld '%s' at [0x%llx, 0x%llx)",
                         (ull)ex[k + 1].start, (ull)ex[k + 1].end, (long long)ex[k].idx, other,
                         (ull)ex[k].start, (ull)ex[k].end);
            break;
        }
    }
    free(ex);
    return st;
}

static tk_status parse(tk_gguf *g)
{
    rd r = {.g = g, .p = g->map.data, .size = g->map.size, .pos = 0};
    uint64_t n_tensors, n_kv;
    tk_status st = rd_header(&r, &n_tensors, &n_kv);
    if (st) return st;

    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        /* Grown as entries are read, so memory follows the bytes present. */
        st = grow((void **)&g->kv, &cap, i + 1, sizeof *g->kv);
        if (st) return st;
        st = rd_kv(&r, (int64_t)i, &g->kv[i]);
        if (st) return st;
        g->n_kv = (int64_t)i + 1;
    }
    int64_t a = 0, b = 0;
    st = names_sort(g, g->n_kv, false, &g->kv_sorted, &a, &b);
    if (st == TK_ERR_FORMAT) {
        rd_what(&r, "kv", b, g->arena + g->kv[b].key_off, g->kv[b].key_len);
        return rd_fail(&r, TK_ERR_FORMAT, g->kv[b].pos, "duplicate key (first defined by kv %lld)",
                       (long long)a);
    }
    if (st) return st;
    st = rd_alignment(&r);
    if (st) return st;

    cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        st = grow((void **)&g->tensors, &cap, i + 1, sizeof *g->tensors);
        if (st) return st;
        st = rd_tensor_info(&r, (int64_t)i, &g->tensors[i]);
        if (st) return st;
        g->n_tensors = (int64_t)i + 1;
    }
    st = names_sort(g, g->n_tensors, true, &g->tensor_sorted, &a, &b);
    if (st == TK_ERR_FORMAT) {
        const gguf_tensor *t = &g->tensors[b];
        rd_what(&r, "tensor", b, g->arena + t->name_off, t->name_len);
        return rd_fail(&r, TK_ERR_FORMAT, t->pos,
                       "duplicate tensor name (first used by tensor %lld)", (long long)a);
    }
    if (st) return st;

    /* The data section starts at the next multiple of the alignment. */
    uint64_t rem = r.pos % g->alignment;
    g->data_offset = r.pos + (rem ? g->alignment - rem : 0);
    st = rd_tensor_data(&r);
    if (st) return st;

    /* The arena no longer moves: hand out real pointers. */
    for (int64_t i = 0; i < g->n_tensors; i++)
        g->tensors[i].pub.name = g->arena + g->tensors[i].name_off;
    names_refresh(g, g->kv_sorted, g->n_kv, false);
    names_refresh(g, g->tensor_sorted, g->n_tensors, true);
    return TK_OK;
}

static tk_status open_map(gguf_map map, tk_gguf **out)
{
    tk_gguf *g = core_calloc(1, sizeof *g);
    if (!g) {
        gguf_unmap(&map);
        return core_error(TK_ERR_NOMEM, "GGUF: out of memory");
    }
    g->map = map;
    tk_status st = parse(g);
    if (st) {
        tk_gguf_close(g);
        return st;
    }
    *out = g;
    return TK_OK;
}

tk_status tk_gguf_open(const char *path, tk_gguf **out)
{
    if (!out) return core_error(TK_ERR_INVALID_ARG, "tk_gguf_open: out is NULL");
    *out = NULL;
    if (!path) return core_error(TK_ERR_INVALID_ARG, "tk_gguf_open: path is NULL");
    gguf_map map;
    tk_status st = gguf_map_file(path, &map);
    if (st) return st;
    st = open_map(map, out);
    if (st) core_error_prefix("%s", path);
    return st;
}

tk_status tk_gguf_open_memory(const void *data, size_t size, tk_gguf **out)
{
    if (!out) return core_error(TK_ERR_INVALID_ARG, "tk_gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size) return core_error(TK_ERR_INVALID_ARG, "tk_gguf_open_memory: data is NULL");
    gguf_map map = {.data = data, .size = size, .handle = NULL};
    return open_map(map, out);
}

tk_status gguf_open_virtual(tk_gguf_writer *w, void *owner, void (*release)(void *owner),
                            tk_gguf **out)
{
    *out = NULL;
    uint8_t *header = NULL;
    size_t header_len = 0;
    uint64_t total = 0;
    const void **data = NULL;
    tk_status st = gguf_writer_image(w, &header, &header_len, &total, &data);
    tk_gguf *g = st ? NULL : core_calloc(1, sizeof *g);
    if (!g) {
        free(header);
        free(data);
        if (release) release(owner);
        return st ? st : core_error(TK_ERR_NOMEM, "GGUF: out of memory");
    }
    g->map = (gguf_map){.data = header, .size = header_len, .handle = NULL};
    g->virt_header = header;
    g->virt_size = total;
    g->virt_data = data;
    g->owner = owner;
    g->release = release;
    st = parse(g);
    if (st) {
        tk_gguf_close(g);
        return st;
    }
    *out = g;
    return TK_OK;
}

void tk_gguf_close(tk_gguf *g)
{
    if (!g) return;
    if (g->release) g->release(g->owner);
    free(g->virt_header);
    free(g->virt_data);
    gguf_unmap(&g->map);
    free(g->kv);
    free(g->tensors);
    free(g->arena);
    free(g->str_off);
    free(g->kv_sorted);
    free(g->tensor_sorted);
    free(g);
}

uint32_t tk_gguf_version(const tk_gguf *g)
{
    return g ? g->version : 0;
}

uint64_t tk_gguf_file_size(const tk_gguf *g)
{
    if (g && g->virt_size) return g->virt_size;
    return g ? g->map.size : 0;
}

uint32_t tk_gguf_alignment(const tk_gguf *g)
{
    return g ? g->alignment : 0;
}

uint64_t tk_gguf_data_offset(const tk_gguf *g)
{
    return g ? g->data_offset : 0;
}

/* ---- metadata accessors ------------------------------------------------ */

static const gguf_kv *kv_at(const tk_gguf *g, int64_t i)
{
    if (!g || i < 0 || i >= g->n_kv) return NULL;
    return &g->kv[i];
}

int64_t tk_gguf_n_kv(const tk_gguf *g)
{
    return g ? g->n_kv : 0;
}

int64_t tk_gguf_find_kv(const tk_gguf *g, const char *key)
{
    if (!g) return -1;
    return names_find(g->kv_sorted, g->n_kv, key);
}

const char *tk_gguf_kv_key(const tk_gguf *g, int64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    return kv ? g->arena + kv->key_off : NULL;
}

tk_gguf_type tk_gguf_kv_type(const tk_gguf *g, int64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->type : TK_GGUF_TYPE_COUNT;
}

tk_gguf_type tk_gguf_kv_arr_type(const tk_gguf *g, int64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type == TK_GGUF_ARRAY ? kv->arr_type : TK_GGUF_TYPE_COUNT;
}

uint64_t tk_gguf_kv_arr_len(const tk_gguf *g, int64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type == TK_GGUF_ARRAY ? kv->arr_len : 0;
}

/* Integer value of type t at p: *neg tells whether it is negative, *mag is
 * its magnitude (two's complement aside). False for non-integer types. */
static bool load_int(tk_gguf_type t, const uint8_t *p, bool *neg, uint64_t *mag)
{
    int64_t s;
    switch (t) {
    case TK_GGUF_UINT8:
        *neg = false;
        *mag = p[0];
        return true;
    case TK_GGUF_UINT16:
        *neg = false;
        *mag = gguf_rd16(p);
        return true;
    case TK_GGUF_UINT32:
        *neg = false;
        *mag = gguf_rd32(p);
        return true;
    case TK_GGUF_UINT64:
        *neg = false;
        *mag = gguf_rd64(p);
        return true;
    case TK_GGUF_INT8:
        s = (int8_t)p[0];
        break;
    case TK_GGUF_INT16:
        s = (int16_t)gguf_rd16(p);
        break;
    case TK_GGUF_INT32:
        s = (int32_t)gguf_rd32(p);
        break;
    case TK_GGUF_INT64:
        s = (int64_t)gguf_rd64(p);
        break;
    default:
        return false;
    }
    *neg = s < 0;
    *mag = s < 0 ? 0 - (uint64_t)s : (uint64_t)s;
    return true;
}

static bool to_int64(bool neg, uint64_t mag, int64_t *out)
{
    if (!neg) {
        if (mag > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)mag;
        return true;
    }
    if (mag > (uint64_t)INT64_MAX + 1) return false;
    *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    return true;
}

static bool load_float(tk_gguf_type t, const uint8_t *p, double *out)
{
    if (t == TK_GGUF_FLOAT32) {
        uint32_t u = gguf_rd32(p);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return true;
    }
    if (t == TK_GGUF_FLOAT64) {
        uint64_t u = gguf_rd64(p);
        memcpy(out, &u, 8);
        return true;
    }
    return false;
}

bool tk_gguf_kv_int(const tk_gguf *g, int64_t i, int64_t *out)
{
    const gguf_kv *kv = kv_at(g, i);
    bool neg;
    uint64_t mag;
    if (!kv || !out || !load_int(kv->type, kv->raw, &neg, &mag)) return false;
    return to_int64(neg, mag, out);
}

bool tk_gguf_kv_uint(const tk_gguf *g, int64_t i, uint64_t *out)
{
    const gguf_kv *kv = kv_at(g, i);
    bool neg;
    uint64_t mag;
    if (!kv || !out || !load_int(kv->type, kv->raw, &neg, &mag) || (neg && mag)) return false;
    *out = mag;
    return true;
}

bool tk_gguf_kv_float(const tk_gguf *g, int64_t i, double *out)
{
    const gguf_kv *kv = kv_at(g, i);
    return kv && out && load_float(kv->type, kv->raw, out);
}

bool tk_gguf_kv_bool(const tk_gguf *g, int64_t i, bool *out)
{
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || !out || kv->type != TK_GGUF_BOOL) return false;
    *out = kv->raw[0] != 0;
    return true;
}

bool tk_gguf_kv_str(const tk_gguf *g, int64_t i, const char **s, uint64_t *len)
{
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != TK_GGUF_STRING) return false;
    if (s) *s = g->arena + kv->str_off;
    if (len) *len = kv->str_len;
    return true;
}

/* Element j of a numeric array kv, or NULL. */
static const uint8_t *arr_elem(const tk_gguf *g, int64_t i, uint64_t j, tk_gguf_type *t)
{
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != TK_GGUF_ARRAY || kv->arr_type == TK_GGUF_STRING || j >= kv->arr_len)
        return NULL;
    *t = kv->arr_type;
    return kv->raw + j * gguf_type_size(kv->arr_type);
}

bool tk_gguf_arr_int(const tk_gguf *g, int64_t i, uint64_t j, int64_t *out)
{
    tk_gguf_type t;
    const uint8_t *p = arr_elem(g, i, j, &t);
    bool neg;
    uint64_t mag;
    if (!p || !out || !load_int(t, p, &neg, &mag)) return false;
    return to_int64(neg, mag, out);
}

bool tk_gguf_arr_uint(const tk_gguf *g, int64_t i, uint64_t j, uint64_t *out)
{
    tk_gguf_type t;
    const uint8_t *p = arr_elem(g, i, j, &t);
    bool neg;
    uint64_t mag;
    if (!p || !out || !load_int(t, p, &neg, &mag) || (neg && mag)) return false;
    *out = mag;
    return true;
}

bool tk_gguf_arr_bool(const tk_gguf *g, int64_t i, uint64_t j, bool *out)
{
    tk_gguf_type t;
    const uint8_t *p = arr_elem(g, i, j, &t);
    if (!p || !out || t != TK_GGUF_BOOL) return false;
    *out = p[0] != 0;
    return true;
}

bool tk_gguf_arr_float(const tk_gguf *g, int64_t i, uint64_t j, double *out)
{
    tk_gguf_type t;
    const uint8_t *p = arr_elem(g, i, j, &t);
    return p && out && load_float(t, p, out);
}

bool tk_gguf_arr_str(const tk_gguf *g, int64_t i, uint64_t j, const char **s, uint64_t *len)
{
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != TK_GGUF_ARRAY || kv->arr_type != TK_GGUF_STRING || j >= kv->arr_len)
        return false;
    uint64_t a = g->str_off[kv->str_first + j], b = g->str_off[kv->str_first + j + 1];
    if (s) *s = g->arena + a;
    if (len) *len = b - a - 1;
    return true;
}

const void *tk_gguf_arr_data(const tk_gguf *g, int64_t i)
{
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != TK_GGUF_ARRAY || kv->arr_type == TK_GGUF_STRING) return NULL;
    return kv->raw;
}

/* ---- typed lookups ----------------------------------------------------- */

static tk_status lookup(const tk_gguf *g, const char *key, int64_t *i)
{
    *i = -1;
    if (!g || !key) return core_error(TK_ERR_INVALID_ARG, "GGUF lookup: NULL argument");
    *i = tk_gguf_find_kv(g, key);
    if (*i < 0) return core_error(TK_ERR_NOT_FOUND, "key '%s' not found", key);
    return TK_OK;
}

static tk_status wrong_type(const tk_gguf *g, int64_t i, const char *key, const char *expected)
{
    return core_error(TK_ERR_FORMAT, "key '%s' has type %s, expected %s", key,
                      tk_gguf_type_name(g->kv[i].type), expected);
}

tk_status tk_gguf_get_u32(const tk_gguf *g, const char *key, uint32_t *out)
{
    int64_t i;
    tk_status st = lookup(g, key, &i);
    if (st) return st;
    bool neg;
    uint64_t mag;
    if (!load_int(g->kv[i].type, g->kv[i].raw, &neg, &mag))
        return wrong_type(g, i, key, "an integer");
    if ((neg && mag) || mag > UINT32_MAX)
        return core_error(TK_ERR_FORMAT, "key '%s': value %s%llu is out of range for u32", key,
                          neg ? "-" : "", (ull)mag);
    if (out) *out = (uint32_t)mag;
    return TK_OK;
}

tk_status tk_gguf_get_f32(const tk_gguf *g, const char *key, float *out)
{
    int64_t i;
    tk_status st = lookup(g, key, &i);
    if (st) return st;
    double d;
    if (!load_float(g->kv[i].type, g->kv[i].raw, &d)) return wrong_type(g, i, key, "f32");
    if (out) *out = (float)d;
    return TK_OK;
}

tk_status tk_gguf_get_bool(const tk_gguf *g, const char *key, bool *out)
{
    int64_t i;
    tk_status st = lookup(g, key, &i);
    if (st) return st;
    if (g->kv[i].type != TK_GGUF_BOOL) return wrong_type(g, i, key, "bool");
    if (out) *out = g->kv[i].raw[0] != 0;
    return TK_OK;
}

tk_status tk_gguf_get_str(const tk_gguf *g, const char *key, const char **out)
{
    int64_t i;
    tk_status st = lookup(g, key, &i);
    if (st) return st;
    if (g->kv[i].type != TK_GGUF_STRING) return wrong_type(g, i, key, "string");
    if (out) *out = g->arena + g->kv[i].str_off;
    return TK_OK;
}

/* ---- tensors ----------------------------------------------------------- */

int64_t tk_gguf_n_tensors(const tk_gguf *g)
{
    return g ? g->n_tensors : 0;
}

const tk_gguf_tensor *tk_gguf_tensor_at(const tk_gguf *g, int64_t i)
{
    if (!g || i < 0 || i >= g->n_tensors) return NULL;
    return &g->tensors[i].pub;
}

const tk_gguf_tensor *tk_gguf_find_tensor(const tk_gguf *g, const char *name)
{
    if (!g) return NULL;
    int64_t i = names_find(g->tensor_sorted, g->n_tensors, name);
    return i < 0 ? NULL : &g->tensors[i].pub;
}
