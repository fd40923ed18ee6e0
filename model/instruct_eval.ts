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
 * Generation is greedy, with the KV-cache decoder of model/decode.ts.
 *
 * @module
 */
import { extractResponse, formatPrompt } from "../data/template.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { judge, type Judgement } from "../data/world/mod.ts";
import type { Gpt } from "./gpt.ts";
import { Decoder } from "./decode.ts";

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

/**
 * Greedy continuations of many prompts, `rows` at a time.
 * @deprecated Use `Decoder` (model/decode.ts) with `temperature: 0`; this wrapper stays while the
 * SFT stage uses it.
 */
export class GreedyGenerator {
  readonly gpt: Gpt;
  /** Rows generated together. */
  readonly rows: number;
  /** The decoder it runs. */
  readonly decoder: Decoder;

  constructor(gpt: Gpt, rows = 1) {
    this.gpt = gpt;
    this.rows = Math.max(1, rows);
    this.decoder = new Decoder(gpt, { rows: this.rows });
  }

  /**
   * Greedy new tokens after each prompt, up to `maxTokens` or `stopToken` (included in the
   * output).
   */
  async generate(
    prompts: readonly (readonly number[])[],
    options: { maxTokens: number; stopToken?: number },
  ): Promise<number[][]> {
    return (await this.decoder.generate(prompts, { ...options, temperature: 0 })).tokens;
  }

  /** Frees the decoder. */
  destroy(): void {
    this.decoder.destroy();
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
  /** A decoder to reuse (it is not destroyed); default: one made and freed here. */
  decoder?: Decoder;
  /** @deprecated A greedy generator to reuse: give `decoder` instead. */
  generator?: GreedyGenerator;
  /** Prompts generated together when no decoder is given. Default 1. */
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
  const given = options.decoder ?? options.generator?.decoder;
  const decoder = given ?? new Decoder(gpt, { rows: options.rows ?? 1 });
  try {
    const encoded = chosen.map((p) => tokenizer.encode(formatPrompt(p)));
    const outs = await decoder.generate(encoded, {
      maxTokens,
      temperature: 0,
      stopToken: tokenizer.eot,
    });
    const judged = chosen.map((p, i) => judgeResponse(tokenizer, p, outs.tokens[i]));
    if (options.onResponse) judged.forEach(options.onResponse);
    return scoreResponses(judged);
  } finally {
    if (!given) decoder.destroy();
  }
}
