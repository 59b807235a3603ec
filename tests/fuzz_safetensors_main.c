/* The safetensors fuzz target's standalone driver (fuzz_driver.h): a few
 * seed files built in memory; the mutations are bit flips, random bytes, JSON
 * tokens (brackets, quotes, escapes, odd numbers) written over or into the
 * header, digits changed in place, 64-bit lengths, truncations, insertions,
 * deletions and copied chunks. Most edits land in the header, which is what
 * the reader parses.
 *
 *   fuzz_safetensors [ITERATIONS] [FILE...]   FILEs are replayed first. */
#include "fuzz_driver.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern long fuzz_safetensors_accepted;

/* A seed: header `json` padded with spaces to a multiple of 8, then `dlen`
 * data bytes. */
static fuzz_seed make_seed(const char *json, size_t dlen)
{
    size_t jl = strlen(json), pad = (8 - (8 + jl) % 8) % 8;
    fuzz_seed s;
    s.size = 8 + jl + pad + dlen;
    s.hot = 8 + jl + pad;
    s.data = malloc(s.size);
    if (!s.data) abort();
    fuzz_put_le(s.data, jl + pad, 8);
    memcpy(s.data + 8, json, jl);
    memset(s.data + 8 + jl, ' ', pad);
    for (size_t i = 0; i < dlen; i++) s.data[s.hot + i] = (uint8_t)(i * 37);
    return s;
}

static const char *const tokens[] = {
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u",
    "\\u0000",
    "\\ud800",
    "\\n",
    "-1",
    "1.5",
    "1e300",
    "0",
    "01",
    "-0",
    "2e0",
    "9007199254740992",
    "9007199254740993",
    "18446744073709551616",
    "null",
    "true",
    "\"\"",
    "\xc3\xa9",
    "\xff",
    "\xed\xa0\x80",
    "\x01",
    "\"F32\"",
    "\"BF16\"",
    "\"U8\"",
    "\"dtype\"",
    "\"shape\"",
    "\"data_offsets\"",
    "\"__metadata__\"",
    "[]",
    "[0,0]",
    "[1,1,1,1,1,1,1,1,1]",
    "{}",
    " ",
    "\n",
};

/* One random edit of buf (len bytes in use, cap allocated). */
static void mutate(uint8_t *buf, size_t *len, size_t cap, size_t hot)
{
    static const uint64_t interesting[] = {0,
                                           1,
                                           2,
                                           7,
                                           8,
                                           16,
                                           255,
                                           4096,
                                           0xffffffffull,
                                           (100ull << 20),
                                           (100ull << 20) + 1,
                                           1ull << 53,
                                           0x7fffffffffffffffull,
                                           UINT64_MAX};
    size_t n = *len;
    size_t pos = fuzz_pick_pos(n, hot, 90);
    switch (fuzz_rng() % 10) {
    case 0:
        fuzz_flip_bit(buf, n, pos);
        break;
    case 1:
        fuzz_random_byte(buf, n, pos);
        break;
    case 2: { /* the header length */
        uint64_t v = interesting[fuzz_rng_below(sizeof interesting / sizeof interesting[0])];
        if (fuzz_rng() % 2) v = n - 8 - fuzz_rng_below(16);
        if (n >= 8) fuzz_put_le(buf, v, 8);
        break;
    }
    case 3: { /* a digit changed in place */
        for (size_t k = 0; k < 64 && n; k++) {
            size_t q = (pos + k) % n;
            if (buf[q] >= '0' && buf[q] <= '9') {
                buf[q] = (uint8_t)('0' + fuzz_rng_below(10));
                break;
            }
        }
        break;
    }
    case 4:
    case 5: { /* a token inserted */
        const char *t = tokens[fuzz_rng_below(sizeof tokens / sizeof tokens[0])];
        uint8_t *gap = fuzz_open_gap(buf, len, cap, pos, strlen(t));
        if (gap) memcpy(gap, t, strlen(t));
        break;
    }
    case 6: { /* a token written over */
        const char *t = tokens[fuzz_rng_below(sizeof tokens / sizeof tokens[0])];
        size_t k = strlen(t);
        if (pos + k <= n) memcpy(buf + pos, t, k);
        break;
    }
    case 7:
        *len = fuzz_rng() % 4 ? pos : fuzz_rng_below(n + 1);
        break;
    case 8:
        fuzz_delete(buf, len, pos, 8);
        break;
    default:
        fuzz_copy_chunk(buf, n, pos);
        break;
    }
}

/* Five seeds: quantized MLX-style tensors with metadata, an empty header,
 * every other dtype and shape kind, odd whitespace and escapes, a gap. */
static int make_seeds(fuzz_seed *seeds, int max)
{
    if (max < 5) {
        fprintf(stderr, "room for %d seeds, 5 needed\n", max);
        return -1;
    }
    int n_seeds = 0;
    seeds[n_seeds++] = make_seed(
        "{\"__metadata__\":{\"format\":\"mlx\",\"k\":\"v\\u00e9\"},"
        "\"model.embed_tokens.weight\":{\"dtype\":\"U32\",\"shape\":[4,2],\"data_offsets\":[0,32]},"
        "\"model.embed_tokens.scales\":{\"dtype\":\"F16\",\"shape\":[4,1],\"data_offsets\":[32,40]}"
        ","
        "\"model.embed_tokens.biases\":{\"dtype\":\"BF16\",\"shape\":[4,1],\"data_offsets\":[40,"
        "48]},\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[48,56]}}",
        56);
    seeds[n_seeds++] = make_seed("{}", 0);
    seeds[n_seeds++] =
        make_seed("{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
                  "\"e\":{\"dtype\":\"I64\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
                  "\"b\":{\"dtype\":\"BOOL\",\"shape\":[1,1,1,1,1,1,1,3],\"data_offsets\":[8,11]},"
                  "\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[11,13]},"
                  "\"f8b\":{\"dtype\":\"F8_E5M2\",\"shape\":[2],\"data_offsets\":[13,15]},"
                  "\"u16\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[16,18]}}",
                  18);
    seeds[n_seeds++] = make_seed("{ \"a\\n\\\"b\" : { \"data_offsets\" : [ 0 , 4 ] ,\n"
                                 "\"dtype\":\"I32\", \"shape\" : [ 1 ] } ,\n"
                                 "\"__metadata__\" : { } }",
                                 4);
    seeds[n_seeds++] = make_seed("{\"x\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                                 "\"y\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[3,5]},"
                                 "\"z\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[6,8]}}",
                                 8);
    return n_seeds;
}

int main(int argc, char **argv)
{
    const fuzz_target t = {
        .rng_seed = 0x2545f4914f6cdd1dull,
        .make_seeds = make_seeds,
        .mutate = mutate,
        .slack = 512,
        .max_edits = 3,
        .accepted = &fuzz_safetensors_accepted,
    };
    return fuzz_main(argc, argv, &t);
}
