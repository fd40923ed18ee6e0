/**
 * Instruction-following metrics: greedy responses to held-out prompts of the instruction world,
 * scored by the world's gold judge. Used by SFT during training and by the pipeline's evaluation.
 *
 * Metrics (means over the prompts):
 * - `format_compliance`: the response is a numbered list (the judge's `format`),
 * - `count_ok`: the list has the requested number of items (the judge's `count`),
 * - `ends_with_eot`: generation stopped with end-of-text within the token budget,
 * - `gold_score`: the judge's score in [0, 1],
 * - `mean_length`: response length in tokens (end-of-text not counted).
 *
 * Generation is greedy, without a KV cache: each new token runs the forward pass over the window,
 * in a graph only as long as the window needs (see {@linkcode GreedyGenerator}).
 *
 * @module
 */
import { throwUncapturedErrors } from "../gpu/device.ts";
import { encodeOps } from "../gpu/kernel.ts";
import { extractResponse, formatPrompt } from "../data/template.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { judge, type Judgement } from "../data/world/mod.ts";
import { type Gpt, Graph } from "./gpt.ts";

/** The metrics of {@linkcode evaluateInstructions}; the key names are shared with reports. */
export interface InstructMetrics {
  format_compliance: number;
  count_ok: number;
  ends_with_eot: number;
  gold_score: number;
  mean_length: number;
}

/** The metric names, in report order. */
export const INSTRUCT_METRICS: readonly (keyof InstructMetrics)[] = [
  "format_compliance",
  "count_ok",
  "ends_with_eot",
  "gold_score",
  "mean_length",
];

/** One judged response. */
export interface JudgedResponse {
  /** The raw prompt (no template). */
  prompt: string;
  /** The response text (up to end-of-text or a new instruction header, trimmed). */
  response: string;
  /** Generated tokens, without the end-of-text. */
  tokens: number;
  endsWithEot: boolean;
  judgement: Judgement;
}

/** Window lengths of the generation graphs are multiples of this (capped at the context). */
const WINDOW_STEP = 32;

/**
 * Greedy continuations of many prompts, a batch of rows at a time. Each pass runs a graph just
 * long enough for the longest active window (a multiple of 32 tokens), since causal attention
 * makes later positions irrelevant: short sequences cost less than a full-context pass.
 */
export class GreedyGenerator {
  readonly gpt: Gpt;
  /** Rows generated per forward pass. */
  readonly rows: number;
  #graphs = new Map<number, Graph>();
  #staging: GPUBuffer;

  /**
   * `rows` prompts are generated together (fewer when the logits of `rows` full windows would
   * pass 128 MiB).
   */
  constructor(gpt: Gpt, rows = 1) {
    const { context: T, vocabSize: V } = gpt.config;
    this.rows = Math.max(1, Math.min(rows, Math.floor((128 << 20) / (T * V * 4))));
    this.gpt = gpt;
    this.#staging = gpt.gpu.device.createBuffer({
      label: "greedy logits",
      size: this.rows * V * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  #graph(length: number): Graph {
    const T = Math.min(this.gpt.config.context, Math.ceil(length / WINDOW_STEP) * WINDOW_STEP);
    let g = this.#graphs.get(T);
    if (!g) {
      g = new Graph(this.gpt, { B: this.rows, T, training: false });
      this.#graphs.set(T, g);
    }
    return g;
  }

  /** Logits (V) after each sequence (at most `rows` of them, each seen through its last context). */
  async #nextLogits(seqs: readonly number[][]): Promise<Float32Array[]> {
    const gpu = this.gpt.gpu, V = this.gpt.config.vocabSize;
    const windows = seqs.map((s) => s.slice(-this.gpt.config.context));
    const g = this.#graph(Math.max(...windows.map((w) => w.length)));
    const T = g.T;
    const inputs = new Uint32Array(g.B * T);
    windows.forEach((w, b) => inputs.set(w, b * T));
    const t = g.io.get("inputs");
    gpu.device.queue.writeBuffer(t.buffer, t.offset, inputs);
    const enc = gpu.device.createCommandEncoder({ label: "greedy" });
    const pass = enc.beginComputePass();
    encodeOps(pass, g.forward);
    pass.end();
    const logits = g.acts.get("logits");
    windows.forEach((w, b) => {
      enc.copyBufferToBuffer(
        logits.buffer,
        logits.offset + (b * T + w.length - 1) * V * 4,
        this.#staging,
        b * V * 4,
        V * 4,
      );
    });
    gpu.device.queue.submit([enc.finish()]);
    await this.#staging.mapAsync(GPUMapMode.READ, 0, seqs.length * V * 4);
    const all = new Float32Array(this.#staging.getMappedRange(0, seqs.length * V * 4).slice(0));
    this.#staging.unmap();
    throwUncapturedErrors();
    return seqs.map((_, b) => all.subarray(b * V, (b + 1) * V));
  }

