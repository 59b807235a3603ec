/* tektra info: what is inside a model file (architecture, size, tensor types,
 * vocabulary, special tokens, every metadata key, optionally every tensor),
 * as text or as one JSON object. It reads the file through the strict GGUF
 * reader, so a bad file is reported, never trusted. */
#include "app.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char cmd_info_summary[] = "show what is inside a model (GGUF file or model directory)";

typedef unsigned long long ull;

/* How much of a long value is shown: strings are cut after STR_SHOW bytes,
 * arrays after ARR_SHOW elements (their type and length are always shown). */
enum { STR_SHOW = 160, ARR_SHOW = 8, ARR_STR_SHOW = 48 };

static void print_help(void)
{
    printf("Usage: tektra info MODEL [--json] [--tensors]\n\n"
           "Shows what is inside a model - a GGUF file, or a model directory in the Hugging\n"
           "Face / mlx-community layout (config.json, *.safetensors, tokenizer.json), or a\n"
           "name from the model store as -m takes it (\"qwen2.5-0.5b\", \"stories\"), shown as\n"
           "the engine sees it (GGUF names and keys): architecture, parameter count, size,\n"
           "tensor types (count and bytes of each), context length, vocabulary (kind and\n"
           "size), special tokens, whether it has a chat template, and every metadata key\n"
           "with its type and value (strings longer than %d bytes are cut, arrays show their\n"
           "type, length and first %d elements). The file is fully validated first; a\n"
           "malformed file is reported with the offset of the problem (exit code 1).\n\n"
           "Options:\n"
           "  --json      print everything as one JSON object\n"
           "  --tensors   also list every tensor: name, type, shape, offset, bytes\n"
           "  -h, --help  show this help\n",
           STR_SHOW, ARR_SHOW);
}

/* ---- text helpers ------------------------------------------------------ */

/* Prints s (n bytes, first `max` of them) as a quoted string: JSON escapes
 * (invalid UTF-8 becomes U+FFFD) when json, else C-like escapes (\xNN for
 * invalid UTF-8). Never cuts a UTF-8 character in half. Returns true when
 * the string was cut. */
static bool put_quoted(FILE *f, const char *str, uint64_t n, uint64_t max, bool json)
{
    const unsigned char *s = (const unsigned char *)str;
    uint64_t i = 0;
    fputc('"', f);
    while (i < n) {
        size_t k = app_utf8_seq(s + i, (size_t)(n - i > 4 ? 4 : n - i));
        if (i + (k ? k : 1) > max) break;
        unsigned char c = s[i];
        if (k == 0) {
            if (json)
                fputs("\\ufffd", f);
            else
                fprintf(f, "\\x%02x", c);
            i++;
            continue;
        }
        if (k == 1) {
            if (c == '"' || c == '\\')
                fprintf(f, "\\%c", c);
            else if (c == '\n')
                fputs("\\n", f);
            else if (c == '\t')
                fputs("\\t", f);
            else if (c == '\r')
                fputs("\\r", f);
            else if (c < 0x20 || c == 0x7f)
                fprintf(f, json ? "\\u%04x" : "\\x%02x", c);
            else
                fputc(c, f);
        } else {
            fwrite(s + i, 1, k, f);
        }
        i += k;
    }
    fputc('"', f);
    return i < n;
}

static void put_json_str(FILE *f, const char *s)
{
    put_quoted(f, s, strlen(s), UINT64_MAX, true);
}

static void human_bytes(char *buf, size_t cap, uint64_t b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (ull)b);
    else
        snprintf(buf, cap, "%.2f %s", v, units[u]);
}

static void human_count(char *buf, size_t cap, uint64_t n)
{
    if (n < 1000)
        snprintf(buf, cap, "%llu", (ull)n);
    else if (n < 1000000)
        snprintf(buf, cap, "%.1fK", (double)n / 1e3);
    else if (n < 1000000000)
        snprintf(buf, cap, "%.1fM", (double)n / 1e6);
    else
        snprintf(buf, cap, "%.2fB", (double)n / 1e9);
}

