/* The grammar engine: parser errors (line:column), the byte matcher on
 * every construct, the json_object grammar, the token constraint over
 * stories260K's vocabulary with random sampling (every finished output is
 * valid JSON), a grammar that can end only one way, and logit_bias under
 * greedy sampling. */
#include "check.h"

#include "backend/constrain.h"
#include "core/core.h"
#include "tektra/gguf.h"
#include "tektra/grammar.h"
#include "tektra/sampling.h"
#include "tektra/tokenizer.h"

#include <cjson/cJSON.h>
#include <math.h>

/* Whether the grammar accepts exactly `s` (as a complete sentence). */
static int matches(const char *grammar, const char *s)
{
    tk_grammar *g;
    char err[256];
    if (tk_grammar_parse(grammar, &g, err, sizeof err) != TK_OK) {
        fprintf(stderr, "parse: %s\n", err);
        return -1;
    }
    tk_constraint *c;
    int r = -1;
    if (tk_constraint_create(g, NULL, &c) == TK_OK) {
        /* feed one byte at a time: UTF-8 characters are split */
        r = 1;
        for (const char *p = s; *p && r; p++)
            if (tk_constraint_accept_bytes(c, p, 1) != TK_OK) r = 0;
        if (r) r = tk_constraint_complete(c, NULL) ? 1 : 0;
        tk_constraint_free(c);
    }
    tk_grammar_free(g);
    return r;
}

static void parse_error(const char *grammar, const char *want)
{
    tk_grammar *g = NULL;
    char err[256] = "";
    tk_status st = tk_grammar_parse(grammar, &g, err, sizeof err);
    CHECK_MSG(st == TK_ERR_INVALID_ARG, "%s: status %d", grammar, (int)st);
    CHECK_MSG(strstr(err, want) != NULL, "%s: error \"%s\", want \"%s\"", grammar, err, want);
    CHECK(g == NULL);
    tk_grammar_free(g);
}

static void test_parse_errors(void)
{
    parse_error("", "no rule named 'root'");
    parse_error("root ::= \"a", "1:12: unterminated");
    parse_error("root ::= x", "1:10: rule 'x' is used but not defined");
    parse_error("root ::= \"a\"\nroot ::= \"b\"", "2:1: rule 'root' defined twice");
    parse_error("root ::= ( \"a\"", "expected ')'");
    parse_error("root ::= \"a\" )", "unmatched ')'");
    parse_error("root ::= [z-a]", "range out of order");
    parse_error("root ::= \"\\q\"", "unknown escape");
    parse_error("root ::= \"a\"{3,2}", "n < m");
    parse_error("root ::= \"a\"{5000}", "above 1000");
    parse_error("root ::= root \"a\" | \"a\"", "left recursion");
    parse_error("root ::= x \"a\"\nx ::= \"b\"? root", "left recursion");
    parse_error("root ::= (\"a\"?)*", "left recursion");
    parse_error("root ::= ::=", "unexpected ':'");
    /* nesting limit, never a crash */
    char deep[400];
    size_t k = 0;
    k += (size_t)snprintf(deep, sizeof deep, "root ::= ");
    for (int i = 0; i < 100; i++) deep[k++] = '(';
    deep[k] = '\0';
    parse_error(deep, "nesting deeper");
}

