# Model directories (Hugging Face / mlx-community layout) opened as in-memory
# GGUF: conversions and errors (the golden logits are in test_model).
tk_test(NAME test_hfdir SOURCES test_hfdir.c LABELS unit MODULES core quant gguf safetensors hfdir)
