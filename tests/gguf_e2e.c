/* End-to-end test of `tektra info`: the real binary on the real model, in
 * text and JSON, with --tensors, on a malformed file and with bad usage. */
#include "check.h"

#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[1 << 20];

/* Runs `tektra <args>` with stderr merged into stdout; returns the exit code
 * (-1 when it did not exit normally) and leaves the output in `out`. */
static int run(const char *args)
{
    const char *bin = getenv("TK_BIN");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s/tektra' %s 2>&1", bin ? bin : ".", args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- a strict little JSON validator ------------------------------------ */

static const char *json_value(const char *s, int depth);

static const char *json_ws(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    return s;
}

static const char *json_string(const char *s)
{
    if (*s != '"') return NULL;
    for (s++; *s != '"'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20) return NULL;
        if (c == '\\') {
            s++;
            if (*s == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) return NULL;
                s += 4;
            } else if (!*s || !strchr("\"\\/bfnrt", *s)) {
                return NULL;
            }
        }
    }
    return s + 1;
}

static const char *json_number(const char *s)
{
    const char *start = s;
    if (*s == '-') s++;
    if (*s < '0' || *s > '9') return NULL;
    while ((*s >= '0' && *s <= '9') || *s == '.' || *s == 'e' || *s == 'E' || *s == '+' ||
           *s == '-')
        s++;
    return s > start ? s : NULL;
}

static const char *json_value(const char *s, int depth)
{
    if (depth > 64) return NULL;
    s = json_ws(s);
    if (*s == '{' || *s == '[') {
        char close = *s == '{' ? '}' : ']';
        bool obj = *s == '{';
        s = json_ws(s + 1);
        if (*s == close) return s + 1;
        for (;;) {
            if (obj) {
                s = json_string(json_ws(s));
                if (!s) return NULL;
                s = json_ws(s);
                if (*s++ != ':') return NULL;
            }
            s = json_value(s, depth + 1);
            if (!s) return NULL;
            s = json_ws(s);
            if (*s == ',') {
                s++;
                continue;
            }
            if (*s == close) return s + 1;
            return NULL;
        }
    }
    if (*s == '"') return json_string(s);
    if (strncmp(s, "true", 4) == 0) return s + 4;
    if (strncmp(s, "false", 5) == 0) return s + 5;
    if (strncmp(s, "null", 4) == 0) return s + 4;
    return json_number(s);
}

static bool json_valid(const char *s)
{
    const char *end = json_value(s, 0);
    return end && *json_ws(end) == '\0';
}

/* ---- the tests --------------------------------------------------------- */

