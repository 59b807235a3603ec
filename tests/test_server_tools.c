/* Tool calls, structured output and logit_bias in the server: the format
 * detection over the real templates of ../shared/templates, the parser of
 * every format, the grammars, and the real `tektra serve` over loopback
 * with stories260K given the chat templates of real model families (its
 * output is random text, which is what the constraints must tame). */
#include "server_harness.h"

#include "tektra/grammar.h"
#include "tektra/tokenizer.h"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

static const char *const weather_tools =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"description\":\"The weather in a city\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":12},"
    "\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]}},"
    "\"required\":[\"city\",\"unit\"],\"additionalProperties\":false}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":{"
    "\"type\":\"object\",\"properties\":{\"zone\":{\"type\":\"integer\",\"enum\":[0,1,2]}},"
    "\"required\":[\"zone\"],\"additionalProperties\":false}}}]";

/* ---- unit: formats ------------------------------------------------------- */

static void test_detect(void)
{
    static const struct {
        const char *file;
        server_tool_format f;
        bool knows;
    } cases[] = {
        {"templates/Qwen-Qwen2.5-7B-Instruct.jinja", TOOLFMT_HERMES, true},
        {"templates/Qwen-Qwen3-0.6B.jinja", TOOLFMT_HERMES, true},
        {"templates/extra/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", TOOLFMT_HERMES, true},
        {"templates/extra/Qwen3-Coder.jinja", TOOLFMT_QWEN3_CODER, true},
        {"templates/meta-llama-Llama-3.1-8B-Instruct.jinja", TOOLFMT_LLAMA3, true},
        {"templates/meta-llama-Llama-3.2-3B-Instruct.jinja", TOOLFMT_LLAMA3, true},
        {"templates/extra/meta-llama-Llama-3.3-70B-Instruct.jinja", TOOLFMT_LLAMA3, true},
        {"templates/mistralai-Mistral-Nemo-Instruct-2407.jinja", TOOLFMT_MISTRAL, true},
        {"templates/extra/mistralai-Ministral-3-14B-Reasoning-2512.jinja", TOOLFMT_MISTRAL_ARGS,
         true},
        {"templates/ibm-granite-granite-3.3-2B-Instruct.jinja", TOOLFMT_GRANITE, true},
        {"templates/extra/openai-gpt-oss-120b.jinja", TOOLFMT_HARMONY, true},
        {"templates/extra/google-gemma-4-31B-it.jinja", TOOLFMT_GEMMA4, true},
        {"templates/google-gemma-2-2b-it.jinja", TOOLFMT_NONE, false},
        {"templates/microsoft-Phi-3.5-mini-instruct.jinja", TOOLFMT_NONE, false},
        {"templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", TOOLFMT_NONE, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = read_file(shared_path(cases[i].file));
        CHECK_MSG(t, "cannot read %s", cases[i].file);
        if (!t) continue;
        bool knows;
        server_tool_format f = server_tools_detect(t, &knows);
        CHECK_MSG(f == cases[i].f && knows == cases[i].knows, "%s: format %s, knows %d",
                  cases[i].file, server_tools_format_name(f), knows);
        free(t);
    }
}

/* Parses `text` in `f`: expects `n` calls named `names` (comma-separated)
 * with `args` (the first call's arguments) and `content`; n = 0: no calls. */
static void parse_case(server_tool_format f, const char *text, int n, const char *names,
                       const char *args, const char *content)
{
    server_tool_calls tc;
    bool ok = server_tools_parse(f, text, strlen(text), 42, &tc);
    CHECK_MSG(ok == (n > 0), "%s: parsed %d for %s", server_tools_format_name(f), ok, text);
    if (!ok) return;
    CHECK_INT(tc.n, n);
    char got[256] = "";
    for (int i = 0; i < tc.n; i++) {
        if (i) strcat(got, ",");
        strncat(got, tc.v[i].name, 100);
        CHECK(tc.v[i].id && tc.v[i].id[0]);
        if (f == TOOLFMT_MISTRAL || f == TOOLFMT_MISTRAL_ARGS)
            CHECK_MSG(strlen(tc.v[i].id) == 9, "mistral id %s", tc.v[i].id);
        cJSON *a = cJSON_Parse(tc.v[i].arguments);
        CHECK_MSG(cJSON_IsObject(a), "arguments %s", tc.v[i].arguments);
        cJSON_Delete(a);
    }
    CHECK_STR(got, names);
    if (args) CHECK_STR(tc.v[0].arguments, args);
    CHECK_STR(tc.content, content);
    if (tc.n > 1) CHECK(strcmp(tc.v[0].id, tc.v[1].id) != 0);
    server_tool_calls_free(&tc);
}

static void test_parse(void)
{
    parse_case(TOOLFMT_HERMES,
               "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
               "\"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": "
               "{}}\n</tool_call>",
               2, "get_weather,get_time", "{\"city\":\"Paris\"}", "Let me look.");
    parse_case(TOOLFMT_HERMES, "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}", 1,
               "f", "{\"a\":1}", "");
    parse_case(TOOLFMT_HERMES, "no call here", 0, NULL, NULL, NULL);
    parse_case(TOOLFMT_HERMES, "<tool_call>\n{\"name\": \"f\", \"argum", 0, NULL, NULL, NULL);
    parse_case(TOOLFMT_HERMES, "<tool_call>\n[1, 2]\n</tool_call>", 0, NULL, NULL, NULL);
    parse_case(TOOLFMT_LLAMA3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}",
               1, "get_weather", "{\"city\":\"Oslo\"}", "");
    parse_case(TOOLFMT_LLAMA3,
               "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", "
               "\"parameters\": {\"x\": [1]}}",
               2, "a,b", "{}", "");
    parse_case(TOOLFMT_LLAMA3, "The answer is {\"name\": 1}", 0, NULL, NULL, NULL);
    parse_case(TOOLFMT_MISTRAL,
               "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}, "
               "\"id\": \"abcDEF123\"}, {\"name\": \"get_time\", \"arguments\": {}}]",
               2, "get_weather,get_time", "{\"city\":\"Rome\"}", "");
    parse_case(TOOLFMT_MISTRAL_ARGS,
               "Sure.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Bern\"}[TOOL_CALLS]get_time[ARGS]{}",
               2, "get_weather,get_time", "{\"city\":\"Bern\"}", "Sure.");
    parse_case(TOOLFMT_GRANITE,
               "<|tool_call|>[{\"name\": \"get_time\", \"arguments\": {\"zone\": 1}}]", 1,
               "get_time", "{\"zone\":1}", "");
    parse_case(TOOLFMT_QWEN3_CODER,
               "<tool_call>\n<function=get_weather>\n<parameter=city>\nSan Jose\n</parameter>\n"
               "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
               1, "get_weather", "{\"city\":\"San Jose\",\"days\":3}", "");

    parse_case(
        TOOLFMT_HARMONY,
        "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>"
        "commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Lima\"}",
        1, "get_weather", "{\"city\":\"Lima\"}",
        "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>"
        "commentary");
    parse_case(TOOLFMT_GEMMA4,
               "<|tool_call>call:get_weather{city:<|\"|>New York<|\"|>,days:3,ok:true,"
               "tags:[<|\"|>a<|\"|>,<|\"|>b<|\"|>],opt:{x:1.5}}<tool_call|>"
               "<|tool_call>call:get_time{}<tool_call|>",
               2, "get_weather,get_time",
               "{\"city\":\"New York\",\"days\":3,\"ok\":true,\"tags\":[\"a\",\"b\"],"
               "\"opt\":{\"x\":1.5}}",
               "");
    parse_case(TOOLFMT_GEMMA4, "<|tool_call>call:f{a:<|\"|>open", 0, NULL, NULL, NULL);

    /* Held back while streaming: from a marker, or its possible start. */
    bool started;
    const char *t = "Hello <tool_call>{";
    CHECK_INT(server_tools_hold_from(TOOLFMT_HERMES, t, strlen(t), &started), 6);
    CHECK(started);
    t = "Hello <tool_";
    CHECK_INT(server_tools_hold_from(TOOLFMT_HERMES, t, strlen(t), &started), 6);
    CHECK(!started);
    t = "Hello <b>";
    CHECK_INT(server_tools_hold_from(TOOLFMT_HERMES, t, strlen(t), &started), strlen(t));
    t = "  {\"na";
    CHECK_INT(server_tools_hold_from(TOOLFMT_LLAMA3, t, strlen(t), &started), 0);
    CHECK(started);
    t = "Paris is";
    CHECK_INT(server_tools_hold_from(TOOLFMT_LLAMA3, t, strlen(t), &started), strlen(t));
}

/* The grammar of tool_choice "required" in each format accepts a call of
 * that format (which parses back) and refuses plain text. */
static void test_grammars(void)
{
    cJSON *tools = cJSON_Parse(weather_tools);
    static const struct {
        server_tool_format f;
        const char *call;
    } cases[] = {
        {TOOLFMT_HERMES, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                         "\"Paris\", \"unit\": \"celsius\"}}\n</tool_call>"},
        {TOOLFMT_LLAMA3, "{\"name\": \"get_time\", \"parameters\": {\"zone\": 2}}"},
        {TOOLFMT_MISTRAL, "[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {\"zone\": 0}}, "
                          "{\"name\": \"get_time\", \"arguments\": {\"zone\": 1}}]"},
        {TOOLFMT_MISTRAL_ARGS, "[TOOL_CALLS]get_time[ARGS]{\"zone\": 1}"},
        {TOOLFMT_GRANITE, "<|tool_call|>[{\"name\": \"get_time\", \"arguments\": {\"zone\": 0}}]"},
        {TOOLFMT_HARMONY, "<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>"
                          "{\"zone\": 0}"},
        {TOOLFMT_QWEN3_CODER, "<tool_call>\n<function=get_weather>\n<parameter=city>\n\"Oslo\"\n"
                              "</parameter>\n<parameter=unit>\n\"celsius\"\n</parameter>\n"
                              "</function>\n</tool_call>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        server_error err;
        char *tc = server_tools_grammar(cases[i].f, tools, NULL, true, &err);
        CHECK_MSG(tc, "%s: %s", server_tools_format_name(cases[i].f), err.message);
        if (!tc) continue;
        size_t n = strlen(tc) + 64;
        char *text = malloc(n);
        snprintf(text, n, "root ::= tc-root\n%s", tc);
        tk_grammar *g = NULL;
        char why[256];
        CHECK_MSG(tk_grammar_parse(text, &g, why, sizeof why) == TK_OK, "%s: %s",
                  server_tools_format_name(cases[i].f), why);
        tk_constraint *c = NULL;
        if (g) CHECK(tk_constraint_create(g, NULL, &c) == TK_OK);
        if (c) {
            CHECK_MSG(tk_constraint_accept_bytes(c, cases[i].call, strlen(cases[i].call)) == TK_OK,
                      "%s refuses %s", server_tools_format_name(cases[i].f), cases[i].call);
            CHECK_MSG(tk_constraint_complete(c, NULL), "%s: incomplete after %s",
                      server_tools_format_name(cases[i].f), cases[i].call);
            tk_constraint_reset(c);
            CHECK(tk_constraint_accept_bytes(c, "Sure", 4) != TK_OK);
            tk_constraint_free(c);
        }
        server_tool_calls parsed;
        CHECK(server_tools_parse(cases[i].f, cases[i].call, strlen(cases[i].call), 1, &parsed));
        server_tool_calls_free(&parsed);
        tk_grammar_free(g);
        free(text);
        free(tc);
    }
    /* Gemma 4's arguments are not JSON: its calls are read, not forced. */
    server_error gerr;
    CHECK(server_tools_grammar(TOOLFMT_GEMMA4, tools, NULL, true, &gerr) == NULL);
    CHECK_INT(gerr.status, 400);
    /* A named function: only that one. */
    server_error err;
    char *tc = server_tools_grammar(TOOLFMT_HERMES, tools, "get_time", false, &err);
    CHECK(tc && strstr(tc, "get_time") && !strstr(tc, "get_weather"));
    free(tc);
    cJSON_Delete(tools);
}

/* ---- unit: request fields -------------------------------------------------- */

static void parse_fails(const char *body, const char *param, const char *in_message)
{
    tk_gen_params d;
    memset(&d, 0, sizeof d);
    d.max_tokens = 16;
    server_request r;
    server_error e;
    bool ok = server_request_parse(SERVER_CHAT, body, strlen(body), &d, &r, &e);
    CHECK_MSG(!ok, "accepted: %s", body);
    if (ok) {
        server_request_free(&r);
        return;
    }
    CHECK_INT(e.status, 400);
    CHECK_STR(e.param, param);
    CHECK_MSG(strstr(e.message, in_message), "message '%s' lacks '%s'", e.message, in_message);
}

static void test_request_fields(void)
{
#define MSG "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
    parse_fails("{" MSG ",\"tools\":{}}", "tools", "must be an array");
    parse_fails("{" MSG ",\"tools\":[{\"type\":\"retrieval\"}]}", "tools[0]", "only 'function'");
    parse_fails("{" MSG ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]}",
                "tools[0]", "letters, digits");
    parse_fails("{" MSG ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},"
                "{\"type\":\"function\",\"function\":{\"name\":\"a\"}}]}",
                "tools[1]", "two tools are named 'a'");
    parse_fails("{" MSG ",\"tool_choice\":\"required\"}", "tool_choice", "no 'tools'");
    parse_fails("{" MSG ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],"
                "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"b\"}}}",
                "tool_choice", "not in 'tools'");
    parse_fails("{" MSG ",\"tool_choice\":\"always\"}", "tool_choice", "\"required\"");
    parse_fails("{" MSG ",\"response_format\":{\"type\":\"xml\"}}", "response_format.type",
                "json_schema");
    parse_fails("{" MSG ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                "\"name\":\"x\",\"schema\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":"
                "\"number\",\"multipleOf\":3}}}}}}",
                "response_format.json_schema.schema", "multipleOf");
    parse_fails("{" MSG ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                "\"name\":\"x\"}}}",
                "response_format.json_schema.schema", "required");
    parse_fails("{" MSG ",\"logit_bias\":{\"abc\":1}}", "logit_bias", "not a token id");
    parse_fails("{" MSG ",\"logit_bias\":{\"12\":101}}", "logit_bias", "-100 to 100");
    parse_fails("{" MSG ",\"functions\":[{\"name\":\"f\"}]}", "functions", "send 'tools'");
    parse_fails("{" MSG ",\"modalities\":[\"text\",\"audio\"]}", "modalities", "only the");
    parse_fails("{\"messages\":[{\"role\":\"tool\",\"content\":\"5\"}]}",
                "messages[0].tool_call_id", "required");
    parse_fails("{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[]}]}",
                "messages[0].tool_calls", "only allowed on assistant");
    parse_fails("{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
                "\"1\",\"function\":{\"name\":\"f\",\"arguments\":{}}}]}]}",
                "messages[0].tool_calls", "\"arguments\": string");

    /* A whole tool conversation parses; the tool result gets its call's name. */
    const char *ok = "{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
                     "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\","
                     "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
                     "\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
                     "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"22 C\"}],"
                     "\"logit_bias\":{\"5\":-100,\"7\":2.5}}";
    tk_gen_params d;
    memset(&d, 0, sizeof d);
    d.max_tokens = 16;
    server_request r;
    server_error e;
    CHECK_MSG(server_request_parse(SERVER_CHAT, ok, strlen(ok), &d, &r, &e), "%s", e.message);
    CHECK_STR(r.msgs[2].role, "tool");
    CHECK_STR(r.msgs[2].name, "get_weather");
    CHECK_STR(r.msgs[2].tool_call_id, "c1");
    CHECK(r.msgs[1].tool_calls_json && strstr(r.msgs[1].tool_calls_json, "get_weather"));
    CHECK_INT(r.g.n_bias, 2);
    CHECK(!server_request_bind(&r, NULL, 6, &e));
    CHECK(strstr(e.message, "token id 7") != NULL);
    CHECK(server_request_bind(&r, NULL, 8, &e));
    server_request_free(&r);
