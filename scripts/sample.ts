/**
 * Samples text from a checkpoint.
 *
 *     deno task sample --checkpoint checkpoints/pretrain --prompt "How to be productive"
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { loadModel } from "../model/checkpoint.ts";
import { Decoder, STREAMING_TOKENS_PER_SUBMIT } from "../model/decode.ts";
import { parseFlags, runMain, UsageError } from "../stages/cli.ts";

const USAGE = "Usage: deno task sample --checkpoint DIR --prompt TEXT [options]";
const FLAGS = {
  checkpoint: { default: "checkpoints/pretrain", help: "Checkpoint directory" },
  prompt: { default: "How to be productive", help: "Text to continue" },
  tokens: {
    default: 64,
    help: "Maximum new tokens (the context may end it sooner)",
    min: 1,
    int: true,
  },
  temperature: { default: 0.8, help: "Sampling temperature (0: greedy)", min: 0 },
  "top-k": { default: 40, help: "Keep the k most likely tokens (0: all)", min: 0, int: true },
  "top-p": { default: 1, help: "Nucleus sampling threshold", min: 0, max: 1, exclusiveMin: true },
  seed: { default: 1337, help: "Sampling seed", min: 0, int: true },
  samples: { default: 1, help: "Number of samples", min: 1, int: true },
};

if (import.meta.main) {
  await runMain(async () => {
    const f = parseFlags(Deno.args, FLAGS, USAGE);
    const gpu = await getGpu();
    const { gpt, tokenizer } = await loadModel(gpu, f.checkpoint);
    const prompt = tokenizer.encode(f.prompt);
    if (prompt.length === 0) throw new UsageError("--prompt is empty: give some text to continue");
    const decoder = new Decoder(gpt);
    const rng = new Rng(f.seed);
    const enc = new TextEncoder();
    const options = {
      maxTokens: f.tokens,
      temperature: f.temperature,
      topK: f["top-k"],
      topP: f["top-p"],
      stopToken: tokenizer.eot,
      tokensPerSubmit: STREAMING_TOKENS_PER_SUBMIT,
    };
    for (let i = 0; i < f.samples; i++) {
      if (f.samples > 1) console.log(`--- sample ${i + 1} ---`);
      await Deno.stdout.write(enc.encode(f.prompt));
      // Stream decoded text: print the new characters of the decoded continuation as they appear.
      const ids: number[] = [];
      let shown = "";
      for await (const chunk of decoder.stream([prompt], { ...options, seed: rng.nextU32() })) {
        ids.push(...chunk.tokens[0].filter((id) => id !== tokenizer.eot));
        const text = tokenizer.decode(ids).replace(/\uFFFD+$/, "");
        if (text.length > shown.length) {
          await Deno.stdout.write(enc.encode(text.slice(shown.length)));
          shown = text;
        }
      }
      console.log();
    }
  });
}
