/* Tool calls: which format a chat template's model writes them in, the
 * grammar that makes a model write one (tool_choice "required" or a named
 * function), and parsing them out of an answer, whole or while it streams.
 *
 * The formats are those of the model families' own chat templates: the
 * template shows the model calls written this way in past turns, and the
 * model was trained to write them so. */
#include "core/core.h"
#include "server/server.h"

#include "tektra/grammar.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct format_info {
    const char *name;
    const char *marker; /* the text that starts a call anywhere in an answer */
} format_info;

static const format_info formats[] = {
    [TOOLFMT_NONE] = {"none", NULL},
    [TOOLFMT_HERMES] = {"hermes", "<tool_call>"},
    [TOOLFMT_LLAMA3] = {"llama3", "<|python_tag|>"},
    [TOOLFMT_MISTRAL] = {"mistral", "[TOOL_CALLS]"},
    [TOOLFMT_MISTRAL_ARGS] = {"mistral-args", "[TOOL_CALLS]"},
    [TOOLFMT_GRANITE] = {"granite", "<|tool_call|>"},
    [TOOLFMT_QWEN3_CODER] = {"qwen3-coder", "<tool_call>"},
    [TOOLFMT_HARMONY] = {"harmony", "to=functions."},
    [TOOLFMT_GEMMA4] = {"gemma4", "<|tool_call>call:"},
};

const char *server_tools_format_name(server_tool_format f)
{
    return formats[f].name;
}

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Whether the template uses the variable `tools` (as a whole word). */
static bool uses_tools(const char *t)
{
    for (const char *p = strstr(t, "tools"); p; p = strstr(p + 1, "tools"))
        if ((p == t || !is_word_char(p[-1])) && !is_word_char(p[5])) return true;
    return false;
}

server_tool_format server_tools_detect(const char *t, bool *knows_tools)
{
    *knows_tools = t && uses_tools(t);
    if (!t) return TOOLFMT_NONE;
    if (strstr(t, "<tool_call>"))
        return strstr(t, "<function=") ? TOOLFMT_QWEN3_CODER : TOOLFMT_HERMES;
    if (strstr(t, "[TOOL_CALLS]"))
        return strstr(t, "[ARGS]") ? TOOLFMT_MISTRAL_ARGS : TOOLFMT_MISTRAL;
    if (strstr(t, "<|tool_call|>")) return TOOLFMT_GRANITE;
    if (strstr(t, "to=functions.") || strstr(t, "\"functions.\" + tool_call.name"))
        return TOOLFMT_HARMONY;
    if (strstr(t, "<|tool_call>call:")) return TOOLFMT_GEMMA4;
    if (strstr(t, "<|python_tag|>") ||
        (strstr(t, "\"parameters\"") && strstr(t, "<|start_header_id|>")))
        return TOOLFMT_LLAMA3;
    return TOOLFMT_NONE;
}

/* ---- grammar ---------------------------------------------------------------- */

typedef struct gbuf {
    char *s;
    size_t len, cap;
    bool oom;
} gbuf;

static void gputs(gbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

static void gprintf(gbuf *b, const char *fmt, ...) TK_PRINTF(2, 3);
static void gprintf(gbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    gputs(b, tmp);
}

static const char *tool_name(const cJSON *tool)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    return cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring;
}

/* The rules t<i>-root of the arguments of tools[i]: its parameters'
 * schema, or {} when it has none. */
static bool args_rules(gbuf *b, const cJSON *tool, int i, server_error *err)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    char prefix[16];
    snprintf(prefix, sizeof prefix, "t%d-", i);
    if (!cJSON_IsObject(params)) {
        gprintf(b, "%sroot ::= \"{}\"\n", prefix);
        return true;
    }
    char *schema = cJSON_PrintUnformatted(params);
    if (!schema) return server_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    char *rules = NULL, why[400];
    tk_status st = tk_json_schema_to_grammar(schema, prefix, &rules, why, sizeof why);
    free(schema);
    if (st != TK_OK) {
        if (st == TK_ERR_NOMEM)
            return server_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
        char param[64];
        snprintf(param, sizeof param, "tools[%d].function.parameters", i);
        return server_error_set(err, 400, "invalid_request_error", NULL, param,
                                "the parameters of tool '%s' cannot be enforced for tool_choice "
                                "\"required\": %s",
                                tool_name(tool), why);
    }
    gputs(b, rules);
    free(rules);
    return true;
}

