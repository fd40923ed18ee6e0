/**
 * What `--resume` continues: for a language-model stage, the newest complete checkpoint of the run
 * that owns its output; for RLHF, which phase continues (a finished reward model is kept, an
 * unfinished one continues, the policy continues unless its reward model was retrained since or
 * an earlier run left it), with the run ids each phase goes on with. Only checkpoints of the run
 * that owns an output (`<out>.run.json`, see model/checkpoint.ts) count, never those an earlier
 * run left there.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { GptConfig } from "../model/config.ts";
import {
  assertSameShape,
  type Checkpoint,
  checkpointRunId,
  loadCheckpoint,
  type LoadedModel,
  loadModel,
  newRunId,
  resumePoint,
} from "../model/checkpoint.ts";
import { UsageError } from "../stages/cli.ts";

/**
 * The model a stage starts from under `resume`: the newest complete checkpoint of `out` that
 * belongs to the run that owns `out` (refused with one line when there is none, or when it is
 * another stage's), with its AdamW moments, and the run id to keep. Without `resume`: none, and a
 * new run id.
 */
export async function resumeCheckpoint(
  gpu: Gpu,
  out: string,
  options: { resume: boolean; stage: string; label: string },
): Promise<{ model?: LoadedModel; runId: string }> {
  if (!options.resume) return { runId: newRunId() };
  const point = await resumePoint(out);
  if (point.from === undefined) {
    throw new UsageError(`--resume: ${point.stale}: start without --resume`);
  }
  const from = point.from;
  const model = await loadModel(gpu, from, { optimizer: true });
  const runId = point.owner?.run_id ?? (model.checkpoint.state.run_id as string | undefined) ??
    newRunId();
  if (model.checkpoint.state.stage !== options.stage) {
    throw new UsageError(
      `--resume: ${from} holds a ${model.checkpoint.state.stage} checkpoint, not ${options.label}`,
    );
  }
  if (from !== out.replace(/\/+$/, "")) {
    console.log(`${options.stage}: ${out} is missing or incomplete: resuming from ${from}`);
  }
  return { model, runId };
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

/** Options of {@linkcode planRlhf}. */
export interface RlhfPlanOptions {
  /** Whether to continue (false: every phase starts afresh). */
  resume: boolean;
  /** The phases run: the reward model, the policy, or both. */
  stage: "rm" | "policy" | "all";
  /** The policy algorithm. */
  algo: string;
  /** The reward model's directory. */
  rewardOut: string;
  /** The reward model's steps (a checkpoint at them is finished). */
  rmSteps: number;
  /** The policy's directory. */
  out: string;
  /** The config of the SFT model both start from. */
  config: GptConfig;
}

/** Which phases of an RLHF run continue, and the run ids each one's checkpoints carry. */
export interface RlhfPlan {
  /** The unfinished reward model to continue (with its AdamW moments). */
  rm?: Checkpoint;
  /** The reward model in `rewardOut` is finished and kept. */
  rmFinished: boolean;
  /** The policy checkpoint to continue (with its AdamW moments, and PPO's value model). */
  policy?: Checkpoint;
  /** The run id of the reward model's and of the policy's checkpoints. */
  runIds: { rm: string; policy: string };
}

/**
 * Decides what an RLHF run continues. With `resume`: a finished reward model is kept, an
 * unfinished one continues; the policy continues from its checkpoint unless the reward model is
 * (re)trained in this run, or the policy was trained against another reward model (`reward_run`),
 * or an earlier run left it (each case says so in one line, or stops the run with `--stage
 * policy`). Refuses (UsageError) when there is nothing to continue.
 */
export async function planRlhf(o: RlhfPlanOptions): Promise<RlhfPlan> {
  const c = o.config;
  let rm: Checkpoint | undefined, rmFinished = false, policy: Checkpoint | undefined;
  // Why there is nothing to resume, when a checkpoint of an earlier run was passed over.
  const stale: string[] = [];
  // The run id of this run's fresh phases: a resumed run goes on with the one of what it resumes.
  let runId: string | undefined;
  let rmRunId: string | undefined, policyRunId: string | undefined;
  if (o.resume && o.stage !== "policy") {
    const { found, runId: id, stale: why } = await resumable(o.rewardOut, {});
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
      rmFinished = state.finished !== false && (state.step as number) >= o.rmSteps;
      if (!rmFinished) {
        rm = await loadCheckpoint(found.from, { optimizer: true });
        if (rm.state.data === undefined) {
          throw new UsageError(
            `--resume: ${found.from} holds no training state to continue from: start without ` +
              `--resume`,
          );
        }
      }
    }
  }
  if (o.resume && o.stage !== "rm" && (o.stage === "policy" || rmFinished)) {
    const extra = o.algo === "ppo" ? { value: { ...c, head: "scalar" as const } } : undefined;
    const { found, runId: id, stale: why } = await resumable(o.out, { optimizer: true, extra });
    if (o.stage === "policy") runId = id;
    if (why && o.stage === "policy") stale.push(why);
    else if (why) console.log(`rlhf: ${why}: the policy starts afresh`);
    if (found) {
      const state = found.ckpt.state;
      if (state.stage !== "rlhf" || state.algo !== o.algo || state.phase !== o.algo) {
        throw new UsageError(
          `--resume: ${found.from} holds a ${state.algo ?? state.stage} checkpoint, not ` +
            `${o.algo}: pass --algo ${state.algo ?? o.algo} or another --out`,
        );
      }
      assertSameShape(c, found.ckpt.config, `--resume from ${found.from}`);
      // A policy trained against another reward model than the one now in rewardOut (retrained
      // since, by another run) cannot continue.
      const trainedOn = found.ckpt.state.reward_run as string | undefined;
      const rmNow = await checkpointRunId(o.rewardOut);
      if (trainedOn !== undefined && rmNow !== undefined && trainedOn !== rmNow) {
        const why = `${found.from} was trained against the reward model of run ${trainedOn}, ` +
          `${o.rewardOut} now holds run ${rmNow}'s`;
        if (o.stage === "policy") stale.push(why);
        else console.log(`rlhf: ${why}: the policy starts afresh`);
      } else {
        policy = found.ckpt;
        policyRunId = id;
        if (found.from !== o.out.replace(/\/+$/, "")) {
          console.log(`rlhf: ${o.out} is missing or incomplete: resuming from ${found.from}`);
        }
      }
    }
  }
  if (o.resume && !rm && !rmFinished && !policy) {
    const where = o.stage === "rm"
      ? o.rewardOut
      : o.stage === "policy"
      ? o.out
      : `${o.rewardOut} or ${o.out}`;
    throw new UsageError(
      `--resume: ${
        stale.length > 0 ? stale.join("; ") : `no checkpoint to continue in ${where}`
      }: start without --resume`,
    );
  }
  runId ??= newRunId();
  return { rm, rmFinished, policy, runIds: { rm: rmRunId ?? runId, policy: policyRunId ?? runId } };
}
