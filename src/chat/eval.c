/* The interpreter: statements, expressions, scopes, macros, attribute and
 * item access, with Jinja2's scoping rules (a for-loop body and a macro get
 * scopes of their own, an if does not; namespace() objects carry changes
 * out of loops). */
#include "chat/builtins.h"

#include <string.h>

enum { CTL_NONE, CTL_BREAK, CTL_CONTINUE };

static cv eval(chat_env *e, const cnode *n);
static void exec_body(chat_env *e, cnode *const *body, int n);

static void enter(chat_env *e, uint32_t pos)
{
    if (++e->depth > CHAT_MAX_EVAL_DEPTH) chat_fail(e, pos, "template recursion too deep");
    chat_steps(e, 1, pos);
}

/* ------------------------------------------------------------------------ */
/* Scopes                                                                    */
/* ------------------------------------------------------------------------ */

static cscope *scope_new(chat_env *e, cscope *parent)
{
    cscope *s = chat_alloc(e, sizeof *s);
    s->parent = parent;
    return s;
}

static void scope_set(chat_env *e, cscope *s, const char *name, cv v)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->names[i], name) == 0) {
            s->vals[i] = v;
            return;
        }
    }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 4;
        const char **names = chat_alloc(e, (size_t)cap * sizeof *names);
        cv *vals = chat_alloc(e, (size_t)cap * sizeof *vals);
        if (s->n) {
            memcpy(names, s->names, (size_t)s->n * sizeof *names);
            memcpy(vals, s->vals, (size_t)s->n * sizeof *vals);
        }
        s->names = names;
        s->vals = vals;
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->vals[s->n] = v;
    s->n++;
}

static cv lookup(chat_env *e, const char *name)
{
    for (cscope *s = e->scope; s; s = s->parent)
        for (int i = s->n - 1; i >= 0; i--)
            if (strcmp(s->names[i], name) == 0) return s->vals[i];
    if (e->context.type == CV_DICT) {
        cv *v = chat_dict_gets(e->context.u.d, name);
        if (v) return *v;
    }
    cv g = chat_global(e, name);
    if (g.type != CV_UNDEF) return g;
    return cv_undef_named(name);
}

static void assign(chat_env *e, const cnode *target, cv value)
{
    if (target->kind == N_NAME) {
        scope_set(e, e->scope, target->name, value);
        return;
    }
    if (target->kind == N_NSREF) {
        cv ns = lookup(e, target->name);
        if (ns.type != CV_NS)
            chat_fail(e, target->pos, "cannot assign attribute on non-namespace object");
        chat_dict_set(e, ns.u.d, cv_cstr(e, target->attr), value);
        return;
    }
    /* tuple unpacking */
    if (value.type == CV_UNDEF) chat_fail_undef(e, value, target->pos);
    clist *items = chat_iterate(e, value, target->pos);
    if ((int)items->n != target->n_kids) {
        if ((int)items->n > target->n_kids)
            chat_fail(e, target->pos, "too many values to unpack (expected %d)", target->n_kids);
        chat_fail(e, target->pos, "not enough values to unpack (expected %d, got %zu)",
                  target->n_kids, items->n);
    }
    for (int i = 0; i < target->n_kids; i++) assign(e, target->kids[i], items->items[i]);
}

/* ------------------------------------------------------------------------ */
/* Attribute and item access                                                 */
/* ------------------------------------------------------------------------ */