/* Qwen3-Coder writes arguments as <parameter=NAME>\nVALUE\n</parameter>
 * blocks, in the schema's order, required ones always. A forced VALUE is
 * JSON of the property's schema (a string in quotes), which the parser
 * reads back as that value. */
static bool coder_args_rules(gbuf *b, const cJSON *tool, int i, server_error *err)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(params, "properties");
    const cJSON *required = cJSON_GetObjectItemCaseSensitive(params, "required");
    gprintf(b, "t%d-root ::= \"\"", i);
    int k = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, props)
    {
        bool req = false;
        const cJSON *r;
        cJSON_ArrayForEach(r, required) req =
            req || (cJSON_IsString(r) && strcmp(r->valuestring, p->string) == 0);
        gprintf(b, " t%dp%d-param%s", i, k++, req ? "" : "?");
    }
    gputs(b, "\n");
    k = 0;
    cJSON_ArrayForEach(p, props)
    {
        gprintf(b, "t%dp%d-param ::= \"<parameter=", i, k);
        for (const char *c = p->string; *c; c++) {
            char one[3] = {*c, 0, 0};
            if (*c == '"' || *c == '\\') {
                one[0] = '\\';
                one[1] = *c;
            } else if ((unsigned char)*c < 0x20) {
                continue;
            }
            gputs(b, one);
        }
        gprintf(b, ">\\n\" t%dp%d-root \"\\n</parameter>\\n\"\n", i, k);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "t%dp%d-", i, k);
        char *schema = cJSON_PrintUnformatted(p);
        char *rules = NULL, why[400];
        tk_status st = schema ? tk_json_schema_to_grammar(schema, prefix, &rules, why, sizeof why)
                              : TK_ERR_NOMEM;
        free(schema);
        if (st != TK_OK) {
            if (st == TK_ERR_NOMEM)
                return server_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
            char param[64];
            snprintf(param, sizeof param, "tools[%d].function.parameters", i);
            return server_error_set(err, 400, "invalid_request_error", NULL, param,
                                    "the parameter '%.64s' of tool '%s' cannot be enforced for "
                                    "tool_choice \"required\": %s",
                                    p->string, tool_name(tool), why);
        }
        gputs(b, rules);
        free(rules);
        k++;
    }
    return true;
}

