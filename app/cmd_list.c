/* tektra list: the models in the store, or the catalogue of `tektra pull`. */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_list_summary[] = "list the models in the model store";

static void print_help(const char *store)
{
    printf("Usage: tektra list [OPTIONS]\n\n"
           "Lists the models in the model store:\n  %s\n"
           "with their name (use it with -m NAME), size, tensor types and path. Model\n"
           "directories (Hugging Face / MLX layout, from 'tektra pull OWNER/REPO') follow\n"
           "the GGUF files, with the size of all their files and their kind, e.g.\n"
           "\"MLX dir, 4-bit, qwen2\". Unfinished downloads are listed apart.\n\n"
           "Options:\n"
           "  --available     list the models 'tektra pull NAME' knows instead\n"
           "  --config FILE   read settings from FILE instead of tektra.toml\n"
           "  -h, --help      show this help\n",
           store);
}

static void print_catalogue(const char *store)
{
    printf("%-20s %-9s %-26s %-7s %s\n", "NAME", "SIZE", "MODEL", "QUANT", "REPOSITORY");
    for (int i = 0; i < tk_hub_catalogue_count(); i++) {
        const tk_hub_model *m = tk_hub_catalogue_at(i);
        char sz[32] = "?", approx[32], path[4096];
        if (m->size)
            tk_hub_format_size(m->size, sz, sizeof sz);
        else if (m->size_approx)
            snprintf(sz, sizeof sz, "~%s",
                     tk_hub_format_size(m->size_approx, approx, sizeof approx));
        else if (m->kind == TK_HUB_KIND_DIR)
            snprintf(sz, sizeof sz, "dir");
        bool have = store && tk_hub_find(store, m->alias, path, sizeof path) == TK_OK;
        printf("%-20s %-9s %-26s %-7s %s%s\n", m->alias, sz, m->title, m->quant, m->repo,
               have ? "  (in the store)" : "");
    }
}

/* What the TYPES column says of a model that did not open; the reason
 * follows the table. */
#define UNREADABLE "unreadable (see below)"

/* `types` cut to `width` (< 64) bytes at the end of an item ("Q4_K 169,
 * Q6_K 25, ..."), never inside a word. */
static void fit_types(const char *types, char *out, size_t width)
{
    size_t n = strlen(types);
    if (n <= width) {
        snprintf(out, 64, "%s", types);
        return;
    }
    size_t cut = 0;
    for (size_t i = 0; i + 5 <= width; i++)
        if (types[i] == ',' && types[i + 1] == ' ') cut = i;
    snprintf(out, 64, "%.*s, ...", (int)cut, types);
}

int cmd_list(int argc, char **argv)
{
    const char *config_path = NULL;
    bool available = false, help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help = true;
        } else if (strcmp(a, "--available") == 0) {
            available = true;
        } else if (app_flag_is(a, "--config")) {
            if (!(config_path = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (a[0] == '-') {
            return app_usage_error("list", "unknown option '%s'", a);
        } else {
            return app_usage_error("list", "unexpected argument '%s'", a);
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
    if (available) {
        print_catalogue(have_store ? store : NULL);
        return APP_EXIT_OK;
    }
    if (!have_store) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }

    tk_hub_entry *list = NULL;
    size_t n = 0;
    if (tk_hub_list(store, &list, &n) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    size_t models = 0, name_w = 4, types_w = 5;
    for (size_t i = 0; i < n; i++) {
        if (list[i].partial) continue;
        models++;
        size_t nl = strlen(list[i].alias[0] ? list[i].alias : list[i].name);
        size_t tl = list[i].valid ? strlen(list[i].types) : strlen(UNREADABLE);
        if (nl > name_w) name_w = nl;
        if (tl > types_w) types_w = tl;
    }
    if (types_w > 40) types_w = 40;
    if (models == 0) {
        tk_platform_measure_quick(&plat);
        const tk_hub_model *m = tk_hub_recommend(&plat);
        char sz[32], speed[64] = "";
        if (tk_hub_expected_tps(&plat, m) > 0)
            snprintf(speed, sizeof speed, ", about %.0f tokens/s here",
                     tk_hub_expected_tps(&plat, m));
        printf("No models in %s yet.\nGet one with: tektra pull %s   (%s %s, %s%s)\n"
               "'tektra list --available' shows the others.\n",
               store, m->alias, m->title, m->quant,
               tk_hub_format_size(m->size ? m->size : m->size_approx, sz, sizeof sz), speed);
    } else {
        printf("%-*s  %-9s  %-*s  %s\n", (int)name_w, "NAME", "SIZE", (int)types_w, "TYPES",
               "PATH");
        for (size_t i = 0; i < n; i++) {
            const tk_hub_entry *e = &list[i];
            if (e->partial) continue;
            char sz[32], types[64];
            fit_types(e->valid ? e->types : UNREADABLE, types, types_w);
            printf("%-*s  %-9s  %-*s  %s\n", (int)name_w, e->alias[0] ? e->alias : e->name,
                   tk_hub_format_size(e->size, sz, sizeof sz), (int)types_w, types, e->path);
        }
        /* Why each unreadable model is, in full. */
        for (size_t i = 0; i < n; i++)
            if (!list[i].valid && !list[i].partial) printf("%s: %s\n", list[i].name, list[i].types);
    }
    for (size_t i = 0; i < n; i++) {
        const tk_hub_entry *e = &list[i];
        if (!e->partial) continue;
        char sz[32];
        if (e->kind == TK_HUB_KIND_DIR) {
            /* ".X.partial": the directory X being assembled. */
            int len = (int)strlen(e->name) - 1 - (int)strlen(".partial");
            printf("unfinished download: the directory %.*s (%s so far; run the same 'tektra "
                   "pull' again to resume, or 'tektra rm %.*s')\n",
                   len, e->name + 1, tk_hub_format_size(e->size, sz, sizeof sz), len, e->name + 1);
            continue;
        }
        printf("unfinished download: %s (%s so far; run the same 'tektra pull' again to resume, "
               "or 'tektra rm' it)\n",
               e->name, tk_hub_format_size(e->size, sz, sizeof sz));
    }
    free(list);
    return APP_EXIT_OK;
}
