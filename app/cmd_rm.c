/* tektra rm: remove models from the model store. */
#include "app.h"

#include <stdio.h>
#include <string.h>

const char cmd_rm_summary[] = "remove models from the model store";

static void print_help(const char *store)
{
    printf("Usage: tektra rm [OPTIONS] NAME...\n\n"
           "Removes models from the model store:\n  %s\n"
           "NAME is a name as 'tektra list' shows it: a file name, the file name without\n"
           ".gguf, a model directory's name, or a model name such as qwen2.5-0.5b. A model\n"
           "directory is removed with everything in it; a directory without config.json or\n"
           "tokenizer.json is refused, and a symbolic link is removed, never what it points\n"
           "to. An unfinished download of that name is removed too. Paths are refused: rm\n"
           "only touches the store.\n\n"
           "Options:\n"
           "  --config FILE   read settings from FILE instead of tektra.toml\n"
           "  -h, --help      show this help\n",
           store);
}

int cmd_rm(int argc, char **argv)
{
    const char *config_path = NULL;
    bool help = false;
    int count = 0;
    const char *names[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help = true;
        } else if (app_flag_is(a, "--config")) {
            if (!(config_path = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (a[0] == '-' && a[1] != '\0') {
            return app_usage_error("rm", "unknown option '%s'", a);
        } else if (count < (int)(sizeof names / sizeof names[0])) {
            if (strchr(a, '/') || strchr(a, '\\') || strstr(a, "..") || a[0] == '.')
                return app_usage_error("rm",
                                       "refusing '%s': give a model name as 'tektra list' "
                                       "shows it, not a path",
                                       a);
            names[count++] = a;
        } else {
            return app_usage_error("rm", "too many names");
        }
    }
    tk_platform plat;
    tk_config cfg;
    char store[2048];
    bool have_store;
    if (!app_load_store(config_path, &plat, &cfg, store, sizeof store, &have_store))
        return APP_EXIT_FAIL;
    if (help) {
        print_help(have_store ? store : "(cannot be placed: set TEKTRA_MODELS)");
        return APP_EXIT_OK;
    }
    if (count == 0) return app_usage_error("rm", "which model? ('tektra list' shows them)");
    if (!have_store) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    int rc = APP_EXIT_OK;
    for (int i = 0; i < count; i++) {
        char removed[4096];
        tk_status s = tk_hub_remove(store, names[i], removed, sizeof removed);
        if (s == TK_OK) {
            printf("removed %s\n", removed);
        } else {
            app_error("%s", tk_last_error());
            if (s == TK_ERR_INVALID_ARG) return APP_EXIT_USAGE;
            rc = APP_EXIT_FAIL;
        }
    }
    return rc;
}
