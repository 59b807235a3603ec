/* Generation pieces of the backend: stop strings held back until decided. */
#include "backend/stop.h"
#include "check.h"
#include "tektra.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Feeds `pieces` one by one and returns what would be shown. */
static void run(const char *const *stops, int n_stops, const char *const *pieces, int n_pieces,
                char *shown, size_t size, bool *stopped_out, int *stopped_at)
{
    stop_matcher m;
    CHECK_INT(stop_init(&m, stops, n_stops), TK_OK);
    shown[0] = '\0';
    *stopped_out = false;
    *stopped_at = -1;
    for (int i = 0; i < n_pieces; i++) {
        size_t rel;
        bool stopped;
        CHECK_INT(stop_feed(&m, pieces[i], strlen(pieces[i]), &rel, &stopped), TK_OK);
        strncat(shown, m.pending,
                (rel < size - strlen(shown) - 1 ? rel : size - strlen(shown) - 1));
        stop_consume(&m, rel);
        if (stopped) {
            *stopped_out = true;
            *stopped_at = i;
            stop_free(&m);
            return;
        }
    }
    strncat(shown, m.pending, stop_flush(&m));
    stop_free(&m);
}

/* A copy of stories260K with `template` as its chat template (NULL = none),
 * and with value `at` of tensor `poison` (NULL = none; an F32 tensor) set
 * to NaN, or all of it zero when `at` is SIZE_MAX. */
static void write_model_poisoned(const char *path, const char *tmpl, const char *poison, size_t at)
{
    tk_gguf *g;
    CHECK_INT(tk_gguf_open(shared_path("models/stories260K.gguf"), &g), TK_OK);
    tk_gguf_writer *w;
    CHECK_INT(tk_gguf_writer_create(&w), TK_OK);
    float *poisoned = NULL;
    for (int64_t i = 0; i < tk_gguf_n_kv(g); i++) CHECK_INT(tk_gguf_writer_copy_kv(w, g, i), TK_OK);
    if (tmpl) CHECK_INT(tk_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl), TK_OK);
    for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        const void *data = t->data;
        float *copy = NULL;
        if (poison && strcmp(t->name, poison) == 0) {
            CHECK_INT(t->type, TK_TYPE_F32);
            copy = malloc(t->size);
            memcpy(copy, t->data, t->size);
            if (at == SIZE_MAX)
                memset(copy, 0, t->size); /* all zeros */
            else
                copy[at] = NAN;
            data = copy;
        }
        CHECK_INT(tk_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, data, t->size),
                  TK_OK);
        if (copy) poisoned = copy; /* the writer reads it when writing */
    }
    CHECK_INT(tk_gguf_writer_write(w, path), TK_OK);
    free(poisoned);
    tk_gguf_writer_free(w);
    tk_gguf_close(g);
}

static void write_model_with_template(const char *path, const char *tmpl)
{
    write_model_poisoned(path, tmpl, NULL, 0);
}

static tk_engine *try_engine(const char *path, bool check_tensors, tk_status *st);

/* A model whose output turns to NaN: the answer stops with a clear error
 * instead of sampling from NaNs (which would emit token 0 forever). */
static void test_nonfinite_logits(void)
{
    char path[] = "/tmp/tk_backend_nan_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    /* The embedding of BOS (token 1, 64 values per row): used as it is,
     * and every later position attends to it. */
    write_model_poisoned(path, "{% for m in messages %}{{ m.content }}{% endfor %}",
                         "token_embd.weight", 64);
    /* By default the load refuses it, naming the tensor and the value. */
    tk_status st;
    CHECK(try_engine(path, true, &st) == NULL);
    CHECK_INT(st, TK_ERR_NONFINITE);
    CHECK_MSG(strstr(tk_last_error(), "'token_embd.weight': value 64 (row 1, column 0)") != NULL,
              "%s", tk_last_error());
    tk_engine *e = try_engine(path, false, &st);
    CHECK_INT(st, TK_OK);
    tk_message msg = {.role = "user", .content = "Once upon a time"};
    tk_platform p;
    tk_platform_detect(&p);
    tk_config c;
    tk_config_defaults(&c);
    tk_gen_params g;
    tk_gen_params_from_config(&g, &c);
    g.max_tokens = 8;
    tk_metrics m;
    CHECK_INT(tk_engine_chat(e, &msg, 1, &g, NULL, NULL, &m), TK_ERR_NONFINITE);
    CHECK(strstr(tk_last_error(), "not a number") != NULL);
    tk_engine_free(e);

    /* A norm that is all zeros is refused too. */
    write_model_poisoned(path, NULL, "blk.2.ffn_norm.weight", SIZE_MAX);
    CHECK(try_engine(path, true, &st) == NULL);
    CHECK_INT(st, TK_ERR_NONFINITE);
    CHECK_MSG(strstr(tk_last_error(), "'blk.2.ffn_norm.weight': every value is zero") != NULL, "%s",
              tk_last_error());
    unlink(path);
}