#undef MSG
}

/* ---- end to end -------------------------------------------------------------- */

/* stories260K with `template_file`'s template, written to dir/name.gguf. */
static bool write_model(const char *name, const char *template_file, char *path, size_t size)
{
    snprintf(path, size, "%s/%s.gguf", dir, name);
    char *tmpl = read_file(shared_path(template_file));
    CHECK_MSG(tmpl, "cannot read %s", template_file);
    if (!tmpl) return false;
    bool ok = harness_write_with_template(tmpl, path);
    free(tmpl);
    return ok;
}

static cJSON *post_json(int port, const char *body, long want_status)
{
    resp r;
    http(&r, port, "POST", "/v1/chat/completions", body);
    CHECK_MSG(r.status == want_status, "status %ld: %s", r.status, body_of(&r));
    cJSON *j = cJSON_Parse(body_of(&r));
    resp_free(&r);
    return j;
}

/* Checks arguments against the weather tools' schemas. */
static bool args_valid(const char *name, const char *args)
{
    cJSON *a = cJSON_Parse(args);
    bool ok = cJSON_IsObject(a);
    if (ok && strcmp(name, "get_weather") == 0) {
        const cJSON *city = cJSON_GetObjectItem(a, "city"), *unit = cJSON_GetObjectItem(a, "unit");
        ok = cJSON_GetArraySize(a) == 2 && cJSON_IsString(city) &&
             strlen(city->valuestring) <= 12 * 4 && cJSON_IsString(unit) &&
             (strcmp(unit->valuestring, "celsius") == 0 ||
              strcmp(unit->valuestring, "fahrenheit") == 0);
    } else if (ok) {
        const cJSON *z = cJSON_GetObjectItem(a, "zone");
        ok = strcmp(name, "get_time") == 0 && cJSON_GetArraySize(a) == 1 && cJSON_IsNumber(z) &&
             z->valueint >= 0 && z->valueint <= 2;
    }
    cJSON_Delete(a);
    return ok;
}

