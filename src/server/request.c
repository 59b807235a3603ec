/* Parsing and checking the bodies of /v1/chat/completions and
 * /v1/completions. Every field the server uses is checked for its type and
 * range and a failure names the field; fields it does not know are
 * ignored, as OpenAI's clients send many. */
#include "server/server.h"

#include "tektra/grammar.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char invalid_request[] = "invalid_request_error";

bool server_error_set(server_error *err, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
{
    err->status = status;
    err->type = type;
    err->code = code;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

void server_error_json(const server_error *err, server_buf *out)
{
    server_buf_puts(out, "{\"error\":{\"message\":");
    server_buf_json_str(out, err->message, strlen(err->message));
    server_buf_puts(out, ",\"type\":");
    server_buf_json_str(out, err->type, strlen(err->type));
    server_buf_puts(out, ",\"param\":");
    if (err->param[0])
        server_buf_json_str(out, err->param, strlen(err->param));
    else
        server_buf_puts(out, "null");
    server_buf_puts(out, ",\"code\":");
    if (err->code)
        server_buf_json_str(out, err->code, strlen(err->code));
    else
        server_buf_puts(out, "null");
    server_buf_puts(out, "}}");
}

#define BAD(err, param, ...) server_error_set(err, 400, invalid_request, NULL, param, __VA_ARGS__)

/* The field `name` of `obj` when present and not null. */
static const cJSON *field(const cJSON *obj, const char *name)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

/* A number within [min, max] (and whole, with `integer`). Absent or null
 * leaves *out alone. */
static bool get_number(const cJSON *obj, const char *name, double min, double max, bool integer,
                       double *out, server_error *err)
{
    const cJSON *f = field(obj, name);
    if (!f) return true;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble))
        return BAD(err, name, "'%s' must be a number", name);
    double v = f->valuedouble;
    if (integer && v != floor(v)) return BAD(err, name, "'%s' must be a whole number", name);
    if (v < min || v > max)
        return BAD(err, name, "'%s' must be between %.17g and %.17g, got %.17g", name, min, max, v);
    *out = v;
    return true;
}

static bool get_int(const cJSON *obj, const char *name, double min, double max, int64_t *out,
                    server_error *err)
{
    double v = (double)*out;
    if (!get_number(obj, name, min, max, true, &v, err)) return false;
    *out = (int64_t)v;
    return true;
}

