#!/usr/bin/env python3
"""PyTorch peer of the decode benchmark: KV-cache greedy decoding of the same weights.

    /usr/bin/python3 scripts/bench_torch_decode.py --dir DIR [--threads N] [--device cpu|cuda]

DIR, written by `deno task bench --decode`, holds model.safetensors (Hugging Face GPT-2 names and
layouts, as our checkpoints), config.json ({"layers", "heads", "context", "batch", "prompt",
"new_tokens", "rounds"}) and prompts.bin (batch x prompt little-endian u32 ids). The model is our
GPT-2 (LayerNorm eps 1e-5, GELU tanh, tied LM head) in float32: one forward pass over the prompts
fills a cache of keys and values per layer, then each step runs one token per row against it and
takes the argmax (the first of equal maxima, as ours). Prints ONE JSON line: the tokens (batch x
new_tokens), the tokens per second of the median round (prompt pass included), every round's, and
the BLAS used (see scripts/bench_torch.py, whose BLAS set-up this script shares).
"""

import argparse
import json
import math
import os
import sys

from bench_torch import choose_coretype, read_safetensors, setup_device


def parse_args(argv):
    ap = argparse.ArgumentParser(description="PyTorch KV-cache greedy decoding throughput.")
    ap.add_argument("--dir", required=True, help="directory written by `deno task bench --decode`")
    ap.add_argument("--threads", type=int, default=0, help="torch and OpenBLAS threads (0: all)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--coretype", default="auto", help="OPENBLAS_CORETYPE, as bench_torch.py")
    a = ap.parse_args(argv)
    try:
        with open(os.path.join(a.dir, "config.json")) as f:
            cfg = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        ap.error(f"--dir: cannot read config.json: {e}")
    for k in ("layers", "heads", "context", "batch", "prompt", "new_tokens", "rounds"):
        if not isinstance(cfg.get(k), int) or cfg[k] < 1:
            ap.error(f"config.json: {k} must be a positive integer, got {cfg.get(k)!r}")
    if cfg["prompt"] + cfg["new_tokens"] > cfg["context"]:
        ap.error("config.json: prompt + new_tokens exceed the context")
    path = os.path.join(a.dir, "prompts.bin")
    want = 4 * cfg["batch"] * cfg["prompt"]
    if not os.path.isfile(path) or os.path.getsize(path) != want:
        ap.error(f"prompts.bin must hold batch x prompt = {want // 4} u32 ids")
    if a.threads == 0:
        a.threads = len(os.sched_getaffinity(0))
    cfg.update(threads=a.threads, device=a.device, coretype=a.coretype, dir=a.dir)
    return cfg


def decode(torch, P, cfg, prompts):
    """Greedy new tokens (B, new_tokens) after prompts (B, T0), with a cache of keys and values."""
    F = torch.nn.functional
    B, T0 = prompts.shape
    L, NH, steps = cfg["layers"], cfg["heads"], cfg["new_tokens"]
    wte, wpe = P["transformer.wte.weight"], P["transformer.wpe.weight"]
    C = wte.shape[1]
    hs = C // NH
    keys = torch.empty(L, B, NH, T0 + steps, hs, device=wte.device)
    values = torch.empty_like(keys)
    scale = 1.0 / math.sqrt(hs)
    causal = torch.full((T0, T0), float("-inf"), device=wte.device).triu(1)

    def forward(x, start):  # x (B, t, C) at positions start .. start + t
        t = x.shape[1]
        for l in range(L):
            pre = f"transformer.h.{l}."
            a = F.layer_norm(x, (C,), P[pre + "ln_1.weight"], P[pre + "ln_1.bias"], 1e-5)
            qkv = torch.addmm(P[pre + "attn.c_attn.bias"], a.view(B * t, C), P[pre + "attn.c_attn.weight"])
            q, k, v = (u.view(B, t, NH, hs).transpose(1, 2) for u in qkv.split(C, dim=-1))
            keys[l, :, :, start : start + t] = k
            values[l, :, :, start : start + t] = v
            att = (q @ keys[l, :, :, : start + t].transpose(-1, -2)) * scale  # (B, NH, t, start + t)
            if t > 1:  # the prompts' pass (start 0): causal
                att = att + causal[:t, :t]
            y = (att.softmax(dim=-1) @ values[l, :, :, : start + t]).transpose(1, 2).reshape(B * t, C)
            x = x + torch.addmm(P[pre + "attn.c_proj.bias"], y, P[pre + "attn.c_proj.weight"]).view(B, t, C)
            a = F.layer_norm(x, (C,), P[pre + "ln_2.weight"], P[pre + "ln_2.bias"], 1e-5)
            a = F.gelu(torch.addmm(P[pre + "mlp.c_fc.bias"], a.view(B * t, C), P[pre + "mlp.c_fc.weight"]), approximate="tanh")
            x = x + torch.addmm(P[pre + "mlp.c_proj.bias"], a, P[pre + "mlp.c_proj.weight"]).view(B, t, C)
        x = F.layer_norm(x[:, -1], (C,), P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], 1e-5)
        return torch.argmax(x @ wte.T, dim=-1)  # (B,): the first of equal maxima

    out = torch.empty(B, steps, dtype=torch.long, device=wte.device)
    out[:, 0] = forward(wte[prompts] + wpe[:T0], 0)
    for s in range(1, steps):
        pos = T0 + s - 1
        out[:, s] = forward((wte[out[:, s - 1]] + wpe[pos]).unsqueeze(1), pos)
    return out


def main():
    cfg = parse_args(sys.argv[1:])
    source = choose_coretype(cfg)
    import time

    import torch

    device, blas_text = setup_device(torch, cfg, source, "bench_torch_decode")
    cuda = cfg["device"] == "cuda"
    P = {k: v.to(device) for k, v in read_safetensors(torch, os.path.join(cfg["dir"], "model.safetensors")).items()}
    B, T0 = cfg["batch"], cfg["prompt"]
    raw = torch.frombuffer(bytearray(open(os.path.join(cfg["dir"], "prompts.bin"), "rb").read()), dtype=torch.int32)
    prompts = raw.long().view(B, T0).to(device)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    with torch.inference_mode():
        tokens = decode(torch, P, cfg, prompts)  # warm-up, and the tokens to compare
        sync()
        times = []
        for _ in range(cfg["rounds"]):
            t0 = time.perf_counter()
            decode(torch, P, cfg, prompts)
            sync()
            times.append(time.perf_counter() - t0)
    n = B * cfg["new_tokens"]
    dt = sorted(times)[len(times) // 2]
    print(json.dumps({
        "name": "pytorch-" + cfg["device"],
        "torch": torch.__version__,
        "threads": None if cuda else torch.get_num_threads(),
        "blas": blas_text,
        "tokens_per_s": round(n / dt, 1),
        "rounds_tokens_per_s": [round(n / t, 1) for t in times],
        "tokens": tokens.tolist(),
    }))


if __name__ == "__main__":
    main()