static void test_matcher(void)
{
    CHECK_INT(matches("root ::= \"ab\" | \"c\"", "ab"), 1);
    CHECK_INT(matches("root ::= \"ab\" | \"c\"", "c"), 1);
    CHECK_INT(matches("root ::= \"ab\" | \"c\"", "a"), 0);
    CHECK_INT(matches("root ::= \"ab\" | \"c\"", "abc"), 0);
    CHECK_INT(matches("root ::= [a-c]+ # comment\n", "abcab"), 1);
    CHECK_INT(matches("root ::= [a-c]+", ""), 0);
    CHECK_INT(matches("root ::= [a-c]*", ""), 1);
    CHECK_INT(matches("root ::= [^a-c]", "d"), 1);
    CHECK_INT(matches("root ::= [^a-c]", "b"), 0);
    CHECK_INT(matches("root ::= [^a-c]", "\xc3\xa9"), 1); /* é split in bytes */
    CHECK_INT(matches("root ::= [\\u00e0-\\u00ff]", "\xc3\xa9"), 1);
    CHECK_INT(matches("root ::= [\\u00e0-\\u00ff]", "\xc3\x80"), 0);
    CHECK_INT(matches("root ::= \"\\u00e9\\x41\\n\\t\\\"\\\\\"", "\xc3\xa9" "A\n\t\"\\"), 1);
    CHECK_INT(matches("root ::= \"x\"?", ""), 1);
    CHECK_INT(matches("root ::= \"x\"?", "xx"), 0);
    CHECK_INT(matches("root ::= \"ab\"{2}", "abab"), 1);
    CHECK_INT(matches("root ::= \"ab\"{2}", "ab"), 0);
    CHECK_INT(matches("root ::= \"a\"{2,}", "aaaaa"), 1);
    CHECK_INT(matches("root ::= \"a\"{2,}", "a"), 0);
    CHECK_INT(matches("root ::= \"a\"{1,3}", "aaa"), 1);
    CHECK_INT(matches("root ::= \"a\"{1,3}", "aaaa"), 0);
    CHECK_INT(matches("root ::= \"a\"{0,2} \"b\"", "b"), 1);
    CHECK_INT(matches("root ::= ( x | y )+\nx ::= \"x\"\ny ::= \"y\" \"z\"?", "xyzyx"), 1);
    CHECK_INT(matches("root ::= \"(\" root \")\" | \"\"", "((()))"), 1);
    CHECK_INT(matches("root ::= \"(\" root \")\" | \"\"", "(()"), 0);
    CHECK_INT(matches("root ::= .", "\xe2\x82\xac"), 1);
    /* overlong forms, surrogates, stray continuation bytes: never a character */
    CHECK_INT(matches("root ::= [0-9]", "\xc0\xb1"), 0);
    CHECK_INT(matches("root ::= [0-9]", "\xe0\x80\xb2"), 0);
    CHECK_INT(matches("root ::= .", "\xed\xa0\x80"), 0);
    CHECK_INT(matches("root ::= .", "\xf4\x90\x80\x80"), 0);
    CHECK_INT(matches("root ::= .", "\x80"), 0);
    CHECK_INT(matches("root ::= [0-9]", "\xe0"), 0); /* no character of the class starts so */
    CHECK_INT(matches("root ::= \"a\"\n  \"b\"\nother ::= \"c\"", "ab"), 1);

    /* must_end */
    tk_grammar *g;
    CHECK(tk_grammar_parse("root ::= \"a\" \"b\"?", &g, NULL, 0) == TK_OK);
    tk_constraint *c;
    CHECK(tk_constraint_create(g, NULL, &c) == TK_OK);
    bool must_end = true;
    CHECK(!tk_constraint_complete(c, &must_end) && !must_end);
    CHECK(tk_constraint_accept_bytes(c, "a", 1) == TK_OK);
    CHECK(tk_constraint_complete(c, &must_end) && !must_end);
    CHECK(tk_constraint_accept_bytes(c, "c", 1) == TK_ERR_INVALID_ARG); /* unchanged */
    CHECK(tk_constraint_accept_bytes(c, "b", 1) == TK_OK);
    CHECK(tk_constraint_complete(c, &must_end) && must_end);
    tk_constraint_reset(c);
    CHECK(!tk_constraint_complete(c, NULL));
    tk_constraint_free(c);
    tk_grammar_free(g);
}

static int json_matches(const char *s)
{
    char *text;
    if (tk_json_object_grammar(NULL, &text) != TK_OK) return -1;
    int r = matches(text, s);
    free(text);
    return r;
}

static void test_json_object(void)
{
    CHECK_INT(json_matches("{}"), 1);
    CHECK_INT(json_matches("{\"a\": 1, \"b\": [true, null, -0.5e+3], \"c\": {\"d\": \"\\u00e9\\n\"}}"),
              1);
    CHECK_INT(json_matches("{\n  \"a\": \"x\"\n}"), 1);
    CHECK_INT(json_matches("[1]"), 0);
    CHECK_INT(json_matches("{\"a\": 01}"), 0);
    CHECK_INT(json_matches("{\"a\":\"\x01\"}"), 0);
    CHECK_INT(json_matches("{\"a\"    : 1}"), 0); /* whitespace is bounded */
    CHECK_INT(json_matches("{'a': 1}"), 0);
    /* a prefix names every rule */
    char *text;
    CHECK(tk_json_object_grammar("t0-", &text) == TK_OK);
    CHECK(strstr(text, "t0-root ::=") != NULL);
    CHECK(strstr(text, "\nroot ::=") == NULL && strncmp(text, "root", 4) != 0);
    free(text);
}

