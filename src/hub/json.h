/* A bounded pull parser for the little JSON the hub reads (the Hugging Face
 * tree listing, a model directory's config.json). The caller walks the
 * document with the calls below; any error sets `failed` and makes every
 * later call return false, so a walk can check once at the end. */
#ifndef TK_HUB_JSON_H
#define TK_HUB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hj_parser {
    const char *p, *end; /* the unread text (borrowed) */
    int depth;           /* open objects and arrays, at most 64 */
    bool failed;
} hj_parser;

void hj_init(hj_parser *j, const char *text, size_t len);

/* True when the next token starts with `c` (whitespace skipped). */
bool hj_peek(hj_parser *j, char c);
/* Consumes `c` or fails. */
bool hj_expect(hj_parser *j, char c);

/* A string, unescaped into out (UTF-8, NUL-terminated); fails when it does
 * not fit in `size`. With out == NULL the string is checked and skipped. */
bool hj_string(hj_parser *j, char *out, size_t size);
/* A non-negative integer (no fraction or exponent) that fits in 64 bits. */
bool hj_u64(hj_parser *j, uint64_t *out);
/* Skips any value. */
bool hj_skip(hj_parser *j);

/* Objects: hj_object_begin, then while (hj_object_key(...)) read or skip
 * the value. hj_object_key returns false at the closing brace (or on an
 * error: check `failed`). A key longer than `size` is skipped over and
 * reported through *long_key (may be NULL) with key = ""; key may be NULL
 * to ignore keys. `first` starts true. */
bool hj_object_begin(hj_parser *j);
bool hj_object_key(hj_parser *j, bool *first, char *key, size_t size, bool *long_key);

/* Arrays: hj_array_begin, then while (hj_array_next(...)) read one value. */
bool hj_array_begin(hj_parser *j);
bool hj_array_next(hj_parser *j, bool *first);

/* True when the whole text was consumed without an error. */
bool hj_done(hj_parser *j);

#endif