cv chat_getattr(chat_env *e, cv obj, const char *name, uint32_t pos)
{
    switch (obj.type) {
    case CV_UNDEF:
        chat_fail_undef(e, obj, pos);
    case CV_DICT:
        if (chat_has_method(obj, name)) return chat_method(e, obj, name);
        if (name[0] == '_' && name[1] == '_') return cv_undef_attr(obj, name);
        {
            cv *v = chat_dict_gets(obj.u.d, name);
            if (v) return *v;
        }
        return cv_undef_attr(obj, name);
    case CV_NS: {
        cv *v = chat_dict_gets(obj.u.d, name);
        return v ? *v : cv_undef_attr(obj, name);
    }
    case CV_STR:
    case CV_LIST:
        if (obj.type == CV_LIST && obj.u.l->kind == CL_GROUP && obj.u.l->n == 2) {
            if (strcmp(name, "grouper") == 0) return obj.u.l->items[0];
            if (strcmp(name, "list") == 0) return obj.u.l->items[1];
        }
        if (chat_has_method(obj, name)) return chat_method(e, obj, name);
        return cv_undef_attr(obj, name);
    case CV_LOOP:
        return chat_loop_attr(e, obj, name);
    default:
        return cv_undef_attr(obj, name);
    }
}

static cv undef_item(cv obj, cv key, chat_env *e)
{
    cv u = cv_undef();
    u.flags = key.type == CV_STR ? CVF_UNDEF_ATTR : CVF_UNDEF_ITEM;
    u.aux = obj.type;
    cbuf b = {0};
    if (key.type == CV_STR)
        chat_str_into(e, &b, key);
    else
        chat_repr(e, &b, key, 0);
    u.u.name = b.p ? b.p : "";
    return u;
}

static bool as_index(cv key, int64_t *out)
{
    if (key.type == CV_INT) {
        *out = key.u.i;
        return true;
    }
    if (key.type == CV_BOOL) {
        *out = key.u.b;
        return true;
    }
    return false;
}

cv chat_getitem(chat_env *e, cv obj, cv key, uint32_t pos)
{
    int64_t idx;
    switch (obj.type) {
    case CV_UNDEF:
        chat_fail_undef(e, obj, pos);
    case CV_LIST:
        if (obj.u.l->kind == CL_ITER) break;
        if (as_index(key, &idx)) {
            int64_t n = (int64_t)obj.u.l->n;
            if (idx < 0) idx += n;
            if (idx >= 0 && idx < n) return obj.u.l->items[idx];
            return undef_item(obj, key, e);
        }
        break;
    case CV_STR:
        if (as_index(key, &idx)) {
            cstr *s = obj.u.s;
            int64_t n = chat_str_ncp(s);
            if (idx < 0) idx += n;
            if (idx < 0 || idx >= n) return undef_item(obj, key, e);
            size_t a = chat_cp_offset(s, idx), b = a;
            chat_utf8_next(s->s, s->len, &b);
            cv c = cv_strn(e, s->s + a, b - a);
            c.flags = obj.flags & CVF_MARKUP;
            return c;
        }
        break;
    case CV_DICT: {
        cv *v = chat_dict_get(e, obj.u.d, key);
        if (v) return *v;
        break;
    }
    case CV_NS:
    case CV_LOOP:
        if (key.type == CV_STR) return chat_getattr(e, obj, key.u.s->s, pos);
        break;
    default:
        break;
    }
    if (key.type == CV_STR && (obj.type == CV_DICT || obj.type == CV_STR || obj.type == CV_LIST) &&
        chat_has_method(obj, key.u.s->s))
        return chat_method(e, obj, key.u.s->s);
    return undef_item(obj, key, e);
}

/* Python's slice.indices(): clamps start/stop for a sequence of length n. */
static int64_t slice_count(chat_env *e, int64_t n, const cv *sv, int64_t *start, int64_t *step,
                           uint32_t pos)
{
    int64_t st = 1, lo, hi;
    if (sv[2].type != CV_NONE) st = sv[2].type == CV_BOOL ? sv[2].u.b : sv[2].u.i;
    if (st == 0) chat_fail(e, pos, "slice step cannot be zero");
    if (st > 0) {
        lo = 0;
        hi = n;
    } else {
        lo = -1;
        hi = n - 1;
    }
    int64_t b[2];
    for (int k = 0; k < 2; k++) {
        if (sv[k].type == CV_NONE) {
            /* start defaults to the first item in the direction of travel,
             * stop to just past the last */
            b[k] = (k == 0) == (st > 0) ? lo : hi;
            continue;
        }
        int64_t v = sv[k].type == CV_BOOL ? sv[k].u.b : sv[k].u.i;
        if (v < 0) {
            v += n;
            if (v < lo) v = lo;
        } else if (v > hi) {
            v = hi;
        }
        b[k] = v;
    }
    *start = b[0];
    *step = st;
    if (st > 0) return b[1] > b[0] ? (b[1] - b[0] - 1) / st + 1 : 0;
    return b[1] < b[0] ? (b[0] - b[1] - 1) / (-st) + 1 : 0;
}

