#!/bin/sh
# A 100-step run of the small GPT (dim 256, depth 4, heads 4, seq 256, batch 4) must end with a
# validation loss far below its step-0 value (at most 75% of it; a model that learns nothing stays at
# ~5.5 nats/byte, one that learns byte statistics reaches ~3). Usage: train_converges.sh XTC CONFIG
set -eu
xtc=$1 config=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$xtc" train --config "$config" --data /usr/share/common-licenses --out "$out/run" --steps 100 --batch 4 \
    --seq-len 256 --warmup 10 --lr 2e-3 --min-lr 2e-4 --eval-every 100 --eval-batches 4 --save-every 100 \
    --log-every 25 --sample 0
awk -F, 'NR > 1 && $3 != "nan" { if (first == "") first = $3; last = $3 }
         END { printf "validation loss: step 0 %.4f -> step 100 %.4f\n", first, last;
               if (first == "" || last > 0.75 * first) { print "FAIL: no convergence"; exit 1 } }' "$out/run/log.csv"
