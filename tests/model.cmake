tk_test(NAME test_model SOURCES test_model.c LABELS model
        MODULES core quant gguf kernels model platform)
tk_test(NAME test_model_e2e SOURCES test_model_e2e.c LABELS e2e MODULES core)
add_dependencies(test_model_e2e tektra_bin)
