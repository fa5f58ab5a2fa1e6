#!/usr/bin/env python3
"""Seeds for the case-file fuzzer (tests/fuzz/fuzz_case.c): every reference case of
make_golden.py and make_golden_wrappers.py, remade on a small model (dim <= 8, dim_head <= 8, ff_mult 1,
at most 16 token ids) so that each execution is cheap, and written as one file per
case: case.json, io.safetensors and model.safetensors joined by the fuzzer's separator.
Cases whose inputs need their own model width keep it; cases that cannot be
made (a near-tie of a beam search) are skipped. x-transformers 2.31.10, as the golden
scripts pin it.

    scripts/make_fuzz_seeds.py [OUT_DIR]      (default tests/fuzz/corpus/case)
"""
import copy
import os
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import make_golden as mg  # noqa: E402
import make_golden_wrappers as mw  # noqa: E402

PART = b"\n--xtc-case-part--\n"


def shrink_layers(kw):
    kw["dim"] = min(kw.get("dim", 32), 8)
    if "attn_dim_head" in kw:
        kw["attn_dim_head"] = min(kw["attn_dim_head"], 8)
    if kw.get("heads", 8) == 1:
        kw["attn_dim_head"] = kw["dim"]
    kw["ff_mult"] = 1


def shrink(spec):
    m = copy.deepcopy(spec)
    kw = m["kwargs"]
    if "num_tokens" in kw:
        kw["num_tokens"] = min(kw["num_tokens"], 16) if kw["num_tokens"] < 256 else kw["num_tokens"]
    if "attn_layers" in kw:
        shrink_layers(kw["attn_layers"]["kwargs"])
    elif m["class"] == "XTransformer":
        kw["dim"] = min(kw.get("dim", 32), 8)
    else:
        shrink_layers(kw)
    return m


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.join(here, "..", "tests", "fuzz", "corpus", "case")
    os.makedirs(out, exist_ok=True)
    import warnings
    from loguru import logger
    logger.remove()
    warnings.filterwarnings("ignore")
    mg.torch.set_num_threads(1)
    made = skipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        for module in (mg, mw):
            for spec in module.CASES:
                small = dict(spec, model=shrink(spec["model"])) if spec["model"]["class"] != "function" else spec
                for attempt in (small, spec):  # inputs of a fixed width need the case's own model
                    try:
                        module.make_case(attempt, mg.case_seed(spec["name"]), tmp)
                        break
                    except Exception as e:  # noqa: BLE001
                        error = f"{type(e).__name__}: {str(e)[:80]}"
                else:
                    print(f"skipped {spec['name']}: {error}")
                    skipped += 1
                    continue
                d = os.path.join(tmp, spec["name"])
                parts = [open(os.path.join(d, f), "rb").read() for f in ("case.json", "io.safetensors", "model.safetensors")]
                with open(os.path.join(out, spec["name"]), "wb") as f:
                    f.write(PART.join(parts))
                made += 1
    print(f"{made} seeds in {out}, {skipped} cases skipped")


if __name__ == "__main__":
    main(sys.argv)
