# The forward pass against the reference engine's logits, at the best kernel
# level of this CPU (test_model: avx512 where the CPU has it) and at the lower
# levels forced by TEKTRA_CPU; a level the CPU cannot run skips (exit 77).
tk_test(NAME test_model SOURCES test_model.c hf_export.c LABELS model
        MODULES core quant gguf safetensors hfdir kernels model platform)
target_link_libraries(test_model PRIVATE PkgConfig::CJSON)
foreach(level generic avx2)
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
