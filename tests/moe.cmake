# Mixture of experts: routing unit tests and qwen3moe models built from the
# dense qwen3 oracle model, at the best kernel level and at the generic one.
tk_test(NAME test_moe SOURCES test_moe.c LABELS model
        MODULES core quant gguf safetensors hfdir kernels model platform)
add_test(NAME test_moe_generic COMMAND test_moe)
set_tests_properties(test_moe_generic PROPERTIES LABELS "model" TIMEOUT 300
    ENVIRONMENT "TK_SHARED=${TK_SHARED};TEKTRA_CPU=generic")
