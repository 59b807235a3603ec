/* tektra GGUF: a strict reader and a writer for GGUF model files (v2, v3).
 *
 * The reader maps the file and validates every count, length, type, offset
 * and size before anything is used; a bad file gives TK_ERR_FORMAT (or
 * TK_ERR_UNSUPPORTED, TK_ERR_OVERFLOW, TK_ERR_LIMIT) and a message with the
 * byte offset, never a crash. All views it hands out (strings, tensor data)
 * live as long as the tk_gguf.
 */
#ifndef TEKTRA_GGUF_H
#define TEKTRA_GGUF_H

#include "tektra/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Metadata value types, numbered as in the GGUF specification. */
typedef enum tk_gguf_type {
    TK_GGUF_UINT8 = 0,
    TK_GGUF_INT8 = 1,
    TK_GGUF_UINT16 = 2,
    TK_GGUF_INT16 = 3,
    TK_GGUF_UINT32 = 4,
    TK_GGUF_INT32 = 5,
    TK_GGUF_FLOAT32 = 6,
    TK_GGUF_BOOL = 7,
    TK_GGUF_STRING = 8,
    TK_GGUF_ARRAY = 9,
    TK_GGUF_UINT64 = 10,
    TK_GGUF_INT64 = 11,
    TK_GGUF_FLOAT64 = 12,
    TK_GGUF_TYPE_COUNT
} tk_gguf_type;

/* Name of a value type ("u32", "string", ...), "?" when out of range. */
const char *tk_gguf_type_name(tk_gguf_type type);

typedef struct tk_gguf tk_gguf;

/* A tensor of the file. `data` points into the mapping, `size` bytes. */
typedef struct tk_gguf_tensor {
    const char *name; /* NUL-terminated, borrowed */
    int type;         /* a tk_type (see tektra/quant.h) */
    int n_dims;       /* 1..4 */
    int64_t ne[4];    /* elements per dimension, ne[0] is the row length; unused = 1 */
    uint64_t offset;  /* byte offset of the data from the start of the file */
    uint64_t size;    /* bytes of data */
    const void *data; /* borrowed view into the mapped file */
} tk_gguf_tensor;

/* Opens and validates a GGUF file (memory-mapped). On success *out owns the
 * mapping; free with tk_gguf_close(). On failure *out is NULL and
 * tk_last_error() names the path, the item, the problem and its byte offset.
 *
 * What is checked: magic and version (2 or 3; version 1 and byte-swapped
 * big-endian files are refused as such); counts against the bytes left;
 * every string and array length against the bytes left; keys and tensor
 * names non-empty, without NUL bytes, at most 1024 bytes and unique; string
 * values at most 64 MiB; no nested arrays; bool values 0 or 1;
 * general.alignment a u32 power of two up to 1 MiB (default 32); tensors
 * with 1..4 dimensions, each >= 1, a known type, a row length that is a
 * multiple of the type's block size, no element-count or size overflow, an
 * aligned offset, data inside the file and not overlapping another tensor's.
 * Memory used is proportional to the metadata, never to a count the file
 * merely claims. */
tk_status tk_gguf_open(const char *path, tk_gguf **out);

/* Same as tk_gguf_open on `size` bytes in memory. `data` is borrowed and must
 * outlive the handle. Used by the fuzzer and tests. */
tk_status tk_gguf_open_memory(const void *data, size_t size, tk_gguf **out);

void tk_gguf_close(tk_gguf *g);

uint32_t tk_gguf_version(const tk_gguf *g);
uint64_t tk_gguf_file_size(const tk_gguf *g);
uint32_t tk_gguf_alignment(const tk_gguf *g);
uint64_t tk_gguf_data_offset(const tk_gguf *g); /* start of the tensor data section */

/* ---- metadata ---------------------------------------------------------- */

/* Entries are numbered 0..n_kv-1 in file order. Every accessor checks its
 * index: an out-of-range i gives NULL / false / TK_GGUF_TYPE_COUNT / 0. */
int64_t tk_gguf_n_kv(const tk_gguf *g);
/* Index of `key`, or -1 when absent (hash lookup). */
int64_t tk_gguf_find_kv(const tk_gguf *g, const char *key);
const char *tk_gguf_kv_key(const tk_gguf *g, int64_t i); /* NUL-terminated, borrowed */
tk_gguf_type tk_gguf_kv_type(const tk_gguf *g, int64_t i);
/* For TK_GGUF_ARRAY values: element type and count (TK_GGUF_TYPE_COUNT and 0
 * otherwise). */
tk_gguf_type tk_gguf_kv_arr_type(const tk_gguf *g, int64_t i);
uint64_t tk_gguf_kv_arr_len(const tk_gguf *g, int64_t i);

/* Scalar value of kv i converted to the requested form. Integers: any
 * integer type whose value fits. Floats: f32 or f64. Returns false when the
 * kv is not of a compatible type or does not fit. */
