#!/usr/bin/env python3
"""The projection table of docs/SCALING.md: step time and efficiency of data-parallel training
on N ranks under a ring model of the collectives (python3 scripts/scaling_projection.py).

    all-reduce      2 (N - 1) / N x bytes / bandwidth + buckets x 2 (N - 1) x alpha
    reduce-scatter    (N - 1) / N x bytes / bandwidth + buckets x (N - 1) x alpha
    all-gather        (N - 1) / N x bytes / bandwidth + (N - 1) x alpha    (one call)

The gradient sum (all-reduce, or ZeRO-1's reduce-scatter) overlaps the backward pass, taken as
2/3 of the step's compute; it shows for max(sum - backward, E x sum), E the exposed fraction
measured on this machine. ZeRO-1's all-gather follows the update and shows whole. Weak
scaling: every rank keeps its batch, so compute per step stays; efficiency = compute / step."""

PARAMS = {"small GPT": 3349760, "124M": 162463488}  # trainable floats (xtc train prints them)
SHAPES = {"small GPT": (256, 4), "124M": (768, 12)}  # dim, depth
COMPUTE_S = {"small GPT": 1.47, "124M": 5.06}         # one rank's step (4 x 256 tokens), measured here
ALPHA_S = 25e-6   # per message and ring step: TCP over one Ethernet switch
EXPOSED = 0.3     # measured: 0.26 (shared memory), 0.31 (TCP), small GPT on 2 ranks
FASTER = 20       # a second column for nodes this much faster than the 2-core machine


def buckets(name):
    """The trainer's plan (data_parallel.c): the final norm and logits alone, sub-layers taken
    from the top until at least n/4 floats (64 K .. 4 M), the embeddings last."""
    C, L = SHAPES[name]
    n = PARAMS[name]
    b = min(max(n // 4, 1 << 16), 4 << 20)
    subs = []
    for _ in range(L):
        subs += [C + 4 * C * C, C + 8 * C * C + 5 * C]  # attention, feed-forward (x4, biases)
    k, pend = 1, 0
    for s in reversed(subs):
        pend += s
        if pend >= b:
            k, pend = k + 1, 0
    return k + 1


def main():
    print("| model | link | N | compute | all-reduce | exposed | step | efficiency "
          "| ZeRO-1 RS + AG | exposed | step | efficiency |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, n in PARAMS.items():
        size, nb = 4.0 * n, buckets(name)
        for gbit in (25, 100):
            bw = gbit / 8 * 1e9
            for N in (8, 64, 512):
                ar = 2 * (N - 1) / N * size / bw + nb * 2 * (N - 1) * ALPHA_S
                rs = (N - 1) / N * size / bw + nb * (N - 1) * ALPHA_S
                ag = (N - 1) / N * size / bw + (N - 1) * ALPHA_S
                for label, tc in (("", COMPUTE_S[name]), (f" (/{FASTER})", COMPUTE_S[name] / FASTER)):
                    tb = 2 / 3 * tc
                    e_ar = max(ar - tb, EXPOSED * ar)
                    e_z = max(rs - tb, EXPOSED * rs) + ag
                    print(f"| {name} | {gbit} Gb/s | {N} | {tc * 1e3:.0f} ms{label} | {ar * 1e3:.0f} ms "
                          f"| {e_ar * 1e3:.0f} ms | {(tc + e_ar) * 1e3:.0f} ms | {tc / (tc + e_ar) * 100:.0f}% "
                          f"| {(rs + ag) * 1e3:.0f} ms | {e_z * 1e3:.0f} ms | {(tc + e_z) * 1e3:.0f} ms "
                          f"| {tc / (tc + e_z) * 100:.0f}% |")


if __name__ == "__main__":
    main()
