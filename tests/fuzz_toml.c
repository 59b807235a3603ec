/* Mutation fuzzing of the TOML reader and the config loader: a fixed set of
 * seeds and a deterministic sequence of byte mutations (flip, insert,
 * delete, splice), each parsed and applied. Every input must end with TK_OK
 * or a message, never a crash or a sanitizer report. Runs in CTest; with a
 * number argument it runs that many mutations. */
#include "check.h"
#include "config/toml.h"
#include "tektra.h"

static const char *const seeds[] = {
    "# tektra\n[inference]\nbackend = \"gguf\"\ntemperature = 0.25\nmax_tokens = 1_024\n"
    "top_k = 0x10\nseed = -1\nbenchmark_on_startup = true\n[model]\npath = 'C:\\m.gguf'\n",
    "a.b.c = [1, 2.5, \"x\", ['y', true], ]\nd = { e = 1, f.g = \"h\" }\n",
    "s = \"\"\"one\\\n   two \\u00e9 \\U0001F600\"\"\"\nt = '''lit\nlines'''\n",
    "[x]\n\"quoted key\" = +inf\n'lit' = -nan\nn = 1e-3\nm = 0b1010\no = 0o17\n",
    "x = 1979-05-27\ny = 07:32:00\n[[arr]]\n",
};

static uint64_t rng = 0x1234567;
static uint32_t next(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static const char alphabet[] = "[]{}=,.\"'\\#\n \t-+_0123456789abcdefxobtruenaifu\x01\xc3\xa9\x80";

static void quiet(tk_log_level level, const char *msg, void *user)
{
    (void)level;
    (void)msg;
    (void)user;
}

int main(int argc, char **argv)
{
    tk_log_set(quiet, NULL, TK_LOG_ERROR); /* unknown-key warnings by the thousand */
    long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    static char buf[8192];
    long ok = 0, errors = 0;
    for (long it = 0; it < iterations; it++) {
        const char *seed = seeds[next() % (sizeof seeds / sizeof seeds[0])];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int n_mut = 1 + (int)(next() % 8);
        for (int k = 0; k < n_mut; k++) {
            size_t pos = n ? next() % n : 0;
            switch (next() % 4) {
            case 0: /* replace */
                if (n) buf[pos] = alphabet[next() % (sizeof alphabet - 1)];
                break;
            case 1: /* insert */
                if (n + 1 < sizeof buf - 1) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = alphabet[next() % (sizeof alphabet - 1)];
                    n++;
                }
                break;
            case 2: /* delete */
                if (n) {
                    memmove(buf + pos, buf + pos + 1, n - pos - 1);
                    n--;
                }
                break;
            default: { /* duplicate a run (deep nesting, repeats) */
                size_t len = 1 + next() % 64;
                if (pos + len > n) len = n - pos;
                for (int r = 0; r < 4 && n + len < sizeof buf - 1; r++) {
                    memmove(buf + pos + len, buf + pos, n - pos);
                    n += len;
                }
                break;
            }
            }
        }
        buf[n] = '\0';
        toml_doc d;
        if (toml_parse(buf, "fuzz.toml", &d) == TK_OK) {
            toml_free(&d);
            ok++;
        } else {
            CHECK_MSG(tk_last_error()[0] != '\0', "an error without a message for: %s", buf);
            errors++;
        }
        tk_config c;
        tk_config_defaults(&c);
        if (tk_config_load_string(&c, buf, "fuzz.toml") != TK_OK)
            CHECK_MSG(tk_last_error()[0] != '\0', "config error without a message for: %s", buf);
    }
    printf("%ld inputs: %ld parsed, %ld rejected with a message\n", iterations, ok, errors);
    return check_summary();
}
