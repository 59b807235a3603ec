/* Helpers shared by the builtin implementations (builtins.c, strings.c,
 * filters.c). Internal to the chat module; see jinja.h for the engine. */
#ifndef TK_CHAT_BUILTINS_H
#define TK_CHAT_BUILTINS_H

#include "chat/jinja.h"

static inline bool chat_is_markup(cv v)
{
    return v.type == CV_STR && (v.flags & CVF_MARKUP);
}

/* ---- builtins.c ---- */

/* Fails the render with the message of an Undefined value. */
_Noreturn void chat_fail_undef(chat_env *e, cv v, uint32_t pos);
/* A string value (a Markup string when `markup`). */
cv chat_mstr(chat_env *e, const char *s, size_t n, bool markup);
cv chat_bufv(chat_env *e, const cbuf *b, bool markup);
/* Jinja2's soft_str(): strings as they are, anything else through str(). */
cv chat_soft_str(chat_env *e, cv v);
/* The value as a str / an int, or a render failure naming `what`. */
cstr *chat_need_str(chat_env *e, cv v, const char *what, uint32_t pos);
int64_t chat_need_int(chat_env *e, cv v, const char *what, uint32_t pos);
/* Binds positional and keyword arguments to `np` named parameters: `out`
 * holds the defaults on entry; `given` (optional) records which were passed.
 * Fails for unknown or repeated arguments. */
void chat_bind(chat_env *e, const char *fname, const cargs *a, const char *const *names, int np,
               cv *out, bool *given, uint32_t pos);
/* The entry of a NULL-terminated name list equal to `name`, or NULL. */
const char *chat_in_list(const char *const *names, const char *name);
/* dict.items() / keys() / values() / get() / copy(). */
cv chat_dict_method(chat_env *e, cv self, const char *m, const cargs *a, uint32_t pos);

/* ---- strings.c ---- */

typedef uint32_t (*casefn)(uint32_t);

/* An operand of a Markup operation: Markup as it is, else str() escaped. */
cstr *chat_markup_operand(chat_env *e, cv v);
/* Maps every code point through fn (upper: 'ß' becomes "SS"). */
cv chat_map_case(chat_env *e, cv v, casefn fn, bool upper);
cv chat_py_title(chat_env *e, cv v);      /* str.title() */
cv chat_py_capitalize(chat_env *e, cv v); /* str.capitalize() */
cv chat_jinja_title(chat_env *e, cv v);   /* the |title filter */
/* str.strip/lstrip/rstrip; chars NULL strips whitespace. */
cv chat_py_strip(chat_env *e, cv v, const cstr *chars, bool left, bool right);
const char *chat_find_bytes(const char *h, size_t hn, const char *n, size_t nn);
const char *chat_rfind_bytes(const char *h, size_t hn, const char *n, size_t nn);
/* str.replace(old, new, count); count < 0 replaces all. */
cv chat_py_replace(chat_env *e, cv v, const cstr *old, const cstr *new_, int64_t count, bool markup,
                   uint32_t pos);
/* str.splitlines(keepends) */
clist *chat_py_splitlines(chat_env *e, cv v, bool keepends);
/* Pads to `width` code points with fill (NULL: space); align '<', '>', '^'. */
cv chat_pad(chat_env *e, cv v, int64_t width, const cstr *fill, int align);
/* fmt % args (printf-style; args a tuple, a dict or one value). */
cv chat_percent_format(chat_env *e, cv fmtv, cv args, uint32_t pos);
/* Calls str method `m` of self. */
cv chat_str_method(chat_env *e, cv self, const char *m, const cargs *a, uint32_t pos);
/* Python's int(s, base) and float(s); false when s is not a number. */
bool chat_parse_int_str(const cstr *s, int base, int64_t *out);
bool chat_parse_float_str(const cstr *s, double *out);

#endif
