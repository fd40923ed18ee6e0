/**
 * Matrix products of the linear layers, llm.c layout: a layer with C inputs and OC outputs has
 * weight (OC, C) row-major and bias (OC). {@linkcode gemm} is the general product the forward and
 * backward launchers are built from; other layers may use it too.
 *
 * Kernel variants: `"reg"` (register tiling, no workgroup memory or barriers: the fast one on CPU
 * adapters such as lavapipe; it reads the operands as vec4s where the shape allows, and falls back
 * to scalar loads elsewhere), `"scalar"` (the register-tiled kernel with scalar loads only, for
 * tests and benchmarks), `"wide"` (the 128 x 128 tiles of kernels/bmm.wgsl: the default on GPUs)
 * and `"tiled"` (64 x 64 workgroup-memory tiles: the GPUs' first kernel). `"subgroup"` runs the vec4 kernels' versions
 * that share the rows of A over a subgroup's lanes: the default on CPU adapters with 8-wide
 * subgroups (lavapipe), where it is about twice as fast as `"reg"` (see
 * {@linkcode hasSubgroupKernels}). The default follows `gpu.isCpu` (and {@linkcode gpuVariant}
 * on GPUs); tests force each.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import {
  createTensor,
  getKernel,
  grid,
  makeOp,
  type Op,
  params,
  type Tensor,
} from "../gpu/kernel.ts";
import geluMath from "./gelu_math.wgsl" with { type: "text" };
import matmulCode from "./matmul.wgsl" with { type: "text" };
import { bmmOps, epilogueOf, type GeluEpilogue } from "./bmm.ts";

const code = geluMath + matmulCode;

/**
 * Which product kernel runs: register-tiled (CPU adapters; `"subgroup"` shares the loads of A over
 * a subgroup, `"scalar"` forbids vec4 loads) or workgroup-memory tiled (GPUs).
 */
export type MatmulVariant = "reg" | "scalar" | "tiled" | "wide" | "subgroup";

/** Invocations per workgroup of the CPU kernels and of `bias_backward`. */
const WG = 32;
/** Block of C computed by one invocation of `gemm_reg` (TM rows, TN columns): as in the WGSL. */
const REG_TM = 24;
const REG_TN = 8;
/** Block of C computed by one workgroup of `gemm_tiled`: as in the WGSL. */
const TILE = 64;
/** Blocks of the vec4 kernels, as in the WGSL: rows (uniform) x columns per invocation. */
const DOT_TM = 24, DOT_TN = 8; // gemm_dot
const NN_TM = 16, NN_TN = 4 * 2; // gemm_nn
const TN_TM = 4 * 4, TN_TN = 4 * 2; // gemm_tn
/** Blocks of the subgroup kernels, as in the WGSL. */
const DS_TM = 24, DS_TN = 8; // gemm_dot_sg
const NS_TM = 32, NS_TN = 4 * 2; // gemm_nn_sg
const TS_TM = 4 * 16, TS_TN = 4 * 2; // gemm_tn_sg
/**
 * Most k steps one pass may loop over: CPU adapters stop any invocation's loops silently after
 * 65535 iterations, so longer sums are split into passes that accumulate. A multiple of 8.
 */
const MAX_LOOP = 16384;

/**
 * The variant GPUs use when none is asked for: `"wide"` (kernels/bmm.wgsl: 128 x 128 blocks, split
 * over k where C has few blocks; 21 TFLOP/s over the products of a GPT-2 124M step on an H200)
 * or `"tiled"` (64 x 64 blocks; 2.7 TFLOP/s there). See docs/performance.md;
 * `deno task bench --gemm` switches it.
 */
export const gpuVariant: { value: "tiled" | "wide" } = { value: "wide" };

/** The WGSL without its subgroup kernels, for devices that cannot compile them. */
const codeWithoutSubgroups = code.replace(
  /\/\/ BEGIN subgroup kernels\n[\s\S]*\/\/ END subgroup kernels\n/,
  "",
);

/**
 * Whether this device runs the `"subgroup"` kernels: it has the `subgroups` feature (lavapipe
 * grants it) and subgroups of exactly 8 invocations, which the kernels assume.
 */
export function hasSubgroupKernels(gpu: Gpu): boolean {
  const info = gpu.adapter.info;
  return gpu.device.features.has("subgroups") && info.subgroupMinSize === 8 &&
    info.subgroupMaxSize === 8;
}

