/* Values of the template engine: the arena they live in, strings and UTF-8,
 * lists and dicts, and the Python semantics the templates rely on (truth,
 * equality, ordering, str() and repr(), float formatting). */
#include "chat/jinja.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Arena and errors                                                          */
/* ------------------------------------------------------------------------ */

struct chat_chunk {
    chat_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

#define CHUNK_SIZE (64u << 10)

void *chat_alloc(chat_env *e, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    chat_chunk *c = e->chunks;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_SIZE / 4 ? n : CHUNK_SIZE;
        if (n > e->mem_limit || e->mem_used > e->mem_limit - n)
            chat_fail(e, CHAT_NOPOS, "template memory limit exceeded (%zu MiB)",
                      e->mem_limit >> 20);
        c = malloc(sizeof *c + size);
        if (!c) chat_fail(e, CHAT_NOPOS, "out of memory");
        c->size = size;
        c->used = 0;
        e->mem_used += size;
        if (size == n && e->chunks) {
            /* A large block gets a chunk of its own, kept behind the current
             * one so the current chunk's free space stays usable. */
            c->next = e->chunks->next;
            e->chunks->next = c;
        } else {
            c->next = e->chunks;
            e->chunks = c;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void chat_arena_release(chat_env *e)
{
    chat_chunk *c = e->chunks;
    while (c) {
        chat_chunk *next = c->next;
        free(c);
        c = next;
    }
    e->chunks = NULL;
    e->mem_used = 0;
}

void chat_line_col(const char *src, size_t len, size_t pos, int *line, int *col)
{
    int l = 1, c = 1;
    if (pos > len) pos = len;
    for (size_t i = 0; i < pos;) {
        if (src[i] == '\n') {
            l++;
            c = 1;
            i++;
        } else {
            chat_utf8_next(src, pos, &i);
            c++;
        }
    }
    *line = l;
    *col = c;
}

void chat_fail(chat_env *e, uint32_t pos, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (pos != CHAT_NOPOS && e->src) {
        int line, col;
        chat_line_col(e->src, e->src_len, pos, &line, &col);
        snprintf(e->err, sizeof e->err, "template error at line %d:%d: %s", line, col, msg);
    } else {
        snprintf(e->err, sizeof e->err, "template error: %s", msg);
    }
    e->status = TK_ERR_TEMPLATE;
    longjmp(e->jb, 1);
}

void chat_fail_raw(chat_env *e, tk_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, sizeof e->err, fmt, ap);
    va_end(ap);
    e->status = status;
    longjmp(e->jb, 1);
}

void chat_steps(chat_env *e, uint64_t n, uint32_t pos)
{
    e->steps += n;
    if (e->steps > e->max_steps)
        chat_fail(e, pos, "template exceeded %llu evaluation steps",
                  (unsigned long long)e->max_steps);
}

/* ------------------------------------------------------------------------ */
/* UTF-8 and character classes                                               */
/* ------------------------------------------------------------------------ */

uint32_t chat_utf8_next(const char *s, size_t len, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t p = *i;
    uint32_t c = u[p];
    int n = c < 0x80                  ? 0
            : (c >= 0xC2 && c < 0xE0) ? 1
            : (c >= 0xE0 && c < 0xF0) ? 2
            : (c >= 0xF0 && c < 0xF5) ? 3
                                      : -1;
    *i = p + 1;
    if (n <= 0 || len - p <= (size_t)n) return c;
    uint32_t cp = c & (0x3Fu >> n);
    for (int k = 1; k <= n; k++) {
        if ((u[p + k] & 0xC0) != 0x80) return c;
        cp = (cp << 6) | (u[p + k] & 0x3Fu);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
        return c;
    *i = p + (size_t)n + 1;
    return cp;
}

/* True when s[0..len) is valid UTF-8. */
bool chat_utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t start = i;
        uint32_t c = chat_utf8_next(s, len, &i);
        if (c >= 0x80 && i == start + 1) return false;
    }
    return true;
}

size_t chat_utf8_put(char *dst, uint32_t cp)
{
    unsigned char *d = (unsigned char *)dst;
    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

bool chat_isspace(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

bool chat_isalnum(uint32_t c)
{
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (chat_isspace(c)) return false;
    /* Punctuation and symbol blocks count as non-word characters; letters of
     * every script count as word characters (an approximation of \w). */
    if (c < 0xC0)
        return c == 0xAA || c == 0xB5 || c == 0xBA || c == 0xB2 || c == 0xB3 || c == 0xB9 ||
               (c >= 0xBC && c <= 0xBE);
    if (c == 0xD7 || c == 0xF7) return false;
    if (c >= 0x2000 && c <= 0x2BFF) return false;
    if (c >= 0x3000 && c <= 0x303F) return false;
    if (c >= 0xFE30 && c <= 0xFE4F) return false;
    if (c >= 0xFF00 && c <= 0xFF0F) return false;
    if (c >= 0xFF1A && c <= 0xFF20) return false;
    if (c >= 0x1F000 && c <= 0x1FAFF) return false;
    return true;
}

/* Simple case mapping for Latin, Greek and Cyrillic (the scripts whose case
 * templates touch in practice); other code points are caseless here. */
uint32_t chat_upper(uint32_t c)
{
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c < 0xB5) return c;
    if (c == 0xB5) return 0x39C;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if (c == 0xFF) return 0x178;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x131) return 'I';
        if (c == 0x17F) return 'S';
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c : c - 1;
        if (c == 0x138 || c == 0x149) return c;
        return (c & 1) ? c - 1 : c;
    }
    if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
    if (c == 0x3C2) return 0x3A3;
    if (c >= 0x3AC && c <= 0x3AF) {
        static const uint16_t m[] = {0x386, 0x388, 0x389, 0x38A};
        return m[c - 0x3AC];
    }
    if (c == 0x3CC) return 0x38C;
    if (c == 0x3CD) return 0x38E;
    if (c == 0x3CE) return 0x38F;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    if (c >= 0x460 && c <= 0x4FF && !(c >= 0x482 && c <= 0x489)) {
        if (c >= 0x4C1 && c <= 0x4CE) return (c & 1) ? c : c - 1;
        if (c == 0x4CF) return 0x4C0;
        return (c & 1) ? c - 1 : c;
    }
    return c;
}

