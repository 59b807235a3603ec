#!/usr/bin/env bash
# The cost of constrained decoding: generation speed of `tektra run` with
# and without a JSON-schema constraint, on the Qwen2.5-0.5B-shaped
# synthetic Q4_K_M model (its 151,936-token vocabulary is what the
# constraint's trie walks), temperature 1, several seeds each.
#   bench/grammar.sh [BUILD_DIR] [THREADS]
# Environment: SEEDS="1 2 3", BENCH_DIR=/tmp/tektra-bench (models kept there).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-2}
out=${BENCH_DIR:-/tmp/tektra-bench}
mkdir -p "$out"
model="$out/qwen2.5-0.5b-Q4_K_M.gguf"
if [ ! -f "$model" ]; then
    echo "bench: making $model"
    "$build/synth_model" --preset qwen2.5-0.5b --type Q4_K_M -o "$model"
fi
schema="$out/grammar-bench-schema.json"
cat >"$schema" <<'JSON'
{"type": "object",
 "properties": {"title": {"type": "string"}, "year": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}}},
 "required": ["title", "year", "tags"], "additionalProperties": false}
JSON

# Prints the generation rate (tokens/s) and token count of one run.
rate() {
    "$build/tektra" run -m "$model" -p "Write a record" --chat -n 128 --temp 1 --seed "$1" \
        -t "$threads" -v "${@:2}" 2>&1 >/dev/null |
        sed -n 's/.*generated \([0-9]*\) tokens at \([0-9.]*\) t\/s.*/\2 \1/p'
}

# The two modes alternate, so that a busy machine slows both alike.
printf '%-12s %6s %10s %8s\n' mode seed tokens/s tokens
declare -A sum
sum[plain]=0
sum[json-schema]=0
n=0
for seed in ${SEEDS:-1 2 3}; do
    for mode in plain json-schema; do
        if [ "$mode" = plain ]; then r=$(rate "$seed"); else r=$(rate "$seed" --json-schema "$schema"); fi
        read -r tps toks <<<"$r"
        printf '%-12s %6s %10s %8s\n' "$mode" "$seed" "$tps" "$toks"
        sum[$mode]=$(echo "${sum[$mode]} + $tps" | bc -l)
    done
    n=$((n + 1))
done
p=$(echo "${sum[plain]} / $n" | bc -l)
j=$(echo "${sum[json-schema]} / $n" | bc -l)
printf 'mean: plain %.1f tokens/s, json-schema %.1f tokens/s (%+.1f%%)\n' "$p" "$j" \
    "$(echo "($j - $p) * 100 / $p" | bc -l)"
