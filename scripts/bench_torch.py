#!/usr/bin/env python3
"""PyTorch-on-the-CPU peer of the training benchmark.

Trains the same GPT-2 as instructgpu (tied LM head, LayerNorm eps 1e-5, GELU tanh, AdamW with weight
decay on matrices and embeddings only, gradient clipping at 1.0) in float32 on random tokens and
prints ONE JSON line with the throughput:

    /usr/bin/python3 scripts/bench_torch.py --vocab 512 --layers 4 --heads 4 --width 256 \\
        --context 128 --batch 8 --steps 20 --warmup 3 [--threads N]
    /usr/bin/python3 scripts/bench_torch.py --json-config '{"vocab": 512, "layers": 4, ...}'

Matrix products go to OpenBLAS (Debian's torch links the system libblas.so.3, which is OpenBLAS's).
OpenBLAS 0.3.21 may pick slow kernels for CPUs it does not know, so this script sets
OPENBLAS_CORETYPE from the CPU flags (SkylakeX with AVX-512, Haswell with AVX2) before torch is
imported; `--coretype env` keeps the environment's value, `--coretype native` leaves the choice to
OpenBLAS and `--coretype NAME` forces a core type. The "blas" field of the output says which one
was used.
"""

import argparse
import json
import math
import os
import sys

DEFAULTS = {
    "vocab": 512,
    "layers": 4,
    "heads": 4,
    "width": 256,
    "context": 128,
    "batch": 8,
    "steps": 20,
    "warmup": 3,
    "rounds": 1,  # timed rounds of `steps` steps; the median round counts
    "threads": 0,  # 0: all the cores this process may run on
    "seed": 1,
    "coretype": "auto",
    "device": "cpu",
    "dtype": "fp32",
    "dir": "",
}
STRING_KEYS = ("coretype", "device", "dtype", "dir")


