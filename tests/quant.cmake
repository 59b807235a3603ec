# Type table tests (unit; reads the reference's golden floats and models).
tk_test(NAME test_quant SOURCES test_quant.c LABELS unit MODULES core quant gguf)

# `tektra quantize` and tools/synth_model, run as programs on real files.
tk_test(NAME test_quant_e2e SOURCES quant_e2e.c ARGS quantize LABELS e2e MODULES core quant gguf)
add_dependencies(test_quant_e2e tektra_bin)
tk_test(NAME test_synth_model SOURCES quant_e2e.c ARGS synth LABELS e2e MODULES core quant gguf)
add_dependencies(test_synth_model synth_model)
