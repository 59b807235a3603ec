/* safetensors reader and writer tests: the writer round-trips every dtype,
 * scalars, empty tensors and metadata; the MLX files in the shared data
 * open; sharded directories open with and without an index; and a corpus of
 * malformed files and directories (every truncation, bad lengths, bad JSON,
 * wrong types, bad numbers, overlaps, duplicates, bad indexes) fails cleanly
 * with a message naming the problem. */
#include "check.h"

#include "core/core.h"
#include "safetensors/safetensors.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

typedef unsigned long long ull;

static char tmp_dir[256];

/* ---- helpers ----------------------------------------------------------- */

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *load(const char *path, size_t *len)
{
    char *buf = NULL;
    tk_status st = core_read_file(path, (size_t)1 << 30, &buf, len);
    CHECK_MSG(st == TK_OK, "%s: %s", path, tk_last_error());
    return (uint8_t *)buf;
}

static void save(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot create %s", path);
    if (!f) return;
    CHECK(fwrite(p, 1, n, f) == n);
    fclose(f);
}

static const char *tmp_path(const char *name)
{
    static char buf[8][512];
    static int next;
    char *out = buf[next++ % 8];
    snprintf(out, sizeof buf[0], "%s/%s", tmp_dir, name);
    return out;
}

/* A file in memory: the 8-byte length, `json` and `dlen` bytes of data
 * (byte i is i & 0xff). Caller frees. */
static uint8_t *mk(const char *json, size_t dlen, size_t *n)
{
    size_t jl = strlen(json);
    *n = 8 + jl + dlen;
    uint8_t *b = malloc(*n);
    put64(b, jl);
    memcpy(b + 8, json, jl);
    for (size_t i = 0; i < dlen; i++) b[8 + jl + i] = (uint8_t)i;
    return b;
}

/* Sanity of everything an accepted set hands out. */
static void sweep(const st_set *s)
{
    for (int64_t i = 0; i < st_count(s); i++) {
        const st_tensor *t = st_at(s, i);
        CHECK(t && st_find(s, t->name) == t);
        int64_t n = 1;
        for (int d = 0; d < t->n_dims; d++) n *= t->shape[d];
        CHECK_INT(t->n_elem, n);
        CHECK_INT(t->size, (uint64_t)n * st_dtype_size(t->dtype));
        if (t->size) {
            volatile uint8_t sink = ((const uint8_t *)t->data)[t->size - 1];
            (void)sink;
        }
    }
    CHECK(st_at(s, st_count(s)) == NULL && st_at(s, -1) == NULL);
}

/* Opens n bytes from an exact-size heap copy (so the sanitizer sees any read
 * past the end); the message goes to msg. */
static tk_status try_open(const uint8_t *data, size_t n, char *msg, size_t cap)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, data, n);
    st_set *s = (st_set *)(uintptr_t)1;
    tk_status st = st_open_memory(copy, n, &s);
    core_strlcpy(msg, st == TK_OK ? "" : tk_last_error(), cap);
    if (st == TK_OK)
        sweep(s);
    else
        CHECK(s == NULL);
    st_close(s);
    free(copy);
    return st;
}

/* Expects the file (json + dlen data bytes) to be refused with `status` and
 * a message containing `needle`. */
static void expect_fail_(const char *file, int line, const char *json, size_t dlen,
                         tk_status status, const char *needle)
{
    size_t n;
    uint8_t *b = mk(json, dlen, &n);
    char msg[1024];
    tk_status st = try_open(b, n, msg, sizeof msg);
    free(b);
    if (st != status || !strstr(msg, needle) || !strstr(msg, "<memory>")) {
        check_failed_++;
        fprintf(stderr, "%s:%d: %s: status %s, message \"%s\"; expected %s, \"%s\"\n", file, line,
                json, tk_status_str(st), msg, tk_status_str(status), needle);
    } else {
        check_passed_++;
    }
}
#define expect_fail(json, dlen, status, needle)                                                    \
    expect_fail_(__FILE__, __LINE__, json, dlen, status, needle)

static void expect_ok_(const char *file, int line, const char *json, size_t dlen, int64_t count)
{
    size_t n;
    uint8_t *b = mk(json, dlen, &n);
    st_set *s = NULL;
    tk_status st = st_open_memory(b, n, &s);
    if (st != TK_OK || st_count(s) != count) {
        check_failed_++;
        fprintf(stderr, "%s:%d: %s: status %s (%s), %lld tensors, expected %lld\n", file, line,
                json, tk_status_str(st), st ? tk_last_error() : "", (long long)st_count(s),
                (long long)count);
    } else {
        check_passed_++;
        sweep(s);
    }
    st_close(s);
    free(b);
}
#define expect_ok(json, dlen, count) expect_ok_(__FILE__, __LINE__, json, dlen, count)

/* ---- dtypes and the writer --------------------------------------------- */

static void test_dtypes(void)
{
    static const char *names[ST_DTYPE_COUNT] = {"BOOL", "U8",   "I8",  "U16",     "I16",
                                                "F16",  "BF16", "U32", "I32",     "F32",
                                                "U64",  "I64",  "F64", "F8_E4M3", "F8_E5M2"};
    static const size_t sizes[ST_DTYPE_COUNT] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8, 1, 1};
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        CHECK_STR(st_dtype_name((st_dtype)i), names[i]);
        CHECK_INT(st_dtype_size((st_dtype)i), sizes[i]);
    }
    CHECK_STR(st_dtype_name(ST_DTYPE_COUNT), "?");
    CHECK_INT(st_dtype_size(ST_DTYPE_COUNT), 0);
}