static cv do_slice(chat_env *e, cv obj, const cnode *sl)
{
    cv sv[3];
    const cnode *parts[3] = {sl->a, sl->b, sl->c};
    for (int k = 0; k < 3; k++) sv[k] = parts[k] ? eval(e, parts[k]) : cv_none();
    if (obj.type == CV_UNDEF) chat_fail_undef(e, obj, sl->pos);
    bool is_seq = (obj.type == CV_LIST && obj.u.l->kind != CL_ITER) || obj.type == CV_STR;
    if (!is_seq) return cv_undef_hint("object is not sliceable");
    for (int k = 0; k < 3; k++) {
        if (sv[k].type != CV_NONE && sv[k].type != CV_INT && sv[k].type != CV_BOOL)
            return cv_undef_hint("slice indices must be integers or None");
    }
    int64_t start, step;
    if (obj.type == CV_LIST) {
        const clist *l = obj.u.l;
        int64_t cnt = slice_count(e, (int64_t)l->n, sv, &start, &step, sl->pos);
        clist *r = chat_list_new(e, (size_t)cnt, l->kind == CL_LIST ? CL_LIST : CL_TUPLE);
        for (int64_t i = 0; i < cnt; i++) chat_list_push(e, r, l->items[start + i * step]);
        chat_steps(e, (uint64_t)cnt, sl->pos);
        return cv_list(r);
    }
    cstr *s = obj.u.s;
    int64_t n = chat_str_ncp(s);
    int64_t cnt = slice_count(e, n, sv, &start, &step, sl->pos);
    cv out;
    if (step == 1) {
        size_t a = chat_cp_offset(s, start);
        size_t b = a;
        if (n == (int64_t)s->len) {
            b = a + (size_t)cnt;
        } else {
            for (int64_t k = 0; k < cnt; k++) chat_utf8_next(s->s, s->len, &b);
        }
        out = cv_strn(e, s->s + a, b - a);
    } else {
        /* Offsets of every code point, then pick. */
        size_t *off = chat_alloc(e, (size_t)(n + 1) * sizeof *off);
        size_t i = 0;
        for (int64_t k = 0; k < n; k++) {
            off[k] = i;
            chat_utf8_next(s->s, s->len, &i);
        }
        off[n] = s->len;
        cbuf b = {0};
        for (int64_t k = 0; k < cnt; k++) {
            int64_t c = start + k * step;
            cbuf_put(e, &b, s->s + off[c], off[c + 1] - off[c]);
        }
        out = cv_str(cbuf_str(e, &b));
        chat_steps(e, (uint64_t)cnt, sl->pos);
    }
    out.flags = obj.flags & CVF_MARKUP;
    return out;
}

/* ------------------------------------------------------------------------ */
/* Calls                                                                     */
/* ------------------------------------------------------------------------ */

static cstr *capture(chat_env *e, cnode *const *body, int n)
{
    cbuf *saved = e->out;
    cbuf b = {0};
    e->out = &b;
    exec_body(e, body, n);
    e->out = saved;
    return cbuf_str(e, &b);
}

