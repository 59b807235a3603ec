# Chat-template engine: the unit tests (language, limits, built-ins, the
# shared golden vectors) and an end-to-end run of `tektra template` by the
# same program in --e2e mode.
tk_test(NAME test_chat SOURCES test_chat.c LABELS unit MODULES core chat)
tk_test(NAME test_chat_e2e SOURCES test_chat.c ARGS --e2e LABELS e2e MODULES core chat)
add_dependencies(test_chat_e2e tektra_bin)
