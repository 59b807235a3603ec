/* TOML reader: a recursive-descent parser over the whole text. Errors carry
 * line and column, computed from the byte offset where they happen. */
#include "config/toml.h"

#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    TOML_MAX_DEPTH = 32,
    TOML_MAX_STRING = 64 * 1024,
    TOML_MAX_ENTRIES = 100000,
};

typedef struct parser {
    const char *text;
    const char *name;
    size_t pos;
    toml_doc *doc;
    size_t cap;
    char prefix[TOML_MAX_STRING]; /* current [table] path, "" at top level */
    /* Table headers seen, to reject a table defined twice. */
    char **tables;
    size_t n_tables, cap_tables;
    /* Open-addressing set of entry keys, for duplicate detection. */
    size_t *slots; /* entry index + 1, 0 = empty */
    size_t n_slots;
    int depth;
} parser;

const char *toml_kind_name(toml_kind k)
{
    switch (k) {
    case TOML_STRING:
        return "string";
    case TOML_INT:
        return "integer";
    case TOML_FLOAT:
        return "float";
    case TOML_BOOL:
        return "boolean";
    case TOML_ARRAY:
        return "array";
    case TOML_NONE:
        return "table";
    }
    return "?";
}

static void value_free(toml_value *v)
{
    free(v->str);
    for (size_t i = 0; i < v->n_items; i++) value_free(&v->items[i]);
    free(v->items);
    memset(v, 0, sizeof *v);
}

void toml_free(toml_doc *doc)
{
    if (!doc) return;
    for (size_t i = 0; i < doc->n_entries; i++) {
        free(doc->entries[i].key);
        value_free(&doc->entries[i].value);
    }
    free(doc->entries);
    doc->entries = NULL;
    doc->n_entries = 0;
}

