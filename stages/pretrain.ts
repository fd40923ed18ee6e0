/**
 * Stage 1: causal language-model pretraining.
 *
 *     deno task pretrain                          # the embedded corpus → checkpoints/pretrain
 *     deno task pretrain --data my_texts/ --steps 2000 --layers 4 --width 256
 *     deno task pretrain --resume                 # continue the run in --out
 *
 * The input shifted by one token is the label; the loss is the cross-entropy over the vocabulary at
 * every position.
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { assertNoGpuErrors } from "../gpu/kernel.ts";
import { Rng } from "../data/rng.ts";
import {
  buildTokenizer,
  createTokenizer,
  type Tokenizer,
  type TokenizerKind,
  type TokenizerSpec,
} from "../data/tokenizer.ts";
import { corpusTexts, prepareCorpus, tokenizeTexts } from "../data/corpus.ts";
import { TokenBatches } from "../data/batches.ts";
import { generateWorld, type World } from "../data/world/mod.ts";
import { formatPrompt } from "../data/template.ts";
import { parameterCount, validateConfig } from "../model/config.ts";
import { assertSameShape } from "../model/checkpoint.ts";
import { Gpt } from "../model/gpt.ts";
import { Sampler } from "../model/generate.ts";
import { LmTrainer } from "../train/lm.ts";
import { fmtDuration, run } from "../train/run.ts";
import { resumeCheckpoint } from "../train/resume.ts";
import {
  checkWritable,
  missingFolders,
  parseFlags,
  refuseGzip,
  runMain,
  UsageError,
  type Values,
} from "./cli.ts";
import {
  checkModelSize,
  MODEL_FLAGS,
  openLog,
  optimizerOptions,
  runOptions,
  trainingFlags,
  useAttention,
} from "./flags.ts";

const USAGE = "Usage: deno task pretrain [--data PATH]... [options]";

/** Flags of the stage, with their defaults (every one overridable). */
export const PRETRAIN_FLAGS = {
  data: {
    default: "",
    help: "Text file or folder (comma-separated for several); empty: the embedded corpus",
  },
  ...MODEL_FLAGS,
  ...trainingFlags({
    out: "checkpoints/pretrain",
    steps: 250,
    lr: 3e-3,
    warmup: 30,
    batch: 4,
    evalEvery: 125,
  }),
  "val-fraction": {
    default: 0.1,
    help: "Fraction of the corpus held out for validation",
    min: 0,
    max: 0.5,
    exclusiveMin: true,
  },
  prompt: { default: "How to be productive", help: "Prompt of the samples printed at evaluations" },
};

/** The token streams of a run. */
interface CorpusData {
  tokenizer: Tokenizer;
  train: TokenBatches;
  val: TokenBatches;
  /** Entropy (nats/token) of the train split's unigram distribution. */
  unigramEntropy: number;
  description: string;
}

/** Every text of the instruction world as the later stages see it (for a compact vocabulary). */
function* worldTexts(world: World): Generator<string> {
  for (const { prompt, response } of world.instructions) yield formatPrompt(prompt) + response;
  for (const { prompt, chosen, rejected } of world.preferences) {
    yield formatPrompt(prompt) + chosen;
    yield rejected;
  }
  for (const prompt of world.heldOutPrompts) yield formatPrompt(prompt);
}

function unigramEntropy(tokens: Uint32Array, vocab: number): number {
  const counts = new Float64Array(vocab);
  for (const t of tokens) counts[t]++;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / tokens.length) * Math.log(c / tokens.length);
  return h;
}

