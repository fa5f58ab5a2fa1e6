#!/usr/bin/env python3
"""Side-by-side benchmark: xtc (C) vs x-transformers (PyTorch, CPU), same models, same machine, same run.

Suites (--suite, comma-separated; default forward,train,generate,long):

  forward   one forward pass (logits) under inference_mode: tokens/s and the max abs diff of the logits
  train     one fp32 training step (AutoregressiveWrapper loss: forward on (B, T), next-token cross-entropy of
            T - 1 positions, backward, clip_grad_norm_ 1.0, AdamW lr 1e-4, betas 0.9/0.99, weight decay 0.01):
            tokens/s, peak RSS, losses of both sides, model FLOP utilisation against the measured sgemm ceiling
  generate  greedy AutoregressiveWrapper.generate(prompts, N, cache_kv=True, temperature=0.) vs xtc_generate
            with the KV cache: generated tokens/s, and whether the generated tokens agree
  long      long contexts: forward and training step at T = 1024, 2048, 4096 (batch 1, rotary and ALiBi) against
            PyTorch with attn_flash=True (F.scaled_dot_product_attention) and attn_flash=False: tokens/s, peak RSS and
            its growth per token between the T rows, max abs diff of logits / losses

Every model is built in x-transformers (fixed seed) and saved as an xtc model dir (config.json = the constructor
call as JSON, model.safetensors = state_dict in F32), so both sides run the same weights on the same token ids.
PyTorch runs in worker processes of this script, one per thread setting (torch.set_num_threads(2), with the
default inter-op pool and with set_num_interop_threads(1), which can be set only once per process); the best
setting is reported. Rounds of the two sides are interleaved, each waits for a quiet machine and is retried when
other processes used CPU meanwhile; each cell is the best of --rounds rounds.

    python bench/bench.py                            # all suites, print the tables
    python bench/bench.py --suite train --only small # one suite, some configs
    python bench/bench.py --write-readme             # ... and rewrite the suites' tables in bench/README.md

The PyTorch side must run in an environment with torch, x-transformers and safetensors;
by default this script's own interpreter is used (see --python).
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "bench", "README.md")
SUITES = ("forward", "train", "generate", "long")


def gpt(**extra):
    """The small GPT: vocab 256, max_seq_len 256, Decoder dim 256, depth 4, heads 4."""
    return {"class": "TransformerWrapper",
            "kwargs": {"num_tokens": 256, "max_seq_len": 256,
                       "attn_layers": {"class": "Decoder",
                                       "kwargs": dict({"dim": 256, "depth": 4, "heads": 4}, **extra)}}}


# GPT-2 small sized (x-transformers defaults: learned absolute positions, untied input / output embeddings,
# so 163 M parameters, 124 M of them outside the token embedding).
GPT2 = {"class": "TransformerWrapper",
        "kwargs": {"num_tokens": 50304, "max_seq_len": 256,
                   "attn_layers": {"class": "Decoder", "kwargs": {"dim": 768, "depth": 12, "heads": 12}}}}

FORWARD_CONFIGS = [
    # name, constructor call, batch, seq
    ("gpt-abs", gpt(), 4, 256),
    ("gpt-rotary", gpt(rotary_pos_emb=True), 4, 256),
    ("gpt-alibi", gpt(alibi_pos_bias=True), 4, 256),
    ("gpt-abs b1", gpt(), 1, 256),
]

TRAIN_CONFIGS = [
    # name, constructor call, batch, seq, warm-up steps, timed steps, products (f32, or bf16: PyTorch's bf16 autocast
    # against xtc's --dtype bf16)
    ("gpt-small", gpt(), 4, 256, 2, 10, "f32"),
    # the Llama-style block (SwiGLU, RMSNorm, no biases, rotary) at the small GPT's size
    ("gpt-small llama", gpt(ff_glu=True, ff_swish=True, ff_no_bias=True, use_rmsnorm=True, rotary_pos_emb=True),
     4, 256, 2, 10, "f32"),
    ("gpt2-124M", GPT2, 4, 256, 2, 3, "f32"),
    ("gpt-small bf16", gpt(), 4, 256, 2, 10, "bf16"),
    ("gpt2-124M bf16", GPT2, 4, 256, 2, 3, "bf16"),
]

GEN_CONFIGS = [
    # name, constructor call, batch, prompt length, new tokens, warm-up calls, timed calls, xtc decoding weights
    ("gpt-small b1", gpt(), 1, 16, 128, 1, 5, "f32"),
    ("gpt-small b1 bf16", gpt(), 1, 16, 128, 1, 5, "bf16"),
    ("gpt-small b4", gpt(), 4, 16, 128, 1, 5, "f32"),
    ("gpt-small b4 bf16", gpt(), 4, 16, 128, 1, 5, "bf16"),
    ("gpt2-124M b1", GPT2, 1, 16, 32, 1, 3, "f32"),
    ("gpt2-124M b1 bf16", GPT2, 1, 16, 32, 1, 3, "bf16"),
    ("gpt2-124M b1 int8", GPT2, 1, 16, 32, 1, 3, "int8"),
]

def long_gpt(**extra):
    """The small GPT's width at depth 2 for the long-context suite: max_seq_len 4096 and no absolute positions (rotary
    or ALiBi carry them; x-transformers keeps a learned absolute embedding next to ALiBi unless told not to)."""
    call = gpt(**extra)
    call["kwargs"].update(max_seq_len=4096, use_abs_pos_emb=False)
    call["kwargs"]["attn_layers"]["kwargs"]["depth"] = 2
    return call


LONG_CONFIGS = [("rotary", long_gpt(rotary_pos_emb=True)), ("alibi", long_gpt(alibi_pos_bias=True))]
# seq, forward warm-up + timed calls, training warm-up + timed steps (fewer where a call takes seconds)
LONG_SEQS = [(1024, 2, 5, 1, 3), (2048, 1, 3, 1, 2), (4096, 1, 2, 1, 1)]

# PyTorch thread settings tried (intra-op threads, inter-op threads or None for the default).
TORCH_SETTINGS = [(2, None), (2, 1)]


# ---------------------------------------------------------------- model building (torch side)

def build(call):
    import x_transformers

    def conv(v):
        if isinstance(v, dict) and "class" in v:
            return getattr(x_transformers, v["class"])(**{k: conv(x) for k, x in v.get("kwargs", {}).items()})
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return conv(call)


def save_model(call, out_dir, seed):
    import torch
    torch.manual_seed(seed)
    model = build(call).eval()
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(call, f, indent=2)
    sd = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in model.state_dict().items()}
    path = os.path.join(out_dir, "model.safetensors")
    try:
        from safetensors.torch import save_file
        save_file(sd, path)
    except ImportError:  # write the format by hand: u64 LE header length + JSON header + data
        header, blobs, off = {}, [], 0
        for k, v in sd.items():
            b = v.numpy().tobytes()
            header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
            blobs.append(b)
            off += len(b)
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * (-len(h) % 8)
        with open(path, "wb") as f:
            f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def load_model(model_dir, attn_flash=None):
    """The saved model; attn_flash (True / False) overrides the Decoder's attn_flash (the same weights: it only picks
    PyTorch's attention path, F.scaled_dot_product_attention or x-transformers' own einsum + softmax)."""
    import torch
    with open(os.path.join(model_dir, "config.json")) as f:
        call = json.load(f)
    if attn_flash is not None:
        call["kwargs"]["attn_layers"]["kwargs"]["attn_flash"] = attn_flash
    model = build(call).eval()
    path = os.path.join(model_dir, "model.safetensors")
    try:
        from safetensors.torch import load_file
        sd = load_file(path)
    except ImportError:
        import numpy as np
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
            data = f.read()
        sd = {k: torch.from_numpy(np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]],
                                                dtype=np.float32).reshape(v["shape"]).copy())
              for k, v in header.items() if k != "__metadata__"}
    model.load_state_dict(sd)
    del sd
    return model


# ---------------------------------------------------------------- PyTorch workers (one process each)

def peak_rss_mb():
    """Peak RSS of this process in MiB: VmHWM (getrusage's ru_maxrss is the fallback only, since Linux carries it
    across execve: a worker would report its parent's peak when that one is larger)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def torch_threads(a):
    import torch
    torch.set_num_threads(a.intra)
    if a.interop is not None:
        torch.set_num_interop_threads(a.interop)
    return {"threads": torch.get_num_threads(), "interop": torch.get_num_interop_threads()}


def worker_forward(a):
    """One forward under inference_mode: 1 call (logits saved), warm-up calls, median of timed calls."""
    import numpy as np
    import torch
    info = torch_threads(a)
    model = load_model(a.model_dir, a.attn_flash)
    tokens = torch.from_numpy(np.fromfile(a.tokens, dtype=np.int64).reshape(a.batch, a.seq).copy())
    times = []
    with torch.inference_mode():
        logits = model(tokens)
        if a.out:
            logits.float().numpy().tofile(a.out)
        for _ in range(a.warmup):
            model(tokens)
        for _ in range(a.runs):
            t0 = time.perf_counter()
            model(tokens)
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return dict(info, ms_per_call=1e3 * med, tokens_per_s=a.batch * a.seq / med, peak_rss_mb=peak_rss_mb())


def worker_train(a):
    """Training steps as x-transformers' training scripts: AutoregressiveWrapper loss on a (B, T) batch (fed T tokens,
    scored T - 1), backward, clip_grad_norm_(1.0), AdamW. Batches from a.tokens, (warmup + runs, B, T) int64."""
    import numpy as np
    import torch
    from x_transformers import AutoregressiveWrapper
    info = torch_threads(a)
    model = load_model(a.model_dir, a.attn_flash).train()
    wrapper = AutoregressiveWrapper(model)
    # fused=True: PyTorch's fastest CPU AdamW (the default, foreach=None, takes the per-tensor loop on CPU: on the
    # 124M model 0.8 s of a 6-7 s step instead of 0.1 s); same update rule.
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99), weight_decay=0.01, fused=a.fused)
    except (RuntimeError, TypeError):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99), weight_decay=0.01)
    steps = a.warmup + a.runs
    x = torch.from_numpy(np.fromfile(a.tokens, dtype=np.int64).reshape(steps, a.batch, a.seq).copy())
    losses, t0 = [], None
    for s in range(steps):
        if s == a.warmup:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        # bf16: autocast around the forward only, backward outside it (as torch.autocast's documentation says)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
            loss = wrapper(x[s])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    per = (time.perf_counter() - t0) / a.runs
    n_params = sum(p.numel() for p in model.parameters())
    n_emb = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("token_emb.", "pos_emb.")))
    return dict(info, ms_per_step=1e3 * per, tokens_per_s=a.batch * a.seq / per, peak_rss_mb=peak_rss_mb(),
                params=n_params, emb_params=n_emb, loss_first=losses[0], loss_last=losses[-1])


