/* Internal interface of the chat-template engine: a sandboxed interpreter for
 * the subset of Jinja2 that model chat templates use, written to render
 * byte-identically to Jinja2's ImmutableSandboxedEnvironment with
 * trim_blocks and lstrip_blocks on (the environment in which Hugging Face
 * renders `tokenizer.chat_template`).
 *
 * Memory: every object made while parsing or rendering (tokens, syntax tree,
 * values, output buffers) comes from one arena that is freed as a whole when
 * the render ends, so values are plain structs with no reference counting and
 * cycles (a list appended to itself) cannot leak. The arena has a byte limit.
 *
 * Errors: syntax errors, runtime errors, template-raised exceptions, bad
 * JSON and every exceeded limit end the render through longjmp() back to the
 * entry point (chat.c), which turns them into a status (TK_ERR_TEMPLATE,
 * TK_ERR_FORMAT for JSON) with a message. Nothing outside the arena is
 * allocated between the setjmp() and the longjmp(), so unwinding leaks
 * nothing.
 *
 * Stack: the interpreter recurses over the syntax tree and into macros; the
 * depth limits below keep a render within about 512 KiB of C stack (more
 * under sanitizers). */
#ifndef TK_CHAT_JINJA_H
#define TK_CHAT_JINJA_H

#include "core/core.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/* Limits (steps and output size can be set per render, see tk_template_opts) */
/* ------------------------------------------------------------------------ */

#define CHAT_MAX_TEMPLATE    (4u << 20)   /* template source bytes */
#define CHAT_MAX_STEPS       10000000ull  /* evaluation steps per render */
#define CHAT_MAX_OUTPUT      (16u << 20)  /* bytes of any rendered text */
#define CHAT_MAX_MEMORY      (256u << 20) /* arena bytes per render */
#define CHAT_MAX_RANGE       100000       /* items of range(), as Jinja2's sandbox */
#define CHAT_MAX_PARSE_DEPTH 200          /* nesting of expressions and blocks */
#define CHAT_MAX_AST_DEPTH   400          /* depth of the syntax tree */
#define CHAT_MAX_EVAL_DEPTH  1500         /* interpreter frames (C stack guard) */
#define CHAT_MAX_CALL_DEPTH  100          /* nested macro calls */
#define CHAT_MAX_VALUE_DEPTH 500          /* nesting walked by repr/tojson/== */

/* ------------------------------------------------------------------------ */
/* Values                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum cv_type {
    CV_UNDEF, /* Jinja2's default Undefined */
    CV_NONE,
    CV_BOOL,
    CV_INT, /* int64_t; Python's unbounded ints beyond that are an error */
    CV_FLOAT,
    CV_STR,   /* UTF-8; flag CVF_MARKUP marks markupsafe.Markup strings */
    CV_LIST,  /* list, tuple or one-pass iterator (see clist.kind) */
    CV_DICT,  /* insertion-ordered mapping */
    CV_NS,    /* namespace(): a mapping whose attributes can be assigned */
    CV_MACRO, /* a macro or a call block's caller() */
    CV_FUNC,  /* builtin function or bound method */
    CV_LOOP,  /* the `loop` object of a for loop */
} cv_type;

/* cv.flags */
enum {
    CVF_MARKUP = 1,     /* CV_STR: a Markup string (|safe, |escape) */
    CVF_UNDEF_ATTR = 2, /* CV_UNDEF: "'<obj>' has no attribute '<name>'" */
    CVF_UNDEF_ITEM = 4, /* CV_UNDEF: "<obj> has no element <name>" */
    CVF_UNDEF_HINT = 8, /* CV_UNDEF: `name` is the whole message */
};

typedef struct cstr {
    size_t len;  /* bytes, excluding the terminating NUL */
    int64_t ncp; /* code points, or -1 when not yet counted */
    char s[];    /* NUL-terminated */
} cstr;

struct clist;
struct cdict;
struct cmacro;
struct cfunc;
struct cloop;

typedef struct cv {
    uint8_t type;  /* cv_type */
    uint8_t flags; /* CVF_* */
    uint8_t aux;   /* CV_UNDEF with ATTR/ITEM: cv_type of the object */
    union {
        bool b;
        int64_t i;
        double f;
        cstr *s;
        struct clist *l;
        struct cdict *d;
        struct cmacro *m;
        struct cfunc *fn;
        struct cloop *loop;
        const char *name; /* CV_UNDEF: variable/attribute name or hint */
    } u;
} cv;

enum { CL_LIST, CL_TUPLE, CL_ITER, CL_GROUP };

typedef struct clist {
    size_t n, cap;
    cv *items;
    uint8_t kind;  /* CL_*: CL_ITER behaves like a Python generator (always
                      true, no len(), one pass); CL_GROUP is groupby's
                      (grouper, list) named tuple */
    bool consumed; /* CL_ITER: already iterated once */
} clist;

