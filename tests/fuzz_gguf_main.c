/* A standalone driver for the GGUF fuzz target, for compilers without
 * libFuzzer: it makes the seed files, runs each, then runs a fixed number of
 * deterministic mutations of them (bit flips, bytes, interesting 32/64-bit
 * values, truncations, insertions, deletions, copied chunks), most of them
 * aimed at the metadata and tensor table. Each input is handed over in an
 * exact-size heap buffer so the sanitizers see any read past its end.
 *
 *   fuzz_gguf [ITERATIONS] [FILE...]   FILEs are replayed as they are first. */
#include "tektra/gguf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int gguf_fuzz_make_seeds(const char *dir);

typedef struct seed {
    uint8_t *data;
    size_t size;
    size_t hot; /* bytes at the start that the reader parses (header + tables) */
} seed;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

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

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
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

/* One random edit of buf (len bytes in use, cap allocated). */
static void mutate(uint8_t *buf, size_t *len, size_t cap, size_t hot)
{
    static const uint64_t interesting[] = {0,
                                           1,
                                           2,
                                           3,
                                           4,
                                           5,
                                           7,
                                           8,
                                           9,
                                           12,
                                           13,
                                           16,
                                           31,
                                           32,
                                           33,
                                           63,
                                           64,
                                           255,
                                           256,
                                           1024,
                                           4096,
                                           0x7fff,
                                           0x8000,
                                           0xffff,
                                           0x7fffffff,
                                           0x80000000ull,
                                           0xffffffffull,
                                           1ull << 32,
                                           1ull << 40,
                                           1ull << 62,
                                           0x7fffffffffffffffull,
                                           0x8000000000000000ull,
                                           UINT64_MAX};
    size_t n = *len;
    size_t span = (rng() % 100) < 85 && hot ? (hot < n ? hot : n) : n;
    size_t pos = rng_below(span ? span : 1);
    switch (rng() % 8) {
    case 0:
        if (n) buf[pos % n] ^= (uint8_t)(1u << (rng() % 8));
        break;
    case 1:
        if (n) buf[pos % n] = (uint8_t)rng();
        break;
    case 2:
    case 3: {
        int w = (rng() & 1) ? 8 : 4;
        uint64_t v = interesting[rng_below(sizeof interesting / sizeof interesting[0])];
        if (rng() % 4 == 0) v = n - rng_below(64); /* near the file size */
        if (pos + (size_t)w <= n) put_le(buf + pos, v, w);
        break;
    }
    case 4:
        *len = pos;
        break;
    case 5: {
        size_t k = 1 + rng_below(16);
        if (n + k > cap || pos > n) break;
        memmove(buf + pos + k, buf + pos, n - pos);
        for (size_t i = 0; i < k; i++) buf[pos + i] = (uint8_t)rng();
        *len = n + k;
        break;
    }
    case 6: {
        size_t k = 1 + rng_below(16);
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

    char dir[] = "/tmp/tk_fuzz_gguf_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    gguf_fuzz_make_seeds(dir);
    seed seeds[16];
    int n_seeds = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        seed s = {0};
        s.data = read_file(path, &s.size);
        remove(path);
        if (!s.data || n_seeds == 16) {
            free(s.data);
            continue;
        }
        tk_gguf *g = NULL;
        if (tk_gguf_open_memory(s.data, s.size, &g) == TK_OK) {
            uint64_t hot = tk_gguf_data_offset(g) + 64;
            s.hot = hot < s.size ? (size_t)hot : s.size;
        } else {
            s.hot = s.size;
        }
        tk_gguf_close(g);
        seeds[n_seeds++] = s;
    }
    if (d) closedir(d);
    rmdir(dir);
    if (n_seeds < 3) {
        fprintf(stderr, "only %d seed files\n", n_seeds);
        return 1;
    }
    for (int i = 0; i < n_seeds; i++) run_one(seeds[i].data, seeds[i].size);

    size_t max = 0;
    for (int i = 0; i < n_seeds; i++)
        if (seeds[i].size > max) max = seeds[i].size;
    size_t cap = max + 256;
    uint8_t *buf = malloc(cap);
    if (!buf) return 1;
    for (long it = 0; it < iterations; it++) {
        const seed *s = &seeds[rng_below((size_t)n_seeds)];
        memcpy(buf, s->data, s->size);
        size_t len = s->size;
        int edits = 1 + (int)rng_below(4);
        for (int k = 0; k < edits; k++) mutate(buf, &len, cap, s->hot);
        run_one(buf, len);
    }
    free(buf);
    for (int i = 0; i < n_seeds; i++) free(seeds[i].data);
    printf("%d seeds, %ld mutations: no crash, no contract violation\n", n_seeds, iterations);
    return 0;
}