/** The WGSL this device compiles: one module for every entry point. */
function moduleCode(gpu: Gpu): string {
  return hasSubgroupKernels(gpu) ? code : codeWithoutSubgroups;
}

/**
 * The variant used when none is asked for: on CPU adapters register tiling, with subgroups where
 * the device has them.
 */
export function defaultVariant(gpu: Gpu): MatmulVariant {
  if (!gpu.isCpu) return gpuVariant.value;
  return hasSubgroupKernels(gpu) ? "subgroup" : "reg";
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
  /** C is stored (N, M): the product is written (or added) transposed. */
  transC?: boolean;
  /** C += instead of C =. */
  accumulate?: boolean;
  /** Scale of the product (not of the bias or the old C); 1 by default. */
  alpha?: number;
  /** A GELU fused after the product (its tensor laid out like C); not with `accumulate`. */
  gelu?: GeluEpilogue;
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

/** The entry point of `variant` for a product of this shape, with its block of C per workgroup. */
function pickKernel(
  variant: MatmulVariant,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  vec4Bindable: boolean,
): { entryPoint: string; rows: number; cols: number; kPerIter: number } {
  if (variant === "tiled") return { entryPoint: "gemm_tiled", rows: TILE, cols: TILE, kPerIter: 1 };
  if (variant === "subgroup" && vec4Bindable) {
    if (!transA && transB && K % 4 === 0) {
      return { entryPoint: "gemm_dot_sg", rows: DS_TM, cols: WG * DS_TN, kPerIter: 4 };
    }
    if (!transA && !transB && K % 4 === 0 && N % 4 === 0) {
      return { entryPoint: "gemm_nn_sg", rows: NS_TM, cols: WG * NS_TN, kPerIter: 4 };
    }
    if (transA && !transB && M % 4 === 0 && N % 4 === 0 && K % 4 === 0) {
      return { entryPoint: "gemm_tn_sg", rows: TS_TM, cols: WG * TS_TN, kPerIter: 4 };
    }
  }
  // "subgroup" falls back to the kernels of "reg" for the other shapes.
  if ((variant === "reg" || variant === "subgroup") && vec4Bindable) {
    if (!transA && transB && K % 4 === 0) {
      return { entryPoint: "gemm_dot", rows: DOT_TM, cols: WG * DOT_TN, kPerIter: 4 };
    }
    if (!transA && !transB && K % 4 === 0 && N % 4 === 0) {
      return { entryPoint: "gemm_nn", rows: NN_TM, cols: WG * NN_TN, kPerIter: 4 };
    }
    if (transA && !transB && M % 4 === 0 && N % 4 === 0) {
      return { entryPoint: "gemm_tn", rows: TN_TM, cols: WG * TN_TN, kPerIter: 1 };
    }
  }
  return { entryPoint: "gemm_reg", rows: REG_TM, cols: WG * REG_TN, kPerIter: 1 };
}

/** Whether A and B can be bound as arrays of vec4 (16-byte offsets and sizes). */
function vec4Bindable(args: GemmArgs): boolean {
  return [args.a, args.b].every((t) => t.offset % 16 === 0 && t.length % 4 === 0);
}

/** Which kernel {@linkcode gemm} runs for these arguments (for tests and benchmarks). */
export function gemmKernelName(gpu: Gpu, args: GemmArgs): string {
  const { M, N, K } = args;
  const variant = args.variant ?? defaultVariant(gpu);
  if (variant === "wide") return "bmm";
  return pickKernel(variant, M, N, K, !!args.transA, !!args.transB, vec4Bindable(args))
    .entryPoint;
}

/**
 * C (M, N) (+)= alpha · op(A) (M, K) @ op(B) (K, N) [+ bias (N)], row-major, where op(X) is X or
 * X^T as the transpose flags say, as one op or more: on CPU adapters, a K too long for one loop is
 * split into passes over ranges of k, the later ones accumulating (same order of summation per
 * element, so still deterministic). Every element is one invocation's ordered sum.
 */
export function gemmPasses(gpu: Gpu, args: GemmArgs): Op[] {
  const { c, a, b, bias, M, N, K } = args;
  const label = args.label ?? "gemm";
  checkSizes(label, { M, N, K });
  need(label, c, "C", M * N);
  need(label, a, "A", M * K);
  need(label, b, "B", K * N);
  if (bias) need(label, bias, "bias", N);
  if (args.gelu) {
    if (args.accumulate) throw new RangeError(`${label}: a fused GELU cannot accumulate into C`);
    need(label, epilogueOf(gpu, args.gelu).aux, "the GELU's tensor", M * N);
  }
  const variant = args.variant ?? defaultVariant(gpu);
  if (variant === "wide") {
    // the batched strided product with one matrix: one op, any K
    return bmmOps(gpu, {
      c: args.transC ? { tensor: c, row: 1, col: M } : { tensor: c, row: N, col: 1 },
      a: args.transA ? { tensor: a, row: 1, col: M } : { tensor: a, row: K, col: 1 },
      b: args.transB ? { tensor: b, row: 1, col: K } : { tensor: b, row: N, col: 1 },
      bias,
      M,
      N,
      K,
      alpha: args.alpha,
      accumulate: args.accumulate,
      gelu: args.gelu,
      label,
    });
  }
  if (variant === "subgroup" && !hasSubgroupKernels(gpu)) {
    throw new RangeError(
      `${label}: the subgroup variant needs the subgroups feature with 8-wide subgroups, ` +
        `which ${gpu.name} (${gpu.backend}) lacks: use "reg"`,
    );
  }
  const pick = pickKernel(variant, M, N, K, !!args.transA, !!args.transB, vec4Bindable(args));
  const chunk = gpu.isCpu ? MAX_LOOP * pick.kPerIter : K;
  const ops: Op[] = [];
  for (let k0 = 0; k0 < K; k0 += chunk) {
    const first = k0 === 0;
    const k1 = Math.min(K, k0 + chunk);
    // the GELU acts on the finished sums: in the last pass
    const { EPILOGUE, aux } = epilogueOf(gpu, k1 === K ? args.gelu : undefined);
    const constants: Record<string, number> = {
      TRANS_A: args.transA ? 1 : 0,
      TRANS_B: args.transB ? 1 : 0,
      TRANS_C: args.transC ? 1 : 0,
      ACCUMULATE: args.accumulate || !first ? 1 : 0,
      HAS_BIAS: bias && first ? 1 : 0,
      EPILOGUE,
    };
    if (variant !== "tiled") constants.WG = WG;
    const kernel = getKernel(gpu, {
      code: moduleCode(gpu),
      entryPoint: pick.entryPoint,
      bindings: ["write", "read", "read", "read", "uniform", "write"],
      constants,
    });
    const u = createUniform(
      gpu,
      params([M, N, K, { f32: args.alpha ?? 1 }, k0, k1]),
      `${label}.params`,
    );
    const workgroups: [number, number] = [Math.ceil(N / pick.cols), Math.ceil(M / pick.rows)];
    // Without a bias, B stands in for the unused binding (both read-only).
    ops.push(makeOp(gpu, kernel, [c, a, b, bias ?? b, u, aux], workgroups));
  }
  return ops;
}

/**
 * C (M, N) (+)= alpha · op(A) (M, K) @ op(B) (K, N) [+ bias (N)], row-major, where op(X) is X or
 * X^T as the transpose flags say. Deterministic: every element is one invocation's ordered sum.
 * One op: throws if this adapter needs the product split ({@linkcode gemmPasses} splits it).
 */
export function gemm(gpu: Gpu, args: GemmArgs): Op {
  const ops = gemmPasses(gpu, args);
  if (ops.length !== 1) {
    throw new RangeError(
      `${args.label ?? "gemm"}: K = ${args.K} needs ${ops.length} passes on this adapter: ` +
        `use gemmPasses`,
    );
  }
  return ops[0];
}

/** The product of a linear layer's forward pass, out (N, OC) = inp (N, C) @ weight^T + bias. */
export function forwardProduct(
  args: {
    out: Tensor;
    inp: Tensor;
    weight: Tensor;
    bias?: Tensor;
    /** (N, OC): gelu(out), written by the same op (a GELU after the layer, fused). */
    gelu?: Tensor;
    N: number;
    C: number;
    OC: number;
    variant?: MatmulVariant;
  },
): GemmArgs {
  const { out, inp, weight, bias, gelu, N, C, OC, variant } = args;
  return {
    c: out,
    a: inp,
    b: weight,
    bias,
    M: N,
    N: OC,
    K: C,
    transB: true,
    gelu: gelu && { out: gelu },
    variant,
    label: "matmul_forward",
  };
}

/**
 * out (N, OC) = inp (N, C) @ weight (OC, C)^T + bias (OC). bias optional. out is written, and
 * with `gelu` also gelu(out) (N, OC) (the MLP's first layer and its GELU as one op).
 */
export function matmulForward(
  gpu: Gpu,
  args: Parameters<typeof forwardProduct>[0],
): Op[] {
  return gemmPasses(gpu, forwardProduct(args));
}

/** The product of a linear layer's input gradient, dinp (N, C) = dout (N, OC) @ weight (OC, C). */
export function inputGradient(
  args: {
    dinp: Tensor;
    dout: Tensor;
    weight: Tensor;
    /**
     * (N, C): the input of a GELU whose output is this layer's input; dinp is then the gradient
     * of that input, (dout @ weight) · gelu'(geluInput) (the GELU's backward, fused).
     */
    geluInput?: Tensor;
    N: number;
    C: number;
    OC: number;
    variant?: MatmulVariant;
  },
): GemmArgs {
  const { dinp, dout, weight, geluInput, N, C, OC, variant } = args;
  return {
    c: dinp,
    a: dout,
    b: weight,
    M: N,
    N: C,
    K: OC,
    gelu: geluInput && { pre: geluInput },
    variant,
    label: "matmul_backward.dinp",
  };
}

/**
 * The product of a linear layer's weight gradient, dweight (OC, C) += dout (N, OC)^T @ inp (N, C).
 * On CPU adapters, a layer with more inputs than outputs (the MLP's projection) gets it as the
 * transposed product, dweight^T (C, OC) += inp^T @ dout, written transposed: the register kernels
 * run a tall product faster than a wide one (on lavapipe, 27 against 19 ms for C = 1024, OC = 256,
 * N = 1024), and the sums run in the same order (the same bits).
 */
export function weightGradient(
  gpu: Gpu,
  args: {
    dweight: Tensor;
    dout: Tensor;
    inp: Tensor;
    N: number;
    C: number;
    OC: number;
    variant?: MatmulVariant;
  },
): GemmArgs {
  const { dweight, dout, inp, N, C, OC, variant } = args;
  const v = variant ?? defaultVariant(gpu);
  const tall = C > OC && (v === "reg" || v === "scalar" || v === "subgroup");
  return {
    c: dweight,
    a: tall ? inp : dout,
    b: tall ? dout : inp,
    M: tall ? C : OC,
    N: tall ? OC : C,
    K: N,
    transA: true,
    transC: tall,
    accumulate: true,
    variant,
    label: "matmul_backward.dweight",
  };
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
    /** See {@linkcode inputGradient}: dinp goes through the backward of a GELU, fused. */
    geluInput?: Tensor;
    dweight: Tensor;
    dbias?: Tensor;
    dout: Tensor;
    inp: Tensor;
    weight: Tensor;
    N: number;
    C: number;
    OC: number;
    variant?: MatmulVariant;
    /** How dbias sums its columns; by default as {@linkcode biasBackwardOps} picks. */
    columnSum?: ColumnSum;
  },
): Op[] {
  const { dinp, geluInput, dweight, dbias, dout, inp, weight, N, C, OC, variant, columnSum } = args;
  const ops: Op[] = [];
  if (dinp) {
    ops.push(
      ...gemmPasses(gpu, inputGradient({ dinp, dout, weight, geluInput, N, C, OC, variant })),
    );
  }
  ops.push(...gemmPasses(gpu, weightGradient(gpu, { dweight, dout, inp, N, C, OC, variant })));
  if (dbias) ops.push(...biasBackwardOps(gpu, { dbias, dout, N, OC, columnSum }));
  return ops;
}