typedef struct cdict {
    size_t n, cap;
    cv *keys;
    cv *vals;
} cdict;

/* ------------------------------------------------------------------------ */
/* Syntax tree                                                               */
/* ------------------------------------------------------------------------ */

typedef enum cn_kind {
    /* expressions */
    N_CONST,
    N_NAME,
    N_LIST,
    N_TUPLE,
    N_DICT,
    N_GETATTR,
    N_GETITEM,
    N_SLICE,
    N_CALL,
    N_FILTER,
    N_TEST,
    N_NOT,
    N_NEG,
    N_POS,
    N_BINOP,
    N_CONCAT,
    N_AND,
    N_OR,
    N_COMPARE,
    N_COND,
    N_NSREF,
    /* statements */
    N_DATA,
    N_OUTPUT,
    N_IF,
    N_FOR,
    N_SET,
    N_SETBLOCK,
    N_MACRO,
    N_CALLBLOCK,
    N_FILTERBLOCK,
    N_WITH,
    N_SCOPE,
    N_BREAK,
    N_CONTINUE,
} cn_kind;

typedef enum cn_op {
    OP_NONE,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_FLOORDIV,
    OP_MOD,
    OP_POW,
    OP_TILDE,
    OP_LBRACKET,
    OP_RBRACKET,
    OP_LPAREN,
    OP_RPAREN,
    OP_LBRACE,
    OP_RBRACE,
    OP_EQ,
    OP_NE,
    OP_GT,
    OP_GTEQ,
    OP_LT,
    OP_LTEQ,
    OP_ASSIGN,
    OP_DOT,
    OP_COLON,
    OP_PIPE,
    OP_COMMA,
    OP_SEMICOLON,
    OP_IN,
    OP_NOTIN,
} cn_op;

/* One node type for everything; which fields a kind uses:
 *   CONST: val            NAME: name              LIST/TUPLE: kids
 *   DICT: kids (key, value, key, value...)        GETATTR: a, name
 *   GETITEM: a, b         SLICE: a, b, c (start, stop, step; NULL = None)
 *   CALL: a (callee), kids (positional), kw_names/kw (keywords)
 *   FILTER/TEST: a (NULL in a filter block), name, kids, kw_names/kw
 *   NOT/NEG/POS: a        BINOP: op, a, b        CONCAT: kids
 *   AND/OR: a, b          COMPARE: a, kids (operands), ops
 *   COND: a (test), b (then), c (else or NULL)    NSREF: name, attr
 *   DATA: val (string)    OUTPUT: kids (DATA or expressions)
 *   IF: a (test), body, orelse                     SET: a (target), b (value)
 *   FOR: a (target), b (iterable), c (filter or NULL), body, orelse
 *   SETBLOCK: a (target), c (filter chain or NULL), body
 *   MACRO: name, params (kw_names), defaults (kw, NULL entries), body,
 *          flags bit 0/1: body uses varargs/kwargs
 *   CALLBLOCK: a (call), params/defaults as MACRO, body
 *   FILTERBLOCK: c (filter chain), body   WITH: kw_names/kw, body
 *   SCOPE: body (block, generation)       BREAK/CONTINUE: -          */
typedef struct cnode cnode;
struct cnode {
    uint8_t kind; /* cn_kind */
    uint8_t op;   /* cn_op (BINOP) */
    uint8_t flags;
    uint32_t pos; /* byte offset in the normalized source */
    const char *name;
    const char *attr;
    cnode *a, *b, *c;
    cnode **kids;
    uint8_t *ops; /* COMPARE: one cn_op per operand */
    int n_kids;
    const char **kw_names;
    cnode **kw;
    int n_kw;
    cnode **body;
    int n_body;
    cnode **orelse;
    int n_orelse;
    cv val;
};

/* ------------------------------------------------------------------------ */
/* Render state                                                              */
/* ------------------------------------------------------------------------ */

typedef struct chat_chunk chat_chunk;

typedef struct cbuf {
    char *p;
    size_t len, cap;
} cbuf;

typedef struct cscope cscope;

typedef struct chat_env {
    /* arena */
    chat_chunk *chunks;
    size_t mem_used, mem_limit;
    /* error exit */
    jmp_buf jb;
    char err[1024];
    tk_status status;
    /* source (normalized) for line:column */
    const char *src;
    size_t src_len;
    /* limits and counters */
    uint64_t steps, max_steps;
    size_t max_output;
    int depth, calls;
    /* render */
    cbuf *out;
    cscope *scope; /* innermost scope */
    cscope *root;  /* the template's top level */
    cv context;    /* CV_DICT: variables given to the render */
    struct tm now; /* strftime_now() */
    int ctl;       /* pending break (1) / continue (2) */
} chat_env;

