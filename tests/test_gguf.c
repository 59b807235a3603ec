/* GGUF reader and writer tests: every shared model file loads, known values of
 * stories260K read back, the writer round-trips every value type and tensor
 * types with alignment, and a corpus of malformed files (truncations, bad
 * counts and lengths, bad tensors, bad alignment, duplicates, byte-swapped and
 * wrong versions) fails cleanly with a message naming the problem. */
#include "check.h"

#include "core/core.h"
#include "tektra/gguf.h"
#include "tektra/quant.h"

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

typedef unsigned long long ull;

static char tmp_dir[256];

/* ---- small helpers ----------------------------------------------------- */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
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

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int next;
    char *out = buf[next++ % 4];
    snprintf(out, sizeof buf[0], "%s/%s", tmp_dir, name);
    return out;
}

/* Opens `n` bytes of `data` from an exact-size heap copy (so the sanitizer
 * sees any read past the end) and returns the status; the message goes to
 * msg. On success the handle is closed again after a sweep of accessors. */
static tk_status try_open(const uint8_t *data, size_t n, char *msg, size_t cap)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (n) memcpy(copy, data, n);
    tk_gguf *g = (tk_gguf *)(uintptr_t)1;
    tk_status st = tk_gguf_open_memory(copy, n, &g);
    core_strlcpy(msg, st == TK_OK ? "" : tk_last_error(), cap);
    if (st == TK_OK) {
        for (int64_t i = 0; i < tk_gguf_n_kv(g); i++) {
            const char *s;
            uint64_t len;
            tk_gguf_kv_str(g, i, &s, &len);
            for (uint64_t j = 0; j < tk_gguf_kv_arr_len(g, i) && j < 4; j++)
                tk_gguf_arr_str(g, i, j, &s, &len);
        }
        for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
            const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
            volatile uint8_t sink = ((const uint8_t *)t->data)[t->size - 1];
            (void)sink;
        }
    } else {
        CHECK(g == NULL);
    }
    tk_gguf_close(st == TK_OK ? g : NULL);
    free(copy);
    return st;
}

/* Expects `n` bytes of `data` to be refused with a message containing
 * `needle` (any non-empty message when needle is NULL). */
static void expect_fail_(const char *file, int line, const char *what, const uint8_t *data,
                         size_t n, const char *needle)
{
    char msg[1024];
    tk_status st = try_open(data, n, msg, sizeof msg);
    if (st == TK_OK || !msg[0] || (needle && !strstr(msg, needle))) {
        check_failed_++;
        fprintf(stderr, "%s:%d: %s: status %s, message \"%s\", expected \"%s\"\n", file, line, what,
                tk_status_str(st), msg, needle ? needle : "(any)");
    } else {
        check_passed_++;
    }
}
#define expect_fail(what, data, n, needle) expect_fail_(__FILE__, __LINE__, what, data, n, needle)

/* ---- an independent walk of a known-good file -------------------------- */

/* Offsets of the fields of a GGUF file, found by a plain walk that trusts
 * the file (only used on files the reader accepted), so tests can patch
 * exactly the field they mean. */
typedef struct kv_pos {
    char key[128];
    uint64_t key_len_at, type_at, value_at; /* value_at: the value / array header */
    uint32_t type, arr_type;
    uint64_t arr_len;
    uint64_t elem_at[4]; /* string arrays: the first element length fields */
} kv_pos;

typedef struct tensor_pos {
    char name[128];
    uint64_t name_len_at, n_dims_at, ne_at[4], type_at, offset_at;
    uint32_t n_dims, type;
    uint64_t ne[4], offset;
} tensor_pos;

typedef struct walk {
    uint64_t n_kv, n_tensors, end, data_offset;
    kv_pos kv[64];
    tensor_pos t[64];
} walk;

static uint64_t fixed_size(uint32_t type)
{
    static const uint8_t sizes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type < 13 ? sizes[type] : 0;
}

static void copy_name(char *dst, const uint8_t *s, uint64_t n)
{
    if (n > 127) n = 127;
    memcpy(dst, s, (size_t)n);
    dst[n] = '\0';
}

static void walk_file(const uint8_t *b, walk *w, uint32_t alignment)
{
    memset(w, 0, sizeof *w);
    w->n_tensors = get64(b + 8);
    w->n_kv = get64(b + 16);
    uint64_t p = 24;
    for (uint64_t i = 0; i < w->n_kv; i++) {
        kv_pos *k = i < 64 ? &w->kv[i] : &(kv_pos){0};
        k->key_len_at = p;
        uint64_t n = get64(b + p);
        copy_name(k->key, b + p + 8, n);
        p += 8 + n;
        k->type_at = p;
        k->type = get32(b + p);
        p += 4;
        k->value_at = p;
        if (k->type == 8) {
            p += 8 + get64(b + p);
        } else if (k->type == 9) {
            k->arr_type = get32(b + p);
            k->arr_len = get64(b + p + 4);
            p += 12;
            for (uint64_t j = 0; j < k->arr_len; j++) {
                if (k->arr_type == 8) {
                    if (j < 4) k->elem_at[j] = p;
                    p += 8 + get64(b + p);
                } else {
                    p += fixed_size(k->arr_type);
                }
            }
        } else {
            p += fixed_size(k->type);
        }
    }
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        tensor_pos *t = i < 64 ? &w->t[i] : &(tensor_pos){0};
        t->name_len_at = p;
        uint64_t n = get64(b + p);
        copy_name(t->name, b + p + 8, n);
        p += 8 + n;
        t->n_dims_at = p;
        t->n_dims = get32(b + p);
        p += 4;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            t->ne_at[d] = p;
            t->ne[d] = get64(b + p);
            p += 8;
        }
        t->type_at = p;
        t->type = get32(b + p);
        p += 4;
        t->offset_at = p;
        t->offset = get64(b + p);
        p += 8;
    }
    w->end = p;
    w->data_offset = (p + alignment - 1) / alignment * alignment;
}

static const kv_pos *walk_kv(const walk *w, const char *key)
{
    for (uint64_t i = 0; i < w->n_kv && i < 64; i++)
        if (strcmp(w->kv[i].key, key) == 0) return &w->kv[i];
    return NULL;
}

static const tensor_pos *walk_tensor(const walk *w, const char *name)
{
    for (uint64_t i = 0; i < w->n_tensors && i < 64; i++)
        if (strcmp(w->t[i].name, name) == 0) return &w->t[i];
    return NULL;
}

/* A patched copy: the caller frees. */
static uint8_t *patched(const uint8_t *src, size_t n)
{
    uint8_t *b = malloc(n);
    memcpy(b, src, n);
    return b;
}

