/* tektra tokenizer: text <-> token ids with the vocabulary stored in a GGUF file.
 *
 * Two sources are read. The GGUF vocabulary keys `tokenizer.ggml.*` hold two
 * families, named by `tokenizer.ggml.model`:
 *  - "llama": SentencePiece-style ("spm"): the score-driven bigram merge over
 *    UTF-8 characters, spaces written as U+2581, byte fallback <0xNN>;
 *  - "gpt2": byte-level BPE ("bpe"): merge ranks from `tokenizer.ggml.merges`,
 *    the GPT-2 byte<->unicode mapping and the pre-tokenizer regexes named by
 *    `tokenizer.ggml.pre`.
 * The behaviour follows the reference GGUF engine, so that ids agree with it
 * exactly (see tests/test_tokenizer.c and ../shared/tokenizer/).
 *
 * Model directories (Hugging Face layout) are presented as a GGUF without
 * `tokenizer.ggml.model` that holds the documents themselves:
 * `tokenizer.huggingface.json` (tokenizer.json), and optionally
 * `tokenizer.huggingface.config` (tokenizer_config.json),
 * `tokenizer.huggingface.generation_config` (generation_config.json) and
 * `tokenizer.huggingface.model_config` (config.json). Their pipeline is run
 * as Hugging Face's `tokenizers` library runs it (BPE models; normalizers
 * NFC, NFD, Prepend, Replace, Lowercase, Strip; pre-tokenizers Split,
 * ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit; decoders
 * Replace, ByteFallback, ByteLevel, Metaspace, Strip, Fuse; post-processors
 * TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel; Sequences
 * of each), so that ids agree with it exactly (see tests/test_tokenizer_hf.c).
 * A file with both sources uses `tokenizer.ggml.*`.
 *
 * A loaded tk_tokenizer is immutable: every function below that takes a
 * `const tk_tokenizer *` may be called from several threads at once.
 * Token ids are int32_t; -1 means "no such token".
 */
#ifndef TEKTRA_TOKENIZER_H
#define TEKTRA_TOKENIZER_H

#include "tektra/core.h"
#include "tektra/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_tokenizer tk_tokenizer;

/* Token types, numbered as in `tokenizer.ggml.token_type`. */
typedef enum tk_token_type {
    TK_TOKEN_UNDEFINED = 0,
    TK_TOKEN_NORMAL = 1,
    TK_TOKEN_UNKNOWN = 2,
    TK_TOKEN_CONTROL = 3,
    TK_TOKEN_USER_DEFINED = 4,
    TK_TOKEN_UNUSED = 5,
    TK_TOKEN_BYTE = 6,
} tk_token_type;

/* ---- loading ------------------------------------------------------------
 *
 * Reads the vocabulary from the metadata of `g`. The tokenizer keeps copies of
 * everything it needs: `g` may be closed afterwards. On success *out is owned
 * by the caller (free with tk_tokenizer_free); on failure *out is NULL and
 * tk_last_error() names the key and the problem.
 *
 * Errors: TK_ERR_NOT_FOUND (no tokenizer.ggml.model or tokenizer.ggml.tokens,
 * and no tokenizer.huggingface.json),
 * TK_ERR_UNSUPPORTED (a model kind other than "llama" / "gpt2"),
 * TK_ERR_FORMAT (wrong value types; scores / token_type arrays whose length
 * differs from the token list; a special-token id >= n_vocab; a merge without
 * a "left right" separator; add_bos/add_eos set without a BOS/EOS token),
 * TK_ERR_LIMIT (more than 16M tokens or merges), TK_ERR_NOMEM.
 *
 * Defaults when keys are missing:
 *  - spm: bos 1, eos 2, unk 0 (each only when inside the vocabulary),
 *    add_bos true, add_eos false, add_space_prefix true;
 *  - bpe: no bos/eos/unk unless given, add_bos per pre-tokenizer (true for
 *    llama3-style and tekken), add_eos false, add_space_prefix false.
 * Special-token ids that are negative or 0xFFFFFFFF mean "none"; other ids
 * >= n_vocab are errors, except the padding id (a warning, then "none": it
 * plays no part in tokenizing).
 *
 * Pre-tokenizers (bpe): default, gpt-2, llama3 (llama-bpe, llama-v3, ...),
 * qwen2, deepseek-llm, deepseek-coder, falcon, starcoder, refact, mpt,
 * command-r, olmo, smollm, tekken, gpt-4o (llama4), dbrx, smaug-bpe,
 * stablelm2, chatglm-bpe, poro-chat, bloom, gpt3-finnish, viking and their
 * aliases. A missing `tokenizer.ggml.pre` means "default". An unknown name is
 * not an error: a warning is logged and the gpt-2 rules are used (a close
 * approximation for most byte-level BPE models); tk_tokenizer_pre() then
 * reports "gpt-2 (fallback for '<name>')".
 *
 * tokenizer.json: errors name the document and the field ("tokenizer.json:
 * model.merges[12]: expected a string"): TK_ERR_FORMAT (invalid JSON, wrong
 * field types, merges naming tokens outside the vocabulary, two tokens with
 * one id, add_bos_token without a BOS token), TK_ERR_UNSUPPORTED (model types
 * other than BPE, such as WordPiece or Unigram, other pipeline steps, regexes
 * PCRE2 cannot compile), TK_ERR_LIMIT (ids of 16M and above, documents over
 * 512 MiB). BOS / EOS / UNK / PAD come from tokenizer_config.json, else the
 * post-processor, else config.json; add_special adds what the post-processor
 * adds, or, where it adds nothing, BOS / EOS as tokenizer_config.json's
 * add_bos_token / add_eos_token ask (as Python's `transformers` does).
 * End of generation: EOS, generation_config.json's eos_token_id (an id or a
 * list) and the end-of-turn tokens found by text (below).
 */