/* Scope of variables: a chain from the innermost block to the template's
 * top level, then the context, then the globals. */
struct cscope {
    cscope *parent;
    const char **names;
    cv *vals;
    int n, cap;
    bool captured; /* a macro closes over it: it must outlive its block */
};

/* Ends the render with TK_ERR_TEMPLATE: "template error at line L:C:
 * <message>" (line:column of `pos`), or "template error: <message>" when pos
 * is CHAT_NOPOS. Never returns. */
_Noreturn void chat_fail(chat_env *e, uint32_t pos, const char *fmt, ...) TK_PRINTF(3, 4);
#define CHAT_NOPOS UINT32_MAX
/* Ends the render with `status` and exactly this message. */
_Noreturn void chat_fail_raw(chat_env *e, tk_status status, const char *fmt, ...) TK_PRINTF(3, 4);

/* Arena allocation; zero-filled; fails the render when over the limit. */
void *chat_alloc(chat_env *e, size_t n);
void chat_arena_release(chat_env *e);
void chat_steps(chat_env *e, uint64_t n, uint32_t pos);

/* Line and column (1-based, in code points) of a byte offset. */
void chat_line_col(const char *src, size_t len, size_t pos, int *line, int *col);

/* ---- strings and buffers ---- */
cstr *chat_str_new(chat_env *e, const char *s, size_t len);
cstr *chat_str_cat(chat_env *e, const cstr *a, const cstr *b);
int64_t chat_str_ncp(cstr *s);
cv cv_str(cstr *s);
cv cv_strn(chat_env *e, const char *s, size_t len);
cv cv_cstr(chat_env *e, const char *s);
void cbuf_put(chat_env *e, cbuf *b, const char *s, size_t n);
void cbuf_putc(chat_env *e, cbuf *b, char ch);
void cbuf_puts(chat_env *e, cbuf *b, const char *s);
void cbuf_printf(chat_env *e, cbuf *b, const char *fmt, ...) TK_PRINTF(3, 4);
cstr *cbuf_str(chat_env *e, const cbuf *b);

/* ---- UTF-8 ---- */
/* Decodes one code point at s[*i] (advancing *i); invalid bytes decode as
 * themselves (0x80..0xFF) one at a time. */
uint32_t chat_utf8_next(const char *s, size_t len, size_t *i);
size_t chat_utf8_put(char *dst, uint32_t cp);
bool chat_utf8_valid(const char *s, size_t len);
bool chat_isspace(uint32_t cp); /* Python str.isspace() */
bool chat_isalnum(uint32_t cp); /* approximation of Python's \w (minus '_') */
uint32_t chat_upper(uint32_t cp);
uint32_t chat_lower(uint32_t cp);
bool chat_cased(uint32_t cp);
/* Byte offset of code point index `idx` (0 <= idx <= ncp). */
size_t chat_cp_offset(const cstr *s, int64_t idx);

/* ---- values ---- */
static inline cv cv_undef(void)
{
    cv v = {0};
    v.type = CV_UNDEF;
    return v;
}
static inline cv cv_none(void)
{
    cv v = {0};
    v.type = CV_NONE;
    return v;
}
static inline cv cv_bool(bool b)
{
    cv v = {0};
    v.type = CV_BOOL;
    v.u.b = b;
    return v;
}
static inline cv cv_int(int64_t i)
{
    cv v = {0};
    v.type = CV_INT;
    v.u.i = i;
    return v;
}
static inline cv cv_float(double f)
{
    cv v = {0};
    v.type = CV_FLOAT;
    v.u.f = f;
    return v;
}
cv cv_undef_named(const char *name);
cv cv_undef_hint(const char *hint);
cv cv_undef_attr(cv obj, const char *name);

clist *chat_list_new(chat_env *e, size_t cap, int kind);
void chat_list_push(chat_env *e, clist *l, cv v);
cv cv_list(clist *l);
cdict *chat_dict_new(chat_env *e);
/* Sets key to value (replacing an equal key's value in place). */
void chat_dict_set(chat_env *e, cdict *d, cv key, cv val);
/* Finds a key; NULL when absent. */
cv *chat_dict_get(chat_env *e, cdict *d, cv key);
cv *chat_dict_gets(cdict *d, const char *key);
cv cv_dict(cdict *d);

bool chat_truthy(cv v);
bool chat_is_number(cv v); /* bool, int, float */
double chat_num(cv v);
bool chat_eq(chat_env *e, cv a, cv b);
/* Python's a < b; fails the render for unorderable types. */
bool chat_lt(chat_env *e, cv a, cv b, uint32_t pos);
const char *chat_type_name(cv v); /* Python type name: 'str', 'dict', ... */
/* Python str() and repr(). */
cstr *chat_to_str(chat_env *e, cv v);
void chat_repr(chat_env *e, cbuf *b, cv v, int depth);
void chat_str_into(chat_env *e, cbuf *b, cv v);
void chat_float_repr(double d, char out[40]);
/* The message of an Undefined value ("'x' is undefined"). */
const char *chat_undef_msg(chat_env *e, cv v);

