/* Builtins of the template language besides filters and tests: the helpers
 * they share, Python's operators on template values, the methods of dict
 * and list values, the loop object, and the global functions (range,
 * namespace, dict, joiner, raise_exception, strftime_now). */
#include "chat/builtins.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    F_METHOD, /* bound method: self + name */
    F_RANGE,
    F_NAMESPACE,
    F_DICT,
    F_RAISE,
    F_STRFTIME,
    F_JOINER,
    F_JOINER_CALL,
    F_LOOP_CYCLE,
    F_LOOP_CHANGED,
};

static cv mkfunc(chat_env *e, int id, cv self, const char *name)
{
    cfunc *f = chat_alloc(e, sizeof *f);
    f->id = id;
    f->self = self;
    f->name = name;
    cv v = {0};
    v.type = CV_FUNC;
    v.u.fn = f;
    return v;
}

_Noreturn void chat_fail_undef(chat_env *e, cv v, uint32_t pos)
{
    chat_fail(e, pos, "%s", chat_undef_msg(e, v));
}

cv chat_mstr(chat_env *e, const char *s, size_t n, bool markup)
{
    cv v = cv_strn(e, s, n);
    if (markup) v.flags |= CVF_MARKUP;
    return v;
}

cv chat_bufv(chat_env *e, const cbuf *b, bool markup)
{
    cv v = cv_str(cbuf_str(e, b));
    if (markup) v.flags |= CVF_MARKUP;
    return v;
}

/* chat_soft_str(): strings (and Markup) as they are, anything else through str(). */
cv chat_soft_str(chat_env *e, cv v)
{
    if (v.type == CV_STR) return v;
    return cv_str(chat_to_str(e, v));
}

cstr *chat_need_str(chat_env *e, cv v, const char *what, uint32_t pos)
{
    if (v.type == CV_UNDEF) chat_fail_undef(e, v, pos);
    if (v.type != CV_STR) chat_fail(e, pos, "%s must be str, not %s", what, chat_type_name(v));
    return v.u.s;
}

int64_t chat_need_int(chat_env *e, cv v, const char *what, uint32_t pos)
{
    if (v.type == CV_INT) return v.u.i;
    if (v.type == CV_BOOL) return v.u.b;
    if (v.type == CV_UNDEF) chat_fail_undef(e, v, pos);
    chat_fail(e, pos, "%s: '%s' object cannot be interpreted as an integer", what,
              chat_type_name(v));
}

/* ------------------------------------------------------------------------ */
/* Argument binding                                                          */
/* ------------------------------------------------------------------------ */

/* Binds positional and keyword arguments to `np` named parameters. `out`
 * holds the defaults on entry; `given` (optional) records which were
 * passed. */
void chat_bind(chat_env *e, const char *fname, const cargs *a, const char *const *names, int np,
               cv *out, bool *given, uint32_t pos)
{
    if (a->nargs > np)
        chat_fail(e, pos, "%s() takes at most %d argument%s (%d given)", fname, np,
                  np == 1 ? "" : "s", a->nargs);
    for (int i = 0; i < a->nargs; i++) {
        out[i] = a->args[i];
        if (given) given[i] = true;
    }
    for (int k = 0; k < a->nkw; k++) {
        int j = 0;
        while (j < np && strcmp(names[j], a->kw_names[k]) != 0) j++;
        if (j == np)
            chat_fail(e, pos, "%s() got an unexpected keyword argument '%s'", fname,
                      a->kw_names[k]);
        if (j < a->nargs)
            chat_fail(e, pos, "%s() got multiple values for argument '%s'", fname, names[j]);
        out[j] = a->kw[k];
        if (given) given[j] = true;
    }
}

/* ------------------------------------------------------------------------ */
/* Operators                                                                 */
/* ------------------------------------------------------------------------ */

static const char *op_symbol(int op)
{
    switch (op) {
    case OP_ADD:
        return "+";
    case OP_SUB:
        return "-";
    case OP_MUL:
        return "*";
    case OP_DIV:
        return "/";
    case OP_FLOORDIV:
        return "//";
    case OP_MOD:
        return "%";
    case OP_POW:
        return "** or pow()";
    default:
        return "?";
    }
}

