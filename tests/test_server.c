/* The HTTP server, end to end: the real `tektra serve` over loopback with
 * the real stories260K model, driven with libcurl. Answers are checked
 * against the reference engine's greedy text and against `tektra run`;
 * streams are parsed event by event; errors, concurrency, a client hanging
 * up, the queue limit, shutdown and a soak of small requests. The request
 * parser and the JSON writer are also tested directly. */

#include "server_harness.h"

/* ---- unit: the request parser and the JSON writer ------------------------- */

static void test_parser(void)
{
    tk_gen_params d;
    memset(&d, 0, sizeof d);
    d.max_tokens = 512;
    d.temperature = 0.7;
    d.top_p = 0.9;
    d.seed = -1;
    server_request r;
    server_error e;

    const char *ok =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"assistant\",\"content\":null}],"
        "\"max_completion_tokens\":7,\"temperature\":0,\"stop\":[\"x\",\"yy\"],"
        "\"seed\":42,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"logprobs\":true,\"top_logprobs\":3,\"whatever\":{\"x\":[1]}}  \n";
    CHECK(server_request_parse(SERVER_CHAT, ok, strlen(ok), &d, &r, &e));
    CHECK_INT(r.n_msgs, 3);
    CHECK_STR(r.msgs[0].role, "system");
    CHECK_STR(r.msgs[1].content, "a\nb");
    CHECK_STR(r.msgs[2].content, "");
    CHECK_INT(r.g.max_tokens, 7);
    CHECK_NEAR(r.g.temperature, 0, 0);
    CHECK_NEAR(r.g.top_p, 0.9, 0);
    CHECK_INT(r.g.n_stop, 2);
    CHECK_STR(r.g.stop[1], "yy");
    CHECK_INT(r.g.seed, 42);
    CHECK(r.stream && r.include_usage && r.g.logprobs);
    CHECK_INT(r.g.top_logprobs, 3);
    server_request_free(&r);

    const char *comp = "{\"prompt\":[\"hi\"],\"logprobs\":2,\"stop\":\"\\n\",\"echo\":true}";
    CHECK(server_request_parse(SERVER_COMPLETION, comp, strlen(comp), &d, &r, &e));
    CHECK_STR(r.prompt, "hi");
    CHECK(r.g.logprobs && r.echo);
    CHECK_INT(r.g.top_logprobs, 2);
    CHECK_INT(r.g.n_stop, 1);
    CHECK_INT(r.g.max_tokens, 512);
    server_request_free(&r);

    /* Each: endpoint, body, the param named. */
    static const struct {
        server_endpoint ep;
        const char *body;
        const char *param;
    } bad[] = {
        {SERVER_CHAT, "{", ""},
        {SERVER_CHAT, "[1]", ""},
        {SERVER_CHAT, "{} x", ""},
        {SERVER_CHAT, "{}", "messages"},
        {SERVER_CHAT, "{\"messages\":[]}", "messages"},
        {SERVER_CHAT, "{\"messages\":{}}", "messages"},
        {SERVER_CHAT, "{\"messages\":[1]}", "messages[0]"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"function\",\"content\":\"x\"}]}",
         "messages[0].role"},
        {SERVER_CHAT, "{\"messages\":[{\"content\":\"x\"}]}", "messages[0].role"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content"},
        {SERVER_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]"
         "}]}",
         "messages[0].content"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3(\"}]}",
         "messages[0].content"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"\\udc00\"}]}", ""},
        {SERVER_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"1\"}",
         "temperature"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}",
         "temperature"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}",
         "max_tokens"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1.5}",
         "max_tokens"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", "n"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}",
         "stream"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}",
         "stop"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":\"\"}",
         "stop"},
        {SERVER_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,\"top_logprobs\":"
         "21}",
         "top_logprobs"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}",
         "top_logprobs"},
        {SERVER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"seed\":-2}", "seed"},
        {SERVER_CHAT,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":{\"include_"
         "usage\":1}}",
         "stream_options.include_usage"},
        {SERVER_COMPLETION, "{}", "prompt"},
        {SERVER_COMPLETION, "{\"prompt\":[1,2]}", "prompt"},
        {SERVER_COMPLETION, "{\"prompt\":[\"a\",\"b\"]}", "prompt"},
        {SERVER_COMPLETION, "{\"prompt\":\"a\",\"logprobs\":true}", "logprobs"},
        {SERVER_COMPLETION, "{\"prompt\":\"a\",\"best_of\":2}", "best_of"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool parsed = server_request_parse(bad[i].ep, bad[i].body, strlen(bad[i].body), &d, &r, &e);
        CHECK_MSG(!parsed, "accepted: %s", bad[i].body);
        if (parsed) {
            server_request_free(&r);
            continue;
        }
        CHECK_INT(e.status, 400);
        CHECK_MSG(strcmp(e.param, bad[i].param) == 0, "%s: param '%s', expected '%s' (%s)",
                  bad[i].body, e.param, bad[i].param, e.message);
    }
    /* 17 stop strings. */
    char many[512] = "{\"prompt\":\"a\",\"stop\":[";
    for (int i = 0; i < 17; i++) strcat(many, i ? ",\"s\"" : "\"s\"");
    strcat(many, "]}");
    CHECK(!server_request_parse(SERVER_COMPLETION, many, strlen(many), &d, &r, &e));
    CHECK_STR(e.param, "stop");
    /* Raw bytes that are not UTF-8 inside a JSON string. */
    const char raw[] = "{\"prompt\":\"a\xff\"}";
    CHECK(!server_request_parse(SERVER_COMPLETION, raw, strlen(raw), &d, &r, &e));
    CHECK_STR(e.param, "prompt");
}

