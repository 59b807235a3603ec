/* The whole-path fuzz target's standalone driver (fuzz_driver.h): seeds are
 * small real models from ../shared (stories260K, golden models of several
 * architectures and tensor types) and a vocabulary-only file; mutations hit
 * the header and tensor table most, and the tensor data with bit flips and
 * non-finite values (NaN, infinities as F32 and F16 bit patterns), which
 * the weight checks must catch before the kernels see them.
 *
 *   fuzz_load [ITERATIONS] [FILE...]   FILEs are replayed as they are first. */
#include "fuzz_driver.h"
#include "tektra/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mutate(uint8_t *buf, size_t *len, size_t cap, size_t hot)
{
    (void)cap;
    static const uint64_t interesting[] = {
        0,   1,   2,    3,      8,          16,          32,         64,
        255, 256, 4096, 0xffff, 0x7fffffff, 0x80000000u, UINT32_MAX, UINT64_MAX};
    static const uint32_t nonfinite32[] = {0x7fc00000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu};
    static const uint16_t nonfinite16[] = {0x7e00u, 0x7c00u, 0xfc00u, 0x7bffu};
    const size_t n = *len;
    const size_t pos = fuzz_pick_pos(n, hot, 60);
    switch (fuzz_rng() % 7) {
    case 0:
        fuzz_flip_bit(buf, n, pos);
        break;
    case 1:
        fuzz_random_byte(buf, n, pos);
        break;
    case 2: {
        const int w = (fuzz_rng() & 1) ? 8 : 4;
        const uint64_t v = interesting[fuzz_rng_below(sizeof interesting / sizeof *interesting)];
        if (pos + (size_t)w <= n) fuzz_put_le(buf + pos, v, w);
        break;
    }
    case 3: {
        /* a non-finite value somewhere in the tensor data */
        const size_t p = hot + fuzz_rng_below(n > hot ? n - hot : 0);
        if (fuzz_rng() & 1) {
            if (p + 4 <= n) fuzz_put_le(buf + p, nonfinite32[fuzz_rng_below(4)], 4);
        } else if (p + 2 <= n) {
            fuzz_put_le(buf + p, nonfinite16[fuzz_rng_below(4)], 2);
        }
        break;
    }
    case 4:
        *len = pos;
        break;
    case 5:
        fuzz_delete(buf, len, pos, 16);
        break;
    default:
        fuzz_copy_chunk(buf, n, pos);
        break;
    }
}

static int make_seeds(fuzz_seed *seeds, int max)
{
    static const char *const files[] = {
        "models/stories260K.gguf",        "oracle/llama-q2_k.gguf",
        "oracle/gemma3-mix-q4_0.gguf",    "oracle/llama-iq4_xs.gguf",
        "oracle/qwen2-mix-q4_k_m.gguf",   "oracle/qwen3-mix-q5_k_m.gguf",
        "oracle/phi3-mix-q6_k.gguf",      "oracle/gemma2-mix-q8_0.gguf",
        "tokenizer/vocab-llama-spm.gguf",
    };
    const char *shared = getenv("TK_SHARED");
    int n = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files && n < max; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", shared ? shared : "../shared", files[i]);
        fuzz_seed s = {0};
        s.data = fuzz_read_file(path, &s.size);
        if (!s.data) {
            fprintf(stderr, "fuzz_load: cannot read seed %s\n", path);
            continue;
        }
        tk_gguf *g = NULL;
        s.hot = s.size;
        if (tk_gguf_open_memory(s.data, s.size, &g) == TK_OK) {
            const uint64_t hot = tk_gguf_data_offset(g);
            s.hot = hot < s.size ? (size_t)hot : s.size;
        }
        tk_gguf_close(g);
        seeds[n++] = s;
    }
    if (n < 3) {
        fprintf(stderr, "fuzz_load: only %d seeds (set TK_SHARED to ../shared)\n", n);
        for (int i = 0; i < n; i++) free(seeds[i].data);
        return -1;
    }
    return n;
}

extern long fuzz_load_accepted;

int main(int argc, char **argv)
{
    const fuzz_target t = {
        .rng_seed = 0x243f6a8885a308d3ull,
        .make_seeds = make_seeds,
        .mutate = mutate,
        .slack = 64,
        .max_edits = 3,
        .accepted = &fuzz_load_accepted,
    };
    return fuzz_main(argc, argv, &t);
}
