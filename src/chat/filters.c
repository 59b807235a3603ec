/* Jinja2's filters and tests. */
#include "chat/builtins.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Attribute getters used by filters (map, sort, selectattr, ...)            */
/* ------------------------------------------------------------------------ */

typedef struct attrpath {
    cv parts[16];
    int n;
} attrpath;

/* Jinja2's _prepare_attribute_parts: "a.b.0" -> ['a', 'b', 0]. */
static void attr_parts(chat_env *e, cv attr, attrpath *ap, uint32_t pos)
{
    ap->n = 0;
    if (attr.type == CV_NONE || attr.type == CV_UNDEF) return;
    if (attr.type != CV_STR) {
        ap->parts[ap->n++] = attr;
        return;
    }
    cstr *s = attr.u.s;
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < s->len && s->s[j] != '.') j++;
        if (ap->n == 16) chat_fail(e, pos, "attribute path too long");
        bool digits = j > i;
        for (size_t k = i; k < j; k++) digits = digits && s->s[k] >= '0' && s->s[k] <= '9';
        if (digits && j - i < 18) {
            ap->parts[ap->n++] = cv_int(strtoll(s->s + i, NULL, 10));
        } else {
            ap->parts[ap->n++] = cv_strn(e, s->s + i, j - i);
        }
        if (j >= s->len) break;
        i = j + 1;
    }
}

static cv attr_get(chat_env *e, const attrpath *ap, cv item, const cv *dflt, uint32_t pos)
{
    for (int k = 0; k < ap->n; k++) {
        item = chat_getitem(e, item, ap->parts[k], pos);
        if (dflt && item.type == CV_UNDEF) item = *dflt;
    }
    return item;
}

static cv lower_if_str(chat_env *e, cv v)
{
    if (v.type != CV_STR) return v;
    return chat_map_case(e, v, chat_lower, false);
}

/* Stable merge sort of values by precomputed keys, Python ordering. */
static void sort_by_keys(chat_env *e, cv *items, cv *keys, size_t n, bool reverse, uint32_t pos)
{
    if (n < 2) return;
    chat_steps(e, n * 8, pos);
    size_t *idx = chat_alloc(e, n * sizeof *idx), *tmp = chat_alloc(e, n * sizeof *tmp);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = TK_MIN(lo + width, n), hi = TK_MIN(lo + 2 * width, n);
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                /* reverse keeps stability as Python does: equal items stay
                 * in their original order */
                bool take_right = reverse ? chat_lt(e, keys[idx[i]], keys[idx[j]], pos)
                                          : chat_lt(e, keys[idx[j]], keys[idx[i]], pos);
                tmp[k++] = take_right ? idx[j++] : idx[i++];
            }
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
    cv *copy = chat_alloc(e, n * sizeof *copy);
    for (size_t i = 0; i < n; i++) copy[i] = items[idx[i]];
    memcpy(items, copy, n * sizeof *copy);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

static const char *const test_names[] = {
    "odd",     "even",   "divisibleby", "defined",  "undefined", "filter", "test",    "none",
    "boolean", "false",  "true",        "integer",  "float",     "lower",  "upper",   "string",
    "mapping", "number", "sequence",    "iterable", "callable",  "sameas", "escaped", "in",
    "==",      "eq",     "equalto",     "!=",       "ne",        ">",      "gt",      "greaterthan",
    ">=",      "ge",     "<",           "lt",       "lessthan",  "<=",     "le",      NULL,
};

bool chat_test_exists(const char *name)
{
    return chat_in_list(test_names, name) != NULL;
}

static const char *const filter_names[] = {
    "abs",       "attr",       "batch",       "capitalize", "center",  "count",
    "d",         "default",    "dictsort",    "e",          "escape",  "filesizeformat",
    "first",     "float",      "forceescape", "format",     "groupby", "indent",
    "int",       "join",       "last",        "length",     "list",    "lower",
    "items",     "map",        "min",         "max",        "pprint",  "random",
    "reject",    "rejectattr", "replace",     "reverse",    "round",   "safe",
    "select",    "selectattr", "slice",       "sort",       "string",  "striptags",
    "sum",       "title",      "trim",        "truncate",   "unique",  "upper",
    "urlencode", "urlize",     "wordcount",   "wordwrap",   "xmlattr", "tojson",
    NULL,
};

bool chat_filter_exists(const char *name)
{
    return chat_in_list(filter_names, name) != NULL;
}

static cv one_arg(chat_env *e, const char *name, const cargs *a, uint32_t pos)
{
    if (a->nargs + a->nkw != 1) chat_fail(e, pos, "test '%s' takes exactly one argument", name);
    return a->nargs ? a->args[0] : a->kw[0];
}

static bool is_int(cv v)
{
    return v.type == CV_INT;
}

static const char *const one_arg_tests[] = {
    "divisibleby", "sameas", "in", "==", "eq", "equalto",  "!=", "ne", ">",  "gt",
    "greaterthan", ">=",     "ge", "<",  "lt", "lessthan", "<=", "le", NULL,
};

