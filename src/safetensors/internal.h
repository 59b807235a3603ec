/* Internal pieces of the safetensors module shared by the file reader
 * (reader.c), the sets of files (set.c) and the writer (writer.c). */
#ifndef TK_SAFETENSORS_INTERNAL_H
#define TK_SAFETENSORS_INTERNAL_H

#include "safetensors/safetensors.h"

#include "gguf/gguf.h"

/* One "__metadata__" entry; both strings live in st_file.strings. */
typedef struct st_meta {
    const char *key, *value;
} st_meta;

/* A tensor name and its index in st_set.t, for the sorted name list. */
typedef struct st_name {
    const char *name;
    int64_t idx;
} st_name;

typedef struct st_file {
    char *path;    /* owned; "<memory>" for st_open_memory */
    gguf_map map;  /* the file's bytes (borrowed memory: handle NULL) */
    char *strings; /* owned: tensor names, metadata keys and values, NUL-terminated */
    st_meta *meta; /* [n_meta], sorted by key */
    int64_t n_meta;
} st_file;

struct st_set {
    st_file *files; /* [n_files] */
    int n_files, cap_files;
    st_tensor *t;      /* [n_t], file by file, header order within a file */
    uint64_t *hdr_off; /* [n_t]: file offset of each tensor's key in its header */
    int64_t n_t, cap_t;
    st_name *sorted; /* [n_t]: the names, sorted */
    uint64_t total_bytes;
};

/* Checks the file f (its map already set) and appends its tensors to s.
 * Names are not yet checked for uniqueness: st_set_finish does that for all
 * files together. */
tk_status st_parse_file(st_set *s, st_file *f);

/* Checks the bytes of a JSON document that cJSON is about to parse (the
 * index file): UTF-8, no control bytes, no "\u0000", nesting of at most
 * max_depth and at most max_values values, so that the parse tree stays
 * proportional to the input. Messages name `path` and the offset. */
tk_status st_json_precheck(const char *path, const uint8_t *p, uint64_t n, int max_depth,
                           int64_t max_values);

/* True when the n bytes at s are valid UTF-8 (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF); otherwise *bad is the offset of
 * the first invalid byte. */
bool st_utf8_valid(const uint8_t *s, size_t n, size_t *bad);

/* Copies n bytes of a name into dst for a message: control bytes become '?',
 * long names are cut with "...". */
void st_printable(char *dst, size_t cap, const char *s, size_t n);

#endif
