/**
 * Stage 3: RLHF. A reward model trained on preference pairs, then the policy trained against it
 * with PPO (default), or directly on the pairs with DPO, or with GRPO on a reward function.
 *
 *     deno task rlhf                              # RM + PPO on the embedded world's preferences
 *     deno task rlhf --stage rm --rm-steps 200    # the reward model only → checkpoints/reward
 *     deno task rlhf --stage policy --algo dpo    # DPO from checkpoints/sft
 *     deno task rlhf --algo grpo --reward judge   # GRPO with the world's gold judge as reward
 *
 * Models: the policy starts from the SFT checkpoint (`--init`); the reference is a frozen copy of
 * it; the reward model is the SFT transformer with a scalar head (`score.weight`), trained with
 * the Bradley–Terry loss and then frozen; PPO's value model is a separate scalar-head model
 * initialised from the reward model (it does not share the trunk with the policy, as in
 * InstructGPT).
 *
 * PPO, per step: B prompts of the world's training instructions (or of `--data`) are sampled with
 * the KV-cache generator; per-token rewards are −β (logπ − logπ_ref) with the reward model's score
 * (or the judge's, `--reward judge`) added at the last token, and a penalty when a response has
 * no end-of-text; GAE (γ, λ), whitened advantages, then `--ppo-epochs` passes of the clipped
 * policy loss (applied as per-token weights on the cross-entropy, see model/ppo.ts) and the
 * clipped value loss. β adapts towards `--target-kl` (Ziegler et al.). The entropy logged is the
 * Monte-Carlo estimate mean(−logπ) of the sampled tokens.
 *
 * Checkpoints and failures, as in the other stages: each phase saves every `--save-every` steps
 * and on SIGINT/SIGTERM (after the step in flight; exit code 130) — the reward model in
 * `--reward-out`, the policy in `--out` (with PPO's value model as `value.safetensors`), each with
 * its AdamW moments and a `state.json` of the phase, step, RNG and data position (and PPO's KL
 * coefficient, DPO's cached reference log-probabilities). `--resume` keeps a finished reward
 * model and continues each phase from its newest checkpoint, drawing the same data and samples as
 * an uninterrupted run; only checkpoints of the run that owns an output (`<out>.run.json`, see
 * model/checkpoint.ts) count, and a policy trained against another reward model (`reward_run`)
 * starts afresh. A non-finite loss or gradient norm stops the run naming the step, the last
 * checkpoint kept; `--skip-nonfinite` skips the step instead (PPO and GRPO: the step's remaining
 * updates).
 *
 * At the end: the reward model's held-out pair accuracy, and for the policy and the SFT model on
 * the world's held-out prompts (greedy): gold-judge score, reward-model score, length; and the KL
 * of the policy to SFT (mean per-token logπ − logπ_ref on responses sampled from the policy).
 *
 * @module
 */
import { getGpu, type Gpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { encodeConversation, extractResponse, formatPrompt, type Turn } from "../data/template.ts";
import { generateWorld, judge, type World } from "../data/world/mod.ts";
import {
  type EncodedPair,
  encodePreference,
  fromWorld,
  loadPreferences,
  type Preference,
  splitHeldOut,
} from "../data/preferences.ts";
import { parameterCount } from "../model/config.ts";
import {
  assertSameShape,
  type Checkpoint,
  CheckpointError,
  checkpointRunId,
  claimOutput,
  loadCheckpoint,
  type LoadedModel,
  loadModel,
  newRunId,
  resumePoint,
  saveCheckpoint,
} from "../model/checkpoint.ts";
import { Gpt, readTable } from "../model/gpt.ts";
import { type StepHyper, Trainer } from "../model/trainer.ts";
import { Evaluator, responseBatch, responseLogProbs } from "../model/generate.ts";
import { Generator } from "../model/rollout.ts";
import {
  RewardModelTrainer,
  ValueReader,
  withoutScalarHead,
  withScalarHead,
} from "../model/reward.ts";
import {
  AdaptiveKl,
  dpoLoss,
  gae,
  groupAdvantages,
  k3,
  ppoPolicyLoss,
  ppoValueLoss,
  tokenRewards,
  whiten,
} from "../model/ppo.ts";
import { judgeResponse, scoreResponses, selectPrompts } from "../model/instruct_eval.ts";
import { checkWritable, parseFlags, runMain, type Schema, UsageError, type Values } from "./cli.ts";
import {
  ATTENTION_FLAG,
  CHECKPOINT_FLAGS,
  fmtDuration,
  MetricsLog,
  NonFiniteError,
  nonFiniteError,
  StopRequest,
  useAttention,
} from "./_loop.ts";

const USAGE = "Usage: deno task rlhf [--algo ppo|dpo|grpo] [--stage rm|policy|all] [options]";

/** Flags of the stage, with their defaults (every one overridable). */
export const RLHF_FLAGS = {
  init: { default: "checkpoints/sft", help: "SFT checkpoint: policy, reference and RM trunk" },
  data: {
    default: "",
    help: "Preference file (.jsonl or .jsonl.gz; see data/preferences.ts); empty: the world's",
  },
  out: { default: "checkpoints/rlhf", help: "Policy checkpoint directory to write" },
  "reward-out": { default: "checkpoints/reward", help: "Reward model directory (written by rm)" },
  algo: { default: "ppo", help: "Policy algorithm", choices: ["ppo", "dpo", "grpo"] },
  stage: {
    default: "all",
    help: "rm: reward model; policy: the policy (needs the RM); all: both",
    choices: ["rm", "policy", "all"],
  },
  reward: {
    default: "rm",
    help: "PPO/GRPO reward: rm (the reward model) or judge (the world's gold judge)",
    choices: ["rm", "judge"],
  },
  steps: {
    default: 24,
    help: "Policy optimizer steps (PPO/GRPO: rollout batches)",
    min: 0,
    int: true,
  },
  "rm-steps": { default: 150, help: "Reward-model optimizer steps", min: 0, int: true },
  seed: { default: 1337, help: "Random seed (data order, sampling, head init)", min: 0, int: true },
  batch: {
    default: 8,
    help: "Prompts per PPO step, pairs per DPO step, groups per GRPO step",
    min: 1,
    int: true,
  },
  "rm-batch": { default: 16, help: "Pairs per reward-model step", min: 1, int: true },
  lr: {
    default: 5e-5,
    help: "Policy peak learning rate (DPO: 1e-4 is a good start)",
    min: 0,
    exclusiveMin: true,
    max: 1,
  },
  "rm-lr": {
    default: 1e-3,
    help: "Reward-model peak learning rate",
    min: 0,
    exclusiveMin: true,
    max: 1,
  },
  "value-lr": {
    default: 1e-4,
    help: "Value-model learning rate (PPO)",
    min: 0,
    exclusiveMin: true,
    max: 1,
  },
  warmup: { default: 5, help: "Linear warm-up steps (each optimizer)", min: 0, int: true },
  "min-lr": {
    default: 0.1,
    help: "Final learning rate as a fraction of the peak (cosine)",
    min: 0,
    max: 1,
  },
  "weight-decay": { default: 0.0, help: "AdamW weight decay (2-D tensors only)", min: 0, max: 10 },
  beta1: { default: 0.9, help: "AdamW beta1", min: 0, max: 0.999999 },
  beta2: { default: 0.95, help: "AdamW beta2", min: 0, max: 0.999999 },
  "grad-clip": { default: 1.0, help: "Clip the global gradient norm (0: off)", min: 0 },
  margin: { default: 0, help: "RM: required reward gap in −log σ(r_c − r_r − margin)" },
  "center-coef": {
    default: 0.01,
    help: "RM: coefficient of the centring term (r_c + r_r)²",
    min: 0,
  },
  "rm-eval-pairs": {
    default: 0,
    help: "RM: held-out pairs scored at each evaluation (0: all of the 10% split)",
    min: 0,
    int: true,
  },
  "rm-eval-every": {
    default: 30,
    help: "RM: steps between accuracy checks (0: end only)",
    min: 0,
    int: true,
  },
  "kl-coef": { default: 0.05, help: "PPO: initial KL penalty coefficient β", min: 0 },
  "target-kl": {
    default: 0.1,
    help: "PPO: target per-token KL of the adaptive controller (0: fixed β)",
    min: 0,
  },
  "kl-horizon": { default: 1000, help: "PPO: horizon of the adaptive KL controller", min: 1 },
  gamma: { default: 1, help: "PPO: discount γ", min: 0, max: 1 },
  lam: { default: 0.95, help: "PPO: GAE λ", min: 0, max: 1 },
  cliprange: { default: 0.2, help: "PPO/GRPO: ratio clip ε", min: 0, exclusiveMin: true },
  "cliprange-value": { default: 0.2, help: "PPO: value clip", min: 0, exclusiveMin: true },
  "ppo-epochs": { default: 2, help: "PPO/GRPO: passes over each rollout batch", min: 1, int: true },
  minibatches: { default: 1, help: "PPO/GRPO: minibatches per pass", min: 1, int: true },
  "reward-clip": { default: 0, help: "Clip scores to ±this (0: off)", min: 0 },
  "no-eos-penalty": { default: -1, help: "Added to the score of a response without end-of-text" },
  "max-tokens": { default: 72, help: "New tokens per rollout", min: 1, int: true },
  temperature: { default: 1, help: "Rollout sampling temperature", min: 0, exclusiveMin: true },
  "top-k": { default: 0, help: "Rollout top-k (0: all)", min: 0, int: true },
  "top-p": { default: 1, help: "Rollout top-p (1: all)", min: 0, exclusiveMin: true, max: 1 },
  beta: { default: 0.1, help: "DPO: β", min: 0, exclusiveMin: true },
  "group-size": { default: 4, help: "GRPO: responses per prompt", min: 2, int: true },
  "grpo-beta": { default: 0.04, help: "GRPO: coefficient of the k3 KL penalty", min: 0 },
  "eval-prompts": {
    default: 32,
    help: "Held-out prompts of the final comparison (0: all 207)",
    min: 0,
    int: true,
  },
  quiet: { default: false, help: "Print only evaluations and the final report" },
  ...CHECKPOINT_FLAGS,
  "save-every": {
    ...CHECKPOINT_FLAGS["save-every"],
    help: "Steps between checkpoints of each phase (0: only at the end)",
  },
  resume: {
    ...CHECKPOINT_FLAGS.resume,
    help: "Keep a finished reward model; continue each phase from its newest checkpoint",
  },
  attention: ATTENTION_FLAG,
} satisfies Schema;

type Flags = Values<typeof RLHF_FLAGS>;

/** Learning rate at `step` (1-based) of `steps`: linear warm-up, cosine decay to min-lr·peak. */
function lrAt(peak: number, step: number, steps: number, f: Flags): number {
  const floor = peak * f["min-lr"];
  if (f.warmup > 0 && step <= f.warmup) return (peak * step) / f.warmup;
  const progress = Math.min(1, (step - f.warmup) / Math.max(1, steps - f.warmup));
  return floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * progress));
}