static cv call_macro(chat_env *e, const cmacro *m, cv *args, int nargs, const char **kw_names,
                     cv *kw, int nkw, uint32_t pos)
{
    const cnode *def = m->def;
    const char *name = m->name ? m->name : "caller";
    if (++e->calls > CHAT_MAX_CALL_DEPTH)
        chat_fail(e, pos, "macro calls nested too deeply (more than %d)", CHAT_MAX_CALL_DEPTH);
    int np = def->n_kw;
    if (nargs > np && !(def->flags & 1))
        chat_fail(e, pos, "macro '%s' takes not more than %d argument(s)", name, np);
    cscope *saved = e->scope;
    cscope *s = scope_new(e, m->closure);
    e->scope = s;
    bool *given = chat_alloc(e, (size_t)np + 1);
    for (int i = 0; i < nargs && i < np; i++) {
        scope_set(e, s, def->kw_names[i], args[i]);
        given[i] = true;
    }
    clist *varargs = chat_list_new(e, 0, CL_TUPLE);
    for (int i = np; i < nargs; i++) chat_list_push(e, varargs, args[i]);
    cdict *kwargs = chat_dict_new(e);
    cv caller = cv_undef_hint("No caller defined");
    for (int k = 0; k < nkw; k++) {
        int j = 0;
        while (j < np && strcmp(def->kw_names[j], kw_names[k]) != 0) j++;
        if (j < np) {
            if (given[j])
                chat_fail(e, pos, "macro '%s' got multiple values for argument '%s'", name,
                          kw_names[k]);
            scope_set(e, s, kw_names[k], kw[k]);
            given[j] = true;
        } else if (strcmp(kw_names[k], "caller") == 0) {
            caller = kw[k];
        } else if (def->flags & 2) {
            chat_dict_set(e, kwargs, cv_cstr(e, kw_names[k]), kw[k]);
        } else {
            chat_fail(e, pos, "macro '%s' takes no keyword argument '%s'", name, kw_names[k]);
        }
    }
    for (int i = 0; i < np; i++) {
        if (given[i]) continue;
        cv v;
        if (def->kw[i]) {
            v = eval(e, def->kw[i]);
        } else {
            cbuf b = {0};
            cbuf_printf(e, &b, "parameter '%s' was not provided", def->kw_names[i]);
            v = cv_undef_hint(b.p);
        }
        scope_set(e, s, def->kw_names[i], v);
    }
    scope_set(e, s, "varargs", cv_list(varargs));
    scope_set(e, s, "kwargs", cv_dict(kwargs));
    scope_set(e, s, "caller", caller);
    cstr *out = capture(e, def->body, def->n_body);
    e->scope = saved;
    e->calls--;
    return cv_str(out);
}

cv chat_call_value(chat_env *e, cv callee, cv *args, int nargs, const char **kw_names, cv *kw,
                   int nkw, uint32_t pos)
{
    switch (callee.type) {
    case CV_MACRO:
        return call_macro(e, callee.u.m, args, nargs, kw_names, kw, nkw, pos);
    case CV_FUNC: {
        cargs a = {args, nargs, kw_names, kw, nkw};
        return chat_call_builtin(e, callee.u.fn, &a, pos);
    }
    case CV_UNDEF:
        chat_fail_undef(e, callee, pos);
    default:
        chat_fail(e, pos, "'%s' object is not callable", chat_type_name(callee));
    }
}

static void eval_args(chat_env *e, const cnode *n, cargs *a, int extra_kw)
{
    a->nargs = n->n_kids;
    a->args = n->n_kids ? chat_alloc(e, (size_t)n->n_kids * sizeof(cv)) : NULL;
    for (int i = 0; i < n->n_kids; i++) a->args[i] = eval(e, n->kids[i]);
    a->nkw = n->n_kw;
    a->kw_names = chat_alloc(e, (size_t)(n->n_kw + extra_kw + 1) * sizeof(char *));
    a->kw = chat_alloc(e, (size_t)(n->n_kw + extra_kw + 1) * sizeof(cv));
    for (int i = 0; i < n->n_kw; i++) {
        a->kw_names[i] = n->kw_names[i];
        a->kw[i] = eval(e, n->kw[i]);
    }
}

static cv eval_call(chat_env *e, const cnode *n, const cv *caller)
{
    cv callee = eval(e, n->a);
    cargs a;
    eval_args(e, n, &a, 1);
    if (caller) {
        a.kw_names[a.nkw] = "caller";
        a.kw[a.nkw] = *caller;
        a.nkw++;
    }
    return chat_call_value(e, callee, a.args, a.nargs, a.kw_names, a.kw, a.nkw, n->pos);
}

