/* The standalone mutation driver (see fuzz_driver.h). */
#include "fuzz_driver.h"

#include <stdio.h>
#include <string.h>

static uint64_t rng_state;

uint64_t fuzz_rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

size_t fuzz_rng_below(size_t n)
{
    return n ? (size_t)(fuzz_rng() % n) : 0;
}

void fuzz_put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint8_t *fuzz_read_file(const char *path, size_t *size)
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

size_t fuzz_pick_pos(size_t n, size_t hot, unsigned hot_percent)
{
    size_t span = (fuzz_rng() % 100) < hot_percent && hot ? (hot < n ? hot : n) : n;
    return fuzz_rng_below(span ? span : 1);
}

void fuzz_flip_bit(uint8_t *buf, size_t n, size_t pos)
{
    if (n) buf[pos % n] ^= (uint8_t)(1u << (fuzz_rng() % 8));
}

void fuzz_random_byte(uint8_t *buf, size_t n, size_t pos)
{
    if (n) buf[pos % n] = (uint8_t)fuzz_rng();
}

uint8_t *fuzz_open_gap(uint8_t *buf, size_t *len, size_t cap, size_t pos, size_t k)
{
    size_t n = *len;
    if (n + k > cap || pos > n) return NULL;
    memmove(buf + pos + k, buf + pos, n - pos);
    *len = n + k;
    return buf + pos;
}

void fuzz_delete(uint8_t *buf, size_t *len, size_t pos, size_t max_bytes)
{
    size_t n = *len, k = 1 + fuzz_rng_below(max_bytes);
    if (pos + k > n) return;
    memmove(buf + pos, buf + pos + k, n - pos - k);
    *len = n - k;
}

void fuzz_copy_chunk(uint8_t *buf, size_t n, size_t pos)
{
    size_t k = 1 + fuzz_rng_below(32), from = fuzz_rng_below(n);
    if (from + k > n || pos + k > n) return;
    memmove(buf + pos, buf + from, k);
}

static void run_one(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    if (size) memcpy(copy, data, size);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
}

int fuzz_main(int argc, char **argv, const fuzz_target *t)
{
    rng_state = t->rng_seed;
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    for (int i = 2; i < argc; i++) {
        size_t n = 0;
        uint8_t *d = fuzz_read_file(argv[i], &n);
        if (!d) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            return 1;
        }
        run_one(d, n);
        free(d);
        printf("replayed %s\n", argv[i]);
    }
    if (iterations <= 0) return 0;

    fuzz_seed seeds[16];
    int n_seeds = t->make_seeds(seeds, (int)(sizeof seeds / sizeof seeds[0]));
    if (n_seeds < 0) return 1;
    for (int i = 0; i < n_seeds; i++) run_one(seeds[i].data, seeds[i].size);

    size_t max = 0;
    for (int i = 0; i < n_seeds; i++)
        if (seeds[i].size > max) max = seeds[i].size;
    size_t cap = max + t->slack;
    uint8_t *buf = malloc(cap);
    if (!buf) return 1;
    for (long it = 0; it < iterations; it++) {
        const fuzz_seed *s = &seeds[fuzz_rng_below((size_t)n_seeds)];
        memcpy(buf, s->data, s->size);
        size_t len = s->size;
        int edits = 1 + (int)fuzz_rng_below((size_t)t->max_edits);
        for (int k = 0; k < edits; k++) t->mutate(buf, &len, cap, s->hot);
        run_one(buf, len);
    }
    free(buf);
    for (int i = 0; i < n_seeds; i++) free(seeds[i].data);
    if (t->accepted)
        printf("%d seeds, %ld mutations (%ld accepted): no crash, no contract violation\n", n_seeds,
               iterations, *t->accepted - n_seeds);
    else
        printf("%d seeds, %ld mutations: no crash, no contract violation\n", n_seeds, iterations);
    return 0;
}
