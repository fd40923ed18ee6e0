/**
 * One training step as one command encoder: zero the gradients, forward, loss, backward for each
 * micro-batch, then the global gradient norm, clipping and AdamW. The loss and the norm are copied to
 * a mappable buffer; the step returns a promise for them, so the caller can submit the next step
 * before awaiting this one (one wait on the GPU per step, overlapped with the next step's work).
 *
 * A model with the scalar head (reward and value models) trains in two phases instead:
 * {@linkcode Trainer.forwardValues} runs the forward pass and reads the values (B,T) back, the
 * caller computes ∂loss/∂values on the CPU, and {@linkcode Trainer.submitValueGradient} runs the
 * backward pass from them, the norm, clipping and AdamW.
 *
 * @module
 */
import { createStorageBuffer, type Gpu, throwUncapturedErrors } from "../gpu/device.ts";
import { assertNoGpuErrors, encodeOps } from "../gpu/kernel.ts";
import { type AdamW, adamw } from "../kernels/adamw.ts";
import { gradNorm, gradNormPartials } from "../kernels/gradnorm.ts";
import { buildTokenBuckets } from "../kernels/encoder.ts";
import { type AttentionMode, type Gpt, Graph, readTable } from "./gpt.ts";
import { TensorTable } from "./tensors.ts";

/** One micro-batch: B·T input ids, the next-token targets and optional per-position weights. */
export interface Batch {
  /** (B·T) input ids. */
  inputs: Uint32Array;
  /** (B·T) next-token ids. */
  targets: Uint32Array;
  /** Loss weight per position (default 1). 0 masks a position (e.g. an SFT prompt token). */
  weights?: Float32Array;
}

/** AdamW and clipping settings of one step. */
export interface StepHyper {
  /** Learning rate. */
  lr: number;
  /** AdamW β1. */
  beta1: number;
  /** AdamW β2. */
  beta2: number;
  /** AdamW ε. */
  eps: number;
  /** Weight decay of the 2-D tensors. */
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

/** Options of {@linkcode Trainer.submit}. */
export interface SubmitOptions {
  /**
   * Use each batch's weights as given, without normalising them to sum 1 over the step. The step's
   * gradient is then that of sum_i weights[i]·CE_i, and the loss reported is that sum.
   */
  rawWeights?: boolean;
}

/** What a scalar-head step reports (the loss is the caller's: it computed the gradient). */
export interface ValueStepStats {
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/** Options of {@linkcode Trainer}. */
export interface TrainerOptions {
  /** Rows per micro-batch. */
  B: number;
  /** Tokens per row. */
  T: number;
  /** Micro-batches per step (gradient accumulation). Default 1. */
  accum?: number;
  /** AdamW step count already taken (when resuming). Default 0. */
  step?: number;
  /** Largest tensor one binding may hold (default: the adapter's limit); see GraphOptions. */
  maxBindingBytes?: number;
  /** Attention's kept state: the probabilities or (`"flash"`) recomputation; see GraphOptions. */
  attention?: AttentionMode;
  /** The MLP's GELU inside its products; see GraphOptions. */
  fuseGelu?: boolean;
}

/** Trains a Gpt: owns its optimizer state and a training graph. */
export class Trainer {
  /** The model it trains. */
  readonly gpt: Gpt;
  /** The training graph. */
  readonly graph: Graph;
  /** Micro-batches per step. */
  readonly accum: number;
  /** AdamW first moments, same layout as the parameters. */
  readonly m: TensorTable;
  /** AdamW second moments. */
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
  /** Scalar head: inputs of the last forwardValues, and whether its activations are current. */
  #valueInputs: Uint32Array | undefined;
  #valuesFresh = false;
  #valueStaging: GPUBuffer | undefined;

  /** Dispatches of the optimizer (gradient norm, clip, AdamW) per step, once a step was built. */
  get optimizerDispatches(): number {
    return this.#normOps.length + this.#optim.ops.length;
  }

