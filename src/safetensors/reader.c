/* The safetensors reader: one file at a time, checked in three passes over
 * its header before anything of it is trusted.
 *
 *   1. Bytes: the length field, the bounds of the header, UTF-8, and a scan
 *      of the JSON tokens. The scan refuses what cJSON would let through
 *      (control bytes taken as white space, "\u0000" cutting a name short,
 *      numbers that are not plain integers: cJSON reads 1e2 as 100 and
 *      2^53+1 as 2^53), caps nesting and the values per entry, checks the
 *      grammar of the root object itself and notes the span of each
 *      member's name and value.
 *   2. cJSON parses those spans one member at a time (from a NUL-terminated
 *      copy, so it never reads past the mapping): its tree, some 30 times
 *      the size of its text, never holds more than one entry.
 *   3. Each entry's fields and values; then unique names and extents that do
 *      not overlap.
 * Names and metadata strings are copied into one block per file. Sets of
 * files and the index file are in set.c. */
#include "safetensors/internal.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long long ull;

/* ---- dtypes ------------------------------------------------------------ */

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},           [ST_I8] = {"I8", 1},
    [ST_U16] = {"U16", 2},   [ST_I16] = {"I16", 2},         [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_U32] = {"U32", 4},         [ST_I32] = {"I32", 4},
    [ST_F32] = {"F32", 4},   [ST_U64] = {"U64", 8},         [ST_I64] = {"I64", 8},
    [ST_F64] = {"F64", 8},   [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *st_dtype_name(st_dtype t)
{
    return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].name : "?";
}

size_t st_dtype_size(st_dtype t)
{
    return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].size : 0;
}

static bool dtype_parse(const char *s, st_dtype *out)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (st_dtype)i;
            return true;
        }
    }
    return false;
}

/* ---- UTF-8 ------------------------------------------------------------- */

bool st_utf8_valid(const uint8_t *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0; /* no overlong forms */
            if (c == 0xed) hi = 0x9f; /* no surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90; /* no overlong forms */
            if (c == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
        } else {
            *bad = i;
            return false;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) {
            *bad = i;
            return false;
        }
        for (size_t k = 2; k < len; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xbf) {
                *bad = i;
                return false;
            }
        }
        i += len;
    }
    return true;
}

/* ---- messages ---------------------------------------------------------- */

/* Copies n bytes of a name into dst for a message: control bytes become '?',
 * long names are cut with "...". */
void st_printable(char *dst, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    size_t limit = n > 80 ? 77 : n;
    for (size_t i = 0; i < limit && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n > limit)
        for (int d = 0; d < 3 && k + 1 < cap; d++) dst[k++] = '.';
    dst[k] = '\0';
}

typedef struct parse {
    st_set *set;
    st_file *file;
    const uint8_t *p; /* the whole file */
    uint64_t size;
    uint64_t n_header;    /* N: header bytes at p + 8 */
    uint64_t data_size;   /* bytes after the header */
    char what[192];       /* the item being checked: "tensor 'x'", "header" */
    uint64_t strings_len; /* bytes used of file->strings (n_header + 1 allocated) */
    /* Pass 1: the top-level members, in order. */
    struct member *mem;
    int64_t n_mem, cap_mem;
} parse;

/* A top-level member of the header: the spans of its key (with the quotes)
 * and of its value, as offsets into the header. */
typedef struct member {
    uint64_t key_at, key_end, val_at, val_end;
} member;

/* Records "<file>: <what>: <problem> (offset 0x..)" and returns `st`; no
 * offset when `at` is UINT64_MAX. */
static tk_status fail(const parse *c, tk_status st, uint64_t at, const char *fmt, ...)
    TK_PRINTF(4, 5);
static tk_status fail(const parse *c, tk_status st, uint64_t at, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at == UINT64_MAX) return core_error(st, "%s: %s: %s", c->file->path, c->what, msg);
    return core_error(st, "%s: %s: %s (offset 0x%llx)", c->file->path, c->what, msg, (ull)at);
}

static void what_set(parse *c, const char *item, const char *name, size_t n)
{
    if (!name) {
        snprintf(c->what, sizeof c->what, "%s", item);
        return;
    }
    char pn[96];
    st_printable(pn, sizeof pn, name, n);
    snprintf(c->what, sizeof c->what, "%s '%s'", item, pn);
}

