# The forward pass against the reference engine's logits, at the best kernel
# level of this CPU (test_model: avx512 where the CPU has it) and at the lower
# levels forced by TEKTRA_CPU; a level the CPU cannot run skips (exit 77).
# On aarch64 the levels are neon, dotprod and i8mm (scripts/test-arm.sh runs
# them under qemu on CPUs that have each).
tk_test(NAME test_model SOURCES test_model.c hf_export.c LABELS model
        MODULES core quant gguf safetensors hfdir kernels model platform)
target_link_libraries(test_model PRIVATE tk::cjson)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
    set(tk_model_levels generic neon dotprod i8mm)
else()
    set(tk_model_levels generic avx2)
endif()
foreach(level IN LISTS tk_model_levels)
    add_test(NAME test_model_${level} COMMAND test_model)
    set_tests_properties(test_model_${level} PROPERTIES LABELS "model" TIMEOUT 300
        SKIP_RETURN_CODE 77
        ENVIRONMENT "TK_SHARED=${TK_SHARED};TK_BIN=${CMAKE_BINARY_DIR};TK_SRC=${CMAKE_SOURCE_DIR};TEKTRA_CPU=${level}")
endforeach()
# An unknown TEKTRA_CPU: model loading refuses with the message (a pass).
add_test(NAME test_model_refuse COMMAND test_model)
set_tests_properties(test_model_refuse PROPERTIES LABELS "model" TIMEOUT 60
    ENVIRONMENT "TK_SHARED=${TK_SHARED};TK_BIN=${CMAKE_BINARY_DIR};TK_SRC=${CMAKE_SOURCE_DIR};TEKTRA_CPU=nonsense")
tk_test(NAME test_model_e2e SOURCES test_model_e2e.c LABELS e2e MODULES core)
add_dependencies(test_model_e2e tektra_bin)
# Attention at 4,096 tokens against a plain reference, batched and one token
# at a time, 1-3 threads; at this CPU's level and the generic one.
# (About 15 s on an idle machine; sanitizer builds and loaded machines take
# several times longer.)
tk_test(NAME test_long_context SOURCES test_long_context.c LABELS model TIMEOUT 900
        MODULES core quant gguf safetensors hfdir kernels model platform)
add_dependencies(test_long_context synth_model)
add_test(NAME test_long_context_generic COMMAND test_long_context)
set_tests_properties(test_long_context_generic PROPERTIES LABELS "model" TIMEOUT 900
    ENVIRONMENT "TK_SHARED=${TK_SHARED};TK_BIN=${CMAKE_BINARY_DIR};TK_SRC=${CMAKE_SOURCE_DIR};TEKTRA_CPU=generic")