bool chat_test(chat_env *e, const char *name, cv v, const cargs *a, uint32_t pos)
{
    if (!chat_test_exists(name)) chat_fail(e, pos, "No test named '%s'.", name);
    chat_steps(e, 1, pos);
    if (!chat_in_list(one_arg_tests, name) && (a->nargs || a->nkw))
        chat_fail(e, pos, "test '%s' takes no arguments", name);
    if (!strcmp(name, "defined")) return v.type != CV_UNDEF;
    if (!strcmp(name, "undefined")) return v.type == CV_UNDEF;
    if (!strcmp(name, "none")) return v.type == CV_NONE;
    if (!strcmp(name, "boolean")) return v.type == CV_BOOL;
    if (!strcmp(name, "false")) return v.type == CV_BOOL && !v.u.b;
    if (!strcmp(name, "true")) return v.type == CV_BOOL && v.u.b;
    if (!strcmp(name, "integer")) return is_int(v);
    if (!strcmp(name, "float")) return v.type == CV_FLOAT;
    if (!strcmp(name, "number")) return chat_is_number(v);
    if (!strcmp(name, "string")) return v.type == CV_STR;
    if (!strcmp(name, "mapping")) return v.type == CV_DICT;
    if (!strcmp(name, "sequence"))
        return v.type == CV_UNDEF || v.type == CV_STR || v.type == CV_DICT ||
               (v.type == CV_LIST && v.u.l->kind != CL_ITER);
    if (!strcmp(name, "iterable"))
        return v.type == CV_UNDEF || v.type == CV_STR || v.type == CV_DICT || v.type == CV_LIST ||
               v.type == CV_LOOP;
    if (!strcmp(name, "callable")) /* Undefined defines __call__ (which raises) */
        return v.type == CV_MACRO || v.type == CV_FUNC || v.type == CV_LOOP || v.type == CV_UNDEF;
    if (!strcmp(name, "escaped")) return chat_is_markup(v);
    if (!strcmp(name, "filter")) return v.type == CV_STR && chat_filter_exists(v.u.s->s);
    if (!strcmp(name, "test")) return v.type == CV_STR && chat_test_exists(v.u.s->s);
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        cargs none = {0};
        cv s = chat_soft_str(e, v);
        return chat_truthy(
            chat_str_method(e, s, name[0] == 'l' ? "islower" : "isupper", &none, pos));
    }
    if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
        cv d = !strcmp(name, "divisibleby") ? one_arg(e, name, a, pos) : cv_int(2);
        cv r = chat_binop(e, OP_MOD, v, d, pos);
        bool zero = chat_eq(e, r, cv_int(0)), one = chat_eq(e, r, cv_int(1));
        return name[0] == 'o' ? one : zero;
    }
    cv other = one_arg(e, name, a, pos);
    if (!strcmp(name, "sameas")) {
        if (v.type != other.type) return false;
        switch (v.type) {
        case CV_NONE:
        case CV_UNDEF:
            return v.type == CV_NONE;
        case CV_BOOL:
            return v.u.b == other.u.b;
        case CV_INT:
            return v.u.i == other.u.i && v.u.i >= -5 && v.u.i <= 256;
        case CV_STR:
            return v.u.s == other.u.s;
        default:
            return v.u.l == other.u.l;
        }
    }
    if (!strcmp(name, "in")) return chat_contains(e, other, v, pos);
    if (!strcmp(name, "==") || !strcmp(name, "eq") || !strcmp(name, "equalto"))
        return chat_eq(e, v, other);
    if (!strcmp(name, "!=") || !strcmp(name, "ne")) return !chat_eq(e, v, other);
    if (v.type == CV_UNDEF) chat_fail_undef(e, v, pos);
    if (other.type == CV_UNDEF) chat_fail_undef(e, other, pos);
    if (!strcmp(name, ">") || !strcmp(name, "gt") || !strcmp(name, "greaterthan"))
        return chat_lt(e, other, v, pos);
    if (!strcmp(name, "<") || !strcmp(name, "lt") || !strcmp(name, "lessthan"))
        return chat_lt(e, v, other, pos);
    if (!strcmp(name, ">=") || !strcmp(name, "ge")) return !chat_lt(e, v, other, pos);
    if (!strcmp(name, "<=") || !strcmp(name, "le")) return !chat_lt(e, other, v, pos);
    chat_fail(e, pos, "No test named '%s'.", name);
}

/* ------------------------------------------------------------------------ */
/* Filters                                                                   */
/* ------------------------------------------------------------------------ */

static cv iter_of(chat_env *e, clist *l)
{
    l->kind = CL_ITER;
    l->consumed = false;
    (void)e;
    return cv_list(l);
}

/* select/reject/selectattr/rejectattr */
static cv select_filter(chat_env *e, cv v, const cargs *a, bool attr, bool keep, uint32_t pos)
{
    clist *out = chat_list_new(e, 0, CL_LIST);
    if (!chat_truthy(v)) return iter_of(e, out);
    attrpath ap = {0};
    int off = 0;
    if (attr) {
        if (a->nargs < 1) chat_fail(e, pos, "Missing parameter for attribute name");
        attr_parts(e, a->args[0], &ap, pos);
        off = 1;
    }
    const char *test = NULL;
    if (a->nargs > off) {
        if (a->args[off].type != CV_STR) chat_fail(e, pos, "test name must be a string");
        test = a->args[off].u.s->s;
        if (!chat_test_exists(test)) chat_fail(e, pos, "No test named '%s'.", test);
    }
    cargs targs = {a->args + off + 1, a->nargs > off + 1 ? a->nargs - off - 1 : 0, a->kw_names,
                   a->kw, a->nkw};
    clist *items = chat_iterate(e, v, pos);
    chat_steps(e, items->n, pos);
    for (size_t i = 0; i < items->n; i++) {
        cv item = items->items[i];
        cv x = attr ? attr_get(e, &ap, item, NULL, pos) : item;
        bool ok = test ? chat_test(e, test, x, &targs, pos) : chat_truthy(x);
        if (ok == keep) chat_list_push(e, out, item);
    }
    return iter_of(e, out);
}

