/* SHA-256 (FIPS 180-4), for verifying downloaded model files.
 *
 * Streaming interface: init, update any number of times with any chunk
 * sizes, final. The digest of a given byte sequence does not depend on how
 * it was split into chunks. */
#ifndef TK_HUB_SHA256_H
#define TK_HUB_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct hub_sha256 {
    uint32_t state[8];
    uint64_t n_bytes;  /* message length so far */
    uint8_t block[64]; /* pending input, block_len bytes used */
    size_t block_len;
} hub_sha256;

void hub_sha256_init(hub_sha256 *s);
void hub_sha256_update(hub_sha256 *s, const void *data, size_t len);
/* Writes the 32-byte digest. `s` must be re-initialized before reuse. */
void hub_sha256_final(hub_sha256 *s, uint8_t digest[32]);

/* Digest as 64 lowercase hex characters plus NUL. */
void hub_sha256_hex(const uint8_t digest[32], char hex[65]);

/* One-shot digest of a buffer, as hex. */
void hub_sha256_buffer_hex(const void *data, size_t len, char hex[65]);

#endif
