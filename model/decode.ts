/**
 * The decoder: KV-cache generation with the next token chosen on the GPU, for greedy answers,
 * sampling, batched rollouts (prompts of different lengths), evaluation and streaming.
 *
 * A submit holds many decoding steps: the prompts' forward pass fills the cache (model/kv_step.ts),
 * then each step embeds every row's last token at its own position, runs the model, and picks the
 * next token on the GPU (kernels/sample.ts), which the next step embeds: the ids never leave the
 * GPU. A row ends at the stop token (included in its output), after `maxTokens` new tokens, or when
 * the context is full; an ended row writes padding, and once every row has ended the steps still
 * queued dispatch their ops with no workgroups (kernels/sample.ts, `decodeGate`). Every
 * `tokensPerSubmit` steps one small readback brings the new ids and their log-probabilities, and
 * the next submit is already queued behind it. Greedy decoding gives the tokens of the CPU sampler over a full recomputation;
 * sampling draws from a counter-based RNG of (seed, prompt, position), so its tokens do not depend
 * on `tokensPerSubmit` or on the number of rows decoded together.
 *
 * @example Greedy and sampled continuations
 * ```ts
 * import { Decoder, getGpu, Gpt } from "./mod.ts";
 *
 * const gpu = await getGpu();
 * const gpt = Gpt.create(gpu, { vocabSize: 64, context: 32, layers: 2, heads: 2, width: 32 });
 * const decoder = new Decoder(gpt, { rows: 2 });
 * const greedy = await decoder.generate([[1, 2, 3], [4]], { maxTokens: 8, temperature: 0 });
 * const sampled = await decoder.generate([[1, 2, 3]], { maxTokens: 8, topK: 10, seed: 7 });
 * console.log(greedy.tokens, sampled.tokens, sampled.logprobs);
 * for await (const chunk of decoder.stream([[5, 6]], { maxTokens: 8, tokensPerSubmit: 2 })) {
 *   console.log(chunk.tokens[0]); // the new ids of the prompt
 * }
 * decoder.destroy();
 * ```
 *
 * @module
 */
import { throwUncapturedErrors } from "../gpu/device.ts";
import { assertNoGpuErrors, encodeOps, type Op } from "../gpu/kernel.ts";
import {
  decodeGate,
  encodeGated,
  type GatedOps,
  PAD,
  ROW,
  sampleNext,
  sampleParams,
  sampleSettingsBuffer,
} from "../kernels/sample.ts";
import type { AttentionMode, Gpt } from "./gpt.ts";
import { KvStep } from "./kv_step.ts";
import { TensorTable } from "./tensors.ts";

/** Options of a {@linkcode Decoder}: its batch and how its prompts' forward pass runs. */
export interface DecoderOptions {
  /** Prompts decoded together (the batch of the cache and of every step). Default 1. */
  rows?: number;
  /**
   * Largest tensor one binding may hold, in bytes (default: the adapter's limit): a larger token
   * embedding is bound in pieces of token ids. Tests set it low to exercise the split.
   */
  maxBindingBytes?: number;
  /** The prompts' forward pass: attention with its probabilities kept or recomputed. */
  attention?: AttentionMode;
}

/** How to decode: one options type for greedy answers, sampling, rollouts and streaming. */
export interface DecodeOptions {
  /** Maximum new tokens per prompt (fewer when the context fills first). */
  maxTokens: number;
  /** 0: greedy (the argmax, ties to the lowest id). Default 1. */
  temperature?: number;
  /** Draw from the k most likely ids only (0: all). Default 0. */
  topK?: number;
  /** Draw from the shortest run of most likely ids whose probability reaches p (1: all). Default 1. */
  topP?: number;
  /**
   * The RNG's seed (a u32). Default 0. The draw for prompt i's token at position t depends on
   * (seed, i, t) alone: a run continued from its prompt and tokens so far, with the same seed,
   * draws what it would have drawn.
   */
  seed?: number;
  /** A row ends after this token (included in its output). */
  stopToken?: number;
  /**
   * Decoding steps per submit, and per readback of ids and log-probabilities. Default 64: each
   * readback costs a wait, and steps queued after every row has ended cost next to nothing (their
   * ops are dispatched with no workgroups); streaming wants a few
   * ({@linkcode STREAMING_TOKENS_PER_SUBMIT}).
   */
  tokensPerSubmit?: number;
}