static cv map_filter(chat_env *e, cv v, const cargs *a, uint32_t pos)
{
    clist *out = chat_list_new(e, 0, CL_LIST);
    if (!chat_truthy(v)) return iter_of(e, out);
    clist *items;
    if (a->nargs == 0) {
        cv attr = cv_undef(), dflt = cv_none();
        bool has_default = false;
        for (int k = 0; k < a->nkw; k++) {
            if (!strcmp(a->kw_names[k], "attribute"))
                attr = a->kw[k];
            else if (!strcmp(a->kw_names[k], "default")) {
                dflt = a->kw[k];
                has_default = true;
            } else {
                chat_fail(e, pos, "Unexpected keyword argument '%s'", a->kw_names[k]);
            }
        }
        if (attr.type == CV_UNDEF) chat_fail(e, pos, "map requires a filter argument");
        attrpath ap;
        attr_parts(e, attr, &ap, pos);
        items = chat_iterate(e, v, pos);
        chat_steps(e, items->n, pos);
        bool use_default = has_default && dflt.type != CV_NONE;
        for (size_t i = 0; i < items->n; i++)
            chat_list_push(e, out,
                           attr_get(e, &ap, items->items[i], use_default ? &dflt : NULL, pos));
        return iter_of(e, out);
    }
    if (a->args[0].type != CV_STR) chat_fail(e, pos, "map: filter name must be a string");
    const char *fname = a->args[0].u.s->s;
    if (!chat_filter_exists(fname)) chat_fail(e, pos, "No filter named '%s'.", fname);
    cargs fargs = {a->args + 1, a->nargs - 1, a->kw_names, a->kw, a->nkw};
    items = chat_iterate(e, v, pos);
    chat_steps(e, items->n, pos);
    for (size_t i = 0; i < items->n; i++)
        chat_list_push(e, out, chat_filter(e, fname, items->items[i], &fargs, pos));
    return iter_of(e, out);
}

static cv do_round(chat_env *e, cv v, cv precv, cv methodv, uint32_t pos)
{
    int64_t prec = chat_need_int(e, precv, "precision", pos);
    const char *method = methodv.type == CV_STR ? methodv.u.s->s : "";
    if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
        chat_fail(e, pos, "method must be common, ceil or floor");
    if (v.type == CV_UNDEF) chat_fail_undef(e, v, pos);
    if (!chat_is_number(v))
        chat_fail(e, pos, "type %s doesn't define __round__ method", chat_type_name(v));
    if (strcmp(method, "common") == 0) {
        if (v.type != CV_FLOAT) {
            /* round(int, n) stays an int */
            int64_t i = v.type == CV_INT ? v.u.i : v.u.b;
            if (prec >= 0) return cv_int(i);
            double p10 = pow(10, (double)-prec);
            double q = (double)i / p10;
            double r = nearbyint(q);
            return cv_int((int64_t)(r * p10));
        }
        double d = v.u.f;
        if (!isfinite(d)) return v;
        if (prec > 300 || prec < -300) return cv_float(prec > 0 ? d : 0.0 * d);
        if (prec == 0) return cv_float(nearbyint(d));
        if (prec > 0) {
            /* Correctly rounded decimal, as Python's round() */
            char tmp[400];
            snprintf(tmp, sizeof tmp, "%.*f", (int)prec, d);
            return cv_float(strtod(tmp, NULL));
        }
        double p10 = pow(10, (double)-prec);
        return cv_float(nearbyint(d / p10) * p10);
    }
    double p10 = pow(10, (double)prec);
    double x = chat_num(v) * p10;
    return cv_float((method[0] == 'c' ? ceil(x) : floor(x)) / p10);
}

static cv do_tojson(chat_env *e, cv v, const cargs *a, uint32_t pos)
{
    static const char *const names[] = {"ensure_ascii", "indent", "separators", "sort_keys"};
    cv p[4] = {cv_bool(false), cv_none(), cv_none(), cv_bool(false)};
    chat_bind(e, "tojson", a, names, 4, p, NULL, pos);
    chat_json_opts o = {0};
    o.ensure_ascii = chat_truthy(p[0]);
    o.sort_keys = chat_truthy(p[3]);
    if (p[1].type == CV_STR) {
        o.indent = p[1].u.s->s;
    } else if (p[1].type != CV_NONE) {
        int64_t n = chat_need_int(e, p[1], "indent", pos);
        if (n > 1000) chat_fail(e, pos, "tojson: indent too large");
        char *ind = chat_alloc(e, (size_t)(n > 0 ? n : 0) + 1);
        for (int64_t k = 0; k < n; k++) ind[k] = ' ';
        o.indent = ind;
    }
    if (p[2].type != CV_NONE) {
        if (p[2].type != CV_LIST || p[2].u.l->n != 2 || p[2].u.l->items[0].type != CV_STR ||
            p[2].u.l->items[1].type != CV_STR)
            chat_fail(e, pos, "tojson: separators must be a pair of strings");
        o.item_sep = p[2].u.l->items[0].u.s->s;
        o.key_sep = p[2].u.l->items[1].u.s->s;
    }
    cbuf b = {0};
    chat_json_dump(e, &b, v, &o, pos);
    return cv_str(cbuf_str(e, &b));
}

