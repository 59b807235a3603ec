/* The built-in catalogue: real GGUF files on Hugging Face, and real
 * mlx-community repositories as model directories, known by alias.
 *
 * Sizes and SHA-256 digests are those of the Git LFS objects the Hugging
 * Face pages list for these files; where they could not be confirmed they
 * are left unknown (0 / "") and the download is checked for the GGUF magic
 * only. `size_approx` is the model page's rounded figure, used for messages
 * and the disk-space check when the exact size is unknown.
 *
 * The MLX directories (the models the Apple Silicon platform note names)
 * were added without access to the Hub, so their sizes are unknown here (0,
 * like the unconfirmed Q8_0 entries) rather than guessed. That costs
 * nothing in safety: a directory pull lists the repository first and takes
 * every file's size and SHA-256 from that listing, so the disk-space check
 * and the verification use the Hub's own figures. */
#include "core/core.h"
#include "hub/hub.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define GB(x) ((uint64_t)((x)*1e9))
#define MB(x) ((uint64_t)((x)*1e6))

static const tk_hub_model catalogue[] = {
    {"qwen2.5-0.5b", "qwen2.5-0.5b", "Q4_K_M", true, "Qwen2.5 0.5B Instruct",
     "bartowski/Qwen2.5-0.5B-Instruct-GGUF", "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", 397808192,
     MB(398), "6eb923e7d26e9cea28811e1a8e852009b21242fb157b26149d3b188f3a8c8653", TK_HUB_KIND_GGUF},
    {"qwen2.5-0.5b:q8_0", "qwen2.5-0.5b", "Q8_0", false, "Qwen2.5 0.5B Instruct",
     "bartowski/Qwen2.5-0.5B-Instruct-GGUF", "Qwen2.5-0.5B-Instruct-Q8_0.gguf", 0, MB(531), "",
     TK_HUB_KIND_GGUF},
    {"qwen2.5-1.5b", "qwen2.5-1.5b", "Q4_K_M", true, "Qwen2.5 1.5B Instruct",
     "bartowski/Qwen2.5-1.5B-Instruct-GGUF", "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", 986048768,
     MB(986), "1adf0b11065d8ad2e8123ea110d1ec956dab4ab038eab665614adba04b6c3370", TK_HUB_KIND_GGUF},
    {"qwen2.5-1.5b:q8_0", "qwen2.5-1.5b", "Q8_0", false, "Qwen2.5 1.5B Instruct",
     "bartowski/Qwen2.5-1.5B-Instruct-GGUF", "Qwen2.5-1.5B-Instruct-Q8_0.gguf", 0, 0, "",
     TK_HUB_KIND_GGUF},
    {"qwen2.5-7b", "qwen2.5-7b", "Q4_K_M", true, "Qwen2.5 7B Instruct",
     "bartowski/Qwen2.5-7B-Instruct-GGUF", "Qwen2.5-7B-Instruct-Q4_K_M.gguf", 4683074240, GB(4.68),
     "65b8fcd92af6b4fefa935c625d1ac27ea29dcb6ee14589c55a8f115ceaaa1423", TK_HUB_KIND_GGUF},
    {"llama3.2-1b", "llama3.2-1b", "Q4_K_M", true, "Llama 3.2 1B Instruct",
     "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf", 807694464,
     MB(808), "6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83", TK_HUB_KIND_GGUF},
    /* The Q8_0 file of this repository was re-uploaded with a different
     * digest, so no digest is pinned for it. */
    {"llama3.2-1b:q8_0", "llama3.2-1b", "Q8_0", false, "Llama 3.2 1B Instruct",
     "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q8_0.gguf", 0, GB(1.32), "",
     TK_HUB_KIND_GGUF},
    {"llama3.2-3b", "llama3.2-3b", "Q4_K_M", true, "Llama 3.2 3B Instruct",
     "bartowski/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf", 2019377696,
     GB(2.02), "6c1a2b41161032677be168d354123594c0e6e67d2b9227c84f296ad037c728ff",
     TK_HUB_KIND_GGUF},
    {"gemma2-2b", "gemma2-2b", "Q4_K_M", true, "Gemma 2 2B Instruct",
     "bartowski/gemma-2-2b-it-GGUF", "gemma-2-2b-it-Q4_K_M.gguf", 1708582752, GB(1.71),
     "e0aee85060f168f0f2d8473d7ea41ce2f3230c1bc1374847505ea599288a7787", TK_HUB_KIND_GGUF},
    {"tinyllama", "tinyllama", "Q4_K_M", true, "TinyLlama 1.1B Chat v1.0",
     "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", 668788096,
     MB(669), "9fecc3b3cd76bba89d504f29b616eedf7da85b96540e490ca5824d3f7d2776a0", TK_HUB_KIND_GGUF},
    {"tinyllama:q8_0", "tinyllama", "Q8_0", false, "TinyLlama 1.1B Chat v1.0",
     "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF", "tinyllama-1.1b-chat-v1.0.Q8_0.gguf", 0, GB(1.17),
     "", TK_HUB_KIND_GGUF},
    /* Qwen3 dense models (bartowski's llama.cpp quantizations). Digests and
     * exact sizes are not confirmed here; the 4B's size is the model page's. */
    {"qwen3-0.6b", "qwen3-0.6b", "Q4_K_M", true, "Qwen3 0.6B", "bartowski/Qwen_Qwen3-0.6B-GGUF",
     "Qwen_Qwen3-0.6B-Q4_K_M.gguf", 0, 0, "", TK_HUB_KIND_GGUF},
    {"qwen3-1.7b", "qwen3-1.7b", "Q4_K_M", true, "Qwen3 1.7B", "bartowski/Qwen_Qwen3-1.7B-GGUF",
     "Qwen_Qwen3-1.7B-Q4_K_M.gguf", 0, 0, "", TK_HUB_KIND_GGUF},
    {"qwen3-4b", "qwen3-4b", "Q4_K_M", true, "Qwen3 4B", "bartowski/Qwen_Qwen3-4B-GGUF",
     "Qwen_Qwen3-4B-Q4_K_M.gguf", 0, GB(2.50), "", TK_HUB_KIND_GGUF},
    {"qwen3-8b", "qwen3-8b", "Q4_K_M", true, "Qwen3 8B", "bartowski/Qwen_Qwen3-8B-GGUF",
     "Qwen_Qwen3-8B-Q4_K_M.gguf", 0, 0, "", TK_HUB_KIND_GGUF},
    /* MLX 4-bit conversions (mlx-community), pulled as whole directories. */
    {"gemma-2b-it-mlx", "gemma-2b-it-mlx", "4bit", true, "Gemma 2B Instruct (MLX)",
     "mlx-community/gemma-2b-it-4bit", "gemma-2b-it-4bit", 0, 0, "", TK_HUB_KIND_DIR},
    {"qwen2.5-7b-mlx", "qwen2.5-7b-mlx", "4bit", true, "Qwen2.5 7B Instruct (MLX)",
     "mlx-community/Qwen2.5-7B-Instruct-4bit", "Qwen2.5-7B-Instruct-4bit", 0, 0, "",
     TK_HUB_KIND_DIR},
};

