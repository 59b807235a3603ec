/* The built-in catalogue: real GGUF files on Hugging Face, known by alias.
 *
 * Sizes and SHA-256 digests are those of the Git LFS objects the Hugging
 * Face pages list for these files; where they could not be confirmed they
 * are left unknown (0 / "") and the download is checked for the GGUF magic
 * only. `size_approx` is the model page's rounded figure, used for messages
 * and the disk-space check when the exact size is unknown. */
#include "core/core.h"
#include "hub/hub.h"

#include <string.h>

#define GB(x) ((uint64_t)((x)*1e9))
#define MB(x) ((uint64_t)((x)*1e6))

static const tk_hub_model catalogue[] = {
    {"qwen2.5-0.5b", "qwen2.5-0.5b", "Q4_K_M", true, "Qwen2.5 0.5B Instruct",
     "bartowski/Qwen2.5-0.5B-Instruct-GGUF", "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", 397808192,
     MB(398), "6eb923e7d26e9cea28811e1a8e852009b21242fb157b26149d3b188f3a8c8653"},
    {"qwen2.5-0.5b:q8_0", "qwen2.5-0.5b", "Q8_0", false, "Qwen2.5 0.5B Instruct",
     "bartowski/Qwen2.5-0.5B-Instruct-GGUF", "Qwen2.5-0.5B-Instruct-Q8_0.gguf", 0, MB(531), ""},
    {"qwen2.5-1.5b", "qwen2.5-1.5b", "Q4_K_M", true, "Qwen2.5 1.5B Instruct",
     "bartowski/Qwen2.5-1.5B-Instruct-GGUF", "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", 986048768,
     MB(986), "1adf0b11065d8ad2e8123ea110d1ec956dab4ab038eab665614adba04b6c3370"},
    {"qwen2.5-1.5b:q8_0", "qwen2.5-1.5b", "Q8_0", false, "Qwen2.5 1.5B Instruct",
     "bartowski/Qwen2.5-1.5B-Instruct-GGUF", "Qwen2.5-1.5B-Instruct-Q8_0.gguf", 0, 0, ""},
    {"qwen2.5-7b", "qwen2.5-7b", "Q4_K_M", true, "Qwen2.5 7B Instruct",
     "bartowski/Qwen2.5-7B-Instruct-GGUF", "Qwen2.5-7B-Instruct-Q4_K_M.gguf", 4683074240, GB(4.68),
     "65b8fcd92af6b4fefa935c625d1ac27ea29dcb6ee14589c55a8f115ceaaa1423"},
    {"llama3.2-1b", "llama3.2-1b", "Q4_K_M", true, "Llama 3.2 1B Instruct",
     "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf", 807694464,
     MB(808), "6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83"},
    /* The Q8_0 file of this repository was re-uploaded with a different
     * digest, so no digest is pinned for it. */
    {"llama3.2-1b:q8_0", "llama3.2-1b", "Q8_0", false, "Llama 3.2 1B Instruct",
     "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q8_0.gguf", 0, GB(1.32), ""},
    {"llama3.2-3b", "llama3.2-3b", "Q4_K_M", true, "Llama 3.2 3B Instruct",
     "bartowski/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf", 2019377696,
     GB(2.02), "6c1a2b41161032677be168d354123594c0e6e67d2b9227c84f296ad037c728ff"},
    {"gemma2-2b", "gemma2-2b", "Q4_K_M", true, "Gemma 2 2B Instruct",
     "bartowski/gemma-2-2b-it-GGUF", "gemma-2-2b-it-Q4_K_M.gguf", 1708582752, GB(1.71),
     "e0aee85060f168f0f2d8473d7ea41ce2f3230c1bc1374847505ea599288a7787"},
    {"tinyllama", "tinyllama", "Q4_K_M", true, "TinyLlama 1.1B Chat v1.0",
     "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", 668788096,
     MB(669), "9fecc3b3cd76bba89d504f29b616eedf7da85b96540e490ca5824d3f7d2776a0"},
    {"tinyllama:q8_0", "tinyllama", "Q8_0", false, "TinyLlama 1.1B Chat v1.0",
     "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF", "tinyllama-1.1b-chat-v1.0.Q8_0.gguf", 0, GB(1.17),
     ""},
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

const tk_hub_model *tk_hub_find_alias(const char *name)
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

const tk_hub_model *tk_hub_recommend(const tk_platform *p)
{
    const uint64_t GiB = 1024ull * 1024 * 1024;
    uint64_t ram = p ? p->ram_total : 0;
    const char *alias;
    if (ram == 0 || ram < 4 * GiB)
        alias = "qwen2.5-0.5b";
    else if (ram < 8 * GiB)
        alias = "qwen2.5-1.5b";
    else if (ram < 16 * GiB)
        alias = "llama3.2-3b";
    else
        alias = "qwen2.5-7b";
    return tk_hub_find_alias(alias);
}