static cv do_indent(chat_env *e, cv v, const cargs *a, uint32_t pos)
{
    static const char *const names[] = {"width", "first", "blank"};
    cv p[3] = {cv_int(4), cv_bool(false), cv_bool(false)};
    chat_bind(e, "indent", a, names, 3, p, NULL, pos);
    cv s = chat_soft_str(e, v);
    bool mk = chat_is_markup(s);
    cstr *ind;
    if (p[0].type == CV_STR) {
        ind = p[0].u.s;
    } else {
        int64_t w = chat_need_int(e, p[0], "width", pos);
        if (w > 10000) chat_fail(e, pos, "indent width too large");
        cbuf t = {0};
        for (int64_t k = 0; k < w; k++) cbuf_putc(e, &t, ' ');
        ind = cbuf_str(e, &t);
    }
    cv withnl = chat_mstr(e, s.u.s->s, s.u.s->len, mk);
    withnl = cv_str(chat_str_cat(e, withnl.u.s, chat_str_new(e, "\n", 1)));
    clist *lines = chat_py_splitlines(e, withnl, false);
    cbuf b = {0};
    bool blank = chat_truthy(p[2]);
    for (size_t i = 0; i < lines->n; i++) {
        cstr *ln = lines->items[i].u.s;
        if (i) cbuf_putc(e, &b, '\n');
        if (i > 0 && (blank || ln->len)) cbuf_put(e, &b, ind->s, ind->len);
        cbuf_put(e, &b, ln->s, ln->len);
    }
    cstr *body = cbuf_str(e, &b);
    if (chat_truthy(p[1])) body = chat_str_cat(e, ind, body);
    cv r = cv_str(body);
    if (mk) r.flags |= CVF_MARKUP;
    return r;
}

static cv do_truncate(chat_env *e, cv v, const cargs *a, uint32_t pos)
{
    static const char *const names[] = {"length", "killwords", "end", "leeway"};
    cv p[4] = {cv_int(255), cv_bool(false), cv_undef(), cv_none()};
    chat_bind(e, "truncate", a, names, 4, p, NULL, pos);
    cv s = chat_soft_str(e, v);
    cstr *end =
        p[2].type == CV_UNDEF ? chat_str_new(e, "...", 3) : chat_need_str(e, p[2], "end", pos);
    int64_t length = chat_need_int(e, p[0], "length", pos);
    int64_t leeway = p[3].type == CV_NONE ? 5 : chat_need_int(e, p[3], "leeway", pos);
    int64_t endn = chat_str_ncp(end), n = chat_str_ncp(s.u.s);
    if (length < endn)
        chat_fail(e, pos, "expected length >= %lld, got %lld", (long long)endn, (long long)length);
    if (leeway < 0) chat_fail(e, pos, "expected leeway >= 0, got %lld", (long long)leeway);
    if (n <= length + leeway) return s;
    size_t cut = chat_cp_offset(s.u.s, length - endn);
    cstr *head = chat_str_new(e, s.u.s->s, cut);
    if (!chat_truthy(p[1])) {
        const char *sp = chat_rfind_bytes(head->s, head->len, " ", 1);
        if (sp) head = chat_str_new(e, head->s, (size_t)(sp - head->s));
    }
    return cv_str(chat_str_cat(e, head, end));
}

