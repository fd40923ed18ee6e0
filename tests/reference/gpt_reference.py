#!/usr/bin/env python3
"""PyTorch reference of a tiny GPT-2 (the method of llm.c's test_gpt2).

Builds a GPT-2 from scratch, computes in float64 on float32-representable weights and inputs, and
writes tests/fixtures/gpt_tiny.safetensors with:

- the weights under Hugging Face GPT2LMHeadModel names and layouts (Conv1D weights are (in, out);
  the LM head is tied to transformer.wte.weight and not stored),
- `inputs`, `targets`, `logits`, `loss` and `grad.<name>` of the mean cross-entropy,
- `weights`, `wloss` and `wgrad.<name>` of a per-position weighted cross-entropy,
- `losses` and `grad_norms` of 10 AdamW steps (with gradient clipping) on the same batch.

Run with the system interpreter that has Debian's PyTorch:

    /usr/bin/python3 tests/reference/gpt_reference.py [--out PATH]
"""

import argparse
import json
import math
import os
import struct

import torch

# --- configuration -------------------------------------------------------------------------------

VOCAB = 97  # vocab_size
CONTEXT = 16  # n_positions
LAYERS = 2  # n_layer
HEADS = 4  # n_head
WIDTH = 32  # n_embd
B = 3  # batch
T = 13  # sequence length (< CONTEXT on purpose)
LR = 1e-3
BETAS = (0.9, 0.95)
EPS = 1e-8
WEIGHT_DECAY = 0.1
GRAD_CLIP = 1.0
STEPS = 10
LN_EPS = 1e-5
SEED = 42

DTYPE = torch.float64


# --- the model -----------------------------------------------------------------------------------


def param_shapes():
    """(name, shape) of every parameter, in Hugging Face order."""
    C = WIDTH
    shapes = [
        ("transformer.wte.weight", (VOCAB, C)),
        ("transformer.wpe.weight", (CONTEXT, C)),
    ]
    for i in range(LAYERS):
        p = f"transformer.h.{i}."
        shapes += [
            (p + "ln_1.weight", (C,)),
            (p + "ln_1.bias", (C,)),
            (p + "attn.c_attn.weight", (C, 3 * C)),
            (p + "attn.c_attn.bias", (3 * C,)),
            (p + "attn.c_proj.weight", (C, C)),
            (p + "attn.c_proj.bias", (C,)),
            (p + "ln_2.weight", (C,)),
            (p + "ln_2.bias", (C,)),
            (p + "mlp.c_fc.weight", (C, 4 * C)),
            (p + "mlp.c_fc.bias", (4 * C,)),
            (p + "mlp.c_proj.weight", (4 * C, C)),
            (p + "mlp.c_proj.bias", (C,)),
        ]
    shapes += [("transformer.ln_f.weight", (C,)), ("transformer.ln_f.bias", (C,))]
    return shapes


def init_params():
    """Seeded init; drawn in float32 so that the stored float32 weights are exact, then widened.

    Biases and LayerNorm parameters are random (not 0 and 1) so that a bug in their use shows.
    """
    params = {}
    for name, shape in param_shapes():
        if name.endswith("c_proj.weight"):
            w = torch.randn(shape) * (0.02 / math.sqrt(2 * LAYERS))
        elif ".ln_" in name and name.endswith(".weight"):
            w = 1.0 + torch.randn(shape) * 0.1
        elif ".ln_" in name:
            w = torch.randn(shape) * 0.1
        else:  # embeddings, matrices and linear biases
            w = torch.randn(shape) * 0.02
        params[name] = w.float().to(DTYPE).requires_grad_(True)
    return params


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased variance, as GPT-2
    return (x - mean) / torch.sqrt(var + LN_EPS) * w + b


def gelu(x):
    """GELU, tanh approximation (GPT-2's gelu_new)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def attention(x, w, b):
    """Causal self-attention; x (B, T, C) is ln_1's output, w (C, 3C) and b (3C) are c_attn."""
    Bn, Tn, C = x.shape
    hs = C // HEADS
    qkv = x @ w + b  # (B, T, 3C)
    q, k, v = qkv.split(C, dim=-1)  # each (B, T, C); head h uses channels h*hs .. (h+1)*hs
    q = q.view(Bn, Tn, HEADS, hs).transpose(1, 2)  # (B, NH, T, hs)
    k = k.view(Bn, Tn, HEADS, hs).transpose(1, 2)
    v = v.view(Bn, Tn, HEADS, hs).transpose(1, 2)
    att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, NH, T, T)
    causal = torch.ones(Tn, Tn, dtype=torch.bool).tril()
    att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
    y = att @ v  # (B, NH, T, hs)
    return y.transpose(1, 2).contiguous().view(Bn, Tn, C)