/* Applies a filter chain (N_FILTER nodes whose innermost `a` is NULL) to a
 * value, innermost filter first. */
static cv apply_filters(chat_env *e, const cnode *f, cv input)
{
    if (!f) return input;
    cv v = f->a ? apply_filters(e, f->a, input) : input;
    cargs a;
    eval_args(e, f, &a, 0);
    return chat_filter(e, f->name, v, &a, f->pos);
}

/* ------------------------------------------------------------------------ */
/* Expressions                                                               */
/* ------------------------------------------------------------------------ */

static bool compare(chat_env *e, int op, cv l, cv r, uint32_t pos)
{
    switch (op) {
    case OP_EQ:
        return chat_eq(e, l, r);
    case OP_NE:
        return !chat_eq(e, l, r);
    case OP_IN:
        return chat_contains(e, r, l, pos);
    case OP_NOTIN:
        return !chat_contains(e, r, l, pos);
    default:
        break;
    }
    if (l.type == CV_UNDEF) chat_fail_undef(e, l, pos);
    if (r.type == CV_UNDEF) chat_fail_undef(e, r, pos);
    switch (op) {
    case OP_LT:
        return chat_lt(e, l, r, pos);
    case OP_GT:
        return chat_lt(e, r, l, pos);
    case OP_LTEQ:
        return !chat_lt(e, r, l, pos) && (chat_lt(e, l, r, pos) || chat_eq(e, l, r));
    case OP_GTEQ:
        return !chat_lt(e, l, r, pos) && (chat_lt(e, r, l, pos) || chat_eq(e, l, r));
    default:
        return false;
    }
}

static cv eval_inner(chat_env *e, const cnode *n)
{
    switch (n->kind) {
    case N_CONST:
        return n->val;
    case N_NAME:
        return lookup(e, n->name);
    case N_LIST:
    case N_TUPLE: {
        clist *l = chat_list_new(e, (size_t)n->n_kids, n->kind == N_LIST ? CL_LIST : CL_TUPLE);
        for (int i = 0; i < n->n_kids; i++) chat_list_push(e, l, eval(e, n->kids[i]));
        return cv_list(l);
    }
    case N_DICT: {
        cdict *d = chat_dict_new(e);
        for (int i = 0; i + 1 < n->n_kids; i += 2) {
            cv k = eval(e, n->kids[i]);
            cv v = eval(e, n->kids[i + 1]);
            if (k.type == CV_LIST && k.u.l->kind == CL_LIST)
                chat_fail(e, n->kids[i]->pos, "unhashable type: 'list'");
            if (k.type == CV_DICT) chat_fail(e, n->kids[i]->pos, "unhashable type: 'dict'");
            chat_dict_set(e, d, k, v);
        }
        return cv_dict(d);
    }
    case N_GETATTR:
        return chat_getattr(e, eval(e, n->a), n->name, n->pos);
    case N_GETITEM: {
        cv obj = eval(e, n->a);
        if (n->b->kind == N_SLICE) return do_slice(e, obj, n->b);
        return chat_getitem(e, obj, eval(e, n->b), n->pos);
    }
    case N_CALL:
        return eval_call(e, n, NULL);
    case N_FILTER: {
        cv v = eval(e, n->a);
        cargs a;
        eval_args(e, n, &a, 0);
        return chat_filter(e, n->name, v, &a, n->pos);
    }
    case N_TEST: {
        cv v = eval(e, n->a);
        cargs a;
        eval_args(e, n, &a, 0);
        return cv_bool(chat_test(e, n->name, v, &a, n->pos));
    }
    case N_NOT:
        return cv_bool(!chat_truthy(eval(e, n->a)));
    case N_NEG:
    case N_POS: {
        cv v = eval(e, n->a);
        if (v.type == CV_UNDEF) chat_fail_undef(e, v, n->pos);
        bool neg = n->kind == N_NEG;
        if (v.type == CV_FLOAT) return cv_float(neg ? -v.u.f : v.u.f);
        if (v.type == CV_INT || v.type == CV_BOOL) {
            int64_t i = v.type == CV_INT ? v.u.i : v.u.b;
            if (neg && i == INT64_MIN) chat_fail(e, n->pos, "integer overflow");
            return cv_int(neg ? -i : i);
        }
        chat_fail(e, n->pos, "bad operand type for unary %c: '%s'", neg ? '-' : '+',
                  chat_type_name(v));
    }
    case N_BINOP: {
        cv a = eval(e, n->a);
        cv b = eval(e, n->b);
        return chat_binop(e, n->op, a, b, n->pos);
    }
    case N_CONCAT: {
        cbuf b = {0};
        for (int i = 0; i < n->n_kids; i++) chat_str_into(e, &b, eval(e, n->kids[i]));
        return cv_str(cbuf_str(e, &b));
    }
    case N_AND: {
        cv a = eval(e, n->a);
        return chat_truthy(a) ? eval(e, n->b) : a;
    }
    case N_OR: {
        cv a = eval(e, n->a);
        return chat_truthy(a) ? a : eval(e, n->b);
    }
    case N_COMPARE: {
        cv left = eval(e, n->a);
        for (int i = 0; i < n->n_kids; i++) {
            cv right = eval(e, n->kids[i]);
            if (!compare(e, n->ops[i], left, right, n->kids[i]->pos)) return cv_bool(false);
            left = right;
        }
        return cv_bool(true);
    }
    case N_COND:
        if (chat_truthy(eval(e, n->a))) return eval(e, n->b);
        if (n->c) return eval(e, n->c);
        return cv_undef_hint("the inline if-expression evaluated to false and no else section "
                             "was defined.");
    default:
        chat_fail(e, n->pos, "internal error: node %d is not an expression", n->kind);
    }
}

