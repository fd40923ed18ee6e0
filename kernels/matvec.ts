/**
 * Products of a few rows by a layer's weight, for decoding steps on CPU adapters: see
 * kernels/matvec.wgsl. The same ordered sums as kernels/matmul.ts's forward product, so the same
 * bits, without its 24-row tiles.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { getKernel, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import { matmulForward } from "./matmul.ts";
import code from "./matvec.wgsl" with { type: "text" };

const WG = 32;
/** Loop iterations an invocation may take on CPU adapters. */
const CPU_LOOP_BUDGET = 65535;

/** Rows per invocation for M rows: the fewest of 1, 2, 4, 8 that hold them (8 beyond). */
function rowsPerInvocation(M: number): number {
  return M <= 1 ? 1 : M <= 2 ? 2 : M <= 4 ? 4 : 8;
}

/**
 * c (M, N) = a (M, K) @ w (N, K)^T + bias (N), written at columns c0 .. c0 + N of rows `ldc`
 * floats apart (default: N and 0). One op. K must be a multiple of 4 and every tensor at a
 * 16-byte offset.
 */
export function matvec(
  gpu: Gpu,
  args: {
    c: Tensor;
    a: Tensor;
    w: Tensor;
    bias?: Tensor;
    M: number;
    N: number;
    K: number;
    ldc?: number;
    c0?: number;
  },
): Op {
  const { c, a, w, bias, M, N, K, ldc = N, c0 = 0 } = args;
  const label = "matvec";
  if (K % 4 !== 0 || K / 4 > CPU_LOOP_BUDGET) {
    throw new RangeError(
      `${label}: K = ${K} must be a multiple of 4 and at most ${4 * CPU_LOOP_BUDGET}`,
    );
  }
  const need = (t: Tensor, n: number, what: string) => {
    if (t.length < n || t.offset % 16 !== 0) {
      throw new RangeError(
        `${label}: ${t.name} holds ${t.length} values at ${t.offset}: needs ${n} (${what}) at a 16-byte offset`,
      );
    }
  };
  need(c, (M - 1) * ldc + c0 + N, "C");
  need(a, M * K, "A");
  need(w, N * K, "W");
  if (bias) need(bias, N, "bias");
  const R = rowsPerInvocation(M);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "matvec",
    bindings: ["write", "read", "read", "read", "uniform"],
    constants: { WG, R, HAS_BIAS: bias ? 1 : 0 },
  });
  const u = createUniform(gpu, params([M, N, K, ldc, c0]), `${label}.params`);
  return makeOp(gpu, kernel, [c, a, w, bias ?? w, u], [Math.ceil(N / (4 * WG)), Math.ceil(M / R)]);
}

/**
 * Rows up to which {@linkcode matvec} beats the register tiles on CPU adapters. Measured on lavapipe
 * (CPU time of a decoding step of width 256, 4 layers, vocabulary 512, 2026-12-02): 1 row 3.3 ms
 * against 6.7, 2 rows 4.8 against 6.7, 4 rows 4.8 against 8.8, but 8 rows 9.4 against 7.5 and 64
 * rows 60 against 32.
 */
export const MATVEC_MAX_ROWS = 4;

/** Whether a decoding step of M rows on this adapter takes {@linkcode matvec} for its products. */
export function usesMatvec(gpu: Gpu, M: number, K: number): boolean {
  return gpu.isCpu && M <= MATVEC_MAX_ROWS && K % 4 === 0;
}

/**
 * A linear layer's forward product for a decoding step, as {@linkcode matmulForward}: with few rows
 * on CPU adapters (see {@linkcode usesMatvec}), without a fused GELU, {@linkcode matvec} (the same
 * bits, less work); otherwise matmulForward.
 */
export function decodeProduct(gpu: Gpu, args: Parameters<typeof matmulForward>[1]): Op[] {
  const { out, inp, weight, bias, gelu, N, C, OC } = args;
  const aligned = [out, inp, weight, ...(bias ? [bias] : [])].every((t) => t.offset % 16 === 0);
  if (!usesMatvec(gpu, N, C) || gelu || args.variant || !aligned) {
    return matmulForward(gpu, args);
  }
  return [matvec(gpu, { c: out, a: inp, w: weight, bias, M: N, N: OC, K: C })];
}
