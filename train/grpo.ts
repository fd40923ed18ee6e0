/**
 * {@linkcode GrpoTrainer}: group-relative policy optimisation. Each step samples `groupSize`
 * responses to each of `batch` prompts; a response's advantage is its reward against the others
 * of its group (no value model), trained with the clipped policy loss and a k3 KL penalty to the
 * frozen reference.
 *
 * {@linkcode GroupPolicyTrainer} holds the group sampling and the update; another critic-free
 * baseline (RLOO's leave-one-out mean, say) is a subclass that names itself and defines
 * `advantages`.
 *
 * @module
 */
import { Rng } from "../data/rng.ts";
import { responseBatch, responseLogProbs } from "../model/generate.ts";
import { groupAdvantages, k3, ppoPolicyLoss } from "../model/ppo.ts";
import type { StepContext, SubmittedStep } from "./base.ts";
import {
  mean,
  PolicyTrainer,
  type PolicyTrainerOptions,
  type PromptItem,
  promptItems,
} from "./policy.ts";

/** Options of {@linkcode GrpoTrainer}. */
export interface GrpoTrainerOptions extends PolicyTrainerOptions {
  /** Training prompts (texts get the chat template). */
  prompts: readonly (string | PromptItem)[];
  /** Responses per prompt. Default 4. */
  groupSize?: number;
  /** Coefficient of the k3 KL penalty. Default 0.04. */
  klCoef?: number;
  /** Ratio clip ε. Default 0.2. */
  cliprange?: number;
  /** Passes over each rollout batch. Default 2. */
  epochs?: number;
}

/**
 * The base of the critic-free group trainers: each step samples `groupSize` responses to each of
 * `batch` prompts, turns their scores into per-response advantages (`advantages`, the subclass's),
 * and takes `epochs` clipped policy updates with a k3 KL penalty to the reference.
 */
export abstract class GroupPolicyTrainer extends PolicyTrainer {
  /** Responses per prompt. */
  readonly groupSize: number;
  readonly #o: GrpoTrainerOptions;
  readonly #prompts: PromptItem[];
  readonly #rng: Rng;

  /** `algo` names it in logs and checkpoints; its RNG is seeded with `seed + seedOffset`. */
  protected constructor(options: GrpoTrainerOptions, algo: string, seedOffset: number) {
    const G = options.groupSize ?? 4;
    super(algo, (options.batch ?? 8) * G, options);
    this.groupSize = G;
    this.#o = options;
    this.#prompts = promptItems(this.tokenizer, options.prompts);
    this.#rng = new Rng((options.seed ?? 1337) + seedOffset);
    const resume = this.resumeCheckpoint;
    if (resume) this.#rng.state = resume.state.rng as number;
  }

  /** The advantage of each response from the scores (groups of `groupSize` consecutive ones). */
  protected abstract advantages(scores: readonly number[]): number[];

  /** Group rollouts, rewards, advantages, then `epochs` policy updates. */
  async trainStep({ lr }: StepContext): Promise<SubmittedStep> {
    const o = this.#o, m = this.models, rng = this.#rng;
    const { B, T } = m;
    const G = this.groupSize, groups = B / G;
    const beta = o.klCoef ?? 0.04;
    const chosen: PromptItem[] = [];
    for (let g = 0; g < groups; g++) {
      const p = this.#prompts[rng.int(this.#prompts.length)];
      for (let i = 0; i < G; i++) chosen.push(p);
    }
    const samples = await this.sample(chosen, rng);
    const batch = responseBatch(samples, { B, T, pad: this.tokenizer.eot });
    const oldLogp = await responseLogProbs(m.policyEval, batch);
    const refLogp = await responseLogProbs(m.refEval, batch);
    const { raw, scores } = await this.score(samples);
    const seqAdv = this.advantages(scores);
    const adv = oldLogp.map((lp, b) => lp.map(() => seqAdv[b]));
    let clipFrac = 0, klPen = 0, updates = 0;
    let checked = { loss: 0, gradNorm: 0 };
    for (let epoch = 0; epoch < (o.epochs ?? 2); epoch++) {
      const logp = epoch === 0 ? oldLogp : await responseLogProbs(m.policyEval, batch);
      const pl = ppoPolicyLoss(logp.flat(), oldLogp.flat(), adv.flat(), o.cliprange ?? 0.2);
      const n = pl.weights.length;
      const weights = new Float32Array(B * T);
      let j = 0, klSum = 0;
      batch.positions.forEach((pos, b) => {
        pos.forEach((i, t) => {
          const kk = k3(logp[b][t], refLogp[b][t]);
          klSum += kk.kl;
          // ∂(β·k3/n)/∂CE = −β·(∂k3/∂logπ)/n
          weights[i] = pl.weights[j++] - (beta * kk.dLogp) / n;
        });
      });
      const s = await m.engine.submit(
        [{ inputs: batch.inputs, targets: batch.targets, weights }],
        this.hyper(lr),
        { rawWeights: true },
      );
      checked = { loss: s.loss, gradNorm: s.gradNorm };
      // A non-finite update: the step's remaining updates are skipped (the loop stops or skips).
      if (!Number.isFinite(s.loss) || !Number.isFinite(s.gradNorm)) {
        return { report: Promise.resolve({ ...checked, metrics: {}, progress: [] }) };
      }
      clipFrac += pl.clipFrac;
      klPen += klSum / Math.max(1, n);
      updates++;
    }
    const klTok = mean(oldLogp.flatMap((lp, b) => lp.map((x, t) => x - refLogp[b][t])));
    const entropy = mean(oldLogp.flat().map((x) => -x));
    const length = mean(samples.map((s) => s.seq.length - s.promptLength));
    const metrics = {
      reward: mean(raw),
      kl: klTok,
      kl_k3: klPen / updates,
      entropy,
      clip_frac: clipFrac / updates,
      response_length: length,
      lr,
    };
    const progress = [
      `reward ${metrics.reward.toFixed(3)}`,
      `kl ${klTok.toFixed(4)}`,
      `entropy ${entropy.toFixed(3)}`,
      `clip ${metrics.clip_frac.toFixed(3)}`,
      `len ${length.toFixed(1)}`,
    ];
    return { report: Promise.resolve({ ...checked, metrics, progress }) };
  }

  /** The sampling RNG. */
  protected algoState(): Record<string, unknown> {
    return { rng: this.#rng.state };
  }
}

/**
 * GRPO: `batch` prompts × `groupSize` responses per step, advantages normalised within each
 * group.
 *
 * @example GRPO against the world's gold judge
 * ```ts
 * import { getGpu, GrpoTrainer, judgeReward, loadModel, run } from "../mod.ts";
 *
 * const gpu = await getGpu();
 * const sft = await loadModel(gpu, "checkpoints/sft");
 * const grpo = new GrpoTrainer({
 *   policy: sft,
 *   prompts: ["Give 3 tips for better sleep"],
 *   reward: judgeReward,
 *   batch: 2,
 *   groupSize: 4,
 * });
 * await run(grpo, { steps: 10 });
 * ```
 */
export class GrpoTrainer extends GroupPolicyTrainer {
  /** A GRPO trainer. */
  constructor(options: GrpoTrainerOptions) {
    super(options, "grpo", 31);
  }

  /** (score − group mean) / group std. */
  protected advantages(scores: readonly number[]): number[] {
    return groupAdvantages(scores, this.groupSize);
  }
}
