# Grammar engine: parser errors, the byte matcher, JSON grammars, the
# token constraint over real vocabularies, logit_bias and masking (unit).
tk_test(NAME test_grammar SOURCES test_grammar.c LABELS unit MODULES core gguf tokenizer grammar backend)
target_link_libraries(test_grammar PRIVATE PkgConfig::CJSON)
