/* A small pull parser for the JSON the hub reads: the Hugging Face tree
 * listing and a model directory's config.json (RFC 8259). It walks the text
 * in place, never allocates, and stops at the first error; nesting depth
 * and string lengths are bounded so that hostile input costs only time
 * linear in its length. */
#include "hub/json.h"

#include <string.h>

enum { HJ_MAX_DEPTH = 64 };

void hj_init(hj_parser *j, const char *text, size_t len)
{
    j->p = text;
    j->end = text + len;
    j->depth = 0;
    j->failed = false;
}

static bool fail(hj_parser *j)
{
    j->failed = true;
    return false;
}

static void skip_ws(hj_parser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

bool hj_peek(hj_parser *j, char c)
{
    if (j->failed) return false;
    skip_ws(j);
    return j->p < j->end && *j->p == c;
}

bool hj_expect(hj_parser *j, char c)
{
    if (!hj_peek(j, c)) return fail(j);
    j->p++;
    return true;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Appends code point `cp` as UTF-8 at out[*n] when it fits (out may be NULL
 * to measure nothing). */
static bool put_utf8(char *out, size_t size, size_t *n, unsigned cp)
{
    char b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    if (!out) return true;
    if (*n + k >= size) return false;
    memcpy(out + *n, b, k);
    *n += k;
    return true;
}

bool hj_string(hj_parser *j, char *out, size_t size)
{
    if (!hj_expect(j, '"')) return false;
    size_t n = 0;
    if (out && size == 0) return fail(j);
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"') {
            if (out) out[n] = '\0';
            return true;
        }
        if (c < 0x20) return fail(j);
        if (c != '\\') {
            if (out) {
                if (n + 1 >= size) return fail(j);
                out[n++] = (char)c;
            }
            continue;
        }
        if (j->p >= j->end) return fail(j);
        char e = *j->p++;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(from, e) : NULL;
        unsigned cp;
        if (k) {
            cp = (unsigned char)to[k - from];
        } else if (e == 'u') {
            if (j->end - j->p < 4) return fail(j);
            int v = hex4(j->p);
            if (v < 0) return fail(j);
            j->p += 4;
            cp = (unsigned)v;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* A high surrogate must be followed by a low one. */
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u') return fail(j);
                int lo = hex4(j->p + 2);
                if (lo < 0xDC00 || lo > 0xDFFF) return fail(j);
                j->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned)lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(j);
            }
        } else {
            return fail(j);
        }
        /* A NUL would cut the string short in C: refused. */
        if (cp == 0 || !put_utf8(out, size, &n, cp)) return fail(j);
    }
    return fail(j);
}

bool hj_u64(hj_parser *j, uint64_t *out)
{
    if (j->failed) return false;
    skip_ws(j);
    uint64_t v = 0;
    const char *start = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        uint64_t d = (uint64_t)(*j->p - '0');
        if (v > (UINT64_MAX - d) / 10) return fail(j);
        v = v * 10 + d;
        j->p++;
    }
    if (j->p == start) return fail(j);
    /* A fraction or exponent makes it something other than a byte count. */
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) return fail(j);
    *out = v;
    return true;
}

static bool skip_literal(hj_parser *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) return fail(j);
    j->p += n;
    return true;
}

static bool skip_number(hj_parser *j)
{
    const char *start = j->p;
    while (j->p < j->end && strchr("+-0123456789.eE", *j->p)) j->p++;
    return j->p > start ? true : fail(j);
}

bool hj_skip(hj_parser *j)
{
    if (j->failed) return false;
    skip_ws(j);
    if (j->p >= j->end) return fail(j);
    switch (*j->p) {
    case '"':
        return hj_string(j, NULL, 0);
    case 't':
        return skip_literal(j, "true");
    case 'f':
        return skip_literal(j, "false");
    case 'n':
        return skip_literal(j, "null");
    case '{': {
        bool first = true;
        if (!hj_object_begin(j)) return false;
        while (hj_object_key(j, &first, NULL, 0, NULL))
            if (!hj_skip(j)) return false;
        return !j->failed;
    }
    case '[': {
        bool first = true;
        if (!hj_array_begin(j)) return false;
        while (hj_array_next(j, &first))
            if (!hj_skip(j)) return false;
        return !j->failed;
    }
    default:
        return skip_number(j);
    }
}

bool hj_object_begin(hj_parser *j)
{
    if (j->depth >= HJ_MAX_DEPTH) return fail(j);
    if (!hj_expect(j, '{')) return false;
    j->depth++;
    return true;
}

bool hj_array_begin(hj_parser *j)
{
    if (j->depth >= HJ_MAX_DEPTH) return fail(j);
    if (!hj_expect(j, '[')) return false;
    j->depth++;
    return true;
}

bool hj_object_key(hj_parser *j, bool *first, char *key, size_t size, bool *long_key)
{
    if (j->failed) return false;
    if (hj_peek(j, '}')) {
        j->p++;
        j->depth--;
        return false;
    }
    if (!*first && !hj_expect(j, ',')) return false;
    *first = false;
    const char *save = j->p;
    bool ok = hj_string(j, key, key ? size : 0);
    if (long_key) *long_key = false;
    if (!ok) {
        /* Retry as a skipped string: too long for `key` is not malformed. */
        j->failed = false;
        j->p = save;
        if (!hj_string(j, NULL, 0)) return false;
        if (key && size) key[0] = '\0';
        if (long_key) *long_key = true;
    }
    return hj_expect(j, ':');
}

bool hj_array_next(hj_parser *j, bool *first)
{
    if (j->failed) return false;
    if (hj_peek(j, ']')) {
        j->p++;
        j->depth--;
        return false;
    }
    if (!*first && !hj_expect(j, ',')) return false;
    *first = false;
    return !j->failed;
}

bool hj_done(hj_parser *j)
{
    if (j->failed) return false;
    skip_ws(j);
    return j->p == j->end;
}