/* Reassembles the tool calls of a stream into a message-like JSON array
 * text, in the order of their index; checks the chunk shapes. */
static char *stream_tool_calls(const char *raw, char *finish, size_t fsize)
{
    cJSON *calls = cJSON_CreateArray();
    finish[0] = '\0';
    for (const char *p = strstr(raw, "data: "); p; p = strstr(p + 1, "data: ")) {
        if (strncmp(p + 6, "[DONE]", 6) == 0) break;
        const char *e = strstr(p, "\n\n");
        char *ev = strndup(p + 6, e ? (size_t)(e - p - 6) : strlen(p + 6));
        cJSON *j = cJSON_Parse(ev);
        free(ev);
        CHECK(j != NULL);
        const cJSON *fr = jget(j, "choices.0.finish_reason");
        if (cJSON_IsString(fr)) snprintf(finish, fsize, "%s", fr->valuestring);
        const cJSON *tcs = jget(j, "choices.0.delta.tool_calls");
        const cJSON *tc;
        cJSON_ArrayForEach(tc, tcs)
        {
            int idx = (int)jnum(tc, "index");
            while (cJSON_GetArraySize(calls) <= idx) {
                cJSON *c = cJSON_CreateObject();
                cJSON_AddStringToObject(c, "id", "");
                cJSON_AddStringToObject(c, "name", "");
                cJSON_AddStringToObject(c, "arguments", "");
                cJSON_AddItemToArray(calls, c);
            }
            cJSON *c = cJSON_GetArrayItem(calls, idx);
            static const char *const keys[3][2] = {
                {"id", "id"}, {"function.name", "name"}, {"function.arguments", "arguments"}};
            for (int k = 0; k < 3; k++) {
                const char *v = jstr(tc, keys[k][0]);
                if (!v) continue;
                const char *old = cJSON_GetObjectItem(c, keys[k][1])->valuestring;
                size_t n = strlen(old) + strlen(v) + 1;
                char *cat = malloc(n);
                snprintf(cat, n, "%s%s", old, v);
                cJSON_ReplaceItemInObject(c, keys[k][1], cJSON_CreateString(cat));
                free(cat);
            }
        }
        cJSON_Delete(j);
    }
    char *s = cJSON_PrintUnformatted(calls);
    cJSON_Delete(calls);
    return s;
}

