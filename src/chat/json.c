/* JSON text <-> template values, matching Python's json module: json.loads
 * for the render context (ints stay ints, object key order is kept) and
 * json.dumps for the |tojson filter (ensure_ascii off by default, indent,
 * separators and sort_keys honoured). */
#include "chat/jinja.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 512

typedef struct jparser {
    chat_env *e;
    const char *s;
    size_t len, pos;
} jparser;

_Noreturn static void jfail(jparser *p, const char *what)
{
    /* Report the position as line:column of the JSON text itself. */
    int line, col;
    chat_line_col(p->s, p->len, p->pos, &line, &col);
    chat_fail_raw(p->e, TK_ERR_FORMAT, "invalid JSON at %d:%d: %s", line, col, what);
}

static void skip_ws(jparser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static bool lit(jparser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, word, n) == 0) {
        p->pos += n;
        return true;
    }
    return false;
}

static int hex4(jparser *p)
{
    if (p->len - p->pos < 4) jfail(p, "truncated \\u escape");
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + (size_t)i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) jfail(p, "bad \\u escape");
        v = v * 16 + d;
    }
    p->pos += 4;
    return v;
}

static cstr *parse_string(jparser *p)
{
    p->pos++; /* opening quote */
    cbuf b = {0};
    for (;;) {
        if (p->pos >= p->len) jfail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) jfail(p, "control character in string");
        if (c != '\\') {
            size_t start = p->pos;
            while (p->pos < p->len) {
                unsigned char d = (unsigned char)p->s[p->pos];
                if (d == '"' || d == '\\' || d < 0x20) break;
                p->pos++;
            }
            cbuf_put(p->e, &b, p->s + start, p->pos - start);
            continue;
        }
        p->pos++;
        if (p->pos >= p->len) jfail(p, "unterminated string");
        char esc = p->s[p->pos++];
        char out[4];
        switch (esc) {
        case '"':
            cbuf_putc(p->e, &b, '"');
            break;
        case '\\':
            cbuf_putc(p->e, &b, '\\');
            break;
        case '/':
            cbuf_putc(p->e, &b, '/');
            break;
        case 'b':
            cbuf_putc(p->e, &b, '\b');
            break;
        case 'f':
            cbuf_putc(p->e, &b, '\f');
            break;
        case 'n':
            cbuf_putc(p->e, &b, '\n');
            break;
        case 'r':
            cbuf_putc(p->e, &b, '\r');
            break;
        case 't':
            cbuf_putc(p->e, &b, '\t');
            break;
        case 'u': {
            uint32_t cp = (uint32_t)hex4(p);
            if (cp >= 0xD800 && cp < 0xDC00 && p->len - p->pos >= 6 && p->s[p->pos] == '\\' &&
                p->s[p->pos + 1] == 'u') {
                size_t save = p->pos;
                p->pos += 2;
                uint32_t lo = (uint32_t)hex4(p);
                if (lo >= 0xDC00 && lo < 0xE000)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else
                    p->pos = save;
            }
            /* A lone surrogate cannot be written as UTF-8. */
            if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
            cbuf_put(p->e, &b, out, chat_utf8_put(out, cp));
            break;
        }
        default:
            p->pos--;
            jfail(p, "invalid escape");
        }
    }
    return cbuf_str(p->e, &b);
}

