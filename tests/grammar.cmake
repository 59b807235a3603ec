# Grammar engine: parser errors, the byte matcher, JSON grammars, the
# token constraint over real vocabularies, logit_bias and masking (unit).
tk_test(NAME test_grammar SOURCES test_grammar.c LABELS unit MODULES core gguf tokenizer grammar backend)
target_link_libraries(test_grammar PRIVATE tk::cjson)

# tektra run --grammar / --json-schema through the real binary.
tk_test(NAME test_cli_grammar SOURCES test_cli_grammar.c LABELS e2e MODULES core)
target_link_libraries(test_cli_grammar PRIVATE tk::cjson)
add_dependencies(test_cli_grammar tektra_bin)
