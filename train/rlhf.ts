/**
 * The RLHF stage as one call, {@linkcode trainRlhf}: a reward model trained on preference pairs,
 * then the policy (PPO, GRPO or DPO) from the SFT model, then the comparison of the policy with
 * SFT on held-out prompts. Each phase is a trainer run by {@linkcode run}; what `resume` continues
 * is decided by {@linkcode planRlhf}. `deno task rlhf` (stages/rlhf.ts) is its command line.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { Preference } from "../data/preferences.ts";
import { parameterCount } from "../model/config.ts";
import { claimOutput, type LoadedModel } from "../model/checkpoint.ts";
import type { OptimizerOptions } from "./base.ts";
import { fmtDuration, MetricsLog, run, type RunOptions, StopRequest } from "./run.ts";
import { planRlhf } from "./resume.ts";
import { RewardTrainer } from "./reward_model.ts";
import {
  PolicyModels,
  type PolicyTrainer,
  type PromptItem,
  type RolloutSettings,
} from "./policy.ts";
import { judgeReward, RewardModel } from "./reward.ts";
import { PpoTrainer } from "./ppo.ts";
import { GrpoTrainer } from "./grpo.ts";
import { DpoTrainer } from "./dpo.ts";
import { comparePolicy } from "./compare.ts";

/** The reward model's phase. */
export interface RlhfRewardOptions {
  /** Optimizer steps. */
  steps: number;
  /** Pairs per step. */
  batch: number;
  /** Peak learning rate. */
  lr: number;
  /** Required reward gap of the loss. */
  margin: number;
  /** Coefficient of the centring term. */
  centerCoef: number;
  /** Steps between held-out accuracy checks (0: the end only). */
  evalEvery: number;
  /** Held-out pairs scored (0: all). */
  evalPairs: number;
}

/** The policy's phase (each algorithm reads its own fields; see the trainers). */
export interface RlhfPolicyOptions {
  /** Optimizer steps (PPO, GRPO: rollout batches). */
  steps: number;
  /** Prompts per PPO step, pairs per DPO step, groups per GRPO step. */
  batch: number;
  /** Peak learning rate. */
  lr: number;
  /** How rollouts are sampled. */
  rollout: Required<RolloutSettings>;
  /** Clip rewards to ±this (0: off). */
  rewardClip: number;
  /** Added to the reward of a response without end-of-text. */
  noEosPenalty: number;
  /** PPO: the value model's peak learning rate. */
  valueLr: number;
  /** PPO: initial KL coefficient β. */
  klCoef: number;
  /** PPO: target per-token KL (0: fixed β). */
  targetKl: number;
  /** PPO: horizon of the KL controller. */
  klHorizon: number;
  /** PPO: discount γ. */
  gamma: number;
  /** PPO: GAE λ. */
  lam: number;
  /** PPO: value clip. */
  cliprangeValue: number;
  /** PPO: minibatches per pass. */
  minibatches: number;
  /** PPO, GRPO: ratio clip ε. */
  cliprange: number;
  /** PPO, GRPO: passes over each rollout batch. */
  epochs: number;
  /** GRPO: responses per prompt. */
  groupSize: number;
  /** GRPO: coefficient of the k3 KL penalty. */
  grpoKlCoef: number;
  /** DPO: β. */
  beta: number;
}

/** Options of {@linkcode trainRlhf}. */
export interface RlhfOptions {
  /** The SFT model: the policy's start, the reference, the reward model's transformer. */
  base: LoadedModel;
  /** Where `base` came from (recorded in checkpoints and printed). */
  init: string;
  /** Training and held-out preference pairs, and where they came from. */
  prefs: { train: Preference[]; heldOut: Preference[]; source: string };
  /** The training prompts of PPO and GRPO. */
  prompts: PromptItem[];
  /** The held-out prompts of the final comparison. */
  evalPrompts: string[];
  /** The phases: the reward model, the policy, or both. */
  stage: "rm" | "policy" | "all";
  /** The policy algorithm. */
  algo: "ppo" | "dpo" | "grpo";
  /** PPO/GRPO reward: the reward model or the world's gold judge. */
  reward: "rm" | "judge";
  /** The policy's directory. */
  out: string;
  /** The reward model's directory. */
  rewardOut: string;
  /** Continue each phase from its newest checkpoint (see {@linkcode planRlhf}). */
  resume: boolean;
  /** Seed of the data orders, the sampling and the reward model's head. */
  seed: number;
  /** AdamW settings of every optimizer (the peaks are each phase's `lr`). */
  optimizer: Omit<OptimizerOptions, "lr">;
  /** The run loop's settings of every phase. */
  runs: Pick<RunOptions, "warmup" | "minLr" | "saveEvery" | "keep" | "skipNonfinite" | "quiet">;
  /** The reward model's phase. */
  rm: RlhfRewardOptions;
  /** The policy's phase. */
  policy: RlhfPolicyOptions;
  /** Recorded in the metrics and in each checkpoint (the command line's flags). */
  flags?: Record<string, unknown>;
}

