/* Python's str semantics for template values: case mapping, strip, split,
 * replace, find, padding, printf-style `%` formatting, str.format, the str
 * methods templates call, number parsing for |int and |float, and
 * markupsafe escaping. Strings are UTF-8; indices count code points. */
#include "chat/builtins.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Escaping and string helpers                                               */
/* ------------------------------------------------------------------------ */

static void escape_into(chat_env *e, cbuf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '"':
            rep = "&#34;";
            break;
        default:
            break;
        }
        if (rep) {
            cbuf_put(e, b, s + i - run, run);
            run = 0;
            cbuf_puts(e, b, rep);
        } else {
            run++;
        }
    }
    cbuf_put(e, b, s + n - run, run);
}

cstr *chat_escape(chat_env *e, cv v)
{
    if (chat_is_markup(v)) return v.u.s;
    cstr *s = chat_to_str(e, v);
    cbuf b = {0};
    escape_into(e, &b, s->s, s->len);
    return cbuf_str(e, &b);
}

/* An operand of a Markup operation: Markup as it is, anything else
 * converted with str() and escaped. */
cstr *chat_markup_operand(chat_env *e, cv v)
{
    if (v.type == CV_STR && (v.flags & CVF_MARKUP)) return v.u.s;
    return chat_escape(e, v);
}

typedef uint32_t (*casefn)(uint32_t);

cv chat_map_case(chat_env *e, cv v, casefn fn, bool upper)
{
    cstr *s = v.u.s;
    cbuf b = {0};
    char tmp[4];
    for (size_t i = 0; i < s->len;) {
        uint32_t c = chat_utf8_next(s->s, s->len, &i);
        if (upper && c == 0xDF) {
            cbuf_puts(e, &b, "SS");
            continue;
        }
        cbuf_put(e, &b, tmp, chat_utf8_put(tmp, fn(c)));
    }
    return chat_bufv(e, &b, chat_is_markup(v));
}

/* Python's str.title(): a cased character after an uncased one is
 * uppercased, every other cased character lowercased. */
cv chat_py_title(chat_env *e, cv v)
{
    cstr *s = v.u.s;
    cbuf b = {0};
    char tmp[4];
    bool prev_cased = false;
    for (size_t i = 0; i < s->len;) {
        uint32_t c = chat_utf8_next(s->s, s->len, &i);
        uint32_t o = prev_cased ? chat_lower(c) : chat_upper(c);
        prev_cased = chat_cased(c);
        cbuf_put(e, &b, tmp, chat_utf8_put(tmp, o));
    }
    return chat_bufv(e, &b, chat_is_markup(v));
}

/* Python's str.capitalize(): first character upper, the rest lower. */
cv chat_py_capitalize(chat_env *e, cv v)
{
    cstr *s = v.u.s;
    cbuf b = {0};
    char tmp[4];
    bool first = true;
    for (size_t i = 0; i < s->len;) {
        uint32_t c = chat_utf8_next(s->s, s->len, &i);
        cbuf_put(e, &b, tmp, chat_utf8_put(tmp, first ? chat_upper(c) : chat_lower(c)));
        first = false;
    }
    return chat_bufv(e, &b, chat_is_markup(v));
}

/* Jinja2's |title: words begin after '-', whitespace or one of "({[<". */
cv chat_jinja_title(chat_env *e, cv v)
{
    cstr *s = v.u.s;
    cbuf b = {0};
    char tmp[4];
    bool at_start = true;
    for (size_t i = 0; i < s->len;) {
        uint32_t c = chat_utf8_next(s->s, s->len, &i);
        bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || chat_isspace(c);
        uint32_t o = sep ? c : at_start ? chat_upper(c) : chat_lower(c);
        at_start = sep;
        cbuf_put(e, &b, tmp, chat_utf8_put(tmp, o));
    }
    return chat_bufv(e, &b, chat_is_markup(v));
}

static bool in_chars(uint32_t c, const cstr *chars)
{
    for (size_t i = 0; i < chars->len;)
        if (chat_utf8_next(chars->s, chars->len, &i) == c) return true;
    return false;
}

/* str.strip/lstrip/rstrip with chars (NULL: whitespace). */
cv chat_py_strip(chat_env *e, cv v, const cstr *chars, bool left, bool right)
{
    cstr *s = v.u.s;
    size_t a = 0, b = s->len;
    if (left) {
        while (a < b) {
            size_t j = a;
            uint32_t c = chat_utf8_next(s->s, s->len, &j);
            if (chars ? !in_chars(c, chars) : !chat_isspace(c)) break;
            a = j;
        }
    }
    if (right) {
        size_t keep = a;
        for (size_t i = a; i < b;) {
            uint32_t c = chat_utf8_next(s->s, s->len, &i);
            if (chars ? !in_chars(c, chars) : !chat_isspace(c)) keep = i;
        }
        b = keep;
    }
    if (a == 0 && b == s->len) return v;
    return chat_mstr(e, s->s + a, b - a, chat_is_markup(v));
}

const char *chat_find_bytes(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nn) == 0) return h + i;
    return NULL;
}

const char *chat_rfind_bytes(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn > hn) return NULL;
    for (size_t i = hn - nn + 1; i-- > 0;)
        if (memcmp(h + i, n, nn) == 0) return h + i;
    return NULL;
}

static int64_t cp_index(const cstr *s, size_t byte_off)
{
    if (s->ncp == (int64_t)s->len) return (int64_t)byte_off;
    int64_t n = 0;
    for (size_t i = 0; i < byte_off;) {
        chat_utf8_next(s->s, s->len, &i);
        n++;
    }
    return n;
}

/* Resolves Python's optional start/end (code point) arguments to bytes. */
static void span_args(chat_env *e, cstr *s, const cv *start, const cv *end, size_t *a, size_t *b,
                      uint32_t pos)
{
    int64_t n = chat_str_ncp(s), lo = 0, hi = n;
    if (start && start->type != CV_NONE) {
        lo = chat_need_int(e, *start, "start", pos);
        if (lo < 0) lo = lo + n < 0 ? 0 : lo + n;
        if (lo > n) lo = n;
    }
    if (end && end->type != CV_NONE) {
        hi = chat_need_int(e, *end, "end", pos);
        if (hi < 0) hi = hi + n < 0 ? 0 : hi + n;
        if (hi > n) hi = n;
    }
    if (hi < lo) hi = lo;
    *a = chat_cp_offset(s, lo);
    *b = chat_cp_offset(s, hi);
}

