tk_test(NAME test_assistant SOURCES test_assistant.c LABELS e2e MODULES core)
target_link_libraries(test_assistant PRIVATE util)
add_dependencies(test_assistant tektra_bin)