_Noreturn static void bad_operands(chat_env *e, int op, cv a, cv b, uint32_t pos)
{
    chat_fail(e, pos, "unsupported operand type(s) for %s: '%s' and '%s'", op_symbol(op),
              chat_type_name(a), chat_type_name(b));
}

static cv repeat(chat_env *e, cv seq, int64_t times, uint32_t pos)
{
    if (times < 0) times = 0;
    if (seq.type == CV_STR) {
        uint64_t total;
        if (!core_mul_u64(seq.u.s->len, (uint64_t)times, &total) || total > e->max_output)
            chat_fail(e, pos, "string repetition exceeds the output limit");
        cbuf b = {0};
        for (int64_t k = 0; k < times; k++) cbuf_put(e, &b, seq.u.s->s, seq.u.s->len);
        return chat_bufv(e, &b, chat_is_markup(seq));
    }
    const clist *l = seq.u.l;
    uint64_t total;
    if (!core_mul_u64(l->n, (uint64_t)times, &total) || total > 10000000)
        chat_fail(e, pos, "list repetition too large");
    chat_steps(e, total, pos);
    clist *r = chat_list_new(e, (size_t)total, l->kind == CL_LIST ? CL_LIST : CL_TUPLE);
    for (int64_t k = 0; k < times; k++)
        for (size_t i = 0; i < l->n; i++) chat_list_push(e, r, l->items[i]);
    return cv_list(r);
}

static double py_fmod(double a, double b)
{
    double m = fmod(a, b);
    if (m != 0 && ((b < 0) != (m < 0)))
        m += b;
    else if (m == 0)
        m = copysign(0.0, b);
    return m;
}

static double py_floordiv(double a, double b)
{
    double m = fmod(a, b);
    double div = (a - m) / b;
    if (m != 0 && ((b < 0) != (m < 0))) div -= 1.0;
    double fl;
    if (div != 0) {
        fl = floor(div);
        if (div - fl > 0.5) fl += 1.0;
    } else {
        fl = copysign(0.0, a / b);
    }
    return fl;
}