def parse_args(argv):
    ap = argparse.ArgumentParser(description="PyTorch CPU training throughput of a GPT-2.")
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--context", type=int, help="sequence length T (and n_positions)")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--steps", type=int, help="timed training steps")
    ap.add_argument("--warmup", type=int, help="untimed steps before timing")
    ap.add_argument("--rounds", type=int, help="timed rounds of --steps steps (the median counts)")
    ap.add_argument("--threads", type=int, help="torch and OpenBLAS threads (default: all cores)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--device", choices=["cpu", "cuda"], help="where to train (default cpu)")
    ap.add_argument(
        "--dtype",
        choices=["fp32", "bf16"],
        help="fp32 (default; on CUDA with TF32 off) or bf16 autocast (CUDA only)",
    )
    ap.add_argument(
        "--dir",
        help="a directory written by `deno task bench`: config.json, model.safetensors (the "
        "initial weights) and batches.bin; the first 10 steps train on its batches and their "
        "losses are reported",
    )
    ap.add_argument(
        "--coretype",
        help="OPENBLAS_CORETYPE: auto (default: from the CPU flags, SkylakeX with AVX-512, Haswell "
        "with AVX2), env (keep the environment's), native (unset: OpenBLAS's own detection) or a "
        "core name such as SkylakeX or Haswell",
    )
    ap.add_argument(
        "--json-config",
        metavar="JSON",
        help="the same options as one JSON object (keys as the flag names, or vocabSize for "
        "vocab); flags given as well win",
    )
    a = ap.parse_args(argv)
    cfg = dict(DEFAULTS)
    if a.json_config:
        try:
            given = json.loads(a.json_config)
        except json.JSONDecodeError as e:
            ap.error(f"--json-config is not valid JSON: {e}")
        if not isinstance(given, dict):
            ap.error("--json-config must be a JSON object")
        if "vocabSize" in given:  # the name in instructgpu's GptConfig
            given["vocab"] = given.pop("vocabSize")
        unknown = sorted(set(given) - set(DEFAULTS))
        if unknown:
            ap.error(f"--json-config has unknown keys {unknown}; known: {sorted(DEFAULTS)}")
        cfg.update(given)
    for k in DEFAULTS:
        v = getattr(a, k)
        if v is not None:
            cfg[k] = v
    if not isinstance(cfg["coretype"], str) or not cfg["coretype"]:
        ap.error(f"coretype must be a core name, auto, env or native, got {cfg['coretype']!r}")
    if cfg["dir"]:
        try:
            with open(os.path.join(cfg["dir"], "config.json")) as f:
                given = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            ap.error(f"--dir: cannot read config.json: {e}")
        for k in ("vocab", "layers", "heads", "width", "context", "batch", "steps", "warmup", "rounds"):
            if k in given and getattr(a, k) is None:
                cfg[k] = given[k]
        cfg["hyper"] = {k: given[k] for k in ("lr", "beta1", "beta2", "eps", "weightDecay", "gradClip")}
    if cfg["dtype"] == "bf16" and cfg["device"] != "cuda":
        ap.error("--dtype bf16 needs --device cuda")
    for k, v in cfg.items():
        if k not in STRING_KEYS and k != "hyper" and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            ap.error(f"{k} must be a non-negative integer, got {v!r}")
    for k in ("vocab", "layers", "heads", "width", "context", "batch", "steps", "rounds"):
        if cfg[k] <= 0:
            ap.error(f"{k} must be positive, got {cfg[k]}")
    if cfg["width"] % cfg["heads"]:
        ap.error(f"heads ({cfg['heads']}) must divide width ({cfg['width']})")
    if cfg["threads"] == 0:
        try:
            cfg["threads"] = len(os.sched_getaffinity(0))
        except AttributeError:
            cfg["threads"] = os.cpu_count() or 1
    return cfg


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def best_coretype():
    """The OpenBLAS core type for this CPU's widest vector units, or None if unknown."""
    flags = cpu_flags()
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def choose_coretype(cfg):
    """Sets OPENBLAS_CORETYPE (and OPENBLAS_NUM_THREADS) before torch loads OpenBLAS.

    `auto` picks from the CPU flags even when the environment names another core type (a shell-wide
    setting such as Haswell would hide the AVX-512 kernels); `env` keeps the environment's value.
    Returns where the core type came from, for the report.
    """
    os.environ["OPENBLAS_NUM_THREADS"] = str(cfg["threads"])
    want = cfg["coretype"]
    had = os.environ.get("OPENBLAS_CORETYPE")
    if want == "native":
        os.environ.pop("OPENBLAS_CORETYPE", None)
        return "OpenBLAS detection"
    if want == "env":
        return "environment" if had else "OpenBLAS detection"
    if want != "auto":
        os.environ["OPENBLAS_CORETYPE"] = want
        return "--coretype"
    best = best_coretype()
    if best is None:
        return "environment" if had else "OpenBLAS detection"
    os.environ["OPENBLAS_CORETYPE"] = best
    return "CPU flags" + (f"; environment had {had}" if had and had != best else "")


def openblas_info():
    """The OpenBLAS library that torch loaded (via libblas.so.3), or None if it is another BLAS."""
    import ctypes

    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib
        except (OSError, AttributeError):
            continue
    return None


def setup_blas(torch, threads, source):
    """Gives OpenBLAS `threads` threads; returns what BLAS torch runs on, for the "blas" field."""
    blas = openblas_info()
    if blas is None:
        return torch.__config__.show().split("BLAS_INFO=")[1].split(",")[0]
    blas.openblas_set_num_threads(threads)
    version = " ".join(blas.openblas_get_config().decode().split()[:2])
    core = blas.openblas_get_corename().decode()
    return f"{version} (threads={blas.openblas_get_num_threads()}), core {core} ({source})"


def setup_device(torch, cfg, source, script):
    """torch's threads, its BLAS, and the device: (device, what runs the products)."""
    torch.set_num_threads(cfg["threads"])
    blas_text = setup_blas(torch, cfg["threads"], source)
    if cfg["device"] != "cuda":
        return torch.device("cpu"), blas_text
    if not torch.cuda.is_available():
        print(f"{script}: --device cuda, but torch sees no CUDA device", file=sys.stderr)
        sys.exit(1)
    # the float32 peer computes in float32: no TF32 in matrix products or convolutions
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch.device("cuda"), f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}"