/* Tokens of `text` with special tokens parsed and no BOS added. */
static int64_t count_tokens(const char *model_path, const char *text)
{
    tk_gguf *g;
    tk_tokenizer *t;
    if (tk_gguf_open(model_path, &g) != TK_OK) return -1;
    if (tk_tokenizer_load(g, &t) != TK_OK) return -1;
    size_t n = 0;
    int32_t *ids;
    tk_tokenize_alloc(t, text, strlen(text), false, true, &ids, &n);
    free(ids);
    tk_tokenizer_free(t);
    tk_gguf_close(g);
    return (int64_t)n;
}

static bool always_cancelled(void *user)
{
    (void)user;
    return true;
}

/* An engine with `path` loaded (tensor checks on or off); NULL with *st
 * set when the load fails. */
static tk_engine *try_engine(const char *path, bool check_tensors, tk_status *st)
{
    tk_platform p;
    tk_platform_detect(&p);
    tk_config c;
    tk_config_defaults(&c);
    c.threads = 1;
    c.check_tensors = check_tensors;
    tk_engine *e = NULL;
    CHECK_INT(tk_engine_create(TK_BACKEND_GGUF, &p, &c, &e), TK_OK);
    *st = e ? tk_engine_load(e, path) : TK_ERR_INTERNAL;
    if (*st != TK_OK) {
        tk_engine_free(e);
        return NULL;
    }
    return e;
}

static tk_engine *open_engine(const char *path)
{
    tk_status st;
    tk_engine *e = try_engine(path, true, &st);
    CHECK_INT(st, TK_OK);
    return e;
}

static void test_templates_and_bos(void)
{
    char dir[] = "/tmp/tk_backend_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    tk_message msgs[3] = {{.role = "system", .content = "Be kind."},
                          {.role = "user", .content = "Hello"},
                          {.role = "assistant", .content = "Hi"}};

    /* The model's own template is used; BOS added once by the vocabulary. */
    snprintf(path, sizeof path, "%s/own.gguf", dir);
    write_model_with_template(path, "{% for m in messages %}[{{ m.role }}]{{ m.content }}"
                                    "{% endfor %}{% if add_generation_prompt %}[assistant]"
                                    "{% endif %}");
    tk_engine *e = open_engine(path);
    tk_session *s;
    CHECK_INT(tk_session_create(e, &s), TK_OK);
    int64_t n;
    CHECK_INT(tk_session_count_chat_tokens(s, msgs, 2, &n), TK_OK);
    CHECK_INT(n, 1 + count_tokens(path, "[system]Be kind.[user]Hello[assistant]"));
    tk_session_free(s);
    tk_engine_free(e);

    /* A template that writes the BOS itself: it is not doubled. */
    snprintf(path, sizeof path, "%s/bos.gguf", dir);
    write_model_with_template(path, "{{ bos_token }}{% for m in messages %}{{ m.content }}"
                                    "{% endfor %}");
    e = open_engine(path);
    CHECK_INT(tk_session_create(e, &s), TK_OK);
    CHECK_INT(tk_session_count_chat_tokens(s, msgs + 1, 1, &n), TK_OK);
    CHECK_INT(n, count_tokens(path, "<s>Hello"));
    CHECK_INT(count_tokens(path, "<s>Hello"), 1 + count_tokens(path, "Hello"));
    tk_session_free(s);
    tk_engine_free(e);

    /* A template that rejects the system role: the system text is merged
     * into the first user turn. */
    snprintf(path, sizeof path, "%s/nosys.gguf", dir);
    write_model_with_template(path, "{% for m in messages %}{% if m.role == 'system' %}"
                                    "{{ raise_exception('System role not supported') }}{% endif %}"
                                    "<{{ m.role }}>{{ m.content }}{% endfor %}");
    e = open_engine(path);
    CHECK_INT(tk_session_create(e, &s), TK_OK);
    CHECK_INT(tk_session_count_chat_tokens(s, msgs, 2, &n), TK_OK);
    CHECK_INT(n, 1 + count_tokens(path, "<user>Be kind.\n\nHello"));
    tk_session_free(s);
    tk_engine_free(e);

    /* A template that fails for another reason falls back to a built-in one. */
    snprintf(path, sizeof path, "%s/broken.gguf", dir);
    write_model_with_template(path, "{% for m in messages %}{{ m.content | nosuchfilter }}"
                                    "{% endfor %}");
    e = open_engine(path);
    CHECK_INT(tk_session_create(e, &s), TK_OK);
    CHECK_INT(tk_session_count_chat_tokens(s, msgs + 1, 1, &n), TK_OK);
    CHECK_INT(n, 1 + count_tokens(path, "<|im_start|>user\nHello<|im_end|>\n<|im_start|>"
                                        "assistant\n"));
    /* Generation works through that session and reports its numbers. */
    tk_gen_params g;
    memset(&g, 0, sizeof g);
    g.max_tokens = 4;
    g.temperature = 0;
    g.top_p = 1;
    g.repeat_penalty = 1;
    g.seed = 1;
    tk_metrics m;
    CHECK_INT(tk_session_chat(s, msgs + 1, 1, &g, NULL, NULL, &m), TK_OK);
    CHECK_INT(m.n_gen_tokens, 4);
    CHECK_INT(m.finish, TK_FINISH_LENGTH);
    CHECK_INT(m.n_prompt_tokens, n);
    /* A request cancelled before it starts ends at once, with nothing. */
    g.cancelled = always_cancelled;
    CHECK_INT(tk_session_chat(s, msgs + 1, 1, &g, NULL, NULL, &m), TK_OK);
    CHECK_INT(m.finish, TK_FINISH_CANCELLED);
    CHECK_INT(m.n_gen_tokens, 0);
    g.cancelled = NULL;
    /* The next turn reuses the cached prefix. */
    tk_message two[3] = {{.role = "user", .content = "Hello"},
                         {.role = "assistant", .content = "Hi"},
                         {.role = "user", .content = "More"}};
    CHECK_INT(tk_session_chat(s, two, 3, &g, NULL, NULL, &m), TK_OK);
    CHECK(m.n_cached_tokens > 0);
    tk_session_free(s);
    tk_engine_free(e);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_INT(system(cmd), 0);
}

