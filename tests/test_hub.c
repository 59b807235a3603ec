/* Tests of the hub: SHA-256 vectors, the catalogue, store placement per OS,
 * sources, progress text, downloads against a loopback HTTP server (resume,
 * verification, redirects, errors), list/rm/resolve and the first-run help.
 * With the argument "e2e" it runs the real `tektra pull/list/rm` instead.
 * Nothing here touches the internet. */
#include "check.h"
#include "core/core.h"
#include "hub/hub.h"
#include "hub/sha256.h"
#include "hub_server.h"
#include "tektra/gguf.h"

#include <cjson/cJSON.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The real model served by the loopback server (read from ../shared). */
static char *model;
static size_t model_len;
static char model_sha[65];
#define MODEL_SHA_COREUTILS "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d"

static hs_server *srv;
static char endpoint[64];
static char tmp_root[] = "/tmp/tk_hub_test_XXXXXX";

/* ---- helpers ----------------------------------------------------------- */

typedef struct env_kv {
    const char *key, *value;
} env_kv;

/* A fake environment: a NULL-terminated table passed as `user`. */
static const char *table_env(const char *name, void *user)
{
    for (const env_kv *e = user; e && e->key; e++)
        if (strcmp(e->key, name) == 0) return e->value;
    return NULL;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static bool file_equals(const char *path, const void *data, size_t len)
{
    char *buf = NULL;
    size_t n = 0;
    if (core_read_file(path, len + 16, &buf, &n) != TK_OK) return false;
    bool same = n == len && memcmp(buf, data, len) == 0;
    free(buf);
    return same;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, len, f);
    fclose(f);
}

static void path_in(char *out, size_t size, const char *dir, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

/* A configuration whose model directory is `store`, on Linux. */
static void linux_with_store(const char *store, tk_config *cfg, tk_platform *plat)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->model_dir, sizeof cfg->model_dir, "%s", store);
    memset(plat, 0, sizeof *plat);
    plat->os = TK_OS_LINUX;
}

static void make_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", tmp_root, name);
    mkdir(out, 0755);
}

/* Progress reports, formatted as the non-terminal lines. */
static char progress_log[8192];
static int progress_calls, progress_finished;
static bool progress_restarted;
static uint64_t progress_resumed;

static void on_progress(const tk_hub_progress *pr, void *user)
{
    (void)user;
    char line[256];
    tk_hub_progress_format(pr, false, 80, line, sizeof line);
    size_t used = strlen(progress_log);
    snprintf(progress_log + used, sizeof progress_log - used, "%s\n", line);
    progress_calls++;
    progress_finished += pr->finished;
    if (pr->restarted) progress_restarted = true;
    if (pr->resumed > progress_resumed) progress_resumed = pr->resumed;
}

static const char *token_for_pull;

/* Pulls with short timeouts against the loopback server. */
static tk_status pull(const char *store, const char *spec, const char *sha, tk_hub_pull_result *res)
{
    env_kv env[] = {{"HF_ENDPOINT", endpoint}, {"HF_TOKEN", token_for_pull}, {NULL, NULL}};
    tk_hub_pull_params p;
    tk_hub_pull_params_default(&p);
    p.sha256 = sha;
    p.getenv = table_env;
    p.getenv_user = env;
    p.connect_timeout = 5;
    p.low_speed_time = 1;
    p.low_speed_limit = 1000;
    p.max_redirects = 3;
    p.progress = on_progress;
    p.progress_interval = 0;
    progress_log[0] = '\0';
    progress_calls = progress_finished = 0;
    progress_restarted = false;
    progress_resumed = 0;
    return tk_hub_pull(store, spec, &p, res);
}

static void route(const char *path, hs_mode mode, const void *data, size_t len)
{
    hs_route r = {path, mode, data, len, 0, NULL, 0, NULL, NULL};
    hs_route_add(srv, &r);
}

/* A route that answers HTTP `status` (with the Hub's X-Error-Code header
 * when error_code is not NULL). */
static void route_status(const char *path, int status, const char *error_code)
{
    hs_route r = {path, HS_STATUS, NULL, 0, status, NULL, 0, NULL, error_code};
    hs_route_add(srv, &r);
}

/* ---- SHA-256 ----------------------------------------------------------- */

static void hex_of(const void *data, size_t len, char hex[65])
{
    hub_sha256_buffer_hex(data, len, hex);
}

/* ---- JSON bounds ------------------------------------------------------- */

static bool json_ok(const char *text)
{
    cJSON *j = hub_json_parse(text, strlen(text));
    cJSON_Delete(j);
    return j != NULL;
}

static void test_json(void)
{
    CHECK(json_ok("[{\"type\":\"file\",\"path\":\"a\\u00e9\\n\",\"size\":3}]  \r\n"));
    CHECK(!json_ok("[1] x"));
    CHECK(!json_ok("[1"));
    CHECK(!json_ok(""));
    /* Nesting: HUB_JSON_MAX_DEPTH levels are fine, one more is not. */
    char deep[2 * HUB_JSON_MAX_DEPTH + 3];
    memset(deep, '[', HUB_JSON_MAX_DEPTH);
    memset(deep + HUB_JSON_MAX_DEPTH, ']', HUB_JSON_MAX_DEPTH);
    deep[2 * HUB_JSON_MAX_DEPTH] = '\0';
    CHECK(json_ok(deep));
    memmove(deep + 1, deep, 2 * HUB_JSON_MAX_DEPTH + 1);
    deep[2 * HUB_JSON_MAX_DEPTH + 1] = ']';
    deep[2 * HUB_JSON_MAX_DEPTH + 2] = '\0';
    CHECK(!json_ok(deep));
    CHECK(json_ok("[\"[[[[\"]"));
    /* Strings: no raw control characters, no NUL, no lone surrogates. */
    CHECK(!json_ok("[\"a\tb\"]"));
    CHECK(!json_ok("[\"a\\u0000b\"]"));
    CHECK(json_ok("[\"a\\\\u0000b\"]"));
    CHECK(!json_ok("[\"\\udc00\"]"));
    CHECK(!json_ok("[\"\\ud800x\"]"));
    CHECK(json_ok("[\"\\ud83d\\ude00\"]"));

    static const char values[] = "[10, -1, 1.5, \"10\", 9007199254740992, 1e300, \"abc\"]";
    cJSON *j = hub_json_parse(values, sizeof values - 1);
    CHECK(j != NULL);
    uint64_t v = 0;
    CHECK(hub_json_u64(cJSON_GetArrayItem(j, 0), &v) && v == 10);
    CHECK(!hub_json_u64(cJSON_GetArrayItem(j, 1), &v));
    CHECK(!hub_json_u64(cJSON_GetArrayItem(j, 2), &v));
    CHECK(!hub_json_u64(cJSON_GetArrayItem(j, 3), &v));
    CHECK(hub_json_u64(cJSON_GetArrayItem(j, 4), &v) && v == (1ull << 53));
    CHECK(!hub_json_u64(cJSON_GetArrayItem(j, 5), &v));
    char buf[4];
    CHECK(!hub_json_str(cJSON_GetArrayItem(j, 0), buf, sizeof buf));
    CHECK(hub_json_str(cJSON_GetArrayItem(j, 6), buf, sizeof buf));
    CHECK_STR(buf, "abc");
    CHECK(!hub_json_str(cJSON_GetArrayItem(j, 6), buf, 3));
    cJSON_Delete(j);
}

