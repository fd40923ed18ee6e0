/**
 * Reward and value models: GPT-2 with the scalar head (`score.weight`, see model/gpt.ts), their
 * initialisation from a language model, batches of sequences, reading values back, and
 * Bradley–Terry training of a reward model on preference pairs.
 *
 * The reward of a prompt + response is the value at its last token (the end-of-text that ends
 * every templated response). The value model of PPO is a separate scalar-head model (initialised
 * from the reward model): it does not share the trunk with the policy, as in InstructGPT.
 *
 * @module
 */
import { throwUncapturedErrors } from "../gpu/device.ts";
import { encodeOps } from "../gpu/kernel.ts";
import { Rng } from "../data/rng.ts";
import type { EncodedPair } from "../data/preferences.ts";
import type { GptConfig } from "./config.ts";
import { type Gpt, Graph } from "./gpt.ts";
import type { StepHyper, Trainer } from "./trainer.ts";
import { bradleyTerry } from "./ppo.ts";

/**
 * The config and parameters of a scalar-head model whose transformer is `params` (a language
 * model's or a scalar-head model's): `score.weight` is kept when present, else drawn from
 * N(0, 1/(C+1)) with `seed` (or zero when `zero`).
 */
export function withScalarHead(
  config: GptConfig,
  params: Map<string, Float32Array>,
  options: { seed?: number; zero?: boolean } = {},
): { config: GptConfig; params: Map<string, Float32Array> } {
  const out = new Map(params);
  if (!out.has("score.weight")) {
    const C = config.width;
    out.set(
      "score.weight",
      options.zero
        ? new Float32Array(C)
        : new Rng(options.seed ?? 1337).normalArray(C, 1 / Math.sqrt(C + 1)),
    );
  }
  return { config: { ...config, head: "scalar" }, params: out };
}

/** The parameters of a language model from a scalar-head model's (drops `score.weight`). */
export function withoutScalarHead(params: Map<string, Float32Array>): Map<string, Float32Array> {
  const out = new Map(params);
  out.delete("score.weight");
  return out;
}

/** Token rows of a batch: B·T ids (right-padded with `pad`) and each row's last index. */
export interface SequenceBatch {
  inputs: Uint32Array;
  /** Index (0..T−1) of each given row's last token. */
  last: number[];
}

/**
 * Packs up to B sequences into B rows of T (right-padded: a causal model's earlier positions do
 * not see the padding). A sequence longer than T keeps its first T tokens.
 */
export function packSequences(
  seqs: readonly (readonly number[])[],
  B: number,
  T: number,
  pad = 0,
): SequenceBatch {
  if (seqs.length > B) throw new RangeError(`${seqs.length} sequences do not fit ${B} rows`);
  const inputs = new Uint32Array(B * T).fill(pad);
  const last: number[] = [];
  seqs.forEach((s, b) => {
    if (s.length === 0) throw new RangeError("Every sequence needs at least one token");
    const n = Math.min(s.length, T);
    inputs.set(s.slice(0, n), b * T);
    last.push(n - 1);
  });
  return { inputs, last };
}

/** Reads the values (B,T) of a scalar-head model with a forward-only graph. */
export class ValueReader {
  /** The forward-only graph. */
  readonly graph: Graph;
  #staging: GPUBuffer;

