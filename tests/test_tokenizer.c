/* Tokenizer tests.
 *
 * Unit program (test_tokenizer):
 *  - golden vectors: every ../shared/tokenizer/<name>.json against
 *    <name>.gguf: ids without BOS/EOS and without special parsing ("plain"),
 *    ids with the vocabulary's BOS/EOS policy and special parsing
 *    ("bos_special"), and detokenize(plain) ("plain_decoded"); all identical;
 *  - every vocabulary in ../shared/tokenizer/extra loads and tokenizes the
 *    inputs without error, and round-trips where it is lossless;
 *  - the streaming detokenizer on characters split across byte tokens, and
 *    on ill-formed bytes;
 *  - malformed vocabularies written with the GGUF writer fail with clear
 *    errors; a tiny hand-made BPE vocabulary merges by rank;
 *  - the speed of tokenizing 1 MB of English text (printed, not asserted).
 *
 * Built with TOK_TEST_E2E (test_tokenizer_e2e) it instead runs the real
 * `tektra tokenize` / `tektra detokenize` on the stories260K model.
 */
#include "check.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#ifndef TOK_TEST_E2E

#include "core/core.h"
#include "tektra/gguf.h"
#include "tektra/tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test.h"

#include <cjson/cJSON.h>

/* ---- helpers ------------------------------------------------------------ */

static tk_tokenizer *load_vocab(const char *path)
{
    tk_gguf *g = NULL;
    tk_status st = tk_gguf_open(path, &g);
    CHECK_MSG(st == TK_OK, "%s: %s", path, tk_last_error());
    if (st != TK_OK) return NULL;
    tk_tokenizer *t = NULL;
    st = tk_tokenizer_load(g, &t);
    CHECK_MSG(st == TK_OK, "%s: %s", path, tk_last_error());
    tk_gguf_close(g); /* the tokenizer keeps its own copies */
    return t;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Sorted file names in dir ending with suffix; returns the count. */
static int list_dir(const char *dir, const char *suffix, char names[][256], int max)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (ends_with(e->d_name, suffix) && strlen(e->d_name) < 256) {
            snprintf(names[n], 256, "%s", e->d_name);
            n++;
        }
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char tmp[256];
            memcpy(tmp, names[j], 256);
            memcpy(names[j], names[j - 1], 256);
            memcpy(names[j - 1], tmp, 256);
        }
    return n;
}

/* ---- golden vectors -------------------------------------------------------- */

static void check_golden_file(const char *dir, const char *json_name)
{
    char path[4096], gguf[4096];
    snprintf(path, sizeof path, "%s/%s", dir, json_name);
    snprintf(gguf, sizeof gguf, "%s/%.*s.gguf", dir, (int)(strlen(json_name) - 5), json_name);
    char *data;
    size_t len;
    tk_status st = core_read_file(path, 64u << 20, &data, &len);
    CHECK_MSG(st == TK_OK, "%s: %s", path, tk_last_error());
    if (st != TK_OK) return;
    cJSON *root = cJSON_ParseWithLength(data, len);
    free(data);
    CHECK_MSG(root != NULL, "%s: not JSON", path);
    if (!root) return;
    tk_tokenizer *t = load_vocab(gguf);
    const cJSON *vectors = cJSON_GetObjectItemCaseSensitive(root, "vectors");
    const cJSON *n_vocab = cJSON_GetObjectItemCaseSensitive(root, "n_vocab");
    if (t) {
        CHECK_INT(tk_tokenizer_n_vocab(t), n_vocab ? (int)n_vocab->valuedouble : -1);
        int n = 0, ok_plain = 0, ok_bos = 0, ok_dec = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, vectors)
        {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(v, "text");
            const cJSON *plain = cJSON_GetObjectItemCaseSensitive(v, "plain");
            const cJSON *bos = cJSON_GetObjectItemCaseSensitive(v, "bos_special");
            const cJSON *dec = cJSON_GetObjectItemCaseSensitive(v, "plain_decoded");
            if (!cJSON_IsString(text) || !cJSON_IsString(dec)) continue;
            n++;
            const char *s = text->valuestring;
            int32_t *ids = NULL;
            size_t n_ids = 0;
            st = tk_tokenize_alloc(t, s, strlen(s), false, false, &ids, &n_ids);
            CHECK_MSG(st == TK_OK, "%s: %s", json_name, tk_last_error());
            if (st == TK_OK && tok_ids_equal(ids, n_ids, plain)) {
                ok_plain++;
            } else if (st == TK_OK) {
                fprintf(stderr, "%s: plain differs for vector %d\n", json_name, n - 1);
                tok_print_ids("got     ", ids, n_ids);
                tok_print_json_ids("expected", plain);
            }
            char *out = NULL;
            size_t out_len = 0;
            if (st == TK_OK) {
                st = tk_detokenize_alloc(t, ids, n_ids, false, false, &out, &out_len);
                CHECK_MSG(st == TK_OK, "%s: %s", json_name, tk_last_error());
                if (st == TK_OK && out_len == strlen(dec->valuestring) &&
                    memcmp(out, dec->valuestring, out_len) == 0)
                    ok_dec++;
                else if (st == TK_OK)
                    fprintf(stderr,
                            "%s: decoded differs for vector %d:\n  got      '%s'\n  "
                            "expected '%s'\n",
                            json_name, n - 1, out, dec->valuestring);
            }
            free(out);
            free(ids);
            ids = NULL;
            st = tk_tokenize_alloc(t, s, strlen(s), true, true, &ids, &n_ids);
            CHECK_MSG(st == TK_OK, "%s: %s", json_name, tk_last_error());
            if (st == TK_OK && tok_ids_equal(ids, n_ids, bos)) {
                ok_bos++;
            } else if (st == TK_OK) {
                fprintf(stderr, "%s: bos_special differs for vector %d\n", json_name, n - 1);
                tok_print_ids("got     ", ids, n_ids);
                tok_print_json_ids("expected", bos);
            }
            free(ids);
        }
        printf("%-26s plain %d/%d  bos_special %d/%d  plain_decoded %d/%d\n", json_name, ok_plain,
               n, ok_bos, n, ok_dec, n);
        CHECK(n > 0);
        CHECK_INT(ok_plain, n);
        CHECK_INT(ok_bos, n);
        CHECK_INT(ok_dec, n);
    }
    tk_tokenizer_free(t);
    cJSON_Delete(root);
}

