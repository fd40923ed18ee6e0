/**
 * Stage 2: supervised fine-tuning (SFT) on instruction/response pairs.
 *
 *     deno task sft                                  # the embedded instructions → checkpoints/sft
 *     deno task sft --data alpaca.json --epochs 3    # your data (format detected)
 *     deno task sft --data chats.jsonl --format chat --init checkpoints/pretrain
 *     deno task sft --resume                         # continue the run in --out
 *
 * The same trainer as pretraining (train/lm.ts), started from another checkpoint (`--init`, any
 * GPT checkpoint): the model, its tokenizer and its context come from there. Each example is
 * formatted with the chat template (data/template.ts), one example per row; the loss is on the
 * response and its end-of-text only unless `--full-sequence`. Data formats (detected from the
 * first record, `--format` forces one): Alpaca JSON or JSONL `{instruction, input?, output}`,
 * JSONL `{prompt, completion}`, chat JSONL `{messages: [{role, content}]}` (the loss is on the
 * last assistant turn) and Self-Instruct seeds `{instruction, instances: [{input, output}]}`; a
 * malformed record stops the run before anything is written, naming the file and the line. The
 * data is encoded with the init checkpoint's tokenizer (a `gpt2-compact` one spells unseen tokens
 * with byte tokens).
 *
 * 5% of the examples (a fixed choice) give the validation loss, and held-out prompts of the
 * instruction world the instruction-following metrics (train/instruct.ts), compared at the end
 * with the init checkpoint's.
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { assertNoGpuErrors } from "../gpu/kernel.ts";
import {
  DATA_FORMATS,
  type DataFormat,
  encodeInstructions,
  InstructionBatches,
  type InstructionExample,
  loadInstructions,
  splitExamples,
  worldInstructions,
} from "../data/instructions.ts";
import { generateWorld } from "../data/world/mod.ts";
import { parameterCount } from "../model/config.ts";
import { type LoadedModel, loadModel } from "../model/checkpoint.ts";
import { INSTRUCT_METRICS, type InstructMetrics, selectPrompts } from "../model/instruct_eval.ts";
import { InstructionProbe } from "../train/instruct.ts";
import { LmTrainer } from "../train/lm.ts";
import { fmtDuration, run } from "../train/run.ts";
import { resumeCheckpoint } from "../train/resume.ts";
import { checkWritable, parseFlags, refuseGzip, runMain, UsageError } from "./cli.ts";
import { openLog, optimizerOptions, runOptions, trainingFlags, useAttention } from "./flags.ts";

const USAGE = "Usage: deno task sft [--init DIR] [--data PATH] [options]";

/** Flags of the stage, with their defaults (every one overridable). */
export const SFT_FLAGS = {
  init: {
    default: "checkpoints/pretrain",
    help: "Checkpoint to start from (model, tokenizer and context come from it)",
  },
  data: {
    default: "",
    help: "Instruction file (.json array or .jsonl); empty: the embedded instruction world",
  },
  format: {
    default: "auto",
    help: "Data format: auto (from the first record) | alpaca | prompt-completion | chat | " +
      "self-instruct",
    choices: ["auto", ...DATA_FORMATS],
  },
  "full-sequence": {
    default: false,
    help: "Train on the whole sequence (prompt too), not just the response",
  },
  epochs: {
    default: 0,
    help: "Passes over the data; when given, steps = epochs x examples / (batch x accum)",
    min: 0,
  },
  ...trainingFlags({
    out: "checkpoints/sft",
    steps: 500,
    lr: 3e-3,
    warmup: 10,
    batch: 8,
    evalEvery: 0,
  }),
  "val-fraction": {
    default: 0.05,
    help: "Fraction of the examples held out for the validation loss (a fixed choice)",
    min: 0,
    max: 0.5,
    exclusiveMin: true,
  },
  "eval-prompts": {
    default: 16,
    help: "Held-out world prompts of the instruction metrics (0: none)",
    min: 0,
    int: true,
  },
  "eval-tokens": {
    default: 80,
    help: "Maximum tokens of each response of the instruction metrics",
    min: 1,
    int: true,
  },
  prompt: {
    default: "",
    help: "Instruction of the samples printed at evaluations (empty: a held-out prompt)",
  },
};

