/**
 * Residual connection, forward and backward.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { fitsVec4, getKernel, grid, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./residual.wgsl" with { type: "text" };

const WG = 256;

function checkSizes(label: string, N: number, tensors: Record<string, Tensor | undefined>): void {
  if (!Number.isInteger(N) || N < 1) {
    throw new RangeError(`${label}: N must be a positive integer, got ${N}`);
  }
  for (const [name, t] of Object.entries(tensors)) {
    if (t && t.length < N) {
      throw new RangeError(`${label}: ${name} (${t.name}) holds ${t.length} values, needs ${N}`);
    }
  }
}

/** out (N) = inp1 (N) + inp2 (N), written. */
export function residualForward(
  gpu: Gpu,
  args: { out: Tensor; inp1: Tensor; inp2: Tensor; N: number },
): Op[] {
  const { out, inp1, inp2, N } = args;
  checkSizes("residualForward", N, { out, inp1, inp2 });
  // vec4s where N allows (tensor offsets are 256-byte aligned): a quarter of the loads
  const v4 = fitsVec4(N, [out, inp1, inp2]);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: v4 ? "residual_forward4" : "residual_forward",
    bindings: ["write", "read", "read", "uniform"],
    constants: { WG },
  });
  const u = createUniform(gpu, params([N]), "residual_forward.params");
  const groups = grid(gpu, Math.ceil(N / (v4 ? 4 : 1) / WG));
  return [makeOp(gpu, kernel, [out, inp1, inp2, u], groups)];
}

/**
 * dinp1 (N) += dout (N) and dinp2 (N) += dout, both accumulated; either may be omitted (not
 * both). One op.
 */
export function residualBackward(
  gpu: Gpu,
  args: { dinp1?: Tensor; dinp2?: Tensor; dout: Tensor; N: number },
): Op[] {
  const { dinp1, dinp2, dout, N } = args;
  checkSizes("residualBackward", N, { dinp1, dinp2, dout });
  const u = createUniform(gpu, params([N]), "residual_backward.params");
  const dispatch = grid(gpu, Math.ceil(N / WG));
  if (dinp1 && dinp2) {
    const kernel = getKernel(gpu, {
      code,
      entryPoint: "residual_backward",
      bindings: ["write", "write", "read", "uniform"],
      constants: { WG },
    });
    return [makeOp(gpu, kernel, [dinp1, dinp2, dout, u], dispatch)];
  }
  const dinp = dinp1 ?? dinp2;
  if (!dinp) throw new RangeError("residualBackward: give dinp1, dinp2 or both");
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "residual_backward_one",
    bindings: ["write", "read", "uniform"],
    constants: { WG },
  });
  return [makeOp(gpu, kernel, [dinp, dout, u], dispatch)];
}
