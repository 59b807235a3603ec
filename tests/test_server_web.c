/* The chat page's C side without a browser or HTTP: the embedded files of
 * web/ (cmake/embed.cmake) and their lookup, and the JSON of GET /props on
 * the real stories260K model. The page itself is tested in chromium by
 * tests/web/page.test.mjs. */
#include "check.h"
#include "server/web.h"
#include "tektra.h"

#include <cJSON.h>

static void test_files(void)
{
    CHECK(server_web_n_files >= 5);
    const server_web_file *index = server_web_find("/");
    CHECK(index != NULL);
    CHECK(index == server_web_find("/index.html"));
    if (index) {
        CHECK_STR(index->mime, "text/html; charset=utf-8");
        CHECK(index->len > 100 && memcmp(index->data, "<!doctype html>", 15) == 0);
        /* The page loads its script as a module and has no inline script... */
        char *html = strndup((const char *)index->data, index->len);
        CHECK_CONTAINS(html, "<script type=\"module\" src=\"/app.js\"></script>");
        CHECK(strstr(html, "<script>") == NULL);
        /* Nor inline style or event attributes, which the CSP forbids. */
        CHECK(strstr(html, "style=\"") == NULL);
        CHECK(strstr(html, "onclick") == NULL && strstr(html, "onload") == NULL);
        free(html);
    }
    static const struct {
        const char *path, *mime;
    } want[] = {
        {"/app.js", "text/javascript; charset=utf-8"},
        {"/md.js", "text/javascript; charset=utf-8"},
        {"/style.css", "text/css; charset=utf-8"},
        {"/favicon.svg", "image/svg+xml"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const server_web_file *f = server_web_find(want[i].path);
        CHECK_MSG(f != NULL, "%s", want[i].path);
        if (f) CHECK_STR(f->mime, want[i].mime);
    }
    /* Only exact paths of the table: nothing is read from disk. */
    static const char *const none[] = {"",           "app.js",   "/app.js/", "/../app.js",
                                       "/./app.js",  "//app.js", "/APP.JS",  "/index",
                                       "/v1/models", "/props",   "/health",  "/web/app.js"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        CHECK_MSG(server_web_find(none[i]) == NULL, "'%s' found", none[i]);
    CHECK(server_web_find(NULL) == NULL);
    /* Sorted by path, each non-empty, lengths exact (the array carries one
     * more byte, a 0). */
    for (int i = 0; i < server_web_n_files; i++) {
        const server_web_file *f = &server_web_files[i];
        CHECK_MSG(f->len > 0 && f->data[f->len] == 0, "%s", f->path);
        if (i) CHECK(strcmp(server_web_files[i - 1].path, f->path) < 0);
    }
}

static void test_props(void)
{
    tk_platform p;
    tk_platform_detect(&p);
    tk_config c;
    tk_config_defaults(&c);
    c.threads = 1;
    c.context_size = 256;
    tk_engine *e = NULL;
    CHECK_INT(tk_engine_create(TK_BACKEND_GGUF, &p, &c, &e), TK_OK);
    if (!e) return;
    CHECK_INT(tk_engine_load(e, shared_path("models/stories260K.gguf")), TK_OK);
    server_buf b = {0};
    server_web_props(&b, e, "stories260K", 3);
    CHECK(!b.failed);
    cJSON *j = cJSON_Parse(b.data ? b.data : "");
    CHECK_MSG(j != NULL, "not JSON: %s", b.data ? b.data : "");
    if (j) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "model")), "stories260K");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "backend")), "gguf");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "arch")), "llama");
        const char *level = cJSON_GetStringValue(cJSON_GetObjectItem(j, "kernel_level"));
        tk_kernel_level lv;
        CHECK_MSG(level && tk_kernel_level_parse(level, &lv) == TK_OK, "kernel_level %s",
                  level ? level : "(null)");
        CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "n_ctx")), 256);
        CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "n_parallel")), 3);
        CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "n_vocab")), 512);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "has_model")));
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "version")), tk_version());
    }
    cJSON_Delete(j);
    server_buf_free(&b);
    tk_engine_free(e);
}

int main(void)
{
    test_files();
    test_props();
    return check_summary();
}