char *server_tools_grammar(server_tool_format f, const void *tools_v, const char *only_name,
                           bool parallel, server_error *err)
{
    const cJSON *tools = tools_v;
    if (f == TOOLFMT_GEMMA4) {
        server_error_set(err, 400, "invalid_request_error", NULL, "tool_choice",
                         "this model writes tool arguments in Gemma 4's own notation, which "
                         "tektra reads but cannot enforce: use \"tool_choice\": \"auto\"");
        return NULL;
    }
    gbuf b = {0};
    /* tc-fn: one of the allowed functions, its name then its arguments, in
     * the format's words. */
    gputs(&b, "tc-fn ::= ");
    int i = 0, n = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const char *name = tool_name(t);
        if (!only_name || strcmp(only_name, name) == 0) {
            /* Names are letters, digits, '_' and '-' (checked when the
             * request was read), so they need no escaping. */
            const char *sep = n++ ? " | " : "";
            switch (f) {
            case TOOLFMT_HERMES:
            case TOOLFMT_MISTRAL:
            case TOOLFMT_GRANITE:
                gprintf(&b, "%s\"\\\"%s\\\", \\\"arguments\\\": \" t%d-root", sep, name, i);
                break;
            case TOOLFMT_LLAMA3:
                gprintf(&b, "%s\"\\\"%s\\\", \\\"parameters\\\": \" t%d-root", sep, name, i);
                break;
            case TOOLFMT_MISTRAL_ARGS:
                gprintf(&b, "%s\"%s[ARGS]\" t%d-root", sep, name, i);
                break;
            case TOOLFMT_QWEN3_CODER:
                gprintf(&b, "%s\"<function=%s>\\n\" t%d-root \"</function>\\n\"", sep, name, i);
                break;
            case TOOLFMT_HARMONY:
                gprintf(&b, "%s\"%s <|constrain|>json<|message|>\" t%d-root", sep, name, i);
                break;
            case TOOLFMT_GEMMA4:
            case TOOLFMT_NONE:
                break;
            }
        }
        i++;
    }
    gputs(&b, "\n");
    i = 0;
    cJSON_ArrayForEach(t, tools)
    {
        if (!only_name || strcmp(only_name, tool_name(t)) == 0) {
            bool ok = f == TOOLFMT_QWEN3_CODER ? coder_args_rules(&b, t, i, err)
                                               : args_rules(&b, t, i, err);
            if (!ok) {
                free(b.s);
                return NULL;
            }
        }
        i++;
    }
    const char *more = parallel ? "*" : "";
    switch (f) {
    case TOOLFMT_HERMES:
        gprintf(&b,
                "tc-call ::= \"<tool_call>\\n{\\\"name\\\": \" tc-fn \"}\\n</tool_call>\"\n"
                "tc-root ::= tc-call ( \"\\n\" tc-call )%s\n",
                more);
        break;
    case TOOLFMT_QWEN3_CODER:
        gprintf(&b,
                "tc-call ::= \"<tool_call>\\n\" tc-fn \"</tool_call>\"\n"
                "tc-root ::= tc-call ( \"\\n\" tc-call )%s\n",
                more);
        break;
    case TOOLFMT_LLAMA3:
        /* Llama 3 writes one call per answer. */
        gputs(&b, "tc-root ::= \"{\\\"name\\\": \" tc-fn \"}\"\n");
        break;
    case TOOLFMT_MISTRAL:
    case TOOLFMT_GRANITE:
        gprintf(&b,
                "tc-call ::= \"{\\\"name\\\": \" tc-fn \"}\"\n"
                "tc-root ::= \"%s[\" tc-call ( \", \" tc-call )%s \"]\"\n",
                formats[f].marker, more);
        break;
    case TOOLFMT_MISTRAL_ARGS:
        gprintf(&b, "tc-root ::= ( \"[TOOL_CALLS]\" tc-fn )%s\n", parallel ? "+" : "");
        break;
    case TOOLFMT_HARMONY:
        /* After the template's "<|start|>assistant": one call on the
         * commentary channel, ended by <|call|>. */
        gputs(&b, "tc-root ::= \"<|channel|>commentary to=functions.\" tc-fn\n");
        break;
    case TOOLFMT_GEMMA4:
    case TOOLFMT_NONE:
        break;
    }
    if (b.oom) {
        free(b.s);
        server_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
        return NULL;
    }
    return b.s;
}

/* ---- parsing answers ------------------------------------------------------ */

static const char *find(const char *s, size_t len, const char *what)
{
    size_t n = strlen(what);
    if (n > len) return NULL;
    for (size_t i = 0; i + n <= len; i++)
        if (s[i] == what[0] && memcmp(s + i, what, n) == 0) return s + i;
    return NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && is_space(*p)) p++;
    return p;
}

static bool starts(const char *p, const char *end, const char *what)
{
    size_t n = strlen(what);
    return (size_t)(end - p) >= n && memcmp(p, what, n) == 0;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

typedef struct parse_state {
    server_tool_format f;
    uint64_t seed;
    server_tool_calls *out;
    bool failed;
} parse_state;

/* Adds a call: `args` is an object, or a string holding one (NULL = {}).
 * `id` is kept when the model wrote a usable one. */
static void add_call(parse_state *ps, const char *name, size_t name_len, const cJSON *args,
                     const char *id)
{
    if (ps->failed) return;
    cJSON *parsed = NULL;
    if (cJSON_IsString(args)) {
        parsed = cJSON_Parse(args->valuestring);
        args = parsed;
    }
    if (args && !cJSON_IsObject(args)) {
        cJSON_Delete(parsed);
        ps->failed = true;
        return;
    }
    server_tool_calls *o = ps->out;
    server_tool_call *v = realloc(o->v, (size_t)(o->n + 1) * sizeof *v);
    if (!v) {
        cJSON_Delete(parsed);
        ps->failed = true;
        return;
    }
    o->v = v;
    server_tool_call *c = &o->v[o->n++];
    memset(c, 0, sizeof *c);
    c->name = core_strndup(name, name_len);
    c->arguments = args ? cJSON_PrintUnformatted(args) : strdup("{}");
    cJSON_Delete(parsed);
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    bool nine = ps->f == TOOLFMT_MISTRAL || ps->f == TOOLFMT_MISTRAL_ARGS;
    if (id) {
        c->id = strdup(id);
    } else {
        char buf[40];
        size_t k = 0;
        if (!nine) k = (size_t)snprintf(buf, sizeof buf, "call_");
        uint64_t r = mix(ps->seed + (uint64_t)o->n);
        for (int j = 0; j < (nine ? 9 : 24); j++) {
            if (j % 8 == 0) r = mix(r);
            buf[k++] = alnum[(r >> (8 * (j % 8))) % 62];
        }
        buf[k] = '\0';
        c->id = strdup(buf);
    }
    if (!c->name || !c->arguments || !c->id) ps->failed = true;
}

/* A JSON value at the start of [p, end); *next is where it ends. */
static cJSON *json_at(const char *p, const char *end, const char **next)
{
    const char *stop = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &stop, false);
    *next = v ? stop : p;
    return v;
}

