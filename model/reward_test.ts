import { assert, assertEquals } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { readTensor } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import { createTokenizer } from "../data/tokenizer.ts";
import type { EncodedPair } from "../data/preferences.ts";
import type { GptConfig } from "./config.ts";
import { Gpt, initialParameters, readTable } from "./gpt.ts";
import { Trainer } from "./trainer.ts";
import { loadModel, saveCheckpoint } from "./checkpoint.ts";
import { RewardModelTrainer, ValueReader, withScalarHead } from "./reward.ts";

const lm: GptConfig = { vocabSize: 20, context: 12, layers: 1, heads: 2, width: 16 };
const noStep = { lr: 0, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 0 };

function scalarModel(gpu: Awaited<ReturnType<typeof getGpu>>, seed = 3): Gpt {
  const init = withScalarHead(lm, initialParameters(lm, seed), { seed });
  // Larger than GPT-2's init so that every parameter matters to the values.
  const rng = new Rng(seed + 100);
  for (const [name, v] of init.params) {
    if (v.length > 1 && !name.includes("ln_")) {
      init.params.set(name, rng.normalArray(v.length, 0.2));
    }
  }
  return Gpt.create(gpu, init.config, { values: init.params });
}

function flatten(m: Map<string, Float32Array>, names: string[]): Float64Array {
  const n = names.reduce((a, k) => a + m.get(k)!.length, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const k of names) for (const x of m.get(k)!) out[o++] = x;
  return out;
}

Deno.test("scalar head: parameter layout, HF names and initial scale", () => {
  const p = withScalarHead(lm, initialParameters(lm, 1), { seed: 1 });
  assertEquals(p.config.head, "scalar");
  const w = p.params.get("score.weight")!;
  assertEquals(w.length, lm.width);
  const std = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
  assert(std > 0.1 && std < 0.5, `score.weight std ${std}, expected about 1/sqrt(17)`);
  assert(withScalarHead(lm, initialParameters(lm, 1), { zero: true }).params.get("score.weight")!
    .every((x) => x === 0));
});

Deno.test("scalar-head gradient matches the analytic head gradient and finite differences", async () => {
  const gpu = await getGpu();
  const gpt = scalarModel(gpu);
  const B = 3, T = 7; // T below the context: the graph takes shorter sequences too
  const rng = new Rng(7);
  const inputs = Uint32Array.from({ length: B * T }, () => rng.int(lm.vocabSize));
  const c = rng.normalArray(B * T);
  const trainer = new Trainer(gpt, { B, T });
  await trainer.ready();
  const values = await trainer.forwardValues({ inputs });
  const lnf = await readTensor(gpu, trainer.graph.acts.get("lnf"));
  await trainer.submitValueGradient(c, noStep);
  const grads = await readTable(gpu, gpt.grads);
  // d(Σ c·v)/d score.weight = Σ_i c_i lnf_i, exactly.
  const C = lm.width;
  const want = new Float64Array(C);
  for (let i = 0; i < B * T; i++) for (let k = 0; k < C; k++) want[k] += c[i] * lnf[i * C + k];
  const head = grads.get("score.weight")!;
  for (let k = 0; k < C; k++) {
    assert(Math.abs(head[k] - want[k]) <= 1e-4 + 1e-4 * Math.abs(want[k]), `score.weight[${k}]`);
  }
  // The recompute path (no forwardValues in between) gives the same gradient.
  await trainer.submitValueGradient(c, noStep);
  const again = await readTable(gpu, gpt.grads);
  for (const [k, g] of grads) {
    assert(g.every((x, i) => x === again.get(k)![i]), `recomputed gradient of ${k} differs`);
  }
  // Directional finite difference of J(θ) = Σ c·v(θ) along the gradient (all parameters).
  const params = await gpt.readParameters();
  const names = [...params.keys()];
  const g = flatten(grads, names);
  const norm = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
  const reader = new ValueReader(gpt, { B, T });
  const J = async (eps: number) => {
    const moved = new Map<string, Float32Array>();
    for (const k of names) {
      const gk = grads.get(k)!;
      moved.set(k, params.get(k)!.map((x, i) => x + (eps * gk[i]) / norm));
    }
    gpt.setParameters(moved);
    const v = await reader.values(inputs);
    return v.reduce((a, x, i) => a + x * c[i], 0);
  };
  const j0 = values.reduce((a, x, i) => a + x * c[i], 0);
  assert(Math.abs((await J(0)) - j0) < 1e-4, "the reader and the trainer agree on the values");
  const eps = 1e-2;
  const fd = ((await J(eps)) - (await J(-eps))) / (2 * eps);
  assert(Math.abs(fd - norm) / norm < 0.02, `finite difference ${fd} vs gradient norm ${norm}`);
  // And along a random direction orthogonal-ish to nothing in particular.
  reader.destroy();
  trainer.destroy();
  gpt.destroy();
});

