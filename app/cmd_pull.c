/* tektra pull: download a model into the model store. */
#include "app.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char cmd_pull_summary[] =
    "download a model (a GGUF file or a model directory) into the store";

/* "398 MB", "about 531 MB" (the model page's rounded figure), "size unknown"
 * or, for a directory, "directory" (its size comes from the Hub's listing). */
static const char *model_size(const tk_hub_model *m, char *buf, size_t size)
{
    char sz[32];
    if (m->size)
        snprintf(buf, size, "%s", tk_hub_format_size(m->size, sz, sizeof sz));
    else if (m->size_approx)
        snprintf(buf, size, "about %s", tk_hub_format_size(m->size_approx, sz, sizeof sz));
    else if (m->kind == TK_HUB_KIND_DIR)
        snprintf(buf, size, "model directory");
    else
        snprintf(buf, size, "size unknown");
    return buf;
}

static void print_help(const char *store)
{
    printf("Usage: tektra pull [OPTIONS] NAME | OWNER/REPO | hf:OWNER/REPO[/FILE.gguf] | URL\n\n"
           "Downloads a model into the model store:\n  %s\n\n"
           "NAME is a model tektra knows (NAME or NAME:QUANT):\n",
           store);
    for (int i = 0; i < tk_hub_catalogue_count(); i++) {
        const tk_hub_model *m = tk_hub_catalogue_at(i);
        char sz[48];
        printf("  %-20s %s, %s, %s\n", m->alias, m->title, m->quant, model_size(m, sz, sizeof sz));
    }
    printf("hf:OWNER/REPO/FILE.gguf is any GGUF file of a Hugging Face repository; a URL\n"
           "(https:// or http://) is any file on the web.\n"
           "OWNER/REPO or hf:OWNER/REPO (e.g. mlx-community/Qwen2.5-7B-Instruct-4bit) is a\n"
           "whole repository in the Hugging Face / MLX layout, kept as the model directory\n"
           "REPO: config.json, *.safetensors (and their index), tokenizer.json,\n"
           "tokenizer_config.json, generation_config.json, special_tokens_map.json and chat\n"
           "templates; other files (README, images) are skipped.\n\n"
           "An interrupted download is resumed by running the same command again. A file\n"
           "is checked (GGUF format, and its SHA-256 where known) before it takes its name\n"
           "in the store; a corrupt download is deleted. A directory is assembled in a\n"
           "hidden .REPO.partial directory, each file checked against the size and SHA-256\n"
           "the Hub lists, and takes its name only when every file is there.\n\n"
           "Options:\n"
           "  --sha256 HEX    the file's expected SHA-256 (64 hex digits); it replaces the\n"
           "                  checksum and size tektra knows for NAME (single files only)\n"
           "  --force         download again even when the store has the model\n"
           "  -q, --quiet     no progress output\n"
           "  --config FILE   read settings from FILE instead of tektra.toml\n"
           "  -h, --help      show this help\n\n"
           "Environment:\n"
           "  TEKTRA_MODELS   the model store directory (also [model] dir in tektra.toml)\n"
           "  HF_TOKEN        a Hugging Face access token, for gated or private repositories\n"
           "  HF_ENDPOINT     a Hugging Face mirror (default https://huggingface.co)\n"
           "  https_proxy     a proxy, as curl reads it\n");
}

typedef struct progress_ui {
    bool tty;
    int width;
    bool started;
} progress_ui;

