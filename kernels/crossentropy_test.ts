import { getGpu } from "../gpu/device.ts";
import { createTensor, type Op } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference_optim.ts";
import { crossEntropyForward, crossEntropyFused, sumReduce } from "./crossentropy.ts";

function assertEquals(actual: unknown, expected: unknown, msg = "values differ"): void {
  if (ArrayBuffer.isView(actual) && ArrayBuffer.isView(expected)) {
    const a = actual as Float32Array, e = expected as Float32Array;
    const i = a.findIndex((x, k) => !Object.is(x, e[k]));
    if (a.length === e.length && i < 0) return;
    throw new Error(`${msg}: first difference at ${i}`);
  }
  if (!Object.is(actual, expected)) throw new Error(`${msg}: got ${actual}, expected ${expected}`);
}

function problem(seed: number, N: number, V: number) {
  const rng = new Rng(seed);
  const logits = rng.normalArray(N * V, 3);
  const targets = new Uint32Array(N);
  const weights = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    targets[i] = rng.int(V);
    weights[i] = rng.random() < 0.25 ? 0 : rng.random() / N;
  }
  // A masked row whose target is out of range must neither read out of bounds nor contribute.
  targets[1] = 0xffffffff;
  weights[1] = 0;
  weights[2] = 0;
  // A masked row with an infinite logit still gives exactly zero loss and gradient.
  logits[2 * V + 3] = Infinity;
  return { logits, targets, weights };
}

async function check(seed: number, N: number, V: number, maxBindingBytes?: number, nOps = 1) {
  // Both variants: one workgroup per row (GPUs) and one invocation per row (CPU adapters).
  for (const rowPerThread of [false, true]) {
    await checkVariant(seed, N, V, rowPerThread, maxBindingBytes, nOps);
  }
}

async function checkVariant(
  seed: number,
  N: number,
  V: number,
  rowPerThread: boolean,
  maxBindingBytes?: number,
  nOps = 1,
) {
  const gpu = await getGpu();
  const { logits, targets, weights } = problem(seed, N, V);
  const lg = createTensor(gpu, [N, V], "logits", logits);
  const lgEval = createTensor(gpu, [N, V], "logits_eval", logits);
  const tg = createTensor(gpu, [N], "targets", targets);
  const wt = createTensor(gpu, [N], "weights", weights);
  const losses = createTensor(gpu, [N], "losses");
  const lossesEval = createTensor(gpu, [N], "losses_eval");
  const common = { targets: tg, weights: wt, N, V, maxBindingBytes, rowPerThread };
  const fused = crossEntropyFused(gpu, { ...common, losses, logits: lg });
  const fwd = crossEntropyForward(gpu, { ...common, losses: lossesEval, logits: lgEval });
  assertEquals(fused.length, nOps);
  assertEquals(fwd.length, nOps);
  await runOps(gpu, [...fused, ...fwd]);

  const refLoss = ref.crossEntropyForward(logits, targets, weights, N, V);
  const refGrad = ref.crossEntropyBackward(logits, targets, weights, N, V);
  const gotLoss = await readTensor(gpu, losses);
  const gotGrad = await readTensor(gpu, lg);
  assertClose(gotLoss, refLoss, { name: "losses", atol: 1e-6, rtol: 1e-4 });
  assertClose(await readTensor(gpu, lossesEval), refLoss, { name: "eval losses", atol: 1e-6 });
  assertClose(gotGrad, refGrad, { name: "dlogits", atol: 1e-7, rtol: 1e-4 });
  assertEquals(await readTensor(gpu, lgEval), logits, "forward must leave logits untouched");
  for (let i = 0; i < N; i++) {
    if (weights[i] !== 0) continue;
    assertEquals(gotLoss[i], 0, `masked row ${i} has a loss`);
    for (let j = 0; j < V; j++) {
      if (gotGrad[i * V + j] !== 0) throw new Error(`masked row ${i} has a gradient at ${j}`);
    }
  }
}

Deno.test("crossentropy fused and forward match the CPU reference (N=37, V=101)", async () => {
  await check(1, 37, 101);
});

Deno.test("crossentropy handles a long row (N=5, V=5000)", async () => {
  await check(2, 5, 5000);
});

Deno.test("crossentropy splits rows across bindings (N=200, V=101, 32 KiB bindings)", async () => {
  // 64 rows of 101 floats fit 32 KiB: four ops of 64, 64, 64 and 8 rows.
  await check(3, 200, 101, 32 * 1024, 4);
});

Deno.test("sumReduce matches a float64 sum for N=1, 255 and 100003", async () => {
  const gpu = await getGpu();
  const rng = new Rng(4);
  const out = createTensor(gpu, [3], "sums");
  const ops: Op[] = [];
  const expected: number[] = [];
  [1, 255, 100003].forEach((n, k) => {
    const x = rng.uniformArray(n, 0, 2);
    ops.push(
      ...sumReduce(gpu, { out, inp: createTensor(gpu, [n], `x${n}`, x), N: n, outOffset: k }),
    );
    expected.push(ref.sum(x));
  });
  await runOps(gpu, ops);
  assertClose(await readTensor(gpu, out), expected, { name: "sums", atol: 0, rtol: 2e-6 });
});
