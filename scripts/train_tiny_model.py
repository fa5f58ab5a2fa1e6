"""Trains the small byte-level model bundled in models/tiny-char with x-transformers itself,
so that the README's demo runs a real x-transformers checkpoint (not random weights).

usage: python scripts/train_tiny_model.py [--steps 1500] [--out models/tiny-char]
Needs torch and x-transformers==2.26.4. The corpus is the GPL-3 text Debian ships in
/usr/share/common-licenses (present on every Debian machine)."""
import argparse, json, os, struct, time

import torch
from x_transformers import Decoder, TransformerWrapper
from x_transformers.autoregressive_wrapper import AutoregressiveWrapper

CONFIG = {"class": "TransformerWrapper",
          "kwargs": {"num_tokens": 256, "max_seq_len": 128, "use_abs_pos_emb": False,
                     "attn_layers": {"class": "Decoder",
                                     "kwargs": {"dim": 96, "depth": 3, "heads": 4, "attn_dim_head": 24,
                                                "rotary_pos_emb": True, "ff_mult": 3}}}}


def save_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--out", default="models/tiny-char")
    ap.add_argument("--corpus", default="/usr/share/common-licenses/GPL-3")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    data = torch.tensor(list(open(args.corpus, "rb").read()), dtype=torch.long)
    kw = CONFIG["kwargs"]
    net = TransformerWrapper(num_tokens=kw["num_tokens"], max_seq_len=kw["max_seq_len"],
                             use_abs_pos_emb=kw["use_abs_pos_emb"],
                             attn_layers=Decoder(**kw["attn_layers"]["kwargs"]))
    model = AutoregressiveWrapper(net)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    seq, batch, t0 = kw["max_seq_len"], 32, time.time()
    for step in range(args.steps):
        idx = torch.randint(0, len(data) - seq - 1, (batch,))
        x = torch.stack([data[i:i + seq + 1] for i in idx])
        loss = model(x[:, :seq])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        for g in opt.param_groups:
            g["lr"] = 2e-3 * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * (1 - step / args.steps))
        opt.step()
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.3f} ({time.time() - t0:.0f}s)", flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    import x_transformers
    from importlib.metadata import version
    save_safetensors(os.path.join(args.out, "model.safetensors"), net.state_dict(),
                     {"format": "pt", "x_transformers": version("x-transformers"),
                      "trained_on": os.path.basename(args.corpus), "steps": str(args.steps)})
    print("saved", args.out)


if __name__ == "__main__":
    main()
