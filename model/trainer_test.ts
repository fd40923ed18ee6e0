import { assert } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { relativeL2 } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import { Gpt, readTable } from "./gpt.ts";
import { type Batch, Trainer } from "./trainer.ts";

const config = { vocabSize: 37, context: 12, layers: 2, heads: 2, width: 16 };
const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 };

function batch(rng: Rng, rows: number, T: number, V = config.vocabSize) {
  const inputs = new Uint32Array(rows * T), targets = new Uint32Array(rows * T);
  for (let i = 0; i < rows * T; i++) {
    inputs[i] = rng.int(V);
    targets[i] = rng.int(V);
  }
  return { inputs, targets };
}

/**
 * Trains two trainers of equal models side by side for 3 steps (`data(step)` gives each its
 * micro-batches) and asserts equal losses, gradient norms and parameters.
 */
async function assertSameTraining(
  one: Trainer,
  two: Trainer,
  data: (step: number) => [Batch[], Batch[]],
): Promise<void> {
  await one.ready();
  await two.ready();
  for (let step = 0; step < 3; step++) {
    const [b1, b2] = data(step);
    const s1 = await one.submit(b1, hyper);
    const s2 = await two.submit(b2, hyper);
    assert(Math.abs(s1.loss - s2.loss) < 1e-5, `step ${step}: loss ${s1.loss} vs ${s2.loss}`);
    assert(
      Math.abs(s1.gradNorm - s2.gradNorm) < 1e-4 * s1.gradNorm,
      `norm ${s1.gradNorm} vs ${s2.gradNorm}`,
    );
  }
  const gpu = one.gpt.gpu;
  // The last step's gradients, then the parameters. The key bias (the middle third of c_attn's)
  // has a zero gradient in exact arithmetic (softmax ignores a constant shift), so it holds only
  // rounding noise, which Adam amplifies: it is left out.
  const keyFree = (name: string, v: Float32Array) => {
    if (!name.endsWith("attn.c_attn.bias")) return v;
    const C = v.length / 3;
    return v.filter((_, i) => i < C || i >= 2 * C);
  };
  for (const table of ["grads", "params"] as const) {
    const ta = await readTable(gpu, one.gpt[table]), tb = await readTable(gpu, two.gpt[table]);
    for (const [name, v] of ta) {
      const err = relativeL2(keyFree(name, tb.get(name)!), keyFree(name, v));
      assert(err < 1e-3, `${table} ${name}: ${err}`);
    }
  }
  one.destroy();
  two.destroy();
}

Deno.test("two accumulated micro-batches step exactly like one batch of both", async () => {
  const gpu = await getGpu();
  const T = 10;
  const whole = batch(new Rng(5), 4, T);
  const half = (k: number) => ({
    inputs: whole.inputs.slice(k * 2 * T, (k + 1) * 2 * T),
    targets: whole.targets.slice(k * 2 * T, (k + 1) * 2 * T),
  });
  const a = Gpt.create(gpu, config, { seed: 9 });
  const b = Gpt.create(gpu, config, { seed: 9 });
  const one = new Trainer(a, { B: 4, T });
  const two = new Trainer(b, { B: 2, T, accum: 2 });
  await assertSameTraining(one, two, () => [[whole], [half(0), half(1)]]);
});

Deno.test("the loss falls when training on one batch, and steps can be pipelined", async () => {
  const gpu = await getGpu();
  const gpt = Gpt.create(gpu, config, { seed: 1 });
  const trainer = new Trainer(gpt, { B: 2, T: 12 });
  await trainer.ready();
  const b = batch(new Rng(2), 2, 12);
  // Submit several steps before awaiting any: results arrive in order.
  const pending = Array.from({ length: 30 }, () => trainer.submit([b], { ...hyper, lr: 3e-2 }));
  const losses = (await Promise.all(pending)).map((s) => s.loss);
  assert(losses[29] < 0.5 * losses[0], `losses ${losses[0]} → ${losses[29]}`);
  assert(trainer.step === 30);
  trainer.destroy();
});

Deno.test("a masked position does not change the gradient; raw weights scale it", async () => {
  const gpu = await getGpu();
  const T = 8;
  const b = batch(new Rng(3), 1, T);
  const weights = new Float32Array(T).fill(1);
  weights[2] = 0;
  const grads = async (targets: Uint32Array, w: Float32Array, raw = false) => {
    const gpt = Gpt.create(gpu, config, { seed: 4 });
    const tr = new Trainer(gpt, { B: 1, T });
    await tr.submit([{ inputs: b.inputs, targets, weights: w }], { ...hyper, lr: 0 }, {
      rawWeights: raw,
    });
    const g = await readTable(gpu, gpt.grads);
    tr.destroy();
    gpt.destroy();
    return g;
  };
  const base = await grads(b.targets, weights);
  const changed = b.targets.slice();
  changed[2] = (changed[2] + 1) % config.vocabSize;
  const masked = await grads(changed, weights);
  for (const [name, v] of base) assert(relativeL2(masked.get(name)!, v) === 0, name);
  // raw weights: 2x the normalised weights (which sum to 1) give 2x the gradient
  const raw = await grads(b.targets, weights.map((w) => (2 * w) / (T - 1)), true);
  for (const [name, v] of base) {
    assert(relativeL2(raw.get(name)!, v.map((x) => 2 * x)) < 1e-5, name);
  }
});

Deno.test("logits split by rows and attention split by batch train like the whole tensors", async () => {
  const gpu = await getGpu();
  const B = 16, T = 12;
  const a = Gpt.create(gpu, config, { seed: 4 });
  const b = Gpt.create(gpu, config, { seed: 4 });
  const whole = new Trainer(a, { B, T });
  // 64 rows of logits (37 values each) fit one binding; so do 8 batch entries of attention.
  const split = new Trainer(b, { B, T, maxBindingBytes: 64 * config.vocabSize * 4 });
  assert(split.graph.logitChunks.length === 3, `logit chunks ${split.graph.logitChunks}`);
  assert(split.graph.attChunks.length === 2, `attention chunks ${split.graph.attChunks}`);
  assert(whole.graph.logitChunks.length === 1 && whole.graph.attChunks.length === 1);
  const rng = new Rng(6);
  await assertSameTraining(whole, split, () => {
    const data = batch(rng, B, T);
    return [[data], [data]];
  });
});

Deno.test("a token embedding in pieces of token ids trains like the whole tensor", async () => {
  const gpu = await getGpu();
  const wide = { ...config, heads: 4, width: 128 }; // the token embedding: 37 x 128 x 4 bytes
  const B = 6, T = 12;
  const a = Gpt.create(gpu, wide, { seed: 4 });
  const b = Gpt.create(gpu, wide, { seed: 4 });
  const whole = new Trainer(a, { B, T });
  // 64 rows of logits fit one binding, and 18 of the embedding's 37 rows.
  const split = new Trainer(b, { B, T, maxBindingBytes: 64 * wide.vocabSize * 4 });
  assert(
    split.graph.vocabChunks.join(" ") === "0,18 18,18 36,1",
    `token embedding pieces ${split.graph.vocabChunks.join(" ")}`,
  );
  assert(split.graph.logitChunks.length === 2 && whole.graph.vocabChunks.length === 1);
  const rng = new Rng(8);
  await assertSameTraining(whole, split, () => {
    const data = batch(rng, B, T, wide.vocabSize);
    return [[data], [data]];
  });
});
