/**
 * The RLHF stage's closing comparison of the policy with its reference (the SFT model) on
 * held-out prompts: greedy answers scored by the world's gold judge (score, format compliance,
 * count) and by the reward model, their length, and the per-token KL of the policy to the
 * reference on responses sampled from the policy.
 *
 * @module
 */
import { Rng } from "../data/rng.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { formatPrompt } from "../data/template.ts";
import type { Gpt } from "../model/gpt.ts";
import { responseBatch, responseLogProbs } from "../model/generate.ts";
import { Generator } from "../model/rollout.ts";
import { ValueReader } from "../model/reward.ts";
import { judgeResponse, scoreResponses } from "../model/instruct_eval.ts";
import {
  mean,
  type PolicyModels,
  type PromptItem,
  responseText,
  type RolloutSettings,
  type Sample,
  sampleBatch,
} from "./policy.ts";

/** Options of {@linkcode comparePolicy}. */
export interface CompareOptions {
  /** Held-out prompts (texts; the chat template is added). */
  prompts: readonly string[];
  /** The reward model whose scores are reported too. */
  rewardModel?: Gpt;
  /** How the responses of the KL estimate are sampled (`maxTokens` also bounds greedy answers). */
  rollout: Required<RolloutSettings>;
  /** Seed of the KL estimate's sampling. */
  seed: number;
  /** The KL target, printed beside the KL (PPO). */
  klTarget?: number;
}

interface Report {
  gold_score: number;
  format_compliance: number;
  count_ok: number;
  rm_score: number;
  response_length: number;
}

async function evaluate(
  tokenizer: Tokenizer,
  gen: Generator,
  rm: ValueReader | undefined,
  prompts: readonly PromptItem[],
  maxTokens: number,
): Promise<{ report: Report; samples: Sample[] }> {
  const samples: Sample[] = [];
  for (let i = 0; i < prompts.length; i += gen.B) {
    const chunk = prompts.slice(i, i + gen.B);
    const out = await gen.generate(chunk.map((p) => p.ids), {
      maxTokens,
      temperature: 0,
      stopToken: tokenizer.eot,
    });
    chunk.forEach((p, j) =>
      samples.push({
        prompt: p,
        seq: [...out.prompts[j], ...out.tokens[j]],
        promptLength: out.prompts[j].length,
        finished: out.finished[j],
      })
    );
  }
  const judged = samples.map((s) =>
    judgeResponse(tokenizer, s.prompt.text, s.seq.slice(s.promptLength))
  );
  const m = scoreResponses(judged);
  const rmScores = rm
    ? await rm.scores(samples.map((s) => s.seq.slice(0, rm.graph.T)), tokenizer.eot)
    : [];
  return {
    report: {
      gold_score: m.gold_score,
      format_compliance: m.format_compliance,
      count_ok: m.count_ok,
      rm_score: rm ? mean(rmScores) : NaN,
      response_length: m.mean_length,
    },
    samples,
  };
}

/**
 * Compares the policy of `models` with its reference on held-out prompts; prints the table and
 * returns its numbers (`sft_*` for the reference).
 */
export async function comparePolicy(
  models: PolicyModels,
  options: CompareOptions,
): Promise<Record<string, number>> {
  const tokenizer = models.base.tokenizer;
  const { B, T } = models;
  const prompts = options.prompts.map((t) => ({ ids: tokenizer.encode(formatPrompt(t)), text: t }));
  const maxTokens = options.rollout.maxTokens;
  const rm = options.rewardModel ? new ValueReader(options.rewardModel, { B, T }) : undefined;
  const sftGen = new Generator(models.base.gpt, B);
  const sft = await evaluate(tokenizer, sftGen, rm, prompts, maxTokens);
  sftGen.destroy();
  const pol = await evaluate(tokenizer, models.generator, rm, prompts, maxTokens);
  // KL of the policy to SFT on responses sampled from the policy.
  const rng = new Rng(options.seed + 51);
  const klTokens: number[] = [];
  for (let i = 0; i < prompts.length; i += B) {
    const samples = await sampleBatch(models, prompts.slice(i, i + B), { ...options.rollout, rng });
    const batch = responseBatch(samples, { B, T, pad: tokenizer.eot });
    const lp = await responseLogProbs(models.policyEval, batch);
    const ref = await responseLogProbs(models.refEval, batch);
    lp.forEach((x, b) => x.forEach((v, t) => klTokens.push(v - ref[b][t])));
  }
  rm?.destroy();
  const kl = mean(klTokens);
  const fmt = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(3));
  const row = (name: string, a: string, b: string, gap = "  ") =>
    console.log(`  ${name.padEnd(45)}${a}${gap}${b}`);
  console.log(`rlhf: held-out prompts (${prompts.length}, greedy):        SFT    policy`);
  row("gold-judge score", fmt(sft.report.gold_score), fmt(pol.report.gold_score));
  row("format compliance", fmt(sft.report.format_compliance), fmt(pol.report.format_compliance));
  row("count ok", fmt(sft.report.count_ok), fmt(pol.report.count_ok));
  row("reward-model score", fmt(sft.report.rm_score), fmt(pol.report.rm_score));
  row(
    "mean length (tokens)",
    sft.report.response_length.toFixed(1),
    pol.report.response_length.toFixed(1),
    "   ",
  );
  console.log(
    `  KL(policy ‖ SFT) per token on sampled responses: ${kl.toFixed(4)}` +
      (options.klTarget !== undefined ? ` (target ${options.klTarget})` : ""),
  );
  const example = pol.samples[0];
  if (example) {
    console.log(
      `  sample: ${JSON.stringify(example.prompt.text)} → ${
        JSON.stringify(responseText(tokenizer, example))
      }`,
    );
  }
  return {
    sft_gold_score: sft.report.gold_score,
    gold_score: pol.report.gold_score,
    sft_format_compliance: sft.report.format_compliance,
    format_compliance: pol.report.format_compliance,
    sft_rm_score: sft.report.rm_score,
    rm_score: pol.report.rm_score,
    kl_to_sft: kl,
    sft_response_length: sft.report.response_length,
    response_length: pol.report.response_length,
    eval_prompts: prompts.length,
  };
}
