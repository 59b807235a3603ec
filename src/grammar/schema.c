/* JSON grammars: a JSON schema compiled to grammar text, and "any JSON
 * object" (response_format json_object).
 *
 * Each schema node becomes a rule <prefix>sN; shared rules (<prefix>ws,
 * <prefix>string, <prefix>value, ...) are emitted once at the end. A
 * keyword that cannot be enforced is refused (TK_ERR_UNSUPPORTED naming
 * it), never ignored, except annotations. Whitespace between tokens is at
 * most one space or a newline and up to 8 spaces. */
#include "grammar/grammar_internal.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
#define MAX_REFS 256

typedef struct sb {
    char *s;
    size_t n, cap;
    bool oom;
} sb;

static void sb_printf(sb *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 1024;
        while (nc < b->n + (size_t)k + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
}

typedef struct conv {
    const char *p; /* prefix */
    cJSON *root;
    sb out;
    int n_rules;
    const char *refs[MAX_REFS];
    int ref_rule[MAX_REFS];
    int n_refs;
    tk_status st;
    char *err;
    size_t errlen;
} conv;

static int fail(conv *c, tk_status st, const char *fmt, ...)
{
    if (c->st == TK_OK) {
        c->st = st;
        if (c->err && c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err, c->errlen, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* Writes `s` as a grammar literal "..." (bytes escaped where needed). */
static void lit(sb *b, const char *s)
{
    sb_printf(b, "\"");
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q == '"' || *q == '\\') sb_printf(b, "\\%c", *q);
        else if (*q < 0x20) sb_printf(b, "\\x%02x", *q);
        else sb_printf(b, "%c", *q);
    }
    sb_printf(b, "\"");
}

/* A JSON value's text as a grammar literal. */
static void lit_json(conv *c, const cJSON *v)
{
    char *t = cJSON_PrintUnformatted(v);
    if (!t) {
        c->out.oom = true;
        return;
    }
    lit(&c->out, t);
    free(t);
}

static int visit(conv *c, const cJSON *node, int depth);

static const char *const KNOWN[] = {
    "type", "properties", "required", "additionalProperties", "enum", "const", "items",
    "minItems", "maxItems", "anyOf", "oneOf", "allOf", "$ref", "minLength", "maxLength",
    "pattern", "format", "title", "description", "default", "examples", "$schema", "$id",
    "$comment", "$defs", "definitions", NULL};

static int int_kw(conv *c, const cJSON *node, const char *kw, int dflt, int limit)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(node, kw);
    if (!v) return dflt;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != (double)(int)v->valuedouble)
        return fail(c, TK_ERR_INVALID_ARG, "%s must be a non-negative integer", kw), -2;
    if (v->valuedouble > limit)
        return fail(c, TK_ERR_UNSUPPORTED, "%s above %d is not supported", kw, limit), -2;
    return (int)v->valuedouble;
}

static int new_rule(conv *c)
{
    return c->n_rules++;
}

/* Regular expression (JSON schema `pattern`) -> grammar text of the string
 * body; writes into c->out. Returns 0, or -1 on error. */
static int regex_alts(conv *c, const char **pp, int depth);

static int regex_class(conv *c, const char **pp)
{
    const char *p = *pp + 1;
    sb *b = &c->out;
    bool neg = *p == '^';
    if (neg) p++;
    sb_printf(b, neg ? "[^\"\\\\\\x00-\\x1f" : "[");
    bool first = true;
    while (*p && (*p != ']' || first)) {
        first = false;
        if (*p == '\\') {
            char e = p[1];
            if (!e) break;
            if (e == 'd') sb_printf(b, "0-9");
            else if (e == 'w') sb_printf(b, "a-zA-Z0-9_");
            else if (e == 's') sb_printf(b, " \\t\\n\\r");
            else if (strchr(".-^[]\\/+*?(){}|$", e)) sb_printf(b, "\\x%02x", (unsigned char)e);
            else if (e == 'n') sb_printf(b, "\\n");
            else if (e == 't') sb_printf(b, "\\t");
            else return fail(c, TK_ERR_UNSUPPORTED, "pattern: escape \\%c in a class", e);
            p += 2;
            continue;
        }
        if (*p == '"' || (unsigned char)*p < 0x20)
            return fail(c, TK_ERR_UNSUPPORTED, "pattern: a class with '\"' or a control");
        if (*p == '-' && p[1] != ']' && !first) sb_printf(b, "-");
        else if (*p == '-' || *p == '^' || *p == '[') sb_printf(b, "\\x%02x", (unsigned char)*p);
        else sb_printf(b, "%c", *p);
        p++;
    }
    if (*p != ']') return fail(c, TK_ERR_INVALID_ARG, "pattern: unterminated class");
    sb_printf(b, "]");
    *pp = p + 1;
    return 0;
}