cv chat_binop(chat_env *e, int op, cv a, cv b, uint32_t pos)
{
    if (a.type == CV_UNDEF) chat_fail_undef(e, a, pos);
    if (b.type == CV_UNDEF) chat_fail_undef(e, b, pos);
    bool na = chat_is_number(a), nb = chat_is_number(b);
    bool ints = na && nb && a.type != CV_FLOAT && b.type != CV_FLOAT;
    int64_t x = 0, y = 0, r;
    if (ints) {
        x = a.type == CV_INT ? a.u.i : a.u.b;
        y = b.type == CV_INT ? b.u.i : b.u.b;
    }
    switch (op) {
    case OP_ADD:
        if (ints) {
            if (__builtin_add_overflow(x, y, &r)) chat_fail(e, pos, "integer overflow");
            return cv_int(r);
        }
        if (na && nb) return cv_float(chat_num(a) + chat_num(b));
        if (a.type == CV_STR && b.type == CV_STR) {
            if (chat_is_markup(a) || chat_is_markup(b)) {
                cstr *l = chat_is_markup(a) ? a.u.s : chat_markup_operand(e, a);
                cstr *rr = chat_is_markup(b) ? b.u.s : chat_markup_operand(e, b);
                cv v = cv_str(chat_str_cat(e, l, rr));
                v.flags |= CVF_MARKUP;
                return v;
            }
            return cv_str(chat_str_cat(e, a.u.s, b.u.s));
        }
        if (a.type == CV_LIST && b.type == CV_LIST && a.u.l->kind != CL_ITER &&
            b.u.l->kind != CL_ITER && (a.u.l->kind == CL_LIST) == (b.u.l->kind == CL_LIST)) {
            clist *l =
                chat_list_new(e, a.u.l->n + b.u.l->n, a.u.l->kind == CL_LIST ? CL_LIST : CL_TUPLE);
            for (size_t i = 0; i < a.u.l->n; i++) chat_list_push(e, l, a.u.l->items[i]);
            for (size_t i = 0; i < b.u.l->n; i++) chat_list_push(e, l, b.u.l->items[i]);
            chat_steps(e, l->n, pos);
            return cv_list(l);
        }
        if (a.type == CV_STR && !chat_is_markup(a))
            chat_fail(e, pos, "can only concatenate str (not \"%s\") to str", chat_type_name(b));
        if (a.type == CV_LIST && a.u.l->kind != CL_ITER)
            chat_fail(e, pos, "can only concatenate %s (not \"%s\") to %s", chat_type_name(a),
                      chat_type_name(b), chat_type_name(a));
        bad_operands(e, op, a, b, pos);
    case OP_SUB:
        if (ints) {
            if (__builtin_sub_overflow(x, y, &r)) chat_fail(e, pos, "integer overflow");
            return cv_int(r);
        }
        if (na && nb) return cv_float(chat_num(a) - chat_num(b));
        bad_operands(e, op, a, b, pos);
    case OP_MUL:
        if (ints) {
            if (__builtin_mul_overflow(x, y, &r)) chat_fail(e, pos, "integer overflow");
            return cv_int(r);
        }
        if (na && nb) return cv_float(chat_num(a) * chat_num(b));
        if ((a.type == CV_STR || (a.type == CV_LIST && a.u.l->kind != CL_ITER)) &&
            (b.type == CV_INT || b.type == CV_BOOL))
            return repeat(e, a, b.type == CV_INT ? b.u.i : b.u.b, pos);
        if ((b.type == CV_STR || (b.type == CV_LIST && b.u.l->kind != CL_ITER)) &&
            (a.type == CV_INT || a.type == CV_BOOL))
            return repeat(e, b, a.type == CV_INT ? a.u.i : a.u.b, pos);
        bad_operands(e, op, a, b, pos);
    case OP_DIV:
        if (na && nb) {
            if (chat_num(b) == 0) chat_fail(e, pos, "division by zero");
            if (ints) return cv_float((double)x / (double)y);
            return cv_float(chat_num(a) / chat_num(b));
        }
        bad_operands(e, op, a, b, pos);
    case OP_FLOORDIV:
    case OP_MOD:
        if (op == OP_MOD && a.type == CV_STR) return chat_percent_format(e, a, b, pos);
        if (ints) {
            if (y == 0) chat_fail(e, pos, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) {
                if (op == OP_MOD) return cv_int(0);
                chat_fail(e, pos, "integer overflow");
            }
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q -= 1;
                m += y;
            }
            return cv_int(op == OP_MOD ? m : q);
        }
        if (na && nb) {
            double d = chat_num(b);
            if (d == 0)
                chat_fail(e, pos, "float %s by zero", op == OP_MOD ? "modulo" : "floor division");
            return cv_float(op == OP_MOD ? py_fmod(chat_num(a), d) : py_floordiv(chat_num(a), d));
        }
        bad_operands(e, op, a, b, pos);
    case OP_POW:
        if (ints) {
            if (y < 0) {
                if (x == 0) chat_fail(e, pos, "0.0 cannot be raised to a negative power");
                return cv_float(pow((double)x, (double)y));
            }
            int64_t acc = 1, base = x;
            int64_t ex = y;
            while (ex > 0) {
                chat_steps(e, 1, pos);
                if (ex & 1) {
                    if (__builtin_mul_overflow(acc, base, &acc))
                        chat_fail(e, pos, "integer overflow (result beyond 64 bits)");
                }
                ex >>= 1;
                if (ex && __builtin_mul_overflow(base, base, &base))
                    chat_fail(e, pos, "integer overflow (result beyond 64 bits)");
            }
            return cv_int(acc);
        }
        if (na && nb) {
            double p = chat_num(a), q = chat_num(b);
            if (p == 0 && q < 0) chat_fail(e, pos, "0.0 cannot be raised to a negative power");
            return cv_float(pow(p, q));
        }
        bad_operands(e, op, a, b, pos);
    default:
        bad_operands(e, op, a, b, pos);
    }
}

