/**
 * GELU (tanh form) forward and backward.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { fitsVec4, getKernel, grid, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import geluMath from "./gelu_math.wgsl" with { type: "text" };
import geluCode from "./gelu.wgsl" with { type: "text" };

const code = geluMath + geluCode;

const WG = 256;

/** out = gelu(inp), both (N). */
export function geluForward(gpu: Gpu, args: { out: Tensor; inp: Tensor }): Op[] {
  const { out, inp } = args;
  const n = inp.length;
  const v4 = fitsVec4(n, [out, inp]);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: v4 ? "gelu_forward4" : "gelu_forward",
    bindings: ["write", "read", "uniform"],
    constants: { WG },
  });
  const u = createUniform(gpu, params([n]), "gelu_forward.params");
  return [makeOp(gpu, kernel, [out, inp, u], grid(gpu, Math.ceil(n / (v4 ? 4 : 1) / WG)))];
}

/** dinp = gelu'(inp) · dout, all (N); dinp is written and must not alias dout. */
export function geluBackward(
  gpu: Gpu,
  args: { dinp: Tensor; inp: Tensor; dout: Tensor },
): Op[] {
  const { dinp, inp, dout } = args;
  const n = inp.length;
  const v4 = fitsVec4(n, [dinp, inp, dout]);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: v4 ? "gelu_backward4" : "gelu_backward",
    bindings: ["write", "read", "read", "uniform"],
    constants: { WG },
  });
  const u = createUniform(gpu, params([n]), "gelu_backward.params");
  return [
    makeOp(gpu, kernel, [dinp, inp, dout, u], grid(gpu, Math.ceil(n / (v4 ? 4 : 1) / WG))),
  ];
}
