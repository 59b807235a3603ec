# The chat page of `tektra serve` in a real browser (Debian's chromium driven
# by playwright-core): streaming, Stop, conversations, Markdown, safety, API
# key, errors, screenshots. Skipped when chromium or node is missing.
add_test(NAME test_web COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/web/run.sh)
set_tests_properties(test_web PROPERTIES LABELS e2e TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "TK_SHARED=${TK_SHARED};TK_BIN=${CMAKE_BINARY_DIR};TK_SRC=${CMAKE_SOURCE_DIR}")

# The embedded files and GET /props' JSON, without a browser.
tk_test(NAME test_server_web SOURCES test_server_web.c LABELS unit MODULES server)
target_link_libraries(test_server_web PRIVATE tk::cjson)
