/* Lexer and parser: template text -> syntax tree, following Jinja2's lexer
 * rules (delimiters, whitespace control with '-' and '+', trim_blocks,
 * lstrip_blocks, raw blocks) and its expression grammar and precedence. */
#include "chat/jinja.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Tokens                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum ttype {
    T_EOF,
    T_DATA,
    T_VAR_BEGIN,
    T_VAR_END,
    T_BLOCK_BEGIN,
    T_BLOCK_END,
    T_NAME,
    T_STRING,
    T_INT,
    T_FLOAT,
    T_OP,
} ttype;

typedef struct tok {
    uint8_t type;
    uint8_t op;
    uint32_t pos;
    const char *text; /* T_NAME (NUL-terminated), T_DATA */
    size_t len;
    cv val; /* T_STRING, T_INT, T_FLOAT */
} tok;

typedef struct lexer {
    chat_env *e;
    const char *s;
    size_t len;
    tok *toks;
    size_t n, cap;
} lexer;

static tok *push_tok(lexer *L, int type, size_t pos)
{
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        tok *t = chat_alloc(L->e, cap * sizeof *t);
        if (L->n) memcpy(t, L->toks, L->n * sizeof *t);
        L->toks = t;
        L->cap = cap;
    }
    tok *t = &L->toks[L->n++];
    memset(t, 0, sizeof *t);
    t->type = (uint8_t)type;
    t->pos = (uint32_t)pos;
    return t;
}

/* Whitespace as Python's regex \s sees it (Unicode). */
static bool ws_at(const lexer *L, size_t i, size_t *next)
{
    size_t j = i;
    uint32_t c = chat_utf8_next(L->s, L->len, &j);
    if (!chat_isspace(c)) return false;
    *next = j;
    return true;
}

static size_t skip_ws(const lexer *L, size_t i)
{
    size_t j;
    while (i < L->len && ws_at(L, i, &j)) i = j;
    return i;
}

/* End of text[from, to) with trailing whitespace removed (str.rstrip()). */
static size_t rstrip_end(const lexer *L, size_t from, size_t to)
{
    size_t keep = from, i = from, j;
    while (i < to) {
        if (ws_at(L, i, &j)) {
            i = j;
        } else {
            chat_utf8_next(L->s, to, &i);
            keep = i;
        }
    }
    return keep;
}

/* lstrip_blocks: drop the spaces before a block tag when only whitespace
 * precedes it on its line. */
static size_t lstrip_end(const lexer *L, size_t from, size_t to, bool line_starting)
{
    size_t lpos = from;
    bool nl = false;
    for (size_t i = to; i > from; i--) {
        if (L->s[i - 1] == '\n') {
            lpos = i;
            nl = true;
            break;
        }
    }
    if (!nl && !line_starting) return to;
    if (lpos >= to) return to;
    size_t i = lpos, j;
    while (i < to) {
        if (!ws_at(L, i, &j)) return to;
        i = j;
    }
    return lpos;
}

static bool at(const lexer *L, size_t i, const char *lit)
{
    size_t n = strlen(lit);
    return i <= L->len && L->len - i >= n && memcmp(L->s + i, lit, n) == 0;
}

static void emit_data(lexer *L, size_t from, size_t to)
{
    if (to <= from) return;
    tok *t = push_tok(L, T_DATA, from);
    t->text = L->s + from;
    t->len = to - from;
}

static bool isdig(char c)
{
    return c >= '0' && c <= '9';
}

/* (\d+_)*\d+ starting at i; returns the end, or i when no digit. */
static size_t scan_digits(const lexer *L, size_t i)
{
    if (i >= L->len || !isdig(L->s[i])) return i;
    while (i < L->len && isdig(L->s[i])) i++;
    while (i + 1 < L->len && L->s[i] == '_' && isdig(L->s[i + 1])) {
        i++;
        while (i < L->len && isdig(L->s[i])) i++;
    }
    return i;
}

static size_t scan_exponent(const lexer *L, size_t i)
{
    if (i >= L->len || (L->s[i] != 'e' && L->s[i] != 'E')) return 0;
    size_t j = i + 1;
    if (j < L->len && (L->s[j] == '+' || L->s[j] == '-')) j++;
    size_t k = scan_digits(L, j);
    return k > j ? k : 0;
}

/* Jinja2's float_re; returns the end or 0. */
static size_t scan_float(const lexer *L, size_t i)
{
    if (i > 0 && L->s[i - 1] == '.') return 0;
    size_t a = scan_digits(L, i);
    if (a == i) return 0;
    if (a < L->len && L->s[a] == '.') {
        size_t b = scan_digits(L, a + 1);
        if (b > a + 1) {
            size_t x = scan_exponent(L, b);
            return x ? x : b;
        }
    }
    return scan_exponent(L, a);
}

static bool digit_in_base(char c, int base)
{
    int d = isdig(c)                 ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : 99;
    return d < base;
}

/* Jinja2's integer_re; returns the end or 0. */
static size_t scan_int(const lexer *L, size_t i, int *base)
{
    const char *s = L->s;
    if (i >= L->len || !isdig(s[i])) return 0;
    if (s[i] == '0' && i + 1 < L->len) {
        char p = s[i + 1];
        int b = (p == 'b' || p == 'B')   ? 2
                : (p == 'o' || p == 'O') ? 8
                : (p == 'x' || p == 'X') ? 16
                                         : 0;
        if (b) {
            size_t j = i + 2, end = 0;
            for (;;) {
                size_t k = j;
                if (k < L->len && s[k] == '_') k++;
                if (k < L->len && digit_in_base(s[k], b)) {
                    j = k + 1;
                    end = j;
                } else {
                    break;
                }
            }
            if (end) {
                *base = b;
                return end;
            }
        }
    }
    *base = 10;
    size_t j = i + 1;
    if (s[i] == '0') {
        for (;;) {
            size_t k = j;
            if (k < L->len && s[k] == '_') k++;
            if (k < L->len && s[k] == '0')
                j = k + 1;
            else
                break;
        }
        return j;
    }
    for (;;) {
        size_t k = j;
        if (k < L->len && s[k] == '_') k++;
        if (k < L->len && isdig(s[k]))
            j = k + 1;
        else
            break;
    }
    return j;
}

static bool name_start(uint32_t c)
{
    return c == '_' || (c < 0x80 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) ||
           (c >= 0x80 && chat_isalnum(c));
}