/* ---- pass 1: the bytes of the header ----------------------------------- */

#define META_KEY "__metadata__"
/* Values a tensor entry may hold before the scan stops it: twice what a
 * valid one has (its object, dtype, the shape array and its dimensions, the
 * offsets array and its two numbers), so that a few too many are left for
 * the tree walk to name ("shape has 9 dimensions"). */
#define TENSOR_MAX_VALUES (2 * (1 + 1 + 1 + ST_MAX_DIMS + 1 + 2))
#define HEADER_MAX_DEPTH  3 /* root object, entry object, array */
#define SCAN_MAX_DEPTH    16

/* Where the scan is in the root object of a header. */
enum { TOP_KEY_OR_END, TOP_KEY, TOP_COLON, TOP_VALUE, TOP_COMMA_OR_END };

/* The token scanner. In header mode (c != NULL) it also checks numbers,
 * caps the values of each entry, checks the grammar of the root object and
 * records the span of each member's key and value, which cJSON then parses
 * one at a time. */
typedef struct scan {
    parse *c;         /* header mode; NULL for other documents */
    const char *path; /* for messages */
    const uint8_t *h;
    uint64_t n, base; /* bytes, and the file offset of h[0] */
    int max_depth;
    int64_t max_values, values;
    int depth;
    bool is_obj[SCAN_MAX_DEPTH + 1];
    bool expect_key;
    /* header mode: raw (still escaped) spans of the current entry's key and
     * field, for messages */
    bool have_key, have_field, in_meta, seen_meta;
    uint64_t key_at, key_len, field_at, field_len;
    int64_t entry_values;
    int top; /* TOP_*: header mode, at depth 1 */
} scan;

static tk_status scan_fail(scan *s, tk_status st, uint64_t at, const char *fmt, ...)
    TK_PRINTF(4, 5);
static tk_status scan_fail(scan *s, tk_status st, uint64_t at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!s->c) return core_error(st, "%s: %s (offset 0x%llx)", s->path, msg, (ull)at);
    parse *c = s->c;
    if (!s->have_key) {
        what_set(c, "header", NULL, 0);
    } else {
        const char *k = (const char *)s->h + s->key_at;
        what_set(c, s->in_meta ? "metadata" : "tensor", s->in_meta ? NULL : k, s->key_len);
        if (s->have_field) {
            char pf[96];
            size_t used = strlen(c->what);
            st_printable(pf, sizeof pf, (const char *)s->h + s->field_at, s->field_len);
            snprintf(c->what + used, sizeof c->what - used, " %s '%s'",
                     s->in_meta ? "key" : "field", pf);
        }
    }
    return fail(c, st, at, "%s", msg);
}

/* Counts a value that starts at h[i]. */
static tk_status scan_value(scan *s, uint64_t i)
{
    if (++s->values > s->max_values)
        return scan_fail(s, TK_ERR_LIMIT, s->base + i, "more than %lld JSON values",
                         (long long)s->max_values);
    if (!s->c || s->depth == 0) return TK_OK;
    s->entry_values++;
    if (s->in_meta && s->entry_values > 1 + ST_MAX_METADATA)
        return scan_fail(s, TK_ERR_LIMIT, s->base + i, "more than %d entries", ST_MAX_METADATA);
    if (!s->in_meta && s->entry_values > TENSOR_MAX_VALUES)
        return scan_fail(s, TK_ERR_FORMAT, s->base + i,
                         "more values than a tensor entry can have (dtype, a shape of up to %d "
                         "dimensions and two data offsets)",
                         ST_MAX_DIMS);
    return TK_OK;
}

