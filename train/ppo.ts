/**
 * {@linkcode PpoTrainer}: PPO against a reward (a function or a reward model) with a per-token KL
 * penalty to the frozen reference, GAE, whitened advantages, the clipped policy loss and a
 * separate value model with the clipped value loss; the KL coefficient adapts towards a target
 * (Ziegler et al.). The CPU math is in model/ppo.ts.
 *
 * @module
 */
import { Rng } from "../data/rng.ts";
import type { GptConfig } from "../model/config.ts";
import type { Checkpoint } from "../model/checkpoint.ts";
import { Gpt, readTable } from "../model/gpt.ts";
import { Trainer } from "../model/trainer.ts";
import { responseBatch, responseLogProbs } from "../model/generate.ts";
import { withScalarHead } from "../model/reward.ts";
import {
  AdaptiveKl,
  gae,
  ppoPolicyLoss,
  ppoValueLoss,
  tokenRewards,
  whiten,
} from "../model/ppo.ts";
import type { StepContext, SubmittedStep } from "./base.ts";
import {
  mean,
  type PolicyModels,
  PolicyTrainer,
  type PolicyTrainerOptions,
  type PromptItem,
  promptItems,
} from "./policy.ts";
import { RewardModel } from "./reward.ts";

/** Options of {@linkcode PpoTrainer}. */
export interface PpoTrainerOptions extends PolicyTrainerOptions {
  /** Training prompts (texts get the chat template). */
  prompts: readonly (string | PromptItem)[];
  /** The value model's peak learning rate. Default 1e-4. */
  valueLr?: number;
  /**
   * The value model's initial config and parameters (scalar head). Default: the reward model's,
   * or the policy's transformer with a zero head.
   */
  valueModel?: { config: GptConfig; params: Map<string, Float32Array> };
  /** Initial KL penalty coefficient β. Default 0.05. */
  klCoef?: number;
  /** Per-token KL the adaptive controller aims at (0: β stays fixed). Default 0.1. */
  targetKl?: number;
  /** Horizon of the adaptive KL controller. Default 1000. */
  klHorizon?: number;
  /** Discount γ. Default 1. */
  gamma?: number;
  /** GAE λ. Default 0.95. */
  lam?: number;
  /** Ratio clip ε. Default 0.2. */
  cliprange?: number;
  /** Value clip. Default 0.2. */
  cliprangeValue?: number;
  /** Passes over each rollout batch. Default 2. */
  epochs?: number;
  /** Minibatches per pass. Default 1. */
  minibatches?: number;
}

/**
 * PPO, per step: `batch` prompts are sampled, rewarded, and trained on for `epochs` passes of
 * `minibatches` updates of the policy and of the value model.
 *
 * @example PPO against a reward function of your own
 * ```ts
 * import { getGpu, loadModel, PpoTrainer, run } from "../mod.ts";
 *
 * const gpu = await getGpu();
 * const sft = await loadModel(gpu, "checkpoints/sft");
 * const ppo = new PpoTrainer({
 *   policy: sft,
 *   prompts: ["Give 3 tips for better sleep", "List 2 ways to save money"],
 *   reward: (_prompt, response) => (response.includes("1.") ? 1 : 0),
 *   batch: 8,
 * });
 * await run(ppo, { steps: 24, warmup: 5, out: "checkpoints/ppo" });
 * ```
 */
export class PpoTrainer extends PolicyTrainer {
  /** The value model. */
  readonly valueGpt: Gpt;
  /** The value model's AdamW engine. */
  readonly valueEngine: Trainer;
  readonly #o: PpoTrainerOptions;
  readonly #valueConfig: GptConfig;
  readonly #prompts: PromptItem[];
  readonly #rng: Rng;
  readonly #kl: AdaptiveKl;