cv chat_py_replace(chat_env *e, cv v, const cstr *old, const cstr *new_, int64_t count, bool markup,
                   uint32_t pos)
{
    cstr *s = v.u.s;
    cbuf b = {0};
    if (count < 0) count = INT64_MAX;
    if (old->len == 0) {
        int64_t done = 0;
        size_t i = 0;
        while (i <= s->len) {
            if (done < count) {
                cbuf_put(e, &b, new_->s, new_->len);
                done++;
            }
            if (i == s->len) break;
            size_t j = i;
            chat_utf8_next(s->s, s->len, &j);
            cbuf_put(e, &b, s->s + i, j - i);
            i = j;
            if (done >= count) {
                cbuf_put(e, &b, s->s + i, s->len - i);
                break;
            }
        }
        return chat_bufv(e, &b, markup);
    }
    size_t i = 0;
    int64_t done = 0;
    while (done < count) {
        const char *hit = chat_find_bytes(s->s + i, s->len - i, old->s, old->len);
        if (!hit) break;
        size_t at = (size_t)(hit - s->s);
        cbuf_put(e, &b, s->s + i, at - i);
        cbuf_put(e, &b, new_->s, new_->len);
        i = at + old->len;
        done++;
        chat_steps(e, 1, pos);
    }
    cbuf_put(e, &b, s->s + i, s->len - i);
    return chat_bufv(e, &b, markup);
}

/* str.split / str.rsplit. */
static cv py_split(chat_env *e, cv v, const cv *sepv, int64_t maxsplit, bool from_right,
                   uint32_t pos)
{
    cstr *s = v.u.s;
    bool markup = chat_is_markup(v);
    clist *out = chat_list_new(e, 0, CL_LIST);
    if (sepv && sepv->type != CV_NONE) {
        cstr *sep = chat_need_str(e, *sepv, "separator", pos);
        if (sep->len == 0) chat_fail(e, pos, "empty separator");
        if (!from_right) {
            size_t i = 0;
            int64_t done = 0;
            for (;;) {
                const char *hit = (maxsplit < 0 || done < maxsplit)
                                      ? chat_find_bytes(s->s + i, s->len - i, sep->s, sep->len)
                                      : NULL;
                if (!hit) break;
                size_t at = (size_t)(hit - s->s);
                chat_list_push(e, out, chat_mstr(e, s->s + i, at - i, markup));
                i = at + sep->len;
                done++;
            }
            chat_list_push(e, out, chat_mstr(e, s->s + i, s->len - i, markup));
        } else {
            size_t end = s->len;
            int64_t done = 0;
            clist *rev = chat_list_new(e, 0, CL_LIST);
            for (;;) {
                const char *hit = (maxsplit < 0 || done < maxsplit)
                                      ? chat_rfind_bytes(s->s, end, sep->s, sep->len)
                                      : NULL;
                if (!hit) break;
                size_t at = (size_t)(hit - s->s);
                chat_list_push(e, rev,
                               chat_mstr(e, s->s + at + sep->len, end - at - sep->len, markup));
                end = at;
                done++;
            }
            chat_list_push(e, rev, chat_mstr(e, s->s, end, markup));
            for (size_t k = rev->n; k-- > 0;) chat_list_push(e, out, rev->items[k]);
        }
        chat_steps(e, out->n, pos);
        return cv_list(out);
    }
    /* Whitespace split: runs of whitespace separate, none at the ends. */
    if (!from_right) {
        size_t i = 0;
        int64_t done = 0;
        for (;;) {
            while (i < s->len) {
                size_t j = i;
                if (!chat_isspace(chat_utf8_next(s->s, s->len, &j))) break;
                i = j;
            }
            if (i >= s->len) break;
            if (maxsplit >= 0 && done >= maxsplit) {
                /* the rest, trailing whitespace included */
                chat_list_push(e, out, chat_mstr(e, s->s + i, s->len - i, markup));
                break;
            }
            size_t start = i;
            while (i < s->len) {
                size_t j = i;
                if (chat_isspace(chat_utf8_next(s->s, s->len, &j))) break;
                i = j;
            }
            chat_list_push(e, out, chat_mstr(e, s->s + start, i - start, markup));
            done++;
        }
    } else {
        /* Walk code points to find word spans, then take them from the end. */
        size_t n = 0, cap = 16;
        size_t *spans = chat_alloc(e, cap * 2 * sizeof *spans);
        for (size_t i = 0; i < s->len;) {
            size_t j = i;
            if (chat_isspace(chat_utf8_next(s->s, s->len, &j))) {
                i = j;
                continue;
            }
            size_t start = i;
            while (i < s->len) {
                j = i;
                if (chat_isspace(chat_utf8_next(s->s, s->len, &j))) break;
                i = j;
            }
            if (n == cap) {
                size_t *ns = chat_alloc(e, cap * 4 * sizeof *ns);
                memcpy(ns, spans, cap * 2 * sizeof *ns);
                spans = ns;
                cap *= 2;
            }
            spans[2 * n] = start;
            spans[2 * n + 1] = i;
            n++;
        }
        size_t first = 0;
        if (maxsplit >= 0 && (size_t)maxsplit < n) first = n - (size_t)maxsplit;
        if (first > 0) /* the rest, leading whitespace included */
            chat_list_push(e, out, chat_mstr(e, s->s, spans[2 * (first - 1) + 1], markup));
        for (size_t k = first; k < n; k++)
            chat_list_push(
                e, out, chat_mstr(e, s->s + spans[2 * k], spans[2 * k + 1] - spans[2 * k], markup));
    }
    chat_steps(e, out->n, pos);
    return cv_list(out);
}

static bool line_break(uint32_t c)
{
    return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) ||
           c == 0x85 || c == 0x2028 || c == 0x2029;
}