static bool get_bool(const cJSON *obj, const char *name, bool *out, server_error *err)
{
    const cJSON *f = field(obj, name);
    if (!f) return true;
    if (!cJSON_IsBool(f)) return BAD(err, name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(f);
    return true;
}

/* Checks that a string the engine will see is valid UTF-8. */
static bool check_text(const char *s, const char *param, server_error *err)
{
    if (!server_utf8_valid(s, strlen(s))) return BAD(err, param, "'%s' is not valid UTF-8", param);
    return true;
}

static bool parse_stop(const cJSON *root, server_request *r, server_error *err)
{
    const cJSON *f = field(root, "stop");
    if (!f) return true;
    const cJSON *items[SERVER_MAX_STOP];
    int n = 0;
    if (cJSON_IsString(f)) {
        items[n++] = f;
    } else if (cJSON_IsArray(f)) {
        int count = cJSON_GetArraySize(f);
        if (count > SERVER_MAX_STOP)
            return BAD(err, "stop", "'stop' has %d strings; at most %d are allowed", count,
                       SERVER_MAX_STOP);
        const cJSON *it;
        cJSON_ArrayForEach(it, f)
        {
            if (!cJSON_IsString(it)) return BAD(err, "stop", "'stop[%d]' must be a string", n);
            items[n++] = it;
        }
    } else {
        return BAD(err, "stop", "'stop' must be a string or an array of strings");
    }
    for (int i = 0; i < n; i++) {
        const char *s = items[i]->valuestring;
        size_t len = strlen(s);
        if (len == 0) return BAD(err, "stop", "'stop' strings must not be empty");
        if (len > SERVER_MAX_STOP_LEN)
            return BAD(err, "stop", "a 'stop' string is %zu bytes; at most %d are allowed", len,
                       SERVER_MAX_STOP_LEN);
        if (!check_text(s, "stop", err)) return false;
        r->stops[r->g.n_stop++] = s;
    }
    return true;
}

static bool oom(server_error *err)
{
    return server_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
}

/* response_format: {"type": "text" | "json_object" | "json_schema",
 * "json_schema": {"name", "schema", "strict"}}. The schema is compiled to
 * grammar text at once, so a keyword that cannot be enforced is a 400 now. */
static bool parse_response_format(const cJSON *root, server_request *r, server_error *err)
{
    const cJSON *f = field(root, "response_format");
    if (!f) return true;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(f, "type");
    if (!cJSON_IsObject(f) || !cJSON_IsString(type))
        return BAD(err, "response_format", "'response_format' must be an object with a 'type'");
    const char *t = type->valuestring;
    if (strcmp(t, "text") == 0) return true;
    if (strcmp(t, "json_object") == 0) {
        r->format = SERVER_FORMAT_JSON_OBJECT;
        if (tk_json_object_grammar("rf-", &r->format_grammar) != TK_OK) return oom(err);
        return true;
    }
    if (strcmp(t, "json_schema") != 0)
        return BAD(err, "response_format.type",
                   "'response_format.type' is '%.40s'; supported types are text, json_object and "
                   "json_schema",
                   t);
    const cJSON *js = field(f, "json_schema");
    if (!cJSON_IsObject(js))
        return BAD(err, "response_format.json_schema",
                   "'response_format.json_schema' must be an object with a 'schema'");
    const cJSON *name = field(js, "name");
    if (name && !cJSON_IsString(name))
        return BAD(err, "response_format.json_schema.name",
                   "'response_format.json_schema.name' must be a string");
    const cJSON *strict = field(js, "strict");
    if (strict && !cJSON_IsBool(strict))
        return BAD(err, "response_format.json_schema.strict",
                   "'response_format.json_schema.strict' must be true or false");
    const cJSON *schema = field(js, "schema");
    if (!schema)
        return BAD(err, "response_format.json_schema.schema",
                   "'response_format.json_schema.schema' is required");
    if (!cJSON_IsObject(schema) && !cJSON_IsBool(schema))
        return BAD(err, "response_format.json_schema.schema",
                   "'response_format.json_schema.schema' must be a JSON schema (an object)");
    char *text = cJSON_PrintUnformatted(schema);
    if (!text) return oom(err);
    char why[400];
    tk_status st = tk_json_schema_to_grammar(text, "rf-", &r->format_grammar, why, sizeof why);
    free(text);
    if (st == TK_ERR_NOMEM) return oom(err);
    if (st != TK_OK)
        return BAD(err, "response_format.json_schema.schema",
                   "the schema of 'response_format' cannot be enforced: %s", why);
    r->format = SERVER_FORMAT_JSON_SCHEMA;
    return true;
}

/* logit_bias: {"token id": bias in [-100, 100], ...}. The ids are checked
 * against the vocabulary in server_request_bind(). */
static bool parse_logit_bias(const cJSON *root, server_request *r, server_error *err)
{
    const cJSON *f = field(root, "logit_bias");
    if (!f) return true;
    if (!cJSON_IsObject(f))
        return BAD(err, "logit_bias", "'logit_bias' must be an object of token id -> bias");
    int n = cJSON_GetArraySize(f);
    if (n == 0) return true;
    if (n > SERVER_MAX_BIAS)
        return BAD(err, "logit_bias", "'logit_bias' has %d entries; at most %d are allowed", n,
                   SERVER_MAX_BIAS);
    r->bias_ids = malloc((size_t)n * sizeof *r->bias_ids);
    r->bias_values = malloc((size_t)n * sizeof *r->bias_values);
    if (!r->bias_ids || !r->bias_values) return oom(err);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, f)
    {
        const char *k = it->string;
        char *end = NULL;
        long long id = k && *k >= '0' && *k <= '9' ? strtoll(k, &end, 10) : -1;
        if (id < 0 || !end || *end || id > INT32_MAX)
            return BAD(err, "logit_bias", "'logit_bias' key '%.40s' is not a token id", k ? k : "");
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < -100 ||
            it->valuedouble > 100)
            return BAD(err, "logit_bias", "'logit_bias[%lld]' must be a number from -100 to 100",
                       id);
        r->bias_ids[i] = (int32_t)id;
        r->bias_values[i] = (float)it->valuedouble;
        i++;
    }
    r->g.bias_ids = r->bias_ids;
    r->g.bias_values = r->bias_values;
    r->g.n_bias = i;
    return true;
}