/* A call object {"name": ..., "arguments"/"parameters": ...[, "id": ...]}. */
static void add_call_object(parse_state *ps, const cJSON *obj)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "arguments");
    if (!args) args = cJSON_GetObjectItemCaseSensitive(obj, "parameters");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (!cJSON_IsObject(obj) || !cJSON_IsString(name) || !name->valuestring[0]) {
        ps->failed = true;
        return;
    }
    add_call(ps, name->valuestring, strlen(name->valuestring), args,
             cJSON_IsString(id) && id->valuestring[0] ? id->valuestring : NULL);
}

/* The value of one Qwen3-Coder parameter: JSON when it is JSON, else text. */
static cJSON *coder_value(const char *p, const char *end)
{
    if (p < end && *p == '\n') p++;
    if (end > p && end[-1] == '\n') end--;
    const char *next = p;
    cJSON *v = json_at(p, end, &next);
    if (v && skip_space(next, end) == end) return v;
    cJSON_Delete(v);
    char *s = core_strndup(p, (size_t)(end - p));
    v = s ? cJSON_CreateString(s) : NULL;
    free(s);
    return v;
}

/* <function=NAME>\n<parameter=P>\nV\n</parameter>...</function> in [p, end). */
static void coder_call(parse_state *ps, const char *p, const char *end)
{
    p = skip_space(p, end);
    const char *gt;
    if (!starts(p, end, "<function=") || !(gt = find(p, (size_t)(end - p), ">"))) {
        ps->failed = true;
        return;
    }
    const char *name = p + 10;
    size_t name_len = (size_t)(gt - name);
    cJSON *args = cJSON_CreateObject();
    p = gt + 1;
    for (;;) {
        p = skip_space(p, end);
        if (!starts(p, end, "<parameter=")) break;
        const char *pgt = find(p, (size_t)(end - p), ">");
        const char *close = pgt ? find(pgt, (size_t)(end - pgt), "</parameter>") : NULL;
        if (!close) break;
        char *key = core_strndup(p + 11, (size_t)(pgt - p - 11));
        cJSON *v = coder_value(pgt + 1, close);
        if (key && v)
            cJSON_AddItemToObject(args, key, v);
        else
            cJSON_Delete(v);
        free(key);
        p = close + 12;
    }
    if (!starts(p, end, "</function>")) ps->failed = true;
    if (args) add_call(ps, name, name_len, args, NULL);
    cJSON_Delete(args);
    if (!args) ps->failed = true;
}

/* A value in Gemma 4's notation: <|"|>text<|"|>, {key:value,...} (keys
 * bare or quoted), [value,...], or a bare number, true, false, null. */
