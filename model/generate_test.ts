import { assert, assertEquals } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { Gpt } from "./gpt.ts";
import { Evaluator, Sampler, sampleToken } from "./generate.ts";

Deno.test("sampleToken: greedy, top-k and top-p", () => {
  const logits = Float32Array.from([0, 3, 1, 2.9]);
  assertEquals(sampleToken(logits, { temperature: 0 }), 1);
  const rng = new Rng(1);
  for (let i = 0; i < 50; i++) {
    const k = sampleToken(logits, { temperature: 1, topK: 2, rng });
    assert(k === 1 || k === 3, `top-k picked ${k}`);
    const p = sampleToken(logits, { temperature: 1, topP: 0.01, rng });
    assertEquals(p, 1);
  }
});

Deno.test("greedy generation equals the argmax of a full forward at each step", async () => {
  const gpu = await getGpu();
  const config = { vocabSize: 29, context: 16, layers: 1, heads: 2, width: 16 };
  const gpt = Gpt.create(gpu, config, { seed: 6 });
  const sampler = new Sampler(gpt);
  const prompt = [1, 2, 3];
  const out = await sampler.generate(prompt, { maxTokens: 6, temperature: 0 });
  assertEquals(out.length, 6);
  // The same tokens from the evaluator's per-position losses: the chosen token has the lowest loss.
  const ev = new Evaluator(gpt, { B: 1, T: 16 });
  const seq = [...prompt, ...out];
  for (let i = prompt.length; i < seq.length; i++) {
    const inputs = new Uint32Array(16);
    inputs.set(seq.slice(0, i));
    let best = -1, bestLoss = Infinity;
    for (let v = 0; v < config.vocabSize; v++) {
      const targets = new Uint32Array(16).fill(v);
      const l = (await ev.tokenLosses(inputs, targets))[i - 1];
      if (l < bestLoss) [best, bestLoss] = [v, l];
    }
    assertEquals(seq[i], best, `token ${i}`);
  }
  sampler.destroy();
  ev.destroy();
});
