# The HTTP server end to end: the real `tektra serve` over loopback, driven
# with libcurl; plus the request parser and JSON writer directly.
tk_test(NAME test_server SOURCES test_server.c LABELS e2e MODULES server gguf TIMEOUT 240)
target_link_libraries(test_server PRIVATE tk::curl tk::cjson)
add_dependencies(test_server tektra_bin)

# Tool calls, structured output and logit_bias: units and the real server
# with real chat templates.
tk_test(NAME test_server_tools SOURCES test_server_tools.c LABELS e2e MODULES server gguf grammar tokenizer
        TIMEOUT 240)
target_link_libraries(test_server_tools PRIVATE tk::curl tk::cjson)
add_dependencies(test_server_tools tektra_bin)