static bool name_char(uint32_t c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

static int hexval(char c)
{
    return isdig(c)                 ? c - '0'
           : (c >= 'a' && c <= 'f') ? c - 'a' + 10
           : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                    : -1;
}

/* Decodes a string literal's body as Python's "unicode-escape" codec does
 * (after Jinja2 turns non-ASCII characters into \x/\u/\U escapes first). */
static cstr *decode_string(lexer *L, size_t from, size_t to)
{
    chat_env *e = L->e;
    const char *s = L->s;
    cbuf b = {0};
    char out[8];
    size_t i = from;
    while (i < to) {
        if (s[i] != '\\') {
            size_t j = i;
            while (j < to && s[j] != '\\') j++;
            cbuf_put(e, &b, s + i, j - i);
            i = j;
            continue;
        }
        size_t esc = i;
        i++;
        if (i >= to) chat_fail(e, (uint32_t)esc, "\\ at end of string");
        char c = s[i];
        uint32_t cp;
        switch (c) {
        case '\n':
            i++;
            continue;
        case '\\':
            cbuf_putc(e, &b, '\\');
            i++;
            continue;
        case '\'':
            cbuf_putc(e, &b, '\'');
            i++;
            continue;
        case '"':
            cbuf_putc(e, &b, '"');
            i++;
            continue;
        case 'a':
            cbuf_putc(e, &b, 7);
            i++;
            continue;
        case 'b':
            cbuf_putc(e, &b, 8);
            i++;
            continue;
        case 'f':
            cbuf_putc(e, &b, 12);
            i++;
            continue;
        case 'n':
            cbuf_putc(e, &b, 10);
            i++;
            continue;
        case 'r':
            cbuf_putc(e, &b, 13);
            i++;
            continue;
        case 't':
            cbuf_putc(e, &b, 9);
            i++;
            continue;
        case 'v':
            cbuf_putc(e, &b, 11);
            i++;
            continue;
        case 'x':
        case 'u':
        case 'U': {
            int n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            cp = 0;
            for (int k = 1; k <= n; k++) {
                int h = i + (size_t)k < to ? hexval(s[i + (size_t)k]) : -1;
                if (h < 0)
                    chat_fail(e, (uint32_t)esc, "truncated \\%c%s escape in string literal", c,
                              n == 2   ? "XX"
                              : n == 4 ? "XXXX"
                                       : "XXXXXXXX");
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10FFFF) chat_fail(e, (uint32_t)esc, "illegal Unicode character");
            i += (size_t)n + 1;
            break;
        }
        case 'N':
            chat_fail(e, (uint32_t)esc, "\\N{...} escapes are not supported");
        default:
            if (c >= '0' && c <= '7') {
                cp = 0;
                int k = 0;
                while (k < 3 && i < to && s[i] >= '0' && s[i] <= '7') {
                    cp = cp * 8 + (uint32_t)(s[i] - '0');
                    i++;
                    k++;
                }
                break;
            }
            if ((unsigned char)c >= 0x80) {
                /* "\é" reads as the text "\xe9" (Jinja2 escapes the
                 * character to \xe9 before decoding). */
                size_t j = i;
                uint32_t u = chat_utf8_next(s, to, &j);
                cbuf_printf(e, &b, u < 0x100 ? "\\x%02x" : u < 0x10000 ? "\\u%04x" : "\\U%08x", u);
                i = j;
                continue;
            }
            cbuf_putc(e, &b, '\\');
            continue;
        }
        if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
        cbuf_put(e, &b, out, chat_utf8_put(out, cp));
    }
    return cbuf_str(e, &b);
}

static const struct {
    const char *text;
    uint8_t op;
} operators[] = {
    {"//", OP_FLOORDIV}, {"**", OP_POW},   {"==", OP_EQ},      {"!=", OP_NE},      {">=", OP_GTEQ},
    {"<=", OP_LTEQ},     {"+", OP_ADD},    {"-", OP_SUB},      {"/", OP_DIV},      {"*", OP_MUL},
    {"%", OP_MOD},       {"~", OP_TILDE},  {"[", OP_LBRACKET}, {"]", OP_RBRACKET}, {"(", OP_LPAREN},
    {")", OP_RPAREN},    {"{", OP_LBRACE}, {"}", OP_RBRACE},   {">", OP_GT},       {"<", OP_LT},
    {"=", OP_ASSIGN},    {".", OP_DOT},    {":", OP_COLON},    {"|", OP_PIPE},     {",", OP_COMMA},
    {";", OP_SEMICOLON},
};

/* Tokenizes the inside of a {{ }} or {% %} tag starting at i; returns the
 * position after the closing delimiter (and its whitespace handling). */
static size_t lex_tag(lexer *L, size_t i, bool block, size_t open_pos, bool *line_starting)
{
    chat_env *e = L->e;
    char stack[CHAT_MAX_PARSE_DEPTH];
    int depth = 0;
    for (;;) {
        if (i >= L->len)
            chat_fail(e, (uint32_t)open_pos, "unexpected end of template, expected '%s'",
                      block ? "%}" : "}}");
        if (depth == 0) {
            size_t end = 0;
            if (block) {
                if (at(L, i, "+%}"))
                    end = i + 3;
                else if (at(L, i, "-%}"))
                    end = skip_ws(L, i + 3);
                else if (at(L, i, "%}"))
                    end = i + 2 + (i + 2 < L->len && L->s[i + 2] == '\n');
            } else {
                if (at(L, i, "-}}"))
                    end = skip_ws(L, i + 3);
                else if (at(L, i, "}}"))
                    end = i + 2;
            }
            if (end) {
                push_tok(L, block ? T_BLOCK_END : T_VAR_END, i);
                *line_starting = L->s[end - 1] == '\n';
                return end;
            }
        }
        size_t j;
        if (ws_at(L, i, &j)) {
            i = skip_ws(L, i);
            continue;
        }
        size_t end = scan_float(L, i);
        if (end) {
            char tmp[128];
            size_t n = 0;
            for (size_t k = i; k < end && n + 1 < sizeof tmp; k++)
                if (L->s[k] != '_') tmp[n++] = L->s[k];
            tmp[n] = 0;
            tok *t = push_tok(L, T_FLOAT, i);
            t->val = cv_float(strtod(tmp, NULL));
            i = end;
            continue;
        }
        int base;
        end = scan_int(L, i, &base);
        if (end) {
            char tmp[128];
            size_t n = 0;
            size_t k = base == 10 ? i : i + 2;
            for (; k < end && n + 1 < sizeof tmp; k++)
                if (L->s[k] != '_') tmp[n++] = L->s[k];
            tmp[n] = 0;
            errno = 0;
            char *endp;
            unsigned long long v = strtoull(tmp, &endp, base);
            if (errno || v > (unsigned long long)INT64_MAX)
                chat_fail(e, (uint32_t)i, "integer literal too large (beyond 64 bits)");
            tok *t = push_tok(L, T_INT, i);
            t->val = cv_int((int64_t)v);
            i = end;
            continue;
        }
        size_t k = i;
        uint32_t c = chat_utf8_next(L->s, L->len, &k);
        if (name_start(c)) {
            size_t start = i;
            i = k;
            while (i < L->len) {
                size_t m = i;
                if (!name_char(chat_utf8_next(L->s, L->len, &m))) break;
                i = m;
            }
            tok *t = push_tok(L, T_NAME, start);
            char *name = chat_alloc(e, i - start + 1);
            memcpy(name, L->s + start, i - start);
            t->text = name;
            t->len = i - start;
            continue;
        }
        if (c == '\'' || c == '"') {
            size_t m = i + 1;
            while (m < L->len && L->s[m] != (char)c) m += L->s[m] == '\\' ? 2 : 1;
            if (m < L->len) {
                tok *t = push_tok(L, T_STRING, i);
                t->val = cv_str(decode_string(L, i + 1, m));
                i = m + 1;
                continue;
            }
        }
        bool matched = false;
        for (size_t o = 0; o < TK_ARRAY_LEN(operators); o++) {
            if (!at(L, i, operators[o].text)) continue;
            uint8_t op = operators[o].op;
            if (op == OP_LPAREN || op == OP_LBRACKET || op == OP_LBRACE) {
                if (depth >= CHAT_MAX_PARSE_DEPTH)
                    chat_fail(e, (uint32_t)i, "brackets nested too deeply");
                stack[depth++] = op == OP_LPAREN ? ')' : op == OP_LBRACKET ? ']' : '}';
            } else if (op == OP_RPAREN || op == OP_RBRACKET || op == OP_RBRACE) {
                char ch = operators[o].text[0];
                if (depth == 0) chat_fail(e, (uint32_t)i, "unexpected '%c'", ch);
                char want = stack[--depth];
                if (want != ch)
                    chat_fail(e, (uint32_t)i, "unexpected '%c', expected '%c'", ch, want);
            }
            tok *t = push_tok(L, T_OP, i);
            t->op = op;
            i += strlen(operators[o].text);
            matched = true;
            break;
        }
        if (!matched) {
            size_t m = i;
            uint32_t bad = chat_utf8_next(L->s, L->len, &m);
            if (bad < 0x80) chat_fail(e, (uint32_t)i, "unexpected char '%c'", (char)bad);
            chat_fail(e, (uint32_t)i, "unexpected char U+%04X", bad);
        }
    }
}

static void lex(lexer *L)
{
    chat_env *e = L->e;
    const char *s = L->s;
    size_t pos = 0;
    bool line_starting = true;
    while (pos < L->len) {
        size_t t = pos;
        bool found = false;
        for (; t + 1 < L->len; t++) {
            if (s[t] == '{' && (s[t + 1] == '{' || s[t + 1] == '%' || s[t + 1] == '#')) {
                found = true;
                break;
            }
        }
        if (!found) {
            emit_data(L, pos, L->len);
            break;
        }
        char kind = s[t + 1];
        size_t p = t + 2;
        char sign = 0;
        if (p < L->len && (s[p] == '-' || s[p] == '+')) sign = s[p++];
        /* {% raw %} */
        size_t raw_end = 0;
        if (kind == '%') {
            size_t q = skip_ws(L, p);
            if (at(L, q, "raw")) {
                q = skip_ws(L, q + 3);
                if (at(L, q, "-%}"))
                    raw_end = skip_ws(L, q + 3);
                else if (at(L, q, "%}"))
                    raw_end = q + 2;
            }
        }
        size_t tend = t;
        if (sign == '-')
            tend = rstrip_end(L, pos, t);
        else if (sign != '+' && kind != '{')
            tend = lstrip_end(L, pos, t, line_starting);
        emit_data(L, pos, tend);

        if (kind == '#') {
            size_t j = p;
            while (j + 1 < L->len && !(s[j] == '#' && s[j + 1] == '}')) j++;
            if (j + 1 >= L->len) chat_fail(e, (uint32_t)t, "Missing end of comment tag");
            char esign = (j > p && (s[j - 1] == '-' || s[j - 1] == '+')) ? s[j - 1] : 0;
            size_t after = j + 2;
            if (esign == '-')
                after = skip_ws(L, after);
            else if (esign == 0 && after < L->len && s[after] == '\n')
                after++;
            line_starting = s[after - 1] == '\n';
            pos = after;
            continue;
        }
        if (raw_end) {
            line_starting = s[raw_end - 1] == '\n';
            size_t k = raw_end, body_end = 0, end = 0;
            char esign = 0;
            for (; k + 1 < L->len; k++) {
                if (s[k] != '{' || s[k + 1] != '%') continue;
                size_t r = k + 2;
                char sg = 0;
                if (r < L->len && (s[r] == '-' || s[r] == '+')) sg = s[r++];
                r = skip_ws(L, r);
                if (!at(L, r, "endraw")) continue;
                r = skip_ws(L, r + 6);
                if (at(L, r, "+%}"))
                    end = r + 3;
                else if (at(L, r, "-%}"))
                    end = skip_ws(L, r + 3);
                else if (at(L, r, "%}"))
                    end = r + 2 + (r + 2 < L->len && s[r + 2] == '\n');
                else
                    continue;
                body_end = k;
                esign = sg;
                break;
            }
            if (!end) chat_fail(e, (uint32_t)t, "Missing end of raw directive");
            size_t dend = body_end;
            if (esign == '-')
                dend = rstrip_end(L, raw_end, body_end);
            else if (esign != '+')
                dend = lstrip_end(L, raw_end, body_end, line_starting);
            emit_data(L, raw_end, dend);
            line_starting = s[end - 1] == '\n';
            pos = end;
            continue;
        }
        push_tok(L, kind == '{' ? T_VAR_BEGIN : T_BLOCK_BEGIN, t);
        pos = lex_tag(L, p, kind == '%', t, &line_starting);
    }
    push_tok(L, T_EOF, L->len);
}

char *chat_normalize(chat_env *e, const char *src, size_t len, size_t *out_len)
{
    char *d = chat_alloc(e, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            d[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            d[n++] = src[i];
        }
    }
    if (n > 0 && d[n - 1] == '\n') n--;
    d[n] = 0;
    *out_len = n;
    return d;
}

/* ------------------------------------------------------------------------ */
/* Parser                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct parser {
    chat_env *e;
    tok *t;
    size_t i, n;
    int depth;
    int loop_depth;
} parser;

typedef struct nvec {
    cnode **p;
    int n, cap;
} nvec;

static void nvec_push(chat_env *e, nvec *v, cnode *x)
{
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        cnode **p = chat_alloc(e, (size_t)cap * sizeof *p);
        if (v->n) memcpy(p, v->p, (size_t)v->n * sizeof *p);
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = x;
}

static tok *cur(parser *P)
{
    return &P->t[P->i];
}

static tok *look(parser *P)
{
    return &P->t[P->i + 1 < P->n ? P->i + 1 : P->i];
}

static tok *advance(parser *P)
{
    tok *t = &P->t[P->i];
    if (P->i + 1 < P->n) P->i++;
    return t;
}

static bool is_name(const tok *t, const char *name)
{
    return t->type == T_NAME && strcmp(t->text, name) == 0;
}

static bool is_op(const tok *t, int op)
{
    return t->type == T_OP && t->op == op;
}

static bool skip_name(parser *P, const char *name)
{
    if (!is_name(cur(P), name)) return false;
    advance(P);
    return true;
}

static bool skip_op(parser *P, int op)
{
    if (!is_op(cur(P), op)) return false;
    advance(P);
    return true;
}

static const char *describe(const tok *t)
{
    switch (t->type) {
    case T_EOF:
        return "end of template";
    case T_DATA:
        return "template data";
    case T_VAR_BEGIN:
        return "begin of print statement";
    case T_VAR_END:
        return "end of print statement";
    case T_BLOCK_BEGIN:
        return "begin of statement block";
    case T_BLOCK_END:
        return "end of statement block";
    case T_NAME:
        return t->text;
    case T_STRING:
        return "string";
    case T_INT:
        return "integer";
    case T_FLOAT:
        return "float";
    default:
        break;
    }
    for (size_t o = 0; o < TK_ARRAY_LEN(operators); o++)
        if (operators[o].op == t->op) return operators[o].text;
    return "operator";
}

_Noreturn static void unexpected(parser *P, const char *expected)
{
    tok *t = cur(P);
    if (expected) chat_fail(P->e, t->pos, "expected %s, got '%s'", expected, describe(t));
    chat_fail(P->e, t->pos, "unexpected '%s'", describe(t));
}

static void expect_op(parser *P, int op, const char *what)
{
    if (!skip_op(P, op)) unexpected(P, what);
}

static tok *expect_type(parser *P, int type, const char *what)
{
    if (cur(P)->type != type) unexpected(P, what);
    return advance(P);
}

static cnode *mk(parser *P, int kind, uint32_t pos)
{
    cnode *n = chat_alloc(P->e, sizeof *n);
    n->kind = (uint8_t)kind;
    n->pos = pos;
    return n;
}

static void enter(parser *P)
{
    if (++P->depth > CHAT_MAX_PARSE_DEPTH)
        chat_fail(P->e, cur(P)->pos, "template nested too deeply (more than %d levels)",
                  CHAT_MAX_PARSE_DEPTH);
}

static cnode *parse_expression(parser *P, bool with_condexpr);
static cnode *parse_tuple(parser *P, bool simplified, bool with_condexpr, const char *extra_end,
                          bool explicit_parens, bool with_namespace);
static cnode *parse_primary(parser *P, bool with_namespace);
static cnode *parse_postfix(parser *P, cnode *node);
static cnode *parse_filter(parser *P, cnode *node, bool start_inline);
static nvec subparse(parser *P, const char *const *end_tokens);

typedef struct callargs {
    nvec args;
    const char **kw_names;
    nvec kw;
} callargs;

static void parse_call_args(parser *P, callargs *ca)
{
    memset(ca, 0, sizeof *ca);
    tok *open = cur(P);
    expect_op(P, OP_LPAREN, "'('");
    int kw_cap = 0;
    bool need_comma = false;
    while (!is_op(cur(P), OP_RPAREN)) {
        if (need_comma) {
            expect_op(P, OP_COMMA, "','");
            if (is_op(cur(P), OP_RPAREN)) break;
        }
        if (is_op(cur(P), OP_MUL) || is_op(cur(P), OP_POW))
            chat_fail(P->e, cur(P)->pos, "*args and **kwargs in calls are not supported");
        if (cur(P)->type == T_NAME && is_op(look(P), OP_ASSIGN)) {
            const char *key = advance(P)->text;
            advance(P);
            if (ca->kw.n == kw_cap) {
                kw_cap = kw_cap ? kw_cap * 2 : 4;
                const char **names = chat_alloc(P->e, (size_t)kw_cap * sizeof *names);
                if (ca->kw.n) memcpy(names, ca->kw_names, (size_t)ca->kw.n * sizeof *names);
                ca->kw_names = names;
            }
            ca->kw_names[ca->kw.n] = key;
            nvec_push(P->e, &ca->kw, parse_expression(P, true));
        } else {
            if (ca->kw.n) chat_fail(P->e, open->pos, "invalid syntax for function call expression");
            nvec_push(P->e, &ca->args, parse_expression(P, true));
        }
        need_comma = true;
    }
    expect_op(P, OP_RPAREN, "')'");
}

static void set_args(cnode *n, const callargs *ca)
{
    n->kids = ca->args.p;
    n->n_kids = ca->args.n;
    n->kw_names = ca->kw_names;
    n->kw = ca->kw.p;
    n->n_kw = ca->kw.n;
}

static cnode *parse_call(parser *P, cnode *callee)
{
    cnode *n = mk(P, N_CALL, cur(P)->pos);
    callargs ca;
    parse_call_args(P, &ca);
    n->a = callee;
    set_args(n, &ca);
    return n;
}

static const char *dotted_name(parser *P)
{
    tok *t = expect_type(P, T_NAME, "a name");
    const char *name = t->text;
    while (is_op(cur(P), OP_DOT)) {
        advance(P);
        tok *part = expect_type(P, T_NAME, "a name");
        size_t a = strlen(name), b = strlen(part->text);
        char *joined = chat_alloc(P->e, a + b + 2);
        memcpy(joined, name, a);
        joined[a] = '.';
        memcpy(joined + a + 1, part->text, b + 1);
        name = joined;
    }
    return name;
}

static cnode *parse_filter(parser *P, cnode *node, bool start_inline)
{
    while (is_op(cur(P), OP_PIPE) || start_inline) {
        if (!start_inline) advance(P);
        uint32_t pos = cur(P)->pos;
        cnode *f = mk(P, N_FILTER, pos);
        f->name = dotted_name(P);
        if (is_op(cur(P), OP_LPAREN)) {
            callargs ca;
            parse_call_args(P, &ca);
            set_args(f, &ca);
        }
        f->a = node;
        node = f;
        start_inline = false;
    }
    return node;
}

static cnode *parse_test(parser *P, cnode *node)
{
    tok *is_tok = advance(P);
    bool negated = skip_name(P, "not");
    cnode *t = mk(P, N_TEST, is_tok->pos);
    t->name = dotted_name(P);
    t->a = node;
    tok *c = cur(P);
    if (is_op(c, OP_LPAREN)) {
        callargs ca;
        parse_call_args(P, &ca);
        set_args(t, &ca);
    } else if ((c->type == T_NAME || c->type == T_STRING || c->type == T_INT ||
                c->type == T_FLOAT || is_op(c, OP_LBRACKET) || is_op(c, OP_LBRACE)) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is")) chat_fail(P->e, c->pos, "You cannot chain multiple tests with is");
        cnode *arg = parse_postfix(P, parse_primary(P, false));
        t->kids = chat_alloc(P->e, sizeof(cnode *));
        t->kids[0] = arg;
        t->n_kids = 1;
    }
    if (negated) {
        cnode *n = mk(P, N_NOT, is_tok->pos);
        n->a = t;
        return n;
    }
    return t;
}

static cnode *parse_filter_expr(parser *P, cnode *node)
{
    for (;;) {
        if (is_op(cur(P), OP_PIPE))
            node = parse_filter(P, node, false);
        else if (is_name(cur(P), "is"))
            node = parse_test(P, node);
        else if (is_op(cur(P), OP_LPAREN))
            node = parse_call(P, node);
        else
            break;
    }
    return node;
}

static cnode *parse_subscribed(parser *P)
{
    uint32_t pos = cur(P)->pos;
    cnode *args[3] = {NULL, NULL, NULL};
    if (is_op(cur(P), OP_COLON)) {
        advance(P);
    } else {
        cnode *node = parse_expression(P, true);
        if (!is_op(cur(P), OP_COLON)) return node;
        advance(P);
        args[0] = node;
    }
    if (!is_op(cur(P), OP_COLON) && !is_op(cur(P), OP_RBRACKET) && !is_op(cur(P), OP_COMMA))
        args[1] = parse_expression(P, true);
    if (is_op(cur(P), OP_COLON)) {
        advance(P);
        if (!is_op(cur(P), OP_RBRACKET) && !is_op(cur(P), OP_COMMA))
            args[2] = parse_expression(P, true);
    }
    cnode *s = mk(P, N_SLICE, pos);
    s->a = args[0];
    s->b = args[1];
    s->c = args[2];
    return s;
}

static cnode *parse_subscript(parser *P, cnode *node)
{
    tok *t = advance(P);
    if (t->type == T_OP && t->op == OP_DOT) {
        tok *attr = cur(P);
        if (attr->type == T_NAME) {
            advance(P);
            cnode *g = mk(P, N_GETATTR, t->pos);
            g->a = node;
            g->name = attr->text;
            return g;
        }
        if (attr->type != T_INT) unexpected(P, "a name or number");
        advance(P);
        cnode *k = mk(P, N_CONST, attr->pos);
        k->val = attr->val;
        cnode *g = mk(P, N_GETITEM, t->pos);
        g->a = node;
        g->b = k;
        return g;
    }
    /* '[' */
    nvec args = {0};
    while (!is_op(cur(P), OP_RBRACKET)) {
        if (args.n) expect_op(P, OP_COMMA, "','");
        nvec_push(P->e, &args, parse_subscribed(P));
    }
    expect_op(P, OP_RBRACKET, "']'");
    cnode *g = mk(P, N_GETITEM, t->pos);
    g->a = node;
    if (args.n == 1) {
        g->b = args.p[0];
    } else {
        cnode *tu = mk(P, N_TUPLE, t->pos);
        tu->kids = args.p;
        tu->n_kids = args.n;
        g->b = tu;
    }
    return g;
}

