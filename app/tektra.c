/* tektra: the program. With no subcommand it is the chat REPL; otherwise it
 * dispatches to app/cmd_<name>.c. */
#include "app.h"

#include <stdio.h>
#include <string.h>

typedef struct app_cmd {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} app_cmd;

static const app_cmd commands[] = {
#define TK_CMD(name) {#name, cmd_##name, cmd_##name##_summary},
#define TK_CMD_OMITTED(name, why)
#include "cmd_list.h"
#undef TK_CMD
#undef TK_CMD_OMITTED
    {NULL, NULL, NULL},
};

/* Commands this build leaves out because a library they need was missing
 * (CMakeLists.txt), with the reason. */
typedef struct app_omitted {
    const char *name;
    const char *why;
} app_omitted;

static const app_omitted omitted[] = {
#define TK_CMD(name)
#define TK_CMD_OMITTED(name, why) {#name, why},
#include "cmd_list.h"
#undef TK_CMD
#undef TK_CMD_OMITTED
    {NULL, NULL},
};

static const app_omitted *find_omitted(const char *name)
{
    for (size_t i = 0; omitted[i].name; i++)
        if (strcmp(omitted[i].name, name) == 0) return &omitted[i];
    return NULL;
}
#define N_COMMANDS (sizeof commands / sizeof commands[0] - 1)

/* The order in which `tektra --help` lists commands; the rest follow. */
static const char *const help_order[] = {"chat",     "run",        "serve",    "pull",   "list",
                                         "rm",       "bench",      "info",     "config", "quantize",
                                         "tokenize", "detokenize", "template", "logits"};

static const app_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; commands[i].name; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void print_help(void)
{
    printf("tektra %s - a local AI assistant\n\n", tk_version());
    printf("Usage: tektra [COMMAND] [OPTIONS]\n\n");
    printf("With no command, tektra starts a chat in the terminal (see 'tektra chat --help').\n\n");
    printf("Commands:\n");
    bool listed[N_COMMANDS + 1];
    memset(listed, 0, sizeof listed);
    for (size_t k = 0; k < sizeof help_order / sizeof help_order[0]; k++) {
        for (size_t i = 0; commands[i].name; i++) {
            if (strcmp(commands[i].name, help_order[k]) == 0) {
                printf("  %-12s %s\n", commands[i].name, commands[i].summary);
                listed[i] = true;
            }
        }
    }
    for (size_t i = 0; commands[i].name; i++)
        if (!listed[i]) printf("  %-12s %s\n", commands[i].name, commands[i].summary);
    if (omitted[0].name) {
        printf("\nNot in this build:\n");
        for (size_t i = 0; omitted[i].name; i++)
            printf("  %-12s %s\n", omitted[i].name, omitted[i].why);
    }
    printf("\nCommon options (chat, run, serve; 'tektra COMMAND --help' has them all):\n"
           "  -m, --model MODEL   a GGUF file, a model directory or a name from the store\n"
           "  -p, --prompt TEXT   answer this one message and exit\n"
           "  -n, --max-tokens N  most tokens per answer\n"
           "  -c, --ctx-size N    context size in tokens\n"
           "  -v, --verbose       print the backend choice, seed and timings\n");
    printf("\nExamples:\n"
           "  tektra pull qwen2.5-0.5b && tektra -m qwen2.5-0.5b      get a model, chat with it\n"
           "  tektra -m qwen2.5-0.5b -p \"Why is the sky blue?\"       one answer, then exit\n");
    printf("\nRun 'tektra COMMAND --help' for the options of a command.\n");
    printf("Options:\n  -h, --help     show this help\n  -V, --version  show the version\n");
}

int main(int argc, char **argv)
{
    tk_platform_init_program(&argc, &argv);
    if (argc >= 2) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
            print_help();
            return APP_EXIT_OK;
        }
        if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
            printf("tektra %s\n", tk_version());
            const char *mlx = tk_mlx_version();
            if (mlx)
                printf("MLX backend: compiled in (Apple MLX %s)\n", mlx);
            else
                printf("MLX backend: not compiled in (built without Apple's MLX C API)\n");
            return APP_EXIT_OK;
        }
        if (argv[1][0] != '-') {
            const app_cmd *c = find_cmd(argv[1]);
            const app_omitted *o = c ? NULL : find_omitted(argv[1]);
            if (o) {
                app_error("'%s' is not in this build of tektra (%s)", o->name, o->why);
                return APP_EXIT_FAIL;
            }
            if (!c) return app_usage_error("", "unknown command '%s'", argv[1]);
            return c->fn(argc - 1, argv + 1);
        }
    }
    /* No subcommand (or only options): the chat REPL with those options. */
    const app_cmd *chat = find_cmd("chat");
    if (!chat) {
        app_error("this build has no chat command");
        return APP_EXIT_FAIL;
    }
    argv[0] = (char *)"chat";
    return chat->fn(argc, argv);
}