static void line_col(const parser *p, size_t pos, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < pos && p->text[i]; i++) {
        if (p->text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)p->text[i] & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Describes the character at pos for "found ..." in messages. */
static void describe(const parser *p, size_t pos, char *buf, size_t size)
{
    unsigned char ch = (unsigned char)p->text[pos];
    if (ch == '\0')
        core_strlcpy(buf, "end of file", size);
    else if (ch == '\n' || ch == '\r')
        core_strlcpy(buf, "end of line", size);
    else if (ch < 0x20 || ch == 0x7f)
        snprintf(buf, size, "control character 0x%02x", ch);
    else if (ch >= 0x80)
        core_strlcpy(buf, "a non-ASCII character", size);
    else
        snprintf(buf, size, "'%c'", ch);
}

static tk_status fail_at(parser *p, size_t pos, const char *fmt, ...) TK_PRINTF(3, 4);
static tk_status fail_at(parser *p, size_t pos, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    line_col(p, pos, &line, &col);
    return core_error(TK_ERR_CONFIG, "%s:%d:%d: %s", p->name, line, col, msg);
}

static tk_status expected(parser *p, const char *what)
{
    char found[64];
    describe(p, p->pos, found, sizeof found);
    return fail_at(p, p->pos, "expected %s, found %s", what, found);
}

static char peek(const parser *p)
{
    return p->text[p->pos];
}

static void skip_ws(parser *p)
{
    while (peek(p) == ' ' || peek(p) == '\t') p->pos++;
}

/* Comments may not contain control characters other than tab. */
static tk_status check_comment(parser *p)
{
    if (peek(p) != '#') return TK_OK;
    size_t i = p->pos;
    while (p->text[i] && p->text[i] != '\n') {
        unsigned char ch = (unsigned char)p->text[i];
        if ((ch < 0x20 && ch != '\t' && !(ch == '\r' && p->text[i + 1] == '\n')) || ch == 0x7f)
            return fail_at(p, i, "control character 0x%02x in a comment", ch);
        i++;
    }
    p->pos = i;
    return TK_OK;
}

static bool at_newline(const parser *p)
{
    return peek(p) == '\n' || (peek(p) == '\r' && p->text[p->pos + 1] == '\n');
}

static void skip_newline(parser *p)
{
    if (peek(p) == '\r') p->pos++;
    if (peek(p) == '\n') p->pos++;
}

/* Whitespace, comments and newlines (inside arrays). */
static tk_status skip_ws_nl(parser *p)
{
    for (;;) {
        skip_ws(p);
        tk_status s = check_comment(p);
        if (s != TK_OK) return s;
        if (at_newline(p))
            skip_newline(p);
        else
            return TK_OK;
    }
}

/* ---- strings --------------------------------------------------------- */

typedef struct sbuf {
    char *data;
    size_t len, cap;
} sbuf;

static bool sbuf_put(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > TOML_MAX_STRING) return false;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        while (ncap < b->len + n + 1) ncap *= 2;
        char *nd = realloc(b->data, ncap);
        if (!nd) return false;
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

static size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string starting at the opening quote; *out is owned by the caller. */
static tk_status parse_string(parser *p, char **out)
{
    char q = peek(p);
    bool literal = q == '\'';
    bool multi = p->text[p->pos + 1] == q && p->text[p->pos + 2] == q;
    size_t start = p->pos;
    p->pos += multi ? 3 : 1;
    if (multi && at_newline(p)) skip_newline(p); /* a newline right after the opener is trimmed */
    sbuf b = {0};
    if (!sbuf_put(&b, "", 0)) return core_error(TK_ERR_NOMEM, "out of memory");
    tk_status s = TK_OK;
    for (;;) {
        char c = peek(p);
        if (c == '\0') {
            s = fail_at(p, start, "unterminated string");
            break;
        }
        if (c == q) {
            if (!multi) {
                p->pos++;
                break;
            }
            if (p->text[p->pos + 1] == q && p->text[p->pos + 2] == q) {
                /* Up to two quotes may stand right before the closing three. */
                size_t extra = 0;
                while (extra < 2 && p->text[p->pos + 3 + extra] == q) extra++;
                if (extra && !sbuf_put(&b, p->text + p->pos, extra)) goto too_long;
                p->pos += 3 + extra;
                break;
            }
            if (!sbuf_put(&b, &c, 1)) goto too_long;
            p->pos++;
            continue;
        }
        if (at_newline(p)) {
            if (!multi) {
                s = fail_at(p, p->pos, "newline in a single-line string (close it with %c)", q);
                break;
            }
            if (!sbuf_put(&b, "\n", 1)) goto too_long;
            skip_newline(p);
            continue;
        }
        unsigned char uc = (unsigned char)c;
        if ((uc < 0x20 && c != '\t') || uc == 0x7f) {
            s = fail_at(p, p->pos, "control character 0x%02x in a string (escape it)", uc);
            break;
        }
        if (c == '\\' && !literal) {
            size_t esc = p->pos;
            p->pos++;
            char e = peek(p);
            const char *rep = NULL;
            switch (e) {
            case 'b':
                rep = "\b";
                break;
            case 't':
                rep = "\t";
                break;
            case 'n':
                rep = "\n";
                break;
            case 'f':
                rep = "\f";
                break;
            case 'r':
                rep = "\r";
                break;
            case '"':
                rep = "\"";
                break;
            case '\\':
                rep = "\\";
                break;
            case 'e':
                rep = "\x1b";
                break;
            default:
                break;
            }
            if (rep) {
                if (!sbuf_put(&b, rep, 1)) goto too_long;
                p->pos++;
                continue;
            }
            if (e == 'u' || e == 'U') {
                int n = e == 'u' ? 4 : 8;
                uint32_t cp = 0;
                for (int k = 1; k <= n; k++) {
                    char h = p->text[p->pos + (size_t)k];
                    if (!isxdigit((unsigned char)h)) {
                        s = fail_at(p, esc, "expected %d hex digits after \\%c", n, e);
                        goto done;
                    }
                    cp = cp * 16 + (uint32_t)(isdigit((unsigned char)h)
                                                  ? h - '0'
                                                  : tolower((unsigned char)h) - 'a' + 10);
                }
                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                    s = fail_at(p, esc, "\\%c escape is not a Unicode scalar value", e);
                    break;
                }
                char enc[4];
                if (!sbuf_put(&b, enc, utf8_encode(cp, enc))) goto too_long;
                p->pos += (size_t)n + 1;
                continue;
            }
            if (multi) {
                /* Line-ending backslash: trim the newline and following whitespace. */
                size_t j = p->pos;
                while (p->text[j] == ' ' || p->text[j] == '\t') j++;
                if (p->text[j] == '\n' || (p->text[j] == '\r' && p->text[j + 1] == '\n')) {
                    p->pos = j;
                    while (peek(p) == ' ' || peek(p) == '\t' || at_newline(p)) {
                        if (at_newline(p))
                            skip_newline(p);
                        else
                            p->pos++;
                    }
                    continue;
                }
            }
            if (e == '\0')
                s = fail_at(p, esc, "unterminated escape sequence");
            else
                s = fail_at(p, esc, "unknown escape sequence \\%c", e);
            break;
        }
        if (!sbuf_put(&b, &c, 1)) goto too_long;
        p->pos++;
    }
done:
    if (s != TK_OK) {
        free(b.data);
        return s;
    }
    *out = b.data;
    return TK_OK;
too_long:
    free(b.data);
    return fail_at(p, start, "string longer than %d bytes", TOML_MAX_STRING);
}