static void test_json_writer(void)
{
    server_buf b = {0};
    server_buf_json_str(&b, "a\"b\\c\n\t\x01\x7f", 9);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\"");
    server_buf_free(&b);
    /* Valid UTF-8 passes, broken bytes become U+FFFD. */
    server_buf_json_str(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xc3|\xed\xa0\x80|\xf8", 17);
    CHECK_STR(b.data,
              "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\"");
    cJSON *j = cJSON_Parse(b.data);
    CHECK(j != NULL);
    cJSON_Delete(j);
    server_buf_free(&b);
    server_buf_json_num(&b, -1.0 / 0.0);
    server_buf_puts(&b, ",");
    server_buf_json_num(&b, 0.0 / 0.0);
    server_buf_puts(&b, ",");
    server_buf_json_num(&b, -0.125);
    CHECK_STR(b.data, "-9999.0,null,-0.125");
    server_buf_free(&b);
    server_buf_json_bytes(&b, "Hi\xff", 3);
    CHECK_STR(b.data, "[72,105,255]");
    server_buf_free(&b);
    CHECK(server_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    CHECK(!server_utf8_valid("\xf4\x90\x80\x80", 4));
    CHECK(!server_utf8_valid("\xe0\x80\x80", 3));
    CHECK(!server_utf8_valid("\xc0\xaf", 2));
}

/* ---- end to end ---------------------------------------------------------- */

static const char *const chatml =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* The server listens before the model is loaded: /health is 503 meanwhile.
 * A FIFO as the model file holds the loading thread at open() for as long
 * as the test likes. SIGTERM while loading still ends the process. */
static void test_loading(void)
{
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/slow.gguf", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    char args[1024];
    snprintf(args, sizeof args, "-m %s", fifo);
    server_proc sp;
    if (!server_spawn(&sp, args)) {
        CHECK(false);
        return;
    }
    resp r;
    char h[64];
    http(&r, sp.port, "GET", "/health", NULL);
    CHECK_INT(r.status, 503);
    CHECK_CONTAINS(body_of(&r), "\"status\":\"loading\"");
    resp_free(&r);
    http(&r, sp.port, "POST", "/v1/chat/completions",
         "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    check_error(&r, 503, "loading", NULL, "model_loading");
    CHECK_STR(header_of(&r, "Retry-After", h, sizeof h), "1");
    resp_free(&r);
    http(&r, sp.port, "GET", "/v1/models", NULL);
    check_error(&r, 503, NULL, NULL, "model_loading");
    resp_free(&r);

    kill(sp.pid, SIGTERM);
    /* Let every open() of the FIFO by the loader see an empty file. */
    double end = now_s() + 30;
    while (!server_exited(&sp, 0) && now_s() < end) {
        int fd = open(fifo, O_WRONLY | O_NONBLOCK);
        if (fd >= 0) close(fd);
        sleep_ms(10);
    }
    int rc = server_stop(&sp);
    CHECK_MSG(rc == 0 || rc == 1, "exit code %d while loading", rc);
    server_release(&sp);
    unlink(fifo);
}

/* A model that cannot be loaded: the message, and exit code 1. */
static void test_bad_model(void)
{
    char path[512], args[1024];
    snprintf(path, sizeof path, "%s/broken.gguf", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs("not a model at all", f);
    fclose(f);
    snprintf(args, sizeof args, "-m %s", path);
    server_proc sp;
    if (!server_spawn(&sp, args)) {
        CHECK(false);
        return;
    }
    CHECK_MSG(server_exited(&sp, 30000), "the server kept running without its model");
    CHECK_INT(server_stop(&sp), 1);
    CHECK_CONTAINS(sp.out.data, "broken.gguf");
    server_release(&sp);
}

static void test_basics(server_proc *sp)
{
    resp r;
    http(&r, sp->port, "GET", "/health", NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(body_of(&r), "{\"status\":\"ok\"}");
    resp_free(&r);
    http(&r, sp->port, "HEAD", "/health", NULL);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    http(&r, sp->port, "GET", "/v1/models", NULL);
    CHECK_INT(r.status, 200);
    cJSON *j = cJSON_Parse(body_of(&r));
    CHECK_STR(jstr(j, "object"), "list");
    CHECK_STR(jstr(j, "data.0.id"), "stories260K");
    CHECK_STR(jstr(j, "data.0.object"), "model");
    CHECK_STR(jstr(j, "data.0.owned_by"), "tektra");
    cJSON_Delete(j);
    resp_free(&r);
    http(&r, sp->port, "GET", "/v1/models/stories260K", NULL);
    CHECK_INT(r.status, 200);
    CHECK_CONTAINS(body_of(&r), "\"id\":\"stories260K\"");
    resp_free(&r);
    http(&r, sp->port, "GET", "/v1/models/gpt-4", NULL);
    check_error(&r, 404, "gpt-4", "model", "model_not_found");
    resp_free(&r);
}

/* The continuation of "Once upon a time" by the reference engine. */
static char *oracle_continuation(void)
{
    FILE *f = fopen(shared_path("oracle/stories260K-p1.txt"), "rb");
    CHECK(f != NULL);
    if (!f) return strdup("");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strstr(buf, "Once upon a time");
    CHECK(p != NULL);
    return strdup(p ? p + strlen("Once upon a time") : "");
}

static char *run_tektra(const char *flags)
{
    proc_result *pr = malloc(sizeof *pr);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && unset $(env | grep -o '^TEKTRA_[A-Z_]*') 2>/dev/null; "
             "export XDG_CONFIG_HOME=%s HOME=%s; \"$TK_BIN/tektra\" run -m %s %s 2>/dev/null",
             dir, dir, dir, model, flags);
    proc_run(pr, cmd);
    CHECK_MSG(pr->rc == 0, "tektra run %s: rc %d: %s", flags, pr->rc, pr->out);
    char *out = strdup(pr->out);
    free(pr);
    return out;
}

/* Greedy completion: the reference engine's text, `tektra run`'s text,
 * and the usage numbers. */
static void test_greedy(server_proc *sp)
{
    cJSON *j;
    char *text = ask(sp->port, "/v1/completions",
                     "{\"prompt\":\"Once upon a time\",\"temperature\":0,\"max_tokens\":20,"
                     "\"repeat_penalty\":1}",
                     &j);
    CHECK_INT(jnum(j, "usage.prompt_tokens"), 5);
    CHECK_INT(jnum(j, "usage.completion_tokens"), 20);
    CHECK_INT(jnum(j, "usage.total_tokens"), 25);
    /* Timings in llama-server's names, consistent with the usage. */
    CHECK_INT(jnum(j, "timings.predicted_n"), 20);
    CHECK(jnum(j, "timings.prompt_n") >= 1 && jnum(j, "timings.prompt_n") <= 5);
    CHECK(jnum(j, "timings.prompt_ms") > 0 && jnum(j, "timings.predicted_ms") > 0);
    CHECK(jnum(j, "timings.predicted_per_second") > 0 && jnum(j, "timings.prompt_per_second") > 0);
    CHECK(jnum(j, "timings.ttft_ms") > 0);
    CHECK_STR(jstr(j, "choices.0.finish_reason"), "length");
    CHECK_STR(jstr(j, "model"), "stories260K");
    cJSON_Delete(j);
    char *oracle = oracle_continuation();
    CHECK_MSG(strlen(text) > 20 && strncmp(oracle, text, strlen(text)) == 0,
              "server: \"%s\"\noracle: \"%s\"", text, oracle);
    free(oracle);

    char expected[4096];
    snprintf(expected, sizeof expected, "%s%s", text,
             text[0] && text[strlen(text) - 1] == '\n' ? "" : "\n");
    char *run = run_tektra("-p \"Once upon a time\" --temp 0 -n 20 --repeat-penalty 1 --no-echo");
    CHECK_STR(run, expected);
    free(run);
    free(text);

    /* The same with the settings' defaults on both sides (repeat penalty). */
    text = ask(sp->port, "/v1/completions",
               "{\"prompt\":\"Once upon a time\",\"temperature\":0,\"max_tokens\":20}", NULL);
    snprintf(expected, sizeof expected, "%s%s", text,
             text[0] && text[strlen(text) - 1] == '\n' ? "" : "\n");
    run = run_tektra("-p \"Once upon a time\" --temp 0 -n 20 --no-echo");
    CHECK_STR(run, expected);
    free(run);
    free(text);
}

/* Streamed and not streamed give the same text and numbers. */
static void test_streaming(server_proc *sp)
{
    static const struct {
        const char *path, *body;
    } cases[] = {
        {"/v1/completions", "{\"prompt\":\"Lily and Tom went to the park. They saw a\","
                            "\"temperature\":0,\"max_tokens\":30%s}"},
        {"/v1/chat/completions",
         "{\"messages\":[{\"role\":\"system\",\"content\":\"Tell a story.\"},"
         "{\"role\":\"user\",\"content\":\"Once upon a time\"}],"
         "\"temperature\":0,\"max_tokens\":30%s}"},
    };
    for (size_t i = 0; i < 2; i++) {
        bool chat = i == 1;
        char body[1024];
        snprintf(body, sizeof body, cases[i].body, "");
        cJSON *j;
        char *text = ask(sp->port, cases[i].path, body, &j);
        for (int usage = 0; usage < 2; usage++) {
            snprintf(body, sizeof body, cases[i].body,
                     usage ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"
                           : ",\"stream\":true");
            resp r;
            http(&r, sp->port, "POST", cases[i].path, body);
            CHECK_INT(r.status, 200);
            char ct[128];
            CHECK_STR(header_of(&r, "Content-Type", ct, sizeof ct), "text/event-stream");
            stream_result sr;
            check_stream(body_of(&r), chat, usage, &sr);
            CHECK_STR(sr.text.data, text);
            CHECK_STR(sr.finish, jstr(j, "choices.0.finish_reason"));
            CHECK(sr.n_chunks >= 2);
            if (sr.usage) {
                CHECK_INT(jnum(sr.usage, "prompt_tokens"), jnum(j, "usage.prompt_tokens"));
                CHECK_INT(jnum(sr.usage, "completion_tokens"), jnum(j, "usage.completion_tokens"));
                CHECK_INT(jnum(sr.usage, "total_tokens"), jnum(j, "usage.total_tokens"));
            }
            stream_free(&sr);
            resp_free(&r);
        }
        cJSON_Delete(j);
        free(text);
    }
}

/* A stop string ends the answer before it, streamed or not, and no part of
 * it ever appears. */
static void test_stop(server_proc *sp)
{
    const char *base = "{\"prompt\":\"Once upon a time\",\"temperature\":0,\"max_tokens\":40,"
                       "\"repeat_penalty\":1%s}";
    char body[1024];
    snprintf(body, sizeof body, base, "");
    char *full = ask(sp->port, "/v1/completions", body, NULL);
    /* A stop string from the middle of the greedy text: what comes before
     * its first occurrence is the answer. */
    size_t len = strlen(full);
    CHECK(len > 40);
    if (len <= 40) {
        free(full);
        return;
    }
    char stop[8];
    snprintf(stop, sizeof stop, "%.5s", full + len / 2);
    size_t cut = (size_t)(strstr(full, stop) - full);
    char extra[256];
    snprintf(extra, sizeof extra, ",\"stop\":[\"\\u0001never\",\"%s\"]", stop);
    snprintf(body, sizeof body, base, extra);
    cJSON *j;
    char *text = ask(sp->port, "/v1/completions", body, &j);
    CHECK_MSG(strlen(text) == cut && strncmp(text, full, cut) == 0,
              "stop \"%s\": \"%s\", expected the first %zu bytes of \"%s\"", stop, text, cut, full);
    CHECK_STR(jstr(j, "choices.0.finish_reason"), "stop");
    cJSON_Delete(j);
    free(text);

    snprintf(extra, sizeof extra, ",\"stop\":\"%s\",\"stream\":true", stop);
    snprintf(body, sizeof body, base, extra);
    resp r;
    http(&r, sp->port, "POST", "/v1/completions", body);
    stream_result sr;
    check_stream(body_of(&r), false, false, &sr);
    CHECK_MSG(sr.text.len == cut && strncmp(sr.text.data, full, cut) == 0,
              "streamed with stop \"%s\": \"%s\"", stop, sr.text.data);
    CHECK_STR(sr.finish, "stop");
    stream_free(&sr);
    resp_free(&r);
    free(full);
}

/* The same seed gives the same sampled text; seeds differ from each other. */
static void test_seed(server_proc *sp)
{
    const char *fmt = "{\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],"
                      "\"temperature\":1,\"top_k\":0,\"top_p\":1,\"min_p\":0,\"max_tokens\":24,"
                      "\"seed\":%d}";
    char body[512];
    snprintf(body, sizeof body, fmt, 42);
    char *a = ask(sp->port, "/v1/chat/completions", body, NULL);
    char *b = ask(sp->port, "/v1/chat/completions", body, NULL);
    CHECK_STR(a, b);
    CHECK(strlen(a) > 0);
    bool differs = false;
    for (int seed = 43; seed < 47 && !differs; seed++) {
        snprintf(body, sizeof body, fmt, seed);
        char *c = ask(sp->port, "/v1/chat/completions", body, NULL);
        differs = strcmp(a, c) != 0;
        free(c);
    }
    CHECK_MSG(differs, "four other seeds all gave \"%s\"", a);
    free(a);
    free(b);
}

static void test_logprobs(server_proc *sp)
{
    cJSON *j;
    char *text = ask(sp->port, "/v1/chat/completions",
                     "{\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],"
                     "\"temperature\":0,\"max_tokens\":8,\"logprobs\":true,\"top_logprobs\":3}",
                     &j);
    const cJSON *content = jget(j, "choices.0.logprobs.content");
    CHECK(cJSON_IsArray(content));
    CHECK_INT(cJSON_GetArraySize(content), jnum(j, "usage.completion_tokens"));
    const cJSON *t;
    server_buf joined = {0};
    cJSON_ArrayForEach(t, content)
    {
        const char *tok = jstr(t, "token");
        CHECK(tok != NULL);
        if (tok) server_buf_puts(&joined, tok);
        double lp = jnum(t, "logprob");
        CHECK(lp <= 0 && lp > -10000);
        CHECK(cJSON_IsArray(jget(t, "bytes")));
        const cJSON *top = jget(t, "top_logprobs");
        CHECK_INT(cJSON_GetArraySize(top), 3);
        /* Greedy: the chosen token is the most likely one. */
        CHECK_NEAR(jnum(top, "0.logprob"), lp, 1e-6);
        CHECK(jnum(top, "0.logprob") >= jnum(top, "1.logprob"));
        CHECK(jnum(top, "1.logprob") >= jnum(top, "2.logprob"));
    }
    /* The tokens spell the answer (a leading space may be dropped). */
    CHECK_MSG(joined.data && strstr(joined.data, text + (text[0] == ' ')) != NULL,
              "tokens \"%s\", text \"%s\"", joined.data ? joined.data : "", text);
    server_buf_free(&joined);
    cJSON_Delete(j);
    free(text);

    text = ask(
        sp->port, "/v1/completions",
        "{\"prompt\":\"Once upon a time\",\"temperature\":0,\"max_tokens\":6,\"logprobs\":2}", &j);
    CHECK_INT(cJSON_GetArraySize(jget(j, "choices.0.logprobs.tokens")), 6);
    CHECK_INT(cJSON_GetArraySize(jget(j, "choices.0.logprobs.token_logprobs")), 6);
    CHECK_INT(cJSON_GetArraySize(jget(j, "choices.0.logprobs.top_logprobs")), 6);
    CHECK_INT(cJSON_GetArraySize(jget(j, "choices.0.logprobs.top_logprobs.0")), 2);
    CHECK_INT(jnum(j, "choices.0.logprobs.text_offset.0"), strlen("Once upon a time"));
    cJSON_Delete(j);
    free(text);

    resp r;
    http(&r, sp->port, "POST", "/v1/chat/completions",
         "{\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],\"temperature\":0,"
         "\"max_tokens\":8,\"logprobs\":true,\"stream\":true,"
         "\"stream_options\":{\"include_usage\":true}}");
    stream_result sr;
    check_stream(body_of(&r), true, true, &sr);
    CHECK_INT(sr.n_logprobs, jnum(sr.usage, "completion_tokens"));
    stream_free(&sr);
    resp_free(&r);
}

/* Chunked upload with no Content-Length: the limit applies while reading. */
static size_t read_big(char *buf, size_t size, size_t n, void *user)
{
    size_t *left = user;
    size_t k = size * n < *left ? size * n : *left;
    memset(buf, ' ', k);
    *left -= k;
    return k;
}

static void test_errors(server_proc *sp)
{
    resp r;
    char h[128];
    const char *chat = "/v1/chat/completions";
    http(&r, sp->port, "POST", chat, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}");
    check_error(&r, 400, "not valid JSON", NULL, NULL);
    resp_free(&r);
    http(&r, sp->port, "POST", chat, "");
    check_error(&r, 400, "not valid JSON", NULL, NULL);
    resp_free(&r);
    http(&r, sp->port, "POST", chat,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_p\":\"high\"}");
    check_error(&r, 400, "top_p", "top_p", NULL);
    resp_free(&r);
    http(&r, sp->port, "POST", chat, "{\"model\":\"x\"}");
    check_error(&r, 400, "messages", "messages", NULL);
    resp_free(&r);
    http(&r, sp->port, "POST", chat, "{\"messages\":[]}");
    check_error(&r, 400, "empty", "messages", NULL);
    resp_free(&r);
    http(&r, sp->port, "POST", chat,
         "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
         "\"image_url\":{\"url\":\"x\"}}]}]}");
    check_error(&r, 400, "image_url", "messages[0].content", NULL);
    resp_free(&r);
    http(&r, sp->port, "POST", chat,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":3}");
    check_error(&r, 400, NULL, "n", NULL);
    resp_free(&r);
    /* Unknown fields are ignored. */
    http(&r, sp->port, "POST", chat,
         "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"name\":\"bob\"}],\"max_tokens\":2,"
         "\"tools\":[],\"user\":\"u\",\"frobnicate\":{\"deep\":[1,2,{}]}}");
    cJSON_Delete(check_answer(&r, true));
    resp_free(&r);

    /* A prompt longer than the context: refused with the numbers. */
    server_buf big = {0};
    server_buf_puts(&big, "{\"prompt\":\"");
    for (int i = 0; i < 3000; i++) server_buf_puts(&big, "Once upon a time ");
    server_buf_puts(&big, "\",\"max_tokens\":4}");
    http(&r, sp->port, "POST", "/v1/completions", big.data);
    check_error(&r, 400, NULL, "prompt", "context_length_exceeded");
    CHECK_MSG(strpbrk(body_of(&r), "0123456789") != NULL, "no numbers: %s", body_of(&r));
    resp_free(&r);
    server_buf_free(&big);
    server_buf_puts(&big, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (int i = 0; i < 3000; i++) server_buf_puts(&big, "Once upon a time ");
    server_buf_puts(&big, "\"}]}");
    http(&r, sp->port, "POST", chat, big.data);
    check_error(&r, 400, NULL, "messages", "context_length_exceeded");
    resp_free(&r);
    server_buf_free(&big);

    /* Bodies over 1 MiB: by Content-Length, and chunked. */
    size_t n = (1u << 20) + 10;
    char *huge = malloc(n + 1);
    memset(huge, ' ', n);
    huge[n] = '\0';
    huge[0] = '{';
    huge[n - 1] = '}';
    http(&r, sp->port, "POST", chat, huge);
    check_error(&r, 413, NULL, NULL, "request_too_large");
    resp_free(&r);
    /* The same from a client that waits for "100 Continue" first. */
    {
        memset(&r, 0, sizeof r);
        CURL *c = curl_easy_init();
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", sp->port, chat);
        struct curl_slist *hs = curl_slist_append(NULL, "Expect: 100-continue");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, huge);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
        curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 30000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
        curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        check_error(&r, 413, "1048586 bytes", NULL, "request_too_large");
        curl_slist_free_all(hs);
        curl_easy_cleanup(c);
        resp_free(&r);
    }
    free(huge);
    {
        memset(&r, 0, sizeof r);
        CURL *c = curl_easy_init();
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", sp->port, chat);
        size_t left = 3u << 20;
        struct curl_slist *hs = curl_slist_append(NULL, "Transfer-Encoding: chunked");
        hs = curl_slist_append(hs, "Expect:");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_big);
        curl_easy_setopt(c, CURLOPT_READDATA, &left);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
        curl_easy_perform(c); /* the server may close before all is sent */
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        CHECK_INT(r.status, 413);
        curl_slist_free_all(hs);
        curl_easy_cleanup(c);
        resp_free(&r);
    }

    http(&r, sp->port, "GET", "/v2/everything", NULL);
    check_error(&r, 404, "/v2/everything", NULL, "not_found");
    resp_free(&r);
    http(&r, sp->port, "GET", chat, NULL);
    check_error(&r, 405, NULL, NULL, NULL);
    CHECK_STR(header_of(&r, "Allow", h, sizeof h), "POST");
    resp_free(&r);
    http(&r, sp->port, "DELETE", "/v1/models", NULL);
    check_error(&r, 405, NULL, NULL, NULL);
    CHECK_STR(header_of(&r, "Allow", h, sizeof h), "GET, HEAD");
    resp_free(&r);
    http(&r, sp->port, "POST", "/health", "{}");
    check_error(&r, 405, NULL, NULL, NULL);
    resp_free(&r);
}

/* ---- several clients at once -------------------------------------------- */

typedef struct client {
    int port;
    const char *path;
    char body[512];
    bool stream;
    long status;
    char *text;
    char retry_after[16];
    char code[64];
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    resp r;
    http(&r, c->port, "POST", c->path, c->body);
    c->status = r.status;
    header_of(&r, "Retry-After", c->retry_after, sizeof c->retry_after);
    if (r.status == 200 && c->stream) {
        stream_result sr;
        check_stream(body_of(&r), strstr(c->path, "chat") != NULL, false, &sr);
        c->text = strdup(sr.text.data);
        stream_free(&sr);
    } else if (r.status == 200) {
        cJSON *j = cJSON_Parse(body_of(&r));
        const char *t = jstr(j, "choices.0.text");
        c->text = strdup(t ? t : "(no text)");
        cJSON_Delete(j);
    } else {
        cJSON *j = cJSON_Parse(body_of(&r));
        const char *code = jstr(j, "error.code");
        snprintf(c->code, sizeof c->code, "%s", code ? code : "");
        cJSON_Delete(j);
    }
    resp_free(&r);
    return NULL;
}

static void run_clients(client *cs, int n)
{
    pthread_t t[16];
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, client_main, &cs[i]);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
}

/* More clients than slots: all answered, each exactly as when alone (the
 * sessions do not disturb each other; the queue hands them on). */
static void test_concurrent(server_proc *sp)
{
    static const char *const prompts[] = {"Once upon a time", "Lily and Tom went to the park.",
                                          "The cat",          "One day, a little boy",
                                          "Tim had a big",    "The sun was hot"};
    enum { N = 6 };
    client cs[N];
    char *alone[N];
    for (int i = 0; i < N; i++) {
        memset(&cs[i], 0, sizeof cs[i]);
        cs[i].port = sp->port;
        cs[i].path = "/v1/completions";
        snprintf(cs[i].body, sizeof cs[i].body,
                 "{\"prompt\":\"%s\",\"temperature\":0,\"max_tokens\":48%s}", prompts[i],
                 i % 2 ? ",\"stream\":true" : "");
        cs[i].stream = i % 2;
        char plain[512];
        snprintf(plain, sizeof plain, "{\"prompt\":\"%s\",\"temperature\":0,\"max_tokens\":48}",
                 prompts[i]);
        alone[i] = ask(sp->port, "/v1/completions", plain, NULL);
    }
    run_clients(cs, N);
    for (int i = 0; i < N; i++) {
        CHECK_MSG(cs[i].status == 200, "client %d: %ld", i, cs[i].status);
        CHECK_STR(cs[i].text, alone[i]);
        free(cs[i].text);
        free(alone[i]);
    }
}

/* Hangs up after the first event; returns the answer's id. */
typedef struct hangup {
    char id[64];
    bool got;
} hangup;

static size_t on_first_event(char *p, size_t size, size_t n, void *user)
{
    hangup *h = user;
    const char *id = strstr(p, "\"id\":\"");
    if (id && size * n > 6) {
        id += 6;
        size_t len = strcspn(id, "\"");
        snprintf(h->id, sizeof h->id, "%.*s", (int)len, id);
    }
    h->got = true;
    return 0; /* abort the transfer: curl closes the connection */
}

static void hang_up(int port, hangup *h)
{
    memset(h, 0, sizeof *h);
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/completions", port);
    const char *body = "{\"prompt\":\"Once upon a time\",\"temperature\":0,\"repeat_penalty\":1,"
                       "\"max_tokens\":100000,\"stream\":true}";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_first_event);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    CHECK_INT(rc, CURLE_WRITE_ERROR);
    curl_easy_cleanup(c);
    CHECK(h->got && h->id[0]);
}

