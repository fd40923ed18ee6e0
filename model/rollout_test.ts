import { assertEquals } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { Gpt, initialParameters } from "./gpt.ts";
import { Sampler } from "./generate.ts";
import { Generator } from "./rollout.ts";
import type { GptConfig } from "./config.ts";

const config: GptConfig = { vocabSize: 37, context: 24, layers: 2, heads: 2, width: 16 };

/** A random model with larger weights than GPT-2's init, so that its logits are far from ties. */
function model(gpu: Awaited<ReturnType<typeof getGpu>>): Gpt {
  const values = initialParameters(config, 5);
  const rng = new Rng(9);
  for (const [name, v] of values) {
    if (v.length > 1 && !name.includes("ln_")) values.set(name, rng.normalArray(v.length, 0.3));
  }
  return Gpt.create(gpu, config, { values });
}

Deno.test("cached greedy generation gives the tokens of full recomputation", async () => {
  const gpu = await getGpu();
  const gpt = model(gpu);
  const prompts = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18], [30, 2]];
  const gen = new Generator(gpt, 5);
  await gen.ready();
  const got = await gen.generate(prompts, { maxTokens: 12, temperature: 0, stopToken: 36 });
  // the prompts' forward pass with flash attention fills the same cache
  const flash = new Generator(gpt, 5, { attention: "flash" });
  const viaFlash = await flash.generate(prompts, { maxTokens: 12, temperature: 0, stopToken: 36 });
  assertEquals(viaFlash.tokens, got.tokens);
  flash.destroy();
  const sampler = new Sampler(gpt);
  for (let i = 0; i < prompts.length; i++) {
    const want = await sampler.generate(prompts[i], {
      maxTokens: Math.min(12, config.context - prompts[i].length),
      temperature: 0,
      stopToken: 36,
    });
    assertEquals(got.tokens[i], want, `row ${i}`);
    assertEquals(got.finished[i], want[want.length - 1] === 36);
  }
  // The generator is reusable: a second batch with other lengths gives the same first row.
  const again = await gen.generate([prompts[2], prompts[0]], { maxTokens: 12, temperature: 0 });
  assertEquals(again.tokens[1].slice(0, got.tokens[0].length), got.tokens[0]);
  sampler.destroy();
  gen.destroy();
  gpt.destroy();
});

Deno.test("sampled generation is deterministic in its seed and stops at the stop token", async () => {
  const gpu = await getGpu();
  const gpt = model(gpu);
  const gen = new Generator(gpt, 3);
  const opts = (seed: number) => ({
    maxTokens: 10,
    temperature: 1,
    rng: new Rng(seed),
    stopToken: 7,
  });
  const a = await gen.generate([[1, 2], [3], [4, 5, 6]], opts(1));
  const b = await gen.generate([[1, 2], [3], [4, 5, 6]], opts(1));
  assertEquals(a.tokens, b.tokens);
  for (let i = 0; i < 3; i++) {
    const t = a.tokens[i];
    assertEquals(t.indexOf(7) === -1 || t.indexOf(7) === t.length - 1, true);
    assertEquals(t.length <= 10, true);
  }
  gen.destroy();
  gpt.destroy();
});

Deno.test("generation with the token embedding in pieces gives the tokens of the whole", async () => {
  const gpu = await getGpu();
  const wide: GptConfig = { ...config, heads: 4, width: 128 }; // embedding: 37 x 128 x 4 bytes
  const values = initialParameters(wide, 5);
  const rng = new Rng(11);
  for (const [name, v] of values) {
    if (v.length > 1 && !name.includes("ln_")) values.set(name, rng.normalArray(v.length, 0.1));
  }
  const gpt = Gpt.create(gpu, wide, { values });
  const prompts = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18], [36, 2]];
  const opts = { maxTokens: 12, temperature: 0 };
  const one = new Generator(gpt, 4);
  // 64 rows of logits fit one binding, and 18 of the embedding's 37 rows: three pieces.
  const three = new Generator(gpt, 4, { maxBindingBytes: 64 * wide.vocabSize * 4 });
  const whole = await one.generate(prompts, opts);
  const split = await three.generate(prompts, opts);
  assertEquals(split.tokens, whole.tokens);
  // not one token repeated to the end: the rows differ, so the comparison says something
  assertEquals(new Set(whole.tokens.map((t) => t.join())).size, prompts.length);
  one.destroy();
  three.destroy();
  gpt.destroy();
});
