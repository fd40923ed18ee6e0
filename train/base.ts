/**
 * What every trainer shares: the contract between an algorithm and the run loop of
 * {@linkcode run} (train/run.ts). A trainer knows how to take one step, how to evaluate, and what
 * its checkpoint holds; the loop owns everything around the steps (the learning-rate schedule,
 * checkpoints every `saveEvery` steps, signals, non-finite steps, the metrics JSONL, the progress
 * line and resuming).
 *
 * A new algorithm is a subclass: `trainStep` takes one step and reports its numbers, `checkpoint`
 * returns what to save, `evaluate` (optional) measures the model.
 *
 * @module
 */
import type { Checkpoint } from "../model/checkpoint.ts";
import type { StepHyper } from "../model/trainer.ts";
import { type NonFiniteError, nonFiniteError } from "./errors.ts";

/** AdamW and clipping settings of a trainer (the schedule of the learning rate is the run's). */
export interface OptimizerOptions {
  /** Peak learning rate. */
  lr?: number;
  /** AdamW β1. Default 0.9. */
  beta1?: number;
  /** AdamW β2. Default 0.95. */
  beta2?: number;
  /** AdamW weight decay of the 2-D tensors. */
  weightDecay?: number;
  /** Clip the global gradient norm to this (0: off). Default 1. */
  gradClip?: number;
}

/** What one step reports to the run loop. */
export interface StepReport {
  /** The loss checked for finiteness (a non-finite one stops or skips the step). */
  loss: number;
  /** The global gradient norm checked for finiteness. */
  gradNorm: number;
  /** The step's metrics record (after the trainer's tag and the step). */
  metrics: Record<string, number>;
  /** The fields of the progress line ("loss 0.3043", …). */
  progress: string[];
}

/** A step in flight: `report` resolves once its numbers are read back. */
export interface SubmittedStep {
  /** The step's report, once its numbers are read back. */
  report: Promise<StepReport>;
}

/** What the loop tells a step. */
export interface StepContext {
  /** The step (1-based). */
  step: number;
  /** The learning rate of this step under the run's schedule. */
  lr: number;
  /** The learning rate of this step for another peak (a second optimizer, PPO's value model). */
  lrFor(peak: number): number;
}

/** What an evaluation reports. */
export interface EvalReport {
  /** The metrics record (after the trainer's tag and the step). */
  metrics: Record<string, number>;
  /** The fields of the evaluation line ("val loss 0.3188", …). */
  fields: string[];
  /** Further lines printed after it (a sample). */
  lines?: string[];
}

/** Where a checkpoint is saved from. */
export interface SaveContext {
  /** The step it holds. */
  step: number;
  /** Whether the run is over (false when saved along the way or on a signal). */
  finished: boolean;
  /** The id of the run that writes it (`run_id` in state.json). */
  runId: string;
}

/** The step of the checkpoint a trainer continues, and whether it was its run's last. */
export interface ResumedFrom {
  /** The step it holds. */
  step: number;
  /** Whether its run had ended. */
  finished: boolean;
}

/**
 * The base of every trainer: one algorithm's steps, evaluation and checkpoint, run by
 * {@linkcode run}.
 */
export abstract class BaseTrainer {
  /** The trainer's name in progress lines and messages: "" (a language model), "rm", "ppo"… */
  abstract readonly label: string;
  /** The fields that start each of its metrics records (`{ stage: "rlhf", phase: "ppo" }`). */
  abstract readonly tag: Record<string, string>;
  /** The peak learning rate (the run's schedule scales it). */
  readonly lr: number;
  /** AdamW and clipping settings. */
  readonly optimizer: Required<Omit<OptimizerOptions, "lr">>;
  /** The checkpoint it continues (set by a constructor given one to resume). */
  resumed: ResumedFrom | undefined;
  /** A progress line every this many steps (and at the first and last). */
  printEvery = 10;
  /** Tokens per step, when the progress line shows throughput (tokens/s) instead of time. */
  tokensPerStep: number | undefined;
  /** True when `trainStep` returns before its numbers are read back (the loop overlaps steps). */
  pipelined = false;
  /** What the message of a non-finite step tells to do. */
  remedy = "lower --lr";

  /** Settings from `options`, else 0.9, 0.95, clip 1 and the trainer's `defaults`. */
  constructor(options: OptimizerOptions, defaults: { lr: number; weightDecay: number }) {
    this.lr = options.lr ?? defaults.lr;
    this.optimizer = {
      beta1: options.beta1 ?? 0.9,
      beta2: options.beta2 ?? 0.95,
      weightDecay: options.weightDecay ?? defaults.weightDecay,
      gradClip: options.gradClip ?? 1,
    };
  }

  /** The AdamW settings of a step at learning rate `lr`. */
  hyper(lr: number): StepHyper {
    const o = this.optimizer;
    return {
      lr,
      beta1: o.beta1,
      beta2: o.beta2,
      eps: 1e-8,
      weightDecay: o.weightDecay,
      gradClip: o.gradClip,
    };
  }

  /** Takes step `ctx.step`; resolves when the next step may start. */
  abstract trainStep(ctx: StepContext): Promise<SubmittedStep>;

  /** Measures the model after step `step` (none: no evaluation). */
  evaluate?(step: number, last: StepReport | undefined): Promise<EvalReport | undefined>;

  /** What a checkpoint of the current state holds. */
  abstract checkpoint(at: SaveContext): Promise<Checkpoint>;

  /**
   * The error of step `step` whose loss or gradient norm is not finite, naming the checkpoint that
   * is kept (or none).
   */
  nonFiniteError(
    step: number,
    stats: { loss: number; gradNorm: number },
    kept: { step: number; dir: string } | undefined,
  ): NonFiniteError {
    const what = this.label ? `${this.label.toUpperCase()} step ${step}` : `Step ${step}`;
    return nonFiniteError(what, stats, kept, this.remedy);
  }

  /** Frees what the trainer allocated on the GPU. */
  abstract destroy(): void;
}
