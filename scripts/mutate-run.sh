#!/usr/bin/env bash
# Mutates the shared models and runs the real programs on each mutant:
# `tektra info`, `tektra run`, `tektra tokenize` and `tektra logits`, built
# with AddressSanitizer and UndefinedBehaviorSanitizer. A mutant may be
# refused with an error; a sanitizer report, a crash (signal) or a hang
# (20 s) is a failure, and the mutant is kept for replay.
#   scripts/mutate-run.sh [BUILD_DIR] [COUNT]    (default build-asan, 1500)
# Mutations: bit flips, random bytes, overwritten 32/64-bit counts and
# sizes, NaN/infinity written into the tensor data, truncation, duplicated
# chunks. The random sequence is fixed (SEED, default 1), so runs repeat.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
count=${2:-1500}
RANDOM=${SEED:-1}
bin="$build/tektra"
[ -x "$bin" ] || { echo "mutate-run: no $bin (build with -DTEKTRA_SANITIZE=address,undefined)" >&2; exit 2; }
out=${MUTATE_DIR:-/tmp/tektra-mutants}
mkdir -p "$out"
seeds=(../shared/models/stories260K.gguf ../shared/oracle/llama-q2_k.gguf
    ../shared/oracle/gemma3-mix-q4_0.gguf ../shared/oracle/qwen2-mix-q4_k_m.gguf
    ../shared/oracle/llama-iq4_xs.gguf ../shared/oracle/phi3-mix-q6_k.gguf
    ../shared/tokenizer/vocab-llama-spm.gguf)
export ASAN_OPTIONS=detect_leaks=1:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87
export TEKTRA_MODELS="$out/store"

rand32() { echo $(((RANDOM << 17 | RANDOM << 2 | RANDOM & 3) & 0x7fffffff)); }
put_bytes() { # file offset hex-bytes...
    local f=$1 off=$2
    shift 2
    printf "$(printf '\\x%s' "$@")" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}

mutate() { # file size
    local f=$1 size=$2 off
    # most edits land in the first 64 KiB (header, metadata, tensor table)
    if [ $((RANDOM % 4)) -ne 0 ]; then off=$(($(rand32) % (size < 65536 ? size : 65536))); else off=$(($(rand32) % size)); fi
    case $((RANDOM % 7)) in
    0 | 1) put_bytes "$f" "$off" "$(printf %02x $((RANDOM % 256)))" ;;
    2) put_bytes "$f" "$off" ff ff ff ff ;;
    3) put_bytes "$f" "$off" $(printf '%02x ' $((RANDOM % 256)) 0 0 0 0 0 0 0) ;;
    4) put_bytes "$f" $(($(rand32) % size)) 00 00 c0 7f ;; # NaN (f32), or two halves
    5) truncate -s "$off" "$f" ;;
    *) dd if="$f" of="$f" bs=1 skip=$(($(rand32) % size)) seek="$off" count=$((1 + RANDOM % 256)) conv=notrunc status=none ;;
    esac
}

fail=0
for ((i = 0; i < count; i++)); do
    seed=${seeds[$((RANDOM % ${#seeds[@]}))]}
    m="$out/m$i.gguf"
    cp "$seed" "$m"
    chmod u+w "$m"
    size=$(stat -c %s "$m")
    for ((k = 0; k <= RANDOM % 3; k++)); do mutate "$m" "$size"; size=$(stat -c %s "$m"); [ "$size" -gt 0 ] || break; done
    bad=""
    for cmd in "info $m" "run -m $m -p Hi -n 4 --temp 0 -t 1" "tokenize -m $m Hello" \
        "logits -m $m --tokens 1,2 -o $out/l.f32 -t 1"; do
        # shellcheck disable=SC2086
        timeout 20 "$bin" $cmd >/dev/null 2>"$out/err"
        rc=$?
        if [ $rc -eq 86 ] || [ $rc -eq 87 ] || [ $rc -ge 124 ]; then
            bad="$cmd (exit $rc)"
            break
        fi
    done
    if [ -n "$bad" ]; then
        fail=$((fail + 1))
        echo "mutate-run: $m: $bad"
        head -5 "$out/err"
    else
        rm -f "$m"
    fi
done
echo "mutate-run: $count mutants through info, run, tokenize, logits: $fail failures"
[ "$fail" -eq 0 ]
