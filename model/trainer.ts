/**
 * One training step as one command encoder: zero the gradients, forward, loss, backward for each
 * micro-batch, then the global gradient norm, clipping and AdamW. The loss and the norm are copied to
 * a mappable buffer; the step returns a promise for them, so the caller can submit the next step
 * before awaiting this one (one wait on the GPU per step, overlapped with the next step's work).
 *
 * @module
 */
import { createStorageBuffer, type Gpu, throwUncapturedErrors } from "../gpu/device.ts";
import { assertNoGpuErrors, encodeOps } from "../gpu/kernel.ts";
import { type AdamW, adamw } from "../kernels/adamw.ts";
import { gradNorm, gradNormPartials } from "../kernels/gradnorm.ts";
import { buildTokenBuckets } from "../kernels/encoder.ts";
import { type Gpt, Graph } from "./gpt.ts";
import { TensorTable } from "./tensors.ts";

/** One micro-batch: B·T input ids, the next-token targets and optional per-position weights. */
export interface Batch {
  inputs: Uint32Array;
  targets: Uint32Array;
  /** Loss weight per position (default 1). 0 masks a position (e.g. an SFT prompt token). */
  weights?: Float32Array;
}

/** AdamW and clipping settings of one step. */
export interface StepHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  gradClip: number;
}

/** What a step reports. */
export interface StepStats {
  /** Weighted mean loss over the whole step (all micro-batches). */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/** Options of {@linkcode Trainer}. */
export interface TrainerOptions {
  B: number;
  T: number;
  /** Micro-batches per step (gradient accumulation). Default 1. */
  accum?: number;
  /** AdamW step count already taken (when resuming). Default 0. */
  step?: number;
}

/** Trains a Gpt: owns its optimizer state and a training graph. */
export class Trainer {
  readonly gpt: Gpt;
  readonly graph: Graph;
  readonly accum: number;
  /** AdamW first and second moments, same layout as the parameters. */
  readonly m: TensorTable;
  readonly v: TensorTable;
  /** Number of optimizer steps taken. */
  step: number;
  readonly #gpu: Gpu;
  readonly #optim: AdamW;
  readonly #norm: TensorTable;
  readonly #normOps;
  readonly #staging: GPUBuffer | undefined;
  readonly #ioImage: ArrayBuffer;
  readonly #pool: GPUBuffer[] = [];
  readonly #statsBytes: number;
  readonly #maxNorm: { value: number };