/* ---- every shared file loads ------------------------------------------- */

static void check_handle(const char *path, const tk_gguf *g)
{
    CHECK_MSG(tk_gguf_n_kv(g) >= 1, "%s", path);
    for (int64_t i = 0; i < tk_gguf_n_kv(g); i++) {
        const char *key = tk_gguf_kv_key(g, i);
        CHECK(key && *key);
        CHECK_INT(tk_gguf_find_kv(g, key), i);
        tk_gguf_type t = tk_gguf_kv_type(g, i);
        CHECK(t < TK_GGUF_TYPE_COUNT);
        if (t == TK_GGUF_ARRAY && tk_gguf_kv_arr_type(g, i) == TK_GGUF_STRING) {
            uint64_t n = tk_gguf_kv_arr_len(g, i), len;
            const char *s;
            bool ok = true;
            for (uint64_t j = 0; j < n; j++)
                ok = ok && tk_gguf_arr_str(g, i, j, &s, &len) && s[len] == '\0';
            CHECK_MSG(ok, "%s: string array %s", path, key);
            CHECK(!tk_gguf_arr_str(g, i, n, &s, &len));
        }
    }
    uint64_t size = tk_gguf_file_size(g);
    uint32_t align = tk_gguf_alignment(g);
    bool ok = true;
    for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        ok = ok && t && t->name && *t->name && tk_gguf_find_tensor(g, t->name) == t;
        ok = ok && t->n_dims >= 1 && t->n_dims <= 4 && tk_type_get(t->type);
        ok = ok && t->offset >= tk_gguf_data_offset(g) && t->offset % align == 0;
        ok = ok && t->offset + t->size <= size && t->data;
        int64_t n = 1;
        for (int d = 0; d < 4; d++) n *= t->ne[d];
        uint64_t bytes = 0;
        ok = ok && tk_type_size(t->type, n, &bytes) == TK_OK && bytes == t->size;
    }
    CHECK_MSG(ok, "%s: tensor table", path);
    CHECK(tk_gguf_tensor_at(g, -1) == NULL);
    CHECK(tk_gguf_tensor_at(g, tk_gguf_n_tensors(g)) == NULL);
    CHECK(tk_gguf_find_tensor(g, "no.such.tensor") == NULL);
    CHECK_INT(tk_gguf_find_kv(g, "no.such.key"), -1);
}

static int load_dir(const char *rel)
{
    const char *dir = shared_path(rel);
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        tk_gguf *g = NULL;
        tk_status st = tk_gguf_open(path, &g);
        CHECK_MSG(st == TK_OK, "%s: %s", path, tk_last_error());
        if (st == TK_OK) check_handle(path, g);
        tk_gguf_close(g);
        n++;
    }
    closedir(d);
    CHECK_MSG(n > 0, "no .gguf files in %s", dir);
    return n;
}

static void test_shared_files(void)
{
    int n = load_dir("models") + load_dir("oracle") + load_dir("tokenizer") +
            load_dir("tokenizer/extra");
    printf("loaded %d shared GGUF files\n", n);
}

/* Opening the largest real vocabulary must be fast: the reader copies the
 * strings once and builds an offset table, nothing per-token is allocated. */
static void test_vocab_speed(void)
{
    const char *path = shared_path("tokenizer/vocab-deepseek-llm.gguf");
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        tk_gguf *g = NULL;
        double t0 = core_now();
        tk_status st = tk_gguf_open(path, &g);
        double dt = core_now() - t0;
        CHECK_MSG(st == TK_OK, "%s", tk_last_error());
        if (st == TK_OK)
            CHECK_INT(tk_gguf_kv_arr_len(g, tk_gguf_find_kv(g, "tokenizer.ggml.tokens")), 102400);
        tk_gguf_close(g);
        if (dt < best) best = dt;
    }
    /* A figure to read, not an assertion: speed is measured, not tested. */
    printf("opening a 102400-token vocabulary: %.1f ms\n", best * 1e3);
}

/* ---- stories260K: known values, checked against an independent walk ---- */