function hyper(lr: number, f: Flags): StepHyper {
  return {
    lr,
    beta1: f.beta1,
    beta2: f.beta2,
    eps: 1e-8,
    weightDecay: f["weight-decay"],
    gradClip: f["grad-clip"],
  };
}

const mean = (xs: readonly number[]) =>
  xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

interface Ctx {
  f: Flags;
  gpu: Gpu;
  base: LoadedModel;
  tokenizer: Tokenizer;
  world: World;
  prefs: { train: Preference[]; heldOut: Preference[]; source: string };
  log: MetricsLog;
  say: (line: string) => void;
  /** Set by SIGINT/SIGTERM: the phase saves after its step and the run exits 130. */
  stop: StopRequest;
  /** The run id of each phase's checkpoints (a resumed phase keeps the one of its output). */
  runIds: { rm: string; policy: string };
  /** The run id of the reward model the policy is trained against, once it is loaded. */
  rewardRun?: string;
}

// ---- checkpoints of a phase ------------------------------------------------------------------

/** Thrown once a phase saved its checkpoint after a signal: the run exits 130. */
class Interrupted extends Error {}

/**
 * The checkpoints of one phase (the reward model, or the policy): saved every --save-every steps,
 * after the step in flight on a signal, and at the end; non-finite steps stop or are skipped.
 */
class Phase {
  /** The step of the checkpoint in `dir` that this run resumed from or wrote. */
  kept: number | undefined;
  #fresh: boolean;

  constructor(
    readonly ctx: Ctx,
    /** Its name in logs ("rm", "ppo", "dpo", "grpo"). */
    readonly name: string,
    readonly dir: string,
    resumed: Checkpoint | undefined,
    readonly build: (step: number, finished: boolean) => Promise<Checkpoint>,
  ) {
    this.kept = resumed ? resumed.state.step as number : undefined;
    // A fresh run replaces what an earlier run left in `dir` (and its history) at its first save.
    this.#fresh = !resumed;
  }