  /** A PPO trainer (the value model is built here). */
  constructor(options: PpoTrainerOptions) {
    super("ppo", options.batch ?? 8, options);
    this.#o = options;
    const m: PolicyModels = this.models;
    const resume = this.resumeCheckpoint;
    // The value model: a separate scalar-head model from the reward model (or the SFT trunk with
    // a zero head); when resuming, the checkpoint's.
    const saved = resume?.extra?.value;
    const reward = options.reward;
    const init = saved ?? options.valueModel ??
      (reward instanceof RewardModel
        ? { config: reward.checkpoint.config, params: reward.checkpoint.params }
        : withScalarHead(m.base.checkpoint.config, m.base.checkpoint.params, { zero: true }));
    this.#valueConfig = init.config;
    this.valueGpt = Gpt.create(m.policy.gpu, init.config, { values: init.params });
    this.valueEngine = new Trainer(this.valueGpt, {
      B: m.B,
      T: m.T,
      step: (resume?.state.value_step as number | undefined) ?? 0,
    });
    if (saved) this.valueEngine.loadMoments(saved.optimizer!);
    this.#prompts = promptItems(this.tokenizer, options.prompts);
    this.#rng = new Rng((options.seed ?? 1337) + 21);
    this.#kl = new AdaptiveKl(
      options.klCoef ?? 0.05,
      options.targetKl ?? 0.1,
      options.klHorizon ?? 1000,
    );
    if (resume) {
      this.#rng.state = resume.state.rng as number;
      this.#kl.value = resume.state.kl_coef as number;
    }
    this.remedy = "lower --lr or --value-lr";
  }

  /** The KL coefficient β now. */
  get klCoef(): number {
    return this.#kl.value;
  }

  /** Rollouts, rewards, advantages, then the policy and value updates. */
  async trainStep({ lr, lrFor }: StepContext): Promise<SubmittedStep> {
    const o = this.#o, m = this.models, rng = this.#rng;
    const { B, T } = m;
    const gamma = o.gamma ?? 1, lam = o.lam ?? 0.95;
    const epochs = o.epochs ?? 2, minibatches = o.minibatches ?? 1;
    const chosen = Array.from({ length: B }, () => this.#prompts[rng.int(this.#prompts.length)]);
    const samples = await this.sample(chosen, rng);
    const batch = responseBatch(samples, { B, T, pad: this.tokenizer.eot });
    const oldLogp = await responseLogProbs(m.policyEval, batch);
    const refLogp = await responseLogProbs(m.refEval, batch);
    const vals = await this.valueEngine.forwardValues(batch);
    const oldValues = batch.positions.map((pos) => pos.map((i) => vals[i]));
    const { raw, scores } = await this.score(samples);
    const beta = this.#kl.value;
    const adv: number[][] = [], ret: number[][] = [];
    for (let b = 0; b < B; b++) {
      const r = tokenRewards(oldLogp[b], refLogp[b], scores[b], beta);
      const g = gae(r, oldValues[b], gamma, lam);
      adv.push(g.advantages);
      ret.push(g.returns);
    }
    const flat = whiten(adv.flat());
    let k = 0;
    const advW = adv.map((a) => a.map(() => flat[k++]));
    const klTok = mean(oldLogp.flatMap((lp, b) => lp.map((x, t) => x - refLogp[b][t])));
    const entropy = mean(oldLogp.flat().map((x) => -x));
    const vlr = lrFor(o.valueLr ?? 1e-4);
    const rows = [...Array(B).keys()];
    let clipFrac = 0, valueLoss = 0, policyLoss = 0, approxKl = 0, updates = 0;
    let checked = { loss: 0, gradNorm: 0 };
    epochs: for (let epoch = 0; epoch < epochs; epoch++) {
      const perm = rng.shuffle([...rows]);
      for (let mi = 0; mi < minibatches; mi++) {
        const mb = new Set(perm.filter((_, i) => i % minibatches === mi));
        const first = epoch === 0 && mi === 0;
        const logp = first ? oldLogp : await responseLogProbs(m.policyEval, batch);
        const sel = (xs: number[][]) => xs.flatMap((x, b) => (mb.has(b) ? x : []));
        const pl = ppoPolicyLoss(sel(logp), sel(oldLogp), sel(advW), o.cliprange ?? 0.2);
        const weights = new Float32Array(B * T);
        let j = 0;
        batch.positions.forEach((pos, b) => {
          if (!mb.has(b)) return;
          for (const i of pos) weights[i] = pl.weights[j++];
        });
        const pstats = m.engine.submit(
          [{ inputs: batch.inputs, targets: batch.targets, weights }],
          this.hyper(lr),
          { rawWeights: true },
        );
        const v = first ? vals : await this.valueEngine.forwardValues(batch);
        const newValues = batch.positions.map((pos) => pos.map((i) => v[i]));
        const vl = ppoValueLoss(
          sel(newValues),
          sel(oldValues),
          sel(ret),
          o.cliprangeValue ?? 0.2,
        );
        const dvalues = new Float32Array(B * T);
        j = 0;
        batch.positions.forEach((pos, b) => {
          if (!mb.has(b)) return;
          for (const i of pos) dvalues[i] = vl.dvalues[j++];
        });
        const vstats = await this.valueEngine.submitValueGradient(dvalues, this.hyper(vlr));
        const ps = await pstats;
        const worst = Number.isFinite(ps.gradNorm) ? vstats.gradNorm : ps.gradNorm;
        checked = { loss: ps.loss, gradNorm: worst };
        // A non-finite update: the step's remaining updates are skipped (the loop stops or skips).
        if (!Number.isFinite(ps.loss) || !Number.isFinite(worst)) break epochs;
        clipFrac += pl.clipFrac;
        valueLoss += vl.loss;
        policyLoss += pl.loss;
        approxKl += pl.approxKl;
        updates++;
      }
    }
    const bad = !Number.isFinite(checked.loss) || !Number.isFinite(checked.gradNorm);
    if (bad) return { report: Promise.resolve({ ...checked, metrics: {}, progress: [] }) };
    this.#kl.update(klTok, B);
    const length = mean(samples.map((s) => s.seq.length - s.promptLength));
    const metrics = {
      reward: mean(raw),
      score: mean(scores),
      kl: klTok,
      kl_coef: beta,
      entropy,
      clip_frac: clipFrac / updates,
      value_loss: valueLoss / updates,
      policy_loss: policyLoss / updates,
      approx_kl: approxKl / updates,
      response_length: length,
      eos_rate: mean(samples.map((s) => (s.finished ? 1 : 0))),
      lr,
    };
    const progress = [
      `reward ${metrics.reward.toFixed(3)}`,
      `kl ${klTok.toFixed(4)} (β ${beta.toFixed(4)})`,
      `entropy ${entropy.toFixed(3)}`,
      `clip ${metrics.clip_frac.toFixed(3)}`,
      `vloss ${metrics.value_loss.toFixed(4)}`,
      `len ${length.toFixed(1)}`,
    ];
    return { report: Promise.resolve({ ...checked, metrics, progress }) };
  }

  /** The sampling RNG, β and the value model's step. */
  protected algoState(): Record<string, unknown> {
    return { rng: this.#rng.state, kl_coef: this.#kl.value, value_step: this.valueEngine.step };
  }

  /** The value model with its AdamW moments. */
  protected override async algoExtra(): Promise<Checkpoint["extra"]> {
    return {
      value: {
        config: this.#valueConfig,
        params: await readTable(this.valueGpt.gpu, this.valueGpt.params),
        optimizer: await this.valueEngine.readMoments(),
      },
    };
  }

  /** Frees the value model too. */
  override destroy(): void {
    super.destroy();
    this.valueEngine.destroy();
    this.valueGpt.destroy();
  }
}
