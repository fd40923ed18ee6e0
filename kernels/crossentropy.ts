/**
 * Softmax cross-entropy: fused forward + backward (the gradient overwrites the logits), forward
 * only (evaluation), and a deterministic sum that reduces per-position losses to the step loss.
 *
 * Targets and weights: `loss = sum_i weights[i] * (-log softmax(logits[i])[targets[i]])`; the
 * caller normalises the weights (e.g. 1 / number of counted positions). Weight 0 masks a row: its
 * loss and gradient are exactly 0 and its target may be any value (targets are clamped to V - 1).
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { getKernel, grid, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./crossentropy.wgsl" with { type: "text" };

const WG = 256;
/** Rows per workgroup of the one-row-per-invocation (CPU) variant. */
/** Loop iterations after which CPU adapters (lavapipe, llvmpipe) stop a loop silently. */
const CPU_LOOP_LIMIT = 65535;
const WG_ROWS = 16;

/** Arguments of {@linkcode crossEntropyFused} and {@linkcode crossEntropyForward}. */
export interface CrossEntropyArgs {
  /** (N) per-row weighted losses, written. Must not share a buffer with `logits`. */
  losses: Tensor;
  /** (N, V) logits; the fused kernel overwrites them with dlogits. */
  logits: Tensor;
  /** (N) u32 target ids. */
  targets: Tensor;
  /** (N) f32 row weights (0 masks a row). */
  weights: Tensor;
  N: number;
  V: number;
  /** Largest binding in bytes (default: the adapter's limit); tests pass a small one to split rows. */
  maxBindingBytes?: number;
  /**
   * One invocation per row instead of one workgroup per row (default: on CPU adapters, where
   * workgroup barriers are dear). Tests set it both ways.
   */
  rowPerThread?: boolean;
}

function view(t: Tensor, start: number, length: number, shape: readonly number[]): Tensor {
  return {
    name: `${t.name}[${start}:]`,
    buffer: t.buffer,
    offset: t.offset + start * 4,
    length,
    shape,
  };
}

function check(t: Tensor, n: number, what: string): void {
  if (t.length < n) throw new RangeError(`${what} has ${t.length} elements, needs ${n}`);
  if (t.offset % 256 !== 0) {
    throw new RangeError(`${what} offset ${t.offset} is not a multiple of 256`);
  }
}

function crossEntropyOps(
  gpu: Gpu,
  args: CrossEntropyArgs,
  entryPoint: "crossentropy_fused" | "crossentropy_forward",
): Op[] {
  const { losses, logits, targets, weights, N, V } = args;
  if (!Number.isInteger(N) || !Number.isInteger(V) || N < 1 || V < 1) {
    throw new RangeError(`Cross-entropy needs N >= 1 and V >= 1, got N=${N}, V=${V}`);
  }
  check(losses, N, "losses");
  check(logits, N * V, "logits");
  check(targets, N, "targets");
  check(weights, N, "weights");
  // CPU adapters end any invocation's loops after 65,535 iterations in all (silently), and one
  // invocation per row loops 3·V times: large vocabularies take the workgroup-per-row kernel.
  const rowPerThread = args.rowPerThread ?? (gpu.isCpu && 3 * V < CPU_LOOP_LIMIT);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: rowPerThread ? `${entryPoint}_rows` : entryPoint,
    bindings: [
      "write",
      entryPoint === "crossentropy_fused" ? "write" : "read",
      "read",
      "read",
      "uniform",
    ],
    constants: { WG: rowPerThread ? WG_ROWS : WG },
  });
  // Rows per op: the logits window must fit one binding, and every window must start at a
  // 256-byte offset, so windows hold a multiple of 64 rows (64 * 4 bytes for the per-row tensors).
  const maxBytes = args.maxBindingBytes ?? gpu.limits.maxStorageBufferBindingSize;
  const rowsPerOp = N * V * 4 <= maxBytes ? N : Math.floor(maxBytes / (V * 4 * 64)) * 64;
  if (rowsPerOp < 1) {
    throw new RangeError(
      `Cross-entropy: 64 rows of V=${V} do not fit one binding of ${maxBytes} bytes`,
    );
  }
  const ops: Op[] = [];
  for (let r0 = 0; r0 < N; r0 += rowsPerOp) {
    const rows = Math.min(rowsPerOp, N - r0);
    const u = createUniform(gpu, params([rows, V]), `${entryPoint}.params`);
    ops.push(makeOp(gpu, kernel, [
      view(losses, r0, rows, [rows]),
      view(logits, r0 * V, rows * V, [rows, V]),
      view(targets, r0, rows, [rows]),
      view(weights, r0, rows, [rows]),
      u,
    ], grid(gpu, rowPerThread ? Math.ceil(rows / WG_ROWS) : rows)));
  }
  return ops;
}

/**
 * Fused forward + backward: losses (N) = weights[i] * ce_i (written), and logits (N, V) is
 * OVERWRITTEN in place with dlogits = weights[i] * (softmax(logits[i]) - onehot(targets[i])).
 * One op per window of rows that fits a storage binding.
 */
export function crossEntropyFused(gpu: Gpu, args: CrossEntropyArgs): Op[] {
  return crossEntropyOps(gpu, args, "crossentropy_fused");
}

/** Forward only: losses (N) = weights[i] * ce_i; logits (N, V) untouched. */
export function crossEntropyForward(gpu: Gpu, args: CrossEntropyArgs): Op[] {
  return crossEntropyOps(gpu, args, "crossentropy_forward");
}

/**
 * out[outOffset] = sum of inp (N), deterministic (one workgroup, fixed reduction order). Reduces
 * the per-position losses to the step loss without reading N floats back; `outOffset` (elements,
 * default 0) lets several sums land in one small buffer. `out` and `inp` must be different buffers.
 */
export function sumReduce(
  gpu: Gpu,
  args: { out: Tensor; inp: Tensor; N: number; outOffset?: number },
): Op[] {
  const { out, inp, N, outOffset = 0 } = args;
  if (!Number.isInteger(N) || N < 1) throw new RangeError(`sumReduce needs N >= 1, got ${N}`);
  check(inp, N, "inp");
  check(out, outOffset + 1, "out");
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "sum_reduce",
    bindings: ["write", "read", "uniform"],
    constants: { WG },
  });
  const u = createUniform(gpu, params([N, outOffset]), "sum_reduce.params");
  return [makeOp(gpu, kernel, [out, view(inp, 0, N, [N]), u], [1])];
}