/* The line the server logged (with -v) when the answer `id` ended. */
static bool finished_line(server_proc *sp, const char *id, char *line, size_t size)
{
    char key[96];
    snprintf(key, sizeof key, "%s: slot", id);
    double end = now_s() + 10;
    while (now_s() < end) {
        pthread_mutex_lock(&sp->mu);
        const char *p = sp->out.data ? strstr(sp->out.data, key) : NULL;
        if (p) snprintf(line, size, "%.*s", (int)strcspn(p, "\n"), p);
        pthread_mutex_unlock(&sp->mu);
        if (p) return true;
        sleep_ms(10);
    }
    return false;
}

/* A client that hangs up mid-stream: its generation stops (cancelled, not
 * run to the end) and the next requests are answered. */
static void test_hangup(server_proc *sp)
{
    hangup h;
    hang_up(sp->port, &h);
    char line[512];
    CHECK_MSG(finished_line(sp, h.id, line, sizeof line), "no end logged for %s", h.id);
    CHECK_CONTAINS(line, "finish cancelled");
    char *t = ask(sp->port, "/v1/completions",
                  "{\"prompt\":\"Once upon a time\",\"temperature\":0,\"max_tokens\":4}", NULL);
    CHECK(t[0] != '\0');
    free(t);
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = atol(line + 6);
    if (f) fclose(f);
    return kib;
}