/* The sampling fields both endpoints share. */
static bool parse_common(const cJSON *root, server_request *r, server_error *err)
{
    tk_gen_params *g = &r->g;
    /* max_completion_tokens is the newer name; when both are given it wins. */
    if (!get_int(root, "max_tokens", 1, 1 << 30, &g->max_tokens, err)) return false;
    if (!get_int(root, "max_completion_tokens", 1, 1 << 30, &g->max_tokens, err)) return false;
    if (!get_number(root, "temperature", 0, 2, false, &g->temperature, err)) return false;
    if (!get_number(root, "top_p", 0, 1, false, &g->top_p, err)) return false;
    /* The sampler's top-p is in (0, 1]; OpenAI's 0 means "only the most
     * likely token", which the smallest positive value gives. */
    if (g->top_p <= 0) g->top_p = 1e-9;
    if (!get_int(root, "top_k", 0, 1 << 30, &g->top_k, err)) return false;
    if (!get_number(root, "min_p", 0, 0.999999, false, &g->min_p, err)) return false;
    if (!get_number(root, "repeat_penalty", 0.01, 10, false, &g->repeat_penalty, err)) return false;
    if (!get_number(root, "frequency_penalty", -2, 2, false, &g->frequency_penalty, err))
        return false;
    if (!get_number(root, "presence_penalty", -2, 2, false, &g->presence_penalty, err))
        return false;
    if (!get_int(root, "repeat_last_n", 0, 1 << 20, &g->repeat_last_n, err)) return false;
    /* Seeds are whole numbers a double holds exactly; -1 asks for a random one. */
    if (!get_int(root, "seed", -1, 9007199254740992.0, &g->seed, err)) return false;

    int64_t n = 1;
    if (!get_int(root, "n", 1, 1 << 30, &n, err)) return false;
    if (n != 1) return BAD(err, "n", "'n' must be 1: one answer per request is supported");
    if (!get_bool(root, "stream", &r->stream, err)) return false;
    const cJSON *so = field(root, "stream_options");
    if (so) {
        if (!cJSON_IsObject(so))
            return BAD(err, "stream_options", "'stream_options' must be an object");
        if (!get_bool(so, "include_usage", &r->include_usage, err)) {
            snprintf(err->param, sizeof err->param, "stream_options.include_usage");
            return false;
        }
    }
    const cJSON *model = field(root, "model");
    if (model && !cJSON_IsString(model)) return BAD(err, "model", "'model' must be a string");
    return parse_stop(root, r, err) && parse_response_format(root, r, err) &&
           parse_logit_bias(root, r, err);
}

/* Keeps a string the request owns (freed with it). */
static bool own(server_request *r, char *s, server_error *err)
{
    char **o = realloc(r->owned, (size_t)(r->n_owned + 1) * sizeof *o);
    if (!o) {
        free(s);
        return server_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    }
    r->owned = o;
    r->owned[r->n_owned++] = s;
    return true;
}

/* A message's content: a string, null (empty), or an array of text parts
 * joined with newlines. */
static bool parse_content(const cJSON *c, int i, server_request *r, const char **out,
                          server_error *err)
{
    char param[64];
    snprintf(param, sizeof param, "messages[%d].content", i);
    if (!c || cJSON_IsNull(c)) {
        *out = "";
        return true;
    }
    if (cJSON_IsString(c)) {
        *out = c->valuestring;
        return check_text(*out, param, err);
    }
    if (!cJSON_IsArray(c))
        return BAD(err, param, "'%s' must be a string, an array of text parts or null", param);
    size_t total = 0;
    int k = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, c)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsObject(part) || !cJSON_IsString(type))
            return BAD(err, param, "'%s[%d]' must be an object with a 'type'", param, k);
        if (strcmp(type->valuestring, "text") != 0)
            return BAD(err, param, "'%s[%d]' is of type '%.40s'; only 'text' parts are supported",
                       param, k, type->valuestring);
        if (!cJSON_IsString(text))
            return BAD(err, param, "'%s[%d].text' must be a string", param, k);
        total += strlen(text->valuestring) + 1;
        k++;
    }
    char *joined = malloc(total + 1);
    if (!joined) return server_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    size_t len = 0;
    cJSON_ArrayForEach(part, c)
    {
        const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        size_t n = strlen(t);
        if (len) joined[len++] = '\n';
        memcpy(joined + len, t, n);
        len += n;
    }
    joined[len] = '\0';
    if (!own(r, joined, err)) return false;
    *out = joined;
    return check_text(joined, param, err);
}