static int schema_matches(const char *schema, const char *json)
{
    char *text;
    char err[256];
    tk_status st = tk_json_schema_to_grammar(schema, NULL, &text, err, sizeof err);
    if (st != TK_OK) {
        fprintf(stderr, "schema %s: %s\n", schema, err);
        return -1;
    }
    int r = matches(text, json);
    free(text);
    return r;
}

static void schema_refused(const char *schema, tk_status want, const char *word)
{
    char *text = NULL;
    char err[256] = "";
    tk_status st = tk_json_schema_to_grammar(schema, NULL, &text, err, sizeof err);
    CHECK_MSG(st == want, "%s: status %d, want %d", schema, (int)st, (int)want);
    CHECK_MSG(strstr(err, word) != NULL, "%s: error \"%s\" should name \"%s\"", schema, err, word);
    CHECK(text == NULL);
    free(text);
}

#define ACCEPT(schema, json) CHECK_MSG(schema_matches(schema, json) == 1, "%s should accept %s", schema, json)
#define REJECT(schema, json) CHECK_MSG(schema_matches(schema, json) == 0, "%s should reject %s", schema, json)

static void test_schema(void)
{
    const char *o = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
                    "\"b\":{\"type\":\"string\"},\"c\":{\"type\":\"boolean\"}},"
                    "\"required\":[\"a\",\"c\"],\"additionalProperties\":false}";
    ACCEPT(o, "{\"a\": 1, \"b\": \"x\", \"c\": true}");
    ACCEPT(o, "{\"a\": -12, \"c\": false}");
    REJECT(o, "{\"a\": 1.5, \"c\": false}");
    REJECT(o, "{\"a\": 1}");
    REJECT(o, "{\"c\": true, \"a\": 1}"); /* property order is kept */
    REJECT(o, "{\"a\": 1, \"c\": true, \"d\": 1}");
    const char *open = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"null\"}}}";
    ACCEPT(open, "{}");
    ACCEPT(open, "{\"a\": null, \"z\": [1, {}]}");
    ACCEPT(open, "{\"z\": 1}");
    const char *typed = "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"number\"}}";
    ACCEPT(typed, "{\"x\": 1.5e3, \"y\": 2}");
    REJECT(typed, "{\"x\": \"1\"}");
    ACCEPT("{\"type\":[\"string\",\"null\"]}", "null");
    ACCEPT("{\"type\":[\"string\",\"null\"]}", "\"\\u00e9\\n\"");
    REJECT("{\"type\":[\"string\",\"null\"]}", "1");
    ACCEPT("{\"enum\":[\"red\",2,null]}", "\"red\"");
    ACCEPT("{\"enum\":[\"red\",2,null]}", "2");
    REJECT("{\"enum\":[\"red\",2,null]}", "\"blue\"");
    ACCEPT("{\"const\":{\"k\":[1,\"v\"]}}", "{\"k\":[1,\"v\"]}");
    REJECT("{\"const\":\"x\"}", "\"y\"");
    const char *arr = "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}";
    ACCEPT(arr, "[1]");
    ACCEPT(arr, "[1, 2, 3]");
    REJECT(arr, "[]");
    REJECT(arr, "[1, 2, 3, 4]");
    REJECT(arr, "[\"a\"]");
    ACCEPT("{\"type\":\"array\"}", "[]");
    ACCEPT("{\"type\":\"array\"}", "[1, \"a\", [true]]");
    const char *any = "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"boolean\"}]}";
    ACCEPT(any, "7");
    ACCEPT(any, "true");
    REJECT(any, "\"7\"");
    ACCEPT("{\"oneOf\":[{\"const\":1},{\"const\":2}]}", "2");
    ACCEPT("{\"allOf\":[{\"type\":\"boolean\"}]}", "false");
    const char *rec = "{\"$ref\":\"#/$defs/node\",\"$defs\":{\"node\":{\"type\":\"object\","
                      "\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"anyOf\":[{\"$ref\":"
                      "\"#/$defs/node\"},{\"type\":\"null\"}]}},\"required\":[\"v\",\"next\"],"
                      "\"additionalProperties\":false}}}";
    ACCEPT(rec, "{\"v\": 1, \"next\": {\"v\": 2, \"next\": null}}");
    REJECT(rec, "{\"v\": 1, \"next\": {\"v\": 2}}");
    ACCEPT("{\"definitions\":{\"b\":{\"type\":\"boolean\"}},\"$ref\":\"#/definitions/b\"}", "true");
    const char *len = "{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}";
    ACCEPT(len, "\"ab\"");
    ACCEPT(len, "\"\\n\\u00e9\u00e9\"");
    REJECT(len, "\"a\"");
    REJECT(len, "\"abcd\"");
    const char *pat = "{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-\\\\d{3}(x|yz)?$\"}";
    ACCEPT(pat, "\"AB-123\"");
    ACCEPT(pat, "\"AB-123yz\"");
    REJECT(pat, "\"AB-12\"");
    REJECT(pat, "\"ab-123\"");
    REJECT(pat, "\"AB-123y\"");
    ACCEPT("{\"type\":\"string\",\"pattern\":\"ab+\"}", "\"xxabbby\""); /* unanchored */
    ACCEPT("{\"type\":\"string\",\"format\":\"date\"}", "\"2024-02-29\"");
    REJECT("{\"type\":\"string\",\"format\":\"date\"}", "\"2024-13-01\"");
    ACCEPT("{\"type\":\"string\",\"format\":\"time\"}", "\"23:59:59.5Z\"");
    ACCEPT("{\"type\":\"string\",\"format\":\"date-time\"}", "\"2024-01-31T10:00:00+02:00\"");
    REJECT("{\"type\":\"string\",\"format\":\"date-time\"}", "\"2024-01-31 10:00:00Z\"");
    ACCEPT("{\"type\":\"string\",\"format\":\"uuid\"}", "\"123e4567-e89b-12d3-a456-426614174000\"");
    REJECT("{\"type\":\"string\",\"format\":\"uuid\"}", "\"123e4567\"");
    ACCEPT("{\"title\":\"t\",\"description\":\"d\",\"default\":1,\"examples\":[1],\"$schema\":\"x\","
           "\"$id\":\"y\",\"$comment\":\"z\",\"type\":\"integer\"}", "5");
    ACCEPT("true", "{\"x\": [null]}");
    ACCEPT("{}", "\"s\"");

    schema_refused("{\"type\":\"string\",\"pattern\":\"^(?=a)\"}", TK_ERR_UNSUPPORTED, "pattern");
    schema_refused("{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", TK_ERR_UNSUPPORTED, "pattern");
    schema_refused("{\"type\":\"string\",\"format\":\"email\"}", TK_ERR_UNSUPPORTED, "format");
    schema_refused("{\"type\":\"integer\",\"multipleOf\":2}", TK_ERR_UNSUPPORTED, "multipleOf");
    schema_refused("{\"type\":\"integer\",\"minimum\":2}", TK_ERR_UNSUPPORTED, "minimum");
    schema_refused("{\"type\":\"integer\",\"maximum\":2}", TK_ERR_UNSUPPORTED, "maximum");
    schema_refused("{\"type\":\"object\",\"patternProperties\":{}}", TK_ERR_UNSUPPORTED,
                   "patternProperties");
    schema_refused("{\"type\":\"array\",\"uniqueItems\":true}", TK_ERR_UNSUPPORTED, "uniqueItems");
    schema_refused("{\"allOf\":[{},{}]}", TK_ERR_UNSUPPORTED, "allOf");
    schema_refused("{\"$ref\":\"http://x/y\"}", TK_ERR_UNSUPPORTED, "$ref");
    schema_refused("{\"$ref\":\"#/$defs/none\"}", TK_ERR_INVALID_ARG, "not found");
    schema_refused("{\"type\":\"thing\"}", TK_ERR_INVALID_ARG, "thing");
    schema_refused("{not json", TK_ERR_INVALID_ARG, "JSON");

    /* prefixed: two schemas in one grammar */
    char *a, *b;
    CHECK(tk_json_schema_to_grammar("{\"type\":\"integer\"}", "t1-", &a, NULL, 0) == TK_OK);
    CHECK(tk_json_schema_to_grammar("{\"type\":\"boolean\"}", "t2-", &b, NULL, 0) == TK_OK);
    size_t n = strlen(a) + strlen(b) + 64;
    char *both = malloc(n);
    snprintf(both, n, "root ::= t1-root | t2-root\n%s%s", a, b);
    CHECK_INT(matches(both, "12"), 1);
    CHECK_INT(matches(both, "true"), 1);
    CHECK_INT(matches(both, "\"x\""), 0);
    free(both);
    free(a);
    free(b);
}

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* Random sampling through the json_object grammar over a real vocabulary:
 * every finished output parses as a JSON object. */