bool chat_contains(chat_env *e, cv hay, cv needle, uint32_t pos)
{
    switch (hay.type) {
    case CV_UNDEF:
        return false;
    case CV_STR:
        if (needle.type != CV_STR) {
            if (needle.type == CV_UNDEF) chat_fail_undef(e, needle, pos);
            chat_fail(e, pos, "'in <string>' requires string as left operand, not %s",
                      chat_type_name(needle));
        }
        return chat_find_bytes(hay.u.s->s, hay.u.s->len, needle.u.s->s, needle.u.s->len) != NULL;
    case CV_LIST: {
        clist *l = hay.u.l;
        if (l->kind == CL_ITER) l = chat_iterate(e, hay, pos);
        chat_steps(e, l->n, pos);
        for (size_t i = 0; i < l->n; i++)
            if (chat_eq(e, l->items[i], needle)) return true;
        return false;
    }
    case CV_DICT:
        if ((needle.type == CV_LIST && needle.u.l->kind == CL_LIST) || needle.type == CV_DICT)
            chat_fail(e, pos, "unhashable type: '%s'", chat_type_name(needle));
        return chat_dict_get(e, hay.u.d, needle) != NULL;
    default:
        chat_fail(e, pos, "argument of type '%s' is not iterable", chat_type_name(hay));
    }
}

/* ------------------------------------------------------------------------ */
/* Methods of str, dict and list values                                      */
/* ------------------------------------------------------------------------ */

static const char *const str_methods[] = {
    "startswith", "endswith",     "split",        "rsplit",    "strip",      "lstrip",
    "rstrip",     "replace",      "lower",        "upper",     "title",      "capitalize",
    "swapcase",   "casefold",     "find",         "rfind",     "index",      "rindex",
    "count",      "join",         "splitlines",   "format",    "isdigit",    "isalpha",
    "isalnum",    "isspace",      "islower",      "isupper",   "isnumeric",  "isdecimal",
    "istitle",    "center",       "ljust",        "rjust",     "zfill",      "partition",
    "rpartition", "removeprefix", "removesuffix", "encode",    "expandtabs", "format_map",
    "isascii",    "isidentifier", "isprintable",  "maketrans", "translate",  NULL,
};
static const char *const dict_methods[] = {"items", "keys", "values", "get", "copy", NULL};
static const char *const dict_unsafe[] = {"pop",   "popitem",  "update", "setdefault",
                                          "clear", "fromkeys", NULL};
static const char *const list_methods[] = {"index", "count", "copy", "append", NULL};
static const char *const list_unsafe[] = {"pop",     "extend", "insert", "remove",
                                          "reverse", "sort",   "clear",  NULL};
static const char *const tuple_methods[] = {"index", "count", NULL};

const char *chat_in_list(const char *const *names, const char *name)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0) return names[i];
    return NULL;
}

bool chat_has_method(cv self, const char *name)
{
    switch (self.type) {
    case CV_STR:
        return chat_in_list(str_methods, name) != NULL;
    case CV_DICT:
        return chat_in_list(dict_methods, name) || chat_in_list(dict_unsafe, name);
    case CV_LIST:
        if (self.u.l->kind == CL_LIST)
            return chat_in_list(list_methods, name) || chat_in_list(list_unsafe, name);
        if (self.u.l->kind == CL_ITER) return false;
        return chat_in_list(tuple_methods, name) != NULL;
    default:
        return false;
    }
}

