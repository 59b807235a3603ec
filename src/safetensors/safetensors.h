/* A strict reader for safetensors files (one file, or the shards of a model
 * directory) and a small writer for tests and tools. Internal to the library:
 * other modules include "safetensors/safetensors.h".
 *
 * Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
 * header length N, N bytes of UTF-8 JSON, then the data section. The JSON is
 * an object mapping each tensor name to {"dtype", "shape", "data_offsets":
 * [begin, end]} (offsets relative to the data section), plus an optional
 * "__metadata__" object of string values.
 *
 * The reader refuses anything it cannot prove in bounds: every failure is a
 * status with a message (tk_last_error()) naming the file, the tensor or
 * field and the byte offset where there is one. Memory follows the size of
 * the header, never a count or size a file claims. */
#ifndef TK_SAFETENSORS_H
#define TK_SAFETENSORS_H

#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

/* Limits of the reader, enforced by the writer too. Real files stay far
 * below them. */
#define ST_MAX_DIMS        8
#define ST_MAX_HEADER      (100ull << 20) /* bytes of JSON header */
#define ST_MAX_NAME        1024u          /* bytes of a tensor name */
#define ST_MAX_TENSORS     (1 << 20)      /* tensors in a file or a whole model */
#define ST_MAX_METADATA    (1 << 16)      /* "__metadata__" entries in a file */
#define ST_MAX_SHARDS      4096           /* files of one model */
#define ST_MAX_INDEX_BYTES (64ull << 20)  /* model.safetensors.index.json */
#define ST_MAX_INT         (1ull << 53)   /* largest shape or offset value (exact in JSON) */

typedef enum st_dtype {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_U16,
    ST_I16,
    ST_F16,
    ST_BF16,
    ST_U32,
    ST_I32,
    ST_F32,
    ST_U64,
    ST_I64,
    ST_F64,
    ST_F8_E4M3,
    ST_F8_E5M2,
    ST_DTYPE_COUNT
} st_dtype;

/* The dtype's name as the file spells it ("BF16"); "?" when out of range. */
const char *st_dtype_name(st_dtype t);
/* Bytes of one element; 0 when out of range. */
size_t st_dtype_size(st_dtype t);

typedef struct st_tensor {
    const char *name; /* NUL-terminated, borrowed: lives as long as the st_set */
    st_dtype dtype;
    int n_dims;                 /* 0..ST_MAX_DIMS (0 = scalar) */
    int64_t shape[ST_MAX_DIMS]; /* as in the file: shape[0] outermost (row-major, C order) */
    int64_t n_elem;             /* product of the shape (1 for a scalar) */
    const void *data;           /* borrowed view into the mapped file; not aligned in general */
    uint64_t size;              /* bytes: n_elem * st_dtype_size(dtype) */
    const char *file;           /* path of the file it lives in (borrowed; "<memory>" for memory) */
} st_tensor;

/* One file, or all shards of a model. Tensors are numbered file by file (the
 * shards sorted by file name), in header order within a file. */
typedef struct st_set st_set;

/* Maps and checks one file. On failure *out is NULL. */
tk_status st_open_file(const char *path, st_set **out);
/* Checks `size` bytes at `data`, which are borrowed and must outlive the set
 * (for the fuzzer and tests). */
tk_status st_open_memory(const void *data, size_t size, st_set **out);
/* A model directory: model.safetensors.index.json ("weight_map": name -> shard
 * file) when present, else model.safetensors, else every *.safetensors file
 * in the directory (sorted by name). TK_ERR_NOT_FOUND, with a message naming
 * the directory, when there is none. Names must be unique across shards;
 * every name in the weight_map must be in the shard it names; tensors of a
 * shard that the map does not list are included. */
tk_status st_open_dir(const char *dir, st_set **out);
/* Unmaps and frees everything; NULL is fine. */
void st_close(st_set *s);

int64_t st_count(const st_set *s);
/* Tensor i (0 <= i < st_count), borrowed; NULL when out of range. */
const st_tensor *st_at(const st_set *s, int64_t i);
/* The tensor named `name`, borrowed; NULL when absent. Binary search over the
 * names sorted once at open. */
const st_tensor *st_find(const st_set *s, const char *name);
/* The "__metadata__" string value of `key` in the first file (in tensor
 * order) that has it, borrowed; NULL if absent. */
const char *st_metadata(const st_set *s, const char *key);
/* Sum of the sizes of the files (or of the memory range). */
uint64_t st_total_bytes(const st_set *s);

/* The writer: tensors go to the header in insertion order and their data
 * back to back after it; the header is padded with spaces so that the data
 * section starts at a multiple of 8 bytes. It refuses whatever the reader
 * would refuse. */
typedef struct st_writer st_writer;

tk_status st_writer_create(st_writer **out);
/* NULL is fine. */
void st_writer_free(st_writer *w);
/* Adds a tensor; `name` and `shape` are copied, `data` (size bytes, which must
 * be the element count times the dtype size) is borrowed until
 * st_writer_write returns. */
tk_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int n_dims,
                        const int64_t *shape, const void *data, uint64_t size);
/* Sets (or replaces) a "__metadata__" entry; both strings are copied. */
tk_status st_writer_set_metadata(st_writer *w, const char *key, const char *value);
/* Writes the file to a temporary name beside `path`, fsyncs it and renames it
 * into place. */
tk_status st_writer_write(st_writer *w, const char *path);

#endif