int tk_hub_catalogue_count(void)
{
    return (int)TK_ARRAY_LEN(catalogue);
}

const tk_hub_model *tk_hub_catalogue_at(int i)
{
    if (i < 0 || i >= tk_hub_catalogue_count()) return NULL;
    return &catalogue[i];
}

static const tk_hub_model *find_exact(const char *name);

/* Lowercase copy of `s` into out (size bytes); false when it does not fit. */
static bool lower_copy(const char *s, char *out, size_t size)
{
    size_t n = strlen(s);
    if (n >= size) return false;
    for (size_t i = 0; i <= n; i++) out[i] = (char)tolower((unsigned char)s[i]);
    return true;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ollama's NAME:TAG ("llama3.2:1b", "qwen2.5:0.5b-instruct-q8_0",
 * "tinyllama:latest"): TAG is "latest" or a size (digits, '.', then 'b' or
 * 'm'), then optionally "-instruct", "-chat" or "-it", then "-QUANT". The
 * catalogue calls the family NAME-SIZE. */
static const tk_hub_model *find_ollama(const char *name)
{
    char low[128];
    if (!lower_copy(name, low, sizeof low)) return NULL;
    char *colon = strchr(low, ':');
    if (!colon || colon == low) return NULL;
    *colon = '\0';
    const char *tag = colon + 1;
    if (strcmp(tag, "latest") == 0) return find_exact(low);
    size_t n = 0;
    while (isdigit((unsigned char)tag[n]) || (n > 0 && tag[n] == '.')) n++;
    if (n == 0 || (tag[n] != 'b' && tag[n] != 'm')) return NULL;
    n++;
    const char *rest = tag + n;
    static const char *const variants[] = {"-instruct", "-chat", "-it"};
    for (size_t i = 0; i < TK_ARRAY_LEN(variants); i++) {
        size_t vn = strlen(variants[i]);
        if (strncmp(rest, variants[i], vn) == 0 && (rest[vn] == '\0' || rest[vn] == '-')) {
            rest += vn;
            break;
        }
    }
    if (*rest && *rest != '-') return NULL;
    char alias[160];
    int w = snprintf(alias, sizeof alias, "%s-%.*s%s%s", low, (int)n, tag, *rest ? ":" : "",
                     *rest ? rest + 1 : "");
    if (w < 0 || (size_t)w >= sizeof alias) return NULL;
    return find_exact(alias);
}

