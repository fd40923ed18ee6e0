/**
 * The training loop shared by every stage that trains a language model (pretraining, SFT): the
 * flags they share, the learning-rate schedule, the step pipeline (submit step k, then read step
 * k−1's loss), progress with tokens/s and ETA, periodic evaluation and samples, metrics JSONL,
 * checkpoints, and a clean stop on SIGINT/SIGTERM or a non-finite loss.
 *
 * @module
 */
import { type Schema, UsageError, type Values } from "./cli.ts";
import { type GptConfig, PRESETS } from "../model/config.ts";
import type { Batch, StepHyper, Trainer } from "../model/trainer.ts";
import {
  type AttentionMode,
  attentionMode,
  BOUND_IN_PIECES,
  parameterSpecs,
} from "../model/gpt.ts";
import { fmtBytes, type Gpu } from "../gpu/device.ts";
import { assertNoGpuErrors } from "../gpu/kernel.ts";
import { type LoadedModel, loadModel, newRunId, resumePoint } from "../model/checkpoint.ts";

/** Flags of the model shape (used when a stage creates a new model). */
export const MODEL_FLAGS = {
  tokenizer: {
    default: "gpt2-compact",
    help: "Tokenizer: gpt2 | gpt2-compact (GPT-2 ids the corpus uses, densely remapped) | bytes",
    choices: ["gpt2", "gpt2-compact", "bytes"],
  },
  layers: { default: PRESETS.tiny.layers, help: "Transformer blocks", min: 1, max: 96, int: true },
  heads: {
    default: PRESETS.tiny.heads,
    help: "Attention heads (must divide --width)",
    min: 1,
    int: true,
  },
  width: { default: PRESETS.tiny.width, help: "Channels (n_embd)", min: 1, max: 16384, int: true },
  context: {
    default: PRESETS.tiny.context,
    help: "Context length of the model (tokens)",
    min: 2,
    max: 16384,
    int: true,
  },
} satisfies Schema;

/** Flags of checkpoints, resuming and failures, the same in every stage that trains. */
export const CHECKPOINT_FLAGS = {
  "save-every": {
    default: 0,
    help: "Steps between checkpoints (0: only at the end)",
    min: 0,
    int: true,
  },
  keep: {
    default: 3,
    help: "Checkpoints to keep: --out and the newest keep-1 earlier ones in <out>.steps/",
    min: 1,
    int: true,
  },
  resume: {
    default: false,
    help: "Continue from the newest complete checkpoint of --out (or of <out>.steps/)",
  },
  "skip-nonfinite": {
    default: false,
    help: "Skip a step whose loss or gradient norm is not finite instead of stopping",
  },
} satisfies Schema;

/** The `--attention` flag of every stage, the benchmark and the profiler. */
export const ATTENTION_FLAG = {
  default: "matrix",
  help: "Attention: matrix (keeps the T x T probabilities) or flash (recomputes them: less memory)",
  choices: ["matrix", "flash"],
};

/** Makes `value` (an `--attention` value) the attention of every graph built from now on. */
export function useAttention(value: string): void {
  attentionMode.value = value as AttentionMode;
}

