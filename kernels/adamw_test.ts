import { getGpu, upload } from "../gpu/device.ts";
import { createTensor, type Tensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference_optim.ts";
import { adamw } from "./adamw.ts";

async function check(N: number, decayEnd: number, maxBindingBytes?: number, nOps = 1) {
  const gpu = await getGpu();
  const rng = new Rng(N + decayEnd);
  const p = rng.normalArray(N);
  const m = rng.normalArray(N, 0.01);
  const v = rng.uniformArray(N, 0, 1e-4);
  // params sits at the start of a longer buffer: the words after it must stay untouched.
  const sentinel = 12345;
  const pBuf = new Float32Array(N + 8).fill(sentinel);
  pBuf.set(p);
  const pFull = createTensor(gpu, [N + 8], "params_buffer", pBuf);
  const params: Tensor = { name: "params", buffer: pFull.buffer, offset: 0, length: N, shape: [N] };
  const mT = createTensor(gpu, [N], "m", m);
  const vT = createTensor(gpu, [N], "v", v);
  // Nonzero gradients past the tensor: a kernel that wrote its last partial vec4 whole would
  // move the sentinels after params.
  const gFull = createTensor(gpu, [N + 8], "grads_buffer", new Float32Array(N + 8).fill(1));
  const grads: Tensor = { name: "grads", buffer: gFull.buffer, offset: 0, length: N, shape: [N] };
  const clipScale = 0.75;
  const clip = createTensor(gpu, [2], "clip", new Float32Array([4.2, clipScale]));
  const opt = adamw(gpu, { params, grads, m: mT, v: vT, clip, N, decayEnd, maxBindingBytes });
  if (opt.ops.length !== nOps) throw new Error(`expected ${nOps} ops, got ${opt.ops.length}`);
  for (let step = 1; step <= 3; step++) {
    const g = rng.normalArray(N, 0.1);
    const hyper = {
      lr: 0.05 / step,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      weightDecay: 0.5,
      step: step + 10, // mid-run: the bias corrections differ from the first step's
    };
    upload(gpu, grads.buffer, g);
    opt.update(hyper);
    await runOps(gpu, opt.ops);
    ref.adamwStep(p, g, m, v, clipScale, decayEnd, hyper);
  }
  assertClose(await readTensor(gpu, mT), m, { name: "m", atol: 1e-7, rtol: 1e-5 });
  assertClose(await readTensor(gpu, vT), v, { name: "v", atol: 1e-10, rtol: 1e-5 });
  assertClose(await readTensor(gpu, params), p, { name: "params", atol: 1e-6, rtol: 1e-5 });
  const after = (await readTensor(gpu, pFull)).subarray(N);
  assertClose(after, new Float32Array(8).fill(sentinel), { name: "past params", atol: 0, rtol: 0 });
}

Deno.test("adamw matches the CPU reference over 3 steps, decay on the first part only", async () => {
  await check(1037, 500);
});

Deno.test("adamw splits the buffers across bindings", async () => {
  // 1 KiB bindings hold 256 elements: 5 ops; decayEnd falls inside the third window.
  await check(1037, 600, 1024, 5);
});

Deno.test("adamw first step by hand", async () => {
  const gpu = await getGpu();
  // Two elements p = 1, grad = 0.5, clip scale 0.5 (g = 0.25), m = v = 0; only the first decays.
  const params = createTensor(gpu, [2], "params", new Float32Array([1, 1]));
  const grads = createTensor(gpu, [2], "grads", new Float32Array([0.5, 0.5]));
  const m = createTensor(gpu, [2], "m");
  const v = createTensor(gpu, [2], "v");
  const clip = createTensor(gpu, [2], "clip", new Float32Array([1, 0.5]));
  const opt = adamw(gpu, { params, grads, m, v, clip, N: 2, decayEnd: 1 });
  opt.update({ lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 1 });
  await runOps(gpu, opt.ops);
  // m = 0.1 * 0.25 = 0.025; v = 0.001 * 0.0625 = 6.25e-5; m̂ = 0.25, √v̂ = 0.25: the step is
  // lr * 0.25 / (0.25 + 1e-8) ≈ 0.1. Decay first: 1 * (1 - 0.1 * 0.1) = 0.99 → 0.89; no decay: 0.9.
  assertClose(await readTensor(gpu, m), [0.025, 0.025], { name: "m", rtol: 1e-6 });
  assertClose(await readTensor(gpu, v), [6.25e-5, 6.25e-5], { name: "v", atol: 0, rtol: 1e-5 });
  assertClose(await readTensor(gpu, params), [0.89, 0.9], { name: "params", atol: 1e-6 });
});

Deno.test("adamw skips the update when the gradient norm is not finite", async () => {
  const gpu = await getGpu();
  for (const norm of [NaN, Infinity, -Infinity]) {
    const params = createTensor(gpu, [5], "params", new Float32Array([1, 2, 3, 4, 5]));
    const grads = createTensor(gpu, [5], "grads", new Float32Array([NaN, 1, 1, 1, 1]));
    const m = createTensor(gpu, [5], "m", new Float32Array(5).fill(0.5));
    const v = createTensor(gpu, [5], "v", new Float32Array(5).fill(0.25));
    const clip = createTensor(gpu, [2], "clip", new Float32Array([norm, 1]));
    const opt = adamw(gpu, { params, grads, m, v, clip, N: 5, decayEnd: 3 });
    opt.update({ lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 3 });
    await runOps(gpu, opt.ops);
    assertClose(await readTensor(gpu, params), [1, 2, 3, 4, 5], { name: `params (norm ${norm})` });
    assertClose(await readTensor(gpu, m), [0.5, 0.5, 0.5, 0.5, 0.5], { name: "m" });
    assertClose(await readTensor(gpu, v), [0.25, 0.25, 0.25, 0.25, 0.25], { name: "v" });
  }
  // a finite norm still updates
  const params = createTensor(gpu, [1], "params", new Float32Array([1]));
  const opt = adamw(gpu, {
    params,
    grads: createTensor(gpu, [1], "grads", new Float32Array([1])),
    m: createTensor(gpu, [1], "m"),
    v: createTensor(gpu, [1], "v"),
    clip: createTensor(gpu, [2], "clip", new Float32Array([1e30, 1])),
    N: 1,
    decayEnd: 0,
  });
  opt.update({ lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 });
  await runOps(gpu, opt.ops);
  assertClose(await readTensor(gpu, params), [0.9], { name: "params", atol: 1e-6 });
});