/** What {@linkcode trainRlhf} did: interrupted by a signal, or its final record. */
export interface RlhfResult {
  /** A signal stopped it (after saving the phase in progress). */
  interrupted: boolean;
  /** The final metrics record (the reward model's accuracy, the comparison). */
  record: Record<string, number | string | undefined>;
}

/** Runs the RLHF phases of `o.stage`; see the module documentation. */
export async function trainRlhf(gpu: Gpu, o: RlhfOptions): Promise<RlhfResult> {
  const c = o.base.checkpoint.config;
  const plan = await planRlhf({
    resume: o.resume,
    stage: o.stage,
    algo: o.algo,
    rewardOut: o.rewardOut,
    rmSteps: o.rm.steps,
    out: o.out,
    config: c,
  });
  const state = { init: o.init, flags: o.flags };
  // Every trained model is built before anything is written, so that a batch too large for the
  // adapter stops the run here, with one line and no output. (Holding the policy during the
  // reward model's training costs no more memory than PPO, which holds both.)
  let rmTrainer: RewardTrainer | undefined;
  if (o.stage !== "policy" && !plan.rmFinished) {
    rmTrainer = new RewardTrainer(gpu, {
      ...o.optimizer,
      init: o.base.checkpoint,
      tokenizer: o.base.tokenizer,
      pairs: o.prefs.train,
      evalPairs: o.rm.evalPairs > 0 ? o.prefs.heldOut.slice(0, o.rm.evalPairs) : o.prefs.heldOut,
      batch: o.rm.batch,
      lr: o.rm.lr,
      seed: o.seed,
      margin: o.rm.margin,
      centerCoef: o.rm.centerCoef,
      state: { ...state, data_source: o.prefs.source },
      resume: plan.rm,
    });
    await rmTrainer.engine.ready();
  }
  const p = o.policy;
  const rows = o.algo === "dpo" ? 2 * p.batch : o.algo === "grpo" ? p.batch * p.groupSize : p.batch;
  const models = o.stage !== "rm"
    ? new PolicyModels(o.base, { rows, resume: plan.policy })
    : undefined;
  await models?.ready();
  const outDir = (o.stage === "rm" ? o.rewardOut : o.out).replace(/\/+$/, "");
  await Deno.mkdir(outDir.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  // Each output a phase starts afresh in now belongs to this run: from now on resuming continues
  // this run's checkpoints there, never those of an earlier run.
  if (rmTrainer && !plan.rm) {
    await Deno.mkdir(o.rewardOut.replace(/\/[^/]*\/?$/, "") || ".", { recursive: true });
    await claimOutput(o.rewardOut, plan.runIds.rm, "rlhf");
  }
  if (models && !plan.policy) await claimOutput(o.out, plan.runIds.policy, "rlhf");
  const log = new MetricsLog(`${outDir}.metrics.jsonl`, !o.resume);
  const what = o.stage === "rm"
    ? "reward model"
    : o.stage === "all"
    ? `reward model + ${o.algo}`
    : o.algo;
  console.log(
    `rlhf: ${what} from ${o.init} (${c.layers}x${c.width}, context ${c.context}, ` +
      `${(parameterCount(c) / 1e6).toFixed(2)}M parameters); ${gpu.name}`,
  );
  log.write({ stage: "rlhf", event: "start", flags: o.flags, config: c });
  const start = performance.now();
  const final: RlhfResult["record"] = { stage: "rlhf", event: "end", algo: o.algo };
  const stop = new StopRequest();
  const runs = { ...o.runs, log, stop, claim: false };
  try {
    if (rmTrainer) {
      console.log(
        `rlhf rm: ${o.prefs.train.length} train / ${o.prefs.heldOut.length} held-out pairs ` +
          `(${o.prefs.source}); ${o.rm.steps} steps of ${o.rm.batch} pairs, lr ${o.rm.lr}`,
      );
      if (plan.rm) console.log(`rlhf rm: resuming at step ${plan.rm.state.step} of ${o.rm.steps}`);
      const r = await run(rmTrainer, {
        ...runs,
        steps: o.rm.steps,
        evalEvery: o.rm.evalEvery,
        out: o.rewardOut,
        runId: plan.runIds.rm,
      });
      if (r.interrupted) return { interrupted: true, record: final };
      console.log(
        `rlhf rm: held-out accuracy ${(100 * rmTrainer.accuracy).toFixed(1)}% on ` +
          `${rmTrainer.evalPairs} pairs after ${o.rm.steps} steps (${fmtDuration(r.seconds)}); ` +
          `reward model in ${o.rewardOut}`,
      );
      final.rm_accuracy = rmTrainer.accuracy;
      rmTrainer.destroy();
    } else if (plan.rmFinished) {
      console.log(`rlhf rm: the reward model in ${o.rewardOut} is finished`);
    }
    if (models) {
      let rm: RewardModel | undefined;
      try {
        rm = await RewardModel.load(gpu, o.rewardOut);
        final.rm_accuracy ??= rm.accuracy;
      } catch (e) {
        const needed = o.algo !== "dpo" && o.reward === "rm";
        if (needed || (e as Error).name !== "CheckpointError") throw e;
        console.log(`rlhf: no reward model in ${o.rewardOut}: RM scores are not reported`);
      }
      const trainer = policyTrainer(o, models, rm, state);
      if (plan.policy) {
        console.log(`rlhf ${o.algo}: resuming at step ${plan.policy.state.step} of ${p.steps}`);
      }
      const r = await run(trainer, {
        ...runs,
        steps: p.steps,
        out: o.out,
        runId: plan.runIds.policy,
      });
      if (r.interrupted) return { interrupted: true, record: final };
      trainer.destroy();
      // The policy is saved: a signal during the final comparison just ends the run.
      stop.dispose();
      Object.assign(
        final,
        await comparePolicy(models, {
          prompts: o.evalPrompts,
          rewardModel: rm?.gpt,
          rollout: p.rollout,
          seed: o.seed,
          klTarget: o.algo === "ppo" && p.targetKl > 0 ? p.targetKl : undefined,
        }),
      );
      models.destroy();
      console.log(`rlhf: policy in ${o.out}`);
    }
  } finally {
    stop.dispose();
  }
  final.seconds = (performance.now() - start) / 1000;
  if (typeof final.rm_accuracy === "number") {
    console.log(`rlhf: reward-model held-out accuracy ${(100 * final.rm_accuracy).toFixed(1)}%`);
  }
  log.write(final);
  console.log(`rlhf: done in ${fmtDuration(final.seconds)}`);
  return { interrupted: false, record: final };
}

/** The policy trainer of `o.algo` over `models`, with its header line printed. */
function policyTrainer(
  o: RlhfOptions,
  models: PolicyModels,
  rm: RewardModel | undefined,
  state: Record<string, unknown>,
): PolicyTrainer {
  const p = o.policy;
  const common = {
    ...o.optimizer,
    policy: models,
    batch: p.batch,
    lr: p.lr,
    seed: o.seed,
    rollout: p.rollout,
    rewardRun: rm?.runId,
    state,
  };
  const reward = o.reward === "judge" || !rm ? judgeReward : rm;
  const rewards = { reward, rewardClip: p.rewardClip, noEosPenalty: p.noEosPenalty };
  if (o.algo === "ppo") {
    console.log(
      `rlhf ppo: ${p.steps} steps of ${p.batch} rollouts (≤ ${p.rollout.maxTokens} tokens), ` +
        `${p.epochs} epochs x ${p.minibatches} minibatches; reward ${o.reward}; ` +
        `β ${p.klCoef}${p.targetKl > 0 ? ` → target KL ${p.targetKl}/token` : ""}`,
    );
    return new PpoTrainer({
      ...common,
      ...rewards,
      prompts: o.prompts,
      valueLr: p.valueLr,
      // The value model starts from the reward model when there is one.
      valueModel: rm ? { config: rm.checkpoint.config, params: rm.checkpoint.params } : undefined,
      klCoef: p.klCoef,
      targetKl: p.targetKl,
      klHorizon: p.klHorizon,
      gamma: p.gamma,
      lam: p.lam,
      cliprange: p.cliprange,
      cliprangeValue: p.cliprangeValue,
      epochs: p.epochs,
      minibatches: p.minibatches,
    });
  }
  if (o.algo === "grpo") {
    console.log(
      `rlhf grpo: ${p.steps} steps of ${p.batch} prompts x ${p.groupSize} responses; ` +
        `reward ${o.reward}; KL penalty ${p.grpoKlCoef} (k3)`,
    );
    return new GrpoTrainer({
      ...common,
      ...rewards,
      prompts: o.prompts,
      groupSize: p.groupSize,
      klCoef: p.grpoKlCoef,
      cliprange: p.cliprange,
      epochs: p.epochs,
    });
  }
  console.log(`rlhf dpo: ${p.steps} steps of ${p.batch} pairs, β ${p.beta}, lr ${p.lr}`);
  return new DpoTrainer({ ...common, pairs: o.prefs.train, beta: p.beta });
}