def worker_generate(a):
    """Greedy AutoregressiveWrapper.generate with the KV cache; the first call's tokens are saved (a.out)."""
    import numpy as np
    import torch
    from x_transformers import AutoregressiveWrapper
    info = torch_threads(a)
    wrapper = AutoregressiveWrapper(load_model(a.model_dir))
    prompts = torch.from_numpy(np.fromfile(a.tokens, dtype=np.int64).reshape(a.batch, a.seq).copy())

    def gen():
        return wrapper.generate(prompts, a.new, cache_kv=True, temperature=0.)

    out = gen()
    if a.out:
        out.numpy().astype(np.int64).tofile(a.out)
    for _ in range(a.warmup):
        gen()
    t0 = time.perf_counter()
    for _ in range(a.runs):
        gen()
    per = (time.perf_counter() - t0) / a.runs
    return dict(info, ms_per_call=1e3 * per, ms_per_token=1e3 * per / a.new, tokens_per_s=a.batch * a.new / per,
                peak_rss_mb=peak_rss_mb())


WORKERS = {"forward": worker_forward, "train": worker_train, "generate": worker_generate}


# ---------------------------------------------------------------- driver: machine state

def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def cpu_ticks():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]) - idle, sum(v[:8])
    except (OSError, ValueError):
        return 0, 0


