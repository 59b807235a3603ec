# Every kernel level this CPU runs against plain arithmetic (label kernel).
tk_test(NAME test_kernels SOURCES test_kernels.c LABELS kernel
        MODULES core quant gguf kernels platform)

# `tektra bench` runs on a small model and prints its table (label e2e).
tk_test(NAME test_bench_e2e SOURCES bench_e2e.c LABELS e2e MODULES core)
add_dependencies(test_bench_e2e tektra_bin)
target_link_libraries(test_bench_e2e PRIVATE tk::cjson)
