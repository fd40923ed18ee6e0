/**
 * Batched, strided matrix product for GPUs (workgroup-memory tiles of 128 x 128 or 128 x 64):
 * `C[z] (M, N) (+)= alpha · A[z] (M, K) @ B[z] (K, N) [+ bias (N)]`, each operand addressed by a
 * base offset and strides, so that transposes and views into packed tensors need no copies. The
 * attention layer's GPU path and the linear layers on GPUs are built from it.
 *
 * @module
 */
import { createUniform, type Gpu, GpuError } from "../gpu/device.ts";
import {
  type BindingKind,
  createTensor,
  getKernel,
  grid,
  makeOp,
  type Op,
  params,
  type Tensor,
} from "../gpu/kernel.ts";
import geluMath from "./gelu_math.wgsl" with { type: "text" };
import bmmCode from "./bmm.wgsl" with { type: "text" };

const code = geluMath + bmmCode;
/** The same kernels with f16 tiles (the `f16` setting): the tile type is compiled in. */
const codeF16 = "enable f16;\n" + code.replace("alias Tile = f32;", "alias Tile = f16;");

/** Rows of C per workgroup, as in the WGSL (columns: 128, or 64 for narrow products). */
export const BMM_BLOCK = 128;

/**
 * Settings of the kernel that do not change its results, for measuring them against each other
 * (`scripts/bench_gemm.ts`): `prefetch` loads the next k step's operand groups while computing
 * the current one; `narrow` is the widest N that gets 64-column blocks instead of 128 (0: never).
 */
export const bmmTuning: {
  prefetch: boolean;
  narrow: number;
  /**
   * k step of the tiles, 8 or 16 (0: 16 on GPUs, where it was the faster on an H200; 8 on CPU
   * adapters and the OpenGL backend).
   */
  tileK: 0 | 8 | 16;
  /**
   * Workgroups that a single product should fill: a product with fewer blocks of C and a long K
   * (the weight gradients of small layers) is split over k into slices by {@linkcode bmmOps}
   * (0: never split).
   */
  split: number;
  /**
   * Element type of the workgroup-memory tiles. `"f16"` (devices with `shader-f16`) is an
   * experiment for `scripts/bench_gemm.ts`: half the tile traffic, operands rounded to half
   * precision (a relative error of about 1e-3), sums in f32, no loss scaling. Not for training.
   */
  tile: "f32" | "f16";
} = { prefetch: true, narrow: 64, tileK: 0, split: 512, tile: "f32" };

/** Named settings of {@linkcode bmmTuning}, for benchmark flags (`wide:nopf:bk8`). */
export const BMM_SETTINGS: Readonly<Record<string, Partial<typeof bmmTuning>>> = {
  nopf: { prefetch: false },
  bk8: { tileK: 8 },
  bk16: { tileK: 16 },
  nosplit: { split: 0 },
  cols128: { narrow: 0 },
  cols64: { narrow: 1024 },
  f16: { tile: "f16" },
};

/** The WGSL for these settings; f16 tiles need the device's `shader-f16`. */
function codeFor(gpu: Gpu, tuning: typeof bmmTuning, label: string): string {
  if (tuning.tile === "f32") return code;
  if (!gpu.hasF16) {
    throw new GpuError(
      `${label}: f16 tiles need the shader-f16 feature, which ${gpu.name} (${gpu.backend}) lacks: ` +
        `leave out the f16 setting`,
    );
  }
  return codeF16;
}

function tileK(gpu: Gpu, tuning: typeof bmmTuning): number {
  // the OpenGL backend's shader compiler (llvmpipe's) takes minutes over the k = 16 tiles
  return tuning.tileK || (gpu.isCpu || gpu.backend === "gl" ? 8 : 16);
}

/**
 * Reads a benchmark's kernel spec: a variant name from `variants`, then {@linkcode BMM_SETTINGS}
 * after colons, which only `"wide"` takes (`wide:nopf:bk8`). Undefined if either is unknown.
 */
