import { assertEquals } from "../tests/_assert.ts";
import { getGpu, readback } from "../gpu/device.ts";
import { createTensor } from "../gpu/kernel.ts";
import { runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import { matmulForward } from "./matmul.ts";
import { matvec } from "./matvec.ts";

Deno.test("matvec gives the bits of the linear layer's forward product, for any few rows", async () => {
  const gpu = await getGpu();
  const rng = new Rng(1);
  for (
    const [M, N, K] of [[1, 1, 4], [1, 300, 64], [3, 129, 36], [8, 257, 128], [13, 64, 512], [
      64,
      100,
      20,
    ]]
  ) {
    const a = createTensor(gpu, [M, K], "a", rng.normalArray(M * K));
    const w = createTensor(gpu, [N, K], "w", rng.normalArray(N * K));
    const bias = createTensor(gpu, [N], "bias", rng.normalArray(N));
    for (const withBias of [true, false]) {
      const want = createTensor(gpu, [M, N], "want");
      const got = createTensor(gpu, [M, N], "got");
      await runOps(gpu, [
        ...matmulForward(gpu, {
          out: want,
          inp: a,
          weight: w,
          bias: withBias ? bias : undefined,
          N: M,
          C: K,
          OC: N,
        }),
        matvec(gpu, { c: got, a, w, bias: withBias ? bias : undefined, M, N, K }),
      ]);
      const bits = async (t: typeof got) =>
        new Uint32Array(await readback(gpu, t.buffer, 0, M * N * 4));
      assertEquals(await bits(got), await bits(want), `M ${M}, N ${N}, K ${K}, bias ${withBias}`);
      want.buffer.destroy();
      got.buffer.destroy();
    }
  }
});

Deno.test("matvec writes its columns of wider rows (a piece of the LM head)", async () => {
  const gpu = await getGpu();
  const rng = new Rng(2);
  const M = 3, K = 8, V = 10, start = 4, count = 5;
  const a = rng.normalArray(M * K), w = rng.normalArray(count * K);
  const c = createTensor(gpu, [M, V], "c", new Float32Array(M * V).fill(7));
  await runOps(gpu, [
    matvec(gpu, {
      c,
      a: createTensor(gpu, [M, K], "a", a),
      w: createTensor(gpu, [count, K], "w", w),
      M,
      N: count,
      K,
      ldc: V,
      c0: start,
    }),
  ]);
  const got = new Float32Array(await readback(gpu, c.buffer, 0, M * V * 4));
  for (let m = 0; m < M; m++) {
    for (let v = 0; v < V; v++) {
      let want = 7;
      if (v >= start && v < start + count) {
        want = 0;
        for (let k = 0; k < K; k++) want += a[m * K + k] * w[(v - start) * K + k];
      }
      const d = Math.abs(got[m * V + v] - want);
      assertEquals(d < 1e-5, true, `(${m}, ${v}): ${got[m * V + v]} vs ${want}`);
    }
  }
});