async function loadCorpus(
  f: { data: string; tokenizer: string; seed: number; out: string; "val-fraction": number },
  saved: TokenizerSpec | undefined,
): Promise<CorpusData> {
  const valFraction = f["val-fraction"];
  const opts = (name: string, seed: number) => ({ seed, name });
  if (f.data === "") {
    // The embedded corpus: generic advice prose from the project's instruction world. A compact
    // vocabulary is built from the whole world (its prose, and its instructions, responses and
    // preference pairs in the chat template), so that the later stages' text is made of whole
    // tokens too; the model is trained on the prose alone.
    const world = generateWorld({ seed: 1 });
    const prose = world.prose.join("\n\n");
    const tokenizer = saved ? createTokenizer(saved) : buildTokenizer(
      f.tokenizer as TokenizerKind,
      f.tokenizer === "gpt2-compact" ? [prose, ...worldTexts(world)] : undefined,
    );
    const { train, val } = tokenizeTexts([prose], tokenizer, { valFraction });
    return {
      tokenizer,
      train: new TokenBatches(train, opts("The embedded corpus' train split", f.seed)),
      val: new TokenBatches(val, opts("The embedded corpus' val split", f.seed + 1)),
      unigramEntropy: unigramEntropy(train, tokenizer.vocabSize),
      description: `embedded corpus (${(prose.length / 1024).toFixed(0)} KiB of prose)`,
    };
  }
  const inputs = f.data.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  for (const p of inputs) {
    try {
      await Deno.stat(p);
    } catch {
      throw new UsageError(
        `--data ${p} does not exist: pass a text file or a folder of .txt/.md files`,
      );
    }
    await refuseGzip(p, "--data");
  }
  const tokenizer = saved
    ? createTokenizer(saved)
    : f.tokenizer === "gpt2-compact"
    ? buildTokenizer("gpt2-compact", corpusTexts(inputs, { valFraction }))
    : buildTokenizer(f.tokenizer as TokenizerKind);
  const shardDir = shardsOf(f.out);
  const prepared = prepareCorpus(inputs, tokenizer, shardDir, { valFraction });
  if (prepared.val.length === 0) {
    throw new UsageError(`--data ${f.data} is too small to hold out a validation split: add text`);
  }
  const train = new TokenBatches(prepared.train, {
    ...opts("Train split", f.seed),
    vocabSize: tokenizer.vocabSize,
  });
  const val = new TokenBatches(prepared.val, {
    ...opts("Val split", f.seed + 1),
    vocabSize: tokenizer.vocabSize,
  });
  const sample = train.nextBatch(1, Math.min(train.tokens - 1, 1 << 20)).inputs;
  train.state = { rng: new Rng(f.seed).state, tokens: train.tokens };
  return {
    tokenizer,
    train,
    val,
    unigramEntropy: unigramEntropy(sample, tokenizer.vocabSize),
    description: `${inputs.join(", ")} (${
      prepared.tokens.toLocaleString("en-US")
    } tokens in ${shardDir})`,
  };
}

/** The folder of a run's token shards (with `--data`), beside its checkpoint. */
function shardsOf(out: string): string {
  return `${out.replace(/\/+$/, "")}.shards`;
}

/** Runs pretraining with the given command-line arguments. */
export async function pretrain(args: string[]): Promise<void> {
  const f = parseFlags(args, PRETRAIN_FLAGS, USAGE);
  useAttention(f.attention);
  await checkWritable(f.out);
  // Token shards are the only thing written before training starts: a run that fails before then
  // removes the ones it created, so that bad input leaves nothing behind.
  const created = f.data !== "" ? await missingFolders(shardsOf(f.out)) : [];
  const progress = { started: false };
  try {
    await train(f, progress);
  } catch (e) {
    if (!progress.started) {
      for (const [i, dir] of created.entries()) {
        await Deno.remove(dir, { recursive: i === 0 }).catch(() => {});
      }
    }
    throw e;
  }
}