def init_params(torch, cfg):
    """GPT-2 parameters in Hugging Face layout (Conv1D weights (in, out)), float32, GPT-2 init."""
    V, P, L, C = cfg["vocab"], cfg["context"], cfg["layers"], cfg["width"]
    proj_std = 0.02 / math.sqrt(2 * L)
    shapes = [("transformer.wte.weight", (V, C)), ("transformer.wpe.weight", (P, C))]
    for i in range(L):
        h = f"transformer.h.{i}."
        shapes += [
            (h + "ln_1.weight", (C,)),
            (h + "ln_1.bias", (C,)),
            (h + "attn.c_attn.weight", (C, 3 * C)),
            (h + "attn.c_attn.bias", (3 * C,)),
            (h + "attn.c_proj.weight", (C, C)),
            (h + "attn.c_proj.bias", (C,)),
            (h + "ln_2.weight", (C,)),
            (h + "ln_2.bias", (C,)),
            (h + "mlp.c_fc.weight", (C, 4 * C)),
            (h + "mlp.c_fc.bias", (4 * C,)),
            (h + "mlp.c_proj.weight", (4 * C, C)),
            (h + "mlp.c_proj.bias", (C,)),
        ]
    shapes += [("transformer.ln_f.weight", (C,)), ("transformer.ln_f.bias", (C,))]
    params = {}
    for name, shape in shapes:
        if ".ln_" in name:
            t = torch.ones(shape) if name.endswith(".weight") else torch.zeros(shape)
        elif name.endswith(".bias"):
            t = torch.zeros(shape)
        else:
            t = torch.randn(shape) * (proj_std if name.endswith("c_proj.weight") else 0.02)
        params[name] = t.requires_grad_(True)
    return params


