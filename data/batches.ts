/**
 * Training and evaluation batches over a token stream: token shards (read window by window) or an
 * in-memory array.
 *
 * @example
 * ```ts
 * import { TokenBatches } from "./batches.ts";
 *
 * const data = new TokenBatches(Uint32Array.from({ length: 100 }, (_, i) => i), { seed: 7 });
 * const { inputs, targets } = data.nextBatch(2, 8); // (2, 8) each; targets[i] === inputs[i] + 1 here
 * const saved = data.state; // store in the checkpoint; `data.state = saved` replays the same batches
 * ```
 *
 * @module
 */

import { DataError } from "./errors.ts";
import { Rng } from "./rng.ts";
import { ShardReader } from "./shards.ts";

/** One batch: `inputs` and `targets` of shape (B, T), row-major. */
export interface Batch {
  /** (B, T) token ids. */
  inputs: Uint32Array;
  /** (B, T) next-token ids: `targets[b, t]` is the token after `inputs[b, t]`. */
  targets: Uint32Array;
}

/** A batch of {@linkcode TokenBatches.sequentialBatches}. */
export interface SequentialBatch extends Batch {
  /**
   * How many leading rows are new windows. The last batch of a pass may end with rows that wrap
   * around to the first windows (so every row holds real data); weight by `rows` to count each
   * window once.
   */
  rows: number;
}

/** Everything needed to continue the random batches exactly; JSON-serialisable. */
export interface BatchState {
  /** The random generator's state (u32). */
  rng: number;
  /** Number of tokens in the data the state belongs to (checked on restore). */
  tokens: number;
}

/** Options of {@linkcode TokenBatches}. */
export interface TokenBatchesOptions {
  /** Seed of the window sampler. Default 1337. */
  seed?: number;
  /** How errors name the data, for example `"Train split"`. */
  name?: string;
  /** When given, every shard's header must record this vocabulary size. */
  vocabSize?: number;
}

/**
 * Batches of next-token windows over a token stream: either token shard paths (their tokens
 * concatenated in order; windows may cross shard boundaries) or an in-memory Uint32Array.
 */
export class TokenBatches {
  /** Total number of tokens. */
  readonly tokens: number;
  /** The name used in error messages. */
  readonly name: string;
  #rng: Rng;
  #data: Uint32Array | undefined;
  #readers: ShardReader[] = [];
  /** `#starts[i]` is the global index of shard i's first token; one extra entry holds the total. */
  #starts: number[] = [0];

  /** Batches over token shard paths (read window by window) or in-memory tokens. */
  constructor(source: readonly string[] | Uint32Array, options: TokenBatchesOptions = {}) {
    this.#rng = new Rng(options.seed ?? 1337);
    if (source instanceof Uint32Array) {
      this.#data = source;
      this.tokens = source.length;
      this.name = options.name ?? "The token data";
      return;
    }
    this.name = options.name ??
      (source.length === 1
        ? `Token shard ${source[0]}`
        : `The ${source.length} token shards${source.length ? ` from ${source[0]}` : ""}`);
    try {
      for (const path of source) {
        const reader = ShardReader.open(path);
        this.#readers.push(reader);
        if (options.vocabSize !== undefined && reader.vocabSize !== options.vocabSize) {
          throw new DataError(
            `Token shard ${path} holds ids of a ${reader.vocabSize}-token vocabulary but the model has ${options.vocabSize}: prepare the corpus again with the model's tokenizer`,
          );
        }
        this.#starts.push(this.#starts[this.#starts.length - 1] + reader.count);
      }
    } catch (e) {
      this.close();
      throw e;
    }
    this.tokens = this.#starts[this.#starts.length - 1];
  }

  /**
   * B random windows of T + 1 consecutive tokens, drawn uniformly with the seeded generator:
   * `inputs` holds each window's first T tokens and `targets` its last T. Throws an Error when the
   * data has fewer than T + 1 tokens.
   */
  nextBatch(B: number, T: number): Batch {
    this.#checkShape(B, T);
    const inputs = new Uint32Array(B * T);
    const targets = new Uint32Array(B * T);
    const window = new Uint32Array(T + 1);
    const starts = this.tokens - T; // window start in [0, tokens - T - 1]
    for (let b = 0; b < B; b++) {
      this.#read(this.#randomIndex(starts), window);
      inputs.set(window.subarray(0, T), b * T);
      targets.set(window.subarray(1), b * T);
    }
    return { inputs, targets };
  }