static void test_golden(void)
{
    const char *dir = shared_path("tokenizer");
    static char names[64][256];
    int n = list_dir(dir, ".json", names, 64);
    CHECK_MSG(n >= 9, "expected the golden vector files in %s, found %d", dir, n);
    for (int i = 0; i < n; i++) check_golden_file(dir, names[i]);
}

/* ---- inputs.txt and the extra vocabularies -------------------------------- */

static tok_inputs in;

static void test_extra(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", shared_path("tokenizer/extra"));
    static char names[64][256];
    int n = list_dir(dir, ".gguf", names, 64);
    CHECK_MSG(n >= 10, "expected vocabularies in %s, found %d", dir, n);
    for (int f = 0; f < n; f++) {
        char path[4400];
        const int len = snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        CHECK_MSG(len > 0 && (size_t)len < sizeof path, "path too long: %s/%s", dir, names[f]);
        tk_tokenizer *t = load_vocab(path);
        if (!t) continue;
        int round_trips = 0, lossless = !t->clean_spaces, failures = 0;
        for (int i = 0; i < in.n; i++) {
            int32_t *ids = NULL;
            size_t n_ids;
            tk_status st = tk_tokenize_alloc(t, in.text[i], in.len[i], true, true, &ids, &n_ids);
            CHECK_MSG(st == TK_OK, "%s input %d: %s", names[f], i, tk_last_error());
            free(ids);
            ids = NULL;
            st = tk_tokenize_alloc(t, in.text[i], in.len[i], false, false, &ids, &n_ids);
            CHECK_MSG(st == TK_OK, "%s input %d: %s", names[f], i, tk_last_error());
            for (size_t k = 0; st == TK_OK && k < n_ids; k++)
                CHECK(ids[k] >= 0 && ids[k] < tk_tokenizer_n_vocab(t));
            char *out = NULL;
            size_t out_len;
            if (st == TK_OK) {
                st = tk_detokenize_alloc(t, ids, n_ids, false, false, &out, &out_len);
                CHECK_MSG(st == TK_OK, "%s input %d: %s", names[f], i, tk_last_error());
            }
            if (st == TK_OK && out_len == in.len[i] && memcmp(out, in.text[i], out_len) == 0)
                round_trips++;
            else if (st == TK_OK && lossless && failures++ < 3)
                fprintf(stderr, "%s: input %d does not round-trip:\n  in  '%.*s'\n  out '%s'\n",
                        names[f], i, (int)in.len[i], in.text[i], out);
            free(out);
            free(ids);
        }
        printf("%-26s %-6s pre %-14s round trips %d/%d%s\n", names[f], tk_tokenizer_model(t),
               tk_tokenizer_pre(t), round_trips, in.n, lossless ? "" : " (cleans spaces)");
        if (lossless) CHECK_INT(round_trips, in.n);
        tk_tokenizer_free(t);
    }
}

/* ---- API details ------------------------------------------------------------ */

