/**
 * One transformer block's forward ops (ln1 → qkv → attention → attproj → residual2 → ln2 → fc →
 * GELU → fcproj → residual3), shared by the training graph (model/gpt.ts) and the KV-cache
 * generator (model/rollout.ts), and whether the MLP's GELU runs inside its products.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { Op, Tensor } from "../gpu/kernel.ts";
import { layernormForward } from "../kernels/layernorm.ts";
import { matmulForward } from "../kernels/matmul.ts";
import { geluForward } from "../kernels/gelu.ts";
import { residualForward } from "../kernels/residual.ts";
import type { Gpt } from "./params.ts";

/**
 * Whether graphs that do not say fuse the MLP's GELU into its products (see
 * {@linkcode GraphOptions.fuseGelu}). Off: on lavapipe the fused products were no faster than a
 * product and a GELU kernel (forward 12.5–12.8 ms against 12.5–12.7, input gradient 13.8–13.9
 * against 12.2–12.7, fc layer of the small config), and it has not yet been measured on a GPU.
 * `deno task bench --fuse-gelu` and `scripts/profile.ts --fuse-gelu` set it.
 */
export const geluFusion: { value: boolean } = { value: false };

/**
 * The forward ops of transformer block `l` (llm.c's layer loop): ln1 → qkv → attention → attproj
 * → residual2 → ln2 → fc → GELU → fcproj → residual3, over the activations `${l}.<name>` that
 * `acts` returns (N rows). `attention(x)` builds the attention ops for the prefix x = `${l}.`:
 * the training graph's causal attention, or one decoding step against a KV cache.
 */
export function blockForward(
  gpu: Gpu,
  args: {
    gpt: Gpt;
    acts: (name: string) => Tensor;
    l: number;
    residualIn: Tensor;
    N: number;
    attention: (x: string) => Op[];
    /** The GELU inside the fc product (default {@linkcode geluFusion}). */
    fuseGelu?: boolean;
    /** Builds the linear layers' products (default matmulForward; decoding steps pass their own). */
    product?: typeof matmulForward;
  },
): Op[] {
  const { gpt, l, residualIn, N, attention } = args;
  const product = args.product ?? matmulForward;
  const fuse = args.fuseGelu ?? geluFusion.value;
  const a = args.acts;
  const p = (name: string) => gpt.param(name);
  const C = gpt.config.width;
  const pre = `transformer.h.${l}.`, x = `${l}.`;
  const ops: Op[] = [];
  ops.push(...layernormForward(gpu, {
    out: a(`${x}ln1`),
    mean: a(`${x}ln1_mean`),
    rstd: a(`${x}ln1_rstd`),
    inp: residualIn,
    weight: p(`${pre}ln_1.weight`),
    bias: p(`${pre}ln_1.bias`),
    N,
    C,
  }));
  ops.push(...product(gpu, {
    out: a(`${x}qkv`), // (N,3C)
    inp: a(`${x}ln1`),
    weight: p(`${pre}attn.c_attn.weight`),
    bias: p(`${pre}attn.c_attn.bias`),
    N,
    C,
    OC: 3 * C,
  }));
  ops.push(...attention(x));
  ops.push(...product(gpu, {
    out: a(`${x}attproj`),
    inp: a(`${x}atty`),
    weight: p(`${pre}attn.c_proj.weight`),
    bias: p(`${pre}attn.c_proj.bias`),
    N,
    C,
    OC: C,
  }));
  ops.push(...residualForward(gpu, {
    out: a(`${x}residual2`),
    inp1: residualIn,
    inp2: a(`${x}attproj`),
    N: N * C,
  }));
  ops.push(...layernormForward(gpu, {
    out: a(`${x}ln2`),
    mean: a(`${x}ln2_mean`),
    rstd: a(`${x}ln2_rstd`),
    inp: a(`${x}residual2`),
    weight: p(`${pre}ln_2.weight`),
    bias: p(`${pre}ln_2.bias`),
    N,
    C,
  }));
  ops.push(...product(gpu, {
    out: a(`${x}fch`), // (N,4C)
    gelu: fuse ? a(`${x}fch_gelu`) : undefined, // (N,4C), by the same op
    inp: a(`${x}ln2`),
    weight: p(`${pre}mlp.c_fc.weight`),
    bias: p(`${pre}mlp.c_fc.bias`),
    N,
    C,
    OC: 4 * C,
  }));
  if (!fuse) ops.push(...geluForward(gpu, { out: a(`${x}fch_gelu`), inp: a(`${x}fch`) }));
  ops.push(...product(gpu, {
    out: a(`${x}fcproj`),
    inp: a(`${x}fch_gelu`),
    weight: p(`${pre}mlp.c_proj.weight`),
    bias: p(`${pre}mlp.c_proj.bias`),
    N,
    C: 4 * C,
    OC: C,
  }));
  ops.push(...residualForward(gpu, {
    out: a(`${x}residual3`),
    inp1: a(`${x}residual2`),
    inp2: a(`${x}fcproj`),
    N: N * C,
  }));
  return ops;
}