static void put_double(FILE *f, double v, bool is_f32, bool json)
{
    if (!isfinite(v))
        fputs(json ? "null" : (isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf")), f);
    else
        fprintf(f, is_f32 ? "%.9g" : "%.17g", v);
}

/* ---- values ------------------------------------------------------------ */

static void put_scalar(FILE *f, const tk_gguf *g, int64_t i, bool json)
{
    int64_t iv;
    uint64_t uv;
    double dv;
    bool bv;
    const char *s;
    uint64_t len;
    tk_gguf_type t = tk_gguf_kv_type(g, i);
    if (t == TK_GGUF_STRING && tk_gguf_kv_str(g, i, &s, &len))
        put_quoted(f, s, len, STR_SHOW, json);
    else if (t == TK_GGUF_BOOL && tk_gguf_kv_bool(g, i, &bv))
        fputs(bv ? "true" : "false", f);
    else if (tk_gguf_kv_float(g, i, &dv))
        put_double(f, dv, t == TK_GGUF_FLOAT32, json);
    else if (tk_gguf_kv_int(g, i, &iv))
        fprintf(f, "%lld", (long long)iv);
    else if (tk_gguf_kv_uint(g, i, &uv))
        fprintf(f, "%llu", (ull)uv);
    else
        fputs(json ? "null" : "?", f);
}

/* The first `shown` elements of array kv i, comma-separated. */
static void put_elements(FILE *f, const tk_gguf *g, int64_t i, uint64_t shown, bool json)
{
    tk_gguf_type et = tk_gguf_kv_arr_type(g, i);
    for (uint64_t j = 0; j < shown; j++) {
        if (j) fputs(", ", f);
        const char *s;
        uint64_t len, uv;
        int64_t iv;
        double dv;
        bool bv;
        if (et == TK_GGUF_STRING && tk_gguf_arr_str(g, i, j, &s, &len))
            put_quoted(f, s, len, ARR_STR_SHOW, json);
        else if (tk_gguf_arr_bool(g, i, j, &bv))
            fputs(bv ? "true" : "false", f);
        else if (tk_gguf_arr_float(g, i, j, &dv))
            put_double(f, dv, et == TK_GGUF_FLOAT32, json);
        else if (tk_gguf_arr_int(g, i, j, &iv))
            fprintf(f, "%lld", (long long)iv);
        else if (tk_gguf_arr_uint(g, i, j, &uv))
            fprintf(f, "%llu", (ull)uv);
        else
            fputs(json ? "null" : "?", f);
    }
}

/* Type column of a metadata key: "u32", "string", "f32[512]". */
static void type_label(char *buf, size_t cap, const tk_gguf *g, int64_t i)
{
    tk_gguf_type t = tk_gguf_kv_type(g, i);
    if (t == TK_GGUF_ARRAY)
        snprintf(buf, cap, "%s[%llu]", tk_gguf_type_name(tk_gguf_kv_arr_type(g, i)),
                 (ull)tk_gguf_kv_arr_len(g, i));
    else
        snprintf(buf, cap, "%s", tk_gguf_type_name(t));
}

/* ---- the summary ------------------------------------------------------- */

typedef struct type_mix {
    int64_t count[TK_TYPE_COUNT];
    uint64_t bytes[TK_TYPE_COUNT];
} type_mix;

typedef struct summary {
    const char *arch; /* NULL when absent */
    const char *name; /* general.name, NULL when absent */
    uint64_t n_params;
    bool has_ctx;
    uint64_t n_ctx;
    const char *vocab_kind; /* tokenizer.ggml.model */
    int64_t tokens_kv;      /* index of tokenizer.ggml.tokens, -1 when absent */
    uint64_t n_tokens;
    bool has_template;
    uint64_t template_len;
    type_mix mix;
    /* mixture of experts: {arch}.expert_count etc. (0 when absent) */
    uint64_t n_expert, n_expert_used, n_ff_exp;
    uint64_t n_params_exps; /* parameters of the *_exps tensors */
} summary;

static const struct {
    const char *label, *key;
} special_keys[] = {
    {"bos", "tokenizer.ggml.bos_token_id"},
    {"eos", "tokenizer.ggml.eos_token_id"},
    {"eot", "tokenizer.ggml.eot_token_id"},
    {"eom", "tokenizer.ggml.eom_token_id"},
    {"unk", "tokenizer.ggml.unknown_token_id"},
    {"sep", "tokenizer.ggml.seperator_token_id"}, /* sic: the key as GGUF files spell it */
    {"pad", "tokenizer.ggml.padding_token_id"},
    {"mask", "tokenizer.ggml.mask_token_id"},
};
#define N_SPECIAL (sizeof special_keys / sizeof special_keys[0])

static const char *opt_str(const tk_gguf *g, const char *key)
{
    const char *s = NULL;
    return tk_gguf_get_str(g, key, &s) == TK_OK ? s : NULL;
}

static void summarize(const tk_gguf *g, summary *s)
{
    memset(s, 0, sizeof *s);
    s->arch = opt_str(g, "general.architecture");
    s->name = opt_str(g, "general.name");
    if (s->arch) {
        char key[256];
        snprintf(key, sizeof key, "%s.context_length", s->arch);
        s->has_ctx = tk_gguf_kv_uint(g, tk_gguf_find_kv(g, key), &s->n_ctx);
        snprintf(key, sizeof key, "%s.expert_count", s->arch);
        tk_gguf_kv_uint(g, tk_gguf_find_kv(g, key), &s->n_expert);
        snprintf(key, sizeof key, "%s.expert_used_count", s->arch);
        tk_gguf_kv_uint(g, tk_gguf_find_kv(g, key), &s->n_expert_used);
        snprintf(key, sizeof key, "%s.expert_feed_forward_length", s->arch);
        tk_gguf_kv_uint(g, tk_gguf_find_kv(g, key), &s->n_ff_exp);
    }
    s->vocab_kind = opt_str(g, "tokenizer.ggml.model");
    s->tokens_kv = tk_gguf_find_kv(g, "tokenizer.ggml.tokens");
    s->n_tokens = tk_gguf_kv_arr_type(g, s->tokens_kv) == TK_GGUF_STRING
                      ? tk_gguf_kv_arr_len(g, s->tokens_kv)
                      : 0;
    s->has_template =
        tk_gguf_kv_str(g, tk_gguf_find_kv(g, "tokenizer.chat_template"), NULL, &s->template_len);
    for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        uint64_t n = 1;
        for (int d = 0; d < t->n_dims; d++) n *= (uint64_t)t->ne[d]; /* checked by the reader */
        s->n_params += n;
        if (strstr(t->name, "_exps.")) s->n_params_exps += n;
        if (t->type >= 0 && t->type < TK_TYPE_COUNT) {
            s->mix.count[t->type]++;
            s->mix.bytes[t->type] += t->size;
        }
    }
}

/* Parameters a token reads: all but the experts it does not go to. */
static uint64_t active_params(const summary *s)
{
    if (!s->n_expert || s->n_expert_used > s->n_expert) return s->n_params;
    const double unused =
        (double)s->n_params_exps * (double)(s->n_expert - s->n_expert_used) / (double)s->n_expert;
    return s->n_params - (uint64_t)unused;
}

static const char *type_name(int type)
{
    const tk_type_info *ti = tk_type_get(type);
    return ti ? ti->name : "?";
}

/* Special token `k`: its id and text; false when the key is absent. */
static bool special_token(const tk_gguf *g, const summary *s, size_t k, uint64_t *id,
                          const char **text, uint64_t *len)
{
    if (!tk_gguf_kv_uint(g, tk_gguf_find_kv(g, special_keys[k].key), id)) return false;
    *text = NULL;
    *len = 0;
    tk_gguf_arr_str(g, s->tokens_kv, *id, text, len);
    return true;
}

static void print_text(const char *path, const tk_gguf *g, const summary *s, bool tensors)
{
    FILE *f = stdout;
    char b1[64], b2[64];
    human_bytes(b1, sizeof b1, tk_gguf_file_size(g));
    printf("file           %s\n", path);
    printf("size           %llu bytes (%s)\n", (ull)tk_gguf_file_size(g), b1);
    const char *source = tk_model_source_format(g);
    if (source) {
        uint64_t bits = 0, group = 0;
        tk_gguf_kv_uint(g, tk_gguf_find_kv(g, "tektra.source.bits"), &bits);
        tk_gguf_kv_uint(g, tk_gguf_find_kv(g, "tektra.source.group_size"), &group);
        if (bits)
            printf("format         model directory (safetensors, MLX %llu-bit affine, groups of "
                   "%llu)\n",
                   (ull)bits, (ull)group);
        else if (strcmp(source, "tokenizer") == 0)
            printf("format         model directory (tokenizer files only)\n");
        else
            printf("format         model directory (safetensors)\n");
    } else {
        printf("format         GGUF v%u, alignment %u, tensor data at 0x%llx\n", tk_gguf_version(g),
               tk_gguf_alignment(g), (ull)tk_gguf_data_offset(g));
    }
    printf("architecture   %s\n", s->arch ? s->arch : "(not set)");
    if (s->name) {
        fputs("name           ", f);
        put_quoted(f, s->name, strlen(s->name), STR_SHOW, false);
        fputc('\n', f);
    }
    human_count(b1, sizeof b1, s->n_params);
    printf("parameters     %s (%llu)\n", b1, (ull)s->n_params);
    if (s->n_expert) {
        human_count(b1, sizeof b1, active_params(s));
        printf("experts        %llu per layer, %llu used per token, feed-forward %llu each; "
               "%s parameters active per token\n",
               (ull)s->n_expert, (ull)s->n_expert_used, (ull)s->n_ff_exp, b1);
    }
    if (s->has_ctx)
        printf("context        %llu\n", (ull)s->n_ctx);
    else
        printf("context        (not set)\n");
    if (s->vocab_kind || s->tokens_kv >= 0)
        printf("vocabulary     %s, %llu tokens\n", s->vocab_kind ? s->vocab_kind : "(kind not set)",
               (ull)s->n_tokens);
    else if (tk_gguf_find_kv(g, "tokenizer.huggingface.json") >= 0)
        printf("vocabulary     tokenizer.json (Hugging Face tokenizers)\n");
    else
        printf("vocabulary     (none)\n");
    bool any = false;
    for (size_t k = 0; k < N_SPECIAL; k++) {
        uint64_t id, len;
        const char *text;
        if (!special_token(g, s, k, &id, &text, &len)) continue;
        fputs(any ? ", " : "special tokens ", f);
        printf("%s %llu ", special_keys[k].label, (ull)id);
        if (text)
            put_quoted(f, text, len, ARR_STR_SHOW, false);
        else
            fputs("(no such token)", f);
        any = true;
    }
    if (!any) fputs("special tokens (none)", f);
    fputc('\n', f);
    if (s->has_template)
        printf("chat template  present (%llu bytes)\n", (ull)s->template_len);
    else
        printf("chat template  none\n");
    printf("tensors        %lld\n", (long long)tk_gguf_n_tensors(g));
    for (int t = 0; t < TK_TYPE_COUNT; t++) {
        if (!s->mix.count[t]) continue;
        human_bytes(b2, sizeof b2, s->mix.bytes[t]);
        printf("  %-12s %6lld tensors, %llu bytes (%s)\n", type_name(t), (long long)s->mix.count[t],
               (ull)s->mix.bytes[t], b2);
    }

    printf("\nmetadata (%lld keys)\n", (long long)tk_gguf_n_kv(g));
    for (int64_t i = 0; i < tk_gguf_n_kv(g); i++) {
        type_label(b1, sizeof b1, g, i);
        const char *key = tk_gguf_kv_key(g, i);
        printf("  %-40s %-14s ", key, b1);
        if (tk_gguf_kv_type(g, i) == TK_GGUF_ARRAY) {
            uint64_t n = tk_gguf_kv_arr_len(g, i);
            uint64_t shown = n < ARR_SHOW ? n : ARR_SHOW;
            fputc('[', f);
            put_elements(f, g, i, shown, false);
            fputs(shown < n ? ", ...]" : "]", f);
        } else {
            put_scalar(f, g, i, false);
            uint64_t len;
            if (tk_gguf_kv_str(g, i, NULL, &len) && len > STR_SHOW)
                printf("... (%llu bytes)", (ull)len);
        }
        fputc('\n', f);
    }

    if (!tensors) return;
    printf("\ntensors (%lld)\n", (long long)tk_gguf_n_tensors(g));
    printf("  %-5s %-36s %-8s %-26s %12s %12s\n", "#", "name", "type", "shape", "offset", "bytes");
    for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        char shape[96];
        int k = snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < t->n_dims && k < (int)sizeof shape; d++)
            k += snprintf(shape + k, sizeof shape - (size_t)k, "%s%lld", d ? ", " : "",
                          (long long)t->ne[d]);
        if (k < (int)sizeof shape) snprintf(shape + k, sizeof shape - (size_t)k, "]");
        printf("  %-5lld %-36s %-8s %-26s %#12llx %12llu\n", (long long)i, t->name,
               type_name(t->type), shape, (ull)t->offset, (ull)t->size);
    }
}

