#!/usr/bin/env python3
"""A tiny GPT-2 in Hugging Face's download layout, with random weights, for the `--init` tests.

Writes tests/fixtures/hf_gpt2_tiny/ as the Hugging Face hub serves `gpt2`:

- `config.json`: `GPT2Config`'s keys (GPT-2's vocabulary of 50,257 tokens, 2 layers, 1 head,
  width 4, context 128), `torch_dtype` "float16",
- `model.safetensors`: `GPT2Model`'s names (no `transformer.` prefix, as the hub's `gpt2` file),
  Conv1D weights as (in, out), no `lm_head.weight` (tied), the causal-mask buffers
  `h.{i}.attn.bias` (BOOL) and the weights in float16 (half the bytes of float32),

and tests/fixtures/hf_gpt2_tiny.reference.safetensors: token ids, the mean cross-entropy of the
next-token targets, and the logits of the first and last 64 vocabulary ids at every position,
computed in float64 by gpt_reference.py's GPT-2 from the float16 weights.

The tokenizer files (`vocab.json`, `merges.txt`: 1.5 MB) are not committed: the tests write them
from js-tiktoken's GPT-2 ranks (data/hf_tokenizer.ts), byte for byte OpenAI's `encoder.json` and
`vocab.bpe`.

    /usr/bin/python3 tests/reference/hf_gpt2_tiny.py
"""

import json
import os
import struct

import torch

import gpt_reference as ref

VOCAB = 50257
CONTEXT = 128
LAYERS = 2
HEADS = 1
WIDTH = 4
T = 16
SEED = 7
EDGE = 64  # logits kept for the first and last EDGE ids

DTYPES = {torch.float16: "F16", torch.float32: "F32", torch.int32: "I32", torch.bool: "BOOL"}


def write_safetensors(path, tensors, metadata=None):
    """{name: tensor} in safetensors format, each tensor in its own dtype."""
    header = {"__metadata__": metadata} if metadata else {}
    chunks, offset = [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        data = t.numpy().tobytes()  # little-endian on every machine PyTorch runs on
        header[name] = {
            "dtype": DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(path + ".tmp", path)
    return 8 + len(text) + offset


def hf_config():
    """config.json as `GPT2Config(...).save_pretrained` writes it."""
    return {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": 50256,
        "embd_pdrop": 0.1,
        "eos_token_id": 50256,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": CONTEXT,
        "n_embd": WIDTH,
        "n_head": HEADS,
        "n_inner": None,
        "n_layer": LAYERS,
        "n_positions": CONTEXT,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
        "torch_dtype": "float16",
        "transformers_version": "4.40.0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    fixtures = os.path.normpath(os.path.join(here, "..", "fixtures"))
    out_dir = os.path.join(fixtures, "hf_gpt2_tiny")
    os.makedirs(out_dir, exist_ok=True)

    ref.VOCAB, ref.CONTEXT, ref.LAYERS, ref.HEADS, ref.WIDTH = VOCAB, CONTEXT, LAYERS, HEADS, WIDTH
    torch.manual_seed(SEED)
    params = {n: p.detach().half() for n, p in ref.init_params().items()}

    weights = {}
    for name, p in params.items():
        weights[name.removeprefix("transformer.")] = p
        if name.endswith("ln_1.bias"):  # the buffers sit after ln_1 in GPT2Block
            layer = name.split(".")[2]
            mask = torch.ones(CONTEXT, CONTEXT, dtype=torch.bool).tril()
            weights[f"h.{layer}.attn.bias"] = mask.view(1, 1, CONTEXT, CONTEXT)
    size = write_safetensors(os.path.join(out_dir, "model.safetensors"), weights, {"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config(), f, indent=2, sort_keys=True)
        f.write("\n")

    # The reference: float64 on the float16 weights (what the loader widens them to).
    wide = {n: p.to(ref.DTYPE) for n, p in params.items()}
    ids = torch.randint(0, VOCAB, (1, T + 1))
    inputs, targets = ids[:, :T], ids[:, 1:]
    logits = ref.forward(wide, inputs)
    loss = ref.cross_entropy(logits, targets).mean()
    reference = {
        "inputs": inputs.to(torch.int32),
        "targets": targets.to(torch.int32),
        "loss": loss.reshape(1).float(),
        "logits_first": logits[0, :, :EDGE].float().contiguous(),
        "logits_last": logits[0, :, -EDGE:].float().contiguous(),
    }
    ref_path = os.path.join(fixtures, "hf_gpt2_tiny.reference.safetensors")
    write_safetensors(ref_path, reference, {"edge": json.dumps(EDGE), "torch": torch.__version__})
    print(f"wrote {out_dir}/model.safetensors ({size} bytes) and config.json; {ref_path}")
    print(f"loss {loss.item():.6f} over {T} positions")


if __name__ == "__main__":
    main()
