/**
 * Causal multi-head self-attention (GPT-2 layout), forward and backward.
 *
 * qkv (B, T, 3C) holds q, k and v side by side; head h of NH uses channels h*hs .. (h+1)*hs of
 * each (hs = C / NH). The forward saves the softmax probabilities att (B, NH, T, T) for the
 * backward. T is the sequence length of the batch (it may be less than the model's context).
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { getKernel, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./attention.wgsl" with { type: "text" };

/** Invocations per workgroup; each owns two rows (or columns) of the T x T matrix. */
const WG = 8;
/** Rows (or columns) of the T x T matrix per workgroup. */
const ROWS = 2 * WG;
/** The largest head size the kernels hold in registers (MAX_HS4 * 4 in the WGSL). */
const MAX_HS = 128;

interface Sizes {
  B: number;
  T: number;
  C: number;
  NH: number;
}

function check(label: string, { B, T, C, NH }: Sizes, tensors: [Tensor, number, string][]): number {
  for (const [name, v] of Object.entries({ B, T, C, NH })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${label}: ${name} = ${v} must be >= 1`);
    }
  }
  if (C % NH !== 0) throw new RangeError(`${label}: C = ${C} is not a multiple of NH = ${NH}`);
  const hs = C / NH;
  if (hs % 4 !== 0 || hs > MAX_HS) {
    throw new RangeError(`${label}: head size ${hs} must be a multiple of 4 and at most ${MAX_HS}`);
  }
  for (const [t, n, what] of tensors) {
    if (t.length < n) {
      throw new RangeError(`${label}: ${t.name} has ${t.length} elements, needs ${n} (${what})`);
    }
  }
  return hs;
}

function uniform(gpu: Gpu, label: string, { T, C, NH }: Sizes, hs: number): GPUBuffer {
  return createUniform(gpu, params([T, C / 4, NH, { f32: 1 / Math.sqrt(hs) }]), label);
}

/**
 * out (B, T, C) = attention(qkv); att (B, NH, T, T) saves the softmax probabilities for backward
 * (entries above the diagonal are written as 0). Written, not accumulated.
 */
export function attentionForward(
  gpu: Gpu,
  args: { out: Tensor; att: Tensor; qkv: Tensor; B: number; T: number; C: number; NH: number },
): Op[] {
  const { out, att, qkv, B, T, C, NH } = args;
  const hs = check("attentionForward", args, [
    [out, B * T * C, "B*T*C"],
    [att, B * NH * T * T, "B*NH*T*T"],
    [qkv, B * T * 3 * C, "B*T*3C"],
  ]);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "attention_forward",
    bindings: ["write", "write", "read", "uniform"],
    constants: { WG, HS4: hs / 4 },
  });
  const u = uniform(gpu, "attention_forward.params", args, hs);
  return [makeOp(gpu, kernel, [out, att, qkv, u], [Math.ceil(T / ROWS), NH, B])];
}

/**
 * dqkv (B, T, 3C) is written (=) with the gradient wrt q, k and v. datt (B, NH, T, T) is scratch
 * (it receives dS, the gradient wrt the pre-softmax scores, on and below the diagonal). Inputs:
 * dout (B, T, C), qkv, and att from the forward. Three ops, in order: a pass over rows (dS into
 * datt, dq), then dk and dv from passes over columns. Each output element has one owner: no
 * atomics, deterministic.
 */
export function attentionBackward(
  gpu: Gpu,
  args: {
    dqkv: Tensor;
    datt: Tensor;
    dout: Tensor;
    qkv: Tensor;
    att: Tensor;
    B: number;
    T: number;
    C: number;
    NH: number;
  },
): Op[] {
  const { dqkv, datt, dout, qkv, att, B, T, C, NH } = args;
  const hs = check("attentionBackward", args, [
    [dqkv, B * T * 3 * C, "B*T*3C"],
    [datt, B * NH * T * T, "B*NH*T*T"],
    [dout, B * T * C, "B*T*C"],
    [qkv, B * T * 3 * C, "B*T*3C"],
    [att, B * NH * T * T, "B*NH*T*T"],
  ]);
  const bindings: ("read" | "write" | "uniform")[] = [
    "write",
    "write",
    "read",
    "read",
    "read",
    "uniform",
  ];
  const constants = { WG, HS4: hs / 4 };
  const rows = getKernel(gpu, { code, entryPoint: "attention_backward_rows", bindings, constants });
  const dk = getKernel(gpu, { code, entryPoint: "attention_backward_dk", bindings, constants });
  const dv = getKernel(gpu, { code, entryPoint: "attention_backward_dv", bindings, constants });
  const u = uniform(gpu, "attention_backward.params", args, hs);
  const resources = [dqkv, datt, dout, qkv, att, u];
  const wg: [number, number, number] = [Math.ceil(T / ROWS), NH, B];
  return [
    makeOp(gpu, rows, resources, wg),
    makeOp(gpu, dk, resources, wg),
    makeOp(gpu, dv, resources, wg),
  ];
}