/**
 * How a bias gradient sums its N rows: `"serial"`, one invocation per column looping over all
 * rows (one op: the fast choice on CPU adapters), or `"two-pass"`, partial sums of chunks of rows
 * by many workgroups, then one invocation per column adding them up in order (two ops: GPUs).
 * Both are deterministic; their results differ in rounding.
 */
export type ColumnSum = "serial" | "two-pass";

/** Arguments of {@linkcode biasBackward} and {@linkcode biasBackwardOps}. */
export interface BiasBackwardArgs {
  /** (OC), accumulated (+=). */
  dbias: Tensor;
  /** (N, OC). */
  dout: Tensor;
  N: number;
  OC: number;
  /** Which path runs ({@linkcode biasBackwardOps} only): `"serial"` on CPU adapters by default. */
  columnSum?: ColumnSum;
}

/** Columns per workgroup and row lanes of `bias_backward_partial`, as in the WGSL. */
const CS_COLS = 64;
const CS_LANES = 4;
/** Invocations per workgroup of `bias_backward_total`. */
const CS_WG = 64;
/** At most this many chunks of rows, each of at least CS_MIN_ROWS rows (the last may be short). */
const CS_MAX_CHUNKS = 64;
const CS_MIN_ROWS = 128;

/**
 * How {@linkcode biasBackwardOps} cuts N rows into chunks for its two-pass sums: `rows` per chunk
 * (a multiple of 4, the row lanes of a workgroup) and the number of chunks `R`. Layer norm's
 * parameter gradients cut their rows the same way.
 */