/* The tool calls of a whole answer in the same shape as stream_tool_calls. */
static char *answer_tool_calls(const cJSON *j)
{
    cJSON *calls = cJSON_CreateArray();
    const cJSON *tc;
    cJSON_ArrayForEach(tc, jget(j, "choices.0.message.tool_calls"))
    {
        cJSON *c = cJSON_CreateObject();
        CHECK_STR(jstr(tc, "type"), "function");
        cJSON_AddStringToObject(c, "id", jstr(tc, "id") ? jstr(tc, "id") : "");
        cJSON_AddStringToObject(c, "name",
                                jstr(tc, "function.name") ? jstr(tc, "function.name") : "");
        cJSON_AddStringToObject(
            c, "arguments", jstr(tc, "function.arguments") ? jstr(tc, "function.arguments") : "");
        cJSON_AddItemToArray(calls, c);
    }
    char *s = cJSON_PrintUnformatted(calls);
    cJSON_Delete(calls);
    return s;
}

/* One model family: tool_choice required (several seeds, streamed and
 * not), a named function, the round trip with the tool's result. */
static void family_tools(const char *name, const char *template_file, bool schema_enforced)
{
    char path[512], args[600];
    if (!write_model(name, template_file, path, sizeof path)) return;
    snprintf(args, sizeof args, "-m %s", path);
    server_proc sp;
    if (!server_spawn(&sp, args) || !wait_ready(&sp)) {
        CHECK_MSG(false, "%s: server did not start", name);
        return;
    }
    char body[4096];
    for (int seed = 1; seed <= 4; seed++) {
        const char *choice = seed == 4
                                 ? "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}"
                                 : "\"required\"";
        snprintf(body, sizeof body,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"What is the weather in "
                 "Paris?\"}],\"tools\":%s,\"tool_choice\":%s,\"temperature\":1,\"seed\":%d,"
                 "\"parallel_tool_calls\":false,\"max_tokens\":400%%s}",
                 weather_tools, choice, seed);
        char plain[4096], streamed[4096];
        snprintf(plain, sizeof plain, body, "");
        snprintf(streamed, sizeof streamed, body, ",\"stream\":true");
        cJSON *j = post_json(sp.port, plain, 200);
        CHECK_MSG(j && jstr(j, "choices.0.finish_reason") &&
                      strcmp(jstr(j, "choices.0.finish_reason"), "tool_calls") == 0,
                  "%s seed %d: %s", name, seed, j ? cJSON_PrintUnformatted(j) : "?");
        const cJSON *tc;
        int n = 0;
        cJSON_ArrayForEach(tc, jget(j, "choices.0.message.tool_calls"))
        {
            const char *fn = jstr(tc, "function.name"), *a = jstr(tc, "function.arguments");
            cJSON *aj = a ? cJSON_Parse(a) : NULL;
            CHECK_MSG(fn && cJSON_IsObject(aj) && (!schema_enforced || args_valid(fn, a)),
                      "%s seed %d: call %s(%s)", name, seed, fn ? fn : "?", a ? a : "?");
            cJSON_Delete(aj);
            if (seed == 4) CHECK_STR(fn, "get_time");
            CHECK(jstr(tc, "id") && strlen(jstr(tc, "id")) >= 9);
            n++;
        }
        CHECK_MSG(n >= 1, "%s seed %d: no tool calls", name, seed);
        /* The stream reassembles to the same calls (ids aside: each request
         * makes its own). */
        resp r;
        http(&r, sp.port, "POST", "/v1/chat/completions", streamed);
        CHECK_INT(r.status, 200);
        char finish[32];
        char *s_calls = stream_tool_calls(body_of(&r), finish, sizeof finish);
        char *a_calls = answer_tool_calls(j);
        cJSON *sa = cJSON_Parse(s_calls), *aa = cJSON_Parse(a_calls);
        const cJSON *x;
        cJSON_ArrayForEach(x, sa)
            cJSON_ReplaceItemInObject((cJSON *)x, "id", cJSON_CreateString(""));
        cJSON_ArrayForEach(x, aa)
            cJSON_ReplaceItemInObject((cJSON *)x, "id", cJSON_CreateString(""));
        char *s1 = cJSON_PrintUnformatted(sa), *s2 = cJSON_PrintUnformatted(aa);
        CHECK_MSG(strcmp(s1, s2) == 0, "%s seed %d: stream %s vs %s", name, seed, s1, s2);
        CHECK_STR(finish, "tool_calls");
        free(s1);
        free(s2);
        cJSON_Delete(sa);
        cJSON_Delete(aa);
        free(s_calls);
        free(a_calls);
        resp_free(&r);

        if (seed == 1 && n >= 1) {
            /* Round trip: the call and its result go back; the model answers. */
            const cJSON *c0 = cJSON_GetArrayItem(jget(j, "choices.0.message.tool_calls"), 0);
            char *call = cJSON_PrintUnformatted(c0);
            char round[8192];
            snprintf(round, sizeof round,
                     "{\"messages\":[{\"role\":\"user\",\"content\":\"What is the weather in "
                     "Paris?\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[%s]},"
                     "{\"role\":\"tool\",\"tool_call_id\":\"%s\",\"content\":\"22 C, sunny\"}],"
                     "\"tools\":%s,\"temperature\":0,\"max_tokens\":8}",
                     call, jstr(c0, "id"), weather_tools);
            cJSON *k = post_json(sp.port, round, 200);
            CHECK_MSG(k && jget(k, "choices.0.message"), "%s: round trip failed", name);
            CHECK(jnum(k, "usage.prompt_tokens") > 30);
            cJSON_Delete(k);
            free(call);
        }
        cJSON_Delete(j);
    }
    CHECK_INT(server_stop(&sp), 0);
    server_release(&sp);
}