cv chat_method(chat_env *e, cv self, const char *name)
{
    const char *canon = NULL;
    if (self.type == CV_STR)
        canon = chat_in_list(str_methods, name);
    else if (self.type == CV_DICT)
        canon = chat_in_list(dict_methods, name);
    else if (self.type == CV_LIST)
        canon = chat_in_list(self.u.l->kind == CL_LIST ? list_methods : tuple_methods, name);
    if (!canon) {
        /* Methods that would modify a list or dict are refused by Jinja2's
         * immutable sandbox; using them is an error. */
        cbuf b = {0};
        cbuf_printf(e, &b, "access to attribute '%s' of '%s' object is unsafe.", name,
                    chat_type_name(self));
        return cv_undef_hint(b.p);
    }
    return mkfunc(e, F_METHOD, self, canon);
}

cv chat_dict_method(chat_env *e, cv self, const char *m, const cargs *a, uint32_t pos)
{
    cdict *d = self.u.d;
    cv p[2] = {cv_undef(), cv_none()};
    static const char *const n_get[] = {"key", "default"};
    static const char *const n_none[] = {NULL};
    if (!strcmp(m, "get")) {
        chat_bind(e, m, a, n_get, 2, p, NULL, pos);
        if (a->nargs < 1) chat_fail(e, pos, "get expected at least 1 argument, got 0");
        cv *v = chat_dict_get(e, d, p[0]);
        return v ? *v : p[1];
    }
    chat_bind(e, m, a, n_none, 0, p, NULL, pos);
    chat_steps(e, d->n, pos);
    if (!strcmp(m, "copy")) {
        cdict *c = chat_dict_new(e);
        for (size_t i = 0; i < d->n; i++) chat_dict_set(e, c, d->keys[i], d->vals[i]);
        return cv_dict(c);
    }
    clist *l = chat_list_new(e, d->n, CL_LIST);
    for (size_t i = 0; i < d->n; i++) {
        if (!strcmp(m, "keys")) {
            chat_list_push(e, l, d->keys[i]);
        } else if (!strcmp(m, "values")) {
            chat_list_push(e, l, d->vals[i]);
        } else {
            clist *t = chat_list_new(e, 2, CL_TUPLE);
            chat_list_push(e, t, d->keys[i]);
            chat_list_push(e, t, d->vals[i]);
            chat_list_push(e, l, cv_list(t));
        }
    }
    return cv_list(l);
}

static cv list_method(chat_env *e, cv self, const char *m, const cargs *a, uint32_t pos)
{
    clist *l = self.u.l;
    cv p[1] = {cv_undef()};
    static const char *const n_x[] = {"x"};
    static const char *const n_none[] = {NULL};
    if (!strcmp(m, "copy")) {
        chat_bind(e, m, a, n_none, 0, p, NULL, pos);
        clist *c = chat_list_new(e, l->n, l->kind);
        for (size_t i = 0; i < l->n; i++) chat_list_push(e, c, l->items[i]);
        return cv_list(c);
    }
    chat_bind(e, m, a, n_x, 1, p, NULL, pos);
    if (a->nargs != 1) chat_fail(e, pos, "%s() takes exactly one argument", m);
    chat_steps(e, l->n, pos);
    if (!strcmp(m, "append")) {
        /* An extension: Jinja2's immutable sandbox refuses list.append, but
         * templates written for other engines use it on namespace lists. */
        chat_list_push(e, l, p[0]);
        return cv_none();
    }
    int64_t cnt = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (chat_eq(e, l->items[i], p[0])) {
            if (!strcmp(m, "index")) return cv_int((int64_t)i);
            cnt++;
        }
    }
    if (!strcmp(m, "index")) chat_fail(e, pos, "value is not in list");
    return cv_int(cnt);
}

/* ------------------------------------------------------------------------ */
/* The loop object                                                           */
/* ------------------------------------------------------------------------ */