uint32_t chat_lower(uint32_t c)
{
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0xC0) return c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c == 0x178) return 0xFF;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x130) return 'i';
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
        if (c == 0x138 || c == 0x149 || c == 0x17F || c == 0x131) return c;
        return (c & 1) ? c : c + 1;
    }
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if (c >= 0x460 && c <= 0x4FF && !(c >= 0x482 && c <= 0x489)) {
        if (c == 0x4C0) return 0x4CF;
        if (c >= 0x4C1 && c <= 0x4CE) return (c & 1) ? c + 1 : c;
        return (c & 1) ? c : c + 1;
    }
    return c;
}

bool chat_cased(uint32_t c)
{
    return chat_upper(c) != c || chat_lower(c) != c || c == 0xDF;
}

/* ------------------------------------------------------------------------ */
/* Strings and buffers                                                       */
/* ------------------------------------------------------------------------ */

cstr *chat_str_new(chat_env *e, const char *s, size_t len)
{
    if (len > e->max_output)
        chat_fail(e, CHAT_NOPOS, "string of %zu bytes exceeds the output limit", len);
    cstr *r = chat_alloc(e, sizeof *r + len + 1);
    r->len = len;
    r->ncp = -1;
    if (len) memcpy(r->s, s, len);
    r->s[len] = 0;
    return r;
}

cstr *chat_str_cat(chat_env *e, const cstr *a, const cstr *b)
{
    if (a->len + b->len > e->max_output)
        chat_fail(e, CHAT_NOPOS, "string of %zu bytes exceeds the output limit", a->len + b->len);
    cstr *r = chat_alloc(e, sizeof *r + a->len + b->len + 1);
    r->len = a->len + b->len;
    r->ncp = (a->ncp >= 0 && b->ncp >= 0) ? a->ncp + b->ncp : -1;
    memcpy(r->s, a->s, a->len);
    memcpy(r->s + a->len, b->s, b->len);
    r->s[r->len] = 0;
    return r;
}

