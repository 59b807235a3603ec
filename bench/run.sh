#!/usr/bin/env bash
# Reproducible speed benchmark, no downloads: makes Qwen2.5-0.5B-shaped
# models with random weights (tools/synth_model) in Q4_K_M and Q8_0 and runs
# `tektra bench` on them (pp512 and tg128, 2 threads unless told).
#   bench/run.sh [BUILD_DIR] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-2}
out=${BENCH_DIR:-/tmp/tektra-bench}
mkdir -p "$out"
for type in Q4_K_M Q8_0; do
    f="$out/qwen2.5-0.5b-$type.gguf"
    if [ ! -f "$f" ]; then
        echo "bench: making $f"
        "$build/synth_model" --preset qwen2.5-0.5b --type "$type" -o "$f"
    fi
    "$build/tektra" bench -m "$f" -p 512 -n 128 -t "$threads" -r 3
    echo
done
