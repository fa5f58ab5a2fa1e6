#!/usr/bin/env python3
"""Random differential sweep: xtc against the real x-transformers 2.31.10.

Draws N random model configurations (seeded, reproducible) over the feature
space x-transformers offers (classes, positions, memories, masks, attention and
block options), makes a golden case for each with the machinery of
scripts/make_golden_wrappers.py (forward calls, Transformer-XL mems over two
calls, greedy generation, the XL and continuous wrappers' losses, gradients for
a fraction of them), runs `xtc check` on it and sorts the outcome into

  passed       xtc matches within the case's tolerance;
  failed       xtc computes something else (worst tensor and error printed);
  near-tie     xtc disagrees where the float32 reference has a sparse top-k
               threshold within TIE_ULPS of another logit (decided by rounding);
  unsupported  xtc refuses the configuration or a call (its message printed);
  skipped      x-transformers itself rejects or crashes on the combination, or
               produces no finite reference (its message printed).

Failing case directories are kept (--keep-failures), with the drawn
configuration in sweep_cfg.json next to case.json; `--shrink` then drops
features one at a time while the case still fails and prints the smallest
failing configuration as a make_golden_wrappers.py spec.

Usage:
    python scripts/sweep.py --seed 1 --n 200 [--out DIR] [--keep-failures DIR] [--xtc build/xtc] [--dense F] [--shrink]
    python scripts/sweep.py --shrink-cfg DIR/CASE/sweep_cfg.json   # shrink one kept failure

A tool run by hand, not a CI step.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg  # noqa: E402
import make_golden_wrappers as mgw  # noqa: E402


NEAR_TIE = [float("inf")]  # smallest distance of a logit to a top-k threshold in the float32 reference, in ulps


def _recording_topk(logits, sparse_topk, **kw):
    """attend.sparse_topk_attn, noting how close (in ulps of the row's largest logit) the nearest other
    logit comes to the k-th largest: within a few ulps the kept set hangs on rounding."""
    from x_transformers.attend import sparse_topk_attn
    with torch.no_grad():
        visible = logits > -torch.finfo(logits.dtype).max
        if logits.shape[-1] > sparse_topk:
            kth = logits.topk(sparse_topk, dim=-1).values[..., -1:]
            big = logits.masked_fill(~visible, 0).abs().amax(-1, keepdim=True).clamp(min=1e-30)
            d = ((logits - kth).abs() / big / torch.finfo(torch.float32).eps).masked_fill(~visible | (logits == kth), 1e9)
            NEAR_TIE[0] = min(NEAR_TIE[0], float(d.min()))
    return sparse_topk_attn(logits, sparse_topk, **kw)


def _build(spec, seed, _orig=mgw.build):
    """make_golden_wrappers.build, with the float64 copy's softmax taken in float64 (make_golden.fp64_softmax):
    upstream casts it to float32, which turns a fully masked row of the float64 re-run into NaN and leaves
    the case without a tolerance. Only the tolerance comes from that re-run. The float32 model's sparse
    top-k records its near-ties (NEAR_TIE)."""
    from functools import partial
    from x_transformers.attend import Attend, sparse_topk_attn
    model, model64 = _orig(spec, seed)
    mg.fp64_softmax(model64)
    for mod in model.modules():
        fn = getattr(mod, "attn_fn", None)
        if isinstance(mod, Attend) and getattr(fn, "func", None) is sparse_topk_attn:
            mod.attn_fn = partial(_recording_topk, **fn.keywords)
    return model, model64


mgw.build = _build

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# --------------------------------------------------------------------------- drawing a configuration
# A configuration (cfg) is a flat-ish JSON dict: sizes, "L" (attention-stack keyword arguments; for
# XTransformer "enc" and "dec"), "W" (wrapper keyword arguments), "I" (input options) and "grad".
# to_spec() turns it into a make_golden_wrappers.py case spec; shrinking deletes keys of L/W/I/enc/dec.

CLASSES = ["tw_dec", "tw_dec", "tw_dec", "tw_enc", "tw_enc", "dec", "enc", "cross", "xt", "ctw_dec", "ctw_enc"]


DENSITY = 1.0  # --dense: option probabilities scaled up (more features per configuration)


def hit(r, p):
    return r.random() < min(1.0, p * DENSITY)


def draw_layers(r, heads, dim_head, causal, n):
    L = {}
    pos = r.choices(["none", "rotary", "alibi", "t5", "dynamic", "rotary+alibi"], [2, 4, 3, 2, 1, 1])[0]
    if "rotary" in pos:
        L["rotary_pos_emb"] = True
        # a rotary width of 2 divides by zero upstream (base_rescale_factor ** (dim / (dim - 2)))
        if hit(r, 0.4) or dim_head // 2 < 4:
            L["rotary_emb_dim"] = r.choice([d for d in range(4, dim_head + 1, 2)])
        if causal and hit(r, 0.25):
            L["rotary_xpos"] = True
            L["rotary_xpos_scale_base"] = r.choice([16, 64])
        if hit(r, 0.2):
            L["rotary_interpolation_factor"] = r.choice([1.5, 2.0, 4.0])
        if hit(r, 0.2):
            L["rotary_base_rescale_factor"] = r.choice([0.5, 2.0, 8.0])
    if "alibi" in pos:
        L["alibi_pos_bias"] = True
        if heads > 1 and hit(r, 0.4):
            L["alibi_num_heads"] = r.randint(1, heads - 1)
    if pos == "t5":
        L["rel_pos_bias"] = True
        if hit(r, 0.6):
            L["rel_pos_num_buckets"] = r.choice([4, 8])
            L["rel_pos_max_distance"] = r.choice([8, 16, 32])
    if pos == "dynamic":
        L["dynamic_pos_bias"] = True
        if hit(r, 0.4):
            L["dynamic_pos_bias_log_distance"] = True
    if hit(r, 0.2):
        L["attn_num_mem_kv"] = r.randint(1, 3)
    divisors = [k for k in range(1, heads) if heads % k == 0]
    if divisors and hit(r, 0.25):
        L["attn_kv_heads"] = r.choice(divisors)
    for key, p in [("attn_qk_norm", 0.15), ("attn_gate_values", 0.15), ("attn_head_scale", 0.15),
                   ("attn_softclamp_logits", 0.1), ("ff_glu", 0.2), ("use_rmsnorm", 0.15),
                   ("residual_attn", 0.1), ("macaron", 0.1)]:
        if hit(r, p):
            L[key] = True
    if "attn_softclamp_logits" in L and hit(r, 0.5):
        L["attn_logit_softclamp_value"] = r.choice([5.0, 1.0])
    if hit(r, 0.15):
        L["pre_norm"] = False
    elif hit(r, 0.1):
        L["sandwich_norm"] = True
    if hit(r, 0.1):
        L["attn_sparse_topk"] = r.randint(1, max(1, n - 1))
    if hit(r, 0.1):
        L["shift_tokens"] = r.randint(1, 2)
    # less common options, each rarely
    for opts, p in EXTRAS:
        if hit(r, p):
            L.update(r.choice(opts))
    if causal and hit(r, 0.06):
        L.update(r.choice([{"attn_use_cope": True, "attn_cope_max_pos": r.choice([4, 16])},
                           {"attn_data_dependent_alibi": True}]))
    if "rotary_pos_emb" not in L and hit(r, 0.05):
        L["polar_pos_emb"] = True
    return L


EXTRAS = [
    ([{"use_layerscale": True}, {"use_layerscale": True, "layerscale_init_value": 0.3}, {"gate_residual": True},
      {"scale_residual": True}], 0.12),
    ([{"weight_tie_layers": True}, {"only_attn": True}, {"pre_norm_has_final_norm": False}], 0.08),
    ([{"attn_output_gate": True}, {"attn_swiglu_values": True}, {"attn_gate_values_headwise": True},
      {"attn_pre_talking_heads": True}, {"attn_post_talking_heads": True}, {"attn_one_kv_head": True}], 0.12),
    ([{"attn_qk_norm": True, "attn_qk_norm_dim_scale": True}, {"attn_qk_norm": True, "attn_qk_norm_scale": 8}], 0.08),
    ([{"ff_swish": True}, {"ff_relu_squared": True}, {"ff_post_act_ln": True}, {"ff_no_bias": True},
      {"ff_glu": True, "ff_glu_softclamp": True}], 0.12),
    ([{"use_scalenorm": True}, {"use_simple_rmsnorm": True}], 0.08),
    ([{"softclamp_output": True}, {"softclamp_output": True, "softclamp_output_value": 5.0}], 0.05),
    ([{"attn_use_rel_proj_pos_bias": True}, {"attn_use_rel_proj_pos_bias": True, "attn_rel_proj_max_dist": 8}], 0.05),
    ([{"dynamic_pos_bias": True, "dynamic_pos_bias_norm": True}, {"dynamic_pos_bias": True, "dynamic_pos_bias_mlp_depth": 1}],
     0.03),
]


def draw_cfg(r):
    cls = r.choice(CLASSES)
    dim, heads = r.choice([16, 24, 32, 32, 48, 64]), r.randint(1, 8)
    # one head has no output projection upstream (the head width must then be dim)
    dim_head = dim if heads == 1 else r.choice([4, 8, 8, 16, 16, 32])
    cfg = {"cls": cls, "dim": dim, "depth": r.randint(1, 3),
           "heads": heads, "dim_head": dim_head, "ff_mult": r.choice([1, 2, 4]),
           "b": r.randint(1, 3), "n": r.randint(4, 24), "grad": r.random() < 0.3}
    causal = cls in ("tw_dec", "dec", "ctw_dec")
    W, I = {}, {}
    if cls == "xt":
        cfg["m"] = r.randint(3, 16)
        cfg["enc"] = draw_layers(r, cfg["heads"], dim_head, False, cfg["m"])
        cfg["dec"] = draw_layers(r, cfg["heads"], dim_head, True, cfg["n"])
        for side in ("enc", "dec"):
            if any(k in cfg[side] for k in ("rotary_pos_emb", "alibi_pos_bias")) and r.random() < 0.6:
                cfg[side]["use_abs_pos_emb"] = False
            elif r.random() < 0.15:
                cfg[side]["scaled_sinu_pos_emb"] = True
        if r.random() < 0.2:
            cfg["enc"]["num_memory_tokens"] = r.randint(1, 3)
        if r.random() < 0.5:
            I["mask"] = r.choice(["right", "hole", "left", "fullrow"])
        if r.random() < 0.3:
            I["gen"] = [r.randint(1, 6), r.randint(2, 8), r.random() < 0.7]
        cfg["W"], cfg["I"] = W, I
        return cfg
    cfg["L"] = L = draw_layers(r, cfg["heads"], dim_head, causal, cfg["n"])
    wrapped = cls.startswith(("tw", "ctw"))
    if cls != "cross" and r.random() < 0.25:
        L["cross_attend"] = True
    if cls == "cross" or L.get("cross_attend"):
        cfg["m"] = r.randint(1, 12)
        if r.random() < 0.1:
            L["cross_residual_attn"] = True
        if r.random() < 0.5:
            I["context_mask"] = r.choice(["right", "hole", "fullrow", "random"])
        if "rotary_pos_emb" in L and r.random() < 0.4:
            I["context_pos"] = r.choice(["1d", "2d"])
    if wrapped:
        if r.random() < 0.2:
            W["num_memory_tokens"] = r.randint(1, 3)
        if r.random() < 0.3:
            W["max_mem_len"] = r.choice([0, 2, 5, 12])
            if r.random() < 0.5:
                I["mem_masks"] = True
        if r.random() < 0.3:
            W["use_abs_pos_emb"] = False
        elif r.random() < 0.15:
            W["scaled_sinu_pos_emb"] = True
        if cls.startswith("tw"):
            for k, v, p in (("tie_embedding", True, 0.1), ("post_emb_norm", True, 0.1), ("emb_dim", 12, 0.05),
                            ("logits_dim", 7, 0.05), ("l2norm_embed", True, 0.05)):
                if r.random() < p:
                    W[k] = v
        if cls.startswith("ctw"):
            if r.random() < 0.6:
                W["dim_in"] = r.randint(2, 9)
            if r.random() < 0.6:
                W["dim_out"] = r.randint(2, 9)
        if r.random() < 0.15 and "max_mem_len" not in W:
            I["pos"] = r.choice(["1d", "2d"])
    elif cls in ("dec", "enc") and r.random() < 0.2:
        I["mems"] = r.randint(1, 5)
        if r.random() < 0.5:
            I["mem_masks"] = True
    if r.random() < 0.45:
        I["mask"] = r.choice(["right", "hole", "left", "fullrow"])
    if cls == "tw_dec" and not L.get("cross_attend") and r.random() < 0.3:
        # greedy AutoregressiveWrapper.generate: [prompt length, tokens, cache_kv]
        I["gen"] = [r.randint(1, 8), r.randint(2, 8), r.random() < 0.7]
    if cls == "tw_dec" and not L.get("cross_attend") and W.get("max_mem_len", 0) > 0 and r.random() < 0.5:
        # the Transformer-XL wrapper over segments of a short max_seq_len: its loss (ragged targets) or
        # its greedy generation
        W["max_seq_len"] = r.randint(3, 8)
        cfg["n"] = min(cfg["n"], W["max_seq_len"])
        if r.random() < 0.5:
            I["xl_loss"] = r.randint(W["max_seq_len"] + 2, 3 * W["max_seq_len"] + 1)
        else:
            I["xl_gen"] = [r.randint(1, 2 * W["max_seq_len"]), r.randint(3, 2 * W["max_seq_len"] + 2)]
        I.pop("pos", None)
    if cls.startswith("ctw") and not L.get("cross_attend") and W.get("dim_in") == W.get("dim_out") and r.random() < 0.3:
        I["cont_loss"] = True
    cfg["W"], cfg["I"] = W, I
    return cfg


# --------------------------------------------------------------------------- configuration -> case spec


def randmask(b, n, kind):
    """A padding mask drawn from the case's generator: kind right / left / hole / fullrow / random."""
    def f(g, ctx):
        m = torch.ones(b, n, dtype=torch.bool)
        for row in range(b):
            k = int(torch.randint(1, n + 1, (1,), generator=g))
            if kind == "right":
                m[row, k:] = False
            elif kind == "left":
                m[row, :n - k] = False
            elif kind == "hole":
                m[row, int(torch.randint(0, n, (1,), generator=g))] = False
            elif kind == "random":
                m[row] = torch.rand(n, generator=g) < 0.6
        if kind == "fullrow":
            m[b - 1] = False
            if b > 1:
                m[0, n // 2:] = False
        return m
    return f


def mem_masks_of_prev(depth):
    def one(i):
        def f(g, ctx):
            M = ctx["prev"][f"mems.{i}"].shape[1]
            b = ctx["prev"][f"mems.{i}"].shape[0]
            return torch.rand(b, M, generator=g) < 0.7
        return f
    return [(f"mem_masks.{i}", one(i)) for i in range(depth)]


def rand_pos(b, n, kind, top):
    def f(g, ctx):
        if kind == "1d":
            return torch.randint(0, top, (n,), generator=g, dtype=torch.long).sort().values
        return torch.randint(0, top, (b, n), generator=g, dtype=torch.long).sort(dim=-1).values
    return f


def to_spec(cfg, name):
    cls, dim, depth, b, n = cfg["cls"], cfg["dim"], cfg["depth"], cfg["b"], cfg["n"]
    I, W = cfg["I"], cfg["W"]
    common = {"heads": cfg["heads"], "attn_dim_head": cfg["dim_head"], "ff_mult": cfg["ff_mult"]}
    feats = []
    grad = cfg["grad"]
    if cls == "xt":
        m = cfg["m"]
        kw = {"dim": dim, "enc_num_tokens": 40, "enc_depth": depth, "enc_max_seq_len": 32,
              "dec_num_tokens": 48, "dec_depth": depth, "dec_max_seq_len": 32}
        for side in ("enc", "dec"):
            for k, v in dict(common, **cfg[side]).items():
                kw[f"{side}_{k}"] = v
        model = {"class": "XTransformer", "kwargs": kw}
        ins = [("src", mg.tok(b, m, "enc_num_tokens")), ("tgt", mg.tok(b, n, "dec_num_tokens"))]
        if "mask" in I:
            ins.append(("mask", randmask(b, m, I["mask"])))
        calls = [mgw.fwd(ins)]
        if "gen" in I:
            t, steps, cache_kv = I["gen"]
            extra = [("src", mg.same("src"))] + ([("mask", mg.same("mask"))] if "mask" in I else [])
            calls.append(mgw.gen(b, t, steps, cache_kv=cache_kv, extra=extra, prompts=mg.tok(b, t, "dec_num_tokens")))
        feats = ["model_XTransformer"] + sorted(f"enc_{k}" for k in cfg["enc"]) + sorted(f"dec_{k}" for k in cfg["dec"])
        return {"name": name, "description": f"sweep configuration {json.dumps(cfg, sort_keys=True)}",
                "features": feats, "model": model, "grad": grad, "calls": calls,
                "fp64_topk_ties": "attn_sparse_topk" in cfg["enc"] or "attn_sparse_topk" in cfg["dec"]}
    L = dict(common, **cfg["L"])
    lk = dict({"dim": dim, "depth": depth}, **L)
    layers_cls = "Decoder" if cls in ("tw_dec", "dec", "ctw_dec") else "Encoder"
    float_x = not cls.startswith("tw")
    if cls.startswith("tw"):
        model = {"class": "TransformerWrapper", "kwargs": dict({"num_tokens": 64, "max_seq_len": 32}, **W,
                                                              attn_layers={"class": layers_cls, "kwargs": lk})}
        x = mg.tok(b, n)
    elif cls.startswith("ctw"):
        model = {"class": "ContinuousTransformerWrapper",
                 "kwargs": dict({"max_seq_len": 32}, **W, attn_layers={"class": layers_cls, "kwargs": lk})}
        x = mg.flt(b, n, W.get("dim_in", dim))
    elif cls == "cross":
        model = {"class": "CrossAttender", "kwargs": lk}
        x = mg.flt(b, n, dim)
    else:
        model = {"class": layers_cls, "kwargs": lk}
        x = mg.flt(b, n, dim)
    ins = [("x", x)]
    gin = ["x"] if float_x else []
    if "mask" in I:
        ins.append(("mask", randmask(b, n, I["mask"])))
    if "pos" in I:
        # rotary / ALiBi positions cover the memory tokens too (the absolute embedding only the tokens)
        R = W.get("num_memory_tokens", 0) if {"rotary_pos_emb", "alibi_pos_bias"} & set(cfg["L"]) else 0
        ins.append(("pos", rand_pos(b, n + R, I["pos"], 32 - R)))
    if "m" in cfg:
        m = cfg["m"]
        ins.append(("context", mg.flt(b, m, dim)))
        gin.append("context")
        if "context_mask" in I:
            ins.append(("context_mask", randmask(b, m, I["context_mask"])))
        if "context_pos" in I:
            ins.append(("context_pos", rand_pos(b, m, I["context_pos"], 40)))
    if "mems" in I:
        M = I["mems"]
        ins += [(f"mems.{i}", mg.flt(b, M, dim)) for i in range(depth)]
        gin += [f"mems.{i}" for i in range(depth)]
        if I.get("mem_masks"):
            ins += [(f"mem_masks.{i}", randmask(b, M, "random")) for i in range(depth)]
    g_in = gin if grad else []
    if "max_mem_len" in W:
        call0 = mgw.fwd(ins, grad_inputs=g_in, return_mems=True)
        n1 = max(1, n // 2)
        ins1 = [(k, v) for k, v in ins if k not in ("x", "mask")]
        ins1 = [("x", mg.tok(b, n1) if cls.startswith("tw") else mg.flt(b, n1, W.get("dim_in", dim)))] + ins1
        if "mask" in I:
            ins1.append(("mask", randmask(b, n1, I["mask"])))
        ins1 += mg.prev_mems(depth)
        if I.get("mem_masks"):
            ins1 += mem_masks_of_prev(depth)
        # (max_mem_len 0 gives empty memories: no gradient to take)
        g1 = (g_in + [f"mems.{i}" for i in range(depth) if W["max_mem_len"] > 0]) if grad else []
        calls = [call0, mgw.fwd(ins1, grad_inputs=g1, return_mems=True)]
    else:
        calls = [mgw.fwd(ins, grad_inputs=g_in)]
    if "gen" in I:
        t, steps, cache_kv = I["gen"]
        # x-transformers' kv cache with data-dependent ALiBi, or with ALiBi under rotary / PoPE, is wrong
        # (scripts/README.md): generate uncached
        Lc = cfg["L"]
        upstream_cache_bug = Lc.get("attn_data_dependent_alibi") or (
            Lc.get("alibi_pos_bias") and (Lc.get("rotary_pos_emb") or Lc.get("polar_pos_emb")))
        calls.append(mgw.gen(b, t, steps, cache_kv=cache_kv and not upstream_cache_bug))
    if "xl_loss" in I:
        N = I["xl_loss"]
        lens = [N - (row * 3) % max(1, N // 2) for row in range(b)]
        calls.append(mgw.xl_loss(mgw.ragged(b, N, lens, holes=[(0, N // 3)])))
    if "xl_gen" in I:
        calls.append(mgw.xl_gen(b, *I["xl_gen"]))
    if I.get("cont_loss"):
        calls.append(mgw.cont_loss(mg.flt(b, n, W.get("dim_in", dim)),
                                   randmask(b, n, I["mask"]) if "mask" in I else None))
    feats = [f"model_{model['class']}", layers_cls] + sorted(cfg["L"]) + sorted(W) + sorted(f"in_{k}" for k in I)
    return {"name": name, "description": f"sweep configuration {json.dumps(cfg, sort_keys=True)}",
            "features": feats, "model": model, "grad": grad, "calls": calls,
            # top-k ties of repeated tokens: the float64 re-run keeps them too (make_golden_wrappers.fp64_topk_ties)
            "fp64_topk_ties": "attn_sparse_topk" in cfg["L"]}


# --------------------------------------------------------------------------- running one case

# a top-k threshold this close (ulps of the row's largest logit) to another logit in the float32 reference
# decides the kept keys by rounding: a disagreement there is counted as a near-tie, not a failure
TIE_ULPS = 32

NUMERIC = re.compile(r"x tolerance\)|another shape|tokens stored|produced no such tensor|\] = -?\d+, expected -?\d+$")


def run_one(cfg, name, out_dir, xtc):
    """Returns (status, detail): status in passed / failed / unsupported / skipped."""
    spec = to_spec(cfg, name)
    d = os.path.join(out_dir, name)
    shutil.rmtree(d, ignore_errors=True)
    NEAR_TIE[0] = float("inf")
    try:
        mgw.make_case(spec, mg.case_seed(name), out_dir)
    except Exception as e:  # x-transformers rejects or crashes on the combination
        shutil.rmtree(d, ignore_errors=True)
        msg = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return "skipped", f"{msg[:160]} [{os.path.basename(tb.filename)}:{tb.lineno}]"
    with open(os.path.join(d, "case.json")) as f:
        if re.search(r"\bNaN\b|\bInfinity\b", f.read()):  # e.g. a loss over no kept position
            shutil.rmtree(d, ignore_errors=True)
            return "skipped", "x-transformers gives a non-finite output (NaN in fp64_max_abs_diff_by_tensor)"
    with open(os.path.join(d, "sweep_cfg.json"), "w") as f:
        json.dump(cfg, f, indent=1, sort_keys=True)
    p = subprocess.run([xtc, "check", d], capture_output=True, text=True)
    if p.returncode == 0:
        return "passed", p.stdout.strip()
    msg = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"
    msg = msg.split(": ", 1)[1] if msg.startswith("FAIL") else msg
    if p.returncode < 0:
        return "failed", f"crashed (signal {-p.returncode})"
    if NUMERIC.search(msg) and NEAR_TIE[0] < TIE_ULPS:
        return "near-tie", f"{msg} (sparse top-k: a logit {NEAR_TIE[0]:.3g} ulps from the threshold in x-transformers)"
    return ("failed" if NUMERIC.search(msg) else "unsupported"), msg


# --------------------------------------------------------------------------- shrinking


def shrink_steps(cfg):
    """Candidate simplifications of cfg, most drastic first."""
    out = []
    for sec in ("I", "W", "L", "enc", "dec"):
        for k in list(cfg.get(sec, {})):
            c = copy.deepcopy(cfg)
            del c[sec][k]
            # options that only make sense with another one
            if k == "rotary_pos_emb":
                for dep in ("rotary_emb_dim", "rotary_xpos", "rotary_xpos_scale_base", "rotary_interpolation_factor",
                            "rotary_base_rescale_factor"):
                    c[sec].pop(dep, None)
                c["I"].pop("context_pos", None)
            if k == "alibi_pos_bias":
                c[sec].pop("alibi_num_heads", None)
            if k == "cross_attend":
                c.pop("m", None)
                for dep in ("context_mask", "context_pos"):
                    c["I"].pop(dep, None)
            if k == "max_mem_len":
                c["I"].pop("mem_masks", None)
            out.append(c)
    if cfg["grad"]:
        out.append(dict(copy.deepcopy(cfg), grad=False))
    for key, small in (("depth", 1), ("b", 1), ("heads", 1), ("n", 4), ("ff_mult", 1)):
        if cfg[key] > small:
            out.append(dict(copy.deepcopy(cfg), **{key: small}))
            if cfg[key] > small + 1:
                out.append(dict(copy.deepcopy(cfg), **{key: cfg[key] - 1}))
    return out


def shrink(cfg, xtc, work, log=print):
    """Greedy: apply the first simplification that still fails numerically, until none does."""
    k = 0
    while True:
        for c in shrink_steps(cfg):
            if c["cls"] != "xt" and c["heads"] < max(c["L"].get("alibi_num_heads", 0), 1):
                continue
            k += 1
            status, detail = run_one(c, f"shrink{k}", work, xtc)
            shutil.rmtree(os.path.join(work, f"shrink{k}"), ignore_errors=True)
            if status == "failed":
                log(f"  still fails: {json.dumps(c, sort_keys=True)}  ({detail})")
                cfg = c
                break
        else:
            return cfg


# --------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--out", default=None, help="where cases are made (default: a temporary directory)")
    ap.add_argument("--keep-failures", default=None, help="copy failing (and unsupported) case dirs here")
    ap.add_argument("--xtc", default=os.path.join(ROOT, "build", "xtc"))
    ap.add_argument("--dense", type=float, default=1.0, help="scale the option probabilities (e.g. 2: more features per case)")
    ap.add_argument("--shrink", action="store_true", help="shrink every failure to a minimal configuration")
    ap.add_argument("--shrink-cfg", default=None, help="shrink this sweep_cfg.json and exit")
    args = ap.parse_args(argv)
    from loguru import logger
    logger.remove()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    global DENSITY
    DENSITY = args.dense
    out = args.out or tempfile.mkdtemp(prefix="xtc_sweep_")
    os.makedirs(out, exist_ok=True)
    if args.shrink_cfg:
        with open(args.shrink_cfg) as f:
            cfg = json.load(f)
        small = shrink(cfg, args.xtc, out)
        print(json.dumps(small, sort_keys=True))
        print(json.dumps(to_spec(small, "minimal")["model"]))
        return 0
    r = random.Random(args.seed)
    results = []
    for i in range(args.n):
        cfg = draw_cfg(r)
        name = f"sweep_s{args.seed}_{i:04d}"
        status, detail = run_one(cfg, name, out, args.xtc)
        results.append((name, status, detail, cfg))
        print(f"{status:11s} {name}  {detail if status != 'passed' else ''}", flush=True)
        d = os.path.join(out, name)
        if status in ("failed", "near-tie", "unsupported") and args.keep_failures:
            os.makedirs(args.keep_failures, exist_ok=True)
            shutil.rmtree(os.path.join(args.keep_failures, name), ignore_errors=True)
            shutil.copytree(d, os.path.join(args.keep_failures, name))
        if status in ("passed", "skipped") or not args.out:
            shutil.rmtree(d, ignore_errors=True)
    counts = {s: sum(1 for _, st, _, _ in results if st == s)
              for s in ("passed", "failed", "near-tie", "unsupported", "skipped")}
    print(f"\nseed {args.seed}: {args.n} cases: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    for s in ("failed", "near-tie", "unsupported", "skipped"):
        rows = [(n_, d_) for n_, st, d_, _ in results if st == s]
        if rows:
            print(f"\n{s}:")
            for n_, d_ in rows:
                print(f"  {n_}: {d_}")
    if args.shrink:
        for n_, st, d_, cfg in results:
            if st == "failed":
                print(f"\nshrinking {n_}")
                small = shrink(cfg, args.xtc, out)
                print(f"minimal {n_}: {json.dumps(small, sort_keys=True)}")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