/* A string from the '"' at h[i]; *j is its closing quote. */
static tk_status scan_string(scan *s, uint64_t i, uint64_t *j)
{
    const uint8_t *h = s->h;
    uint64_t k = i + 1;
    for (;;) {
        if (k >= s->n)
            return scan_fail(s, TK_ERR_FORMAT, s->base + i, "string is not closed before the end");
        uint8_t b = h[k];
        if (b == '"') break;
        if (b < 0x20)
            return scan_fail(s, TK_ERR_FORMAT, s->base + k, "control byte 0x%02x in a string", b);
        if (b != '\\') {
            k++;
            continue;
        }
        if (k + 1 >= s->n)
            return scan_fail(s, TK_ERR_FORMAT, s->base + i, "string is not closed before the end");
        if (h[k + 1] == 'u' && k + 5 < s->n && memcmp(h + k + 2, "0000", 4) == 0)
            return scan_fail(s, TK_ERR_FORMAT, s->base + k,
                             "escaped NUL (\\u0000) in a string: names and values are C strings");
        k += 2; /* the rest of an escape is ASCII that cJSON checks */
    }
    *j = k;
    return TK_OK;
}

/* A number from h[i]: in a header, shapes and offsets are the only numbers,
 * so each must be a plain non-negative integer that a double holds exactly
 * (cJSON would read 1e2 as 100 and 2^53+1 as 2^53). */
static tk_status scan_number(scan *s, uint64_t i, uint64_t *j)
{
    uint64_t k = i;
    while (k < s->n && strchr("0123456789+-.eE", s->h[k]) && s->h[k]) k++;
    *j = k;
    if (!s->c) return TK_OK;
    const uint8_t *t = s->h + i;
    uint64_t len = k - i, v = 0;
    bool ok = len >= 1 && len <= 16 && (len == 1 || t[0] != '0');
    for (uint64_t d = 0; ok && d < len; d++) {
        ok = t[d] >= '0' && t[d] <= '9';
        v = v * 10 + (uint64_t)(t[d] - '0');
    }
    if (ok && v <= ST_MAX_INT) return TK_OK;
    char pt[48];
    st_printable(pt, sizeof pt, (const char *)t, len > 40 ? 40 : (size_t)len);
    return scan_fail(s, TK_ERR_FORMAT, s->base + i,
                     "number %s%s is not an integer in 0..2^53 written with digits only", pt,
                     len > 40 ? "..." : "");
}

/* Header mode, depth 1: checks that the token starting with byte b at h[i]
 * may come next in the root object, and notes where a value starts. */
