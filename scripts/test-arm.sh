#!/usr/bin/env bash
# Cross-builds tektra for 64-bit ARM Linux and runs the kernel and model
# tests under qemu-user at every ARM kernel level, on emulated CPUs that have
# or lack each level's features:
#   cortex-a53  NEON only              -> neon       (dotprod refused)
#   cortex-a76  NEON + dot product     -> dotprod    (i8mm refused)
#   max         dot product + i8mm     -> i8mm
# test_kernels checks every level the emulated CPU runs against the
# reference; test_model runs the golden models at the level forced by
# TEKTRA_CPU. Installs the cross compiler, qemu and the arm64 libraries
# when missing (as root, or through sudo); fails when it cannot.
#   scripts/test-arm.sh          build (whole project) and test
#   scripts/test-arm.sh --quick  build only the test programs
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=build-arm64

libs="libcjson-dev:arm64 libpcre2-dev:arm64 libmicrohttpd-dev:arm64 libcurl4-openssl-dev:arm64
      libedit-dev:arm64"
missing=""
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=" gcc-aarch64-linux-gnu"
command -v qemu-aarch64 >/dev/null || missing+=" qemu-user qemu-user-binfmt"
for p in $libs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=" $p"
done
if [ -n "$missing" ]; then
    echo "== installing:$missing"
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "test-arm.sh: need root or sudo to install:$missing" >&2; exit 1; }
        sudo=sudo
    fi
    $sudo dpkg --add-architecture arm64
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

echo "== cross-build for aarch64 (release, -Werror)"
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
    -DCMAKE_BUILD_TYPE=Release -DTEKTRA_WERROR=ON >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)
if [ "${1:-}" = "--quick" ]; then
    cmake --build "$build" -j"$jobs" --target test_kernels test_model test_platform
else
    cmake --build "$build" -j"$jobs"
fi

# The arm64 C library and the libraries above are installed through
# multiarch under / (/lib/ld-linux-aarch64.so.1, /usr/lib/aarch64-linux-gnu),
# so qemu runs the programs with / as its prefix (not -L with the cross
# sysroot, which mixes two builds of glibc).
export QEMU_LD_PREFIX=/
export TK_SHARED="${TK_SHARED:-$(cd "$root/../shared" && pwd)}" TK_BIN="$root/$build" TK_SRC="$root"
failed=0
fail() {
    echo "FAILED: $*" >&2
    failed=1
}

start=$(date +%s)
for spec in cortex-a53:neon:dotprod cortex-a76:dotprod:i8mm max:i8mm:; do
    IFS=: read -r cpu level lacks <<<"$spec"
    echo "== qemu-aarch64 -cpu $cpu: level $level"
    out=$(qemu-aarch64 -cpu "$cpu" "$build/test_platform" 2>&1) || fail "$cpu: test_platform"
    grep -q "^Kernel level: $level$" <<<"$out" ||
        fail "$cpu: test_platform does not pick $level: $(grep '^Kernel level' <<<"$out")"
    grep "^CPU" <<<"$out" || true
    qemu-aarch64 -cpu "$cpu" "$build/tests/test_kernels" | grep -v "^  " ||
        fail "$cpu: test_kernels"
    TEKTRA_CPU=$level qemu-aarch64 -cpu "$cpu" "$build/tests/test_model" | tail -1 ||
        fail "$cpu: test_model at $level"
    if [ -n "$lacks" ]; then
        # A level the emulated CPU lacks: refused, naming the missing feature
        # (test_model exits 77 after checking that loading fails).
        rc=0
        out=$(TEKTRA_CPU=$lacks qemu-aarch64 -cpu "$cpu" "$build/tests/test_model" 2>&1) || rc=$?
        if [ "$rc" = 77 ] && grep -q "TEKTRA_CPU=$lacks cannot run here: this CPU lacks $lacks" <<<"$out"; then
            echo "TEKTRA_CPU=$lacks refused as expected"
        else
            fail "$cpu: TEKTRA_CPU=$lacks not refused (exit $rc): $out"
        fi
    fi
done
echo "== emulated tests: $(($(date +%s) - start)) s"
if [ "$failed" != 0 ]; then
    echo "test-arm.sh: FAILED" >&2
    exit 1
fi
echo "test-arm.sh: all ARM levels passed"
