/* Test helper: a GGUF model with F32 tensors written as a Hugging Face model
 * directory (hf_export.c). */
#ifndef TK_TEST_HF_EXPORT_H
#define TK_TEST_HF_EXPORT_H

#include "tektra/core.h"

/* Writes `dir`/config.json and `dir`/model.safetensors (dir must exist). */
tk_status hf_export(const char *gguf_path, const char *dir);

#endif
