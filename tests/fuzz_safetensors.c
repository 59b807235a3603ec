/* Fuzz target for the safetensors reader: any input either opens, and then
 * every tensor is a sane, in-bounds view that st_find finds again, or fails
 * with a status, a message and no set. Driven by fuzz_safetensors_main.c
 * (or libFuzzer: the entry point is the same). Contract violations abort()
 * (REQUIRE) so they are reported like crashes. */
#include "fuzz_driver.h"
#include "safetensors/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;
long fuzz_safetensors_accepted; /* inputs that opened, for the driver's summary */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_set *s = (st_set *)(uintptr_t)1;
    tk_status st = st_open_memory(data, size, &s);
    if (st != TK_OK) {
        /* TK_ERR_INTERNAL: the token scan and cJSON disagreed about the header */
        REQUIRE(s == NULL && tk_last_error()[0] != '\0' && st != TK_ERR_INTERNAL);
        return 0;
    }
    REQUIRE(st_total_bytes(s) == size);
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) header = header << 8 | data[i];
    REQUIRE(header >= 2 && header <= size - 8);
    const uint8_t *section = data + 8 + header, *end = data + size;
    for (int64_t i = 0; i < st_count(s); i++) {
        const st_tensor *t = st_at(s, i);
        REQUIRE(t && t->name && *t->name && strlen(t->name) <= ST_MAX_NAME);
        REQUIRE(st_find(s, t->name) == t);
        REQUIRE((unsigned)t->dtype < ST_DTYPE_COUNT && t->n_dims >= 0 && t->n_dims <= ST_MAX_DIMS);
        uint64_t n = 1;
        for (int d = 0; d < t->n_dims; d++) {
            REQUIRE(t->shape[d] >= 0);
            REQUIRE(!__builtin_mul_overflow(n, (uint64_t)t->shape[d], &n));
        }
        REQUIRE((uint64_t)t->n_elem == n && t->size == n * st_dtype_size(t->dtype));
        const uint8_t *p = t->data;
        REQUIRE(p >= section && p <= end && t->size <= (uint64_t)(end - p));
        if (t->size) sink += p[0] + p[t->size - 1];
        sink += strlen(t->file);
    }
    REQUIRE(st_at(s, st_count(s)) == NULL && st_at(s, -1) == NULL);
    const char *m = st_metadata(s, "format");
    sink += m ? strlen(m) : 0;
    st_close(s);
    fuzz_safetensors_accepted++;
    return 0;
}
