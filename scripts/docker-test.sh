#!/usr/bin/env bash
# Builds the container image (Dockerfile) with podman and runs it: the
# platform report, `tektra run` on stories260K, and `tektra serve` answering
# /health and a chat request from outside the container.
#   scripts/docker-test.sh
# No registry is needed: the Debian bookworm base is made with debootstrap
# --variant=minbase from Debian's archive and kept as a tarball in
# ${TEKTRA_CACHE:-~/.cache/tektra}/docker, then imported into podman.
# Exits 77 (skipped) when podman or debootstrap is not installed
# (scripts/setup.sh --with-podman installs them); needs root for debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in podman debootstrap; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "docker-test: SKIP: $tool is not installed (scripts/setup.sh --with-podman)"
        exit 77
    fi
done
cache=${TEKTRA_CACHE:-$HOME/.cache/tektra}/docker
mkdir -p "$cache"
base=localhost/tektra-debian:bookworm
if ! podman image exists "$base"; then
    tarball=$cache/debian-bookworm-minbase.tar
    if [ ! -f "$tarball" ]; then
        echo "== debootstrap: a Debian bookworm base (once per machine)"
        root=$(mktemp -d)
        debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 ||
            { tail -20 "$cache/debootstrap.log"; exit 1; }
        tar -C "$root" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$root"
    fi
    podman import "$tarball" "$base" >/dev/null
fi

echo "== podman build"
image=localhost/tektra:test
# chroot isolation and runc: what works inside this kind of VM as well as
# on a workstation.
podman build --isolation chroot --build-arg BASE="$base" -t "$image" . >"$cache/build.log" 2>&1 ||
    { tail -30 "$cache/build.log"; exit 1; }
podman image inspect "$image" --format 'image size: {{.Size}} bytes'
run=(podman run --rm --runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
shared=$(cd ../shared && pwd)

echo "== test_platform in the container"
report=$("${run[@]}" --entrypoint test_platform "$image")
echo "$report" | head -3
grep -q "linux" <<<"$report"

echo "== tektra run on stories260K in the container"
out=$("${run[@]}" -v "$shared/models:/shared:ro" "$image" run -m /shared/stories260K.gguf \
    -p "Once upon a time" -n 8 --temp 0)
echo "$out"
grep -q "^Once upon a time" <<<"$out"

echo "== tektra serve in the container, asked from outside"
port=$((20000 + RANDOM % 20000))
name=tektra-test-$$
podman run -d --name "$name" --runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
    -p "127.0.0.1:$port:8080" -v "$shared/models:/shared:ro" "$image" \
    serve -m /shared/stories260K.gguf --host 0.0.0.0 --port 8080 >/dev/null
trap 'podman rm -f "$name" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -sf "http://127.0.0.1:$port/health"
echo
answer=$(curl -sf "http://127.0.0.1:$port/v1/chat/completions" \
    -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"temperature":0}')
grep -q '"finish_reason"' <<<"$answer"
echo "docker-test: the image builds, runs and serves"