static void test_api(void)
{
    tk_tokenizer *spm = load_vocab(shared_path("tokenizer/vocab-llama-spm.gguf"));
    tk_tokenizer *bpe = load_vocab(shared_path("tokenizer/bpe-llama-bpe.gguf"));
    if (!spm || !bpe) goto done;

    CHECK_STR(tk_tokenizer_model(spm), "spm");
    CHECK_STR(tk_tokenizer_model(bpe), "bpe");
    CHECK_STR(tk_tokenizer_pre(bpe), "llama-bpe");
    CHECK_INT(tk_token_bos(spm), 1);
    CHECK_INT(tk_token_eos(spm), 2);
    CHECK_INT(tk_token_unk(spm), 0);
    CHECK(tk_tokenizer_add_bos(spm));
    CHECK(!tk_tokenizer_add_eos(spm));
    CHECK(tk_tokenizer_add_space_prefix(spm));
    CHECK(tk_tokenizer_add_bos(bpe));
    CHECK(tk_token_is_eog(spm, 2));
    CHECK(!tk_token_is_eog(spm, 1));
    CHECK(!tk_token_is_eog(spm, -1));
    CHECK(!tk_token_is_eog(spm, 1 << 30));
    CHECK_INT(tk_token_get_type(spm, 0), TK_TOKEN_UNKNOWN);
    CHECK_INT(tk_token_get_type(spm, 1), TK_TOKEN_CONTROL);
    CHECK_INT(tk_token_get_type(spm, 3), TK_TOKEN_BYTE);
    CHECK_INT(tk_token_get_type(spm, 100000), TK_TOKEN_UNDEFINED);
    CHECK_INT(tk_token_find(spm, "<s>"), 1);
    CHECK_INT(tk_token_find(spm, "no such token at all"), -1);
    CHECK_STR(tk_token_text(spm, 1, NULL), "<s>");
    CHECK(tk_token_text(spm, -3, NULL) == NULL);

    /* End-of-turn tokens of the appended control tokens. */
    const char *eog[] = {"<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>"};
    for (size_t i = 0; i < 4; i++) {
        int32_t id = tk_token_find(bpe, eog[i]);
        CHECK_MSG(id >= 0 && tk_token_is_eog(bpe, id), "%s", eog[i]);
    }
    CHECK(!tk_token_is_eog(bpe, tk_token_find(bpe, "[INST]")));
    CHECK(!tk_token_is_eog(bpe, tk_token_find(bpe, "<|im_start|>")));
    CHECK_INT(tk_token_eot(bpe), tk_token_find(bpe, "<|eot_id|>"));
    CHECK(tk_token_is_special(bpe, tk_token_find(bpe, "[INST]")));

    /* Output buffer too small: TK_ERR_LIMIT and the count needed. */
    int32_t ids[64];
    size_t n = 0;
    const char *text = "Hello world, this is a test";
    CHECK_INT(tk_tokenize(spm, text, strlen(text), true, false, ids, 2, &n), TK_ERR_LIMIT);
    size_t needed = n;
    CHECK(needed > 2);
    CHECK_INT(tk_tokenize(spm, text, strlen(text), true, false, ids, 64, &n), TK_OK);
    CHECK_INT(n, needed);
    CHECK_INT(ids[0], 1);
    CHECK_INT(tk_tokenize(spm, NULL, 3, true, false, ids, 64, &n), TK_ERR_INVALID_ARG);
    CHECK_INT(tk_tokenize(spm, "", 0, true, false, ids, 64, &n), TK_OK);
    CHECK_INT(n, 1);

    char buf[64];
    size_t len;
    CHECK_INT(
        tk_token_piece(spm, tk_token_find(spm, "\xe2\x96\x81the"), false, buf, sizeof buf, &len),
        TK_OK);
    CHECK_STR(buf, " the");
    CHECK_INT(tk_token_piece(spm, 1, false, buf, sizeof buf, &len), TK_OK);
    CHECK_INT(len, 0);
    CHECK_INT(tk_token_piece(spm, 1, true, buf, sizeof buf, &len), TK_OK);
    CHECK_STR(buf, "<s>");
    CHECK_INT(tk_token_piece(spm, 1, true, buf, 3, &len), TK_ERR_LIMIT);
    CHECK_INT(len, 3);
    CHECK_INT(tk_token_piece(spm, 32000, true, buf, sizeof buf, &len), TK_ERR_INVALID_ARG);
    CHECK_INT(tk_token_piece(spm, tk_token_find(spm, "<0x41>"), false, buf, sizeof buf, &len),
              TK_OK);
    CHECK_STR(buf, "A");

    /* Detokenize with and without specials, BOS removal and the space rule. */
    CHECK_INT(tk_tokenize(spm, text, strlen(text), true, false, ids, 64, &n), TK_OK);
    CHECK_INT(tk_detokenize(spm, ids, n, false, true, buf, sizeof buf, &len), TK_OK);
    CHECK_STR(buf, "<s> Hello world, this is a test");
    CHECK_INT(tk_detokenize(spm, ids, n, true, false, buf, sizeof buf, &len), TK_OK);
    CHECK_STR(buf, " Hello world, this is a test");
    CHECK_INT(tk_detokenize(spm, ids + 1, n - 1, true, false, buf, sizeof buf, &len), TK_OK);
    CHECK_STR(buf, "Hello world, this is a test");
    CHECK_INT(tk_detokenize(spm, ids, n, false, false, buf, 5, &len), TK_ERR_LIMIT);
    CHECK_INT(len, strlen(text) + 1);
    int32_t bad[2] = {5, 99999};
    CHECK_INT(tk_detokenize(spm, bad, 2, false, false, buf, sizeof buf, &len), TK_ERR_INVALID_ARG);
    CHECK_CONTAINS(tk_last_error(), "99999");

    /* parse_special: control text becomes one id only when asked. */
    const char *chat = "<|im_start|>user\nHi<|im_end|>";
    int32_t *a = NULL;
    CHECK_INT(tk_tokenize_alloc(bpe, chat, strlen(chat), false, true, &a, &n), TK_OK);
    CHECK(n >= 3 && a[0] == tk_token_find(bpe, "<|im_start|>") &&
          a[n - 1] == tk_token_find(bpe, "<|im_end|>"));
    free(a);
    CHECK_INT(tk_tokenize_alloc(bpe, chat, strlen(chat), false, false, &a, &n), TK_OK);
    for (size_t i = 0; i < n; i++) CHECK(!tk_token_is_special(bpe, a[i]));
    free(a);
    CHECK_INT(tk_tokenize_alloc(bpe, "", 0, false, false, &a, &n), TK_OK);
    CHECK(a != NULL);
    CHECK_INT(n, 0);
    free(a);

    /* Invalid UTF-8 is tolerated: bpe sees U+FFFD, spm falls back to bytes. */
    const char junk[] = "a\xff\xc3(\xe2\x82";
    CHECK_INT(tk_tokenize_alloc(bpe, junk, sizeof junk - 1, false, false, &a, &n), TK_OK);
    free(a);
    CHECK_INT(tk_tokenize_alloc(spm, junk, sizeof junk - 1, false, false, &a, &n), TK_OK);
    char *back = NULL;
    CHECK_INT(tk_detokenize_alloc(spm, a, n, false, false, &back, &len), TK_OK);
    CHECK(back && len == sizeof junk - 1 && memcmp(back, junk, len) == 0);
    free(back);
    free(a);
    /* A NUL byte inside the text is text. */
    const char nul[] = "a\0b";
    CHECK_INT(tk_tokenize_alloc(bpe, nul, 3, false, false, &a, &n), TK_OK);
    CHECK_INT(tk_detokenize_alloc(bpe, a, n, false, false, &back, &len), TK_OK);
    CHECK(back && len == 3 && memcmp(back, nul, 3) == 0);
    free(back);
    free(a);

    /* A long word of one letter stays fast (heap merges) and round-trips. */
    size_t long_len = 200000;
    char *word = malloc(long_len);
    memset(word, 'a', long_len);
    double t0 = core_now();
    CHECK_INT(tk_tokenize_alloc(bpe, word, long_len, false, false, &a, &n), TK_OK);
    CHECK_INT(tk_detokenize_alloc(bpe, a, n, false, false, &back, &len), TK_OK);
    CHECK(back && len == long_len && memcmp(back, word, len) == 0);
    free(back);
    free(a);
    CHECK_INT(tk_tokenize_alloc(spm, word, long_len, false, false, &a, &n), TK_OK);
    free(a);
    printf("200 KB single-letter word: %.3f s (bpe + spm)\n", core_now() - t0);
    free(word);
done:
    tk_tokenizer_free(spm);
    tk_tokenizer_free(bpe);
}

