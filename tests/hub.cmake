# The hub: SHA-256, catalogue, store, downloads against a loopback HTTP
# server started by the test itself (no internet), list/rm/resolve.
tk_test(NAME test_hub SOURCES test_hub.c hub_server.c LABELS unit
        MODULES core platform config gguf hub TIMEOUT 120)
# The same program drives the real `tektra pull/list/rm`.
tk_test(NAME test_hub_e2e SOURCES test_hub.c hub_server.c ARGS e2e LABELS e2e
        MODULES core platform config gguf hub TIMEOUT 120)
add_dependencies(test_hub_e2e tektra_bin)