static cv parse_number(jparser *p)
{
    size_t start = p->pos;
    bool is_float = false;
    if (p->s[p->pos] == '-') p->pos++;
    if (p->pos < p->len && p->s[p->pos] == 'I') {
        if (!lit(p, "Infinity")) jfail(p, "invalid number");
        return cv_float(-INFINITY);
    }
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') jfail(p, "invalid number");
    if (p->s[p->pos] == '0') {
        p->pos++;
    } else {
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        is_float = true;
        p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            jfail(p, "invalid number");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        is_float = true;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            jfail(p, "invalid number");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    char tmp[64];
    size_t n = p->pos - start;
    if (n >= sizeof tmp) {
        /* Very long literal: let strtod see all of it. */
        char *big = chat_alloc(p->e, n + 1);
        memcpy(big, p->s + start, n);
        return cv_float(strtod(big, NULL));
    }
    memcpy(tmp, p->s + start, n);
    tmp[n] = 0;
    if (!is_float) {
        char *end;
        errno = 0;
        long long v = strtoll(tmp, &end, 10);
        /* Integers beyond 64 bits become floats (Python keeps them exact). */
        if (errno == 0) return cv_int(v);
    }
    return cv_float(strtod(tmp, NULL));
}

static cv parse_value(jparser *p, int depth)
{
    if (depth > JSON_MAX_DEPTH) jfail(p, "nested too deeply");
    skip_ws(p);
    if (p->pos >= p->len) jfail(p, "unexpected end of input");
    char c = p->s[p->pos];
    if (c == '{') {
        p->pos++;
        cdict *d = chat_dict_new(p->e);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            return cv_dict(d);
        }
        for (;;) {
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"') jfail(p, "expected a string key");
            cv key = cv_str(parse_string(p));
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') jfail(p, "expected ':'");
            p->pos++;
            cv val = parse_value(p, depth + 1);
            chat_dict_set(p->e, d, key, val);
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == '}') {
                p->pos++;
                return cv_dict(d);
            }
            jfail(p, "expected ',' or '}'");
        }
    }
    if (c == '[') {
        p->pos++;
        clist *l = chat_list_new(p->e, 0, CL_LIST);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            return cv_list(l);
        }
        for (;;) {
            chat_list_push(p->e, l, parse_value(p, depth + 1));
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->len && p->s[p->pos] == ']') {
                p->pos++;
                return cv_list(l);
            }
            jfail(p, "expected ',' or ']'");
        }
    }
    if (c == '"') return cv_str(parse_string(p));
    if (lit(p, "true")) return cv_bool(true);
    if (lit(p, "false")) return cv_bool(false);
    if (lit(p, "null")) return cv_none();
    if (lit(p, "NaN")) return cv_float(NAN);
    if (lit(p, "Infinity")) return cv_float(INFINITY);
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
    jfail(p, "unexpected character");
}

cv chat_json_parse(chat_env *e, const char *text, size_t len)
{
    jparser p = {e, text, len, 0};
    if (!chat_utf8_valid(text, len))
        chat_fail_raw(e, TK_ERR_FORMAT, "invalid JSON: not valid UTF-8");
    cv v = parse_value(&p, 0);
    skip_ws(&p);
    if (p.pos != p.len) jfail(&p, "extra data after the value");
    return v;
}

cv chat_json_try_parse(chat_env *e, const char *text, size_t len)
{
    /* The error exit is borrowed for the parse and given back either way;
     * what the parse allocated stays in the arena. */
    jmp_buf saved;
    memcpy(saved, e->jb, sizeof saved);
    tk_status status = e->status;
    if (setjmp(e->jb) == 0) {
        cv v = chat_json_parse(e, text, len);
        memcpy(e->jb, saved, sizeof saved);
        return v;
    }
    memcpy(e->jb, saved, sizeof saved);
    e->status = status;
    e->err[0] = '\0';
    return cv_undef();
}

/* ------------------------------------------------------------------------ */
/* json.dumps                                                                */
/* ------------------------------------------------------------------------ */

static void dump_string(chat_env *e, cbuf *b, const cstr *s, bool ascii)
{
    cbuf_putc(e, b, '"');
    size_t run = 0;
    for (size_t i = 0; i < s->len;) {
        size_t start = i;
        uint32_t c = chat_utf8_next(s->s, s->len, &i);
        const char *esc = NULL;
        char tmp[16];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (c < 0x20 || (ascii && c >= 0x7F)) {
                if (c >= 0x10000) {
                    uint32_t v = c - 0x10000;
                    snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (v >> 10),
                             0xDC00 + (v & 0x3FF));
                } else {
                    snprintf(tmp, sizeof tmp, "\\u%04x", c);
                }
                esc = tmp;
            }
        }
        if (esc) {
            cbuf_put(e, b, s->s + start - run, run);
            run = 0;
            cbuf_puts(e, b, esc);
        } else {
            run += i - start;
        }
    }
    cbuf_put(e, b, s->s + s->len - run, run);
    cbuf_putc(e, b, '"');
}

static void newline_indent(chat_env *e, cbuf *b, const char *indent, int level)
{
    cbuf_putc(e, b, '\n');
    for (int i = 0; i < level; i++) cbuf_puts(e, b, indent);
}

