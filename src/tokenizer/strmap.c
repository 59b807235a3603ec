/* tok_strmap: byte strings -> int32 values, open addressing with linear
 * probing. Used for text -> token lookups on every tokenize call, so lookups
 * do not allocate and hash each string once. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

uint64_t tok_hash_bytes(const char *s, size_t len)
{
    /* FNV-1a, then a final mix so that the low bits used as the slot index
     * depend on every byte. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void tok_strmap_free(tok_strmap *m)
{
    free(m->arena);
    free(m->off);
    free(m->len);
    free(m->value);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

int32_t tok_strmap_find(const tok_strmap *m, const char *s, size_t len)
{
    if (!m->slots) return -1;
    uint64_t h = tok_hash_bytes(s, len);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        uint32_t e = m->slots[i];
        if (e == 0) return -1;
        e--;
        if (m->len[e] == len && memcmp(m->arena + m->off[e], s, len) == 0) return m->value[e];
    }
}

static void insert_slot(tok_strmap *m, uint32_t e)
{
    uint64_t h = tok_hash_bytes(m->arena + m->off[e], m->len[e]);
    uint32_t i = (uint32_t)h & m->mask;
    while (m->slots[i]) i = (i + 1) & m->mask;
    m->slots[i] = e + 1;
}

static tk_status grow_slots(tok_strmap *m)
{
    uint32_t cap = m->slots ? (m->mask + 1) * 2 : 1024;
    if (cap == 0 || cap > (1u << 30)) return core_error(TK_ERR_LIMIT, "string table too large");
    uint32_t *slots = core_calloc(cap, sizeof *slots);
    if (!slots) return core_error(TK_ERR_NOMEM, "string table: out of memory");
    free(m->slots);
    m->slots = slots;
    m->mask = cap - 1;
    for (uint32_t e = 0; e < m->n; e++) insert_slot(m, e);
    return TK_OK;
}

tk_status tok_strmap_add(tok_strmap *m, const char *s, size_t len, int32_t value, bool *found,
                         uint32_t *entry)
{
    if (m->slots) {
        uint64_t h = tok_hash_bytes(s, len);
        for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
            uint32_t e = m->slots[i];
            if (e == 0) break;
            e--;
            if (m->len[e] == len && memcmp(m->arena + m->off[e], s, len) == 0) {
                if (found) *found = true;
                if (entry) *entry = e;
                return TK_OK;
            }
        }
    }
    if (found) *found = false;
    if (m->n == UINT32_MAX - 1 || len > UINT32_MAX)
        return core_error(TK_ERR_LIMIT, "string table too large");
    /* Keep the load factor at or below 1/2. */
    if (!m->slots || (uint64_t)(m->n + 1) * 2 > (uint64_t)m->mask + 1) {
        tk_status st = grow_slots(m);
        if (st != TK_OK) return st;
    }
    if (m->n == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 1024;
        uint32_t *off = realloc(m->off, (size_t)cap * sizeof *off);
        if (off) m->off = off;
        uint32_t *ln = off ? realloc(m->len, (size_t)cap * sizeof *ln) : NULL;
        if (ln) m->len = ln;
        int32_t *val = ln ? realloc(m->value, (size_t)cap * sizeof *val) : NULL;
        if (!val) return core_error(TK_ERR_NOMEM, "string table: out of memory");
        m->value = val;
        m->cap = cap;
    }
    size_t need = m->arena_len + len + 1;
    if (need > UINT32_MAX) return core_error(TK_ERR_LIMIT, "string table over 4 GiB");
    if (need > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 65536;
        while (cap < need) cap *= 2;
        char *a = realloc(m->arena, cap);
        if (!a) return core_error(TK_ERR_NOMEM, "string table: out of memory");
        m->arena = a;
        m->arena_cap = cap;
    }
    uint32_t e = m->n++;
    m->off[e] = (uint32_t)m->arena_len;
    m->len[e] = (uint32_t)len;
    m->value[e] = value;
    if (len) memcpy(m->arena + m->arena_len, s, len);
    m->arena[m->arena_len + len] = '\0';
    m->arena_len = need;
    insert_slot(m, e);
    if (entry) *entry = e;
    return TK_OK;
}
