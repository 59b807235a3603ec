/* tektra quantize: rewrites a GGUF model with its weights in another tensor
 * type or quantization mix (Q8_0, Q4_K_M, ...). Metadata is copied, weights
 * are decoded to F32 and re-encoded by the library's type table, and the
 * result goes through the GGUF writer (temporary file + rename), so an
 * interrupted run never leaves a half-written OUT. */
#include "app.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char cmd_quantize_summary[] =
    "convert a model's weights to another tensor type (Q4_K_M, ...)";

static void list_schemes(FILE *f)
{
    for (int i = 0; i < tk_quant_scheme_count(); i++)
        fprintf(f, "%s%s", i ? " " : "", tk_quant_scheme_at(i)->name);
    fputc('\n', f);
}

static void print_help(void)
{
    printf("Usage: tektra quantize IN.gguf OUT.gguf TYPE [--threads N]\n\n"
           "Writes a copy of IN.gguf with its weight matrices stored as TYPE. All metadata is\n"
           "kept (general.file_type is set to match TYPE). 1-D tensors (norms, biases) and\n"
           "other non-weight tensors are stored as F32. Weights of any type are decoded to\n"
           "F32 first, except where IN already has the target type (copied unchanged).\n"
           "A weight whose rows do not fit TYPE's block size falls back to a type that fits\n"
           "(Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K/IQ4_XS->IQ4_NL, else F16); each\n"
           "fallback is reported on stderr. OUT is written to a temporary file and renamed\n"
           "into place, and may not be IN; it is checked (a writable directory, not a\n"
           "directory itself) before any work. On a terminal, stderr shows each tensor as it\n"
           "is converted.\n\n"
           "TYPE is a single tensor type (every weight in that type) or a mix:\n"
           "  Q4_K_M  Q4_K; Q6_K for output.weight (or the tied token_embd.weight), and for\n"
           "          attn_v and ffn_down of the first and last eighth of the layers and\n"
           "          every third layer between\n"
           "  Q5_K_M  the same with Q5_K as the default\n"
           "Types: ");
    list_schemes(stdout);
    printf("\nOptions:\n"
           "  --threads N  threads for encoding (default: the number of CPUs)\n"
           "  -h, --help   show this help\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int default_threads(void)
{
    tk_platform p;
    tk_platform_detect(&p);
    int n = p.n_logical_cores;
    return n < 1 ? 1 : n > 64 ? 64 : n;
}

/* Number of transformer blocks: <arch>.block_count, else 1 + the largest N
 * of the "blk.N." tensor names. */
/* {arch}.expert_count, or 0 (a dense model). */
static int model_experts(const tk_gguf *g)
{
    const char *arch = NULL;
    uint32_t n = 0;
    if (tk_gguf_get_str(g, "general.architecture", &arch) == TK_OK && arch) {
        char key[256];
        snprintf(key, sizeof key, "%.200s.expert_count", arch);
        if (tk_gguf_get_u32(g, key, &n) != TK_OK || n > 100000) n = 0;
    }
    return (int)n;
}

static int model_layers(const tk_gguf *g)
{
    const char *arch = NULL;
    if (tk_gguf_get_str(g, "general.architecture", &arch) == TK_OK && arch) {
        char key[256];
        uint32_t n = 0;
        snprintf(key, sizeof key, "%.200s.block_count", arch);
        if (tk_gguf_get_u32(g, key, &n) == TK_OK && n > 0 && n < 100000) return (int)n;
    }
    int n = 0;
    for (int64_t i = 0; i < tk_gguf_n_tensors(g); i++) {
        int il;
        const char *name = tk_gguf_tensor_at(g, i)->name;
        if (sscanf(name, "blk.%d.", &il) == 1 && il >= 0 && il < 100000 && il + 1 > n) n = il + 1;
    }
    return n;
}

static bool same_file(const char *a, const char *b)
{
    if (strcmp(a, b) == 0) return true;
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Checks, before any work, that OUT can be written: not a directory, in a
 * directory that exists and takes new files (the writer creates a
 * temporary file beside OUT and renames it; the check creates and removes
 * one the same way). Prints the error and returns false otherwise. */
static bool check_output(const char *out)
{
    struct stat so;
    if (stat(out, &so) == 0 && S_ISDIR(so.st_mode)) {
        app_error("OUT '%s' is a directory; give a file name, e.g. %s/%s", out, out,
                  "model-Q4_K_M.gguf");
        return false;
    }
    char dir[4096];
    const char *slash = strrchr(out, '/');
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else if (slash == out) {
        snprintf(dir, sizeof dir, "/");
    } else {
        size_t n = (size_t)(slash - out);
        if (n >= sizeof dir) {
            app_error("OUT '%.200s...': the path is too long", out);
            return false;
        }
        memcpy(dir, out, n);
        dir[n] = '\0';
    }
    struct stat sd;
    if (stat(dir, &sd) != 0) {
        app_error("cannot write OUT '%s': the directory '%s' does not exist", out, dir);
        return false;
    }
    if (!S_ISDIR(sd.st_mode)) {
        app_error("cannot write OUT '%s': '%s' is not a directory", out, dir);
        return false;
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s.tmp.%ld", out, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        app_error("cannot write OUT '%s': cannot create files in '%s': %s", out, dir,
                  strerror(errno));
        return false;
    }
    close(fd);
    unlink(probe);
    return true;
}

static int64_t n_elements(const tk_gguf_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->n_dims; d++) n *= t->ne[d]; /* the reader checked the product */
    return n;
}

static int digits(int64_t n)
{
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* Elements decoded to F32 at a time (whole rows; at least one row). */
enum { CHUNK_ELEMS = 1 << 24 };

typedef struct stats {
    int count[TK_TYPE_COUNT];
    uint64_t bytes[TK_TYPE_COUNT];
    int fallbacks;
    uint64_t size_in, size_out;
} stats;

/* Converts every tensor of g into w. Buffers that the writer borrows are
 * recorded in bufs[] (freed by the caller after the write). */
static bool convert_tensors(const tk_gguf *g, tk_gguf_writer *w, const tk_quant_scheme *s,
                            int threads, void **bufs, stats *st)
{
    int n_layer = model_layers(g), n_expert = model_experts(g);
    bool has_output = tk_gguf_find_tensor(g, "output.weight") != NULL;
    int64_t nt = tk_gguf_n_tensors(g);
    float *f32 = NULL;
    int64_t f32_cap = 0;
    bool ok = true;
    for (int64_t i = 0; i < nt && ok; i++) {
        const tk_gguf_tensor *t = tk_gguf_tensor_at(g, i);
        int64_t n = n_elements(t);
        tk_quant_choice c =
            tk_quant_tensor_type(s, t->name, t->n_dims, t->ne, n_layer, has_output, n_expert);
        int out_type = c.quantize ? c.type : TK_TYPE_F32;
        app_status("[%*lld/%lld] %.160s  %s", digits(nt), (long long)i + 1, (long long)nt, t->name,
                   tk_type_get(out_type)->name);
        if (c.fallback) app_status_clear();
        if (c.fallback)
            fprintf(stderr, "tektra: %s: row length %lld does not fit %s blocks of %d, using %s\n",
                    t->name, (long long)t->ne[0], tk_type_get(c.wanted)->name,
                    tk_type_get(c.wanted)->block_size, tk_type_get(c.type)->name);
        uint64_t out_size;
        if (tk_type_size(out_type, n, &out_size) != TK_OK) {
            app_error("%s: %s", t->name, tk_last_error());
            ok = false;
            break;
        }
        const void *data = t->data;
        if (t->type != out_type) {
            void *out = malloc(out_size ? (size_t)out_size : 1);
            bufs[i] = out;
            if (!out) {
                app_error("%s: out of memory (%llu bytes)", t->name, (unsigned long long)out_size);
                ok = false;
                break;
            }
            /* decode to F32 and encode again, CHUNK_ELEMS worth of whole rows
             * at a time, so memory stays bounded for huge embedding tables */
            int64_t rows = t->ne[0] > 0 ? n / t->ne[0] : 0;
            int64_t chunk_rows =
                t->ne[0] >= CHUNK_ELEMS ? 1 : CHUNK_ELEMS / (t->ne[0] > 0 ? t->ne[0] : 1);
            if (chunk_rows > rows) chunk_rows = rows;
            int64_t need = chunk_rows * t->ne[0] > 0 ? chunk_rows * t->ne[0] : 1;
            if (need > f32_cap) {
                free(f32);
                f32 = malloc((size_t)need * sizeof(float));
                f32_cap = f32 ? need : 0;
            }
            if (!f32) {
                app_error("%s: out of memory", t->name);
                ok = false;
                break;
            }
            for (int64_t r = 0; r < rows && ok; r += chunk_rows) {
                int64_t nr = rows - r < chunk_rows ? rows - r : chunk_rows;
                uint64_t in_off, out_off;
                ok = tk_type_size(t->type, r * t->ne[0], &in_off) == TK_OK &&
                     tk_type_size(out_type, r * t->ne[0], &out_off) == TK_OK &&
                     tk_type_dequantize(t->type, (const uint8_t *)t->data + in_off, f32,
                                        nr * t->ne[0], threads) == TK_OK &&
                     tk_type_quantize(out_type, f32, (uint8_t *)out + out_off, nr * t->ne[0],
                                      threads) == TK_OK;
            }
            if (!ok) {
                app_error("%s: %s", t->name, tk_last_error());
                break;
            }
            data = out;
        }
        if (tk_gguf_writer_add_tensor(w, t->name, out_type, t->n_dims, t->ne, data, out_size) !=
            TK_OK) {
            app_error("%s", tk_last_error());
            ok = false;
            break;
        }
        st->count[out_type]++;
        st->bytes[out_type] += out_size;
        st->fallbacks += c.fallback;
        st->size_in += t->size;
        st->size_out += out_size;
    }
    free(f32);
    app_status_clear();
    return ok;
}

static void print_summary(const char *in, const char *out, const tk_quant_scheme *s,
                          const stats *st, double secs)
{
    printf("%s -> %s: %s (general.file_type %u) in %.1f s\n", in, out, s->name, s->ftype, secs);
    printf("  tensors per type:");
    for (int t = 0; t < TK_TYPE_COUNT; t++)
        if (st->count[t])
            printf(" %s %d (%.2f MiB)", tk_type_get(t)->name, st->count[t],
                   (double)st->bytes[t] / (1024.0 * 1024.0));
    printf("\n  tensor data: %.2f MiB -> %.2f MiB", (double)st->size_in / (1024.0 * 1024.0),
           (double)st->size_out / (1024.0 * 1024.0));
    if (st->size_in) printf(" (%.1f%%)", 100.0 * (double)st->size_out / (double)st->size_in);
    printf("\n");
    if (st->fallbacks) printf("  fallbacks: %d tensors (see above)\n", st->fallbacks);
}

int cmd_quantize(int argc, char **argv)
{
    const char *pos[3] = {NULL, NULL, NULL};
    int n_pos = 0;
    long threads = default_threads();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_help();
            return APP_EXIT_OK;
        } else if (app_flag_is(a, "--threads")) {
            const char *v = app_flag_value(argc, argv, &i);
            if (!v || !app_parse_long("--threads", v, 1, 256, &threads)) return APP_EXIT_USAGE;
        } else if (a[0] == '-' && a[1] != '\0') {
            return app_usage_error("quantize", "unknown option '%s'", a);
        } else if (n_pos == 3) {
            return app_usage_error("quantize", "too many arguments ('%s')", a);
        } else {
            pos[n_pos++] = a;
        }
    }
    if (n_pos < 3)
        return app_usage_error("quantize", "needs IN.gguf OUT.gguf TYPE (%d of 3 given)", n_pos);
    const char *in = pos[0], *out = pos[1];
    const tk_quant_scheme *s = tk_quant_scheme_find(pos[2]);
    if (!s) {
        app_error("unknown TYPE '%s'; valid types:", pos[2]);
        fputs("  ", stderr);
        list_schemes(stderr);
        return APP_EXIT_USAGE;
    }
    if (same_file(in, out))
        return app_usage_error("quantize", "OUT is the same file as IN ('%s')", out);
    if (!check_output(out)) return APP_EXIT_FAIL;

    double t0 = now_s();
    tk_gguf *g = NULL;
    if (tk_gguf_open(in, &g) != TK_OK) {
        app_error("%s", tk_last_error());
        return APP_EXIT_FAIL;
    }
    tk_gguf_writer *w = NULL;
    int64_t nt = tk_gguf_n_tensors(g);
    void **bufs = calloc((size_t)(nt > 0 ? nt : 1), sizeof *bufs);
    stats *st = calloc(1, sizeof *st);
    int rc = APP_EXIT_FAIL;
    if (!bufs || !st || tk_gguf_writer_create(&w) != TK_OK) {
        app_error("out of memory");
        goto done;
    }
    for (int64_t i = 0; i < tk_gguf_n_kv(g); i++) {
        if (tk_gguf_writer_copy_kv(w, g, i) != TK_OK) {
            app_error("%s", tk_last_error());
            goto done;
        }
    }
    /* set after the copy: replaces the input's values in place */
    if (tk_gguf_writer_set_u32(w, "general.file_type", s->ftype) != TK_OK ||
        tk_gguf_writer_set_u32(w, "general.quantization_version", 2) != TK_OK) {
        app_error("%s", tk_last_error());
        goto done;
    }
    if (!convert_tensors(g, w, s, (int)threads, bufs, st)) goto done;
    app_status("writing %s...", app_base_name(out));
    tk_status ws = tk_gguf_writer_write(w, out);
    app_status_clear();
    if (ws != TK_OK) {
        app_error("%s", tk_last_error());
        goto done;
    }
    print_summary(in, out, s, st, now_s() - t0);
    rc = APP_EXIT_OK;
done:
    tk_gguf_writer_free(w);
    for (int64_t i = 0; bufs && i < nt; i++) free(bufs[i]);
    free(bufs);
    free(st);
    tk_gguf_close(g);
    return rc;
}
