# The whole-path fuzz target (fuzz_load.c): model file -> GGUF reader ->
# tokenizer -> model load with the weight checks -> a two-token decode. The
# standalone driver (fuzz_driver.c) runs the seeds (small real models from
# ../shared) and a fixed number of deterministic mutations, under ASan and
# UBSan in the sanitizer build. For long runs by hand:
#   TK_SHARED=../shared build-asan/tests/fuzz_load 200000
add_executable(fuzz_load fuzz_load.c fuzz_load_main.c fuzz_driver.c)
target_link_libraries(fuzz_load PRIVATE tektra)
target_include_directories(fuzz_load PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR})
add_test(NAME fuzz_load COMMAND fuzz_load 1500)
set_tests_properties(fuzz_load PROPERTIES LABELS fuzz TIMEOUT 300
    ENVIRONMENT "TK_SHARED=${TK_SHARED}")