static void test_writer_roundtrip(void)
{
    st_writer *w = NULL;
    CHECK(st_writer_create(&w) == TK_OK);
    /* one tensor of every dtype, [2, 3] */
    static uint8_t bytes[ST_DTYPE_COUNT][48];
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        for (int k = 0; k < 48; k++) bytes[i][k] = (uint8_t)(i * 16 + k);
        char name[32];
        snprintf(name, sizeof name, "t.%s", st_dtype_name((st_dtype)i));
        int64_t shape[2] = {2, 3};
        tk_status st =
            st_writer_add(w, name, (st_dtype)i, 2, shape, bytes[i], 6 * st_dtype_size((st_dtype)i));
        CHECK_MSG(st == TK_OK, "%s: %s", name, tk_last_error());
    }
    static const float scalar = 3.5f;
    CHECK(st_writer_add(w, "scalar", ST_F32, 0, NULL, &scalar, 4) == TK_OK);
    int64_t empty_shape[3] = {4, 0, 2};
    CHECK(st_writer_add(w, "empty", ST_BF16, 3, empty_shape, NULL, 0) == TK_OK);
    static const uint8_t odd[3] = {7, 8, 9};
    int64_t odd_shape[1] = {3};
    const char *odd_name = "we\"ird\\ na\xc3\xa9me\n\x01";
    CHECK(st_writer_add(w, odd_name, ST_U8, 1, odd_shape, odd, 3) == TK_OK);
    int64_t eight[8] = {1, 2, 1, 1, 1, 1, 1, 2};
    static const uint16_t h8[4] = {1, 2, 3, 4};
    CHECK(st_writer_add(w, "eight.dims", ST_F16, 8, eight, h8, 8) == TK_OK);
    CHECK(st_writer_set_metadata(w, "format", "pt") == TK_OK);
    CHECK(st_writer_set_metadata(w, "note", "first") == TK_OK);
    CHECK(st_writer_set_metadata(w, "note", "quoted \"\xe2\x9c\x93\"") == TK_OK);
    CHECK(st_writer_set_metadata(w, "", "empty key") == TK_OK);

    /* refusals */
    int64_t s1[1] = {4};
    CHECK(st_writer_add(w, "bad.size", ST_F32, 1, s1, bytes[0], 15) == TK_ERR_INVALID_ARG);
    CHECK_CONTAINS(tk_last_error(), "bad.size");
    CHECK(st_writer_add(w, "", ST_F32, 1, s1, bytes[0], 16) == TK_ERR_INVALID_ARG);
    CHECK(st_writer_add(w, "__metadata__", ST_F32, 1, s1, bytes[0], 16) == TK_ERR_INVALID_ARG);
    CHECK(st_writer_add(w, "bad\xff", ST_F32, 1, s1, bytes[0], 16) == TK_ERR_INVALID_ARG);
    CHECK(st_writer_add(w, "dims", ST_F32, 9, eight, bytes[0], 4) == TK_ERR_INVALID_ARG);
    int64_t neg[1] = {-1};
    CHECK(st_writer_add(w, "neg", ST_F32, 1, neg, bytes[0], 0) == TK_ERR_INVALID_ARG);
    CHECK(st_writer_add(w, "dtype", ST_DTYPE_COUNT, 1, s1, bytes[0], 16) == TK_ERR_INVALID_ARG);
    CHECK(st_writer_set_metadata(w, "k", "bad\xc0\x80") == TK_ERR_INVALID_ARG);

    const char *path = tmp_path("round.safetensors");
    tk_status st = st_writer_write(w, path);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    st_writer_free(w);
    st_writer_free(NULL);

    size_t n = 0;
    uint8_t *raw = load(path, &n);
    if (!raw) return;
    CHECK_INT((8 + get64(raw)) % 8, 0);
    CHECK(raw[8] == '{');

    for (int pass = 0; pass < 2; pass++) {
        st_set *s = NULL;
        st = pass == 0 ? st_open_file(path, &s) : st_open_memory(raw, n, &s);
        CHECK_MSG(st == TK_OK, "%s", tk_last_error());
        if (st) continue;
        CHECK_INT(st_count(s), ST_DTYPE_COUNT + 4);
        CHECK_INT(st_total_bytes(s), n);
        for (int i = 0; i < ST_DTYPE_COUNT; i++) {
            const st_tensor *t = st_at(s, i);
            char name[32];
            snprintf(name, sizeof name, "t.%s", st_dtype_name((st_dtype)i));
            CHECK_STR(t->name, name);
            CHECK(st_find(s, name) == t);
            CHECK_INT(t->dtype, i);
            CHECK_INT(t->n_dims, 2);
            CHECK_INT(t->shape[0], 2);
            CHECK_INT(t->shape[1], 3);
            CHECK_INT(t->n_elem, 6);
            CHECK_INT(t->size, 6 * st_dtype_size((st_dtype)i));
            CHECK(memcmp(t->data, bytes[i], (size_t)t->size) == 0);
            CHECK_STR(t->file, pass == 0 ? path : "<memory>");
        }
        const st_tensor *t = st_find(s, "scalar");
        CHECK(t && t->n_dims == 0 && t->n_elem == 1 && t->size == 4);
        if (t) CHECK(memcmp(t->data, &scalar, 4) == 0);
        t = st_find(s, "empty");
        CHECK(t && t->n_dims == 3 && t->n_elem == 0 && t->size == 0 && t->shape[1] == 0);
        t = st_find(s, odd_name);
        CHECK(t && t->size == 3 && memcmp(t->data, odd, 3) == 0);
        t = st_find(s, "eight.dims");
        CHECK(t && t->n_dims == 8 && t->shape[7] == 2 && t->n_elem == 4);
        CHECK(st_find(s, "absent") == NULL && st_find(s, "") == NULL && st_find(s, NULL) == NULL);
        CHECK_STR(st_metadata(s, "format"), "pt");
        CHECK_STR(st_metadata(s, "note"), "quoted \"\xe2\x9c\x93\"");
        CHECK_STR(st_metadata(s, ""), "empty key");
        CHECK(st_metadata(s, "absent") == NULL);
        st_close(s);
    }

    /* duplicate names are refused at write time, and nothing is left behind */
    CHECK(st_writer_create(&w) == TK_OK);
    CHECK(st_writer_add(w, "a", ST_U8, 1, odd_shape, odd, 3) == TK_OK);
    CHECK(st_writer_add(w, "b", ST_U8, 1, odd_shape, odd, 3) == TK_OK);
    CHECK(st_writer_add(w, "a", ST_U8, 1, odd_shape, odd, 3) == TK_OK);
    CHECK(st_writer_write(w, tmp_path("dup.safetensors")) == TK_ERR_INVALID_ARG);
    CHECK_CONTAINS(tk_last_error(), "'a' was added twice");
    CHECK(access(tmp_path("dup.safetensors"), F_OK) != 0);
    st_writer_free(w);

    /* an empty writer makes "{}" padded to 8 */
    CHECK(st_writer_create(&w) == TK_OK);
    CHECK(st_writer_write(w, tmp_path("empty.safetensors")) == TK_OK);
    st_writer_free(w);
    free(raw);
    raw = load(tmp_path("empty.safetensors"), &n);
    CHECK_INT(n, 16);
    if (raw) CHECK(get64(raw) == 8 && memcmp(raw + 8, "{}      ", 8) == 0);
    st_set *s = NULL;
    CHECK(st_open_file(tmp_path("empty.safetensors"), &s) == TK_OK && st_count(s) == 0);
    st_close(s);
    st_close(NULL);
    free(raw);
}