cv chat_loop_attr(chat_env *e, cv loop, const char *name)
{
    const cloop *L = loop.u.loop;
    int64_t n = (int64_t)L->items->n, i = L->index0;
    if (!strcmp(name, "index")) return cv_int(i + 1);
    if (!strcmp(name, "index0")) return cv_int(i);
    if (!strcmp(name, "revindex")) return cv_int(n - i);
    if (!strcmp(name, "revindex0")) return cv_int(n - i - 1);
    if (!strcmp(name, "first")) return cv_bool(i == 0);
    if (!strcmp(name, "last")) return cv_bool(i == n - 1);
    if (!strcmp(name, "length")) return cv_int(n);
    if (!strcmp(name, "depth")) return cv_int(L->depth0 + 1);
    if (!strcmp(name, "depth0")) return cv_int(L->depth0);
    if (!strcmp(name, "previtem"))
        return i > 0 ? L->items->items[i - 1] : cv_undef_hint("there is no previous item");
    if (!strcmp(name, "nextitem"))
        return i + 1 < n ? L->items->items[i + 1] : cv_undef_hint("there is no next item");
    if (!strcmp(name, "cycle")) return mkfunc(e, F_LOOP_CYCLE, loop, "cycle");
    if (!strcmp(name, "changed")) return mkfunc(e, F_LOOP_CHANGED, loop, "changed");
    return cv_undef_attr(loop, name);
}

/* ------------------------------------------------------------------------ */
/* Globals                                                                   */
/* ------------------------------------------------------------------------ */

cv chat_global(chat_env *e, const char *name)
{
    static const struct {
        const char *name;
        int id;
    } globals[] = {
        {"range", F_RANGE},           {"namespace", F_NAMESPACE},   {"dict", F_DICT},
        {"raise_exception", F_RAISE}, {"strftime_now", F_STRFTIME}, {"joiner", F_JOINER},
    };
    for (size_t i = 0; i < TK_ARRAY_LEN(globals); i++)
        if (!strcmp(globals[i].name, name))
            return mkfunc(e, globals[i].id, cv_undef(), globals[i].name);
    return cv_undef();
}

static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
static const char *const day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Python's datetime.strftime on Linux (glibc codes, C locale), computed
 * from the date itself so it needs no locale or time zone. */