static void test_random_json(const tk_tokenizer *tok, const char *name, int seeds)
{
    char *text;
    CHECK(tk_json_object_grammar(NULL, &text) == TK_OK);
    tk_grammar *g;
    CHECK(tk_grammar_parse(text, &g, NULL, 0) == TK_OK);
    free(text);
    tk_constraint *c;
    CHECK(tk_constraint_create(g, tok, &c) == TK_OK);
    int32_t nv = tk_tokenizer_n_vocab(tok);
    float *logits = malloc((size_t)nv * sizeof *logits);
    float *scratch = malloc((size_t)nv * sizeof *scratch);
    char *out = malloc(1 << 16);
    int finished = 0, valid = 0;
    tk_gen_params gp = {0};
    for (int seed = 1; seed <= seeds; seed++) {
        tk_sampler_params sp;
        tk_sampler_params_default(&sp);
        sp.temperature = 1.0f;
        sp.top_k = 0;
        sp.top_p = 1.0f;
        sp.min_p = 0.0f;
        sp.seed = (uint64_t)seed;
        tk_sampler *s;
        CHECK(tk_sampler_create(&sp, nv, &s) == TK_OK);
        rng_state = (uint64_t)seed * 977;
        tk_constraint_reset(c);
        tk_constraint *shadow;
        CHECK(tk_constraint_create(g, NULL, &shadow) == TK_OK);
        size_t len = 0;
        bool done = false;
        for (int step = 0; step < 300 && !done; step++) {
            for (int32_t i = 0; i < nv; i++) logits[i] = (float)(rnd() % 1000) / 250.0f;
            int32_t id;
            tk_status st = constrain_sample(s, logits, scratch, nv, &gp, c, &id);
            CHECK_MSG(st == TK_OK, "%s seed %d: %s after \"%.*s\"", name, seed, tk_last_error(),
                      (int)len, out);
            if (st != TK_OK) break;
            if (tk_token_is_eog(tok, id)) {
                CHECK(tk_constraint_complete(c, NULL));
                done = true;
                break;
            }
            CHECK(tk_constraint_accept(c, id) == TK_OK);
            size_t n;
            char piece[512];
            tk_status pst = tk_token_piece(tok, id, false, piece, sizeof piece, &n);
            CHECK_MSG(pst != TK_OK || tk_constraint_accept_bytes(shadow, piece, n) == TK_OK,
                      "%s seed %d: token %d (%s) refused by the byte matcher after \"%.*s\"",
                      name, seed, (int)id, tk_token_text(tok, id, NULL), (int)len, out);
            if (pst == TK_OK && len + n < (1 << 16)) {
                memcpy(out + len, piece, n);
                len += n;
            }
            tk_constraint_complete(c, &done);
        }
        tk_sampler_free(s);
        tk_constraint_free(shadow);
        if (!done) continue;
        finished++;
        out[len] = '\0';
        cJSON *j = cJSON_ParseWithLength(out, len);
        bool ok = j && cJSON_IsObject(j);
        valid += ok;
        CHECK_MSG(ok, "%s seed %d: not a JSON object: %s", name, seed, out);
        cJSON_Delete(j);
    }
    printf("%s: %d of %d runs finished, %d valid\n", name, finished, seeds, valid);
    CHECK(finished >= seeds / 4);
    free(out);
    free(logits);
    free(scratch);
    tk_constraint_free(c);
    tk_grammar_free(g);
}

