/**
 * Batched, strided matrix product for GPUs (workgroup-memory tiles of 128 x 128):
 * `C[z] (M, N) (+)= alpha · A[z] (M, K) @ B[z] (K, N) [+ bias (N)]`, each operand addressed by a
 * base offset and strides, so that transposes and views into packed tensors need no copies. The
 * attention layer's GPU path and the linear layers on GPUs are built from it.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { getKernel, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./bmm.wgsl" with { type: "text" };

/** Block of C per workgroup (rows and columns), as in the WGSL. */
export const BMM_BLOCK = 128;

/**
 * How one operand is laid out: element [z][i, j] is at `off + zo * zo_stride + zi * zi_stride +
 * i * row + j * col`, with z = zo * ZI + zi (all in elements).
 */
export interface Strided {
  tensor: Tensor;
  /** Base offset, in elements (default 0). */
  off?: number;
  /** Stride of the first index (m for A and C, k for B). */
  row: number;
  /** Stride of the second index (k for A, n for B and C). */
  col: number;
  /** Stride of the outer batch index (default 0). */
  zo?: number;
  /** Stride of the inner batch index (default 0). */
  zi?: number;
}

/** Which work a causal (lower-triangular, square) operand lets the product skip; see the WGSL. */
export type BmmCausal = "none" | "upper-blocks" | "k-to-row" | "k-from-row";

const CAUSAL: Record<BmmCausal, number> = {
  "none": 0,
  "upper-blocks": 1,
  "k-to-row": 2,
  "k-from-row": 3,
};

/** Arguments of {@linkcode bmm}. */
export interface BmmArgs {
  c: Strided;
  a: Strided;
  b: Strided;
  /** (N), added to every row of C. */
  bias?: Tensor;
  M: number;
  N: number;
  K: number;
  /** Outer batch count (default 1). */
  ZO?: number;
  /** Inner batch count (default 1). */
  ZI?: number;
  alpha?: number;
  /** C += instead of C =. */
  accumulate?: boolean;
  causal?: BmmCausal;
  /** k step of the tiles, 8 or 16 (default: 16 on GPUs, 8 on CPU adapters); for tests. */
  tileK?: 8 | 16;
  label?: string;
}

/** The largest element index an operand reaches, plus one. */
function extent(s: Strided, rows: number, cols: number, ZO: number, ZI: number): number {
  return (s.off ?? 0) + (ZO - 1) * (s.zo ?? 0) + (ZI - 1) * (s.zi ?? 0) + (rows - 1) * s.row +
    (cols - 1) * s.col + 1;
}

/** One op: the batched product described by `args` (validated against the tensors' sizes). */
export function bmm(gpu: Gpu, args: BmmArgs): Op {
  const { a, b, c, bias, M, N, K } = args;
  const ZO = args.ZO ?? 1, ZI = args.ZI ?? 1;
  const label = args.label ?? "bmm";
  for (const [k, v] of Object.entries({ M, N, K, ZO, ZI })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${label}: ${k} = ${v} must be a positive integer`);
    }
  }
  const causal = args.causal ?? "none";
  if (causal !== "none" && M !== (causal === "upper-blocks" ? N : K)) {
    throw new RangeError(`${label}: causal "${causal}" needs a square product, got ${M}x${N}x${K}`);
  }
  for (const [s, rows, cols, what] of [[a, M, K, "A"], [b, K, N, "B"], [c, M, N, "C"]] as const) {
    const n = extent(s, rows, cols, ZO, ZI);
    if (n > s.tensor.length) {
      throw new RangeError(
        `${label}: ${what} (${s.tensor.name}) reaches element ${
          n - 1
        }, but holds ${s.tensor.length}`,
      );
    }
  }
  if (bias && bias.length < N) throw new RangeError(`${label}: bias holds fewer than ${N} values`);
  const maxZ = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (ZO * ZI > maxZ) throw new RangeError(`${label}: ${ZO * ZI} batch matrices exceed ${maxZ}`);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "bmm",
    bindings: ["write", "read", "read", "read", "uniform"],
    constants: {
      ACCUMULATE: args.accumulate ? 1 : 0,
      HAS_BIAS: bias ? 1 : 0,
      CAUSAL: CAUSAL[causal],
      BK: args.tileK ?? (gpu.isCpu ? 8 : 16),
    },
  });
  const u = createUniform(
    gpu,
    params([
      M,
      N,
      K,
      ZI,
      a.off ?? 0,
      a.row,
      a.col,
      a.zo ?? 0,
      a.zi ?? 0,
      b.off ?? 0,
      b.row,
      b.col,
      b.zo ?? 0,
      b.zi ?? 0,
      c.off ?? 0,
      c.row,
      c.col,
      c.zo ?? 0,
      c.zi ?? 0,
      { f32: args.alpha ?? 1 },
    ]),
    `${label}.params`,
  );
  // Without a bias, B stands in for the unused binding (both read-only).
  return makeOp(gpu, kernel, [c.tensor, a.tensor, b.tensor, bias ?? b.tensor, u], [
    Math.ceil(N / BMM_BLOCK),
    Math.ceil(M / BMM_BLOCK),
    ZO * ZI,
  ]);
}
