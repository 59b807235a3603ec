#!/usr/bin/env bash
# Cross-builds tektra for 64-bit Windows with mingw-w64 and runs its tests
# under wine:
#   - CTest under wine: the unit, kernel, fuzz and golden-model tests (every
#     x86 kernel level this CPU has: test_kernels checks each against the
#     reference, test_model runs the golden models at the best level and at
#     TEKTRA_CPU=generic and avx2), test_chat_e2e (tektra template through
#     CreateProcess); the tests that cannot run on Windows are listed in
#     tests/windows-skip.txt and reported as disabled;
#   - end to end: test_platform (windows x86_64, GGUF chosen, MLX
#     unavailable "using GGUF on Windows"), tektra info, tektra run (the
#     greedy story of the reference engine), tektra logits (against the
#     reference engine's logits, batched and incremental) at every level,
#     --help listing every command, a UTF-8 argument and path, and the chat
#     in a console (a pseudo-terminal that wine makes a console of);
#   - tektra pull, list and rm (WinHTTP): the hub's end-to-end test, built
#     for this machine with its loopback HTTP server, run against tektra.exe;
#   - tektra serve: health, a chat completion and a streamed completion
#     over loopback.
# PCRE2 and cJSON come from scripts/windows-deps.sh (built once, cached).
# Installs the compiler and wine when missing (scripts/setup.sh --with-mingw).
#   scripts/windows-test.sh          build and test
#   scripts/windows-test.sh --build  build only
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=build-win64
scripts/setup.sh --deps-only --with-mingw >/dev/null
cache=${TEKTRA_CACHE:-$HOME/.cache/tektra}
prefix=$(scripts/windows-deps.sh)
jobs=$(nproc 2>/dev/null || echo 2)

echo "== cross-build for Windows x86-64 (mingw-w64, release, -Werror)"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release -DTEKTRA_WERROR=ON -DTEKTRA_MLX=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$jobs"
if [ "${1:-}" = "--build" ]; then
    exit 0
fi

export WINEPREFIX=$cache/wine WINEDEBUG=-all
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    echo "== creating the wine prefix $WINEPREFIX (once)"
    wineboot -i >/dev/null 2>&1 || true
fi
start=$(date +%s)
failed=0
fail() {
    echo "FAILED: $*" >&2
    failed=1
}

echo "== CTest under wine"
ctest --test-dir "$build" -j"$jobs" --output-on-failure || fail "ctest under wine"

echo "== end to end under wine"
shared=$(cd "$root/../shared" && pwd)
model=$shared/models/stories260K.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
win() { wine "$root/$build/$1.exe" "${@:2}"; }

out=$(win test_platform 2>&1) || fail "test_platform: exit $?"
grep -q "^Current platform: windows x86_64" <<<"$out" || fail "test_platform: not windows x86_64"
grep -q "Correctly selected GGUF on Windows" <<<"$out" || fail "test_platform: GGUF not chosen"
grep -q "MLX: Not available (Apple Silicon only - using GGUF on Windows)" <<<"$out" ||
    fail "test_platform: MLX not reported unavailable"
levels=$(sed -n 's/^Kernel levels this CPU runs: \(.*\) (TEKTRA_CPU.*/\1/p' <<<"$out")
echo "test_platform: windows x86_64, GGUF; kernel levels: $levels"

out=$(win tektra info "$model" 2>&1) || fail "tektra info: exit $?"
grep -q "^architecture   llama" <<<"$out" || fail "tektra info: no architecture line"
grep -q "vocabulary     llama, 512 tokens" <<<"$out" || fail "tektra info: no vocabulary line"

out=$(win tektra --help 2>&1) || fail "tektra --help: exit $?"
for cmd in chat run serve pull info logits; do
    grep -q "^  $cmd " <<<"$out" || fail "tektra --help does not list $cmd"
done

# The reference engine's greedy story after "Once upon a time" (the first
# 40 tokens of it; the model's output is compared as text).
want=$(head -c 160 "$shared/oracle/stories260K-p1.txt" | sed 's/^ //')
tokens=$(tr -d ' \n' <"$shared/oracle/tokens.txt")
for level in $levels; do
    out=$(TEKTRA_CPU=$level win tektra run -m "$model" --temp 0 -n 40 "Once upon a time" 2>/dev/null) ||
        fail "tektra run at $level: exit $?"
    case "$out" in
    "${want:0:100}"*) ;;
    *) fail "tektra run at $level: got '$out'" ;;
    esac
    for mode in "" --incremental; do
        rm -f "$tmp/l.f32"
        TEKTRA_CPU=$level win tektra logits -m "$shared/oracle/llama-f32.gguf" --tokens "$tokens" \
            -o "$tmp/l.f32" $mode >/dev/null 2>&1 || fail "tektra logits $mode at $level: exit $?"
        # NMSE against the reference (F32: at most 1e-6).
        nmse=$(paste <(od -An -v -f -w4 "$tmp/l.f32") <(od -An -v -f -w4 "$shared/oracle/llama-f32.logits") |
            awk '{d = $1 - $2; num += d * d; den += $2 * $2; n++}
                 END {if (n == 0 || den == 0) print "nan"; else printf "%.3e\n", num / den}')
        awk -v e="$nmse" 'BEGIN {exit !(e != "nan" && e + 0 <= 1e-6)}' ||
            fail "tektra logits $mode at $level: nmse $nmse"
        echo "tektra logits ${mode:---batched} at $level: nmse $nmse"
    done
done
echo "tektra run: the reference story at every level"

# A prompt with characters outside the ANSI code page reaches the model
# intact (the UTF-16 command line turned into UTF-8).
# "é" is one token of the vocabulary; 世 (e4 b8 96) falls back to its bytes.
out=$(win tektra tokenize -m "$model" "héllo → 世界" 2>&1) || fail "tektra tokenize (UTF-8): exit $?"
if grep -q '"é"' <<<"$out" && tr '\n' ' ' <<<"$out" | grep -q '"\\xe4" [0-9]*[[:space:]]*"\\xb8" [0-9]*[[:space:]]*"\\x96"'; then
    echo "tektra tokenize: a UTF-8 argument arrives intact"
else
    fail "tektra tokenize: the UTF-8 argument was mangled: $out"
fi

# A model under a path outside the ANSI code page (UTF-8 inside tektra,
# UTF-16 at the Windows API).
mkdir -p "$tmp/modèles-模型"
cp "$model" "$tmp/modèles-模型/störies.gguf"
out=$(win tektra run -m "$tmp/modèles-模型/störies.gguf" --temp 0 -n 12 "Once upon a time" 2>&1) ||
    fail "tektra run on a UTF-8 path: $out"
case "$out" in
"${want:0:40}"*) echo "tektra run: a model under a UTF-8 path" ;;
*) fail "tektra run on a UTF-8 path: got '$out'" ;;
esac

