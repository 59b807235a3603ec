#!/usr/bin/env bash
# Reproducible speed benchmark, no downloads: makes Qwen2.5-0.5B-shaped
# models with random weights (tools/synth_model) in Q4_K_M and Q8_0 and runs
# `tektra bench` on them (pp512 and tg128, 2 threads unless told).
#   bench/run.sh [BUILD_DIR] [THREADS]
# Environment: LEVELS="generic avx2 avx512" runs each kernel level in turn
# (TEKTRA_CPU; default: the best this CPU has), REPS=3 repetitions,
# BENCH_DIR=/tmp/tektra-bench where the models are kept, DEPTHS="0,4096"
# the depths (tokens in the KV cache before each test, llama-bench's -d;
# default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-2}
out=${BENCH_DIR:-/tmp/tektra-bench}
reps=${REPS:-3}
depths=${DEPTHS:-0}
mkdir -p "$out"
for type in Q4_K_M Q8_0; do
    f="$out/qwen2.5-0.5b-$type.gguf"
    if [ ! -f "$f" ]; then
        echo "bench: making $f"
        "$build/synth_model" --preset qwen2.5-0.5b --type "$type" -o "$f"
    fi
    for level in ${LEVELS:-best}; do
        if [ "$level" = best ]; then
            "$build/tektra" bench -m "$f" -p 512 -n 128 -d "$depths" -t "$threads" -r "$reps"
        else
            TEKTRA_CPU=$level "$build/tektra" bench -m "$f" -p 512 -n 128 -d "$depths" -t "$threads" -r "$reps"
        fi
        echo
    done
done