const tk_hub_model *tk_hub_find_alias(const char *name)
{
    const tk_hub_model *m = find_exact(name);
    return m ? m : name ? find_ollama(name) : NULL;
}

int tk_hub_suggest(const char *name, const tk_hub_model **out, int max)
{
    char q[96], family[96];
    if (!name || max <= 0 || !lower_copy(name, q, sizeof q)) return 0;
    /* The family part ("llama3.2" of "llama3.2:1b"), and the whole with
     * ':' as '-' ("llama3.2-1b"). */
    core_strlcpy(family, q, sizeof family);
    char *colon = strchr(family, ':');
    if (colon) *colon = '\0';
    for (char *c = q; *c; c++)
        if (*c == ':') *c = '-';
    char family_dash[100];
    snprintf(family_dash, sizeof family_dash, "%s-", family);
    int score[TK_ARRAY_LEN(catalogue)];
    for (size_t i = 0; i < TK_ARRAY_LEN(catalogue); i++) {
        const tk_hub_model *m = &catalogue[i];
        score[i] = -1;
        if (strcmp(family, m->family) == 0) {
            score[i] = 0; /* every quant of a family named right */
        } else if (!m->is_default) {
            continue;
        } else if (starts_with(m->family, family_dash)) {
            score[i] = 0; /* "llama3.2": every size */
        } else {
            int d = core_edit_distance(q, m->family), df = core_edit_distance(family, m->family);
            if (df < d) d = df;
            int limit = (int)strlen(m->family) / 4;
            if (d <= (limit < 2 ? 2 : limit)) score[i] = d;
        }
    }
    /* Only the closest: the sizes of "llama3.2", not every family a
     * letter further away. */
    int best = -1;
    for (size_t i = 0; i < TK_ARRAY_LEN(catalogue); i++)
        if (score[i] >= 0 && (best < 0 || score[i] < best)) best = score[i];
    int n = 0;
    for (size_t i = 0; i < TK_ARRAY_LEN(catalogue) && n < max && best >= 0; i++)
        if (score[i] == best) out[n++] = &catalogue[i];
    return n;
}