/** The data of a run. */
interface SftData {
  train: InstructionExample[];
  val: InstructionExample[];
  format: DataFormat | "world";
  description: string;
}

async function loadData(f: { data: string; format: string; "val-fraction": number }) {
  let examples: InstructionExample[], format: SftData["format"], description: string;
  if (f.data === "") {
    if (f.format !== "auto") {
      throw new UsageError(`--format ${f.format} needs --data: the embedded data has its own`);
    }
    examples = worldInstructions(1);
    format = "world";
    description = `embedded instruction world (${examples.length} pairs)`;
  } else {
    await refuseGzip(f.data, "--data");
    const parsed = await loadInstructions(
      f.data,
      f.format === "auto" ? undefined : f.format as DataFormat,
    );
    examples = parsed.examples;
    format = parsed.format;
    description = `${f.data} (${parsed.format}, ${parsed.records} records, ${examples.length} ` +
      `examples)`;
  }
  const { train, val } = splitExamples(examples, f["val-fraction"]);
  return { train, val, format, description } satisfies SftData;
}

/** Formats metrics of the init and the fine-tuned model side by side. */
function metricsTable(init: InstructMetrics | undefined, sft: InstructMetrics): string {
  const lines = [`  ${"metric".padEnd(18)} ${"init".padStart(8)} ${"sft".padStart(8)}`];
  for (const k of INSTRUCT_METRICS) {
    const fmt = (v: number | undefined) =>
      v === undefined ? "?" : k === "mean_length" ? v.toFixed(1) : v.toFixed(3);
    lines.push(`  ${k.padEnd(18)} ${fmt(init?.[k]).padStart(8)} ${fmt(sft[k]).padStart(8)}`);
  }
  return lines.join("\n");
}