/* str.splitlines(keepends) */
clist *chat_py_splitlines(chat_env *e, cv v, bool keepends)
{
    cstr *s = v.u.s;
    clist *out = chat_list_new(e, 0, CL_LIST);
    size_t start = 0, i = 0;
    while (i < s->len) {
        size_t at = i;
        uint32_t c = chat_utf8_next(s->s, s->len, &i);
        if (!line_break(c)) continue;
        if (c == '\r' && i < s->len && s->s[i] == '\n') i++;
        chat_list_push(e, out,
                       chat_mstr(e, s->s + start, (keepends ? i : at) - start, chat_is_markup(v)));
        start = i;
    }
    if (start < s->len)
        chat_list_push(e, out, chat_mstr(e, s->s + start, s->len - start, chat_is_markup(v)));
    return out;
}

cv chat_pad(chat_env *e, cv v, int64_t width, const cstr *fill, int align /* <, >, ^ */)
{
    cstr *s = v.u.s;
    int64_t n = chat_str_ncp(s);
    if (width <= n) return v;
    if (width > (int64_t)e->max_output) chat_fail(e, CHAT_NOPOS, "padding width too large");
    int64_t marg = width - n, left;
    if (align == '<')
        left = 0;
    else if (align == '>')
        left = marg;
    else
        left = marg / 2 + (marg & width & 1);
    cbuf b = {0};
    const char *f = fill ? fill->s : " ";
    size_t fl = fill ? fill->len : 1;
    for (int64_t k = 0; k < left; k++) cbuf_put(e, &b, f, fl);
    cbuf_put(e, &b, s->s, s->len);
    for (int64_t k = 0; k < marg - left; k++) cbuf_put(e, &b, f, fl);
    return chat_bufv(e, &b, chat_is_markup(v));
}

/* ------------------------------------------------------------------------ */
/* printf-style formatting (str % args) and str.format                      */
/* ------------------------------------------------------------------------ */

static void put_padded(chat_env *e, cbuf *b, const char *s, size_t n, int64_t ncp, int width,
                       bool left)
{
    int64_t fill = width > ncp ? width - ncp : 0;
    if (!left)
        for (int64_t k = 0; k < fill; k++) cbuf_putc(e, b, ' ');
    cbuf_put(e, b, s, n);
    if (left)
        for (int64_t k = 0; k < fill; k++) cbuf_putc(e, b, ' ');
}

