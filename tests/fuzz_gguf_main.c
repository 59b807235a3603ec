/* The GGUF fuzz target's standalone driver, for compilers without
 * libFuzzer (fuzz_driver.h): the seed files come from gguf_fuzz_seeds.c;
 * the mutations are bit flips, bytes, interesting 32/64-bit values,
 * truncations, insertions, deletions and copied chunks, most of them aimed at
 * the metadata and tensor table.
 *
 *   fuzz_gguf [ITERATIONS] [FILE...]   FILEs are replayed as they are first. */
#include "fuzz_driver.h"
#include "tektra/gguf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

int gguf_fuzz_make_seeds(const char *dir);

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
    size_t pos = fuzz_pick_pos(n, hot, 85);
    switch (fuzz_rng() % 8) {
    case 0:
        fuzz_flip_bit(buf, n, pos);
        break;
    case 1:
        fuzz_random_byte(buf, n, pos);
        break;
    case 2:
    case 3: {
        int w = (fuzz_rng() & 1) ? 8 : 4;
        uint64_t v = interesting[fuzz_rng_below(sizeof interesting / sizeof interesting[0])];
        if (fuzz_rng() % 4 == 0) v = n - fuzz_rng_below(64); /* near the file size */
        if (pos + (size_t)w <= n) fuzz_put_le(buf + pos, v, w);
        break;
    }
    case 4:
        *len = pos;
        break;
    case 5: {
        size_t k = 1 + fuzz_rng_below(16);
        uint8_t *gap = fuzz_open_gap(buf, len, cap, pos, k);
        for (size_t i = 0; gap && i < k; i++) gap[i] = (uint8_t)fuzz_rng();
        break;
    }
    case 6:
        fuzz_delete(buf, len, pos, 16);
        break;
    default:
        fuzz_copy_chunk(buf, n, pos);
        break;
    }
}

/* The seed files, written to a temporary directory and read back; the hot
 * part is everything before the tensor data and 64 bytes more. */
static int make_seeds(fuzz_seed *seeds, int max)
{
    char dir[] = "/tmp/tk_fuzz_gguf_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return -1;
    }
    gguf_fuzz_make_seeds(dir);
    int n_seeds = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        fuzz_seed s = {0};
        s.data = fuzz_read_file(path, &s.size);
        remove(path);
        if (!s.data || n_seeds == max) {
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
        for (int i = 0; i < n_seeds; i++) free(seeds[i].data);
        return -1;
    }
    return n_seeds;
}

int main(int argc, char **argv)
{
    const fuzz_target t = {
        .rng_seed = 0x9e3779b97f4a7c15ull,
        .make_seeds = make_seeds,
        .mutate = mutate,
        .slack = 256,
        .max_edits = 4,
    };
    return fuzz_main(argc, argv, &t);
}