static int regex_seq(conv *c, const char **pp, int depth)
{
    const char *p = *pp;
    sb *b = &c->out;
    while (*p && *p != '|' && *p != ')') {
        if (*p == '$' && (p[1] == '\0' || p[1] == '|' || p[1] == ')')) {
            p++;
            continue;
        }
        sb_printf(b, " ");
        if (*p == '(') {
            if (depth >= MAX_DEPTH) return fail(c, TK_ERR_LIMIT, "pattern: nesting too deep");
            p++;
            if (p[0] == '?') {
                if (p[1] != ':')
                    return fail(c, TK_ERR_UNSUPPORTED,
                                "pattern: lookarounds and named groups are not supported");
                p += 2;
            }
            sb_printf(b, "(");
            if (regex_alts(c, &p, depth + 1) < 0) return -1;
            if (*p != ')') return fail(c, TK_ERR_INVALID_ARG, "pattern: unmatched '('");
            p++;
            sb_printf(b, " )");
        } else if (*p == '[') {
            if (regex_class(c, &p) < 0) return -1;
        } else if (*p == '.') {
            sb_printf(b, "%schar", c->p);
            p++;
        } else if (*p == '\\') {
            char e = p[1];
            if (e >= '1' && e <= '9')
                return fail(c, TK_ERR_UNSUPPORTED, "pattern: backreferences are not supported");
            if (e == 'd') sb_printf(b, "[0-9]");
            else if (e == 'D') sb_printf(b, "[^0-9\"\\\\\\x00-\\x1f]");
            else if (e == 'w') sb_printf(b, "[a-zA-Z0-9_]");
            else if (e == 'W') sb_printf(b, "[^a-zA-Z0-9_\"\\\\\\x00-\\x1f]");
            else if (e == 's') sb_printf(b, "( \" \" | \"\\\\t\" | \"\\\\n\" | \"\\\\r\" )");
            else if (e && strchr(".-^[]/+*?(){}|$", e)) sb_printf(b, "\"%c\"", e);
            else if (e == '\\') sb_printf(b, "\"\\\\\\\\\"");
            else if (e == 'n') sb_printf(b, "\"\\\\n\"");
            else if (e == 't') sb_printf(b, "\"\\\\t\"");
            else return fail(c, TK_ERR_UNSUPPORTED, "pattern: escape \\%c is not supported", e ? e : '0');
            p += 2;
        } else if (strchr("*+?{", *p)) {
            return fail(c, TK_ERR_INVALID_ARG, "pattern: quantifier without an operand");
        } else {
            if (*p == '"') sb_printf(b, "\"\\\\\\\"\"");
            else if ((unsigned char)*p < 0x20)
                return fail(c, TK_ERR_UNSUPPORTED, "pattern: control character");
            else sb_printf(b, "\"%c\"", *p);
            p++;
        }
        /* quantifier */
        if (*p == '*' || *p == '+' || *p == '?') {
            sb_printf(b, "%c", *p++);
        } else if (*p == '{') {
            const char *q = p + 1;
            while ((*q >= '0' && *q <= '9') || *q == ',') q++;
            if (*q != '}' || q == p + 1) return fail(c, TK_ERR_INVALID_ARG, "pattern: bad {m,n}");
            sb_printf(b, "%.*s", (int)(q + 1 - p), p);
            p = q + 1;
        }
        if (*p == '?' || *p == '+') p++; /* lazy / possessive: same language */
    }
    *pp = p;
    return 0;
}