def run_measured(cmd):
    """Runs cmd; returns (CompletedProcess, CPU cores used by *other* processes meanwhile).
    Other processes' CPU = machine busy time - this child's CPU time, over the wall time."""
    clk = os.sysconf("SC_CLK_TCK")
    b0, _ = cpu_ticks()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    b1, _ = cpu_ticks()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    others = max(0.0, (b1 - b0) / clk - own) / wall if wall > 0 else 0.0
    return r, others


def wait_quiet(limit, max_wait):
    """Waits (up to max_wait seconds) until the machine's CPU use over 1 s is below limit cores."""
    clk, t_end = os.sysconf("SC_CLK_TCK"), time.monotonic() + max_wait
    while True:
        b0, _ = cpu_ticks()
        time.sleep(1.0)
        b1, _ = cpu_ticks()
        busy = (b1 - b0) / clk
        if busy <= limit or time.monotonic() >= t_end:
            return busy
        time.sleep(2.0)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def xtc_kernels(bin_dir):
    """The kernel level xtc runs at and the code of each kernel family (`xtc info --cpu`), one line."""
    exe = next((p for p in (os.path.join(bin_dir, "xtc"), os.path.join(bin_dir, os.pardir, "xtc"))
                if os.access(p, os.X_OK)), None)  # the tools sit in BUILD/bench, the CLI in BUILD
    if exe is None:
        return "?"
    lines = sh([exe, "info", "--cpu"]).splitlines()
    level = next((ln.split("kernels ", 1)[1] for ln in lines if ln.startswith("cpu: ") and "kernels " in ln), "?")
    # "  matvec-f32 (decoding, fp32 weights)   avx2 (AVX2+FMA intrinsics)" -> "matvec-f32 avx2"
    rows = [re.match(r"\s+(\S+).*?\s{2,}(\S+)", ln) for ln in lines[1:]]
    paths = ", ".join(f"{m[1]} {m[2]}" for m in rows if m)
    return f"{level} ({paths})" if paths else level