export function parseKernelSpec(
  spec: string,
  variants: readonly string[],
): { variant: string; tuning: Partial<typeof bmmTuning> } | undefined {
  const [variant, ...settings] = spec.split(":");
  if (!variants.includes(variant)) return undefined;
  if (settings.length && variant !== "wide") return undefined;
  if (settings.some((s) => !Object.hasOwn(BMM_SETTINGS, s))) return undefined;
  return { variant, tuning: Object.assign({}, ...settings.map((s) => BMM_SETTINGS[s])) };
}

/** C, A, B, the bias, the uniform, and the GELU's `aux`. */
const BINDINGS: BindingKind[] = ["write", "read", "read", "read", "uniform", "write"];

/** Slices of a split product hold at least this many k values. */
const MIN_SLICE_K = 256;

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

/**
 * A GELU fused after a product, on each finished element x of C: `{ out }` also writes gelu(x) to
 * `out` (an MLP's first layer: C is the GELU's input, `out` its output); `{ pre }` writes
 * x · gelu'(pre) instead of x (the GELU's input gradient: x is the gradient of its output, `pre`
 * its input). `out` and `pre` are addressed like C. Not with `accumulate`.
 */
export type GeluEpilogue = { out: Tensor } | { pre: Tensor };

/** The WGSL's EPILOGUE constant and the tensor bound as `aux` (a stand-in without a GELU). */
export function epilogueOf(
  gpu: Gpu,
  gelu: GeluEpilogue | undefined,
): { EPILOGUE: number; aux: Tensor } {
  if (!gelu) return { EPILOGUE: 0, aux: standIn(gpu) };
  return "out" in gelu ? { EPILOGUE: 1, aux: gelu.out } : { EPILOGUE: 2, aux: gelu.pre };
}

const standIns = new WeakMap<Gpu, Tensor>();

/** A small tensor of the device's own for the `aux` binding of products without a GELU. */
function standIn(gpu: Gpu): Tensor {
  let t = standIns.get(gpu);
  if (!t) standIns.set(gpu, t = createTensor(gpu, [4], "gemm.aux"));
  return t;
}

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
  /** A GELU fused after the product. */
  gelu?: GeluEpilogue;
  /** Overrides {@linkcode bmmTuning}; for tests. */
  tuning?: Partial<typeof bmmTuning>;
  label?: string;
}

/** The largest element index an operand reaches, plus one. */
function extent(s: Strided, rows: number, cols: number, ZO: number, ZI: number): number {
  return (s.off ?? 0) + (ZO - 1) * (s.zo ?? 0) + (ZI - 1) * (s.zi ?? 0) + (rows - 1) * s.row +
    (cols - 1) * s.col + 1;
}

const scratch = new WeakMap<Gpu, Tensor>();

/** A per-device scratch tensor of at least `n` elements (reallocated larger when needed). */
function scratchFor(gpu: Gpu, n: number): Tensor {
  let t = scratch.get(gpu);
  if (!t || t.length < n) scratch.set(gpu, t = createTensor(gpu, [n], "bmm.slices"));
  return t;
}

/**
 * The ops of one batched product: {@linkcode bmm} alone, or, for a single matrix whose C has too
 * few blocks to fill the GPU ({@linkcode bmmTuning}`.split`) and a long K, the product split over
 * k into S slices, computed as a batch of S products into a scratch tensor, then summed in slice
 * order into C. Deterministic either way (the split changes the order of summation, not from run
 * to run).
 */