static cv filter_inner(chat_env *e, const char *name, cv v, const cargs *a, uint32_t pos)
{
    static const char *const n_none[] = {NULL};
    cv p[4] = {cv_none(), cv_none(), cv_none(), cv_none()};

    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        static const char *const names[] = {"default_value", "boolean"};
        p[0] = cv_strn(e, "", 0);
        p[1] = cv_bool(false);
        chat_bind(e, name, a, names, 2, p, NULL, pos);
        if (v.type == CV_UNDEF || (chat_truthy(p[1]) && !chat_truthy(v))) return p[0];
        return v;
    }
    if (!strcmp(name, "tojson")) return do_tojson(e, v, a, pos);
    if (!strcmp(name, "safe")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        cv s = chat_soft_str(e, v);
        s.flags |= CVF_MARKUP;
        return s;
    }
    if (!strcmp(name, "escape") || !strcmp(name, "e") || !strcmp(name, "forceescape")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        cv r =
            cv_str(name[0] == 'f' ? chat_escape(e, cv_str(chat_to_str(e, v))) : chat_escape(e, v));
        r.flags |= CVF_MARKUP;
        return r;
    }
    if (!strcmp(name, "string")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        return chat_soft_str(e, v);
    }
    if (!strcmp(name, "trim")) {
        static const char *const names[] = {"chars"};
        chat_bind(e, name, a, names, 1, p, NULL, pos);
        cv s = chat_soft_str(e, v);
        cstr *chars = p[0].type == CV_NONE ? NULL : chat_need_str(e, p[0], "chars", pos);
        return chat_py_strip(e, s, chars, true, true);
    }
    if (!strcmp(name, "upper") || !strcmp(name, "lower")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        cv s = chat_soft_str(e, v);
        return name[0] == 'u' ? chat_map_case(e, s, chat_upper, true)
                              : chat_map_case(e, s, chat_lower, false);
    }
    if (!strcmp(name, "title") || !strcmp(name, "capitalize")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        cv s = chat_soft_str(e, v);
        return name[0] == 't' ? chat_jinja_title(e, s) : chat_py_capitalize(e, s);
    }
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        return cv_int(chat_len(e, v, pos));
    }
    if (!strcmp(name, "replace")) {
        static const char *const names[] = {"old", "new", "count"};
        p[0] = p[1] = cv_undef();
        chat_bind(e, name, a, names, 3, p, NULL, pos);
        if (p[0].type == CV_UNDEF || p[1].type == CV_UNDEF)
            chat_fail(e, pos, "replace() needs the old and new strings");
        cv s = cv_str(chat_to_str(e, v));
        s.flags = 0;
        int64_t cnt = p[2].type == CV_NONE ? -1 : chat_need_int(e, p[2], "count", pos);
        return chat_py_replace(e, s, chat_to_str(e, p[0]), chat_to_str(e, p[1]), cnt, false, pos);
    }
    if (!strcmp(name, "center")) {
        static const char *const names[] = {"width"};
        p[0] = cv_int(80);
        chat_bind(e, name, a, names, 1, p, NULL, pos);
        return chat_pad(e, chat_soft_str(e, v), chat_need_int(e, p[0], "width", pos), NULL, '^');
    }
    if (!strcmp(name, "indent")) return do_indent(e, v, a, pos);
    if (!strcmp(name, "truncate")) return do_truncate(e, v, a, pos);
    if (!strcmp(name, "wordcount")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        cstr *s = chat_soft_str(e, v).u.s;
        int64_t words = 0;
        bool in_word = false;
        for (size_t i = 0; i < s->len;) {
            uint32_t c = chat_utf8_next(s->s, s->len, &i);
            bool w = c == '_' || chat_isalnum(c);
            if (w && !in_word) words++;
            in_word = w;
        }
        return cv_int(words);
    }
    if (!strcmp(name, "format")) {
        cv s = chat_soft_str(e, v);
        if (a->nargs && a->nkw)
            chat_fail(e, pos, "can't handle positional and keyword arguments at the same time");
        cv args;
        if (a->nkw) {
            cdict *d = chat_dict_new(e);
            for (int k = 0; k < a->nkw; k++)
                chat_dict_set(e, d, cv_cstr(e, a->kw_names[k]), a->kw[k]);
            args = cv_dict(d);
        } else {
            clist *t = chat_list_new(e, (size_t)a->nargs, CL_TUPLE);
            for (int k = 0; k < a->nargs; k++) chat_list_push(e, t, a->args[k]);
            args = cv_list(t);
        }
        return chat_percent_format(e, s, args, pos);
    }
    if (!strcmp(name, "int")) {
        static const char *const names[] = {"default", "base"};
        p[0] = cv_int(0);
        p[1] = cv_int(10);
        chat_bind(e, name, a, names, 2, p, NULL, pos);
        if (v.type == CV_UNDEF) chat_fail_undef(e, v, pos);
        if (v.type == CV_INT) return v;
        if (v.type == CV_BOOL) return cv_int(v.u.b);
        if (v.type == CV_FLOAT) {
            if (!isfinite(v.u.f) || fabs(v.u.f) >= 9.2e18) return p[0];
            return cv_int((int64_t)v.u.f);
        }
        if (v.type == CV_STR) {
            int64_t i;
            int base = (int)chat_need_int(e, p[1], "base", pos);
            if (base != 0 && (base < 2 || base > 36)) return p[0];
            if (chat_parse_int_str(v.u.s, base, &i)) return cv_int(i);
            double d;
            if (chat_parse_float_str(v.u.s, &d) && isfinite(d) && fabs(d) < 9.2e18)
                return cv_int((int64_t)d);
        }
        return p[0];
    }
    if (!strcmp(name, "float")) {
        static const char *const names[] = {"default"};
        p[0] = cv_float(0.0);
        chat_bind(e, name, a, names, 1, p, NULL, pos);
        if (v.type == CV_UNDEF) chat_fail_undef(e, v, pos);
        if (chat_is_number(v)) return cv_float(chat_num(v));
        double d;
        if (v.type == CV_STR && chat_parse_float_str(v.u.s, &d)) return cv_float(d);
        return p[0];
    }
    if (!strcmp(name, "abs")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        if (v.type == CV_FLOAT) return cv_float(fabs(v.u.f));
        if (v.type == CV_INT || v.type == CV_BOOL) {
            int64_t i = v.type == CV_INT ? v.u.i : v.u.b;
            if (i == INT64_MIN) chat_fail(e, pos, "integer overflow");
            return cv_int(i < 0 ? -i : i);
        }
        if (v.type == CV_UNDEF) chat_fail_undef(e, v, pos);
        chat_fail(e, pos, "bad operand type for abs(): '%s'", chat_type_name(v));
    }
    if (!strcmp(name, "round")) {
        static const char *const names[] = {"precision", "method"};
        p[0] = cv_int(0);
        p[1] = cv_cstr(e, "common");
        chat_bind(e, name, a, names, 2, p, NULL, pos);
        return do_round(e, v, p[0], p[1], pos);
    }
    if (!strcmp(name, "first")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        if (v.type == CV_DICT)
            return v.u.d->n ? v.u.d->keys[0] : cv_undef_hint("No first item, sequence was empty.");
        clist *l = chat_iterate(e, v, pos);
        return l->n ? l->items[0] : cv_undef_hint("No first item, sequence was empty.");
    }
    if (!strcmp(name, "last")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        if (v.type == CV_LIST && v.u.l->kind == CL_ITER)
            chat_fail(e, pos, "'generator' object is not reversible");
        if (v.type != CV_UNDEF && v.type != CV_LIST && v.type != CV_STR && v.type != CV_DICT)
            chat_fail(e, pos, "'%s' object is not reversible", chat_type_name(v));
        clist *l = chat_iterate(e, v, pos);
        return l->n ? l->items[l->n - 1] : cv_undef_hint("No last item, sequence was empty.");
    }
    if (!strcmp(name, "list")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        clist *l = chat_iterate(e, v, pos);
        clist *r = chat_list_new(e, l->n, CL_LIST);
        if (l->n) memcpy(r->items, l->items, l->n * sizeof(cv));
        r->n = l->n;
        chat_steps(e, l->n, pos);
        return cv_list(r);
    }
    if (!strcmp(name, "join")) {
        static const char *const names[] = {"d", "attribute"};
        p[0] = cv_strn(e, "", 0);
        chat_bind(e, name, a, names, 2, p, NULL, pos);
        attrpath ap;
        attr_parts(e, p[1], &ap, pos);
        clist *l = chat_iterate(e, v, pos);
        cstr *sep = chat_to_str(e, p[0]);
        cbuf b = {0};
        for (size_t i = 0; i < l->n; i++) {
            if (i) cbuf_put(e, &b, sep->s, sep->len);
            chat_str_into(e, &b, ap.n ? attr_get(e, &ap, l->items[i], NULL, pos) : l->items[i]);
        }
        chat_steps(e, l->n, pos);
        return cv_str(cbuf_str(e, &b));
    }
    if (!strcmp(name, "reverse")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        if (v.type == CV_STR) {
            cstr *s = v.u.s;
            cbuf b = {0};
            size_t i = s->len;
            while (i > 0) {
                size_t start = i - 1;
                while (start > 0 && ((unsigned char)s->s[start] & 0xC0) == 0x80) start--;
                cbuf_put(e, &b, s->s + start, i - start);
                i = start;
            }
            return chat_bufv(e, &b, chat_is_markup(v));
        }
        if (v.type != CV_UNDEF && v.type != CV_LIST && v.type != CV_DICT)
            chat_fail(e, pos, "argument must be iterable");
        bool was_iter = v.type == CV_LIST && v.u.l->kind == CL_ITER;
        clist *l = chat_iterate(e, v, pos);
        clist *r = chat_list_new(e, l->n, CL_LIST);
        for (size_t i = l->n; i-- > 0;) chat_list_push(e, r, l->items[i]);
        chat_steps(e, l->n, pos);
        /* reversed(list) is an iterator; a reversed generator becomes a list */
        return was_iter ? cv_list(r) : iter_of(e, r);
    }
    if (!strcmp(name, "items")) {
        chat_bind(e, name, a, n_none, 0, p, NULL, pos);
        if (v.type == CV_UNDEF) return iter_of(e, chat_list_new(e, 0, CL_LIST));
        if (v.type != CV_DICT) chat_fail(e, pos, "Can only get item pairs from a mapping.");
        cargs none = {0};
        cv l = chat_dict_method(e, v, "items", &none, pos);
        return iter_of(e, l.u.l);
    }
    if (!strcmp(name, "dictsort")) {
        static const char *const names[] = {"case_sensitive", "by", "reverse"};
        p[0] = cv_bool(false);
        p[1] = cv_cstr(e, "key");
        p[2] = cv_bool(false);
        chat_bind(e, name, a, names, 3, p, NULL, pos);
        if (v.type == CV_UNDEF) chat_fail_undef(e, v, pos);
        if (v.type != CV_DICT)
            chat_fail(e, pos, "dictsort: '%s' object has no attribute 'items'", chat_type_name(v));
        int by = p[1].type == CV_STR && !strcmp(p[1].u.s->s, "value") ? 1
                 : p[1].type == CV_STR && !strcmp(p[1].u.s->s, "key") ? 0
                                                                      : -1;
        if (by < 0) chat_fail(e, pos, "You can only sort by either \"key\" or \"value\"");
        cdict *d = v.u.d;
        cv *items = chat_alloc(e, (d->n + 1) * sizeof(cv));
        cv *keys = chat_alloc(e, (d->n + 1) * sizeof(cv));
        for (size_t i = 0; i < d->n; i++) {
            clist *t = chat_list_new(e, 2, CL_TUPLE);
            chat_list_push(e, t, d->keys[i]);
            chat_list_push(e, t, d->vals[i]);
            items[i] = cv_list(t);
            cv k = by ? d->vals[i] : d->keys[i];
            keys[i] = chat_truthy(p[0]) ? k : lower_if_str(e, k);
        }
        sort_by_keys(e, items, keys, d->n, chat_truthy(p[2]), pos);
        clist *r = chat_list_new(e, d->n, CL_LIST);
        for (size_t i = 0; i < d->n; i++) chat_list_push(e, r, items[i]);
        return cv_list(r);
    }
    if (!strcmp(name, "sort")) {
        static const char *const names[] = {"reverse", "case_sensitive", "attribute"};
        p[0] = cv_bool(false);
        p[1] = cv_bool(false);
        chat_bind(e, name, a, names, 3, p, NULL, pos);
        clist *l = chat_iterate(e, v, pos);
        size_t n = l->n;
        cv *items = chat_alloc(e, (n + 1) * sizeof(cv));
        cv *keys = chat_alloc(e, (n + 1) * sizeof(cv));
        /* attribute may list several keys: "age,name" */
        attrpath aps[8];
        int naps = 0;
        if (p[2].type == CV_STR) {
            cstr *s = p[2].u.s;
            size_t i = 0;
            for (;;) {
                size_t j = i;
                while (j < s->len && s->s[j] != ',') j++;
                if (naps == 8) chat_fail(e, pos, "sort: too many attributes");
                attr_parts(e, cv_strn(e, s->s + i, j - i), &aps[naps++], pos);
                if (j >= s->len) break;
                i = j + 1;
            }
        } else if (p[2].type != CV_NONE) {
            attr_parts(e, p[2], &aps[naps++], pos);
        }
        for (size_t i = 0; i < n; i++) {
            items[i] = l->items[i];
            clist *kt = chat_list_new(e, (size_t)(naps ? naps : 1), CL_LIST);
            if (!naps) {
                chat_list_push(e, kt, chat_truthy(p[1]) ? items[i] : lower_if_str(e, items[i]));
            } else {
                for (int k = 0; k < naps; k++) {
                    cv x = attr_get(e, &aps[k], items[i], NULL, pos);
                    chat_list_push(e, kt, chat_truthy(p[1]) ? x : lower_if_str(e, x));
                }
            }
            keys[i] = cv_list(kt);
        }
        sort_by_keys(e, items, keys, n, chat_truthy(p[0]), pos);
        clist *r = chat_list_new(e, n, CL_LIST);
        for (size_t i = 0; i < n; i++) chat_list_push(e, r, items[i]);
        return cv_list(r);
    }
    if (!strcmp(name, "unique")) {
        static const char *const names[] = {"case_sensitive", "attribute"};
        p[0] = cv_bool(false);
        chat_bind(e, name, a, names, 2, p, NULL, pos);
        attrpath ap;
        attr_parts(e, p[1], &ap, pos);
        clist *l = chat_iterate(e, v, pos);
        clist *seen = chat_list_new(e, 0, CL_LIST), *out = chat_list_new(e, 0, CL_LIST);
        chat_steps(e, l->n * l->n / 2 + l->n, pos);
        for (size_t i = 0; i < l->n; i++) {
            cv key = ap.n ? attr_get(e, &ap, l->items[i], NULL, pos) : l->items[i];
            if (!chat_truthy(p[0])) key = lower_if_str(e, key);
            bool dup = false;
            for (size_t k = 0; k < seen->n && !dup; k++) dup = chat_eq(e, seen->items[k], key);
            if (dup) continue;
            chat_list_push(e, seen, key);
            chat_list_push(e, out, l->items[i]);
        }
        return iter_of(e, out);
    }
    if (!strcmp(name, "min") || !strcmp(name, "max")) {
        static const char *const names[] = {"case_sensitive", "attribute"};
        p[0] = cv_bool(false);
        chat_bind(e, name, a, names, 2, p, NULL, pos);
        attrpath ap;
        attr_parts(e, p[1], &ap, pos);
        clist *l = chat_iterate(e, v, pos);
        if (!l->n) return cv_undef_hint("No aggregated item, sequence was empty.");
        bool is_max = name[1] == 'a';
        size_t best = 0;
        cv bestk = cv_undef();
        for (size_t i = 0; i < l->n; i++) {
            cv k = ap.n ? attr_get(e, &ap, l->items[i], NULL, pos) : l->items[i];
            if (!chat_truthy(p[0])) k = lower_if_str(e, k);
            if (i == 0 || (is_max ? chat_lt(e, bestk, k, pos) : chat_lt(e, k, bestk, pos))) {
                best = i;
                bestk = k;
            }
        }
        chat_steps(e, l->n, pos);
        return l->items[best];
    }
    if (!strcmp(name, "sum")) {
        static const char *const names[] = {"attribute", "start"};
        p[1] = cv_int(0);
        chat_bind(e, name, a, names, 2, p, NULL, pos);
        attrpath ap;
        attr_parts(e, p[0], &ap, pos);
        clist *l = chat_iterate(e, v, pos);
        cv acc = p[1];
        for (size_t i = 0; i < l->n; i++)
            acc = chat_binop(e, OP_ADD, acc,
                             ap.n ? attr_get(e, &ap, l->items[i], NULL, pos) : l->items[i], pos);
        chat_steps(e, l->n, pos);
        return acc;
    }
    if (!strcmp(name, "map")) return map_filter(e, v, a, pos);
    if (!strcmp(name, "select")) return select_filter(e, v, a, false, true, pos);
    if (!strcmp(name, "reject")) return select_filter(e, v, a, false, false, pos);
    if (!strcmp(name, "selectattr")) return select_filter(e, v, a, true, true, pos);
    if (!strcmp(name, "rejectattr")) return select_filter(e, v, a, true, false, pos);
    if (!strcmp(name, "attr")) {
        static const char *const names[] = {"name"};
        p[0] = cv_undef();
        chat_bind(e, name, a, names, 1, p, NULL, pos);
        cstr *an = chat_need_str(e, p[0], "attribute name", pos);
        if (v.type == CV_UNDEF) chat_fail_undef(e, v, pos);
        if (v.type == CV_NS) {
            cv *x = chat_dict_gets(v.u.d, an->s);
            return x ? *x : cv_undef_attr(v, an->s);
        }
        if (v.type == CV_LOOP) return chat_loop_attr(e, v, an->s);
        if (chat_has_method(v, an->s)) return chat_method(e, v, an->s);
        return cv_undef_attr(v, an->s);
    }
    if (!strcmp(name, "batch") || !strcmp(name, "slice")) {
        static const char *const names_b[] = {"linecount", "fill_with"};
        static const char *const names_s[] = {"slices", "fill_with"};
        p[0] = cv_undef();
        chat_bind(e, name, a, name[0] == 'b' ? names_b : names_s, 2, p, NULL, pos);
        int64_t count = chat_need_int(e, p[0], name, pos);
        clist *l = chat_iterate(e, v, pos);
        clist *out = chat_list_new(e, 0, CL_LIST);
        bool fill = p[1].type != CV_NONE;
        if (name[0] == 'b') {
            if (count <= 0) chat_fail(e, pos, "batch size must be positive");
            clist *tmp = NULL;
            for (size_t i = 0; i < l->n; i++) {
                if (!tmp || (int64_t)tmp->n == count) {
                    tmp = chat_list_new(e, 0, CL_LIST);
                    chat_list_push(e, out, cv_list(tmp));
                }
                chat_list_push(e, tmp, l->items[i]);
            }
            if (tmp && fill)
                while ((int64_t)tmp->n < count) chat_list_push(e, tmp, p[1]);
        } else {
            if (count <= 0) chat_fail(e, pos, "slice count must be positive");
            if (count > 100000) chat_fail(e, pos, "too many slices");
            int64_t n = (int64_t)l->n, per = n / count, extra = n % count, offset = 0;
            for (int64_t k = 0; k < count; k++) {
                int64_t start = offset + k * per;
                if (k < extra) offset++;
                int64_t end = offset + (k + 1) * per;
                clist *tmp = chat_list_new(e, 0, CL_LIST);
                for (int64_t i = start; i < end; i++) chat_list_push(e, tmp, l->items[i]);
                if (fill && k >= extra) chat_list_push(e, tmp, p[1]);
                chat_list_push(e, out, cv_list(tmp));
            }
        }
        chat_steps(e, l->n, pos);
        return iter_of(e, out);
    }
    if (!strcmp(name, "groupby")) {
        static const char *const names[] = {"attribute", "default", "case_sensitive"};
        p[0] = cv_undef();
        p[2] = cv_bool(false);
        chat_bind(e, name, a, names, 3, p, NULL, pos);
        attrpath ap;
        attr_parts(e, p[0], &ap, pos);
        const cv *dflt = p[1].type == CV_NONE ? NULL : &p[1];
        clist *l = chat_iterate(e, v, pos);
        size_t n = l->n;
        cv *items = chat_alloc(e, (n + 1) * sizeof(cv));
        cv *keys = chat_alloc(e, (n + 1) * sizeof(cv));
        for (size_t i = 0; i < n; i++) {
            items[i] = l->items[i];
            cv k = attr_get(e, &ap, items[i], dflt, pos);
            keys[i] = chat_truthy(p[2]) ? k : lower_if_str(e, k);
        }
        sort_by_keys(e, items, keys, n, false, pos);
        clist *out = chat_list_new(e, 0, CL_LIST);
        cv prev = cv_undef();
        clist *group = NULL;
        for (size_t i = 0; i < n; i++) {
            cv k = attr_get(e, &ap, items[i], dflt, pos);
            cv kc = chat_truthy(p[2]) ? k : lower_if_str(e, k);
            if (!group || !chat_eq(e, prev, kc)) {
                group = chat_list_new(e, 0, CL_LIST);
                clist *t = chat_list_new(e, 2, CL_GROUP);
                chat_list_push(e, t, k);
                chat_list_push(e, t, cv_list(group));
                chat_list_push(e, out, cv_list(t));
                prev = kc;
            }
            chat_list_push(e, group, items[i]);
        }
        return cv_list(out);
    }
    chat_fail(e, pos, "filter '%s' is not supported", name);
}

cv chat_filter(chat_env *e, const char *name, cv value, const cargs *a, uint32_t pos)
{
    if (!chat_filter_exists(name)) chat_fail(e, pos, "No filter named '%s'.", name);
    chat_steps(e, 1, pos);
    return filter_inner(e, name, value, a, pos);
}