  /** A reader of `gpt` (scalar head) for (B, T) batches. */
  constructor(gpt: Gpt, shape: { B: number; T: number }) {
    if (gpt.config.head !== "scalar") throw new Error("ValueReader needs the scalar head");
    this.graph = new Graph(gpt, { ...shape, training: false });
    this.#staging = gpt.gpu.device.createBuffer({
      label: "values readback",
      size: Math.ceil((shape.B * shape.T) / 4) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Values (B·T) of B·T input ids. One wait on the GPU. */
  async values(inputs: Uint32Array): Promise<Float32Array> {
    const g = this.graph;
    const gpu = g.gpt.gpu;
    const n = g.B * g.T;
    if (inputs.length !== n) {
      throw new RangeError(`Batch holds ${inputs.length} tokens; the graph takes ${n}`);
    }
    const t = g.io.get("inputs");
    gpu.device.queue.writeBuffer(t.buffer, t.offset, inputs as Uint32Array<ArrayBuffer>);
    const enc = gpu.device.createCommandEncoder({ label: "values" });
    const pass = enc.beginComputePass();
    encodeOps(pass, g.forward);
    pass.end();
    const v = g.acts.get("values");
    enc.copyBufferToBuffer(v.buffer, v.offset, this.#staging, 0, n * 4);
    gpu.device.queue.submit([enc.finish()]);
    await this.#staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(this.#staging.getMappedRange(0, n * 4).slice(0));
    this.#staging.unmap();
    throwUncapturedErrors();
    return out;
  }

  /** The value at the last token of each sequence (its reward), B sequences per forward pass. */
  async scores(seqs: readonly (readonly number[])[], pad = 0): Promise<number[]> {
    const { B, T } = this.graph;
    const out: number[] = [];
    for (let i = 0; i < seqs.length; i += B) {
      const batch = packSequences(seqs.slice(i, i + B), B, T, pad);
      const v = await this.values(batch.inputs);
      batch.last.forEach((l, b) => out.push(v[b * T + l]));
    }
    return out;
  }

  /** Frees the graph. */
  destroy(): void {
    this.graph.destroy();
    this.#staging.destroy();
  }
}

/** Options of the reward-model loss. */
export interface RewardLossOptions {
  /** Required reward gap: −log σ(r_c − r_r − margin). Default 0. */
  margin?: number;
  /** Coefficient of the centring term (r_c + r_r)². Default 0. */
  centerCoef?: number;
}

/** What one reward-model step reports. */
export interface RewardStepStats {
  /** Mean loss over the step's pairs. */
  loss: number;
  /** Fraction of pairs with r_chosen > r_rejected (before the step). */
  accuracy: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/**
 * Trains a reward model (scalar head) with the Bradley–Terry loss, B/2 pairs per step: rows 2i and
 * 2i + 1 hold pair i's chosen and rejected sequence. The values are read back, the loss and its
 * gradient (nonzero only at each row's last token) are computed on the CPU, and the trainer's
 * backward pass runs from them.
 */
export class RewardModelTrainer {
  /** The scalar-head model's engine. */
  readonly trainer: Trainer;
  /** The id that pads rows. */
  readonly pad: number;

  /** Trains the scalar-head model of `trainer` (B even); rows are padded with `pad`. */
  constructor(trainer: Trainer, pad = 0) {
    if (trainer.graph.B % 2 !== 0) throw new RangeError("A reward-model batch needs an even B");
    this.trainer = trainer;
    this.pad = pad;
  }

  /** Pairs per step. */
  get pairsPerStep(): number {
    return this.trainer.graph.B / 2;
  }

  #pack(pairs: readonly EncodedPair[]): SequenceBatch {
    const { B, T } = this.trainer.graph;
    return packSequences(pairs.flatMap((p) => [p.chosen.ids, p.rejected.ids]), B, T, this.pad);
  }

  /** One optimizer step on up to B/2 pairs. */
  async step(
    pairs: readonly EncodedPair[],
    hyper: StepHyper,
    options: RewardLossOptions = {},
  ): Promise<RewardStepStats> {
    if (pairs.length === 0 || pairs.length > this.pairsPerStep) {
      throw new RangeError(`A step takes 1 to ${this.pairsPerStep} pairs, got ${pairs.length}`);
    }
    const { T } = this.trainer.graph;
    const batch = this.#pack(pairs);
    const values = await this.trainer.forwardValues(batch);
    const dvalues = new Float32Array(values.length);
    let loss = 0, correct = 0;
    for (let i = 0; i < pairs.length; i++) {
      const ic = 2 * i * T + batch.last[2 * i], ir = (2 * i + 1) * T + batch.last[2 * i + 1];
      const l = bradleyTerry(values[ic], values[ir], options.margin ?? 0, options.centerCoef ?? 0);
      loss += l.loss;
      if (values[ic] > values[ir]) correct++;
      dvalues[ic] = l.dChosen / pairs.length;
      dvalues[ir] = l.dRejected / pairs.length;
    }
    const { gradNorm } = await this.trainer.submitValueGradient(dvalues, hyper);
    return { loss: loss / pairs.length, accuracy: correct / pairs.length, gradNorm };
  }

  /** Rewards (chosen, rejected) of pairs under the current parameters, B/2 pairs per pass. */
  async rewards(pairs: readonly EncodedPair[]): Promise<[number, number][]> {
    const { T } = this.trainer.graph;
    const out: [number, number][] = [];
    for (let i = 0; i < pairs.length; i += this.pairsPerStep) {
      const chunk = pairs.slice(i, i + this.pairsPerStep);
      const batch = this.#pack(chunk);
      const v = await this.trainer.forwardValues(batch);
      chunk.forEach((_, j) => {
        out.push([v[2 * j * T + batch.last[2 * j]], v[(2 * j + 1) * T + batch.last[2 * j + 1]]]);
      });
    }
    return out;
  }

  /** Fraction of pairs whose chosen reward is higher (ties count as wrong). */
  async accuracy(pairs: readonly EncodedPair[]): Promise<number> {
    if (pairs.length === 0) return NaN;
    const r = await this.rewards(pairs);
    return r.filter(([c, rj]) => c > rj).length / r.length;
  }
}