static cJSON *gemma_value(const char **pp, const char *end, int depth)
{
    static const char q[] = "<|\"|>";
    const char *p = skip_space(*pp, end);
    cJSON *v = NULL;
    if (depth > 32 || p >= end) return NULL;
    if (starts(p, end, q)) {
        const char *close = find(p + 5, (size_t)(end - p - 5), q);
        if (!close) return NULL;
        char *s = core_strndup(p + 5, (size_t)(close - p - 5));
        v = s ? cJSON_CreateString(s) : NULL;
        free(s);
        p = close + 5;
    } else if (*p == '{' || *p == '[') {
        bool obj = *p == '{';
        v = obj ? cJSON_CreateObject() : cJSON_CreateArray();
        p = skip_space(p + 1, end);
        if (p < end && *p == (obj ? '}' : ']')) {
            *pp = p + 1;
            return v;
        }
        while (v) {
            char *key = NULL;
            if (obj) {
                p = skip_space(p, end);
                const char *ks = p, *ke;
                if (starts(p, end, q)) {
                    ks = p + 5;
                    ke = find(ks, (size_t)(end - ks), q);
                    p = ke ? ke + 5 : end;
                } else {
                    ke = p;
                    while (ke < end && *ke != ':' && *ke != '}' && *ke != ',') ke++;
                    p = ke;
                }
                if (!ke || p >= end || *p != ':') break;
                key = core_strndup(ks, (size_t)(ke - ks));
                p++;
            }
            cJSON *item = gemma_value(&p, end, depth + 1);
            if (!item || (obj && !key)) {
                cJSON_Delete(item);
                free(key);
                break;
            }
            if (obj)
                cJSON_AddItemToObject(v, key, item);
            else
                cJSON_AddItemToArray(v, item);
            free(key);
            p = skip_space(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == (obj ? '}' : ']')) {
                *pp = p + 1;
                return v;
            }
            break;
        }
        cJSON_Delete(v);
        return NULL;
    } else {
        const char *e = p;
        while (e < end && *e != ',' && *e != '}' && *e != ']') e++;
        char *s = core_strndup(p, (size_t)(e - p));
        v = s ? cJSON_Parse(s) : NULL;
        if (!v && s) v = cJSON_CreateString(s);
        free(s);
        p = e;
    }
    *pp = p;
    return v;
}

/* Reads calls from `p` (at a marker, or at the JSON of a Llama 3 call);
 * returns where they end. */
static const char *parse_calls(parse_state *ps, const char *p, const char *end)
{
    const char *marker = formats[ps->f].marker;
    size_t mlen = strlen(marker);
    const char *next = p;
    switch (ps->f) {
    case TOOLFMT_HERMES:
    case TOOLFMT_QWEN3_CODER:
        while (!ps->failed && starts(p, end, marker)) {
            p += mlen;
            const char *close = find(p, (size_t)(end - p), "</tool_call>");
            const char *stop = close ? close : end;
            if (ps->f == TOOLFMT_QWEN3_CODER) {
                coder_call(ps, p, stop);
            } else {
                cJSON *obj = json_at(skip_space(p, stop), stop, &next);
                if (!obj || skip_space(next, stop) != stop) ps->failed = true;
                add_call_object(ps, obj);
                cJSON_Delete(obj);
            }
            p = close ? close + 12 : end;
            const char *q = skip_space(p, end);
            if (starts(q, end, marker)) p = q;
        }
        return p;
    case TOOLFMT_LLAMA3:
        if (starts(p, end, marker)) p = skip_space(p + mlen, end);
        for (;;) {
            cJSON *obj = json_at(p, end, &next);
            if (!obj) {
                ps->failed = ps->out->n == 0;
                return p;
            }
            add_call_object(ps, obj);
            cJSON_Delete(obj);
            p = next;
            const char *q = skip_space(p, end);
            if (q < end && *q == ';') q = skip_space(q + 1, end);
            if (q == end || *q != '{' || ps->failed) return p;
            p = q;
        }
    case TOOLFMT_MISTRAL:
    case TOOLFMT_GRANITE: {
        cJSON *arr = json_at(skip_space(p + mlen, end), end, &next);
        if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) ps->failed = true;
        const cJSON *it;
        cJSON_ArrayForEach(it, arr) add_call_object(ps, it);
        cJSON_Delete(arr);
        return next;
    }
    case TOOLFMT_MISTRAL_ARGS:
        while (!ps->failed && starts(p, end, marker)) {
            p += mlen;
            const char *a = find(p, (size_t)(end - p), "[ARGS]");
            cJSON *args = a ? json_at(a + 6, end, &next) : NULL;
            if (!a || !cJSON_IsObject(args) || a == p) {
                cJSON_Delete(args);
                ps->failed = true;
                return p;
            }
            add_call(ps, p, (size_t)(a - p), args, NULL);
            cJSON_Delete(args);
            p = next;
            const char *q = skip_space(p, end);
            if (starts(q, end, marker)) p = q;
        }
        return p;
    case TOOLFMT_HARMONY: {
        /* to=functions.NAME[ <|constrain|>json]<|message|>{...} */
        const char *name = p + mlen, *ne = name;
        while (ne < end && (is_word_char(*ne) || *ne == '-' || *ne == '.')) ne++;
        const char *msg = find(ne, (size_t)(end - ne), "<|message|>");
        cJSON *args = msg ? json_at(skip_space(msg + 11, end), end, &next) : NULL;
        if (ne == name || !cJSON_IsObject(args)) {
            cJSON_Delete(args);
            ps->failed = true;
            return p;
        }
        add_call(ps, name, (size_t)(ne - name), args, NULL);
        cJSON_Delete(args);
        return next;
    }
    case TOOLFMT_GEMMA4:
        while (!ps->failed && starts(p, end, marker)) {
            const char *name = p + mlen, *ne = name;
            while (ne < end && *ne != '{') ne++;
            p = ne;
            cJSON *args = ne > name && ne < end ? gemma_value(&p, end, 0) : NULL;
            if (!cJSON_IsObject(args) || !starts(p, end, "<tool_call|>")) {
                cJSON_Delete(args);
                ps->failed = true;
                return p;
            }
            add_call(ps, name, (size_t)(ne - name), args, NULL);
            cJSON_Delete(args);
            p += 12;
            const char *q = skip_space(p, end);
            if (starts(q, end, marker)) p = q;
        }
        return p;
    case TOOLFMT_NONE:
        break;
    }
    ps->failed = true;
    return p;
}

