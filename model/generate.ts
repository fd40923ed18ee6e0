/**
 * Inference without a cache: the loss and per-token log-probabilities of given sequences
 * ({@linkcode Evaluator}), and the CPU sampler ({@linkcode sampleToken}: temperature, top-k,
 * top-p; temperature 0 is greedy), the reference of the GPU sampler. Generation is the decoder's
 * (model/decode.ts).
 *
 * @module
 */
import { throwUncapturedErrors } from "../gpu/device.ts";
import { encodeOps } from "../gpu/kernel.ts";
import { Rng } from "../data/rng.ts";
import { type Gpt, Graph, type GraphOptions } from "./gpt.ts";

/** A prompt followed by its response, as token ids. */
export interface ResponseSeq {
  /** Prompt ids then response ids. */
  seq: readonly number[];
  /** How many of `seq`'s ids are the prompt's. */
  promptLength: number;
}

/** One (B, T) batch of up to B sequences, and the target position of each response token. */
export interface ResponseBatch {
  inputs: Uint32Array;
  targets: Uint32Array;
  /** Per sequence: the flat positions (b·T + t) whose targets are its response tokens. */
  positions: number[][];
}

/**
 * Packs up to B prompt-and-response sequences into a (B, T) batch (cut to T + 1 ids, padded with
 * `pad`), recording where each response token is a target.
 */
export function responseBatch(
  samples: readonly ResponseSeq[],
  shape: { B: number; T: number; pad: number },
): ResponseBatch {
  const { B, T, pad } = shape;
  if (samples.length > B) {
    throw new RangeError(`${samples.length} sequences exceed a batch of ${B}`);
  }
  const inputs = new Uint32Array(B * T).fill(pad);
  const targets = new Uint32Array(B * T).fill(pad);
  const positions: number[][] = [];
  samples.forEach((s, b) => {
    const n = Math.min(s.seq.length, T + 1);
    inputs.set(s.seq.slice(0, n - 1), b * T);
    targets.set(s.seq.slice(1, n), b * T);
    const pos: number[] = [];
    for (let t = s.promptLength - 1; t < n - 1; t++) pos.push(b * T + t);
    positions.push(pos);
  });
  return { inputs, targets, positions };
}

/** log π of every response token of each sequence of a batch (−CE at its target position). */
export async function responseLogProbs(
  ev: Evaluator,
  batch: ResponseBatch,
): Promise<number[][]> {
  const ce = await ev.tokenLosses(batch.inputs, batch.targets);
  return batch.positions.map((pos) => pos.map((i) => -ce[i]));
}

/** Computes losses of batches with a forward-only graph of a fixed shape. */
export class Evaluator {
  /** The forward-only graph of the batch shape. */
  readonly graph: Graph;
  #staging: GPUBuffer;

  /** Builds the graph of `shape` for `gpt`. */
  constructor(
    gpt: Gpt,
    shape: Pick<GraphOptions, "B" | "T" | "attention" | "fuseGelu">,
  ) {
    this.graph = new Graph(gpt, { ...shape, training: false });
    this.#staging = gpt.gpu.device.createBuffer({
      label: "eval loss",
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Weighted mean loss of one batch (weights default to 1). One wait on the GPU. */
  async loss(inputs: Uint32Array, targets: Uint32Array, weights?: Float32Array): Promise<number> {
    this.#run(inputs, targets, weights, true);
    return (await this.#read(this.graph.acts.get("loss"), 1))[0];
  }

  /**
   * Per-position cross-entropy −log p(target) of one batch (B·T values, unweighted): the negative
   * per-token log-probabilities that RLHF needs. One wait on the GPU.
   */
  async tokenLosses(inputs: Uint32Array, targets: Uint32Array): Promise<Float32Array> {
    const n = this.graph.B * this.graph.T;
    this.#run(inputs, targets, new Float32Array(n).fill(1), false);
    return await this.#read(this.graph.acts.get("losses"), n);
  }

  #run(
    inputs: Uint32Array,
    targets: Uint32Array,
    weights: Float32Array | undefined,
    normalize: boolean,
  ): void {
    const g = this.graph;
    const gpu = g.gpt.gpu;
    const n = g.B * g.T;
    if (inputs.length !== n || targets.length !== n) {
      throw new RangeError(`Batch holds ${inputs.length} tokens; the evaluator takes ${n}`);
    }
    const w = new Float32Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) total += weights ? weights[i] : 1;
    if (!normalize) total = 1;
    if (!(total > 0)) throw new RangeError("Every position of the batch has loss weight 0");
    for (let i = 0; i < n; i++) w[i] = (weights ? weights[i] : 1) / total;
    const q = gpu.device.queue;
    const io = (name: string) => g.io.get(name);
    q.writeBuffer(io("inputs").buffer, io("inputs").offset, inputs as Uint32Array<ArrayBuffer>);
    q.writeBuffer(io("targets").buffer, io("targets").offset, targets as Uint32Array<ArrayBuffer>);
    q.writeBuffer(io("weights").buffer, io("weights").offset, w);
    const enc = gpu.device.createCommandEncoder({ label: "eval" });
    const pass = enc.beginComputePass();
    encodeOps(pass, g.forward);
    encodeOps(pass, g.evalLoss);
    pass.end();
    q.submit([enc.finish()]);
  }

