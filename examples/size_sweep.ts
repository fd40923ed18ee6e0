/**
 * A model-size sweep: pretrain GPTs of several widths and depths on the same data for the same
 * number of steps and print a table of parameters, losses and speed.
 *
 *     deno run -A examples/size_sweep.ts
 *     deno run -A examples/size_sweep.ts --steps=500 --sizes=1x64,2x128,4x128,4x256
 */
import {
  buildTokenizer,
  configure,
  generateWorld,
  getGpu,
  Gpt,
  LmTrainer,
  parameterCount,
  run,
  TokenBatches,
  tokenizeTexts,
} from "../mod.ts";

// -----------------------------------------------------------------------------------------------
// settings (override any of them with --name=value)
const config = configure({
  sizes: "1x64,2x64,2x128", // layers x width
  heads: 4,
  context: 64,
  steps: 200,
  batch: 8,
  lr: 3e-3,
  paragraphs: 360, // of the world's prose (about 150 KB)
  seed: 1337,
});

// -----------------------------------------------------------------------------------------------
// data: the instruction world's prose, 10% held out
const world = generateWorld({
  seed: 1,
  instructions: 0,
  preferences: 0,
  proseParagraphs: config.paragraphs,
});
const text = world.prose.join("\n\n");
const tokenizer = buildTokenizer("gpt2-compact", [text]);
const { train, val } = tokenizeTexts([text], tokenizer, { valFraction: 0.1 });
const T = config.context, B = config.batch;
const valBatches = new TokenBatches(val, { seed: 1 });
const validation = Array.from({ length: 8 }, () => valBatches.nextBatch(B, T));

// -----------------------------------------------------------------------------------------------
// the sweep
const gpu = await getGpu();
const rows: string[] = [];
for (const size of config.sizes.split(",")) {
  const [layers, width] = size.split("x").map(Number);
  const model = { vocabSize: tokenizer.vocabSize, context: T, layers, heads: config.heads, width };
  const gpt = Gpt.create(gpu, model, { seed: config.seed });
  const trainer = new LmTrainer(gpt, {
    tokenizer,
    data: new TokenBatches(train, { seed: config.seed }),
    validation, // the same batches for every size
    batch: B,
    lr: config.lr,
  });
  const result = await run(trainer, { steps: config.steps, warmup: 10, quiet: true });
  const valLoss = result.eval!.val_loss;
  rows.push(
    `${size.padEnd(8)} ${(parameterCount(model) / 1e6).toFixed(2).padStart(8)}M ` +
      `${result.last!.loss.toFixed(3).padStart(10)} ${valLoss.toFixed(3).padStart(9)} ` +
      `${Math.round(result.tokensPerSecond).toLocaleString("en-US").padStart(9)}`,
  );
  trainer.destroy();
  gpt.destroy();
}
console.log(`${config.steps} steps of ${B}x${T} tokens on ${gpu.name}:`);
console.log(
  `${"size".padEnd(8)} ${"params".padStart(9)} ${"train loss".padStart(10)} ${
    "val loss".padStart(9)
  } ${"tok/s".padStart(9)}`,
);
for (const row of rows) console.log(row);