/** Flags of optimisation and bookkeeping, the same names in every stage. */
export function trainingFlags(defaults: {
  out: string;
  steps: number;
  lr: number;
  warmup: number;
  batch: number;
  evalEvery: number;
}) {
  return {
    out: { default: defaults.out, help: "Checkpoint directory to write" },
    steps: { default: defaults.steps, help: "Optimizer steps", min: 1, int: true },
    seed: {
      default: 1337,
      help: "Random seed (initialisation, batches, sampling)",
      min: 0,
      int: true,
    },
    batch: { default: defaults.batch, help: "Sequences per micro-batch", min: 1, int: true },
    accum: {
      default: 1,
      help: "Micro-batches per step (gradient accumulation)",
      min: 1,
      int: true,
    },
    lr: { default: defaults.lr, help: "Peak learning rate", min: 0, exclusiveMin: true, max: 10 },
    "min-lr": {
      default: 0.1,
      help: "Final learning rate as a fraction of --lr (cosine decay)",
      min: 0,
      max: 1,
    },
    warmup: { default: defaults.warmup, help: "Linear warm-up steps", min: 0, int: true },
    "weight-decay": {
      default: 0.1,
      help: "AdamW weight decay (2-D tensors only)",
      min: 0,
      max: 10,
    },
    beta1: { default: 0.9, help: "AdamW beta1", min: 0, max: 0.999999 },
    beta2: { default: 0.95, help: "AdamW beta2", min: 0, max: 0.999999 },
    "grad-clip": { default: 1.0, help: "Clip the global gradient norm (0: off)", min: 0 },
    "eval-every": {
      default: defaults.evalEvery,
      help: "Steps between evaluations (0: only at the end)",
      min: 0,
      int: true,
    },
    "eval-batches": { default: 4, help: "Batches per validation loss", min: 1, int: true },
    "save-every": CHECKPOINT_FLAGS["save-every"],
    keep: CHECKPOINT_FLAGS.keep,
    resume: CHECKPOINT_FLAGS.resume,
    "sample-tokens": {
      default: 48,
      help: "Tokens of the sample printed at each evaluation (0: none)",
      min: 0,
      int: true,
    },
    quiet: { default: false, help: "Print only evaluations and the final report" },
    "skip-nonfinite": CHECKPOINT_FLAGS["skip-nonfinite"],
    attention: ATTENTION_FLAG,
  } satisfies Schema;
}

/** The training-flag values. */
export type TrainingValues = Values<ReturnType<typeof trainingFlags>>;

/** Learning rate at `step` (1-based): linear warm-up, then cosine decay to `min-lr`·lr. */
export function learningRate(step: number, f: TrainingValues): number {
  const peak = f.lr, floor = f.lr * f["min-lr"];
  if (f.warmup > 0 && step <= f.warmup) return (peak * step) / f.warmup;
  const span = Math.max(1, f.steps - f.warmup);
  const progress = Math.min(1, (step - f.warmup) / span);
  return floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * progress));
}

/** AdamW settings of a step from the flags. */
export function stepHyper(step: number, f: TrainingValues): StepHyper {
  return {
    lr: learningRate(step, f),
    beta1: f.beta1,
    beta2: f.beta2,
    eps: 1e-8,
    weightDecay: f["weight-decay"],
    gradClip: f["grad-clip"],
  };
}

/** Formats seconds as 1h02m, 3m05s or 12s. */
export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  s = Math.round(s);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** Appends JSON lines to a metrics file (one object per event). */
export class MetricsLog {
  readonly path: string;
  constructor(path: string, fresh: boolean) {
    this.path = path;
    if (fresh) Deno.writeTextFileSync(path, "");
  }
  write(record: Record<string, unknown>): void {
    Deno.writeTextFileSync(
      this.path,
      JSON.stringify({ time: Date.now() / 1000, ...record }) + "\n",
      {
        append: true,
      },
    );
  }
}

/** Raised when the loss or the gradient norm stops being finite. */
export class NonFiniteError extends Error {
  override name = "DataError";
}

/**
 * The error of a step (`what`: "Step 7", "DPO step 7") whose loss or gradient norm is not finite:
 * names the checkpoint that is kept (`kept`, or none written yet) and the flags that help
 * (`remedy`, then --skip-nonfinite).
 */
export function nonFiniteError(
  what: string,
  stats: { loss: number; gradNorm: number },
  kept: { step: number; dir: string } | undefined,
  remedy: string,
): NonFiniteError {
  return new NonFiniteError(
    `${what}: the loss (${stats.loss}) or gradient norm (${stats.gradNorm}) is not finite; ` +
      `the update was skipped and ${
        kept !== undefined
          ? `the checkpoint of step ${kept.step} in ${kept.dir} is kept`
          : `no checkpoint was written (--save-every writes them along the way)`
      }: ${remedy}, or pass --skip-nonfinite`,
  );
}

/**
 * Watches SIGINT and SIGTERM while a stage trains: the first signal sets `requested` (the stage
 * finishes its step, saves and exits 130); a second one exits 130 at once. Call `dispose` after.
 */
