/* End to end: the real test_platform and tektra binaries, their exit codes,
 * settings precedence, errors and the chat REPL through pipes. */
#include "check.h"
#include "proc.h"

#include <stdbool.h>
#include <unistd.h>

/* What test_platform and tektra -v call this machine. */
#if defined(__x86_64__)
#define ARCH "x86_64"
#elif defined(__aarch64__)
#define ARCH "aarch64"
#else
#define ARCH "other"
#endif

static proc_result r;
static char dir[] = "/tmp/tk_programs_XXXXXX";

/* Commands run in the test's directory, with no user config dir. */
static char setup[256];
#define run(...) proc_runf(&r, setup, __VA_ARGS__)

/* Whether this build has the MLX backend (then MLX is offered on Linux
 * when forced, on its CPU device). */
static bool mlx_built(void)
{
    run("$TK_BIN/tektra --version");
    return strstr(r.out, "MLX backend: compiled in") != NULL;
}

static void test_test_platform(void)
{
    const bool mlx = mlx_built();
    run("$TK_BIN/test_platform");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "=== Cross-Platform Inference Backend Test ===");
    CHECK_CONTAINS(r.out, "- GGUF: Available (cross-platform - works on all systems)");
    if (mlx)
        CHECK_CONTAINS(r.out, "- MLX: Available when forced (compiled in, MLX's CPU device; not "
                              "the default on Linux");
    else
        CHECK_CONTAINS(r.out, "- MLX: Not available (Apple Silicon only - using GGUF on Linux)");
    CHECK_CONTAINS(r.out, "Current platform: linux " ARCH " (Non-Apple Silicon)");
    CHECK_CONTAINS(r.out, "Default backend: GGUF (cross-platform compatibility)");
    CHECK_CONTAINS(r.out, "✅ Auto mode selected: GGUF (tektra CPU engine)");
    CHECK_CONTAINS(r.out, "✅ Correctly selected GGUF on Linux!");
    CHECK_CONTAINS(r.out, "✅ GGUF backend created successfully (tektra CPU engine)");
    CHECK_CONTAINS(r.out, "3. Testing MLX mode:");
    if (mlx)
        CHECK_CONTAINS(r.out, "MLX is compiled in (MLX ");
    else
        CHECK_CONTAINS(r.out, "MLX unavailable on linux");
    CHECK_CONTAINS(r.out, "CPU features:");
    CHECK_CONTAINS(r.out, "Kernel level:");
    run("$TK_BIN/test_platform --nonsense");
    CHECK_INT(r.rc, 2);
}

static void test_cli(void)
{
    run("$TK_BIN/tektra --help");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "Usage: tektra");
    CHECK_CONTAINS(r.out, "config");
    /* The flags everyone needs, and examples to copy. */
    CHECK_CONTAINS(r.out, "  -m, --model MODEL ");
    CHECK_CONTAINS(r.out, "  -p, --prompt TEXT ");
    CHECK_CONTAINS(r.out, "Examples:\n  tektra pull qwen2.5-0.5b && tektra -m qwen2.5-0.5b ");
    CHECK_CONTAINS(r.out, "\n  tektra -m qwen2.5-0.5b -p \"Why is the sky blue?\" ");
    run("$TK_BIN/tektra --version");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "tektra 0.");
    run("$TK_BIN/tektra chat --help");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "--max-tokens");
    CHECK_CONTAINS(r.out, "/system TEXT");

    /* Unknown flags and bad values: one line, exit 2. */
    const char *bad[] = {"--bogus",        "--temp abc", "--temp -1",  "--top-p 0", "-n 0",
                         "--backend cuda", "-t",         "frobnicate", "--seed x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run("$TK_BIN/tektra %s -p hi < /dev/null", bad[i]);
        CHECK_MSG(r.rc == 2, "'%s': rc %d: %s", bad[i], r.rc, r.out);
        CHECK_MSG(strchr(r.out, '\n') == r.out + strlen(r.out) - 1, "'%s': not one line: %s",
                  bad[i], r.out);
        CHECK_CONTAINS(r.out, "tektra: ");
    }
}

/* A model the user named that cannot be loaded is an error (stderr, exit
 * 1), never the no-model guidance on stdout; serve refuses to start. */