static int regex_alts(conv *c, const char **pp, int depth)
{
    for (;;) {
        sb_printf(&c->out, " (");
        if (regex_seq(c, pp, depth) < 0) return -1;
        sb_printf(&c->out, " )");
        if (**pp != '|') return 0;
        (*pp)++;
        sb_printf(&c->out, " |");
    }
}

static int visit_string(conv *c, const cJSON *node, int r)
{
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(node, "format");
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(node, "pattern");
    int mn = int_kw(c, node, "minLength", 0, 1000), mx = int_kw(c, node, "maxLength", -1, 1000);
    if (mn < -1 || mx < -1) return -1;
    const char *P = c->p;
    if (fmt && (!cJSON_IsString(fmt) || pat || mn > 0 || mx >= 0))
        return fail(c, TK_ERR_UNSUPPORTED, "format together with pattern/minLength/maxLength");
    if (pat && (mn > 0 || mx >= 0))
        return fail(c, TK_ERR_UNSUPPORTED, "pattern together with minLength/maxLength");
    if (fmt) {
        const char *f = fmt->valuestring;
        if (!strcmp(f, "date")) sb_printf(&c->out, "%ss%d ::= \"\\\"\" %sdate \"\\\"\"\n", P, r, P);
        else if (!strcmp(f, "time")) sb_printf(&c->out, "%ss%d ::= \"\\\"\" %stime \"\\\"\"\n", P, r, P);
        else if (!strcmp(f, "date-time"))
            sb_printf(&c->out, "%ss%d ::= \"\\\"\" %sdate \"T\" %stime \"\\\"\"\n", P, r, P, P);
        else if (!strcmp(f, "uuid"))
            sb_printf(&c->out,
                      "%ss%d ::= \"\\\"\" %shex{8} \"-\" %shex{4} \"-\" %shex{4} \"-\" %shex{4} "
                      "\"-\" %shex{12} \"\\\"\"\n",
                      P, r, P, P, P, P, P);
        else return fail(c, TK_ERR_UNSUPPORTED, "format \"%s\" is not supported", f);
        return r;
    }
    if (pat) {
        if (!cJSON_IsString(pat)) return fail(c, TK_ERR_INVALID_ARG, "pattern must be a string");
        const char *p = pat->valuestring;
        bool head = *p == '^';
        if (head) p++;
        size_t n = strlen(p);
        bool tail = n > 0 && p[n - 1] == '$' && (n < 2 || p[n - 2] != '\\');
        sb_printf(&c->out, "%ss%d ::= \"\\\"\" %s(", P, r, head ? "" : "");
        if (!head) sb_printf(&c->out, " %schar*", P);
        if (regex_alts(c, &p, 0) < 0) return -1;
        if (*p) return fail(c, TK_ERR_INVALID_ARG, "pattern: unmatched ')'");
        if (!tail) sb_printf(&c->out, " %schar*", P);
        sb_printf(&c->out, " ) \"\\\"\"\n");
        return r;
    }
    if (mx >= 0 && mx < mn) return fail(c, TK_ERR_INVALID_ARG, "maxLength below minLength");
    if (mn == 0 && mx < 0) sb_printf(&c->out, "%ss%d ::= %sstring\n", P, r, P);
    else if (mx < 0) sb_printf(&c->out, "%ss%d ::= \"\\\"\" %schar{%d,} \"\\\"\"\n", P, r, P, mn);
    else sb_printf(&c->out, "%ss%d ::= \"\\\"\" %schar{%d,%d} \"\\\"\"\n", P, r, P, mn, mx);
    return r;
}

static bool in_required(const cJSON *req, const char *name)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, req) if (cJSON_IsString(x) && !strcmp(x->valuestring, name)) return true;
    return false;
}