/* Iteration: the items of a value as Python would iterate them (str: code
 * points, dict: keys, undefined: nothing, iterator: once). Fails the render
 * for values that are not iterable. */
clist *chat_iterate(chat_env *e, cv v, uint32_t pos);
/* len(); fails for values without a length. */
int64_t chat_len(chat_env *e, cv v, uint32_t pos);

/* ---- JSON ---- */
/* Parses JSON text (UTF-8) into values: objects become insertion-ordered
 * dicts (a repeated key keeps its first position and last value, as
 * Python's json.loads), integers without fraction/exponent become ints. */
cv chat_json_parse(chat_env *e, const char *text, size_t len);
/* The same, but text that is not JSON gives CV_UNDEF instead of an error. */
cv chat_json_try_parse(chat_env *e, const char *text, size_t len);

typedef struct chat_json_opts {
    const char *indent;   /* NULL: compact one-line form */
    const char *item_sep; /* default ", " (or "," with indent) */
    const char *key_sep;  /* default ": " */
    bool sort_keys;
    bool ensure_ascii;
} chat_json_opts;
/* Python's json.dumps(v, **opts); fails for values JSON cannot hold. */
void chat_json_dump(chat_env *e, cbuf *b, cv v, const chat_json_opts *o, uint32_t pos);

/* ---- lexer / parser ---- */
/* Parses a template (already newline-normalized, see chat_normalize) into a
 * statement list. */
cnode *chat_parse(chat_env *e, const char *src, size_t len);
/* Jinja2's newline handling: \r\n and \r become \n, one trailing newline is
 * dropped. Returns an arena copy. */
char *chat_normalize(chat_env *e, const char *src, size_t len, size_t *out_len);

/* ---- interpreter ---- */
/* Renders a parsed template (a N_SCOPE node) with `context` (a CV_DICT) into
 * e->out. */
void chat_exec_template(chat_env *e, cnode *tpl, cv context);

/* Calls a callable value (macro, builtin) with arguments. */
cv chat_call_value(chat_env *e, cv callee, cv *args, int nargs, const char **kw_names, cv *kw,
                   int nkw, uint32_t pos);
/* obj.name and obj[key] with Jinja2's sandbox rules. */
cv chat_getattr(chat_env *e, cv obj, const char *name, uint32_t pos);
cv chat_getitem(chat_env *e, cv obj, cv key, uint32_t pos);

/* ---- builtins: filters.c (filters, tests), builtins.c (the rest), strings.c ---- */
typedef struct cargs {
    cv *args;
    int nargs;
    const char **kw_names;
    cv *kw;
    int nkw;
} cargs;

/* Applies filter `name`; fails for unknown filters. */
cv chat_filter(chat_env *e, const char *name, cv value, const cargs *a, uint32_t pos);
/* Applies test `name`. */
bool chat_test(chat_env *e, const char *name, cv value, const cargs *a, uint32_t pos);
bool chat_test_exists(const char *name);
bool chat_filter_exists(const char *name);
/* A global function (range, namespace, dict, raise_exception, strftime_now,
 * joiner), or undefined. */
cv chat_global(chat_env *e, const char *name);
/* A bound method of a str/dict/list value, or an undefined value. */
cv chat_method(chat_env *e, cv self, const char *name);
bool chat_has_method(cv self, const char *name);
/* Attribute `name` of a loop object. */
cv chat_loop_attr(chat_env *e, cv loop, const char *name);
/* Calls a builtin function value. */
cv chat_call_builtin(chat_env *e, struct cfunc *fn, const cargs *a, uint32_t pos);
/* Python's `needle in haystack`. */
bool chat_contains(chat_env *e, cv haystack, cv needle, uint32_t pos);
/* Python's `a + b` etc. for Jinja2 operators. */
cv chat_binop(chat_env *e, int op, cv a, cv b, uint32_t pos);
/* markupsafe.escape(). */
cstr *chat_escape(chat_env *e, cv v);

typedef struct cfunc {
    int id;  /* builtin id (builtins.c) */
    cv self; /* bound object, or undefined for plain functions */
    int64_t state;
    const char *name;
} cfunc;

typedef struct cmacro {
    const cnode *def; /* N_MACRO or N_CALLBLOCK */
    cscope *closure;  /* scope the macro was defined in */
    const char *name;
} cmacro;

typedef struct cloop {
    clist *items;
    int64_t index0;
    int depth0;
    cv last_changed;
    bool has_changed;
} cloop;

#endif
