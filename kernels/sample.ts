/**
 * The next token of each row chosen on the GPU (greedy, or temperature / top-k / top-p with a
 * counter-based RNG), with the row's decoding state: see kernels/sample.wgsl for the method.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform, GpuError, STORAGE_USAGE } from "../gpu/device.ts";
import { createTensor, getKernel, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./sample.wgsl" with { type: "text" };

/** The id that fills the columns of a row that has ended (and "no stop token"). */
export const PAD = 0xffffffff;
/** Threads per row on GPUs. */
const WG_GPU = 256;
/** Loop iterations an invocation may take on CPU adapters. */
const CPU_LOOP_BUDGET = 65535;
/** Passes over a thread's ids with top-k and top-p (two binary searches of 32 and a few more). */
const PASSES = 76;

/** The row state's `done` values (rows[b].w). */
export const ROW = { running: 0, stopped: 1, limit: 2, unused: 3 } as const;

/** How the next token is picked. */
export interface SampleSettings {
  /** 0: greedy. */
  temperature: number;
  /** Keep the k most likely ids (0: all). */
  topK: number;
  /** Keep the shortest run of most likely ids whose probability reaches p (1: all). */
  topP: number;
  /** The RNG's seed (a u32). */
  seed: number;
  /** A row ends after this id ({@linkcode PAD}: none). */
  stop: number;
  /** The RNG's row of the op's row 0 (rows of later batches of one call draw apart). */
  row0: number;
}

/** The uniform of the sampling op, from its settings. */
export function sampleParams(
  shape: { B: number; V: number; N: number },
  s: SampleSettings,
): ArrayBuffer {
  return params([
    shape.B,
    shape.V,
    shape.N,
    s.row0,
    { f32: s.temperature },
    s.topK,
    { f32: s.topP },
    s.seed,
    s.stop,
  ]);
}

/**
 * Threads per row: 256 on GPUs; on CPU adapters, where barriers are dear, the fewest that keep an
 * invocation within the loop budget (a power of two, at least 4).
 */
export function sampleThreads(gpu: Gpu, V: number): number {
  if (!gpu.isCpu) return WG_GPU;
  let wg = 4;
  while (Math.ceil(V / wg) * PASSES + 64 * Math.log2(wg) > CPU_LOOP_BUDGET / 2) wg *= 2;
  if (wg > gpu.limits.maxComputeInvocationsPerWorkgroup) {
    throw new GpuError(`sample_next: a vocabulary of ${V} needs ${wg} threads per row`);
  }
  return wg;
}

/**
 * One sampling step: picks each row's next id from `logits` (B, V), writes it and its log-probability
 * into column `rows[b].x % N` of `out` (2, B, N) (ids, then the f32 bits of the log-probabilities),
 * and advances `tokens`, `pos` and `rows` (see kernels/sample.wgsl). The uniform `settings` holds
 * {@linkcode sampleParams}; the caller rewrites it between runs.
 */
export function sampleNext(
  gpu: Gpu,
  args: {
    logits: Tensor;
    tokens: Tensor;
    pos: Tensor;
    rows: Tensor;
    out: Tensor;
    settings: GPUBuffer;
    B: number;
    V: number;
    N: number;
    /** Threads per row (default {@linkcode sampleThreads}); tests vary it. */
    threads?: number;
  },
): Op {
  const { logits, tokens, pos, rows, out, B, V, N } = args;
  const need = (t: Tensor, n: number, what: string) => {
    if (t.length < n) {
      throw new RangeError(`sample_next: ${t.name} has ${t.length} elements, needs ${n} (${what})`);
    }
  };
  need(logits, B * V, "B*V");
  need(tokens, B, "B");
  need(pos, B, "B");
  need(rows, 4 * B, "4B");
  need(out, 2 * B * N, "2*B*N");
  if (V >= 2 ** 24) {
    throw new RangeError(`sample_next: V = ${V} must be below 2^24 (counts in f32)`);
  }
  if (B > gpu.limits.maxComputeWorkgroupsPerDimension) {
    throw new GpuError(`sample_next: ${B} rows are too many for one dispatch`);
  }
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "sample_next",
    bindings: ["read", "write", "write", "write", "write", "uniform"],
    constants: { WG: args.threads ?? sampleThreads(gpu, V) },
  });
  return makeOp(gpu, kernel, [logits, tokens, pos, rows, out, args.settings], [B]);
}

