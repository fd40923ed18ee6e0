/**
 * Fused AdamW, exactly as `torch.optim.AdamW` (decoupled weight decay), over the flat parameter,
 * gradient and moment buffers, with the gradient clip scale read on the GPU.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { getKernel, grid, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./adamw.wgsl" with { type: "text" };

const WG = 256;

/** AdamW hyperparameters of one step; `step` counts from 1. */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

/** The AdamW ops and the setter of their per-step uniform. */
export interface AdamW {
  ops: Op[];
  /** Writes lr, betas, eps, decay and the bias corrections of `step` (ordered before the next submit). */
  update(hyper: AdamWHyper): void;
}

/**
 * One AdamW step over N f32 of params, grads, m and v (same layout). Elements with index
 * < decayEnd get weight decay. Gradients are multiplied by `clip[1]` (the scale that
 * `gradNorm` writes to its `out`). Per element:
 * `g = grad * clip; p -= lr * wd * p (i < decayEnd); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g²;
 * p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.
 * Buffers larger than one binding are processed through several windows (one op each).
 * Call `update()` before the first submit.
 */
export function adamw(
  gpu: Gpu,
  args: {
    params: Tensor;
    grads: Tensor;
    m: Tensor;
    v: Tensor;
    /** (2) the output of gradNorm: [norm, scale]. */
    clip: Tensor;
    N: number;
    decayEnd: number;
    /** Largest binding in bytes (default: the adapter's limit); tests pass a small one. */
    maxBindingBytes?: number;
  },
): AdamW {
  const { N, decayEnd, clip } = args;
  if (!Number.isInteger(N) || N < 1) throw new RangeError(`AdamW needs N >= 1, got ${N}`);
  if (!Number.isInteger(decayEnd) || decayEnd < 0 || decayEnd > N) {
    throw new RangeError(`AdamW decayEnd ${decayEnd} is outside 0..${N}`);
  }
  for (const k of ["params", "grads", "m", "v"] as const) {
    const t = args[k];
    if (t.length < N) throw new RangeError(`AdamW ${k} has ${t.length} elements, needs ${N}`);
    if (t.offset % 256 !== 0) throw new RangeError(`AdamW ${k} offset is not a multiple of 256`);
  }
  if (clip.length < 2) throw new RangeError(`AdamW clip has ${clip.length} elements, needs 2`);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "adamw_step",
    bindings: ["write", "write", "write", "read", "read", "uniform", "uniform"],
    constants: { WG },
  });
  const hyperBuf = createUniform(gpu, new Float32Array(8), "adamw.hyper");
  const bytes = args.maxBindingBytes ?? gpu.limits.maxStorageBufferBindingSize;
  const per = Math.floor(bytes / 256) * 64;
  if (per < 1) throw new RangeError(`Binding size ${bytes} is below 256 bytes`);
  const ops: Op[] = [];
  for (let start = 0; start < N; start += per) {
    const n = Math.min(per, N - start);
    // Bound as vec4: rounded up to whole vec4s, which must lie inside the buffer.
    const padded = Math.ceil(n / 4) * 4;
    const win = (t: Tensor): Tensor => {
      const offset = t.offset + start * 4;
      if (offset + padded * 4 > t.buffer.size) {
        throw new RangeError(
          `AdamW ${t.name}: its buffer must extend to a 16-byte boundary past the tensor (vec4 access)`,
        );
      }
      return {
        name: `${t.name}[${start}:]`,
        buffer: t.buffer,
        offset,
        length: padded,
        shape: [padded],
      };
    };
    const localDecay = Math.min(n, Math.max(0, decayEnd - start));
    const u = createUniform(gpu, params([n, localDecay]), "adamw.window");
    ops.push(makeOp(gpu, kernel, [
      win(args.params),
      win(args.m),
      win(args.v),
      win(args.grads),
      clip,
      hyperBuf,
      u,
    ], grid(gpu, Math.ceil(padded / 4 / WG))));
  }
  const hyper = new Float32Array(8);
  return {
    ops,
    update(h: AdamWHyper): void {
      if (!Number.isInteger(h.step) || h.step < 1) {
        throw new RangeError(`AdamW step must be an integer >= 1, got ${h.step}`);
      }
      const bc1 = 1 - Math.pow(h.beta1, h.step);
      const bc2 = 1 - Math.pow(h.beta2, h.step);
      hyper[0] = h.lr / bc1;
      hyper[1] = h.beta1;
      hyper[2] = 1 - h.beta1;
      hyper[3] = h.beta2;
      hyper[4] = 1 - h.beta2;
      hyper[5] = h.eps;
      hyper[6] = 1 - h.lr * h.weightDecay;
      hyper[7] = Math.sqrt(bc2);
      gpu.device.queue.writeBuffer(hyperBuf, 0, hyper);
    },
  };
}
