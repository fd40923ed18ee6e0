/**
 * {@linkcode InstructionProbe}: what SFT watches while it trains, the instruction-following
 * metrics of greedy answers to held-out prompts (model/instruct_eval.ts) and a short sample.
 *
 * @module
 */
import type { Tokenizer } from "../data/tokenizer.ts";
import { formatPrompt } from "../data/template.ts";
import type { Gpt } from "../model/gpt.ts";
import { Sampler } from "../model/generate.ts";
import {
  evaluateInstructions,
  GreedyGenerator,
  type InstructMetrics,
} from "../model/instruct_eval.ts";

/** Options of {@linkcode InstructionProbe}. */
export interface InstructionProbeOptions {
  /** Held-out prompts (texts) of the metrics (none: no metrics). */
  prompts: readonly string[];
  /** Maximum tokens of each answer. Default 80. */
  maxTokens?: number;
  /** The instruction of the sample (default: the first prompt, answered by the metrics). */
  samplePrompt?: string;
  /** Maximum tokens of the sample when it has its own prompt. Default 48. */
  sampleTokens?: number;
}

/**
 * Measures a model's instruction following on held-out prompts (8 at a time, greedy) and answers
 * one sample prompt: the metrics' own answer to it when it is their first prompt.
 *
 * @example
 * ```ts
 * import { getGpu, InstructionProbe, loadModel } from "../mod.ts";
 *
 * const gpu = await getGpu();
 * const sft = await loadModel(gpu, "checkpoints/sft");
 * const probe = new InstructionProbe(sft.gpt, sft.tokenizer, { prompts: ["Give 3 tips for better sleep"] });
 * console.log(await probe.metrics(), await probe.sample());
 * ```
 */
export class InstructionProbe {
  readonly #gpt: Gpt;
  readonly #tokenizer: Tokenizer;
  readonly #options: InstructionProbeOptions;
  readonly #generator: GreedyGenerator | undefined;
  #sampler: Sampler | undefined;
  readonly #samplePrompt: string;
  #answer = "";

  /** A probe of `gpt`. */
  constructor(gpt: Gpt, tokenizer: Tokenizer, options: InstructionProbeOptions) {
    this.#gpt = gpt;
    this.#tokenizer = tokenizer;
    this.#options = options;
    const first = options.prompts[0];
    this.#generator = first !== undefined ? new GreedyGenerator(gpt, 8) : undefined;
    this.#samplePrompt = options.samplePrompt || first || "";
  }

  /** The metrics of greedy answers to the prompts (undefined without prompts). */
  async metrics(): Promise<InstructMetrics | undefined> {
    const prompts = this.#options.prompts;
    if (!this.#generator) return undefined;
    return await evaluateInstructions(this.#gpt, this.#tokenizer, prompts, {
      maxTokens: this.#options.maxTokens ?? 80,
      limit: 0,
      generator: this.#generator,
      onResponse: (r) => {
        if (r.prompt === prompts[0]) this.#answer = r.response;
      },
    });
  }

  /** "prompt → answer": the last metrics' answer, or a greedy answer of its own. */
  async sample(): Promise<string> {
    if (this.#samplePrompt === this.#options.prompts[0]) {
      return `${this.#samplePrompt} → ${this.#answer}`;
    }
    const tokenizer = this.#tokenizer;
    this.#sampler ??= new Sampler(this.#gpt);
    const ids = await this.#sampler.generate(tokenizer.encode(formatPrompt(this.#samplePrompt)), {
      maxTokens: this.#options.sampleTokens ?? 48,
      temperature: 0,
      stopToken: tokenizer.eot,
    });
    return `${this.#samplePrompt} → ${tokenizer.decode(ids)}`;
  }

  /** Frees the generators. */
  destroy(): void {
    this.#generator?.destroy();
  }
}