  /**
   * Greedy new tokens after each prompt, up to `maxTokens` or `stopToken` (included in the
   * output). Rows that stopped are left out of later passes.
   */
  async generate(
    prompts: readonly (readonly number[])[],
    options: { maxTokens: number; stopToken?: number },
  ): Promise<number[][]> {
    const out: number[][] = prompts.map(() => []);
    for (const p of prompts) {
      if (p.length === 0) throw new RangeError("Generation needs at least one prompt token");
    }
    for (let first = 0; first < prompts.length; first += this.rows) {
      let active = prompts.slice(first, first + this.rows).map((_, k) => first + k);
      for (let step = 0; step < options.maxTokens && active.length > 0; step++) {
        const logits = await this.#nextLogits(active.map((i) => [...prompts[i], ...out[i]]));
        const still: number[] = [];
        active.forEach((i, b) => {
          const l = logits[b];
          let best = 0;
          for (let v = 1; v < l.length; v++) if (l[v] > l[best]) best = v;
          out[i].push(best);
          if (best !== options.stopToken) still.push(i);
        });
        active = still;
      }
    }
    return out;
  }

  /** Frees the graphs. */
  destroy(): void {
    for (const g of this.#graphs.values()) g.destroy();
    this.#graphs.clear();
    this.#staging.destroy();
  }
}

/** `limit` prompts spread evenly over `prompts` (all of them when `limit` is 0 or larger). */
export function selectPrompts(prompts: readonly string[], limit: number): string[] {
  if (limit <= 0 || limit >= prompts.length) return [...prompts];
  return Array.from({ length: limit }, (_, i) => prompts[Math.floor((i * prompts.length) / limit)]);
}

/** Judges one generated continuation of `prompt`. */
export function judgeResponse(
  tokenizer: Tokenizer,
  prompt: string,
  ids: readonly number[],
): JudgedResponse {
  const eot = ids.indexOf(tokenizer.eot);
  const body = eot >= 0 ? ids.slice(0, eot) : [...ids];
  const response = extractResponse(tokenizer.decode(body));
  return {
    prompt,
    response,
    tokens: body.length,
    endsWithEot: eot >= 0,
    judgement: judge(prompt, response),
  };
}

/** The metrics of judged responses (all zero for none). */
export function scoreResponses(responses: readonly JudgedResponse[]): InstructMetrics {
  const n = responses.length;
  const mean = (f: (r: JudgedResponse) => number) =>
    n === 0 ? 0 : responses.reduce((s, r) => s + f(r), 0) / n;
  return {
    format_compliance: mean((r) => (r.judgement.format ? 1 : 0)),
    count_ok: mean((r) => (r.judgement.count ? 1 : 0)),
    ends_with_eot: mean((r) => (r.endsWithEot ? 1 : 0)),
    gold_score: mean((r) => r.judgement.score),
    mean_length: mean((r) => r.tokens),
  };
}

/** Options of {@linkcode evaluateInstructions}. */
export interface InstructEvalOptions {
  /** Maximum new tokens per response. Default 80. */
  maxTokens?: number;
  /** Number of prompts, spread evenly over the list (0: all). Default 16. */
  limit?: number;
  /** A generator to reuse (it is not destroyed); default: one made and freed here. */
  generator?: GreedyGenerator;
  /** Prompts generated together when no generator is given. Default 1. */
  rows?: number;
  /** Receives every judged response (for samples and reports). */
  onResponse?: (r: JudgedResponse) => void;
}

/**
 * Generates a greedy response (temperature 0, stop at end-of-text) to each of `limit` prompts with
 * the chat template, judges it with the instruction world's gold judge and returns the metrics.
 */
export async function evaluateInstructions(
  gpt: Gpt,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  options: InstructEvalOptions = {},
): Promise<InstructMetrics> {
  const { maxTokens = 80, limit = 16 } = options;
  const chosen = selectPrompts(prompts, limit);
  const generator = options.generator ?? new GreedyGenerator(gpt, options.rows ?? 1);
  try {
    const encoded = chosen.map((p) => tokenizer.encode(formatPrompt(p)));
    const outs = await generator.generate(encoded, { maxTokens, stopToken: tokenizer.eot });
    const judged = chosen.map((p, i) => judgeResponse(tokenizer, p, outs[i]));
    if (options.onResponse) judged.forEach(options.onResponse);
    return scoreResponses(judged);
  } finally {
    if (!options.generator) generator.destroy();
  }
}
