# Model directories (Hugging Face / mlx-community layout) opened as in-memory
# GGUF: conversions and errors (the golden logits are in test_model).
tk_test(NAME test_hfdir SOURCES test_hfdir.c LABELS unit MODULES core quant gguf safetensors hfdir)

# The real programs on model directories (label e2e).
tk_test(NAME test_hfdir_e2e SOURCES hfdir_e2e.c LABELS e2e MODULES core)
add_dependencies(test_hfdir_e2e tektra_bin)