/* ---- the MLX files of the shared data ---------------------------------- */

static void test_shared_files(void)
{
    static const struct {
        const char *dir;
        int64_t count;
        const char *first;
        st_dtype first_dtype;
    } files[] = {
        {"oracle/mlx/llama-4bit-g32", 53, "model.embed_tokens.weight", ST_U32},
        {"oracle/mlx/llama-bf16", 21, "model.embed_tokens.weight", ST_BF16},
        {"oracle/mlx/qwen2-8bit", 59, "model.embed_tokens.weight", ST_U32},
        {"oracle/mlx/qwen3-4bit", 57, "model.embed_tokens.weight", ST_U32},
    };
    for (size_t i = 0; i < TK_ARRAY_LEN(files); i++) {
        const char *dir = shared_path(files[i].dir);
        char file[4200];
        snprintf(file, sizeof file, "%s/model.safetensors", dir);
        st_set *a = NULL, *b = NULL;
        tk_status st = st_open_dir(dir, &a);
        CHECK_MSG(st == TK_OK, "%s: %s", dir, tk_last_error());
        st = st_open_file(file, &b);
        CHECK_MSG(st == TK_OK, "%s: %s", file, tk_last_error());
        if (!a || !b) {
            st_close(a);
            st_close(b);
            continue;
        }
        CHECK_INT(st_count(a), files[i].count);
        CHECK_INT(st_count(b), files[i].count);
        struct stat sb;
        CHECK(stat(file, &sb) == 0 && st_total_bytes(a) == (uint64_t)sb.st_size);
        const st_tensor *t = st_at(a, 0);
        CHECK_STR(t->name, files[i].first);
        CHECK_INT(t->dtype, files[i].first_dtype);
        CHECK_INT(t->shape[0], 512);
        CHECK_STR(t->file, file);
        /* data sections are packed: the sizes add up to the file size */
        size_t n;
        uint8_t *raw = load(file, &n);
        uint64_t sum = 0;
        for (int64_t k = 0; k < st_count(a); k++) {
            const st_tensor *ta = st_at(a, k), *tb = st_at(b, k);
            CHECK_STR(ta->name, tb->name);
            CHECK(st_find(b, ta->name) == tb);
            sum += ta->size;
            CHECK_INT(ta->size, tb->size);
            if (ta->size) CHECK(memcmp(ta->data, tb->data, (size_t)ta->size) == 0);
            /* the view lies inside the file's data section */
            uint64_t off =
                (uint64_t)((const uint8_t *)tb->data - (const uint8_t *)st_at(b, 0)->data);
            if (raw) CHECK(8 + get64(raw) + off + tb->size <= n);
        }
        if (raw) CHECK_INT(sum, n - 8 - get64(raw));
        sweep(a);
        free(raw);
        st_close(a);
        st_close(b);
    }
}

/* ---- sharded directories ----------------------------------------------- */