  async #read(t: { buffer: GPUBuffer; offset: number }, n: number): Promise<Float32Array> {
    const gpu = this.graph.gpt.gpu;
    if (this.#staging.size < n * 4) {
      this.#staging.destroy();
      this.#staging = gpu.device.createBuffer({
        label: "eval readback",
        size: Math.ceil(n / 4) * 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
    }
    const enc = gpu.device.createCommandEncoder({ label: "eval readback" });
    enc.copyBufferToBuffer(t.buffer, t.offset, this.#staging, 0, n * 4);
    gpu.device.queue.submit([enc.finish()]);
    await this.#staging.mapAsync(GPUMapMode.READ);
    const v = new Float32Array(this.#staging.getMappedRange(0, n * 4).slice(0));
    this.#staging.unmap();
    throwUncapturedErrors();
    return v;
  }

  /** Frees the graph. */
  destroy(): void {
    this.graph.destroy();
    this.#staging.destroy();
  }
}

/**
 * Settings of {@linkcode Sampler}.
 * @deprecated Use `DecodeOptions` (model/decode.ts).
 */
export interface SampleOptions {
  /** Maximum number of new tokens. */
  maxTokens: number;
  /** 0 means greedy. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0: all). Default 0. */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1: all). Default 1. */
  topP?: number;
  /** RNG for sampling (seeded by the caller). */
  rng?: Rng;
  /** Stop after this token (it is included in the output). */
  stopToken?: number;
  /** Called with each new token as soon as it is chosen (for streaming). */
  onToken?: (id: number) => void;
}

/** Sampling settings of {@linkcode samplingProbs} and {@linkcode sampleToken}. */
export interface SamplingOptions {
  /** 0 means greedy. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0: all). Default 0. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1: all). Default 1. */
  topP?: number;
}

/**
 * The distribution the CPU sampler draws from: the ids it may pick, most likely first (ties in
 * increasing id), with their probabilities (float64). Greedy: the argmax (the lowest id among
 * equal maxima) with probability 1. The GPU sampler (kernels/sample.wgsl) is tested against it.
 */
export function samplingProbs(
  logits: Float32Array,
  options: SamplingOptions,
): { ids: number[]; probs: number[] } {
  const { temperature = 1, topK = 0, topP = 1 } = options;
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return { ids: [best], probs: [1] };
  }
  let idx = Array.from(logits.keys());
  idx.sort((a, b) => logits[b] - logits[a]);
  if (topK > 0 && topK < idx.length) idx = idx.slice(0, topK);
  const max = logits[idx[0]];
  let probs = idx.map((i) => Math.exp((logits[i] - max) / temperature));
  let sum = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / sum);
  if (topP < 1) {
    let acc = 0, keep = 0;
    while (keep < probs.length && acc < topP) acc += probs[keep++];
    idx = idx.slice(0, Math.max(1, keep));
    probs = probs.slice(0, Math.max(1, keep));
    sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
  }
  return { ids: idx, probs };
}

/** Picks the next token from logits on the CPU (one `rng` draw unless greedy). */
export function sampleToken(
  logits: Float32Array,
  options: SamplingOptions & { rng?: Rng },
): number {
  const { ids, probs } = samplingProbs(logits, options);
  if ((options.temperature ?? 1) <= 0) return ids[0];
  const u = (options.rng ?? new Rng(Date.now())).random();
  let acc = 0;
  for (let i = 0; i < probs.length; i++) {
    acc += probs[i];
    if (u < acc) return ids[i];
  }
  return ids[ids.length - 1];
}

/**
 * Generates tokens after a prompt with one sequence (B = 1), recomputing the forward pass over the
 * model's context window for each new token, and sampling on the CPU.
 * @deprecated Use `Decoder` (model/decode.ts); this stays while the pretraining and SFT stages use
 * it.
 */
export class Sampler {
  readonly graph: Graph;
  #staging: GPUBuffer;

  constructor(gpt: Gpt) {
    this.graph = new Graph(gpt, { B: 1, T: gpt.config.context, training: false });
    this.#staging = gpt.gpu.device.createBuffer({
      label: "sample logits",
      size: Math.ceil(gpt.config.vocabSize / 4) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Logits (V) after `tokens` (the last `context` of them are seen). One wait on the GPU. */
  async nextLogits(tokens: readonly number[]): Promise<Float32Array> {
    const g = this.graph;
    const gpu = g.gpt.gpu;
    const T = g.T, V = g.gpt.config.vocabSize;
    const window = tokens.slice(-T);
    if (window.length === 0) throw new RangeError("Sampling needs at least one prompt token");
    const inputs = new Uint32Array(T);
    inputs.set(window);
    const t = g.io.get("inputs");
    gpu.device.queue.writeBuffer(t.buffer, t.offset, inputs);
    const enc = gpu.device.createCommandEncoder({ label: "sample" });
    const pass = enc.beginComputePass();
    encodeOps(pass, g.forward);
    pass.end();
    const logits = g.logitsRow(window.length - 1);
    enc.copyBufferToBuffer(
      logits.buffer,
      logits.offset,
      this.#staging,
      0,
      V * 4,
    );
    gpu.device.queue.submit([enc.finish()]);
    await this.#staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(this.#staging.getMappedRange(0, V * 4).slice(0));
    this.#staging.unmap();
    throwUncapturedErrors();
    return out;
  }

  /** New tokens after `prompt` (the prompt is not included). */
  async generate(prompt: readonly number[], options: SampleOptions): Promise<number[]> {
    const tokens = [...prompt];
    const out: number[] = [];
    for (let i = 0; i < options.maxTokens; i++) {
      const id = sampleToken(await this.nextLogits(tokens), options);
      tokens.push(id);
      out.push(id);
      options.onToken?.(id);
      if (id === options.stopToken) break;
    }
    return out;
  }

  /** Frees the graph. */
  destroy(): void {
    this.graph.destroy();
    this.#staging.destroy();
  }
}