static tk_status top_token(scan *s, uint8_t b, uint64_t i)
{
    parse *c = s->c;
    bool value = b == '"' || b == '{' || b == '[' || b == '-' || (b >= '0' && b <= '9') ||
                 (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
    const char *want = NULL;
    switch (s->top) {
    case TOP_KEY_OR_END:
        if (b != '"' && b != '}') want = "a name or '}'";
        break;
    case TOP_KEY:
        if (b != '"') want = "a name after ','";
        break;
    case TOP_COLON:
        if (b != ':') want = "':' after the name";
        break;
    case TOP_VALUE:
        if (!value)
            want = "a value after ':'";
        else
            c->mem[c->n_mem - 1].val_at = i;
        break;
    default:
        if (b != ',' && b != '}') want = "',' or '}' after the value";
        break;
    }
    if (want)
        return scan_fail(s, TK_ERR_FORMAT, s->base + i, "the header is not valid JSON: expected %s",
                         want);
    if (b == ':') s->top = TOP_VALUE;
    if (b == ',') s->top = TOP_KEY;
    return TK_OK;
}

/* Header mode: a value of the root object ended just before h[i]. */
static void top_value_end(scan *s, uint64_t i)
{
    s->c->mem[s->c->n_mem - 1].val_end = i;
    s->top = TOP_COMMA_OR_END;
}

/* Scans h[0..n) from its first '{' to the matching '}' (or the end, for
 * cJSON to report); *end is the offset just past the '}'. */
static tk_status scan_run(scan *s, uint64_t *end)
{
    const uint8_t *h = s->h;
    uint64_t i = 0;
    tk_status st;
    *end = s->n;
    while (i < s->n) {
        uint8_t b = h[i];
        uint64_t j = 0;
        bool top = s->c && s->depth == 1 && b > ' '; /* not white space or control */
        if (top && (st = top_token(s, b, i))) return st;
        switch (b) {
        case ' ':
        case '\t':
        case '\n':
        case '\r':
        case ':':
            i++;
            break;
        case '"': {
            bool is_key = s->depth >= 1 && s->is_obj[s->depth] && s->expect_key;
            if (top) is_key = s->top == TOP_KEY_OR_END || s->top == TOP_KEY;
            /* a key names the entry (depth 1) or field (depth 2) once it is whole */
            if (is_key && s->depth == 1) s->have_key = false;
            if (is_key && s->depth <= 2) s->have_field = false;
            if (!is_key && (st = scan_value(s, i))) return st;
            if ((st = scan_string(s, i, &j))) return st;
            if (is_key && s->c && s->depth == 1) {
                parse *c = s->c;
                s->have_key = true;
                s->key_at = i + 1;
                s->key_len = j - i - 1;
                s->in_meta = s->key_len == strlen(META_KEY) &&
                             memcmp(h + s->key_at, META_KEY, strlen(META_KEY)) == 0;
                s->entry_values = 0;
                /* one metadata object: its entry cap must not multiply */
                if (s->in_meta && s->seen_meta)
                    return scan_fail(s, TK_ERR_FORMAT, s->base + i,
                                     "\"" META_KEY "\" appears twice");
                s->seen_meta |= s->in_meta;
                if (c->n_mem == ST_MAX_TENSORS + 1)
                    return scan_fail(s, TK_ERR_LIMIT, s->base + i, "more than %d tensors",
                                     ST_MAX_TENSORS);
                if (c->n_mem == c->cap_mem) {
                    int64_t cap = c->cap_mem ? c->cap_mem * 2 : 64;
                    member *nm = realloc(c->mem, (size_t)cap * sizeof *nm);
                    if (!nm) return core_error(TK_ERR_NOMEM, "safetensors: out of memory");
                    c->mem = nm;
                    c->cap_mem = cap;
                }
                member m = {i, j + 1, 0, 0};
                c->mem[c->n_mem++] = m;
                s->top = TOP_COLON;
            }
            if (is_key && s->c && s->depth == 2) {
                s->have_field = true;
                s->field_at = i + 1;
                s->field_len = j - i - 1;
            }
            if (is_key) s->expect_key = false;
            i = j + 1;
            if (top && !is_key) top_value_end(s, i);
            break;
        }
        case '{':
        case '[':
            if ((st = scan_value(s, i))) return st;
            if (s->depth == s->max_depth)
                return scan_fail(s, TK_ERR_FORMAT, s->base + i, "nesting deeper than %d levels",
                                 s->max_depth);
            s->depth++;
            s->is_obj[s->depth] = b == '{';
            s->expect_key = b == '{';
            if (s->depth == 2) s->have_field = false;
            i++;
            break;
        case '}':
        case ']':
            i++;
            if (s->depth == 0) return TK_OK; /* unbalanced: cJSON says where */
            s->depth--;
            s->expect_key = false;
            if (s->depth == 0) {
                *end = i;
                return TK_OK;
            }
            if (s->c && s->depth == 1) top_value_end(s, i);
            break;
        case ',':
            if (s->depth >= 1 && s->is_obj[s->depth]) s->expect_key = true;
            if (s->depth == 1) s->have_key = false;
            if (s->depth == 2) s->have_field = false;
            i++;
            break;
        default:
            if (b < 0x20)
                return scan_fail(s, TK_ERR_FORMAT, s->base + i,
                                 "control byte 0x%02x outside a string", b);
            if (b == '-' || (b >= '0' && b <= '9')) {
                if ((st = scan_value(s, i)) || (st = scan_number(s, i, &j))) return st;
                i = j;
                if (top) top_value_end(s, i);
            } else if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')) {
                if ((st = scan_value(s, i))) return st;
                while (i < s->n && ((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z')))
                    i++;
                if (top) top_value_end(s, i);
            } else {
                i++; /* not JSON: cJSON reports it */
            }
            break;
        }
    }
    if (s->c)
        return scan_fail(s, TK_ERR_FORMAT, s->base + s->n,
                         "the header is not valid JSON: it ends inside the object");
    return TK_OK;
}

tk_status st_json_precheck(const char *path, const uint8_t *p, uint64_t n, int max_depth,
                           int64_t max_values)
{
    size_t bad;
    if (!st_utf8_valid(p, (size_t)n, &bad))
        return core_error(TK_ERR_FORMAT, "%s: not valid UTF-8 (offset 0x%llx)", path, (ull)bad);
    scan s = {0};
    s.path = path;
    s.h = p;
    s.n = n;
    s.max_depth = max_depth < SCAN_MAX_DEPTH ? max_depth : SCAN_MAX_DEPTH;
    s.max_values = max_values;
    uint64_t end;
    return scan_run(&s, &end);
}

/* ---- pass 3: the entries ----------------------------------------------- */

static const char *json_kind(const cJSON *x)
{
    if (cJSON_IsNumber(x)) return "number";
    if (cJSON_IsString(x)) return "string";
    if (cJSON_IsArray(x)) return "array";
    if (cJSON_IsObject(x)) return "object";
    if (cJSON_IsBool(x)) return "boolean";
    return "null";
}

/* A shape value or offset: an integer in 0..2^53 (pass 1 made sure the text
 * was one; this keeps the tree walk honest on its own). */
static bool json_uint(const cJSON *x, uint64_t *v)
{
    if (!cJSON_IsNumber(x)) return false;
    double d = x->valuedouble;
    if (!(d >= 0 && d <= (double)ST_MAX_INT)) return false;
    *v = (uint64_t)d;
    return (double)*v == d;
}

static void shape_str(char *dst, size_t cap, const st_tensor *t)
{
    size_t k = (size_t)snprintf(dst, cap, "[");
    for (int d = 0; d < t->n_dims && k < cap; d++)
        k += (size_t)snprintf(dst + k, cap - k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (k < cap) snprintf(dst + k, cap - k, "]");
}

static tk_status add_tensor(parse *c, const st_tensor *t, uint64_t at)
{
    st_set *s = c->set;
    if (s->n_t == ST_MAX_TENSORS)
        return fail(c, TK_ERR_LIMIT, at, "more than %d tensors in the model", ST_MAX_TENSORS);
    if (s->n_t == s->cap_t) {
        int64_t cap = s->cap_t ? s->cap_t * 2 : 64;
        st_tensor *nt = realloc(s->t, (size_t)cap * sizeof *nt);
        if (nt) s->t = nt;
        uint64_t *no = realloc(s->hdr_off, (size_t)cap * sizeof *no);
        if (no) s->hdr_off = no;
        if (!nt || !no) return core_error(TK_ERR_NOMEM, "safetensors: out of memory");
        s->cap_t = cap;
    }
    s->t[s->n_t] = *t;
    s->hdr_off[s->n_t] = at;
    s->n_t++;
    return TK_OK;
}

/* The entry `e` of the tensor `name` (already in the file's string block). */
static tk_status walk_tensor(parse *c, const char *name, const cJSON *e, uint64_t at)
{
    size_t len = strlen(name);
    what_set(c, "tensor", name, len);
    if (len == 0) return fail(c, TK_ERR_FORMAT, at, "the name is empty");
    if (len > ST_MAX_NAME)
        return fail(c, TK_ERR_LIMIT, at, "name of %zu bytes is over the limit of %u", len,
                    ST_MAX_NAME);
    if (!cJSON_IsObject(e))
        return fail(c, TK_ERR_FORMAT, at, "is a %s, not an object", json_kind(e));
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *f = e->child; f; f = f->next) {
        const cJSON **slot = strcmp(f->string, "dtype") == 0          ? &dtype
                             : strcmp(f->string, "shape") == 0        ? &shape
                             : strcmp(f->string, "data_offsets") == 0 ? &offs
                                                                      : NULL;
        char pf[96];
        st_printable(pf, sizeof pf, f->string, strlen(f->string));
        if (!slot)
            return fail(c, TK_ERR_FORMAT, at,
                        "unexpected field '%s' (a tensor has dtype, shape and data_offsets)", pf);
        if (*slot) return fail(c, TK_ERR_FORMAT, at, "field '%s' appears twice", pf);
        *slot = f;
    }
    if (!dtype || !shape || !offs)
        return fail(c, TK_ERR_FORMAT, at, "has no '%s' field",
                    !dtype   ? "dtype"
                    : !shape ? "shape"
                             : "data_offsets");

    st_tensor t = {0};
    t.name = name;
    t.file = c->file->path;
    if (!cJSON_IsString(dtype))
        return fail(c, TK_ERR_FORMAT, at, "dtype is a %s, not a string", json_kind(dtype));
    if (!dtype_parse(dtype->valuestring, &t.dtype)) {
        char pd[96];
        st_printable(pd, sizeof pd, dtype->valuestring, strlen(dtype->valuestring));
        return fail(c, TK_ERR_UNSUPPORTED, at, "dtype '%s' is not supported", pd);
    }

    if (!cJSON_IsArray(shape))
        return fail(c, TK_ERR_FORMAT, at, "shape is a %s, not an array", json_kind(shape));
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > ST_MAX_DIMS)
        return fail(c, TK_ERR_LIMIT, at, "shape has %d dimensions, at most %d are supported",
                    n_dims, ST_MAX_DIMS);
    t.n_dims = n_dims;
    uint64_t n_elem = 1;
    int d = 0;
    for (const cJSON *x = shape->child; x; x = x->next, d++) {
        uint64_t v;
        if (!json_uint(x, &v))
            return fail(c, TK_ERR_FORMAT, at, "shape[%d] is a %s, not an integer in 0..2^53", d,
                        cJSON_IsNumber(x) ? "number out of range" : json_kind(x));
        t.shape[d] = (int64_t)v;
        if (!core_mul_u64(n_elem, v, &n_elem) || n_elem > (uint64_t)INT64_MAX)
            return fail(c, TK_ERR_OVERFLOW, at, "the element count of the shape overflows");
    }
    t.n_elem = (int64_t)n_elem;
    uint64_t need;
    if (!core_mul_u64(n_elem, st_dtype_size(t.dtype), &need))
        return fail(c, TK_ERR_OVERFLOW, at, "the byte size of the shape overflows");

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return fail(c, TK_ERR_FORMAT, at, "data_offsets is %s, not an array of two integers",
                    cJSON_IsArray(offs) ? "an array of another length" : json_kind(offs));
    uint64_t begin, end;
    if (!json_uint(offs->child, &begin) || !json_uint(offs->child->next, &end))
        return fail(c, TK_ERR_FORMAT, at,
                    "data_offsets holds a value that is not an integer in "
                    "0..2^53");
    if (begin > end)
        return fail(c, TK_ERR_FORMAT, at, "data_offsets [%llu, %llu]: begin is after end",
                    (ull)begin, (ull)end);
    if (end > c->data_size)
        return fail(c, TK_ERR_FORMAT, at,
                    "data_offsets [%llu, %llu] run past the end of the data section (%llu bytes "
                    "from offset 0x%llx)",
                    (ull)begin, (ull)end, (ull)c->data_size, (ull)(8 + c->n_header));
    if (end - begin != need) {
        char ps[160];
        shape_str(ps, sizeof ps, &t);
        return fail(c, TK_ERR_FORMAT, at,
                    "data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s needs %llu",
                    (ull)begin, (ull)end, (ull)(end - begin), ps, st_dtype_name(t.dtype),
                    (ull)need);
    }
    t.data = c->p + 8 + c->n_header + begin;
    t.size = need;
    return add_tensor(c, &t, at);
}

static int cmp_meta(const void *pa, const void *pb)
{
    const st_meta *a = pa, *b = pb;
    return strcmp(a->key, b->key);
}

/* Copies a string decoded by cJSON into the file's block (sized in
 * walk_members: decoded strings are never longer than their JSON text). */
static const char *keep(parse *c, const char *str)
{
    size_t n = strlen(str) + 1;
    if (n > c->n_header + 1 - c->strings_len) return NULL; /* cannot happen: see above */
    char *q = c->file->strings + c->strings_len;
    memcpy(q, str, n);
    c->strings_len += n;
    return q;
}

static tk_status walk_meta(parse *c, const cJSON *e, uint64_t at)
{
    st_file *f = c->file;
    what_set(c, "metadata", NULL, 0);
    if (!cJSON_IsObject(e))
        return fail(c, TK_ERR_FORMAT, at, "\"" META_KEY "\" is a %s, not an object", json_kind(e));
    int n = cJSON_GetArraySize(e);
    f->meta = core_calloc((size_t)(n ? n : 1), sizeof *f->meta);
    if (!f->meta) return core_error(TK_ERR_NOMEM, "safetensors: out of memory");
    for (const cJSON *x = e->child; x; x = x->next) {
        if (!cJSON_IsString(x)) {
            char pk[96];
            st_printable(pk, sizeof pk, x->string, strlen(x->string));
            return fail(c, TK_ERR_FORMAT, at, "value of '%s' is a %s, not a string", pk,
                        json_kind(x));
        }
        f->meta[f->n_meta].key = keep(c, x->string);
        f->meta[f->n_meta].value = keep(c, x->valuestring);
        if (!f->meta[f->n_meta].key || !f->meta[f->n_meta].value)
            return fail(c, TK_ERR_INTERNAL, at, "metadata strings overflow their block");
        f->n_meta++;
    }
    qsort(f->meta, (size_t)f->n_meta, sizeof *f->meta, cmp_meta);
    for (int64_t k = 0; k + 1 < f->n_meta; k++) {
        if (strcmp(f->meta[k].key, f->meta[k + 1].key) == 0) {
            char pk[96];
            st_printable(pk, sizeof pk, f->meta[k].key, strlen(f->meta[k].key));
            return fail(c, TK_ERR_FORMAT, at, "key '%s' appears twice", pk);
        }
    }
    return TK_OK;
}

typedef struct extent {
    uint64_t begin, end;
    int64_t idx;
} extent;

static int cmp_extent(const void *pa, const void *pb)
{
    const extent *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Tensors of the file may leave gaps but must not share bytes. */
static tk_status check_overlap(parse *c, int64_t first)
{
    st_set *s = c->set;
    int64_t n = s->n_t - first;
    if (n < 2) return TK_OK;
    extent *e = core_calloc((size_t)n, sizeof *e);
    if (!e) return core_error(TK_ERR_NOMEM, "safetensors: out of memory");
    const uint8_t *base = c->p + 8 + c->n_header;
    for (int64_t k = 0; k < n; k++) {
        const st_tensor *t = &s->t[first + k];
        e[k].begin = (uint64_t)((const uint8_t *)t->data - base);
        e[k].end = e[k].begin + t->size;
        e[k].idx = first + k;
    }
    qsort(e, (size_t)n, sizeof *e, cmp_extent);
    const extent *last = &e[0]; /* the extent reaching furthest so far */
    tk_status st = TK_OK;
    for (int64_t k = 1; k < n && !st; k++) {
        if (e[k].begin < last->end) {
            const st_tensor *a = &s->t[last->idx], *b = &s->t[e[k].idx];
            char pa[96];
            st_printable(pa, sizeof pa, a->name, strlen(a->name));
            what_set(c, "tensor", b->name, strlen(b->name));
            st = fail(c, TK_ERR_FORMAT, s->hdr_off[e[k].idx],
                      "data_offsets [%llu, %llu] overlap those of tensor '%s' [%llu, %llu]",
                      (ull)e[k].begin, (ull)e[k].end, pa, (ull)last->begin, (ull)last->end);
        }
        if (e[k].end > last->end) last = &e[k];
    }
    free(e);
    return st;
}

/* ---- one file ---------------------------------------------------------- */

/* The bytes before the JSON: the length field, the bounds, UTF-8, then the
 * token scan (pass 1). */
static tk_status check_header(parse *c)
{
    const uint8_t *p = c->p;
    what_set(c, "header", NULL, 0);
    if (c->size < 8)
        return fail(c, TK_ERR_FORMAT, 0,
                    "file of %llu bytes is too short for a safetensors header (an 8-byte length "
                    "and at least \"{}\")",
                    (ull)c->size);
    uint64_t n = gguf_rd64(p);
    if (n < 2)
        return fail(c, TK_ERR_FORMAT, 0, "header length %llu is too small (\"{}\" takes 2 bytes)",
                    (ull)n);
    if (n > ST_MAX_HEADER)
        return fail(c, TK_ERR_LIMIT, 0, "header length %llu is over the limit of %llu bytes",
                    (ull)n, (ull)ST_MAX_HEADER);
    if (n > c->size - 8)
        return fail(c, TK_ERR_FORMAT, 0,
                    "header length %llu runs past the end of the file (%llu bytes)", (ull)n,
                    (ull)c->size);
    c->n_header = n;
    c->data_size = c->size - 8 - n;
    const uint8_t *h = p + 8;
    if (h[0] != '{')
        return fail(c, TK_ERR_FORMAT, 8, "the header does not start with '{' (byte 0x%02x)", h[0]);
    size_t bad;
    if (!st_utf8_valid(h, (size_t)n, &bad))
        return fail(c, TK_ERR_FORMAT, 8 + bad, "the header is not valid UTF-8");

    scan s = {0};
    s.c = c;
    s.path = c->file->path;
    s.h = h;
    s.n = n;
    s.base = 8;
    s.max_depth = HEADER_MAX_DEPTH;
    s.max_values = INT64_MAX; /* the per-entry caps bound the total */
    s.top = TOP_KEY_OR_END;
    uint64_t end;
    tk_status st = scan_run(&s, &end);
    if (st) return st;
    what_set(c, "header", NULL, 0);
    for (uint64_t k = end; k < n; k++)
        if (h[k] != ' ')
            return fail(c, TK_ERR_FORMAT, 8 + k,
                        "byte 0x%02x after the JSON object (only spaces may pad the header)", h[k]);
    return TK_OK;
}

/* cJSON parses the span [at, end) of the header copy `text` as one value,
 * which must take all of it; the tree goes to *out. */
static tk_status parse_span(parse *c, const char *text, uint64_t at, uint64_t end, cJSON **out)
{
    const char *stop = NULL;
    *out = cJSON_ParseWithLengthOpts(text + at, (size_t)(end - at), &stop, 0);
    uint64_t where = stop ? (uint64_t)(stop - text) : at;
    if (*out && where == end) return TK_OK;
    cJSON_Delete(*out);
    *out = NULL;
    return fail(c, TK_ERR_FORMAT, 8 + where, "the header is not valid JSON");
}

/* Pass 2 and 3, one member at a time, so that cJSON's tree never holds more
 * than one entry: its name (a JSON string), then its value. */
static tk_status walk_members(parse *c)
{
    st_file *f = c->file;
    uint64_t n = c->n_header;
    /* A NUL-terminated copy, so that cJSON cannot read past the mapping. */
    char *text = malloc((size_t)n + 1);
    /* Decoded strings are never longer than their JSON text with its
     * quotes, so the names and metadata fit in n + 1 bytes. */
    f->strings = malloc((size_t)n + 1);
    if (!text || !f->strings) {
        free(text);
        return core_error(TK_ERR_NOMEM, "safetensors: out of memory");
    }
    memcpy(text, c->p + 8, (size_t)n);
    text[n] = '\0';
    tk_status st = TK_OK;
    bool seen_meta = false;
    for (int64_t k = 0; k < c->n_mem && !st; k++) {
        const member *m = &c->mem[k];
        uint64_t at = 8 + m->key_at;
        cJSON *key = NULL, *val = NULL;
        what_set(c, "header", NULL, 0);
        st = parse_span(c, text, m->key_at, m->key_end, &key);
        if (!st && !cJSON_IsString(key))
            st = fail(c, TK_ERR_INTERNAL, at, "a name that is not a string");
        if (!st) {
            const char *name = key->valuestring;
            what_set(c, "tensor", name, strlen(name));
            st = parse_span(c, text, m->val_at, m->val_end, &val);
        }
        if (!st && strcmp(key->valuestring, META_KEY) == 0) {
            if (seen_meta) st = fail(c, TK_ERR_INTERNAL, at, "a second metadata object");
            seen_meta = true;
            if (!st) st = walk_meta(c, val, at);
        } else if (!st) {
            const char *name = keep(c, key->valuestring);
            st = name ? walk_tensor(c, name, val, at)
                      : fail(c, TK_ERR_INTERNAL, at, "names overflow their block");
        }
        cJSON_Delete(key);
        cJSON_Delete(val);
    }
    free(text);
    return st;
}

tk_status st_parse_file(st_set *s, st_file *f)
{
    parse c = {0};
    c.set = s;
    c.file = f;
    c.p = f->map.data;
    c.size = f->map.size;
    int64_t first = s->n_t;
    tk_status st = check_header(&c);
    if (!st) st = walk_members(&c);
    free(c.mem);
    if (!st) st = check_overlap(&c, first);
    return st;
}