tk_status tk_tokenizer_load(const tk_gguf *g, tk_tokenizer **out);
void tk_tokenizer_free(tk_tokenizer *t);

/* ---- vocabulary queries ------------------------------------------------ */

int32_t tk_tokenizer_n_vocab(const tk_tokenizer *t);
/* "spm" or "bpe". Static string. For tokenizer.json: "spm" when its decoder
 * drops the leading space of the text (SentencePiece-style BPE), else "bpe". */
const char *tk_tokenizer_model(const tk_tokenizer *t);
/* The pre-tokenizer in use: the file's `tokenizer.ggml.pre` when known
 * ("llama-bpe", "qwen2", ...), "default" when missing, "gpt-2 (fallback for
 * '<name>')" when unknown, "spm" for spm vocabularies, "tokenizer.json" for
 * Hugging Face vocabularies. Borrowed, lives as long as t. */
const char *tk_tokenizer_pre(const tk_tokenizer *t);
bool tk_tokenizer_add_bos(const tk_tokenizer *t);
bool tk_tokenizer_add_eos(const tk_tokenizer *t);
bool tk_tokenizer_add_space_prefix(const tk_tokenizer *t);

/* Special ids, -1 when the vocabulary has none. EOT is taken from
 * tokenizer.ggml.eot_token_id or else found by text (<|eot_id|>, <|im_end|>,
 * <|end|>, <end_of_turn>, <|endoftext|>, ... in that order). */
int32_t tk_token_bos(const tk_tokenizer *t);
int32_t tk_token_eos(const tk_tokenizer *t);
int32_t tk_token_eot(const tk_tokenizer *t);
int32_t tk_token_unk(const tk_tokenizer *t);
int32_t tk_token_pad(const tk_tokenizer *t);

/* True for tokens that end a generation: EOS, EOT, EOM and the end-of-turn
 * tokens found by text (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>,
 * <|endoftext|>, <|eom_id|>, <|end_of_text|>, <EOT>, ...). Such tokens are
 * treated as control tokens even where the file typed them otherwise.
 * False for ids out of range. */
bool tk_token_is_eog(const tk_tokenizer *t, int32_t id);
/* The effective type (CONTROL for tokens promoted as above);
 * TK_TOKEN_UNDEFINED for ids out of range. */
tk_token_type tk_token_get_type(const tk_tokenizer *t, int32_t id);
/* True for control and unknown-type tokens: the tokens that detokenizing
 * leaves out unless asked to render special tokens. */
bool tk_token_is_special(const tk_tokenizer *t, int32_t id);
/* The token's text as stored in the vocabulary (e.g. "▁the", "Ġthe",
 * "<|im_end|>"); *len (optional) receives its length. NUL-terminated,
 * borrowed, lives as long as t. NULL for ids out of range. */
const char *tk_token_text(const tk_tokenizer *t, int32_t id, size_t *len);
/* Id of the token whose vocabulary text is exactly `text` (NUL-terminated),
 * -1 if none. */
int32_t tk_token_find(const tk_tokenizer *t, const char *text);

/* ---- tokenizing ---------------------------------------------------------
 *
 * Tokenizes `len` bytes of `text` (any bytes; invalid UTF-8 is tolerated the
 * way the reference engine does: U+FFFD for bpe, byte fallback for spm;
 * tokenizer.json vocabularies read U+FFFD for each ill-formed subpart).
 *  - add_special: add BOS / EOS as the vocabulary asks (tk_tokenizer_add_bos,
 *    tk_tokenizer_add_eos).
 *  - parse_special: control tokens written in the text (e.g. "<|im_end|>")
 *    become their single id, longest first; otherwise they are ordinary text.
 *    User-defined tokens are always matched as single ids, as in the reference.
 * Writes up to max_ids ids and *n_ids = the number of ids. When max_ids is too
 * small returns TK_ERR_LIMIT with *n_ids = the number needed (ids untouched
 * beyond max_ids). Errors: TK_ERR_INVALID_ARG, TK_ERR_LIMIT (text longer than
 * 1 GiB, or a pathological pre-tokenizer match), TK_ERR_TOKENIZER, TK_ERR_NOMEM.
 */