int main(void)
{
    const char *model = shared_path("models/stories260K.gguf");
    char args[4096];

    snprintf(args, sizeof args, "info '%s'", model);
    CHECK_INT(run(args), 0);
    CHECK_CONTAINS(out, "architecture   llama");
    CHECK_CONTAINS(out, "tensors        48");
    CHECK_CONTAINS(out, "F32              48 tensors, 1171200 bytes");
    CHECK_CONTAINS(out, "context        2048");
    CHECK_CONTAINS(out, "vocabulary     llama, 512 tokens");
    CHECK_CONTAINS(out, "bos 1 \"<s>\"");
    CHECK_CONTAINS(out, "eos 2 \"</s>\"");
    CHECK_CONTAINS(out, "chat template  none");
    CHECK_CONTAINS(out, "metadata (19 keys)");
    CHECK_CONTAINS(out, "llama.block_count");
    CHECK_CONTAINS(out, "string[512]");
    CHECK(strstr(out, "blk.4.ffn_norm.weight") == NULL); /* no tensor table without --tensors */

    snprintf(args, sizeof args, "info --tensors '%s'", model);
    CHECK_INT(run(args), 0);
    CHECK_CONTAINS(out, "tensors (48)");
    CHECK_CONTAINS(out, "blk.4.ffn_norm.weight");
    CHECK_CONTAINS(out, "[64, 512]");

    snprintf(args, sizeof args, "info '%s' --json", model);
    CHECK_INT(run(args), 0);
    CHECK(out[0] == '{');
    CHECK_MSG(json_valid(out), "invalid JSON: %.300s", out);
    CHECK_CONTAINS(out, "\"architecture\":\"llama\"");
    CHECK_CONTAINS(out, "\"n_tensors\":48");
    CHECK_CONTAINS(out, "\"tokens\":512");
    CHECK(strstr(out, "\"tensors\":[") == NULL);

    snprintf(args, sizeof args, "info --json --tensors '%s'", model);
    CHECK_INT(run(args), 0);
    CHECK_MSG(json_valid(out), "invalid JSON: %.300s", out);
    CHECK_CONTAINS(out, "{\"name\":\"token_embd.weight\",\"type\":\"F32\",\"shape\":[64,512]");

    /* real vocabularies: odd token text, a chat template */
    static const char *const vocabs[] = {"tokenizer/extra/vocab-phi-3.gguf",
                                         "tokenizer/vocab-gpt-2.gguf",
                                         "tokenizer/vocab-deepseek-llm.gguf"};
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) {
        snprintf(args, sizeof args, "info --json '%s'", shared_path(vocabs[i]));
        CHECK_INT(run(args), 0);
        CHECK_MSG(json_valid(out), "%s: invalid JSON: %.300s", vocabs[i], out);
    }
    /* a mixture of experts: its expert counts, and the parameters a token
     * reads: 2 layers of 3 x 8 experts of 256 x 128, 2 of them used */
    const char *moe = shared_path("oracle/moe/qwen3moe-q8_0.gguf");
    snprintf(args, sizeof args, "info '%s'", moe);
    CHECK_INT(run(args), 0);
    CHECK_CONTAINS(out, "experts        8 per layer, 2 used per token, feed-forward 128 each");
    snprintf(args, sizeof args, "info --json '%s'", moe);
    CHECK_INT(run(args), 0);
    CHECK_MSG(json_valid(out), "invalid JSON: %.300s", out);
    char want[160];
    snprintf(want, sizeof want,
             "\"experts\":{\"count\":8,\"used\":2,\"feed_forward_length\":128,"
             "\"active_parameters\":%d}",
             2233728 - 2 * 3 * 6 * 256 * 128);
    CHECK_CONTAINS(out, want);

    snprintf(args, sizeof args, "info '%s'", shared_path("tokenizer/extra/vocab-phi-3.gguf"));
    CHECK_INT(run(args), 0);
    CHECK_CONTAINS(out, "chat template  present (");

    /* a malformed file: the reader's message and exit code 1 */
    char dir[] = "/tmp/tk_gguf_e2e_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char bad[512];
    snprintf(bad, sizeof bad, "%s/cut.gguf", dir);
    FILE *in = fopen(model, "rb"), *o = fopen(bad, "wb");
    CHECK(in && o);
    if (in && o) {
        char buf[3000];
        size_t n = fread(buf, 1, sizeof buf, in);
        fwrite(buf, 1, n, o);
    }
    if (in) fclose(in);
    if (o) fclose(o);
    snprintf(args, sizeof args, "info '%s'", bad);
    CHECK_INT(run(args), 1);
    CHECK_CONTAINS(out, "tektra: ");
    CHECK_CONTAINS(out, bad);
    CHECK_CONTAINS(out, "tokenizer.ggml.tokens");
    CHECK_CONTAINS(out, "offset 0x");
    remove(bad);
    rmdir(dir);

    snprintf(args, sizeof args, "info '%s/none.gguf'", dir);
    CHECK_INT(run(args), 1);
    CHECK_CONTAINS(out, "none.gguf");

    /* usage errors */
    CHECK_INT(run("info"), 2);
    CHECK_CONTAINS(out, "missing the model");
    snprintf(args, sizeof args, "info --bogus '%s'", model);
    CHECK_INT(run(args), 2);
    CHECK_CONTAINS(out, "unknown option '--bogus'");
    snprintf(args, sizeof args, "info '%s' '%s'", model, model);
    CHECK_INT(run(args), 2);
    CHECK_INT(run("info --help"), 0);
    CHECK_CONTAINS(out, "Usage: tektra info");
    return check_summary();
}
