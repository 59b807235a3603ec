/* What a backend says when it has no model. It tells the user what it
 * looked for, how to get a model that fits this machine and how to point
 * tektra at it; it never answers the question itself. */
#include "backend/backend.h"

#include "core/core.h"

#include <stdio.h>

/* Models that fit a machine, smallest first: the RAM they need to run
 * comfortably (file + KV cache + the rest of the system), and where the
 * GGUF files are published. */
static const struct {
    uint64_t min_ram_gib;
    const char *name;
    const char *repo;
    const char *file;
    const char *size;
} suggestions[] = {
    {0, "Qwen2.5 0.5B Instruct (Q4_K_M)", "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
     "qwen2.5-0.5b-instruct-q4_k_m.gguf", "about 0.4 GB"},
    {4, "Llama 3.2 1B Instruct (Q4_K_M)", "bartowski/Llama-3.2-1B-Instruct-GGUF",
     "Llama-3.2-1B-Instruct-Q4_K_M.gguf", "about 0.8 GB"},
    {8, "Gemma 2 2B Instruct (Q4_K_M)", "bartowski/gemma-2-2b-it-GGUF",
     "gemma-2-2b-it-Q4_K_M.gguf", "about 1.7 GB"},
    {16, "Qwen2.5 7B Instruct (Q4_K_M)", "bartowski/Qwen2.5-7B-Instruct-GGUF",
     "Qwen2.5-7B-Instruct-Q4_K_M.gguf", "about 4.7 GB"},
};

void backend_no_model_text(const tk_platform *p, const tk_config *c, const char *looked_for,
                           char *buf, size_t size)
{
    (void)c;
    size_t pick = 0;
    uint64_t gib = p->ram_total >> 30;
    for (size_t i = 0; i < TK_ARRAY_LEN(suggestions); i++)
        if (gib >= suggestions[i].min_ram_gib) pick = i;
    char ram[64];
    if (p->ram_total)
        snprintf(ram, sizeof ram, "%.1f GiB of RAM", (double)p->ram_total / (1 << 30));
    else
        snprintf(ram, sizeof ram, "an unknown amount of RAM");
    snprintf(buf, size,
             "I can't answer that: no language model is loaded, and I won't make up an answer.\n"
             "What I looked for: %s.\n"
             "To get a model that fits this machine (%s), download %s (%s):\n"
             "  https://huggingface.co/%s  (file %s)\n"
             "Then point tektra at it:\n"
             "  tektra -m /path/to/%s\n"
             "or set TEKTRA_MODEL=/path/to/model.gguf, or put `path = \"...\"` under [model] "
             "in tektra.toml.\n",
             looked_for, ram, suggestions[pick].name, suggestions[pick].size,
             suggestions[pick].repo, suggestions[pick].file, suggestions[pick].file);
}