/* ---- keys ------------------------------------------------------------ */

static bool is_bare(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* Parses a (dotted) key into `out` (appending to what is there). */
static tk_status parse_key(parser *p, sbuf *out)
{
    for (;;) {
        skip_ws(p);
        char c = peek(p);
        if (out->len && !sbuf_put(out, ".", 1)) return fail_at(p, p->pos, "key too long");
        if (c == '"' || c == '\'') {
            char *s;
            tk_status st = parse_string(p, &s);
            if (st != TK_OK) return st;
            bool ok = sbuf_put(out, s, strlen(s));
            free(s);
            if (!ok) return fail_at(p, p->pos, "key too long");
        } else if (is_bare(c)) {
            size_t st = p->pos;
            while (is_bare(peek(p))) p->pos++;
            if (!sbuf_put(out, p->text + st, p->pos - st)) return fail_at(p, st, "key too long");
        } else {
            return expected(p, "a key");
        }
        skip_ws(p);
        if (peek(p) != '.') return TK_OK;
        p->pos++;
    }
}

/* ---- entries ----------------------------------------------------------- */

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static tk_status set_insert(parser *p, size_t idx)
{
    if ((p->doc->n_entries + 1) * 2 > p->n_slots) {
        size_t ns = p->n_slots ? p->n_slots * 2 : 64;
        size_t *slots = calloc(ns, sizeof *slots);
        if (!slots) return core_error(TK_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < p->n_slots; i++) {
            if (!p->slots[i]) continue;
            size_t h = hash_str(p->doc->entries[p->slots[i] - 1].key) & (ns - 1);
            while (slots[h]) h = (h + 1) & (ns - 1);
            slots[h] = p->slots[i];
        }
        free(p->slots);
        p->slots = slots;
        p->n_slots = ns;
    }
    size_t h = hash_str(p->doc->entries[idx].key) & (p->n_slots - 1);
    while (p->slots[h]) h = (h + 1) & (p->n_slots - 1);
    p->slots[h] = idx + 1;
    return TK_OK;
}

static bool set_has(const parser *p, const char *key)
{
    if (!p->n_slots) return false;
    size_t h = hash_str(key) & (p->n_slots - 1);
    while (p->slots[h]) {
        if (strcmp(p->doc->entries[p->slots[h] - 1].key, key) == 0) return true;
        h = (h + 1) & (p->n_slots - 1);
    }
    return false;
}

/* A key conflicts when it was set before, or when one of its prefixes is a
 * value ("a = 1" then "a.b = 2"). */
static tk_status check_key_free(parser *p, const char *key, size_t at)
{
    if (set_has(p, key)) return fail_at(p, at, "duplicate key '%s'", key);
    char tmp[TOML_MAX_STRING];
    core_strlcpy(tmp, key, sizeof tmp);
    for (char *d = strrchr(tmp, '.'); d; d = strrchr(tmp, '.')) {
        *d = '\0';
        if (set_has(p, tmp))
            return fail_at(p, at, "'%s' is a value, so '%s' cannot be a table", tmp, key);
    }
    return TK_OK;
}

static tk_status add_entry(parser *p, char *key, toml_value *v, size_t at)
{
    tk_status s = check_key_free(p, key, at);
    if (s != TK_OK) return s;
    if (p->doc->n_entries >= TOML_MAX_ENTRIES)
        return fail_at(p, at, "more than %d keys", TOML_MAX_ENTRIES);
    if (p->doc->n_entries == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 16;
        toml_entry *ne = realloc(p->doc->entries, nc * sizeof *ne);
        if (!ne) return core_error(TK_ERR_NOMEM, "out of memory");
        p->doc->entries = ne;
        p->cap = nc;
    }
    toml_entry *e = &p->doc->entries[p->doc->n_entries];
    e->key = strdup(key);
    if (!e->key) return core_error(TK_ERR_NOMEM, "out of memory");
    e->value = *v;
    line_col(p, at, &e->line, &e->col);
    p->doc->n_entries++;
    memset(v, 0, sizeof *v);
    return set_insert(p, p->doc->n_entries - 1);
}

/* ---- values ------------------------------------------------------------ */

static tk_status parse_value(parser *p, toml_value *v, const char *key_for_tables);

static tk_status parse_number(parser *p, toml_value *v)
{
    size_t start = p->pos;
    size_t end = start;
    while (isalnum((unsigned char)p->text[end]) || strchr("_+-.:", p->text[end]) != NULL) end++;
    size_t n = end - start;
    if (n == 0) return expected(p, "a value");
    if (n > 128) return fail_at(p, start, "number too long");
    char tok[160];
    memcpy(tok, p->text + start, n);
    tok[n] = '\0';

    /* Dates and times: "1979-05-27", "07:32:00". */
    if ((n >= 10 && isdigit((unsigned char)tok[0]) && tok[4] == '-') || strchr(tok, ':'))
        return fail_at(p, start, "dates and times are not supported here");

    const char *t = tok;
    bool neg = false;
    if (*t == '+' || *t == '-') neg = *t++ == '-';
    if (strcmp(t, "inf") == 0 || strcmp(t, "nan") == 0) {
        v->kind = TOML_FLOAT;
        v->f = t[0] == 'i' ? (neg ? -INFINITY : INFINITY) : NAN;
        p->pos = end;
        return TK_OK;
    }
    if (strcmp(tok, "true") == 0 || strcmp(tok, "false") == 0) {
        v->kind = TOML_BOOL;
        v->b = tok[0] == 't';
        p->pos = end;
        return TK_OK;
    }
    if (!isdigit((unsigned char)*t))
        return expected(p, "a value (string, number, boolean or array)");

    /* Underscores must sit between two digits. */
    char clean[160];
    size_t k = 0;
    for (size_t i = 0; tok[i]; i++) {
        if (tok[i] == '_') {
            if (i == 0 || !isxdigit((unsigned char)tok[i - 1]) ||
                !isxdigit((unsigned char)tok[i + 1]))
                return fail_at(p, start + i, "'_' in a number must stand between digits");
            continue;
        }
        clean[k++] = tok[i];
    }
    clean[k] = '\0';
    const char *c = clean + (clean[0] == '+' || clean[0] == '-');

    int base = 10;
    if (c[0] == '0' && (c[1] == 'x' || c[1] == 'o' || c[1] == 'b')) {
        if (clean[0] == '+' || clean[0] == '-')
            return fail_at(p, start, "a sign is not allowed on hex, octal or binary numbers");
        base = c[1] == 'x' ? 16 : c[1] == 'o' ? 8 : 2;
        c += 2;
        if (!*c) return fail_at(p, start, "expected digits after the base prefix");
    }
    bool is_float = base == 10 && strpbrk(c, ".eE") != NULL;
    if (base == 10 && c[0] == '0' && isdigit((unsigned char)c[1]))
        return fail_at(p, start, "leading zeros are not allowed in '%s'", tok);
    char *endp;
    errno = 0;
    if (is_float) {
        const char *dot = strchr(c, '.');
        if (dot && (!isdigit((unsigned char)dot[1]) || dot == c))
            return fail_at(p, start, "a '.' in a float must have digits on both sides");
        double f = strtod(clean, &endp);
        if (*endp) return fail_at(p, start, "'%s' is not a valid number", tok);
        if (errno == ERANGE && isinf(f)) return fail_at(p, start, "'%s' is out of range", tok);
        v->kind = TOML_FLOAT;
        v->f = f;
    } else {
        if (base == 10) {
            long long i = strtoll(clean, &endp, 10);
            if (*endp) return fail_at(p, start, "'%s' is not a valid number", tok);
            if (errno == ERANGE) return fail_at(p, start, "integer '%s' is out of range", tok);
            v->i = i;
        } else {
            unsigned long long u = strtoull(c, &endp, base);
            if (*endp) return fail_at(p, start, "'%s' is not a valid number", tok);
            if (errno == ERANGE || u > INT64_MAX)
                return fail_at(p, start, "integer '%s' is out of range", tok);
            v->i = (int64_t)u;
        }
        v->kind = TOML_INT;
    }
    p->pos = end;
    return TK_OK;
}

static tk_status parse_array(parser *p, toml_value *v)
{
    p->pos++; /* '[' */
    v->kind = TOML_ARRAY;
    size_t cap = 0;
    for (;;) {
        tk_status s = skip_ws_nl(p);
        if (s != TK_OK) return s;
        if (peek(p) == ']') {
            p->pos++;
            return TK_OK;
        }
        if (v->n_items == cap) {
            size_t nc = cap ? cap * 2 : 8;
            if (nc > TOML_MAX_ENTRIES) return fail_at(p, p->pos, "array too long");
            toml_value *ni = realloc(v->items, nc * sizeof *ni);
            if (!ni) return core_error(TK_ERR_NOMEM, "out of memory");
            v->items = ni;
            cap = nc;
        }
        toml_value *item = &v->items[v->n_items];
        memset(item, 0, sizeof *item);
        s = parse_value(p, item, NULL);
        if (s != TK_OK) {
            value_free(item);
            return s;
        }
        v->n_items++;
        s = skip_ws_nl(p);
        if (s != TK_OK) return s;
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ']') {
            p->pos++;
            return TK_OK;
        }
        return expected(p, "',' or ']' in an array");
    }
}

