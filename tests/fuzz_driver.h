/* The standalone mutation driver shared by the fuzz targets (for compilers
 * without libFuzzer, and so the targets run under ASan/UBSan in every
 * sanitizer build): it replays the files named on the command line, makes
 * the target's seeds, runs each, then runs a fixed number of deterministic
 * mutations of them. A target supplies its seeds and its mutator, which
 * builds on the primitives here; the random sequence is fixed by the
 * target's rng_seed, so every run feeds the same inputs. Each input is
 * handed over in an exact-size heap buffer so the sanitizers see any read
 * past its end.
 *
 *   fuzz_<target> [ITERATIONS] [FILE...]   FILEs are replayed first. */
#ifndef TK_TEST_FUZZ_DRIVER_H
#define TK_TEST_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The entry point every fuzz target defines (the libFuzzer signature). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Contract violations abort() so they are reported like crashes. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) abort();                                                                      \
    } while (0)

typedef struct fuzz_seed {
    uint8_t *data; /* owned by the driver once made (freed with free()) */
    size_t size;
    size_t hot; /* bytes at the start that the reader parses; most edits land there */
} fuzz_seed;

typedef struct fuzz_target {
    uint64_t rng_seed;
    /* Fills seeds[0..max) and returns how many, or -1 after printing why. */
    int (*make_seeds)(fuzz_seed *seeds, int max);
    /* One random edit of buf: *len bytes in use, cap allocated, the first
     * `hot` bytes the parsed part. */
    void (*mutate)(uint8_t *buf, size_t *len, size_t cap, size_t hot);
    size_t slack;   /* bytes an input may grow by under mutation */
    int max_edits;  /* each mutated input gets 1..max_edits edits */
    long *accepted; /* inputs the target accepted (NULL: not counted), for the summary */
} fuzz_target;

/* The whole program: ITERATIONS (default 20000) and FILEs from argv. Returns
 * the exit status. */
int fuzz_main(int argc, char **argv, const fuzz_target *t);

/* ---- for seeds and mutators -------------------------------------------- */

/* xorshift64: the next value of the driver's deterministic sequence. */
uint64_t fuzz_rng(void);

/* A value in 0..n-1 (0 when n is 0). */
size_t fuzz_rng_below(size_t n);

/* Stores the low n bytes of v little-endian at p. */
void fuzz_put_le(uint8_t *p, uint64_t v, int n);

/* The whole file (caller frees), or NULL. */
uint8_t *fuzz_read_file(const char *path, size_t *size);

/* Where an edit goes: in the hot part with probability hot_percent/100 (when
 * there is one), else anywhere in the n bytes. */
size_t fuzz_pick_pos(size_t n, size_t hot, unsigned hot_percent);

/* Edits at pos of buf (n or *len bytes in use); out-of-range edits do
 * nothing. */
void fuzz_flip_bit(uint8_t *buf, size_t n, size_t pos);
void fuzz_random_byte(uint8_t *buf, size_t n, size_t pos);
/* Opens a gap of k bytes at pos (the bytes after it move up) and returns it
 * for the caller to fill, or NULL when it does not fit in cap. */
uint8_t *fuzz_open_gap(uint8_t *buf, size_t *len, size_t cap, size_t pos, size_t k);
void fuzz_delete(uint8_t *buf, size_t *len, size_t pos, size_t max_bytes);
void fuzz_copy_chunk(uint8_t *buf, size_t n, size_t pos);

#endif