export function columnSumChunks(N: number): { rows: number; R: number } {
  const target = Math.max(1, Math.min(CS_MAX_CHUNKS, Math.ceil(N / CS_MIN_ROWS)));
  const rows = Math.ceil(Math.ceil(N / target) / CS_LANES) * CS_LANES;
  return { rows, R: Math.ceil(N / rows) };
}

function checkBias(args: BiasBackwardArgs, label: string): void {
  const { dbias, dout, N, OC } = args;
  checkSizes(label, { N, OC });
  need(label, dbias, "dbias", OC);
  need(label, dout, "dout", N * OC);
}

/**
 * dbias (OC) += sum over the N rows of dout (N, OC), as one op: the serial kernels, one ordered
 * sum per column (four columns per invocation where CPU adapters can read vec4s). Deterministic.
 * {@linkcode biasBackwardOps} is the launcher that picks the two-pass sums on GPUs.
 */
export function biasBackward(gpu: Gpu, args: BiasBackwardArgs): Op {
  const { dbias, dout, N, OC } = args;
  const label = "matmul_backward.dbias";
  checkBias(args, label);
  // CPU adapters read dout as vec4s where they can (four columns per invocation).
  const vec4 = gpu.isCpu && OC % 4 === 0 && dout.offset % 16 === 0 && dout.length % 4 === 0;
  const kernel = getKernel(gpu, {
    code: moduleCode(gpu),
    entryPoint: vec4 ? "bias_backward4" : "bias_backward",
    bindings: ["write", "read", "uniform"],
    constants: { WG },
  });
  const u = createUniform(gpu, params([N, OC]), `${label}.params`);
  const columns = vec4 ? OC / 4 : OC;
  return makeOp(gpu, kernel, [dbias, dout, u], grid(gpu, Math.ceil(columns / WG)));
}

