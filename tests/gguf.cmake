# GGUF reader/writer tests, the `tektra info` end-to-end test and the fuzz target.
tk_test(NAME test_gguf SOURCES test_gguf.c LABELS unit MODULES core quant gguf)

tk_test(NAME test_gguf_e2e SOURCES gguf_e2e.c LABELS e2e MODULES core quant gguf)
add_dependencies(test_gguf_e2e tektra_bin)

# Fuzzing. With clang and a working libFuzzer, fuzz_gguf is a libFuzzer
# binary (the GGUF sources compiled into it with coverage instrumentation)
# run for 30 seconds on seeds made at test time. Otherwise (gcc) a standalone
# driver feeds the same entry point the seeds and a fixed set of
# deterministic mutations, so the entry point runs under ASan/UBSan either way.
set(TK_FUZZ_LIBFUZZER OFF)
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
        set(TK_FUZZ_LIBFUZZER ON)
    endif()
endif()

if(TK_FUZZ_LIBFUZZER)
    # writes the seed files into the directory it is given
    add_executable(fuzz_gguf_seeds gguf_fuzz_seeds.c)
    target_compile_definitions(fuzz_gguf_seeds PRIVATE GGUF_SEEDS_MAIN)
    target_link_libraries(fuzz_gguf_seeds PRIVATE tk_gguf tk_quant tk_core)
    file(GLOB _gguf_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/gguf/*.c)
    add_executable(fuzz_gguf fuzz_gguf.c ${_gguf_srcs})
    target_compile_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=all)
    target_link_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_gguf PRIVATE tk_quant tk_core)
    target_include_directories(fuzz_gguf PRIVATE ${CMAKE_SOURCE_DIR}/src
        ${CMAKE_CURRENT_SOURCE_DIR})
    add_test(NAME fuzz_gguf COMMAND sh -c
        "d=$(mktemp -d) || exit 1; \"$0\" \"$d\" && \"$1\" -max_total_time=30 -timeout=10 \
-rss_limit_mb=2048 \"$d\"; rc=$?; rm -rf \"$d\"; exit $rc"
        $<TARGET_FILE:fuzz_gguf_seeds> $<TARGET_FILE:fuzz_gguf>)
else()
    add_executable(fuzz_gguf fuzz_gguf.c fuzz_gguf_main.c fuzz_driver.c gguf_fuzz_seeds.c)
    target_link_libraries(fuzz_gguf PRIVATE tk_gguf tk_quant tk_core)
    target_include_directories(fuzz_gguf PRIVATE ${CMAKE_SOURCE_DIR}/src
        ${CMAKE_CURRENT_SOURCE_DIR})
    add_test(NAME fuzz_gguf COMMAND fuzz_gguf 20000)
endif()
set_tests_properties(fuzz_gguf PROPERTIES LABELS fuzz TIMEOUT 300
    ENVIRONMENT "TK_SHARED=${TK_SHARED};TK_BIN=${CMAKE_BINARY_DIR};TK_SRC=${CMAKE_SOURCE_DIR}")
