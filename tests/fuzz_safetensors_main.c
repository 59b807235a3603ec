/* A standalone driver for the safetensors fuzz target: it builds a few seed
 * files in memory, runs each, then runs a fixed number of deterministic
 * mutations of them: bit flips, random bytes, JSON tokens (brackets, quotes,
 * escapes, odd numbers) written over or into the header, digits changed in
 * place, 64-bit lengths, truncations, insertions, deletions and copied
 * chunks. Most edits land in the header, which is what the reader parses.
 * Each input is handed over in an exact-size heap buffer so the sanitizers
 * see any read past its end.
 *
 *   fuzz_safetensors [ITERATIONS] [FILE...]   FILEs are replayed first. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern long fuzz_safetensors_accepted;

typedef struct seed {
    uint8_t *data;
    size_t size;
    size_t hot; /* 8 + the header length: the bytes the reader parses */
} seed;

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t rng_below(size_t n)
{
    return n ? (size_t)(rng() % n) : 0;
}

static void run_one(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    if (size) memcpy(copy, data, size);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A seed: header `json` padded with spaces to a multiple of 8, then `dlen`
 * data bytes. */
static seed make_seed(const char *json, size_t dlen)
{
    size_t jl = strlen(json), pad = (8 - (8 + jl) % 8) % 8;
    seed s;
    s.size = 8 + jl + pad + dlen;
    s.hot = 8 + jl + pad;
    s.data = malloc(s.size);
    if (!s.data) abort();
    put_le(s.data, jl + pad, 8);
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
    size_t span = (rng() % 100) < 90 && hot ? (hot < n ? hot : n) : n;
    size_t pos = rng_below(span ? span : 1);
    switch (rng() % 10) {
    case 0:
        if (n) buf[pos % n] ^= (uint8_t)(1u << (rng() % 8));
        break;
    case 1:
        if (n) buf[pos % n] = (uint8_t)rng();
        break;
    case 2: { /* the header length */
        uint64_t v = interesting[rng_below(sizeof interesting / sizeof interesting[0])];
        if (rng() % 2) v = n - 8 - rng_below(16);
        if (n >= 8) put_le(buf, v, 8);
        break;
    }
    case 3: { /* a digit changed in place */
        for (size_t k = 0; k < 64 && n; k++) {
            size_t q = (pos + k) % n;
            if (buf[q] >= '0' && buf[q] <= '9') {
                buf[q] = (uint8_t)('0' + rng_below(10));
                break;
            }
        }
        break;
    }
    case 4:
    case 5: { /* a token inserted */
        const char *t = tokens[rng_below(sizeof tokens / sizeof tokens[0])];
        size_t k = strlen(t);
        if (n + k > cap || pos > n) break;
        memmove(buf + pos + k, buf + pos, n - pos);
        memcpy(buf + pos, t, k);
        *len = n + k;
        break;
    }
    case 6: { /* a token written over */
        const char *t = tokens[rng_below(sizeof tokens / sizeof tokens[0])];
        size_t k = strlen(t);
        if (pos + k <= n) memcpy(buf + pos, t, k);
        break;
    }
    case 7:
        *len = rng() % 4 ? pos : rng_below(n + 1);
        break;
    case 8: {
        size_t k = 1 + rng_below(8);
        if (pos + k > n) break;
        memmove(buf + pos, buf + pos + k, n - pos - k);
        *len = n - k;
        break;
    }
    default: {
        size_t k = 1 + rng_below(32), from = rng_below(n);
        if (from + k > n || pos + k > n) break;
        memmove(buf + pos, buf + from, k);
        break;
    }
    }
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    fclose(f);
    *size = n;
    return buf;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    for (int i = 2; i < argc; i++) {
        size_t n = 0;
        uint8_t *d = read_file(argv[i], &n);
        if (!d) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            return 1;
        }
        run_one(d, n);
        free(d);
        printf("replayed %s\n", argv[i]);
    }
    if (iterations <= 0) return 0;

    seed seeds[5];
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
    for (int i = 0; i < n_seeds; i++) run_one(seeds[i].data, seeds[i].size);

    size_t max = 0;
    for (int i = 0; i < n_seeds; i++)
        if (seeds[i].size > max) max = seeds[i].size;
    size_t cap = max + 512;
    uint8_t *buf = malloc(cap);
    if (!buf) return 1;
    for (long it = 0; it < iterations; it++) {
        const seed *s = &seeds[rng_below((size_t)n_seeds)];
        memcpy(buf, s->data, s->size);
        size_t len = s->size;
        int edits = 1 + (int)rng_below(3);
        for (int k = 0; k < edits; k++) mutate(buf, &len, cap, s->hot);
        run_one(buf, len);
    }
    free(buf);
    for (int i = 0; i < n_seeds; i++) free(seeds[i].data);
    printf("%d seeds, %ld mutations (%ld accepted): no crash, no contract violation\n", n_seeds,
           iterations, fuzz_safetensors_accepted - n_seeds);
    return 0;
}
