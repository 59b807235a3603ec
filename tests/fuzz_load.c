/* Fuzz target for the whole load-and-run path: the input is a model file.
 * It is opened as GGUF, its tokenizer is loaded and used (tokenize,
 * detokenize), then the model is loaded (validated, weights checked and
 * packed), a small context is made and two tokens are decoded. Every step
 * may refuse the input with an error; none may crash, hang, read out of
 * bounds or execute undefined behaviour (this runs under ASan and UBSan).
 * The model loader takes a path, so the input is written to one temporary
 * file per process first. */
#include "fuzz_driver.h"
#include "tektra.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Inputs that went all the way to a decode (for the driver's summary). */
long fuzz_load_accepted;

static char tmp_path[64];

static void remove_tmp(void)
{
    if (tmp_path[0]) unlink(tmp_path);
}

static bool write_input(const uint8_t *data, size_t size)
{
    if (!tmp_path[0]) {
        snprintf(tmp_path, sizeof tmp_path, "/tmp/tk_fuzz_load_XXXXXX");
        int fd = mkstemp(tmp_path);
        REQUIRE(fd >= 0);
        close(fd);
        atexit(remove_tmp);
    }
    FILE *f = fopen(tmp_path, "wb");
    REQUIRE(f != NULL);
    bool ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    return ok;
}

static void run_tokenizer(const uint8_t *data, size_t size)
{
    tk_gguf *g = NULL;
    if (tk_gguf_open_memory(data, size, &g) != TK_OK) return;
    tk_tokenizer *t = NULL;
    if (tk_tokenizer_load(g, &t) == TK_OK) {
        static const char text[] =
            "Hello world! <|im_start|>user\n\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 42";
        int32_t *ids = NULL;
        size_t n = 0;
        if (tk_tokenize_alloc(t, text, sizeof text - 1, true, true, &ids, &n) == TK_OK) {
            char *out = NULL;
            size_t len = 0;
            if (tk_detokenize_alloc(t, ids, n, false, true, &out, &len) == TK_OK) free(out);
            free(ids);
        }
        tk_tokenizer_free(t);
    }
    tk_gguf_close(g);
}

static void run_model(void)
{
    tk_model *m = NULL;
    if (tk_model_load(tmp_path, &m) != TK_OK) return;
    tk_context_params cp = tk_context_default_params();
    cp.n_ctx = 16;
    cp.n_threads = 1;
    tk_context *c = NULL;
    if (tk_context_create(m, &cp, &c) == TK_OK) {
        const int32_t n_vocab = tk_model_n_vocab(m);
        float *logits = malloc((size_t)n_vocab * 2 * sizeof *logits);
        const int32_t toks[2] = {n_vocab > 1 ? 1 : 0, 0};
        if (logits && tk_context_decode(c, toks, 2, logits, true) == TK_OK) fuzz_load_accepted++;
        free(logits);
        tk_context_free(c);
    }
    tk_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_tokenizer(data, size);
    if (write_input(data, size)) run_model();
    return 0;
}
