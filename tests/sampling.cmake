tk_test(NAME test_sampling SOURCES test_sampling.c LABELS unit MODULES core sampling)
