# The HTTP server end to end: the real `tektra serve` over loopback, driven
# with libcurl; plus the request parser and JSON writer directly.
tk_test(NAME test_server SOURCES test_server.c LABELS e2e MODULES server gguf TIMEOUT 240)
target_link_libraries(test_server PRIVATE PkgConfig::CURL PkgConfig::CJSON)
add_dependencies(test_server tektra_bin)