def forward(params, idx):
    """Logits (B, T, V) of the token ids idx (B, T)."""
    Tn = idx.shape[1]
    P = params
    x = P["transformer.wte.weight"][idx] + P["transformer.wpe.weight"][:Tn]
    for i in range(LAYERS):
        p = f"transformer.h.{i}."
        h = layer_norm(x, P[p + "ln_1.weight"], P[p + "ln_1.bias"])
        a = attention(h, P[p + "attn.c_attn.weight"], P[p + "attn.c_attn.bias"])
        x = x + (a @ P[p + "attn.c_proj.weight"] + P[p + "attn.c_proj.bias"])
        h = layer_norm(x, P[p + "ln_2.weight"], P[p + "ln_2.bias"])
        h = gelu(h @ P[p + "mlp.c_fc.weight"] + P[p + "mlp.c_fc.bias"])
        x = x + (h @ P[p + "mlp.c_proj.weight"] + P[p + "mlp.c_proj.bias"])
    x = layer_norm(x, P["transformer.ln_f.weight"], P["transformer.ln_f.bias"])
    return x @ P["transformer.wte.weight"].t()  # tied LM head


def cross_entropy(logits, targets):
    """Per-position cross-entropy (B, T)."""
    logp = logits.log_softmax(dim=-1)
    return -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def gradients(params, loss):
    names = list(params)
    grads = torch.autograd.grad(loss, [params[n] for n in names])
    return dict(zip(names, grads))


# --- safetensors writer --------------------------------------------------------------------------


def write_safetensors(path, tensors, metadata):
    """Writes {name: tensor} in safetensors format: float tensors as F32, integer ones as I32."""
    header = {"__metadata__": metadata}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.is_floating_point():
            dtype, data = "F32", t.to(torch.float32).numpy().astype("<f4").tobytes()
        else:
            dtype, data = "I32", t.to(torch.int32).numpy().astype("<i4").tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)  # the data area starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)
    return 8 + len(text) + offset


# --- main ----------------------------------------------------------------------------------------


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "fixtures", "gpt_tiny.safetensors")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.normpath(default_out), help="output file")
    args = ap.parse_args()

    torch.manual_seed(SEED)
    params = init_params()
    inputs = torch.randint(0, VOCAB, (B, T))
    targets = torch.randint(0, VOCAB, (B, T))
    keep = (torch.rand(B, T) >= 0.3).float()
    weights = (keep / keep.sum()).float().to(DTYPE)  # float32-exact, sums to 1 (to f32 rounding)

    # Uniform mean loss and its gradients.
    logits = forward(params, inputs)
    ce = cross_entropy(logits, targets)
    loss = ce.mean()
    grads = gradients(params, loss)

    # Weighted loss and its gradients.
    wloss = (weights * cross_entropy(forward(params, inputs), targets)).sum()
    wgrads = gradients(params, wloss)

    # Training: AdamW with decay on matrices and embeddings only, clipping at GRAD_CLIP.
    train = {n: p.detach().clone().requires_grad_(True) for n, p in params.items()}
    decay = [p for p in train.values() if p.dim() >= 2]
    no_decay = [p for p in train.values() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": WEIGHT_DECAY},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=LR,
        betas=BETAS,
        eps=EPS,
    )
    losses, grad_norms = [], []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        step_loss = cross_entropy(forward(train, inputs), targets).mean()
        step_loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(list(train.values()), GRAD_CLIP)
        opt.step()
        losses.append(step_loss.item())
        grad_norms.append(norm.item())

    tensors = {n: p for n, p in params.items()}
    tensors["inputs"] = inputs
    tensors["targets"] = targets
    tensors["logits"] = logits
    tensors["loss"] = loss.reshape(1)
    for n, g in grads.items():
        tensors["grad." + n] = g
    tensors["weights"] = weights
    tensors["wloss"] = wloss.reshape(1)
    for n, g in wgrads.items():
        tensors["wgrad." + n] = g
    tensors["losses"] = torch.tensor(losses, dtype=DTYPE)
    tensors["grad_norms"] = torch.tensor(grad_norms, dtype=DTYPE)

    metadata = {
        "format": "instructgpu-gpt-reference",
        "vocab_size": json.dumps(VOCAB),
        "n_positions": json.dumps(CONTEXT),
        "n_layer": json.dumps(LAYERS),
        "n_head": json.dumps(HEADS),
        "n_embd": json.dumps(WIDTH),
        "B": json.dumps(B),
        "T": json.dumps(T),
        "lr": json.dumps(LR),
        "betas": json.dumps(list(BETAS)),
        "eps": json.dumps(EPS),
        "weight_decay": json.dumps(WEIGHT_DECAY),
        "grad_clip": json.dumps(GRAD_CLIP),
        "steps": json.dumps(STEPS),
        "layer_norm_epsilon": json.dumps(LN_EPS),
        "seed": json.dumps(SEED),
        "torch": torch.__version__,
    }
    size = write_safetensors(args.out, tensors, metadata)

    gnorm = math.sqrt(sum(float((g**2).sum()) for g in grads.values()))
    print(f"wrote {args.out} ({size} bytes, {len(tensors)} tensors)")
    print(
        f"config V={VOCAB} context={CONTEXT} L={LAYERS} NH={HEADS} C={WIDTH} B={B} T={T}; "
        f"{sum(p.numel() for p in params.values())} parameters"
    )
    print(f"loss {loss.item():.6f} (ln V = {math.log(VOCAB):.6f}), grad norm {gnorm:.6f}")
    print(f"weighted loss {wloss.item():.6f} over {int(keep.sum())} of {B * T} positions")
    print("step losses " + " ".join(f"{v:.6f}" for v in losses))
    print("grad norms  " + " ".join(f"{v:.4f}" for v in grad_norms))


if __name__ == "__main__":
    main()
