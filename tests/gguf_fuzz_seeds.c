/* Seed files for fuzzing the GGUF reader, made with the writer at test time
 * (nothing binary is kept in the repository): every value type, every tensor
 * type, an empty file, and the metadata of stories260K with its small
 * tensors. Small on purpose, so that mutations land in the parts the reader
 * parses rather than in tensor data. */
#include "tektra/gguf.h"
#include "tektra/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gguf_fuzz_make_seeds(const char *dir);

static int write_seed(tk_gguf_writer *w, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tk_status st = tk_gguf_writer_write(w, path);
    tk_gguf_writer_free(w);
    if (st != TK_OK) fprintf(stderr, "seed %s: %s\n", name, tk_last_error());
    return st == TK_OK ? 1 : 0;
}

static int seed_all_types(const char *dir)
{
    tk_gguf_writer *w = NULL;
    if (tk_gguf_writer_create(&w) != TK_OK) return 0;
    uint64_t zero = 0x8070605040302010ull; /* host-order bytes for every scalar width */
    for (int t = 0; t < TK_GGUF_TYPE_COUNT; t++) {
        if (t == TK_GGUF_STRING || t == TK_GGUF_ARRAY) continue;
        char key[32];
        snprintf(key, sizeof key, "s.%s", tk_gguf_type_name((tk_gguf_type)t));
        bool one = true;
        tk_gguf_writer_set_scalar(w, key, (tk_gguf_type)t,
                                  t == TK_GGUF_BOOL ? (void *)&one : (void *)&zero);
        uint8_t arr[3 * 8] = {1, 0, 1, 0, 0, 0, 0, 0, 1};
        snprintf(key, sizeof key, "a.%s", tk_gguf_type_name((tk_gguf_type)t));
        tk_gguf_writer_set_arr(w, key, (tk_gguf_type)t, arr, 3);
    }
    tk_gguf_writer_set_u32(w, "general.alignment", 64);
    tk_gguf_writer_set_str(w, "general.architecture", "llama");
    tk_gguf_writer_set_str(w, "s.utf8", "h\xc3\xa9llo \xe2\x9c\x93");
    const char *strs[] = {"<s>", "", "\xc4\xa0the", "x"};
    tk_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, 4);
    tk_gguf_writer_set_arr_str(w, "a.empty", NULL, 0);
    static float f32[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    int64_t ne[2] = {3, 2};
    tk_gguf_writer_add_tensor(w, "w.f32", TK_TYPE_F32, 2, ne, f32, sizeof f32);
    static uint16_t f16[4] = {0x3c00, 0xc000, 0, 0x7bff};
    int64_t ne16[1] = {4};
    tk_gguf_writer_add_tensor(w, "w.f16", TK_TYPE_F16, 1, ne16, f16, sizeof f16);
    return write_seed(w, dir, "all-types.gguf");
}

/* One small tensor of every type the table knows. */
static int seed_tensor_types(const char *dir)
{
    tk_gguf_writer *w = NULL;
    if (tk_gguf_writer_create(&w) != TK_OK) return 0;
    static uint8_t data[4096];
    for (int t = 0; t < TK_TYPE_GGUF_END; t++) {
        const tk_type_info *ti = tk_type_get(t);
        if (!ti) continue;
        int64_t ne[2] = {ti->block_size, 2};
        uint64_t bytes = 0;
        if (tk_type_size(t, ne[0] * ne[1], &bytes) != TK_OK || bytes > sizeof data) continue;
        char name[32];
        snprintf(name, sizeof name, "t.%s", ti->name);
        tk_gguf_writer_add_tensor(w, name, t, 2, ne, data, bytes);
    }
    return write_seed(w, dir, "tensor-types.gguf");
}

static int seed_empty(const char *dir)
{
    tk_gguf_writer *w = NULL;
    if (tk_gguf_writer_create(&w) != TK_OK) return 0;
    return write_seed(w, dir, "empty.gguf");
}

/* stories260K's metadata (a real 512-token vocabulary) with its 1-D tensors. */
static int seed_stories(const char *dir)
{
    const char *root = getenv("TK_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", root ? root : "../shared");
    tk_gguf *g = NULL;
    if (tk_gguf_open(path, &g) != TK_OK) {
        fprintf(stderr, "seed stories: %s (skipped)\n", tk_last_error());
        return 0;
    }
    tk_gguf_writer *w = NULL;
    tk_gguf_writer_create(&w);
    for (int64_t i = 0; i < tk_gguf_n_kv(g); i++) tk_gguf_writer_copy_kv(w, g, i);
    for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        if (t->n_dims == 1)
            tk_gguf_writer_add_tensor(w, t->name, t->type, 1, t->ne, t->data, t->size);
    }
    int n = write_seed(w, dir, "stories-mini.gguf"); /* tensor data read before close */
    tk_gguf_close(g);
    return n;
}

int gguf_fuzz_make_seeds(const char *dir)
{
    return seed_all_types(dir) + seed_tensor_types(dir) + seed_empty(dir) + seed_stories(dir);
}

#ifdef GGUF_SEEDS_MAIN
int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_gguf_seeds DIR\n");
        return 2;
    }
    int n = gguf_fuzz_make_seeds(argv[1]);
    printf("%d seed files in %s\n", n, argv[1]);
    return n >= 3 ? 0 : 1;
}
#endif
