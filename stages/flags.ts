/**
 * The flags the stages share (the model's shape, optimisation, checkpoints, attention), and the
 * check that a model's parameters fit the adapter before anything is allocated.
 *
 * @module
 */
import type { Schema, Values } from "./cli.ts";
import { UsageError } from "./cli.ts";
import { type GptConfig, PRESETS } from "../model/config.ts";
import {
  type AttentionMode,
  attentionMode,
  BOUND_IN_PIECES,
  parameterSpecs,
} from "../model/gpt.ts";
import { fmtBytes, type Gpu } from "../gpu/device.ts";
import { MetricsLog } from "../train/run.ts";

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

/** Flags of the learning-rate schedule and AdamW, the same names in every stage. */
export function optimizerFlags(defaults: { warmup: number; weightDecay: number }) {
  return {
    warmup: { default: defaults.warmup, help: "Linear warm-up steps", min: 0, int: true },
    "min-lr": {
      default: 0.1,
      help: "Final learning rate as a fraction of the peak (cosine decay)",
      min: 0,
      max: 1,
    },
    "weight-decay": {
      default: defaults.weightDecay,
      help: "AdamW weight decay (2-D tensors only)",
      min: 0,
      max: 10,
    },
    beta1: { default: 0.9, help: "AdamW beta1", min: 0, max: 0.999999 },
    beta2: { default: 0.95, help: "AdamW beta2", min: 0, max: 0.999999 },
    "grad-clip": { default: 1.0, help: "Clip the global gradient norm (0: off)", min: 0 },
  } satisfies Schema;
}

/** The optimizer flags' values (and `--lr`) as trainer options. */
export function optimizerOptions(f: Values<ReturnType<typeof optimizerFlags>> & { lr: number }) {
  return {
    lr: f.lr,
    beta1: f.beta1,
    beta2: f.beta2,
    weightDecay: f["weight-decay"],
    gradClip: f["grad-clip"],
  };
}

/** Flags of optimisation and bookkeeping of the language-model stages (pretraining, SFT). */
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
    ...optimizerFlags({ warmup: defaults.warmup, weightDecay: 0.1 }),
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

/** The run loop's options that every stage's flags give (see train/run.ts). */
export function loopOptions(f: {
  warmup: number;
  "min-lr": number;
  "save-every": number;
  keep: number;
  quiet: boolean;
  "skip-nonfinite": boolean;
}) {
  return {
    warmup: f.warmup,
    minLr: f["min-lr"],
    saveEvery: f["save-every"],
    keep: f.keep,
    quiet: f.quiet,
    skipNonfinite: f["skip-nonfinite"],
  };
}

/** The run loop's options from the training flags of a language-model stage. */
export function runOptions(f: TrainingValues) {
  return { ...loopOptions(f), steps: f.steps, evalEvery: f["eval-every"], out: f.out };
}

/**
 * Creates the folder of `out` and its metrics JSONL `<out>.metrics.jsonl` (emptied when `fresh`).
 */
export async function openLog(out: string, fresh: boolean): Promise<MetricsLog> {
  await Deno.mkdir(out.replace(/\/[^/]*\/?$/, "") || ".", { recursive: true });
  return new MetricsLog(`${out.replace(/\/+$/, "")}.metrics.jsonl`, fresh);
}

/**
 * Checks, before anything is allocated, that the parameters of `config` fit this adapter: each
 * tensor within one storage binding (but the token embedding, which is bound in pieces) and all of
 * them within one buffer. Throws a UsageError naming the sizes and the flags to lower.
 * (Activations are checked when a batch's graph is built, with --batch and --context named.)
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
