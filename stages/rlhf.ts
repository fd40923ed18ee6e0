/**
 * Stage 3: RLHF. A reward model trained on preference pairs, then the policy trained against it
 * with PPO (default), or directly on the pairs with DPO, or with GRPO on a reward function.
 *
 *     deno task rlhf                              # RM + PPO on the embedded world's preferences
 *     deno task rlhf --stage rm --rm-steps 200    # the reward model only → checkpoints/reward
 *     deno task rlhf --stage policy --algo dpo    # DPO from checkpoints/sft
 *     deno task rlhf --algo grpo --reward judge   # GRPO with the world's gold judge as reward
 *
 * A command line over `trainRlhf` (train/rlhf.ts), which runs the trainers of train/.
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
import { getGpu } from "../gpu/device.ts";
import { generateWorld } from "../data/world/mod.ts";
import { fromWorld, loadPreferences, type Preference, splitHeldOut } from "../data/preferences.ts";
import { loadModel } from "../model/checkpoint.ts";
import { selectPrompts } from "../model/instruct_eval.ts";
import { pairPrompts, promptItems } from "../train/policy.ts";
import { trainRlhf } from "../train/rlhf.ts";
import { checkWritable, parseFlags, runMain, type Schema, UsageError } from "./cli.ts";
import {
  ATTENTION_FLAG,
  CHECKPOINT_FLAGS,
  loopOptions,
  optimizerFlags,
  optimizerOptions,
  useAttention,
} from "./flags.ts";

const USAGE = "Usage: deno task rlhf [--algo ppo|dpo|grpo] [--stage rm|policy|all] [options]";

/** Flags of the stage, with their defaults (every one overridable). */
export const RLHF_FLAGS = {
  init: { default: "checkpoints/sft", help: "SFT checkpoint: policy, reference and RM trunk" },
  data: {
    default: "",
    help: "Preference file (.jsonl or .jsonl.gz; see data/preferences.ts); empty: the world's",
  },
  out: {
    default: "checkpoints/rlhf",
    help: "Policy directory to write (--stage rm without --reward-out: the reward model's)",
  },
  "reward-out": { default: "checkpoints/reward", help: "Reward model directory (written by rm)" },
  algo: { default: "ppo", help: "Policy algorithm", choices: ["ppo", "dpo", "grpo"] },
  stage: {
    default: "all",
    help: "rm: the reward model; policy: the policy; all: the reward model when the policy uses " +
      "it (ppo/grpo with --reward rm; or asked: --with-rm, --rm-steps), then the policy",
    choices: ["rm", "policy", "all"],
  },
  "with-rm": {
    default: false,
    help: "With --stage all, train the reward model also for DPO or --reward judge (for its " +
      "score in the final comparison)",
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
  ...optimizerFlags({ warmup: 5, weightDecay: 0 }),
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

/**
 * The phases to run: `--stage all` trains the reward model only when the policy uses it (PPO or
 * GRPO with `--reward rm`) or when asked (`--with-rm`, or `--rm-steps` given); else the policy.
 */
export function phases(
  f: { stage: string; algo: string; reward: string; "with-rm": boolean },
  rmStepsGiven: boolean,
): "rm" | "policy" | "all" {
  const used = f.algo !== "dpo" && f.reward === "rm";
  if (f.stage === "all" && !used && !f["with-rm"] && !rmStepsGiven) return "policy";
  return f.stage as "rm" | "policy" | "all";
}

/** Runs the RLHF stage with the given command-line arguments. */
export async function rlhf(args: string[]): Promise<void> {
  const f = parseFlags(args, RLHF_FLAGS, USAGE);
  useAttention(f.attention);
  const given = (flag: string) => args.some((a) => a === flag || a.startsWith(`${flag}=`));
  // --stage rm writes the reward model alone: to --reward-out when given, else to --out.
  const rmOnly = f.stage === "rm" && given("--out") && !given("--reward-out");
  const rewardOut = rmOnly ? f.out : f["reward-out"];
  await checkWritable(f.out);
  await checkWritable(rewardOut, rmOnly ? "--out" : "--reward-out");
  const stage = phases(f, given("--rm-steps"));
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
  const rollout = {
    maxTokens: f["max-tokens"],
    temperature: f.temperature,
    topK: f["top-k"],
    topP: f["top-p"],
  };
  if (stage !== f.stage) {
    const what = f.algo === "dpo" ? "dpo" : `${f.algo} with --reward judge`;
    console.log(`rlhf: ${what} uses no reward model: none is trained (--with-rm trains one)`);
  }
  const result = await trainRlhf(gpu, {
    base,
    init: f.init,
    prefs: { ...split, source },
    // PPO's and GRPO's prompts: the preference file's, or the world's instructions.
    prompts: f.data !== ""
      ? pairPrompts(base.tokenizer, split.train)
      : promptItems(base.tokenizer, [...new Set(world.instructions.map((p) => p.prompt))]),
    evalPrompts: selectPrompts(world.heldOutPrompts, f["eval-prompts"]),
    stage,
    algo: f.algo as "ppo" | "dpo" | "grpo",
    reward: f.reward as "rm" | "judge",
    out: f.out,
    rewardOut,
    resume: f.resume,
    seed: f.seed,
    optimizer: optimizerOptions(f),
    runs: loopOptions(f),
    rm: {
      steps: f["rm-steps"],
      batch: f["rm-batch"],
      lr: f["rm-lr"],
      margin: f.margin,
      centerCoef: f["center-coef"],
      evalEvery: f["rm-eval-every"],
      evalPairs: f["rm-eval-pairs"],
    },
    policy: {
      steps: f.steps,
      batch: f.batch,
      lr: f.lr,
      rollout,
      rewardClip: f["reward-clip"],
      noEosPenalty: f["no-eos-penalty"],
      valueLr: f["value-lr"],
      klCoef: f["kl-coef"],
      targetKl: f["target-kl"],
      klHorizon: f["kl-horizon"],
      gamma: f.gamma,
      lam: f.lam,
      cliprangeValue: f["cliprange-value"],
      minibatches: f.minibatches,
      cliprange: f.cliprange,
      epochs: f["ppo-epochs"],
      groupSize: f["group-size"],
      grpoKlCoef: f["grpo-beta"],
      beta: f.beta,
    },
    flags: f,
  });
  if (result.interrupted) Deno.exit(130);
}

if (import.meta.main) await runMain(() => rlhf(Deno.args));
