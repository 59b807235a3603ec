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

# With clang and libFuzzer: fuzz_load_libfuzzer, the same entry point under
# libFuzzer (coverage-guided; the library itself is instrumented only when
# the whole build uses -fsanitize=fuzzer-no-link). Not run by CTest: for
# long runs by hand, e.g.
#   build/tests/fuzz_load_libfuzzer -max_len=2000000 -max_total_time=3600 CORPUS_DIR
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    include(CheckCSourceCompiles)
    set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
    set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=fuzzer")
    check_c_source_compiles("
        #include <stddef.h>
        #include <stdint.h>
        int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }"
        TK_HAVE_LIBFUZZER)
    unset(CMAKE_REQUIRED_FLAGS)
    unset(CMAKE_REQUIRED_LINK_OPTIONS)
    if(TK_HAVE_LIBFUZZER)
        add_executable(fuzz_load_libfuzzer fuzz_load.c)
        target_compile_options(fuzz_load_libfuzzer PRIVATE -fsanitize=fuzzer)
        target_link_options(fuzz_load_libfuzzer PRIVATE -fsanitize=fuzzer)
        target_link_libraries(fuzz_load_libfuzzer PRIVATE tektra)
        target_include_directories(fuzz_load_libfuzzer PRIVATE ${CMAKE_SOURCE_DIR}/src
                                   ${CMAKE_CURRENT_SOURCE_DIR})
    endif()
endif()