static void on_progress(const tk_hub_progress *pr, void *user)
{
    progress_ui *ui = user;
    char line[512];
    if (!ui->started) {
        ui->started = true;
        char a[32];
        if (pr->restarted)
            fprintf(stderr, "tektra: the server cannot resume downloads; starting over\n");
        else if (pr->resumed)
            fprintf(stderr, "tektra: resuming %s at %s\n", pr->file,
                    tk_hub_format_size(pr->resumed, a, sizeof a));
    }
    if (ui->tty) {
        tk_hub_progress_format(pr, true, ui->width - 1, line, sizeof line);
        /* Redraw in place; \033[K clears what a longer line left behind. */
        fprintf(stderr, "\r%s\033[K%s", line, pr->finished ? "\n" : "");
    } else {
        tk_hub_progress_format(pr, false, 0, line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

int cmd_pull(int argc, char **argv)
{
    const char *spec = NULL, *sha = NULL, *config_path = NULL;
    bool force = false, quiet = false, help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help = true;
        } else if (app_flag_is(a, "--sha256")) {
            if (!(sha = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
            if (!is_hex64(sha))
                return app_usage_error("pull", "--sha256: '%s' is not a SHA-256 (64 hex digits)",
                                       sha);
        } else if (app_flag_is(a, "--config")) {
            if (!(config_path = app_flag_value(argc, argv, &i))) return APP_EXIT_USAGE;
        } else if (strcmp(a, "--force") == 0) {
            force = true;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return app_usage_error("pull", "unknown option '%s'", a);
        } else if (spec) {
            return app_usage_error("pull", "one model at a time ('%s' and '%s')", spec, a);
        } else {
            spec = a;
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
    if (!spec)
        return app_usage_error("pull", "which model? e.g. 'tektra pull %s'",
                               tk_hub_recommend(&plat)->alias);
    if (!have_store) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }

    tk_hub_source src;
    if (tk_hub_source_parse(spec, NULL, NULL, &src) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    if (!quiet) {
        char sz[48];
        if (src.model) {
            /* An ollama-style name says which catalogue name it is. */
            bool other = strcmp(spec, src.model->alias) != 0;
            fprintf(stderr, "tektra: pulling %s%s%s%s: %s %s, %s\n", spec, other ? " (" : "",
                    other ? src.model->alias : "", other ? ")" : "", src.model->title,
                    src.model->quant, model_size(src.model, sz, sizeof sz));
        }
        if (src.directory)
            fprintf(stderr, "tektra: the model directory %s of the repository %s\n", src.file,
                    src.repo);
        fprintf(stderr, "tektra: from %s\ntektra: into %s\n", src.url, store);
    }

    progress_ui ui = {isatty(STDERR_FILENO) != 0, 80, false};
    int cols = ui.tty ? tk_platform_term_width(stderr) : 0;
    if (cols >= 40) ui.width = cols;
    tk_hub_pull_params params;
    tk_hub_pull_params_default(&params);
    params.sha256 = sha;
    params.force = force;
    if (!quiet) {
        params.progress = on_progress;
        params.progress_user = &ui;
        /* A terminal redraws one line often; logs get a line every few seconds. */
        params.progress_interval = ui.tty ? 0.1 : 5.0;
    }
    tk_hub_pull_result res;
    tk_status s = tk_hub_pull(store, spec, &params, &res);
    if (s != TK_OK) {
        if (ui.tty && ui.started) fputc('\n', stderr);
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    char sz[32];
    tk_hub_format_size(res.size, sz, sizeof sz);
    if (res.already_present) {
        printf("already in the store: %s (%s; 'tektra pull --force' downloads it again)\n",
               res.path, sz);
    } else if (res.directory) {
        printf("saved %s (%d files, %s; %d checked against the SHA-256 the Hub lists, the\n"
               "others by size)\n",
               res.path, res.n_files, sz, res.n_verified);
    } else {
        printf("saved %s (%s, sha256 %s, %s)\n", res.path, sz, res.sha256,
               res.verified ? "verified" : "no published checksum to verify against");
    }
    const char *name = src.model ? src.model->alias : src.file;
    if (res.directory && !src.model) {
        /* The directory's name, as 'tektra list' shows it. */
        const char *slash = strrchr(res.path, '/');
        name = slash ? slash + 1 : res.path;
    }
    printf("run it with: tektra -m %s\n", name);
    return APP_EXIT_OK;
}