tk_status tk_tokenize(const tk_tokenizer *t, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t *ids, size_t max_ids, size_t *n_ids);
/* Same, allocating: *ids is owned by the caller (free with free()); it is
 * non-NULL on success even when *n_ids is 0. */
tk_status tk_tokenize_alloc(const tk_tokenizer *t, const char *text, size_t len, bool add_special,
                            bool parse_special, int32_t **ids, size_t *n_ids);

/* ---- detokenizing -------------------------------------------------------
 *
 * The bytes of one token: spm "▁" becomes a space and <0xNN> the byte NN;
 * bpe text is mapped back through the GPT-2 byte table. Control and unknown
 * tokens give "" unless `special` is true (then their text). A piece may be
 * part of a UTF-8 character. Writes the piece and a NUL to buf (size bytes);
 * *len = the piece length. TK_ERR_LIMIT (with *len set) when size < len + 1;
 * TK_ERR_INVALID_ARG for ids out of range.
 */
tk_status tk_token_piece(const tk_tokenizer *t, int32_t id, bool special, char *buf, size_t size,
                         size_t *len);

/* Text of a token sequence, as the reference engine detokenizes it:
 *  - remove_special: drop a leading BOS / trailing EOS when the vocabulary
 *    adds them;
 *  - render_special: include the text of control tokens;
 *  - when the vocabulary adds a space prefix (spm), one leading space of the
 *    first piece is removed, unless the sequence starts with a removed BOS;
 *  - for vocabularies that ask for it (gpt-2, llama3, falcon, starcoder, ...),
 *    the clean-up of tokenization spaces: " ?", " !", " .", " ," lose the
 *    space, " ' " becomes "'", and " 's", " 'm", " 're", " 've" lose the
 *    space.
 * tokenizer.json vocabularies decode instead as their decoder says (leading
 * space, Strip, clean_up_tokenization_spaces of tokenizer_config.json), and
 * remove_special drops the ids the post-processor adds.
 * The result is raw bytes (not necessarily valid UTF-8). Writes it and a NUL
 * to out (size bytes); *len = its length; TK_ERR_LIMIT (with *len = the
 * length needed) when size < len + 1. TK_ERR_INVALID_ARG for ids out of range.
 */
tk_status tk_detokenize(const tk_tokenizer *t, const int32_t *ids, size_t n, bool remove_special,
                        bool render_special, char *out, size_t size, size_t *len);
/* Same, allocating: *out (NUL-terminated) is owned by the caller, free with
 * free(). */
tk_status tk_detokenize_alloc(const tk_tokenizer *t, const int32_t *ids, size_t n,
                              bool remove_special, bool render_special, char **out, size_t *len);

/* ---- streaming detokenizer ----------------------------------------------
 *
 * For printing generated tokens as they come: feed ids one at a time and get
 * back only complete, valid UTF-8. An incomplete multi-byte sequence at the
 * end is held back (at most 3 bytes) until the bytes that complete it arrive.
 * Ill-formed bytes are replaced by U+FFFD, one per maximal ill-formed
 * subpart (the Unicode "best practice" of chapter 3): a stray continuation
 * byte, a lead byte not followed by the continuation it needs, an overlong
 * form, a surrogate or a value above U+10FFFF. tk_detok_stream_flush() turns
 * a held incomplete tail into one U+FFFD.
 *
 * Pieces are concatenated as they are: no leading-space removal (unless
 * TK_DETOK_STRIP_LEADING_SPACE is given, which applies the spm rule of
 * tk_detokenize to the first piece) and no clean-up of spaces, so a stream
 * continues the text of a prompt faithfully.
 */
typedef struct tk_detok_stream tk_detok_stream;

enum {
    TK_DETOK_RENDER_SPECIAL = 1 << 0,      /* include the text of control tokens */
    TK_DETOK_STRIP_LEADING_SPACE = 1 << 1, /* spm: drop one leading space of the first piece */
};

/* Creates a stream over `t` (borrowed; must outlive the stream). All memory
 * is allocated here; feeding never allocates. Free with tk_detok_stream_free. */
tk_status tk_detok_stream_create(const tk_tokenizer *t, unsigned flags, tk_detok_stream **out);
void tk_detok_stream_free(tk_detok_stream *s);
/* Forgets held bytes and the first-piece state. */
void tk_detok_stream_reset(tk_detok_stream *s);
/* Changes the TK_DETOK_* flags (from the next piece on). */
void tk_detok_stream_set_flags(tk_detok_stream *s, unsigned flags);
/* Feeds one id. *text receives the newly complete text (NUL-terminated,
 * borrowed, valid until the next call on s) and *len its length (may be 0).
 * TK_ERR_INVALID_ARG for ids out of range (the stream is unchanged). */
tk_status tk_detok_stream_feed(tk_detok_stream *s, int32_t id, const char **text, size_t *len);
/* Ends the text: returns what is held (replaced as described) and resets. */
tk_status tk_detok_stream_flush(tk_detok_stream *s, const char **text, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
