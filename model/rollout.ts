/**
 * Batched generation with sampling on the CPU: B prompts at once, each row with its own length,
 * one wait on the GPU and a read of B rows of logits per new token. The decoder of
 * model/decode.ts samples on the GPU instead and reads back once per many tokens; this one stays
 * only while the RLHF stage still uses it.
 *
 * @module
 */
import { throwUncapturedErrors } from "../gpu/device.ts";
import { assertNoGpuErrors, encodeOps } from "../gpu/kernel.ts";
import { Rng } from "../data/rng.ts";
import type { Gpt } from "./gpt.ts";
import { sampleToken } from "./generate.ts";
import { KvStep, type KvStepOptions } from "./kv_step.ts";

/** Sampling settings of a batch of rollouts. */
export interface RolloutOptions {
  /** Maximum number of new tokens per row. */
  maxTokens: number;
  /** 0 means greedy. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0: all). Default 0. */
  topK?: number;
  /** Nucleus sampling threshold (1: all). Default 1. */
  topP?: number;
  /** RNG of the sampling. */
  rng?: Rng;
  /** A row stops after this token (it is included in its output). */
  stopToken?: number;
}

/** The generated continuations of a batch. */
export interface Rollout {
  /** New tokens of each row (the prompt is not included; the stop token is, when produced). */
  tokens: number[][];
  /** Whether each row ended with the stop token. */
  finished: boolean[];
  /** The prompt ids each row actually used (a prompt longer than the context loses its start). */
  prompts: number[][];
}

/** Options of {@linkcode Generator}. */
export type GeneratorOptions = KvStepOptions;

/**
 * Generates continuations of up to B prompts at once with a KV cache, sampling on the CPU.
 * @deprecated Use `Decoder` (model/decode.ts), which samples on the GPU.
 */
export class Generator {
  readonly gpt: Gpt;
  readonly B: number;
  readonly #step: KvStep;
  readonly #staging: GPUBuffer;

  constructor(gpt: Gpt, B: number, options: GeneratorOptions = {}) {
    this.gpt = gpt;
    this.B = B;
    this.#step = new KvStep(gpt, B, options);
    this.#staging = gpt.gpu.device.createBuffer({
      label: "rollout logits",
      size: Math.ceil((B * gpt.config.vocabSize) / 4) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Waits until every kernel built so far is known to be valid. */
  async ready(): Promise<void> {
    await assertNoGpuErrors();
  }

  async #readLogits(enc: GPUCommandEncoder): Promise<Float32Array> {
    const gpu = this.gpt.gpu;
    const n = this.B * this.gpt.config.vocabSize;
    const lg = this.#step.logits;
    enc.copyBufferToBuffer(lg.buffer, lg.offset, this.#staging, 0, n * 4);
    gpu.device.queue.submit([enc.finish()]);
    await this.#staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(this.#staging.getMappedRange(0, n * 4).slice(0));
    this.#staging.unmap();
    throwUncapturedErrors();
    return out;
  }

  /**
   * Continues up to B prompts (token ids, each non-empty). Rows stop at the stop token, after
   * `maxTokens` new tokens, or when the context is full. One wait on the GPU per new token.
   */
  async generate(
    prompts: readonly (readonly number[])[],
    options: RolloutOptions,
  ): Promise<Rollout> {
    const B = this.B;
    if (prompts.length === 0 || prompts.length > B) {
      throw new RangeError(`Generator takes 1 to ${B} prompts, got ${prompts.length}`);
    }
    const gpu = this.gpt.gpu;
    const { context: ctx, vocabSize: V } = this.gpt.config;
    const rows = prompts.map((p) => {
      if (p.length === 0) throw new RangeError("Every prompt needs at least one token");
      return p.slice(-(ctx - 1));
    });
    const step = this.#step;
    let enc = gpu.device.createCommandEncoder({ label: "prefill" });
    step.encodePrefill(enc, rows);
    let all = await this.#readLogits(enc);
    const rng = options.rng ?? new Rng(Date.now());
    const sampling = {
      temperature: options.temperature ?? 1,
      topK: options.topK ?? 0,
      topP: options.topP ?? 1,
      rng,
    };
    const out: number[][] = rows.map(() => []);
    const finished = rows.map(() => false);
    const active = rows.map(() => true);
    const tokens = new Uint32Array(B);
    const pos = new Uint32Array(B);
    const q = gpu.device.queue;
    for (;;) {
      let any = false;
      for (let b = 0; b < rows.length; b++) {
        if (!active[b]) continue;
        const id = sampleToken(all.subarray(b * V, (b + 1) * V), sampling);
        out[b].push(id);
        const length = rows[b].length + out[b].length;
        if (id === options.stopToken) {
          finished[b] = true;
          active[b] = false;
        } else if (out[b].length >= options.maxTokens || length >= ctx) active[b] = false;
        else any = true;
        tokens[b] = id;
        pos[b] = Math.min(length - 1, ctx - 1);
      }
      if (!any) break;
      q.writeBuffer(step.tokens.buffer, step.tokens.offset, tokens);
      q.writeBuffer(step.pos.buffer, step.pos.offset, pos);
      enc = gpu.device.createCommandEncoder({ label: "decode" });
      const pass = enc.beginComputePass();
      encodeOps(pass, step.ops);
      pass.end();
      all = await this.#readLogits(enc);
    }
    return { tokens: out, finished, prompts: rows };
  }

  /** Frees the GPU memory. */
  destroy(): void {
    this.#step.destroy();
    this.#staging.destroy();
  }
}