# tektra pull/list/rm through WinHTTP: the hub's end-to-end test (built for
# this machine, with its loopback HTTP server: downloads by name and by
# hf: spec with checksums, resumed after a dropped connection, whole model
# directories, errors) drives tektra.exe under wine.
echo "== tektra pull (WinHTTP) against the hub test's loopback server"
cmake -S . -B "$build-host" -DCMAKE_BUILD_TYPE=Release -DTEKTRA_MLX=OFF "${launcher[@]}" >/dev/null
cmake --build "$build-host" -j"$jobs" --target test_hub >/dev/null
mkdir -p "$tmp/bin"
printf '#!/bin/sh\nexec wine "%s" "$@"\n' "$root/$build/tektra.exe" >"$tmp/bin/tektra"
chmod +x "$tmp/bin/tektra"
out=$(TK_BIN=$tmp/bin TK_SHARED=$shared "$build-host/tests/test_hub" e2e 2>&1) ||
    fail "tektra pull/list/rm (test_hub e2e against tektra.exe): $(grep -m5 'CHECK failed' <<<"$out")"
echo "test_hub e2e with tektra.exe: $(tail -1 <<<"$out")"

# tektra serve (libmicrohttpd built for Windows, the server's sockets on
# Winsock): health, a chat completion (the reference story's words) and a
# streamed completion over loopback. The server is ended with kill: a POSIX
# signal to wine is not a console event, so the graceful stop is not tested
# here.
echo "== tektra serve under wine"
wine "$root/$build/tektra.exe" serve --port 0 -m "$model" >"$tmp/serve.log" 2>&1 &
serve_pid=$!
port=""
for _ in $(seq 1 300); do
    port=$(sed -n 's|^tektra: listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/serve.log")
    [ -n "$port" ] && grep -q "^tektra: ready" "$tmp/serve.log" && break
    sleep 0.1
done
if [ -z "$port" ]; then
    fail "tektra serve did not start: $(cat "$tmp/serve.log")"
else
    url=http://127.0.0.1:$port
    out=$(curl -s -m 30 "$url/health") || true
    [ "$out" = '{"status":"ok"}' ] || fail "serve /health: $out"
    out=$(curl -s -m 60 "$url/v1/chat/completions" -H 'Content-Type: application/json' \
        -d '{"messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":20,"temperature":0}') || true
    grep -q '"object":"chat.completion"' <<<"$out" && grep -q '"completion_tokens":20' <<<"$out" ||
        fail "serve chat completion: $out"
    out=$(curl -s -m 60 -N "$url/v1/completions" -H 'Content-Type: application/json' \
        -d '{"prompt":"Once upon a time","max_tokens":8,"temperature":0,"stream":true}') || true
    # The eight tokens go on with the reference engine's story.
    text=$(sed -n 's/.*"text":"\([^"]*\)".*/\1/p' <<<"$out" | tr -d '\n')
    story=$(sed 's/^ //' "$shared/oracle/stories260K-p1.txt")
    [ ${#text} -ge 10 ] && [[ "$story" == "Once upon a time$text"* ]] &&
        grep -q '^data: \[DONE\]' <<<"$out" || fail "serve streamed completion: '$text'"
    echo "tektra serve: health, chat completion and a streamed completion ('$text')"
fi
kill "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true

# The chat in a console: wine makes a console of a pseudo-terminal (script),
# the line is read with ReadConsoleW, UTF-8 included, answered, and /quit
# leaves.
if command -v script >/dev/null; then
    rc=0
    out=$( (sleep 8; printf 'Once upon a time h\303\251llo\r'; sleep 8; printf '/quit\r'; sleep 3) |
        timeout 60 script -qfec "wine $build/tektra.exe -m $model --temp 0 -n 12" /dev/null 2>&1) ||
        rc=$?
    if [ "$rc" = 0 ] && grep -q "Once upon a time héllo" <<<"$out" && grep -q "/quit" <<<"$out"; then
        echo "tektra chat: a line typed in the console answered, /quit left"
    else
        fail "tektra chat in a console (exit $rc): $(tail -c 300 <<<"$out" | cat -v)"
    fi
fi

echo "== wine tests: $(($(date +%s) - start)) s"
if [ "$failed" != 0 ]; then
    echo "windows-test.sh: FAILED" >&2
    exit 1
fi
echo "windows-test.sh: all Windows tests passed"
