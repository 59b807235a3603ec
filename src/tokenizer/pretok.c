/* Pre-tokenizers of byte-level BPE vocabularies: the split rules named by
 * `tokenizer.ggml.pre`, run with PCRE2.
 *
 * The rules are the regular expressions of the models' tokenizer.json files,
 * in the form the reference engine runs them (case-insensitive groups
 * written out, Unicode case classes approximated by "letter but not a-z").
 * Several rule sets are lists: each expression splits the pieces left by the
 * previous one further. Within a piece, the text a match covers becomes a
 * piece and so does any text between matches.
 *
 * The subject text is prepared by the caller (encode.c): every non-ASCII
 * White_Space code point is replaced by U+000B, as the reference does, so
 * that \s means exactly "White_Space" and the classes \p{L}, \p{N}, \p{P}
 * (PCRE2's Unicode tables) decide the rest.
 */
#include "tokenizer/tokenizer.h"

#include <string.h>

enum {
    PRE_DEFAULT,
    PRE_GPT2,
    PRE_LLAMA3,
    PRE_QWEN2,
    PRE_DEEPSEEK_LLM,
    PRE_DEEPSEEK_CODER,
    PRE_FALCON,
    PRE_STARCODER,
    PRE_GPT4O,
    PRE_TEKKEN,
    PRE_PORO,
    PRE_VIKING,
    PRE_COUNT
};

#define RE_GPT2                                                                                    \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+|"                                                 \
    " ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                                  \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"    \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                   \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"         \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* "Upper-case-ish" and "lower-case-ish" letters of the gpt-4o and tekken rules. */
#define RE_UPPERISH "((?=[\\p{L}])([^a-z]))"
#define RE_LOWERISH "((?=[\\p{L}])([^A-Z]))"
#define RE_GPT4O                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPERISH "*" RE_LOWERISH "+" RE_CONTRACTIONS "?"                   \
    "|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPERISH "+" RE_LOWERISH "*" RE_CONTRACTIONS "?"                  \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN                                                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPERISH "*" RE_LOWERISH "+"                                       \
    "|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPERISH "+" RE_LOWERISH "*"                                      \
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* CJK unified ideographs (U+4E00..U+9FA5), U+0800..U+4E00 and Hangul. */
#define RE_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* deepseek-llm: cased letters (Lu, Ll, Lt) as listed in its tokenizer.json. */
static const char re_ds_letters[] =
    "\\s?["
    "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"
    "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
    "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}"
    "\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}"
    "\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}"
    "\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}"
    "\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"
    "\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}"
    "\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"
    "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}"
    "\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}"
    "\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"
    "]+";
#define RE_DS_PUNCT                                                                                \
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+"
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"

static const char *const rules_default[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+",
                                            "[0-9][0-9][0-9]"};
static const char *const rules_gpt2[] = {RE_GPT2};
static const char *const rules_llama3[] = {RE_LLAMA3};
static const char *const rules_qwen2[] = {RE_QWEN2};
static const char *const rules_deepseek_llm[] = {"[\\r\\n]", re_ds_letters, RE_DS_PUNCT,
                                                 "\\s+$",    RE_CJK,        "\\p{N}+"};
static const char *const rules_deepseek_coder[] = {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK,
                                                   "\\p{N}"};
static const char *const rules_falcon[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2,
                                           "[0-9][0-9][0-9]"};
static const char *const rules_starcoder[] = {"\\p{N}", RE_GPT2};
static const char *const rules_gpt4o[] = {RE_GPT4O};
static const char *const rules_tekken[] = {RE_TEKKEN};
static const char *const rules_poro[] = {RE_PORO};
static const char *const rules_viking[] = {RE_PORO, "\\p{N}"};

static const struct {
    const char *const *re;
    int n;
} rule_sets[PRE_COUNT] = {
    [PRE_DEFAULT] = {rules_default, 4},
    [PRE_GPT2] = {rules_gpt2, 1},
    [PRE_LLAMA3] = {rules_llama3, 1},
    [PRE_QWEN2] = {rules_qwen2, 1},
    [PRE_DEEPSEEK_LLM] = {rules_deepseek_llm, 6},
    [PRE_DEEPSEEK_CODER] = {rules_deepseek_coder, 5},
    [PRE_FALCON] = {rules_falcon, 3},
    [PRE_STARCODER] = {rules_starcoder, 2},
    [PRE_GPT4O] = {rules_gpt4o, 1},
    [PRE_TEKKEN] = {rules_tekken, 1},
    [PRE_PORO] = {rules_poro, 1},
    [PRE_VIKING] = {rules_viking, 2},
};

