/* tektra detokenize: token ids -> text with a model's own vocabulary. */
#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_detokenize_summary[] = "turn token ids back into text";

static void print_help(void)
{
    printf("Usage: tektra detokenize -m MODEL [--special] IDS...\n\n"
           "Prints the text of the token ids IDS (separated by spaces or commas, in one or\n"
           "several arguments) with the vocabulary of MODEL (a GGUF file or a model\n"
           "directory with tokenizer.json), followed by a\n"
           "newline. Control tokens (BOS, EOS, <|im_end|>, ...) are left out, and the space\n"
           "a SentencePiece vocabulary puts before the first word is removed.\n\n"
           "Options:\n"
           "  -m, --model PATH   the GGUF file or model directory whose vocabulary is used\n"
           "  --special          show control tokens as their text (e.g. <s>)\n"
           "  -h, --help         show this help\n\n"
           "Exit status: 0 ok, 1 the model cannot be read or an id is not in its\n"
           "vocabulary, 2 bad usage (including an id that is not a number).\n");
}

/* Appends the ids in s (separated by spaces/commas) to *ids. Returns false
 * (after a usage error message) on anything that is not a whole number. */
static bool parse_ids(const char *s, int32_t **ids, size_t *n, size_t *cap)
{
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno == ERANGE || v < 0 || v > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n')) {
            int l = 0;
            while (s[l] && s[l] != ' ' && s[l] != ',' && l < 40) l++;
            app_usage_error("detokenize", "'%.*s' is not a token id", l, s);
            return false;
        }
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 64;
            int32_t *p = realloc(*ids, c * sizeof *p);
            if (!p) {
                app_error("out of memory");
                return false;
            }
            *ids = p;
            *cap = c;
        }
        (*ids)[(*n)++] = (int32_t)v;
        s = end;
    }
    return true;
}

int cmd_detokenize(int argc, char **argv)
{
    const char *model = NULL;
    bool special = false;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    bool only_ids = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_ids && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            free(ids);
            print_help();
            return APP_EXIT_OK;
        } else if (!only_ids && (strcmp(a, "-m") == 0 || app_flag_is(a, "--model"))) {
            if (!(model = app_flag_value(argc, argv, &i))) {
                free(ids);
                return APP_EXIT_USAGE;
            }
        } else if (!only_ids && strcmp(a, "--special") == 0) {
            special = true;
        } else if (!only_ids && strcmp(a, "--") == 0) {
            only_ids = true;
        } else if (!only_ids && a[0] == '-') {
            free(ids);
            return app_usage_error("detokenize", "unknown option '%s'", a);
        } else if (!parse_ids(a, &ids, &n, &cap)) {
            free(ids);
            return APP_EXIT_USAGE;
        }
    }
    if (!model) {
        free(ids);
        return app_usage_error("detokenize", "no model (-m MODEL)");
    }
    if (!n) {
        free(ids);
        return app_usage_error("detokenize", "no token ids");
    }

    tk_gguf *g = NULL;
    tk_tokenizer *t = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = APP_EXIT_FAIL;
    if (tk_model_source_open(model, &g) != TK_OK) {
        app_error("%s", tk_last_error());
    } else if (tk_tokenizer_load(g, &t) != TK_OK) {
        app_error("%s: %s", model, tk_last_error());
    } else {
        size_t m = n;
        if (!special) {
            /* Leave control tokens out before the first-word rule, so that
             * "<s> Once" reads "Once". */
            m = 0;
            for (size_t i = 0; i < n; i++)
                if (!tk_token_is_special(t, ids[i])) ids[m++] = ids[i];
        }
        if (tk_detokenize_alloc(t, ids, m, false, special, &text, &len) != TK_OK) {
            app_error("%s", tk_last_error());
        } else {
            fwrite(text, 1, len, stdout);
            putchar('\n');
            rc = fflush(stdout) == 0 ? APP_EXIT_OK : APP_EXIT_FAIL;
        }
    }
    free(text);
    free(ids);
    tk_tokenizer_free(t);
    tk_gguf_close(g);
    return rc;
}
