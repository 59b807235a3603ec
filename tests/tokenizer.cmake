# Tokenizer tests: golden vectors, extra vocabularies, streaming, malformed
# vocabularies and speed (unit); `tektra tokenize` / `tektra detokenize` on the
# real model (e2e, the same source built with TOK_TEST_E2E).
tk_test(NAME test_tokenizer SOURCES test_tokenizer.c LABELS unit MODULES core gguf tokenizer)
target_link_libraries(test_tokenizer PRIVATE tk::cjson)

tk_test(NAME test_tokenizer_e2e SOURCES test_tokenizer.c LABELS e2e MODULES core)
target_compile_definitions(test_tokenizer_e2e PRIVATE TOK_TEST_E2E)
add_dependencies(test_tokenizer_e2e tektra_bin)