/* Inline tables are flattened: {a = 1, b.c = 2} under key k adds k.a, k.b.c. */
static tk_status parse_inline_table(parser *p, const char *key)
{
    if (!key) return fail_at(p, p->pos, "inline tables inside arrays are not supported");
    p->pos++; /* '{' */
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        return TK_OK;
    }
    for (;;) {
        sbuf k = {0};
        if (!sbuf_put(&k, key, strlen(key))) return fail_at(p, p->pos, "key too long");
        size_t at = p->pos;
        tk_status s = parse_key(p, &k);
        if (s == TK_OK && peek(p) != '=') s = expected(p, "'=' after a key");
        if (s == TK_OK) {
            p->pos++;
            skip_ws(p);
            toml_value v;
            memset(&v, 0, sizeof v);
            at = p->pos;
            s = parse_value(p, &v, k.data);
            if (s == TK_OK && v.kind != TOML_NONE) s = add_entry(p, k.data, &v, at);
            value_free(&v);
        }
        free(k.data);
        if (s != TK_OK) return s;
        skip_ws(p);
        if (peek(p) == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (peek(p) == '}') {
            p->pos++;
            return TK_OK;
        }
        return expected(p, "',' or '}' in an inline table");
    }
}

/* Parses one value. An inline table is flattened into entries under
 * `key_for_tables` and leaves v->kind == TOML_NONE (nothing to add). */