  constructor(gpt: Gpt, options: TrainerOptions) {
    const gpu = gpt.gpu;
    this.#gpu = gpu;
    this.gpt = gpt;
    this.accum = options.accum ?? 1;
    this.step = options.step ?? 0;
    this.graph = new Graph(gpt, { B: options.B, T: options.T, training: true });
    const specs = [...gpt.params.tensors.values()].map((t) => ({ name: t.name, shape: t.shape }));
    this.m = TensorTable.create(gpu, "adam.m", specs, { contiguous: true });
    this.v = TensorTable.create(gpu, "adam.v", specs, { contiguous: true });
    const N = gpt.params.byteLength / 4;
    this.#norm = TensorTable.create(gpu, "gradnorm", [
      { name: "out", shape: [2] },
      { name: "partials", shape: [gradNormPartials(gpu, N)] },
    ]);
    // The clip threshold is baked into the norm ops; rebuild them when it changes.
    this.#maxNorm = { value: NaN };
    this.#normOps = [] as ReturnType<typeof gradNorm>;
    this.#optim = adamw(gpu, {
      params: gpt.params.flat("params"),
      grads: gpt.grads.flat("grads"),
      m: this.m.flat("m"),
      v: this.v.flat("v"),
      clip: this.#norm.get("out"),
      N,
      decayEnd: gpt.decayEnd,
    });
    this.#ioImage = new ArrayBuffer(this.graph.io.byteLength);
    if (this.accum > 1) {
      this.#staging = createStorageBuffer(gpu, this.graph.io.byteLength * this.accum, "staging");
    }
    this.#statsBytes = 4 * (2 + this.accum);
  }

  /** Waits until every kernel and bind group built so far is known to be valid. */
  async ready(): Promise<void> {
    await assertNoGpuErrors();
  }

  #setClip(gradClip: number): void {
    if (this.#maxNorm.value === gradClip) return;
    this.#maxNorm.value = gradClip;
    this.#normOps.length = 0;
    this.#normOps.push(...gradNorm(this.#gpu, {
      out: this.#norm.get("out"),
      partials: this.#norm.get("partials"),
      grads: this.gpt.grads.flat("grads"),
      N: this.gpt.params.byteLength / 4,
      maxNorm: gradClip,
    }));
  }

  /** Fills the io image (inputs, targets, normalised weights, token buckets) of one micro-batch. */
  #pack(batch: Batch, weightScale: number): Uint8Array<ArrayBuffer> {
    const io = this.graph.io;
    const u32 = new Uint32Array(this.#ioImage);
    const f32 = new Float32Array(this.#ioImage);
    const n = this.graph.B * this.graph.T;
    const V = this.gpt.config.vocabSize;
    if (batch.inputs.length !== n || batch.targets.length !== n) {
      throw new RangeError(`Batch holds ${batch.inputs.length} tokens; the graph takes ${n}`);
    }
    for (let i = 0; i < n; i++) {
      if (batch.inputs[i] >= V || batch.targets[i] >= V) {
        throw new RangeError(
          `Token id ${Math.max(batch.inputs[i], batch.targets[i])} is outside the vocabulary ` +
            `(${V}): the data and the model use different tokenizers`,
        );
      }
    }
    const off = (name: string) => io.get(name).offset / 4;
    u32.set(batch.inputs, off("inputs"));
    u32.set(batch.targets, off("targets"));
    const w0 = off("weights");
    for (let i = 0; i < n; i++) f32[w0 + i] = (batch.weights ? batch.weights[i] : 1) * weightScale;
    const start = u32.subarray(off("bucketStart"), off("bucketStart") + V + 1);
    const pos = u32.subarray(off("bucketPos"), off("bucketPos") + n);
    buildTokenBuckets(batch.inputs, V, start, pos);
    return new Uint8Array(this.#ioImage);
  }

  /**
   * Encodes and submits one optimizer step over `batches` (one per micro-batch) and returns a
   * promise for its loss and gradient norm. Does not wait: submit the next step, then await.
   */
  submit(batches: Batch[], hyper: StepHyper): Promise<StepStats> {
    if (batches.length !== this.accum) {
      throw new RangeError(`Expected ${this.accum} micro-batches, got ${batches.length}`);
    }
    const gpu = this.#gpu;
    const device = gpu.device;
    const graph = this.graph;
    // Weights are normalised over the whole step, so the loss is a weighted mean over all tokens.
    let total = 0;
    for (const b of batches) {
      if (b.weights) { for (const w of b.weights) total += w; }
      else total += b.inputs.length;
    }
    if (!(total > 0)) throw new RangeError("Every position of the step has loss weight 0");
    const ioBytes = graph.io.byteLength;
    batches.forEach((b, k) => {
      const image = this.#pack(b, 1 / total);
      if (this.#staging) device.queue.writeBuffer(this.#staging, k * ioBytes, image);
      else device.queue.writeBuffer(graph.io.buffers[0], 0, image);
    });
    this.#setClip(hyper.gradClip);
    this.step++;
    this.#optim.update({
      lr: hyper.lr,
      beta1: hyper.beta1,
      beta2: hyper.beta2,
      eps: hyper.eps,
      weightDecay: hyper.weightDecay,
      step: this.step,
    });

    const stats = this.#pool.pop() ?? device.createBuffer({
      label: "step stats",
      size: Math.ceil(this.#statsBytes / 16) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = device.createCommandEncoder({ label: `step ${this.step}` });
    const grads = this.gpt.grads.buffers[0];
    enc.clearBuffer(grads);
    const loss = graph.acts.get("loss");
    const dres = graph.dresidual;
    for (let k = 0; k < this.accum; k++) {
      if (this.#staging) {
        enc.copyBufferToBuffer(this.#staging, k * ioBytes, graph.io.buffers[0], 0, ioBytes);
      }
      enc.clearBuffer(dres.buffer, dres.offset, dres.length * 4);
      const pass = enc.beginComputePass();
      encodeOps(pass, graph.forward);
      encodeOps(pass, graph.trainLoss);
      encodeOps(pass, graph.backward);
      pass.end();
      enc.copyBufferToBuffer(loss.buffer, loss.offset, stats, 8 + 4 * k, 4);
    }
    const pass = enc.beginComputePass();
    encodeOps(pass, this.#normOps);
    encodeOps(pass, this.#optim.ops);
    pass.end();
    const norm = this.#norm.get("out");
    enc.copyBufferToBuffer(norm.buffer, norm.offset, stats, 0, 8);
    device.queue.submit([enc.finish()]);
    return stats.mapAsync(GPUMapMode.READ).then(() => {
      const f = new Float32Array(stats.getMappedRange(0, this.#statsBytes).slice(0));
      stats.unmap();
      this.#pool.push(stats);
      throwUncapturedErrors();
      let sum = 0;
      for (let k = 0; k < this.accum; k++) sum += f[2 + k];
      return { loss: sum, gradNorm: f[0] };
    });
  }

  /** Frees the optimizer state and the training graph. */
  destroy(): void {
    this.graph.destroy();
    this.m.destroy();
    this.v.destroy();
    this.#norm.destroy();
    this.#staging?.destroy();
    for (const b of this.#pool) b.destroy();
  }
}