Deno.test("checkpoint round trip keeps the scalar head", async () => {
  const gpu = await getGpu();
  const gpt = scalarModel(gpu, 5);
  const dir = await Deno.makeTempDir();
  try {
    const params = await gpt.readParameters();
    const tokenizer = createTokenizer({ kind: "bytes", vocabSize: 257, eot: 256 });
    const config = { ...gpt.config, vocabSize: 257 };
    const values = withScalarHead(config, initialParameters(config, 2), { seed: 2 }).params;
    values.set("score.weight", params.get("score.weight")!);
    await saveCheckpoint(`${dir}/rm`, {
      config,
      tokenizer: tokenizer.spec as unknown as Record<string, unknown>,
      params: values,
      state: { stage: "reward" },
    });
    const hf = JSON.parse(await Deno.readTextFile(`${dir}/rm/config.json`));
    assertEquals(hf.architectures, ["GPT2ForSequenceClassification"]);
    assertEquals(hf.num_labels, 1);
    assertEquals(hf.instructgpu.head, "scalar");
    const loaded = await loadModel(gpu, `${dir}/rm`);
    assertEquals(loaded.checkpoint.config.head, "scalar");
    assertEquals([...loaded.checkpoint.params.get("score.weight")!], [
      ...params.get("score.weight")!,
    ]);
    const back = await loaded.gpt.readParameters();
    assertEquals(back.size, values.size);
    for (const [k, v] of values) assert(v.every((x, i) => x === back.get(k)![i]), k);
    loaded.gpt.destroy();
  } finally {
    await Deno.remove(dir, { recursive: true });
    gpt.destroy();
  }
});

Deno.test("the reward model learns a trivially separable preference", async () => {
  const gpu = await getGpu();
  const init = withScalarHead(lm, initialParameters(lm, 11), { seed: 11 });
  const gpt = Gpt.create(gpu, init.config, { values: init.params });
  const eot = lm.vocabSize - 1;
  const rng = new Rng(12);
  // Chosen responses hold token 3, rejected ones token 4, among random filler tokens 5..15.
  const pair = (): EncodedPair => {
    const prompt = Array.from({ length: 2 + rng.int(4) }, () => 5 + rng.int(11));
    const body = (mark: number) =>
      Array.from({ length: 2 + rng.int(3) }, () => (rng.random() < 0.5 ? mark : 5 + rng.int(11)))
        .concat([mark]);
    const ex = (mark: number) => ({
      ids: [...prompt, ...body(mark), eot],
      promptLength: prompt.length,
      truncated: false,
    });
    return { chosen: ex(3), rejected: ex(4) };
  };
  const trainer = new Trainer(gpt, { B: 16, T: lm.context });
  await trainer.ready();
  const rm = new RewardModelTrainer(trainer, eot);
  const heldOut = Array.from({ length: 40 }, pair);
  const before = await rm.accuracy(heldOut);
  const hyper = { ...noStep, lr: 1e-2, gradClip: 1 };
  for (let step = 0; step < 40; step++) {
    await rm.step(Array.from({ length: 8 }, pair), hyper, { centerCoef: 0.01 });
  }
  const after = await rm.accuracy(heldOut);
  assert(after >= 0.95, `held-out accuracy ${after} (before training ${before})`);
  trainer.destroy();
  gpt.destroy();
});
