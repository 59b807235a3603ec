/* Grammar text -> compiled rules (see docs/grammar.md for the language).
 *
 * A recursive-descent parser with a nesting limit; repetitions and groups
 * become synthetic rules. After parsing, undefined rules and left recursion
 * are refused, so the matcher never loops. */
#include "grammar/grammar_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 20000
#define MAX_ELEMS 2000000
#define MAX_NEST 64
#define MAX_REPEAT 1000

typedef struct elist {
    g_elem *v;
    int32_t n, cap;
} elist;

typedef struct prule {
    char *name; /* NULL for synthetic rules */
    elist body; /* alternatives, each ending with GE_END */
    bool defined;
    int line, col; /* of the definition, or of the first use */
} prule;

typedef struct parser {
    const char *src, *p;
    prule *rules;
    int32_t n_rules, cap_rules;
    g_set *sets;
    int32_t n_sets, cap_sets;
    g_range *ranges;
    int32_t n_ranges, cap_ranges;
    int64_t total;
    char *err;
    size_t errlen;
    tk_status st;
} parser;

static void where(const parser *ps, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *q = ps->src; q < at; q++) {
        if (*q == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static bool fail_at(parser *ps, const char *at, const char *fmt, ...)
{
    if (ps->st != TK_OK) return false;
    ps->st = TK_ERR_INVALID_ARG;
    if (ps->err && ps->errlen) {
        int line, col;
        where(ps, at, &line, &col);
        int k = snprintf(ps->err, ps->errlen, "%d:%d: ", line, col);
        if (k >= 0 && (size_t)k < ps->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ps->err + k, ps->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return false;
}

static bool nomem(parser *ps)
{
    if (ps->st == TK_OK) {
        ps->st = TK_ERR_NOMEM;
        if (ps->err && ps->errlen) snprintf(ps->err, ps->errlen, "out of memory");
    }
    return false;
}

static bool grow(parser *ps, void **v, int32_t *cap, int32_t need, size_t size)
{
    if (need <= *cap) return true;
    int32_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *nv = realloc(*v, (size_t)nc * size);
    if (!nv) return nomem(ps);
    *v = nv;
    *cap = nc;
    return true;
}

static bool push(parser *ps, elist *l, uint8_t kind, int32_t v)
{
    if (++ps->total > MAX_ELEMS) return fail_at(ps, ps->p, "grammar too large");
    if (!grow(ps, (void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return false;
    l->v[l->n++] = (g_elem){kind, v};
    return true;
}

static bool append(parser *ps, elist *l, const elist *x)
{
    for (int32_t i = 0; i < x->n; i++)
        if (!push(ps, l, x->v[i].kind, x->v[i].v)) return false;
    return true;
}

static int32_t new_rule(parser *ps, const char *name, size_t len)
{
    if (ps->n_rules >= MAX_RULES) {
        fail_at(ps, ps->p, "too many rules (the limit is %d)", MAX_RULES);
        return -1;
    }
    if (!grow(ps, (void **)&ps->rules, &ps->cap_rules, ps->n_rules + 1, sizeof *ps->rules))
        return -1;
    prule *r = &ps->rules[ps->n_rules];
    memset(r, 0, sizeof *r);
    if (name) {
        r->name = malloc(len + 1);
        if (!r->name) {
            nomem(ps);
            return -1;
        }
        memcpy(r->name, name, len);
        r->name[len] = '\0';
    }
    where(ps, ps->p, &r->line, &r->col);
    return ps->n_rules++;
}

static int32_t find_rule(parser *ps, const char *name, size_t len)
{
    for (int32_t i = 0; i < ps->n_rules; i++) {
        const char *n = ps->rules[i].name;
        if (n && strlen(n) == len && memcmp(n, name, len) == 0) return i;
    }
    return new_rule(ps, name, len);
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

static void skip_space(parser *ps, bool newlines)
{
    for (;;) {
        char c = *ps->p;
        if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
            ps->p++;
        } else if (c == '#') {
            while (*ps->p && *ps->p != '\n') ps->p++;
        } else {
            return;
        }
    }
}

static size_t name_len(const char *p)
{
    size_t n = 0;
    while (is_name_char(p[n])) n++;
    return n;
}

/* Whether p starts `name ::=`. */
static bool at_rule_start(const char *p)
{
    size_t n = name_len(p);
    if (!n) return false;
    p += n;
    while (*p == ' ' || *p == '\t') p++;
    return strncmp(p, "::=", 3) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class (escapes decoded) -> codepoint. */
static bool read_char(parser *ps, uint32_t *cp)
{
    const char *at = ps->p;
    unsigned char c = (unsigned char)*ps->p;
    if (c == '\0' || c == '\n') return fail_at(ps, at, "unterminated literal or class");
    if (c == '\\') {
        char e = ps->p[1];
        ps->p += 2;
        int digits = 0;
        switch (e) {
        case 'n': *cp = '\n'; return true;
        case 't': *cp = '\t'; return true;
        case 'r': *cp = '\r'; return true;
        case '\\': *cp = '\\'; return true;
        case '"': *cp = '"'; return true;
        case '\'': *cp = '\''; return true;
        case '[': *cp = '['; return true;
        case ']': *cp = ']'; return true;
        case '-': *cp = '-'; return true;
        case '^': *cp = '^'; return true;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default: return fail_at(ps, at, "unknown escape \\%c", e ? e : '0');
        }
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            int h = hexval(*ps->p);
            if (h < 0) return fail_at(ps, at, "escape needs %d hex digits", digits);
            v = v * 16 + (uint32_t)h;
            ps->p++;
        }
        if (v > 0x10FFFF) return fail_at(ps, at, "codepoint out of range");
        *cp = v;
        return true;
    }
    /* one UTF-8 character */
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!n) return fail_at(ps, at, "invalid UTF-8");
    uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (int i = 1; i < n; i++) {
        unsigned char d = (unsigned char)ps->p[i];
        if ((d & 0xC0) != 0x80) return fail_at(ps, at, "invalid UTF-8");
        v = (v << 6) | (d & 0x3Fu);
    }
    ps->p += n;
    *cp = v;
    return true;
}

static bool push_cp_bytes(parser *ps, elist *l, uint32_t cp, bool raw_byte)
{
    unsigned char b[4];
    int n;
    if (cp < 0x80 || raw_byte) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (cp >> 18));
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    for (int i = 0; i < n; i++)
        if (!push(ps, l, GE_BYTE, b[i])) return false;
    return true;
}

static int32_t add_set(parser *ps, bool negate)
{
    if (!grow(ps, (void **)&ps->sets, &ps->cap_sets, ps->n_sets + 1, sizeof *ps->sets)) return -1;
    ps->sets[ps->n_sets] = (g_set){ps->n_ranges, 0, negate};
    return ps->n_sets++;
}

static bool add_range(parser *ps, int32_t s, uint32_t lo, uint32_t hi)
{
    if (!grow(ps, (void **)&ps->ranges, &ps->cap_ranges, ps->n_ranges + 1, sizeof *ps->ranges))
        return false;
    ps->ranges[ps->n_ranges++] = (g_range){lo, hi};
    ps->sets[s].n++;
    return true;
}

static bool parse_alts(parser *ps, elist *body, int depth);

/* Wraps a fragment into a synthetic rule; returns its index. */
static int32_t wrap(parser *ps, elist *frag)
{
    int32_t r = new_rule(ps, NULL, 0);
    if (r < 0) return -1;
    ps->rules[r].defined = true;
    if (!append(ps, &ps->rules[r].body, frag) || !push(ps, &ps->rules[r].body, GE_END, 0))
        return -1;
    return r;
}

/* atom := literal | class | name | ( alts ) | . */
static bool parse_atom(parser *ps, elist *frag, int depth)
{
    const char *at = ps->p;
    char c = *ps->p;
    if (c == '"') {
        ps->p++;
        while (*ps->p != '"') {
            bool hex = ps->p[0] == '\\' && ps->p[1] == 'x';
            uint32_t cp;
            if (!read_char(ps, &cp)) return false;
            if (!push_cp_bytes(ps, frag, cp, hex)) return false;
        }
        ps->p++;
        return true;
    }
    if (c == '[') {
        ps->p++;
        bool neg = *ps->p == '^';
        if (neg) ps->p++;
        int32_t s = add_set(ps, neg);
        if (s < 0) return false;
        while (*ps->p != ']') {
            uint32_t lo, hi;
            if (!read_char(ps, &lo)) return false;
            hi = lo;
            if (ps->p[0] == '-' && ps->p[1] != ']') {
                ps->p++;
                if (!read_char(ps, &hi)) return false;
                if (hi < lo) return fail_at(ps, at, "range out of order in class");
            }
            if (!add_range(ps, s, lo, hi)) return false;
        }
        ps->p++;
        return push(ps, frag, GE_SET, s);
    }
    if (c == '.') {
        ps->p++;
        int32_t s = add_set(ps, false);
        if (s < 0 || !add_range(ps, s, 0, 0x10FFFF)) return false;
        return push(ps, frag, GE_SET, s);
    }
    if (c == '(') {
        if (depth >= MAX_NEST) return fail_at(ps, at, "nesting deeper than %d", MAX_NEST);
        ps->p++;
        elist body = {0};
        bool ok = parse_alts(ps, &body, depth + 1);
        if (ok) {
            skip_space(ps, true);
            if (*ps->p != ')') ok = fail_at(ps, ps->p, "expected ')'");
            else ps->p++;
        }
        if (ok) {
            int32_t r = new_rule(ps, NULL, 0);
            if (r < 0) ok = false;
            else {
                ps->rules[r].defined = true;
                ps->rules[r].body = body;
                body.v = NULL;
                ok = push(ps, frag, GE_REF, r);
            }
        }
        free(body.v);
        return ok;
    }
    size_t n = name_len(ps->p);
    if (n) {
        int32_t r = find_rule(ps, ps->p, n);
        ps->p += n;
        return r >= 0 && push(ps, frag, GE_REF, r);
    }
    if (c == '\0') return fail_at(ps, at, "unexpected end of grammar");
    return fail_at(ps, at, "unexpected '%c'", c);
}

static bool read_int(parser *ps, int *v)
{
    const char *at = ps->p;
    if (*ps->p < '0' || *ps->p > '9') return fail_at(ps, at, "expected a number");
    long x = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        x = x * 10 + (*ps->p - '0');
        if (x > MAX_REPEAT) return fail_at(ps, at, "repetition count above %d", MAX_REPEAT);
        ps->p++;
    }
    *v = (int)x;
    return true;
}

/* x repeated min..max times (max -1 = unbounded), appended to seq. */
static bool repeat(parser *ps, elist *seq, elist *x, int min, int max)
{
    for (int i = 0; i < min; i++)
        if (!append(ps, seq, x)) return false;
    if (max == min) return true;
    if (max < 0) { /* S ::= x S | () */
        int32_t r = new_rule(ps, NULL, 0);
        if (r < 0) return false;
        ps->rules[r].defined = true;
        elist *b = &ps->rules[r].body;
        if (!append(ps, b, x) || !push(ps, b, GE_REF, r) || !push(ps, b, GE_END, 0) ||
            !push(ps, b, GE_END, 0))
            return false;
        return push(ps, seq, GE_REF, r);
    }
    /* O_k ::= x O_{k-1} | () ; O_1 ::= x | () */
    int32_t prev = -1;
    for (int k = 1; k <= max - min; k++) {
        int32_t r = new_rule(ps, NULL, 0);
        if (r < 0) return false;
        ps->rules[r].defined = true;
        elist *b = &ps->rules[r].body;
        if (!append(ps, b, x)) return false;
        if (prev >= 0 && !push(ps, b, GE_REF, prev)) return false;
        if (!push(ps, b, GE_END, 0) || !push(ps, b, GE_END, 0)) return false;
        prev = r;
    }
    return push(ps, seq, GE_REF, prev);
}

/* seq := (atom quantifier*)* */
static bool parse_seq(parser *ps, elist *seq, int depth)
{
    for (;;) {
        skip_space(ps, true);
        char c = *ps->p;
        if (c == '\0' || c == '|' || c == ')') return true;
        if (at_rule_start(ps->p)) return true;
        elist frag = {0};
        bool ok = parse_atom(ps, &frag, depth);
        while (ok) {
            skip_space(ps, false);
            const char *at = ps->p;
            int min = 0, max = 0;
            c = *ps->p;
            if (c == '*') min = 0, max = -1;
            else if (c == '+') min = 1, max = -1;
            else if (c == '?') min = 0, max = 1;
            else if (c == '{') {
                ps->p++;
                skip_space(ps, false);
                ok = read_int(ps, &min);
                skip_space(ps, false);
                max = min;
                if (ok && *ps->p == ',') {
                    ps->p++;
                    skip_space(ps, false);
                    max = -1;
                    if (*ps->p != '}') ok = read_int(ps, &max);
                    skip_space(ps, false);
                }
                if (ok && *ps->p != '}') ok = fail_at(ps, ps->p, "expected '}'");
                if (ok && max >= 0 && max < min) ok = fail_at(ps, at, "{m,n} with n < m");
                if (!ok) break;
            } else {
                break;
            }
            ps->p++;
            if (frag.n != 1) { /* a literal of several bytes: make it one element */
                int32_t r = wrap(ps, &frag);
                if (r < 0) {
                    ok = false;
                    break;
                }
                frag.n = 0;
                ok = push(ps, &frag, GE_REF, r);
                if (!ok) break;
            }
            elist out = {0};
            ok = repeat(ps, &out, &frag, min, max);
            free(frag.v);
            frag = out;
        }
        if (ok) ok = append(ps, seq, &frag);
        free(frag.v);
        if (!ok) return false;
    }
}

/* alts := seq ('|' seq)*, each ended by GE_END in body */
static bool parse_alts(parser *ps, elist *body, int depth)
{
    for (;;) {
        if (!parse_seq(ps, body, depth) || !push(ps, body, GE_END, 0)) return false;
        skip_space(ps, true);
        if (*ps->p != '|') return true;
        ps->p++;
    }
}

static bool parse_rules(parser *ps)
{
    for (;;) {
        skip_space(ps, true);
        if (!*ps->p) return true;
        size_t n = name_len(ps->p);
        if (!n) return fail_at(ps, ps->p, "expected a rule name");
        const char *name_at = ps->p;
        int32_t r = find_rule(ps, ps->p, n);
        if (r < 0) return false;
        if (ps->rules[r].defined)
            return fail_at(ps, name_at, "rule '%s' defined twice", ps->rules[r].name);
        ps->p += n;
        skip_space(ps, false);
        if (strncmp(ps->p, "::=", 3) != 0) return fail_at(ps, ps->p, "expected '::='");
        ps->p += 3;
        ps->rules[r].defined = true;
        where(ps, name_at, &ps->rules[r].line, &ps->rules[r].col);
        elist body = {0};
        bool ok = parse_alts(ps, &body, 0);
        ps->rules[r].body = body; /* the rules array may have moved: index again */
        if (!ok) return false;
        skip_space(ps, true);
        if (*ps->p == ')') return fail_at(ps, ps->p, "unmatched ')'");
    }
}

/* Refuses left recursion: a rule reaching itself without consuming input. */
static bool check_left_recursion(parser *ps)
{
    int32_t n = ps->n_rules;
    bool *nullable = calloc((size_t)n, sizeof *nullable);
    uint8_t *color = calloc((size_t)n, 1);
    int32_t *stack = malloc((size_t)n * 2 * sizeof *stack);
    if (!nullable || !color || !stack) {
        free(nullable);
        free(color);
        free(stack);
        return nomem(ps);
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (int32_t r = 0; r < n; r++) {
            if (nullable[r]) continue;
            const elist *b = &ps->rules[r].body;
            bool alt_ok = true;
            for (int32_t i = 0; i < b->n; i++) {
                g_elem e = b->v[i];
                if (e.kind == GE_END) {
                    if (alt_ok) {
                        nullable[r] = true;
                        changed = true;
                        break;
                    }
                    alt_ok = true;
                } else if (e.kind != GE_REF || !nullable[e.v]) {
                    alt_ok = false;
                }
            }
        }
    }
    /* iterative DFS over left-corner edges; stack holds (rule, element cursor) */
    bool ok = true;
    for (int32_t s = 0; s < n && ok; s++) {
        if (color[s]) continue;
        int32_t sp = 0;
        stack[sp++] = s;
        stack[sp++] = 0;
        color[s] = 1;
        while (sp && ok) {
            int32_t r = stack[sp - 2], i = stack[sp - 1];
            const elist *b = &ps->rules[r].body;
            /* next left-corner reference of r at or after i */
            int32_t next = -1;
            while (i < b->n) {
                /* is b->v[i] in a left-corner position? walk back to alt start */
                int32_t j = i;
                bool lc = true;
                while (j > 0 && b->v[j - 1].kind != GE_END) {
                    g_elem e = b->v[j - 1];
                    if (e.kind != GE_REF || !nullable[e.v]) {
                        lc = false;
                        break;
                    }
                    j--;
                }
                g_elem e = b->v[i++];
                if (lc && e.kind == GE_REF) {
                    next = e.v;
                    break;
                }
            }
            stack[sp - 1] = i;
            if (next < 0) {
                color[r] = 2;
                sp -= 2;
            } else if (color[next] == 1) {
                const prule *pr = &ps->rules[next];
                ps->st = TK_ERR_INVALID_ARG;
                if (ps->err && ps->errlen)
                    snprintf(ps->err, ps->errlen,
                             "%d:%d: left recursion: rule '%s' can reach itself without "
                             "consuming input (rewrite it with repetition)",
                             pr->line, pr->col, pr->name ? pr->name : "(group)");
                ok = false;
            } else if (color[next] == 0) {
                color[next] = 1;
                stack[sp++] = next;
                stack[sp++] = 0;
            }
        }
    }
    free(nullable);
    free(color);
    free(stack);
    return ok;
}

static void free_parser(parser *ps)
{
    for (int32_t i = 0; i < ps->n_rules; i++) {
        free(ps->rules[i].name);
        free(ps->rules[i].body.v);
    }
    free(ps->rules);
    free(ps->sets);
    free(ps->ranges);
}

void tk_grammar_free(tk_grammar *g)
{
    if (!g) return;
    free(g->elems);
    free(g->alt_first);
    free(g->alts);
    free(g->sets);
    free(g->ranges);
    free(g);
}

tk_status tk_grammar_parse(const char *text, tk_grammar **out, char *err, size_t errlen)
{
    if (out) *out = NULL;
    if (err && errlen) err[0] = '\0';
    if (!text || !out) {
        if (err && errlen) snprintf(err, errlen, "no grammar text");
        return TK_ERR_INVALID_ARG;
    }
    parser ps = {.src = text, .p = text, .err = err, .errlen = errlen, .st = TK_OK};
    bool ok = parse_rules(&ps);
    int32_t root = -1;
    for (int32_t i = 0; ok && i < ps.n_rules; i++) {
        prule *r = &ps.rules[i];
        if (!r->defined) {
            ps.st = TK_ERR_INVALID_ARG;
            if (err && errlen)
                snprintf(err, errlen, "%d:%d: rule '%s' is used but not defined", r->line, r->col,
                         r->name);
            ok = false;
        } else if (r->name && strcmp(r->name, "root") == 0) {
            root = i;
        }
    }
    if (ok && root < 0) {
        int line, col;
        where(&ps, ps.p, &line, &col);
        ps.st = TK_ERR_INVALID_ARG;
        if (err && errlen) snprintf(err, errlen, "%d:%d: no rule named 'root'", line, col);
        ok = false;
    }
    if (ok) ok = check_left_recursion(&ps);
    tk_grammar *g = NULL;
    if (ok) {
        g = calloc(1, sizeof *g);
        int64_t n_elems = 0, n_alts = 0;
        for (int32_t i = 0; i < ps.n_rules; i++) {
            n_elems += ps.rules[i].body.n;
            for (int32_t j = 0; j < ps.rules[i].body.n; j++)
                n_alts += ps.rules[i].body.v[j].kind == GE_END;
        }
        if (g) {
            g->elems = malloc((size_t)(n_elems + 1) * sizeof *g->elems);
            g->alts = malloc((size_t)(n_alts + 1) * sizeof *g->alts);
            g->alt_first = malloc((size_t)(ps.n_rules + 1) * sizeof *g->alt_first);
        }
        if (!g || !g->elems || !g->alts || !g->alt_first) {
            tk_grammar_free(g);
            g = NULL;
            ok = nomem(&ps);
        } else {
            int32_t e = 0, a = 0;
            for (int32_t i = 0; i < ps.n_rules; i++) {
                g->alt_first[i] = a;
                const elist *b = &ps.rules[i].body;
                bool start = true;
                for (int32_t j = 0; j < b->n; j++) {
                    if (start) g->alts[a++] = e;
                    g->elems[e++] = b->v[j];
                    start = b->v[j].kind == GE_END;
                }
            }
            g->alt_first[ps.n_rules] = a;
            g->elems[e] = (g_elem){GE_END, 0};
            g->n_elems = e;
            g->n_rules = ps.n_rules;
            g->root = root;
            g->sets = ps.sets;
            g->n_sets = ps.n_sets;
            g->ranges = ps.ranges;
            g->n_ranges = ps.n_ranges;
            ps.sets = NULL;
            ps.ranges = NULL;
        }
    }
    free_parser(&ps);
    if (!ok) return ps.st == TK_OK ? TK_ERR_INVALID_ARG : ps.st;
    *out = g;
    return TK_OK;
}

bool g_set_has(const tk_grammar *g, int32_t s, uint32_t cp)
{
    const g_set *set = &g->sets[s];
    bool in = false;
    for (int32_t i = 0; i < set->n && !in; i++) {
        const g_range *r = &g->ranges[set->first + i];
        in = cp >= r->lo && cp <= r->hi;
    }
    return in != set->negate;
}

bool g_set_meets(const tk_grammar *g, int32_t s, uint32_t lo, uint32_t hi)
{
    const g_set *set = &g->sets[s];
    if (!set->negate) {
        for (int32_t i = 0; i < set->n; i++) {
            const g_range *r = &g->ranges[set->first + i];
            if (r->lo <= hi && r->hi >= lo) return true;
        }
        return false;
    }
    /* negated: some codepoint of [lo, hi] lies outside every range */
    for (uint32_t cp = lo;;) {
        bool moved = false;
        for (int32_t i = 0; i < set->n; i++) {
            const g_range *r = &g->ranges[set->first + i];
            if (cp >= r->lo && cp <= r->hi) {
                if (r->hi >= hi) return false;
                cp = r->hi + 1;
                moved = true;
            }
        }
        if (!moved) return true;
    }
}