/* One way to end: the mask forces it whatever the logits say. */
static void test_forced(const tk_tokenizer *tok)
{
    tk_grammar *g;
    CHECK(tk_grammar_parse("root ::= \"Once upon a time\"", &g, NULL, 0) == TK_OK);
    tk_constraint *c;
    CHECK(tk_constraint_create(g, tok, &c) == TK_OK);
    int32_t nv = tk_tokenizer_n_vocab(tok);
    float *logits = malloc((size_t)nv * sizeof *logits);
    float *scratch = malloc((size_t)nv * sizeof *scratch);
    tk_sampler_params sp;
    tk_sampler_params_default(&sp);
    sp.temperature = 0.0f;
    tk_sampler *s;
    CHECK(tk_sampler_create(&sp, nv, &s) == TK_OK);
    tk_gen_params gp = {0};
    char out[256];
    size_t len = 0;
    bool done = false;
    rng_state = 5;
    for (int step = 0; step < 64 && !done; step++) {
        for (int32_t i = 0; i < nv; i++) logits[i] = (float)(rnd() % 1000);
        int32_t id;
        CHECK(constrain_sample(s, logits, scratch, nv, &gp, c, &id) == TK_OK);
        CHECK(tk_constraint_accept(c, id) == TK_OK);
        size_t n;
        char piece[256];
        CHECK(tk_token_piece(tok, id, false, piece, sizeof piece, &n) == TK_OK);
        if (len + n < sizeof out) {
            memcpy(out + len, piece, n);
            len += n;
        }
        tk_constraint_complete(c, &done);
    }
    out[len] = '\0';
    CHECK(done);
    CHECK_STR(out, "Once upon a time");
    /* complete: only end-of-generation tokens remain */
    for (int32_t i = 0; i < nv; i++) logits[i] = 0;
    int32_t n_allowed = tk_constraint_apply(c, logits);
    int32_t n_eog = 0;
    for (int32_t i = 0; i < nv; i++) n_eog += tk_token_is_eog(tok, i);
    CHECK_INT(n_allowed, n_eog);
    tk_sampler_free(s);
    free(logits);
    free(scratch);
    tk_constraint_free(c);
    tk_grammar_free(g);
}