/* Flags per name: C = no clean-up of spaces when detokenizing, M = whole
 * words that are tokens skip the merges, B = add BOS. */
static const struct {
    const char *name;
    int rules;
    const char *flags;
} pre_names[] = {
    {"default", PRE_DEFAULT, ""},
    {"gpt-2", PRE_GPT2, ""},
    {"phi-2", PRE_GPT2, ""},
    {"jina-es", PRE_GPT2, ""},
    {"jina-de", PRE_GPT2, ""},
    {"jina-v1-en", PRE_GPT2, ""},
    {"jina-v2-es", PRE_GPT2, ""},
    {"jina-v2-de", PRE_GPT2, ""},
    {"jina-v2-code", PRE_GPT2, ""},
    {"roberta-bpe", PRE_GPT2, ""},
    {"gigachat", PRE_GPT2, ""},
    {"a.x-4.0", PRE_GPT2, ""},
    {"mellum", PRE_GPT2, ""},
    {"modern-bert", PRE_GPT2, ""},
    {"exaone4", PRE_GPT2, ""},
    {"mpt", PRE_GPT2, ""},
    {"olmo", PRE_GPT2, ""},
    {"jais", PRE_GPT2, ""},
    {"trillion", PRE_GPT2, "C"},
    {"granite-docling", PRE_GPT2, "C"},
    {"llama3", PRE_LLAMA3, "MB"},
    {"llama-v3", PRE_LLAMA3, "MB"},
    {"llama-bpe", PRE_LLAMA3, "MB"},
    {"falcon3", PRE_LLAMA3, "MB"},
    {"falcon-h1", PRE_LLAMA3, "MB"},
    {"pixtral", PRE_LLAMA3, "MB"},
    {"midm-2.0", PRE_LLAMA3, "MB"},
    {"lfm2", PRE_LLAMA3, "MB"},
    {"jina-v5-nano", PRE_LLAMA3, "MB"},
    {"dbrx", PRE_LLAMA3, ""},
    {"smaug-bpe", PRE_LLAMA3, ""},
    {"chatglm-bpe", PRE_LLAMA3, ""},
    {"glm4", PRE_LLAMA3, ""},
    {"qwen2", PRE_QWEN2, "C"},
    {"deepseek-r1-qwen", PRE_QWEN2, "C"},
    {"kormo", PRE_QWEN2, "C"},
    {"f2llmv2", PRE_QWEN2, "C"},
    {"hunyuan", PRE_QWEN2, "C"},
    {"solar-open", PRE_QWEN2, "C"},
    {"stablelm2", PRE_QWEN2, ""},
    {"megrez", PRE_QWEN2, ""},
    {"deepseek-llm", PRE_DEEPSEEK_LLM, "C"},
    {"deepseek-coder", PRE_DEEPSEEK_CODER, "C"},
    {"falcon", PRE_FALCON, ""},
    {"starcoder", PRE_STARCODER, ""},
    {"refact", PRE_STARCODER, ""},
    {"command-r", PRE_STARCODER, "C"},
    {"smollm", PRE_STARCODER, "C"},
    {"codeshell", PRE_STARCODER, ""},
    {"exaone", PRE_STARCODER, ""},
    {"minerva-7b", PRE_STARCODER, ""},
    {"mellum2", PRE_STARCODER, ""},
    {"gpt-4o", PRE_GPT4O, "C"},
    {"llama4", PRE_GPT4O, "C"},
    {"kanana2", PRE_GPT4O, "C"},
    {"talkie", PRE_GPT4O, "C"},
    {"minimax-m2", PRE_GPT4O, "C"},
    {"tekken", PRE_TEKKEN, "CMB"},
    {"poro-chat", PRE_PORO, "C"},
    {"bloom", PRE_PORO, ""},
    {"gpt3-finnish", PRE_PORO, ""},
    {"viking", PRE_VIKING, "C"},
};