  /** The state to save in a checkpoint; setting it continues with exactly the same batches. */
  get state(): BatchState {
    return { rng: this.#rng.state, tokens: this.tokens };
  }

  set state(state: BatchState) {
    const rng = state?.rng;
    if (!Number.isInteger(rng) || rng < 0 || rng > 0xffffffff) {
      throw new DataError(
        `Batch state ${
          JSON.stringify(state)
        } is malformed: it needs rng as a u32; use a state saved by TokenBatches`,
      );
    }
    if (state.tokens !== this.tokens) {
      throw new DataError(
        `${this.name} has ${this.tokens} tokens but the batch state was saved for ${state.tokens}: resume with the same data, or drop the saved batch state to start fresh`,
      );
    }
    this.#rng.state = rng;
  }

  /** The number of batches of one pass of {@linkcode TokenBatches.sequentialBatches}. */
  sequentialBatchCount(B: number, T: number): number {
    this.#checkShape(B, T);
    return Math.ceil(Math.floor((this.tokens - 1) / T) / B);
  }

  /**
   * One deterministic pass over the data for evaluation: windows `w = 0, 1, ...` of T + 1 tokens
   * starting at `w * T` (inputs do not overlap; each window's last target is the next window's first
   * input), B windows per batch, every full window once. The last batch is filled up with the first
   * windows again (see {@linkcode SequentialBatch.rows}). `maxBatches` stops the pass early.
   * Throws an Error when the data has fewer than T + 1 tokens.
   */
  *sequentialBatches(
    B: number,
    T: number,
    options: { maxBatches?: number } = {},
  ): Generator<SequentialBatch> {
    const count = Math.min(this.sequentialBatchCount(B, T), options.maxBatches ?? Infinity);
    const windows = Math.floor((this.tokens - 1) / T);
    const window = new Uint32Array(T + 1);
    for (let k = 0; k < count; k++) {
      const inputs = new Uint32Array(B * T);
      const targets = new Uint32Array(B * T);
      for (let b = 0; b < B; b++) {
        this.#read(((k * B + b) % windows) * T, window);
        inputs.set(window.subarray(0, T), b * T);
        targets.set(window.subarray(1), b * T);
      }
      yield { inputs, targets, rows: Math.min(B, windows - k * B) };
    }
  }

  /** Closes the shard files. */
  close(): void {
    for (const r of this.#readers) r.close();
    this.#readers = [];
  }

  /** Closes the shard files. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkShape(B: number, T: number): void {
    if (!Number.isInteger(B) || B < 1 || !Number.isInteger(T) || T < 1) {
      throw new RangeError(`Batch shape must be positive integers, got B=${B}, T=${T}`);
    }
    if (this.tokens < T + 1) {
      throw new DataError(
        `${this.name} has ${this.tokens} tokens; need at least T+1 = ${
          T + 1
        }: lower --context or add data`,
      );
    }
  }

  /** Uniform integer in [0, n). */
  #randomIndex(n: number): number {
    if (n <= 4294967296) return this.#rng.int(n);
    // Beyond 2^32 windows: a 53-bit uniform from two draws.
    const hi = this.#rng.nextU32() >>> 11, lo = this.#rng.nextU32();
    return Math.floor(((hi * 4294967296 + lo) / 2 ** 53) * n);
  }

  /** Reads tokens [start, start + out.length) of the concatenated stream into `out`. */
  #read(start: number, out: Uint32Array): void {
    if (this.#data) {
      out.set(this.#data.subarray(start, start + out.length));
      return;
    }
    if (this.#readers.length === 0 && this.#starts.length > 1) {
      throw new DataError(`${this.name} was closed`);
    }
    // The last shard whose first token is <= start.
    let lo = 0, hi = this.#starts.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid] <= start) lo = mid;
      else hi = mid - 1;
    }
    let filled = 0;
    for (let s = lo; filled < out.length; s++) {
      const reader = this.#readers[s];
      const from = start + filled - this.#starts[s];
      const n = Math.min(out.length - filled, reader.count - from);
      if (n > 0) reader.readInto(out.subarray(filled, filled + n), from);
      filled += n;
    }
  }
}