static void test_families(void)
{
    family_tools("qwen25", "templates/Qwen-Qwen2.5-7B-Instruct.jinja", true);
    family_tools("qwen3", "templates/Qwen-Qwen3-0.6B.jinja", true);
    family_tools("llama31", "templates/meta-llama-Llama-3.1-8B-Instruct.jinja", true);
    family_tools("nemo", "templates/mistralai-Mistral-Nemo-Instruct-2407.jinja", true);
    family_tools("ministral", "templates/extra/mistralai-Ministral-3-14B-Reasoning-2512.jinja",
                 true);
    family_tools("granite", "templates/ibm-granite-granite-3.3-2B-Instruct.jinja", true);
    family_tools("qwen3coder", "templates/extra/Qwen3-Coder.jinja", true);
    family_tools("gptoss", "templates/extra/openai-gpt-oss-120b.jinja", true);
}

/* A Pydantic-style schema: nested object through $defs, enum, integer
 * range by enum, optional field, array with bounds, anyOf with null. */
static const char *const person_schema =
    "{\"$defs\":{\"Pet\":{\"type\":\"object\",\"properties\":{\"kind\":{\"enum\":[\"cat\","
    "\"dog\"]},\"name\":{\"type\":\"string\",\"maxLength\":8}},\"required\":[\"kind\","
    "\"name\"],\"additionalProperties\":false}},"
    "\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1,"
    "\"maxLength\":10},\"age\":{\"type\":\"integer\"},\"ok\":{\"type\":\"boolean\"},"
    "\"pets\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/Pet\"},\"maxItems\":2},"
    "\"nick\":{\"anyOf\":[{\"type\":\"string\",\"maxLength\":5},{\"type\":\"null\"}]}},"
    "\"required\":[\"name\",\"age\",\"ok\",\"pets\",\"nick\"],\"additionalProperties\":false}";