static cnode *parse_postfix(parser *P, cnode *node)
{
    for (;;) {
        if (is_op(cur(P), OP_DOT) || is_op(cur(P), OP_LBRACKET))
            node = parse_subscript(P, node);
        else if (is_op(cur(P), OP_LPAREN))
            node = parse_call(P, node);
        else
            break;
    }
    return node;
}

static cnode *parse_primary(parser *P, bool with_namespace)
{
    enter(P);
    tok *t = cur(P);
    cnode *node;
    if (t->type == T_NAME) {
        advance(P);
        const char *v = t->text;
        if (!strcmp(v, "true") || !strcmp(v, "false") || !strcmp(v, "True") ||
            !strcmp(v, "False")) {
            node = mk(P, N_CONST, t->pos);
            node->val = cv_bool(v[0] == 't' || v[0] == 'T');
        } else if (!strcmp(v, "none") || !strcmp(v, "None")) {
            node = mk(P, N_CONST, t->pos);
            node->val = cv_none();
        } else if (with_namespace && is_op(cur(P), OP_DOT)) {
            advance(P);
            tok *attr = expect_type(P, T_NAME, "a name");
            node = mk(P, N_NSREF, t->pos);
            node->name = v;
            node->attr = attr->text;
        } else {
            node = mk(P, N_NAME, t->pos);
            node->name = v;
        }
    } else if (t->type == T_STRING) {
        advance(P);
        cstr *s = t->val.u.s;
        while (cur(P)->type == T_STRING) s = chat_str_cat(P->e, s, advance(P)->val.u.s);
        node = mk(P, N_CONST, t->pos);
        node->val = cv_str(s);
    } else if (t->type == T_INT || t->type == T_FLOAT) {
        advance(P);
        node = mk(P, N_CONST, t->pos);
        node->val = t->val;
    } else if (is_op(t, OP_LPAREN)) {
        advance(P);
        node = parse_tuple(P, false, true, NULL, true, false);
        expect_op(P, OP_RPAREN, "')'");
    } else if (is_op(t, OP_LBRACKET)) {
        advance(P);
        nvec items = {0};
        while (!is_op(cur(P), OP_RBRACKET)) {
            if (items.n) expect_op(P, OP_COMMA, "','");
            if (is_op(cur(P), OP_RBRACKET)) break;
            nvec_push(P->e, &items, parse_expression(P, true));
        }
        expect_op(P, OP_RBRACKET, "']'");
        node = mk(P, N_LIST, t->pos);
        node->kids = items.p;
        node->n_kids = items.n;
    } else if (is_op(t, OP_LBRACE)) {
        advance(P);
        nvec items = {0};
        while (!is_op(cur(P), OP_RBRACE)) {
            if (items.n) expect_op(P, OP_COMMA, "','");
            if (is_op(cur(P), OP_RBRACE)) break;
            nvec_push(P->e, &items, parse_expression(P, true));
            expect_op(P, OP_COLON, "':'");
            nvec_push(P->e, &items, parse_expression(P, true));
        }
        expect_op(P, OP_RBRACE, "'}'");
        node = mk(P, N_DICT, t->pos);
        node->kids = items.p;
        node->n_kids = items.n;
    } else {
        unexpected(P, NULL);
    }
    P->depth--;
    return node;
}