/* Many small requests on one keep-alive connection: all answered, memory
 * flat (the sanitizer build checks leaks at the server's exit instead). */
static void test_soak(server_proc *sp)
{
    const int n = 300;
    CURL *c = curl_easy_init();
    int bad = 0;
    long rss_early = 0;
    for (int i = 0; i < n; i++) {
        const char *path = i % 4 < 2 ? "/v1/chat/completions" : "/v1/completions";
        char body[256];
        if (i % 4 < 2)
            snprintf(body, sizeof body,
                     "{\"messages\":[{\"role\":\"user\",\"content\":\"Story %d\"}],"
                     "\"max_tokens\":4,\"seed\":%d%s}",
                     i, i, i % 2 ? ",\"stream\":true" : "");
        else
            snprintf(body, sizeof body,
                     "{\"prompt\":\"Tim and %d\",\"max_tokens\":4,\"logprobs\":1%s}", i,
                     i % 2 ? ",\"stream\":true" : "");
        resp r;
        http_on(c, &r, sp->port, "POST", path, body, NULL);
        if (r.status != 200 || (i % 2 && !strstr(body_of(&r), "data: [DONE]\n\n"))) {
            if (bad++ < 3) fprintf(stderr, "soak %d: %ld %s\n", i, r.status, body_of(&r));
        }
        resp_free(&r);
        if (i == 50) rss_early = rss_kib(sp->pid);
    }
    (void)rss_early;
    curl_easy_cleanup(c);
    CHECK_INT(bad, 0);
#if !defined(__SANITIZE_ADDRESS__)
    long rss_late = rss_kib(sp->pid);
    CHECK_MSG(rss_late - rss_early < 16 * 1024, "RSS grew from %ld to %ld KiB", rss_early,
              rss_late);
#endif
}