static tk_status parse_value(parser *p, toml_value *v, const char *key_for_tables)
{
    if (++p->depth > TOML_MAX_DEPTH) {
        p->depth--;
        return fail_at(p, p->pos, "values nested deeper than %d", TOML_MAX_DEPTH);
    }
    tk_status s;
    char c = peek(p);
    if (c == '"' || c == '\'') {
        v->kind = TOML_STRING;
        s = parse_string(p, &v->str);
    } else if (c == '[') {
        s = parse_array(p, v);
    } else if (c == '{') {
        s = parse_inline_table(p, key_for_tables);
        v->kind = TOML_NONE;
    } else {
        s = parse_number(p, v);
    }
    p->depth--;
    return s;
}

/* ---- document -------------------------------------------------------- */

static tk_status end_of_line(parser *p)
{
    skip_ws(p);
    tk_status s = check_comment(p);
    if (s != TK_OK) return s;
    if (peek(p) == '\0') return TK_OK;
    if (!at_newline(p)) return expected(p, "end of line");
    skip_newline(p);
    return TK_OK;
}

static tk_status parse_table_header(parser *p)
{
    size_t at = p->pos;
    p->pos++;
    bool array = peek(p) == '[';
    if (array) return fail_at(p, at, "arrays of tables ([[...]]) are not supported here");
    sbuf k = {0};
    tk_status s = parse_key(p, &k);
    if (s == TK_OK && peek(p) != ']') s = expected(p, "']' to close the table header");
    if (s != TK_OK) {
        free(k.data);
        return s;
    }
    p->pos++;
    for (size_t i = 0; i < p->n_tables; i++) {
        if (strcmp(p->tables[i], k.data) == 0) {
            s = fail_at(p, at, "table [%s] is defined twice", k.data);
            free(k.data);
            return s;
        }
    }
    s = check_key_free(p, k.data, at);
    if (s != TK_OK) {
        free(k.data);
        return s;
    }
    if (p->n_tables == p->cap_tables) {
        size_t nc = p->cap_tables ? p->cap_tables * 2 : 8;
        if (nc > 10000) {
            free(k.data);
            return fail_at(p, at, "too many tables");
        }
        char **nt = realloc(p->tables, nc * sizeof *nt);
        if (!nt) {
            free(k.data);
            return core_error(TK_ERR_NOMEM, "out of memory");
        }
        p->tables = nt;
        p->cap_tables = nc;
    }
    p->tables[p->n_tables++] = strdup(k.data);
    core_strlcpy(p->prefix, k.data, sizeof p->prefix);
    free(k.data);
    return end_of_line(p);
}

