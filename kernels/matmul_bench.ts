/**
 * Times the matmul kernels on the shapes of the small benchmark config (N = B·T = 1024, C = 256)
 * and the same products on the CPU with ml-matrix, and prints GFLOP/s per shape.
 *
 *     deno run -A kernels/matmul_bench.ts [--variant=reg|tiled] [--seconds=0.5] [--no-cpu]
 *
 * Each GPU product is warmed up, then dispatched many times in one pass of one submit, with one
 * wait at the end.
 *
 * @module
 */
import { Matrix } from "ml-matrix";
import { getGpu } from "../gpu/device.ts";
import { assertNoGpuErrors, createTensor, encodeOps, type Op } from "../gpu/kernel.ts";
import { Rng } from "../data/rng.ts";
import { biasBackward, defaultVariant, gemm, type MatmulVariant } from "./matmul.ts";

function flag(name: string): string | undefined {
  const hit = Deno.args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (hit === undefined) return undefined;
  return hit.includes("=") ? hit.slice(hit.indexOf("=") + 1) : "";
}

const gpu = await getGpu();
const variantFlag = flag("variant");
if (variantFlag !== undefined && variantFlag !== "reg" && variantFlag !== "tiled") {
  throw new Error(`Unknown variant "${variantFlag}": use reg or tiled`);
}
const variant: MatmulVariant = (variantFlag as MatmulVariant | undefined) ?? defaultVariant(gpu);
const seconds = Number(flag("seconds") ?? 0.5);
const withCpu = flag("no-cpu") === undefined;

/** Runs `op` `reps` times in one pass and one submit; returns ms per dispatch. */
async function timeOp(op: Op, reps: number): Promise<number> {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeOps(pass, Array(reps).fill(op));
  pass.end();
  const t0 = performance.now();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / reps;
}

async function benchGpu(op: Op): Promise<number> {
  const first = await timeOp(op, 1); // warm-up (and a first estimate)
  const reps = Math.max(3, Math.min(200, Math.ceil(seconds * 1000 / Math.max(first, 0.01))));
  return await timeOp(op, reps);
}

function benchCpu(f: () => unknown): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

const shapes = [
  { name: "qkv", C: 256, OC: 768, bias: true },
  { name: "attn proj", C: 256, OC: 256, bias: true },
  { name: "fc", C: 256, OC: 1024, bias: true },
  { name: "fc proj", C: 1024, OC: 256, bias: true },
  { name: "lm head", C: 256, OC: 512, bias: false },
];
const N = 1024;
const rng = new Rng(1);

console.log(`adapter: ${gpu.name} (${gpu.backend}), variant ${variant}, N = ${N}`);
if (withCpu) {
  // Warm up the JIT on ml-matrix's product before timing it.
  Matrix.rand(64, 64).mmul(Matrix.rand(64, 64));
}
const header = ["shape", "product", "(M, N, K)", "gpu ms", "GFLOP/s"];
if (withCpu) header.push("cpu ms", "GFLOP/s", "gpu/cpu");
const rows: string[][] = [header];
let gpuTotal = 0, cpuTotal = 0, flopTotal = 0;
for (const s of shapes) {
  const { C, OC } = s;
  const xs = rng.normalArray(N * C), ws = rng.normalArray(OC * C), dys = rng.normalArray(N * OC);
  const inp = createTensor(gpu, [N, C], "inp", xs);
  const weight = createTensor(gpu, [OC, C], "weight", ws);
  const bias = s.bias ? createTensor(gpu, [OC], "bias", rng.normalArray(OC)) : undefined;
  const out = createTensor(gpu, [N, OC], "out");
  const dout = createTensor(gpu, [N, OC], "dout", dys);
  const dinp = createTensor(gpu, [N, C], "dinp");
  const dweight = createTensor(gpu, [OC, C], "dweight");
  const dbias = createTensor(gpu, [OC], "dbias");
  const flops = 2 * N * C * OC;
  const products: { product: string; mnk: number[]; op: Op; cpu: () => unknown; flops: number }[] =
    [];
  const x = withCpu ? new Matrix(N, C) : undefined;
  const w = withCpu ? new Matrix(OC, C) : undefined;
  const dy = withCpu ? new Matrix(N, OC) : undefined;
  if (x && w && dy) {
    for (let i = 0; i < N * C; i++) x.set(Math.floor(i / C), i % C, xs[i]);
    for (let i = 0; i < OC * C; i++) w.set(Math.floor(i / C), i % C, ws[i]);
    for (let i = 0; i < N * OC; i++) dy.set(Math.floor(i / OC), i % OC, dys[i]);
  }
  const wT = w?.transpose(), dyT = dy?.transpose();
  products.push({
    product: "forward",
    mnk: [N, OC, C],
    op: gemm(gpu, { c: out, a: inp, b: weight, bias, M: N, N: OC, K: C, transB: true, variant }),
    cpu: () => x!.mmul(wT!),
    flops,
  });
  products.push({
    product: "dinp",
    mnk: [N, C, OC],
    op: gemm(gpu, { c: dinp, a: dout, b: weight, M: N, N: C, K: OC, variant }),
    cpu: () => dy!.mmul(w!),
    flops,
  });
  products.push({
    product: "dweight",
    mnk: [OC, C, N],
    op: gemm(gpu, {
      c: dweight,
      a: dout,
      b: inp,
      M: OC,
      N: C,
      K: N,
      transA: true,
      accumulate: true,
      variant,
    }),
    cpu: () => dyT!.mmul(x!),
    flops,
  });
  if (s.bias) {
    products.push({
      product: "dbias",
      mnk: [OC, N],
      op: biasBackward(gpu, { dbias, dout, N, OC }),
      cpu: () => dy!.sum("column"),
      flops: N * OC,
    });
  }
  await assertNoGpuErrors();
  for (const p of products) {
    const ms = await benchGpu(p.op);
    const row = [
      `${s.name} C=${C} OC=${OC}`,
      p.product,
      `(${p.mnk.join(", ")})`,
      ms.toFixed(2),
      (p.flops / ms / 1e6).toFixed(2),
    ];
    if (p.product !== "dbias") {
      gpuTotal += ms;
      flopTotal += p.flops;
    }
    if (withCpu) {
      const cms = benchCpu(p.cpu);
      if (p.product !== "dbias") cpuTotal += cms;
      row.push(cms.toFixed(1), (p.flops / cms / 1e6).toFixed(2), (cms / ms).toFixed(1) + "x");
    }
    rows.push(row);
  }
  for (const t of [inp, weight, bias, out, dout, dinp, dweight, dbias]) t?.buffer.destroy();
}
const total = [
  "all products",
  "",
  "",
  gpuTotal.toFixed(1),
  (flopTotal / gpuTotal / 1e6).toFixed(2),
];
if (withCpu) {
  total.push(
    cpuTotal.toFixed(0),
    (flopTotal / cpuTotal / 1e6).toFixed(2),
    (cpuTotal / gpuTotal).toFixed(1) + "x",
  );
}
rows.push(total);
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) {
  console.log(r.map((c, i) => i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  "));
}