  async save(step: number, finished: boolean): Promise<void> {
    const ckpt = await this.build(step, finished);
    const runId = this.name === "rm" ? this.ctx.runIds.rm : this.ctx.runIds.policy;
    ckpt.state = { ...ckpt.state, run_id: runId };
    await saveCheckpoint(this.dir, ckpt, { keep: this.ctx.f.keep, replace: this.#fresh });
    this.#fresh = false;
    this.kept = step;
  }

  /** After step `step` of `total`: saves and stops on a signal, or saves every --save-every. */
  async after(step: number, total: number): Promise<void> {
    const every = this.ctx.f["save-every"];
    if (this.ctx.stop.requested) {
      await this.save(step, false);
      console.log(`interrupted: ${this.name} checkpoint at step ${step} written to ${this.dir}`);
      throw new Interrupted();
    }
    if (every > 0 && step % every === 0 && step < total) await this.save(step, false);
  }

  /**
   * Whether step `step` went wrong (a non-finite loss or gradient norm; AdamW skipped the update
   * on the GPU): with --skip-nonfinite it is logged as skipped and true returned, else the run
   * stops naming the step and the checkpoint kept.
   */
  bad(step: number, stats: { loss: number; gradNorm: number }, remedy: string): boolean {
    if (Number.isFinite(stats.loss) && Number.isFinite(stats.gradNorm)) return false;
    if (!this.ctx.f["skip-nonfinite"]) {
      const kept = this.kept !== undefined ? { step: this.kept, dir: this.dir } : undefined;
      throw nonFiniteError(`${this.name.toUpperCase()} step ${step}`, stats, kept, remedy);
    }
    this.ctx.log.write({ stage: "rlhf", phase: this.name, step, skipped: true });
    console.error(
      `${this.name} step ${step}: loss ${stats.loss}, gradient norm ${stats.gradNorm}: ` +
        `update skipped`,
    );
    return true;
  }
}

/** Where a shuffled pass over the training pairs stands. */
interface OrderState {
  rng: number;
  cursor: number;
  order: number[];
}

/** The training pairs in a shuffled order, reshuffled at each pass; its state resumes exactly. */
class PairOrder {
  #rng: Rng;
  #order: number[];
  #cursor = 0;

  constructor(n: number, seed: number) {
    this.#rng = new Rng(seed);
    this.#order = this.#rng.shuffle([...Array(n).keys()]);
  }

  /** The index of the next pair. */
  next(): number {
    if (this.#cursor === this.#order.length) {
      this.#rng.shuffle(this.#order);
      this.#cursor = 0;
    }
    return this.#order[this.#cursor++];
  }

  get state(): OrderState {
    return { rng: this.#rng.state, cursor: this.#cursor, order: [...this.#order] };
  }

  set state(s: OrderState) {
    if (s?.order?.length !== this.#order.length) {
      throw new UsageError(
        `--resume: the checkpoint was trained on ${s?.order?.length} preference pairs, this ` +
          `run has ${this.#order.length}: pass the same --data`,
      );
    }
    this.#rng.state = s.rng;
    this.#cursor = s.cursor;
    this.#order = [...s.order];
  }
}

/** What `--resume` finds of a phase in `dir` (see {@linkcode resumable}). */
interface Resumable {
  /** The checkpoint to continue: the newest complete one of the run that owns `dir`. */
  found?: { from: string; ckpt: Checkpoint };
  /** The run id its checkpoints go on with (undefined for an output of an older layout). */
  runId?: string;
  /** Why a checkpoint in `dir` is not resumed: it belongs to an earlier run. */
  stale?: string;
}

/**
 * The checkpoint of a phase in `dir` to resume: the newest complete one of the run that owns `dir`
 * (never one an earlier run left there); nothing when there is none.
 */
async function resumable(
  dir: string,
  options: Parameters<typeof loadCheckpoint>[1],
): Promise<Resumable> {
  const point = await resumePoint(dir);
  if (point.from === undefined) return { stale: point.stale };
  try {
    await Deno.stat(point.from);
  } catch {
    return {};
  }
  const ckpt = await loadCheckpoint(point.from, options);
  return {
    found: { from: point.from, ckpt },
    runId: point.owner?.run_id ?? (ckpt.state.run_id as string | undefined),
  };
}

// ---- reward model ------------------------------------------------------------------------------

/** The reward model's trainer, built before anything is written (a size that does not fit fails). */
interface RewardRig {
  init: ReturnType<typeof withScalarHead>;
  gpt: Gpt;
  trainer: Trainer;
}

async function rewardRig(ctx: Ctx, resumed?: Checkpoint): Promise<RewardRig> {
  const { f, gpu, base } = ctx;
  const init = resumed
    ? { config: resumed.config, params: resumed.params }
    : withScalarHead(base.checkpoint.config, base.checkpoint.params, { seed: f.seed });
  const gpt = Gpt.create(gpu, init.config, { values: init.params });
  const trainer = new Trainer(gpt, {
    B: 2 * f["rm-batch"],
    T: base.checkpoint.config.context,
    step: resumed ? optimizerStep(resumed) : 0,
  });
  if (resumed) trainer.loadMoments(resumed.optimizer!);
  await trainer.ready();
  return { init, gpt, trainer };
}

/** The AdamW step count of a checkpoint (its optimizer may take several steps per phase step). */
function optimizerStep(ckpt: Checkpoint): number {
  return (ckpt.state.optimizer_step ?? ckpt.state.step) as number;
}

async function trainRewardModel(ctx: Ctx, rig: RewardRig, resumed?: Checkpoint): Promise<number> {
  const { f, gpu, base, tokenizer, log } = ctx;
  const T = base.checkpoint.config.context;
  const { init, gpt, trainer } = rig;
  const rm = new RewardModelTrainer(trainer, tokenizer.eot);
  const encode = (p: Preference) => encodePreference(tokenizer, p, T);
  const order = new PairOrder(ctx.prefs.train.length, f.seed + 11);
  if (resumed) order.state = resumed.state.data as OrderState;
  const first = (resumed ? resumed.state.step as number : 0) + 1;
  const heldOut = ctx.prefs.heldOut.map(encode);
  const evalSet = f["rm-eval-pairs"] > 0 ? heldOut.slice(0, f["rm-eval-pairs"]) : heldOut;
  console.log(
    `rlhf rm: ${ctx.prefs.train.length} train / ${ctx.prefs.heldOut.length} held-out pairs ` +
      `(${ctx.prefs.source}); ${f["rm-steps"]} steps of ${f["rm-batch"]} pairs, lr ${f["rm-lr"]}`,
  );
  const start = performance.now();
  // The last held-out accuracy (null in JSON while there is none).
  let accuracy = (resumed?.state.rm_accuracy as number | null | undefined) ?? NaN;
  const trainAcc: number[] = [];
  const phase = new Phase(ctx, "rm", f["reward-out"], resumed, async (step, finished) => ({
    config: init.config,
    tokenizer: tokenizer.spec as unknown as Record<string, unknown>,
    params: await readTable(gpu, gpt.params),
    optimizer: await trainer.readMoments(),
    state: {
      stage: "reward",
      phase: "rm",
      step,
      optimizer_step: trainer.step,
      finished,
      rm_accuracy: accuracy,
      eval_pairs: evalSet.length,
      init: f.init,
      data_source: ctx.prefs.source,
      data: order.state,
      flags: f,
    },
  }));
  if (resumed) console.log(`rlhf rm: resuming at step ${first - 1} of ${f["rm-steps"]}`);
  for (let step = first; step <= f["rm-steps"]; step++) {
    const pairs: EncodedPair[] = [];
    for (let i = 0; i < f["rm-batch"]; i++) pairs.push(encode(ctx.prefs.train[order.next()]));
    const lr = lrAt(f["rm-lr"], step, f["rm-steps"], f);
    const s = await rm.step(pairs, hyper(lr, f), {
      margin: f.margin,
      centerCoef: f["center-coef"],
    });
    const finite = Number.isFinite(s.loss) && Number.isFinite(s.gradNorm);
    if (!finite && !f["skip-nonfinite"] && phase.kept === undefined) {
      throw new NonFiniteError(`RM step ${step}: the loss is not finite: lower --rm-lr`);
    }
    if (phase.bad(step, s, "lower --rm-lr")) {
      await phase.after(step, f["rm-steps"]);
      continue;
    }
    trainAcc.push(s.accuracy);
    log.write({
      stage: "rlhf",
      phase: "rm",
      step,
      rm_loss: s.loss,
      rm_train_accuracy: s.accuracy,
      lr,
      grad_norm: s.gradNorm,
    });
    const evalNow = step === f["rm-steps"] ||
      (f["rm-eval-every"] > 0 && step % f["rm-eval-every"] === 0);
    if (evalNow && evalSet.length > 0) {
      accuracy = await rm.accuracy(evalSet);
      log.write({ stage: "rlhf", phase: "rm", step, rm_accuracy: accuracy });
    }
    if (!f.quiet && (step === 1 || step % 10 === 0 || evalNow)) {
      const el = (performance.now() - start) / 1000;
      ctx.say(
        `rm step ${step}/${f["rm-steps"]} | loss ${s.loss.toFixed(4)} | train acc ${
          mean(trainAcc.slice(-10)).toFixed(2)
        }${evalNow ? ` | held-out acc ${accuracy.toFixed(3)}` : ""} | ${fmtDuration(el)} (ETA ${
          fmtDuration((el / (step - first + 1)) * (f["rm-steps"] - step))
        })`,
      );
    }
    await phase.after(step, f["rm-steps"]);
  }
  if (f["rm-steps"] === 0 && evalSet.length > 0) accuracy = await rm.accuracy(evalSet);
  await phase.save(f["rm-steps"], true);
  console.log(
    `rlhf rm: held-out accuracy ${(100 * accuracy).toFixed(1)}% on ${evalSet.length} pairs ` +
      `after ${f["rm-steps"]} steps (${
        fmtDuration((performance.now() - start) / 1000)
      }); reward model in ${f["reward-out"]}`,
  );
  trainer.destroy();
  gpt.destroy();
  return accuracy;
}

// ---- shared policy machinery -----------------------------------------------------------------

/** Prompt ids and the raw prompt (for the judge) of a training prompt. */
interface PromptItem {
  ids: number[];
  text: string;
}

/** One sampled (or given) response in the token layout of the evaluators. */
interface Sample {
  prompt: PromptItem;
  /** Prompt ids then response ids (the end-of-text included when produced). */
  seq: number[];
  promptLength: number;
  finished: boolean;
}

class PolicyRig {
  readonly policy: Gpt;
  readonly trainer: Trainer;
  readonly policyEval: Evaluator;
  readonly refEval: Evaluator;
  readonly generator: Generator;
  readonly B: number;
  readonly T: number;

  /** `resumed`: the policy checkpoint to continue from (parameters, AdamW moments and step). */
  constructor(ctx: Ctx, B: number, resumed?: Checkpoint) {
    const { gpu, base } = ctx;
    this.B = B;
    this.T = base.checkpoint.config.context;
    this.policy = Gpt.create(gpu, base.checkpoint.config, {
      values: resumed?.params ?? base.checkpoint.params,
    });
    this.trainer = new Trainer(this.policy, {
      B,
      T: this.T,
      step: resumed ? optimizerStep(resumed) : 0,
    });
    if (resumed) this.trainer.loadMoments(resumed.optimizer!);
    this.policyEval = new Evaluator(this.policy, { B, T: this.T });
    this.refEval = new Evaluator(base.gpt, { B, T: this.T });
    this.generator = new Generator(this.policy, B);
  }

  async ready(): Promise<void> {
    await this.trainer.ready();
    await this.generator.ready();
  }

  destroy(): void {
    this.trainer.destroy();
    this.policyEval.destroy();
    this.refEval.destroy();
    this.generator.destroy();
  }
}

function trainingPrompts(ctx: Ctx): PromptItem[] {
  const { tokenizer } = ctx;
  if (ctx.f.data !== "") {
    const seen = new Set<string>();
    const out: PromptItem[] = [];
    for (const p of ctx.prefs.train) {
      const key = JSON.stringify(p.turns);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ ids: encodeConversation(tokenizer, p.turns), text: lastInstruction(p.turns) });
    }
    return out;
  }
  const texts = [...new Set(ctx.world.instructions.map((p) => p.prompt))];
  return texts.map((t) => ({ ids: tokenizer.encode(formatPrompt(t)), text: t }));
}

function lastInstruction(turns: readonly Turn[]): string {
  return turns[turns.length - 1].instruction;
}

function responseText(tokenizer: Tokenizer, s: Sample): string {
  const body = s.seq.slice(s.promptLength).filter((id) => id !== tokenizer.eot);
  return extractResponse(tokenizer.decode(body));
}

async function sampleBatch(
  rig: PolicyRig,
  prompts: readonly PromptItem[],
  ctx: Ctx,
  rng: Rng,
  greedy = false,
): Promise<Sample[]> {
  const { f, tokenizer } = ctx;
  const maxPrompt = rig.T - 8;
  const items = prompts.map((p) => ({ ...p, ids: p.ids.slice(-maxPrompt) }));
  const out = await rig.generator.generate(items.map((p) => p.ids), {
    maxTokens: f["max-tokens"],
    temperature: greedy ? 0 : f.temperature,
    topK: f["top-k"],
    topP: f["top-p"],
    rng,
    stopToken: tokenizer.eot,
  });
  return items.map((p, i) => ({
    prompt: p,
    seq: [...out.prompts[i], ...out.tokens[i]],
    promptLength: out.prompts[i].length,
    finished: out.finished[i],
  }));
}

async function scoreSamples(
  samples: readonly Sample[],
  ctx: Ctx,
  rm: ValueReader | undefined,
): Promise<{ raw: number[]; scores: number[] }> {
  const { f, tokenizer } = ctx;
  let raw: number[];
  if (f.reward === "judge" || !rm) {
    raw = samples.map((s) => judge(s.prompt.text, responseText(tokenizer, s)).score);
  } else {
    raw = await rm.scores(samples.map((s) => s.seq.slice(0, rm.graph.T)), tokenizer.eot);
  }
  const scores = raw.map((r, i) => {
    let v = r;
    if (f["reward-clip"] > 0) v = Math.max(-f["reward-clip"], Math.min(f["reward-clip"], v));
    return samples[i].finished ? v : v + f["no-eos-penalty"];
  });
  return { raw, scores };
}

/**
 * The policy phase's checkpoints in --out: the policy with its AdamW moments, and `state` (the
 * algorithm's own: RNG, data position, ...) merged into state.json.
 */
function policyPhase(
  ctx: Ctx,
  rig: PolicyRig,
  resumed: Checkpoint | undefined,
  state: () => Record<string, unknown>,
  extra?: () => Promise<Checkpoint["extra"]>,
): Phase {
  const { f, gpu, base } = ctx;
  return new Phase(ctx, f.algo, f.out, resumed, async (step, finished) => ({
    config: base.checkpoint.config,
    tokenizer: base.tokenizer.spec as unknown as Record<string, unknown>,
    params: withoutScalarHead(await readTable(gpu, rig.policy.params)),
    optimizer: await rig.trainer.readMoments(),
    extra: extra ? await extra() : undefined,
    state: {
      stage: "rlhf",
      algo: f.algo,
      phase: f.algo,
      step,
      optimizer_step: rig.trainer.step,
      finished,
      init: f.init,
      // The reward model it was trained against: a retrained one makes it start afresh.
      ...(ctx.rewardRun !== undefined ? { reward_run: ctx.rewardRun } : {}),
      flags: f,
      ...state(),
    },
  }));
}

/** The step a policy phase starts after, with a line saying so when it resumes. */
function resumeStep(ctx: Ctx, resumed: Checkpoint | undefined): number {
  if (!resumed) return 0;
  const step = resumed.state.step as number;
  console.log(`rlhf ${ctx.f.algo}: resuming at step ${step} of ${ctx.f.steps}`);
  return step;
}

/** Ends a policy phase: its final checkpoint, unless the resumed one already is. */
async function finishPhase(phase: Phase, resumed: Checkpoint | undefined, steps: number) {
  if (resumed?.state.finished === true && resumed.state.step === steps) return;
  await phase.save(steps, true);
}

// ---- PPO -------------------------------------------------------------------------------------

async function trainPpo(
  ctx: Ctx,
  rig: PolicyRig,
  rmGpt: Gpt | undefined,
  resumed?: Checkpoint,
): Promise<void> {
  const { f, gpu, tokenizer, log } = ctx;
  const B = rig.B, T = rig.T;
  const rm = rmGpt ? new ValueReader(rmGpt, { B, T }) : undefined;
  // The value model: a separate scalar-head model from the reward model (or, with the judge as
  // reward and no RM, from the SFT trunk with a zero head); when resuming, the checkpoint's.
  const vSaved = resumed?.extra?.value;
  const vInit = vSaved
    ? vSaved
    : rmGpt
    ? { config: rmGpt.config, params: await rmGpt.readParameters() }
    : withScalarHead(ctx.base.checkpoint.config, ctx.base.checkpoint.params, { zero: true });
  const valueGpt = Gpt.create(gpu, vInit.config, { values: vInit.params });
  const valueTrainer = new Trainer(valueGpt, {
    B,
    T,
    step: (resumed?.state.value_step as number | undefined) ?? 0,
  });
  if (vSaved) valueTrainer.loadMoments(vSaved.optimizer!);
  await valueTrainer.ready();
  const prompts = trainingPrompts(ctx);
  const rng = new Rng(f.seed + 21);
  const kl = new AdaptiveKl(f["kl-coef"], f["target-kl"], f["kl-horizon"]);
  if (resumed) {
    rng.state = resumed.state.rng as number;
    kl.value = resumed.state.kl_coef as number;
  }
  const phase = policyPhase(
    ctx,
    rig,
    resumed,
    () => ({ rng: rng.state, kl_coef: kl.value, value_step: valueTrainer.step }),
    async () => ({
      value: {
        config: vInit.config,
        params: await readTable(gpu, valueGpt.params),
        optimizer: await valueTrainer.readMoments(),
      },
    }),
  );
  const first = resumeStep(ctx, resumed) + 1;
  const start = performance.now();
  console.log(
    `rlhf ppo: ${f.steps} steps of ${B} rollouts (≤ ${f["max-tokens"]} tokens), ` +
      `${f["ppo-epochs"]} epochs x ${f.minibatches} minibatches; reward ${f.reward}; ` +
      `β ${f["kl-coef"]}${f["target-kl"] > 0 ? ` → target KL ${f["target-kl"]}/token` : ""}`,
  );
  for (let step = first; step <= f.steps; step++) {
    const chosen = Array.from({ length: B }, () => prompts[rng.int(prompts.length)]);
    const samples = await sampleBatch(rig, chosen, ctx, rng);
    const batch = responseBatch(samples, { B, T, pad: tokenizer.eot });
    const oldLogp = await responseLogProbs(rig.policyEval, batch);
    const refLogp = await responseLogProbs(rig.refEval, batch);
    const vals = await valueTrainer.forwardValues(batch);
    const oldValues = batch.positions.map((pos) => pos.map((i) => vals[i]));
    const { raw, scores } = await scoreSamples(samples, ctx, rm);
    const beta = kl.value;
    const adv: number[][] = [], ret: number[][] = [];
    for (let b = 0; b < B; b++) {
      const r = tokenRewards(oldLogp[b], refLogp[b], scores[b], beta);
      const g = gae(r, oldValues[b], f.gamma, f.lam);
      adv.push(g.advantages);
      ret.push(g.returns);
    }
    const flat = whiten(adv.flat());
    let k = 0;
    const advW = adv.map((a) => a.map(() => flat[k++]));
    const klTok = mean(oldLogp.flatMap((lp, b) => lp.map((x, t) => x - refLogp[b][t])));
    const entropy = mean(oldLogp.flat().map((x) => -x));
    const lr = lrAt(f.lr, step, f.steps, f);
    const vlr = lrAt(f["value-lr"], step, f.steps, f);
    const rows = [...Array(B).keys()];
    let clipFrac = 0, valueLoss = 0, policyLoss = 0, approxKl = 0, updates = 0;
    let skipped = false;
    epochs: for (let epoch = 0; epoch < f["ppo-epochs"]; epoch++) {
      const perm = rng.shuffle([...rows]);
      for (let m = 0; m < f.minibatches; m++) {
        const mb = new Set(perm.filter((_, i) => i % f.minibatches === m));
        const first = epoch === 0 && m === 0;
        const logp = first ? oldLogp : await responseLogProbs(rig.policyEval, batch);
        const sel = (xs: number[][]) => xs.flatMap((x, b) => (mb.has(b) ? x : []));
        const pl = ppoPolicyLoss(sel(logp), sel(oldLogp), sel(advW), f.cliprange);
        const weights = new Float32Array(B * T);
        let j = 0;
        batch.positions.forEach((pos, b) => {
          if (!mb.has(b)) return;
          for (const i of pos) weights[i] = pl.weights[j++];
        });
        const pstats = rig.trainer.submit(
          [{ inputs: batch.inputs, targets: batch.targets, weights }],
          hyper(lr, f),
          { rawWeights: true },
        );
        const v = first ? vals : await valueTrainer.forwardValues(batch);
        const newValues = batch.positions.map((pos) => pos.map((i) => v[i]));
        const vl = ppoValueLoss(sel(newValues), sel(oldValues), sel(ret), f["cliprange-value"]);
        const dvalues = new Float32Array(B * T);
        j = 0;
        batch.positions.forEach((pos, b) => {
          if (!mb.has(b)) return;
          for (const i of pos) dvalues[i] = vl.dvalues[j++];
        });
        const vstats = await valueTrainer.submitValueGradient(dvalues, hyper(vlr, f));
        const ps = await pstats;
        const worst = Number.isFinite(ps.gradNorm) ? vstats.gradNorm : ps.gradNorm;
        if (phase.bad(step, { loss: ps.loss, gradNorm: worst }, "lower --lr or --value-lr")) {
          skipped = true;
          break epochs;
        }
        clipFrac += pl.clipFrac;
        valueLoss += vl.loss;
        policyLoss += pl.loss;
        approxKl += pl.approxKl;
        updates++;
      }
    }
    if (skipped) {
      await phase.after(step, f.steps);
      continue;
    }
    kl.update(klTok, B);
    const length = mean(samples.map((s) => s.seq.length - s.promptLength));
    const record = {
      stage: "rlhf",
      phase: "ppo",
      step,
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
    log.write(record);
    if (!f.quiet) {
      const el = (performance.now() - start) / 1000;
      ctx.say(
        `ppo step ${step}/${f.steps} | reward ${record.reward.toFixed(3)} | kl ${
          klTok.toFixed(4)
        } (β ${beta.toFixed(4)}) | entropy ${entropy.toFixed(3)} | clip ${
          record.clip_frac.toFixed(3)
        } | vloss ${record.value_loss.toFixed(4)} | len ${length.toFixed(1)} | ${
          fmtDuration(el)
        } (ETA ${fmtDuration((el / (step - first + 1)) * (f.steps - step))})`,
      );
    }
    await phase.after(step, f.steps);
  }
  await finishPhase(phase, resumed, f.steps);
  rm?.destroy();
  valueTrainer.destroy();
  valueGpt.destroy();
}

// ---- GRPO ------------------------------------------------------------------------------------

async function trainGrpo(
  ctx: Ctx,
  rig: PolicyRig,
  rmGpt: Gpt | undefined,
  resumed?: Checkpoint,
): Promise<void> {
  const { f, tokenizer, log } = ctx;
  const B = rig.B, T = rig.T, G = f["group-size"];
  const groups = B / G;
  const rm = rmGpt && f.reward === "rm" ? new ValueReader(rmGpt, { B, T }) : undefined;
  const prompts = trainingPrompts(ctx);
  const rng = new Rng(f.seed + 31);
  if (resumed) rng.state = resumed.state.rng as number;
  const phase = policyPhase(ctx, rig, resumed, () => ({ rng: rng.state }));
  const first = resumeStep(ctx, resumed) + 1;
  const start = performance.now();
  console.log(
    `rlhf grpo: ${f.steps} steps of ${groups} prompts x ${G} responses; reward ${f.reward}; ` +
      `KL penalty ${f["grpo-beta"]} (k3)`,
  );
  for (let step = first; step <= f.steps; step++) {
    const chosen: PromptItem[] = [];
    for (let g = 0; g < groups; g++) {
      const p = prompts[rng.int(prompts.length)];
      for (let i = 0; i < G; i++) chosen.push(p);
    }
    const samples = await sampleBatch(rig, chosen, ctx, rng);
    const batch = responseBatch(samples, { B, T, pad: tokenizer.eot });
    const oldLogp = await responseLogProbs(rig.policyEval, batch);
    const refLogp = await responseLogProbs(rig.refEval, batch);
    const { raw, scores } = await scoreSamples(samples, ctx, rm);
    const seqAdv = groupAdvantages(scores, G);
    const adv = oldLogp.map((lp, b) => lp.map(() => seqAdv[b]));
    const lr = lrAt(f.lr, step, f.steps, f);
    let clipFrac = 0, klPen = 0, updates = 0;
    let skipped = false;
    for (let epoch = 0; epoch < f["ppo-epochs"]; epoch++) {
      const logp = epoch === 0 ? oldLogp : await responseLogProbs(rig.policyEval, batch);
      const pl = ppoPolicyLoss(logp.flat(), oldLogp.flat(), adv.flat(), f.cliprange);
      const n = pl.weights.length;
      const weights = new Float32Array(B * T);
      let j = 0, klSum = 0;
      batch.positions.forEach((pos, b) => {
        pos.forEach((i, t) => {
          const kk = k3(logp[b][t], refLogp[b][t]);
          klSum += kk.kl;
          // ∂(β·k3/n)/∂CE = −β·(∂k3/∂logπ)/n
          weights[i] = pl.weights[j++] - (f["grpo-beta"] * kk.dLogp) / n;
        });
      });
      const s = await rig.trainer.submit(
        [{ inputs: batch.inputs, targets: batch.targets, weights }],
        hyper(lr, f),
        { rawWeights: true },
      );
      if (phase.bad(step, s, "lower --lr")) {
        skipped = true;
        break;
      }
      clipFrac += pl.clipFrac;
      klPen += klSum / Math.max(1, n);
      updates++;
    }
    if (skipped) {
      await phase.after(step, f.steps);
      continue;
    }
    const klTok = mean(oldLogp.flatMap((lp, b) => lp.map((x, t) => x - refLogp[b][t])));
    const entropy = mean(oldLogp.flat().map((x) => -x));
    const length = mean(samples.map((s) => s.seq.length - s.promptLength));
    const record = {
      stage: "rlhf",
      phase: "grpo",
      step,
      reward: mean(raw),
      kl: klTok,
      kl_k3: klPen / updates,
      entropy,
      clip_frac: clipFrac / updates,
      response_length: length,
      lr,
    };
    log.write(record);
    if (!f.quiet) {
      const el = (performance.now() - start) / 1000;
      ctx.say(
        `grpo step ${step}/${f.steps} | reward ${record.reward.toFixed(3)} | kl ${
          klTok.toFixed(4)
        } | entropy ${entropy.toFixed(3)} | clip ${record.clip_frac.toFixed(3)} | len ${
          length.toFixed(1)
        } | ${fmtDuration(el)} (ETA ${fmtDuration((el / (step - first + 1)) * (f.steps - step))})`,
      );
    }
    await phase.after(step, f.steps);
  }
  await finishPhase(phase, resumed, f.steps);
  rm?.destroy();
}

// ---- DPO -------------------------------------------------------------------------------------

async function trainDpo(ctx: Ctx, rig: PolicyRig, resumed?: Checkpoint): Promise<void> {
  const { f, tokenizer, log } = ctx;
  const B = rig.B, T = rig.T, P = B / 2;
  const encode = (p: Preference) => encodePreference(tokenizer, p, T + 1);
  const toSample = (e: ReturnType<typeof encode>["chosen"]): Sample => ({
    prompt: { ids: [], text: "" },
    seq: e.ids,
    promptLength: e.promptLength,
    finished: true,
  });
  const order = new PairOrder(ctx.prefs.train.length, f.seed + 41);
  // Reference log-probabilities, computed once per pair when it is first used, then cached (and
  // saved: a resumed run uses the very numbers of the uninterrupted one).
  const refCache = new Map<number, [number, number]>();
  if (resumed) {
    order.state = resumed.state.data as OrderState;
    for (const [i, c, r] of resumed.state.ref_logps as number[][]) refCache.set(i, [c, r]);
  }
  const phase = policyPhase(ctx, rig, resumed, () => ({
    data: order.state,
    ref_logps: [...refCache].map(([i, [c, r]]) => [i, c, r]),
  }));
  const start = performance.now();
  console.log(`rlhf dpo: ${f.steps} steps of ${P} pairs, β ${f.beta}, lr ${f.lr}`);
  const first = resumeStep(ctx, resumed) + 1;
  for (let step = first; step <= f.steps; step++) {
    const idx: number[] = [];
    for (let i = 0; i < P; i++) idx.push(order.next());
    const enc = idx.map((i) => encode(ctx.prefs.train[i]));
    const samples = enc.flatMap((e) => [toSample(e.chosen), toSample(e.rejected)]);
    const batch = responseBatch(samples, { B, T, pad: tokenizer.eot });
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    if (idx.some((i) => !refCache.has(i))) {
      const ref = await responseLogProbs(rig.refEval, batch);
      idx.forEach((i, j) => refCache.set(i, [sum(ref[2 * j]), sum(ref[2 * j + 1])]));
    }
    const logp = await responseLogProbs(rig.policyEval, batch);
    const weights = new Float32Array(B * T);
    let loss = 0, acc = 0, margin = 0;
    idx.forEach((i, j) => {
      const [rc, rr] = refCache.get(i)!;
      const d = dpoLoss(sum(logp[2 * j]), sum(logp[2 * j + 1]), rc, rr, f.beta);
      loss += d.loss / P;
      acc += (d.z > 0 ? 1 : 0) / P;
      margin += d.z / P;
      for (const p of batch.positions[2 * j]) weights[p] = d.chosenWeight / P;
      for (const p of batch.positions[2 * j + 1]) weights[p] = d.rejectedWeight / P;
    });
    const lr = lrAt(f.lr, step, f.steps, f);
    const s = await rig.trainer.submit(
      [{ inputs: batch.inputs, targets: batch.targets, weights }],
      hyper(lr, f),
      { rawWeights: true },
    );
    if (phase.bad(step, { loss, gradNorm: s.gradNorm }, "lower --lr")) {
      await phase.after(step, f.steps);
      continue;
    }
    log.write({
      stage: "rlhf",
      phase: "dpo",
      step,
      dpo_loss: loss,
      reward_accuracy: acc,
      reward_margin: margin,
      lr,
      grad_norm: s.gradNorm,
    });
    if (!f.quiet && (step === 1 || step % 5 === 0 || step === f.steps)) {
      const el = (performance.now() - start) / 1000;
      ctx.say(
        `dpo step ${step}/${f.steps} | loss ${loss.toFixed(4)} | acc ${acc.toFixed(2)} | margin ${
          margin.toFixed(3)
        } | ${fmtDuration(el)} (ETA ${fmtDuration((el / (step - first + 1)) * (f.steps - step))})`,
      );
    }
    await phase.after(step, f.steps);
  }
  await finishPhase(phase, resumed, f.steps);
}

// ---- final comparison ------------------------------------------------------------------------

interface PolicyReport {
  gold_score: number;
  format_compliance: number;
  count_ok: number;
  rm_score: number;
  response_length: number;
}

async function evaluatePolicy(
  ctx: Ctx,
  gen: Generator,
  rm: ValueReader | undefined,
  prompts: readonly PromptItem[],
): Promise<{ report: PolicyReport; samples: Sample[] }> {
  const { tokenizer } = ctx;
  const samples: Sample[] = [];
  for (let i = 0; i < prompts.length; i += gen.B) {
    const chunk = prompts.slice(i, i + gen.B);
    const out = await gen.generate(chunk.map((p) => p.ids), {
      maxTokens: ctx.f["max-tokens"],
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

async function finalComparison(
  ctx: Ctx,
  rig: PolicyRig,
  rmGpt: Gpt | undefined,
): Promise<Record<string, number>> {
  const { f, tokenizer } = ctx;
  const texts = selectPrompts(ctx.world.heldOutPrompts, f["eval-prompts"]);
  const prompts = texts.map((t) => ({ ids: tokenizer.encode(formatPrompt(t)), text: t }));
  const rm = rmGpt ? new ValueReader(rmGpt, { B: rig.B, T: rig.T }) : undefined;
  const sftGen = new Generator(ctx.base.gpt, rig.B);
  const sft = await evaluatePolicy(ctx, sftGen, rm, prompts);
  sftGen.destroy();
  const pol = await evaluatePolicy(ctx, rig.generator, rm, prompts);
  // KL of the policy to SFT on responses sampled from the policy.
  const rng = new Rng(f.seed + 51);
  const klTokens: number[] = [];
  for (let i = 0; i < prompts.length; i += rig.B) {
    const samples = await sampleBatch(rig, prompts.slice(i, i + rig.B), ctx, rng);
    const batch = responseBatch(samples, { B: rig.B, T: rig.T, pad: tokenizer.eot });
    const lp = await responseLogProbs(rig.policyEval, batch);
    const ref = await responseLogProbs(rig.refEval, batch);
    lp.forEach((x, b) => x.forEach((v, t) => klTokens.push(v - ref[b][t])));
  }
  rm?.destroy();
  const kl = mean(klTokens);
  const fmt = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(3));
  console.log(`rlhf: held-out prompts (${prompts.length}, greedy):        SFT    policy`);
  console.log(
    `  gold-judge score                             ${fmt(sft.report.gold_score)}  ${
      fmt(pol.report.gold_score)
    }`,
  );
  console.log(
    `  format compliance                            ${fmt(sft.report.format_compliance)}  ${
      fmt(pol.report.format_compliance)
    }`,
  );
  console.log(
    `  count ok                                     ${fmt(sft.report.count_ok)}  ${
      fmt(pol.report.count_ok)
    }`,
  );
  console.log(
    `  reward-model score                           ${fmt(sft.report.rm_score)}  ${
      fmt(pol.report.rm_score)
    }`,
  );
  console.log(
    `  mean length (tokens)                         ${sft.report.response_length.toFixed(1)}   ${
      pol.report.response_length.toFixed(1)
    }`,
  );
  console.log(
    `  KL(policy ‖ SFT) per token on sampled responses: ${kl.toFixed(4)}` +
      (f.algo === "ppo" && f["target-kl"] > 0 ? ` (target ${f["target-kl"]})` : ""),
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

// ---- main --------------------------------------------------------------------------------------

/** Runs the RLHF stage with the given command-line arguments. */
export async function rlhf(args: string[]): Promise<void> {
  const f = parseFlags(args, RLHF_FLAGS, USAGE);
  useAttention(f.attention);
  await checkWritable(f.out);
  await checkWritable(f["reward-out"], "--reward-out");
  // Data first: a bad preference file stops the run before anything is written.
  const world = generateWorld({ seed: 1, proseParagraphs: 0 });
  let prefs: Preference[], source: string;
  if (f.data !== "") {
    const loaded = await loadPreferences(f.data);
    prefs = loaded.pairs;
    for (const note of loaded.notes) console.log(`rlhf: ${f.data}: ${note}`);
    source = `${f.data}: ${loaded.formats.join(", ")}${
      loaded.skipped ? `, ${loaded.skipped} identical pairs skipped` : ""
    }`;
  } else {
    prefs = fromWorld(world.preferences);
    source = "the embedded world's preferences";
  }
  const split = splitHeldOut(prefs, 0.1);
  const gpu = await getGpu();
  const base = await loadModel(gpu, f.init);
  if (base.checkpoint.config.head === "scalar") {
    throw new UsageError(`--init ${f.init} is a scalar-head model: pass the SFT checkpoint`);
  }
  const ctx: Ctx = {
    f,
    gpu,
    base,
    tokenizer: base.tokenizer,
    world,
    prefs: { ...split, source },
    log: undefined as unknown as MetricsLog,
    say: (line) => console.log(line),
    stop: undefined as unknown as StopRequest,
    runIds: { rm: "", policy: "" },
  };
  const c = base.checkpoint.config;
  // --resume: a finished reward model is kept, an unfinished one continues; the policy continues
  // from its checkpoint unless the reward model is (re)trained in this run (a policy trained
  // against another reward model cannot continue). Only the checkpoints of the run that owns an
  // output are resumed, never those an earlier run left there (see resumePoint).
  let rmResumed: Checkpoint | undefined, rmFinished = false;
  let policyResumed: Checkpoint | undefined;
  // Why there is nothing to resume, when a checkpoint of an earlier run was passed over.
  const stale: string[] = [];
  // The run id of this run's fresh phases: a resumed run goes on with the one of what it resumes.
  let runId: string | undefined;
  let rmRunId: string | undefined, policyRunId: string | undefined;
  if (f.resume && f.stage !== "policy") {
    const { found, runId: id, stale: why } = await resumable(f["reward-out"], {});
    if (why) stale.push(why);
    rmRunId = runId = id;
    if (found) {
      const state = found.ckpt.state;
      if (state.stage !== "reward") {
        throw new UsageError(
          `--resume: ${found.from} holds a ${state.stage} checkpoint, not a reward model`,
        );
      }
      assertSameShape({ ...c, head: "scalar" }, found.ckpt.config, `--resume from ${found.from}`);
      rmFinished = state.finished !== false && (state.step as number) >= f["rm-steps"];
      if (!rmFinished) {
        rmResumed = await loadCheckpoint(found.from, { optimizer: true });
        if (rmResumed.state.data === undefined) {
          throw new UsageError(
            `--resume: ${found.from} holds no training state to continue from: start without ` +
              `--resume`,
          );
        }
      }
    }
  }
  if (f.resume && f.stage !== "rm" && (f.stage === "policy" || rmFinished)) {
    const extra = f.algo === "ppo" ? { value: { ...c, head: "scalar" as const } } : undefined;
    const { found, runId: id, stale: why } = await resumable(f.out, { optimizer: true, extra });
    if (f.stage === "policy") runId = id;
    if (why && f.stage === "policy") stale.push(why);
    else if (why) console.log(`rlhf: ${why}: the policy starts afresh`);
    if (found) {
      const state = found.ckpt.state;
      if (state.stage !== "rlhf" || state.algo !== f.algo || state.phase !== f.algo) {
        throw new UsageError(
          `--resume: ${found.from} holds a ${state.algo ?? state.stage} checkpoint, not ` +
            `${f.algo}: pass --algo ${state.algo ?? f.algo} or another --out`,
        );
      }
      assertSameShape(c, found.ckpt.config, `--resume from ${found.from}`);
      // A policy trained against another reward model than the one now in --reward-out (retrained
      // since, by another run) cannot continue.
      const trainedOn = found.ckpt.state.reward_run as string | undefined;
      const rmNow = await checkpointRunId(f["reward-out"]);
      if (trainedOn !== undefined && rmNow !== undefined && trainedOn !== rmNow) {
        const why = `${found.from} was trained against the reward model of run ${trainedOn}, ` +
          `${f["reward-out"]} now holds run ${rmNow}'s`;
        if (f.stage === "policy") stale.push(why);
        else console.log(`rlhf: ${why}: the policy starts afresh`);
      } else {
        policyResumed = found.ckpt;
        policyRunId = id;
        if (found.from !== f.out.replace(/\/+$/, "")) {
          console.log(`rlhf: ${f.out} is missing or incomplete: resuming from ${found.from}`);
        }
      }
    }
  }
  if (f.resume && !rmResumed && !rmFinished && !policyResumed) {
    throw new UsageError(
      `--resume: ${
        stale.length > 0
          ? stale.join("; ")
          : `no checkpoint to continue in ${
            f.stage === "rm"
              ? f["reward-out"]
              : f.stage === "policy"
              ? f.out
              : `${f["reward-out"]} or ${f.out}`
          }`
      }: start without --resume`,
    );
  }
  runId ??= newRunId();
  ctx.runIds = { rm: rmRunId ?? runId, policy: policyRunId ?? runId };
  // Every trained model is built before anything is written, so that a --batch or --rm-batch too
  // large for the adapter stops the run here, with one line and no output. (Holding the policy
  // during the reward model's training costs no more memory than PPO, which holds both.)
  const rmRig = f.stage !== "policy" && !rmFinished ? await rewardRig(ctx, rmResumed) : undefined;
  const rows = f.algo === "dpo"
    ? 2 * f.batch
    : f.algo === "grpo"
    ? f.batch * f["group-size"]
    : f.batch;
  const rig = f.stage !== "rm" ? new PolicyRig(ctx, rows, policyResumed) : undefined;
  await rig?.ready();
  const outDir = (f.stage === "rm" ? f["reward-out"] : f.out).replace(/\/+$/, "");
  await Deno.mkdir(outDir.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  // Each output a phase starts afresh in now belongs to this run: from now on --resume continues
  // this run's checkpoints there, never those of an earlier run.
  if (rmRig && !rmResumed) {
    await Deno.mkdir(f["reward-out"].replace(/\/[^/]*\/?$/, "") || ".", { recursive: true });
    await claimOutput(f["reward-out"], ctx.runIds.rm, "rlhf");
  }
  if (rig && !policyResumed) await claimOutput(f.out, ctx.runIds.policy, "rlhf");
  ctx.log = new MetricsLog(`${outDir}.metrics.jsonl`, !f.resume);
  console.log(
    `rlhf: ${
      f.stage === "rm" ? "reward model" : f.stage === "all" ? `reward model + ${f.algo}` : f.algo
    } ` +
      `from ${f.init} (${c.layers}x${c.width}, context ${c.context}, ${
        (parameterCount(c) / 1e6).toFixed(2)
      }M parameters); ${gpu.name}`,
  );
  ctx.log.write({ stage: "rlhf", event: "start", flags: f, config: c });
  const start = performance.now();
  const final: Record<string, number | string> = { stage: "rlhf", event: "end", algo: f.algo };
  ctx.stop = new StopRequest();
  try {
    if (rmRig) final.rm_accuracy = await trainRewardModel(ctx, rmRig, rmResumed);
    else if (rmFinished) console.log(`rlhf rm: the reward model in ${f["reward-out"]} is finished`);
    if (rig) {
      let rmGpt: Gpt | undefined;
      try {
        const rmModel = await loadModel(gpu, f["reward-out"]);
        if (rmModel.checkpoint.config.head !== "scalar") {
          throw new UsageError(
            `--reward-out ${f["reward-out"]} is not a reward model (no scalar head)`,
          );
        }
        if (rmModel.checkpoint.state.finished === false) {
          rmModel.gpt.destroy();
          throw new CheckpointError(
            `--reward-out ${
              f["reward-out"]
            } holds an unfinished reward model (step ${rmModel.checkpoint.state.step}): finish it with --stage rm --resume`,
          );
        }
        rmGpt = rmModel.gpt;
        ctx.rewardRun = rmModel.checkpoint.state.run_id as string | undefined;
        if (final.rm_accuracy === undefined) {
          final.rm_accuracy = rmModel.checkpoint.state.rm_accuracy as number;
        }
      } catch (e) {
        const needed = f.algo !== "dpo" && f.reward === "rm";
        if (needed || (e as Error).name !== "CheckpointError") throw e;
        console.log(`rlhf: no reward model in ${f["reward-out"]}: RM scores are not reported`);
      }
      if (f.algo === "ppo") await trainPpo(ctx, rig, rmGpt, policyResumed);
      else if (f.algo === "grpo") await trainGrpo(ctx, rig, rmGpt, policyResumed);
      else await trainDpo(ctx, rig, policyResumed);
      // The policy is saved: a signal during the final comparison just ends the run.
      ctx.stop.dispose();
      Object.assign(final, await finalComparison(ctx, rig, rmGpt));
      rig.destroy();
      console.log(`rlhf: policy in ${f.out}`);
    }
  } catch (e) {
    if (e instanceof Interrupted) Deno.exit(130);
    throw e;
  } finally {
    ctx.stop.dispose();
  }
  final.seconds = (performance.now() - start) / 1000;
  if (typeof final.rm_accuracy === "number") {
    console.log(`rlhf: reward-model held-out accuracy ${(100 * final.rm_accuracy).toFixed(1)}%`);
  }
  ctx.log.write(final);
  console.log(`rlhf: done in ${fmtDuration(final.seconds as number)}`);
}

if (import.meta.main) await runMain(() => rlhf(Deno.args));