static void test_stories(void)
{
    const char *path = shared_path("models/stories260K.gguf");
    tk_gguf *g = NULL;
    tk_status st = tk_gguf_open(path, &g);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (st != TK_OK) return;
    CHECK_INT(tk_gguf_version(g), 3);
    CHECK_INT(tk_gguf_alignment(g), 32);
    const char *s = NULL;
    CHECK_INT(tk_gguf_get_str(g, "general.architecture", &s), TK_OK);
    CHECK_STR(s, "llama");
    uint32_t u = 0;
    CHECK_INT(tk_gguf_get_u32(g, "llama.block_count", &u), TK_OK);
    CHECK_INT(u, 5);
    CHECK_INT(tk_gguf_get_u32(g, "llama.embedding_length", &u), TK_OK);
    CHECK_INT(u, 64);
    float f = 0;
    CHECK_INT(tk_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f), TK_OK);
    CHECK_NEAR(f, 1e-5, 1e-9);
    int64_t tok = tk_gguf_find_kv(g, "tokenizer.ggml.tokens");
    CHECK(tok >= 0);
    CHECK_INT(tk_gguf_kv_type(g, tok), TK_GGUF_ARRAY);
    CHECK_INT(tk_gguf_kv_arr_type(g, tok), TK_GGUF_STRING);
    CHECK_INT(tk_gguf_kv_arr_len(g, tok), 512);
    uint64_t len = 0;
    CHECK(tk_gguf_arr_str(g, tok, 1, &s, &len));
    CHECK_STR(s, "<s>");
    CHECK_INT(len, 3);
    CHECK(!tk_gguf_arr_str(g, tok, 512, &s, &len));
    CHECK(tk_gguf_arr_data(g, tok) == NULL);
    int64_t types = tk_gguf_find_kv(g, "tokenizer.ggml.token_type");
    int64_t iv = 0;
    CHECK(tk_gguf_arr_int(g, types, 1, &iv)); /* <s> is a control token (3) */
    CHECK_INT(iv, 3);
    double dv;
    CHECK(!tk_gguf_arr_float(g, types, 1, &dv));
    CHECK(tk_gguf_arr_data(g, types) != NULL);

    /* typed lookups: wrong type, absent key, conversions */
    CHECK_INT(tk_gguf_get_u32(g, "general.architecture", &u), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "has type string");
    CHECK_INT(tk_gguf_get_str(g, "llama.block_count", &s), TK_ERR_FORMAT);
    CHECK_INT(tk_gguf_get_u32(g, "no.such.key", &u), TK_ERR_NOT_FOUND);
    bool bv;
    CHECK_INT(tk_gguf_get_bool(g, "llama.block_count", &bv), TK_ERR_FORMAT);
    int64_t bc = tk_gguf_find_kv(g, "llama.block_count");
    CHECK(tk_gguf_kv_int(g, bc, &iv) && iv == 5);
    uint64_t uv;
    CHECK(tk_gguf_kv_uint(g, bc, &uv) && uv == 5);
    CHECK(!tk_gguf_kv_float(g, bc, &dv));
    CHECK(!tk_gguf_kv_str(g, bc, &s, &len));
    CHECK(!tk_gguf_kv_int(g, -1, &iv));
    CHECK(!tk_gguf_kv_int(g, tk_gguf_n_kv(g), &iv));
    CHECK(tk_gguf_kv_key(g, tk_gguf_n_kv(g)) == NULL);

    /* the tensor table agrees with an independent walk and the file bytes */
    size_t n = 0;
    uint8_t *bytes = load(path, &n);
    walk *w = calloc(1, sizeof *w);
    walk_file(bytes, w, 32);
    CHECK_INT(tk_gguf_n_tensors(g), (int64_t)w->n_tensors);
    CHECK_INT(tk_gguf_n_tensors(g), 48);
    CHECK_INT(tk_gguf_data_offset(g), w->data_offset);
    const tk_gguf_tensor *t = tk_gguf_find_tensor(g, "token_embd.weight");
    const tensor_pos *tp = walk_tensor(w, "token_embd.weight");
    CHECK(t && tp);
    if (t && tp) {
        CHECK_INT(t->type, TK_TYPE_F32);
        CHECK_INT(t->n_dims, 2);
        CHECK_INT(t->ne[0], 64);
        CHECK_INT(t->ne[1], 512);
        CHECK_INT(t->ne[2], 1);
        CHECK_INT(tp->ne[0], 64);
        CHECK_INT(tp->ne[1], 512);
        CHECK_INT(t->size, 64 * 512 * 4);
        CHECK_INT(t->offset, w->data_offset + tp->offset);
        CHECK(memcmp(t->data, bytes + t->offset, (size_t)t->size) == 0);
    }
    bool same = true;
    for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *ti = tk_gguf_tensor_at(g, i);
        same = same && strcmp(ti->name, w->t[i].name) == 0 &&
               ti->offset == w->data_offset + w->t[i].offset && (uint32_t)ti->type == w->t[i].type;
    }
    CHECK(same);

    /* the same bytes through open_memory give the same answers */
    tk_gguf *m = NULL;
    CHECK_INT(tk_gguf_open_memory(bytes, n, &m), TK_OK);
    CHECK_INT(tk_gguf_n_kv(m), tk_gguf_n_kv(g));
    CHECK_INT(tk_gguf_n_tensors(m), tk_gguf_n_tensors(g));
    if (m) {
        const tk_gguf_tensor *mt = tk_gguf_find_tensor(m, "output.weight");
        CHECK(mt && mt->data == bytes + mt->offset);
    }
    tk_gguf_close(m);
    free(w);
    free(bytes);
    tk_gguf_close(g);
}

/* ---- the writer -------------------------------------------------------- */

static bool dir_has_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return false;
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) found = true;
    closedir(d);
    return found;
}