static void test_model_server(void)
{
    char args[1024];
    snprintf(args, sizeof args, "-m %s -c 512 --parallel 2 --queue 8 -v", model);
    server_proc sp;
    if (!server_spawn(&sp, args) || !wait_ready(&sp)) {
        CHECK(false);
        return;
    }
    CHECK(output_has(&sp, "tektra: ready"));
    static const struct {
        const char *name;
        void (*fn)(server_proc *);
    } parts[] = {
        {"basics", test_basics},       {"greedy", test_greedy},
        {"streaming", test_streaming}, {"stop", test_stop},
        {"seed", test_seed},           {"logprobs", test_logprobs},
        {"errors", test_errors},       {"concurrent", test_concurrent},
        {"hangup", test_hangup},       {"soak", test_soak},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        double t0 = now_s();
        parts[i].fn(&sp);
        printf("  %s: %.2f s\n", parts[i].name, now_s() - t0);
    }
    CHECK_INT(server_stop(&sp), 0);
    server_release(&sp);
}

typedef struct health_probe {
    int port;
    long health;
    double health_s;
} health_probe;

/* At the first event of a stream, asks /health on another connection. */
static size_t on_event_probe_health(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    health_probe *hp = user;
    if (hp->health < 0) {
        double t0 = now_s();
        resp r;
        http(&r, hp->port, "GET", "/health", NULL);
        hp->health = r.status;
        hp->health_s = now_s() - t0;
        resp_free(&r);
    }
    return size * n;
}