/* An optional string field of messages[i]. */
static bool message_string(const cJSON *msg, int i, const char *name, const char **out,
                           server_error *err)
{
    const cJSON *f = field(msg, name);
    if (!f) return true;
    char param[64];
    snprintf(param, sizeof param, "messages[%d].%s", i, name);
    if (!cJSON_IsString(f)) return BAD(err, param, "'%s' must be a string", param);
    *out = f->valuestring;
    return check_text(*out, param, err);
}

/* The tool fields of messages[i]: an assistant's tool_calls, a tool
 * result's tool_call_id, anyone's name. A tool result without a name gets
 * the name of the call it answers (some templates print it). */
static bool parse_message_tools(const cJSON *msg, int i, server_request *r, server_error *err)
{
    tk_message *m = &r->msgs[i];
    char param[80];
    if (!message_string(msg, i, "name", &m->name, err)) return false;
    if (!message_string(msg, i, "tool_call_id", &m->tool_call_id, err)) return false;
    bool tool = strcmp(m->role, "tool") == 0;
    if (tool && !m->tool_call_id) {
        snprintf(param, sizeof param, "messages[%d].tool_call_id", i);
        return BAD(err, param, "'%s' is required for a message of role 'tool'", param);
    }
    const cJSON *calls = field(msg, "tool_calls");
    if (calls) {
        snprintf(param, sizeof param, "messages[%d].tool_calls", i);
        if (strcmp(m->role, "assistant") != 0)
            return BAD(err, param, "'%s' is only allowed on assistant messages", param);
        if (!cJSON_IsArray(calls)) return BAD(err, param, "'%s' must be an array", param);
        int k = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, calls)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
            const cJSON *name = fn ? cJSON_GetObjectItemCaseSensitive(fn, "name") : NULL;
            const cJSON *args = fn ? cJSON_GetObjectItemCaseSensitive(fn, "arguments") : NULL;
            if (!cJSON_IsObject(c) || !cJSON_IsString(id) || !cJSON_IsObject(fn) ||
                !cJSON_IsString(name) || !cJSON_IsString(args))
                return BAD(err, param,
                           "'%s[%d]' must be {\"id\": string, \"type\": \"function\", "
                           "\"function\": {\"name\": string, \"arguments\": string}}",
                           param, k);
            if (!check_text(id->valuestring, param, err) ||
                !check_text(name->valuestring, param, err) ||
                !check_text(args->valuestring, param, err))
                return false;
            k++;
        }
        char *json = cJSON_PrintUnformatted(calls);
        if (!json || !own(r, json, err)) return json ? false : oom(err);
        m->tool_calls_json = json;
    }
    if (!tool || m->name) return true;
    for (int j = i - 1; j >= 0 && !m->name; j--) {
        const cJSON *prev = cJSON_GetArrayItem(field((const cJSON *)r->json, "messages"), j);
        const cJSON *pc = field(prev, "tool_calls");
        const cJSON *c;
        cJSON_ArrayForEach(c, pc)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
            if (strcmp(id->valuestring, m->tool_call_id) == 0) {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
                m->name = cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring;
                break;
            }
        }
    }
    return true;
}

/* A tool name as OpenAI allows it: 1 to 64 of a-z A-Z 0-9 _ -. */
static bool tool_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

