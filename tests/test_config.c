/* tektra.toml, environment and precedence. */
#include "check.h"
#include "config/toml.h"
#include "tektra.h"

#include <sys/stat.h>
#include <unistd.h>

static tk_status load(tk_config *c, const char *text)
{
    tk_config_defaults(c);
    return tk_config_load_string(c, text, "t.toml");
}

static void test_defaults(void)
{
    tk_config c;
    tk_config_defaults(&c);
    CHECK_INT(c.backend, TK_BACKEND_AUTO);
    CHECK(!c.benchmark_on_startup);
    CHECK_INT(c.max_tokens, 512);
    CHECK_NEAR(c.temperature, 0.7, 1e-12);
    CHECK_NEAR(c.top_p, 0.9, 1e-12);
    CHECK_NEAR(c.repeat_penalty, 1.1, 1e-12);
    CHECK_INT(c.seed, -1);
    for (int k = 0; k < TK_CONFIG_KEY_COUNT; k++) CHECK_INT(c.source[k], TK_SOURCE_DEFAULT);
    CHECK_STR(tk_config_key_name(TK_CONFIG_temperature), "inference.temperature");
    CHECK_STR(tk_config_env_name(TK_CONFIG_temperature), "TEKTRA_TEMPERATURE");
    CHECK_STR(tk_config_env_name(TK_CONFIG_model_path), "TEKTRA_MODEL");
    CHECK_STR(tk_config_env_name(TK_CONFIG_model_dir), "TEKTRA_MODELS");
}

static void test_valid_documents(void)
{
    tk_config c;
    const char *doc = "# tektra settings\n"
                      "[inference]\n"
                      "backend = \"GGUF\"   # case-insensitive\n"
                      "benchmark_on_startup = true\n"
                      "max_tokens = 1_024\n"
                      "temperature = 0.25\n"
                      "top_p = 1\n"
                      "top_k = 0x10\n"
                      "min_p = 5e-2\n"
                      "repeat_penalty = +1.0\n"
                      "repeat_last_n = 0o10\n"
                      "seed = 42\n"
                      "threads = 2\n"
                      "context_size = 2048\n"
                      "\n"
                      "[model]\n"
                      "path = 'C:\\models\\a.gguf'\n"
                      "dir = \"/tmp/m\\u00e9\\tx\"\n";
    CHECK_INT(load(&c, doc), TK_OK);
    CHECK_INT(c.backend, TK_BACKEND_GGUF);
    CHECK(c.benchmark_on_startup);
    CHECK_INT(c.max_tokens, 1024);
    CHECK_NEAR(c.temperature, 0.25, 1e-12);
    CHECK_NEAR(c.top_p, 1.0, 1e-12);
    CHECK_INT(c.top_k, 16);
    CHECK_NEAR(c.min_p, 0.05, 1e-12);
    CHECK_INT(c.repeat_last_n, 8);
    CHECK_INT(c.seed, 42);
    CHECK_INT(c.threads, 2);
    CHECK_INT(c.context_size, 2048);
    CHECK_STR(c.model_path, "C:\\models\\a.gguf");
    CHECK_STR(c.model_dir, "/tmp/m\xc3\xa9\tx");
    CHECK_INT(c.source[TK_CONFIG_temperature], TK_SOURCE_FILE);

    /* Dotted keys, inline tables, quoted keys, multi-line strings, CRLF. */
    CHECK_INT(load(&c, "inference.temperature = 0.5\r\n"
                       "model = { path = \"\"\"\n/a/b.gguf\"\"\" }\r\n"
                       "\"inference\".'top_k' = 3\n"),
              TK_OK);
    CHECK_NEAR(c.temperature, 0.5, 1e-12);
    CHECK_STR(c.model_path, "/a/b.gguf");
    CHECK_INT(c.top_k, 3);

    /* Unknown keys and other value kinds are accepted with a warning. */
    CHECK_INT(load(&c, "[ui]\ncolors = [\"red\", 'blue',\n  [1, 2.5],\n]  # trailing comma\n"
                       "flag = false\nx = -inf\ny = nan\n"
                       "s = '''literal\nlines'''\n"
                       "m = \"\"\"one \\\n    two\"\"\"\n"),
              TK_OK);

    /* The parsed values themselves. */
    toml_doc d;
    CHECK_INT(toml_parse("a = \"\"\"x\"\"\"\"\"\nb = [ ]\nc.d.e = 'q'\n"
                         "f = \"\\\"\\\\\\b\\t\\n\\f\\r\\U0001F600\"\n",
                         "d", &d),
              TK_OK);
    if (d.n_entries == 4) {
        CHECK_STR(d.entries[0].key, "a");
        CHECK_STR(d.entries[0].value.str, "x\"\"");
        CHECK_INT(d.entries[1].value.kind, TOML_ARRAY);
        CHECK_INT(d.entries[1].value.n_items, 0);
        CHECK_STR(d.entries[2].key, "c.d.e");
        CHECK_STR(d.entries[3].value.str, "\"\\\b\t\n\f\r\xf0\x9f\x98\x80");
    } else {
        CHECK_INT(d.n_entries, 4);
    }
    toml_free(&d);
}