int64_t chat_str_ncp(cstr *s)
{
    if (s->ncp < 0) {
        int64_t n = 0;
        for (size_t i = 0; i < s->len;) {
            chat_utf8_next(s->s, s->len, &i);
            n++;
        }
        s->ncp = n;
    }
    return s->ncp;
}

size_t chat_cp_offset(const cstr *s, int64_t idx)
{
    if (s->ncp == (int64_t)s->len) return (size_t)idx; /* ASCII */
    size_t i = 0;
    for (int64_t k = 0; k < idx && i < s->len; k++) chat_utf8_next(s->s, s->len, &i);
    return i;
}

cv cv_str(cstr *s)
{
    cv v = {0};
    v.type = CV_STR;
    v.u.s = s;
    return v;
}

cv cv_strn(chat_env *e, const char *s, size_t len)
{
    return cv_str(chat_str_new(e, s, len));
}

cv cv_cstr(chat_env *e, const char *s)
{
    return cv_strn(e, s, strlen(s));
}

void cbuf_put(chat_env *e, cbuf *b, const char *s, size_t n)
{
    if (n == 0) return;
    if (b->len + n > e->max_output)
        chat_fail(e, CHAT_NOPOS, "template output exceeds %zu bytes", e->max_output);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = chat_alloc(e, cap);
        if (b->len) memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void cbuf_putc(chat_env *e, cbuf *b, char ch)
{
    cbuf_put(e, b, &ch, 1);
}

void cbuf_puts(chat_env *e, cbuf *b, const char *s)
{
    cbuf_put(e, b, s, strlen(s));
}

void cbuf_printf(chat_env *e, cbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    cbuf_put(e, b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

cstr *cbuf_str(chat_env *e, const cbuf *b)
{
    return chat_str_new(e, b->p ? b->p : "", b->len);
}

/* ------------------------------------------------------------------------ */
/* Containers                                                                */
/* ------------------------------------------------------------------------ */

cv cv_undef_named(const char *name)
{
    cv v = cv_undef();
    v.u.name = name;
    return v;
}

cv cv_undef_hint(const char *hint)
{
    cv v = cv_undef();
    v.flags = CVF_UNDEF_HINT;
    v.u.name = hint;
    return v;
}

cv cv_undef_attr(cv obj, const char *name)
{
    cv v = cv_undef();
    v.flags = CVF_UNDEF_ATTR;
    v.aux = obj.type;
    v.u.name = name;
    return v;
}

clist *chat_list_new(chat_env *e, size_t cap, int kind)
{
    clist *l = chat_alloc(e, sizeof *l);
    l->kind = (uint8_t)kind;
    if (cap) {
        l->items = chat_alloc(e, cap * sizeof(cv));
        l->cap = cap;
    }
    return l;
}

void chat_list_push(chat_env *e, clist *l, cv v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        if (cap > ((size_t)1 << 40) / sizeof(cv)) chat_fail(e, CHAT_NOPOS, "list too long");
        cv *items = chat_alloc(e, cap * sizeof(cv));
        if (l->n) memcpy(items, l->items, l->n * sizeof(cv));
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = v;
}

cv cv_list(clist *l)
{
    cv v = {0};
    v.type = CV_LIST;
    v.u.l = l;
    return v;
}

cdict *chat_dict_new(chat_env *e)
{
    return chat_alloc(e, sizeof(cdict));
}

cv *chat_dict_gets(cdict *d, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < d->n; i++) {
        const cv *k = &d->keys[i];
        if (k->type == CV_STR && k->u.s->len == n && memcmp(k->u.s->s, key, n) == 0)
            return &d->vals[i];
    }
    return NULL;
}

cv *chat_dict_get(chat_env *e, cdict *d, cv key)
{
    if (key.type == CV_STR) {
        for (size_t i = 0; i < d->n; i++) {
            const cv *k = &d->keys[i];
            if (k->type == CV_STR && k->u.s->len == key.u.s->len &&
                memcmp(k->u.s->s, key.u.s->s, key.u.s->len) == 0)
                return &d->vals[i];
        }
        return NULL;
    }
    for (size_t i = 0; i < d->n; i++)
        if (chat_eq(e, d->keys[i], key)) return &d->vals[i];
    return NULL;
}

void chat_dict_set(chat_env *e, cdict *d, cv key, cv val)
{
    cv *slot = chat_dict_get(e, d, key);
    if (slot) {
        *slot = val;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        cv *keys = chat_alloc(e, cap * sizeof(cv));
        cv *vals = chat_alloc(e, cap * sizeof(cv));
        if (d->n) {
            memcpy(keys, d->keys, d->n * sizeof(cv));
            memcpy(vals, d->vals, d->n * sizeof(cv));
        }
        d->keys = keys;
        d->vals = vals;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
}

cv cv_dict(cdict *d)
{
    cv v = {0};
    v.type = CV_DICT;
    v.u.d = d;
    return v;
}

/* ------------------------------------------------------------------------ */
/* Python semantics                                                          */
/* ------------------------------------------------------------------------ */

bool chat_truthy(cv v)
{
    switch (v.type) {
    case CV_UNDEF:
    case CV_NONE:
        return false;
    case CV_BOOL:
        return v.u.b;
    case CV_INT:
        return v.u.i != 0;
    case CV_FLOAT:
        return v.u.f != 0.0;
    case CV_STR:
        return v.u.s->len > 0;
    case CV_LIST:
        return v.u.l->kind == CL_ITER || v.u.l->n > 0;
    case CV_DICT:
        return v.u.d->n > 0;
    default:
        return true;
    }
}

bool chat_is_number(cv v)
{
    return v.type == CV_BOOL || v.type == CV_INT || v.type == CV_FLOAT;
}

double chat_num(cv v)
{
    return v.type == CV_FLOAT ? v.u.f : v.type == CV_INT ? (double)v.u.i : v.u.b ? 1.0 : 0.0;
}

static int64_t as_i64(cv v)
{
    return v.type == CV_INT ? v.u.i : v.u.b ? 1 : 0;
}

/* Exact comparison of an integer with a double, as Python does. */
static int cmp_int_float(int64_t i, double f)
{
    if (isnan(f)) return 2;
    if (f >= 9223372036854775808.0) return -1;
    if (f < -9223372036854775808.0) return 1;
    double fl = floor(f);
    int64_t fi = (int64_t)fl;
    if (i < fi) return -1;
    if (i > fi) return 1;
    return fl == f ? 0 : -1;
}

static bool eq_depth(chat_env *e, cv a, cv b, int depth)
{
    if (depth > CHAT_MAX_VALUE_DEPTH) chat_fail(e, CHAT_NOPOS, "values nested too deeply");
    if (chat_is_number(a) && chat_is_number(b)) {
        if (a.type == CV_FLOAT && b.type == CV_FLOAT) return a.u.f == b.u.f;
        if (a.type == CV_FLOAT) return cmp_int_float(as_i64(b), a.u.f) == 0;
        if (b.type == CV_FLOAT) return cmp_int_float(as_i64(a), b.u.f) == 0;
        return as_i64(a) == as_i64(b);
    }
    if (a.type != b.type) return false;
    switch (a.type) {
    case CV_UNDEF:
    case CV_NONE:
        return true;
    case CV_STR:
        return a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
    case CV_LIST: {
        const clist *x = a.u.l, *y = b.u.l;
        if (x == y) return true;
        if (x->kind == CL_ITER || y->kind == CL_ITER) return false;
        bool xt = x->kind != CL_LIST, yt = y->kind != CL_LIST;
        if (xt != yt || x->n != y->n) return false;
        for (size_t i = 0; i < x->n; i++)
            if (!eq_depth(e, x->items[i], y->items[i], depth + 1)) return false;
        return true;
    }
    case CV_DICT: {
        cdict *x = a.u.d, *y = b.u.d;
        if (x == y) return true;
        if (x->n != y->n) return false;
        for (size_t i = 0; i < x->n; i++) {
            cv *o = chat_dict_get(e, y, x->keys[i]);
            if (!o || !eq_depth(e, x->vals[i], *o, depth + 1)) return false;
        }
        return true;
    }
    case CV_NS:
        return a.u.d == b.u.d;
    case CV_MACRO:
        return a.u.m == b.u.m;
    case CV_FUNC:
        return a.u.fn == b.u.fn;
    case CV_LOOP:
        return a.u.loop == b.u.loop;
    default:
        return false;
    }
}

bool chat_eq(chat_env *e, cv a, cv b)
{
    return eq_depth(e, a, b, 0);
}

static bool lt_depth(chat_env *e, cv a, cv b, uint32_t pos, int depth)
{
    if (depth > CHAT_MAX_VALUE_DEPTH) chat_fail(e, pos, "values nested too deeply");
    if (chat_is_number(a) && chat_is_number(b)) {
        if (a.type == CV_FLOAT && b.type == CV_FLOAT) return a.u.f < b.u.f;
        if (a.type == CV_FLOAT) return cmp_int_float(as_i64(b), a.u.f) == 1;
        if (b.type == CV_FLOAT) return cmp_int_float(as_i64(a), b.u.f) == -1;
        return as_i64(a) < as_i64(b);
    }
    if (a.type == CV_STR && b.type == CV_STR) {
        size_t n = TK_MIN(a.u.s->len, b.u.s->len);
        int c = memcmp(a.u.s->s, b.u.s->s, n);
        return c < 0 || (c == 0 && a.u.s->len < b.u.s->len);
    }
    if (a.type == CV_LIST && b.type == CV_LIST && a.u.l->kind != CL_ITER &&
        b.u.l->kind != CL_ITER && (a.u.l->kind == CL_LIST) == (b.u.l->kind == CL_LIST)) {
        const clist *x = a.u.l, *y = b.u.l;
        size_t n = TK_MIN(x->n, y->n);
        for (size_t i = 0; i < n; i++) {
            if (!eq_depth(e, x->items[i], y->items[i], depth + 1))
                return lt_depth(e, x->items[i], y->items[i], pos, depth + 1);
        }
        return x->n < y->n;
    }
    chat_fail(e, pos, "'<' not supported between instances of '%s' and '%s'", chat_type_name(a),
              chat_type_name(b));
}

bool chat_lt(chat_env *e, cv a, cv b, uint32_t pos)
{
    return lt_depth(e, a, b, pos, 0);
}

const char *chat_type_name(cv v)
{
    switch (v.type) {
    case CV_UNDEF:
        return "Undefined";
    case CV_NONE:
        return "NoneType";
    case CV_BOOL:
        return "bool";
    case CV_INT:
        return "int";
    case CV_FLOAT:
        return "float";
    case CV_STR:
        return (v.flags & CVF_MARKUP) ? "Markup" : "str";
    case CV_LIST:
        return v.u.l->kind == CL_LIST ? "list" : v.u.l->kind == CL_ITER ? "generator" : "tuple";
    case CV_DICT:
        return "dict";
    case CV_NS:
        return "Namespace";
    case CV_MACRO:
        return "Macro";
    case CV_FUNC:
        return "builtin_function_or_method";
    case CV_LOOP:
        return "LoopContext";
    default:
        return "object";
    }
}

static const char *type_repr_of(int t)
{
    switch (t) {
    case CV_NONE:
        return "None";
    case CV_BOOL:
        return "bool object";
    case CV_INT:
        return "int object";
    case CV_FLOAT:
        return "float object";
    case CV_STR:
        return "str object";
    case CV_LIST:
        return "list object";
    case CV_DICT:
        return "dict object";
    case CV_NS:
        return "jinja2.utils.Namespace object";
    case CV_MACRO:
        return "jinja2.runtime.Macro object";
    case CV_LOOP:
        return "jinja2.runtime.LoopContext object";
    default:
        return "object";
    }
}

const char *chat_undef_msg(chat_env *e, cv v)
{
    const char *name = v.u.name ? v.u.name : "value";
    cbuf b = {0};
    if (v.flags & CVF_UNDEF_HINT) return name;
    if (v.flags & CVF_UNDEF_ATTR)
        cbuf_printf(e, &b, "'%s' has no attribute '%s'", type_repr_of(v.aux), name);
    else if (v.flags & CVF_UNDEF_ITEM)
        cbuf_printf(e, &b, "%s has no element %s", type_repr_of(v.aux), name);
    else
        cbuf_printf(e, &b, "'%s' is undefined", name);
    return b.p;
}

/* repr(float) as Python prints it: the shortest digits that read back to the
 * same double, fixed notation for 1e-4 <= |d| < 1e16, else exponent form. */
void chat_float_repr(double d, char out[40])
{
    if (isnan(d)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(d)) {
        strcpy(out, d < 0 ? "-inf" : "inf");
        return;
    }
    if (d == 0) {
        strcpy(out, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, d);
        if (strtod(tmp, NULL) == d) break;
    }
    /* tmp = [-]D[.DDD]e[+-]XX */
    char digits[24];
    int nd = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char *o = out;
    if (neg) *o++ = '-';
    if (exp10 >= -5 + 1 && exp10 < 16) {
        int decpt = exp10 + 1;
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -decpt; i++) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = digits[i];
        } else if (decpt >= nd) {
            for (int i = 0; i < nd; i++) *o++ = digits[i];
            for (int i = nd; i < decpt; i++) *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            for (int i = 0; i < decpt; i++) *o++ = digits[i];
            *o++ = '.';
            for (int i = decpt; i < nd; i++) *o++ = digits[i];
        }
        *o = 0;
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = digits[i];
        }
        snprintf(o, (size_t)(out + 40 - o), "e%c%02d", exp10 < 0 ? '-' : '+',
                 exp10 < 0 ? -exp10 : exp10);
    }
}

