/* Fuzz target for the GGUF reader: any input either opens, and then every
 * accessor returns sane, in-bounds answers that the writer accepts back, or
 * fails with a status and a message. Built as a libFuzzer target with clang
 * and driven by fuzz_gguf_main.c otherwise. Contract violations abort()
 * (REQUIRE) so the fuzzer reports them like crashes. */
#include "fuzz_driver.h"
#include "tektra/gguf.h"
#include "tektra/quant.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

static void touch_kv(const tk_gguf *g, int64_t i)
{
    const char *key = tk_gguf_kv_key(g, i);
    REQUIRE(key && *key && tk_gguf_find_kv(g, key) == i);
    tk_gguf_type t = tk_gguf_kv_type(g, i);
    REQUIRE(t < TK_GGUF_TYPE_COUNT);
    int64_t iv;
    uint64_t uv, len;
    double dv;
    bool bv;
    const char *s;
    sink += tk_gguf_kv_int(g, i, &iv) ? (uint64_t)iv : 0;
    sink += tk_gguf_kv_uint(g, i, &uv) ? uv : 0;
    sink += tk_gguf_kv_float(g, i, &dv) ? (uint64_t)(dv == dv) : 0;
    sink += tk_gguf_kv_bool(g, i, &bv) ? bv : 0;
    if (tk_gguf_kv_str(g, i, &s, &len)) {
        REQUIRE(t == TK_GGUF_STRING && s[len] == '\0');
        sink += len ? (unsigned char)s[len - 1] : 0;
    }
    if (t != TK_GGUF_ARRAY) {
        REQUIRE(tk_gguf_kv_arr_len(g, i) == 0 && tk_gguf_arr_data(g, i) == NULL);
        return;
    }
    tk_gguf_type et = tk_gguf_kv_arr_type(g, i);
    uint64_t n = tk_gguf_kv_arr_len(g, i);
    REQUIRE(et < TK_GGUF_TYPE_COUNT && et != TK_GGUF_ARRAY);
    REQUIRE((tk_gguf_arr_data(g, i) == NULL) == (et == TK_GGUF_STRING));
    for (uint64_t j = 0; j <= n && j < (1u << 16); j++) {
        bool any = false;
        if (tk_gguf_arr_str(g, i, j, &s, &len)) {
            REQUIRE(s[len] == '\0');
            sink += len ? (unsigned char)s[0] : 0;
            any = true;
        }
        any |= tk_gguf_arr_int(g, i, j, &iv);
        any |= tk_gguf_arr_uint(g, i, j, &uv);
        any |= tk_gguf_arr_float(g, i, j, &dv);
        any |= tk_gguf_arr_bool(g, i, j, &bv);
        if (j == n) REQUIRE(!any); /* one past the end is refused */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tk_gguf *g = (tk_gguf *)(uintptr_t)1;
    tk_status st = tk_gguf_open_memory(data, size, &g);
    if (st != TK_OK) {
        REQUIRE(g == NULL && tk_last_error()[0] != '\0');
        return 0;
    }
    REQUIRE(tk_gguf_file_size(g) == size);
    uint32_t align = tk_gguf_alignment(g);
    REQUIRE(align && (align & (align - 1)) == 0);
    REQUIRE(tk_gguf_version(g) >= 2 && tk_gguf_version(g) <= 3);
    REQUIRE(tk_gguf_data_offset(g) % align == 0);

    /* everything the reader accepts, the writer takes back */
    tk_gguf_writer *w = NULL;
    REQUIRE(tk_gguf_writer_create(&w) == TK_OK);
    for (int64_t i = 0; i < tk_gguf_n_kv(g); i++) {
        touch_kv(g, i);
        REQUIRE(tk_gguf_writer_copy_kv(w, g, i) == TK_OK);
    }
    REQUIRE(tk_gguf_kv_key(g, tk_gguf_n_kv(g)) == NULL && tk_gguf_kv_key(g, -1) == NULL);

    uint32_t u;
    float f;
    bool b;
    const char *s;
    sink += tk_gguf_get_u32(g, "general.alignment", &u) == TK_OK ? u : 0;
    sink += tk_gguf_get_f32(g, "llama.rope.freq_base", &f) == TK_OK;
    sink += tk_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == TK_OK;
    sink += tk_gguf_get_str(g, "general.architecture", &s) == TK_OK ? strlen(s) : 0;

    for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        REQUIRE(t && t->name && *t->name && tk_gguf_find_tensor(g, t->name) == t);
        REQUIRE(t->n_dims >= 1 && t->n_dims <= 4 && tk_type_get(t->type));
        REQUIRE(t->offset % align == 0 && t->offset >= tk_gguf_data_offset(g));
        REQUIRE(t->size > 0 && t->offset <= size && t->size <= size - t->offset);
        REQUIRE((const uint8_t *)t->data == data + t->offset);
        sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->size - 1];
        REQUIRE(tk_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                          t->size) == TK_OK);
    }
    REQUIRE(tk_gguf_tensor_at(g, tk_gguf_n_tensors(g)) == NULL);
    tk_gguf_writer_free(w);
    tk_gguf_close(g);
    return 0;
}
