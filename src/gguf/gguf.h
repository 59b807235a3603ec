/* Internal pieces of the GGUF module shared by the reader, the writer and the
 * file mapping: the parsed representation of a file and the limits the
 * reader enforces. */
#ifndef TK_GGUF_INTERNAL_H
#define TK_GGUF_INTERNAL_H

#include "tektra/gguf.h"

#include "core/core.h"

#define GGUF_MAGIC             0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_VERSION_MIN       2u
#define GGUF_VERSION_MAX       3u
#define GGUF_DEFAULT_ALIGNMENT 32u

/* Limits of the reader (and the writer, so it never writes what the reader
 * refuses). Real files stay far below them; they exist so that a hostile
 * file cannot make us allocate or scan more than it could sensibly hold. */
#define GGUF_MAX_NAME      1024u         /* bytes of a key or tensor name */
#define GGUF_MAX_STRING    (64ull << 20) /* bytes of one string value or element */
#define GGUF_MAX_ALIGNMENT (1u << 20)    /* general.alignment upper bound */
#define GGUF_MAX_DIMS      4

/* Smallest possible encodings, used to bound counts by the bytes left before
 * anything is allocated for them. */
#define GGUF_MIN_KV_BYTES     14u /* key length 8 + key 1 + type 4 + u8 value 1 */
#define GGUF_MIN_TENSOR_BYTES 33u /* name len 8 + name 1 + n_dims 4 + ne 8 + type 4 + offset 8 */

/* A file mapping (or a borrowed memory range when handle is NULL). */
typedef struct gguf_map {
    const uint8_t *data;
    uint64_t size;
    void *handle;
} gguf_map;

/* Maps `path` read-only. TK_ERR_NOT_FOUND / TK_ERR_IO / TK_ERR_FORMAT (empty
 * file) / TK_ERR_LIMIT with a message naming the path. */
tk_status gguf_map_file(const char *path, gguf_map *m);
/* Unmaps what gguf_map_file mapped; a zeroed or borrowed map is fine. */
void gguf_unmap(gguf_map *m);

/* One metadata entry as parsed. Names and string values are NUL-terminated
 * copies in the arena of the tk_gguf, kept as offsets because the arena grows
 * while the file is parsed; `raw` points into the file. */
typedef struct gguf_kv {
    uint64_t key_off, key_len;
    uint64_t pos; /* file offset of the entry (its key length field) */
    tk_gguf_type type;
    tk_gguf_type arr_type;     /* arrays: element type */
    uint64_t arr_len;          /* arrays: element count */
    const uint8_t *raw;        /* fixed-size scalars: the value; numeric arrays: element 0 */
    uint64_t str_off, str_len; /* string values */
    uint64_t str_first;        /* string arrays: index of element 0 in tk_gguf.str_off */
} gguf_kv;

/* A name (key or tensor name) in the arena and the index it belongs to. */
typedef struct gguf_name {
    const char *s;
    uint64_t n;
    int64_t idx;
} gguf_name;

typedef struct gguf_tensor {
    tk_gguf_tensor pub; /* what tk_gguf_tensor_at() hands out */
    uint64_t name_off, name_len;
    uint64_t pos; /* file offset of the tensor info */
} gguf_tensor;

struct tk_gguf {
    gguf_map map;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;

    gguf_kv *kv; /* [n_kv] */
    int64_t n_kv;

    gguf_tensor *tensors; /* [n_tensors] */
    int64_t n_tensors;

    /* All strings, each NUL-terminated, back to back. */
    char *arena;
    uint64_t arena_len, arena_cap;
    /* String array elements: element j of kv i starts at
     * arena + str_off[kv[i].str_first + j] and its NUL lies one byte before
     * the next entry; each array has arr_len + 1 entries. */
    uint64_t *str_off;
    uint64_t n_str_off, cap_str_off;

    /* Keys and tensor names sorted by their bytes, for lookups by binary
     * search and the duplicate check. Sorting keeps both O(n log n) whatever
     * names a file chooses (a hash table can be forced into collisions). */
    gguf_name *kv_sorted;     /* [n_kv] */
    gguf_name *tensor_sorted; /* [n_tensors] */

    /* Virtual files (gguf_open_virtual): the map holds only the header, the
     * tensor data lives elsewhere (virt_data[i] for tensor i), and `release`
     * frees what owns it when the handle closes. */
    uint64_t virt_size; /* size the header claims for the whole file; 0 = real file */
    const void **virt_data;
    uint8_t *virt_header; /* owned copy of the header bytes */
    void *owner;
    void (*release)(void *owner);
};

/* ---- virtual files -------------------------------------------------------
 * A model that is not a GGUF file (a model directory) is presented to the
 * rest of the engine as a tk_gguf built in memory: the writer serializes the
 * metadata and tensor infos, the reader validates them as it validates a
 * file, and each tensor's data pointer is the one given to the writer. */

/* Lets `w` take tensors of the engine's own types (TK_TYPE_MLX_*), which
 * tk_gguf_writer_write() still refuses to put in a file. */
void gguf_writer_allow_engine_types(tk_gguf_writer *w);
/* Whether g was made by gguf_open_virtual (its tensors are not one file). */
static inline bool gguf_is_virtual(const tk_gguf *g)
{
    return g->virt_size != 0;
}

/* Whether `key` has been set. */
bool gguf_writer_has_key(const tk_gguf_writer *w, const char *key);

/* The header image of what `w` would write (*header, malloc'd), the size the
 * whole file would have and the data pointers of its tensors in order
 * (*data, malloc'd; borrowed pointers). */
tk_status gguf_writer_image(tk_gguf_writer *w, uint8_t **header, size_t *header_len,
                            uint64_t *total_size, const void ***data);

/* Opens what `w` holds as a tk_gguf. The tensor data stays where the writer's
 * pointers point: `owner` (released with release(owner) when the handle is
 * closed, also on failure) must keep it alive. `w` may be freed afterwards. */
tk_status gguf_open_virtual(tk_gguf_writer *w, void *owner, void (*release)(void *owner),
                            tk_gguf **out);

/* Size in bytes of one value of a fixed-size type; 0 for string, array and
 * unknown types. */
size_t gguf_type_size(tk_gguf_type type);

/* Little-endian loads from possibly unaligned bytes. */
static inline uint16_t gguf_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}
static inline uint32_t gguf_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t gguf_rd64(const uint8_t *p)
{
    return (uint64_t)gguf_rd32(p) | (uint64_t)gguf_rd32(p + 4) << 32;
}

#endif