/* Python's str.isprintable() for one code point, approximately: control,
 * separator (other than space), format and private-use characters are not. */
static bool printable(uint32_t c)
{
    if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
    if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
        (c >= 0x205F && c <= 0x206F) || c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB))
        return false;
    if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E)
        return false;
    if ((c >= 0xD800 && c <= 0xF8FF) || c >= 0xF0000 || c == 0xFFFE || c == 0xFFFF) return false;
    return true;
}

static void repr_str(chat_env *e, cbuf *b, const cstr *s)
{
    bool has_sq = memchr(s->s, '\'', s->len) != NULL;
    bool has_dq = memchr(s->s, '"', s->len) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    cbuf_putc(e, b, q);
    for (size_t i = 0; i < s->len;) {
        size_t start = i;
        uint32_t c = chat_utf8_next(s->s, s->len, &i);
        if (c == (uint32_t)q || c == '\\') {
            cbuf_putc(e, b, '\\');
            cbuf_putc(e, b, (char)c);
        } else if (c == '\n') {
            cbuf_puts(e, b, "\\n");
        } else if (c == '\r') {
            cbuf_puts(e, b, "\\r");
        } else if (c == '\t') {
            cbuf_puts(e, b, "\\t");
        } else if (!printable(c)) {
            if (c < 0x100)
                cbuf_printf(e, b, "\\x%02x", c);
            else if (c < 0x10000)
                cbuf_printf(e, b, "\\u%04x", c);
            else
                cbuf_printf(e, b, "\\U%08x", c);
        } else {
            cbuf_put(e, b, s->s + start, i - start);
        }
    }
    cbuf_putc(e, b, q);
}