/* ---- streaming -------------------------------------------------------------- */

/* Feeds ids to a stream; returns the concatenated output (static buffer). */
static const char *stream_all(tk_detok_stream *s, const int32_t *ids, size_t n, bool flush,
                              size_t *max_chunk_ok)
{
    static char acc[1 << 16];
    size_t o = 0;
    *max_chunk_ok = 1;
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t l;
        if (tk_detok_stream_feed(s, ids[i], &p, &l) != TK_OK) return NULL;
        /* Every chunk must be complete, valid UTF-8. */
        for (size_t k = 0; k < l;) {
            int r = tok_utf8_check((const unsigned char *)p + k, l - k);
            if (r <= 0) {
                *max_chunk_ok = 0;
                break;
            }
            k += (size_t)r;
        }
        if (o + l < sizeof acc) memcpy(acc + o, p, l), o += l;
    }
    if (flush) {
        const char *p;
        size_t l;
        tk_detok_stream_flush(s, &p, &l);
        if (o + l < sizeof acc) memcpy(acc + o, p, l), o += l;
    }
    acc[o] = '\0';
    return acc;
}

static void test_stream(void)
{
    tk_tokenizer *spm = load_vocab(shared_path("tokenizer/vocab-llama-spm.gguf"));
    tk_tokenizer *bpe = load_vocab(shared_path("tokenizer/vocab-gpt-2.gguf"));
    if (!spm || !bpe) goto done;
    tk_detok_stream *s = NULL;
    CHECK_INT(tk_detok_stream_create(spm, 0, &s), TK_OK);

    /* An emoji through spm byte fallback: four byte tokens, one character. */
    const char *llama = "\xf0\x9f\xa6\x99"; /* U+1F999 */
    int32_t *ids = NULL;
    size_t n;
    CHECK_INT(tk_tokenize_alloc(spm, llama, 4, false, false, &ids, &n), TK_OK);
    CHECK_INT(n, 5); /* "▁" and four byte tokens */
    const char *p;
    size_t l;
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(tk_detok_stream_feed(s, ids[i], &p, &l), TK_OK);
        if (i == 0)
            CHECK_STR(p, " ");
        else if (i < 4)
            CHECK_INT(l, 0);
        else
            CHECK_STR(p, llama);
    }
    free(ids);
    CHECK_INT(tk_detok_stream_flush(s, &p, &l), TK_OK);
    CHECK_INT(l, 0);

    /* Ill-formed bytes: a stray continuation, a cut sequence, an overlong
     * form, a surrogate, and an incomplete tail at the end. */
    int32_t b[8];
    const unsigned char bytes[] = {0x80, 0xE2, 0x82, 'x', 0xC0, 0xAF, 0xED, 0xA0};
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", bytes[i]);
        b[i] = tk_token_find(spm, name);
        if (bytes[i] == 'x') b[i] = tk_token_find(spm, "x");
    }
    size_t ok;
    const char *all = stream_all(s, b, 8, true, &ok);
    CHECK(ok);
    /* 80 -> FFFD; E2 82 then 'x' -> FFFD x; C0 -> FFFD; AF -> FFFD;
     * ED then A0 (surrogate range) -> FFFD FFFD. */
    CHECK_STR(all, "\xef\xbf\xbd\xef\xbf\xbdx\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    int32_t tail[2] = {tk_token_find(spm, "<0xE2>"), tk_token_find(spm, "<0x82>")};
    all = stream_all(s, tail, 2, false, &ok);
    CHECK_STR(all, "");
    CHECK_INT(tk_detok_stream_flush(s, &p, &l), TK_OK);
    CHECK_STR(p, "\xef\xbf\xbd");
    CHECK_INT(tk_detok_stream_feed(s, 32000, &p, &l), TK_ERR_INVALID_ARG);
    tk_detok_stream_free(s);

    /* Streams agree with whole-text detokenizing on every input (spm with the
     * leading-space rule; gpt-2 has the space clean-up, so qwen2's vocabulary
     * without it stands in for bpe). */
    tk_tokenizer *qwen = load_vocab(shared_path("tokenizer/bpe-qwen2.gguf"));
    tk_tokenizer *which[2] = {spm, qwen};
    for (int w = 0; w < 2 && qwen; w++) {
        int agree = 0;
        s = NULL;
        CHECK_INT(tk_detok_stream_create(which[w], TK_DETOK_STRIP_LEADING_SPACE, &s), TK_OK);
        for (int i = 0; i < in.n; i++) {
            ids = NULL;
            CHECK_INT(tk_tokenize_alloc(which[w], in.text[i], in.len[i], false, false, &ids, &n),
                      TK_OK);
            char *whole = NULL;
            size_t wl;
            CHECK_INT(tk_detokenize_alloc(which[w], ids, n, false, false, &whole, &wl), TK_OK);
            all = stream_all(s, ids, n, true, &ok);
            CHECK(ok);
            if (whole && all && strcmp(whole, all) == 0) agree++;
            free(whole);
            free(ids);
        }
        CHECK_INT(agree, in.n);
        tk_detok_stream_free(s);
    }
    tk_tokenizer_free(qwen);

    /* bpe byte-level pieces: an emoji split over several gpt-2 tokens. */
    const char *rocket = "\xf0\x9f\x9a\x80 go";
    ids = NULL;
    CHECK_INT(tk_tokenize_alloc(bpe, rocket, strlen(rocket), false, false, &ids, &n), TK_OK);
    CHECK(n >= 3);
    s = NULL;
    CHECK_INT(tk_detok_stream_create(bpe, 0, &s), TK_OK);
    CHECK_INT(tk_detok_stream_feed(s, ids[0], &p, &l), TK_OK);
    CHECK_INT(l, 0); /* the first token is part of the emoji */
    all = stream_all(s, ids + 1, n - 1, true, &ok);
    CHECK(ok);
    CHECK_STR(all, rocket);
    free(ids);
    tk_detok_stream_free(s);
done:
    tk_tokenizer_free(spm);
    tk_tokenizer_free(bpe);
}

