tk_test(NAME test_config SOURCES test_config.c LABELS unit MODULES core platform config)
tk_test(NAME fuzz_toml SOURCES fuzz_toml.c LABELS fuzz MODULES core platform config)
