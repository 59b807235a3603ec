# safetensors reader/writer tests and the fuzz target.
tk_test(NAME test_safetensors SOURCES test_safetensors.c LABELS unit
    MODULES core quant gguf safetensors)

# A standalone driver (fuzz_driver.c) feeds the fuzz entry point seeds made in memory and a
# fixed set of deterministic mutations of them (with gcc or clang alike), so
# the entry point runs under ASan/UBSan in the sanitizer builds.
add_executable(fuzz_safetensors fuzz_safetensors.c fuzz_safetensors_main.c fuzz_driver.c)
target_link_libraries(fuzz_safetensors PRIVATE tk_safetensors tk_gguf tk_quant tk_core)
target_include_directories(fuzz_safetensors PRIVATE ${CMAKE_SOURCE_DIR}/src
    ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME fuzz_safetensors COMMAND fuzz_safetensors 20000)
set_tests_properties(fuzz_safetensors PROPERTIES LABELS fuzz TIMEOUT 300
    ENVIRONMENT "TK_SHARED=${TK_SHARED};TK_BIN=${CMAKE_BINARY_DIR};TK_SRC=${CMAKE_SOURCE_DIR}")