size_t hub_suggest_text(const char *name, char *buf, size_t size)
{
    const tk_hub_model *near[6];
    int n = tk_hub_suggest(name, near, 6);
    if (size) buf[0] = '\0';
    if (n == 0 || size == 0) return 0;
    size_t used = 0;
    int w = snprintf(buf, size, n == 1 ? "did you mean this?" : "did you mean one of these?");
    for (int i = 0; i < n && w >= 0 && (size_t)w < size - used; i++) {
        used += (size_t)w;
        w = snprintf(buf + used, size - used, "\n  %-20s %s, %s", near[i]->alias, near[i]->title,
                     near[i]->quant);
    }
    if (w >= 0 && (size_t)w < size - used) used += (size_t)w;
    return used;
}

static const tk_hub_model *find_exact(const char *name)
{
    if (!name || !*name) return NULL;
    const char *colon = strchr(name, ':');
    size_t family_len = colon ? (size_t)(colon - name) : strlen(name);
    const char *quant = colon ? colon + 1 : NULL;
    for (size_t i = 0; i < TK_ARRAY_LEN(catalogue); i++) {
        const tk_hub_model *m = &catalogue[i];
        if (strlen(m->family) != family_len) continue;
        bool family_match = true;
        for (size_t k = 0; k < family_len; k++) {
            char a = name[k], b = m->family[k];
            if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
            if (a != b) family_match = false;
        }
        if (!family_match) continue;
        if (quant ? core_strcasecmp(quant, m->quant) == 0 : m->is_default) return m;
    }
    return NULL;
}

const tk_hub_model *tk_hub_find_file(const char *file)
{
    if (!file) return NULL;
    for (size_t i = 0; i < TK_ARRAY_LEN(catalogue); i++)
        if (core_strcasecmp(file, catalogue[i].file) == 0) return &catalogue[i];
    return NULL;
}

/* Generation reads every weight once per token: the CPU engine reaches
 * about 85-95% of the measured bandwidth (README, Speed), so 85% of it
 * over the file's size is a fair expectation. */
double tk_hub_expected_tps(const tk_platform *p, const tk_hub_model *m)
{
    uint64_t bytes = m->size ? m->size : m->size_approx;
    if (!p || p->mem_bandwidth <= 0 || !bytes || m->kind != TK_HUB_KIND_GGUF) return 0;
    return 0.85 * p->mem_bandwidth / (double)bytes;
}

const tk_hub_model *tk_hub_recommend(const tk_platform *p)
{
    const uint64_t GiB = 1024ull * 1024 * 1024;
    uint64_t ram = p ? p->ram_total : 0;
    /* MLX needs macOS on Apple Silicon; elsewhere only GGUF files run. */
    bool mlx = p && p->apple_silicon && p->os == TK_OS_MACOS;
    if (!mlx && p && p->mem_bandwidth > 0) {
        /* The largest default GGUF file of known size that generates at a
         * comfortable speed and leaves three quarters of the memory free;
         * the smallest when none does. */
        const tk_hub_model *best = NULL, *smallest = NULL;
        for (size_t i = 0; i < TK_ARRAY_LEN(catalogue); i++) {
            const tk_hub_model *m = &catalogue[i];
            uint64_t bytes = m->size ? m->size : m->size_approx;
            if (!m->is_default || m->kind != TK_HUB_KIND_GGUF || !bytes) continue;
            if (!smallest || bytes < (smallest->size ? smallest->size : smallest->size_approx))
                smallest = m;
            if (ram && bytes > ram / 4) continue;
            if (tk_hub_expected_tps(p, m) < TK_HUB_COMFORTABLE_TPS) continue;
            if (!best || bytes > (best->size ? best->size : best->size_approx)) best = m;
        }
        if (best || smallest) return best ? best : smallest;
    }
    const char *alias;
    if (mlx && ram >= 16 * GiB)
        alias = "qwen2.5-7b-mlx";
    else if (mlx && ram >= 8 * GiB)
        alias = "gemma-2b-it-mlx";
    else if (ram == 0 || ram < 4 * GiB)
        alias = "qwen2.5-0.5b";
    else if (ram < 8 * GiB)
        alias = "qwen2.5-1.5b";
    else if (ram < 16 * GiB)
        alias = "llama3.2-3b";
    else
        alias = "qwen2.5-7b";
    return tk_hub_find_alias(alias);
}
