tk_test(NAME test_programs SOURCES test_programs.c LABELS e2e MODULES core)
add_dependencies(test_programs tektra_bin test_platform)