static void test_bias(int32_t nv)
{
    float *logits = calloc((size_t)nv, sizeof *logits);
    float *scratch = malloc((size_t)nv * sizeof *scratch);
    tk_sampler_params sp;
    tk_sampler_params_default(&sp);
    sp.temperature = 0.0f;
    tk_sampler *s;
    CHECK(tk_sampler_create(&sp, nv, &s) == TK_OK);
    logits[7] = 5.0f;
    logits[9] = 4.0f;
    int32_t ids[2] = {7, 11};
    float vals[2] = {-100.0f, 0.0f};
    tk_gen_params gp = {.bias_ids = ids, .bias_values = vals, .n_bias = 2};
    int32_t id;
    CHECK(constrain_check_bias(&gp, nv) == TK_OK);
    CHECK(constrain_sample(s, logits, scratch, nv, &gp, NULL, &id) == TK_OK);
    CHECK_INT(id, 9); /* 7 banned */
    vals[1] = 100.0f;
    CHECK(constrain_sample(s, logits, scratch, nv, &gp, NULL, &id) == TK_OK);
    CHECK_INT(id, 11); /* forced */
    CHECK_INT(logits[7], 5); /* the caller's logits are untouched */
    ids[1] = nv;
    CHECK(constrain_check_bias(&gp, nv) == TK_ERR_INVALID_ARG);
    ids[1] = -1;
    CHECK(constrain_check_bias(&gp, nv) == TK_ERR_INVALID_ARG);
    tk_sampler_free(s);
    free(logits);
    free(scratch);
}

static tk_tokenizer *load_tok(const char *path)
{
    tk_gguf *gg;
    if (tk_gguf_open(path, &gg) != TK_OK) return NULL;
    tk_tokenizer *t = NULL;
    if (tk_tokenizer_load(gg, &t) != TK_OK) t = NULL;
    tk_gguf_close(gg);
    return t;
}

int main(void)
{
    test_parse_errors();
    test_matcher();
    test_json_object();
    test_schema();
    tk_tokenizer *tok = load_tok(shared_path("models/stories260K.gguf"));
    CHECK_MSG(tok != NULL, "stories260K: %s", tk_last_error());
    if (tok) {
        test_random_json(tok, "stories260K", 40);
        test_forced(tok);
        test_bias(tk_tokenizer_n_vocab(tok));
        tk_tokenizer_free(tok);
    }
    /* the synthetic Qwen2.5 vocabulary, when the test driver made one */
    const char *q = getenv("TK_GRAMMAR_QWEN");
    if (q && *q) {
        tok = load_tok(q);
        CHECK_MSG(tok != NULL, "%s: %s", q, tk_last_error());
        if (tok) {
            test_random_json(tok, "qwen2.5", 20);
            test_forced(tok);
            tk_tokenizer_free(tok);
        }
    }
    return check_summary();
}