/* tools, tool_choice, parallel_tool_calls. */
static bool parse_tools(const cJSON *root, server_request *r, server_error *err)
{
    r->parallel_tool_calls = true;
    if (!get_bool(root, "parallel_tool_calls", &r->parallel_tool_calls, err)) return false;
    const cJSON *tools = field(root, "tools");
    if (tools) {
        if (!cJSON_IsArray(tools)) return BAD(err, "tools", "'tools' must be an array");
        int n = cJSON_GetArraySize(tools);
        if (n > SERVER_MAX_TOOLS)
            return BAD(err, "tools", "'tools' has %d entries; at most %d are allowed", n,
                       SERVER_MAX_TOOLS);
        int i = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, tools)
        {
            char param[64];
            snprintf(param, sizeof param, "tools[%d]", i);
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
            if (!cJSON_IsObject(t) || !cJSON_IsString(type))
                return BAD(err, param, "'%s' must be an object with a 'type'", param);
            if (strcmp(type->valuestring, "function") != 0)
                return BAD(err, param,
                           "'%s' is of type '%.40s'; only 'function' tools are supported", param,
                           type->valuestring);
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
            if (!cJSON_IsObject(fn) || !cJSON_IsString(name) || !tool_name_ok(name->valuestring))
                return BAD(err, param,
                           "'%s.function.name' must be 1 to 64 letters, digits, '_' or '-'", param);
            const cJSON *desc = field(fn, "description");
            if (desc && (!cJSON_IsString(desc) || !check_text(desc->valuestring, param, err)))
                return desc && !cJSON_IsString(desc)
                           ? BAD(err, param, "'%s.function.description' must be a string", param)
                           : false;
            const cJSON *params = field(fn, "parameters");
            if (params && !cJSON_IsObject(params))
                return BAD(err, param, "'%s.function.parameters' must be a JSON schema object",
                           param);
            for (const cJSON *u = tools->child; u != t; u = u->next) {
                const cJSON *un = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(u, "function"), "name");
                if (strcmp(un->valuestring, name->valuestring) == 0)
                    return BAD(err, param, "'%s': two tools are named '%s'", param,
                               name->valuestring);
            }
            i++;
        }
        if (n > 0) {
            r->tools = tools;
            r->tools_json = cJSON_PrintUnformatted(tools);
            if (!r->tools_json) return oom(err);
        }
    }
    const cJSON *tc = field(root, "tool_choice");
    if (!tc) return true;
    if (cJSON_IsString(tc)) {
        const char *s = tc->valuestring;
        if (strcmp(s, "auto") == 0)
            r->tool_choice = SERVER_TOOLS_AUTO;
        else if (strcmp(s, "none") == 0)
            r->tool_choice = SERVER_TOOLS_NONE;
        else if (strcmp(s, "required") == 0)
            r->tool_choice = SERVER_TOOLS_REQUIRED;
        else
            return BAD(err, "tool_choice",
                       "'tool_choice' is '%.40s'; use \"none\", \"auto\", \"required\" or "
                       "{\"type\": \"function\", \"function\": {\"name\": ...}}",
                       s);
    } else {
        const cJSON *fn =
            cJSON_IsObject(tc) ? cJSON_GetObjectItemCaseSensitive(tc, "function") : NULL;
        const cJSON *name = fn ? cJSON_GetObjectItemCaseSensitive(fn, "name") : NULL;
        if (!cJSON_IsString(name))
            return BAD(err, "tool_choice",
                       "'tool_choice' must be a string or {\"type\": \"function\", "
                       "\"function\": {\"name\": ...}}");
        r->tool_choice = SERVER_TOOLS_NAMED;
        r->tool_name = name->valuestring;
        bool found = false;
        const cJSON *t;
        cJSON_ArrayForEach(t, (const cJSON *)r->tools)
        {
            const cJSON *tn = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(t, "function"), "name");
            found = found || strcmp(tn->valuestring, r->tool_name) == 0;
        }
        if (!found)
            return BAD(err, "tool_choice", "'tool_choice' names '%.64s', which is not in 'tools'",
                       r->tool_name);
    }
    if (!r->tools && r->tool_choice == SERVER_TOOLS_REQUIRED)
        return BAD(err, "tool_choice", "'tool_choice' is \"required\" but there are no 'tools'");
    return true;
}