/**
 * dbias (OC) += sum over the N rows of dout (N, OC). Deterministic, no atomics. On CPU adapters
 * (or with `columnSum: "serial"`) one op, {@linkcode biasBackward}; on GPUs (or with
 * `columnSum: "two-pass"`) two: partial sums of chunks of rows ({@linkcode columnSumChunks}) into
 * a scratch tensor (R, OC) of the op's own, then dbias += their sum in chunk order.
 */
export function biasBackwardOps(gpu: Gpu, args: BiasBackwardArgs): Op[] {
  const path = args.columnSum ?? (gpu.isCpu ? "serial" : "two-pass");
  if (path === "serial") return [biasBackward(gpu, args)];
  const { dbias, dout, N, OC } = args;
  const label = "matmul_backward.dbias";
  checkBias(args, label);
  const { rows, R } = columnSumChunks(N);
  const partial = createTensor(gpu, [R, OC], `${label}.partial`);
  const partialKernel = getKernel(gpu, {
    code: moduleCode(gpu),
    entryPoint: "bias_backward_partial",
    bindings: ["write", "read", "uniform"],
  });
  const totalKernel = getKernel(gpu, {
    code: moduleCode(gpu),
    entryPoint: "bias_backward_total",
    bindings: ["write", "read", "uniform"],
    constants: { WG: CS_WG },
  });
  const u1 = createUniform(gpu, params([N, OC, rows]), `${label}.partial.params`);
  const u2 = createUniform(gpu, params([R, OC, rows]), `${label}.total.params`);
  return [
    makeOp(gpu, partialKernel, [partial, dout, u1], [Math.ceil(OC / CS_COLS), R]),
    makeOp(gpu, totalKernel, [dbias, partial, u2], grid(gpu, Math.ceil(OC / CS_WG))),
  ];
}