static int visit_object(conv *c, const cJSON *node, int r, int depth)
{
    const char *P = c->p;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(node, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(node, "required");
    const cJSON *add = cJSON_GetObjectItemCaseSensitive(node, "additionalProperties");
    if (props && !cJSON_IsObject(props)) return fail(c, TK_ERR_INVALID_ARG, "properties must be an object");
    if (req && !cJSON_IsArray(req)) return fail(c, TK_ERR_INVALID_ARG, "required must be an array");
    int n = props ? cJSON_GetArraySize(props) : 0;
    /* every required name must be a property, or it could never be written */
    const cJSON *x;
    cJSON_ArrayForEach(x, req)
    {
        if (!cJSON_IsString(x)) return fail(c, TK_ERR_INVALID_ARG, "required holds a non-string");
        if (!props || !cJSON_GetObjectItemCaseSensitive(props, x->valuestring))
            return fail(c, TK_ERR_UNSUPPORTED,
                        "required: \"%s\" is not in properties (not supported)", x->valuestring);
    }
    int extra = -1; /* rule of the value of other keys; -1 = none allowed */
    if (!add || cJSON_IsTrue(add)) extra = -2; /* any value */
    else if (cJSON_IsObject(add)) {
        extra = visit(c, add, depth + 1);
        if (extra < 0) return -1;
    } else if (!cJSON_IsFalse(add)) {
        return fail(c, TK_ERR_INVALID_ARG, "additionalProperties must be a boolean or a schema");
    }
    int *val = calloc((size_t)n + 1, sizeof *val);
    if (!val) return fail(c, TK_ERR_NOMEM, "out of memory");
    int i = 0;
    cJSON_ArrayForEach(x, props)
    {
        val[i] = visit(c, x, depth + 1);
        if (val[i] < 0) {
            free(val);
            return -1;
        }
        i++;
    }
    int base = c->n_rules;
    c->n_rules += 2 * (n + 1); /* S_i = base + 2i, R_i = base + 2i + 1 */
    i = 0;
    cJSON_ArrayForEach(x, props)
    {
        bool required = req && in_required(req, x->string);
        sb *b = &c->out;
        /* S_i: nothing written yet */
        sb_printf(b, "%ss%d ::= ", P, base + 2 * i);
        lit(b, "\"");
        b->n--; /* reopen the literal: the key is "\"name\"" */
        for (const unsigned char *q = (const unsigned char *)x->string; *q; q++) {
            if (*q == '"' || *q == '\\') sb_printf(b, "\\\\\\%c", *q);
            else if (*q < 0x20) sb_printf(b, "\\\\u%04x", *q);
            else sb_printf(b, "%c", *q);
        }
        sb_printf(b, "\\\"\" %sws \":\" %sws %ss%d %ss%d", P, P, P, val[i], P, base + 2 * i + 3);
        if (!required) sb_printf(b, " | %ss%d", P, base + 2 * i + 2);
        sb_printf(b, "\n");
        /* R_i: something written: a comma first */
        sb_printf(b, "%ss%d ::= %sws \",\" %sws \"\\\"", P, base + 2 * i + 1, P, P);
        for (const unsigned char *q = (const unsigned char *)x->string; *q; q++) {
            if (*q == '"' || *q == '\\') sb_printf(b, "\\\\\\%c", *q);
            else if (*q < 0x20) sb_printf(b, "\\\\u%04x", *q);
            else sb_printf(b, "%c", *q);
        }
        sb_printf(b, "\\\"\" %sws \":\" %sws %ss%d %ss%d", P, P, P, val[i], P, base + 2 * i + 3);
        if (!required) sb_printf(b, " | %ss%d", P, base + 2 * i + 3);
        sb_printf(b, "\n");
        i++;
    }
    free(val);
    int sn = base + 2 * n, rn = sn + 1;
    if (extra == -1) {
        sb_printf(&c->out, "%ss%d ::= \"\"\n%ss%d ::= \"\"\n", P, sn, P, rn);
    } else {
        char kv[64];
        if (extra == -2) snprintf(kv, sizeof kv, "%skv", P);
        else {
            int k = new_rule(c);
            sb_printf(&c->out, "%ss%d ::= %sstring %sws \":\" %sws %ss%d\n", P, k, P, P, P, P, extra);
            snprintf(kv, sizeof kv, "%ss%d", P, k);
        }
        sb_printf(&c->out, "%ss%d ::= ( %s ( %sws \",\" %sws %s )* )?\n", P, sn, kv, P, P, kv);
        sb_printf(&c->out, "%ss%d ::= ( %sws \",\" %sws %s )*\n", P, rn, P, P, kv);
    }
    sb_printf(&c->out, "%ss%d ::= \"{\" %sws %ss%d %sws \"}\"\n", P, r, P, P, base, P);
    return r;
}

static int visit_array(conv *c, const cJSON *node, int r, int depth)
{
    const char *P = c->p;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(node, "items");
    int item;
    char iname[64];
    if (items) {
        if (!cJSON_IsObject(items) && !cJSON_IsBool(items))
            return fail(c, TK_ERR_UNSUPPORTED, "items as an array (tuple) is not supported");
        item = visit(c, items, depth + 1);
        if (item < 0) return -1;
        snprintf(iname, sizeof iname, "%ss%d", P, item);
    } else {
        snprintf(iname, sizeof iname, "%svalue", P);
    }
    int mn = int_kw(c, node, "minItems", 0, 1000), mx = int_kw(c, node, "maxItems", -1, 1000);
    if (mn < -1 || mx < -1) return -1;
    if (mx >= 0 && mx < mn) return fail(c, TK_ERR_INVALID_ARG, "maxItems below minItems");
    sb *b = &c->out;
    if (mx == 0) {
        sb_printf(b, "%ss%d ::= \"[\" %sws \"]\"\n", P, r, P);
        return r;
    }
    sb_printf(b, "%ss%d ::= \"[\" %sws %s%s ( %sws \",\" %sws %s )", P, r, P, mn == 0 ? "( " : "",
              iname, P, P, iname);
    int lo = mn > 0 ? mn - 1 : 0;
    if (mx < 0) sb_printf(b, "{%d,}", lo);
    else sb_printf(b, "{%d,%d}", lo, mx - 1);
    sb_printf(b, "%s %sws \"]\"\n", mn == 0 ? " )?" : "", P);
    return r;
}

/* Emits rule r for `node` restricted to JSON type `type`. */
static int visit_type(conv *c, const cJSON *node, const char *type, int r, int depth)
{
    const char *P = c->p;
    if (!strcmp(type, "object")) return visit_object(c, node, r, depth);
    if (!strcmp(type, "array")) return visit_array(c, node, r, depth);
    if (!strcmp(type, "string")) return visit_string(c, node, r);
    if (!strcmp(type, "number") || !strcmp(type, "integer")) {
        if (cJSON_GetObjectItemCaseSensitive(node, "minimum"))
            return fail(c, TK_ERR_UNSUPPORTED, "minimum is not supported");
        sb_printf(&c->out, "%ss%d ::= %s%s\n", P, r, P, type);
        return r;
    }
    if (!strcmp(type, "boolean")) {
        sb_printf(&c->out, "%ss%d ::= \"true\" | \"false\"\n", P, r);
        return r;
    }
    if (!strcmp(type, "null")) {
        sb_printf(&c->out, "%ss%d ::= \"null\"\n", P, r);
        return r;
    }
    return fail(c, TK_ERR_INVALID_ARG, "unknown type \"%s\"", type);
}

static int visit_ref(conv *c, const char *ref, int depth)
{
    for (int i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i], ref)) return c->ref_rule[i];
    const char *name = NULL, *sect = NULL;
    if (!strncmp(ref, "#/$defs/", 8)) sect = "$defs", name = ref + 8;
    else if (!strncmp(ref, "#/definitions/", 14)) sect = "definitions", name = ref + 14;
    else if (!strcmp(ref, "#")) sect = NULL, name = "";
    else return fail(c, TK_ERR_UNSUPPORTED, "$ref \"%s\" (only local #/$defs/... refs)", ref);
    const cJSON *target = c->root;
    if (sect) {
        const cJSON *defs = cJSON_GetObjectItemCaseSensitive(c->root, sect);
        target = defs ? cJSON_GetObjectItemCaseSensitive(defs, name) : NULL;
    }
    if (!target) return fail(c, TK_ERR_INVALID_ARG, "$ref \"%s\" not found", ref);
    if (c->n_refs >= MAX_REFS) return fail(c, TK_ERR_LIMIT, "too many $ref targets");
    int r = new_rule(c);
    c->refs[c->n_refs] = ref;
    c->ref_rule[c->n_refs++] = r;
    int v = visit(c, target, depth + 1);
    if (v < 0) return -1;
    sb_printf(&c->out, "%ss%d ::= %ss%d\n", c->p, r, c->p, v);
    return r;
}

