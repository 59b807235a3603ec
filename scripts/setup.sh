#!/usr/bin/env bash
# Installs what tektra needs on Debian/Ubuntu (only what is missing), then
# configures and builds it in ./build.
#   scripts/setup.sh             install missing packages, configure, build
#   scripts/setup.sh --deps-only install missing packages only
#   ... --with-mlx               also the packages that building Apple's MLX
#                                from ../shared/deps/mlx needs (scripts/mlx.sh)
#   ... --with-ccache            also ccache (the test script's compiler cache)
#   ... --with-chromium          also chromium and nodejs (browser tests, playwright-core)
#   ... --with-podman            also podman, runc and debootstrap (the container test,
#                                scripts/docker-test.sh)
#   ... --with-mingw             also mingw-w64, wine and dpkg-dev (the Windows
#                                cross-build and its tests under wine,
#                                scripts/windows-test.sh)
#   scripts/setup.sh --help      this text
# Works as root and through sudo; does nothing to the system when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config libcjson-dev libmicrohttpd-dev
          libcurl4-openssl-dev libedit-dev libpcre2-dev)
deps_only=0
for a in "$@"; do
    case "$a" in
    --deps-only) deps_only=1 ;;
    --with-mlx) packages+=(g++ libopenblas-dev liblapacke-dev libfmt-dev nlohmann-json3-dev
                           ninja-build) ;;
    --with-ccache) packages+=(ccache) ;;
    --with-chromium) packages+=(chromium nodejs) ;;
    --with-podman) packages+=(podman runc debootstrap) ;;
    --with-mingw) packages+=(gcc-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 wine wine64
                             dpkg-dev) ;;
    -h | --help)
        # The comment at the top of this file.
        sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
    *) echo "setup: unknown option '$a'" >&2; exit 2 ;;
    esac
done

# Installed for this machine's architecture (or for all): the arm64 -dev
# packages that scripts/test-arm.sh adds do not count for the native build.
arch=$(dpkg --print-architecture)
installed() {
    dpkg-query -W -f='${Status} ${Architecture}\n' "$1" 2>/dev/null |
        grep -Eq "^install ok installed ($arch|all)$"
}

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done

# Node.js and npm (the tokenizer tests compare against Hugging Face's
# JavaScript tokenizers): Debian's packages unless node and npm are already
# there in some other form (a Node.js distribution bundles its own npm).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    for p in nodejs npm; do
        installed "$p" || missing+=("$p")
    done
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
else
    echo "setup: all packages are installed"
fi

if [ "$deps_only" = 1 ]; then
    exit 0
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
echo "setup: built build/tektra"