static tk_status parse_key_value(parser *p)
{
    sbuf k = {0};
    if (p->prefix[0] && !sbuf_put(&k, p->prefix, strlen(p->prefix)))
        return core_error(TK_ERR_NOMEM, "out of memory");
    tk_status s = parse_key(p, &k);
    if (s == TK_OK && peek(p) != '=') s = expected(p, "'=' after a key");
    if (s == TK_OK) {
        p->pos++;
        skip_ws(p);
        toml_value v;
        memset(&v, 0, sizeof v);
        size_t at = p->pos;
        if (peek(p) == '\0' || at_newline(p) || peek(p) == '#')
            s = expected(p, "a value after '='");
        else
            s = parse_value(p, &v, k.data);
        if (s == TK_OK && v.kind != TOML_NONE) s = add_entry(p, k.data, &v, at);
        value_free(&v);
    }
    free(k.data);
    if (s != TK_OK) return s;
    return end_of_line(p);
}

tk_status toml_parse(const char *text, const char *name, toml_doc *out)
{
    memset(out, 0, sizeof *out);
    parser *p = calloc(1, sizeof *p);
    if (!p) return core_error(TK_ERR_NOMEM, "out of memory");
    p->text = text;
    p->name = name ? name : "(toml)";
    p->doc = out;
    tk_status s = TK_OK;
    /* A UTF-8 byte order mark is allowed at the start. */
    if ((unsigned char)text[0] == 0xef && (unsigned char)text[1] == 0xbb &&
        (unsigned char)text[2] == 0xbf)
        p->pos = 3;
    while (s == TK_OK) {
        s = skip_ws_nl(p);
        if (s != TK_OK || peek(p) == '\0') break;
        if (peek(p) == '[')
            s = parse_table_header(p);
        else
            s = parse_key_value(p);
    }
    for (size_t i = 0; i < p->n_tables; i++) free(p->tables[i]);
    free(p->tables);
    free(p->slots);
    free(p);
    if (s != TK_OK) toml_free(out);
    return s;
}