static bool parse_messages(const cJSON *root, server_request *r, server_error *err)
{
    const cJSON *m = field(root, "messages");
    if (!m) return BAD(err, "messages", "'messages' is required");
    if (!cJSON_IsArray(m)) return BAD(err, "messages", "'messages' must be an array");
    int n = cJSON_GetArraySize(m);
    if (n == 0) return BAD(err, "messages", "'messages' must not be empty");
    if (n > SERVER_MAX_MESSAGES)
        return BAD(err, "messages", "'messages' has %d entries; at most %d are allowed", n,
                   SERVER_MAX_MESSAGES);
    r->msgs = calloc((size_t)n, sizeof *r->msgs);
    if (!r->msgs) return server_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    const cJSON *msg;
    int i = 0;
    cJSON_ArrayForEach(msg, m)
    {
        char param[64];
        snprintf(param, sizeof param, "messages[%d]", i);
        if (!cJSON_IsObject(msg)) return BAD(err, param, "'%s' must be an object", param);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        snprintf(param, sizeof param, "messages[%d].role", i);
        if (!cJSON_IsString(role)) return BAD(err, param, "'%s' must be a string", param);
        const char *rs = role->valuestring;
        /* "developer" is OpenAI's newer name for the system message. */
        if (strcmp(rs, "developer") == 0) rs = "system";
        if (strcmp(rs, "system") != 0 && strcmp(rs, "user") != 0 && strcmp(rs, "assistant") != 0 &&
            strcmp(rs, "tool") != 0)
            return BAD(err, param,
                       "'%s' is '%.40s'; supported roles are system, developer, user, "
                       "assistant and tool",
                       param, role->valuestring);
        r->msgs[i].role = rs;
        if (!parse_content(cJSON_GetObjectItemCaseSensitive(msg, "content"), i, r,
                           &r->msgs[i].content, err))
            return false;
        if (!parse_message_tools(msg, i, r, err)) return false;
        i++;
    }
    r->n_msgs = n;
    return true;
}

static bool parse_chat(const cJSON *root, server_request *r, server_error *err)
{
    if (!parse_messages(root, r, err) || !parse_tools(root, r, err)) return false;
    /* Fields whose meaning cannot be kept are refused, not ignored. */
    if (field(root, "functions") || field(root, "function_call"))
        return BAD(err, field(root, "functions") ? "functions" : "function_call",
                   "'functions' and 'function_call' are OpenAI's deprecated form of tools; "
                   "send 'tools' and 'tool_choice' instead");
    if (field(root, "audio")) return BAD(err, "audio", "audio output is not supported");
    const cJSON *mod = field(root, "modalities");
    const cJSON *m;
    cJSON_ArrayForEach(m, mod)
    {
        if (!cJSON_IsString(m) || strcmp(m->valuestring, "text") != 0)
            return BAD(err, "modalities", "only the \"text\" modality is supported");
    }
    if (!get_bool(root, "logprobs", &r->g.logprobs, err)) return false;
    int64_t top = 0;
    if (!get_int(root, "top_logprobs", 0, SERVER_MAX_TOP_LOGPROBS, &top, err)) return false;
    if (field(root, "top_logprobs") && !r->g.logprobs)
        return BAD(err, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
    r->g.top_logprobs = (int)top;
    return true;
}

static bool parse_completion(const cJSON *root, server_request *r, server_error *err)
{
    const cJSON *p = field(root, "prompt");
    if (!p) return BAD(err, "prompt", "'prompt' is required");
    if (cJSON_IsArray(p)) {
        if (cJSON_GetArraySize(p) != 1)
            return BAD(err, "prompt", "'prompt' must be one string: one prompt per request");
        p = cJSON_GetArrayItem(p, 0);
        if (!cJSON_IsString(p))
            return BAD(err, "prompt",
                       "'prompt' must be a string (arrays of token ids are not supported)");
    }
    if (!cJSON_IsString(p)) return BAD(err, "prompt", "'prompt' must be a string");
    if (!check_text(p->valuestring, "prompt", err)) return false;
    r->prompt = p->valuestring;
    if (!get_bool(root, "echo", &r->echo, err)) return false;
    /* The legacy endpoint's logprobs is a count of alternatives. */
    int64_t lp = -1;
    if (!get_int(root, "logprobs", 0, SERVER_MAX_TOP_LOGPROBS, &lp, err)) return false;
    if (lp >= 0) {
        r->g.logprobs = true;
        r->g.top_logprobs = (int)lp;
    }
    const cJSON *suffix = field(root, "suffix");
    if (suffix && (!cJSON_IsString(suffix) || suffix->valuestring[0]))
        return BAD(err, "suffix", "'suffix' is not supported");
    int64_t best_of = 1;
    if (!get_int(root, "best_of", 1, 1 << 30, &best_of, err)) return false;
    if (best_of != 1) return BAD(err, "best_of", "'best_of' must be 1");
    return true;
}

bool server_request_parse(server_endpoint endpoint, const char *body, size_t n,
                          const tk_gen_params *defaults, server_request *out, server_error *err)
{
    memset(out, 0, sizeof *out);
    out->endpoint = endpoint;
    out->g = *defaults;
    out->g.stop = out->stops;
    out->g.n_stop = 0;
    out->g.logprobs = false;
    out->g.top_logprobs = 0;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, n, &end, false);
    if (!root) {
        size_t at = end && end >= body && end <= body + n ? (size_t)(end - body) : 0;
        return BAD(err, NULL, "the body is not valid JSON (error near byte %zu of %zu)", at, n);
    }
    out->json = root;
    /* Only whitespace may follow the value. */
    for (const char *p = end; p && p < body + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            server_request_free(out);
            return BAD(err, NULL, "the body is not valid JSON (text after the value at byte %zu)",
                       (size_t)(p - body));
        }
    }
    bool ok;
    if (!cJSON_IsObject(root))
        ok = BAD(err, NULL, "the body must be a JSON object");
    else
        ok = parse_common(root, out, err) &&
             (endpoint == SERVER_CHAT ? parse_chat(root, out, err)
                                      : parse_completion(root, out, err));
    if (!ok) server_request_free(out);
    return ok;
}

