#!/usr/bin/env bash
# The checks and measurements that need a CPU with AVX-512, AVX512_BF16 or AMX, in one run:
# on such a machine the kernels of those levels run for real (elsewhere the tests run their
# sources built for AVX2 and the rows below measure nothing new).
#
#   1. which kernels this CPU gets (`xtc info --cpu`);
#   2. the kernel unit tests at every level the CPU has (each test forces the lower levels too);
#   3. bf16 training against PyTorch's bf16 autocast and against xtc's own fp32
#      (bench.py --suite train: the small GPT and the 124M model, fp32 and bf16 rows);
#   4. decoding against the DRAM bound, fp32 / bf16 / int8 weights (--suite generate);
#   5. long contexts against PyTorch's SDPA flash and einsum paths (--suite long);
#   6. bf16 convergence: 1,000 steps, validation loss within 2% of fp32's.
#
# Usage: bench/cpu_level_checks.sh [PYTHON (python3 with torch and x-transformers 2.31.10)]
# Writes the tables into bench/README.md (bench.py --write-readme) and logs under
# cpu-level-checks/. Takes about an hour on 2 cores; nothing else should run meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:-python3}
out=cpu-level-checks
mkdir -p "$out"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null

./build/xtc info --cpu | tee "$out/cpu.txt"
grep -qE 'avx512f|avx512_bf16|amx' "$out/cpu.txt" ||
    echo "note: no AVX-512 here: the rows below repeat what the AVX2 tables already show" >&2

ctest --test-dir build --output-on-failure -R 'matvec|cpu|vec|bf16|attention|backend' | tee "$out/ctest.txt"

"$py" bench/bench.py --suite train --write-readme | tee "$out/train.txt"
"$py" bench/bench.py --suite generate --write-readme | tee "$out/generate.txt"
"$py" bench/bench.py --suite long --rounds 2 --write-readme | tee "$out/long.txt"
scripts/bf16_convergence.sh 1000 "$out/bf16-runs" | tee "$out/bf16_convergence.txt"
