/**
 * Global gradient L2 norm and clip scale (as `torch.nn.utils.clip_grad_norm_`), computed on the
 * GPU with a deterministic two-stage reduction and no readback: AdamW reads the scale.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { getKernel, grid, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./gradnorm.wgsl" with { type: "text" };

/** Elements per stage-1 workgroup (one partial each): WG threads x PER vec4 loads x 4. */
const BLOCK = 4096;
/** Stage-1 shapes: CPU adapters prefer small workgroups (fewer barrier-separated phases). */
const CPU = { WG: 64, PER: 16 };
const GPU = { WG: 256, PER: 4 };

/** Element windows [start, start + length) of at most `maxBytes` bytes, starting at multiples of 256 bytes. */
function windows(gpu: Gpu, n: number, maxBytes?: number): { start: number; length: number }[] {
  const bytes = maxBytes ?? gpu.limits.maxStorageBufferBindingSize;
  const per = Math.floor(bytes / 256) * 64;
  if (per < 1) throw new RangeError(`Binding size ${bytes} is below 256 bytes`);
  const out = [];
  for (let start = 0; start < n; start += per) {
    out.push({ start, length: Math.min(per, n - start) });
  }
  return out;
}

/**
 * A window of `t` bound as vec4: its length is rounded up to a multiple of 4 (the kernels ignore
 * the extra components), which must still lie inside the buffer.
 */
function vec4Window(t: Tensor, start: number, length: number): Tensor {
  const offset = t.offset + start * 4;
  const padded = Math.ceil(length / 4) * 4;
  if (offset + padded * 4 > t.buffer.size) {
    throw new RangeError(
      `${t.name}: its buffer must extend to a 16-byte boundary past the tensor (vec4 reads)`,
    );
  }
  return {
    name: `${t.name}[${start}:]`,
    buffer: t.buffer,
    offset,
    length: padded,
    shape: [padded],
  };
}

/** The number of f32 the `partials` scratch tensor of {@linkcode gradNorm} needs for N gradients. */
export function gradNormPartials(gpu: Gpu, N: number, maxBindingBytes?: number): number {
  return windows(gpu, N, maxBindingBytes).reduce((s, w) => s + Math.ceil(w.length / BLOCK), 0);
}

/**
 * out (2) written: out[0] = global L2 norm of grads (N), out[1] = clip scale =
 * (maxNorm > 0 ? min(1, maxNorm / (norm + 1e-6)) : 1). `partials` is scratch of
 * {@linkcode gradNormPartials} elements (its own buffer, not `out`'s). Deterministic two-stage
 * reduction, no atomics; gradients larger than one binding are read through several windows.
 */
export function gradNorm(
  gpu: Gpu,
  args: {
    out: Tensor;
    partials: Tensor;
    grads: Tensor;
    N: number;
    maxNorm: number;
    /** Largest binding in bytes (default: the adapter's limit); tests pass a small one. */
    maxBindingBytes?: number;
    /** Stage-1 workgroup shape for CPU adapters (default: `gpu.isCpu`); tests set it both ways. */
    cpuShape?: boolean;
  },
): Op[] {
  const { out, partials, grads, N, maxNorm } = args;
  if (!Number.isInteger(N) || N < 1) throw new RangeError(`gradNorm needs N >= 1, got ${N}`);
  if (grads.length < N) throw new RangeError(`grads has ${grads.length} elements, needs ${N}`);
  if (out.length < 2) throw new RangeError(`out has ${out.length} elements, needs 2`);
  const count = gradNormPartials(gpu, N, args.maxBindingBytes);
  if (partials.length < count) {
    throw new RangeError(`partials has ${partials.length} elements, needs ${count}`);
  }
  const partial = getKernel(gpu, {
    code,
    entryPoint: "gradnorm_partial",
    bindings: ["write", "read", "uniform"],
    constants: (args.cpuShape ?? gpu.isCpu) ? CPU : GPU,
  });
  const final = getKernel(gpu, {
    code,
    entryPoint: "gradnorm_final",
    bindings: ["write", "read", "uniform"],
    constants: { WG: 256 },
  });
  const ops: Op[] = [];
  let base = 0;
  for (const w of windows(gpu, N, args.maxBindingBytes)) {
    const blocks = Math.ceil(w.length / BLOCK);
    const g = vec4Window(grads, w.start, w.length);
    const u = createUniform(gpu, params([w.length, base]), "gradnorm_partial.params");
    ops.push(makeOp(gpu, partial, [partials, g, u], grid(gpu, blocks)));
    base += blocks;
  }
  const u = createUniform(gpu, params([count, { f32: maxNorm }]), "gradnorm_final.params");
  ops.push(makeOp(gpu, final, [out, partials, u], [1]));
  return ops;
}
