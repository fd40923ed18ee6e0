/**
 * Times the matmul kernels on the shapes of the small benchmark config (N = B·T = 1024, C = 256)
 * and the same products on the CPU with ml-matrix, and prints GFLOP/s per shape.
 *
 *     deno run -A kernels/matmul_bench.ts [--variant=reg|scalar|subgroup|tiled|wide] [--vs=reg]
 *         [--seconds=0.5] [--rounds=3] [--no-cpu]
 *
 * Each GPU product is warmed up, then dispatched many times in one pass of one submit, with one
 * wait at the end. `--vs` times a second variant on the same products, alternating with the
 * first, round after round (the best round counts): on a shared machine compare variants only
 * within one run. Besides wall time it reports the process CPU time (all threads, from
 * /proc/self/task/<id>/schedstat, where available) as GFLOP per CPU second.
 *
 * @module
 */
import { Matrix } from "ml-matrix";
import { getGpu } from "../gpu/device.ts";
import { assertNoGpuErrors, createTensor, encodeOps, type Op } from "../gpu/kernel.ts";
import { Rng } from "../data/rng.ts";
import { cpuSeconds } from "../gpu/testing.ts";
import {
  biasBackward,
  defaultVariant,
  forwardProduct,
  gemm,
  type GemmArgs,
  gemmKernelName,
  inputGradient,
  type MatmulVariant,
  weightGradient,
} from "./matmul.ts";

function flag(name: string): string | undefined {
  const hit = Deno.args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (hit === undefined) return undefined;
  return hit.includes("=") ? hit.slice(hit.indexOf("=") + 1) : "";
}

const gpu = await getGpu();
const variantFlag = flag("variant");
const VARIANTS = ["reg", "scalar", "subgroup", "tiled", "wide"];
const vsFlag = flag("vs");
for (const v of [variantFlag, vsFlag]) {
  if (v !== undefined && !VARIANTS.includes(v)) {
    throw new Error(`Unknown variant "${v}": use ${VARIANTS.join(", ")}`);
  }
}
const variant: MatmulVariant = (variantFlag as MatmulVariant | undefined) ?? defaultVariant(gpu);
const vs = vsFlag as MatmulVariant | undefined;
const seconds = Number(flag("seconds") ?? 0.5);
const rounds = Math.max(1, Number(flag("rounds") ?? 3));
const withCpu = flag("no-cpu") === undefined;

/** Runs `op` `reps` times in one pass and one submit; returns wall and CPU ms per dispatch. */
async function timeOp(op: Op, reps: number): Promise<{ wall: number; cpu: number }> {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeOps(pass, Array(reps).fill(op));
  pass.end();
  const c0 = cpuSeconds();
  const t0 = performance.now();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  const wall = (performance.now() - t0) / reps;
  return { wall, cpu: (cpuSeconds() - c0) * 1000 / reps };
}

/** A product timed on the GPU: the best wall and CPU time per dispatch over the rounds. */
interface Timed {
  op: Op;
  reps: number;
  wall: number;
  cpu: number;
}

async function prepare(op: Op): Promise<Timed> {
  const first = await timeOp(op, 1); // warm-up (and a first estimate)
  const reps = Math.max(3, Math.min(200, Math.ceil(seconds * 1000 / Math.max(first.wall, 0.01))));
  return { op, reps, wall: Infinity, cpu: Infinity };
}