cv chat_percent_format(chat_env *e, cv fmtv, cv args, uint32_t pos)
{
    cstr *fmt = fmtv.u.s;
    bool markup = chat_is_markup(fmtv);
    const cv *argv = &args;
    size_t argc = 1, argi = 0;
    const cdict *mapping = NULL;
    if (args.type == CV_LIST && args.u.l->kind == CL_TUPLE) {
        argv = args.u.l->items;
        argc = args.u.l->n;
    } else if (args.type == CV_DICT) {
        mapping = args.u.d;
    }
    cbuf b = {0};
    for (size_t i = 0; i < fmt->len;) {
        char c = fmt->s[i];
        if (c != '%') {
            size_t j = i;
            while (j < fmt->len && fmt->s[j] != '%') j++;
            cbuf_put(e, &b, fmt->s + i, j - i);
            i = j;
            continue;
        }
        i++;
        if (i >= fmt->len) chat_fail(e, pos, "incomplete format");
        cv arg = cv_undef();
        bool have_arg = false;
        if (fmt->s[i] == '(') {
            size_t j = i + 1;
            while (j < fmt->len && fmt->s[j] != ')') j++;
            if (j >= fmt->len) chat_fail(e, pos, "incomplete format key");
            if (!mapping) chat_fail(e, pos, "format requires a mapping");
            cv key = cv_strn(e, fmt->s + i + 1, j - i - 1);
            cv *found = chat_dict_get(e, (cdict *)mapping, key);
            if (!found) chat_fail(e, pos, "KeyError: '%s'", key.u.s->s);
            arg = *found;
            have_arg = true;
            i = j + 1;
        }
        char flags[8] = "";
        size_t nf = 0;
        while (i < fmt->len && strchr("-+ #0", fmt->s[i]) && nf < 6) flags[nf++] = fmt->s[i++];
        flags[nf] = 0;
        int width = -1, prec = -1;
        if (i < fmt->len && fmt->s[i] == '*') chat_fail(e, pos, "'*' in format is not supported");
        while (i < fmt->len && fmt->s[i] >= '0' && fmt->s[i] <= '9') {
            width = (width < 0 ? 0 : width) * 10 + (fmt->s[i++] - '0');
            if (width > 100000) chat_fail(e, pos, "format width too large");
        }
        if (i < fmt->len && fmt->s[i] == '.') {
            i++;
            prec = 0;
            while (i < fmt->len && fmt->s[i] >= '0' && fmt->s[i] <= '9') {
                prec = prec * 10 + (fmt->s[i++] - '0');
                if (prec > 1000) chat_fail(e, pos, "format precision too large");
            }
        }
        while (i < fmt->len && strchr("hlL", fmt->s[i])) i++;
        if (i >= fmt->len) chat_fail(e, pos, "incomplete format");
        char conv = fmt->s[i++];
        if (conv == '%') {
            cbuf_putc(e, &b, '%');
            continue;
        }
        if (!have_arg) {
            if (mapping) {
                arg = args;
            } else {
                if (argi >= argc) chat_fail(e, pos, "not enough arguments for format string");
                arg = argv[argi++];
            }
        }
        bool left = strchr(flags, '-') != NULL;
        char spec[32], out[512];
        switch (conv) {
        case 's':
        case 'r':
        case 'a': {
            cbuf t = {0};
            if (conv == 's') {
                if (markup && !chat_is_markup(arg)) {
                    cstr *x = chat_escape(e, arg);
                    cbuf_put(e, &t, x->s, x->len);
                } else {
                    chat_str_into(e, &t, arg);
                }
            } else {
                chat_repr(e, &t, arg, 0);
                if (markup) {
                    cbuf esc = {0};
                    escape_into(e, &esc, t.p ? t.p : "", t.len);
                    t = esc;
                }
            }
            cstr *x = cbuf_str(e, &t);
            size_t n = x->len;
            if (prec >= 0 && prec < chat_str_ncp(x)) n = chat_cp_offset(x, prec);
            cstr *cut = chat_str_new(e, x->s, n);
            put_padded(e, &b, cut->s, cut->len, chat_str_ncp(cut), width, left);
            break;
        }
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o':
        case 'c': {
            if (conv == 'c') {
                char tmp[4];
                size_t n;
                if (arg.type == CV_STR && chat_str_ncp(arg.u.s) == 1) {
                    put_padded(e, &b, arg.u.s->s, arg.u.s->len, 1, width, left);
                    break;
                }
                int64_t cp = chat_need_int(e, arg, "%c", pos);
                if (cp < 0 || cp > 0x10FFFF) chat_fail(e, pos, "%%c arg not in range(0x110000)");
                n = chat_utf8_put(tmp, (uint32_t)cp);
                put_padded(e, &b, tmp, n, 1, width, left);
                break;
            }
            long long iv;
            if (arg.type == CV_FLOAT && (conv == 'd' || conv == 'i' || conv == 'u')) {
                if (!isfinite(arg.u.f)) chat_fail(e, pos, "cannot convert float to integer");
                iv = (long long)arg.u.f;
            } else if (arg.type == CV_INT || arg.type == CV_BOOL) {
                iv = arg.type == CV_INT ? arg.u.i : arg.u.b;
            } else {
                chat_fail(e, pos, "%%%c format: a%s number is required, not %s", conv,
                          conv == 'x' || conv == 'X' || conv == 'o' ? "n integer" : " real",
                          chat_type_name(arg));
            }
            char cc = conv == 'i' || conv == 'u' ? 'd' : conv;
            bool neg = iv < 0 && cc != 'd';
            unsigned long long mag = neg ? 0ull - (unsigned long long)iv : (unsigned long long)iv;
            if (cc == 'd') {
                snprintf(spec, sizeof spec, "%%%s%s%s%slld", flags, width >= 0 ? "*" : "",
                         prec >= 0 ? ".*" : "", "");
            } else {
                /* Python prints negative hex/octal as -0x..; '#' gives 0x/0o */
                snprintf(spec, sizeof spec, "%%%s%s%sll%c", flags, width >= 0 ? "*" : "",
                         prec >= 0 ? ".*" : "", cc);
            }
            int n;
            if (cc == 'd') {
                if (width >= 0 && prec >= 0)
                    n = snprintf(out, sizeof out, spec, width, prec, iv);
                else if (width >= 0)
                    n = snprintf(out, sizeof out, spec, width, iv);
                else if (prec >= 0)
                    n = snprintf(out, sizeof out, spec, prec, iv);
                else
                    n = snprintf(out, sizeof out, spec, iv);
            } else {
                if (width >= 0 && prec >= 0)
                    n = snprintf(out, sizeof out, spec, width, prec, mag);
                else if (width >= 0)
                    n = snprintf(out, sizeof out, spec, width, mag);
                else if (prec >= 0)
                    n = snprintf(out, sizeof out, spec, prec, mag);
                else
                    n = snprintf(out, sizeof out, spec, mag);
                if (cc == 'o' && strchr(flags, '#')) {
                    /* C writes 0NN, Python 0oNN */
                    char *z = strchr(out, '0');
                    if (z && n + 1 < (int)sizeof out) {
                        memmove(z + 2, z + 1, strlen(z + 1) + 1);
                        z[1] = 'o';
                        n++;
                    }
                }
                if (neg) {
                    cbuf_putc(e, &b, '-');
                }
            }
            if (n < 0) n = 0;
            cbuf_put(e, &b, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
            break;
        }
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G': {
            if (!chat_is_number(arg))
                chat_fail(e, pos, "must be real number, not %s", chat_type_name(arg));
            double d = chat_num(arg);
            snprintf(spec, sizeof spec, "%%%s%s%s%c", flags, width >= 0 ? "*" : "",
                     prec >= 0 ? ".*" : "", conv);
            int n;
            if (width >= 0 && prec >= 0)
                n = snprintf(out, sizeof out, spec, width, prec, d);
            else if (width >= 0)
                n = snprintf(out, sizeof out, spec, width, d);
            else if (prec >= 0)
                n = snprintf(out, sizeof out, spec, prec, d);
            else
                n = snprintf(out, sizeof out, spec, d);
            if (n < 0) n = 0;
            cbuf_put(e, &b, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
            break;
        }
        default:
            chat_fail(e, pos, "unsupported format character '%c'", conv);
        }
    }
    if (!mapping && argi < argc)
        chat_fail(e, pos, "not all arguments converted during string formatting");
    return chat_bufv(e, &b, markup);
}

/* Applies a str.format() spec ("[[fill]align][sign][0][width][,][.prec][type]"). */
static void format_spec(chat_env *e, cbuf *b, cv v, const char *spec, size_t sl, uint32_t pos)
{
    size_t i = 0;
    char fill[8] = " ";
    size_t fill_len = 1;
    int align = 0;
    /* fill + align */
    if (sl >= 2) {
        size_t j = 0;
        chat_utf8_next(spec, sl, &j);
        if (j < sl && strchr("<>^=", spec[j])) {
            memcpy(fill, spec, j);
            fill_len = j;
            align = spec[j];
            i = j + 1;
        }
    }
    if (!align && i < sl && strchr("<>^=", spec[i])) align = spec[i++];
    char sign = 0;
    if (i < sl && strchr("+- ", spec[i])) sign = spec[i++];
    bool alt = false, zero = false;
    if (i < sl && spec[i] == '#') {
        alt = true;
        i++;
    }
    if (i < sl && spec[i] == '0') {
        zero = true;
        i++;
    }
    int width = 0, prec = -1;
    while (i < sl && spec[i] >= '0' && spec[i] <= '9') {
        width = width * 10 + (spec[i++] - '0');
        if (width > 100000) chat_fail(e, pos, "format width too large");
    }
    char comma = 0;
    if (i < sl && (spec[i] == ',' || spec[i] == '_')) comma = spec[i++];
    if (i < sl && spec[i] == '.') {
        i++;
        prec = 0;
        while (i < sl && spec[i] >= '0' && spec[i] <= '9') {
            prec = prec * 10 + (spec[i++] - '0');
            if (prec > 1000) chat_fail(e, pos, "format precision too large");
        }
    }
    char type = i < sl ? spec[i++] : 0;
    if (i != sl || alt) chat_fail(e, pos, "format spec '%.*s' is not supported", (int)sl, spec);
    char body[600];
    int n = 0;
    bool numeric = false;
    if (type == 0 && v.type == CV_STR) type = 's';
    if (type == 's') {
        if (v.type != CV_STR)
            chat_fail(e, pos, "Unknown format code 's' for object of type '%s'", chat_type_name(v));
        cstr *s = v.u.s;
        size_t len = s->len;
        if (prec >= 0 && prec < chat_str_ncp(s)) len = chat_cp_offset(s, prec);
        cstr *cut = chat_str_new(e, s->s, len);
        int64_t ncp = chat_str_ncp(cut);
        int64_t marg = width > ncp ? width - ncp : 0, left = 0;
        int al = align ? align : '<';
        if (al == '>')
            left = marg;
        else if (al == '^')
            left = marg / 2;
        for (int64_t k = 0; k < left; k++) cbuf_put(e, b, fill, fill_len);
        cbuf_put(e, b, cut->s, cut->len);
        for (int64_t k = 0; k < marg - left; k++) cbuf_put(e, b, fill, fill_len);
        return;
    }
    if (!chat_is_number(v)) {
        if (type == 0) {
            cbuf t = {0};
            chat_str_into(e, &t, v);
            cv sv = cv_str(cbuf_str(e, &t));
            format_spec(e, b, sv, spec, 0, pos);
            return;
        }
        chat_fail(e, pos, "Unknown format code '%c' for object of type '%s'", type,
                  chat_type_name(v));
    }
    numeric = true;
    char sgn[2] = {sign == '+' || sign == ' ' ? sign : 0, 0};
    if (type == 0 && v.type != CV_FLOAT) type = 'd';
    if (type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b') {
        if (v.type == CV_FLOAT) chat_fail(e, pos, "Unknown format code '%c' for float", type);
        long long iv = v.type == CV_INT ? v.u.i : v.u.b;
        if (type == 'b') {
            char tmp[80];
            int k = 0;
            unsigned long long m = iv < 0 ? 0ull - (unsigned long long)iv : (unsigned long long)iv;
            do {
                tmp[k++] = (char)('0' + (m & 1));
                m >>= 1;
            } while (m && k < 70);
            if (iv < 0)
                body[n++] = '-';
            else if (sgn[0])
                body[n++] = sgn[0];
            while (k) body[n++] = tmp[--k];
            body[n] = 0;
        } else {
            char f[16];
            snprintf(f, sizeof f, "%%%sll%c", sgn, type);
            n = snprintf(body, sizeof body, f, iv);
        }
    } else if (type == 0 || strchr("fFeEgG%", type)) {
        double d = chat_num(v);
        if (type == 0) {
            if (prec < 0) {
                chat_float_repr(d, body);
                if (sgn[0] && d >= 0) {
                    memmove(body + 1, body, strlen(body) + 1);
                    body[0] = sgn[0];
                }
                n = (int)strlen(body);
            } else {
                char f[16];
                snprintf(f, sizeof f, "%%%s.%dg", sgn, prec ? prec : 1);
                n = snprintf(body, sizeof body, f, d);
            }
        } else {
            char f[16];
            bool pct = type == '%';
            if (pct) d *= 100;
            snprintf(f, sizeof f, "%%%s.%d%c", sgn, prec < 0 ? 6 : prec, pct ? 'f' : type);
            n = snprintf(body, sizeof body, f, d);
            if (pct && n + 1 < (int)sizeof body) body[n++] = '%', body[n] = 0;
        }
    } else {
        chat_fail(e, pos, "format type '%c' is not supported", type);
    }
    if (n < 0) n = 0;
    if (comma && n < 400) {
        /* thousands separators in the integer part */
        int start = (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0, end = start;
        while (end < n && body[end] >= '0' && body[end] <= '9') end++;
        char grouped[600];
        int g = 0;
        for (int k = 0; k < start; k++) grouped[g++] = body[k];
        for (int k = start; k < end; k++) {
            grouped[g++] = body[k];
            int left = end - k - 1;
            if (left > 0 && left % 3 == 0) grouped[g++] = comma;
        }
        for (int k = end; k < n; k++) grouped[g++] = body[k];
        grouped[g] = 0;
        memcpy(body, grouped, (size_t)g + 1);
        n = g;
    }
    int al = align ? align : (numeric ? '>' : '<');
    if (zero && !align) {
        al = '=';
        fill[0] = '0';
        fill_len = 1;
    }
    int marg = width > n ? width - n : 0, left = 0;
    if (al == '>')
        left = marg;
    else if (al == '^')
        left = marg / 2;
    if (al == '=') {
        int signlen = (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0;
        cbuf_put(e, b, body, (size_t)signlen);
        for (int k = 0; k < marg; k++) cbuf_put(e, b, fill, fill_len);
        cbuf_put(e, b, body + signlen, (size_t)(n - signlen));
        return;
    }
    for (int k = 0; k < left; k++) cbuf_put(e, b, fill, fill_len);
    cbuf_put(e, b, body, (size_t)n);
    for (int k = 0; k < marg - left; k++) cbuf_put(e, b, fill, fill_len);
}

static cv str_format(chat_env *e, cv fmtv, const cargs *a, uint32_t pos)
{
    cstr *f = fmtv.u.s;
    bool markup = chat_is_markup(fmtv);
    cbuf b = {0};
    int auto_idx = 0;
    for (size_t i = 0; i < f->len;) {
        char c = f->s[i];
        if (c == '}') {
            if (i + 1 < f->len && f->s[i + 1] == '}') {
                cbuf_putc(e, &b, '}');
                i += 2;
                continue;
            }
            chat_fail(e, pos, "Single '}' encountered in format string");
        }
        if (c != '{') {
            size_t j = i;
            while (j < f->len && f->s[j] != '{' && f->s[j] != '}') j++;
            cbuf_put(e, &b, f->s + i, j - i);
            i = j;
            continue;
        }
        if (i + 1 < f->len && f->s[i + 1] == '{') {
            cbuf_putc(e, &b, '{');
            i += 2;
            continue;
        }
        size_t j = i + 1;
        while (j < f->len && f->s[j] != '}' && f->s[j] != '{') j++;
        if (j >= f->len || f->s[j] != '}') chat_fail(e, pos, "unmatched '{' in format string");
        const char *field = f->s + i + 1;
        size_t fl = j - i - 1;
        i = j + 1;
        const char *colon = memchr(field, ':', fl);
        const char *spec = colon ? colon + 1 : NULL;
        size_t sl = colon ? fl - (size_t)(colon - field) - 1 : 0;
        size_t nl = colon ? (size_t)(colon - field) : fl;
        char conv = 0;
        if (nl >= 2 && field[nl - 2] == '!') {
            conv = field[nl - 1];
            nl -= 2;
        }
        /* field name: [arg_name] ('.' attr | '[' key ']')* */
        size_t k = 0;
        while (k < nl && field[k] != '.' && field[k] != '[') k++;
        cv v;
        if (k == 0) {
            if (auto_idx >= a->nargs)
                chat_fail(e, pos, "Replacement index %d out of range", auto_idx);
            v = a->args[auto_idx++];
        } else if (field[0] >= '0' && field[0] <= '9') {
            long idx = strtol(field, NULL, 10);
            if (idx >= a->nargs) chat_fail(e, pos, "Replacement index %ld out of range", idx);
            v = a->args[idx];
        } else {
            int m = 0;
            while (m < a->nkw && (strlen(a->kw_names[m]) != k || memcmp(a->kw_names[m], field, k)))
                m++;
            if (m == a->nkw) chat_fail(e, pos, "KeyError: '%.*s'", (int)k, field);
            v = a->kw[m];
        }
        while (k < nl) {
            if (field[k] == '.') {
                size_t s0 = ++k;
                while (k < nl && field[k] != '.' && field[k] != '[') k++;
                char *attr = chat_alloc(e, k - s0 + 1);
                memcpy(attr, field + s0, k - s0);
                if (attr[0] == '_') chat_fail(e, pos, "access to attribute '%s' is unsafe", attr);
                v = chat_getattr(e, v, attr, pos);
            } else {
                size_t s0 = ++k;
                while (k < nl && field[k] != ']') k++;
                cv key = cv_strn(e, field + s0, k - s0);
                bool digits = k > s0;
                for (size_t q = s0; q < k; q++)
                    digits = digits && field[q] >= '0' && field[q] <= '9';
                if (digits) key = cv_int(strtoll(key.u.s->s, NULL, 10));
                v = chat_getitem(e, v, key, pos);
                k++;
            }
        }
        if (conv == 'r' || conv == 'a') {
            cbuf t = {0};
            chat_repr(e, &t, v, 0);
            v = cv_str(cbuf_str(e, &t));
        } else if (conv == 's') {
            v = chat_soft_str(e, v);
        } else if (conv) {
            chat_fail(e, pos, "Unknown conversion specifier %c", conv);
        }
        if (markup && !chat_is_markup(v) && v.type == CV_STR) v = cv_str(chat_escape(e, v));
        if (v.type == CV_UNDEF) chat_fail_undef(e, v, pos);
        if (!spec || sl == 0)
            chat_str_into(e, &b, v);
        else
            format_spec(e, &b, v, spec, sl, pos);
    }
    return chat_bufv(e, &b, markup);
}

static bool starts_or_ends(chat_env *e, cstr *s, cv pre, const cv *start, const cv *end, bool ends,
                           uint32_t pos)
{
    size_t a, b;
    span_args(e, s, start, end, &a, &b, pos);
    const cv *cands = &pre;
    size_t nc = 1;
    if (pre.type == CV_LIST && pre.u.l->kind != CL_LIST && pre.u.l->kind != CL_ITER) {
        cands = pre.u.l->items;
        nc = pre.u.l->n;
    }
    for (size_t k = 0; k < nc; k++) {
        if (cands[k].type != CV_STR)
            chat_fail(e, pos, "%s first arg must be str or a tuple of str, not %s",
                      ends ? "endswith" : "startswith", chat_type_name(cands[k]));
        const cstr *p = cands[k].u.s;
        if (p->len > b - a) continue;
        if (ends ? memcmp(s->s + b - p->len, p->s, p->len) == 0
                 : memcmp(s->s + a, p->s, p->len) == 0)
            return true;
    }
    return false;
}

cv chat_str_method(chat_env *e, cv self, const char *m, const cargs *a, uint32_t pos)
{
    cstr *s = self.u.s;
    bool mk = chat_is_markup(self);
    cv p[4] = {cv_none(), cv_none(), cv_none(), cv_none()};
    static const char *const n_pse[] = {"prefix", "start", "end"};
    static const char *const n_split[] = {"sep", "maxsplit"};
    static const char *const n_chars[] = {"chars"};
    static const char *const n_repl[] = {"old", "new", "count"};
    static const char *const n_sub[] = {"sub", "start", "end"};
    static const char *const n_width[] = {"width", "fillchar"};
    static const char *const n_keep[] = {"keepends"};
    static const char *const n_one[] = {"x"};
    static const char *const n_none[] = {NULL};

    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        p[0] = cv_undef();
        chat_bind(e, m, a, n_pse, 3, p, NULL, pos);
        if (p[0].type == CV_UNDEF && a->nargs == 0)
            chat_fail(e, pos, "%s() takes at least 1 argument (0 given)", m);
        return cv_bool(starts_or_ends(e, s, p[0], &p[1], &p[2], m[0] == 'e', pos));
    }
    if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
        p[1] = cv_int(-1);
        chat_bind(e, m, a, n_split, 2, p, NULL, pos);
        return py_split(e, self, &p[0], chat_need_int(e, p[1], "maxsplit", pos), m[0] == 'r', pos);
    }
    if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip")) {
        chat_bind(e, m, a, n_chars, 1, p, NULL, pos);
        cstr *chars = NULL;
        if (p[0].type != CV_NONE) chars = chat_need_str(e, p[0], "chars", pos);
        if (mk && chars && !chat_is_markup(p[0])) chars = chat_escape(e, p[0]);
        return chat_py_strip(e, self, chars, m[0] != 'r', m[0] != 'l');
    }
    if (!strcmp(m, "replace")) {
        p[2] = cv_int(-1);
        chat_bind(e, m, a, n_repl, 3, p, NULL, pos);
        cstr *o, *n;
        if (mk) {
            o = chat_markup_operand(e, p[0]);
            n = chat_markup_operand(e, p[1]);
        } else {
            o = chat_need_str(e, p[0], "replace() argument 1", pos);
            n = chat_need_str(e, p[1], "replace() argument 2", pos);
        }
        return chat_py_replace(e, self, o, n, chat_need_int(e, p[2], "count", pos), mk, pos);
    }
    if (!strcmp(m, "lower") || !strcmp(m, "casefold")) {
        chat_bind(e, m, a, n_none, 0, p, NULL, pos);
        return chat_map_case(e, self, chat_lower, false);
    }
    if (!strcmp(m, "upper")) {
        chat_bind(e, m, a, n_none, 0, p, NULL, pos);
        return chat_map_case(e, self, chat_upper, true);
    }
    if (!strcmp(m, "swapcase")) {
        chat_bind(e, m, a, n_none, 0, p, NULL, pos);
        cbuf b = {0};
        char tmp[4];
        for (size_t i = 0; i < s->len;) {
            uint32_t c = chat_utf8_next(s->s, s->len, &i);
            uint32_t o = chat_upper(c) != c ? chat_upper(c) : chat_lower(c);
            cbuf_put(e, &b, tmp, chat_utf8_put(tmp, o));
        }
        return chat_bufv(e, &b, mk);
    }
    if (!strcmp(m, "title")) {
        chat_bind(e, m, a, n_none, 0, p, NULL, pos);
        return chat_py_title(e, self);
    }
    if (!strcmp(m, "capitalize")) {
        chat_bind(e, m, a, n_none, 0, p, NULL, pos);
        return chat_py_capitalize(e, self);
    }
    if (!strcmp(m, "find") || !strcmp(m, "rfind") || !strcmp(m, "index") || !strcmp(m, "rindex") ||
        !strcmp(m, "count")) {
        p[0] = cv_undef();
        chat_bind(e, m, a, n_sub, 3, p, NULL, pos);
        cstr *sub = chat_need_str(e, p[0], "substring", pos);
        size_t lo, hi;
        span_args(e, s, &p[1], &p[2], &lo, &hi, pos);
        if (!strcmp(m, "count")) {
            if (sub->len == 0) {
                cv part = cv_strn(e, s->s + lo, hi - lo);
                return cv_int(chat_str_ncp(part.u.s) + 1);
            }
            int64_t cnt = 0;
            size_t i = lo;
            for (;;) {
                const char *hit = chat_find_bytes(s->s + i, hi - i, sub->s, sub->len);
                if (!hit) break;
                cnt++;
                i = (size_t)(hit - s->s) + sub->len;
            }
            return cv_int(cnt);
        }
        bool rev = m[0] == 'r';
        const char *hit = rev ? chat_rfind_bytes(s->s + lo, hi - lo, sub->s, sub->len)
                              : chat_find_bytes(s->s + lo, hi - lo, sub->s, sub->len);
        if (!hit) {
            if (strstr(m, "index")) chat_fail(e, pos, "substring not found");
            return cv_int(-1);
        }
        chat_str_ncp(s);
        return cv_int(cp_index(s, (size_t)(hit - s->s)));
    }
    if (!strcmp(m, "join")) {
        p[0] = cv_undef();
        chat_bind(e, m, a, n_one, 1, p, NULL, pos);
        clist *items = chat_iterate(e, p[0], pos);
        cbuf b = {0};
        for (size_t i = 0; i < items->n; i++) {
            cv it = items->items[i];
            if (it.type != CV_STR)
                chat_fail(e, pos, "sequence item %zu: expected str instance, %s found", i,
                          chat_type_name(it));
            if (i) cbuf_put(e, &b, s->s, s->len);
            cstr *x = mk ? chat_markup_operand(e, it) : it.u.s;
            cbuf_put(e, &b, x->s, x->len);
        }
        chat_steps(e, items->n, pos);
        return chat_bufv(e, &b, mk);
    }
    if (!strcmp(m, "splitlines")) {
        p[0] = cv_bool(false);
        chat_bind(e, m, a, n_keep, 1, p, NULL, pos);
        return cv_list(chat_py_splitlines(e, self, chat_truthy(p[0])));
    }
    if (!strcmp(m, "format")) return str_format(e, self, a, pos);
    if (!strncmp(m, "is", 2) && strcmp(m, "isascii") && strcmp(m, "isidentifier") &&
        strcmp(m, "isprintable")) {
        chat_bind(e, m, a, n_none, 0, p, NULL, pos);
        if (s->len == 0) return cv_bool(false);
        bool any_cased = false, ok = true, prev_cased = false;
        for (size_t i = 0; i < s->len && ok;) {
            uint32_t c = chat_utf8_next(s->s, s->len, &i);
            bool digit = c >= '0' && c <= '9';
            bool alpha = chat_isalnum(c) && !digit;
            if (!strcmp(m, "isdigit") || !strcmp(m, "isnumeric") || !strcmp(m, "isdecimal"))
                ok = digit;
            else if (!strcmp(m, "isalpha"))
                ok = alpha;
            else if (!strcmp(m, "isalnum"))
                ok = alpha || digit;
            else if (!strcmp(m, "isspace"))
                ok = chat_isspace(c);
            else if (!strcmp(m, "islower")) {
                if (chat_cased(c)) {
                    any_cased = true;
                    ok = chat_upper(c) != c || c == 0xDF;
                }
            } else if (!strcmp(m, "isupper")) {
                if (chat_cased(c)) {
                    any_cased = true;
                    ok = chat_lower(c) != c;
                }
            } else if (!strcmp(m, "istitle")) {
                if (chat_cased(c)) {
                    bool upper = chat_lower(c) != c;
                    ok = prev_cased ? !upper : upper;
                    any_cased = true;
                    prev_cased = true;
                } else {
                    prev_cased = false;
                }
            }
        }
        if (!strcmp(m, "islower") || !strcmp(m, "isupper") || !strcmp(m, "istitle"))
            ok = ok && any_cased;
        return cv_bool(ok);
    }
    if (!strcmp(m, "center") || !strcmp(m, "ljust") || !strcmp(m, "rjust")) {
        p[0] = cv_undef();
        chat_bind(e, m, a, n_width, 2, p, NULL, pos);
        cstr *fill = NULL;
        if (p[1].type != CV_NONE) {
            fill = chat_need_str(e, p[1], "fillchar", pos);
            if (chat_str_ncp(fill) != 1)
                chat_fail(e, pos, "The fill character must be exactly one character long");
        }
        int align = m[0] == 'c' ? '^' : m[0] == 'l' ? '<' : '>';
        return chat_pad(e, self, chat_need_int(e, p[0], "width", pos), fill, align);
    }
    if (!strcmp(m, "zfill")) {
        p[0] = cv_undef();
        chat_bind(e, m, a, n_width, 1, p, NULL, pos);
        int64_t w = chat_need_int(e, p[0], "width", pos), n = chat_str_ncp(s);
        if (w <= n) return self;
        if (w > (int64_t)e->max_output) chat_fail(e, pos, "width too large");
        cbuf b = {0};
        size_t start = 0;
        if (s->len && (s->s[0] == '+' || s->s[0] == '-')) {
            cbuf_putc(e, &b, s->s[0]);
            start = 1;
        }
        for (int64_t k = 0; k < w - n; k++) cbuf_putc(e, &b, '0');
        cbuf_put(e, &b, s->s + start, s->len - start);
        return chat_bufv(e, &b, mk);
    }
    if (!strcmp(m, "partition") || !strcmp(m, "rpartition")) {
        p[0] = cv_undef();
        chat_bind(e, m, a, n_one, 1, p, NULL, pos);
        cstr *sep = chat_need_str(e, p[0], "separator", pos);
        if (sep->len == 0) chat_fail(e, pos, "empty separator");
        bool rev = m[0] == 'r';
        const char *hit = rev ? chat_rfind_bytes(s->s, s->len, sep->s, sep->len)
                              : chat_find_bytes(s->s, s->len, sep->s, sep->len);
        clist *t = chat_list_new(e, 3, CL_TUPLE);
        cv empty = chat_mstr(e, "", 0, mk);
        if (!hit) {
            chat_list_push(e, t, rev ? empty : self);
            chat_list_push(e, t, empty);
            chat_list_push(e, t, rev ? self : empty);
        } else {
            size_t at = (size_t)(hit - s->s);
            chat_list_push(e, t, chat_mstr(e, s->s, at, mk));
            chat_list_push(e, t, chat_mstr(e, sep->s, sep->len, mk));
            chat_list_push(e, t, chat_mstr(e, s->s + at + sep->len, s->len - at - sep->len, mk));
        }
        return cv_list(t);
    }
    if (!strcmp(m, "removeprefix") || !strcmp(m, "removesuffix")) {
        p[0] = cv_undef();
        chat_bind(e, m, a, n_one, 1, p, NULL, pos);
        cstr *x = chat_need_str(e, p[0], "argument", pos);
        if (x->len > s->len) return self;
        if (m[6] == 'p' && memcmp(s->s, x->s, x->len) == 0)
            return chat_mstr(e, s->s + x->len, s->len - x->len, mk);
        if (m[6] == 's' && memcmp(s->s + s->len - x->len, x->s, x->len) == 0)
            return chat_mstr(e, s->s, s->len - x->len, mk);
        return self;
    }
    if (!strcmp(m, "isascii")) {
        chat_bind(e, m, a, n_none, 0, p, NULL, pos);
        for (size_t i = 0; i < s->len; i++)
            if ((unsigned char)s->s[i] >= 0x80) return cv_bool(false);
        return cv_bool(true);
    }
    chat_fail(e, pos, "str.%s() is not supported", m);
}