static const float shard_data[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* Writes dir/file with tensors named in `names` (each F32 [2]), and
 * metadata key "shard" = file when meta is true. */
static void write_shard(const char *dir, const char *file, const char *const *names, int n,
                        bool meta)
{
    st_writer *w = NULL;
    CHECK(st_writer_create(&w) == TK_OK);
    int64_t shape[1] = {2};
    for (int i = 0; i < n; i++)
        CHECK(st_writer_add(w, names[i], ST_F32, 1, shape, shard_data + 2 * i, 8) == TK_OK);
    if (meta) CHECK(st_writer_set_metadata(w, "shard", file) == TK_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    tk_status st = st_writer_write(w, path);
    CHECK_MSG(st == TK_OK, "%s: %s", path, tk_last_error());
    st_writer_free(w);
}

static void write_text(const char *dir, const char *file, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    save(path, text, strlen(text));
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        remove(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* A fresh empty directory under tmp_dir. */
static const char *fresh_dir(const char *name)
{
    const char *dir = tmp_path(name);
    remove_dir(dir);
    CHECK(mkdir(dir, 0700) == 0);
    return dir;
}

static void expect_dir_fail_(const char *file, int line, const char *dir, tk_status status,
                             const char *needle1, const char *needle2)
{
    st_set *s = (st_set *)(uintptr_t)1;
    tk_status st = st_open_dir(dir, &s);
    const char *msg = st ? tk_last_error() : "";
    if (st != status || s != NULL || !strstr(msg, needle1) || (needle2 && !strstr(msg, needle2))) {
        check_failed_++;
        fprintf(stderr, "%s:%d: %s: status %s, message \"%s\"; expected %s, \"%s\" and \"%s\"\n",
                file, line, dir, tk_status_str(st), msg, tk_status_str(status), needle1,
                needle2 ? needle2 : "");
        if (st == TK_OK) st_close(s);
    } else {
        check_passed_++;
    }
}
#define expect_dir_fail(dir, status, n1, n2)                                                       \
    expect_dir_fail_(__FILE__, __LINE__, dir, status, n1, n2)

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"
#define INDEX  "model.safetensors.index.json"

static void test_sharded(void)
{
    const char *dir = fresh_dir("sharded");
    const char *n1[] = {"model.layers.0.w", "model.embed", "extra.not.in.map"};
    const char *n2[] = {"model.layers.1.w", "lm_head.weight"};
    write_shard(dir, SHARD2, n2, 2, true);
    write_shard(dir, SHARD1, n1, 3, true);
    write_text(dir, INDEX,
               "{\"metadata\": {\"total_size\": 40},\n \"weight_map\": {\n"
               "  \"model.embed\": \"" SHARD1 "\",\n"
               "  \"model.layers.0.w\": \"" SHARD1 "\",\n"
               "  \"model.layers.1.w\": \"" SHARD2 "\",\n"
               "  \"lm_head.weight\": \"" SHARD2 "\"}}\n");
    st_set *s = NULL;
    tk_status st = st_open_dir(dir, &s);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (s) {
        CHECK_INT(st_count(s), 5);
        /* shards sorted by name, header order within */
        CHECK_STR(st_at(s, 0)->name, "model.layers.0.w");
        CHECK_STR(st_at(s, 2)->name, "extra.not.in.map");
        CHECK_STR(st_at(s, 3)->name, "model.layers.1.w");
        const st_tensor *t = st_find(s, "lm_head.weight");
        CHECK(t && strstr(t->file, SHARD2) && t->size == 8);
        if (t) CHECK(memcmp(t->data, shard_data + 2, 8) == 0);
        t = st_find(s, "extra.not.in.map");
        CHECK(t && strstr(t->file, SHARD1));
        CHECK_STR(st_metadata(s, "shard"), SHARD1); /* the first shard that has it */
        struct stat a, b;
        char p1[1024], p2[1024];
        snprintf(p1, sizeof p1, "%s/%s", dir, SHARD1);
        snprintf(p2, sizeof p2, "%s/%s", dir, SHARD2);
        CHECK(stat(p1, &a) == 0 && stat(p2, &b) == 0);
        CHECK_INT(st_total_bytes(s), (uint64_t)(a.st_size + b.st_size));
        sweep(s);
        st_close(s);
    }

    /* without the index: every *.safetensors, sorted */
    char ipath[1024];
    snprintf(ipath, sizeof ipath, "%s/%s", dir, INDEX);
    remove(ipath);
    write_text(dir, ".hidden.safetensors", "junk");
    write_text(dir, "notes.txt", "junk");
    s = NULL;
    st = st_open_dir(dir, &s);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    CHECK_INT(st_count(s), 5);
    if (s) CHECK_STR(st_at(s, 0)->name, "model.layers.0.w");
    st_close(s);

    /* model.safetensors wins over the other files */
    const char *one[] = {"only"};
    write_shard(dir, "model.safetensors", one, 1, false);
    s = NULL;
    st = st_open_dir(dir, &s);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    CHECK_INT(st_count(s), 1);
    CHECK(st_metadata(s, "shard") == NULL);
    st_close(s);

    /* duplicates across shards (no index) */
    const char *dup_dir = fresh_dir("dup-shards");
    const char *d1[] = {"a", "same"};
    const char *d2[] = {"same", "b"};
    write_shard(dup_dir, "x1.safetensors", d1, 2, false);
    write_shard(dup_dir, "x2.safetensors", d2, 2, false);
    expect_dir_fail(dup_dir, TK_ERR_FORMAT, "tensor 'same' is in two files", "x2.safetensors");

    /* empty and missing directories */
    const char *empty = fresh_dir("empty");
    expect_dir_fail(empty, TK_ERR_NOT_FOUND, empty, "model.safetensors");
    expect_dir_fail(tmp_path("no-such-dir"), TK_ERR_NOT_FOUND, "no-such-dir", NULL);

    /* bad indexes */
    static const struct {
        const char *index;
        tk_status status;
        const char *n1, *n2;
    } bad[] = {
        {"{\"weight_map\": {\"model.embed\": \"../x.safetensors\"}}", TK_ERR_FORMAT,
         "'../x.safetensors'", "plain file name"},
        {"{\"weight_map\": {\"model.embed\": \"sub/x.safetensors\"}}", TK_ERR_FORMAT,
         "sub/x.safetensors", "plain file name"},
        {"{\"weight_map\": {\"model.embed\": \"a\\\\b\"}}", TK_ERR_FORMAT, "model.embed",
         "plain file name"},
        {"{\"weight_map\": {\"model.embed\": \"..\"}}", TK_ERR_FORMAT, "model.embed", "plain"},
        {"{\"weight_map\": {\"model.embed\": \"\"}}", TK_ERR_FORMAT, "model.embed", "plain"},
        {"{\"weight_map\": {\"model.embed\": \".x\"}}", TK_ERR_FORMAT, "model.embed", "plain"},
        {"{\"weight_map\": {\"model.embed\": \"missing.safetensors\"}}", TK_ERR_NOT_FOUND,
         "missing.safetensors", INDEX},
        {"{\"weight_map\": {\"model.embed\": \"" SHARD2 "\", \"lm_head.weight\": \"" SHARD1 "\"}}",
         TK_ERR_FORMAT, "'lm_head.weight' is mapped to '" SHARD1 "' but is in", SHARD2},
        {"{\"weight_map\": {\"nope\": \"" SHARD1 "\"}}", TK_ERR_FORMAT, "'nope' is mapped to",
         SHARD1 ", which has no such tensor"},
        {"{\"weight_map\": {\"model.embed\": \"" SHARD1 "\", \"model.embed\": \"" SHARD1 "\"}}",
         TK_ERR_FORMAT, "'model.embed' appears twice in the weight_map", INDEX},
        {"{\"weight_map\": {\"model.embed\": 3}}", TK_ERR_FORMAT, "'model.embed' is not a string",
         INDEX},
        {"{\"weight_map\": {}}", TK_ERR_FORMAT, "weight_map is empty", INDEX},
        {"{\"weight_map\": []}", TK_ERR_FORMAT, "no \"weight_map\" object", INDEX},
        {"{\"metadata\": {}}", TK_ERR_FORMAT, "no \"weight_map\" object", INDEX},
        {"[1]", TK_ERR_FORMAT, "not a JSON object", INDEX},
        {"{\"weight_map\": {\"model.embed\": \"" SHARD1 "\"} x", TK_ERR_FORMAT, "not valid JSON",
         INDEX},
        {"{\"weight_map\": {\"a\\u0000b\": \"" SHARD1 "\"}}", TK_ERR_FORMAT, "\\u0000", INDEX},
        {"{\"weight_map\": {\"\xff\": \"" SHARD1 "\"}}", TK_ERR_FORMAT, "UTF-8", INDEX},
        {"{\"a\":[[[[[[[[[[1]]]]]]]]]], \"weight_map\": {}}", TK_ERR_FORMAT, "nesting", INDEX},
    };
    const char *ix = fresh_dir("index");
    write_shard(ix, SHARD1, n1, 3, false);
    write_shard(ix, SHARD2, n2, 2, false);
    for (size_t i = 0; i < TK_ARRAY_LEN(bad); i++) {
        write_text(ix, INDEX, bad[i].index);
        expect_dir_fail(ix, bad[i].status, bad[i].n1, bad[i].n2);
    }
    /* the index names a shard with a duplicate of another shard's tensor */
    write_shard(ix, "model-dup.safetensors", d2, 2, false);
    write_shard(ix, "model-dup2.safetensors", d1, 2, false);
    write_text(ix, INDEX,
               "{\"weight_map\": {\"a\": \"model-dup2.safetensors\", \"b\": "
               "\"model-dup.safetensors\"}}");
    expect_dir_fail(ix, TK_ERR_FORMAT, "tensor 'same' is in two files", "model-dup");
    /* a broken shard: its message names the shard and the index */
    char bad_shard[1024];
    snprintf(bad_shard, sizeof bad_shard, "%s/model-bad.safetensors", ix);
    save(bad_shard, "\x03\0\0\0\0\0\0\0{}", 10); /* header length past the end */
    write_text(ix, INDEX, "{\"weight_map\": {\"a\": \"model-bad.safetensors\"}}");
    expect_dir_fail(ix, TK_ERR_FORMAT, "model-bad.safetensors", INDEX);
    /* a valid index again */
    write_text(ix, INDEX,
               "{\"weight_map\": {\"model.embed\": \"" SHARD1 "\", \"lm_head.weight\": \"" SHARD2
               "\"}}");
    s = NULL;
    st = st_open_dir(ix, &s);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    CHECK_INT(st_count(s), 5);
    st_close(s);
    remove_dir(ix);
    remove_dir(empty);
    remove_dir(dup_dir);
    remove_dir(dir);
}

/* ---- malformed files --------------------------------------------------- */

#define T1 "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"

static void test_truncations(void)
{
    st_writer *w = NULL;
    CHECK(st_writer_create(&w) == TK_OK);
    int64_t shape[2] = {2, 2};
    CHECK(st_writer_add(w, "a", ST_F32, 2, shape, shard_data, 16) == TK_OK);
    CHECK(st_writer_add(w, "b", ST_I8, 1, shape, shard_data, 2) == TK_OK);
    CHECK(st_writer_set_metadata(w, "k", "v") == TK_OK);
    CHECK(st_writer_write(w, tmp_path("trunc.safetensors")) == TK_OK);
    st_writer_free(w);
    size_t n;
    uint8_t *raw = load(tmp_path("trunc.safetensors"), &n);
    if (!raw) return;
    char msg[1024];
    CHECK(try_open(raw, n, msg, sizeof msg) == TK_OK);
    int refused = 0;
    for (size_t k = 0; k < n; k++) {
        tk_status st = try_open(raw, k, msg, sizeof msg);
        if (st != TK_OK && msg[0] && strstr(msg, "<memory>"))
            refused++;
        else
            fprintf(stderr, "truncation to %zu of %zu bytes: %s \"%s\"\n", k, n, tk_status_str(st),
                    msg);
    }
    CHECK_INT(refused, n);
    /* a longer file (trailing bytes after the data) is fine: gaps are allowed */
    uint8_t *longer = malloc(n + 5);
    memcpy(longer, raw, n);
    memset(longer + n, 0xee, 5);
    CHECK(try_open(longer, n + 5, msg, sizeof msg) == TK_OK);
    free(longer);
    free(raw);
}

static void test_lengths(void)
{
    char msg[1024];
    uint8_t b[32] = {0};
    memcpy(b + 8, "{}", 2);
    static const struct {
        uint64_t len;
        tk_status st;
        const char *needle;
    } cases[] = {
        {0, TK_ERR_FORMAT, "header length 0 is too small"},
        {1, TK_ERR_FORMAT, "header length 1 is too small"},
        {3, TK_ERR_FORMAT, "header length 3 runs past the end of the file (10 bytes)"},
        {(100ull << 20) + 1, TK_ERR_LIMIT, "over the limit"},
        {1ull << 40, TK_ERR_LIMIT, "over the limit"},
        {UINT64_MAX, TK_ERR_LIMIT, "over the limit"},
        {100ull << 20, TK_ERR_FORMAT, "runs past the end"},
    };
    for (size_t i = 0; i < TK_ARRAY_LEN(cases); i++) {
        put64(b, cases[i].len);
        tk_status st = try_open(b, 10, msg, sizeof msg);
        CHECK_MSG(st == cases[i].st && strstr(msg, cases[i].needle) && strstr(msg, "offset 0x0"),
                  "length %llu: %s \"%s\", expected \"%s\"", (ull)cases[i].len, tk_status_str(st),
                  msg, cases[i].needle);
    }
    put64(b, 2);
    CHECK(try_open(b, 10, msg, sizeof msg) == TK_OK);
    CHECK(try_open(b, 7, msg, sizeof msg) == TK_ERR_FORMAT);
    CHECK_CONTAINS(msg, "too short");
    CHECK(try_open(b, 0, msg, sizeof msg) == TK_ERR_FORMAT);
    CHECK(try_open(NULL, 0, msg, sizeof msg) == TK_ERR_FORMAT);
    st_set *s = (st_set *)(uintptr_t)1;
    CHECK(st_open_memory(NULL, 5, &s) == TK_ERR_INVALID_ARG && s == NULL);
    CHECK(st_open_memory(b, 10, NULL) == TK_ERR_INVALID_ARG);
    s = (st_set *)(uintptr_t)1;
    CHECK(st_open_file(tmp_path("absent.safetensors"), &s) == TK_ERR_NOT_FOUND && s == NULL);
    CHECK_CONTAINS(tk_last_error(), "absent.safetensors");
    CHECK(st_count(NULL) == 0 && st_at(NULL, 0) == NULL && st_find(NULL, "x") == NULL);
    CHECK(st_metadata(NULL, "x") == NULL && st_total_bytes(NULL) == 0);
}

/* A tensor entry "t" with the given fields. */
#define ENTRY(fields) "{\"t\":{" fields "}}"
#define DT            "\"dtype\":\"F32\""
#define SH            "\"shape\":[2]"
#define OFF           "\"data_offsets\":[0,8]"

static void test_malformed(void)
{
    /* good ones first: the corpus below is near these */
    expect_ok("{}", 0, 0);
    expect_ok("{}    ", 0, 0);
    expect_ok("{}", 100, 0);
    expect_ok(T1, 8, 1);
    expect_ok(T1 "        ", 8, 1);
    expect_ok("{ \"t\" :\n{\t\"shape\" : [ 2 ] ,\r\n \"data_offsets\":[0,8],\"dtype\":\"F32\"} }",
              8, 1);
    expect_ok("{\"__metadata__\":{\"a\":\"b\",\"c\":\"\\u00e9\\ud83d\\ude00\"},\"t\":{" DT "," SH
              "," OFF "}}",
              8, 1);
    expect_ok("{\"s\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[3,4]}}", 4, 1);
    expect_ok("{\"z\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
              "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
              "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}",
              4, 3);
    expect_ok("{\"b\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[6,8]},"
              "\"a\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[0,2]}}",
              8, 2); /* a gap */
    expect_ok("{\"t\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}", 2,
              1);
    expect_ok("{\"t\\n\\\"x\":{\"dtype\":\"U8\",\"shape\":[9007199254740992,0],"
              "\"data_offsets\":[0,0]}}",
              0, 1);

    /* the header itself */
    expect_fail("[]", 0, TK_ERR_FORMAT, "does not start with '{' (byte 0x5b) (offset 0x8)");
    expect_fail(" {}", 0, TK_ERR_FORMAT, "does not start with '{'");
    expect_fail("{}\n", 0, TK_ERR_FORMAT, "byte 0x0a after the JSON object (only spaces");
    expect_fail("{}  x", 0, TK_ERR_FORMAT, "byte 0x78 after the JSON object");
    expect_fail("{}{}", 0, TK_ERR_FORMAT, "after the JSON object");
    expect_fail(
        "{\"a\":}", 0, TK_ERR_FORMAT,
        "tensor 'a': the header is not valid JSON: expected a value after ':' (offset 0xd)");
    expect_fail("{\"a\" 1}", 0, TK_ERR_FORMAT, "expected ':' after the name (offset 0xd)");
    expect_fail("{\"a\":{} \"b\":{}}", 0, TK_ERR_FORMAT, "expected ',' or '}' after the value");
    expect_fail("{\"a\":{},}", 0, TK_ERR_FORMAT, "expected a name after ','");
    expect_fail("{1:{}}", 0, TK_ERR_FORMAT, "expected a name or '}'");
    expect_fail("{]", 0, TK_ERR_FORMAT, "expected a name or '}'");
    expect_fail("{\"a\":{}}}", 0, TK_ERR_FORMAT, "byte 0x7d after the JSON object");
    expect_fail("{\"a\":[1}}", 0, TK_ERR_FORMAT,
                "tensor 'a': the header is not valid JSON (offset 0xf)");
    expect_fail("{\"a\":[1]", 0, TK_ERR_FORMAT, "ends inside the object");
    expect_fail("{\"a\":{\"dtype\":[1}}}", 0, TK_ERR_FORMAT,
                "tensor 'a': the header is not valid JSON");
    expect_fail("{\"a\\q\":{}}", 0, TK_ERR_FORMAT,
                "header: the header is not valid JSON (offset 0xb)");
    expect_fail("{\"a\":{\"dtype\":\"F32\",}}", 0, TK_ERR_FORMAT, "not valid JSON (offset 0x1c)");
    expect_fail("{\"a\"", 0, TK_ERR_FORMAT, "not valid JSON");
    expect_fail("{,}", 0, TK_ERR_FORMAT, "not valid JSON");
    expect_fail("{\"t\":{" DT "," SH "," OFF ",}}", 8, TK_ERR_FORMAT, "not valid JSON");
    expect_fail("{\"t\" {}}", 0, TK_ERR_FORMAT, "not valid JSON");
    expect_fail("{\"a\":tru}", 0, TK_ERR_FORMAT, "not valid JSON");
    expect_fail("{\"a\":\"x}", 0, TK_ERR_FORMAT, "string is not closed");
    expect_fail("{\"a\\", 0, TK_ERR_FORMAT, "string is not closed");
    expect_fail(T1 "", 0, TK_ERR_FORMAT, "run past the end of the data section (0 bytes");
    expect_fail("{\"t\":{" DT "," SH "," OFF "},\"u", 8, TK_ERR_FORMAT,
                "header: string is not closed before the end (offset 0x3e)");
    expect_fail("{\"t\":{" DT "," SH "," OFF ",\"sh", 8, TK_ERR_FORMAT,
                "tensor 't': string is not closed");
    expect_fail("{\"\xc3\x28\":1}", 0, TK_ERR_FORMAT, "not valid UTF-8 (offset 0xa)");
    expect_fail("{\"\xed\xa0\x80\":1}", 0, TK_ERR_FORMAT, "not valid UTF-8"); /* a surrogate */
    expect_fail("{\"\xc0\xaf\":1}", 0, TK_ERR_FORMAT, "not valid UTF-8");     /* overlong */
    expect_fail("{\"\xf4\x90\x80\x80\":1}", 0, TK_ERR_FORMAT, "not valid UTF-8");
    expect_fail("{\"a\tb\":1}", 0, TK_ERR_FORMAT, "control byte 0x09 in a string (offset 0xb)");
    expect_fail("{\x01\"t\":1}", 0, TK_ERR_FORMAT, "control byte 0x01 outside a string");
    expect_fail("{\"t\\u0000x\":{" DT "," SH "," OFF "}}", 8, TK_ERR_FORMAT, "escaped NUL");
    expect_fail("{\"__metadata__\":{\"k\":\"a\\u0000\"}}", 0, TK_ERR_FORMAT, "escaped NUL");
    expect_fail("{\"a\":\"\\ud800\"}", 0, TK_ERR_FORMAT, "not valid JSON");
    expect_fail("{\"t\":{\"shape\":[[2]]}}", 0, TK_ERR_FORMAT,
                "tensor 't' field 'shape': nesting deeper than 3 levels");

    /* entries */
    expect_fail("{\"t\":1}", 0, TK_ERR_FORMAT,
                "tensor 't': is a number, not an object (offset 0x9)");
    expect_fail("{\"t\":\"x\"}", 0, TK_ERR_FORMAT, "is a string, not an object");
    expect_fail("{\"t\":[]}", 0, TK_ERR_FORMAT, "is a array, not an object");
    expect_fail("{\"t\":null}", 0, TK_ERR_FORMAT, "is a null, not an object");
    expect_fail(ENTRY(SH "," OFF), 8, TK_ERR_FORMAT, "has no 'dtype' field");
    expect_fail(ENTRY(DT "," OFF), 8, TK_ERR_FORMAT, "has no 'shape' field");
    expect_fail(ENTRY(DT "," SH), 8, TK_ERR_FORMAT, "has no 'data_offsets' field");
    expect_fail(ENTRY(DT "," SH "," OFF ",\"x\":\"y\""), 8, TK_ERR_FORMAT, "unexpected field 'x'");
    expect_fail(ENTRY(DT "," DT "," SH "," OFF), 8, TK_ERR_FORMAT, "field 'dtype' appears twice");
    expect_fail(ENTRY("\"Dtype\":\"F32\"," SH "," OFF), 8, TK_ERR_FORMAT,
                "unexpected field 'Dtype'");
    expect_fail("{\"\":{" DT "," SH "," OFF "}}", 8, TK_ERR_FORMAT, "the name is empty");
    /* dtype */
    expect_fail(ENTRY("\"dtype\":4," SH "," OFF), 8, TK_ERR_FORMAT, "dtype is a number");
    expect_fail(ENTRY("\"dtype\":[\"F32\"]," SH "," OFF), 8, TK_ERR_FORMAT, "dtype is a array");
    expect_fail(ENTRY("\"dtype\":\"f32\"," SH "," OFF), 8, TK_ERR_UNSUPPORTED,
                "dtype 'f32' is not supported");
    expect_fail(ENTRY("\"dtype\":\"C64\"," SH "," OFF), 8, TK_ERR_UNSUPPORTED, "'C64'");
    expect_fail(ENTRY("\"dtype\":\"\"," SH "," OFF), 8, TK_ERR_UNSUPPORTED, "dtype ''");
    /* shape */
    expect_fail(ENTRY(DT ",\"shape\":2," OFF), 8, TK_ERR_FORMAT, "shape is a number, not an array");
    expect_fail(ENTRY(DT ",\"shape\":{}," OFF), 8, TK_ERR_FORMAT, "shape is a object");
    expect_fail(ENTRY(DT ",\"shape\":[\"2\"]," OFF), 8, TK_ERR_FORMAT, "shape[0] is a string");
    expect_fail(ENTRY(DT ",\"shape\":[true]," OFF), 8, TK_ERR_FORMAT, "shape[0] is a boolean");
    expect_fail(ENTRY(DT ",\"shape\":[-1]," OFF), 8, TK_ERR_FORMAT,
                "field 'shape': number -1 is not an integer");
    expect_fail(ENTRY(DT ",\"shape\":[1.5]," OFF), 8, TK_ERR_FORMAT, "number 1.5 is not");
    expect_fail(ENTRY(DT ",\"shape\":[2.0]," OFF), 8, TK_ERR_FORMAT, "number 2.0 is not");
    expect_fail(ENTRY(DT ",\"shape\":[1e300]," OFF), 8, TK_ERR_FORMAT, "number 1e300 is not");
    expect_fail(ENTRY(DT ",\"shape\":[2e0]," OFF), 8, TK_ERR_FORMAT, "number 2e0 is not");
    expect_fail(ENTRY(DT ",\"shape\":[02]," OFF), 8, TK_ERR_FORMAT, "number 02 is not");
    expect_fail(ENTRY(DT ",\"shape\":[-0]," OFF), 8, TK_ERR_FORMAT, "number -0 is not");
    expect_fail(ENTRY(DT ",\"shape\":[9007199254740993]," OFF), 8, TK_ERR_FORMAT,
                "number 9007199254740993 is not an integer in 0..2^53");
    expect_fail(ENTRY(DT ",\"shape\":[99999999999999999999999999]," OFF), 8, TK_ERR_FORMAT,
                "is not an integer in 0..2^53");
    expect_fail(ENTRY(DT ",\"shape\":[1,1,1,1,1,1,1,1,2]," OFF), 8, TK_ERR_LIMIT,
                "shape has 9 dimensions, at most 8");
    expect_fail(ENTRY(DT ",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,2]," OFF), 8,
                TK_ERR_FORMAT, "more values than a tensor entry can have");
    expect_fail(ENTRY(DT ",\"shape\":[9007199254740992,9007199254740992],\"data_offsets\":[0,0]"),
                0, TK_ERR_OVERFLOW, "element count of the shape overflows");
    expect_fail(ENTRY(DT ",\"shape\":[4294967296,1073741824],\"data_offsets\":[0,0]"), 0,
                TK_ERR_OVERFLOW, "byte size of the shape overflows");
    /* data_offsets */
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":8"), 8, TK_ERR_FORMAT,
                "data_offsets is number, not an array of two integers");
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":[8]"), 8, TK_ERR_FORMAT,
                "an array of another length");
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":[0,8,8]"), 8, TK_ERR_FORMAT,
                "an array of another length");
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":[0,\"8\"]"), 8, TK_ERR_FORMAT,
                "data_offsets holds a value that is not an integer");
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":[0,-8]"), 8, TK_ERR_FORMAT,
                "field 'data_offsets': number -8");
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":[0.5,8]"), 8, TK_ERR_FORMAT, "number 0.5");
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":[8,0]"), 8, TK_ERR_FORMAT,
                "data_offsets [8, 0]: begin is after end");
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":[0,8]"), 7, TK_ERR_FORMAT,
                "data_offsets [0, 8] run past the end of the data section (7 bytes");
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":[0,9007199254740992]"), 8, TK_ERR_FORMAT,
                "run past the end");
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":[0,12]"), 12, TK_ERR_FORMAT,
                "data_offsets [0, 12] hold 12 bytes but shape [2] of F32 needs 8");
    expect_fail(ENTRY(DT "," SH ",\"data_offsets\":[4,8]"), 12, TK_ERR_FORMAT, "hold 4 bytes");
    expect_fail(ENTRY(DT ",\"shape\":[]," OFF), 8, TK_ERR_FORMAT, "shape [] of F32 needs 4");
    /* metadata */
    expect_fail("{\"__metadata__\":[]}", 0, TK_ERR_FORMAT, "\"__metadata__\" is a array");
    expect_fail("{\"__metadata__\":\"x\"}", 0, TK_ERR_FORMAT, "is a string, not an object");
    expect_fail("{\"__metadata__\":{\"k\":1}}", 0, TK_ERR_FORMAT,
                "metadata: value of 'k' is a number, not a string (offset 0x9)");
    expect_fail("{\"__metadata__\":{\"k\":true}}", 0, TK_ERR_FORMAT,
                "value of 'k' is a boolean, not a string");
    expect_fail("{\"__metadata__\":{\"k\":{}}}", 0, TK_ERR_FORMAT, "value of 'k' is a object");
    expect_fail("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, TK_ERR_FORMAT,
                "key 'k' appears twice");
    expect_fail("{\"__metadata__\":{},\"__metadata__\":{}}", 0, TK_ERR_FORMAT,
                "\"__metadata__\" appears twice");
    /* uniqueness and overlap */
    expect_fail("{\"t\":{" DT "," SH ",\"data_offsets\":[0,8]},\"t\":{" DT "," SH
                ",\"data_offsets\":[8,16]}}",
                16, TK_ERR_FORMAT,
                "tensor 't': the name appears twice in the header (offsets 0x9 and 0x3e)");
    expect_fail(
        "{\"a\":{" DT "," SH ",\"data_offsets\":[0,8]},\"b\":{" DT "," SH
        ",\"data_offsets\":[4,12]}}",
        16, TK_ERR_FORMAT,
        "tensor 'b': data_offsets [4, 12] overlap those of tensor 'a' [0, 8] (offset 0x3e)");
    expect_fail("{\"a\":{" DT "," SH ",\"data_offsets\":[0,8]},\"b\":{" DT "," SH
                ",\"data_offsets\":[0,8]}}",
                16, TK_ERR_FORMAT, "overlap");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},\"b\":{" DT "," SH
                ",\"data_offsets\":[4,12]}}",
                16, TK_ERR_FORMAT, "overlap"); /* inside */
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},\"b\":{\"dtype\":"
                "\"U8\",\"shape\":[0],\"data_offsets\":[5,5]}}",
                16, TK_ERR_FORMAT, "overlap"); /* an empty tensor inside another */

    /* a long name */
    char *big = malloc(4096);
    memset(big, 0, 4096);
    strcpy(big, "{\"");
    memset(big + 2, 'n', 1025);
    strcat(big, "\":{" DT "," SH "," OFF "}}");
    expect_fail(big, 8, TK_ERR_LIMIT, "name of 1025 bytes is over the limit of 1024");
    big[2 + 1024] = '\"';
    memmove(big + 2 + 1024, big + 2 + 1025, strlen(big + 2 + 1025) + 1);
    expect_ok(big, 8, 1);
    free(big);
}