static void do_strftime(chat_env *e, cbuf *b, const cstr *fmt, const struct tm *tm)
{
    int year = tm->tm_year + 1900, mon = tm->tm_mon, mday = tm->tm_mday;
    int64_t days = days_from_civil(year, mon + 1, mday);
    int wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    int yday = (int)(days - days_from_civil(year, 1, 1));
    for (size_t i = 0; i < fmt->len; i++) {
        char c = fmt->s[i];
        if (c != '%' || i + 1 >= fmt->len) {
            cbuf_putc(e, b, c);
            continue;
        }
        char flag = 0;
        char k = fmt->s[++i];
        if ((k == '-' || k == '_' || k == '0') && i + 1 < fmt->len) {
            flag = k;
            k = fmt->s[++i];
        }
        int num = -1, width = 2;
        char padc = '0';
        switch (k) {
        case 'Y':
            num = year;
            width = 1;
            break;
        case 'y':
            num = year % 100;
            break;
        case 'C':
            num = year / 100;
            break;
        case 'm':
            num = mon + 1;
            break;
        case 'd':
            num = mday;
            break;
        case 'e':
            num = mday;
            padc = ' ';
            break;
        case 'H':
            num = tm->tm_hour;
            break;
        case 'k':
            num = tm->tm_hour;
            padc = ' ';
            break;
        case 'I':
            num = tm->tm_hour % 12 ? tm->tm_hour % 12 : 12;
            break;
        case 'l':
            num = tm->tm_hour % 12 ? tm->tm_hour % 12 : 12;
            padc = ' ';
            break;
        case 'M':
            num = tm->tm_min;
            break;
        case 'S':
            num = tm->tm_sec;
            break;
        case 'j':
            num = yday + 1;
            width = 3;
            break;
        case 'w':
            num = wday;
            width = 1;
            break;
        case 'u':
            num = wday ? wday : 7;
            width = 1;
            break;
        case 'U':
            num = (yday + 7 - wday) / 7;
            break;
        case 'W':
            num = (yday + 7 - (wday ? wday - 1 : 6)) / 7;
            break;
        case 'f':
            cbuf_puts(e, b, "000000");
            continue;
        case 'a':
            cbuf_put(e, b, day_names[wday], 3);
            continue;
        case 'A':
            cbuf_puts(e, b, day_names[wday]);
            continue;
        case 'b':
        case 'h':
            cbuf_put(e, b, month_names[mon], 3);
            continue;
        case 'B':
            cbuf_puts(e, b, month_names[mon]);
            continue;
        case 'p':
            cbuf_puts(e, b, tm->tm_hour < 12 ? "AM" : "PM");
            continue;
        case 'P':
            cbuf_puts(e, b, tm->tm_hour < 12 ? "am" : "pm");
            continue;
        case 'n':
            cbuf_putc(e, b, '\n');
            continue;
        case 't':
            cbuf_putc(e, b, '\t');
            continue;
        case '%':
            cbuf_putc(e, b, '%');
            continue;
        case 'z':
        case 'Z':
            continue; /* naive datetime: empty */
        case 'D':
            cbuf_printf(e, b, "%02d/%02d/%02d", mon + 1, mday, year % 100);
            continue;
        case 'x':
            cbuf_printf(e, b, "%02d/%02d/%02d", mon + 1, mday, year % 100);
            continue;
        case 'F':
            cbuf_printf(e, b, "%d-%02d-%02d", year, mon + 1, mday);
            continue;
        case 'T':
        case 'X':
            cbuf_printf(e, b, "%02d:%02d:%02d", tm->tm_hour, tm->tm_min, tm->tm_sec);
            continue;
        case 'R':
            cbuf_printf(e, b, "%02d:%02d", tm->tm_hour, tm->tm_min);
            continue;
        case 'r':
            cbuf_printf(e, b, "%02d:%02d:%02d %s", tm->tm_hour % 12 ? tm->tm_hour % 12 : 12,
                        tm->tm_min, tm->tm_sec, tm->tm_hour < 12 ? "AM" : "PM");
            continue;
        case 'c':
            cbuf_printf(e, b, "%.3s %.3s %2d %02d:%02d:%02d %d", day_names[wday], month_names[mon],
                        mday, tm->tm_hour, tm->tm_min, tm->tm_sec, year);
            continue;
        default:
            cbuf_putc(e, b, '%');
            if (flag) cbuf_putc(e, b, flag);
            cbuf_putc(e, b, k);
            continue;
        }
        if (flag == '-')
            cbuf_printf(e, b, "%d", num);
        else if (flag == '_' || (padc == ' ' && flag != '0'))
            cbuf_printf(e, b, "%*d", width, num);
        else
            cbuf_printf(e, b, "%0*d", width, num);
    }
}

static void fill_mapping(chat_env *e, cdict *d, const cargs *a, const char *fname, uint32_t pos)
{
    if (a->nargs > 1) chat_fail(e, pos, "%s expected at most 1 argument, got %d", fname, a->nargs);
    if (a->nargs == 1) {
        cv src = a->args[0];
        if (src.type == CV_DICT || src.type == CV_NS) {
            for (size_t i = 0; i < src.u.d->n; i++)
                chat_dict_set(e, d, src.u.d->keys[i], src.u.d->vals[i]);
        } else {
            clist *l = chat_iterate(e, src, pos);
            for (size_t i = 0; i < l->n; i++) {
                cv pair = l->items[i];
                if (pair.type != CV_LIST || pair.u.l->kind == CL_ITER || pair.u.l->n != 2)
                    chat_fail(e, pos, "%s: sequence elements must be pairs", fname);
                chat_dict_set(e, d, pair.u.l->items[0], pair.u.l->items[1]);
            }
        }
    }
    for (int k = 0; k < a->nkw; k++) chat_dict_set(e, d, cv_cstr(e, a->kw_names[k]), a->kw[k]);
}

