/* End-to-end: `tektra logits` on the llama oracle model, batched and
 * incremental, against the reference engine's logits; and its exit codes on
 * bad input. Runs the real binary ($TK_BIN/tektra). */
#include "check.h"

#include "core/core.h"

#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

static char tektra[4096];
static char out_path[512];

/* Runs `tektra <args>` through the shell with output discarded; returns
 * the exit status (-1 when it did not exit normally). */
static int run(const char *args)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>&1", tektra, args);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

static double nmse_files(const char *got_path, const char *want_path, size_t count)
{
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    double e = INFINITY;
    if (core_read_file(got_path, 64u << 20, &a, &la) != TK_OK ||
        core_read_file(want_path, 64u << 20, &b, &lb) != TK_OK) {
        fprintf(stderr, "%s\n", tk_last_error());
        goto done;
    }
    CHECK_INT(la, count * sizeof(float));
    CHECK_INT(lb, count * sizeof(float));
    if (la != lb || la != count * sizeof(float)) goto done;
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < count; i++) {
        float x, y;
        memcpy(&x, a + i * sizeof x, sizeof x);
        memcpy(&y, b + i * sizeof y, sizeof y);
        num += ((double)x - y) * ((double)x - y);
        den += (double)y * y;
    }
    e = num / den;
done:
    free(a);
    free(b);
    return e;
}

int main(void)
{
    const char *bin = getenv("TK_BIN");
    snprintf(tektra, sizeof tektra, "%s/tektra", bin ? bin : ".");
    const char *tmp = getenv("TMPDIR");
    snprintf(out_path, sizeof out_path, "%s/tk_test_logits_%ld.f32", tmp && *tmp ? tmp : "/tmp",
             (long)getpid());

    char *tokens;
    size_t len;
    tk_status st = core_read_file(shared_path("oracle/tokens.txt"), 1 << 16, &tokens, &len);
    CHECK_MSG(st == TK_OK, "%s", tk_last_error());
    if (st != TK_OK) return check_summary();
    while (len && (tokens[len - 1] == '\n' || tokens[len - 1] == '\r')) tokens[--len] = '\0';

    const char *model = shared_path("oracle/llama-f32.gguf");
    const char *want = shared_path("oracle/llama-f32.logits");
    char args[8192];
    static const char *const modes[] = {"", "--incremental -t 2"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "logits -m '%s' --tokens %s -o '%s' %s", model, tokens,
                 out_path, modes[i]);
        CHECK_INT(run(args), 0);
        double e = nmse_files(out_path, want, 48 * 512);
        printf("tektra logits %s: nmse %.3e\n", i ? "incremental" : "batched", e);
        CHECK_MSG(e <= 1e-6, "nmse %.3e", e);
        remove(out_path);
    }

    /* Bad token lists: exit 2. */
    static const char *const bad_tokens[] = {"1,x,3", "\"\"", "1,,2",          "1,512",
                                             "-1",    "1,2,", "99999999999999"};
    for (size_t i = 0; i < sizeof bad_tokens / sizeof bad_tokens[0]; i++) {
        snprintf(args, sizeof args, "logits -m '%s' --tokens %s -o '%s'", model, bad_tokens[i],
                 out_path);
        CHECK_MSG(run(args) == 2, "--tokens %s", bad_tokens[i]);
    }
    /* Usage errors: exit 2; model failures: exit 1; help: 0. */
    snprintf(args, sizeof args, "logits -m '%s' --tokens 1 -o '%s' --bogus", model, out_path);
    CHECK_INT(run(args), 2);
    snprintf(args, sizeof args, "logits --tokens 1 -o '%s'", out_path);
    CHECK_INT(run(args), 2);
    snprintf(args, sizeof args, "logits -m '%s' --tokens 1 -o '%s' -t 0", model, out_path);
    CHECK_INT(run(args), 2);
    snprintf(args, sizeof args, "logits -m '%s' --tokens 1 -o '%s'",
             shared_path("oracle/no-such.gguf"), out_path);
    CHECK_INT(run(args), 1);
    snprintf(args, sizeof args, "logits -m '%s' --tokens 1 -o '%s'",
             shared_path("oracle/tokens.txt"), out_path);
    CHECK_INT(run(args), 1);
    CHECK_INT(run("logits --help"), 0);
    remove(out_path);
    free(tokens);
    return check_summary();
}