static void fill_bytes(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

static void test_writer_roundtrip(void)
{
    tk_gguf_writer *w = NULL;
    CHECK_INT(tk_gguf_writer_create(&w), TK_OK);
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    uint32_t u32 = 4000000000u;
    int32_t i32 = -2000000000;
    float f32 = 1.5f;
    bool b = true;
    uint64_t u64 = (1ull << 63) + 5;
    int64_t i64 = -(1ll << 62);
    double f64 = 3.141592653589793;
    const void *vals[13] = {&u8, &i8,  &u16, &i16, &u32, &i32, &f32,
                            &b,  NULL, NULL, &u64, &i64, &f64};
    char key[64];
    for (int t = 0; t < 13; t++) {
        if (!vals[t]) continue;
        snprintf(key, sizeof key, "scalar.%s", tk_gguf_type_name((tk_gguf_type)t));
        CHECK_INT(tk_gguf_writer_set_scalar(w, key, (tk_gguf_type)t, vals[t]), TK_OK);
    }
    CHECK_INT(tk_gguf_writer_set_u32(w, "conv.u32", 7), TK_OK);
    CHECK_INT(tk_gguf_writer_set_i32(w, "conv.i32", -7), TK_OK);
    CHECK_INT(tk_gguf_writer_set_u64(w, "conv.u64", 1ull << 40), TK_OK);
    CHECK_INT(tk_gguf_writer_set_f32(w, "conv.f32", -0.25f), TK_OK);
    CHECK_INT(tk_gguf_writer_set_bool(w, "conv.bool", false), TK_OK);
    CHECK_INT(tk_gguf_writer_set_str(w, "str.text", "h\xc3\xa9llo\tw\xc3\xb6rld"), TK_OK);
    CHECK_INT(tk_gguf_writer_set_str(w, "str.empty", ""), TK_OK);
    /* arrays of every numeric type: element k of type t is (k + 1) * 3 - t */
    int64_t arr_len[13] = {0};
    for (int t = 0; t < 13; t++) {
        if (t == TK_GGUF_STRING || t == TK_GGUF_ARRAY) continue;
        uint8_t buf[5 * 8];
        int n = 5;
        for (int k = 0; k < n; k++) {
            int64_t v = (k + 1) * 3 - t;
            void *p = buf + k * 8;
            switch (t) {
            case TK_GGUF_UINT8:
                ((uint8_t *)buf)[k] = (uint8_t)v;
                break;
            case TK_GGUF_INT8:
                ((int8_t *)buf)[k] = (int8_t)v;
                break;
            case TK_GGUF_UINT16:
                ((uint16_t *)buf)[k] = (uint16_t)v;
                break;
            case TK_GGUF_INT16:
                ((int16_t *)buf)[k] = (int16_t)v;
                break;
            case TK_GGUF_UINT32:
                ((uint32_t *)buf)[k] = (uint32_t)v;
                break;
            case TK_GGUF_INT32:
                ((int32_t *)buf)[k] = (int32_t)v;
                break;
            case TK_GGUF_FLOAT32:
                ((float *)buf)[k] = (float)v;
                break;
            case TK_GGUF_BOOL:
                ((bool *)buf)[k] = (k & 1) != 0;
                break;
            case TK_GGUF_UINT64:
                ((uint64_t *)buf)[k] = (uint64_t)v;
                break;
            case TK_GGUF_INT64:
                ((int64_t *)buf)[k] = v;
                break;
            case TK_GGUF_FLOAT64:
                ((double *)buf)[k] = (double)v;
                break;
            }
            (void)p;
        }
        snprintf(key, sizeof key, "arr.%s", tk_gguf_type_name((tk_gguf_type)t));
        CHECK_INT(tk_gguf_writer_set_arr(w, key, (tk_gguf_type)t, buf, (uint64_t)n), TK_OK);
        arr_len[t] = n;
    }
    const char *strs[] = {"a", "", "\xc3\xbcn\xc3\xaf", "last"};
    CHECK_INT(tk_gguf_writer_set_arr_str(w, "arr.string", strs, 4), TK_OK);
    CHECK_INT(tk_gguf_writer_set_arr_str(w, "arr.empty", NULL, 0), TK_OK);
    CHECK_INT(tk_gguf_writer_set_u32(w, "general.alignment", 64), TK_OK);
    /* replacing a key keeps one entry with the last value */
    CHECK_INT(tk_gguf_writer_set_u32(w, "x.replace", 1), TK_OK);
    CHECK_INT(tk_gguf_writer_set_str(w, "x.replace", "two"), TK_OK);
    /* bad arguments */
    CHECK_INT(tk_gguf_writer_set_arr(w, "bad", TK_GGUF_STRING, strs, 1), TK_ERR_INVALID_ARG);
    CHECK_INT(tk_gguf_writer_set_u32(w, "", 1), TK_ERR_INVALID_ARG);
    uint8_t two = 2;
    CHECK_INT(tk_gguf_writer_set_arr(w, "bad", TK_GGUF_BOOL, &two, 1), TK_ERR_INVALID_ARG);

    /* tensors of several types and ranks */
    static const struct {
        const char *name;
        int type, n_dims;
        int64_t ne[4];
    } specs[] = {
        {"t.f32", TK_TYPE_F32, 2, {5, 3, 1, 1}},    {"t.f16", TK_TYPE_F16, 1, {7, 1, 1, 1}},
        {"t.q8_0", TK_TYPE_Q8_0, 2, {64, 2, 1, 1}}, {"t.q4_k", TK_TYPE_Q4_K, 3, {256, 1, 2, 1}},
        {"t.bf16", TK_TYPE_BF16, 4, {2, 1, 3, 2}},  {"t.q6_k", TK_TYPE_Q6_K, 1, {256, 1, 1, 1}},
    };
    enum { NT = sizeof specs / sizeof specs[0] };
    uint8_t *data[NT];
    uint64_t sizes[NT];
    for (int i = 0; i < NT; i++) {
        int64_t n = specs[i].ne[0] * specs[i].ne[1] * specs[i].ne[2] * specs[i].ne[3];
        CHECK_INT(tk_type_size(specs[i].type, n, &sizes[i]), TK_OK);
        data[i] = malloc((size_t)sizes[i]);
        fill_bytes(data[i], (size_t)sizes[i], (uint32_t)i + 1);
        CHECK_INT(tk_gguf_writer_add_tensor(w, specs[i].name, specs[i].type, specs[i].n_dims,
                                            specs[i].ne, data[i], sizes[i]),
                  TK_OK);
    }
    int64_t ne[4] = {64, 2, 1, 1};
    CHECK_INT(tk_gguf_writer_add_tensor(w, "t.f32", TK_TYPE_F32, 1, ne, data[0], 256),
              TK_ERR_INVALID_ARG); /* duplicate */
    CHECK_INT(tk_gguf_writer_add_tensor(w, "t.x", TK_TYPE_F32, 1, ne, data[0], 255),
              TK_ERR_INVALID_ARG); /* wrong size */
    CHECK_INT(tk_gguf_writer_add_tensor(w, "t.x", TK_TYPE_F32, 0, ne, data[0], 256),
              TK_ERR_INVALID_ARG);
    CHECK_INT(tk_gguf_writer_add_tensor(w, "t.x", TK_TYPE_F32, 5, ne, data[0], 256),
              TK_ERR_INVALID_ARG);
    CHECK_INT(tk_gguf_writer_add_tensor(w, "t.x", 99, 1, ne, data[0], 256), TK_ERR_INVALID_ARG);
    CHECK_INT(tk_gguf_writer_add_tensor(w, "", TK_TYPE_F32, 1, ne, data[0], 256),
              TK_ERR_INVALID_ARG);
    int64_t ne16[4] = {16, 4, 1, 1};
    CHECK_INT(tk_gguf_writer_add_tensor(w, "t.x", TK_TYPE_Q8_0, 2, ne16, data[2], 68),
              TK_ERR_INVALID_ARG); /* row not a multiple of the block */

    const char *path = tmp_path("roundtrip.gguf");
    CHECK_INT(tk_gguf_writer_write(w, path), TK_OK);
    CHECK(!dir_has_tmp(tmp_dir));
    tk_gguf_writer_free(w);

    tk_gguf *g = NULL;
    tk_status st = tk_gguf_open(path, &g);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (st != TK_OK) goto out;
    CHECK_INT(tk_gguf_version(g), 3);
    CHECK_INT(tk_gguf_alignment(g), 64);
    CHECK_INT(tk_gguf_data_offset(g) % 64, 0);
    for (int t = 0; t < 13; t++) {
        if (!vals[t]) continue;
        snprintf(key, sizeof key, "scalar.%s", tk_gguf_type_name((tk_gguf_type)t));
        int64_t i = tk_gguf_find_kv(g, key);
        CHECK_MSG(i >= 0 && tk_gguf_kv_type(g, i) == (tk_gguf_type)t, "%s", key);
    }
    int64_t iv;
    uint64_t uv;
    double dv;
    bool bv;
    CHECK(tk_gguf_kv_uint(g, tk_gguf_find_kv(g, "scalar.u8"), &uv) && uv == 200);
    CHECK(tk_gguf_kv_int(g, tk_gguf_find_kv(g, "scalar.i8"), &iv) && iv == -100);
    CHECK(!tk_gguf_kv_uint(g, tk_gguf_find_kv(g, "scalar.i8"), &uv));
    CHECK(tk_gguf_kv_uint(g, tk_gguf_find_kv(g, "scalar.u16"), &uv) && uv == 60000);
    CHECK(tk_gguf_kv_int(g, tk_gguf_find_kv(g, "scalar.i16"), &iv) && iv == -30000);
    CHECK(tk_gguf_kv_uint(g, tk_gguf_find_kv(g, "scalar.u32"), &uv) && uv == 4000000000u);
    CHECK(tk_gguf_kv_int(g, tk_gguf_find_kv(g, "scalar.i32"), &iv) && iv == -2000000000);
    CHECK(tk_gguf_kv_float(g, tk_gguf_find_kv(g, "scalar.f32"), &dv) && dv == 1.5);
    CHECK(tk_gguf_kv_bool(g, tk_gguf_find_kv(g, "scalar.bool"), &bv) && bv);
    CHECK(tk_gguf_kv_uint(g, tk_gguf_find_kv(g, "scalar.u64"), &uv) && uv == (1ull << 63) + 5);
    CHECK(!tk_gguf_kv_int(g, tk_gguf_find_kv(g, "scalar.u64"), &iv)); /* does not fit */
    CHECK(tk_gguf_kv_int(g, tk_gguf_find_kv(g, "scalar.i64"), &iv) && iv == -(1ll << 62));
    CHECK(tk_gguf_kv_float(g, tk_gguf_find_kv(g, "scalar.f64"), &dv) && dv == 3.141592653589793);
    uint32_t u = 0;
    CHECK_INT(tk_gguf_get_u32(g, "scalar.u16", &u), TK_OK);
    CHECK_INT(u, 60000);
    CHECK_INT(tk_gguf_get_u32(g, "scalar.i8", &u), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "out of range");
    CHECK_INT(tk_gguf_get_u32(g, "scalar.u64", &u), TK_ERR_FORMAT);
    float f = 0;
    CHECK_INT(tk_gguf_get_f32(g, "scalar.f64", &f), TK_OK);
    CHECK_NEAR(f, 3.14159265, 1e-6);
    CHECK_INT(tk_gguf_get_u32(g, "conv.u32", &u), TK_OK);
    CHECK_INT(u, 7);
    CHECK(tk_gguf_kv_int(g, tk_gguf_find_kv(g, "conv.i32"), &iv) && iv == -7);
    CHECK(tk_gguf_kv_uint(g, tk_gguf_find_kv(g, "conv.u64"), &uv) && uv == 1ull << 40);
    CHECK_INT(tk_gguf_get_f32(g, "conv.f32", &f), TK_OK);
    CHECK(f == -0.25f);
    CHECK_INT(tk_gguf_get_bool(g, "conv.bool", &bv), TK_OK);
    CHECK(!bv);
    const char *s = NULL;
    uint64_t len = 0;
    CHECK_INT(tk_gguf_get_str(g, "str.text", &s), TK_OK);
    CHECK_STR(s, "h\xc3\xa9llo\tw\xc3\xb6rld");
    CHECK(tk_gguf_kv_str(g, tk_gguf_find_kv(g, "str.empty"), &s, &len) && len == 0 && !*s);
    CHECK_INT(tk_gguf_get_str(g, "x.replace", &s), TK_OK);
    CHECK_STR(s, "two");
    CHECK_INT(tk_gguf_find_kv(g, "bad"), -1);
    for (int t = 0; t < 13; t++) {
        if (!arr_len[t]) continue;
        snprintf(key, sizeof key, "arr.%s", tk_gguf_type_name((tk_gguf_type)t));
        int64_t i = tk_gguf_find_kv(g, key);
        CHECK_MSG(i >= 0 && tk_gguf_kv_arr_type(g, i) == (tk_gguf_type)t &&
                      tk_gguf_kv_arr_len(g, i) == (uint64_t)arr_len[t],
                  "%s", key);
        bool ok = true;
        for (int k = 0; k < arr_len[t]; k++) {
            int64_t v = (k + 1) * 3 - t;
            if (t == TK_GGUF_BOOL)
                ok = ok && tk_gguf_arr_bool(g, i, (uint64_t)k, &bv) && bv == ((k & 1) != 0);
            else if (t == TK_GGUF_FLOAT32 || t == TK_GGUF_FLOAT64)
                ok = ok && tk_gguf_arr_float(g, i, (uint64_t)k, &dv) && dv == (double)v;
            else if (t == TK_GGUF_UINT32) /* element 0 is -1 stored as u32 */
                ok = ok && tk_gguf_arr_uint(g, i, (uint64_t)k, &uv) && uv == (uint32_t)v;
            else if (t == TK_GGUF_UINT8 || t == TK_GGUF_UINT16 || t == TK_GGUF_UINT64)
                ok = ok && tk_gguf_arr_uint(g, i, (uint64_t)k, &uv) && uv == (uint64_t)v;
            else
                ok = ok && tk_gguf_arr_int(g, i, (uint64_t)k, &iv) && iv == v;
        }
        CHECK_MSG(ok, "%s elements", key);
        CHECK(!tk_gguf_arr_int(g, i, (uint64_t)arr_len[t], &iv));
    }
    int64_t sa = tk_gguf_find_kv(g, "arr.string");
    CHECK_INT(tk_gguf_kv_arr_len(g, sa), 4);
    for (uint64_t j = 0; j < 4; j++) {
        CHECK(tk_gguf_arr_str(g, sa, j, &s, &len));
        CHECK_STR(s, strs[j]);
        CHECK_INT(len, strlen(strs[j]));
    }
    CHECK_INT(tk_gguf_kv_arr_len(g, tk_gguf_find_kv(g, "arr.empty")), 0);
    CHECK_INT(tk_gguf_n_tensors(g), NT);
    for (int i = 0; i < NT; i++) {
        const tk_gguf_tensor *t = tk_gguf_find_tensor(g, specs[i].name);
        CHECK_MSG(t != NULL, "%s", specs[i].name);
        if (!t) continue;
        CHECK_INT(t->type, specs[i].type);
        CHECK_INT(t->n_dims, specs[i].n_dims);
        for (int d = 0; d < 4; d++) CHECK_INT(t->ne[d], specs[i].ne[d]);
        CHECK_INT(t->size, sizes[i]);
        CHECK_INT(t->offset % 64, 0);
        CHECK(memcmp(t->data, data[i], (size_t)sizes[i]) == 0);
    }
    tk_gguf_close(g);
out:
    for (int i = 0; i < NT; i++) free(data[i]);
}

/* Copying every kv and tensor of stories260K reproduces the file byte for
 * byte (it was written with the same layout rules), and alignment changes
 * move the data to multiples of the new alignment. */
static void test_writer_copy(void)
{
    const char *src = shared_path("models/stories260K.gguf");
    tk_gguf *g = NULL;
    CHECK_INT(tk_gguf_open(src, &g), TK_OK);
    if (!g) return;
    for (int pass = 0; pass < 2; pass++) {
        tk_gguf_writer *w = NULL;
        CHECK_INT(tk_gguf_writer_create(&w), TK_OK);
        for (int64_t i = 0; i < tk_gguf_n_kv(g); i++)
            CHECK_INT(tk_gguf_writer_copy_kv(w, g, i), TK_OK);
        CHECK_INT(tk_gguf_writer_copy_kv(w, g, tk_gguf_n_kv(g)), TK_ERR_INVALID_ARG);
        if (pass == 1) CHECK_INT(tk_gguf_writer_set_u32(w, "general.alignment", 4096), TK_OK);
        for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
            const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
            CHECK_INT(
                tk_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->size),
                TK_OK);
        }
        const char *dst = tmp_path("copy.gguf");
        CHECK_INT(tk_gguf_writer_write(w, dst), TK_OK);
        tk_gguf_writer_free(w);
        size_t na = 0, nb = 0;
        uint8_t *a = load(src, &na), *b = load(dst, &nb);
        if (pass == 0) {
            CHECK_INT(nb, na);
            CHECK(a && b && na == nb && memcmp(a, b, na) == 0);
        }
        tk_gguf *c = NULL;
        CHECK_INT(tk_gguf_open(dst, &c), TK_OK);
        if (c) {
            CHECK_INT(tk_gguf_alignment(c), pass ? 4096 : 32);
            CHECK_INT(tk_gguf_n_tensors(c), tk_gguf_n_tensors(g));
            bool same = true;
            for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
                const tk_gguf_tensor *x = tk_gguf_tensor_at(g, i), *y = tk_gguf_tensor_at(c, i);
                same = same && strcmp(x->name, y->name) == 0 && x->size == y->size &&
                       memcmp(x->data, y->data, (size_t)x->size) == 0 &&
                       y->offset % tk_gguf_alignment(c) == 0;
            }
            CHECK(same);
            int64_t tok = tk_gguf_find_kv(c, "tokenizer.ggml.tokens");
            const char *s;
            uint64_t len;
            CHECK(tk_gguf_arr_str(c, tok, 511, &s, &len));
            const char *s0;
            uint64_t len0;
            tk_gguf_arr_str(g, tk_gguf_find_kv(g, "tokenizer.ggml.tokens"), 511, &s0, &len0);
            CHECK_STR(s, s0);
        }
        tk_gguf_close(c);
        free(a);
        free(b);
    }
    tk_gguf_close(g);
}