void chat_repr(chat_env *e, cbuf *b, cv v, int depth)
{
    if (depth > CHAT_MAX_VALUE_DEPTH) chat_fail(e, CHAT_NOPOS, "values nested too deeply");
    switch (v.type) {
    case CV_UNDEF:
        cbuf_puts(e, b, "Undefined");
        return;
    case CV_STR:
        if (v.flags & CVF_MARKUP) {
            cbuf_puts(e, b, "Markup(");
            repr_str(e, b, v.u.s);
            cbuf_putc(e, b, ')');
        } else {
            repr_str(e, b, v.u.s);
        }
        return;
    case CV_LIST: {
        const clist *l = v.u.l;
        if (l->kind == CL_ITER) {
            cbuf_puts(e, b, "<generator object>");
            return;
        }
        bool tuple = l->kind != CL_LIST;
        cbuf_putc(e, b, tuple ? '(' : '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) cbuf_puts(e, b, ", ");
            chat_repr(e, b, l->items[i], depth + 1);
        }
        if (tuple && l->n == 1) cbuf_putc(e, b, ',');
        cbuf_putc(e, b, tuple ? ')' : ']');
        return;
    }
    case CV_DICT:
    case CV_NS: {
        const cdict *d = v.u.d;
        if (v.type == CV_NS) cbuf_puts(e, b, "<Namespace ");
        cbuf_putc(e, b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) cbuf_puts(e, b, ", ");
            chat_repr(e, b, d->keys[i], depth + 1);
            cbuf_puts(e, b, ": ");
            chat_repr(e, b, d->vals[i], depth + 1);
        }
        cbuf_putc(e, b, '}');
        if (v.type == CV_NS) cbuf_putc(e, b, '>');
        return;
    }
    default:
        chat_str_into(e, b, v);
        return;
    }
}