export class StopRequest {
  /** Whether a signal asked the run to stop. */
  requested = false;
  readonly #signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  readonly #handler = () => {
    if (this.requested) Deno.exit(130);
    this.requested = true;
    console.error("\nstopping after this step (signal received; again to quit at once)");
  };

  constructor() {
    for (const s of this.#signals) Deno.addSignalListener(s, this.#handler);
  }

  /** Stops watching (again: nothing). */
  dispose(): void {
    for (const s of this.#signals.splice(0)) Deno.removeSignalListener(s, this.#handler);
  }
}

/** What the loop needs from its stage. */
export interface LoopContext {
  trainer: Trainer;
  flags: TrainingValues;
  /** The stage's name in logs ("pretrain", "sft"). */
  stage: string;
  /** Next micro-batch of training data. */
  nextBatch: () => Batch;
  /** Validation loss (runs on the GPU; one wait per batch). */
  validate: () => Promise<number>;
  /** A short sample for the log (optional). */
  sample?: () => Promise<string>;
  /** Extra evaluation (e.g. instruction metrics) merged into the eval record. */
  evaluate?: () => Promise<Record<string, number>>;
  /** Writes a checkpoint of the current state. */
  save: () => Promise<void>;
  log: MetricsLog;
  /** Tokens per step that count for throughput (B·T·accum). */
  tokensPerStep: number;
}

/** Final numbers of a run. */
export interface LoopResult {
  trainLoss: number;
  valLoss: number;
  seconds: number;
  tokensPerSecond: number;
  interrupted: boolean;
  extra: Record<string, number>;
}

/**
 * Runs steps from `trainer.step + 1` to `flags.steps`. On SIGINT/SIGTERM it finishes the step in
 * flight, saves, and returns with `interrupted: true` (the caller exits 130).
 */
export async function trainLoop(ctx: LoopContext): Promise<LoopResult> {
  const { trainer, flags: f, log } = ctx;
  await assertNoGpuErrors(); // every kernel, bind group and buffer built so far is valid
  const stop = new StopRequest();
  const tty = Deno.stdout.isTerminal();
  const start = performance.now();
  const first = trainer.step + 1;
  let lastTime = start, lastStep = trainer.step, tokPerS = 0;
  let trainLoss = NaN, valLoss = NaN;
  let extra: Record<string, number> = {};
  type Pending = { step: number; lr: number; stats: Promise<{ loss: number; gradNorm: number }> };
  let pending: Pending | undefined;
  // The step of the checkpoint in --out that this run wrote or resumed from.
  let lastSaved = trainer.step > 0 ? trainer.step : undefined;
  const save = async () => {
    await ctx.save();
    lastSaved = trainer.step;
  };

  const finish = async (p: Pending) => {
    const s = await p.stats;
    if (!Number.isFinite(s.loss) || !Number.isFinite(s.gradNorm)) {
      // AdamW skipped this update on the GPU (it checks the norm), so the parameters are intact.
      if (f["skip-nonfinite"]) {
        log.write({ stage: ctx.stage, step: p.step, skipped: true, loss: null, grad_norm: null });
        console.error(
          `step ${p.step}: loss ${s.loss}, gradient norm ${s.gradNorm}: update skipped`,
        );
        return;
      }
      throw nonFiniteError(
        `Step ${p.step}`,
        s,
        lastSaved !== undefined ? { step: lastSaved, dir: f.out } : undefined,
        "lower --lr, raise --warmup",
      );
    }
    trainLoss = s.loss;
    const now = performance.now();
    if (now - lastTime > 250) {
      tokPerS = ((p.step - lastStep) * ctx.tokensPerStep) / ((now - lastTime) / 1000);
      lastTime = now;
      lastStep = p.step;
    }
    const eta = tokPerS > 0 ? ((f.steps - p.step) * ctx.tokensPerStep) / tokPerS : NaN;
    log.write({
      stage: ctx.stage,
      step: p.step,
      loss: s.loss,
      lr: p.lr,
      grad_norm: s.gradNorm,
      tokens_per_s: tokPerS,
    });
    if (!f.quiet) {
      const line = `step ${String(p.step).padStart(String(f.steps).length)}/${f.steps} | loss ${
        s.loss.toFixed(4)
      } | lr ${p.lr.toExponential(2)} | norm ${s.gradNorm.toFixed(2)} | ${
        Math.round(tokPerS).toLocaleString("en-US")
      } tok/s | ETA ${fmtDuration(eta)}`;
      if (tty) await Deno.stdout.write(new TextEncoder().encode(`\r${line}\x1b[K`));
      else if (p.step === first || p.step % 10 === 0 || p.step === f.steps) console.log(line);
    }
  };

  const evaluate = async (step: number) => {
    if (pending) {
      await finish(pending);
      pending = undefined;
    }
    valLoss = await ctx.validate();
    extra = ctx.evaluate ? await ctx.evaluate() : {};
    if (tty && !f.quiet) console.log();
    const parts = Object.entries(extra).map(([k, v]) => `${k} ${v.toFixed(3)}`);
    console.log(
      `eval step ${step}: train loss ${trainLoss.toFixed(4)} | val loss ${valLoss.toFixed(4)}${
        parts.length ? " | " + parts.join(" | ") : ""
      }`,
    );
    log.write({ stage: ctx.stage, step, val_loss: valLoss, train_loss: trainLoss, ...extra });
    if (ctx.sample && f["sample-tokens"] > 0) {
      console.log(`sample: ${JSON.stringify(await ctx.sample())}`);
    }
  };

  try {
    for (let step = first; step <= f.steps; step++) {
      const batches: Batch[] = [];
      for (let k = 0; k < trainer.accum; k++) batches.push(ctx.nextBatch());
      const hyper = stepHyper(step, f);
      const next: Pending = { step, lr: hyper.lr, stats: trainer.submit(batches, hyper) };
      if (pending) await finish(pending);
      pending = next;
      const last = step === f.steps;
      if (stop.requested) {
        await finish(pending);
        pending = undefined;
        if (tty) console.log();
        await save();
        console.log(`interrupted: checkpoint at step ${step} written to ${f.out}`);
        return {
          trainLoss,
          valLoss,
          seconds: (performance.now() - start) / 1000,
          tokensPerSecond: tokPerS,
          interrupted: true,
          extra,
        };
      }
      if ((f["eval-every"] > 0 && step % f["eval-every"] === 0) || last) await evaluate(step);
      if ((f["save-every"] > 0 && step % f["save-every"] === 0) || last) {
        if (pending) {
          await finish(pending);
          pending = undefined;
        }
        await save();
      }
    }
    if (pending) await finish(pending);
  } finally {
    stop.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  const steps = f.steps - first + 1;
  return {
    trainLoss,
    valLoss,
    seconds,
    tokensPerSecond: (steps * ctx.tokensPerStep) / Math.max(seconds, 1e-9),
    interrupted: false,
    extra,
  };
}

/**
 * Checks, before anything is allocated, that the parameters of `config` fit this adapter: each
 * tensor within one storage binding (but the token embedding, which is bound in pieces) and all of
 * them within one buffer. Throws a UsageError naming
 * the sizes and the flags to lower. (Activations are checked when a batch's graph is built, with
 * --batch and --context named.)
 */
export function checkModelSize(gpu: Gpu, config: GptConfig): void {
  const maxBinding = gpu.limits.maxStorageBufferBindingSize;
  const flags = `--layers ${config.layers} --width ${config.width}`;
  let total = 0;
  for (const spec of parameterSpecs(config).specs) {
    const bytes = spec.shape.reduce((a, b) => a * b, 1) * 4;
    total += Math.ceil(Math.max(bytes, 4) / 256) * 256;
    if (bytes > maxBinding && !BOUND_IN_PIECES.includes(spec.name)) {
      throw new UsageError(
        `${flags}: parameter ${spec.name} [${spec.shape.join(", ")}] needs ${fmtBytes(bytes)}, ` +
          `more than one GPU binding holds on this adapter (${fmtBytes(maxBinding)}): ` +
          `lower --width`,
      );
    }
  }
  if (total > gpu.limits.maxBufferSize) {
    throw new UsageError(
      `${flags}: the parameters need ${fmtBytes(total)} in one GPU buffer, more than this ` +
        `adapter's ${fmtBytes(gpu.limits.maxBufferSize)}: lower --layers or --width`,
    );
  }
}

/**
 * The model a stage starts from under `--resume`: the newest complete checkpoint of `out` that
 * belongs to the run that owns `out` (refused with one line when there is none, or when it is
 * another stage's), with its AdamW moments, and the run id to keep. Without `--resume`: none,
 * and a new run id.
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