int main(void)
{
    test_templates_and_bos();
    test_nonfinite_logits();

    char out[256];
    bool stopped;
    int at;
    const char *stops1[] = {"\nUser:", "###"};
    const char *p1[] = {"Hello", " there", "\nUs", "er:", " more"};
    run(stops1, 2, p1, 5, out, sizeof out, &stopped, &at);
    CHECK_STR(out, "Hello there");
    CHECK(stopped);
    CHECK_INT(at, 3);

    /* A partial match that turns out not to be a stop string is released. */
    const char *p2[] = {"a #", "#", " b"};
    run(stops1, 2, p2, 3, out, sizeof out, &stopped, &at);
    CHECK_STR(out, "a ## b");
    CHECK(!stopped);

    /* Held text at the end is released by the flush. */
    const char *p3[] = {"x\nUse"};
    run(stops1, 2, p3, 1, out, sizeof out, &stopped, &at);
    CHECK_STR(out, "x\nUse");

    /* Stop inside one piece, earliest of several. */
    const char *p4[] = {"one###two\nUser:"};
    run(stops1, 2, p4, 1, out, sizeof out, &stopped, &at);
    CHECK_STR(out, "one");
    CHECK(stopped);

    /* Nothing is held back without stop strings; empty stops are ignored. */
    const char *empty[] = {""};
    const char *p5[] = {"ab", "c"};
    stop_matcher m;
    CHECK_INT(stop_init(&m, empty, 1), TK_OK);
    size_t rel;
    CHECK_INT(stop_feed(&m, "ab", 2, &rel, &stopped), TK_OK);
    CHECK_INT(rel, 2);
    CHECK(!stopped);
    stop_free(&m);
    run(NULL, 0, p5, 2, out, sizeof out, &stopped, &at);
    CHECK_STR(out, "abc");

    /* Long text grows the buffer. */
    static char big[5000];
    memset(big, 'z', sizeof big - 1);
    const char *p6[] = {big, "###"};
    static char out2[6000];
    run(stops1, 2, p6, 2, out2, sizeof out2, &stopped, &at);
    CHECK_INT(strlen(out2), sizeof big - 1);
    CHECK(stopped);
    return check_summary();
}