export function bmmOps(gpu: Gpu, args: BmmArgs): Op[] {
  checkArgs(gpu, args); // C and the bias too, which a split product's first op does not bind
  const { M, N, K } = args;
  const tuning = { ...bmmTuning, ...args.tuning };
  const single = (args.ZO ?? 1) * (args.ZI ?? 1) === 1 && (args.causal ?? "none") === "none";
  const bk = tileK(gpu, tuning);
  const blocks = Math.ceil(M / BMM_BLOCK) * Math.ceil(N / blockCols(N, tuning));
  let S = 1;
  while (
    single && blocks * S < tuning.split && K % (2 * S * bk) === 0 && K / (2 * S) >= MIN_SLICE_K
  ) S *= 2;
  if (S === 1) return [bmm(gpu, args)];
  const label = args.label ?? "bmm";
  const chunk = K / S;
  const slices = scratchFor(gpu, S * M * N);
  const { a, b, c } = args;
  const partial = bmm(gpu, {
    a: { ...a, zo: chunk * a.col },
    b: { ...b, zo: chunk * b.row },
    c: { tensor: slices, row: N, col: 1, zo: M * N },
    M,
    N,
    K: chunk,
    ZO: S,
    tuning: args.tuning,
    label: `${label}.slices`,
  });
  const { EPILOGUE, aux } = epilogueOf(gpu, args.gelu);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "bmm_slices",
    bindings: BINDINGS,
    constants: { ACCUMULATE: args.accumulate ? 1 : 0, HAS_BIAS: args.bias ? 1 : 0, EPILOGUE },
  });
  const u = createUniform(
    gpu,
    params([M, N, S, c.off ?? 0, c.row, c.col, { f32: args.alpha ?? 1 }]),
    `${label}.sum.params`,
  );
  const sum = makeOp(
    gpu,
    kernel,
    [c.tensor, slices, slices, args.bias ?? slices, u, aux],
    grid(gpu, Math.ceil(M * N / 256)),
  );
  return [partial, sum];
}

/** Throws a RangeError naming what is wrong if `args` does not fit its tensors or the device. */
function checkArgs(gpu: Gpu, args: BmmArgs): void {
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
  if (args.gelu) {
    if (args.accumulate) throw new RangeError(`${label}: a fused GELU cannot accumulate into C`);
    const { aux } = epilogueOf(gpu, args.gelu);
    const n = extent(c, M, N, ZO, ZI);
    if (n > aux.length) {
      throw new RangeError(
        `${label}: the GELU's tensor ${aux.name} holds ${aux.length} values, needs ${n} (as C)`,
      );
    }
  }
  const maxZ = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (ZO * ZI > maxZ) throw new RangeError(`${label}: ${ZO * ZI} batch matrices exceed ${maxZ}`);
}

/** 64- or 128-column blocks of C, as `tuning.narrow` says for this N. */
function blockCols(N: number, tuning: typeof bmmTuning): number {
  return N > tuning.narrow ? BMM_BLOCK : BMM_BLOCK / 2;
}

/** One op: the batched product described by `args` (validated against the tensors' sizes). */
export function bmm(gpu: Gpu, args: BmmArgs): Op {
  checkArgs(gpu, args);
  const { a, b, c, bias, M, N, K } = args;
  const ZO = args.ZO ?? 1, ZI = args.ZI ?? 1;
  const label = args.label ?? "bmm";
  const causal = args.causal ?? "none";
  const tuning = { ...bmmTuning, ...args.tuning };
  const cols = blockCols(N, tuning);
  const { EPILOGUE, aux } = epilogueOf(gpu, args.gelu);
  const kernel = getKernel(gpu, {
    code: codeFor(gpu, tuning, label),
    entryPoint: "bmm",
    bindings: BINDINGS,
    constants: {
      EPILOGUE,
      ACCUMULATE: args.accumulate ? 1 : 0,
      HAS_BIAS: bias ? 1 : 0,
      CAUSAL: CAUSAL[causal],
      BK: tileK(gpu, tuning),
      // load groups run along each operand's contiguous (smaller-stride) dimension
      A_ALONG_K: Math.abs(a.col) <= Math.abs(a.row) ? 1 : 0,
      B_ALONG_N: Math.abs(b.col) <= Math.abs(b.row) ? 1 : 0,
      PREFETCH: tuning.prefetch ? 1 : 0,
      WIDE_N: cols === BMM_BLOCK ? 1 : 0,
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
  return makeOp(gpu, kernel, [c.tensor, a.tensor, b.tensor, bias ?? b.tensor, u, aux], [
    Math.ceil(N / cols),
    Math.ceil(M / BMM_BLOCK),
    ZO * ZI,
  ]);
}
