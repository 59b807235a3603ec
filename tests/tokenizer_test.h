/* Helpers shared by the tokenizer test programs (test_tokenizer.c,
 * test_tokenizer_hf.c): the inputs of ../shared/tokenizer/inputs.txt,
 * comparing and printing token ids against the JSON arrays of the reference
 * vectors, and the English text of the speed tests. Header-only, like check.h; include it after
 * check.h. */
#ifndef TK_TEST_TOKENIZER_TEST_H
#define TK_TEST_TOKENIZER_TEST_H

#include "core/core.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* The texts of inputs.txt, separated in the file by lines
 * "__ggml_vocab_test__". */
typedef struct tok_inputs {
    char *data; /* the file, each separator cut with a NUL; free() it */
    const char *text[128];
    size_t len[128];
    int n;
} tok_inputs;

/* Reads ../shared/tokenizer/inputs.txt into *in (one CHECK: that it reads). */
static inline void tok_inputs_load(tok_inputs *in)
{
    size_t size;
    tk_status st = core_read_file(shared_path("tokenizer/inputs.txt"), 1 << 20, &in->data, &size);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (st != TK_OK) return;
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *p = in->data, *end = in->data + size;
    while (in->n < 128) {
        char *q = strstr(p, sep);
        in->text[in->n] = p;
        in->len[in->n] = (size_t)((q ? q : end) - p);
        in->n++;
        if (!q) break;
        *q = '\0';
        p = q + strlen(sep);
    }
}

/* True when the JSON array holds exactly the ids a[0..na). */
static inline bool tok_ids_equal(const int32_t *a, size_t na, const cJSON *arr)
{
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != na) return false;
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        if (!cJSON_IsNumber(x) || (int32_t)x->valuedouble != a[i]) return false;
        i++;
    }
    return true;
}

/* Prints "    what: id id ..." (the first 40) to stderr. */
static inline void tok_print_ids(const char *what, const int32_t *a, size_t n)
{
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", a[i]);
    fprintf(stderr, "%s\n", n > 40 ? " ..." : "");
}

/* The same for a JSON array of ids. */
static inline void tok_print_json_ids(const char *what, const cJSON *arr)
{
    fprintf(stderr, "    %s:", what);
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        if (i++ == 40) {
            fprintf(stderr, " ...");
            break;
        }
        fprintf(stderr, " %d", (int)x->valuedouble);
    }
    fprintf(stderr, "\n");
}

/* About `target` bytes of English sentences (at least target, at most 256
 * more) for the speed tests; caller frees. */
static inline char *tok_english_text(size_t target, size_t *len)
{
    static const char *const sentences[] = {
        "The quick brown fox jumps over the lazy dog. ",
        "Once upon a time, there was a little girl named Lily who loved to play outside. ",
        "She'd often wonder why the sky was blue, and her father would say: \"Because it is!\" ",
        "In 1969, 3 astronauts flew 384,400 km to the Moon; they returned safely. ",
        "Tokenizers split text into pieces that a language model can understand.\n",
        "It's a truth universally acknowledged that a single man in possession of a good "
        "fortune must be in want of a wife. ",
    };
    char *text = malloc(target + 256);
    *len = 0;
    for (unsigned i = 0; *len < target; i = i * 7 + 3) {
        const char *s = sentences[i % TK_ARRAY_LEN(sentences)];
        size_t l = strlen(s);
        memcpy(text + *len, s, l);
        *len += l;
    }
    return text;
}

#endif
