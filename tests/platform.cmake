tk_test(NAME test_platform_unit SOURCES test_platform_unit.c LABELS unit)
