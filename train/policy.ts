/**
 * What the policy trainers (PPO, GRPO, DPO) share: the models ({@linkcode PolicyModels}: the
 * policy being trained, its frozen reference, the evaluators of log-probabilities and the
 * KV-cache generator), rollouts, rewards, and the policy checkpoint.
 *
 * @module
 */
import type { Rng } from "../data/rng.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { encodeConversation, extractResponse, formatPrompt } from "../data/template.ts";
import type { Preference } from "../data/preferences.ts";
import type { Checkpoint, LoadedModel } from "../model/checkpoint.ts";
import { Gpt, readTable } from "../model/gpt.ts";
import { Trainer } from "../model/trainer.ts";
import { Evaluator } from "../model/generate.ts";
import { Generator } from "../model/rollout.ts";
import { ValueReader, withoutScalarHead } from "../model/reward.ts";
import { BaseTrainer, type OptimizerOptions, type SaveContext } from "./base.ts";
import { type Reward, RewardModel } from "./reward.ts";
import { optimizerStep } from "./reward_model.ts";

/** A prompt: its ids (chat template included) and its text (for a reward function). */
export interface PromptItem {
  /** Its token ids, chat template included. */
  ids: number[];
  /** The instruction's text. */
  text: string;
}

/** One sampled (or given) response in the token layout of the evaluators. */
export interface Sample {
  /** The prompt it answers. */
  prompt: PromptItem;
  /** Prompt ids then response ids (the end-of-text included when produced). */
  seq: number[];
  /** How many of `seq`'s ids are the prompt's. */
  promptLength: number;
  /** Whether it ended with end-of-text. */
  finished: boolean;
}

/** How rollouts are sampled. */
export interface RolloutSettings {
  /** New tokens per rollout. Default 72. */
  maxTokens?: number;
  /** Sampling temperature. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0: all). Default 0. */
  topK?: number;
  /** Nucleus threshold (1: all). Default 1. */
  topP?: number;
}

/**
 * The models of a policy trainer, `rows` sequences per batch: the policy (a copy of `base`, or the
 * checkpoint it resumes), its AdamW engine, the evaluators of the policy's and the reference's
 * (`base`, frozen) log-probabilities, and the KV-cache generator of rollouts.
 */
export class PolicyModels {
  /** The SFT model: the reference (frozen). */
  readonly base: LoadedModel;
  /** The policy being trained. */
  readonly policy: Gpt;
  /** The policy's AdamW engine. */
  readonly engine: Trainer;
  /** Log-probabilities of the policy. */
  readonly policyEval: Evaluator;
  /** Log-probabilities of the reference. */
  readonly refEval: Evaluator;
  /** The policy's KV-cache generator. */
  readonly generator: Generator;
  /** Rows per batch. */
  readonly B: number;
  /** Tokens per row (the context). */
  readonly T: number;
  /** The checkpoint it continues (parameters, AdamW moments and step). */
  readonly resume: Checkpoint | undefined;

  /** The models of `rows` rows from `base` (or from the checkpoint `resume`). */
  constructor(base: LoadedModel, options: { rows: number; resume?: Checkpoint }) {
    const { rows, resume } = options;
    const gpu = base.gpt.gpu;
    this.base = base;
    this.resume = resume;
    this.B = rows;
    this.T = base.checkpoint.config.context;
    this.policy = Gpt.create(gpu, base.checkpoint.config, {
      values: resume?.params ?? base.checkpoint.params,
    });
    this.engine = new Trainer(this.policy, {
      B: rows,
      T: this.T,
      step: resume ? optimizerStep(resume) : 0,
    });
    if (resume) this.engine.loadMoments(resume.optimizer!);
    this.policyEval = new Evaluator(this.policy, { B: rows, T: this.T });
    this.refEval = new Evaluator(base.gpt, { B: rows, T: this.T });
    this.generator = new Generator(this.policy, rows);
  }

  /** Waits until every kernel and buffer is known to be valid (a size too large fails here). */
  async ready(): Promise<void> {
    await this.engine.ready();
    await this.generator.ready();
  }

  /** Frees the policy's engine, evaluators and generator. */
  destroy(): void {
    this.engine.destroy();
    this.policyEval.destroy();
    this.refEval.destroy();
    this.generator.destroy();
  }
}

