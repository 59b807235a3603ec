/* tektra model directories: models in the Hugging Face / mlx-community
 * layout (config.json, *.safetensors with an optional index,
 * tokenizer.json, tokenizer_config.json, generation_config.json).
 *
 * A directory is opened as a tk_gguf built in memory, so every part of
 * tektra that reads a GGUF file (the engine, the tokenizer, `tektra info`)
 * reads a directory the same way. What a converter to GGUF would do is done
 * while opening: Hugging Face tensor names become GGUF names, llama's Q and
 * K rows are permuted back to the order GGUF's RoPE expects, gemma's norm
 * weights get their +1, RoPE scaling becomes the keys and tensors GGUF uses,
 * and MLX's affine-quantized weights (uint32-packed `weight` with `scales`
 * and `biases`) become the engine's TK_TYPE_MLX* types. Tensors that need no
 * change stay in the memory-mapped safetensors files.
 *
 * The tokenizer rides along as the GGUF specification's
 * `tokenizer.huggingface.json` key (the whole tokenizer.json), with
 * `tokenizer.huggingface.config` (tokenizer_config.json),
 * `tokenizer.huggingface.generation_config` (generation_config.json) and
 * `tokenizer.huggingface.model_config` (config.json); the chat template is
 * `tokenizer.chat_template` as in a GGUF file. A directory with only the
 * tokenizer files opens as a vocabulary-only model.
 */
#ifndef TEKTRA_MODELDIR_H
#define TEKTRA_MODELDIR_H

#include "tektra/core.h"
#include "tektra/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* True when `path` names a directory (a model directory is the only kind of
 * directory tektra opens as a model). */
bool tk_model_dir_is(const char *path);

/* Opens a model directory. On failure *out is NULL and tk_last_error() names
 * the file and the problem (TK_ERR_NOT_FOUND when the directory holds no
 * model: no config.json and no tokenizer.json). Free with tk_gguf_close(). */
tk_status tk_model_dir_open(const char *dir, tk_gguf **out);

/* The same without the weights: the hyper-parameter and tokenizer keys only
 * (for a backend that reads the weights itself, such as MLX). */
tk_status tk_model_dir_open_meta(const char *dir, tk_gguf **out);

/* A GGUF file or a model directory, whichever `path` is. */
tk_status tk_model_source_open(const char *path, tk_gguf **out);

/* What a tk_gguf opened from a directory came from: "mlx" (MLX-quantized
 * weights), "safetensors" (unquantized weights), "tokenizer" (tokenizer files
 * only), or NULL for a GGUF file. */
const char *tk_model_source_format(const tk_gguf *g);

#ifdef __cplusplus
}
#endif
#endif
