#!/usr/bin/env bash
# Runs the whole test suite: installs missing packages (chromium and node
# included, for the browser test of the chat page), builds with warnings
# as errors and runs every test, then builds again with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs every test again, then cross-builds
# for aarch64 and runs the kernel and model tests under qemu at every ARM
# kernel level (scripts/test-arm.sh), then compiles every file for arm64 and
# x86_64 macOS with clang (scripts/macos-check.sh), then cross-builds for
# Windows and runs the tests under wine (scripts/windows-test.sh), then builds
# the container image and runs it (scripts/docker-test.sh). Both native passes include the MLX
# backend (Apple's MLX built once per machine from ../shared/deps/mlx by
# scripts/mlx.sh, on MLX's CPU device); a quick build without MLX checks
# that builds without it still work.
#   scripts/test.sh            all passes
#   scripts/test.sh --quick    the normal pass only
set -euo pipefail
cd "$(dirname "$0")/.."
mlx_flags=()
if [ -f ../shared/deps/mlx/SHA256SUMS ]; then
    scripts/setup.sh --deps-only --with-mlx --with-ccache --with-chromium
    mlx_prefix=$(scripts/mlx.sh)
    mlx_flags=(-DTEKTRA_MLX=ON "-DTEKTRA_MLX_PREFIX=$mlx_prefix")
else
    scripts/setup.sh --deps-only --with-ccache --with-chromium
    echo "== no ../shared/deps/mlx: testing without the MLX backend"
fi
# A compiler cache outside the repository, so that a machine that ran the
# suite before rebuilds in seconds (paths are hashed relative to the clone).
export CCACHE_DIR=${TEKTRA_CACHE:-$HOME/.cache/tektra}/ccache
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
# npm packages the tokenizer tests compare against, and playwright-core for
# the browser test of the chat page (caches outside the repo; no browser is
# downloaded: the test drives the system's chromium).
scripts/npm-cache.sh >/dev/null
scripts/npm-cache.sh browser >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build and test (release, -Werror)"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release -DTEKTRA_WERROR=ON "${mlx_flags[@]}" >/dev/null
cmake --build build-test -j"$jobs"
ctest --test-dir build-test -j"$jobs" --output-on-failure

echo "== build without MLX (library and programs)"
cmake -S . -B build-nomlx -DCMAKE_BUILD_TYPE=Release -DTEKTRA_WERROR=ON -DTEKTRA_MLX=OFF \
    -DTEKTRA_BUILD_TESTS=OFF >/dev/null
cmake --build build-nomlx -j"$jobs" --target tektra_bin test_platform
build-nomlx/tektra --version | grep -q "MLX backend: not compiled in"
build-nomlx/test_platform >/dev/null

if [ "${1:-}" = "--quick" ]; then
    exit 0
fi

echo "== build and test (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTEKTRA_WERROR=ON \
    -DTEKTRA_SANITIZE=address,undefined "${mlx_flags[@]}" >/dev/null
cmake --build build-asan -j"$jobs"
# libmlxc.so is not instrumented; LeakSanitizer reports nothing inside it
# (checked with MLX 0.31.2), so no suppressions are needed.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -j"$jobs" --output-on-failure

# The ARM kernel levels, cross-built and emulated (on an ARM machine the
# passes above already ran the levels its CPU has).
case "$(uname -m)" in
aarch64 | arm64) echo "== ARM host: the ARM levels ran natively above (test_model_neon, ...)" ;;
*) scripts/test-arm.sh ;;
esac

# macOS, checked from here: every C file compiled with clang for
# arm64-apple-macos13 and x86_64-apple-macos13, with the options a
# universal build gives the kernel files (scripts/macos-check.sh says what
# that proves and what it does not; nothing here runs on a Mac).
echo "== macOS: every file compiled for arm64 and x86_64 macOS (clang, no SDK)"
scripts/macos-check.sh build-test

# Windows: cross-built with mingw-w64 and tested under wine
# (scripts/windows-test.sh: the unit and golden-model tests, end-to-end runs
# of tektra and test_platform).
echo "== Windows (mingw-w64, under wine)"
scripts/windows-test.sh

# The container image: built with podman from a debootstrap base and run
# (scripts/docker-test.sh; the base and the layers are cached, so a warm
# machine takes seconds).
echo "== the container (Dockerfile)"
if scripts/setup.sh --deps-only --with-podman >/dev/null 2>&1; then
    scripts/docker-test.sh
else
    echo "== podman and debootstrap cannot be installed here: the container test is skipped"
fi