/* Broken documents: each must fail with file:line:col and a useful word. */
static void test_broken_documents(void)
{
    const struct {
        const char *text;
        const char *where;
        const char *what;
    } cases[] = {
        {"[inference\ntemperature = 1\n", "t.toml:1:11", "expected ']'"},
        {"temperature 0.5\n", "t.toml:1:13", "expected '='"},
        {"a = \n", "t.toml:1:5", "expected a value"},
        {"a = \"open\n", "t.toml:1:10", "newline in a single-line string"},
        {"a = \"never closed", "t.toml:1:5", "unterminated string"},
        {"a = 1\na = 2\n", "t.toml:2:5", "duplicate key 'a'"},
        {"[x]\n[x]\n", "t.toml:2:1", "defined twice"},
        {"a = 1\n[a]\n", "t.toml:2:1", "duplicate key 'a'"},
        {"a = 1\na.b = 2\n", "t.toml:2:7", "'a' is a value"},
        {"a = 1 2\n", "t.toml:1:7", "expected end of line"},
        {"a = [1, 2\n", "t.toml:2:1", "expected ',' or ']'"},
        {"a = \"\\q\"\n", "t.toml:1:6", "unknown escape sequence \\q"},
        {"a = \"\\u12\"\n", "t.toml:1:6", "hex digits"},
        {"a = \"\\uD800\"\n", "t.toml:1:6", "not a Unicode scalar value"},
        {"a = 012\n", "t.toml:1:5", "leading zeros"},
        {"a = 1__0\n", "t.toml:1:6", "'_' in a number"},
        {"a = 99999999999999999999\n", "t.toml:1:5", "out of range"},
        {"a = 1.\n", "t.toml:1:5", "digits on both sides"},
        {"a = .5\n", "t.toml:1:5", "expected a value"},
        {"a = 1979-05-27\n", "t.toml:1:5", "dates and times are not supported"},
        {"a = tru\n", "t.toml:1:5", "expected a value"},
        {"= 1\n", "t.toml:1:1", "expected a key"},
        {"[[servers]]\n", "t.toml:1:1", "arrays of tables"},
        {"a = { b = 1\n", "t.toml:1:12", "expected ',' or '}'"},
        {"a = \"x\x01y\"\n", "t.toml:1:7", "control character 0x01"},
        {"# bad \x01 comment\n", "t.toml:1:7", "control character 0x01 in a comment"},
        {"\n\n  b = 'x' c\n", "t.toml:3:11", "expected end of line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tk_config c;
        tk_status s = load(&c, cases[i].text);
        CHECK_MSG(s == TK_ERR_CONFIG, "case %zu: status %d", i, (int)s);
        CHECK_CONTAINS(tk_last_error(), cases[i].where);
        CHECK_CONTAINS(tk_last_error(), cases[i].what);
    }
    /* Deep nesting ends with an error, not a stack overflow. */
    char deep[400];
    memset(deep, '[', sizeof deep);
    memcpy(deep, "a = ", 4);
    deep[sizeof deep - 1] = '\0';
    tk_config c;
    CHECK_INT(load(&c, deep), TK_ERR_CONFIG);
    CHECK_CONTAINS(tk_last_error(), "nested deeper");
}

/* Wrong types and out-of-range values name key and value; the config is
 * left unchanged. */
static void test_bad_values(void)
{
    const struct {
        const char *text;
        const char *what;
    } cases[] = {
        {"[inference]\ntemperature = -0.1\n",
         "t.toml:2:15: inference.temperature = -0.1 is out of range"},
        {"[inference]\ntemperature = \"hot\"\n",
         "inference.temperature: expected a number, found string \"hot\""},
        {"[inference]\ntop_p = 0\n", "inference.top_p = 0 is out of range: must be in (0, 1]"},
        {"[inference]\ntop_p = 1.5\n", "inference.top_p = 1.5 is out of range"},
        {"[inference]\nmax_tokens = 0\n", "inference.max_tokens = 0 is out of range"},
        {"[inference]\nmax_tokens = -5\n", "inference.max_tokens = -5"},
        {"[inference]\nmax_tokens = 1.5\n",
         "inference.max_tokens: expected an integer, found float"},
        {"[inference]\nmin_p = 1\n", "inference.min_p = 1 is out of range"},
        {"[inference]\nrepeat_penalty = 0\n", "inference.repeat_penalty = 0 is out of range"},
        {"[inference]\nthreads = -1\n", "inference.threads = -1"},
        {"[inference]\nseed = -2\n", "inference.seed = -2"},
        {"[inference]\nbackend = \"cuda\"\n",
         "inference.backend = \"cuda\": unknown backend (valid: auto, gguf, mlx)"},
        {"[inference]\nbackend = 1\n", "inference.backend: expected a string"},
        {"[inference]\nbenchmark_on_startup = \"yes\"\n",
         "inference.benchmark_on_startup: expected true or false"},
        {"[model]\npath = 3\n", "model.path: expected a string, found integer 3"},
        {"[inference]\ntemperature = nan\n", "inference.temperature = nan is out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tk_config c;
        tk_config_defaults(&c);
        c.max_tokens = 77;
        tk_status s = tk_config_load_string(&c, cases[i].text, "t.toml");
        CHECK_MSG(s == TK_ERR_CONFIG, "case %zu: status %d", i, (int)s);
        CHECK_CONTAINS(tk_last_error(), cases[i].what);
        CHECK_INT(c.max_tokens, 77);
    }
}

/* A fake environment: NAME=VALUE pairs. */
static const char *fake_getenv(const char *name, void *user)
{
    const char *const *env = user;
    size_t n = strlen(name);
    for (; *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=') return *env + n + 1;
    return NULL;
}

static void test_env_and_precedence(void)
{
    char dir[] = "/tmp/tk_config_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/tektra.toml", dir);
    FILE *f = fopen(path, "w");
    fputs("[inference]\ntemperature = 0.3\ntop_p = 0.5\nmax_tokens = 100\nbackend = \"mlx\"\n", f);
    fclose(f);

    const char *env[] = {"TEKTRA_TEMPERATURE=0.9", "TEKTRA_BACKEND=GgUf",  "TEKTRA_SEED=7",
                         "TEKTRA_BENCHMARK=yes",   "TEKTRA_MODEL=/m.gguf", NULL};
    tk_platform p;
    tk_platform_detect(&p);
    tk_config c;
    CHECK_INT(tk_config_load(&c, path, &p, fake_getenv, (void *)env), TK_OK);
    CHECK_NEAR(c.temperature, 0.9, 1e-12); /* env beats file */
    CHECK_INT(c.source[TK_CONFIG_temperature], TK_SOURCE_ENV);
    CHECK_NEAR(c.top_p, 0.5, 1e-12); /* file beats default */
    CHECK_INT(c.source[TK_CONFIG_top_p], TK_SOURCE_FILE);
    CHECK_INT(c.max_tokens, 100);
    CHECK_INT(c.backend, TK_BACKEND_GGUF);
    CHECK_INT(c.seed, 7);
    CHECK(c.benchmark_on_startup);
    CHECK_STR(c.model_path, "/m.gguf");
    CHECK_INT(c.source[TK_CONFIG_repeat_penalty], TK_SOURCE_DEFAULT);
    CHECK_STR(c.file, path);
    /* A flag beats everything. */
    CHECK_INT(tk_config_set(&c, "temperature", "0.1", TK_SOURCE_FLAG), TK_OK);
    CHECK_NEAR(c.temperature, 0.1, 1e-12);
    CHECK_INT(c.source[TK_CONFIG_temperature], TK_SOURCE_FLAG);
    CHECK_INT(tk_config_set(&c, "inference.max_tokens", "abc", TK_SOURCE_FLAG), TK_ERR_CONFIG);
    CHECK_INT(tk_config_set(&c, "nonsense", "1", TK_SOURCE_FLAG), TK_ERR_CONFIG);
    /* KV cache types by name; anything else names the valid ones. */
    CHECK_INT(c.cache_type_k, TK_TYPE_F16);
    CHECK_INT(tk_config_set(&c, "cache_type_k", "Q8_0", TK_SOURCE_FLAG), TK_OK);
    CHECK_INT(c.cache_type_k, TK_TYPE_Q8_0);
    CHECK_INT(tk_config_set(&c, "inference.cache_type_v", "q4_0", TK_SOURCE_FLAG), TK_OK);
    CHECK_INT(c.cache_type_v, TK_TYPE_Q4_0);
    char shown[32];
    tk_config_format(&c, TK_CONFIG_cache_type_v, shown, sizeof shown);
    CHECK_STR(shown, "\"q4_0\"");
    CHECK_INT(tk_config_set(&c, "cache_type_v", "q5_1", TK_SOURCE_FLAG), TK_ERR_CONFIG);
    CHECK_CONTAINS(tk_last_error(), "unknown cache type (valid: f16, f32, q8_0, q4_0)");
    CHECK_INT(c.cache_type_v, TK_TYPE_Q4_0);

    /* Bad environment values name the variable. */
    const char *bad1[] = {"TEKTRA_BACKEND=cuda", NULL};
    CHECK_INT(tk_config_load(&c, path, &p, fake_getenv, (void *)bad1), TK_ERR_CONFIG);
    CHECK_CONTAINS(tk_last_error(), "TEKTRA_BACKEND");
    CHECK_CONTAINS(tk_last_error(), "valid: auto, gguf, mlx");
    const char *bad2[] = {"TEKTRA_MAX_TOKENS=lots", NULL};
    CHECK_INT(tk_config_load(&c, path, &p, fake_getenv, (void *)bad2), TK_ERR_CONFIG);
    CHECK_CONTAINS(tk_last_error(), "TEKTRA_MAX_TOKENS");
    const char *bad3[] = {"TEKTRA_TOP_P=2", NULL};
    CHECK_INT(tk_config_load(&c, path, &p, fake_getenv, (void *)bad3), TK_ERR_CONFIG);
    CHECK_CONTAINS(tk_last_error(), "out of range");

    /* The user config dir is found through XDG_CONFIG_HOME. */
    char xdg[600];
    snprintf(xdg, sizeof xdg, "%s/xdg/tektra", dir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s/xdg", dir);
    CHECK_INT(mkdir(cmd, 0755), 0);
    CHECK_INT(mkdir(xdg, 0755), 0);
    snprintf(cmd, sizeof cmd, "%s/tektra.toml", xdg);
    f = fopen(cmd, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("[inference]\ntop_k = 5\n", f);
        fclose(f);
    }
    char xdg_env[700], appdata_env[700];
    snprintf(xdg_env, sizeof xdg_env, "XDG_CONFIG_HOME=%s/xdg", dir);
    /* The same directory on Windows, where the user config dir is %APPDATA%\tektra. */
    snprintf(appdata_env, sizeof appdata_env, "APPDATA=%s/xdg", dir);
    const char *env2[] = {xdg_env, appdata_env, NULL};
    char cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_INT(chdir(dir), 0); /* no ./tektra.toml... */
    unlink("tektra.toml");
    CHECK_INT(tk_config_load(&c, NULL, &p, fake_getenv, (void *)env2), TK_OK);
    CHECK_INT(c.top_k, 5);
    /* ./tektra.toml wins over the user dir. */
    f = fopen("tektra.toml", "w");
    fputs("[inference]\ntop_k = 9\n", f);
    fclose(f);
    CHECK_INT(tk_config_load(&c, NULL, &p, fake_getenv, (void *)env2), TK_OK);
    CHECK_INT(c.top_k, 9);
    CHECK_INT(chdir(cwd), 0);
    /* An explicit path that does not exist is an error. */
    CHECK_INT(tk_config_load(&c, "/nonexistent/t.toml", &p, fake_getenv, (void *)env2),
              TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "/nonexistent/t.toml");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_INT(system(cmd), 0);
}

static void test_format(void)
{
    tk_config c;
    tk_config_defaults(&c);
    char buf[64];
    tk_config_format(&c, TK_CONFIG_backend, buf, sizeof buf);
    CHECK_STR(buf, "\"auto\"");
    tk_config_format(&c, TK_CONFIG_temperature, buf, sizeof buf);
    CHECK_STR(buf, "0.7");
    tk_config_format(&c, TK_CONFIG_max_tokens, buf, sizeof buf);
    CHECK_STR(buf, "512");
    tk_config_format(&c, TK_CONFIG_benchmark_on_startup, buf, sizeof buf);
    CHECK_STR(buf, "false");
}

int main(void)
{
    test_defaults();
    test_valid_documents();
    test_broken_documents();
    test_bad_values();
    test_env_and_precedence();
    test_format();
    return check_summary();
}