static bool person_valid(const cJSON *p)
{
    if (!cJSON_IsObject(p) || cJSON_GetArraySize(p) != 5) return false;
    const cJSON *name = cJSON_GetObjectItem(p, "name"), *age = cJSON_GetObjectItem(p, "age");
    const cJSON *ok = cJSON_GetObjectItem(p, "ok"), *pets = cJSON_GetObjectItem(p, "pets");
    const cJSON *nick = cJSON_GetObjectItem(p, "nick");
    if (!cJSON_IsString(name) || !name->valuestring[0] || !cJSON_IsNumber(age) ||
        age->valuedouble != (double)(int64_t)age->valuedouble || !cJSON_IsBool(ok) ||
        !cJSON_IsArray(pets) || cJSON_GetArraySize(pets) > 2 ||
        !(cJSON_IsNull(nick) || cJSON_IsString(nick)))
        return false;
    const cJSON *pet;
    cJSON_ArrayForEach(pet, pets)
    {
        const cJSON *kind = cJSON_GetObjectItem(pet, "kind");
        if (!cJSON_IsObject(pet) || cJSON_GetArraySize(pet) != 2 || !cJSON_IsString(kind) ||
            (strcmp(kind->valuestring, "cat") != 0 && strcmp(kind->valuestring, "dog") != 0) ||
            !cJSON_IsString(cJSON_GetObjectItem(pet, "name")))
            return false;
    }
    return true;
}

/* The id of the token whose piece is `text`, or -1. */
static int32_t piece_id(const tk_tokenizer *tok, const char *text)
{
    /* From the top: byte tokens (<0x2C>) have the same pieces as the
     * merged ones, and come first. */
    for (int32_t id = tk_tokenizer_n_vocab(tok) - 1; id >= 0; id--) {
        char piece[64];
        size_t n = 0;
        if (tk_token_piece(tok, id, false, piece, sizeof piece, &n) == TK_OK && n == strlen(text) &&
            memcmp(piece, text, n) == 0)
            return id;
    }
    return -1;
}

