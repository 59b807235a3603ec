tk_test(NAME test_config SOURCES test_config.c LABELS unit MODULES core platform config)
