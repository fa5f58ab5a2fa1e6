#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, library instrumented, ASan + UBSan) into build-fuzz/ and
# runs each for SECONDS (default 30) on its seed corpus, in a scratch copy (the committed seeds
# are not changed). Exits non-zero when a target crashes, leaks or reports a sanitizer error.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]      (tests/fuzz/README.md)
# Long runs: FUZZ_RUNS=N (a number of executions instead of SECONDS) runs each target in
# libFuzzer's fork mode on FUZZ_JOBS processes (default: every core) until N executions in all,
# stopping at the first crash; the log stays in fuzz-runs/TARGET.log (crash inputs: fuzz-runs/).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_config fuzz_json fuzz_safetensors fuzz_case fuzz_train_state fuzz_corpus fuzz_npy)
export OMP_NUM_THREADS=1 # the models are tiny: idle OpenMP threads would only spin
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXTC_FUZZ=ON -DXTC_WERROR=OFF >/dev/null
cmake --build build-fuzz -j2 --target "${targets[@]}" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
    case $t in
    fuzz_config | fuzz_json) seeds=(tests/fuzz/corpus/config) ;;
    fuzz_safetensors) seeds=(tests/golden tests/bad) ;;
    fuzz_case) seeds=(tests/fuzz/corpus/case) ;; # its flags below: whole cases, slow executions
    fuzz_train_state) seeds=(tests/fuzz/corpus/train_state) ;;
    fuzz_corpus) seeds=(tests/fuzz/corpus/corpus) ;;
    fuzz_npy) seeds=(tests/fuzz/corpus/npy) ;;
    *) seeds=() ;;
    esac
    mkdir -p "$work/$t"
    if [ "$t" = fuzz_safetensors ]; then # its seeds are the .safetensors files of the case directories
        find "${seeds[@]}" -name '*.safetensors' -size -256k -exec cp {} "$work/$t/" \; 2>/dev/null || true
        seeds=()
    fi
    rc=0
    flags=(-max_len=65536)
    [ "$t" != fuzz_case ] || flags=(-max_len=300000 -entropic=0)
    log="$work/$t.log"
    if [ -n "${FUZZ_RUNS:-}" ]; then
        # shorter allocation stacks in reports (rerun a crash input for full ones): ~10% faster
        mkdir -p fuzz-runs
        log="fuzz-runs/$t.log"
        echo "== $t: $FUZZ_RUNS executions on ${FUZZ_JOBS:-$(nproc)} processes (log: $log)"
        start=$(date +%s)
        ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=2} ./build-fuzz/tests/"$t" -runs="$FUZZ_RUNS" \
            -fork="${FUZZ_JOBS:-$(nproc)}" -artifact_prefix=fuzz-runs/ "${flags[@]}" -rss_limit_mb=2048 \
            "$work/$t" "${seeds[@]}" >"$log" 2>&1 || rc=$?
        # fork mode's progress lines: "#RUNS: cov: ... oom/timeout/crash: a/b/c time: Ns ..."
        grep -E "^#[0-9]+:" "$log" | tail -1
        echo "$t: $(($(date +%s) - start)) s"
    else
        echo "== $t: ${secs}s"
        ./build-fuzz/tests/"$t" -max_total_time="$secs" "${flags[@]}" -rss_limit_mb=2048 -print_final_stats=1 \
            "$work/$t" "${seeds[@]}" >"$log" 2>&1 || rc=$?
    fi
    grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|SUMMARY|Done)" "$log" || true
    if [ "$rc" -ne 0 ]; then
        tail -40 "$log"
        echo "$t failed (status $rc)"
        exit 1
    fi
done