/* response_format and logit_bias on plain stories260K (built-in ChatML
 * template, which knows no tools). */
static void test_structured(void)
{
    char args[600];
    snprintf(args, sizeof args, "-m %s -v", model);
    server_proc sp;
    if (!server_spawn(&sp, args) || !wait_ready(&sp)) {
        CHECK_MSG(false, "server did not start");
        return;
    }
    /* No --parallel: the slots are chosen (2 or 4 with this small cache). */
    CHECK_MSG(output_has(&sp, "2 slots (requests generated at once)") ||
                  output_has(&sp, "4 slots (requests generated at once)"),
              "no chosen slot count in: %s", sp.out.data);
    /* Endpoints of OpenAI's API that are not served say so. */
    resp nr;
    http(&nr, sp.port, "POST", "/v1/embeddings", "{\"input\":\"x\"}");
    check_error(&nr, 404, "not supported by tektra", NULL, "not_found");
    resp_free(&nr);
    /* A model of random text rarely closes a string of its own accord: a
     * bias towards '"' and '}' keeps the answers within max_tokens (and
     * tries logit_bias and the grammar together). */
    tk_gguf *g = NULL;
    tk_tokenizer *tok = NULL;
    CHECK(tk_gguf_open(model, &g) == TK_OK && tk_tokenizer_load(g, &tok) == TK_OK);
    char closing[128] = "";
    if (tok)
        snprintf(closing, sizeof closing, ",\"logit_bias\":{\"%d\":3,\"%d\":3,\"%d\":8}",
                 (int)piece_id(tok, "\""), (int)piece_id(tok, " \""), (int)piece_id(tok, "}"));
    char body[4096];
    int n_object = 0, n_schema = 0;
    for (int seed = 1; seed <= 12; seed++) {
        bool schema = seed % 2 == 0;
        char rf[2048];
        if (schema)
            snprintf(rf, sizeof rf,
                     "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"person\","
                     "\"strict\":true,\"schema\":%s}}",
                     person_schema);
        else
            snprintf(rf, sizeof rf, "{\"type\":\"json_object\"}");
        snprintf(body, sizeof body,
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"Describe a person.\"}],"
                 "\"response_format\":%s,\"temperature\":1,\"seed\":%d,\"max_tokens\":600%s}",
                 rf, seed, closing);
        cJSON *j = post_json(sp.port, body, 200);
        const char *content = j ? jstr(j, "choices.0.message.content") : NULL;
        cJSON *v = content ? cJSON_Parse(content) : NULL;
        CHECK_MSG(cJSON_IsObject(v), "seed %d: not a JSON object (finish %s): %s", seed,
                  j ? jstr(j, "choices.0.finish_reason") : "?", content ? content : "?");
        if (schema) {
            CHECK_MSG(person_valid(v), "seed %d: does not validate: %s", seed, content);
            n_schema++;
        } else {
            n_object++;
        }
        cJSON_Delete(v);
        cJSON_Delete(j);
    }
    CHECK(n_object == 6 && n_schema == 6);
    /* The same through /v1/completions. */
    resp r;
    snprintf(body, sizeof body,
             "{\"prompt\":\"Once upon a time\",\"response_format\":{\"type\":\"json_object\"},"
             "\"temperature\":1,\"seed\":3,\"max_tokens\":600%s}",
             closing);
    http(&r, sp.port, "POST", "/v1/completions", body);
    cJSON *j = cJSON_Parse(body_of(&r));
    cJSON *v = j && jstr(j, "choices.0.text") ? cJSON_Parse(jstr(j, "choices.0.text")) : NULL;
    CHECK_MSG(cJSON_IsObject(v), "completion: %s", body_of(&r));
    cJSON_Delete(v);
    cJSON_Delete(j);
    resp_free(&r);

    /* A keyword that cannot be enforced, a template without tools. */
    http(&r, sp.port, "POST", "/v1/chat/completions",
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{"
         "\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\",\"schema\":{\"type\":"
         "\"string\",\"contentEncoding\":\"base64\"}}}}");
    check_error(&r, 400, "contentEncoding", "response_format.json_schema.schema", NULL);
    resp_free(&r);
    snprintf(body, sizeof body,
             "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":%s}", weather_tools);
    http(&r, sp.port, "POST", "/v1/chat/completions", body);
    check_error(&r, 400, "no notion of tools", "tools", NULL);
    resp_free(&r);
    /* tool_choice none: the tools are not offered, the answer is text. */
    snprintf(body, sizeof body,
             "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":%s,"
             "\"tool_choice\":\"none\",\"max_tokens\":4}",
             weather_tools);
    cJSON_Delete(post_json(sp.port, body, 200));

    /* logit_bias: -100 bans the greedy first token, 100 forces another. */
    if (tok) {
        const char *greedy = "{\"prompt\":\"Once upon a time\",\"temperature\":0,"
                             "\"max_tokens\":1%s}";
        char req[512];
        snprintf(req, sizeof req, greedy, "");
        char *first = ask(sp.port, "/v1/completions", req, NULL);
        int32_t first_id = piece_id(tok, first);
        CHECK_MSG(first_id >= 0, "no token is '%s'", first);
        char bias[128];
        snprintf(bias, sizeof bias, ",\"logit_bias\":{\"%d\":-100}", (int)first_id);
        snprintf(req, sizeof req, greedy, bias);
        char *second = ask(sp.port, "/v1/completions", req, NULL);
        CHECK_MSG(strcmp(first, second) != 0, "banned token still chosen: '%s'", second);
        char piece[64];
        size_t plen = 0;
        CHECK(tk_token_piece(tok, 300, false, piece, sizeof piece, &plen) == TK_OK);
        piece[plen] = '\0';
        snprintf(bias, sizeof bias, ",\"logit_bias\":{\"300\":100}");
        snprintf(req, sizeof req, greedy, bias);
        char *forced = ask(sp.port, "/v1/completions", req, NULL);
        CHECK_MSG(strstr(forced, piece[0] == ' ' ? piece + 1 : piece) != NULL,
                  "forced token 300 '%s' not in '%s'", piece, forced);
        free(first);
        free(second);
        free(forced);
        snprintf(req, sizeof req, greedy, ",\"logit_bias\":{\"999999\":5}");
        http(&r, sp.port, "POST", "/v1/completions", req);
        check_error(&r, 400, "999999", "logit_bias", NULL);
        resp_free(&r);
    }
    tk_tokenizer_free(tok);
    tk_gguf_close(g);

    /* A conversation goes back to the slot whose cache holds it, even after
     * another conversation came in between. */
    char *first = ask(sp.port, "/v1/chat/completions",
                      "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me about the "
                      "cat and the dog.\"}],\"max_tokens\":4,\"temperature\":0}",
                      NULL);
    free(ask(sp.port, "/v1/chat/completions",
             "{\"messages\":[{\"role\":\"user\",\"content\":\"Something else.\"}],"
             "\"max_tokens\":4,\"temperature\":0}",
             NULL));
    cJSON *turn = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me "
                              "about the cat and the dog.\"},{\"role\":\"assistant\"},"
                              "{\"role\":\"user\",\"content\":\"And then?\"}],"
                              "\"max_tokens\":4,\"temperature\":0}");
    cJSON_AddStringToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(turn, "messages"), 1), "content",
                            first);
    char *turn_body = cJSON_PrintUnformatted(turn);
    cJSON *tj = NULL;
    free(ask(sp.port, "/v1/chat/completions", turn_body, &tj));
    CHECK_MSG(tj && jnum(tj, "usage.prompt_tokens_details.cached_tokens") > 10,
              "the follow-up read its conversation again: %s",
              tj ? cJSON_PrintUnformatted(tj) : "?");
    cJSON_Delete(tj);
    cJSON_Delete(turn);
    free(turn_body);
    free(first);
    CHECK_INT(server_stop(&sp), 0);
    server_release(&sp);
}