bool tk_gguf_kv_int(const tk_gguf *g, int64_t i, int64_t *out);
bool tk_gguf_kv_uint(const tk_gguf *g, int64_t i, uint64_t *out);
bool tk_gguf_kv_float(const tk_gguf *g, int64_t i, double *out);
bool tk_gguf_kv_bool(const tk_gguf *g, int64_t i, bool *out);
/* String value: pointer (NUL-terminated copy, borrowed) and length. */
bool tk_gguf_kv_str(const tk_gguf *g, int64_t i, const char **s, uint64_t *len);

/* Array element j of kv i (bounds-checked; false when out of range or of
 * another element type). Integers: any integer element type whose value
 * fits; floats: f32 or f64 elements. */
bool tk_gguf_arr_int(const tk_gguf *g, int64_t i, uint64_t j, int64_t *out);
bool tk_gguf_arr_uint(const tk_gguf *g, int64_t i, uint64_t j, uint64_t *out);
bool tk_gguf_arr_float(const tk_gguf *g, int64_t i, uint64_t j, double *out);
bool tk_gguf_arr_bool(const tk_gguf *g, int64_t i, uint64_t j, bool *out);
/* String element: NUL-terminated copy (borrowed) and its length (elements may
 * contain NUL bytes; `len` is the whole length). O(1). */
bool tk_gguf_arr_str(const tk_gguf *g, int64_t i, uint64_t j, const char **s, uint64_t *len);
/* Raw bytes of a numeric array (elements little-endian, possibly unaligned). */
const void *tk_gguf_arr_data(const tk_gguf *g, int64_t i);

/* Typed lookups by key. TK_ERR_NOT_FOUND when the key is absent;
 * TK_ERR_FORMAT (with a message naming key, found type and expected type)
 * when it has the wrong type or an out-of-range value. */
tk_status tk_gguf_get_u32(const tk_gguf *g, const char *key, uint32_t *out);
tk_status tk_gguf_get_f32(const tk_gguf *g, const char *key, float *out);
tk_status tk_gguf_get_bool(const tk_gguf *g, const char *key, bool *out);
tk_status tk_gguf_get_str(const tk_gguf *g, const char *key, const char **out);

/* ---- tensors ----------------------------------------------------------- */

int64_t tk_gguf_n_tensors(const tk_gguf *g);
const tk_gguf_tensor *tk_gguf_tensor_at(const tk_gguf *g, int64_t i);
/* NULL when absent. */
const tk_gguf_tensor *tk_gguf_find_tensor(const tk_gguf *g, const char *name);

/* ---- writer ------------------------------------------------------------ */

typedef struct tk_gguf_writer tk_gguf_writer;

tk_status tk_gguf_writer_create(tk_gguf_writer **out);
void tk_gguf_writer_free(tk_gguf_writer *w);

/* Setting a key that was already set replaces it. Strings are copied. */
tk_status tk_gguf_writer_set_u32(tk_gguf_writer *w, const char *key, uint32_t v);
tk_status tk_gguf_writer_set_i32(tk_gguf_writer *w, const char *key, int32_t v);
tk_status tk_gguf_writer_set_u64(tk_gguf_writer *w, const char *key, uint64_t v);
tk_status tk_gguf_writer_set_f32(tk_gguf_writer *w, const char *key, float v);
tk_status tk_gguf_writer_set_bool(tk_gguf_writer *w, const char *key, bool v);
tk_status tk_gguf_writer_set_str(tk_gguf_writer *w, const char *key, const char *v);
/* Scalar of any fixed-size `type` (not string or array); `v` points to a
 * host value of the matching C type (uint8_t, int16_t, float, double, bool,
 * ...). Bool values must be 0 or 1. */
tk_status tk_gguf_writer_set_scalar(tk_gguf_writer *w, const char *key, tk_gguf_type type,
                                    const void *v);
/* Numeric array of `n` elements of `type`, host values of the matching C type
 * (copied). */
tk_status tk_gguf_writer_set_arr(tk_gguf_writer *w, const char *key, tk_gguf_type type,
                                 const void *data, uint64_t n);
tk_status tk_gguf_writer_set_arr_str(tk_gguf_writer *w, const char *key, const char *const *strs,
                                     uint64_t n);
/* Copies kv i of reader g (any type, arrays included). */
tk_status tk_gguf_writer_copy_kv(tk_gguf_writer *w, const tk_gguf *g, int64_t i);

/* Adds a tensor. `data` (`size` bytes, which must equal the size implied by
 * type and shape) is borrowed until tk_gguf_writer_write() returns. */
tk_status tk_gguf_writer_add_tensor(tk_gguf_writer *w, const char *name, int type, int n_dims,
                                    const int64_t *ne, const void *data, uint64_t size);

/* Writes the file (version 3, alignment from general.alignment or 32) to a
 * temporary name beside `path` and renames it into place, so `path` is never
 * left half-written. */
tk_status tk_gguf_writer_write(tk_gguf_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