/* One slot, no queue: a crowd gets some 200s and some 503s with
 * Retry-After; a client that hangs up frees the slot for the next. */
static void test_busy(void)
{
    char args[1024];
    snprintf(args, sizeof args, "-m %s -c 512 --parallel 1 --queue 0 -v", model);
    server_proc sp;
    if (!server_spawn(&sp, args) || !wait_ready(&sp)) {
        CHECK(false);
        return;
    }
    enum { N = 8 };
    bool saw_ok = false, saw_busy = false;
    /* Whether requests overlap is up to the machine; a few rounds make a
     * 503 all but certain. */
    for (int round = 0; round < 5 && !(saw_ok && saw_busy); round++) {
        client cs[N];
        for (int i = 0; i < N; i++) {
            memset(&cs[i], 0, sizeof cs[i]);
            cs[i].port = sp.port;
            cs[i].path = "/v1/completions";
            cs[i].stream = true;
            snprintf(cs[i].body, sizeof cs[i].body,
                     "{\"prompt\":\"Once upon a time\",\"temperature\":0,\"repeat_penalty\":1,"
                     "\"max_tokens\":100000,\"stream\":true}");
        }
        run_clients(cs, N);
        for (int i = 0; i < N; i++) {
            if (cs[i].status == 200) {
                saw_ok = true;
            } else {
                CHECK_INT(cs[i].status, 503);
                CHECK_STR(cs[i].retry_after, "1");
                CHECK_STR(cs[i].code, "server_busy");
                saw_busy = true;
            }
            free(cs[i].text);
        }
    }
    CHECK(saw_ok);
    CHECK(saw_busy);

    /* /health answers at once while the only slot streams an answer. */
    health_probe hp = {.port = sp.port, .health = -1};
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/completions", sp.port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                     "{\"prompt\":\"Once upon a time\",\"max_tokens\":100000,\"stream\":true}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_event_probe_health);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &hp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CHECK_INT(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    CHECK_INT(hp.health, 200);
    CHECK_MSG(hp.health_s < 2, "/health took %.3f s", hp.health_s);

    hangup h;
    hang_up(sp.port, &h);
    /* The only slot comes back: retry briefly while the cancel lands. */
    long st = 0;
    for (int i = 0; i < 100 && st != 200; i++) {
        resp r;
        http(&r, sp.port, "POST", "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":2}");
        st = r.status;
        resp_free(&r);
        if (st != 200) sleep_ms(20);
    }
    CHECK_INT(st, 200);
    char line[512];
    CHECK(finished_line(&sp, h.id, line, sizeof line));
    CHECK_CONTAINS(line, "finish cancelled");
    CHECK_INT(server_stop(&sp), 0);
    server_release(&sp);
}

/* SIGTERM while answers stream and wait: the server cancels them, ends the
 * connections and exits 0 (no leaks under the sanitizers). */
typedef struct shutdown_client {
    int port;
    pid_t server;
    server_buf body;
    long status;
    bool signalled;
} shutdown_client;

static size_t on_event_then_term(char *p, size_t size, size_t n, void *user)
{
    shutdown_client *c = user;
    server_buf_append(&c->body, p, size * n);
    if (c->server && !c->signalled) {
        kill(c->server, SIGTERM);
        c->signalled = true;
    }
    return size * n;
}

static void *shutdown_client_main(void *arg)
{
    shutdown_client *c = arg;
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", c->port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                     "{\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],"
                     "\"max_tokens\":100000,\"stream\":true}");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_event_then_term);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_perform(h); /* may end early: the server is going */
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
    curl_easy_cleanup(h);
    return NULL;
}

