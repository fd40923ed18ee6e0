import { getGpu } from "../gpu/device.ts";
import { createTensor, type Tensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference_optim.ts";
import { gradNorm, gradNormPartials } from "./gradnorm.ts";

async function check(N: number, maxNorms: (norm: number) => number[], maxBindingBytes?: number) {
  // Both stage-1 shapes: CPU adapters' and GPUs'.
  for (const cpuShape of [true, false]) await checkShape(N, maxNorms, cpuShape, maxBindingBytes);
}

async function checkShape(
  N: number,
  maxNorms: (norm: number) => number[],
  cpuShape: boolean,
  maxBindingBytes?: number,
) {
  const gpu = await getGpu();
  const rng = new Rng(N);
  const g = rng.normalArray(N, 0.01);
  // Large values at both ends catch a window or block that is skipped or read twice.
  g[0] = 0.5;
  g[N - 1] = -0.7;
  // Garbage past the tensor, inside the last vec4 the kernel reads, must not count.
  const padded = new Float32Array(N + 8).fill(1e3);
  padded.set(g);
  const buffer = createTensor(gpu, [N + 8], "grads_buffer", padded).buffer;
  const grads: Tensor = { name: "grads", buffer, offset: 0, length: N, shape: [N] };
  const count = gradNormPartials(gpu, N, maxBindingBytes);
  const partials = createTensor(gpu, [count], "partials");
  const [norm] = ref.gradNorm(g, 0);
  for (const maxNorm of maxNorms(norm)) {
    const out = createTensor(gpu, [2], "out");
    await runOps(
      gpu,
      gradNorm(gpu, { out, partials, grads, N, maxNorm, maxBindingBytes, cpuShape }),
    );
    const got = await readTensor(gpu, out);
    assertClose(got, ref.gradNorm(g, maxNorm), { name: `norm, scale (maxNorm ${maxNorm})` });
  }
}

Deno.test("gradNorm gives the norm and the clip scale above, below and without a max norm", async () => {
  await check(100003, (norm) => [norm * 2, norm / 3, 0]);
});

Deno.test("gradNorm over a few elements", async () => {
  await check(37, (norm) => [norm / 2]);
});

Deno.test("gradNorm splits the gradients across bindings", async () => {
  const gpu = await getGpu();
  // 5000-byte bindings hold 1216 elements: 83 windows of one block each.
  const N = 100003;
  const maxBindingBytes = 5000;
  if (gradNormPartials(gpu, N, maxBindingBytes) !== Math.ceil(N / 1216)) {
    throw new Error("unexpected number of partials");
  }
  const ops = gradNorm(gpu, {
    out: createTensor(gpu, [2], "out"),
    partials: createTensor(gpu, [83], "p"),
    grads: createTensor(gpu, [N], "g"),
    N,
    maxNorm: 1,
    maxBindingBytes,
  });
  if (ops.length !== 84) throw new Error(`expected 83 + 1 ops, got ${ops.length}`);
  await check(N, (norm) => [norm / 3], maxBindingBytes);
  // Windows of several blocks each, the last one partial.
  await check(N, (norm) => [norm / 3], 64 * 1024);
});

Deno.test("gradNorm is deterministic", async () => {
  const gpu = await getGpu();
  const N = 54321;
  const grads = createTensor(gpu, [N], "grads", new Rng(9).normalArray(N));
  const partials = createTensor(gpu, [gradNormPartials(gpu, N)], "partials");
  const a = createTensor(gpu, [2], "a");
  const b = createTensor(gpu, [2], "b");
  await runOps(gpu, [
    ...gradNorm(gpu, { out: a, partials, grads, N, maxNorm: 1 }),
    ...gradNorm(gpu, { out: b, partials, grads, N, maxNorm: 1 }),
  ]);
  assertClose(await readTensor(gpu, a), await readTensor(gpu, b), { atol: 0, rtol: 0 });
});
