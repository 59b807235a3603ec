#!/usr/bin/env bash
# Runs the whole test suite: installs missing packages, builds with warnings
# as errors and runs every test, then builds again with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs every test again, then cross-builds
# for aarch64 and runs the kernel and model tests under qemu at every ARM
# kernel level (scripts/test-arm.sh).
#   scripts/test.sh            all passes
#   scripts/test.sh --quick    the normal pass only
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --deps-only
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

# The ARM kernel levels, cross-built and emulated (on an ARM machine the
# passes above already ran the levels its CPU has).
case "$(uname -m)" in
aarch64 | arm64) echo "== ARM host: the ARM levels ran natively above (test_model_neon, ...)" ;;
*) scripts/test-arm.sh ;;
esac