async function round(t: Timed): Promise<void> {
  const r = await timeOp(t.op, t.reps);
  t.wall = Math.min(t.wall, r.wall);
  t.cpu = Math.min(t.cpu, r.cpu);
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

console.log(
  `adapter: ${gpu.name} (${gpu.backend}), variant ${variant}${vs ? ` vs ${vs}` : ""}, N = ${N}`,
);
if (withCpu) {
  // Warm up the JIT on ml-matrix's product before timing it.
  Matrix.rand(64, 64).mmul(Matrix.rand(64, 64));
}
const gf = (flops: number, ms: number) => (flops / ms / 1e6).toFixed(2);
const header = ["shape", "product", "(M, N, K)", "kernel", "ms", "GFLOP/s", "GF/cpu-s"];
if (vs) header.push(`${vs} kernel`, "ms", "GFLOP/s", "GF/cpu-s", "speedup");
if (withCpu) header.push("cpu ms", "GFLOP/s", "gpu/cpu");
const rows: string[][] = [header];
const totals = { wall: 0, cpu: 0, vsWall: 0, vsCpu: 0, cpuRef: 0, flops: 0 };
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
  const x = withCpu ? new Matrix(N, C) : undefined;
  const w = withCpu ? new Matrix(OC, C) : undefined;
  const dy = withCpu ? new Matrix(N, OC) : undefined;
  if (x && w && dy) {
    for (let i = 0; i < N * C; i++) x.set(Math.floor(i / C), i % C, xs[i]);
    for (let i = 0; i < OC * C; i++) w.set(Math.floor(i / C), i % C, ws[i]);
    for (let i = 0; i < N * OC; i++) dy.set(Math.floor(i / OC), i % OC, dys[i]);
  }
  const wT = w?.transpose(), dyT = dy?.transpose();
  // Each product's arguments for a variant, as the model runs them (the weight gradient is
  // transposed for C > OC on CPU adapters).
  const gemms: { product: string; args: (v: MatmulVariant) => GemmArgs; cpu: () => unknown }[] = [
    {
      product: "forward",
      args: (v) => forwardProduct({ out, inp, weight, bias, N, C, OC, variant: v }),
      cpu: () => x!.mmul(wT!),
    },
    {
      product: "dinp",
      args: (v) => inputGradient({ dinp, dout, weight, N, C, OC, variant: v }),
      cpu: () => dy!.mmul(w!),
    },
    {
      product: "dweight",
      args: (v) => weightGradient(gpu, { dweight, dout, inp, N, C, OC, variant: v }),
      cpu: () => dyT!.mmul(x!),
    },
  ];
  const products = gemms.map(({ product, args, cpu }) => ({
    product,
    cpu,
    mnk: [args(variant).M, args(variant).N, args(variant).K],
    flops,
    kernels: [variant, vs].map((v) => v && gemmKernelName(gpu, args(v))),
    ops: [variant, vs].map((v) => v && gemm(gpu, args(v))),
  }));
  if (s.bias) {
    const op = biasBackward(gpu, { dbias, dout, N, OC });
    products.push({
      product: "dbias",
      mnk: [OC, N],
      cpu: () => dy!.sum("column"),
      flops: N * OC,
      kernels: [op.label, vs && op.label],
      ops: [op, vs && op],
    });
  }
  await assertNoGpuErrors();
  const timed: (Timed | undefined)[][] = [];
  for (const p of products) {
    timed.push(await Promise.all(p.ops.map((op) => op ? prepare(op) : undefined)));
  }
  for (let r = 0; r < rounds; r++) {
    for (const t of timed.flat()) if (t) await round(t);
  }
  products.forEach((p, i) => {
    const [t, tv] = timed[i];
    const row = [
      `${s.name} C=${C} OC=${OC}`,
      p.product,
      `(${p.mnk.join(", ")})`,
      p.kernels[0]!,
      t!.wall.toFixed(2),
      gf(p.flops, t!.wall),
      gf(p.flops, t!.cpu),
    ];
    if (tv) {
      row.push(
        p.kernels[1]!,
        tv.wall.toFixed(2),
        gf(p.flops, tv.wall),
        gf(p.flops, tv.cpu),
        (tv.cpu / t!.cpu).toFixed(2) + "x",
      );
    }
    if (p.product !== "dbias") {
      totals.wall += t!.wall;
      totals.cpu += t!.cpu;
      totals.vsWall += tv?.wall ?? 0;
      totals.vsCpu += tv?.cpu ?? 0;
      totals.flops += p.flops;
    }
    if (withCpu) {
      const cms = benchCpu(p.cpu);
      if (p.product !== "dbias") totals.cpuRef += cms;
      row.push(cms.toFixed(1), gf(p.flops, cms), (cms / t!.wall).toFixed(1) + "x");
    }
    rows.push(row);
  });
  for (const t of [inp, weight, bias, out, dout, dinp, dweight, dbias]) t?.buffer.destroy();
}
const total = [
  "all products",
  "",
  "",
  "",
  totals.wall.toFixed(1),
  gf(totals.flops, totals.wall),
  gf(totals.flops, totals.cpu),
];
if (vs) {
  total.push(
    "",
    totals.vsWall.toFixed(1),
    gf(totals.flops, totals.vsWall),
    gf(totals.flops, totals.vsCpu),
    (totals.vsCpu / totals.cpu).toFixed(2) + "x",
  );
}
if (withCpu) {
  total.push(
    totals.cpuRef.toFixed(0),
    gf(totals.flops, totals.cpuRef),
    (totals.cpuRef / totals.wall).toFixed(1) + "x",
  );
}
rows.push(total);
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) {
  console.log(r.map((c, i) => i < 4 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  "));
}
if (vs) {
  console.log(
    `speedup: CPU time of ${vs} / CPU time of ${variant}, best of ${rounds} alternating rounds`,
  );
}
