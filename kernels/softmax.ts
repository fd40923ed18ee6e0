/**
 * Causal row softmax of square (T x T) score matrices, in place, forward and backward: the
 * row-wise half of the attention layer's GPU path (kernels/attention.ts).
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { getKernel, grid, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./softmax.wgsl" with { type: "text" };

/** Invocations per row. */
const WG = 256;

function check(label: string, rows: number, T: number, tensors: Tensor[]): void {
  if (!Number.isInteger(rows) || !Number.isInteger(T) || rows < 1 || T < 1) {
    throw new RangeError(`${label}: rows = ${rows} and T = ${T} must be positive integers`);
  }
  for (const t of tensors) {
    if (t.length < rows * T) {
      throw new RangeError(`${label}: ${t.name} holds ${t.length} values, needs ${rows * T}`);
    }
  }
}

/**
 * x (rows, T): scores in, causal softmax probabilities out (row r is query position r % T;
 * columns after it become 0 and are not read).
 */
export function causalSoftmaxForward(gpu: Gpu, args: { x: Tensor; rows: number; T: number }): Op {
  const { x, rows, T } = args;
  const label = "causal_softmax_forward";
  check(label, rows, T, [x]);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: label,
    bindings: ["write", "uniform"],
    constants: { WG },
  });
  const u = createUniform(gpu, params([T, rows, { f32: 1 }]), `${label}.params`);
  return makeOp(gpu, kernel, [x, u], grid(gpu, rows));
}

/**
 * dx (rows, T): dP (gradient wrt the probabilities) in, dS = scale · P ⊙ (dP − Σ P dP) out, the
 * gradient wrt the unscaled scores; 0 above the diagonal. prob (rows, T) from the forward.
 */
export function causalSoftmaxBackward(
  gpu: Gpu,
  args: { dx: Tensor; prob: Tensor; rows: number; T: number; scale: number },
): Op {
  const { dx, prob, rows, T, scale } = args;
  const label = "causal_softmax_backward";
  check(label, rows, T, [dx, prob]);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: label,
    bindings: ["write", "read", "uniform"],
    constants: { WG },
  });
  const u = createUniform(gpu, params([T, rows, { f32: scale }]), `${label}.params`);
  return makeOp(gpu, kernel, [dx, prob, u], grid(gpu, rows));
}