async function train(
  f: Values<typeof PRETRAIN_FLAGS>,
  progress: { started: boolean },
): Promise<void> {
  const gpu = await getGpu();
  // The run's id, in each checkpoint it saves: a resumed run keeps the one of its output.
  const { model: resumed, runId } = await resumeCheckpoint(gpu, f.out, {
    resume: f.resume,
    stage: "pretrain",
    label: "pretraining",
  });
  const data = await loadCorpus(f, resumed?.tokenizer.spec);
  const { context, layers, heads, width } = f;
  const config = validateConfig({
    vocabSize: data.tokenizer.vocabSize,
    context,
    layers,
    heads,
    width,
  });
  if (resumed) assertSameShape(config, resumed.checkpoint.config, `--resume from ${f.out}`);
  checkModelSize(gpu, config);
  const B = f.batch, T = f.context;
  for (const [name, split] of [["train", data.train], ["val", data.val]] as const) {
    if (split.tokens < T + 1) {
      throw new UsageError(
        `The ${name} split has ${split.tokens} tokens; --context ${T} needs at least ${
          T + 1
        }: lower --context or add data`,
      );
    }
  }
  const gpt = resumed?.gpt ?? Gpt.create(gpu, config, { seed: f.seed });
  // The same validation batches at every evaluation.
  const validation = Array.from({ length: f["eval-batches"] }, () => data.val.nextBatch(B, T));
  const sampler = f["sample-tokens"] > 0 ? new Sampler(gpt) : undefined;
  const sampleRng = new Rng(f.seed + 2);
  const trainer = new LmTrainer(gpt, {
    ...optimizerOptions(f),
    stage: "pretrain",
    tokenizer: data.tokenizer,
    data: data.train,
    batch: B,
    context: T,
    accum: f.accum,
    validation,
    sample: sampler && (async () => {
      const ids = await sampler.generate(data.tokenizer.encode(f.prompt), {
        maxTokens: f["sample-tokens"],
        temperature: 0.8,
        topK: 40,
        rng: sampleRng,
        stopToken: data.tokenizer.eot,
      });
      return f.prompt + data.tokenizer.decode(ids);
    }),
    state: { flags: f, data_source: data.description },
    resume: resumed?.checkpoint,
  });
  // Every buffer is allocated by now: a device out of memory stops the run before it writes.
  await assertNoGpuErrors();
  const log = await openLog(f.out, !resumed);
  console.log(
    `pretrain: ${data.description}; tokenizer ${data.tokenizer.spec.kind} (${config.vocabSize} ids); ` +
      `model ${config.layers}x${config.width}, ${config.heads} heads, context ${config.context}, ` +
      `${(parameterCount(config) / 1e6).toFixed(2)}M parameters; ${gpu.name}`,
  );
  console.log(
    `pretrain: ${f.steps} steps of ${B}x${T}${
      f.accum > 1 ? `x${f.accum}` : ""
    } tokens, lr ${f.lr}` +
      (resumed ? `, resuming at step ${trainer.engine.step}` : ""),
  );
  const entropy = data.unigramEntropy;
  log.write({ stage: "pretrain", event: "start", config, flags: f, unigram_entropy: entropy });
  progress.started = true;
  // From its start --resume continues this run's checkpoints only, never those of an earlier run.
  const result = await run(trainer, { ...runOptions(f), log, runId });
  if (result.interrupted) Deno.exit(130);
  const valLoss = result.eval?.val_loss ?? NaN;
  log.write({
    stage: "pretrain",
    event: "end",
    train_loss: result.last?.loss ?? NaN,
    val_loss: valLoss,
    unigram_entropy: entropy,
    seconds: result.seconds,
    tokens_per_s: result.tokensPerSecond,
  });
  console.log(
    `pretrain: done in ${fmtDuration(result.seconds)} (${
      Math.round(result.tokensPerSecond)
    } tok/s): val loss ${valLoss.toFixed(3)} vs unigram entropy ${
      data.unigramEntropy.toFixed(3)
    } nats; checkpoint in ${f.out}`,
  );
}

if (import.meta.main) await runMain(() => pretrain(Deno.args));
