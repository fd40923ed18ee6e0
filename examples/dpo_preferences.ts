/**
 * DPO on a preference file: `{prompt, chosen, rejected}` JSONL (or hh-rlhf dialogues).
 *
 *     deno run -A examples/dpo_preferences.ts --data=prefs.jsonl
 *     deno run -A examples/dpo_preferences.ts --data=prefs.jsonl --steps=60 --beta=0.2
 *
 * 10% of the pairs are held out; every `evalEvery` steps we measure how often the policy's
 * implicit reward β·(log π − log π_ref) prefers their chosen response.
 */
import {
  configure,
  DpoTrainer,
  getGpu,
  loadModel,
  loadPreferences,
  run,
  splitHeldOut,
} from "../mod.ts";

// -----------------------------------------------------------------------------------------------
// settings (override any of them with --name=value)
const config = configure({
  init: "checkpoints/sft", // the SFT model to start from (and the frozen reference)
  data: "prefs.jsonl",
  out: "", // where to save the policy ("" = nowhere)
  steps: 30,
  batch: 4, // pairs per step
  lr: 1e-4,
  beta: 0.1,
  evalEvery: 10,
  seed: 1337,
});

// -----------------------------------------------------------------------------------------------
// data
const { pairs, formats } = await loadPreferences(config.data);
const { train, heldOut } = splitHeldOut(pairs, 0.1);
console.log(
  `${config.data}: ${pairs.length} pairs (${formats.join(", ")}), ${heldOut.length} held out`,
);

// -----------------------------------------------------------------------------------------------
// model and training
const gpu = await getGpu();
const sft = await loadModel(gpu, config.init);
const dpo = new DpoTrainer({
  policy: sft,
  pairs: train,
  evalPairs: heldOut,
  batch: config.batch,
  lr: config.lr,
  beta: config.beta,
  seed: config.seed,
});
const before = await dpo.evaluate();
if (before) console.log(`before training: ${before.fields.join(" | ")}`);
const result = await run(dpo, {
  steps: config.steps,
  warmup: 3,
  evalEvery: config.evalEvery,
  out: config.out || undefined,
});
console.log(`DPO loss ${result.last?.metrics.dpo_loss.toFixed(4)} after ${config.steps} steps`);
dpo.destroy();
