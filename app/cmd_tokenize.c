/* tektra tokenize: text -> token ids with a model's own vocabulary. */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_tokenize_summary[] = "show the token ids of a text";

static void print_help(void)
{
    printf("Usage: tektra tokenize -m MODEL [--add-special] [--parse-special] [--ids-only]\n"
           "                       (TEXT... | -f FILE)\n\n"
           "Tokenizes TEXT (several arguments are joined with single spaces) or the contents\n"
           "of FILE with the vocabulary of MODEL (a GGUF file, or a model directory with\n"
           "tokenizer.json: the tokenizer files alone are enough), and prints one line per\n"
           "token: the id, a tab and the token's text as a quoted string (control tokens\n"
           "shown as their text; \\n, \\t, \\\", \\\\ and \\xNN escapes for the rest).\n\n"
           "Options:\n"
           "  -m, --model PATH   the GGUF file or model directory whose vocabulary is used\n"
           "  -f, --file PATH    read the text from PATH ('-' reads standard input)\n"
           "  --add-special      add BOS/EOS the way the vocabulary asks for them\n"
           "  --parse-special    turn control tokens written in the text (e.g. <|im_end|>)\n"
           "                     into their ids; otherwise they are ordinary text\n"
           "  --ids-only         print only the ids, on one line, separated by spaces\n"
           "  -h, --help         show this help\n\n"
           "Exit status: 0 ok, 1 the model or file cannot be read, 2 bad usage.\n");
}

/* Reads a whole file ("-" = stdin) into a malloc'd buffer. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : tk_fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= ((size_t)1 << 30)) {
                free(buf);
                buf = NULL;
                break;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (f != stdin) fclose(f);
    *len = n;
    return buf;
}

static void put_quoted(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    putchar('"');
    for (size_t i = 0; i < n;) {
        size_t k = app_utf8_seq(s + i, n - i);
        unsigned char c = s[i];
        if (k == 0) {
            printf("\\x%02x", c);
            i++;
        } else if (k > 1) {
            fwrite(s + i, 1, k, stdout);
            i += k;
        } else {
            if (c == '"' || c == '\\')
                printf("\\%c", c);
            else if (c == '\n')
                fputs("\\n", stdout);
            else if (c == '\t')
                fputs("\\t", stdout);
            else if (c == '\r')
                fputs("\\r", stdout);
            else if (c < 0x20 || c == 0x7f)
                printf("\\x%02x", c);
            else
                putchar(c);
            i++;
        }
    }
    putchar('"');
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *file = NULL;
    bool add_special = false, parse_special = false, ids_only = false;
    int first_text = 0, n_text = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_help();
            return APP_EXIT_OK;
        } else if (strcmp(a, "-m") == 0 || app_flag_is(a, "--model")) {
            if (!(model = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (strcmp(a, "-f") == 0 || app_flag_is(a, "--file")) {
            if (!(file = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (strcmp(a, "--add-special") == 0) {
            add_special = true;
        } else if (strcmp(a, "--parse-special") == 0) {
            parse_special = true;
        } else if (strcmp(a, "--ids-only") == 0) {
            ids_only = true;
        } else if (strcmp(a, "--") == 0) {
            if (i + 1 < argc && !n_text) first_text = i + 1;
            n_text += argc - i - 1;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            return app_usage_error("tokenize", "unknown option '%s'", a);
        } else {
            if (n_text && first_text + n_text != i)
                return app_usage_error("tokenize", "the text must come after the options");
            if (!n_text) first_text = i;
            n_text++;
        }
    }
    if (!model) return app_usage_error("tokenize", "no model (-m MODEL)");
    if (!file && !n_text) return app_usage_error("tokenize", "no text (TEXT or -f FILE)");
    if (file && n_text) return app_usage_error("tokenize", "give either TEXT or -f FILE, not both");

    char *text = NULL;
    size_t len = 0;
    if (file) {
        text = read_all(file, &len);
        if (!text) {
            app_error("cannot read '%s'", file);
            return APP_EXIT_FAIL;
        }
    } else {
        for (int i = 0; i < n_text; i++) len += strlen(argv[first_text + i]) + 1;
        text = malloc(len + 1);
        if (!text) {
            app_error("out of memory");
            return APP_EXIT_FAIL;
        }
        len = 0;
        for (int i = 0; i < n_text; i++) {
            size_t l = strlen(argv[first_text + i]);
            if (i) text[len++] = ' ';
            memcpy(text + len, argv[first_text + i], l);
            len += l;
        }
    }

    tk_gguf *g = NULL;
    tk_tokenizer *t = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = APP_EXIT_FAIL;
    if (tk_model_source_open(model, &g) != TK_OK) {
        app_error("%s", tk_last_error());
    } else if (tk_tokenizer_load(g, &t) != TK_OK) {
        app_error("%s: %s", model, tk_last_error());
    } else if (tk_tokenize_alloc(t, text, len, add_special, parse_special, &ids, &n) != TK_OK) {
        app_error("%s", tk_last_error());
    } else {
        if (ids_only) {
            for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
            putchar('\n');
        } else {
            for (size_t i = 0; i < n; i++) {
                size_t pl = 0;
                const char *s = tk_token_text(t, ids[i], NULL);
                char small[256];
                tk_status st = tk_token_piece(t, ids[i], true, small, sizeof small, &pl);
                printf("%d\t", ids[i]);
                if (st == TK_OK) {
                    put_quoted(small, pl);
                } else {
                    /* A piece longer than the buffer: fetch it whole. */
                    char *big = malloc(pl + 1);
                    if (big && tk_token_piece(t, ids[i], true, big, pl + 1, &pl) == TK_OK)
                        put_quoted(big, pl);
                    else
                        put_quoted(s ? s : "", s ? strlen(s) : 0);
                    free(big);
                }
                putchar('\n');
            }
        }
        rc = fflush(stdout) == 0 ? APP_EXIT_OK : APP_EXIT_FAIL;
    }
    free(ids);
    tk_tokenizer_free(t);
    tk_gguf_close(g);
    free(text);
    return rc;
}