static int visit(conv *c, const cJSON *node, int depth)
{
    const char *P = c->p;
    if (depth > MAX_DEPTH) return fail(c, TK_ERR_LIMIT, "schema nested deeper than %d", MAX_DEPTH);
    if (cJSON_IsTrue(node)) {
        int r = new_rule(c);
        sb_printf(&c->out, "%ss%d ::= %svalue\n", P, r, P);
        return r;
    }
    if (cJSON_IsFalse(node)) return fail(c, TK_ERR_UNSUPPORTED, "the schema false (nothing matches)");
    if (!cJSON_IsObject(node)) return fail(c, TK_ERR_INVALID_ARG, "a schema must be an object");
    const cJSON *kw;
    cJSON_ArrayForEach(kw, node)
    {
        bool known = false;
        for (int i = 0; KNOWN[i] && !known; i++) known = !strcmp(KNOWN[i], kw->string);
        if (!known && strcmp(kw->string, "minimum") && strcmp(kw->string, "maximum"))
            return fail(c, TK_ERR_UNSUPPORTED, "keyword \"%s\" is not supported", kw->string);
        if (!strcmp(kw->string, "maximum"))
            return fail(c, TK_ERR_UNSUPPORTED, "maximum is not supported");
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(node, "$ref");
    if (ref) {
        if (!cJSON_IsString(ref)) return fail(c, TK_ERR_INVALID_ARG, "$ref must be a string");
        return visit_ref(c, ref->valuestring, depth);
    }
    const cJSON *cst = cJSON_GetObjectItemCaseSensitive(node, "const");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(node, "enum");
    if (cst || en) {
        int r = new_rule(c);
        sb_printf(&c->out, "%ss%d ::= ", P, r);
        if (cst) {
            lit_json(c, cst);
        } else {
            if (!cJSON_IsArray(en) || cJSON_GetArraySize(en) == 0)
                return fail(c, TK_ERR_INVALID_ARG, "enum must be a non-empty array");
            const cJSON *x;
            bool first = true;
            cJSON_ArrayForEach(x, en)
            {
                if (!first) sb_printf(&c->out, " | ");
                first = false;
                lit_json(c, x);
            }
        }
        sb_printf(&c->out, "\n");
        return r;
    }
    static const char *const ALTS[] = {"anyOf", "oneOf", "allOf"};
    for (int k = 0; k < 3; k++) {
        const cJSON *alts = cJSON_GetObjectItemCaseSensitive(node, ALTS[k]);
        if (!alts) continue;
        if (!cJSON_IsArray(alts) || cJSON_GetArraySize(alts) == 0)
            return fail(c, TK_ERR_INVALID_ARG, "%s must be a non-empty array", ALTS[k]);
        if (k == 2 && cJSON_GetArraySize(alts) != 1)
            return fail(c, TK_ERR_UNSUPPORTED, "allOf with more than one schema");
        int n = cJSON_GetArraySize(alts);
        int *v = calloc((size_t)n, sizeof *v);
        if (!v) return fail(c, TK_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
            v[i] = visit(c, cJSON_GetArrayItem(alts, i), depth + 1);
            if (v[i] < 0) {
                free(v);
                return -1;
            }
        }
        int r = new_rule(c);
        sb_printf(&c->out, "%ss%d ::=", P, r);
        for (int i = 0; i < n; i++) sb_printf(&c->out, "%s %ss%d", i ? " |" : "", P, v[i]);
        sb_printf(&c->out, "\n");
        free(v);
        return r;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(node, "type");
    int r = new_rule(c);
    if (!type) {
        if (cJSON_GetObjectItemCaseSensitive(node, "properties"))
            return visit_type(c, node, "object", r, depth);
        if (cJSON_GetObjectItemCaseSensitive(node, "items")) return visit_type(c, node, "array", r, depth);
        sb_printf(&c->out, "%ss%d ::= %svalue\n", P, r, P);
        return r;
    }
    if (cJSON_IsString(type)) return visit_type(c, node, type->valuestring, r, depth);
    if (!cJSON_IsArray(type) || cJSON_GetArraySize(type) == 0)
        return fail(c, TK_ERR_INVALID_ARG, "type must be a string or a non-empty array");
    int n = cJSON_GetArraySize(type);
    int first = c->n_rules;
    c->n_rules += n;
    for (int i = 0; i < n; i++) {
        const cJSON *t = cJSON_GetArrayItem(type, i);
        if (!cJSON_IsString(t)) return fail(c, TK_ERR_INVALID_ARG, "type list holds a non-string");
        if (visit_type(c, node, t->valuestring, first + i, depth) < 0) return -1;
    }
    sb_printf(&c->out, "%ss%d ::=", P, r);
    for (int i = 0; i < n; i++) sb_printf(&c->out, "%s %ss%d", i ? " |" : "", P, first + i);
    sb_printf(&c->out, "\n");
    return r;
}

/* The shared rules (%s = prefix). */
static const char COMMON[] =
    "%svalue ::= %sobject | %sarray | %sstring | %snumber | \"true\" | \"false\" | \"null\"\n"
    "%sobject ::= \"{\" %sws ( %skv ( %sws \",\" %sws %skv )* )? %sws \"}\"\n"
    "%skv ::= %sstring %sws \":\" %sws %svalue\n"
    "%sarray ::= \"[\" %sws ( %svalue ( %sws \",\" %sws %svalue )* )? %sws \"]\"\n"
    "%sstring ::= \"\\\"\" %schar* \"\\\"\"\n"
    "%schar ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" %shex{4} )\n"
    "%shex ::= [0-9a-fA-F]\n"
    "%snumber ::= %sinteger ( \".\" [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?\n"
    "%sinteger ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} )\n"
    "%sdate ::= [0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | "
    "\"3\" [01] )\n"
    "%stime ::= ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" "
    "[0-9]{1,9} )? ( \"Z\" | [-+] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )\n"
    "%sws ::= ( \" \" | \"\\n\" \" \"{0,8} )?\n";

/* Writes `tmpl` with every %s replaced by the prefix. */
static void common(sb *b, const char *tmpl, const char *p)
{
    size_t pl = strlen(p);
    for (const char *q = tmpl; *q; q++) {
        if (q[0] == '%' && q[1] == 's') {
            sb_printf(b, "%.*s", (int)pl, p);
            q++;
        } else {
            sb_printf(b, "%c", *q);
        }
    }
}

tk_status tk_json_object_grammar(const char *prefix, char **out)
{
    *out = NULL;
    const char *p = prefix ? prefix : "";
    sb b = {0};
    common(&b, "%sroot ::= %sobject\n", p);
    common(&b, COMMON, p);
    if (b.oom) {
        free(b.s);
        return TK_ERR_NOMEM;
    }
    *out = b.s;
    return TK_OK;
}

tk_status tk_json_schema_to_grammar(const char *schema_json, const char *prefix, char **out,
                                    char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen) err[0] = '\0';
    conv c = {.p = prefix ? prefix : "", .st = TK_OK, .err = err, .errlen = errlen};
    if (strlen(c.p) > 32) {
        fail(&c, TK_ERR_INVALID_ARG, "prefix longer than 32 bytes");
        return c.st;
    }
    c.root = schema_json ? cJSON_Parse(schema_json) : NULL;
    if (!c.root) {
        fail(&c, TK_ERR_INVALID_ARG, "the schema is not valid JSON");
        return c.st;
    }
    int r = visit(&c, c.root, 0);
    if (r >= 0) {
        sb_printf(&c.out, "%sroot ::= %ss%d\n", c.p, c.p, r);
        common(&c.out, COMMON, c.p);
    }
    cJSON_Delete(c.root);
    if (r >= 0 && c.out.oom) fail(&c, TK_ERR_NOMEM, "out of memory");
    if (c.st != TK_OK) {
        free(c.out.s);
        return c.st;
    }
    *out = c.out.s;
    return TK_OK;
}