/** The continuations of some prompts. */
export interface Decoded {
  /** New tokens of each prompt (the stop token included when produced). */
  tokens: number[][];
  /**
   * log p of each new token under softmax(logits / T) over the whole vocabulary (T = 1 when
   * greedy): the policy's log-probability that PPO needs. Top-k and top-p cut the draw, not this.
   */
  logprobs: number[][];
  /** Whether each prompt's continuation ended with the stop token. */
  finished: boolean[];
  /** The prompt ids each row used (a prompt longer than the context loses its start). */
  prompts: number[][];
}

/** What one readback brings: the new tokens of the prompts [first, first + tokens.length). */
export interface DecodedChunk {
  /** Index of the chunk's first prompt among the prompts given. */
  first: number;
  /** New tokens of each of these prompts since the last chunk (possibly none). */
  tokens: number[][];
  /** Their log-probabilities (see {@linkcode Decoded.logprobs}). */
  logprobs: number[][];
  /** Whether each of these prompts has ended (stop token, limit or full context). */
  ended: boolean[];
  /** Whether each ended with the stop token. */
  finished: boolean[];
  /** The prompt ids each row used. */
  prompts: number[][];
}

/** Default of {@linkcode DecodeOptions.tokensPerSubmit}. */
const TOKENS_PER_SUBMIT = 64;
/** {@linkcode DecodeOptions.tokensPerSubmit} for text shown as it comes (chat, `sample`). */
export const STREAMING_TOKENS_PER_SUBMIT = 4;

/** Generates continuations of prompts, `rows` at a time, with a KV cache and GPU sampling. */
export class Decoder {
  /** The model it decodes with. */
  readonly gpt: Gpt;
  /** Prompts decoded together. */
  readonly rows: number;
  readonly #step: KvStep;
  readonly #state: TensorTable;
  readonly #settings: GPUBuffer;
  readonly #gated: GatedOps;
  #columns = 0;
  #out: TensorTable | undefined;
  #sample: Op | undefined;
  #staging: GPUBuffer[] = [];
  #busy = false;