/* ---- hand-made vocabularies ------------------------------------------------- */

static char tmpdir[256];

typedef struct vocab_spec {
    const char *model; /* NULL: no tokenizer.ggml.model */
    const char *const *tokens;
    uint64_t n_tokens;
    uint64_t n_scores; /* 0: none */
    uint64_t n_types;  /* 0: none */
    const char *const *merges;
    uint64_t n_merges;
    int64_t bos; /* -2: none */
    const char *pre;
    bool types_as_strings;
    bool add_bos;
} vocab_spec;

/* Writes a GGUF with the vocabulary, opens it and loads the tokenizer. */
static tk_status make_vocab(const vocab_spec *v, tk_tokenizer **out)
{
    *out = NULL;
    tk_gguf_writer *w = NULL;
    if (tk_gguf_writer_create(&w) != TK_OK) return TK_ERR_INTERNAL;
    tk_gguf_writer_set_str(w, "general.architecture", "llama");
    if (v->model) tk_gguf_writer_set_str(w, "tokenizer.ggml.model", v->model);
    if (v->pre) tk_gguf_writer_set_str(w, "tokenizer.ggml.pre", v->pre);
    if (v->tokens) tk_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v->tokens, v->n_tokens);
    if (v->n_scores) {
        float sc[64] = {0};
        for (uint64_t i = 0; i < v->n_scores && i < 64; i++) sc[i] = -(float)i;
        tk_gguf_writer_set_arr(w, "tokenizer.ggml.scores", TK_GGUF_FLOAT32, sc, v->n_scores);
    }
    if (v->n_types && v->types_as_strings) {
        tk_gguf_writer_set_arr_str(w, "tokenizer.ggml.token_type", v->tokens, v->n_types);
    } else if (v->n_types) {
        int32_t ty[64];
        for (uint64_t i = 0; i < 64; i++) ty[i] = 1;
        tk_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", TK_GGUF_INT32, ty, v->n_types);
    }
    if (v->merges) tk_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", v->merges, v->n_merges);
    if (v->bos >= 0) tk_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (v->add_bos) tk_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.gguf", tmpdir);
    tk_status st = tk_gguf_writer_write(w, path);
    tk_gguf_writer_free(w);
    CHECK_MSG(st == TK_OK, "writing %s: %s", path, tk_last_error());
    if (st != TK_OK) return TK_ERR_INTERNAL;
    tk_gguf *g = NULL;
    st = tk_gguf_open(path, &g);
    CHECK_MSG(st == TK_OK, "%s: %s", path, tk_last_error());
    if (st != TK_OK) return TK_ERR_INTERNAL;
    st = tk_tokenizer_load(g, out);
    tk_gguf_close(g);
    unlink(path);
    return st;
}

#define EXPECT_LOAD_ERROR(spec, status, needle)                                                    \
    do {                                                                                           \
        tk_tokenizer *t_ = NULL;                                                                   \
        CHECK_INT(make_vocab(&(spec), &t_), status);                                               \
        CHECK(t_ == NULL);                                                                         \
        CHECK_CONTAINS(tk_last_error(), needle);                                                   \
        tk_tokenizer_free(t_);                                                                     \
    } while (0)

