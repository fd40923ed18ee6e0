/**
 * The metrics that compare the stages' checkpoints (`deno task eval`, `deno task pipeline`), all on
 * the instruction world's held-out data:
 *
 * - `val_loss`: response-only cross-entropy on the held-out instruction examples (the split SFT
 *   holds out),
 * - `format_compliance`, `gold_score`, `mean_length`: greedy answers to held-out prompts, judged by
 *   the world's gold judge (model/instruct_eval.ts),
 * - `rm_score`: the reward model's mean score of those greedy answers (when a reward model is
 *   given),
 * - `kl_to_sft`: mean per-token log-ratio log π(y) − log π_SFT(y) over responses sampled from the
 *   checkpoint (temperature 1): a Monte-Carlo estimate of KL(π ‖ π_SFT) per token (when an SFT
 *   model is given; 0 for the SFT checkpoint itself).
 *
 * @module
 */
import { formatPrompt } from "../data/template.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import {
  encodeInstructions,
  InstructionBatches,
  splitExamples,
  worldInstructions,
} from "../data/instructions.ts";
import { generateWorld } from "../data/world/mod.ts";
import { Evaluator, responseBatch, responseLogProbs, type ResponseSeq } from "./generate.ts";
import type { Gpt } from "./gpt.ts";
import { evaluateInstructions, type JudgedResponse, selectPrompts } from "./instruct_eval.ts";
import { ValueReader } from "./reward.ts";
import { Decoder } from "./decode.ts";

/** One checkpoint's row of the comparison table. */
export interface StageMetrics {
  val_loss: number;
  format_compliance: number;
  gold_score: number;
  rm_score: number;
  kl_to_sft: number;
  mean_length: number;
}

/** The metric names, in table order. */
export const STAGE_METRICS: readonly (keyof StageMetrics)[] = [
  "val_loss",
  "format_compliance",
  "gold_score",
  "rm_score",
  "kl_to_sft",
  "mean_length",
];

/** Options of {@linkcode evaluateStage}. */
export interface StageEvalOptions {
  /** Held-out prompts (default: the world's held-out prompts). */
  prompts?: readonly string[];
  /** Number of prompts used (spread over the list). Default 24. */
  limit?: number;
  /** Maximum new tokens per answer. Default 80. */
  maxTokens?: number;
  /** The reward model (scalar head) for `rm_score`. */
  reward?: Gpt;
  /** The SFT model for `kl_to_sft` (pass the same model to get 0). */
  sft?: Gpt;
  /** Rows generated together. Default 8. */
  rows?: number;
  /** Seed of the sampled responses of the KL estimate. */
  seed?: number;
  /** Receives every judged greedy answer. */
  onResponse?: (r: JudgedResponse) => void;
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Response-only loss on the held-out instruction examples (the validation split of SFT). */
export async function instructionValLoss(gpt: Gpt, tokenizer: Tokenizer): Promise<number> {
  const T = gpt.config.context;
  const { val } = splitExamples(worldInstructions(1), 0.05);
  const encoded = encodeInstructions(tokenizer, val, T + 1);
  const batches = new InstructionBatches(encoded, { T, pad: tokenizer.eot });
  const B = 8;
  const ev = new Evaluator(gpt, { B, T });
  try {
    let sum = 0, weight = 0;
    for (const b of batches.sequentialBatches(B)) {
      const w = b.weights.reduce((a, x) => a + x, 0);
      if (w === 0) continue;
      sum += (await ev.loss(b.inputs, b.targets, b.weights)) * w;
      weight += w;
    }
    return sum / weight;
  } finally {
    ev.destroy();
  }
}

/** Per-token log π(y) of each sample's response under `gpt`, in batches of 8. */
async function samplesLogProbs(
  gpt: Gpt,
  samples: readonly ResponseSeq[],
  pad: number,
): Promise<number[][]> {
  const B = 8;
  const ev = new Evaluator(gpt, { B, T: gpt.config.context });
  const out: number[][] = [];
  try {
    for (let i = 0; i < samples.length; i += B) {
      const batch = responseBatch(samples.slice(i, i + B), { B, T: gpt.config.context, pad });
      out.push(...await responseLogProbs(ev, batch));
    }
  } finally {
    ev.destroy();
  }
  return out;
}

/** Evaluates one checkpoint's language model on the held-out instruction data. */
export async function evaluateStage(
  gpt: Gpt,
  tokenizer: Tokenizer,
  options: StageEvalOptions = {},
): Promise<StageMetrics> {
  const { limit = 24, maxTokens = 80, rows = 8 } = options;
  const prompts = selectPrompts(
    options.prompts ?? generateWorld({ seed: 1 }).heldOutPrompts,
    limit,
  );
  const answers: JudgedResponse[] = [];
  const m = await evaluateInstructions(gpt, tokenizer, prompts, {
    maxTokens,
    limit: 0,
    rows,
    onResponse: (r) => {
      answers.push(r);
      options.onResponse?.(r);
    },
  });
  const encoded = prompts.map((p) => tokenizer.encode(formatPrompt(p)));
  let rm = NaN;
  if (options.reward) {
    const reader = new ValueReader(options.reward, { B: rows, T: gpt.config.context });
    try {
      const seqs = answers.map((a, i) =>
        [...encoded[i], ...tokenizer.encode(a.response), tokenizer.eot].slice(0, gpt.config.context)
      );
      rm = mean(await reader.scores(seqs, tokenizer.eot));
    } finally {
      reader.destroy();
    }
  }
  let kl = NaN;
  if (options.sft === gpt) kl = 0;
  else if (options.sft) {
    const decoder = new Decoder(gpt, { rows });
    let samples: ResponseSeq[];
    try {
      const out = await decoder.generate(encoded, {
        maxTokens,
        temperature: 1,
        seed: options.seed ?? 7,
        stopToken: tokenizer.eot,
      });
      samples = out.tokens.map((t, j) => ({
        seq: [...out.prompts[j], ...t],
        promptLength: out.prompts[j].length,
      }));
    } finally {
      decoder.destroy();
    }
    const lp = await samplesLogProbs(gpt, samples, tokenizer.eot);
    const ref = await samplesLogProbs(options.sft, samples, tokenizer.eot);
    const diffs = lp.flatMap((row, i) => row.map((v, t) => v - ref[i][t]));
    kl = mean(diffs);
  }
  return {
    val_loss: await instructionValLoss(gpt, tokenizer),
    format_compliance: m.format_compliance,
    gold_score: m.gold_score,
    rm_score: rm,
    kl_to_sft: kl,
    mean_length: m.mean_length,
  };
}
