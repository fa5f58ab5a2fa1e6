#!/usr/bin/env bash
# Data-parallel training against one process, side by side in one run: the same model, corpus
# and global batch (8 x 256 bytes by default) trained by
#   one:  1 process, 2 threads, --accum 2            (the reference)
#   zero: mpirun -np 2, 1 thread each, sharded AdamW state (ZeRO-1, the default)
#   full: mpirun -np 2, 1 thread each, --no-zero     (replicated state, all-reduce)
# and prints one markdown row per run: tokens/s over the steps after the first (the first
# pays page faults and MPI's first touches; the last pays the validation pass: both left out),
# its ratio to `one`, and the trainer's own communication summary (exposed = waited after the
# backward; blocking = what a step would wait without overlap; all-gather = ZeRO-1's, after the
# update). The losses of all runs must agree (printed). Needs an idle machine.
# Usage: bench/data_parallel.sh [CONFIG.json] [STEPS]   (default: the 124M GPT-2 shape, 6 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
xtc=${XTC:-build/xtc}
steps=${2:-6}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
config=${1:-$work/gpt2-124M.json}
[ -n "${1:-}" ] || cat >"$config" <<'EOF'
{"class": "TransformerWrapper", "kwargs": {"num_tokens": 50304, "max_seq_len": 256,
 "attn_layers": {"class": "Decoder", "kwargs": {"dim": 768, "depth": 12, "heads": 12}}}}
EOF
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(--config "$config" --seq-len 256 --batch 4 --steps "$steps" --warmup 2 --eval-every 100000
        --save-every 100000 --log-every 1 --sample 0 --force)
mpi=(mpirun -np 2 --bind-to core -x OMP_NUM_THREADS=1)

run() { # name, command...
    local name=$1
    shift
    echo "== $name: $* (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
    "$@" --out "$work/$name" >"$work/$name.out" 2>&1 || { tail -20 "$work/$name.out" >&2; exit 1; }
}
run one env OMP_NUM_THREADS=2 "$xtc" train "${common[@]}" --accum 2 --threads 2
run zero "${mpi[@]}" "$xtc" train "${common[@]}" --accum 1 --threads 1
run full "${mpi[@]}" "$xtc" train "${common[@]}" --accum 1 --threads 1 --no-zero

# tokens/s between the end of step 1 and the end of step STEPS-1 (log.csv: elapsed_s column 7)
tps() { awk -F, -v last=$((steps - 1)) -v tok=$((8 * 256)) \
    '$1 == 1 { t0 = $7 } $1 == last { t1 = $7 } END { printf "%.1f", (last - 1) * tok / (t1 - t0) }' "$work/$1/log.csv"; }
base=$(tps one)
echo "| run | tokens/s | vs one process | exposed / blocking sum per step | all-gather | hidden | final loss |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for r in one zero full; do
    t=$(tps $r)
    loss=$(awk -F, -v s="$steps" '$1 == s { print $2 }' "$work/$r/log.csv")
    comm=$(grep '^communication:' "$work/$r.out" || true)
    exposed=$(sed -n 's/.*waited \([0-9.]*\) ms.*/\1/p' <<<"$comm")
    blocking=$(sed -n 's/.*would wait \([0-9.]*\) ms.*/\1/p' <<<"$comm")
    gather=$(sed -n 's/.*all-gather of the parameters \([0-9.]*\) ms.*/\1/p' "$work/$r.out")
    if [ -n "$exposed" ]; then
        # hidden: the share of all communication (sum + all-gather) that the step did not wait for
        hidden=$(awk -v e="$exposed" -v b="$blocking" -v g="${gather:-0}" 'BEGIN { printf "%.1f%%", 100 * (1 - (e + g) / (b + g)) }')
        cell="$exposed / $blocking ms"
    else
        hidden="" cell=""
    fi
    ratio=$(awk -v a="$t" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
    echo "| $r | $t | $ratio | $cell | ${gather:+$gather ms} | $hidden | $loss |"
done