static void test_writer_failures(void)
{
    tk_gguf_writer *w = NULL;
    CHECK_INT(tk_gguf_writer_create(&w), TK_OK);
    CHECK_INT(tk_gguf_writer_set_str(w, "general.architecture", "llama"), TK_OK);
    float x[32] = {0};
    int64_t ne[1] = {32};
    CHECK_INT(tk_gguf_writer_add_tensor(w, "w", TK_TYPE_F32, 1, ne, x, sizeof x), TK_OK);

    /* a missing directory: a clean error, nothing created */
    CHECK_INT(tk_gguf_writer_write(w, tmp_path("missing/dir/x.gguf")), TK_ERR_IO);
    CHECK(tk_last_error()[0] != '\0');
    struct stat sb;
    CHECK(stat(tmp_path("missing"), &sb) != 0);

    /* the target is a directory: the rename fails and the temp file goes */
    const char *dir = tmp_path("isdir.gguf");
    CHECK(mkdir(dir, 0755) == 0);
    CHECK_INT(tk_gguf_writer_write(w, dir), TK_ERR_IO);
    CHECK(!dir_has_tmp(tmp_dir));
    rmdir(dir);

    /* bad alignment values are refused before anything is written */
    CHECK_INT(tk_gguf_writer_set_u32(w, "general.alignment", 48), TK_OK);
    CHECK_INT(tk_gguf_writer_write(w, tmp_path("align.gguf")), TK_ERR_INVALID_ARG);
    CHECK_INT(tk_gguf_writer_set_str(w, "general.alignment", "32"), TK_OK);
    CHECK_INT(tk_gguf_writer_write(w, tmp_path("align.gguf")), TK_ERR_INVALID_ARG);
    CHECK(stat(tmp_path("align.gguf"), &sb) != 0);
    CHECK(!dir_has_tmp(tmp_dir));
    tk_gguf_writer_free(w);
    tk_gguf_writer_free(NULL);
}

