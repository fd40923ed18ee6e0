/**
 * Named tensor tables: many tensors laid out in one buffer (or a few), each at an aligned offset.
 * Parameters, gradients, AdamW moments and activations are each one table (llm.c's memory plan).
 *
 * @module
 */
import { createStorageBuffer, fmtBytes, type Gpu, GpuError } from "../gpu/device.ts";
import { deferErrors, type Tensor } from "../gpu/kernel.ts";

/** A tensor to lay out: name and shape (elements of 4 bytes: f32 or u32). */
export interface TensorSpec {
  /** Its name in the table. */
  name: string;
  /** Its shape. */
  shape: readonly number[];
}

/** Byte alignment of every tensor (WebGPU's largest minStorageBufferOffsetAlignment). */
export const ALIGN = 256;

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Options of {@linkcode TensorTable.create}. */
export interface TableOptions {
  /**
   * Lay every tensor out in one buffer (parameters, gradients, AdamW moments: AdamW and the norm
   * read them flat). Otherwise each tensor gets a buffer of its own: WebGPU tracks read/write usage
   * per buffer, so a dispatch cannot write one range of a buffer while reading another.
   */
  contiguous?: boolean;
  /**
   * Tensors that kernels bind only in pieces (the token embedding and its gradient and moments),
   * which may therefore be larger than one binding. Every other tensor must fit one.
   */
  boundInPieces?: readonly string[];
  /**
   * What to do about a tensor larger than one binding, for the error (default: "lower --batch or
   * --context", right for activations).
   */
  tooLarge?: string;
}

/** Tensors by name over one buffer (contiguous) or one buffer per tensor. */
export class TensorTable {
  /** The buffers, in layout order. */
  readonly buffers: GPUBuffer[];
  /** The tensors by name. */
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** Total bytes, alignment padding included. */
  readonly byteLength: number;
  /** Whether all tensors share one buffer. */
  readonly contiguous: boolean;

  private constructor(buffers: GPUBuffer[], tensors: Map<string, Tensor>, byteLength: number) {
    this.contiguous = buffers.length === 1 && tensors.size > 0 &&
      [...tensors.values()].every((t) => t.buffer === buffers[0]);
    this.buffers = buffers;
    this.tensors = tensors;
    this.byteLength = byteLength;
  }

  /** Lays out `specs` in order and allocates zero-filled buffers. */
  static create(
    gpu: Gpu,
    label: string,
    specs: readonly TensorSpec[],
    options: TableOptions = {},
  ): TensorTable {
    const maxBinding = gpu.limits.maxStorageBufferBindingSize;
    const placed: { spec: TensorSpec; offset: number; length: number }[] = [];
    let total = 0;
    for (const spec of specs) {
      const length = numel(spec.shape);
      const bytes = length * 4;
      if (bytes > maxBinding && !options.boundInPieces?.includes(spec.name)) {
        throw new GpuError(
          `${label}: tensor ${spec.name} [${spec.shape}] needs ${fmtBytes(bytes)}, more than one ` +
            `binding allows here (${fmtBytes(maxBinding)}): ${
              options.tooLarge ?? "lower --batch or --context"
            }`,
        );
      }
      const offset = options.contiguous ? total : 0;
      placed.push({ spec, offset, length });
      total = (options.contiguous ? offset : total) + align(Math.max(bytes, 4));
    }
    if (options.contiguous && total > gpu.limits.maxBufferSize) {
      throw new GpuError(
        `${label}: needs ${fmtBytes(total)} in one buffer, more than this adapter's ` +
          `${fmtBytes(gpu.limits.maxBufferSize)}: use a smaller model`,
      );
    }
    const buffers = deferErrors(
      gpu,
      `${label} (${fmtBytes(total)})`,
      () =>
        options.contiguous
          ? [createStorageBuffer(gpu, total, label)]
          : placed.map((p) => createStorageBuffer(gpu, p.length * 4, `${label}.${p.spec.name}`)),
    );
    const tensors = new Map<string, Tensor>();
    placed.forEach((p, i) => {
      if (tensors.has(p.spec.name)) throw new Error(`${label}: duplicate tensor ${p.spec.name}`);
      tensors.set(p.spec.name, {
        name: p.spec.name,
        buffer: options.contiguous ? buffers[0] : buffers[i],
        offset: p.offset,
        length: p.length,
        shape: p.spec.shape,
      });
    });
    return new TensorTable(buffers, tensors, total);
  }

  /** The tensor called `name`; throws if there is none. */
  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`No tensor named ${name}`);
    return t;
  }

  /**
   * The whole table as one flat tensor (contiguous tables only), for kernels that treat it as a
   * vector (AdamW, gradient norm). Padding between tensors is zero and stays zero.
   */
  flat(name: string): Tensor {
    if (!this.contiguous) throw new Error(`${name}: table is not contiguous`);
    return {
      name,
      buffer: this.buffers[0],
      offset: 0,
      length: this.byteLength / 4,
      shape: [this.byteLength / 4],
    };
  }

  /** Frees the GPU memory. */
  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