/** A uniform buffer for {@linkcode sampleNext}'s settings. */
export function sampleSettingsBuffer(gpu: Gpu, label: string): GPUBuffer {
  return createUniform(gpu, new ArrayBuffer(48), label);
}

/**
 * The uniform u in [0, 1) that the GPU draws for (seed, row, position): pcg3d's first word, its
 * top 24 bits. The same function as kernels/sample.wgsl, for tests and for callers that resume.
 */
export function uniformDraw(seed: number, row: number, position: number): number {
  let x = (Math.imul(seed >>> 0, 1664525) + 1013904223) >>> 0;
  let y = (Math.imul(row >>> 0, 1664525) + 1013904223) >>> 0;
  let z = (Math.imul(position >>> 0, 1664525) + 1013904223) >>> 0;
  x = (x + Math.imul(y, z)) >>> 0;
  y = (y + Math.imul(z, x)) >>> 0;
  z = (z + Math.imul(x, y)) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  y = (y ^ (y >>> 16)) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  x = (x + Math.imul(y, z)) >>> 0;
  return (x >>> 8) / 16777216;
}

/** A decoding step's ops gated on the rows' state (see {@linkcode decodeGate}). */
export interface GatedOps {
  /** The gate: writes the ops' workgroup counts, zero once every row has ended. */
  gate: Op;
  /** The ops, dispatched indirectly from `args`. */
  ops: readonly Op[];
  /** Their workgroup counts (3 words per op), written by the gate. */
  args: GPUBuffer;
  /** The counts as built. */
  full: Tensor;
}

/**
 * Gates `ops` (a decoding step) on `rows` (B, 4), the sampling op's row state: encoded with
 * {@linkcode encodeGated}, they run with their own workgroup counts while a row runs and with none
 * once every row has ended.
 */
export function decodeGate(
  gpu: Gpu,
  args: { rows: Tensor; ops: readonly Op[]; B: number },
): GatedOps {
  const { rows, ops, B } = args;
  const words = 3 * ops.length;
  const counts = Uint32Array.from(ops.flatMap((op) => [...op.workgroups]));
  const full = createTensor(gpu, [words], "decode gate counts", counts);
  const indirect = gpu.device.createBuffer({
    label: "decode gate args",
    size: Math.max(16, words * 4),
    usage: STORAGE_USAGE | GPUBufferUsage.INDIRECT,
  });
  gpu.device.queue.writeBuffer(indirect, 0, counts);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "decode_gate",
    bindings: ["read", "read", "write", "uniform"],
  });
  const u = createUniform(gpu, params([B, words]), "decode_gate.params");
  const argsTensor: Tensor = {
    name: "decode gate args",
    buffer: indirect,
    offset: 0,
    length: words,
    shape: [words],
  };
  const gate = makeOp(gpu, kernel, [rows, full, argsTensor, u], [1]);
  return { gate, ops, args: indirect, full };
}

/** Encodes the gate, then the gated ops with the workgroup counts it wrote. */
export function encodeGated(pass: GPUComputePassEncoder, g: GatedOps): void {
  pass.setPipeline(g.gate.pipeline);
  pass.setBindGroup(0, g.gate.bindGroup);
  pass.dispatchWorkgroups(1);
  g.ops.forEach((op, i) => {
    pass.setPipeline(op.pipeline);
    pass.setBindGroup(0, op.bindGroup);
    pass.dispatchWorkgroupsIndirect(g.args, 12 * i);
  });
}