  /** A trainer of `gpt`: allocates the moments and the training graph. */
  constructor(gpt: Gpt, options: TrainerOptions) {
    const gpu = gpt.gpu;
    this.#gpu = gpu;
    this.gpt = gpt;
    this.accum = options.accum ?? 1;
    this.step = options.step ?? 0;
    this.graph = new Graph(gpt, {
      B: options.B,
      T: options.T,
      training: true,
      maxBindingBytes: options.maxBindingBytes,
      attention: options.attention,
      fuseGelu: options.fuseGelu,
    });
    this.m = gpt.tableLikeParams("adam.m");
    this.v = gpt.tableLikeParams("adam.v");
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

  /** Restores the AdamW moments (from a checkpoint, by parameter name). */
  loadMoments(moments: { m: Map<string, Float32Array>; v: Map<string, Float32Array> }): void {
    const q = this.#gpu.device.queue;
    for (const [table, values] of [[this.m, moments.m], [this.v, moments.v]] as const) {
      for (const t of table.tensors.values()) {
        const data = values.get(t.name);
        if (!data || data.length !== t.length) {
          throw new RangeError(`Optimizer state for ${t.name} is missing or has the wrong size`);
        }
        q.writeBuffer(
          t.buffer,
          t.offset,
          data.buffer as ArrayBuffer,
          data.byteOffset,
          data.byteLength,
        );
      }
    }
  }

  /** Reads the AdamW moments back (for a checkpoint). */
  async readMoments(): Promise<{ m: Map<string, Float32Array>; v: Map<string, Float32Array> }> {
    const [m, v] = await Promise.all([readTable(this.#gpu, this.m), readTable(this.#gpu, this.v)]);
    return { m, v };
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

  /**
   * Prepares one optimizer step: the clip threshold, the step count and AdamW's per-step uniform
   * (queued before the step's submit), and a mappable buffer for the step's stats.
   */
  #beginStep(hyper: StepHyper): GPUBuffer {
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
    return this.#pool.pop() ?? this.#gpu.device.createBuffer({
      label: "step stats",
      size: Math.ceil(this.#statsBytes / 16) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
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
  submit(batches: Batch[], hyper: StepHyper, options: SubmitOptions = {}): Promise<StepStats> {
    if (batches.length !== this.accum) {
      throw new RangeError(`Expected ${this.accum} micro-batches, got ${batches.length}`);
    }
    if (this.graph.scalar) {
      throw new Error("A scalar-head model trains with forwardValues and submitValueGradient");
    }
    const gpu = this.#gpu;
    const device = gpu.device;
    const graph = this.graph;
    // Weights are normalised over the whole step, so the loss is a weighted mean over all tokens
    // (unless the caller passes raw weights: policy-gradient and DPO steps weight tokens by their
    // own, possibly negative, coefficients).
    let total = 0;
    for (const b of batches) {
      if (b.weights) { for (const w of b.weights) total += w; }
      else total += b.inputs.length;
    }
    if (options.rawWeights) total = 1;
    else if (!(total > 0)) throw new RangeError("Every position of the step has loss weight 0");
    const ioBytes = graph.io.byteLength;
    batches.forEach((b, k) => {
      const image = this.#pack(b, 1 / total);
      if (this.#staging) device.queue.writeBuffer(this.#staging, k * ioBytes, image);
      else device.queue.writeBuffer(graph.io.buffers[0], 0, image);
    });
    const stats = this.#beginStep(hyper);
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

  /**
   * Scalar head, phase 1: runs the forward pass of `batch.inputs` (B·T ids) with the current
   * parameters and returns the values (B·T). One wait on the GPU. The activations are kept for
   * {@linkcode Trainer.submitValueGradient}.
   */
  async forwardValues(batch: { inputs: Uint32Array }): Promise<Float32Array> {
    const graph = this.#valueGraph();
    const gpu = this.#gpu;
    const n = graph.B * graph.T;
    this.#packValues(batch.inputs);
    const values = graph.acts.get("values");
    this.#valueStaging ??= gpu.device.createBuffer({
      label: "values readback",
      size: Math.ceil(n / 4) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const staging = this.#valueStaging;
    const enc = gpu.device.createCommandEncoder({ label: "forward values" });
    const pass = enc.beginComputePass();
    encodeOps(pass, graph.forward);
    pass.end();
    enc.copyBufferToBuffer(values.buffer, values.offset, staging, 0, n * 4);
    gpu.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange(0, n * 4).slice(0));
    staging.unmap();
    throwUncapturedErrors();
    this.#valueInputs = Uint32Array.from(batch.inputs);
    this.#valuesFresh = true;
    return out;
  }

  /**
   * Scalar head, phase 2: one optimizer step whose gradient is that of a loss with ∂loss/∂values =
   * `dvalues` (B·T) at the inputs of the last {@linkcode Trainer.forwardValues}: zero the
   * gradients, backward from `dvalues`, global norm, clipping, AdamW. The forward activations are
   * reused when no step ran since (else the forward is recomputed in the same command encoder).
   * Does not wait: returns a promise for the gradient norm.
   */
  submitValueGradient(dvalues: Float32Array, hyper: StepHyper): Promise<ValueStepStats> {
    const graph = this.#valueGraph();
    if (!this.#valueInputs) {
      throw new Error("submitValueGradient needs a forwardValues call first (its inputs)");
    }
    const n = graph.B * graph.T;
    if (dvalues.length !== n) {
      throw new RangeError(`dvalues holds ${dvalues.length} values; the graph takes ${n}`);
    }
    const gpu = this.#gpu;
    const device = gpu.device;
    const recompute = !this.#valuesFresh;
    if (recompute) this.#packValues(this.#valueInputs);
    const dv = graph.io.get("dvalues");
    device.queue.writeBuffer(dv.buffer, dv.offset, dvalues as Float32Array<ArrayBuffer>);
    const stats = this.#beginStep(hyper);
    const enc = device.createCommandEncoder({ label: `value step ${this.step}` });
    enc.clearBuffer(this.gpt.grads.buffers[0]);
    const dres = graph.dresidual;
    enc.clearBuffer(dres.buffer, dres.offset, dres.length * 4);
    const pass = enc.beginComputePass();
    if (recompute) encodeOps(pass, graph.forward);
    encodeOps(pass, graph.backward);
    encodeOps(pass, this.#normOps);
    encodeOps(pass, this.#optim.ops);
    pass.end();
    const norm = this.#norm.get("out");
    enc.copyBufferToBuffer(norm.buffer, norm.offset, stats, 0, 8);
    device.queue.submit([enc.finish()]);
    this.#valuesFresh = false;
    return stats.mapAsync(GPUMapMode.READ).then(() => {
      const f = new Float32Array(stats.getMappedRange(0, 8).slice(0));
      stats.unmap();
      this.#pool.push(stats);
      throwUncapturedErrors();
      return { gradNorm: f[0] };
    });
  }

  #valueGraph() {
    if (!this.graph.scalar) {
      throw new Error("forwardValues and submitValueGradient need a model with the scalar head");
    }
    if (this.accum !== 1) {
      throw new RangeError("A scalar-head trainer takes one micro-batch per step (accum 1)");
    }
    return this.graph;
  }

  /** Uploads the io image of a scalar-head batch: inputs and token buckets, dvalues zero. */
  #packValues(inputs: Uint32Array): void {
    const graph = this.graph;
    const n = graph.B * graph.T;
    if (inputs.length !== n) {
      throw new RangeError(`Batch holds ${inputs.length} tokens; the graph takes ${n}`);
    }
    const image = this.#pack({ inputs, targets: new Uint32Array(n) }, 0);
    const dv = graph.io.get("dvalues");
    new Float32Array(this.#ioImage, dv.offset, n).fill(0);
    this.#gpu.device.queue.writeBuffer(graph.io.buffers[0], 0, image);
  }

  /** Frees the optimizer state and the training graph. */
  destroy(): void {
    this.#valueStaging?.destroy();
    this.graph.destroy();
    this.m.destroy();
    this.v.destroy();
    this.#norm.destroy();
    this.#staging?.destroy();
    for (const b of this.#pool) b.destroy();
  }
}