bool tok_pre_lookup(const char *pre, tok_pre_info *info)
{
    if (!pre || !*pre) pre = "default";
    for (size_t i = 0; i < TK_ARRAY_LEN(pre_names); i++) {
        if (strcmp(pre_names[i].name, pre) == 0) {
            const char *f = pre_names[i].flags;
            info->name = pre_names[i].name;
            info->rules = pre_names[i].rules;
            info->clean_spaces = strchr(f, 'C') == NULL;
            info->ignore_merges = strchr(f, 'M') != NULL;
            info->add_bos = strchr(f, 'B') != NULL;
            return true;
        }
    }
    info->name = "gpt-2";
    info->rules = PRE_GPT2;
    info->clean_spaces = true;
    info->ignore_merges = false;
    info->add_bos = false;
    return false;
}

void tok_pretok_free(tok_pretok *p)
{
    for (int i = 0; i < p->n_re; i++) pcre2_code_free(p->re[i]);
    pcre2_match_context_free(p->mctx);
    memset(p, 0, sizeof *p);
}

tk_status tok_pretok_compile(tok_pretok *p, int rules)
{
    memset(p, 0, sizeof *p);
    if (rules < 0 || rules >= PRE_COUNT)
        return core_error(TK_ERR_INTERNAL, "bad rule set %d", rules);
    p->mctx = pcre2_match_context_create(NULL);
    if (!p->mctx) return core_error(TK_ERR_NOMEM, "pre-tokenizer: out of memory");
    /* The interpreter (used when JIT is missing or its stack runs out) keeps
     * its backtracking frames on the heap: bound them. */
    pcre2_set_heap_limit(p->mctx, 256 * 1024); /* KiB */
    for (int i = 0; i < rule_sets[rules].n; i++) {
        int err;
        PCRE2_SIZE where;
        const char *src = rule_sets[rules].re[i];
        pcre2_code *re =
            pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY | PCRE2_NO_AUTO_CAPTURE,
                          &err, &where, NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof msg);
            tok_pretok_free(p);
            return core_error(TK_ERR_INTERNAL, "pre-tokenizer regex %d at %zu: %s", i,
                              (size_t)where, (const char *)msg);
        }
        /* JIT is an optimisation: without it pcre2_match interprets. */
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        p->re[p->n_re++] = re;
    }
    return TK_OK;
}

/* Splits each piece of `in` (end offsets) with `re` into `out`. */
static tk_status split_one(const tok_pretok *p, pcre2_code *re, pcre2_match_data *md,
                           const char *subject, const uint32_t *in, size_t n_in, uint32_t *out,
                           size_t *n_out)
{
    size_t n = 0;
    uint32_t start = 0;
    for (size_t k = 0; k < n_in; k++) {
        uint32_t end = in[k];
        PCRE2_SPTR s = (PCRE2_SPTR)subject + start;
        PCRE2_SIZE len = end - start, pos = 0, last = 0;
        while (pos < len) {
            int rc = pcre2_match(re, s, len, pos, PCRE2_NO_UTF_CHECK, md, p->mctx);
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
                rc = pcre2_match(re, s, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, p->mctx);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return core_error(TK_ERR_LIMIT, "pre-tokenizer: a %zu-byte piece of text: %s",
                                  (size_t)len, (const char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            PCRE2_SIZE ms = ov[0], me = ov[1];
            if (me <= ms) {
                /* No rule matches the empty string; stay safe anyway. */
                pos = ms + tok_utf8_len(s[ms]);
                continue;
            }
            if (ms > last) out[n++] = start + (uint32_t)ms;
            out[n++] = start + (uint32_t)me;
            last = pos = me;
        }
        if (last < len) out[n++] = end;
        start = end;
    }
    *n_out = n;
    return TK_OK;
}

tk_status tok_pretok_split(const tok_pretok *p, const char *subject, size_t n, uint32_t *cuts,
                           uint32_t *tmp, size_t *n_cuts)
{
    *n_cuts = 0;
    if (n == 0) return TK_OK;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return core_error(TK_ERR_NOMEM, "pre-tokenizer: out of memory");
    uint32_t *a = cuts, *b = tmp;
    size_t na = 1;
    a[0] = (uint32_t)n;
    tk_status st = TK_OK;
    for (int i = 0; i < p->n_re && st == TK_OK; i++) {
        size_t nb = 0;
        st = split_one(p, p->re[i], md, subject, a, na, b, &nb);
        uint32_t *swap = a;
        a = b;
        b = swap;
        na = nb;
    }
    pcre2_match_data_free(md);
    if (st != TK_OK) return st;
    if (a != cuts) memcpy(cuts, a, na * sizeof *cuts);
    *n_cuts = na;
    return TK_OK;
}
