// Expected outputs of Hugging Face's own JS tokenizer (@huggingface/tokenizers)
// for one tokenizer.json + tokenizer_config.json, on every input of
// ../shared/tokenizer/inputs.txt (separated by "\n__ggml_vocab_test__\n").
//
//   node tok_reference.mjs NPM_DIR TOKENIZER_JSON TOKENIZER_CONFIG_JSON INPUTS OUT_JSON
//
// NPM_DIR is the folder scripts/npm-cache.sh prints (it holds node_modules).
// OUT_JSON receives {vectors: [{text, ids, ids_special, decoded, ...}]}:
//   ids          encode(text, {add_special_tokens: false}): control-token
//                text recognised, nothing added;
//   ids_special  the ids with add_special_tokens as the Python `transformers`
//                library adds them: the JS result, plus, where the
//                post-processor adds nothing, BOS / EOS when
//                tokenizer_config.json asks for them (add_bos_token /
//                add_eos_token). The JS library ignores those two keys;
//                `bos_from_config` / `eos_from_config` say when they applied;
//   decoded      decode(ids, {skip_special_tokens: false}) ("" for no ids:
//                the JS library refuses an empty list).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [npmDir, tokPath, cfgPath, inputsPath, outPath] = process.argv.slice(2);
if (!outPath) {
    console.error("usage: node tok_reference.mjs NPM_DIR TOKENIZER_JSON CONFIG_JSON INPUTS OUT_JSON");
    process.exit(2);
}
const require = createRequire(path.join(path.resolve(npmDir), "package.json"));
const { Tokenizer } = require("@huggingface/tokenizers");

const tokJson = JSON.parse(readFileSync(tokPath, "utf8"));
const cfgJson = cfgPath && cfgPath !== "-" ? JSON.parse(readFileSync(cfgPath, "utf8")) : {};
const tok = new Tokenizer(tokJson, cfgJson);

const content = (x) => (x && typeof x === "object" ? x.content : x);
const idOf = (x) => {
    const c = content(x);
    return typeof c === "string" ? tok.token_to_id(c) : undefined;
};
// Does the post-processor add anything at all?
const probe = "a";
const ppAdds =
    tok.encode(probe, { add_special_tokens: true }).ids.length !==
    tok.encode(probe, { add_special_tokens: false }).ids.length;
const bosId = idOf(cfgJson.bos_token);
const eosId = idOf(cfgJson.eos_token);
const addBos = !ppAdds && cfgJson.add_bos_token === true && bosId !== undefined;
const addEos = !ppAdds && cfgJson.add_eos_token === true && eosId !== undefined;

const inputs = readFileSync(inputsPath, "utf8").split("\n__ggml_vocab_test__\n");
const vectors = inputs.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    let special = tok.encode(text, { add_special_tokens: true }).ids;
    if (addBos) special = [bosId, ...special];
    if (addEos) special = [...special, eosId];
    const decoded = ids.length ? tok.decode(ids, { skip_special_tokens: false }) : "";
    return { text, ids, ids_special: special, decoded };
});
writeFileSync(
    outPath,
    JSON.stringify({ bos_from_config: addBos, eos_from_config: addEos, vectors }),
);
