#!/usr/bin/env bash
# Mixed-precision check: trains the built-in model twice with the same seed and data, once
# with fp32 products and once with bf16 products (`xtc train --dtype bf16`), and compares
# the final validation losses (the bf16 one must be within 2% of fp32's).
# Usage: scripts/bf16_convergence.sh [STEPS (1000)] [OUT_DIR (bf16-runs)] [extra xtc train options]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-1000}
out=${2:-bf16-runs}
shift $(( $# > 2 ? 2 : $# ))
xtc=./build/xtc
[ -x "$xtc" ] || { echo "build xtc first (cmake --build build)" >&2; exit 1; }
mkdir -p "$out"
$xtc info --cpu | head -1
for dtype in f32 bf16; do
    rm -rf "$out/$dtype"
    start=$(date +%s)
    $xtc train --out "$out/$dtype" --steps "$steps" --eval-every "$steps" --eval-batches 32 --log-every 100 \
        --sample 0 --dtype "$dtype" "$@" | tee "$out/$dtype.log" | grep -E "^model|^step +$steps/"
    echo "$dtype: $(( $(date +%s) - start )) s"
done
val() { grep -E "^step +$steps/" "$1" | sed -E 's/.*val ([0-9.]+).*/\1/'; }
v32=$(val "$out/f32.log")
v16=$(val "$out/bf16.log")
awk -v a="$v32" -v b="$v16" 'BEGIN {
    d = (b / a - 1) * 100
    printf "validation loss: fp32 %.4f, bf16 %.4f (%+.2f%%): %s\n", a, b, d, (d < 2 && d > -2) ? "within 2%" : "NOT within 2%"
    exit (d < 2 && d > -2) ? 0 : 1 }'
