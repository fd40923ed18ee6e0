import { assert, assertEquals } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { Gpt } from "./gpt.ts";
import { Evaluator, responseBatch, responseLogProbs, Sampler, sampleToken } from "./generate.ts";

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

Deno.test("responseBatch packs sequences; responseLogProbs reads each response token's log π", async () => {
  const gpu = await getGpu();
  const gpt = Gpt.create(gpu, { vocabSize: 17, context: 8, layers: 1, heads: 2, width: 16 }, {
    seed: 3,
  });
  const samples = [
    { seq: [1, 2, 3, 4, 5], promptLength: 2 }, // response 3 4 5
    { seq: [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], promptLength: 7 }, // cut at T + 1 = 9 ids
  ];
  const batch = responseBatch(samples, { B: 3, T: 8, pad: 0 });
  assertEquals([...batch.inputs.slice(0, 8)], [1, 2, 3, 4, 0, 0, 0, 0]);
  assertEquals([...batch.targets.slice(8, 16)], [7, 8, 9, 10, 11, 12, 13, 14]);
  assertEquals(batch.positions, [[1, 2, 3], [14, 15]]);
  const ev = new Evaluator(gpt, { B: 3, T: 8 });
  try {
    const lp = await responseLogProbs(ev, batch);
    const ce = await ev.tokenLosses(batch.inputs, batch.targets);
    assertEquals(lp, [[-ce[1], -ce[2], -ce[3]], [-ce[14], -ce[15]]]);
    assert(lp.flat().every((v) => v < 0 && Number.isFinite(v)), "log-probabilities below 0");
  } finally {
    ev.destroy();
    gpt.destroy();
  }
  let message = "";
  try {
    responseBatch([...samples, ...samples], { B: 3, T: 8, pad: 0 });
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "4 sequences exceed a batch of 3");
});