/* A dict key as json.dumps converts it; NULL for keys it rejects. */
static cstr *key_string(chat_env *e, cv k)
{
    char tmp[40];
    switch (k.type) {
    case CV_STR:
        return k.u.s;
    case CV_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)k.u.i);
        return chat_str_new(e, tmp, strlen(tmp));
    case CV_FLOAT:
        if (isnan(k.u.f))
            strcpy(tmp, "NaN");
        else if (isinf(k.u.f))
            strcpy(tmp, k.u.f < 0 ? "-Infinity" : "Infinity");
        else
            chat_float_repr(k.u.f, tmp);
        return chat_str_new(e, tmp, strlen(tmp));
    case CV_BOOL:
        return chat_str_new(e, k.u.b ? "true" : "false", k.u.b ? 4 : 5);
    case CV_NONE:
        return chat_str_new(e, "null", 4);
    default:
        return NULL;
    }
}

static void dump(chat_env *e, cbuf *b, cv v, const chat_json_opts *o, int level, uint32_t pos)
{
    if (level > CHAT_MAX_VALUE_DEPTH) chat_fail(e, pos, "tojson: values nested too deeply");
    chat_steps(e, 1, pos);
    char tmp[40];
    const char *item_sep = o->item_sep ? o->item_sep : o->indent ? "," : ", ";
    const char *key_sep = o->key_sep ? o->key_sep : ": ";
    switch (v.type) {
    case CV_NONE:
        cbuf_puts(e, b, "null");
        return;
    case CV_BOOL:
        cbuf_puts(e, b, v.u.b ? "true" : "false");
        return;
    case CV_INT:
        cbuf_printf(e, b, "%lld", (long long)v.u.i);
        return;
    case CV_FLOAT:
        if (isnan(v.u.f))
            cbuf_puts(e, b, "NaN");
        else if (isinf(v.u.f))
            cbuf_puts(e, b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else {
            chat_float_repr(v.u.f, tmp);
            cbuf_puts(e, b, tmp);
        }
        return;
    case CV_STR:
        dump_string(e, b, v.u.s, o->ensure_ascii);
        return;
    case CV_LIST: {
        const clist *l = v.u.l;
        if (l->kind == CL_ITER) break;
        if (l->n == 0) {
            cbuf_puts(e, b, "[]");
            return;
        }
        cbuf_putc(e, b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) cbuf_puts(e, b, item_sep);
            if (o->indent) newline_indent(e, b, o->indent, level + 1);
            dump(e, b, l->items[i], o, level + 1, pos);
        }
        if (o->indent) newline_indent(e, b, o->indent, level);
        cbuf_putc(e, b, ']');
        return;
    }
    case CV_DICT: {
        const cdict *d = v.u.d;
        if (d->n == 0) {
            cbuf_puts(e, b, "{}");
            return;
        }
        size_t n = d->n;
        size_t *order = chat_alloc(e, n * sizeof *order);
        cstr **keys = chat_alloc(e, n * sizeof *keys);
        for (size_t i = 0; i < n; i++) {
            order[i] = i;
            keys[i] = key_string(e, d->keys[i]);
            if (!keys[i])
                chat_fail(e, pos, "keys must be str, int, float, bool or None, not %s",
                          chat_type_name(d->keys[i]));
        }
        if (o->sort_keys) {
            for (size_t i = 0; i < n; i++)
                if (d->keys[i].type != CV_STR)
                    chat_fail(e, pos, "tojson: sort_keys needs string keys");
            /* Insertion sort: stable, and dicts in templates are small. */
            chat_steps(e, n * n / 4, pos);
            for (size_t i = 1; i < n; i++) {
                size_t k = order[i], j = i;
                while (j > 0 && chat_lt(e, d->keys[k], d->keys[order[j - 1]], pos)) {
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = k;
            }
        }
        cbuf_putc(e, b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i) cbuf_puts(e, b, item_sep);
            if (o->indent) newline_indent(e, b, o->indent, level + 1);
            dump_string(e, b, keys[order[i]], o->ensure_ascii);
            cbuf_puts(e, b, key_sep);
            dump(e, b, d->vals[order[i]], o, level + 1, pos);
        }
        if (o->indent) newline_indent(e, b, o->indent, level);
        cbuf_putc(e, b, '}');
        return;
    }
    default:
        break;
    }
    chat_fail(e, pos, "Object of type %s is not JSON serializable", chat_type_name(v));
}

void chat_json_dump(chat_env *e, cbuf *b, cv v, const chat_json_opts *o, uint32_t pos)
{
    dump(e, b, v, o, 0, pos);
}