/** Runs supervised fine-tuning with the given command-line arguments. */
export async function sft(args: string[]): Promise<void> {
  const f = parseFlags(args, SFT_FLAGS, USAGE);
  useAttention(f.attention);
  await checkWritable(f.out);
  // Read and check the data before anything else, so that bad data writes nothing.
  const data = await loadData(f);
  const gpu = await getGpu();
  // The run's id, in each checkpoint it saves: a resumed run keeps the one of its output.
  const resumed = await resumeCheckpoint(gpu, f.out, {
    resume: f.resume,
    stage: "sft",
    label: "SFT",
  });
  const runId = resumed.runId;
  const model: LoadedModel = resumed.model ?? await loadModel(gpu, f.init);
  const { gpt, tokenizer, checkpoint } = model;
  const config = checkpoint.config;
  const state = checkpoint.state as Record<string, unknown>;
  const B = f.batch, context = config.context;
  const train = encodeInstructions(tokenizer, data.train, context + 1);
  const val = encodeInstructions(tokenizer, data.val, context + 1);
  const truncated = train.filter((e) => e.truncated).length;
  // Rows are padded to the context, but when every example is shorter the rows are cut to the
  // longest one (rounded up to 16): causal attention makes the trailing padding (weight 0)
  // irrelevant, so the loss and the gradients are the same at a fraction of the cost.
  const longest = Math.max(...[...train, ...val].map((e) => e.ids.length - 1));
  const T = Math.min(context, Math.ceil(longest / 16) * 16);
  const rows = { T, pad: tokenizer.eot, fullSequence: f["full-sequence"] };
  const batches = new InstructionBatches(train, { ...rows, seed: f.seed });
  const valBatches = new InstructionBatches(val, rows).sequentialBatches(B, f["eval-batches"]);
  if (f.epochs > 0) f.steps = Math.max(1, Math.ceil((f.epochs * train.length) / (B * f.accum)));
  if (f.warmup >= f.steps) f.warmup = Math.floor(f.steps / 10);

  const heldOut = f["eval-prompts"] > 0
    ? selectPrompts(
      generateWorld({ seed: 1, instructions: 0, preferences: 0, proseParagraphs: 0 })
        .heldOutPrompts,
      f["eval-prompts"],
    )
    : [];
  const probe = new InstructionProbe(gpt, tokenizer, {
    prompts: heldOut,
    maxTokens: f["eval-tokens"],
    samplePrompt: f.prompt || heldOut[0] || data.val[0].instruction,
    sampleTokens: f["sample-tokens"],
  });
  let lastMetrics: InstructMetrics | undefined;
  const initDir = f.resume ? (state.init as string) ?? "?" : f.init;
  let initMetrics = f.resume ? state.init_metrics as InstructMetrics | undefined : undefined;
  // More fields of each checkpoint's state.json (the init model's metrics once measured).
  const extra: Record<string, unknown> = {
    flags: f,
    init: initDir,
    data_source: data.description,
    format: data.format,
    ...(initMetrics ? { init_metrics: initMetrics } : {}),
  };
  const trainer = new LmTrainer(gpt, {
    ...optimizerOptions(f),
    stage: "sft",
    tokenizer,
    data: batches,
    batch: B,
    context: T,
    accum: f.accum,
    validation: valBatches,
    evaluate: heldOut.length > 0
      ? async () => ({ ...(lastMetrics = (await probe.metrics())!) })
      : undefined,
    sample: f["sample-tokens"] > 0 ? () => probe.sample() : undefined,
    state: extra,
    resume: f.resume ? checkpoint : undefined,
  });
  const initStage = f.resume ? "sft" : String(checkpoint.state.stage ?? "unknown");
  console.log(
    `sft: ${data.description}; ${train.length} train / ${val.length} val examples` +
      `${truncated ? ` (${truncated} truncated to ${context + 1} tokens)` : ""}; ` +
      `from ${f.resume ? f.out : f.init} (${initStage}), tokenizer ${tokenizer.spec.kind} ` +
      `(${config.vocabSize} ids), model ${config.layers}x${config.width}, context ${context}, ` +
      `${(parameterCount(config) / 1e6).toFixed(2)}M parameters; ${gpu.name}`,
  );
  console.log(
    `sft: ${f.steps} steps of ${B}x${T}${f.accum > 1 ? `x${f.accum}` : ""} tokens ` +
      `(rows padded to ${T === context ? "the context" : `the longest example, ${T}`}) ` +
      `(${((f.steps * B * f.accum) / train.length).toFixed(2)} epochs), lr ${f.lr}, loss on ` +
      `${f["full-sequence"] ? "the whole sequence" : "responses"}` +
      (f.resume ? `, resuming at step ${trainer.engine.step}` : ""),
  );
  if (!f.resume && heldOut.length > 0) {
    const t0 = performance.now();
    initMetrics = await probe.metrics();
    console.log(
      `sft: init model on ${heldOut.length} held-out prompts (${
        fmtDuration((performance.now() - t0) / 1000)
      }): ` +
        INSTRUCT_METRICS.map((k) => `${k} ${initMetrics![k].toFixed(3)}`).join(" | "),
    );
  }
  if (initMetrics) extra.init_metrics = initMetrics;

  // Every buffer is allocated by now: a device out of memory stops the run before it writes.
  await assertNoGpuErrors();
  const log = await openLog(f.out, !f.resume);
  log.write({
    stage: "sft",
    event: "start",
    config,
    flags: f,
    init: initDir,
    train_examples: train.length,
    val_examples: val.length,
    ...(initMetrics && !f.resume ? { init_metrics: initMetrics } : {}),
  });
  // From its start --resume continues this run's checkpoints only, never those of an earlier run.
  const result = await run(trainer, { ...runOptions(f), log, runId });
  if (result.interrupted) Deno.exit(130);
  const valLoss = result.eval?.val_loss ?? NaN;
  log.write({
    stage: "sft",
    event: "end",
    train_loss: result.last?.loss ?? NaN,
    val_loss: valLoss,
    epochs: batches.epochs,
    seconds: result.seconds,
    tokens_per_s: result.tokensPerSecond,
    ...(lastMetrics ? { metrics: lastMetrics, init_metrics: initMetrics } : {}),
  });
  console.log(
    `sft: done in ${fmtDuration(result.seconds)} (${Math.round(result.tokensPerSecond)} tok/s, ` +
      `${batches.epochs.toFixed(2)} epochs): val loss ${valLoss.toFixed(3)}; ` +
      `checkpoint in ${f.out}`,
  );
  if (lastMetrics) {
    console.log(
      `sft: held-out instruction metrics (${heldOut.length} prompts, greedy, at most ` +
        `${f["eval-tokens"]} tokens), ${initDir} vs ${f.out}:\n${
          metricsTable(initMetrics, lastMetrics)
        }`,
    );
  }
}

if (import.meta.main) await runMain(() => sft(Deno.args));