static void test_named_model_missing(void)
{
    const char *cmds[] = {"-m missing.gguf -p hi", "run -m missing.gguf -p hi", "run -m . -p hi",
                          "serve -m missing.gguf --port 0"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        run("timeout 20 $TK_BIN/tektra %s < /dev/null 2>/dev/null", cmds[i]);
        CHECK_MSG(r.rc == 1, "'%s': rc %d", cmds[i], r.rc);
        CHECK_MSG(r.out[0] == '\0', "'%s': wrote to stdout: %s", cmds[i], r.out);
        run("timeout 20 $TK_BIN/tektra %s < /dev/null 2>&1 >/dev/null", cmds[i]);
        CHECK_MSG(strstr(r.out, "tektra: ") &&
                      (strstr(r.out, "missing.gguf") || strstr(r.out, "not a model")),
                  "'%s': %s", cmds[i], r.out);
    }
    /* With no model configured at all, the honest no-model answer stays. */
    run("$TK_BIN/tektra -p hi < /dev/null 2>/dev/null");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "no language model is loaded");
    /* Its advice comes from this machine's measured speed, and says it. */
    CHECK_CONTAINS(r.out, "GB/s; a model that fits it is");
    CHECK_CONTAINS(r.out, "tokens/s here");
    run("TEKTRA_MODELS=%s/empty-store $TK_BIN/tektra list", dir);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "tokens/s here)");
}

/* Ctrl-C in one-shot mode: exit 130, the note on stderr, the answer so far
 * on stdout without "[stopped]" or chat advice. */
static void test_one_shot_interrupt(void)
{
    const char *forms[] = {"run -m $TK_SHARED/models/stories260K.gguf",
                           "-m $TK_SHARED/models/stories260K.gguf"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        run("rm -f o.txt; $TK_BIN/tektra %s -p Once -n 100000 --temp 1 -t 1 >o.txt 2>e.txt & p=$!; "
            "while [ ! -s o.txt ]; do sleep 0.01; done; kill -INT $p; wait $p; echo rc=$?; "
            "cat e.txt; grep -c '\\[stopped\\]' o.txt",
            forms[i]);
        CHECK_MSG(strstr(r.out, "rc=130") != NULL, "'%s': %s", forms[i], r.out);
        CHECK_CONTAINS(r.out, "tektra: stopped (Ctrl-C)");
        CHECK_MSG(strstr(r.out, "/reset") == NULL, "'%s': %s", forms[i], r.out);
        CHECK_MSG(strstr(r.out, "\n0\n") != NULL, "'%s': [stopped] on stdout: %s", forms[i], r.out);
    }
}

static void test_backend_choice(void)
{
    if (mlx_built()) {
        /* Forced MLX runs on the CPU device (no model here: the fallback answer). */
        run("TEKTRA_BACKEND=MLX $TK_BIN/tektra -v -p hi");
        CHECK_INT(r.rc, 0);
        CHECK_CONTAINS(r.out, "backend mlx (MLX was requested explicitly)");
    } else {
        run("TEKTRA_BACKEND=MLX $TK_BIN/tektra -p hi");
        CHECK_INT(r.rc, 1);
        CHECK_CONTAINS(r.out, "MLX backend was requested but is not available");
        /* Advice that is true for this build on Linux, not a Mac's. */
        CHECK_CONTAINS(r.out, "-DTEKTRA_MLX=ON -DTEKTRA_MLX_PREFIX=\"$(scripts/mlx.sh)\"");
        CHECK(strstr(r.out, "xcrun") == NULL && strstr(r.out, "brew") == NULL);
    }
    run("TEKTRA_BACKEND=tpu $TK_BIN/tektra -p hi");
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.out, "TEKTRA_BACKEND");
    CHECK_CONTAINS(r.out, "valid: auto, gguf, mlx");
    /* The store commands run no model: a misspelt backend is a warning there. */
    run("TEKTRA_BACKEND=gguff TEKTRA_MODELS=%s/store $TK_BIN/tektra list", dir);
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "warning: TEKTRA_BACKEND=gguff is not a backend");
    CHECK_CONTAINS(r.out, "No models in ");
    run("TEKTRA_BACKEND=gguff TEKTRA_MODELS=%s/store $TK_BIN/tektra rm nothing", dir);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "'nothing' is not in the model store");
    run("TEKTRA_BACKEND=gguff TEKTRA_MODELS=%s/store HF_ENDPOINT=http://127.0.0.1:1 $TK_BIN/tektra "
        "pull hf:o/r/x.gguf",
        dir);
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "cannot connect to 127.0.0.1:1");
    /* The flag beats the environment. */
    run("TEKTRA_BACKEND=mlx $TK_BIN/tektra --backend GGUF -v -p hi");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "backend gguf (GGUF was requested explicitly)");
    run("TEKTRA_BACKEND=auto $TK_BIN/tektra -v -p hi");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "backend gguf (auto: linux " ARCH " is not Apple Silicon");
    /* Benchmark on start-up goes through the fallback answer without a model. */
    run("TEKTRA_BENCHMARK=1 $TK_BIN/tektra -p hi");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "benchmark: GGUF");
}

