import { getGpu } from "../gpu/device.ts";
import { assert } from "../tests/_assert.ts";
import { createTensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference_attention.ts";
import {
  attentionBackward,
  attentionForward,
  type AttentionVariant,
  flashAttentionBackward,
  flashAttentionForward,
} from "./attention.ts";
import { hasSubgroupKernels } from "./matmul.ts";

async function checkAgainstReference(B: number, T: number, C: number, NH: number, seed: number) {
  const gpu = await getGpu();
  await checkVariant({ variant: "rows", subgroupRows: false }, B, T, C, NH, seed);
  if (hasSubgroupKernels(gpu)) {
    await checkVariant({ variant: "rows", subgroupRows: true }, B, T, C, NH, seed);
  }
  await checkVariant({ variant: "bmm" }, B, T, C, NH, seed);
  await checkFlash(B, T, C, NH, seed);
}

/** Flash attention: out and lse against the reference, dqkv against the exact probabilities'. */
async function checkFlash(B: number, T: number, C: number, NH: number, seed: number) {
  const gpu = await getGpu();
  const rng = new Rng(seed);
  const sizes = { B, T, C, NH };
  const x = rng.normalArray(B * T * 3 * C);
  const dy = rng.normalArray(B * T * C);
  const qkv = createTensor(gpu, [B, T, 3 * C], "qkv", x);
  const dout = createTensor(gpu, [B, T, C], "dout", dy);
  // Stale values in the outputs and the scratch must not leak into the results.
  const fill = (n: number) => new Float32Array(n).fill(Number.NaN);
  const out = createTensor(gpu, [B, T, C], "out", fill(B * T * C));
  const lse = createTensor(gpu, [B, NH, T], "lse", fill(B * NH * T));
  const dsum = createTensor(gpu, [B, NH, T], "dsum", fill(B * NH * T));
  const dqkv = createTensor(gpu, [B, T, 3 * C], "dqkv", fill(B * T * 3 * C));
  await runOps(gpu, [
    ...flashAttentionForward(gpu, { out, lse, qkv, ...sizes }),
    ...flashAttentionBackward(gpu, { dqkv, dsum, dout, qkv, out, lse, ...sizes }),
  ]);
  const want = ref.attentionForward(x, sizes);
  const tol = { atol: 1e-5, rtol: 1e-4 };
  assertClose(await readTensor(gpu, out), want.out, { ...tol, name: "out (flash)" });
  assertClose(await readTensor(gpu, lse), want.lse, { ...tol, name: "lse (flash)" });
  const wantD = ref.attentionBackward(dy, x, want.att, sizes);
  assertClose(await readTensor(gpu, dqkv), wantD, { atol: 1e-5, rtol: 1e-3, name: "dqkv (flash)" });
}

async function checkVariant(
  kernels: { variant: AttentionVariant; subgroupRows?: boolean },
  B: number,
  T: number,
  C: number,
  NH: number,
  seed: number,
) {
  const gpu = await getGpu();
  const rng = new Rng(seed);
  const sizes = { B, T, C, NH, ...kernels };
  const variant = JSON.stringify(kernels);
  const x = rng.normalArray(B * T * 3 * C);
  const dy = rng.normalArray(B * T * C);
  const qkv = createTensor(gpu, [B, T, 3 * C], "qkv", x);
  const out = createTensor(gpu, [B, T, C], "out");
  const dout = createTensor(gpu, [B, T, C], "dout", dy);
  // Stale values in the outputs and the scratch must not leak into the results.
  const fill = (n: number) => new Float32Array(n).fill(Number.NaN);
  const att = createTensor(gpu, [B, NH, T, T], "att", fill(B * NH * T * T));
  const datt = createTensor(gpu, [B, NH, T, T], "datt", fill(B * NH * T * T));
  const dqkv = createTensor(gpu, [B, T, 3 * C], "dqkv", fill(B * T * 3 * C));
  await runOps(gpu, [
    ...attentionForward(gpu, { out, att, qkv, ...sizes }),
    ...attentionBackward(gpu, { dqkv, datt, dout, qkv, att, ...sizes }),
  ]);
  const want = ref.attentionForward(x, { B, T, C, NH });
  assertClose(await readTensor(gpu, out), want.out, {
    name: `out (${variant})`,
    atol: 1e-5,
    rtol: 1e-4,
  });
  assertClose(await readTensor(gpu, att), want.att, {
    name: `att (${variant})`,
    atol: 1e-6,
    rtol: 1e-4,
  });
  // The backward is checked from the same att the GPU used, so only its own error counts.
  const gotAtt = await readTensor(gpu, att);
  const wantD = ref.attentionBackward(dy, x, gotAtt, { B, T, C, NH });
  assertClose(await readTensor(gpu, dqkv), wantD, {
    name: `dqkv (${variant})`,
    atol: 1e-5,
    rtol: 1e-3,
  });
}

Deno.test("attention matches the CPU reference at odd sizes (B=2, T=13, C=24, NH=3)", async () => {
  await checkAgainstReference(2, 13, 24, 3, 1);
});

Deno.test("attention matches the CPU reference with hs=64 (B=1, T=70, C=128, NH=2)", async () => {
  await checkAgainstReference(1, 70, 128, 2, 2);
});

Deno.test("attention matches the CPU reference over several row blocks (B=2, T=150, C=24, NH=2)", async () => {
  await checkAgainstReference(2, 150, 24, 2, 4);
});

// The largest head size, with tiles of 16 key rows (flash only: the compiles of the other
// variants' kernels for it take half a minute on lavapipe).
Deno.test("flash attention matches the CPU reference with hs=128 (B=2, T=40, C=256, NH=2)", async () => {
  await checkFlash(2, 40, 256, 2, 5);
});

Deno.test("attention matches the CPU reference with one position and one head", async () => {
  await checkAgainstReference(3, 1, 4, 1, 3);
});

Deno.test("attention reference backward agrees with finite differences (f64)", () => {
  const sizes = { B: 2, T: 4, C: 6, NH: 2 };
  const { B, T, C } = sizes;
  const rng = new Rng(7);
  const x = Float64Array.from(rng.normalArray(B * T * 3 * C));
  const w = Float64Array.from(rng.normalArray(B * T * C)); // loss = sum(w * out)
  const loss = (q: Float64Array) => {
    const { out } = ref.attentionForward(q, sizes);
    let l = 0;
    for (let i = 0; i < out.length; i++) l += w[i] * out[i];
    return l;
  };
  const { att } = ref.attentionForward(x, sizes);
  const grad = ref.attentionBackward(w, x, att, sizes);
  if (!(grad instanceof Float64Array)) throw new Error("the reference lost f64 precision");
  const eps = 1e-6;
  const numeric = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const plus = x.slice(), minus = x.slice();
    plus[i] += eps;
    minus[i] -= eps;
    numeric[i] = (loss(plus) - loss(minus)) / (2 * eps);
  }
  assertClose(grad, numeric, { name: "dqkv", atol: 1e-7, rtol: 1e-6 });
  // The check is not vacuous: most gradients are far from zero.
  let nonzero = 0;
  for (const g of grad) if (Math.abs(g) > 1e-3) nonzero++;
  if (nonzero < grad.length / 2) throw new Error(`only ${nonzero} of ${grad.length} are nonzero`);
});

Deno.test("flash attention refuses an adapter with too little workgroup memory, naming the flag", async () => {
  const gpu = await getGpu();
  // The tiles of a GPU (and lavapipe); the OpenGL adapter's are smaller.
  const small = {
    ...gpu,
    backend: "vulkan",
    limits: { ...gpu.limits, maxComputeWorkgroupStorageSize: 16384 },
  };
  const [B, T, C, NH] = [1, 4, 8, 2];
  let message = "";
  try {
    flashAttentionForward(small, {
      out: createTensor(gpu, [B, T, C], "out"),
      lse: createTensor(gpu, [B, NH, T], "lse"),
      qkv: createTensor(gpu, [B, T, 3 * C], "qkv"),
      B,
      T,
      C,
      NH,
    });
  } catch (e) {
    message = (e as Error).message;
  }
  assert(
    /needs 16896 bytes of workgroup memory; this adapter allows 16384: use --attention matrix/
      .test(message),
    message || "no error",
  );
});
