/* End-to-end: `tektra bench` on a small real model prints the llama-bench
 * style table (pp and tg rows, kernel level, memory), its JSON form, obeys
 * TEKTRA_CPU, measures at depth (-d) with one row per value, and refuses bad
 * options, impossible levels and depths the model cannot hold. Speed itself is
 * never asserted here (that is what the benchmark is for). */
#include "check.h"
#include "proc.h"

#include <cjson/cJSON.h>
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

    /* Depths: every -d value with every -p and -n value is a row, in order. */
    snprintf(args, sizeof args, "%s -p 16,8 -n 4 -d 0,40 -r 2 -t 2 --no-bandwidth", model);
    proc_run(&r, bench("", args));
    CHECK_INT(r.rc, 0);
    const char *order[] = {"| pp16 |",       "| tg4 |",       "| pp8 |",
                           "| pp16 @ d40 |", "| tg4 @ d40 |", "| pp8 @ d40 |"};
    const char *at = r.out;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const char *f = strstr(at, order[i]);
        CHECK_MSG(f != NULL, "row '%s' missing or out of order in:\n%s", order[i], r.out);
        if (f) at = f + 1;
    }

    /* JSON: an array with one object per depth, pp and tg beside depth. */
    snprintf(args, sizeof args, "%s -p 8 -n 2 -d 0,24,40 -r 1 -t 3 --no-bandwidth --json", model);
    proc_run(&r, bench("", args));
    CHECK_INT(r.rc, 0);
    cJSON *arr = cJSON_Parse(r.out);
    CHECK_MSG(cJSON_IsArray(arr), "not a JSON array: %s", r.out);
    CHECK_INT(cJSON_GetArraySize(arr), 3);
    const int want_depth[] = {0, 24, 40};
    for (int i = 0; i < 3 && i < cJSON_GetArraySize(arr); i++) {
        const cJSON *o = cJSON_GetArrayItem(arr, i);
        const cJSON *d = cJSON_GetObjectItem(o, "depth");
        CHECK_MSG(cJSON_IsNumber(d) && d->valueint == want_depth[i], "object %d: depth %d", i,
                  cJSON_IsNumber(d) ? d->valueint : -1);
        const cJSON *pp = cJSON_GetObjectItem(o, "pp"), *tg = cJSON_GetObjectItem(o, "tg");
        CHECK(cJSON_GetObjectItem(pp, "n") && cJSON_GetObjectItem(pp, "n")->valueint == 8);
        CHECK(cJSON_GetObjectItem(tg, "n") && cJSON_GetObjectItem(tg, "n")->valueint == 2);
        CHECK(cJSON_GetObjectItem(tg, "tps_mean") &&
              cJSON_GetObjectItem(tg, "tps_mean")->valuedouble > 0);
    }
    cJSON_Delete(arr);

    /* A depth past the model's context (512) fails before measuring. */
    snprintf(args, sizeof args, "%s -p 16 -n 4 -d 0,500 -r 1 --no-bandwidth", model);
    proc_run(&r, bench("", args));
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "depth 500 + pp16 needs 516 positions; the model's context is 512");
    CHECK(strstr(r.out, "| pp16 |") == NULL);
    snprintf(args, sizeof args, "%s -d 1,x", model);
    proc_run(&r, bench("", args));
    CHECK_INT(r.rc, 2);

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