/* ---- the malformed corpus ---------------------------------------------- */

/* A small writer-made file with what the patches need: two keys of equal
 * length, an explicit alignment, a bool, a string array, an F32 and a Q8_0
 * tensor. */
static uint8_t *make_small(size_t *n, walk *w)
{
    tk_gguf_writer *wr = NULL;
    tk_gguf_writer_create(&wr);
    tk_gguf_writer_set_u32(wr, "a.x", 1);
    tk_gguf_writer_set_u32(wr, "a.y", 2);
    tk_gguf_writer_set_u32(wr, "general.alignment", 32);
    tk_gguf_writer_set_bool(wr, "b.flag", true);
    const char *strs[] = {"one", "two", "three"};
    tk_gguf_writer_set_arr_str(wr, "s.list", strs, 3);
    static float f[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static uint8_t q[2 * 34];
    int64_t ne_f[2] = {4, 2}, ne_q[2] = {32, 2};
    tk_gguf_writer_add_tensor(wr, "t.a", TK_TYPE_F32, 2, ne_f, f, sizeof f);
    tk_gguf_writer_add_tensor(wr, "t.b", TK_TYPE_Q8_0, 2, ne_q, q, sizeof q);
    const char *path = tmp_path("small.gguf");
    CHECK_INT(tk_gguf_writer_write(wr, path), TK_OK);
    tk_gguf_writer_free(wr);
    uint8_t *b = load(path, n);
    walk_file(b, w, 32);
    char msg[512];
    CHECK_MSG(try_open(b, *n, msg, sizeof msg) == TK_OK, "small file: %s", msg);
    return b;
}

static void test_truncations(const uint8_t *file, size_t n, const walk *w)
{
    int failed_ok = 0, total = 0;
    char msg[1024];
    /* every prefix of the first 512 bytes, then a stride through the
     * metadata and tensor infos, then a few cuts in the data */
    for (size_t len = 0; len < n; len += len < 512 ? 1 : (len < w->end + 64 ? 7 : 40013)) {
        tk_status st = try_open(file, len, msg, sizeof msg);
        total++;
        if (st != TK_OK && msg[0])
            failed_ok++;
        else
            fprintf(stderr, "truncated at %zu: status %s, message \"%s\"\n", len, tk_status_str(st),
                    msg);
    }
    CHECK_INT(failed_ok, total);
    expect_fail("cut in the middle of the data", file, n - 1, "runs past the end of the file");
    expect_fail("empty", file, 0, "too short");
    expect_fail("cut in the version", file, 6, "too short");
    expect_fail("cut in the counts", file, 20, "cut off");
    printf("%d truncations refused\n", total);
}

/* Each count or length field set to 0, 1, a huge value and -1 as unsigned:
 * never a crash, and refused wherever the result is not a valid file. */
static void test_field_sweep(const uint8_t *file, size_t n, const walk *w)
{
    static const uint64_t values[] = {0, 1, 1ull << 40, UINT64_MAX, 0x7fffffffffffffffull};
    uint64_t fields[256];
    const char *names[256];
    int nf = 0;
    fields[nf] = 8, names[nf++] = "tensor count";
    fields[nf] = 16, names[nf++] = "kv count";
    for (uint64_t i = 0; i < w->n_kv && i < 64 && nf < 200; i++) {
        fields[nf] = w->kv[i].key_len_at, names[nf++] = "key length";
        if (w->kv[i].type == TK_GGUF_STRING)
            fields[nf] = w->kv[i].value_at, names[nf++] = "string length";
        if (w->kv[i].type == TK_GGUF_ARRAY)
            fields[nf] = w->kv[i].value_at + 4, names[nf++] = "array length";
        if (w->kv[i].arr_type == TK_GGUF_STRING && w->kv[i].arr_len > 2)
            fields[nf] = w->kv[i].elem_at[2], names[nf++] = "array element length";
    }
    for (uint64_t i = 0; i < w->n_tensors && i < 64 && nf < 250; i += 7) {
        fields[nf] = w->t[i].name_len_at, names[nf++] = "tensor name length";
        fields[nf] = w->t[i].ne_at[0], names[nf++] = "tensor dimension";
        fields[nf] = w->t[i].offset_at, names[nf++] = "tensor offset";
    }
    int refused = 0, accepted = 0;
    char msg[1024];
    for (int k = 0; k < nf; k++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            uint8_t *b = patched(file, n);
            put64(b + fields[k], values[v]);
            tk_status st = try_open(b, n, msg, sizeof msg);
            free(b);
            if (st != TK_OK) {
                refused++;
                CHECK_MSG(msg[0] != '\0', "%s = %llu: empty message", names[k], (ull)values[v]);
                continue;
            }
            /* What leaves a valid file: 0 or 1 tensors (the rest of the table
             * is then trailing bytes), a row length of 1 (a smaller F32
             * tensor), tensor 0 at offset 0 (where it is). */
            accepted++;
            bool valid = (fields[k] == 8 && values[v] <= 1) ||
                         (strcmp(names[k], "tensor dimension") == 0 && values[v] == 1) ||
                         (fields[k] == w->t[0].offset_at && values[v] == 0);
            CHECK_MSG(valid, "%s at 0x%llx = %llu was accepted", names[k], (ull)fields[k],
                      (ull)values[v]);
        }
    }
    printf("field sweep: %d patches refused, %d accepted\n", refused, accepted);
    CHECK(refused > accepted * 10);

    /* specific messages */
    uint8_t *b = patched(file, n);
    put64(b + 16, UINT64_MAX);
    expect_fail("kv count -1", b, n, "metadata count 18446744073709551615 cannot fit");
    put64(b + 16, w->n_kv);
    put64(b + 8, 1ull << 40);
    expect_fail("tensor count huge", b, n, "tensor count 1099511627776 cannot fit");
    put64(b + 8, w->n_tensors);
    free(b);
}