static int hexval_c(char c)
{
    c = (char)(c | 0x20);
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : -1;
}

/* Python's int(str, base) for the |int filter; false when not a number. */
bool chat_parse_int_str(const cstr *s, int base, int64_t *out)
{
    const char *p = s->s, *end = s->s + s->len;
    while (p < end && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) p++;
    while (end > p && (end[-1] == ' ' || (end[-1] >= '\t' && end[-1] <= '\r'))) end--;
    bool neg = false;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    if (p + 1 < end && p[0] == '0') {
        char c = p[1] | 0x20;
        int pb = c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 0;
        if (pb && (base == pb || base == 0)) {
            base = pb;
            p += 2;
            if (p < end && *p == '_') p++;
        }
    }
    if (base == 0) base = 10;
    if (p >= end) return false;
    uint64_t v = 0;
    bool prev_us = true;
    for (; p < end; p++) {
        if (*p == '_') {
            if (prev_us) return false;
            prev_us = true;
            continue;
        }
        int d = hexval_c(*p);
        if (d < 0 || d >= base) return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return false;
        v = v * (uint64_t)base + (uint64_t)d;
        prev_us = false;
    }
    if (prev_us) return false;
    if (v > (uint64_t)INT64_MAX + neg) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Python's float(str); false when not a number. */
bool chat_parse_float_str(const cstr *s, double *out)
{
    char tmp[128];
    const char *p = s->s, *end = s->s + s->len;
    while (p < end && chat_isspace((unsigned char)*p)) p++;
    while (end > p && chat_isspace((unsigned char)end[-1])) end--;
    size_t n = 0;
    for (const char *q = p; q < end; q++) {
        if (*q == '_') continue;
        if (n + 1 >= sizeof tmp) return false;
        tmp[n++] = *q;
    }
    tmp[n] = 0;
    if (n == 0) return false;
    /* strtod also takes hex floats and "infinity"/"nan(...)"; Python takes
     * inf/infinity/nan in any case, signed. */
    const char *t = tmp + (tmp[0] == '+' || tmp[0] == '-');
    if ((t[0] == '0' && (t[1] | 0x20) == 'x')) return false;
    if (strchr(tmp, '(')) return false;
    char *endp;
    errno = 0;
    double d = strtod(tmp, &endp);
    if (*endp) return false;
    *out = d;
    return true;
}
