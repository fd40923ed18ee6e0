import { getGpu } from "../gpu/device.ts";
import { createTensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference.ts";
import { geluBackward, geluForward } from "./gelu.ts";

Deno.test("gelu forward and backward match the CPU reference", async () => {
  const gpu = await getGpu();
  const rng = new Rng(1);
  const n = 1000 + 37; // not a multiple of the workgroup size
  const x = rng.normalArray(n, 2);
  const dy = rng.normalArray(n);
  const inp = createTensor(gpu, [n], "inp", x);
  const out = createTensor(gpu, [n], "out");
  const dout = createTensor(gpu, [n], "dout", dy);
  const dinp = createTensor(gpu, [n], "dinp");
  await runOps(gpu, [...geluForward(gpu, { out, inp }), ...geluBackward(gpu, { dinp, inp, dout })]);
  assertClose(await readTensor(gpu, out), ref.geluForward(x), { name: "out" });
  assertClose(await readTensor(gpu, dinp), ref.geluBackward(x, dy), { name: "dinp" });
});
