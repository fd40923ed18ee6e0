// GPT-2's vocabulary and width on this adapter's own binding limit: the token embedding
// (50257 x 768, 147 MiB) is larger than lavapipe's 128 MiB bindings, so here it is bound in
// pieces of token ids (on a GPU with larger bindings, in one). The small tests in
// model/trainer_test.ts and model/rollout_test.ts compare the pieces with the whole tensor; this
// one checks the real sizes: the embedding and the LM head against CPU sums, then training.
import { assert } from "./_assert.ts";
import { getGpu, readback } from "../gpu/device.ts";
import { readTensor } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import { Gpt, initialParameters } from "../model/gpt.ts";
import { Evaluator } from "../model/generate.ts";
import { Trainer } from "../model/trainer.ts";
import { bindingLimit } from "../model/split.ts";
import type { GptConfig } from "../model/config.ts";

const config: GptConfig = { vocabSize: 50257, context: 16, layers: 1, heads: 12, width: 768 };
const hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 };

Deno.test("GPT-2's token embedding (147 MiB) runs and trains within this adapter's bindings", async () => {
  const gpu = await getGpu();
  const { vocabSize: V, width: C } = config;
  const T = 16;
  const values = initialParameters(config, 3);
  const gpt = Gpt.create(gpu, config, { values });
  const limit = bindingLimit(gpu);
  const ev = new Evaluator(gpt, { B: 1, T });
  const pieces = ev.graph.vocabChunks;
  assert(pieces.length === Math.ceil((V * C * 4) / limit), `pieces ${pieces.join(" ")}`);

  // A token from each end of every piece, then random ones.
  const rng = new Rng(5);
  const ends = pieces.flatMap(([start, count]) => [start, start + count - 1]);
  const inputs = Uint32Array.from({ length: T }, (_, t) => ends[t] ?? rng.int(V));
  const targets = Uint32Array.from({ length: T }, () => rng.int(V));
  const loss = await ev.loss(inputs, targets);
  // GPT-2's initialisation gives nearly uniform predictions (logits of std about 0.02 sqrt(C))
  assert(Math.abs(loss - Math.log(V)) < 0.5, `initial loss ${loss}, ln V = ${Math.log(V)}`);

  const wte = values.get("transformer.wte.weight")!, wpe = values.get("transformer.wpe.weight")!;
  const encoded = await readTensor(gpu, ev.graph.acts.get("encoded"));
  const lnf = await readTensor(gpu, ev.graph.acts.get("lnf"));
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) {
      const want = Math.fround(wte[inputs[t] * C + c] + wpe[t * C + c]); // one f32 sum
      const got = encoded[t * C + c];
      assert(got === want, `encoded[${t}, ${c}] = ${got}, want ${want} (token ${inputs[t]})`);
    }
  }
  for (const t of [0, 7, T - 1]) {
    const { buffer, offset } = ev.graph.logitsRow(t);
    const logits = new Float32Array(await readback(gpu, buffer, offset, V * 4));
    let worst = 0;
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += lnf[t * C + c] * wte[v * C + c];
      worst = Math.max(worst, Math.abs(logits[v] - s));
    }
    // logits of about 0.5: float32 sums of 768 products are good to a few 1e-7
    assert(worst < 1e-5, `logits of row ${t}: largest error ${worst}`);
  }
  ev.destroy();

  // Training: the first step's loss is the evaluator's; the next step on the batch is lower.
  const trainer = new Trainer(gpt, { B: 1, T });
  await trainer.ready();
  const batch = [{ inputs, targets }];
  const first = await trainer.submit(batch, hyper);
  assert(Math.abs(first.loss - loss) < 1e-4, `first step's loss ${first.loss}, evaluated ${loss}`);
  const second = await trainer.submit(batch, hyper);
  assert(second.loss < first.loss - 0.05, `loss ${first.loss} → ${second.loss}`);
  trainer.destroy();
  gpt.destroy();
});
