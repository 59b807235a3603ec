/* tektra template: renders a chat template with a JSON context, exactly as a
 * model would see it. */
#include "app.h"
#include "tektra/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char cmd_template_summary[] = "render a chat template with a JSON context";

#define MAX_TEMPLATE_FILE (4u << 20)
#define MAX_CONTEXT_FILE  (64u << 20)

static void print_help(void)
{
    printf("Usage: tektra template (--template FILE | --builtin NAME) [--context FILE]\n"
           "                       [--now 'YYYY-MM-DD HH:MM:SS']\n\n"
           "Renders a chat template (the Jinja text of a model's tokenizer.chat_template)\n"
           "with the variables of a JSON object and prints the result exactly, with no\n"
           "newline added. The context usually holds \"messages\" (a list of {\"role\",\n"
           "\"content\"}), \"add_generation_prompt\", \"bos_token\", \"eos_token\" and\n"
           "sometimes \"tools\". An error of the template (including one it raises itself)\n"
           "is printed on standard error and the exit status is 1.\n\n"
           "Options:\n"
           "  --template FILE   the template to render ('-' reads standard input)\n"
           "  --builtin NAME    a built-in template instead: chatml, gemma, llama3,\n"
           "                    llama2 or phi3\n"
           "  --context FILE    the JSON object of variables (default: none)\n"
           "  --now TIME        the clock of strftime_now() as local time\n"
           "                    'YYYY-MM-DD HH:MM:SS' (default: the current time)\n"
           "  -h, --help        show this help\n");
}

/* Reads a whole file (or stdin for "-") of at most `max` bytes; NULL with a
 * message printed on failure. Caller frees. */
static char *read_all(const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : tk_fopen(path, "rb");
    if (!f) {
        app_error("cannot open '%s'", path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= max) break;
            cap = cap * 2 > max ? max : cap * 2;
            char *bigger = realloc(buf, cap + 1);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool failed = !buf || ferror(f);
    bool too_big = buf && n == cap && cap >= max && fgetc(f) != EOF;
    if (f != stdin) fclose(f);
    if (failed || too_big) {
        if (too_big)
            app_error("'%s' is larger than %zu MiB", path, max >> 20);
        else
            app_error("cannot read '%s'", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static bool parse_now(const char *s, struct tm *tm)
{
    int y, mo, d, h, mi, se;
    char extra;
    if (sscanf(s, "%d-%d-%d %d:%d:%d%c", &y, &mo, &d, &h, &mi, &se, &extra) != 6) return false;
    if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60)
        return false;
    memset(tm, 0, sizeof *tm);
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    tm->tm_hour = h;
    tm->tm_min = mi;
    tm->tm_sec = se;
    tm->tm_isdst = -1;
    return true;
}

int cmd_template(int argc, char **argv)
{
    const char *tpl_path = NULL, *ctx_path = NULL, *builtin = NULL, *now = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help();
            return APP_EXIT_OK;
        }
        if (app_flag_is(a, "--template"))
            slot = &tpl_path;
        else if (app_flag_is(a, "--context"))
            slot = &ctx_path;
        else if (app_flag_is(a, "--builtin"))
            slot = &builtin;
        else if (app_flag_is(a, "--now"))
            slot = &now;
        else
            return app_usage_error("template", "unknown option '%s'", a);
        *slot = app_flag_value(argc, argv, &i);
        if (!*slot) return APP_EXIT_USAGE;
    }
    if (!tpl_path == !builtin)
        return app_usage_error("template", "give either --template FILE or --builtin NAME");
    struct tm clock;
    if (now && !parse_now(now, &clock))
        return app_usage_error("template", "--now: '%s' is not 'YYYY-MM-DD HH:MM:SS'", now);
    if (tpl_path && ctx_path && strcmp(tpl_path, "-") == 0 && strcmp(ctx_path, "-") == 0)
        return app_usage_error("template", "only one of --template and --context can be '-'");

    const char *tpl = NULL;
    size_t tpl_len = 0;
    char *tpl_buf = NULL;
    if (builtin) {
        tpl = tk_chat_builtin(builtin);
        if (!tpl)
            return app_usage_error("template",
                                   "unknown built-in template '%s' (chatml, gemma, "
                                   "llama3, llama2, phi3)",
                                   builtin);
        tpl_len = strlen(tpl);
    } else {
        tpl_buf = read_all(tpl_path, MAX_TEMPLATE_FILE, &tpl_len);
        if (!tpl_buf) return APP_EXIT_FAIL;
        tpl = tpl_buf;
    }
    char *ctx = NULL;
    size_t ctx_len = 0;
    if (ctx_path) {
        ctx = read_all(ctx_path, MAX_CONTEXT_FILE, &ctx_len);
        if (!ctx) {
            free(tpl_buf);
            return APP_EXIT_FAIL;
        }
    }
    tk_template_opts opts = {0};
    opts.now = now ? &clock : NULL;
    char *out = NULL;
    size_t out_len = 0;
    tk_status st = tk_template_render_ex(tpl, tpl_len, ctx, ctx_len, &opts, &out, &out_len);
    free(tpl_buf);
    free(ctx);
    if (st != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    bool ok = fwrite(out, 1, out_len, stdout) == out_len && fflush(stdout) == 0;
    free(out);
    if (!ok) {
        app_error("cannot write the output");
        return APP_EXIT_FAIL;
    }
    return APP_EXIT_OK;
}
