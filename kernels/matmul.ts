/**
 * Matrix products of the linear layers, llm.c layout: a layer with C inputs and OC outputs has
 * weight (OC, C) row-major and bias (OC). {@linkcode gemm} is the general product the forward and
 * backward launchers are built from; other layers may use it too.
 *
 * Two kernel variants: `"reg"` (register tiling, no workgroup memory or barriers: the fast one on
 * CPU adapters such as lavapipe) and `"tiled"` (workgroup-memory tiles: for GPUs). The default
 * follows `gpu.isCpu`; tests force either.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { getKernel, grid, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./matmul.wgsl" with { type: "text" };

/** Which product kernel runs: register-tiled (CPU adapters) or workgroup-memory tiled (GPUs). */
export type MatmulVariant = "reg" | "tiled";

/** Invocations per workgroup of `gemm_reg` and `bias_backward`. */
const WG = 32;
/** Block of C computed by one invocation of `gemm_reg` (TM rows, TN columns): as in the WGSL. */
const REG_TM = 24;
const REG_TN = 8;
/** Block of C computed by one workgroup of `gemm_tiled`: as in the WGSL. */
const TILE = 64;

/** The variant used when none is asked for: register tiling on CPU adapters. */
export function defaultVariant(gpu: Gpu): MatmulVariant {
  return gpu.isCpu ? "reg" : "tiled";
}

/** Arguments of {@linkcode gemm}. */
export interface GemmArgs {
  /** (M, N), written, or accumulated into when `accumulate`. */
  c: Tensor;
  /** (M, K), or (K, M) when `transA`. */
  a: Tensor;
  /** (K, N), or (N, K) when `transB`. */
  b: Tensor;
  /** (N), added to every row of C. */
  bias?: Tensor;
  M: number;
  N: number;
  K: number;
  /** A is stored (K, M): the product uses A^T. */
  transA?: boolean;
  /** B is stored (N, K): the product uses B^T. */
  transB?: boolean;
  /** C += instead of C =. */
  accumulate?: boolean;
  /** Scale of the product (not of the bias or the old C); 1 by default. */
  alpha?: number;
  variant?: MatmulVariant;
  /** Label of the op and its uniform. */
  label?: string;
}

function need(label: string, t: Tensor, what: string, n: number): void {
  if (t.length < n) {
    throw new RangeError(`${label}: ${what} ${t.name} holds ${t.length} values, needs ${n}`);
  }
}

function checkSizes(label: string, sizes: Record<string, number>): void {
  for (const [k, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${label}: ${k} = ${v} must be a positive integer`);
    }
  }
}

/**
 * C (M, N) (+)= alpha · op(A) (M, K) @ op(B) (K, N) [+ bias (N)], row-major, where op(X) is X or
 * X^T as the transpose flags say. Deterministic: every element is one invocation's ordered sum.
 */
export function gemm(gpu: Gpu, args: GemmArgs): Op {
  const { c, a, b, bias, M, N, K } = args;
  const label = args.label ?? "gemm";
  checkSizes(label, { M, N, K });
  need(label, c, "C", M * N);
  need(label, a, "A", M * K);
  need(label, b, "B", K * N);
  if (bias) need(label, bias, "bias", N);
  const variant = args.variant ?? defaultVariant(gpu);
  const tiled = variant === "tiled";
  const constants: Record<string, number> = {
    TRANS_A: args.transA ? 1 : 0,
    TRANS_B: args.transB ? 1 : 0,
    ACCUMULATE: args.accumulate ? 1 : 0,
    HAS_BIAS: bias ? 1 : 0,
  };
  if (!tiled) constants.WG = WG;
  const kernel = getKernel(gpu, {
    code,
    entryPoint: tiled ? "gemm_tiled" : "gemm_reg",
    bindings: ["write", "read", "read", "read", "uniform"],
    constants,
  });
  const u = createUniform(gpu, params([M, N, K, { f32: args.alpha ?? 1 }]), `${label}.params`);
  const workgroups: [number, number] = tiled
    ? [Math.ceil(N / TILE), Math.ceil(M / TILE)]
    : [Math.ceil(N / (WG * REG_TN)), Math.ceil(M / REG_TM)];
  // Without a bias, B stands in for the unused binding (both read-only).
  return makeOp(gpu, kernel, [c, a, b, bias ?? b, u], workgroups);
}

/** out (N, OC) = inp (N, C) @ weight (OC, C)^T + bias (OC). bias optional. out is written. */
export function matmulForward(
  gpu: Gpu,
  args: {
    out: Tensor;
    inp: Tensor;
    weight: Tensor;
    bias?: Tensor;
    N: number;
    C: number;
    OC: number;
    variant?: MatmulVariant;
  },
): Op[] {
  const { out, inp, weight, bias, N, C, OC, variant } = args;
  return [gemm(gpu, {
    c: out,
    a: inp,
    b: weight,
    bias,
    M: N,
    N: OC,
    K: C,
    transB: true,
    variant,
    label: "matmul_forward",
  })];
}

/**
 * dinp (N, C) = dout (N, OC) @ weight (OC, C)   [written, =; skipped when dinp is absent]
 * dweight (OC, C) += dout^T @ inp (N, C)        [accumulated, +=]
 * dbias (OC) += sum over N of dout              [accumulated, +=; optional]
 * Deterministic, no atomics.
 */
export function matmulBackward(
  gpu: Gpu,
  args: {
    dinp?: Tensor;
    dweight: Tensor;
    dbias?: Tensor;
    dout: Tensor;
    inp: Tensor;
    weight: Tensor;
    N: number;
    C: number;
    OC: number;
    variant?: MatmulVariant;
  },
): Op[] {
  const { dinp, dweight, dbias, dout, inp, weight, N, C, OC, variant } = args;
  const ops: Op[] = [];
  if (dinp) {
    ops.push(gemm(gpu, {
      c: dinp,
      a: dout,
      b: weight,
      M: N,
      N: C,
      K: OC,
      variant,
      label: "matmul_backward.dinp",
    }));
  }
  ops.push(gemm(gpu, {
    c: dweight,
    a: dout,
    b: inp,
    M: OC,
    N: C,
    K: N,
    transA: true,
    accumulate: true,
    variant,
    label: "matmul_backward.dweight",
  }));
  if (dbias) ops.push(biasBackward(gpu, { dbias, dout, N, OC }));
  return ops;
}

/** dbias (OC) += sum over the N rows of dout (N, OC). Deterministic (one ordered sum per column). */
export function biasBackward(
  gpu: Gpu,
  args: { dbias: Tensor; dout: Tensor; N: number; OC: number },
): Op {
  const { dbias, dout, N, OC } = args;
  const label = "matmul_backward.dbias";
  checkSizes(label, { N, OC });
  need(label, dbias, "dbias", OC);
  need(label, dout, "dout", N * OC);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "bias_backward",
    bindings: ["write", "read", "uniform"],
    constants: { WG },
  });
  const u = createUniform(gpu, params([N, OC]), `${label}.params`);
  return makeOp(gpu, kernel, [dbias, dout, u], grid(gpu, Math.ceil(OC / WG)));
}