static void test_shutdown(void)
{
    char args[1024];
    snprintf(args, sizeof args, "-m %s -c 512 --parallel 1 --queue 4", model);
    server_proc sp;
    if (!server_spawn(&sp, args) || !wait_ready(&sp)) {
        CHECK(false);
        return;
    }
    shutdown_client cs[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        memset(&cs[i], 0, sizeof cs[i]);
        cs[i].port = sp.port;
        cs[i].server = i == 0 ? sp.pid : 0; /* the first to get an event stops the server */
        pthread_create(&t[i], NULL, shutdown_client_main, &cs[i]);
    }
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    if (!cs[0].signalled) kill(sp.pid, SIGTERM);
    CHECK_MSG(server_exited(&sp, 60000), "the server did not exit after SIGTERM");
    CHECK_INT(server_stop(&sp), 0);
    CHECK(output_has(&sp, "tektra: stopping (SIGTERM)"));
    for (int i = 0; i < 3; i++) {
        /* Answered in full, told the server is going, or cut off. */
        const char *b = cs[i].body.data ? cs[i].body.data : "";
        CHECK_MSG(cs[i].status == 200 || cs[i].status == 503 || cs[i].status == 0,
                  "client %d: %ld %s", i, cs[i].status, b);
        if (cs[i].status == 503) CHECK_CONTAINS(b, "server_shutting_down");
        server_buf_free(&cs[i].body);
    }
    server_release(&sp);
}

/* A model the user named that does not exist: serve refuses to start. */
static void test_named_model_missing(void)
{
    server_proc sp;
    CHECK(!server_spawn(&sp, "-m /nonexistent/model.gguf")); /* never listens */
    CHECK(server_exited(&sp, 20000));
    CHECK_INT(server_stop(&sp), 1);
    CHECK(sp.out.data && strstr(sp.out.data, "/nonexistent/model.gguf") &&
          !strstr(sp.out.data, "listening"));
    server_release(&sp);
}

/* No model configured at all: the server still answers, with how to get a model; and
 * an API key guards /v1/ but not /health. */
