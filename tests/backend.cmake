tk_test(NAME test_backend SOURCES test_backend.c LABELS unit)