void server_request_free(server_request *r)
{
    tk_grammar_free(r->grammar);
    free(r->tools_json);
    free(r->format_grammar);
    free(r->bias_ids);
    free(r->bias_values);
    cJSON_Delete(r->json);
    free(r->msgs);
    for (int i = 0; i < r->n_owned; i++) free(r->owned[i]);
    free(r->owned);
    memset(r, 0, sizeof *r);
}

bool server_request_bind(server_request *r, const char *template_src, int32_t n_vocab,
                         server_error *err)
{
    for (int i = 0; i < r->g.n_bias; i++)
        if (r->bias_ids[i] >= n_vocab)
            return BAD(err, "logit_bias",
                       "'logit_bias' has token id %d; the model's vocabulary is 0..%d",
                       (int)r->bias_ids[i], (int)n_vocab - 1);
    char *tc = NULL;
    if (r->tools && r->tool_choice != SERVER_TOOLS_NONE) {
        bool knows_tools;
        server_tool_format f = server_tools_detect(template_src, &knows_tools);
        if (!knows_tools)
            return BAD(err, "tools",
                       "this model's chat template has no notion of tools, so 'tools' cannot be "
                       "offered to it (use a model whose template takes tools, or "
                       "\"tool_choice\": \"none\")");
        if (f == TOOLFMT_NONE)
            return BAD(err, "tools",
                       "this model's chat template takes tools, but writes tool calls in a format "
                       "tektra does not read (it reads the Hermes/Qwen, Llama 3, Mistral, Granite, "
                       "Qwen3-Coder, gpt-oss and Gemma 4 formats)");
        r->tool_format = f;
        r->g.tools_json = r->tools_json;
        r->g.render_special = true;
        bool forced =
            r->tool_choice == SERVER_TOOLS_REQUIRED || r->tool_choice == SERVER_TOOLS_NAMED;
        if (forced || r->format_grammar) {
            tc = server_tools_grammar(f, r->tools,
                                      r->tool_choice == SERVER_TOOLS_NAMED ? r->tool_name : NULL,
                                      r->parallel_tool_calls, err);
            if (!tc) return false;
        }
        if (forced) {
            /* The answer is the calls: response_format does not apply. */
            free(r->format_grammar);
            r->format_grammar = NULL;
        }
    }
    if (!tc && !r->format_grammar) return true;
    const char *root = tc && r->format_grammar ? "root ::= rf-root | tc-root\n"
                       : tc                    ? "root ::= tc-root\n"
                                               : "root ::= rf-root\n";
    size_t n = strlen(root) + (tc ? strlen(tc) : 0) +
               (r->format_grammar ? strlen(r->format_grammar) : 0) + 1;
    char *text = malloc(n);
    if (!text) {
        free(tc);
        return oom(err);
    }
    snprintf(text, n, "%s%s%s", root, tc ? tc : "", r->format_grammar ? r->format_grammar : "");
    free(tc);
    char why[400];
    tk_status st = tk_grammar_parse(text, &r->grammar, why, sizeof why);
    free(text);
    if (st == TK_ERR_NOMEM) return oom(err);
    if (st != TK_OK)
        return BAD(err, r->format_grammar ? "response_format" : "tools",
                   "the constraint cannot be built: %s", why);
    r->g.grammar = r->grammar;
    return true;
}