void chat_str_into(chat_env *e, cbuf *b, cv v)
{
    char tmp[40];
    switch (v.type) {
    case CV_UNDEF:
        return;
    case CV_NONE:
        cbuf_puts(e, b, "None");
        return;
    case CV_BOOL:
        cbuf_puts(e, b, v.u.b ? "True" : "False");
        return;
    case CV_INT:
        cbuf_printf(e, b, "%lld", (long long)v.u.i);
        return;
    case CV_FLOAT:
        chat_float_repr(v.u.f, tmp);
        cbuf_puts(e, b, tmp);
        return;
    case CV_STR:
        cbuf_put(e, b, v.u.s->s, v.u.s->len);
        return;
    case CV_MACRO:
        cbuf_printf(e, b, "<Macro '%s'>", v.u.m->name ? v.u.m->name : "caller");
        return;
    case CV_FUNC:
        cbuf_printf(e, b, "<built-in method %s>", v.u.fn->name);
        return;
    case CV_LOOP: {
        const cloop *l = v.u.loop;
        cbuf_printf(e, b, "<LoopContext %lld/%zu>", (long long)l->index0 + 1, l->items->n);
        return;
    }
    default:
        chat_repr(e, b, v, 0);
        return;
    }
}

cstr *chat_to_str(chat_env *e, cv v)
{
    if (v.type == CV_STR) return v.u.s;
    cbuf b = {0};
    chat_str_into(e, &b, v);
    return cbuf_str(e, &b);
}

