/**
 * The model against PyTorch (llm.c's test_gpt2): the same weights and batch give the same logits,
 * loss and every parameter gradient, and 10 AdamW steps give the same losses. The fixture comes
 * from tests/reference/gpt_reference.py.
 */
import { assert } from "./_assert.ts";
import { getGpu, type Gpu } from "../gpu/device.ts";
import { readTensor, relativeL2 } from "../gpu/testing.ts";
import { decodeSafetensors } from "../model/safetensors.ts";
import { fromHf } from "../model/checkpoint.ts";
import type { GptConfig } from "../model/config.ts";
import { Gpt, type GraphOptions, readTable } from "../model/gpt.ts";
import { Trainer } from "../model/trainer.ts";
import { Evaluator } from "../model/generate.ts";

const fixture = decodeSafetensors(
  await Deno.readFile(new URL("./fixtures/gpt_tiny.safetensors", import.meta.url)),
  "gpt_tiny.safetensors",
);
const meta = fixture.metadata;
const config: GptConfig = {
  vocabSize: Number(meta.vocab_size),
  context: Number(meta.n_positions),
  layers: Number(meta.n_layer),
  heads: Number(meta.n_head),
  width: Number(meta.n_embd),
};
const B = Number(meta.B), T = Number(meta.T);
const tensor = (name: string) => {
  const t = fixture.tensors.get(name);
  if (!t) throw new Error(`fixture has no ${name}`);
  return t.data;
};
const params = fromHf(config, fixture.tensors, "fixture");
const inputs = Uint32Array.from(tensor("inputs"));
const targets = Uint32Array.from(tensor("targets"));
const hyper = {
  lr: Number(meta.lr),
  beta1: JSON.parse(meta.betas)[0],
  beta2: JSON.parse(meta.betas)[1],
  eps: Number(meta.eps),
  weightDecay: Number(meta.weight_decay),
  gradClip: Number(meta.grad_clip),
};

/**
 * Each check runs with the kernels this adapter picks, again with the other adapter class's
 * variants (on a CPU adapter: the GPU kernels, tiled products and attention through them), with
 * flash attention, and with the GELU fused into the GPU kernels' products.
 */
const gpus = async () => {
  const gpu = await getGpu();
  return [
    { kernels: gpu.isCpu ? "CPU kernels" : "GPU kernels", gpu },
    { kernels: gpu.isCpu ? "GPU kernels" : "CPU kernels", gpu: { ...gpu, isCpu: !gpu.isCpu } },
    { kernels: "flash attention", gpu, attention: "flash" as const },
    // the GELU inside the products, with the GPU kernels (the wide product's epilogue)
    { kernels: "fused GELU", gpu: { ...gpu, isCpu: false }, fuseGelu: true },
  ];
};

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
}

Deno.test("logits and loss match PyTorch", async () => {
  for (const { kernels, gpu, attention, fuseGelu } of await gpus()) {
    const gpt = Gpt.create(gpu, config, { values: params });
    const ev = new Evaluator(gpt, { B, T, attention, fuseGelu });
    assert(ev.graph.attention === (attention ?? "matrix"), `${kernels}: ${ev.graph.attention}`);
    assert(ev.graph.fuseGelu === !!fuseGelu, `${kernels}: fused GELU ${ev.graph.fuseGelu}`);
    const loss = await ev.loss(inputs, targets);
    const logits = await readTensor(gpu, ev.graph.acts.get("logits"));
    const err = relativeL2(logits, tensor("logits"));
    assert(err <= 1e-4, `${kernels}: logits relative error ${err}`);
    const lossErr = relErr(loss, tensor("loss")[0]);
    assert(lossErr <= 1e-4, `${kernels}: loss ${loss} vs ${tensor("loss")[0]} (error ${lossErr})`);
    ev.destroy();
    gpt.destroy();
  }
});

async function checkGradients(weights: Float32Array | undefined, prefix: string, lossName: string) {
  for (const { kernels, gpu, attention, fuseGelu } of await gpus()) {
    await checkGradientsOn(gpu, kernels, weights, prefix, lossName, { attention, fuseGelu });
  }
}

async function checkGradientsOn(
  gpu: Gpu,
  kernels: string,
  weights: Float32Array | undefined,
  prefix: string,
  lossName: string,
  graph: Pick<GraphOptions, "attention" | "fuseGelu">,
) {
  const gpt = Gpt.create(gpu, config, { values: params });
  const trainer = new Trainer(gpt, { B, T, ...graph });
  await trainer.ready();
  const stats = await trainer.submit([{ inputs, targets, weights }], { ...hyper, lr: 0 });
  const lossErr = relErr(stats.loss, tensor(lossName)[0]);
  assert(lossErr <= 1e-4, `${kernels}: ${lossName} ${stats.loss} vs ${tensor(lossName)[0]}`);
  const grads = await readTable(gpu, gpt.grads);
  const expected = fromHf(config, fixture.tensors, "fixture", prefix);
  const bad: string[] = [];
  for (const [name, want] of expected) {
    const err = relativeL2(grads.get(name)!, want);
    if (!(err <= 1e-3)) bad.push(`${name}: relative L2 error ${err.toExponential(2)}`);
  }
  assert(bad.length === 0, `${kernels}: gradients differ from PyTorch:\n${bad.join("\n")}`);
  trainer.destroy();
  gpt.destroy();
}

Deno.test("every parameter gradient matches PyTorch", async () => {
  await checkGradients(undefined, "grad.", "loss");
});

Deno.test("gradients of a weighted (masked) loss match PyTorch", async () => {
  await checkGradients(Float32Array.from(tensor("weights")), "wgrad.", "wloss");
});

Deno.test("losses of 10 AdamW steps match PyTorch", async () => {
  for (const { kernels, gpu, attention, fuseGelu } of await gpus()) {
    await checkSteps(gpu, kernels, { attention, fuseGelu });
  }
});

async function checkSteps(
  gpu: Gpu,
  kernels: string,
  graph: Pick<GraphOptions, "attention" | "fuseGelu">,
) {
  const gpt = Gpt.create(gpu, config, { values: params });
  const trainer = new Trainer(gpt, { B, T, ...graph });
  await trainer.ready();
  const want = tensor("losses");
  const got: number[] = [];
  for (let i = 0; i < want.length; i++) {
    got.push((await trainer.submit([{ inputs, targets }], hyper)).loss);
  }
  for (let i = 0; i < want.length; i++) {
    assert(
      Math.abs(got[i] - want[i]) <= 1e-3,
      `${kernels}, step ${i}: loss ${got[i]} vs PyTorch ${want[i]}\nours:  ${
        got.join(", ")
      }\ntorch: ${[...want].join(", ")}`,
    );
  }
  assert(got[want.length - 1] < got[0], "the loss must fall");
  trainer.destroy();
  gpt.destroy();
}