static void test_specific(const uint8_t *file, size_t n, const walk *w)
{
    uint8_t *b;
    const kv_pos *tok = walk_kv(w, "tokenizer.ggml.tokens");
    const kv_pos *arch = walk_kv(w, "general.architecture");
    CHECK(tok && arch);
    if (!tok || !arch) return;

    b = patched(file, n);
    memcpy(b, "GGML", 4);
    expect_fail("bad magic", b, n, "not a GGUF file");
    memcpy(b, "FUGG", 4);
    expect_fail("byte-swapped magic", b, n, "byte-swapped");
    memcpy(b, "GGUF", 4);
    put32(b + 4, 0x03000000u);
    expect_fail("byte-swapped version", b, n, "big-endian");
    put32(b + 4, 1);
    expect_fail("version 1", b, n, "version 1");
    put32(b + 4, 4);
    expect_fail("version 4", b, n, "version 4 is not supported");
    put32(b + 4, 0);
    expect_fail("version 0", b, n, "version 0");
    put32(b + 4, 2); /* version 2 has the same layout: accepted */
    char msg[1024];
    CHECK_INT(try_open(b, n, msg, sizeof msg), TK_OK);
    free(b);

    b = patched(file, n);
    put64(b + w->kv[0].key_len_at, 0);
    expect_fail("empty key", b, n, "key is empty");
    put64(b + w->kv[0].key_len_at, 5000);
    expect_fail("key over the limit", b, n, "over the limit");
    put64(b + w->kv[0].key_len_at, UINT64_MAX);
    expect_fail("key length -1", b, n, "runs past the end of the file");
    free(b);

    b = patched(file, n);
    b[arch->key_len_at + 8 + 3] = '\0';
    expect_fail("NUL in a key", b, n, "NUL byte");
    free(b);

    b = patched(file, n);
    put32(b + arch->type_at, 13);
    expect_fail("unknown kv type", b, n, "unknown value type 13");
    put32(b + arch->type_at, 0xffffffffu);
    expect_fail("kv type -1", b, n, "unknown value type");
    free(b);

    b = patched(file, n);
    put32(b + tok->value_at, TK_GGUF_ARRAY);
    expect_fail("nested array", b, n, "nested arrays");
    put32(b + tok->value_at, 77);
    expect_fail("unknown element type", b, n, "unknown array element type 77");
    free(b);

    b = patched(file, n);
    put64(b + tok->value_at + 4, 1ull << 60);
    expect_fail("array length huge", b, n, "array of 1152921504606846976 string");
    put64(b + tok->value_at + 4, UINT64_MAX);
    expect_fail("array length -1", b, n, "only");
    free(b);

    b = patched(file, n);
    put64(b + tok->elem_at[3], 1ull << 62);
    expect_fail("string element length huge", b, n, "element 3 length");
    free(b);

    b = patched(file, n);
    put64(b + arch->value_at, 70ull << 20);
    expect_fail("string value length", b, n, "string value length");
    free(b);

    /* tensors */
    const tensor_pos *t0 = &w->t[0], *t1 = &w->t[1], *tl = &w->t[w->n_tensors - 1];
    b = patched(file, n);
    put64(b + tl->offset_at, tl->offset + 1024 * 1024);
    expect_fail("offset past the end", b, n, "runs past the end of the file");
    put64(b + tl->offset_at, UINT64_MAX - 31);
    expect_fail("offset overflows", b, n, "runs past the end of the file");
    put64(b + tl->offset_at, tl->offset);
    put64(b + t1->offset_at, t0->offset + 32);
    expect_fail("overlapping tensors", b, n, "overlaps tensor 0 'token_embd.weight'");
    put64(b + t1->offset_at, t1->offset + 4);
    expect_fail("unaligned offset", b, n, "not a multiple of the alignment 32");
    free(b);

    b = patched(file, n);
    put32(b + t1->type_at, 99);
    expect_fail("unknown tensor type", b, n, "tensor type 99 is unknown");
    put32(b + t1->type_at, 4); /* a retired ggml type number */
    expect_fail("retired tensor type", b, n, "tensor type 4");
    free(b);

    b = patched(file, n);
    put32(b + t0->n_dims_at, 0);
    expect_fail("n_dims 0", b, n, "n_dims 0 is not between 1 and 4");
    put32(b + t0->n_dims_at, 5);
    expect_fail("n_dims 5", b, n, "n_dims 5 is not between 1 and 4");
    free(b);

    b = patched(file, n);
    put64(b + t0->ne_at[1], 0);
    expect_fail("zero dimension", b, n, "dimension 1 is 0");
    put64(b + t0->ne_at[0], 1ull << 63);
    expect_fail("dimension over 2^63", b, n, "too large");
    put64(b + t0->ne_at[0], 1ull << 32);
    put64(b + t0->ne_at[1], 1ull << 32);
    expect_fail("element count overflow", b, n, "more than 2^63 elements");
    put64(b + t0->ne_at[0], 1ull << 31);
    put64(b + t0->ne_at[1], 1ull << 31);
    expect_fail("byte size overflow", b, n, "overflow");
    put64(b + t0->ne_at[0], 64);
    put64(b + t0->ne_at[1], 513);
    expect_fail("tensor larger than its space", b, n, "overlaps");
    free(b);

    b = patched(file, n);
    put64(b + t1->name_len_at, 0);
    expect_fail("empty tensor name", b, n, "name is empty");
    put64(b + t1->name_len_at, 2000);
    expect_fail("tensor name over the limit", b, n, "over the limit");
    free(b);

    /* a tensor table entry cut short by the data section */
    b = patched(file, n);
    put32(b + tl->n_dims_at, 4);
    expect_fail("n_dims reaching into the data", b, n, NULL);
    free(b);
}

