#!/usr/bin/env python3
"""Two builds of xtc side by side: the bench tools of build A (e.g. before a refactor) and
build B (after), on the same models, rounds interleaved A, B, A, B, ...; each cell the best
of its rounds. Prints a markdown table of B / A throughput (above 1: B is faster).

Usage:
    python bench/compare_builds.py --a OLD/build-bench/bench --b build-bench/bench [--rounds 5]
        [--only REGEX] [--threads 2]

Models are made with x-transformers (bench.py's configs and its save_model), once, in a
temporary directory. Only the xtc side runs: no PyTorch rounds, so small differences
between two xtc builds are not drowned in the PyTorch timings' noise."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (its configs and model writer)


def run(tool, args):
    out = subprocess.run([tool] + args, capture_output=True, text=True, check=True).stdout
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.eE+-]+)", out)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="bin dir of build A (the baseline)")
    ap.add_argument("--b", required=True, help="bin dir of build B")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=".")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="xtc-cmp-") as tmp:
        jobs = []
        for name, call, batch, seq in bench.FORWARD_CONFIGS:
            jobs.append(("forward " + name, "xtc_bench_forward", call,
                         ["--batch", str(batch), "--seq", str(seq), "--iters", "10", "--warmup", "3"], "tokens_per_s"))
        for name, call, batch, seq, warmup, steps in bench.TRAIN_CONFIGS:
            jobs.append(("train " + name, "xtc_bench_train", call,
                         ["--batch", str(batch), "--seq", str(seq), "--steps", str(steps), "--warmup", str(warmup)],
                         "tokens_per_s"))
        for name, call, batch, prompt, new, warmup, iters, dtype in bench.GEN_CONFIGS:
            jobs.append(("generate " + name, "xtc_bench_generate", call,
                         ["--batch", str(batch), "--prompt", str(prompt), "--new", str(new), "--iters", str(iters),
                          "--warmup", str(warmup), "--dtype", dtype], "tokens_per_s"))
        models = {}
        for label, tool, call, args, key in jobs:
            if not re.search(a.only, label):
                continue
            k = repr(call)
            if k not in models:
                models[k] = os.path.join(tmp, f"m{len(models)}")
                bench.save_model(call, models[k], 1234)
            best = {"A": 0.0, "B": 0.0}
            for r in range(a.rounds):
                for side, d in (("A", a.a), ("B", a.b)) if r % 2 == 0 else (("B", a.b), ("A", a.a)):
                    res = run(os.path.join(d, tool), [models[k]] + args + ["--threads", str(a.threads)])
                    best[side] = max(best[side], res[key])
            rows.append((label, best["A"], best["B"]))
            print(f"{label:32s} A {best['A']:10.1f}  B {best['B']:10.1f}  B/A {best['B'] / best['A']:.3f}",
                  flush=True)
    print("\n| benchmark | A tokens/s | B tokens/s | B / A |\n|---|---:|---:|---:|")
    for label, x, y in rows:
        print(f"| {label} | {x:.0f} | {y:.0f} | {y / x:.3f} |")


if __name__ == "__main__":
    main()
