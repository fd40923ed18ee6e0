import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import { getGpu, type Gpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { Gpt, initialParameters } from "./gpt.ts";
import { Evaluator, Sampler } from "./generate.ts";
import { Generator } from "./rollout.ts";
import { type DecodeOptions, Decoder } from "./decode.ts";
import type { GptConfig } from "./config.ts";

const config: GptConfig = { vocabSize: 37, context: 24, layers: 2, heads: 2, width: 16 };

/** A random model with larger weights than GPT-2's init, so that its logits are far from ties. */
function model(gpu: Gpu, c: GptConfig = config, std = 0.3): Gpt {
  const values = initialParameters(c, 5);
  const rng = new Rng(9);
  for (const [name, v] of values) {
    if (v.length > 1 && !name.includes("ln_")) values.set(name, rng.normalArray(v.length, std));
  }
  return Gpt.create(gpu, c, { values });
}

/** Prompts of different lengths; the last is longer than the context (it keeps its last 23). */
const PROMPTS = [
  [1, 2, 3],
  [4],
  [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18],
  [30, 2],
  Array(28).fill(7),
];

/** The greedy tokens of PROMPTS (12 at most, stop token 7), from the first KV-cache generator. */
const GOLDEN = [
  [3, 3, 3, 15, 15, 15, 23, 3, 15, 23, 23, 3],
  [23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23],
  [23, 23, 3, 3, 3, 3, 3, 3, 3, 23], // the context is full after 10
  [15, 15, 15, 7], // the stop token
  [23], // a prompt of 23 tokens leaves room for one
];

Deno.test("greedy decoding gives the tokens of the CPU samplers, token for token", async () => {
  const gpu = await getGpu();
  const gpt = model(gpu);
  const greedy = { maxTokens: 12, temperature: 0, stopToken: 7 };
  const old = new Generator(gpt, 5);
  const want = await old.generate(PROMPTS, greedy);
  old.destroy();
  assertEquals(want.tokens, GOLDEN);
  const sampler = new Sampler(gpt);
  for (let i = 0; i < 4; i++) {
    const full = await sampler.generate(PROMPTS[i], {
      ...greedy,
      maxTokens: Math.min(12, config.context - PROMPTS[i].length),
    });
    assertEquals(full, GOLDEN[i], `prompt ${i}, full recomputation`);
  }
  sampler.destroy();
  for (
    const [rows, tokensPerSubmit, attention] of [[5, 16], [5, 1], [2, 3], [1, 5, "flash"]] as const
  ) {
    const decoder = new Decoder(gpt, { rows, attention });
    await decoder.ready();
    const got = await decoder.generate(PROMPTS, { ...greedy, tokensPerSubmit });
    decoder.destroy();
    const what = `rows ${rows}, ${tokensPerSubmit} per submit, ${attention ?? "matrix"} attention`;
    assertEquals(got.tokens, GOLDEN, what);
    assertEquals(got.finished, [false, false, false, true, false], what);
    assertEquals(got.prompts, want.prompts, what);
  }
  gpt.destroy();
});

Deno.test("log-probabilities are those of a full forward pass; greedy picks the most likely", async () => {
  const gpu = await getGpu();
  const gpt = model(gpu);
  const decoder = new Decoder(gpt, { rows: 4 });
  const ev = new Evaluator(gpt, { B: 1, T: config.context });
  for (const options of [{ temperature: 0 }, { temperature: 1, seed: 3 }]) {
    const out = await decoder.generate(PROMPTS.slice(0, 4), { maxTokens: 8, ...options });
    for (let i = 0; i < 4; i++) {
      const seq = [...out.prompts[i], ...out.tokens[i]];
      const inputs = new Uint32Array(config.context);
      inputs.set(seq.slice(0, -1));
      // -log p of every id at every position: one evaluation per id
      const ce: Float32Array[] = [];
      for (let v = 0; v < config.vocabSize; v++) {
        ce.push(await ev.tokenLosses(inputs, new Uint32Array(config.context).fill(v)));
      }
      out.tokens[i].forEach((id, j) => {
        const t = out.prompts[i].length - 1 + j;
        const lp = -ce[id][t];
        assert(Math.abs(out.logprobs[i][j] - lp) < 1e-5, `prompt ${i} token ${j}: ${lp}`);
        if (options.temperature === 0) {
          assert(ce.every((c) => c[t] >= ce[id][t]), `prompt ${i} token ${j} is not the argmax`);
        }
      });
    }
  }
  ev.destroy();
  decoder.destroy();
  gpt.destroy();
});

Deno.test("sampling depends on (seed, prompt, position) alone: submits, rows, resuming", async () => {
  const gpu = await getGpu();
  const gpt = model(gpu, config, 0.1); // flatter logits: draws differ from the argmax
  const prompts = PROMPTS.slice(0, 4);
  const opts: DecodeOptions = { maxTokens: 10, temperature: 1, topK: 20, topP: 0.95, seed: 11 };
  const four = new Decoder(gpt, { rows: 4 });
  const a = await four.generate(prompts, opts);
  for (const tokensPerSubmit of [1, 4, 64]) {
    const b = await four.generate(prompts, { ...opts, tokensPerSubmit });
    assertEquals(b.tokens, a.tokens, `${tokensPerSubmit} per submit`);
  }
  const one = new Decoder(gpt, { rows: 1 });
  assertEquals((await one.generate(prompts, opts)).tokens, a.tokens, "one row at a time");
  // A run continued from its prompt and first 4 tokens draws the rest as before.
  const cont = await four.generate(prompts.map((p, i) => [...p, ...a.tokens[i].slice(0, 4)]), {
    ...opts,
    maxTokens: 6,
  });
  assertEquals(cont.tokens, a.tokens.map((t) => t.slice(4)));
  const other = await four.generate(prompts, { ...opts, seed: 12 });
  assert(other.tokens.join() !== a.tokens.join(), "another seed draws other tokens");
  const greedy = await four.generate(prompts, { ...opts, temperature: 0 });
  assert(greedy.tokens.join() !== a.tokens.join(), "the draws are not the argmax");
  one.destroy();
  four.destroy();
  gpt.destroy();
});

Deno.test("stop tokens end rows on the GPU; streaming yields every readback's new tokens", async () => {
  const gpu = await getGpu();
  const gpt = model(gpu, config, 0.1);
  const decoder = new Decoder(gpt, { rows: 3 });
  const opts = { maxTokens: 12, temperature: 1.5, seed: 5, stopToken: 4, tokensPerSubmit: 3 };
  const prompts = [[1, 2], [3], [9, 9, 9], [20, 21, 22, 23], [5]];
  const all = await decoder.generate(prompts, opts);
  assert(all.finished.some(Boolean) && !all.finished.every(Boolean), "some rows stop, some not");
  all.tokens.forEach((t, i) => {
    assertEquals(all.finished[i], t[t.length - 1] === 4);
    assert(t.indexOf(4) === -1 || t.indexOf(4) === t.length - 1, `row ${i} goes on after 4`);
    assertEquals(all.finished[i] || t.length === 12, true);
    assertEquals(all.logprobs[i].length, t.length);
  });
  const streamed = prompts.map(() => [] as number[]);
  let readbacks = 0;
  for await (const c of decoder.stream(prompts, opts)) {
    readbacks++;
    c.tokens.forEach((t, i) => {
      assert(t.length <= 3, "at most tokensPerSubmit tokens per readback");
      streamed[c.first + i].push(...t);
    });
  }
  assertEquals(streamed, all.tokens);
  assert(readbacks >= 4 && readbacks <= 8, `${readbacks} readbacks`);
  // Breaking out of a stream leaves the decoder usable.
  for await (const _ of decoder.stream(prompts, opts)) break;
  assertEquals((await decoder.generate(prompts, opts)).tokens, all.tokens);
  decoder.destroy();
  gpt.destroy();
});

Deno.test("decoding with the token embedding in pieces gives the tokens of the whole", async () => {
  const gpu = await getGpu();
  const wide: GptConfig = { ...config, heads: 4, width: 128 }; // embedding: 37 x 128 x 4 bytes
  const gpt = model(gpu, wide, 0.1);
  const one = new Decoder(gpt, { rows: 4 });
  // 64 rows of logits fit one binding, and 18 of the embedding's 37 rows: three pieces.
  const three = new Decoder(gpt, { rows: 4, maxBindingBytes: 64 * wide.vocabSize * 4 });
  for (const temperature of [0, 1]) {
    const opts = { maxTokens: 12, temperature, seed: 2 };
    const whole = await one.generate(PROMPTS.slice(0, 4), opts);
    const split = await three.generate(PROMPTS.slice(0, 4), opts);
    assertEquals(split.tokens, whole.tokens, `temperature ${temperature}`);
    assertEquals(new Set(whole.tokens.map((t) => t.join())).size, 4, "the rows differ");
  }
  one.destroy();
  three.destroy();
  gpt.destroy();
});

Deno.test("bad decoding input: one clear error each", async () => {
  const gpu = await getGpu();
  const gpt = model(gpu);
  const decoder = new Decoder(gpt, { rows: 2 });
  const run = (prompts: number[][], o: Partial<DecodeOptions>) =>
    decoder.generate(prompts, { maxTokens: 4, ...o });
  await assertRejects(() => run([], {}), /^Decoding needs at least one prompt$/);
  await assertRejects(() => run([[1], []], {}), /^Prompt 1 is empty/);
  await assertRejects(() => run([[1, 37]], {}), /^Prompt 0 holds the id 37, outside .* \[0, 37\)$/);
  await assertRejects(() => run([[1]], { maxTokens: 0 }), /maxTokens must be an integer in/);
  await assertRejects(() => run([[1]], { temperature: -1 }), /temperature must be 0 .* got -1/);
  await assertRejects(() => run([[1]], { topP: 0 }), /topP must be in \(0, 1\], got 0/);
  await assertRejects(() => run([[1]], { topK: 1.5 }), /topK must be an integer/);
  await assertRejects(() => run([[1]], { stopToken: 37 }), /stopToken must be an integer in/);
  await assertRejects(() => run([[1]], { seed: -1 }), /seed must be an integer in/);
  await assertRejects(() => run([[1]], { tokensPerSubmit: 0 }), /tokensPerSubmit must be/);
  let message = "";
  try {
    new Decoder(gpt, { rows: 0 });
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "Decoder rows must be a positive integer, got 0");
  decoder.destroy();
  gpt.destroy();
});