  /** Builds the cache, the decoding step and the sampler for `options.rows` rows (default 1). */
  constructor(gpt: Gpt, options: DecoderOptions = {}) {
    const rows = options.rows ?? 1;
    if (!Number.isInteger(rows) || rows < 1) {
      throw new RangeError(`Decoder rows must be a positive integer, got ${rows}`);
    }
    this.gpt = gpt;
    this.rows = rows;
    this.#step = new KvStep(gpt, rows, options);
    this.#state = TensorTable.create(gpt.gpu, `decode state ${rows}`, [
      { name: "rows", shape: [rows, 4] },
    ]);
    this.#settings = sampleSettingsBuffer(gpt.gpu, "decode settings");
    this.#gated = decodeGate(gpt.gpu, {
      rows: this.#state.get("rows"),
      ops: this.#step.ops,
      B: rows,
    });
    this.#ensureColumns(TOKENS_PER_SUBMIT);
  }

  /** Waits until every kernel built so far is known to be valid. */
  async ready(): Promise<void> {
    await assertNoGpuErrors();
  }

  /** Room for N columns of ids and log-probabilities per readback (the sampling op binds it). */
  #ensureColumns(N: number): void {
    if (N <= this.#columns) return;
    const gpu = this.gpt.gpu;
    const B = this.rows;
    this.#out?.destroy();
    for (const s of this.#staging) s.destroy();
    this.#columns = N;
    this.#out = TensorTable.create(gpu, `decode out ${B}x${N}`, [{
      name: "out",
      shape: [2, B, N],
    }]);
    this.#staging = [0, 1].map((k) =>
      gpu.device.createBuffer({
        label: `decode readback ${k}`,
        size: Math.ceil((2 * B * N) / 4) * 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      })
    );
    this.#sample = sampleNext(gpu, {
      logits: this.#step.logits,
      tokens: this.#step.tokens,
      pos: this.#step.pos,
      rows: this.#state.get("rows"),
      out: this.#out.get("out"),
      settings: this.#settings,
      B,
      V: this.gpt.config.vocabSize,
      N,
    });
  }

  /** Continues every prompt (token ids, each non-empty), `rows` at a time. */
  async generate(
    prompts: readonly (readonly number[])[],
    options: DecodeOptions,
  ): Promise<Decoded> {
    const out: Decoded = { tokens: [], logprobs: [], finished: [], prompts: [] };
    for await (const c of this.stream(prompts, options)) {
      c.tokens.forEach((t, i) => {
        const j = c.first + i;
        out.tokens[j] ??= [];
        out.logprobs[j] ??= [];
        out.tokens[j].push(...t);
        out.logprobs[j].push(...c.logprobs[i]);
        out.finished[j] = c.finished[i];
        out.prompts[j] = c.prompts[i];
      });
    }
    return out;
  }

  /**
   * Continues every prompt, `rows` at a time, yielding each readback's new tokens as they come
   * (every `tokensPerSubmit` steps). Breaking out of the loop stops the decoding.
   */
  async *stream(
    prompts: readonly (readonly number[])[],
    options: DecodeOptions,
  ): AsyncGenerator<DecodedChunk> {
    const o = this.#validate(prompts, options);
    if (this.#busy) throw new Error("The decoder is already decoding: one call at a time");
    this.#busy = true;
    try {
      for (let first = 0; first < prompts.length; first += this.rows) {
        yield* this.#batch(prompts.slice(first, first + this.rows), first, o);
      }
    } finally {
      this.#busy = false;
    }
  }

  #validate(
    prompts: readonly (readonly number[])[],
    options: DecodeOptions,
  ): Required<DecodeOptions> {
    const V = this.gpt.config.vocabSize;
    const o = {
      temperature: 1,
      topK: 0,
      topP: 1,
      seed: 0,
      stopToken: PAD,
      tokensPerSubmit: TOKENS_PER_SUBMIT,
      ...options,
    };
    const int = (name: keyof DecodeOptions, min: number, max: number) => {
      const v = o[name];
      if (!Number.isInteger(v) || v < min || v > max) {
        throw new RangeError(`Decoding: ${name} must be an integer in [${min}, ${max}], got ${v}`);
      }
    };
    int("maxTokens", 1, 2 ** 31);
    int("topK", 0, 2 ** 31);
    int("seed", 0, 0xffffffff);
    int("tokensPerSubmit", 1, 4096);
    if (o.stopToken !== PAD) int("stopToken", 0, V - 1);
    if (!(o.temperature >= 0 && o.temperature < Infinity)) {
      throw new RangeError(
        `Decoding: temperature must be 0 (greedy) or positive, got ${o.temperature}`,
      );
    }
    if (!(o.topP > 0 && o.topP <= 1)) {
      throw new RangeError(`Decoding: topP must be in (0, 1], got ${o.topP}`);
    }
    if (prompts.length === 0) throw new RangeError("Decoding needs at least one prompt");
    prompts.forEach((p, i) => {
      if (p.length === 0) throw new RangeError(`Prompt ${i} is empty: it needs at least one token`);
      const bad = p.find((id) => !Number.isInteger(id) || id < 0 || id >= V);
      if (bad !== undefined) {
        throw new RangeError(`Prompt ${i} holds the id ${bad}, outside the vocabulary [0, ${V})`);
      }
    });
    return o;
  }

  async *#batch(
    prompts: readonly (readonly number[])[],
    first: number,
    o: Required<DecodeOptions>,
  ): AsyncGenerator<DecodedChunk> {
    const gpu = this.gpt.gpu;
    const q = gpu.device.queue;
    const B = this.rows;
    const { context: ctx, vocabSize: V } = this.gpt.config;
    const rows = prompts.map((p) => p.slice(-(ctx - 1)));
    const limits = rows.map((r) => Math.min(o.maxTokens, ctx - r.length));
    const steps = Math.max(...limits);
    const N = Math.min(o.tokensPerSubmit, steps);
    this.#ensureColumns(N);
    q.writeBuffer(
      this.#settings,
      0,
      sampleParams({ B, V, N }, {
        temperature: o.temperature,
        topK: o.topK,
        topP: o.topP,
        seed: o.seed,
        stop: o.stopToken,
        row0: first,
      }),
    );
    const state = new Uint32Array(4 * B), tokens = new Uint32Array(B), pos = new Uint32Array(B);
    for (let b = 0; b < B; b++) {
      const r = rows[b];
      state.set(r ? [0, 0, limits[b], ROW.running] : [0, 0, 0, ROW.unused], 4 * b);
      tokens[b] = r ? r[r.length - 1] : 0;
      pos[b] = r ? r.length - 1 : 0;
    }
    const st = this.#state.get("rows");
    q.writeBuffer(st.buffer, st.offset, state);
    q.writeBuffer(this.#step.tokens.buffer, this.#step.tokens.offset, tokens);
    q.writeBuffer(this.#step.pos.buffer, this.#step.pos.offset, pos);

    const chunks = Math.ceil(steps / N);
    const submit = (k: number) => {
      const enc = gpu.device.createCommandEncoder({ label: `decode ${k}` });
      if (k === 0) this.#step.encodePrefill(enc, rows);
      const pass = enc.beginComputePass();
      const n = Math.min(N, steps - k * N);
      for (let s = 0; s < n; s++) {
        if (k > 0 || s > 0) encodeGated(pass, this.#gated);
        encodeOps(pass, [this.#sample!]);
      }
      pass.end();
      const out = this.#out!.get("out");
      enc.copyBufferToBuffer(out.buffer, out.offset, this.#staging[k % 2], 0, 2 * B * N * 4);
      q.submit([enc.finish()]);
    };
    const made = rows.map(() => 0);
    const ended = rows.map(() => false);
    const finished = rows.map(() => false);
    submit(0);
    for (let k = 0; k < chunks; k++) {
      // The next submit waits in the queue while this one is read.
      if (k + 1 < chunks) submit(k + 1);
      const staging = this.#staging[k % 2];
      await staging.mapAsync(GPUMapMode.READ);
      const words = new Uint32Array(staging.getMappedRange(0, 2 * B * N * 4).slice(0));
      staging.unmap();
      throwUncapturedErrors();
      const logps = new Float32Array(words.buffer, B * N * 4);
      const n = Math.min(N, steps - k * N);
      const tokens: number[][] = [], logprobs: number[][] = [];
      rows.forEach((_, b) => {
        const t: number[] = [], lp: number[] = [];
        for (let c = 0; c < n; c++) {
          const id = words[b * N + c];
          if (ended[b] || id === PAD) {
            // the GPU ends a row where the CPU does: padding after, and only after, its end
            if (ended[b] !== (id === PAD)) throw new Error(`Decoding: row ${b} ended out of step`);
            continue;
          }
          t.push(id);
          lp.push(logps[b * N + c]);
          made[b]++;
          finished[b] = id === o.stopToken;
          ended[b] = finished[b] || made[b] >= limits[b];
        }
        tokens.push(t);
        logprobs.push(lp);
      });
      yield { first, tokens, logprobs, ended: [...ended], finished: [...finished], prompts: rows };
      if (ended.every(Boolean)) break;
    }
  }

  /** Frees the GPU memory. */
  destroy(): void {
    this.#step.destroy();
    this.#state.destroy();
    this.#out?.destroy();
    for (const s of this.#staging) s.destroy();
    this.#settings.destroy();
    this.#gated.args.destroy();
    this.#gated.full.buffer.destroy();
  }
}