def read_safetensors(torch, path):
    """The float32 tensors of a safetensors file, by name."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[8 + n + start : 8 + n + end]), dtype=torch.float32)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def read_batches(torch, path, B, T):
    """(inputs, targets) pairs of (B, T) int64 tensors from the little-endian u32 file."""
    flat = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.int32).long()
    per = 2 * B * T
    if flat.numel() == 0 or flat.numel() % per:
        raise ValueError(f"{path}: {flat.numel()} values is not a whole number of batches")
    return [
        (flat[k : k + B * T].view(B, T), flat[k + B * T : k + per].view(B, T))
        for k in range(0, flat.numel(), per)
    ]


def gpt_loss(torch, P, heads, idx, targets):
    """Mean cross-entropy of GPT-2 (tied head) on token ids idx (B, T) against targets (B, T)."""
    F = torch.nn.functional
    B, T = idx.shape
    wte = P["transformer.wte.weight"]
    V, C = wte.shape
    hs = C // heads

    def conv1d(x, w, b):  # x (..., in) @ w (in, out) + b
        return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(*x.shape[:-1], w.shape[1])

    causal = torch.full((T, T), float("-inf"), device=wte.device).triu(1)  # additive mask (T, T)
    x = wte[idx] + P["transformer.wpe.weight"][:T]  # (B, T, C)
    layer = 0
    while f"transformer.h.{layer}.ln_1.weight" in P:
        pre = f"transformer.h.{layer}."
        a = F.layer_norm(x, (C,), P[pre + "ln_1.weight"], P[pre + "ln_1.bias"], 1e-5)
        qkv = conv1d(a, P[pre + "attn.c_attn.weight"], P[pre + "attn.c_attn.bias"])  # (B, T, 3C)
        q, k, v = (t.reshape(B, T, heads, hs).transpose(1, 2) for t in qkv.split(C, dim=-1))
        if hasattr(F, "scaled_dot_product_attention"):  # torch >= 2.0: fused kernels
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, NH, T, hs)
        else:
            att = torch.baddbmm(
                causal.expand(B * heads, T, T),
                q.reshape(B * heads, T, hs),
                k.reshape(B * heads, T, hs).transpose(1, 2),
                alpha=1.0 / math.sqrt(hs),
            ).softmax(dim=-1)  # (B*NH, T, T)
            y = torch.bmm(att, v.reshape(B * heads, T, hs)).view(B, heads, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)
        x = x + conv1d(y, P[pre + "attn.c_proj.weight"], P[pre + "attn.c_proj.bias"])
        a = F.layer_norm(x, (C,), P[pre + "ln_2.weight"], P[pre + "ln_2.bias"], 1e-5)
        a = conv1d(a, P[pre + "mlp.c_fc.weight"], P[pre + "mlp.c_fc.bias"])  # (B, T, 4C)
        a = F.gelu(a, approximate="tanh")
        x = x + conv1d(a, P[pre + "mlp.c_proj.weight"], P[pre + "mlp.c_proj.bias"])
        layer += 1
    x = F.layer_norm(x, (C,), P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], 1e-5)
    logits = F.linear(x, wte)  # tied head, (B, T, V)
    return F.cross_entropy(logits.view(-1, V), targets.reshape(-1))


def main():
    cfg = parse_args(sys.argv[1:])
    keys = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS")
    before = [os.environ.get(k) for k in keys]
    source = choose_coretype(cfg)
    if "torch" in sys.modules and before != [os.environ.get(k) for k in keys]:
        # OpenBLAS read its settings when torch was loaded: start afresh to apply them.
        os.execv(sys.executable, [sys.executable] + sys.argv)

    import time

    import torch

    torch.manual_seed(cfg["seed"])
    device, blas_text = setup_device(torch, cfg, source, "bench_torch")
    cuda = cfg["device"] == "cuda"
    hyper = cfg.get("hyper") or {
        "lr": 1e-3, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weightDecay": 0.1, "gradClip": 1.0
    }
    V, B, T = cfg["vocab"], cfg["batch"], cfg["context"]
    if cfg["dir"]:
        params = read_safetensors(torch, os.path.join(cfg["dir"], "model.safetensors"))
        want = init_params(torch, cfg)
        if sorted(params) != sorted(want) or any(params[k].shape != want[k].shape for k in want):
            print("bench_torch: model.safetensors does not match the config", file=sys.stderr)
            sys.exit(1)
        batches = read_batches(torch, os.path.join(cfg["dir"], "batches.bin"), B, T)
    else:
        params = init_params(torch, cfg)
        batches = [(torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T)))]
    params = {k: v.detach().to(device).requires_grad_(True) for k, v in params.items()}
    batches = [(x.to(device), y.to(device)) for x, y in batches]
    plist = list(params.values())
    # weight decay on matrices and embeddings, as ours (parameters of two or more dimensions)
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in plist if p.dim() >= 2], "weight_decay": hyper["weightDecay"]},
            {"params": [p for p in plist if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=hyper["lr"],
        betas=(hyper["beta1"], hyper["beta2"]),
        eps=hyper["eps"],
    )
    bf16 = cfg["dtype"] == "bf16"

    def step(k):
        idx, targets = batches[k % len(batches)]
        opt.zero_grad(set_to_none=True)
        if bf16:
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                loss = gpt_loss(torch, params, cfg["heads"], idx, targets)
        else:
            loss = gpt_loss(torch, params, cfg["heads"], idx, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plist, hyper["gradClip"])
        opt.step()
        return loss.detach()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    # the loss check (with --dir: the 10 steps every peer reports), then warm-up
    check = [step(k).item() for k in range(10 if cfg["dir"] else 0)]
    for k in range(cfg["warmup"]):
        step(k)
    sync()
    times = []
    for _ in range(cfg["rounds"]):
        t0 = time.perf_counter()
        losses = [step(k) for k in range(cfg["steps"])]  # no read-back inside the timed loop
        sync()
        times.append(time.perf_counter() - t0)
    dt = sorted(times)[len(times) // 2]  # the median round
    losses = [v.item() for v in losses]

    if not all(math.isfinite(v) for v in check + losses):
        print(f"bench_torch: non-finite loss {check + losses}", file=sys.stderr)
        sys.exit(1)
    name = "pytorch-" + ("cuda" if cuda else "cpu") + ("-bf16" if bf16 else "")
    out = {
        "name": name,
        "peer": name,
        "torch": torch.__version__,
        "device": blas_text if cuda else "cpu",
        "dtype": cfg["dtype"],
        "threads": None if cuda else torch.get_num_threads(),
        "blas": blas_text,
        "tokens_per_s": round(B * T * cfg["steps"] / dt, 1),
        "ms_per_step": round(1000 * dt / cfg["steps"], 3),
        "rounds_tokens_per_s": [round(B * T * cfg["steps"] / t, 1) for t in times],
        "config": {
            k: cfg[k]
            for k in ("vocab", "layers", "heads", "width", "context", "batch", "steps", "warmup", "rounds")
        },
        "parameters": sum(p.numel() for p in plist),
        "losses": [round(v, 6) for v in check],
        "loss_first": round(losses[0], 6),
        "loss_last": round(losses[-1], 6),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