clist *chat_iterate(chat_env *e, cv v, uint32_t pos)
{
    switch (v.type) {
    case CV_UNDEF:
        return chat_list_new(e, 0, CL_LIST);
    case CV_STR: {
        cstr *s = v.u.s;
        clist *l = chat_list_new(e, s->len, CL_LIST);
        for (size_t i = 0; i < s->len;) {
            size_t start = i;
            chat_utf8_next(s->s, s->len, &i);
            cv c = cv_strn(e, s->s + start, i - start);
            c.flags = v.flags & CVF_MARKUP;
            chat_list_push(e, l, c);
        }
        chat_steps(e, l->n, pos);
        return l;
    }
    case CV_LIST:
        if (v.u.l->kind == CL_ITER) {
            if (v.u.l->consumed) return chat_list_new(e, 0, CL_LIST);
            v.u.l->consumed = true;
        }
        return v.u.l;
    case CV_DICT: {
        clist *l = chat_list_new(e, v.u.d->n, CL_LIST);
        for (size_t i = 0; i < v.u.d->n; i++) chat_list_push(e, l, v.u.d->keys[i]);
        return l;
    }
    default:
        chat_fail(e, pos, "'%s' object is not iterable", chat_type_name(v));
    }
}

int64_t chat_len(chat_env *e, cv v, uint32_t pos)
{
    switch (v.type) {
    case CV_UNDEF:
        return 0;
    case CV_STR:
        return chat_str_ncp(v.u.s);
    case CV_LIST:
        if (v.u.l->kind == CL_ITER) break;
        return (int64_t)v.u.l->n;
    case CV_DICT:
        return (int64_t)v.u.d->n;
    case CV_LOOP:
        return (int64_t)v.u.loop->items->n;
    default:
        break;
    }
    chat_fail(e, pos, "object of type '%s' has no len()", chat_type_name(v));
}
