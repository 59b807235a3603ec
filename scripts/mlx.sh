#!/usr/bin/env bash
# Builds Apple's MLX and its C API (mlx-c) from the source archives in
# ../shared/deps/mlx into a cache folder outside the repository, once per
# machine (keyed by the archives' hashes), and prints the install prefix.
#   scripts/mlx.sh            build if missing, print the prefix
#   scripts/mlx.sh --prefix   print the prefix only (exit 1 when not built yet)
# The cache folder is $TEKTRA_CACHE (default ~/.cache/tektra).
set -euo pipefail
cd "$(dirname "$0")/.."
deps=$(realpath -m ../shared/deps/mlx)
if [ ! -f "$deps/SHA256SUMS" ]; then
    echo "mlx: no MLX sources at $deps" >&2
    exit 1
fi
key=$(sha256sum "$deps/SHA256SUMS" | cut -c1-16)
cache=${TEKTRA_CACHE:-$HOME/.cache/tektra}
prefix="$cache/mlx-$key"
if [ -f "$prefix/.complete" ]; then
    echo "$prefix"
    exit 0
fi
if [ "${1:-}" = "--prefix" ]; then
    exit 1
fi
(cd "$deps" && sha256sum --quiet -c SHA256SUMS) >&2
mkdir -p "$cache"
exec 9>"$cache/mlx-$key.lock"
flock 9
if [ ! -f "$prefix/.complete" ]; then
    echo "mlx: building MLX into $prefix (about 8 minutes on 2 cores, once per machine)" >&2
    rm -rf "$prefix"
    JOBS=$(nproc 2>/dev/null || echo 2) bash "$deps/build-mlx.sh" "$deps" "$prefix" \
        "$cache/mlx-build-$key" >"$cache/mlx-$key.log" 2>&1 || {
        echo "mlx: the build failed; see $cache/mlx-$key.log" >&2
        tail -20 "$cache/mlx-$key.log" >&2
        exit 1
    }
    rm -rf "$cache/mlx-build-$key"
    touch "$prefix/.complete"
fi
echo "$prefix"