static cv eval(chat_env *e, const cnode *n)
{
    enter(e, n->pos);
    cv v = eval_inner(e, n);
    e->depth--;
    return v;
}

/* ------------------------------------------------------------------------ */
/* Statements                                                                */
/* ------------------------------------------------------------------------ */

/* An empty scope under `outer`, reusing `prev` unless a macro captured it. */
static cscope *fresh_scope(chat_env *e, cscope *prev, cscope *outer)
{
    if (!prev || prev->captured) return scope_new(e, outer);
    prev->n = 0;
    return prev;
}

static void exec_for(chat_env *e, const cnode *n)
{
    cv iterable = eval(e, n->b);
    clist *items = chat_iterate(e, iterable, n->b->pos);
    cscope *outer = e->scope;
    if (n->c) {
        /* The loop filter runs first, so loop.length and loop.last count
         * only the items that pass it. */
        clist *kept = chat_list_new(e, items->n, CL_LIST);
        cscope *fs = NULL;
        for (size_t i = 0; i < items->n; i++) {
            fs = fresh_scope(e, fs, outer);
            e->scope = fs;
            assign(e, n->a, items->items[i]);
            if (chat_truthy(eval(e, n->c))) chat_list_push(e, kept, items->items[i]);
            e->scope = outer;
        }
        items = kept;
    } else if (items->kind != CL_LIST) {
        /* Snapshot, so appends during the loop do not extend it. */
        clist *copy = chat_list_new(e, items->n, CL_LIST);
        if (items->n) memcpy(copy->items, items->items, items->n * sizeof(cv));
        copy->n = items->n;
        items = copy;
    }
    size_t count = items->n;
    if (count == 0) {
        e->scope = scope_new(e, outer);
        exec_body(e, n->orelse, n->n_orelse);
        e->scope = outer;
        return;
    }
    cloop *L = chat_alloc(e, sizeof *L);
    L->items = items;
    cv loopv = {0};
    loopv.type = CV_LOOP;
    loopv.u.loop = L;
    cscope *s = NULL;
    for (size_t i = 0; i < count && i < items->n; i++) {
        chat_steps(e, 1, n->pos);
        L->index0 = (int64_t)i;
        /* every iteration starts with no variables of its own */
        s = fresh_scope(e, s, outer);
        e->scope = s;
        scope_set(e, e->scope, "loop", loopv);
        assign(e, n->a, items->items[i]);
        exec_body(e, n->body, n->n_body);
        e->scope = outer;
        if (e->ctl == CTL_BREAK) {
            e->ctl = CTL_NONE;
            break;
        }
        e->ctl = CTL_NONE;
    }
}