/* The official openai npm client (tests/openai/agent.mjs) against the
 * server with Qwen2.5's template: tools in a manual loop and with
 * runTools, parse() with a JSON schema, a streamed tool call. */
static void test_openai_client(void)
{
    const char *src = getenv("TK_SRC");
    char cmd[4096], npm[2048] = "";
    snprintf(cmd, sizeof cmd, "cd '%s' && scripts/npm-cache.sh openai", src ? src : ".");
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(npm, sizeof npm, p)) npm[0] = '\0';
        npm[strcspn(npm, "\n")] = '\0';
        if (pclose(p) != 0) npm[0] = '\0';
    }
    if (!npm[0]) {
        /* Where CI runs, the client is part of the suite: no skipping. */
        CHECK_MSG(!getenv("CI"), "the openai npm package cannot be installed");
        printf("openai_client: SKIPPED: npm or the openai package is not available\n");
        return;
    }
    char path[512], args[600];
    if (!write_model("agent", "templates/Qwen-Qwen2.5-7B-Instruct.jinja", path, sizeof path))
        return;
    snprintf(args, sizeof args, "-m %s", path);
    server_proc sp;
    if (!server_spawn(&sp, args) || !wait_ready(&sp)) {
        CHECK_MSG(false, "server did not start");
        return;
    }
    snprintf(cmd, sizeof cmd,
             "NODE_PATH='%s/node_modules' node '%s/tests/openai/agent.mjs' "
             "http://127.0.0.1:%d/v1",
             npm, src ? src : ".", sp.port);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "the openai client's checks failed (exit %d)", rc);
    CHECK_INT(server_stop(&sp), 0);
    server_release(&sp);
}

int main(void)
{
    static const harness_part parts[] = {
        {"detect", test_detect},
        {"parse", test_parse},
        {"grammars", test_grammars},
        {"request_fields", test_request_fields},
        {"families", test_families},
        {"structured", test_structured},
        {"openai_client", test_openai_client},
    };
    return harness_main(parts, sizeof parts / sizeof parts[0]);
}