/** The response of a sample as text (end-of-text and anything after a new header removed). */
export function responseText(tokenizer: Tokenizer, s: Sample): string {
  const body = s.seq.slice(s.promptLength).filter((id) => id !== tokenizer.eot);
  return extractResponse(tokenizer.decode(body));
}

/**
 * Samples one response per prompt (up to `models.B`) with the policy; a prompt keeps its last
 * T − 8 ids.
 */
export async function sampleBatch(
  models: PolicyModels,
  prompts: readonly PromptItem[],
  options: Required<RolloutSettings> & { rng: Rng },
): Promise<Sample[]> {
  const maxPrompt = models.T - 8;
  const items = prompts.map((p) => ({ ...p, ids: p.ids.slice(-maxPrompt) }));
  const out = await models.generator.generate(items.map((p) => p.ids), {
    maxTokens: options.maxTokens,
    temperature: options.temperature,
    topK: options.topK,
    topP: options.topP,
    rng: options.rng,
    stopToken: models.base.tokenizer.eot,
  });
  return items.map((p, i) => ({
    prompt: p,
    seq: [...out.prompts[i], ...out.tokens[i]],
    promptLength: out.prompts[i].length,
    finished: out.finished[i],
  }));
}

/** Prompts as items: texts get the chat template. */
export function promptItems(
  tokenizer: Tokenizer,
  prompts: readonly (string | PromptItem)[],
): PromptItem[] {
  return prompts.map((p) =>
    typeof p === "string" ? { ids: tokenizer.encode(formatPrompt(p)), text: p } : p
  );
}

/** The prompts of preference pairs, each conversation once (the text: its last instruction). */
export function pairPrompts(tokenizer: Tokenizer, pairs: readonly Preference[]): PromptItem[] {
  const seen = new Set<string>();
  const out: PromptItem[] = [];
  for (const p of pairs) {
    const key = JSON.stringify(p.turns);
    if (seen.has(key)) continue;
    seen.add(key);
    const text = p.turns[p.turns.length - 1].instruction;
    out.push({ ids: encodeConversation(tokenizer, p.turns), text });
  }
  return out;
}

/** The mean of numbers (NaN for none). */
export const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

/** Options of every policy trainer. */
export interface PolicyTrainerOptions extends OptimizerOptions {
  /** The SFT model (the policy starts from it; it is the frozen reference), or models built. */
  policy: LoadedModel | PolicyModels;
  /** Prompts per step (PPO), groups per step (GRPO), pairs per step (DPO). Default 8. */
  batch?: number;
  /** Seed of the sampling and the data order. Default 1337. */
  seed?: number;
  /** How rollouts are sampled. */
  rollout?: RolloutSettings;
  /** The reward of a response (PPO, GRPO). */
  reward?: Reward;
  /** Clip rewards to ±this (0: off). Default 0. */
  rewardClip?: number;
  /** Added to the reward of a response that did not end with end-of-text. Default −1. */
  noEosPenalty?: number;
  /** The run id of the reward model trained against (`reward_run`; default: the reward's). */
  rewardRun?: string;
  /** More fields of each checkpoint's state.json. */
  state?: Record<string, unknown>;
  /** A policy checkpoint of this trainer to continue (when `policy` is not built models). */
  resume?: Checkpoint;
}

/** The base of the policy trainers: models, rollouts, rewards and the policy checkpoint. */
export abstract class PolicyTrainer extends BaseTrainer {
  /** The algorithm ("ppo", "grpo", "dpo"). */
  readonly label: string;
  /** `{ stage: "rlhf", phase: algo }` in each metrics record. */
  readonly tag: { stage: string; phase: string };
  /** The policy, reference, evaluators and generator. */
  readonly models: PolicyModels;
  /** The SFT model's tokenizer. */
  readonly tokenizer: Tokenizer;
  /** How rollouts are sampled. */
  readonly rollout: Required<RolloutSettings>;
  readonly #options: PolicyTrainerOptions;
  readonly #ownModels: boolean;
  readonly #reader: ValueReader | undefined;