static void test_malformed(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/tk_tok_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    static const char *const spm_tokens[] = {"<unk>",
                                             "<s>",
                                             "</s>",
                                             "\xe2\x96\x81",
                                             "a",
                                             "b",
                                             "\xe2\x96\x81"
                                             "a"};
    static const char *const bpe_tokens[] = {"a", "b", "c", "ab", "abab", "\xc4\xa0", "bc", "abc"};
    static const char *const merges_ok[] = {"a b", "ab ab", "b c", "ab c"};
    static const char *const merges_bad[] = {"a b", "abab"};

    vocab_spec v = {
        .model = "llama", .tokens = spm_tokens, .n_tokens = 7, .n_scores = 6, .bos = -2};
    EXPECT_LOAD_ERROR(v, TK_ERR_FORMAT, "tokenizer.ggml.scores has 6 entries");
    v.n_scores = 7;
    v.n_types = 5;
    EXPECT_LOAD_ERROR(v, TK_ERR_FORMAT, "tokenizer.ggml.token_type has 5 entries");
    v.n_types = 7;
    v.types_as_strings = true;
    EXPECT_LOAD_ERROR(v, TK_ERR_FORMAT, "expected an array of integers");
    v.types_as_strings = false;
    v.bos = 7;
    EXPECT_LOAD_ERROR(v, TK_ERR_FORMAT, "tokenizer.ggml.bos_token_id = 7 is out of range");
    v.bos = -2;
    v.model = "wordpiece";
    EXPECT_LOAD_ERROR(v, TK_ERR_UNSUPPORTED, "'wordpiece' is not supported");
    v.model = NULL;
    EXPECT_LOAD_ERROR(v, TK_ERR_NOT_FOUND, "tokenizer.ggml.model is missing");
    v.model = "llama";
    v.tokens = NULL;
    EXPECT_LOAD_ERROR(v, TK_ERR_NOT_FOUND, "tokenizer.ggml.tokens is missing");

    /* A valid tiny spm vocabulary: merges by score, bytes it lacks fall back
     * to <unk> (no byte tokens here). */
    v.tokens = spm_tokens;
    tk_tokenizer *t = NULL;
    CHECK_INT(make_vocab(&v, &t), TK_OK);
    if (t) {
        int32_t *ids = NULL;
        size_t n;
        CHECK_INT(tk_tokenize_alloc(t, "a b", 3, true, false, &ids, &n), TK_OK);
        /* "▁a" (score -6) wins over nothing else; then "▁", "b". */
        int32_t want[] = {1, 6, 3, 5};
        CHECK_INT(n, 4);
        for (size_t i = 0; i < n && i < 4; i++) CHECK_INT(ids[i], want[i]);
        free(ids);
        CHECK_INT(tk_tokenize_alloc(t, "z", 1, false, false, &ids, &n), TK_OK);
        CHECK_INT(n, 2);
        if (n == 2) CHECK_INT(ids[1], 0);
        free(ids);
        tk_tokenizer_free(t);
    }

    vocab_spec b = {.model = "gpt2",
                    .tokens = bpe_tokens,
                    .n_tokens = 8,
                    .merges = merges_bad,
                    .n_merges = 2,
                    .bos = -2,
                    .pre = "gpt-2"};
    EXPECT_LOAD_ERROR(b, TK_ERR_FORMAT, "tokenizer.ggml.merges[1] = 'abab' is not of the form");
    b.merges = NULL;
    EXPECT_LOAD_ERROR(b, TK_ERR_FORMAT, "tokenizer.ggml.merges is missing");
    b.merges = merges_ok;
    b.n_merges = 4;
    b.add_bos = true;
    EXPECT_LOAD_ERROR(b, TK_ERR_FORMAT, "there is no BOS token");
    b.add_bos = false;
    b.pre = "no-such-pre";
    t = NULL;
    CHECK_INT(make_vocab(&b, &t), TK_OK);
    if (t) {
        CHECK_CONTAINS(tk_tokenizer_pre(t), "fallback");
        int32_t *ids = NULL;
        size_t n;
        /* "ababc": a b -> ab (rank 0) twice, then ab ab -> abab (rank 1)
         * before ab c (rank 3): abab, c. */
        CHECK_INT(tk_tokenize_alloc(t, "ababc", 5, true, false, &ids, &n), TK_OK);
        CHECK_INT(n, 2);
        if (n == 2) {
            CHECK_INT(ids[0], 4);
            CHECK_INT(ids[1], 2);
        }
        free(ids);
        /* "abc": a b -> ab, then b c is gone; ab c -> abc. */
        CHECK_INT(tk_tokenize_alloc(t, "abc", 3, true, false, &ids, &n), TK_OK);
        CHECK_INT(n, 1);
        if (n == 1) CHECK_INT(ids[0], 7);
        free(ids);
        /* " a": the space maps to U+0120 (Ġ), a token of its own. */
        CHECK_INT(tk_tokenize_alloc(t, " a", 2, false, false, &ids, &n), TK_OK);
        CHECK_INT(n, 2);
        if (n == 2) CHECK_INT(ids[0], 5);
        free(ids);
        CHECK(!tk_tokenizer_add_bos(t));
        CHECK_INT(tk_token_bos(t), -1);
        tk_tokenizer_free(t);
    }
    rmdir(tmpdir);
}