void server_tool_calls_free(server_tool_calls *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->v[i].id);
        free(c->v[i].name);
        free(c->v[i].arguments);
    }
    free(c->v);
    free(c->content);
    memset(c, 0, sizeof *c);
}

/* Where the first call starts in [text, end), or NULL. */
static const char *call_start(server_tool_format f, const char *text, const char *end)
{
    const char *m = find(text, (size_t)(end - text), formats[f].marker);
    if (f == TOOLFMT_LLAMA3 && !m) {
        const char *p = skip_space(text, end);
        if (p < end && *p == '{') return p;
    }
    return m;
}

bool server_tools_parse(server_tool_format f, const char *text, size_t len, uint64_t seed,
                        server_tool_calls *out)
{
    memset(out, 0, sizeof *out);
    if (f == TOOLFMT_NONE) return false;
    const char *end = text + len;
    const char *start = call_start(f, text, end);
    if (!start) return false;
    parse_state ps = {f, seed, out, false};
    const char *after = parse_calls(&ps, start, end);
    if (ps.failed || out->n == 0) {
        server_tool_calls_free(out);
        return false;
    }
    /* The content: the text before the calls and any after them, without
     * the whitespace that joined them. */
    const char *b_end = start;
    while (b_end > text && is_space(b_end[-1])) b_end--;
    const char *a = skip_space(after, end);
    size_t nb = (size_t)(b_end - text), na = (size_t)(end - a);
    out->content = malloc(nb + na + 2);
    if (!out->content) {
        server_tool_calls_free(out);
        return false;
    }
    memcpy(out->content, text, nb);
    size_t k = nb;
    if (nb && na) out->content[k++] = '\n';
    memcpy(out->content + k, a, na);
    out->content[k + na] = '\0';
    return true;
}

size_t server_tools_hold_from(server_tool_format f, const char *text, size_t len, bool *started)
{
    *started = false;
    if (f == TOOLFMT_NONE) return len;
    const char *end = text + len;
    if (f == TOOLFMT_LLAMA3) {
        /* A Llama 3 call is a JSON object that is the whole answer: hold
         * the answer while it may be one. */
        const char *p = skip_space(text, end);
        if (p == end) return 0;
        if (*p == '{') {
            *started = true;
            return 0;
        }
    }
    const char *marker = formats[f].marker;
    const char *m = find(text, len, marker);
    if (m) {
        *started = true;
        return (size_t)(m - text);
    }
    /* The end of the text may be the first part of a marker. */
    size_t mlen = strlen(marker);
    for (size_t k = mlen - 1 < len ? mlen - 1 : len; k > 0; k--)
        if (memcmp(end - k, marker, k) == 0) return len - k;
    return len;
}