def cpu_model():
    for line in sh(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


# The CPU features xtc's and PyTorch's kernels choose between.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags():
    """'flags avx2, fma; no avx512f, ...' from /proc/cpuinfo's first flags line."""
    try:
        with open("/proc/cpuinfo") as f:
            have = set(next(ln for ln in f if ln.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        return "flags ?"
    yes, no = [x for x in CPU_FLAGS if x in have], [x for x in CPU_FLAGS if x not in have]
    return f"flags {', '.join(yes) or 'none of ' + ', '.join(CPU_FLAGS)}" + (f"; no {', '.join(no)}" if yes and no else "")


def openblas_version(bin_dir):
    """openblas_get_config() of the OpenBLAS the xtc tools load (found with ldd): version, build options (threading
    model) and the core type its dynamic dispatch picked, e.g. 'OpenBLAS 0.3.21 ... USE_OPENMP Zen MAX_THREADS=64'."""
    import ctypes
    tool = os.path.join(bin_dir, "xtc_bench_forward")
    path = next((ln.split("=>", 1)[1].split("(")[0].strip() for ln in sh(["ldd", tool]).splitlines()
                 if "openblas" in ln and "=>" in ln), None)
    try:
        fn = ctypes.CDLL(path).openblas_get_config
        fn.restype = ctypes.c_char_p
        return fn().decode().strip()
    except (OSError, AttributeError, TypeError):
        return "OpenBLAS ?"


def onednn_version():
    """The installed oneDNN development package's version (Debian), or 'not installed'."""
    v = sh(["dpkg-query", "-W", "-f", "${Version}", "libdnnl-dev"])
    return f"{v} (libdnnl-dev)" if v not in ("", "?") else "not installed"


# ---------------------------------------------------------------- driver: running the two sides

def run_torch(a, kind, model_dir, tokens, batch, seq, warmup, runs, intra, interop, out=None, new=None, flash=None,
              dtype=None):
    cmd = [a.python, os.path.abspath(__file__), "--worker", kind, "--model-dir", model_dir, "--tokens", tokens,
           "--batch", str(batch), "--seq", str(seq), "--intra", str(intra),
           "--warmup", str(warmup), "--runs", str(runs)]
    if interop is not None:
        cmd += ["--interop", str(interop)]
    if out:
        cmd += ["--out", out]
    if new is not None:
        cmd += ["--new", str(new)]
    if flash is not None:
        cmd += ["--attn-flash", str(int(flash))]
    if kind == "train":
        cmd += ["--torch-adamw", a.torch_adamw]
    if dtype:
        cmd += ["--dtype", dtype]
    r, others = run_measured(cmd)
    if r.returncode != 0:
        sys.exit(f"PyTorch {kind} worker failed:\n{r.stderr}")
    return dict(json.loads(r.stdout.strip().splitlines()[-1]), others=others)


def run_xtc(a, tool, *args):
    cmd = [os.path.join(a.bin_dir, tool), *[str(x) for x in args]]
    r, others = run_measured(cmd)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    line = r.stdout.strip().splitlines()[-1]
    return dict({k: number(v) for k, v in (kv.split("=") for kv in line.split())}, others=others)


def number(v):
    """A value of an xtc tool's output line: a float, or a word (kernels=avx2) as it is."""
    try:
        return float(v)
    except ValueError:
        return v


def measure(a, fn):
    """Best (least disturbed) of up to 1 + retries attempts of fn, each after waiting for a quiet machine."""
    best = None
    for _ in range(a.retries + 1):
        wait_quiet(a.quiet, a.max_wait)
        m = fn()
        if best is None or m["others"] < best["others"]:
            best = m
        if m["others"] <= a.quiet:
            break
    return best


def interleaved(a, torch_fn, xtc_fn):
    """a.rounds rounds, each one measurement per PyTorch setting and one of xtc; returns
    (best torch setting, {setting: best result}, best xtc result, worst 'others')."""
    tt = {s: [] for s in TORCH_SETTINGS}
    xt = []
    for _ in range(a.rounds):
        for s in TORCH_SETTINGS:
            tt[s].append(measure(a, lambda: torch_fn(*s)))
        xt.append(measure(a, xtc_fn))
    torch_by = {s: max(v, key=lambda x: x["tokens_per_s"]) for s, v in tt.items()}
    best = max(torch_by, key=lambda s: torch_by[s]["tokens_per_s"])
    others = max(x["others"] for x in xt + [m for v in tt.values() for m in v])
    return best, torch_by, max(xt, key=lambda x: x["tokens_per_s"]), others


def setting(s):
    return f"intra {s[0]}, interop {'default' if s[1] is None else s[1]}"


def threads_cell(best, torch_by, xtc):
    alt = "; ".join(f"{setting(s)}: {v['tokens_per_s']:.0f}" for s, v in torch_by.items() if s != best)
    return f"PyTorch {setting(best)} (other setting: {alt}); xtc {int(xtc['threads'])}"


class Models:
    """Model dirs saved once per constructor call (the 124M model is 650 MB on disk)."""

    def __init__(self, tmp, seed):
        self.tmp, self.seed, self.dirs = tmp, seed, {}

    def get(self, call):
        key = json.dumps(call, sort_keys=True)
        if key not in self.dirs:
            d = os.path.join(self.tmp, f"model{len(self.dirs)}")
            save_model(call, d, self.seed)
            self.dirs[key] = d
        return self.dirs[key]


def conditions(a, meta, extra):
    return (f"Date {meta['date']}, xtc commit `{meta['commit']}`"
            f"{' (with uncommitted library changes)' if meta['dirty'] else ''}, CPU {meta['cpu']} ({meta['cores']} cores; "
            f"{meta['flags']}), xtc kernels {meta['kernels']}, {meta['openblas']}, oneDNN {meta['onednn']}, "
            f"torch {meta['torch']}, x-transformers {meta['xtransformers']}, "
            f"1-min load average {meta['load_before']} before, {loadavg()} after. "
            f"{extra} Each cell is the best of {a.rounds} rounds (one process each, the sides interleaved); "
            f"\"others\" = CPU cores used by other processes during the worst round.")


# ---------------------------------------------------------------- suites

def suite_forward(a, models, meta):
    import numpy as np
    rows = []
    for name, call, batch, seq in FORWARD_CONFIGS:
        if a.only and not re.search(a.only, name):
            continue
        d = models.get(call)
        dump = os.path.join(d, f"xtc_logits_{batch}x{seq}.f32")
        xargs = [d, "--batch", batch, "--seq", seq, "--iters", a.runs, "--warmup", a.warmup, "--threads", a.threads]
        # Untimed correctness call: xtc dumps logits + token ids, torch runs the same ids.
        run_xtc(a, "xtc_bench_forward", *xargs, "--dump", dump)
        tok, ref = dump + ".tokens", dump + ".torch"
        run_torch(a, "forward", d, tok, batch, seq, a.warmup, a.runs, *TORCH_SETTINGS[0], out=ref)
        best, torch_by, x, others = interleaved(
            a, lambda i, o: run_torch(a, "forward", d, tok, batch, seq, a.warmup, a.runs, i, o),
            lambda: run_xtc(a, "xtc_bench_forward", *xargs))
        diff = float(np.abs(np.fromfile(dump, dtype=np.float32) - np.fromfile(ref, dtype=np.float32)).max())
        t = torch_by[best]
        rows.append(f"| {name} | {batch} x {seq} | {t['tokens_per_s']:.0f} ({t['ms_per_call']:.1f} ms) "
                    f"| {x['tokens_per_s']:.0f} ({x['ms_per_call']:.1f} ms) | {x['tokens_per_s'] / t['tokens_per_s']:.2f} "
                    f"| {diff:.2e} | {threads_cell(best, torch_by, x)} | {others:.2f} |")
        print(f"forward {name}: torch {t['tokens_per_s']:.0f} tok/s, xtc {x['tokens_per_s']:.0f} tok/s, "
              f"max|diff| {diff:.2e}, others <= {others:.2f} cores", file=sys.stderr)
    if not rows:
        return None
    return "\n".join([conditions(a, meta, f"A PyTorch round is the median of {a.runs} calls after {a.warmup} "
                                          f"warm-up calls, an xtc round the mean of {a.runs} calls after {a.warmup} "
                                          f"warm-up calls."), "",
                      "| config | batch x seq | PyTorch tokens/s | xtc tokens/s | xtc / PyTorch | max abs diff "
                      "| threads | others |",
                      "|---|---|---:|---:|---:|---:|---|---:|", *rows])


def train_flops_per_token(call, params, emb_params, seq):
    """6 x (parameters outside the embedding tables) + attention scores and mixing (QK^T and AV, 2 x 2 x T x d_attn
    per token and layer forward, x 3 with backward, no causal discount: PaLM's 6N + 12 L H Q T)."""
    kw = call["kwargs"]["attn_layers"]["kwargs"]
    d_attn = kw["heads"] * kw.get("attn_dim_head", 64)
    return 6 * (params - emb_params) + 12 * kw["depth"] * seq * d_attn


def suite_train(a, models, meta):
    import numpy as np
    # The sgemm ceiling: best of rounds, each the best of 10 calls of 2048^3.
    sg = None
    for _ in range(a.rounds):
        m = measure(a, lambda: run_xtc(a, "xtc_bench_sgemm", "--n", 2048, "--iters", 10, "--threads", a.threads))
        if sg is None or m["gflops_best"] > sg["gflops_best"]:
            sg = m
    ceiling = sg["gflops_best"] * 1e9
    print(f"sgemm 2048^3, {a.threads} threads: best {sg['gflops_best']:.1f} GFLOP/s, mean {sg['gflops_mean']:.1f}",
          file=sys.stderr)
    rows = []
    rng = np.random.default_rng(a.seed)
    for name, call, batch, seq, warmup, steps, dtype in TRAIN_CONFIGS:
        if a.only and not re.search(a.only, name):
            continue
        d = models.get(call)
        tok = os.path.join(d, f"train_tokens_{batch}x{seq}x{warmup + steps}.i64")
        rng.integers(0, call["kwargs"]["num_tokens"], size=(warmup + steps, batch, seq), dtype=np.int64).tofile(tok)
        best, torch_by, x, others = interleaved(
            a, lambda i, o: run_torch(a, "train", d, tok, batch, seq, warmup, steps, i, o, dtype=dtype),
            lambda: run_xtc(a, "xtc_bench_train", d, "--batch", batch, "--seq", seq, "--steps", steps,
                            "--warmup", warmup, "--threads", a.threads, "--tokens", tok, "--dtype", dtype))
        t = torch_by[best]
        fpt = train_flops_per_token(call, t["params"], t["emb_params"], seq)
        mfu_t, mfu_x = fpt * t["tokens_per_s"] / ceiling, fpt * x["tokens_per_s"] / ceiling
        dl = max(abs(x["loss_first"] - t["loss_first"]), abs(x["loss_last"] - t["loss_last"]))
        rows.append(f"| {name} | {t['params'] / 1e6:.1f} M ({(t['params'] - t['emb_params']) / 1e6:.1f} M) "
                    f"| {batch} x {seq} | {t['tokens_per_s']:.0f} ({t['ms_per_step']:.0f} ms) "
                    f"| {x['tokens_per_s']:.0f} ({x['ms_per_step']:.0f} ms) | {x['tokens_per_s'] / t['tokens_per_s']:.2f} "
                    f"| {100 * mfu_t:.0f}% / {100 * mfu_x:.0f}% | {t['peak_rss_mb']:.0f} / {x['peak_rss_mb']:.0f} "
                    f"| {t['loss_last']:.4f} / {x['loss_last']:.4f} ({dl:.1e}) | {warmup} + {steps} "
                    f"| {threads_cell(best, torch_by, x)} | {others:.2f} |")
        print(f"train {name}: torch {t['tokens_per_s']:.0f} tok/s ({t['peak_rss_mb']:.0f} MB), xtc "
              f"{x['tokens_per_s']:.0f} tok/s ({x['peak_rss_mb']:.0f} MB), MFU {100 * mfu_t:.0f}% / {100 * mfu_x:.0f}%, "
              f"loss diff {dl:.1e}, others <= {others:.2f} cores", file=sys.stderr)
    if not rows:
        return None
    return "\n".join([
        conditions(a, meta,
                   f"One step = AutoregressiveWrapper loss on a (batch, seq) crop (seq tokens fed, seq - 1 scored), "
                   f"backward, clip_grad_norm_ 1.0, AdamW (lr 1e-4, betas 0.9/0.99, weight decay 0.01; PyTorch "
                   f"{'fused=True' if a.fused else 'default implementation'}), fp32; rows marked bf16: PyTorch's "
                   f"forward under torch.autocast('cpu', dtype=torch.bfloat16) (backward outside it), xtc with "
                   f"bf16 products (xtc_model_set_compute_dtype, `xtc train --dtype bf16`; the kernels line names "
                   f"its bf16 products, native or emulated), fp32 master weights and AdamW on both sides; "
                   f"xtc: forward with save_for_backward, xtc_cross_entropy, xtc_model_backward, xtc_clip_grad_norm, "
                   f"xtc_adamw_step. Both sides start from the same weights and see the same batches, a new one each "
                   f"step; a round is the mean of the timed steps after the warm-up steps. tokens/s = batch x seq / "
                   f"seconds per step. fp32 sgemm ceiling of this machine: **{sg['gflops_best']:.0f} GFLOP/s** "
                   f"(OpenBLAS cblas_sgemm 2048^3, {a.threads} threads, best call; mean of 10 calls "
                   f"{sg['gflops_mean']:.0f}; `xtc_bench_sgemm`). MFU = training FLOPs per token x tokens/s / that "
                   f"ceiling, FLOPs per token = 6 x parameters outside the embedding tables + 12 x layers x seq x "
                   f"attention dim (attention scores and mixing, no causal discount). Peak RSS = VmHWM of the "
                   f"process (PyTorch's includes the interpreter, torch and x-transformers: about 0.7 GB after the "
                   f"imports alone). Losses: last step's, "
                   f"PyTorch / xtc (max abs diff of the first and last step's losses)."), "",
        "| config | params (non-embedding) | batch x seq | PyTorch tokens/s (per step) | xtc tokens/s (per step) "
        "| xtc / PyTorch | MFU PyTorch / xtc | peak RSS MB PyTorch / xtc | loss PyTorch / xtc (diff) "
        "| warm-up + timed steps | threads | others |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|---|---:|", *rows])


def step_weight_bytes(model_dir, dtype):
    """Bytes of weights one decoding step reads: every parameter but the embedding tables (the
    step looks up one row of those), at 4 bytes (f32) or 2 (bf16) per weight; int8: the
    matrices at 1 byte a weight plus a 4-byte scale per 32, the vectors (norms, biases) in f32."""
    with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    shapes = [v["shape"] for k, v in header.items() if k != "__metadata__" and "emb" not in k]
    if dtype == "int8":
        return sum(s[0] * (s[1] + 4 * -(-s[1] // 32)) if len(s) == 2 else 4 * math.prod(s) for s in shapes)
    return sum(math.prod(s) for s in shapes) * (2 if dtype == "bf16" else 4)


def suite_generate(a, models, meta):
    import numpy as np
    # Memory read bandwidth (1 GiB, far beyond the caches): best of rounds.
    bw = None
    for _ in range(a.rounds):
        m = measure(a, lambda: run_xtc(a, "xtc_bench_bandwidth", "--mb", 1024, "--iters", 5, "--threads", a.threads))
        bw = m["gbps_best"] if bw is None else max(bw, m["gbps_best"])
    print(f"memory read bandwidth, {a.threads} threads: {bw:.1f} GB/s", file=sys.stderr)
    rows = []
    rng = np.random.default_rng(a.seed + 1)
    for name, call, batch, prompt, new, warmup, iters, dtype in GEN_CONFIGS:
        if a.only and not re.search(a.only, name):
            continue
        d = models.get(call)
        dump = os.path.join(d, f"gen_{batch}x{prompt}+{new}_{dtype}.i64")
        xargs = [d, "--batch", batch, "--prompt", prompt, "--new", new, "--threads", a.threads, "--dtype", dtype]
        # Untimed correctness call: xtc writes its prompts and tokens, torch generates from the same prompts.
        run_xtc(a, "xtc_bench_generate", *xargs, "--iters", 1, "--warmup", 0, "--dump", dump)
        pr, ref = dump + ".prompts", dump + ".torch"
        run_torch(a, "generate", d, pr, batch, prompt, 0, 1, *TORCH_SETTINGS[0], out=ref, new=new)
        xo = np.fromfile(dump, dtype=np.int64).reshape(batch, new)
        to = np.fromfile(ref, dtype=np.int64).reshape(batch, new)
        if (xo == to).all():
            equal = "yes"
        else:
            cols = np.nonzero((xo != to).any(axis=0))[0]
            rows_bad = np.nonzero((xo != to).any(axis=1))[0]
            equal = (f"no: first differing step {cols[0] + 1} of {new} "
                     f"(row{'s' if len(rows_bad) > 1 else ''} {', '.join(map(str, rows_bad))})")
        best, torch_by, x, others = interleaved(
            a, lambda i, o: run_torch(a, "generate", d, pr, batch, prompt, warmup, iters, i, o, new=new),
            lambda: run_xtc(a, "xtc_bench_generate", *xargs, "--iters", iters, "--warmup", warmup))
        t = torch_by[best]
        wb = step_weight_bytes(d, dtype)
        bound_ms = wb / (bw * 1e9) * 1e3
        rows.append(f"| {name} | {batch} | {prompt} + {new} | {dtype} | {t['tokens_per_s']:.1f} ({t['ms_per_token']:.2f} ms) "
                    f"| {x['tokens_per_s']:.1f} ({x['ms_per_token']:.2f} ms) | {x['tokens_per_s'] / t['tokens_per_s']:.2f} "
                    f"| {wb / 1e6:.1f} MB, {bound_ms:.2f} ms ({x['ms_per_token'] / bound_ms:.2f}x) "
                    f"| {equal} | {t['peak_rss_mb']:.0f} / {x['peak_rss_mb']:.0f} | {warmup} + {iters} "
                    f"| {threads_cell(best, torch_by, x)} | {others:.2f} |")
        print(f"generate {name}: torch {t['tokens_per_s']:.1f} tok/s, xtc {x['tokens_per_s']:.1f} tok/s, "
              f"tokens equal: {equal}, others <= {others:.2f} cores", file=sys.stderr)
    if not rows:
        return None
    return "\n".join([
        conditions(a, meta,
                   "PyTorch: `AutoregressiveWrapper(model).generate(prompts, new, cache_kv=True, temperature=0.)` "
                   "(greedy; the library's own no_grad); xtc: `xtc_generate` with cache_kv, temperature 0. Random "
                   "prompts, the same on both sides; one call generates all new tokens of all rows, prompt "
                   "processing included; a round is the mean of the timed calls after the warm-up calls. tokens/s = "
                   "batch x new tokens / seconds per call (ms = per new token, i.e. per decoding step). "
                   "\"tokens equal\" compares the greedy tokens of both sides. Peak RSS MB PyTorch / xtc. "
                   "xtc weights: what xtc's decoding steps read (`--dtype`, xtc_model_set_decode_dtype): f32 is "
                   "exact; bf16 reads a bfloat16 copy of the weights (activations and sums stay fp32), so its greedy "
                   "tokens may part from fp32 ones where two logits are within bf16 rounding. PyTorch runs fp32. "
                   f"Bandwidth bound: the bytes of weights a step reads (all parameters but the embedding tables; the "
                   f"KV cache adds under 1%) / the machine's memory read bandwidth, **{bw:.1f} GB/s** "
                   f"(`xtc_bench_bandwidth`: 1 GiB summed by {a.threads} threads, best pass), and xtc's ms per step over "
                   f"it (prompt processing included: on the 124M model the 16-token prompt adds ~4 ms to each of the 32 "
                   f"steps); a model whose weights fit in the caches (the small GPT: 13 MB, the L3 holds 32 MB) can beat "
                   f"it."), "",
        "| config | batch | prompt + new | xtc weights | PyTorch tokens/s (per step) | xtc tokens/s (per step) | xtc / PyTorch "
        "| weights per step, DRAM bound (xtc / bound) | tokens equal | peak RSS MB | warm-up + timed calls | threads | others |",
        "|---|---:|---|---|---:|---:|---:|---|---|---:|---|---|---:|", *rows])

# PyTorch variants of the long-context suite: (attn_flash, thread setting). The flash path gets both thread settings;
# the einsum path, several times slower at these lengths, the default one only (each process costs seconds).
LONG_TORCH = [(True, TORCH_SETTINGS[0]), (True, TORCH_SETTINGS[1]), (False, TORCH_SETTINGS[0])]


def suite_long(a, models, meta):
    import numpy as np
    rows = []
    total = 2 * len(LONG_SEQS) * sum(1 for name, _ in LONG_CONFIGS if not a.only or re.search(a.only, name))
    rng = np.random.default_rng(a.seed + 2)
    for name, call in LONG_CONFIGS:
        if a.only and not re.search(a.only, name):
            continue
        d = models.get(call)
        prev = {}  # mode -> (seq, {side: peak RSS MB}) of the previous T row
        for seq, fw, fr, tw, ts in LONG_SEQS:
            for mode in ("forward", "train"):
                if mode == "forward":
                    dump = os.path.join(d, f"long_logits_{seq}.f32")
                    base = ["xtc_bench_forward", d, "--batch", 1, "--seq", seq, "--threads", a.threads]
                    xargs = base + ["--iters", fr, "--warmup", fw]
                    # untimed correctness call: xtc writes its logits and token ids; the first PyTorch process of each
                    # attention path writes its logits of the same ids (its first, untimed call)
                    run_xtc(a, *base, "--iters", 1, "--warmup", 0, "--dump", dump)
                    tok = dump + ".tokens"
                    refs = {f: f"{dump}.torch{int(f)}" for f in (True, False)}

                    def torch_fn(flash, st):
                        out = None if os.path.exists(refs[flash]) else refs[flash]
                        return run_torch(a, "forward", d, tok, 1, seq, fw, fr, *st, flash=flash, out=out)
                else:
                    tok = os.path.join(d, f"long_train_tokens_{seq}.i64")
                    rng.integers(0, call["kwargs"]["num_tokens"], size=(tw + ts, 1, seq), dtype=np.int64).tofile(tok)
                    xargs = ["xtc_bench_train", d, "--batch", 1, "--seq", seq, "--steps", ts, "--warmup", tw,
                             "--threads", a.threads, "--tokens", tok]

                    def torch_fn(flash, st):
                        return run_torch(a, "train", d, tok, 1, seq, tw, ts, *st, flash=flash)
                res = {v: [] for v in LONG_TORCH}
                xt = []
                for _ in range(a.rounds):
                    for v in LONG_TORCH:
                        res[v].append(measure(a, lambda: torch_fn(*v)))
                    xt.append(measure(a, lambda: run_xtc(a, *xargs)))
                best_v = {v: max(m, key=lambda x: x["tokens_per_s"]) for v, m in res.items()}
                x = max(xt, key=lambda m: m["tokens_per_s"])
                others = max(m["others"] for m in xt + [m for ms in res.values() for m in ms])
                # per attention path: the faster thread setting
                side = {}
                for f in (True, False):
                    vs = [v for v in LONG_TORCH if v[0] == f]
                    bv = max(vs, key=lambda v: best_v[v]["tokens_per_s"])
                    side[f] = (bv, best_v[bv], [best_v[v] for v in vs if v != bv])
                best_f = max((True, False), key=lambda f: side[f][1]["tokens_per_s"])
                if mode == "forward":
                    xl = np.fromfile(dump, dtype=np.float32)
                    diffs = {f: float(np.abs(xl - np.fromfile(refs[f], dtype=np.float32)).max()) for f in refs}
                    diff_cell = f"{diffs[True]:.1e} / {diffs[False]:.1e}"
                else:
                    diffs = {f: max(abs(x["loss_first"] - side[f][1]["loss_first"]),
                                    abs(x["loss_last"] - side[f][1]["loss_last"])) for f in (True, False)}
                    diff_cell = f"{diffs[True]:.1e} / {diffs[False]:.1e} (loss {x['loss_last']:.4f})"
                rss = {"flash": side[True][1]["peak_rss_mb"], "einsum": side[False][1]["peak_rss_mb"],
                       "xtc": x["peak_rss_mb"]}
                if mode in prev:
                    ps, pr = prev[mode]
                    grow = " / ".join(f"{(rss[k] - pr[k]) * 1024 / (seq - ps):.0f}" for k in ("flash", "einsum", "xtc"))
                else:
                    grow = ""
                prev[mode] = (seq, rss)
                unit = "ms_per_call" if mode == "forward" else "ms_per_step"

                def cell(m):
                    return f"{m['tokens_per_s']:.0f} ({m[unit]:.0f} ms)"
                other_flash = ", ".join(f"{m['tokens_per_s']:.0f}" for m in side[True][2])
                rows.append(
                    f"| {name} | {mode} | {seq} | {cell(side[True][1])} | {cell(side[False][1])} | {cell(x)} "
                    f"| {x['tokens_per_s'] / side[best_f][1]['tokens_per_s']:.2f} "
                    f"| {rss['flash']:.0f} / {rss['einsum']:.0f} / {rss['xtc']:.0f} | {grow} | {diff_cell} "
                    f"| flash {setting(side[True][0][1])} (other setting: {other_flash}); no flash {setting(side[False][0][1])}; "
                    f"xtc {int(x['threads'])} | {others:.2f} |")
                print(f"long {name} {mode} T={seq}: torch flash {side[True][1]['tokens_per_s']:.0f}, no flash "
                      f"{side[False][1]['tokens_per_s']:.0f}, xtc {x['tokens_per_s']:.0f} tok/s; RSS MB "
                      f"{rss['flash']:.0f} / {rss['einsum']:.0f} / {rss['xtc']:.0f}; diff {diff_cell}; "
                      f"others <= {others:.2f} cores", file=sys.stderr)
                if a.write_readme:  # a long run: keep what it measured should it be stopped
                    write_readme({"long": long_table(a, meta, rows, total)})
    if not rows:
        return None
    return long_table(a, meta, rows, total)


def long_table(a, meta, rows, total):
    """The long-context suite's table of the rows measured so far (of total)."""
    kw = LONG_CONFIGS[0][1]["kwargs"]
    lk = kw["attn_layers"]["kwargs"]
    counts = ", ".join(f"T = {t}: {fw} + {fr} calls, {tw} + {ts} steps" for t, fw, fr, tw, ts in LONG_SEQS)
    return "\n".join([
        conditions(a, meta,
                   f"Model: TransformerWrapper(num_tokens={kw['num_tokens']}, max_seq_len={kw['max_seq_len']}, "
                   f"use_abs_pos_emb=False, attn_layers=Decoder(dim={lk['dim']}, depth={lk['depth']}, "
                   f"heads={lk['heads']}, rotary_pos_emb=True or alibi_pos_bias=True)), batch 1. "
                   f"forward: as the forward suite (logits under inference_mode); train: as the training suite "
                   f"(AutoregressiveWrapper loss, backward, clip_grad_norm_ 1.0, AdamW fused=True). PyTorch runs the "
                   f"same weights with `attn_flash=True` (F.scaled_dot_product_attention) and `attn_flash=False` "
                   f"(x-transformers' einsum + softmax path); the flash path's cell is the faster of the two thread "
                   f"settings, the other path runs intra 2, interop default. xtc / best = xtc over the faster PyTorch "
                   f"path. Peak RSS = VmHWM of each process (PyTorch's include ~0.7 GB of interpreter and libraries); "
                   f"RSS growth = (peak RSS - the previous T row's) / (T - previous T), KB per token: constant when "
                   f"memory is linear in T, rising with T when it is quadratic. max abs diff: xtc against PyTorch "
                   f"flash / no flash, of the logits of one call on the same ids (forward) or of the first and last "
                   f"step's losses (train). Warm-up + timed: {counts}; a round is the mean (xtc, PyTorch train) or "
                   f"median (PyTorch forward) of the timed ones."
                   + (f" Partial: the first {len(rows)} of {total} rows (the run stopped)." if len(rows) < total else "")),
        "",
        "| config | mode | T | PyTorch flash tokens/s | PyTorch no flash tokens/s | xtc tokens/s | xtc / best PyTorch "
        "| peak RSS MB flash / no flash / xtc | RSS growth KB/token flash / no flash / xtc | max abs diff flash / no flash "
        "| threads | others |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|", *rows])


# ---------------------------------------------------------------- main

def replace_section(text, key, table):
    begin, end = f"<!-- bench:{key}:begin -->", f"<!-- bench:{key}:end -->"
    if begin not in text or end not in text:
        sys.exit(f"{README}: markers {begin} / {end} not found")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def write_readme(tables):
    """Replaces the tables of the suites in tables ({suite: table}) in bench/README.md."""
    with open(README) as f:
        text = f.read()
    for key, t in tables.items():
        text = replace_section(text, key, t)
    with open(README, "w") as f:
        f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default=",".join(SUITES), help="comma-separated: forward,train,generate,long")
    p.add_argument("--write-readme", action="store_true", help="rewrite the tables of the suites run in bench/README.md")
    p.add_argument("--bin-dir", default=os.path.join(ROOT, "build-bench", "bench"),
                   help="where xtc_bench_forward / _train / _generate / _sgemm are")
    p.add_argument("--python", default=sys.executable, help="interpreter with torch + x-transformers")
    p.add_argument("--threads", type=int, default=2, help="xtc threads (OpenMP + OpenBLAS)")
    p.add_argument("--warmup", type=int, default=3, help="forward: warm-up calls")
    p.add_argument("--runs", type=int, default=10, help="forward: timed calls per measurement")
    p.add_argument("--rounds", type=int, default=3, help="measurements per side and setting (best taken)")
    p.add_argument("--quiet", type=float, default=0.15,
                   help="retry a round when other processes used more than this many cores meanwhile")
    p.add_argument("--retries", type=int, default=4)
    p.add_argument("--max-wait", type=float, default=120, help="seconds to wait for a quiet machine per attempt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", help="regex on config names")
    # worker mode (internal)
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--tokens", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seq", type=int, help=argparse.SUPPRESS)
    p.add_argument("--new", type=int, help=argparse.SUPPRESS)
    p.add_argument("--intra", type=int, help=argparse.SUPPRESS)
    p.add_argument("--interop", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--dtype", choices=("f32", "bf16"), default="f32", help=argparse.SUPPRESS)
    p.add_argument("--attn-flash", type=lambda v: bool(int(v)), help=argparse.SUPPRESS)
    p.add_argument("--torch-adamw", choices=("fused", "default"), default="fused",
                   help="train: PyTorch's AdamW implementation (fused=True, or the default for CPU tensors)")
    a = p.parse_args()
    a.fused = True if a.torch_adamw == "fused" else None
    if a.worker:
        print(json.dumps(WORKERS[a.worker](a)))
        return

    suites = [s.strip() for s in a.suite.split(",") if s.strip()]
    bad = [s for s in suites if s not in SUITES]
    if bad:
        sys.exit(f"unknown suite(s) {', '.join(bad)}: choose from {', '.join(SUITES)}")
    import torch
    import x_transformers  # noqa: F401
    from importlib.metadata import version

    tools = {"forward": ["xtc_bench_forward"], "train": ["xtc_bench_train", "xtc_bench_sgemm"],
             "generate": ["xtc_bench_generate", "xtc_bench_bandwidth"], "long": ["xtc_bench_forward", "xtc_bench_train"]}
    for s in suites:
        for tool in tools[s]:
            if not os.access(os.path.join(a.bin_dir, tool), os.X_OK):
                sys.exit(f"{a.bin_dir}/{tool} not found: build it with\n  cmake -S {ROOT} -B {ROOT}/build-bench "
                         f"-DCMAKE_BUILD_TYPE=Release && cmake --build {ROOT}/build-bench -j2")
    meta = {"date": datetime.date.today().isoformat(), "commit": sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
            "dirty": bool(sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no",
                                "--", "src", "include", "CMakeLists.txt"])),
            "cpu": cpu_model(), "flags": cpu_flags(), "kernels": xtc_kernels(a.bin_dir), "cores": os.cpu_count(),
            "openblas": openblas_version(a.bin_dir), "onednn": onednn_version(), "torch": torch.__version__,
            "xtransformers": version("x-transformers")}
    fns = {"forward": suite_forward, "train": suite_train, "generate": suite_generate, "long": suite_long}
    tables = {}
    with tempfile.TemporaryDirectory(prefix="xtc-bench-") as tmp:
        models = Models(tmp, a.seed)
        for s in suites:
            t = fns[s](a, models, dict(meta, load_before=loadavg()))
            if t is not None:
                tables[s] = t
                print(f"\n## {s}\n\n{tables[s]}\n")
    if a.write_readme and tables:
        write_readme(tables)
        print(f"wrote {README} ({', '.join(tables)})", file=sys.stderr)


if __name__ == "__main__":
    main()