/* ---- equivalence with the straightforward algorithms ------------------------- */

/* The reference's partition, written the slow way: for each special token,
 * longest first, split every raw stretch at its occurrences, left to right. */
typedef struct naive_frag {
    size_t off, len;
    int32_t id;
} naive_frag;

static size_t naive_partition(const tk_tokenizer *t, const char *text, size_t len,
                              bool parse_special, naive_frag *f, size_t cap)
{
    size_t n = 0;
    if (len) f[n++] = (naive_frag){0, len, -1};
    naive_frag *tmp = malloc(cap * sizeof *tmp);
    for (uint32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        uint16_t a = t->attr[id];
        if (!parse_special && (a & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) continue;
        const char *tok = t->text_arena + t->text_off[id];
        size_t tl = t->text_len[id], m = 0;
        for (size_t i = 0; i < n; i++) {
            if (f[i].id >= 0) {
                tmp[m++] = f[i];
                continue;
            }
            size_t pos = f[i].off, end = f[i].off + f[i].len;
            for (;;) {
                const char *q = tl <= end - pos ? memmem(text + pos, end - pos, tok, tl) : NULL;
                if (!q) break;
                size_t at = (size_t)(q - text), l_end = at;
                if (a & TOK_ATTR_LSTRIP)
                    while (l_end > pos && strchr(" \t\n\v\f\r", text[l_end - 1])) l_end--;
                if (l_end > pos && m < cap) tmp[m++] = (naive_frag){pos, l_end - pos, -1};
                if (m < cap) tmp[m++] = (naive_frag){at, tl, id};
                pos = at + tl;
                if (a & TOK_ATTR_RSTRIP)
                    while (pos < end && strchr(" \t\n\v\f\r", text[pos])) pos++;
            }
            if (pos < end && m < cap) tmp[m++] = (naive_frag){pos, end - pos, -1};
        }
        memcpy(f, tmp, m * sizeof *f);
        n = m;
    }
    free(tmp);
    return n;
}

static void check_partition(const tk_tokenizer *t, const char *name, const char *text, size_t len,
                            bool parse_special)
{
    static naive_frag want[4096];
    size_t n_want = naive_partition(t, text, len, parse_special, want, 4096);
    tok_frag *got = NULL;
    size_t n_got = 0;
    CHECK_INT(tok_partition(t, text, len, parse_special, &got, &n_got), TK_OK);
    bool same = n_got == n_want;
    for (size_t i = 0; same && i < n_got; i++)
        same = got[i].id == want[i].id && got[i].off == want[i].off && got[i].len == want[i].len;
    CHECK_MSG(same, "%s: partition of '%.*s' (parse_special %d) differs", name, (int)len, text,
              parse_special);
    free(got);
}

static void test_equivalence(void)
{
    /* Random texts made of special-token texts, their prefixes, spaces and
     * letters, on vocabularies with control, user-defined and rstrip tokens. */
    const char *vocabs[] = {"tokenizer/extra/vocab-phi-3.gguf", "tokenizer/bpe-qwen2.gguf",
                            "tokenizer/extra/vocab-gpt-neox.gguf",
                            "tokenizer/vocab-deepseek-llm.gguf"};
    unsigned seed = 12345;
    for (size_t v = 0; v < TK_ARRAY_LEN(vocabs); v++) {
        tk_tokenizer *t = load_vocab(shared_path(vocabs[v]));
        if (!t) continue;
        for (int round = 0; round < 300; round++) {
            char text[512];
            size_t len = 0;
            int parts = 1 + (int)(seed % 12);
            for (int p = 0; p < parts; p++) {
                seed = seed * 1103515245u + 12345u;
                unsigned r = (seed >> 8) % 10;
                const char *piece = " ";
                size_t pl = 1;
                if (r < 5 && t->n_special) {
                    int32_t id = t->special[(seed >> 12) % t->n_special];
                    piece = t->text_arena + t->text_off[id];
                    pl = t->text_len[id];
                    if (r == 4 && pl > 1) pl = 1 + (seed >> 20) % (pl - 1); /* a prefix */
                } else if (r < 7) {
                    piece = r == 5 ? "  \n" : "\t ";
                    pl = strlen(piece);
                } else {
                    piece = r == 7 ? "ab" : r == 8 ? "\xc3\xb6" : "x";
                    pl = strlen(piece);
                }
                if (len + pl >= sizeof text) break;
                memcpy(text + len, piece, pl);
                len += pl;
            }
            check_partition(t, vocabs[v], text, len, true);
            check_partition(t, vocabs[v], text, len, false);
        }
        tk_tokenizer_free(t);
    }

    /* spm: cutting the text before each word (spm_word_split) must not change
     * the ids. */
    tk_tokenizer *spm = load_vocab(shared_path("tokenizer/vocab-llama-spm.gguf"));
    if (!spm) return;
    CHECK(spm->spm_word_split);
    int same = 0, total = 0;
    for (int i = 0; i <= in.n; i++) {
        char extra[] = "a\xe2\x96\x81 b  \xf0 \xe2\x96\x81\xe2\x96\x81x \xc3 y\xe2 z";
        const char *s = i < in.n ? in.text[i] : extra;
        size_t l = i < in.n ? in.len[i] : sizeof extra - 1;
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        spm->spm_word_split = true;
        CHECK_INT(tk_tokenize_alloc(spm, s, l, false, false, &a, &na), TK_OK);
        spm->spm_word_split = false;
        CHECK_INT(tk_tokenize_alloc(spm, s, l, false, false, &b, &nb), TK_OK);
        spm->spm_word_split = true;
        total++;
        if (a && b && na == nb && memcmp(a, b, na * sizeof *a) == 0) same++;
        free(a);
        free(b);
    }
    CHECK_INT(same, total);
    tk_tokenizer_free(spm);
}

/* ---- speed -------------------------------------------------------------------- */

static void test_speed(void)
{
    size_t len;
    char *text = tok_english_text(1 << 20, &len);
    const char *which[] = {"tokenizer/vocab-llama-spm.gguf", "tokenizer/vocab-gpt-2.gguf",
                           "tokenizer/bpe-llama-bpe.gguf"};
    for (size_t k = 0; k < TK_ARRAY_LEN(which); k++) {
        tk_tokenizer *t = load_vocab(shared_path(which[k]));
        if (!t) continue;
        int32_t *ids = NULL;
        size_t n = 0;
        double t0 = core_now();
        CHECK_INT(tk_tokenize_alloc(t, text, len, false, false, &ids, &n), TK_OK);
        double dt = core_now() - t0;
        printf("speed: %-32s %.2f MB of English in %.3f s (%.1f MB/s, %zu tokens)\n", which[k],
               (double)len / 1e6, dt, (double)len / 1e6 / dt, n);
        char *back = NULL;
        size_t bl;
        CHECK_INT(tk_detokenize_alloc(t, ids, n, false, false, &back, &bl), TK_OK);
        if (k == 0) CHECK(back && bl == len && memcmp(back, text, len) == 0);
        free(back);
        free(ids);
        tk_tokenizer_free(t);
    }
    free(text);
}

int main(void)
{
    tok_inputs_load(&in);
    if (in.data) CHECK_INT(in.n, 66);
    test_golden();
    test_extra();
    test_api();
    test_stream();
    test_equivalence();
    test_malformed();
    test_speed();
    free(in.data);
    return check_summary();
}

#else /* TOK_TEST_E2E ------------------------------------------------------------ */

#include <sys/wait.h>

static char out[1 << 16];

/* Runs `tektra <args>` with stdout only (stderr to /dev/null unless
 * `merge`); returns the exit code, -1 when it did not exit normally. */
static int run(const char *args, bool merge)
{
    const char *bin = getenv("TK_BIN");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s/tektra' %s %s", bin ? bin : ".", args,
             merge ? "2>&1" : "2>/dev/null");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
    char args[4096];
    const char *model = shared_path("models/stories260K.gguf");

    snprintf(args, sizeof args, "tokenize -m '%s' --add-special --ids-only 'Once upon a time'",
             model);
    CHECK_INT(run(args, false), 0);
    CHECK_STR(out, "1 403 407 261 378\n");

    snprintf(args, sizeof args, "tokenize -m '%s' 'Once upon'", model);
    CHECK_INT(run(args, false), 0);
    CHECK_STR(out, "403\t\" Once\"\n407\t\" upon\"\n");

    snprintf(args, sizeof args, "detokenize -m '%s' 1 403 407 261 378", model);
    CHECK_INT(run(args, false), 0);
    CHECK_STR(out, "Once upon a time\n");
    snprintf(args, sizeof args, "detokenize -m '%s' --special 1 403 407 261 378", model);
    CHECK_INT(run(args, false), 0);
    CHECK_STR(out, "<s> Once upon a time\n");

    /* Text from a file, and the round trip of p2 from the shared README. */
    char path[512];
    snprintf(path, sizeof path, "%s/tk_tok_e2e_%d.txt",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("Lily and Tom went to the park. They saw a", f);
        fclose(f);
        snprintf(args, sizeof args, "tokenize -m '%s' --add-special --ids-only -f '%s'", model,
                 path);
        CHECK_INT(run(args, false), 0);
        CHECK_STR(out, "1 317 269 274 287 263 377 267 265 282 295 433 426 342 394 261\n");
        unlink(path);
    }

    /* Errors: missing model (1), bad flag / missing arguments / bad id (2). */
    CHECK_INT(run("tokenize -m /nonexistent/model.gguf hello", true), 1);
    CHECK_CONTAINS(out, "/nonexistent/model.gguf");
    CHECK_INT(run("detokenize -m /nonexistent/model.gguf 1 2", true), 1);
    snprintf(args, sizeof args, "tokenize -m '%s' --bogus hello", model);
    CHECK_INT(run(args, true), 2);
    CHECK_CONTAINS(out, "--bogus");
    snprintf(args, sizeof args, "detokenize -m '%s' --bogus 1", model);
    CHECK_INT(run(args, true), 2);
    CHECK_INT(run("tokenize hello", true), 2);
    snprintf(args, sizeof args, "tokenize -m '%s'", model);
    CHECK_INT(run(args, true), 2);
    snprintf(args, sizeof args, "detokenize -m '%s' 1 x2", model);
    CHECK_INT(run(args, true), 2);
    snprintf(args, sizeof args, "detokenize -m '%s' 1 99999", model);
    CHECK_INT(run(args, true), 1);
    CHECK_CONTAINS(out, "99999");
    CHECK_INT(run("tokenize --help", false), 0);
    CHECK_CONTAINS(out, "--parse-special");
    CHECK_INT(run("detokenize --help", false), 0);
    CHECK_CONTAINS(out, "--special");
    return check_summary();
}

#endif