static void test_small_file_cases(void)
{
    walk *w = calloc(1, sizeof *w);
    size_t n = 0;
    uint8_t *file = make_small(&n, w);
    const kv_pos *ay = walk_kv(w, "a.y"), *al = walk_kv(w, "general.alignment"),
                 *fl = walk_kv(w, "b.flag");
    const tensor_pos *ta = walk_tensor(w, "t.a"), *tb = walk_tensor(w, "t.b");
    CHECK(ay && al && fl && ta && tb);
    if (!(ay && al && fl && ta && tb)) goto out;
    uint8_t *b;

    b = patched(file, n);
    b[ay->key_len_at + 8 + 2] = 'x'; /* "a.y" -> "a.x" */
    expect_fail("duplicate key", b, n, "kv 1 'a.x': duplicate key (first defined by kv 0)");
    free(b);

    b = patched(file, n);
    b[tb->name_len_at + 8 + 2] = 'a'; /* "t.b" -> "t.a" */
    expect_fail("duplicate tensor name", b, n, "tensor 1 't.a': duplicate tensor name");
    free(b);

    b = patched(file, n);
    put32(b + al->value_at, 48);
    expect_fail("alignment 48", b, n, "alignment 48 is not a power of two");
    put32(b + al->value_at, 0);
    expect_fail("alignment 0", b, n, "alignment 0 is not a power of two");
    put32(b + al->value_at, 1u << 31);
    expect_fail("alignment 2^31", b, n, "not a power of two between 1 and");
    put32(b + al->value_at, 32);
    put32(b + al->type_at, TK_GGUF_INT32);
    expect_fail("alignment of type i32", b, n, "general.alignment': has type i32, expected u32");
    put32(b + al->type_at, TK_GGUF_FLOAT32);
    expect_fail("alignment of type f32", b, n, "expected u32");
    free(b);

    b = patched(file, n);
    b[fl->value_at] = 2;
    expect_fail("bool value 2", b, n, "bool value is 2");
    free(b);

    /* t.b is Q8_0 [32, 2]: [16, 4] has the same element count and size but a
     * row that splits a 32-element block */
    b = patched(file, n);
    put64(b + tb->ne_at[0], 16);
    put64(b + tb->ne_at[1], 4);
    expect_fail("row not a multiple of the block", b, n,
                "row length 16 is not a multiple of the block size 32 of Q8_0");
    free(b);

    /* a few through real files: the message names the path */
    b = patched(file, n);
    put32(b + ta->n_dims_at, 7);
    const char *path = tmp_path("bad.gguf");
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
    tk_gguf *g = (tk_gguf *)(uintptr_t)1;
    CHECK_INT(tk_gguf_open(path, &g), TK_ERR_FORMAT);
    CHECK(g == NULL);
    CHECK_CONTAINS(tk_last_error(), path);
    CHECK_CONTAINS(tk_last_error(), "tensor 0 't.a': n_dims 7");
    CHECK_CONTAINS(tk_last_error(), "offset 0x");
    f = fopen(path, "wb");
    fwrite(b, 1, 13, f);
    fclose(f);
    CHECK_INT(tk_gguf_open(path, &g), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "cut off");
    f = fopen(path, "wb");
    fclose(f);
    CHECK_INT(tk_gguf_open(path, &g), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "empty file");
    free(b);
    CHECK_INT(tk_gguf_open(tmp_path("does-not-exist.gguf"), &g), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "does-not-exist.gguf");
    CHECK(tk_gguf_open(tmp_dir, &g) != TK_OK);
    CHECK(g == NULL);
    remove(path);
out:
    free(file);
    free(w);
}

static void test_malformed(void)
{
    size_t n = 0;
    uint8_t *file = load(shared_path("models/stories260K.gguf"), &n);
    if (!file) return;
    walk *w = calloc(1, sizeof *w);
    walk_file(file, w, 32);
    test_truncations(file, n, w);
    test_field_sweep(file, n, w);
    test_specific(file, n, w);
    free(w);
    free(file);
    test_small_file_cases();
}

/* ---- main -------------------------------------------------------------- */

static void remove_tmp_dir(void)
{
    DIR *d = opendir(tmp_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        remove(tmp_path(e->d_name));
    }
    closedir(d);
    rmdir(tmp_dir);
}

int main(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/tk_test_gguf_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_shared_files();
    test_vocab_speed();
    test_stories();
    test_writer_roundtrip();
    test_writer_copy();
    test_writer_failures();
    test_malformed();
    remove_tmp_dir();
    return check_summary();
}
