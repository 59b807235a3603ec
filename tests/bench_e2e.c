/* End-to-end: `tektra bench` on a small real model prints the llama-bench
 * style table (pp and tg rows, kernel level, memory), its JSON form, obeys
 * TEKTRA_CPU, and refuses bad options and impossible levels. Speed itself is
 * never asserted here (that is what the benchmark is for). */
#include "check.h"
#include "proc.h"

#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Each row is printed (and flushed into a pipe) as soon as it is measured:
 * the pp row arrives while the long tg test still runs, well before the
 * end of the output. */
static void test_rows_as_measured(const char *cmdline)
{
    FILE *p = popen(cmdline, "r");
    CHECK(p != NULL);
    if (!p) return;
    char line[1024];
    double t_pp = 0, t_tg = 0;
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, "| pp16 |")) t_pp = now_s();
        if (strstr(line, "| tg2000 |")) t_tg = now_s();
    }
    double t_end = now_s();
    CHECK_INT(pclose(p), 0);
    CHECK_MSG(t_pp > 0 && t_tg > 0, "rows missing");
    CHECK_MSG(t_tg - t_pp > 0.3 && t_end - t_pp > 0.3,
              "the pp row came %.3f s before the tg row and %.3f s before the end", t_tg - t_pp,
              t_end - t_pp);
}

static char cmd[8192];

static const char *bench(const char *env, const char *args)
{
    snprintf(cmd, sizeof cmd, "%s '%s/tektra' bench %s", env, getenv("TK_BIN"), args);
    return cmd;
}

int main(void)
{
    if (!getenv("TK_BIN") || !getenv("TK_SHARED")) {
        fprintf(stderr, "TK_BIN and TK_SHARED must be set (run through ctest)\n");
        return 1;
    }
    char model[4096];
    snprintf(model, sizeof model, "-m '%s'", shared_path("oracle/llama-q4_0.gguf"));
    static proc_result r;
    char args[8192];

    snprintf(args, sizeof args, "%s -p 16 -n 4 -r 2 -t 2 --no-bandwidth", model);
    proc_run(&r, bench("", args));
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "| model | arch | size | params | backend | threads | test | t/s |");
    CHECK_CONTAINS(r.out, "| llama-q4_0.gguf | llama |");
    CHECK_CONTAINS(r.out, "| pp16 |");
    CHECK_CONTAINS(r.out, "| tg4 |");
    CHECK_CONTAINS(r.out, " ± ");
    CHECK_CONTAINS(r.out, "kernel level: ");
    CHECK_CONTAINS(r.out, "peak memory: ");

    /* Rows as they are measured: the real model, a long generation test. */
    snprintf(args, sizeof args, "-m '%s' -p 16 -n 2000 -r 5 -t 1 --no-bandwidth",
             shared_path("models/stories260K.gguf"));
    test_rows_as_measured(bench("", args));

    /* Forced level, JSON, generation only. */
    snprintf(args, sizeof args, "%s -p 0 -n 3 -r 1 -t 1 --no-bandwidth --json", model);
    proc_run(&r, bench("TEKTRA_CPU=generic", args));
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "\"kernel_level\":\"generic\"");
    CHECK_CONTAINS(r.out, "\"tg\":{\"n\":3,\"tps_mean\":");
    CHECK(strstr(r.out, "\"pp\"") == NULL);

    /* Errors: a level this CPU cannot run or does not exist, bad options. */
    snprintf(args, sizeof args, "%s -p 4 -n 0 -r 1", model);
    proc_run(&r, bench("TEKTRA_CPU=nonsense", args));
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "unknown CPU level 'nonsense'");
    proc_run(&r, bench("", "-p 4"));
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.out, "missing -m MODEL");
    snprintf(args, sizeof args, "%s --frobnicate", model);
    proc_run(&r, bench("", args));
    CHECK_INT(r.rc, 2);
    snprintf(args, sizeof args, "%s -p 0 -n 0", model);
    proc_run(&r, bench("", args));
    CHECK_INT(r.rc, 2);
    snprintf(args, sizeof args, "%s -r 0", model);
    proc_run(&r, bench("", args));
    CHECK_INT(r.rc, 2);
    proc_run(&r, bench("", "--help"));
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "Usage: tektra bench");
    return check_summary();
}
