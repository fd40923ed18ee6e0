import { assertEquals } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { createTensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference.ts";
import { geluBackward, geluForward } from "./gelu.ts";

Deno.test("gelu forward and backward match the CPU reference", async () => {
  // 1037: the scalar kernels, and not a multiple of the workgroup size; 1036: the vec4 kernels
  for (const n of [1037, 1036]) await checkGelu(n);
});

async function checkGelu(n: number) {
  const gpu = await getGpu();
  const rng = new Rng(1);
  const x = rng.normalArray(n, 2);
  const dy = rng.normalArray(n);
  const inp = createTensor(gpu, [n], "inp", x);
  const out = createTensor(gpu, [n], "out");
  const dout = createTensor(gpu, [n], "dout", dy);
  const dinp = createTensor(gpu, [n], "dinp");
  const ops = [...geluForward(gpu, { out, inp }), ...geluBackward(gpu, { dinp, inp, dout })];
  const suffix = n % 4 === 0 ? "4" : "";
  assertEquals(ops.map((o) => o.label), [`gelu_forward${suffix}`, `gelu_backward${suffix}`]);
  await runOps(gpu, ops);
  assertClose(await readTensor(gpu, out), ref.geluForward(x), { name: "out" });
  assertClose(await readTensor(gpu, dinp), ref.geluBackward(x, dy), { name: "dinp" });
}