static cnode *parse_unary(parser *P, bool with_filter)
{
    enter(P);
    tok *t = cur(P);
    cnode *node;
    if (is_op(t, OP_SUB) || is_op(t, OP_ADD)) {
        advance(P);
        node = mk(P, is_op(t, OP_SUB) ? N_NEG : N_POS, t->pos);
        node->a = parse_unary(P, false);
    } else {
        node = parse_primary(P, false);
    }
    node = parse_postfix(P, node);
    if (with_filter) node = parse_filter_expr(P, node);
    P->depth--;
    return node;
}

static cnode *binop(parser *P, int op, cnode *a, cnode *b, uint32_t pos)
{
    cnode *n = mk(P, N_BINOP, pos);
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

static cnode *parse_pow(parser *P)
{
    cnode *left = parse_unary(P, true);
    while (is_op(cur(P), OP_POW)) {
        uint32_t pos = advance(P)->pos;
        left = binop(P, OP_POW, left, parse_unary(P, true), pos);
    }
    return left;
}

static cnode *parse_math2(parser *P)
{
    cnode *left = parse_pow(P);
    for (;;) {
        tok *t = cur(P);
        if (!(is_op(t, OP_MUL) || is_op(t, OP_DIV) || is_op(t, OP_FLOORDIV) || is_op(t, OP_MOD)))
            break;
        advance(P);
        left = binop(P, t->op, left, parse_pow(P), t->pos);
    }
    return left;
}

static cnode *parse_concat(parser *P)
{
    uint32_t pos = cur(P)->pos;
    nvec args = {0};
    nvec_push(P->e, &args, parse_math2(P));
    while (is_op(cur(P), OP_TILDE)) {
        advance(P);
        nvec_push(P->e, &args, parse_math2(P));
    }
    if (args.n == 1) return args.p[0];
    cnode *n = mk(P, N_CONCAT, pos);
    n->kids = args.p;
    n->n_kids = args.n;
    return n;
}

static cnode *parse_math1(parser *P)
{
    cnode *left = parse_concat(P);
    for (;;) {
        tok *t = cur(P);
        if (!(is_op(t, OP_ADD) || is_op(t, OP_SUB))) break;
        advance(P);
        left = binop(P, t->op, left, parse_concat(P), t->pos);
    }
    return left;
}

static cnode *parse_compare(parser *P)
{
    uint32_t pos = cur(P)->pos;
    cnode *expr = parse_math1(P);
    nvec operands = {0};
    uint8_t ops[64];
    for (;;) {
        tok *t = cur(P);
        int op;
        if (t->type == T_OP && (t->op == OP_EQ || t->op == OP_NE || t->op == OP_LT ||
                                t->op == OP_LTEQ || t->op == OP_GT || t->op == OP_GTEQ)) {
            advance(P);
            op = t->op;
        } else if (is_name(t, "in")) {
            advance(P);
            op = OP_IN;
        } else if (is_name(t, "not") && is_name(look(P), "in")) {
            advance(P);
            advance(P);
            op = OP_NOTIN;
        } else {
            break;
        }
        if (operands.n >= (int)sizeof ops) chat_fail(P->e, t->pos, "comparison chain too long");
        ops[operands.n] = (uint8_t)op;
        nvec_push(P->e, &operands, parse_math1(P));
    }
    if (!operands.n) return expr;
    cnode *n = mk(P, N_COMPARE, pos);
    n->a = expr;
    n->kids = operands.p;
    n->n_kids = operands.n;
    n->ops = chat_alloc(P->e, (size_t)operands.n);
    memcpy(n->ops, ops, (size_t)operands.n);
    return n;
}

static cnode *parse_not(parser *P)
{
    if (is_name(cur(P), "not")) {
        enter(P);
        uint32_t pos = advance(P)->pos;
        cnode *n = mk(P, N_NOT, pos);
        n->a = parse_not(P);
        P->depth--;
        return n;
    }
    return parse_compare(P);
}

static cnode *parse_and(parser *P)
{
    cnode *left = parse_not(P);
    while (is_name(cur(P), "and")) {
        uint32_t pos = advance(P)->pos;
        cnode *n = mk(P, N_AND, pos);
        n->a = left;
        n->b = parse_not(P);
        left = n;
    }
    return left;
}

static cnode *parse_or(parser *P)
{
    cnode *left = parse_and(P);
    while (is_name(cur(P), "or")) {
        uint32_t pos = advance(P)->pos;
        cnode *n = mk(P, N_OR, pos);
        n->a = left;
        n->b = parse_and(P);
        left = n;
    }
    return left;
}

static cnode *parse_condexpr(parser *P)
{
    uint32_t pos = cur(P)->pos;
    cnode *expr1 = parse_or(P);
    while (skip_name(P, "if")) {
        cnode *n = mk(P, N_COND, pos);
        n->a = parse_or(P);
        n->b = expr1;
        if (skip_name(P, "else")) n->c = parse_condexpr(P);
        expr1 = n;
        pos = cur(P)->pos;
    }
    return expr1;
}

static cnode *parse_expression(parser *P, bool with_condexpr)
{
    enter(P);
    cnode *n = with_condexpr ? parse_condexpr(P) : parse_or(P);
    P->depth--;
    return n;
}

static bool is_tuple_end(parser *P, const char *extra_end)
{
    tok *t = cur(P);
    if (t->type == T_VAR_END || t->type == T_BLOCK_END || is_op(t, OP_RPAREN)) return true;
    return extra_end && is_name(t, extra_end);
}

static cnode *parse_tuple(parser *P, bool simplified, bool with_condexpr, const char *extra_end,
                          bool explicit_parens, bool with_namespace)
{
    uint32_t pos = cur(P)->pos;
    nvec args = {0};
    bool is_tuple = false;
    for (;;) {
        if (args.n) expect_op(P, OP_COMMA, "','");
        if (is_tuple_end(P, extra_end)) break;
        nvec_push(P->e, &args,
                  simplified ? parse_primary(P, with_namespace)
                             : parse_expression(P, with_condexpr));
        if (is_op(cur(P), OP_COMMA))
            is_tuple = true;
        else
            break;
    }
    if (!is_tuple) {
        if (args.n) return args.p[0];
        if (!explicit_parens) unexpected(P, "an expression");
    }
    cnode *n = mk(P, N_TUPLE, pos);
    n->kids = args.p;
    n->n_kids = args.n;
    return n;
}

static bool can_assign(const cnode *n)
{
    if (n->kind == N_NAME || n->kind == N_NSREF) return true;
    if (n->kind != N_TUPLE) return false;
    for (int i = 0; i < n->n_kids; i++)
        if (!can_assign(n->kids[i])) return false;
    return true;
}

static cnode *parse_assign_target(parser *P, bool name_only, const char *extra_end,
                                  bool with_namespace)
{
    cnode *target;
    if (name_only) {
        tok *t = expect_type(P, T_NAME, "a name");
        target = mk(P, N_NAME, t->pos);
        target->name = t->text;
    } else {
        target = parse_tuple(P, true, true, extra_end, false, with_namespace);
    }
    if (!can_assign(target)) chat_fail(P->e, target->pos, "can't assign to this expression");
    return target;
}

/* ---- statements ---- */

static nvec parse_statements(parser *P, const char *const *end_tokens, bool drop_needle)
{
    skip_op(P, OP_COLON);
    expect_type(P, T_BLOCK_END, "end of statement block");
    nvec body = subparse(P, end_tokens);
    if (cur(P)->type == T_EOF) {
        char want[128] = "";
        for (int i = 0; end_tokens[i]; i++) {
            if (i) strcat(want, " or ");
            strcat(want, "'");
            strcat(want, end_tokens[i]);
            strcat(want, "'");
        }
        chat_fail(P->e, cur(P)->pos, "unexpected end of template, expected %s", want);
    }
    if (drop_needle) advance(P);
    return body;
}

static void set_body(cnode *n, nvec v)
{
    n->body = v.p;
    n->n_body = v.n;
}

static void set_else(cnode *n, nvec v)
{
    n->orelse = v.p;
    n->n_orelse = v.n;
}

static bool uses_name(const cnode *n, const char *name, int depth)
{
    if (!n || depth > CHAT_MAX_AST_DEPTH) return false;
    if (n->kind == N_NAME && strcmp(n->name, name) == 0) return true;
    if (n->kind == N_MACRO) return false; /* a nested macro has its own */
    if (uses_name(n->a, name, depth + 1) || uses_name(n->b, name, depth + 1) ||
        uses_name(n->c, name, depth + 1))
        return true;
    for (int i = 0; i < n->n_kids; i++)
        if (uses_name(n->kids[i], name, depth + 1)) return true;
    for (int i = 0; i < n->n_kw; i++)
        if (uses_name(n->kw[i], name, depth + 1)) return true;
    for (int i = 0; i < n->n_body; i++)
        if (uses_name(n->body[i], name, depth + 1)) return true;
    for (int i = 0; i < n->n_orelse; i++)
        if (uses_name(n->orelse[i], name, depth + 1)) return true;
    return false;
}

static void parse_signature(parser *P, cnode *n)
{
    expect_op(P, OP_LPAREN, "'('");
    nvec names = {0}, defaults = {0};
    bool any_default = false;
    while (!is_op(cur(P), OP_RPAREN)) {
        if (names.n) expect_op(P, OP_COMMA, "','");
        tok *t = expect_type(P, T_NAME, "a parameter name");
        cnode *nm = mk(P, N_NAME, t->pos);
        nm->name = t->text;
        nvec_push(P->e, &names, nm);
        if (skip_op(P, OP_ASSIGN)) {
            nvec_push(P->e, &defaults, parse_expression(P, true));
            any_default = true;
        } else {
            if (any_default)
                chat_fail(P->e, t->pos, "non-default argument follows default argument");
            nvec_push(P->e, &defaults, NULL);
        }
    }
    expect_op(P, OP_RPAREN, "')'");
    n->n_kw = names.n;
    n->kw_names = chat_alloc(P->e, (size_t)(names.n + 1) * sizeof(char *));
    for (int i = 0; i < names.n; i++) n->kw_names[i] = names.p[i]->name;
    n->kw = defaults.p;
}

static cnode *parse_statement(parser *P)
{
    tok *t = cur(P);
    if (t->type != T_NAME) unexpected(P, "a tag name");
    const char *tag = t->text;
    uint32_t pos = t->pos;
    static const char *const end_for[] = {"endfor", "else", NULL};
    static const char *const end_for2[] = {"endfor", NULL};
    static const char *const end_if[] = {"elif", "else", "endif", NULL};
    static const char *const end_if2[] = {"endif", NULL};
    static const char *const end_set[] = {"endset", NULL};
    static const char *const end_macro[] = {"endmacro", NULL};
    static const char *const end_call[] = {"endcall", NULL};
    static const char *const end_filter[] = {"endfilter", NULL};
    static const char *const end_with[] = {"endwith", NULL};
    static const char *const end_block[] = {"endblock", NULL};
    static const char *const end_gen[] = {"endgeneration", NULL};

    if (!strcmp(tag, "for")) {
        advance(P);
        cnode *n = mk(P, N_FOR, pos);
        n->a = parse_assign_target(P, false, "in", false);
        if (!skip_name(P, "in")) unexpected(P, "'in'");
        n->b = parse_tuple(P, false, false, "recursive", false, false);
        if (skip_name(P, "if")) n->c = parse_expression(P, true);
        if (is_name(cur(P), "recursive"))
            chat_fail(P->e, cur(P)->pos, "recursive for loops are not supported");
        P->loop_depth++;
        set_body(n, parse_statements(P, end_for, false));
        P->loop_depth--;
        if (strcmp(advance(P)->text, "endfor") != 0)
            set_else(n, parse_statements(P, end_for2, true));
        return n;
    }
    if (!strcmp(tag, "if")) {
        advance(P);
        cnode *result = mk(P, N_IF, pos), *node = result;
        for (;;) {
            node->a = parse_tuple(P, false, false, NULL, false, false);
            set_body(node, parse_statements(P, end_if, false));
            tok *end = advance(P);
            if (!strcmp(end->text, "elif")) {
                cnode *elif = mk(P, N_IF, end->pos);
                node->orelse = chat_alloc(P->e, sizeof(cnode *));
                node->orelse[0] = elif;
                node->n_orelse = 1;
                node = elif;
                continue;
            }
            if (!strcmp(end->text, "else")) set_else(node, parse_statements(P, end_if2, true));
            break;
        }
        return result;
    }
    if (!strcmp(tag, "set")) {
        advance(P);
        cnode *target = parse_assign_target(P, false, NULL, true);
        if (skip_op(P, OP_ASSIGN)) {
            cnode *n = mk(P, N_SET, pos);
            n->a = target;
            n->b = parse_tuple(P, false, true, NULL, false, false);
            return n;
        }
        cnode *n = mk(P, N_SETBLOCK, pos);
        n->a = target;
        n->c = parse_filter(P, NULL, false);
        set_body(n, parse_statements(P, end_set, true));
        return n;
    }
    if (!strcmp(tag, "macro") || !strcmp(tag, "call")) {
        bool is_macro = tag[0] == 'm';
        advance(P);
        cnode *n = mk(P, is_macro ? N_MACRO : N_CALLBLOCK, pos);
        if (is_macro) {
            n->name = expect_type(P, T_NAME, "a macro name")->text;
            parse_signature(P, n);
        } else {
            if (is_op(cur(P), OP_LPAREN)) parse_signature(P, n);
            n->a = parse_expression(P, true);
            if (n->a->kind != N_CALL) chat_fail(P->e, n->a->pos, "expected call");
        }
        int saved = P->loop_depth;
        P->loop_depth = 0;
        set_body(n, parse_statements(P, is_macro ? end_macro : end_call, true));
        P->loop_depth = saved;
        for (int i = 0; i < n->n_body; i++) {
            if (uses_name(n->body[i], "varargs", 0)) n->flags |= 1;
            if (uses_name(n->body[i], "kwargs", 0)) n->flags |= 2;
        }
        return n;
    }
    if (!strcmp(tag, "filter")) {
        advance(P);
        cnode *n = mk(P, N_FILTERBLOCK, pos);
        n->c = parse_filter(P, NULL, true);
        set_body(n, parse_statements(P, end_filter, true));
        return n;
    }
    if (!strcmp(tag, "with")) {
        advance(P);
        cnode *n = mk(P, N_WITH, pos);
        nvec values = {0};
        const char **names = NULL;
        int cap = 0;
        while (cur(P)->type != T_BLOCK_END) {
            if (values.n) expect_op(P, OP_COMMA, "','");
            tok *nt = expect_type(P, T_NAME, "a name");
            expect_op(P, OP_ASSIGN, "'='");
            if (values.n == cap) {
                cap = cap ? cap * 2 : 4;
                const char **nn = chat_alloc(P->e, (size_t)cap * sizeof *nn);
                if (values.n) memcpy(nn, names, (size_t)values.n * sizeof *nn);
                names = nn;
            }
            names[values.n] = nt->text;
            nvec_push(P->e, &values, parse_expression(P, true));
        }
        n->kw_names = names;
        n->kw = values.p;
        n->n_kw = values.n;
        set_body(n, parse_statements(P, end_with, true));
        return n;
    }
    if (!strcmp(tag, "block")) {
        advance(P);
        tok *nm = expect_type(P, T_NAME, "a block name");
        skip_name(P, "scoped");
        skip_name(P, "required");
        cnode *n = mk(P, N_SCOPE, pos);
        set_body(n, parse_statements(P, end_block, true));
        skip_name(P, nm->text);
        return n;
    }
    if (!strcmp(tag, "generation")) {
        advance(P);
        cnode *n = mk(P, N_SCOPE, pos);
        set_body(n, parse_statements(P, end_gen, true));
        return n;
    }
    if (!strcmp(tag, "print")) {
        advance(P);
        cnode *n = mk(P, N_OUTPUT, pos);
        nvec items = {0};
        while (cur(P)->type != T_BLOCK_END) {
            if (items.n) expect_op(P, OP_COMMA, "','");
            nvec_push(P->e, &items, parse_expression(P, true));
        }
        n->kids = items.p;
        n->n_kids = items.n;
        return n;
    }
    if (!strcmp(tag, "break") || !strcmp(tag, "continue")) {
        advance(P);
        if (!P->loop_depth) chat_fail(P->e, pos, "'%s' outside of a for loop", tag);
        return mk(P, tag[0] == 'b' ? N_BREAK : N_CONTINUE, pos);
    }
    if (!strcmp(tag, "include") || !strcmp(tag, "import") || !strcmp(tag, "from") ||
        !strcmp(tag, "extends"))
        chat_fail(P->e, pos, "'%s' is not supported: a chat template cannot load other templates",
                  tag);
    chat_fail(P->e, pos, "Encountered unknown tag '%s'.", tag);
}

static nvec subparse(parser *P, const char *const *end_tokens)
{
    enter(P);
    nvec body = {0};
    nvec data = {0};
    for (;;) {
        tok *t = cur(P);
        if (t->type == T_EOF) break;
        if (t->type == T_DATA) {
            cnode *d = mk(P, N_DATA, t->pos);
            d->val = cv_strn(P->e, t->text, t->len);
            nvec_push(P->e, &data, d);
            advance(P);
        } else if (t->type == T_VAR_BEGIN) {
            advance(P);
            nvec_push(P->e, &data, parse_tuple(P, false, true, NULL, false, false));
            expect_type(P, T_VAR_END, "end of print statement");
        } else if (t->type == T_BLOCK_BEGIN) {
            if (data.n) {
                cnode *o = mk(P, N_OUTPUT, data.p[0]->pos);
                o->kids = data.p;
                o->n_kids = data.n;
                nvec_push(P->e, &body, o);
                data = (nvec){0};
            }
            advance(P);
            if (end_tokens) {
                for (int i = 0; end_tokens[i]; i++) {
                    if (is_name(cur(P), end_tokens[i])) {
                        P->depth--;
                        return body;
                    }
                }
            }
            nvec_push(P->e, &body, parse_statement(P));
            expect_type(P, T_BLOCK_END, "end of statement block");
        } else {
            unexpected(P, NULL);
        }
    }
    if (data.n) {
        cnode *o = mk(P, N_OUTPUT, data.p[0]->pos);
        o->kids = data.p;
        o->n_kids = data.n;
        nvec_push(P->e, &body, o);
    }
    P->depth--;
    return body;
}

/* Jinja2 rejects unknown filters and tests when it compiles a template,
 * except inside an if statement or a conditional expression, where the
 * error waits until the filter is actually applied. */
static void check_names(chat_env *e, const cnode *n, bool soft)
{
    if (!n) return;
    if (!soft && n->kind == N_FILTER && !chat_filter_exists(n->name))
        chat_fail(e, n->pos, "No filter named '%s'.", n->name);
    if (!soft && n->kind == N_TEST && !chat_test_exists(n->name))
        chat_fail(e, n->pos, "No test named '%s'.", n->name);
    bool inner = soft;
    if (n->kind == N_IF || n->kind == N_COND) inner = true;
    bool body_soft = inner;
    if (n->kind == N_FOR || n->kind == N_MACRO || n->kind == N_CALLBLOCK ||
        n->kind == N_FILTERBLOCK || n->kind == N_WITH || n->kind == N_SCOPE ||
        n->kind == N_SETBLOCK)
        body_soft = false;
    check_names(e, n->a, inner);
    check_names(e, n->b, inner);
    check_names(e, n->c, inner);
    for (int i = 0; i < n->n_kids; i++) check_names(e, n->kids[i], inner);
    for (int i = 0; i < n->n_kw; i++) check_names(e, n->kw[i], inner);
    for (int i = 0; i < n->n_body; i++) check_names(e, n->body[i], body_soft);
    for (int i = 0; i < n->n_orelse; i++)
        check_names(e, n->orelse[i], n->kind == N_IF ? inner : body_soft);
}

/* The tree's depth, measured without recursion (a filter chain or an
 * operator chain thousands long builds a deep tree from a loop), so that the
 * recursive walkers after it (name checks, the interpreter) stay within a
 * bounded C stack. */
static void check_depth(chat_env *e, cnode *root)
{
    typedef struct item {
        cnode *n;
        int depth;
    } item;
    size_t cap = 256, top = 0;
    item *stack = chat_alloc(e, cap * sizeof *stack);
    stack[top++] = (item){root, 0};
    while (top) {
        item it = stack[--top];
        if (it.depth > CHAT_MAX_AST_DEPTH)
            chat_fail(e, it.n->pos, "template nested too deeply (more than %d levels)",
                      CHAT_MAX_AST_DEPTH);
        cnode *n = it.n;
        size_t need =
            3 + (size_t)n->n_kids + (size_t)n->n_kw + (size_t)n->n_body + (size_t)n->n_orelse;
        if (top + need > cap) {
            while (top + need > cap) cap *= 2;
            item *bigger = chat_alloc(e, cap * sizeof *bigger);
            memcpy(bigger, stack, top * sizeof *stack);
            stack = bigger;
        }
        cnode *one[3] = {n->a, n->b, n->c};
        for (int i = 0; i < 3; i++)
            if (one[i]) stack[top++] = (item){one[i], it.depth + 1};
        for (int i = 0; i < n->n_kids; i++) stack[top++] = (item){n->kids[i], it.depth + 1};
        for (int i = 0; i < n->n_kw; i++)
            if (n->kw[i]) stack[top++] = (item){n->kw[i], it.depth + 1};
        for (int i = 0; i < n->n_body; i++) stack[top++] = (item){n->body[i], it.depth + 1};
        for (int i = 0; i < n->n_orelse; i++) stack[top++] = (item){n->orelse[i], it.depth + 1};
    }
}

cnode *chat_parse(chat_env *e, const char *src, size_t len)
{
    if (!chat_utf8_valid(src, len)) chat_fail(e, CHAT_NOPOS, "template is not valid UTF-8");
    lexer L = {e, src, len, NULL, 0, 0};
    lex(&L);
    parser P = {e, L.toks, 0, L.n, 0, 0};
    nvec body = subparse(&P, NULL);
    if (cur(&P)->type != T_EOF) unexpected(&P, NULL);
    cnode *root = mk(&P, N_SCOPE, 0);
    set_body(root, body);
    check_depth(e, root);
    for (int i = 0; i < root->n_body; i++) check_names(e, root->body[i], false);
    return root;
}
