import { assertEquals } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { createTensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference_layers.ts";
import { residualBackward, residualForward } from "./residual.ts";

Deno.test("residual forward and backward match the CPU reference", async () => {
  // 1037: the scalar forward, and not a multiple of the workgroup size; 1036: the vec4 forward
  for (const N of [1037, 1036]) await checkResidual(N);
});

async function checkResidual(N: number) {
  const gpu = await getGpu();
  const rng = new Rng(5);
  const a = rng.normalArray(N), b = rng.normalArray(N), dy = rng.normalArray(N);
  const g1 = rng.normalArray(N), g2 = rng.normalArray(N); // non-zero initial gradients
  const out = new Float32Array(N);
  ref.residualForward(out, a, b);

  const t = {
    out: createTensor(gpu, [N], "out"),
    inp1: createTensor(gpu, [N], "inp1", a),
    inp2: createTensor(gpu, [N], "inp2", b),
    dout: createTensor(gpu, [N], "dout", dy),
  };
  const both = [createTensor(gpu, [N], "dinp1", g1), createTensor(gpu, [N], "dinp2", g2)];
  const only1 = createTensor(gpu, [N], "only1", g1);
  const only2 = createTensor(gpu, [N], "only2", g2);
  const forward = residualForward(gpu, { ...t, N });
  assertEquals(forward[0].label, N % 4 === 0 ? "residual_forward4" : "residual_forward");
  await runOps(gpu, [
    ...forward,
    ...residualBackward(gpu, { dinp1: both[0], dinp2: both[1], dout: t.dout, N }),
    ...residualBackward(gpu, { dinp1: only1, dout: t.dout, N }),
    ...residualBackward(gpu, { dinp2: only2, dout: t.dout, N }),
  ]);
  const r1 = g1.slice(), r2 = g2.slice();
  ref.residualBackward(r1, r2, dy);
  assertClose(await readTensor(gpu, t.out), out, { name: "out" });
  assertClose(await readTensor(gpu, both[0]), r1, { name: "dinp1" });
  assertClose(await readTensor(gpu, both[1]), r2, { name: "dinp2" });
  assertClose(await readTensor(gpu, only1), r1, { name: "dinp1 alone" });
  assertClose(await readTensor(gpu, only2), r2, { name: "dinp2 alone" });
}

Deno.test("residual backward needs at least one gradient", async () => {
  const gpu = await getGpu();
  const dout = createTensor(gpu, [4], "dout");
  let message = "";
  try {
    residualBackward(gpu, { dout, N: 4 });
  } catch (e) {
    message = (e as Error).message;
  }
  if (!/give dinp1, dinp2 or both/.test(message)) throw new Error(`got "${message}"`);
});