  /** `algo` names it in logs and checkpoints; `rows`: sequences per batch. */
  protected constructor(algo: string, rows: number, options: PolicyTrainerOptions) {
    super(options, { lr: 5e-5, weightDecay: 0 });
    this.label = algo;
    this.tag = { stage: "rlhf", phase: algo };
    this.#options = options;
    this.#ownModels = !(options.policy instanceof PolicyModels);
    this.models = options.policy instanceof PolicyModels
      ? options.policy
      : new PolicyModels(options.policy, { rows, resume: options.resume });
    if (this.models.B !== rows) {
      throw new RangeError(`${algo} needs models of ${rows} rows, got ${this.models.B}`);
    }
    this.tokenizer = this.models.base.tokenizer;
    const r = options.rollout ?? {};
    this.rollout = {
      maxTokens: r.maxTokens ?? 72,
      temperature: r.temperature ?? 1,
      topK: r.topK ?? 0,
      topP: r.topP ?? 1,
    };
    const resume = this.models.resume;
    if (resume) {
      this.resumed = {
        step: resume.state.step as number,
        finished: resume.state.finished === true,
      };
    }
    this.#reader = options.reward instanceof RewardModel
      ? new ValueReader(options.reward.gpt, { B: rows, T: this.models.T })
      : undefined;
    this.printEvery = 1;
  }

  /** The checkpoint resumed from, if any. */
  protected get resumeCheckpoint(): Checkpoint | undefined {
    return this.models.resume;
  }

  /** Samples one response per prompt with the policy. */
  protected sample(prompts: readonly PromptItem[], rng: Rng): Promise<Sample[]> {
    return sampleBatch(this.models, prompts, { ...this.rollout, rng });
  }

  /**
   * The rewards of samples (`raw`) and the scores trained on: clipped to ±rewardClip, plus the
   * penalty of a response without end-of-text.
   */
  protected async score(samples: readonly Sample[]): Promise<{ raw: number[]; scores: number[] }> {
    const reward = this.#options.reward;
    if (reward === undefined) throw new Error(`${this.label} needs a reward`);
    let raw: number[];
    if (this.#reader) {
      const T = this.#reader.graph.T;
      raw = await this.#reader.scores(samples.map((s) => s.seq.slice(0, T)), this.tokenizer.eot);
    } else {
      const fn = reward as (prompt: string, response: string) => number | Promise<number>;
      raw = [];
      for (const s of samples) raw.push(await fn(s.prompt.text, responseText(this.tokenizer, s)));
    }
    const clip = this.#options.rewardClip ?? 0, penalty = this.#options.noEosPenalty ?? -1;
    const scores = raw.map((r, i) => {
      let v = r;
      if (clip > 0) v = Math.max(-clip, Math.min(clip, v));
      return samples[i].finished ? v : v + penalty;
    });
    return { raw, scores };
  }

  /** The algorithm's own fields of state.json (RNG, data position, …). */
  protected abstract algoState(): Record<string, unknown>;

  /** Further models of the checkpoint (PPO's value model). */
  protected algoExtra(): Promise<Checkpoint["extra"]> {
    return Promise.resolve(undefined);
  }

  /** The policy (without a scalar head), its AdamW moments and state. */
  async checkpoint({ step, finished, runId }: SaveContext): Promise<Checkpoint> {
    const m = this.models;
    const base = m.base;
    const reward = this.#options.reward;
    const rewardRun = this.#options.rewardRun ??
      (reward instanceof RewardModel ? reward.runId : undefined);
    return {
      config: base.checkpoint.config,
      tokenizer: base.tokenizer.spec as unknown as Record<string, unknown>,
      params: withoutScalarHead(await readTable(m.policy.gpu, m.policy.params)),
      optimizer: await m.engine.readMoments(),
      extra: await this.algoExtra(),
      state: {
        stage: "rlhf",
        algo: this.label,
        phase: this.label,
        step,
        optimizer_step: m.engine.step,
        finished,
        // The reward model it was trained against: a retrained one makes it start afresh.
        ...(rewardRun !== undefined ? { reward_run: rewardRun } : {}),
        ...this.#options.state,
        ...this.algoState(),
        run_id: runId,
      },
    };
  }

  /** Frees the reward model's reader, and the models when the trainer built them. */
  destroy(): void {
    this.#reader?.destroy();
    if (this.#ownModels) this.models.destroy();
  }
}
