/**
 * Rewards of the policy trainers: any function of (prompt, response) → number, sync or async (the
 * world's gold judge is one: {@linkcode judgeReward}), or a reward model trained by
 * {@linkcode RewardTrainer} ({@linkcode RewardModel}), which scores the token ids themselves.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { judge } from "../data/world/mod.ts";
import { type Checkpoint, CheckpointError, loadModel } from "../model/checkpoint.ts";
import type { Gpt } from "../model/gpt.ts";
import { UsageError } from "../stages/cli.ts";

/** A reward of a response to a prompt (texts without the chat template). */
export type RewardFunction = (prompt: string, response: string) => number | Promise<number>;

/** The world's gold judge as a reward: its score, in [0, 1] (data/world/judge.ts). */
export const judgeReward: RewardFunction = (prompt: string, response: string): number =>
  judge(prompt, response).score;

/** A finished reward model on the GPU: the scalar-head model and its checkpoint. */
export class RewardModel {
  /** The scalar-head model. */
  readonly gpt: Gpt;
  /** Its checkpoint (config, parameters, state). */
  readonly checkpoint: Checkpoint;

  /** A reward model from its scalar-head model and checkpoint. */
  constructor(gpt: Gpt, checkpoint: Checkpoint) {
    if (gpt.config.head !== "scalar") throw new Error("A reward model needs the scalar head");
    this.gpt = gpt;
    this.checkpoint = checkpoint;
  }

  /**
   * Loads the reward model in `dir`: one with the scalar head whose training finished (an
   * unfinished one is a CheckpointError). `flag` names where `dir` came from in errors.
   */
  static async load(gpu: Gpu, dir: string, options: { flag?: string } = {}): Promise<RewardModel> {
    const flag = options.flag ?? "--reward-out";
    const m = await loadModel(gpu, dir);
    if (m.checkpoint.config.head !== "scalar") {
      throw new UsageError(`${flag} ${dir} is not a reward model (no scalar head)`);
    }
    if (m.checkpoint.state.finished === false) {
      m.gpt.destroy();
      throw new CheckpointError(
        `${flag} ${dir} holds an unfinished reward model (step ${m.checkpoint.state.step}): ` +
          `finish it with --stage rm --resume`,
      );
    }
    return new RewardModel(m.gpt, m.checkpoint);
  }

  /** The id of the run that trained it (`run_id`). */
  get runId(): string | undefined {
    return this.checkpoint.state.run_id as string | undefined;
  }

  /** Its held-out pairwise accuracy, as recorded when it was trained. */
  get accuracy(): number | undefined {
    return this.checkpoint.state.rm_accuracy as number | undefined;
  }

  /** Frees the model. */
  destroy(): void {
    this.gpt.destroy();
  }
}

/** A reward: a function of the texts, or a reward model. */
export type Reward = RewardFunction | RewardModel;