/* Many tensors: lookups stay right and the header scan stays linear. */
static void test_many(void)
{
    enum { N = 20000 };
    st_writer *w = NULL;
    CHECK(st_writer_create(&w) == TK_OK);
    static uint8_t byte[N];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.w", (i * 7919) % N);
        int64_t shape[1] = {1};
        byte[i] = (uint8_t)i;
        if (st_writer_add(w, name, ST_U8, 1, shape, &byte[i], 1) != TK_OK) {
            CHECK_MSG(0, "%s", tk_last_error());
            break;
        }
    }
    CHECK(st_writer_write(w, tmp_path("many.safetensors")) == TK_OK);
    st_writer_free(w);
    st_set *s = NULL;
    double t0 = core_now();
    CHECK(st_open_file(tmp_path("many.safetensors"), &s) == TK_OK);
    double dt = core_now() - t0;
    CHECK_INT(st_count(s), N);
    int found = 0;
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.w", i);
        const st_tensor *t = st_find(s, name);
        if (t && *(const uint8_t *)t->data == byte[t - st_at(s, 0)]) found++;
    }
    CHECK_INT(found, N);
    CHECK_MSG(dt < 2.0, "opening %d tensors took %.3f s", N, dt);
    st_close(s);
}

int main(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/tk_test_st_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_dtypes();
    test_writer_roundtrip();
    test_shared_files();
    test_sharded();
    test_truncations();
    test_lengths();
    test_malformed();
    test_many();
    remove_dir(tmp_dir);
    return check_summary();
}
