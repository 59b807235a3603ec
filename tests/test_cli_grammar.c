/* `tektra run --grammar FILE` and `--json-schema FILE` through the real
 * binary with stories260K: the answer follows the grammar or the schema,
 * and bad files are errors that name the file and the problem. */
#include "check.h"
#include "proc.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <unistd.h>

static char dir[] = "/tmp/tk_cli_grammar_XXXXXX";

static void write_text(const char *name, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    const char *setup = "cd \"$TK_BIN\"";
    char gpath[512], spath[512], bad[512], unsup[512];
    write_text("yes.gbnf", "root ::= (\"yes\" | \"no\") \", \" [a-z]{3,5} \".\"\n", gpath,
               sizeof gpath);
    write_text("point.json",
               "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\",\"enum\":[1,2,3]},"
               "\"tag\":{\"type\":\"string\",\"maxLength\":6}},\"required\":[\"x\",\"tag\"],"
               "\"additionalProperties\":false}",
               spath, sizeof spath);
    write_text("bad.gbnf", "root ::= \"a\" | undefined-rule\n", bad, sizeof bad);
    write_text("unsup.json", "{\"type\":\"number\",\"multipleOf\":2}", unsup, sizeof unsup);
    const char *model = "$TK_SHARED/models/stories260K.gguf";

    proc_result r;
    for (int seed = 1; seed <= 5; seed++) {
        proc_runf(&r, setup,
                  "./tektra run -m %s -p 'Once upon a time' --no-echo --grammar %s --temp 1 "
                  "--seed %d -n 40 2>/dev/null",
                  model, gpath, seed);
        CHECK_INT(r.rc, 0);
        const char *t = r.out;
        bool ok = (strncmp(t, "yes, ", 5) == 0 || strncmp(t, "no, ", 4) == 0) &&
                  t[strlen(t) - 2] == '.';
        CHECK_MSG(ok, "seed %d: '%s' does not follow the grammar", seed, t);

        proc_runf(&r, setup,
                  "./tektra run -m %s -p 'Once upon a time' --no-echo --json-schema %s --temp 1 "
                  "--seed %d -n 200 2>/dev/null",
                  model, spath, seed);
        CHECK_INT(r.rc, 0);
        cJSON *j = cJSON_Parse(r.out);
        const cJSON *x = cJSON_GetObjectItem(j, "x"), *tag = cJSON_GetObjectItem(j, "tag");
        CHECK_MSG(cJSON_IsNumber(x) && x->valueint >= 1 && x->valueint <= 3 && cJSON_IsString(tag) &&
                      cJSON_GetArraySize(j) == 2,
                  "seed %d: '%s' does not validate", seed, r.out);
        cJSON_Delete(j);
    }

    proc_runf(&r, setup, "./tektra run -m %s -p hi --grammar %s", model, bad);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "bad.gbnf");
    CHECK_CONTAINS(r.out, "undefined-rule");
    proc_runf(&r, setup, "./tektra run -m %s -p hi --json-schema %s", model, unsup);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "multipleOf");
    proc_runf(&r, setup, "./tektra run -m %s -p hi --json-schema %s/none.json", model, dir);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "none.json");
    proc_runf(&r, setup, "./tektra run -m %s -p hi --grammar %s --json-schema %s", model, gpath,
              spath);
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.out, "cannot be used together");

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
