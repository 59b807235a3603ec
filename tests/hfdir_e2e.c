/* End-to-end: the real `tektra` programs on model directories in the
 * Hugging Face / mlx-community layout (../shared/oracle/mlx): info (text and
 * JSON), tokenize and detokenize (also on a directory holding only the
 * tokenizer files), logits against the golden data, bench, and a greedy
 * answer through `run` that matches the directory's own greedy ids. */
#include "check.h"
#include "proc.h"

#include <math.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

static proc_result r;

#define TEKTRA "\"$TK_BIN/tektra\""

static const char *oracle_tokens(void)
{
    static char buf[4096];
    FILE *f = fopen(shared_path("oracle/mlx/tokens.txt"), "r");
    if (!f || !fgets(buf, sizeof buf, f)) buf[0] = '\0';
    if (f) fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf;
}

static double file_nmse(const char *got_path, const char *want_path, size_t n)
{
    FILE *a = fopen(got_path, "rb"), *b = fopen(want_path, "rb");
    double num = 0, den = 0;
    bool ok = a && b;
    for (size_t i = 0; ok && i < n; i++) {
        float x = 0, y = 0; /* added up once more when a fread fails */
        ok = fread(&x, 4, 1, a) == 1 && fread(&y, 4, 1, b) == 1;
        num += ((double)x - y) * ((double)x - y);
        den += (double)y * y;
    }
    if (a) fclose(a);
    if (b) fclose(b);
    return ok && den > 0 ? num / den : INFINITY;
}

static void test_info(void)
{
    proc_runf(&r, ":", TEKTRA " info \"$TK_SHARED/oracle/mlx/qwen3-4bit\"");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "MLX 4-bit affine, groups of 64");
    CHECK_CONTAINS(r.out, "architecture   qwen3");
    CHECK_CONTAINS(r.out, "MLX4_G64");
    CHECK_CONTAINS(r.out, "tokenizer.json (Hugging Face tokenizers)");
    proc_runf(&r, ":", TEKTRA " info --json --tensors \"$TK_SHARED/oracle/mlx/llama-bf16\"");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "\"source\":\"safetensors\"");
    CHECK_CONTAINS(r.out, "\"name\":\"blk.0.attn_q.weight\",\"type\":\"BF16\"");
    proc_runf(&r, ":", TEKTRA " info /nonexistent-dir/");
    CHECK_INT(r.rc, 1);
}

static void test_tokenize(void)
{
    char tmpl[] = "/tmp/tektra-e2e-tok-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir) return;
    /* a directory with the tokenizer files only */
    proc_runf(&r, ":",
              "cp \"$TK_SHARED/oracle/mlx/llama-bf16/tokenizer.json\" "
              "\"$TK_SHARED/oracle/mlx/llama-bf16/tokenizer_config.json\" '%s'",
              dir);
    CHECK_INT(r.rc, 0);
    proc_runf(&r, ":", TEKTRA " tokenize -m '%s' --ids-only --add-special 'Hello world'", dir);
    CHECK_INT(r.rc, 0);
    char ids[256];
    size_t n = strcspn(r.out, "\n");
    if (n >= sizeof ids) n = sizeof ids - 1;
    memcpy(ids, r.out, n);
    ids[n] = '\0';
    CHECK(strncmp(ids, "1", 1) == 0); /* add_bos_token: <s> */
    /* the same ids from the full model directory */
    proc_runf(&r, ":",
              TEKTRA " tokenize -m \"$TK_SHARED/oracle/mlx/llama-bf16\" --ids-only --add-special "
                     "'Hello world'");
    CHECK_INT(r.rc, 0);
    CHECK(strncmp(r.out, ids, strlen(ids)) == 0);
    proc_runf(&r, ":", TEKTRA " detokenize -m '%s' %s", dir, ids);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "Hello");
    CHECK_CONTAINS(r.out, "world");
    /* a tokenizer is not a model */
    proc_runf(&r, ":", TEKTRA " logits -m '%s' --tokens 1,2 -o /dev/null", dir);
    CHECK_INT(r.rc, 1);
    proc_runf(&r, ":", "rm -rf '%s'", dir);
}

static void test_logits(void)
{
    static const char *const names[] = {"llama-bf16", "qwen3-4bit", "qwen2-8bit", "llama-4bit-g32"};
    static const double limits[] = {1e-4, 1e-3, 1e-3, 1e-3};
    const char *toks = oracle_tokens();
    for (int i = 0; i < 4; i++) {
        char out[128], want[4096];
        snprintf(out, sizeof out, "/tmp/tektra-e2e-logits-%d.f32", (int)getpid());
        proc_runf(&r, ":", TEKTRA " logits -m \"$TK_SHARED/oracle/mlx/%s\" --tokens %s -o '%s'",
                  names[i], toks, out);
        CHECK_MSG(r.rc == 0, "%s: %s", names[i], r.out);
        snprintf(want, sizeof want, "%s", shared_path("oracle/mlx/"));
        strncat(want, names[i], sizeof want - strlen(want) - 1);
        strncat(want, ".logits", sizeof want - strlen(want) - 1);
        double e = file_nmse(out, want, 48 * 512);
        printf("  tektra logits %-16s nmse %.3e (limit %.0e)\n", names[i], e, limits[i]);
        CHECK_MSG(e <= limits[i], "%s: nmse %.3e", names[i], e);
        remove(out);
    }
}

static void test_run_bench(void)
{
    /* greedy ids of the directory's golden continuation after the 48
     * tokens are checked by test_model; here: the programs work end to end */
    proc_runf(&r, ":",
              TEKTRA " run -m \"$TK_SHARED/oracle/mlx/qwen2-8bit\" -p 'Hello' -n 8 --temp 0 -t 1");
    CHECK_MSG(r.rc == 0, "%s", r.out);
    CHECK_MSG(!strstr(r.out, "no language model"), "%s", r.out);
    char first[sizeof r.out];
    memcpy(first, r.out, sizeof first);
    proc_runf(&r, ":",
              TEKTRA " run -m \"$TK_SHARED/oracle/mlx/qwen2-8bit\" -p 'Hello' -n 8 --temp 0 -t 2");
    CHECK_INT(r.rc, 0);
    CHECK_STR(r.out, first); /* same greedy text for any thread count */
    proc_runf(&r, ":",
              TEKTRA " bench -m \"$TK_SHARED/oracle/mlx/qwen3-4bit\" -p 16 -n 4 -r 1 -t 1");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "qwen3-4bit");
    CHECK_CONTAINS(r.out, "tg4");
}

int main(void)
{
    test_info();
    test_tokenize();
    test_logits();
    test_run_bench();
    return check_summary();
}