cv chat_call_builtin(chat_env *e, cfunc *fn, const cargs *a, uint32_t pos)
{
    chat_steps(e, 1, pos);
    switch (fn->id) {
    case F_METHOD: {
        cv self = fn->self;
        if (self.type == CV_STR) return chat_str_method(e, self, fn->name, a, pos);
        if (self.type == CV_DICT) return chat_dict_method(e, self, fn->name, a, pos);
        return list_method(e, self, fn->name, a, pos);
    }
    case F_RANGE: {
        if (a->nkw) chat_fail(e, pos, "range() takes no keyword arguments");
        if (a->nargs < 1 || a->nargs > 3)
            chat_fail(e, pos, "range expected 1 to 3 arguments, got %d", a->nargs);
        int64_t start = 0, stop, step = 1;
        if (a->nargs == 1) {
            stop = chat_need_int(e, a->args[0], "range", pos);
        } else {
            start = chat_need_int(e, a->args[0], "range", pos);
            stop = chat_need_int(e, a->args[1], "range", pos);
            if (a->nargs == 3) step = chat_need_int(e, a->args[2], "range", pos);
        }
        if (step == 0) chat_fail(e, pos, "range() arg 3 must not be zero");
        uint64_t count = 0;
        if (step > 0 ? stop > start : stop < start) {
            /* the true difference always fits in 64 unsigned bits */
            uint64_t span =
                step > 0 ? (uint64_t)stop - (uint64_t)start : (uint64_t)start - (uint64_t)stop;
            uint64_t mag = step > 0 ? (uint64_t)step : 0 - (uint64_t)step;
            count = (span - 1) / mag + 1;
        }
        if (count > CHAT_MAX_RANGE)
            chat_fail(e, pos,
                      "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).",
                      CHAT_MAX_RANGE);
        clist *l = chat_list_new(e, (size_t)count, CL_LIST);
        for (int64_t k = 0; k < (int64_t)count; k++) chat_list_push(e, l, cv_int(start + k * step));
        chat_steps(e, (uint64_t)count, pos);
        return cv_list(l);
    }
    case F_NAMESPACE:
    case F_DICT: {
        cdict *d = chat_dict_new(e);
        fill_mapping(e, d, a, fn->name, pos);
        cv v = cv_dict(d);
        if (fn->id == F_NAMESPACE) v.type = CV_NS;
        return v;
    }
    case F_RAISE: {
        cv msg = a->nargs ? a->args[0] : a->nkw ? a->kw[0] : cv_undef();
        cstr *s = chat_to_str(e, msg);
        chat_fail_raw(e, TK_ERR_TEMPLATE, "template raised an error: %s", s->s);
    }
    case F_STRFTIME: {
        if (a->nargs != 1 || a->nkw) chat_fail(e, pos, "strftime_now() takes one format argument");
        cstr *fmt = chat_need_str(e, a->args[0], "strftime_now() format", pos);
        cbuf b = {0};
        do_strftime(e, &b, fmt, &e->now);
        return cv_str(cbuf_str(e, &b));
    }
    case F_JOINER: {
        cv sep = a->nargs ? a->args[0] : a->nkw ? a->kw[0] : cv_cstr(e, ", ");
        return mkfunc(e, F_JOINER_CALL, sep, "joiner");
    }
    case F_JOINER_CALL:
        if (!fn->state) {
            fn->state = 1;
            return cv_strn(e, "", 0);
        }
        return fn->self;
    case F_LOOP_CYCLE: {
        if (a->nargs == 0) chat_fail(e, pos, "no items for cycling given");
        return a->args[fn->self.u.loop->index0 % a->nargs];
    }
    case F_LOOP_CHANGED: {
        cloop *L = fn->self.u.loop;
        clist *t = chat_list_new(e, (size_t)a->nargs, CL_TUPLE);
        for (int k = 0; k < a->nargs; k++) chat_list_push(e, t, a->args[k]);
        cv now = cv_list(t);
        if (!L->has_changed || !chat_eq(e, L->last_changed, now)) {
            L->last_changed = now;
            L->has_changed = true;
            return cv_bool(true);
        }
        return cv_bool(false);
    }
    default:
        chat_fail(e, pos, "'%s' is not callable", fn->name);
    }
}