static void test_sha256(void)
{
    char hex[65];
    /* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf"). */
    hex_of("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m448, strlen(m448), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    hex_of(m896, strlen(m896), hex);
    CHECK_STR(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");

    /* One million 'a', fed in uneven pieces. */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    hub_sha256 s;
    hub_sha256_init(&s);
    size_t pos = 0, step = 1;
    while (pos < 1000000) {
        size_t n = step < 1000000 - pos ? step : 1000000 - pos;
        hub_sha256_update(&s, a + pos, n);
        pos += n;
        step = step * 3 + 1;
        if (step > 70000) step = 7;
    }
    uint8_t d[32];
    hub_sha256_final(&s, d);
    hub_sha256_hex(d, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    /* Lengths around the padding boundaries (values from Python's hashlib). */
    static const struct {
        size_t n;
        const char *hex;
    } edges[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        hex_of(a, edges[i].n, hex);
        CHECK_STR(hex, edges[i].hex);
        /* Byte by byte gives the same digest. */
        hub_sha256_init(&s);
        for (size_t k = 0; k < edges[i].n; k++) hub_sha256_update(&s, a + k, 1);
        hub_sha256_final(&s, d);
        hub_sha256_hex(d, hex);
        CHECK_STR(hex, edges[i].hex);
    }
    free(a);

    /* A real file, against coreutils' sha256sum. */
    CHECK_STR(model_sha, MODEL_SHA_COREUTILS);
    char path_hex[65] = "";
    CHECK_INT(hub_sha256_file(shared_path("models/stories260K.gguf"), path_hex), TK_OK);
    CHECK_STR(path_hex, MODEL_SHA_COREUTILS);
}

/* ---- catalogue --------------------------------------------------------- */

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static void test_catalogue(void)
{
    int n = tk_hub_catalogue_count();
    CHECK(n >= 11);
    CHECK(tk_hub_catalogue_at(-1) == NULL);
    CHECK(tk_hub_catalogue_at(n) == NULL);
    for (int i = 0; i < n; i++) {
        const tk_hub_model *m = tk_hub_catalogue_at(i);
        CHECK_MSG(m->sha256[0] == '\0' || is_hex64(m->sha256), "%s: bad sha256", m->alias);
        CHECK_MSG(m->size == 0 || m->size > 100000000, "%s: size %llu", m->alias,
                  (unsigned long long)m->size);
        if (m->kind == TK_HUB_KIND_DIR) {
            /* A directory is named after its repository; its size and files'
             * digests come from the Hub's listing when it is pulled. */
            const char *slash = strrchr(m->repo, '/');
            CHECK_MSG(slash && strcmp(slash + 1, m->file) == 0, "%s: %s", m->alias, m->file);
            CHECK_STR(m->sha256, "");
        } else {
            CHECK_MSG(strlen(m->file) > 5 && strcmp(m->file + strlen(m->file) - 5, ".gguf") == 0,
                      "%s: %s", m->alias, m->file);
        }
        CHECK_MSG(strchr(m->repo, '/') != NULL, "%s: repo %s", m->alias, m->repo);
        /* Every alias finds its own entry; aliases and files are unique. */
        CHECK(tk_hub_find_alias(m->alias) == m);
        CHECK(tk_hub_find_file(m->file) == m);
        CHECK(hub_valid_store_name(m->file));
        int defaults = 0;
        for (int k = 0; k < n; k++) {
            const tk_hub_model *o = tk_hub_catalogue_at(k);
            if (strcmp(o->family, m->family) == 0) defaults += o->is_default;
        }
        CHECK_MSG(defaults == 1, "%s: %d defaults", m->family, defaults);
    }
    static const char *const required[] = {"gemma2-2b",    "qwen2.5-0.5b", "qwen2.5-0.5b:q8_0",
                                           "qwen2.5-1.5b", "qwen2.5-7b",   "llama3.2-1b",
                                           "llama3.2-3b",  "tinyllama"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        CHECK_MSG(tk_hub_find_alias(required[i]) != NULL, "missing alias %s", required[i]);

    const tk_hub_model *q = tk_hub_find_alias("qwen2.5-0.5b");
    CHECK_STR(q->quant, "Q4_K_M");
    CHECK(tk_hub_find_alias("Qwen2.5-0.5B") == q);
    CHECK(tk_hub_find_alias("qwen2.5-0.5b:q4_k_m") == q);
    const tk_hub_model *q8 = tk_hub_find_alias("QWEN2.5-0.5B:Q8_0");
    CHECK(q8 != NULL && q8 != q && strcmp(q8->quant, "Q8_0") == 0);
    CHECK(tk_hub_find_alias("qwen2.5-0.5b:") == NULL);
    CHECK(tk_hub_find_alias("qwen2.5-0.5b:q2_k") == NULL);
    CHECK(tk_hub_find_alias("qwen") == NULL);
    CHECK(tk_hub_find_alias("") == NULL);
    CHECK(tk_hub_find_alias(NULL) == NULL);

    /* ollama's NAME:TAG names. */
    CHECK(tk_hub_find_alias("qwen2.5:0.5b") == q);
    CHECK(tk_hub_find_alias("Qwen2.5:0.5B-Instruct") == q);
    CHECK(tk_hub_find_alias("qwen2.5:0.5b-instruct-q8_0") == q8);
    CHECK(tk_hub_find_alias("qwen2.5:0.5b-q8_0") == q8);
    CHECK(tk_hub_find_alias("llama3.2:1b") == tk_hub_find_alias("llama3.2-1b"));
    CHECK(tk_hub_find_alias("llama3.2:3b") == tk_hub_find_alias("llama3.2-3b"));
    CHECK(tk_hub_find_alias("tinyllama:latest") == tk_hub_find_alias("tinyllama"));
    CHECK(tk_hub_find_alias("llama3.2:2b") == NULL);
    CHECK(tk_hub_find_alias("qwen2.5:0.5bx") == NULL);
    CHECK(tk_hub_find_alias("qwen2.5:b") == NULL);
    CHECK(tk_hub_find_alias(":0.5b") == NULL);
    CHECK(tk_hub_find_alias("llama3.2") == NULL);

    /* Suggestions for names that are none. */
    const tk_hub_model *near[8];
    int n_near = tk_hub_suggest("llama3.2", near, 8);
    CHECK_INT(n_near, 2);
    if (n_near == 2) {
        CHECK_STR(near[0]->alias, "llama3.2-1b");
        CHECK_STR(near[1]->alias, "llama3.2-3b");
    }
    n_near = tk_hub_suggest("lama3.2-1b", near, 8);
    CHECK_INT(n_near, 1);
    if (n_near == 1) CHECK_STR(near[0]->alias, "llama3.2-1b");
    n_near = tk_hub_suggest("qwen2.5-0.5b:q5_k_m", near, 8);
    CHECK_INT(n_near, 2);
    if (n_near == 2) CHECK_STR(near[1]->alias, "qwen2.5-0.5b:q8_0");
    CHECK_INT(tk_hub_suggest("mistral", near, 8), 0);
    CHECK_INT(tk_hub_suggest("llama3.2", near, 1), 1);
    CHECK_INT(tk_hub_suggest("", near, 8), 0);

    /* Recommendations by RAM. */
    const uint64_t GiB = 1024ull * 1024 * 1024;
    static const struct {
        uint64_t ram;
        const char *alias;
    } rec[] = {{0, "qwen2.5-0.5b"},       {2 * GiB, "qwen2.5-0.5b"}, {4 * GiB - 1, "qwen2.5-0.5b"},
               {4 * GiB, "qwen2.5-1.5b"}, {6 * GiB, "qwen2.5-1.5b"}, {8 * GiB, "llama3.2-3b"},
               {15 * GiB, "llama3.2-3b"}, {16 * GiB, "qwen2.5-7b"},  {64 * GiB, "qwen2.5-7b"}};
    for (size_t i = 0; i < sizeof rec / sizeof rec[0]; i++) {
        tk_platform p;
        memset(&p, 0, sizeof p);
        p.ram_total = rec[i].ram;
        CHECK_STR(tk_hub_recommend(&p)->alias, rec[i].alias);
    }
    CHECK_STR(tk_hub_recommend(NULL)->alias, "qwen2.5-0.5b");

    /* With the bandwidth measured, speed decides: the largest file expected
     * at 10 tokens/s or more that fits a quarter of RAM, else the smallest. */
    static const struct {
        uint64_t ram;
        double bw;
        const char *alias;
    } brec[] = {{64 * GiB, 20e9, "qwen2.5-1.5b"}, /* gemma2-2b would be 9.9 t/s */
                {64 * GiB, 100e9, "qwen2.5-7b"},
                {8 * GiB, 100e9, "llama3.2-3b"}, /* qwen3-4b does not fit 2 GiB */
                {64 * GiB, 2e9, "qwen2.5-0.5b"}, /* nothing is fast: the smallest */
                {0, 30e9, "qwen3-4b"}};          /* RAM unknown: speed alone */
    for (size_t i = 0; i < sizeof brec / sizeof brec[0]; i++) {
        tk_platform p;
        memset(&p, 0, sizeof p);
        p.ram_total = brec[i].ram;
        p.mem_bandwidth = brec[i].bw;
        CHECK_STR(tk_hub_recommend(&p)->alias, brec[i].alias);
    }
    tk_platform fast;
    memset(&fast, 0, sizeof fast);
    fast.mem_bandwidth = 10e9;
    CHECK_NEAR(tk_hub_expected_tps(&fast, tk_hub_find_alias("qwen2.5-0.5b")),
               0.85 * 10e9 / 397808192, 1e-9);
    CHECK(tk_hub_expected_tps(&fast, tk_hub_find_alias("qwen3-8b")) == 0); /* size unknown */
    CHECK(tk_hub_find_alias("qwen3-4b") && tk_hub_find_alias("qwen3:0.6b"));

    /* The MLX directories of the platform note. */
    const tk_hub_model *gm = tk_hub_find_alias("gemma-2b-it-mlx");
    const tk_hub_model *qm = tk_hub_find_alias("qwen2.5-7b-mlx");
    CHECK(gm && gm->kind == TK_HUB_KIND_DIR);
    CHECK(qm && qm->kind == TK_HUB_KIND_DIR);
    if (gm) CHECK_STR(gm->repo, "mlx-community/gemma-2b-it-4bit");
    if (qm) CHECK_STR(qm->repo, "mlx-community/Qwen2.5-7B-Instruct-4bit");
    CHECK(tk_hub_find_alias("qwen2.5-7b")->kind == TK_HUB_KIND_GGUF);

    /* Apple Silicon under macOS may get an MLX directory; any other machine
     * (Linux on the same hardware, an Intel Mac) keeps the GGUF files. */
    static const struct {
        tk_os os;
        bool apple_silicon;
        uint64_t ram;
        const char *alias;
    } arec[] = {{TK_OS_MACOS, true, 64 * GiB, "qwen2.5-7b-mlx"},
                {TK_OS_MACOS, true, 16 * GiB, "qwen2.5-7b-mlx"},
                {TK_OS_MACOS, true, 8 * GiB, "gemma-2b-it-mlx"},
                {TK_OS_MACOS, true, 15 * GiB, "gemma-2b-it-mlx"},
                {TK_OS_MACOS, true, 4 * GiB, "qwen2.5-1.5b"},
                {TK_OS_MACOS, true, 0, "qwen2.5-0.5b"},
                {TK_OS_MACOS, false, 16 * GiB, "qwen2.5-7b"},
                {TK_OS_LINUX, true, 16 * GiB, "qwen2.5-7b"},
                {TK_OS_LINUX, false, 8 * GiB, "llama3.2-3b"}};
    for (size_t i = 0; i < sizeof arec / sizeof arec[0]; i++) {
        tk_platform p;
        memset(&p, 0, sizeof p);
        p.os = arec[i].os;
        p.arch = arec[i].apple_silicon ? TK_ARCH_AARCH64 : TK_ARCH_X86_64;
        p.apple_silicon = arec[i].apple_silicon;
        p.ram_total = arec[i].ram;
        CHECK_STR(tk_hub_recommend(&p)->alias, arec[i].alias);
    }
}

/* ---- store placement --------------------------------------------------- */

static void test_store_dir(void)
{
    char out[1024];
    env_kv linux_xdg[] = {{"HOME", "/home/u"}, {"XDG_DATA_HOME", "/data/xdg"}, {NULL, NULL}};
    env_kv linux_home[] = {{"HOME", "/home/u"}, {NULL, NULL}};
    env_kv linux_rel[] = {{"HOME", "/home/u"}, {"XDG_DATA_HOME", "rel/dir"}, {NULL, NULL}};
    env_kv nothing[] = {{NULL, NULL}};
    env_kv win[] = {{"LOCALAPPDATA", "C:\\Users\\u\\AppData\\Local"},
                    {"USERPROFILE", "C:\\Users\\u"},
                    {NULL, NULL}};
    env_kv win_profile[] = {{"USERPROFILE", "C:\\Users\\u"}, {NULL, NULL}};

    CHECK_INT(tk_hub_default_store(TK_OS_LINUX, table_env, linux_xdg, out, sizeof out), TK_OK);
    CHECK_STR(out, "/data/xdg/tektra/models");
    CHECK_INT(tk_hub_default_store(TK_OS_LINUX, table_env, linux_home, out, sizeof out), TK_OK);
    CHECK_STR(out, "/home/u/.local/share/tektra/models");
    CHECK_INT(tk_hub_default_store(TK_OS_LINUX, table_env, linux_rel, out, sizeof out), TK_OK);
    CHECK_STR(out, "/home/u/.local/share/tektra/models");
    CHECK_INT(tk_hub_default_store(TK_OS_OTHER, table_env, linux_home, out, sizeof out), TK_OK);
    CHECK_STR(out, "/home/u/.local/share/tektra/models");
    CHECK_INT(tk_hub_default_store(TK_OS_MACOS, table_env, linux_xdg, out, sizeof out), TK_OK);
    CHECK_STR(out, "/home/u/Library/Application Support/tektra/models");
    CHECK_INT(tk_hub_default_store(TK_OS_WINDOWS, table_env, win, out, sizeof out), TK_OK);
    CHECK_STR(out, "C:\\Users\\u\\AppData\\Local\\tektra\\models");
    CHECK_INT(tk_hub_default_store(TK_OS_WINDOWS, table_env, win_profile, out, sizeof out), TK_OK);
    CHECK_STR(out, "C:\\Users\\u\\AppData\\Local\\tektra\\models");
    CHECK_INT(tk_hub_default_store(TK_OS_LINUX, table_env, nothing, out, sizeof out),
              TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "TEKTRA_MODELS");
    CHECK_INT(tk_hub_default_store(TK_OS_MACOS, table_env, nothing, out, sizeof out),
              TK_ERR_NOT_FOUND);
    CHECK_INT(tk_hub_default_store(TK_OS_WINDOWS, table_env, nothing, out, sizeof out),
              TK_ERR_NOT_FOUND);
    char tiny[8];
    CHECK_INT(tk_hub_default_store(TK_OS_LINUX, table_env, linux_home, tiny, sizeof tiny),
              TK_ERR_LIMIT);

    /* Overrides: [model] dir / TEKTRA_MODELS in the config, then the
     * environment variable, then the OS default. */
    tk_platform mac;
    memset(&mac, 0, sizeof mac);
    mac.os = TK_OS_MACOS;
    tk_config cfg;
    memset(&cfg, 0, sizeof cfg);
    CHECK_INT(tk_hub_store_dir(&cfg, &mac, table_env, linux_home, out, sizeof out), TK_OK);
    CHECK_STR(out, "/home/u/Library/Application Support/tektra/models");
    env_kv with_models[] = {{"HOME", "/home/u"}, {"TEKTRA_MODELS", "/srv/models"}, {NULL, NULL}};
    CHECK_INT(tk_hub_store_dir(&cfg, &mac, table_env, with_models, out, sizeof out), TK_OK);
    CHECK_STR(out, "/srv/models");
    CHECK_INT(tk_hub_store_dir(NULL, &mac, table_env, with_models, out, sizeof out), TK_OK);
    CHECK_STR(out, "/srv/models");
    snprintf(cfg.model_dir, sizeof cfg.model_dir, "~/my models");
    CHECK_INT(tk_hub_store_dir(&cfg, &mac, table_env, with_models, out, sizeof out), TK_OK);
    CHECK_STR(out, "/home/u/my models");
    snprintf(cfg.model_dir, sizeof cfg.model_dir, "/opt/m");
    CHECK_INT(tk_hub_store_dir(&cfg, &mac, table_env, with_models, out, sizeof out), TK_OK);
    CHECK_STR(out, "/opt/m");
}

/* ---- sources ----------------------------------------------------------- */

static void test_sources(void)
{
    tk_hub_source s;
    env_kv ep[] = {{"HF_ENDPOINT", "http://mirror.test:8080//"}, {NULL, NULL}};
    env_kv none[] = {{NULL, NULL}};

    CHECK_INT(tk_hub_source_parse("qwen2.5-0.5b", table_env, none, &s), TK_OK);
    CHECK_STR(s.url, "https://huggingface.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/"
                     "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf");
    CHECK_STR(s.file, "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf");
    CHECK_STR(s.repo, "bartowski/Qwen2.5-0.5B-Instruct-GGUF");
    CHECK(s.huggingface);
    CHECK(s.model == tk_hub_find_alias("qwen2.5-0.5b"));
    CHECK_INT(s.size, 397808192);
    CHECK_STR(s.sha256, "6eb923e7d26e9cea28811e1a8e852009b21242fb157b26149d3b188f3a8c8653");

    CHECK_INT(tk_hub_source_parse("tinyllama:q8_0", table_env, ep, &s), TK_OK);
    CHECK_STR(s.url, "http://mirror.test:8080/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/resolve/"
                     "main/tinyllama-1.1b-chat-v1.0.Q8_0.gguf");
    CHECK_INT(s.size, 0);
    CHECK_STR(s.sha256, "");

    env_kv bad_ep[] = {{"HF_ENDPOINT", "ftp://x"}, {NULL, NULL}};
    CHECK_INT(tk_hub_source_parse("tinyllama", table_env, bad_ep, &s), TK_ERR_CONFIG);
    CHECK_CONTAINS(tk_last_error(), "HF_ENDPOINT");

    CHECK_INT(tk_hub_source_parse("hf:someone/Some-Repo_1.0/dir/x+1.gguf", table_env, ep, &s),
              TK_OK);
    CHECK_STR(s.url, "http://mirror.test:8080/someone/Some-Repo_1.0/resolve/main/dir/x%2B1.gguf");
    CHECK_STR(s.file, "x+1.gguf");
    CHECK_STR(s.repo, "someone/Some-Repo_1.0");
    CHECK(s.huggingface);
    CHECK(s.model == NULL);
    CHECK_INT(s.size, 0);

    /* An hf: spec naming a catalogue file carries its size and hash. */
    CHECK_INT(tk_hub_source_parse("hf:bartowski/Llama-3.2-1B-Instruct-GGUF/"
                                  "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
                                  table_env, none, &s),
              TK_OK);
    CHECK(s.model == tk_hub_find_alias("llama3.2-1b"));
    CHECK_INT(s.size, 807694464);
    CHECK(is_hex64(s.sha256));

    /* A whole repository: hf:OWNER/REPO or OWNER/REPO, named REPO in the store. */
    CHECK_INT(tk_hub_source_parse("hf:mlx-community/Some-Model-4bit", table_env, ep, &s), TK_OK);
    CHECK(s.directory && s.huggingface);
    CHECK_STR(s.url, "http://mirror.test:8080/api/models/mlx-community/Some-Model-4bit/tree/main");
    CHECK_STR(s.file, "Some-Model-4bit");
    CHECK_STR(s.repo, "mlx-community/Some-Model-4bit");
    CHECK(s.model == NULL);
    CHECK_INT(tk_hub_source_parse("mlx-community/Qwen2.5-7B-Instruct-4bit", table_env, none, &s),
              TK_OK);
    CHECK(s.directory);
    CHECK_STR(s.url, "https://huggingface.co/api/models/mlx-community/Qwen2.5-7B-Instruct-4bit/"
                     "tree/main");
    CHECK_STR(s.file, "Qwen2.5-7B-Instruct-4bit");
    CHECK(s.model == tk_hub_find_alias("qwen2.5-7b-mlx"));
    CHECK_INT(tk_hub_source_parse("gemma-2b-it-mlx", table_env, none, &s), TK_OK);
    CHECK(s.directory);
    CHECK_STR(s.repo, "mlx-community/gemma-2b-it-4bit");
    CHECK_STR(s.file, "gemma-2b-it-4bit");
    CHECK(!tk_hub_source_parse("hf:owner/repo/x.gguf", table_env, none, &s) && !s.directory);
    static const char *const bad_dir[] = {"owner/",          "/repo",      "owner/.repo",
                                          "a/b/c",           "./x.gguf",   "owner/repo.gguf",
                                          "owner/x.partial", "hf:owner/-x"};
    for (size_t i = 0; i < sizeof bad_dir / sizeof bad_dir[0]; i++)
        CHECK_MSG(tk_hub_source_parse(bad_dir[i], table_env, none, &s) == TK_ERR_INVALID_ARG,
                  "%s accepted", bad_dir[i]);

    static const char *const bad_hf[] = {"hf:",
                                         "hf:owner",
                                         "hf:owner/",
                                         "hf:owner/repo/",
                                         "hf:/repo/x.gguf",
                                         "hf:owner/../x.gguf",
                                         "hf:owner/repo/../x.gguf",
                                         "hf:owner/repo/a/.x.gguf",
                                         "hf:owner/repo/x y.gguf",
                                         "hf:ow ner/repo/x.gguf"};
    for (size_t i = 0; i < sizeof bad_hf / sizeof bad_hf[0]; i++)
        CHECK_MSG(tk_hub_source_parse(bad_hf[i], table_env, none, &s) == TK_ERR_INVALID_ARG,
                  "%s accepted", bad_hf[i]);

    CHECK_INT(tk_hub_source_parse("https://example.com/files/model.gguf?download=true#x", table_env,
                                  none, &s),
              TK_OK);
    CHECK_STR(s.url, "https://example.com/files/model.gguf?download=true#x");
    CHECK_STR(s.file, "model.gguf");
    CHECK(!s.huggingface);
    CHECK_INT(tk_hub_source_parse("http://127.0.0.1:9/dl/My%20Model", table_env, none, &s), TK_OK);
    CHECK_STR(s.file, "My Model.gguf");
    /* The token goes to the Hugging Face endpoint only. */
    CHECK_INT(
        tk_hub_source_parse("https://huggingface.co/a/b/resolve/main/c.gguf", table_env, none, &s),
        TK_OK);
    CHECK(s.huggingface);
    CHECK_INT(
        tk_hub_source_parse("https://huggingface.co.evil.test/a/b/c.gguf", table_env, none, &s),
        TK_OK);
    CHECK(!s.huggingface);
    static const char *const bad_url[] = {
        "https://example.com",           "https://example.com/",         "https:///x.gguf",
        "https://example.com/a/.hidden", "https://example.com/a/%2e%2e", "https://e.com/a%2Fb"};
    for (size_t i = 0; i < sizeof bad_url / sizeof bad_url[0]; i++)
        CHECK_MSG(tk_hub_source_parse(bad_url[i], table_env, none, &s) == TK_ERR_INVALID_ARG,
                  "%s accepted (file %s)", bad_url[i], s.file);
    CHECK_INT(tk_hub_source_parse("ftp://example.com/x.gguf", table_env, none, &s),
              TK_ERR_UNSUPPORTED);
    CHECK_INT(tk_hub_source_parse("no-such-model", table_env, none, &s), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "qwen2.5-0.5b");
    CHECK_INT(tk_hub_source_parse("", table_env, none, &s), TK_ERR_INVALID_ARG);
}

/* ---- text -------------------------------------------------------------- */

static void test_format(void)
{
    char b[64];
    CHECK_STR(tk_hub_format_size(0, b, sizeof b), "0 B");
    CHECK_STR(tk_hub_format_size(999, b, sizeof b), "999 B");
    CHECK_STR(tk_hub_format_size(1000, b, sizeof b), "1.00 kB");
    CHECK_STR(tk_hub_format_size(812400, b, sizeof b), "812 kB");
    CHECK_STR(tk_hub_format_size(12345678, b, sizeof b), "12.3 MB");
    CHECK_STR(tk_hub_format_size(397808192, b, sizeof b), "398 MB");
    CHECK_STR(tk_hub_format_size(999600000, b, sizeof b), "1.00 GB");
    CHECK_STR(tk_hub_format_size(1320000000, b, sizeof b), "1.32 GB");
    CHECK_STR(tk_hub_format_size(4683074240ull, b, sizeof b), "4.68 GB");

    char line[256];
    tk_hub_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.file = "m.gguf";
    pr.done = 50000000;
    pr.total = 100000000;
    pr.rate = 10000000;
    pr.elapsed = 5;
    CHECK_STR(tk_hub_progress_format(&pr, false, 80, line, sizeof line),
              "m.gguf:  50% 50.0 MB of 100 MB, 10.0 MB/s, ETA 0:05");
    pr.total = 0;
    CHECK_STR(tk_hub_progress_format(&pr, false, 80, line, sizeof line),
              "m.gguf: 50.0 MB, 10.0 MB/s");
    pr.total = 100000000;
    pr.done = pr.total;
    pr.finished = true;
    pr.elapsed = 70;
    CHECK_STR(tk_hub_progress_format(&pr, false, 80, line, sizeof line),
              "m.gguf: 100 MB done in 1:10 (10.0 MB/s)");

    /* The terminal form fits the width, keeps the numbers and draws a bar. */
    memset(&pr, 0, sizeof pr);
    pr.file = "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf";
    pr.done = 198904096;
    pr.total = 397808192;
    pr.rate = 12300000;
    pr.elapsed = 16;
    tk_hub_progress_format(&pr, true, 100, line, sizeof line);
    CHECK(strlen(line) <= 100);
    CHECK_CONTAINS(line, "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf  50% [");
    CHECK_CONTAINS(line, "=>");
    CHECK_CONTAINS(line, "] 199 MB / 398 MB  12.3 MB/s  ETA 0:16");
    tk_hub_progress_format(&pr, true, 50, line, sizeof line);
    CHECK_MSG(strlen(line) <= 50, "'%s'", line);
    CHECK_CONTAINS(line, "50%");
    CHECK_CONTAINS(line, "199 MB / 398 MB");
    pr.rate = 0;
    tk_hub_progress_format(&pr, true, 80, line, sizeof line);
    CHECK_CONTAINS(line, "ETA -:--");
}

/* ---- downloads --------------------------------------------------------- */

static void test_pull_basic(void)
{
    char store[512], path[1024], partial[1100];
    make_dir(store, sizeof store, "basic");
    /* The store is created on the first pull, parents included. */
    char nested[600];
    snprintf(nested, sizeof nested, "%s/a/b", store);
    route("/tester/tiny-GGUF/resolve/main/stories260K.gguf", HS_SERVE, model, model_len);
    tk_hub_pull_result res;
    CHECK_INT(pull(nested, "hf:tester/tiny-GGUF/stories260K.gguf", NULL, &res), TK_OK);
    path_in(path, sizeof path, nested, "stories260K.gguf");
    CHECK_STR(res.path, path);
    CHECK(file_equals(path, model, model_len));
    CHECK_STR(res.sha256, model_sha);
    CHECK(!res.verified);
    CHECK(!res.already_present);
    CHECK_INT(res.size, model_len);
    snprintf(partial, sizeof partial, "%s.partial", path);
    CHECK(!exists(partial));
    /* Progress: non-terminal lines, the last one saying it is done. */
    CHECK(progress_calls >= 2);
    CHECK_INT(progress_finished, 1);
    CHECK_CONTAINS(progress_log, "stories260K.gguf:   0% 0 B of 1.19 MB");
    CHECK_CONTAINS(progress_log, "stories260K.gguf: 1.19 MB done in");

    /* Present: no request at all. */
    int hits = hs_hits(srv, "/tester/tiny-GGUF/resolve/main/stories260K.gguf");
    CHECK_INT(pull(nested, "hf:tester/tiny-GGUF/stories260K.gguf", NULL, &res), TK_OK);
    CHECK(res.already_present);
    CHECK_INT(hs_hits(srv, "/tester/tiny-GGUF/resolve/main/stories260K.gguf"), hits);

    /* The right hash verifies; a plain URL works the same. */
    char url[256];
    snprintf(url, sizeof url, "%s/tester/tiny-GGUF/resolve/main/stories260K.gguf", endpoint);
    char store2[512];
    make_dir(store2, sizeof store2, "verified");
    CHECK_INT(pull(store2, url, MODEL_SHA_COREUTILS, &res), TK_OK);
    CHECK(res.verified);
    path_in(path, sizeof path, store2, "stories260K.gguf");
    CHECK(file_equals(path, model, model_len));
    /* Upper-case hex is the same hash. */
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(model_sha[i] >= 'a' ? model_sha[i] - 32 : model_sha[i]);
    tk_hub_pull_params p;
    tk_hub_pull_params_default(&p);
    env_kv env[] = {{"HF_ENDPOINT", endpoint}, {NULL, NULL}};
    p.getenv = table_env;
    p.getenv_user = env;
    p.sha256 = upper;
    p.force = true;
    CHECK_INT(tk_hub_pull(store2, url, &p, &res), TK_OK);
    CHECK(res.verified && !res.already_present);
    CHECK_INT(pull(store2, url, "abc", &res), TK_ERR_INVALID_ARG);
}

static void test_pull_verification(void)
{
    char store[512], path[1024], partial[1100];
    make_dir(store, sizeof store, "verify");
    route("/tester/tiny-GGUF/resolve/main/wrong.gguf", HS_SERVE, model, model_len);
    tk_hub_pull_result res;
    const char *wrong = "0000000000000000000000000000000000000000000000000000000000000000";
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/wrong.gguf", wrong, &res), TK_ERR_CHECKSUM);
    CHECK_CONTAINS(tk_last_error(), "corrupt");
    CHECK_CONTAINS(tk_last_error(), model_sha);
    CHECK_CONTAINS(tk_last_error(), "deleted");
    path_in(path, sizeof path, store, "wrong.gguf");
    snprintf(partial, sizeof partial, "%s.partial", path);
    CHECK(!exists(path));
    CHECK(!exists(partial));

    /* Not a GGUF file (an HTML error page served as 200). */
    static const char html[] = "<html><body>Sign in to continue</body></html>";
    route("/tester/tiny-GGUF/resolve/main/page.gguf", HS_SERVE, html, sizeof html - 1);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/page.gguf", NULL, &res), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "not a GGUF");
    path_in(path, sizeof path, store, "page.gguf");
    CHECK(!exists(path));
    snprintf(partial, sizeof partial, "%s.partial", path);
    CHECK(!exists(partial));

    /* A catalogue file whose size the server contradicts is refused before
     * anything is written; with --sha256 the user's hash decides. */
    route("/bartowski/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
          HS_SERVE, model, model_len);
    tk_status s = pull(store, "qwen2.5-0.5b", NULL, &res);
    CHECK_MSG(s == TK_ERR_CHECKSUM || s == TK_ERR_IO, "status %d: %s", s, tk_last_error());
    path_in(path, sizeof path, store, "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf");
    CHECK(!exists(path));
    snprintf(partial, sizeof partial, "%s.partial", path);
    CHECK(!exists(partial));
    CHECK_INT(pull(store, "qwen2.5-0.5b", model_sha, &res), TK_OK);
    CHECK(res.verified);
    CHECK(file_equals(path, model, model_len));

    /* Disk space check. */
    CHECK_INT(hub_check_space(store, UINT64_MAX / 2), TK_ERR_IO);
    CHECK_CONTAINS(tk_last_error(), "not enough disk space");
    CHECK_INT(hub_check_space(store, 1), TK_OK);
}

static void test_pull_resume(void)
{
    char store[512], path[1024], partial[1100];
    make_dir(store, sizeof store, "resume");
    hs_route r = {"/tester/tiny-GGUF/resolve/main/drop.gguf",
                  HS_DROP_HALF,
                  model,
                  model_len,
                  0,
                  NULL,
                  1,
                  NULL,
                  NULL};
    hs_route_add(srv, &r);
    path_in(path, sizeof path, store, "drop.gguf");
    snprintf(partial, sizeof partial, "%s.partial", path);
    tk_hub_pull_result res;
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/drop.gguf", model_sha, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "lost");
    CHECK_CONTAINS(tk_last_error(), "run the same command again to resume");
    CHECK(!exists(path));
    CHECK_INT(file_size(partial), (long long)(model_len / 2));
    /* A partial file is never taken for a model. */
    char found[1024];
    CHECK_INT(tk_hub_find(store, "drop", found, sizeof found), TK_ERR_NOT_FOUND);

    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/drop.gguf", model_sha, &res), TK_OK);
    CHECK(res.resumed);
    CHECK(res.verified);
    char range[128], want[64];
    hs_last_range(srv, r.path, range, sizeof range);
    snprintf(want, sizeof want, "bytes=%zu-", model_len / 2);
    CHECK_STR(range, want);
    CHECK(file_equals(path, model, model_len));
    CHECK(!exists(partial));
    CHECK_INT(progress_resumed, model_len / 2);

    /* A server that ignores Range: the partial file's bytes (garbage here)
     * are discarded and the download starts over. */
    route("/tester/tiny-GGUF/resolve/main/norange.gguf", HS_NO_RANGE, model, model_len);
    path_in(path, sizeof path, store, "norange.gguf");
    snprintf(partial, sizeof partial, "%s.partial", path);
    char junk[1000];
    memset(junk, 'x', sizeof junk);
    write_file(partial, junk, sizeof junk);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/norange.gguf", NULL, &res), TK_OK);
    CHECK(!res.resumed);
    CHECK(progress_restarted);
    CHECK(file_equals(path, model, model_len));
    CHECK_STR(res.sha256, model_sha);
    hs_last_range(srv, "/tester/tiny-GGUF/resolve/main/norange.gguf", range, sizeof range);
    CHECK_STR(range, "bytes=1000-");

    /* A server that honours Range continues whatever the partial file
     * holds: garbage there makes a corrupt file, which is deleted. */
    route("/tester/tiny-GGUF/resolve/main/junk.gguf", HS_SERVE, model, model_len);
    path_in(path, sizeof path, store, "junk.gguf");
    snprintf(partial, sizeof partial, "%s.partial", path);
    write_file(partial, junk, sizeof junk);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/junk.gguf", model_sha, &res), TK_ERR_CHECKSUM);
    CHECK(!exists(path));
    CHECK(!exists(partial));
    write_file(partial, junk, sizeof junk);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/junk.gguf", NULL, &res), TK_ERR_FORMAT);
    CHECK(!exists(path));
    CHECK(!exists(partial));

    /* A complete partial file (interrupted before the rename): the server
     * answers 416 and the file is verified and kept. */
    write_file(partial, model, model_len);
    int hits = hs_hits(srv, "/tester/tiny-GGUF/resolve/main/junk.gguf");
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/junk.gguf", model_sha, &res), TK_OK);
    CHECK(res.verified);
    CHECK(file_equals(path, model, model_len));
    CHECK_INT(hs_hits(srv, "/tester/tiny-GGUF/resolve/main/junk.gguf"), hits + 1);

    /* A partial file larger than the file: 416 with another size, so the
     * download starts over. */
    char *big = malloc(model_len + 100);
    memcpy(big, model, model_len);
    memset(big + model_len, 'y', 100);
    path_in(path, sizeof path, store, "big.gguf");
    snprintf(partial, sizeof partial, "%s.partial", path);
    write_file(partial, big, model_len + 100);
    free(big);
    route("/tester/tiny-GGUF/resolve/main/big.gguf", HS_SERVE, model, model_len);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/big.gguf", model_sha, &res), TK_OK);
    CHECK(file_equals(path, model, model_len));

    /* Another pull of the same file holds the lock. */
    route("/tester/tiny-GGUF/resolve/main/locked.gguf", HS_SERVE, model, model_len);
    path_in(path, sizeof path, store, "locked.gguf");
    snprintf(partial, sizeof partial, "%s.partial", path);
    int fd = open(partial, O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/locked.gguf", NULL, &res), TK_ERR_LIMIT);
    CHECK_CONTAINS(tk_last_error(), "another");
    close(fd);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/locked.gguf", NULL, &res), TK_OK);
}

static void test_pull_errors(void)
{
    char store[512], path[1024];
    make_dir(store, sizeof store, "errors");
    tk_hub_pull_result res;

    /* Redirects are followed; a loop is cut off. */
    hs_route redir = {"/tester/tiny-GGUF/resolve/main/moved.gguf",
                      HS_REDIRECT,
                      NULL,
                      0,
                      0,
                      "/cdn/blob/1234",
                      0,
                      NULL,
                      NULL};
    hs_route_add(srv, &redir);
    route("/cdn/blob/1234", HS_SERVE, model, model_len);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/moved.gguf", model_sha, &res), TK_OK);
    path_in(path, sizeof path, store, "moved.gguf");
    CHECK(file_equals(path, model, model_len));
    hs_route loop = {"/tester/tiny-GGUF/resolve/main/loop.gguf", HS_REDIRECT, NULL, 0,   0,
                     "/tester/tiny-GGUF/resolve/main/loop.gguf", 0,           NULL, NULL};
    hs_route_add(srv, &loop);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/loop.gguf", NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "too many redirects");

    /* 404 names the URL; nothing is left behind. */
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/missing.gguf", NULL, &res), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "404");
    CHECK_CONTAINS(tk_last_error(), "/tester/tiny-GGUF/resolve/main/missing.gguf");
    path_in(path, sizeof path, store, "missing.gguf.partial");
    CHECK(!exists(path));

    /* 401/403: explain gated repositories and HF_TOKEN. */
    route_status("/tester/gated-GGUF/resolve/main/g.gguf", 403, NULL);
    CHECK_INT(pull(store, "hf:tester/gated-GGUF/g.gguf", NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "403");
    CHECK_CONTAINS(tk_last_error(), "gated");
    CHECK_CONTAINS(tk_last_error(), "HF_TOKEN");
    CHECK_CONTAINS(tk_last_error(), "/tester/gated-GGUF");
    hs_route tok = {"/tester/private-GGUF/resolve/main/p.gguf",
                    HS_TOKEN,
                    model,
                    model_len,
                    0,
                    NULL,
                    0,
                    "hf_secret123",
                    NULL};
    hs_route_add(srv, &tok);
    CHECK_INT(pull(store, "hf:tester/private-GGUF/p.gguf", NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "401");
    CHECK_CONTAINS(tk_last_error(), "HF_TOKEN=<token>");
    token_for_pull = "hf_wrong";
    CHECK_INT(pull(store, "hf:tester/private-GGUF/p.gguf", NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "was not accepted");
    token_for_pull = "hf_secret123";
    CHECK_INT(pull(store, "hf:tester/private-GGUF/p.gguf", model_sha, &res), TK_OK);
    /* The token is not sent to other hosts than the Hugging Face endpoint. */
    char url[256];
    snprintf(url, sizeof url, "http://localhost:%d/tester/private-GGUF/resolve/main/p.gguf",
             hs_port(srv));
    CHECK_INT(pull(store, url, NULL, &res), TK_OK);
    CHECK(res.already_present);
    char other[512];
    make_dir(other, sizeof other, "errors-other");
    CHECK_INT(pull(other, url, NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "401");
    token_for_pull = NULL;

    /* A 500 says to try later. */
    route_status("/tester/tiny-GGUF/resolve/main/boom.gguf", 500, NULL);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/boom.gguf", NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "500");

    /* A stalled transfer times out (low-speed limit) and keeps its bytes. */
    route("/tester/tiny-GGUF/resolve/main/stall.gguf", HS_STALL, model, model_len);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/stall.gguf", NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "stalled");
    path_in(path, sizeof path, store, "stall.gguf.partial");
    CHECK_INT(file_size(path), 16);

    /* Nobody listening: the host is named. */
    hs_server *dead = hs_start();
    int dead_port = hs_port(dead);
    hs_stop(dead);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x/model.gguf", dead_port);
    CHECK_INT(pull(store, url, NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "cannot connect to 127.0.0.1");
    path_in(path, sizeof path, store, "model.gguf.partial");
    CHECK(!exists(path));
}

/* ---- list, rm, resolve, help ------------------------------------------- */

static void test_store_ops(void)
{
    char store[512], path[1024], out[1024];
    make_dir(store, sizeof store, "ops");
    tk_hub_pull_result res;
    route("/tester/tiny-GGUF/resolve/main/stories260K.gguf", HS_SERVE, model, model_len);
    CHECK_INT(pull(store, "hf:tester/tiny-GGUF/stories260K.gguf", NULL, &res), TK_OK);
    CHECK_INT(pull(store, "tinyllama", model_sha, &res), TK_ERR_NOT_FOUND); /* not served */
    route("/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/resolve/main/tinyllama-1.1b-chat-v1.0.Q4_K_M."
          "gguf",
          HS_SERVE, model, model_len);
    CHECK_INT(pull(store, "tinyllama", model_sha, &res), TK_OK);
    path_in(path, sizeof path, store, "broken.gguf");
    write_file(path, "GGUF\x03\x00\x00\x00garbage", 15);
    path_in(path, sizeof path, store, "half.gguf.partial");
    write_file(path, model, 1000);
    path_in(path, sizeof path, store, "notes.txt");
    write_file(path, "x", 1);

    tk_hub_entry *list = NULL;
    size_t n = 0;
    CHECK_INT(tk_hub_list(store, &list, &n), TK_OK);
    CHECK_INT(n, 4);
    if (n == 4) {
        CHECK_STR(list[0].name, "broken.gguf");
        CHECK(!list[0].valid && !list[0].partial);
        CHECK_CONTAINS(list[0].types, "unreadable");
        CHECK_STR(list[1].name, "half.gguf.partial");
        CHECK(list[1].partial && !list[1].valid);
        CHECK_INT(list[1].size, 1000);
        CHECK_STR(list[2].name, "stories260K.gguf");
        CHECK(list[2].valid);
        CHECK_STR(list[2].alias, "");
        CHECK_INT(list[2].size, model_len);
        tk_gguf *g = NULL;
        char want[64] = "?";
        if (tk_gguf_open(shared_path("models/stories260K.gguf"), &g) == TK_OK) {
            snprintf(want, sizeof want, "F32 %lld", (long long)tk_gguf_n_tensors(g));
            tk_gguf_close(g);
        }
        CHECK_STR(list[2].types, want);
        CHECK_STR(list[3].name, "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");
        CHECK_STR(list[3].alias, "tinyllama");
        path_in(path, sizeof path, store, "stories260K.gguf");
        CHECK_STR(list[2].path, path);
    }
    free(list);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/does-not-exist", store);
    CHECK_INT(tk_hub_list(missing, &list, &n), TK_OK);
    CHECK_INT(n, 0);
    CHECK(list == NULL);

    /* Finding by file name, stem, case, alias. */
    path_in(path, sizeof path, store, "stories260K.gguf");
    CHECK_INT(tk_hub_find(store, "stories260K.gguf", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK_INT(tk_hub_find(store, "stories260K", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK_INT(tk_hub_find(store, "STORIES260k", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK_INT(tk_hub_find(store, "tinyllama", out, sizeof out), TK_OK);
    CHECK_CONTAINS(out, "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");
    CHECK_INT(tk_hub_find(store, "half", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_INT(tk_hub_find(store, "half.gguf.partial", out, sizeof out), TK_ERR_NOT_FOUND);

    /* Resolution: an existing path wins, then the store. */
    tk_config cfg;
    tk_platform plat;
    linux_with_store(store, &cfg, &plat);
    const char *shared_model = shared_path("models/stories260K.gguf");
    CHECK_INT(tk_hub_resolve(&cfg, &plat, shared_model, out, sizeof out), TK_OK);
    CHECK_STR(out, shared_model);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "stories260K", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "tinyllama", out, sizeof out), TK_OK);
    CHECK_CONTAINS(out, "/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "hf:tester/tiny-GGUF/stories260K.gguf", out, sizeof out),
              TK_OK);
    CHECK_STR(out, path);
    /* A file in the working directory wins over the store's model of the
     * same name. */
    char cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_INT(chdir(tmp_root), 0);
    write_file("stories260K", "local", 5);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "stories260K", out, sizeof out), TK_OK);
    CHECK_STR(out, "stories260K");
    unlink("stories260K");
    CHECK_INT(chdir(cwd), 0);

    CHECK_INT(tk_hub_resolve(&cfg, &plat, "llama3.2-1b", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "tektra pull llama3.2-1b");
    CHECK_CONTAINS(tk_last_error(), store);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "hf:o/r/x.gguf", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "tektra pull hf:o/r/x.gguf");
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "nosuchmodel", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "tektra list");
    CHECK(strstr(tk_last_error(), "tektra pull nosuchmodel") == NULL);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "/no/such/dir/m.gguf", out, sizeof out),
              TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "no such file");
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "half", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, store, out, sizeof out), TK_ERR_INVALID_ARG);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "", out, sizeof out), TK_ERR_INVALID_ARG);

    /* First-run help. */
    char help[2048];
    plat.ram_total = 6ull * 1024 * 1024 * 1024;
    size_t len = tk_hub_help_text(&cfg, &plat, "foo", help, sizeof help);
    CHECK_INT(len, strlen(help));
    CHECK_CONTAINS(help, "'foo'");
    CHECK_CONTAINS(help, store);
    CHECK_CONTAINS(help, "stories260K.gguf");
    CHECK_CONTAINS(help, "tinyllama");
    CHECK_CONTAINS(help, "6.0 GiB");
    CHECK_CONTAINS(help, "Qwen2.5 1.5B Instruct (Q4_K_M, 986 MB)");
    CHECK_CONTAINS(help, "tektra pull qwen2.5-1.5b");
    CHECK_CONTAINS(help, "-m /path/to/model.gguf");
    CHECK_CONTAINS(help, "TEKTRA_MODEL=");
    CHECK_CONTAINS(help, "[model] path");
    char small[10];
    CHECK_INT(tk_hub_help_text(&cfg, &plat, "foo", small, sizeof small), len);
    CHECK_INT(strlen(small), sizeof small - 1);

    /* Removing: names only, never paths. */
    static const char *const refused[] = {
        "../ops/stories260K.gguf", "a/b", "/etc/passwd", "..", ".hidden", "x\\y"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        CHECK_MSG(tk_hub_remove(store, refused[i], out, sizeof out) == TK_ERR_INVALID_ARG,
                  "%s not refused", refused[i]);
    CHECK(exists(path));
    CHECK_INT(tk_hub_remove(store, "stories260K", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK(!exists(path));
    CHECK_INT(tk_hub_remove(store, "stories260K", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_INT(tk_hub_remove(store, "half", out, sizeof out), TK_OK);
    CHECK_CONTAINS(out, "half.gguf.partial");
    CHECK_INT(tk_hub_remove(store, "tinyllama", out, sizeof out), TK_OK);
    CHECK_INT(tk_hub_list(store, &list, &n), TK_OK);
    CHECK_INT(n, 1);
    free(list);
    len = tk_hub_help_text(&cfg, &plat, NULL, help, sizeof help);
    CHECK_CONTAINS(help, "has no models yet");
}

/* ---- model directories ------------------------------------------------- */

/* A fake repository in the Hugging Face / MLX layout: a config.json as
 * mlx_lm writes it, weights kept in Git LFS (with their SHA-256 in the
 * listing), a tokenizer, and files a model directory does not keep. */
static const char dir_config[] = "{\"model_type\": \"qwen2\", \"hidden_size\": 64,\n"
                                 " \"quantization\": {\"group_size\": 64, \"bits\": 4},\n"
                                 " \"architectures\": [\"Qwen2ForCausalLM\"]}\n";
static const char dir_tokenizer[] = "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}\n";
static const char dir_readme[] = "# tiny\n";
static char *dir_weights;
static size_t dir_weights_len;
static char dir_weights_sha[65];
static char *listings[16];
static int n_listings;

/* Serves OWNER/REPO: its listing and its files. model.safetensors is served
 * with `weights_mode` (dropping the connection `drops` times for
 * HS_DROP_HALF); `weights_oid` replaces its SHA-256 in the listing. */
static void serve_repo(const char *repo, hs_mode weights_mode, int drops, const char *weights_oid)
{
    char path[512];
    char *json = malloc(4096);
    snprintf(json, 4096,
             "[{\"type\":\"file\",\"oid\":\"1f2e\",\"size\":1519,\"path\":\".gitattributes\"},"
             "{\"type\":\"file\",\"oid\":\"aa01\",\"size\":%zu,\"path\":\"README.md\"},"
             "{\"type\":\"file\",\"oid\":\"bb02\",\"size\":%zu,\"path\":\"config.json\","
             "\"lastCommit\":{\"id\":\"c0ffee\",\"title\":\"Upload \\\"x\\\" \\u00e9\","
             "\"date\":\"2024-09-18T00:00:00.000Z\"},\"flags\":[true,false,null,1.5e3]},"
             "{\"type\":\"directory\",\"oid\":\"cc03\",\"size\":0,\"path\":\"assets\"},"
             "{\"type\":\"file\",\"oid\":\"dd04\",\"size\":%zu,\"path\":\"model.safetensors\","
             "\"lfs\":{\"oid\":\"%s\",\"size\":%zu,\"pointerSize\":135},\"xetHash\":\"9a9a\"},"
             "{\"type\":\"file\",\"oid\":\"ee05\",\"size\":%zu,\"path\":\"tokenizer.json\"}]",
             sizeof dir_readme - 1, sizeof dir_config - 1, dir_weights_len,
             weights_oid ? weights_oid : dir_weights_sha, dir_weights_len,
             sizeof dir_tokenizer - 1);
    if (n_listings < (int)(sizeof listings / sizeof listings[0])) listings[n_listings++] = json;
    snprintf(path, sizeof path, "/api/models/%s/tree/main", repo);
    route(path, HS_SERVE, json, strlen(json));
    snprintf(path, sizeof path, "/%s/resolve/main/config.json", repo);
    route(path, HS_SERVE, dir_config, sizeof dir_config - 1);
    snprintf(path, sizeof path, "/%s/resolve/main/tokenizer.json", repo);
    route(path, HS_SERVE, dir_tokenizer, sizeof dir_tokenizer - 1);
    snprintf(path, sizeof path, "/%s/resolve/main/README.md", repo);
    route(path, HS_SERVE, dir_readme, sizeof dir_readme - 1);
    snprintf(path, sizeof path, "/%s/resolve/main/model.safetensors", repo);
    hs_route r = {path, weights_mode, dir_weights, dir_weights_len, 0, NULL, drops, NULL, NULL};
    hs_route_add(srv, &r);
}

static uint64_t dir_total(void)
{
    return sizeof dir_config - 1 + sizeof dir_tokenizer - 1 + dir_weights_len;
}

/* Checks `dir` holds exactly the files a model directory keeps. */
static void check_model_dir(const char *dir)
{
    char path[1024];
    path_in(path, sizeof path, dir, "config.json");
    CHECK(file_equals(path, dir_config, sizeof dir_config - 1));
    path_in(path, sizeof path, dir, "tokenizer.json");
    CHECK(file_equals(path, dir_tokenizer, sizeof dir_tokenizer - 1));
    path_in(path, sizeof path, dir, "model.safetensors");
    CHECK(file_equals(path, dir_weights, dir_weights_len));
    path_in(path, sizeof path, dir, "README.md");
    CHECK(!exists(path));
    path_in(path, sizeof path, dir, ".gitattributes");
    CHECK(!exists(path));
    path_in(path, sizeof path, dir, "assets");
    CHECK(!exists(path));
    path_in(path, sizeof path, dir, "model.safetensors.partial");
    CHECK(!exists(path));
}

static void test_pull_dir(void)
{
    char store[512], path[1024], partial[1100], out[1024];
    make_dir(store, sizeof store, "dirs");
    tk_hub_pull_result res;

    /* A whole pull: only the model's files, the weights verified. */
    serve_repo("tester/tiny-mlx", HS_SERVE, 0, NULL);
    CHECK_INT(pull(store, "tester/tiny-mlx", NULL, &res), TK_OK);
    path_in(path, sizeof path, store, "tiny-mlx");
    CHECK_STR(res.path, path);
    CHECK(res.directory && !res.already_present && !res.resumed);
    CHECK_INT(res.n_files, 3);
    CHECK_INT(res.n_verified, 1);
    CHECK(res.verified);
    CHECK_INT(res.size, dir_total());
    CHECK_STR(res.sha256, "");
    check_model_dir(path);
    CHECK_INT(hs_hits(srv, "/tester/tiny-mlx/resolve/main/README.md"), 0);
    path_in(partial, sizeof partial, store, ".tiny-mlx.partial");
    CHECK(!exists(partial));
    /* Progress counts the directory as one download. */
    CHECK_INT(progress_finished, 1);
    char want[128], total[32];
    tk_hub_format_size(dir_total(), total, sizeof total);
    snprintf(want, sizeof want, "tiny-mlx:   0%% 0 B of %s", total);
    CHECK_CONTAINS(progress_log, want);
    snprintf(want, sizeof want, "tiny-mlx: %s done in", total);
    CHECK_CONTAINS(progress_log, want);
    CHECK(strstr(progress_log, "model.safetensors") == NULL);

    /* Present: not even the listing is asked for. */
    int hits = hs_hits(srv, "/api/models/tester/tiny-mlx/tree/main");
    CHECK_INT(pull(store, "hf:tester/tiny-mlx", NULL, &res), TK_OK);
    CHECK(res.already_present && res.directory);
    CHECK_INT(res.size, dir_total());
    CHECK_INT(hs_hits(srv, "/api/models/tester/tiny-mlx/tree/main"), hits);
    /* --force downloads it again and replaces the directory as a whole. */
    tk_hub_pull_params fp;
    tk_hub_pull_params_default(&fp);
    env_kv env[] = {{"HF_ENDPOINT", endpoint}, {NULL, NULL}};
    fp.getenv = table_env;
    fp.getenv_user = env;
    fp.force = true;
    CHECK_INT(tk_hub_pull(store, "tester/tiny-mlx", &fp, &res), TK_OK);
    CHECK(!res.already_present);
    check_model_dir(path);
    CHECK_INT(hs_hits(srv, "/api/models/tester/tiny-mlx/tree/main"), hits + 1);
    /* --sha256 is for one file. */
    CHECK_INT(pull(store, "tester/tiny-mlx", model_sha, &res), TK_ERR_INVALID_ARG);
    CHECK_CONTAINS(tk_last_error(), "whole repository");

    /* Interrupted: the finished files wait in the hidden partial directory,
     * which is no model to list, find or resolve; the same pull resumes. */
    serve_repo("tester/drop-mlx", HS_DROP_HALF, 1, NULL);
    CHECK_INT(pull(store, "tester/drop-mlx", NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "tester/drop-mlx");
    CHECK_CONTAINS(tk_last_error(), "run the same command again to resume");
    path_in(path, sizeof path, store, "drop-mlx");
    path_in(partial, sizeof partial, store, ".drop-mlx.partial");
    CHECK(!exists(path));
    CHECK(exists(partial));
    char inner[1200];
    path_in(inner, sizeof inner, partial, "config.json");
    CHECK(file_equals(inner, dir_config, sizeof dir_config - 1));
    path_in(inner, sizeof inner, partial, "model.safetensors.partial");
    CHECK_INT(file_size(inner), (long long)(dir_weights_len / 2));
    CHECK_INT(tk_hub_find(store, "drop-mlx", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_INT(tk_hub_find(store, ".drop-mlx.partial", out, sizeof out), TK_ERR_NOT_FOUND);
    tk_config cfg;
    tk_platform plat;
    linux_with_store(store, &cfg, &plat);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "drop-mlx", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "tester/drop-mlx", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "tektra pull tester/drop-mlx");
    tk_hub_entry *list = NULL;
    size_t n = 0;
    CHECK_INT(tk_hub_list(store, &list, &n), TK_OK);
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(list[0].name, ".drop-mlx.partial");
        CHECK(list[0].partial && !list[0].valid && list[0].kind == TK_HUB_KIND_DIR);
        CHECK_STR(list[1].name, "tiny-mlx");
        CHECK(!list[1].partial && list[1].valid);
    }
    free(list);
    /* A file an earlier listing had is not carried into the model. */
    path_in(inner, sizeof inner, partial, "stale.safetensors");
    write_file(inner, "old", 3);
    CHECK_INT(pull(store, "tester/drop-mlx", NULL, &res), TK_OK);
    CHECK(res.resumed);
    CHECK_INT(progress_resumed, sizeof dir_config - 1 + dir_weights_len / 2);
    char range[128];
    hs_last_range(srv, "/tester/drop-mlx/resolve/main/model.safetensors", range, sizeof range);
    snprintf(want, sizeof want, "bytes=%zu-", dir_weights_len / 2);
    CHECK_STR(range, want);
    check_model_dir(path);
    path_in(inner, sizeof inner, path, "stale.safetensors");
    CHECK(!exists(inner));
    CHECK(!exists(partial));

    /* A corrupt file: an error, the bad file deleted, nothing renamed into
     * place; the partial directory keeps the good files for the next run. */
    const char *wrong = "0000000000000000000000000000000000000000000000000000000000000000";
    serve_repo("tester/bad-mlx", HS_SERVE, 0, wrong);
    CHECK_INT(pull(store, "tester/bad-mlx", NULL, &res), TK_ERR_CHECKSUM);
    CHECK_CONTAINS(tk_last_error(), "model.safetensors is corrupt");
    CHECK_CONTAINS(tk_last_error(), dir_weights_sha);
    path_in(path, sizeof path, store, "bad-mlx");
    CHECK(!exists(path));
    path_in(partial, sizeof partial, store, ".bad-mlx.partial");
    path_in(inner, sizeof inner, partial, "model.safetensors.partial");
    CHECK(!exists(inner));
    path_in(inner, sizeof inner, partial, "model.safetensors");
    CHECK(!exists(inner));
    CHECK_INT(tk_hub_find(store, "bad-mlx", out, sizeof out), TK_ERR_NOT_FOUND);
    /* rm takes the unfinished directory away too. */
    CHECK_INT(tk_hub_remove(store, "bad-mlx", out, sizeof out), TK_OK);
    CHECK_CONTAINS(out, ".bad-mlx.partial");
    CHECK(!exists(partial));

    /* No such repository; gated or private ones; not a model directory. */
    CHECK_INT(pull(store, "tester/nope", NULL, &res), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "no repository tester/nope");
    CHECK_CONTAINS(tk_last_error(), "404");
    path_in(partial, sizeof partial, store, ".nope.partial");
    CHECK(!exists(partial));
    route_status("/api/models/tester/private-mlx/tree/main", 401, "RepoNotFound");
    CHECK_INT(pull(store, "tester/private-mlx", NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "401");
    CHECK_CONTAINS(tk_last_error(), "gated");
    CHECK_CONTAINS(tk_last_error(), "HF_TOKEN=<token>");
    CHECK_CONTAINS(tk_last_error(), "/tester/private-mlx");
    route_status("/api/models/tester/gated-mlx/tree/main", 403, "GatedRepo");
    token_for_pull = "hf_someone";
    CHECK_INT(pull(store, "tester/gated-mlx", NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "the repository is gated");
    CHECK_CONTAINS(tk_last_error(), "was not accepted");
    token_for_pull = NULL;
    /* The listing is public but the files are gated (as on the Hub). */
    serve_repo("tester/gatedfiles-mlx", HS_SERVE, 0, NULL);
    route_status("/tester/gatedfiles-mlx/resolve/main/config.json", 403, "GatedRepo");
    CHECK_INT(pull(store, "tester/gatedfiles-mlx", NULL, &res), TK_ERR_NETWORK);
    CHECK_CONTAINS(tk_last_error(), "gated");
    CHECK_CONTAINS(tk_last_error(), "HF_TOKEN");
    path_in(partial, sizeof partial, store, ".gatedfiles-mlx.partial");
    CHECK(!exists(partial));

    static const char gguf_only[] = "[{\"type\":\"file\",\"size\":10,\"path\":\"README.md\"},"
                                    "{\"type\":\"file\",\"size\":10,\"path\":\"config.json\"},"
                                    "{\"type\":\"file\",\"size\":99,\"path\":\"tiny-Q4_K_M.gguf\","
                                    "\"lfs\":{\"oid\":\"" MODEL_SHA_COREUTILS "\",\"size\":99}}]";
    route("/api/models/tester/tiny-GGUF/tree/main", HS_SERVE, gguf_only, sizeof gguf_only - 1);
    CHECK_INT(pull(store, "tester/tiny-GGUF", NULL, &res), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "not a model directory");
    CHECK_CONTAINS(tk_last_error(), "*.safetensors");
    CHECK_CONTAINS(tk_last_error(), "tektra pull hf:tester/tiny-GGUF/tiny-Q4_K_M.gguf");
    static const char readme_only[] = "[{\"type\":\"file\",\"size\":10,\"path\":\"README.md\"}]";
    route("/api/models/tester/empty/tree/main", HS_SERVE, readme_only, sizeof readme_only - 1);
    CHECK_INT(pull(store, "tester/empty", NULL, &res), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "no config.json and *.safetensors");
    static const char broken[] = "[{\"type\":\"file\",\"size\":10,\"path\":\"config.json\"";
    route("/api/models/tester/broken/tree/main", HS_SERVE, broken, sizeof broken - 1);
    CHECK_INT(pull(store, "tester/broken", NULL, &res), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "not the JSON array");
    static const char badsize[] = "[{\"type\":\"file\",\"size\":\"10\",\"path\":\"config.json\"}]";
    route("/api/models/tester/badsize/tree/main", HS_SERVE, badsize, sizeof badsize - 1);
    CHECK_INT(pull(store, "tester/badsize", NULL, &res), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "not the JSON array");
    /* Names from the listing never leave the directory. */
    static const char sneaky[] = "[{\"type\":\"file\",\"size\":3,\"path\":\"config.json\"},"
                                 "{\"type\":\"file\",\"size\":3,\"path\":\"../evil.safetensors\"},"
                                 "{\"type\":\"file\",\"size\":3,\"path\":\".hidden.safetensors\"}]";
    route("/api/models/tester/sneaky/tree/main", HS_SERVE, sneaky, sizeof sneaky - 1);
    CHECK_INT(pull(store, "tester/sneaky", NULL, &res), TK_ERR_FORMAT);
    CHECK_CONTAINS(tk_last_error(), "*.safetensors weights");
    for (int i = 0; i < n_listings; i++) CHECK(listings[i] != NULL);
    int stray = 0;
    for (int i = 0; i < 2; i++) {
        path_in(path, sizeof path, tmp_root, i ? "evil.safetensors" : ".hidden.safetensors");
        stray += exists(path);
    }
    CHECK_INT(stray, 0);

    /* Another pull of the same repository holds the lock. */
    serve_repo("tester/locked-mlx", HS_SERVE, 0, NULL);
    path_in(partial, sizeof partial, store, ".locked-mlx.partial");
    mkdir(partial, 0755);
    int fd = open(partial, O_RDONLY | O_DIRECTORY);
    CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0);
    CHECK_INT(pull(store, "tester/locked-mlx", NULL, &res), TK_ERR_LIMIT);
    CHECK_CONTAINS(tk_last_error(), "another");
    close(fd);
    CHECK_INT(pull(store, "tester/locked-mlx", NULL, &res), TK_OK);

    /* A catalogue alias pulls its mlx-community repository. */
    serve_repo("mlx-community/gemma-2b-it-4bit", HS_SERVE, 0, NULL);
    CHECK_INT(pull(store, "gemma-2b-it-mlx", NULL, &res), TK_OK);
    path_in(path, sizeof path, store, "gemma-2b-it-4bit");
    CHECK_STR(res.path, path);
    check_model_dir(path);

    /* The store lists directories after the files, with their size and kind. */
    path_in(path, sizeof path, store, "stories260K.gguf");
    write_file(path, model, model_len);
    make_dir(path, sizeof path, "dirs/not-a-model");
    path_in(inner, sizeof inner, path, "notes.txt");
    write_file(inner, "x", 1);
    char tok_only[1024];
    make_dir(tok_only, sizeof tok_only, "dirs/tok-only");
    path_in(inner, sizeof inner, tok_only, "tokenizer.json");
    write_file(inner, dir_tokenizer, sizeof dir_tokenizer - 1);
    CHECK_INT(tk_hub_list(store, &list, &n), TK_OK);
    CHECK_INT(n, 6);
    if (n == 6) {
        CHECK_STR(list[0].name, "stories260K.gguf");
        CHECK(list[0].kind == TK_HUB_KIND_GGUF);
        CHECK_STR(list[1].name, "drop-mlx");
        CHECK_STR(list[2].name, "gemma-2b-it-4bit");
        CHECK_STR(list[2].alias, "gemma-2b-it-mlx");
        CHECK_STR(list[3].name, "locked-mlx");
        CHECK_STR(list[4].name, "tiny-mlx");
        CHECK(list[4].kind == TK_HUB_KIND_DIR && list[4].valid && !list[4].partial);
        CHECK_INT(list[4].size, dir_total());
        CHECK_STR(list[4].types, "MLX dir, 4-bit, qwen2");
        path_in(path, sizeof path, store, "tiny-mlx");
        CHECK_STR(list[4].path, path);
        CHECK_STR(list[5].name, "tok-only");
        CHECK_STR(list[5].types, "tokenizer only");
    }
    free(list);

    /* Finding and resolving directories: by name, alias, repository, path. */
    path_in(path, sizeof path, store, "tiny-mlx");
    CHECK_INT(tk_hub_find(store, "tiny-mlx", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK_INT(tk_hub_find(store, "TINY-MLX", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK_INT(tk_hub_find(store, "not-a-model", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "tiny-mlx", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "tester/tiny-mlx", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "hf:tester/tiny-mlx", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, path, out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, tok_only, out, sizeof out), TK_OK);
    CHECK_STR(out, tok_only);
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "gemma-2b-it-mlx", out, sizeof out), TK_OK);
    CHECK_CONTAINS(out, "/gemma-2b-it-4bit");
    CHECK_INT(tk_hub_resolve(&cfg, &plat, "qwen2.5-7b-mlx", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "tektra pull qwen2.5-7b-mlx");
    path_in(path, sizeof path, store, "not-a-model");
    CHECK_INT(tk_hub_resolve(&cfg, &plat, path, out, sizeof out), TK_ERR_INVALID_ARG);
    CHECK_CONTAINS(tk_last_error(), "config.json");
    CHECK_INT(tk_hub_resolve(&cfg, &plat, store, out, sizeof out), TK_ERR_INVALID_ARG);

    /* Removing: a model directory whole, a link as a link, nothing else. */
    CHECK_INT(tk_hub_remove(store, "not-a-model", out, sizeof out), TK_ERR_INVALID_ARG);
    CHECK_CONTAINS(tk_last_error(), "not a model directory");
    CHECK(exists(path));
    char outside[600], link[1200];
    make_dir(outside, sizeof outside, "outside-model");
    path_in(inner, sizeof inner, outside, "config.json");
    write_file(inner, dir_config, sizeof dir_config - 1);
    path_in(link, sizeof link, store, "linked");
    CHECK_INT(symlink(outside, link), 0);
    CHECK_INT(tk_hub_find(store, "linked", out, sizeof out), TK_OK);
    CHECK_INT(tk_hub_remove(store, "linked", out, sizeof out), TK_OK);
    CHECK(!exists(link));
    CHECK(exists(inner));
    /* A link inside a model directory is removed, not followed. */
    path_in(path, sizeof path, store, "tiny-mlx");
    path_in(link, sizeof link, path, "escape");
    CHECK_INT(symlink(outside, link), 0);
    CHECK_INT(tk_hub_remove(store, "tiny-mlx", out, sizeof out), TK_OK);
    CHECK_STR(out, path);
    CHECK(!exists(path));
    CHECK(exists(inner));
    CHECK_INT(tk_hub_remove(store, "tiny-mlx", out, sizeof out), TK_ERR_NOT_FOUND);
    CHECK_INT(tk_hub_remove(store, "gemma-2b-it-mlx", out, sizeof out), TK_OK);
    CHECK_CONTAINS(out, "/gemma-2b-it-4bit");
    CHECK_INT(tk_hub_remove(store, "tok-only", out, sizeof out), TK_OK);
    /* Nothing hidden is left behind by the removals. */
    CHECK_INT(tk_hub_list(store, &list, &n), TK_OK);
    CHECK_INT(n, 3);
    free(list);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep '^\\.')\"", store);
    CHECK_INT(system(cmd), 0);
}

/* ---- end to end: the real tektra program ------------------------------- */

static char bin[1024];

/* Runs `tektra ARGS` with the test environment; stdout and stderr go to
 * files whose contents are returned in out/err (static buffers). */
static int run_tektra(const char *store, const char *args, char **out, char **err)
{
    static char *out_buf, *err_buf;
    free(out_buf);
    free(err_buf);
    out_buf = err_buf = NULL;
    char out_path[600], err_path[600], cmd[4096];
    snprintf(out_path, sizeof out_path, "%s/out.txt", tmp_root);
    snprintf(err_path, sizeof err_path, "%s/err.txt", tmp_root);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && env -u TEKTRA_MODEL -u HF_TOKEN TEKTRA_MODELS='%s' HF_ENDPOINT='%s' "
             "XDG_CONFIG_HOME='%s' '%s' %s >'%s' 2>'%s' </dev/null",
             tmp_root, store, endpoint, tmp_root, bin, args, out_path, err_path);
    int rc = system(cmd);
    size_t n;
    if (core_read_file(out_path, 1 << 20, &out_buf, &n) != TK_OK) out_buf = strdup("");
    if (core_read_file(err_path, 1 << 20, &err_buf, &n) != TK_OK) err_buf = strdup("");
    *out = out_buf;
    *err = err_buf;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_e2e(void)
{
    const char *dir = getenv("TK_BIN");
    snprintf(bin, sizeof bin, "%s/tektra", dir ? dir : ".");
    char store[512], path[1024], args[1200];
    snprintf(store, sizeof store, "%s/e2e-store", tmp_root);
    char *out, *err;
    route("/tester/tiny-GGUF/resolve/main/stories260K.gguf", HS_SERVE, model, model_len);
    route("/bartowski/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
          HS_SERVE, model, model_len);

    /* Usage errors exit 2 with one line. */
    CHECK_INT(run_tektra(store, "pull", &out, &err), 2);
    CHECK_CONTAINS(err, "tektra pull --help");
    CHECK_INT(run_tektra(store, "pull --bogus x", &out, &err), 2);
    CHECK_INT(run_tektra(store, "pull --sha256 xyz stories", &out, &err), 2);
    CHECK_CONTAINS(err, "64 hex digits");
    CHECK_INT(run_tektra(store, "pull a b", &out, &err), 2);
    CHECK_INT(run_tektra(store, "list --bogus", &out, &err), 2);
    CHECK_INT(run_tektra(store, "rm", &out, &err), 2);
    CHECK_INT(run_tektra(store, "rm ../x", &out, &err), 2);
    CHECK_CONTAINS(err, "refusing");
    CHECK_INT(run_tektra(store, "pull --help", &out, &err), 0);
    CHECK_CONTAINS(out, "--sha256");
    CHECK_CONTAINS(out, "HF_TOKEN");
    CHECK_CONTAINS(out, "qwen2.5-0.5b");
    CHECK_INT(run_tektra(store, "list --help", &out, &err), 0);
    CHECK_INT(run_tektra(store, "rm --help", &out, &err), 0);

    /* An empty store says how to get a model. */
    CHECK_INT(run_tektra(store, "list", &out, &err), 0);
    CHECK_CONTAINS(out, "tektra pull");
    CHECK_INT(run_tektra(store, "list --available", &out, &err), 0);
    CHECK_CONTAINS(out, "qwen2.5-0.5b:q8_0");
    CHECK_CONTAINS(out, "bartowski/Qwen2.5-0.5B-Instruct-GGUF");

    /* Pull by hf: spec with a checksum; progress goes to stderr as lines. */
    snprintf(args, sizeof args, "pull hf:tester/tiny-GGUF/stories260K.gguf --sha256 %s", model_sha);
    CHECK_INT(run_tektra(store, args, &out, &err), 0);
    path_in(path, sizeof path, store, "stories260K.gguf");
    CHECK_CONTAINS(out, path);
    CHECK_CONTAINS(out, "verified");
    CHECK_CONTAINS(err, "stories260K.gguf:   0% 0 B of 1.19 MB");
    CHECK_CONTAINS(err, "stories260K.gguf: 1.19 MB done in");
    CHECK(strchr(err, '\r') == NULL);
    CHECK(file_equals(path, model, model_len));

    /* Pull by alias (the catalogue's entry served by the loopback server). */
    snprintf(args, sizeof args, "pull qwen2.5-0.5b --sha256 %s", model_sha);
    CHECK_INT(run_tektra(store, args, &out, &err), 0);
    CHECK_INT(run_tektra(store, "pull qwen2.5-0.5b", &out, &err), 0);
    CHECK_CONTAINS(out, "already");

    CHECK_INT(run_tektra(store, "list", &out, &err), 0);
    CHECK_CONTAINS(out, "stories260K.gguf");
    CHECK_CONTAINS(out, "qwen2.5-0.5b");
    CHECK_CONTAINS(out, "F32 ");
    CHECK_CONTAINS(out, path);

    /* The pulled file is a model the other commands open. */
    CHECK_INT(run_tektra(store, "--help", &out, &err), 0);
    if (strstr(out, "\n  info ")) {
        snprintf(args, sizeof args, "info '%s'", path);
        CHECK_INT(run_tektra(store, args, &out, &err), 0);
    }
    tk_gguf *g = NULL;
    CHECK_INT(tk_gguf_open(path, &g), TK_OK);
    tk_gguf_close(g);

    /* Interrupted, then resumed by running the same command again. */
    hs_route r = {"/tester/tiny-GGUF/resolve/main/drop.gguf",
                  HS_DROP_HALF,
                  model,
                  model_len,
                  0,
                  NULL,
                  1,
                  NULL,
                  NULL};
    hs_route_add(srv, &r);
    CHECK_INT(run_tektra(store, "pull hf:tester/tiny-GGUF/drop.gguf", &out, &err), 1);
    CHECK_CONTAINS(err, "run the same command again to resume");
    CHECK_INT(run_tektra(store, "list", &out, &err), 0);
    CHECK_CONTAINS(out, "drop.gguf.partial");
    CHECK_INT(run_tektra(store, "pull hf:tester/tiny-GGUF/drop.gguf", &out, &err), 0);
    CHECK_CONTAINS(err, "resuming");
    path_in(path, sizeof path, store, "drop.gguf");
    CHECK(file_equals(path, model, model_len));

    /* Errors name the problem. */
    CHECK_INT(run_tektra(store, "pull hf:tester/tiny-GGUF/missing.gguf", &out, &err), 1);
    CHECK_CONTAINS(err, "404");
    CHECK_CONTAINS(err, "missing.gguf");
    CHECK_INT(run_tektra(store, "pull no-such-model", &out, &err), 1);
    CHECK_CONTAINS(err, "not a model name");
    /* ollama's names resolve; names close to catalogue names get
     * suggestions, one per line. */
    CHECK_INT(run_tektra(store, "pull qwen2.5:0.5b", &out, &err), 0);
    CHECK_CONTAINS(out, "already");
    CHECK_INT(run_tektra(store, "pull llama3.2:1b", &out, &err), 1);
    CHECK_CONTAINS(err, "pulling llama3.2:1b (llama3.2-1b): Llama 3.2 1B Instruct");
    CHECK_CONTAINS(err, "Llama-3.2-1B-Instruct-Q4_K_M.gguf");
    CHECK_CONTAINS(err, "404");
    CHECK_INT(run_tektra(store, "pull llama3.2", &out, &err), 1);
    CHECK_CONTAINS(err, "'llama3.2' is not a model name tektra knows; did you mean one of these?\n"
                        "  llama3.2-1b ");
    CHECK_CONTAINS(err, "\n  llama3.2-3b ");
    CHECK_INT(run_tektra(store, "pull lama3.2-1b", &out, &err), 1);
    CHECK_CONTAINS(err, "did you mean this?\n  llama3.2-1b ");
    CHECK_INT(run_tektra(store, "run -m lama3.2-1b -p hi", &out, &err), 1);
    CHECK_CONTAINS(err, "did you mean this?\n  llama3.2-1b ");
    snprintf(args, sizeof args, "pull hf:tester/tiny-GGUF/stories260K.gguf --force --sha256 %s",
             "1111111111111111111111111111111111111111111111111111111111111111");
    CHECK_INT(run_tektra(store, args, &out, &err), 1);
    CHECK_CONTAINS(err, "corrupt");
    path_in(path, sizeof path, store, "stories260K.gguf");
    CHECK(file_equals(path, model, model_len)); /* the old file is untouched */

    /* rm removes; a second rm has nothing to remove. */
    CHECK_INT(run_tektra(store, "rm stories260K drop", &out, &err), 0);
    CHECK(!exists(path));
    CHECK_INT(run_tektra(store, "rm stories260K", &out, &err), 1);
    CHECK_CONTAINS(err, "not in the model store");
    CHECK_INT(run_tektra(store, "list", &out, &err), 0);
    CHECK(strstr(out, "stories260K") == NULL);
    CHECK_CONTAINS(out, "qwen2.5-0.5b");

    /* Model directories: a whole repository, listed with its size and kind,
     * resumed after an interruption, removed whole. */
    CHECK_INT(run_tektra(store, "pull --help", &out, &err), 0);
    CHECK_CONTAINS(out, "OWNER/REPO");
    CHECK_CONTAINS(out, "qwen2.5-7b-mlx");
    CHECK_INT(run_tektra(store, "list --available", &out, &err), 0);
    CHECK_CONTAINS(out, "gemma-2b-it-mlx");
    CHECK_CONTAINS(out, "mlx-community/gemma-2b-it-4bit");
    CHECK_CONTAINS(out, "mlx-community/Qwen2.5-7B-Instruct-4bit");
    serve_repo("tester/tiny-mlx", HS_SERVE, 0, NULL);
    CHECK_INT(run_tektra(store, "pull tester/tiny-mlx", &out, &err), 0);
    path_in(path, sizeof path, store, "tiny-mlx");
    CHECK_CONTAINS(out, path);
    CHECK_CONTAINS(out, "3 files");
    CHECK_CONTAINS(out, "run it with: tektra -m tiny-mlx");
    char total[32], want[128];
    tk_hub_format_size(dir_total(), total, sizeof total);
    snprintf(want, sizeof want, "tiny-mlx: %s done in", total);
    CHECK_CONTAINS(err, want);
    check_model_dir(path);
    CHECK_INT(run_tektra(store, "pull hf:tester/tiny-mlx", &out, &err), 0);
    CHECK_CONTAINS(out, "already in the store");
    CHECK_INT(run_tektra(store, "list", &out, &err), 0);
    CHECK_CONTAINS(out, "tiny-mlx");
    CHECK_CONTAINS(out, "MLX dir, 4-bit, qwen2");
    CHECK_CONTAINS(out, total);
    serve_repo("tester/drop-mlx", HS_DROP_HALF, 1, NULL);
    CHECK_INT(run_tektra(store, "pull tester/drop-mlx", &out, &err), 1);
    CHECK_CONTAINS(err, "run the same command again to resume");
    CHECK_INT(run_tektra(store, "list", &out, &err), 0);
    CHECK_CONTAINS(out, "unfinished download: the directory drop-mlx");
    CHECK_INT(run_tektra(store, "pull tester/drop-mlx", &out, &err), 0);
    CHECK_CONTAINS(err, "resuming drop-mlx");
    CHECK_INT(run_tektra(store, "pull tester/no-such-repo", &out, &err), 1);
    CHECK_CONTAINS(err, "no repository tester/no-such-repo");
    static const char gguf_only[] =
        "[{\"type\":\"file\",\"size\":99,\"path\":\"tiny-Q4_K_M.gguf\"}]";
    route("/api/models/tester/tiny-GGUF/tree/main", HS_SERVE, gguf_only, sizeof gguf_only - 1);
    CHECK_INT(run_tektra(store, "pull tester/tiny-GGUF", &out, &err), 1);
    CHECK_CONTAINS(err, "tektra pull hf:tester/tiny-GGUF/tiny-Q4_K_M.gguf");
    CHECK_INT(run_tektra(store, "rm tiny-mlx drop-mlx", &out, &err), 0);
    CHECK(!exists(path));
    CHECK_INT(run_tektra(store, "list", &out, &err), 0);
    CHECK(strstr(out, "mlx") == NULL);
}

int main(int argc, char **argv)
{
    bool e2e = argc > 1 && strcmp(argv[1], "e2e") == 0;
    /* Loopback requests must not go through a proxy of the environment. */
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    if (core_read_file(shared_path("models/stories260K.gguf"), 1 << 24, &model, &model_len) !=
        TK_OK) {
        fprintf(stderr, "cannot read the test model: %s\n", tk_last_error());
        return 1;
    }
    hub_sha256_buffer_hex(model, model_len, model_sha);
    /* Weights for the fake repositories: bytes that are not all alike. */
    dir_weights_len = 300000;
    dir_weights = malloc(dir_weights_len);
    for (size_t i = 0; i < dir_weights_len; i++) dir_weights[i] = (char)(i * 2654435761u >> 13);
    hub_sha256_buffer_hex(dir_weights, dir_weights_len, dir_weights_sha);
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    srv = hs_start();
    if (!srv) {
        fprintf(stderr, "cannot start the loopback server\n");
        return 1;
    }
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", hs_port(srv));

    if (e2e) {
        test_e2e();
    } else {
        test_sha256();
        test_json();
        test_catalogue();
        test_store_dir();
        test_sources();
        test_format();
        test_pull_basic();
        test_pull_verification();
        test_pull_resume();
        test_pull_errors();
        test_store_ops();
        test_pull_dir();
    }

    hs_stop(srv);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    free(model);
    free(dir_weights);
    for (int i = 0; i < n_listings; i++) free(listings[i]);
    return check_summary();
}