static void test_precedence(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/my.toml", dir);
    FILE *f = fopen(path, "w");
    fputs("[inference]\ntemperature = 0.3\ntop_k = 7\n[model]\npath = \"/x.gguf\"\n", f);
    fclose(f);
    run("$TK_BIN/tektra config --config my.toml");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "temperature = 0.3");
    CHECK_CONTAINS(r.out, "# file (TEKTRA_TEMPERATURE)");
    run("TEKTRA_TEMPERATURE=0.5 $TK_BIN/tektra config --config my.toml");
    CHECK_CONTAINS(r.out, "temperature = 0.5");
    CHECK_CONTAINS(r.out, "# env (TEKTRA_TEMPERATURE)");
    CHECK_CONTAINS(r.out, "top_k = 7");
    run("TEKTRA_TEMPERATURE=0.5 $TK_BIN/tektra config --config my.toml --temp 0.9");
    CHECK_CONTAINS(r.out, "temperature = 0.9");
    CHECK_CONTAINS(r.out, "# flag (TEKTRA_TEMPERATURE)");
    CHECK_CONTAINS(r.out, "max_tokens = 512");
    CHECK_CONTAINS(r.out, "# default (TEKTRA_MAX_TOKENS)");
    /* ./tektra.toml is found without --config, and the user dir too. */
    run("mkdir -p xdg/tektra && printf '[inference]\\nmax_tokens = 99\\n' > xdg/tektra/tektra.toml"
        " && $TK_BIN/tektra config");
    CHECK_CONTAINS(r.out, "max_tokens = 99");
    run("printf '[inference]\\nmax_tokens = 11\\n' > tektra.toml && $TK_BIN/tektra config");
    CHECK_CONTAINS(r.out, "max_tokens = 11");
    run("rm tektra.toml");

    /* Broken files: file:line:col and exit 2. */
    f = fopen(path, "w");
    fputs("[inference]\ntemperature = = 1\n", f);
    fclose(f);
    run("$TK_BIN/tektra config --config my.toml");
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.out, "my.toml:2:15: expected a value");
    f = fopen(path, "w");
    fputs("[inference]\ntop_p = 2\n", f);
    fclose(f);
    run("$TK_BIN/tektra -p hi --config my.toml");
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.out, "inference.top_p = 2 is out of range");
    run("$TK_BIN/tektra config --config missing.toml");
    CHECK_INT(r.rc, 2);
    CHECK_CONTAINS(r.out, "missing.toml");
    /* An unknown key is a warning, not an error. */
    f = fopen(path, "w");
    fputs("[inference]\ntempurature = 0.1\n", f);
    fclose(f);
    run("$TK_BIN/tektra config --config my.toml");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "unknown key 'inference.tempurature' (ignored); did you mean "
                          "'temperature'?");
    /* The right name in the wrong section, and a name like none. */
    f = fopen(path, "w");
    fputs("[model]\nmax_tokns = 5\n[inference]\nfrobnicate = 1\n", f);
    fclose(f);
    run("$TK_BIN/tektra config --config my.toml");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "'model.max_tokns' (ignored); did you mean 'inference.max_tokens'?");
    CHECK_CONTAINS(r.out, "unknown key 'inference.frobnicate' (ignored)\n");
}

static void test_repl(void)
{
    run("printf '/help\\nWhat is 2+2?\\n/stats\\n/system Be brief.\\n/reset\\n/frob\\n\\n/quit\\n"
        "never read\\n' | $TK_BIN/tektra");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "  /reset            forget the conversation");
    CHECK_CONTAINS(r.out, "  /system TEXT      set the system message");
    CHECK_CONTAINS(r.out, "  /stats            numbers about the last answer");
    CHECK_CONTAINS(r.out, "no language model is loaded");
    CHECK_CONTAINS(r.out, "tektra pull");
    /* No model: /stats says there are no numbers rather than showing zeros. */
    CHECK_CONTAINS(r.out, "No numbers: no model is loaded");
    CHECK(strstr(r.out, "prompt:    0 tokens") == NULL);
    CHECK_CONTAINS(r.out, "System message set");
    CHECK_CONTAINS(r.out, "Conversation forgotten");
    CHECK_CONTAINS(r.out, "Unknown command '/frob'");
    /* End of input ends the chat cleanly. */
    run("printf 'hello' | $TK_BIN/tektra chat");
    CHECK_INT(r.rc, 0);
    CHECK_CONTAINS(r.out, "no language model is loaded");
    run("$TK_BIN/tektra < /dev/null");
    CHECK_INT(r.rc, 0);
    /* A model path that does not exist: an error that says what was looked for. */
    run("$TK_BIN/tektra -m /nowhere/m.gguf -p hi");
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "/nowhere/m.gguf");
    /* A file that is not a model is an error. */
    run("echo hello > notamodel.gguf && $TK_BIN/tektra -m notamodel.gguf -p hi");
    CHECK_INT(r.rc, 1);
    CHECK_CONTAINS(r.out, "not a GGUF file");
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    snprintf(setup, sizeof setup, "cd %s && export XDG_CONFIG_HOME=%s/xdg HOME=%s", dir, dir, dir);
    test_test_platform();
    test_cli();
    test_named_model_missing();
    test_one_shot_interrupt();
    test_backend_choice();
    test_precedence();
    test_repl();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return check_summary();
}