static void output(chat_env *e, cv v)
{
    chat_str_into(e, e->out, v);
}

static void exec(chat_env *e, const cnode *n)
{
    enter(e, n->pos);
    switch (n->kind) {
    case N_OUTPUT:
        for (int i = 0; i < n->n_kids; i++) {
            const cnode *k = n->kids[i];
            if (k->kind == N_DATA)
                cbuf_put(e, e->out, k->val.u.s->s, k->val.u.s->len);
            else
                output(e, eval(e, k));
        }
        break;
    case N_IF:
        if (chat_truthy(eval(e, n->a)))
            exec_body(e, n->body, n->n_body);
        else
            exec_body(e, n->orelse, n->n_orelse);
        break;
    case N_FOR:
        exec_for(e, n);
        break;
    case N_SET:
        assign(e, n->a, eval(e, n->b));
        break;
    case N_SETBLOCK: {
        cv v = cv_str(capture(e, n->body, n->n_body));
        assign(e, n->a, apply_filters(e, n->c, v));
        break;
    }
    case N_MACRO: {
        cmacro *m = chat_alloc(e, sizeof *m);
        m->def = n;
        m->closure = e->scope;
        e->scope->captured = true;
        m->name = n->name;
        cv v = {0};
        v.type = CV_MACRO;
        v.u.m = m;
        scope_set(e, e->scope, n->name, v);
        break;
    }
    case N_CALLBLOCK: {
        cmacro *m = chat_alloc(e, sizeof *m);
        m->def = n;
        m->closure = e->scope;
        e->scope->captured = true;
        m->name = NULL;
        cv caller = {0};
        caller.type = CV_MACRO;
        caller.u.m = m;
        output(e, eval_call(e, n->a, &caller));
        break;
    }
    case N_FILTERBLOCK: {
        cscope *outer = e->scope;
        e->scope = scope_new(e, outer);
        cv v = cv_str(capture(e, n->body, n->n_body));
        e->scope = outer;
        output(e, apply_filters(e, n->c, v));
        break;
    }
    case N_WITH: {
        cv *vals = chat_alloc(e, (size_t)(n->n_kw + 1) * sizeof(cv));
        for (int i = 0; i < n->n_kw; i++) vals[i] = eval(e, n->kw[i]);
        cscope *outer = e->scope;
        e->scope = scope_new(e, outer);
        for (int i = 0; i < n->n_kw; i++) scope_set(e, e->scope, n->kw_names[i], vals[i]);
        exec_body(e, n->body, n->n_body);
        e->scope = outer;
        break;
    }
    case N_SCOPE: {
        cscope *outer = e->scope;
        e->scope = scope_new(e, outer);
        exec_body(e, n->body, n->n_body);
        e->scope = outer;
        break;
    }
    case N_BREAK:
        e->ctl = CTL_BREAK;
        break;
    case N_CONTINUE:
        e->ctl = CTL_CONTINUE;
        break;
    default:
        chat_fail(e, n->pos, "internal error: node %d is not a statement", n->kind);
    }
    e->depth--;
}

static void exec_body(chat_env *e, cnode *const *body, int n)
{
    for (int i = 0; i < n; i++) {
        exec(e, body[i]);
        if (e->ctl != CTL_NONE) return;
    }
}

void chat_exec_template(chat_env *e, cnode *tpl, cv context)
{
    e->context = context;
    e->root = scope_new(e, NULL);
    e->scope = e->root;
    e->ctl = CTL_NONE;
    exec_body(e, tpl->body, tpl->n_body);
}
