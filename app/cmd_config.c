/* tektra config: the merged settings and where each value came from. */
#include "settings.h"

#include <stdio.h>
#include <string.h>

const char cmd_config_summary[] = "show the settings in effect and where each came from";

int cmd_config(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("Usage: tektra config [OPTIONS]\n\n"
                   "Prints the settings in effect, merged from (highest first) flags, the\n"
                   "environment (TEKTRA_*), tektra.toml and the built-in defaults, with the\n"
                   "source of each. tektra.toml is looked for in --config PATH, ./tektra.toml\n"
                   "and the user config dir ($XDG_CONFIG_HOME/tektra or ~/.config/tektra).\n\n"
                   "Options: the flags of 'tektra chat' (see 'tektra chat --help').\n");
            return APP_EXIT_OK;
        }
    }
    app_settings s;
    int rc = app_settings_load(&s, argc, argv);
    if (rc != APP_EXIT_OK) return rc;
    for (int i = 1; i < argc; i++) {
        int r = app_settings_flag(&s, argc, argv, &i);
        if (r < 0) return APP_EXIT_USAGE;
        if (r == 0) return app_usage_error("config", "unknown option '%s'", argv[i]);
    }
    printf("# config file: %s\n", s.config.file[0] ? s.config.file : "(none found)");
    const char *section = "";
    size_t section_len = 0;
    for (int k = 0; k < TK_CONFIG_KEY_COUNT; k++) {
        const char *full = tk_config_key_name(k);
        const char *dot = strchr(full, '.');
        size_t sec_len = (size_t)(dot - full);
        if (section_len != sec_len || strncmp(section, full, sec_len) != 0) {
            printf("%s[%.*s]\n", k ? "\n" : "", (int)sec_len, full);
            section = full;
            section_len = sec_len;
        }
        char value[1100];
        tk_config_format(&s.config, k, value, sizeof value);
        char line[1300];
        snprintf(line, sizeof line, "%s = %s", dot + 1, value);
        printf("%-40s # %s (%s)\n", line, tk_config_source_name(s.config.source[k]),
               tk_config_env_name(k));
    }
    return APP_EXIT_OK;
}