static void test_no_model_and_key(void)
{
    server_proc sp;
    if (!server_spawn(&sp, "--api-key s3cret") || !wait_ready(&sp)) {
        CHECK(false);
        return;
    }
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"What is 2+2?\"}]}";
    resp r;
    char h[64];
    http_on(NULL, &r, sp.port, "POST", "/v1/chat/completions", body, NULL);
    check_error(&r, 401, NULL, NULL, "invalid_api_key");
    CHECK_STR(header_of(&r, "WWW-Authenticate", h, sizeof h), "Bearer");
    resp_free(&r);
    http_on(NULL, &r, sp.port, "POST", "/v1/chat/completions", body, "s3cre");
    check_error(&r, 401, NULL, NULL, "invalid_api_key");
    resp_free(&r);
    http_on(NULL, &r, sp.port, "GET", "/v1/models", NULL, "wrong");
    check_error(&r, 401, NULL, NULL, "invalid_api_key");
    resp_free(&r);
    http_on(NULL, &r, sp.port, "GET", "/health", NULL, NULL);
    CHECK_INT(r.status, 200);
    resp_free(&r);
    http_on(NULL, &r, sp.port, "POST", "/v1/chat/completions", body, "s3cret");
    cJSON *j = check_answer(&r, true);
    CHECK_CONTAINS(jstr(j, "choices.0.message.content"), "no language model is loaded");
    cJSON_Delete(j);
    resp_free(&r);
    CHECK_INT(server_stop(&sp), 0);
    server_release(&sp);
}

/* --cors: browsers' preflight is answered and every response names the
 * origin; without it (every other server here) no CORS header is sent. */
static void test_cors(void)
{
    server_proc sp;
    if (!server_spawn(&sp, "--cors http://localhost:3000") || !wait_ready(&sp)) {
        CHECK(false);
        return;
    }
    resp r;
    char h[128];
    http_on(NULL, &r, sp.port, "OPTIONS", "/v1/chat/completions", NULL, NULL);
    CHECK_INT(r.status, 204);
    CHECK_STR(header_of(&r, "Access-Control-Allow-Origin", h, sizeof h), "http://localhost:3000");
    CHECK_CONTAINS(header_of(&r, "Access-Control-Allow-Methods", h, sizeof h), "POST");
    CHECK_CONTAINS(header_of(&r, "Access-Control-Allow-Headers", h, sizeof h), "Authorization");
    resp_free(&r);
    http_on(NULL, &r, sp.port, "GET", "/v1/models", NULL, NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(header_of(&r, "Access-Control-Allow-Origin", h, sizeof h), "http://localhost:3000");
    resp_free(&r);
    http_on(NULL, &r, sp.port, "POST", "/v1/chat/completions", "{\"messages\": 3}", NULL);
    CHECK_INT(r.status, 400);
    CHECK_STR(header_of(&r, "Access-Control-Allow-Origin", h, sizeof h), "http://localhost:3000");
    resp_free(&r);
    CHECK_INT(server_stop(&sp), 0);
    server_release(&sp);

    if (!server_spawn(&sp, "") || !wait_ready(&sp)) {
        CHECK(false);
        return;
    }
    http_on(NULL, &r, sp.port, "GET", "/v1/models", NULL, NULL);
    CHECK_INT(r.status, 200);
    CHECK_STR(header_of(&r, "Access-Control-Allow-Origin", h, sizeof h), "");
    resp_free(&r);
    http_on(NULL, &r, sp.port, "OPTIONS", "/v1/chat/completions", NULL, NULL);
    CHECK_INT(r.status, 405);
    resp_free(&r);
    CHECK_INT(server_stop(&sp), 0);
    server_release(&sp);
}

/* stories260K with a ChatML template added: /v1/chat/completions renders
 * the messages with it, the same as the rendered text sent raw. */
static void test_chat_template(void)
{
    char path[512], args[1024];
    snprintf(path, sizeof path, "%s/chatml.gguf", dir);
    if (!harness_write_with_template(chatml, path)) return;

    snprintf(args, sizeof args, "-m %s", path);
    server_proc sp;
    if (!server_spawn(&sp, args) || !wait_ready(&sp)) {
        CHECK(false);
        return;
    }
    cJSON *jc, *jr;
    char *chat = ask(sp.port, "/v1/chat/completions",
                     "{\"messages\":[{\"role\":\"system\",\"content\":\"Be kind.\"},"
                     "{\"role\":\"user\",\"content\":\"Once upon a time\"}],"
                     "\"temperature\":0,\"max_tokens\":12}",
                     &jc);
    char *raw = ask(sp.port, "/v1/completions",
                    "{\"prompt\":\"<|im_start|>system\\nBe kind.<|im_end|>\\n<|im_start|>user\\n"
                    "Once upon a time<|im_end|>\\n<|im_start|>assistant\\n\","
                    "\"temperature\":0,\"max_tokens\":12}",
                    &jr);
    CHECK_STR(chat, raw);
    CHECK_INT(jnum(jc, "usage.prompt_tokens"), jnum(jr, "usage.prompt_tokens"));
    CHECK(jnum(jc, "usage.prompt_tokens") > 20);
    CHECK_STR(jstr(jc, "model"), "chatml");
    cJSON_Delete(jc);
    cJSON_Delete(jr);
    free(chat);
    free(raw);
    CHECK_INT(server_stop(&sp), 0);
    server_release(&sp);
}

int main(void)
{
    static const harness_part parts[] = {
        {"parser", test_parser},
        {"json_writer", test_json_writer},
        {"loading", test_loading},
        {"bad_model", test_bad_model},
        {"model_server", test_model_server},
        {"busy", test_busy},
        {"shutdown", test_shutdown},
        {"named_model_missing", test_named_model_missing},
        {"no_model_and_key", test_no_model_and_key},
        {"cors", test_cors},
        {"chat_template", test_chat_template},
    };
    return harness_main(parts, sizeof parts / sizeof parts[0]);
}
