/* A TOML reader (TOML 1.0 syntax as people write configuration files):
 * tables and dotted keys, comments, basic/literal and multi-line strings
 * with escapes, integers (decimal, hex, octal, binary, '_' separators),
 * floats (incl. inf/nan), booleans, arrays and inline tables. Dates are
 * recognised and rejected as unsupported. Every key is flattened into its
 * full dotted path ("inference.temperature"). */
#ifndef TK_TOML_H
#define TK_TOML_H

#include "tektra/core.h"

typedef enum toml_kind {
    TOML_STRING,
    TOML_INT,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_ARRAY,
    TOML_NONE, /* internal: an inline table, already flattened into entries */
} toml_kind;

typedef struct toml_value toml_value;
struct toml_value {
    toml_kind kind;
    char *str;         /* TOML_STRING: NUL-terminated, owned */
    int64_t i;         /* TOML_INT */
    double f;          /* TOML_FLOAT */
    bool b;            /* TOML_BOOL */
    toml_value *items; /* TOML_ARRAY: owned array of n_items */
    size_t n_items;
};

typedef struct toml_entry {
    char *key; /* full dotted path, owned */
    toml_value value;
    int line, col; /* where the value starts (1-based) */
} toml_entry;

typedef struct toml_doc {
    toml_entry *entries; /* in document order */
    size_t n_entries;
} toml_doc;

/* Parses `text` (NUL-terminated). `name` (a file name) is used in error
 * messages, which read "NAME:LINE:COL: expected ..., found ...". Limits:
 * nesting depth 32, 64 KiB per key or string, 100k entries.
 * On success free with toml_free(). */
tk_status toml_parse(const char *text, const char *name, toml_doc *out);
void toml_free(toml_doc *doc);

const char *toml_kind_name(toml_kind k); /* "string", "integer", ... */

#endif
