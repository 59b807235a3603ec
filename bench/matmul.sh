#!/usr/bin/env bash
# Builds bench/matmul.c against a build's static libraries and runs it:
# one packed matmul per type (default MLX4_G64, Q4_K, Q4_1; 896 x 4864, the
# shape of Qwen2.5-0.5B's ffn_down) at n = 1 and n = 512, one thread, at
# every SIMD level this CPU runs (TEKTRA_CPU=avx2 picks one).
#   bench/matmul.sh [BUILD_DIR] [ROWS COLS [TYPE ...]]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
cmake --build "$build" --target tk_kernels tk_quant tk_platform tk_core >/dev/null
out="$build/bench_matmul"
cc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/matmul.c -o "$out" \
    "$build/libtk_kernels.a" "$build/libtk_quant.a" "$build/libtk_platform.a" \
    "$build/libtk_core.a" -lpthread -lm
"$out" "$@"