static void print_json(const char *path, const tk_gguf *g, const summary *s, bool tensors)
{
    FILE *f = stdout;
    fputs("{\"file\":", f);
    put_json_str(f, path);
    printf(",\"file_size\":%llu,\"version\":%u,\"alignment\":%u,\"data_offset\":%llu",
           (ull)tk_gguf_file_size(g), tk_gguf_version(g), tk_gguf_alignment(g),
           (ull)tk_gguf_data_offset(g));
    const char *source = tk_model_source_format(g);
    fputs(",\"source\":", f);
    if (source)
        put_json_str(f, source);
    else
        fputs("\"gguf\"", f);
    fputs(",\"architecture\":", f);
    if (s->arch)
        put_json_str(f, s->arch);
    else
        fputs("null", f);
    fputs(",\"name\":", f);
    if (s->name)
        put_quoted(f, s->name, strlen(s->name), STR_SHOW, true);
    else
        fputs("null", f);
    printf(",\"parameters\":%llu", (ull)s->n_params);
    if (s->n_expert)
        printf(",\"experts\":{\"count\":%llu,\"used\":%llu,\"feed_forward_length\":%llu,"
               "\"active_parameters\":%llu}",
               (ull)s->n_expert, (ull)s->n_expert_used, (ull)s->n_ff_exp, (ull)active_params(s));
    if (s->has_ctx)
        printf(",\"context_length\":%llu", (ull)s->n_ctx);
    else
        fputs(",\"context_length\":null", f);
    fputs(",\"vocabulary\":{\"model\":", f);
    if (s->vocab_kind)
        put_json_str(f, s->vocab_kind);
    else
        fputs("null", f);
    printf(",\"tokens\":%llu}", (ull)s->n_tokens);
    fputs(",\"special_tokens\":{", f);
    bool any = false;
    for (size_t k = 0; k < N_SPECIAL; k++) {
        uint64_t id, len;
        const char *text;
        if (!special_token(g, s, k, &id, &text, &len)) continue;
        printf("%s\"%s\":{\"id\":%llu,\"text\":", any ? "," : "", special_keys[k].label, (ull)id);
        if (text)
            put_quoted(f, text, len, UINT64_MAX, true);
        else
            fputs("null", f);
        fputc('}', f);
        any = true;
    }
    printf("},\"chat_template\":{\"present\":%s,\"length\":%llu}",
           s->has_template ? "true" : "false", (ull)s->template_len);
    printf(",\"n_tensors\":%lld,\"tensor_types\":[", (long long)tk_gguf_n_tensors(g));
    any = false;
    for (int t = 0; t < TK_TYPE_COUNT; t++) {
        if (!s->mix.count[t]) continue;
        printf("%s{\"type\":\"%s\",\"count\":%lld,\"bytes\":%llu}", any ? "," : "", type_name(t),
               (long long)s->mix.count[t], (ull)s->mix.bytes[t]);
        any = true;
    }
    printf("],\"n_kv\":%lld,\"metadata\":[", (long long)tk_gguf_n_kv(g));
    for (int64_t i = 0; i < tk_gguf_n_kv(g); i++) {
        fputs(i ? ",{\"key\":" : "{\"key\":", f);
        put_json_str(f, tk_gguf_kv_key(g, i));
        tk_gguf_type t = tk_gguf_kv_type(g, i);
        printf(",\"type\":\"%s\"", tk_gguf_type_name(t));
        if (t == TK_GGUF_ARRAY) {
            uint64_t n = tk_gguf_kv_arr_len(g, i);
            uint64_t shown = n < ARR_SHOW ? n : ARR_SHOW;
            printf(",\"element_type\":\"%s\",\"length\":%llu,\"first\":[",
                   tk_gguf_type_name(tk_gguf_kv_arr_type(g, i)), (ull)n);
            put_elements(f, g, i, shown, true);
            fputc(']', f);
        } else {
            fputs(",\"value\":", f);
            put_scalar(f, g, i, true);
            uint64_t len;
            if (tk_gguf_kv_str(g, i, NULL, &len))
                printf(",\"length\":%llu,\"truncated\":%s", (ull)len,
                       len > STR_SHOW ? "true" : "false");
        }
        fputc('}', f);
    }
    fputc(']', f);
    if (tensors) {
        fputs(",\"tensors\":[", f);
        for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
            const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
            fputs(i ? ",{\"name\":" : "{\"name\":", f);
            put_json_str(f, t->name);
            printf(",\"type\":\"%s\",\"shape\":[", type_name(t->type));
            for (int d = 0; d < t->n_dims; d++) printf("%s%lld", d ? "," : "", (long long)t->ne[d]);
            printf("],\"offset\":%llu,\"bytes\":%llu}", (ull)t->offset, (ull)t->size);
        }
        fputc(']', f);
    }
    fputs("}\n", f);
}

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false, tensors = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_help();
            return APP_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--tensors") == 0) {
            tensors = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            return app_usage_error("info", "unknown option '%s'", a);
        } else if (path) {
            return app_usage_error("info", "more than one model ('%s' and '%s')", path, a);
        } else {
            path = a;
        }
    }
    if (!path)
        return app_usage_error("info", "missing the model (a GGUF file or a model directory)");

    /* A name from the store or the catalogue, as -m takes it. The
     * settings only place the store: when they cannot be read, the
     * defaults do. */
    tk_platform plat;
    tk_platform_detect(&plat);
    tk_config cfg;
    if (tk_config_load(&cfg, NULL, &plat, NULL, NULL) != TK_OK) tk_config_defaults(&cfg);
    char resolved[4096];
    if (tk_hub_resolve(&cfg, &plat, path, resolved, sizeof resolved) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    path = resolved;
    tk_gguf *g = NULL;
    if (tk_model_source_open(path, &g) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    summary s;
    summarize(g, &s);
    if (json)
        print_json(path, g, &s, tensors);
    else
        print_text(path, g, &s, tensors);
    tk_gguf_close(g);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        app_error("cannot write the output");
        return APP_EXIT_FAIL;
    }
    return APP_EXIT_OK;
}
