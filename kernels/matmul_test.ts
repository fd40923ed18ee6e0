import { getGpu } from "../gpu/device.ts";
import { createTensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference_matmul.ts";
import * as geluRef from "./_reference.ts";
import {
  biasBackward,
  biasBackwardOps,
  type ColumnSum,
  columnSumChunks,
  defaultVariant,
  gemm,
  gemmKernelName,
  gemmPasses,
  hasSubgroupKernels,
  matmulBackward,
  matmulForward,
  type MatmulVariant,
} from "./matmul.ts";

function assertEquals<T>(actual: T, expected: T): void {
  if (actual !== expected) throw new Error(`expected ${expected}, got ${actual}`);
}

function assertThrows(f: () => unknown, type: new (...args: never[]) => Error): void {
  try {
    f();
  } catch (e) {
    if (e instanceof type) return;
    throw e;
  }
  throw new Error(`expected a ${type.name}`);
}

const VARIANTS: MatmulVariant[] = ["reg", "tiled", "wide"];
// The subgroup kernels run where the device has 8-wide subgroups (lavapipe, not the GL adapter).
const SUBGROUPS = hasSubgroupKernels(await getGpu());
if (SUBGROUPS) VARIANTS.push("subgroup");

// Sums of K products of N(0, 1) values: the f32 rounding grows like sqrt(K).
function tol(K: number) {
  return { atol: 2e-5 * Math.sqrt(K) * 4, rtol: 1e-4 };
}

async function checkForward(
  variant: MatmulVariant,
  N: number,
  C: number,
  OC: number,
  bias: boolean,
) {
  const gpu = await getGpu();
  const rng = new Rng(N * 7919 + C * 31 + OC);
  const x = rng.normalArray(N * C);
  const w = rng.normalArray(OC * C, 0.5);
  const bs = bias ? rng.normalArray(OC) : undefined;
  const inp = createTensor(gpu, [N, C], "inp", x);
  const weight = createTensor(gpu, [OC, C], "weight", w);
  const biasT = bs ? createTensor(gpu, [OC], "bias", bs) : undefined;
  // out starts non-zero: the forward writes (=), it must not accumulate.
  const out = createTensor(gpu, [N, OC], "out", rng.normalArray(N * OC));
  await runOps(gpu, matmulForward(gpu, { out, inp, weight, bias: biasT, N, C, OC, variant }));
  assertClose(await readTensor(gpu, out), ref.matmulForward(x, w, bs, N, C, OC), {
    name: `out (${variant})`,
    ...tol(C),
  });
}

async function checkBackward(
  variant: MatmulVariant,
  N: number,
  C: number,
  OC: number,
  opts: { bias: boolean; dinp: boolean; columnSum?: ColumnSum },
) {
  const gpu = await getGpu();
  const rng = new Rng(N * 104729 + C * 17 + OC);
  const x = rng.normalArray(N * C);
  const w = rng.normalArray(OC * C, 0.5);
  const dy = rng.normalArray(N * OC);
  const dw0 = rng.normalArray(OC * C);
  const db0 = rng.normalArray(OC);
  const inp = createTensor(gpu, [N, C], "inp", x);
  const weight = createTensor(gpu, [OC, C], "weight", w);
  const dout = createTensor(gpu, [N, OC], "dout", dy);
  // dinp starts non-zero (written), dweight and dbias too (accumulated).
  const dinp = opts.dinp ? createTensor(gpu, [N, C], "dinp", rng.normalArray(N * C)) : undefined;
  const dweight = createTensor(gpu, [OC, C], "dweight", dw0);
  const dbias = opts.bias ? createTensor(gpu, [OC], "dbias", db0) : undefined;
  await runOps(
    gpu,
    matmulBackward(gpu, {
      dinp,
      dweight,
      dbias,
      dout,
      inp,
      weight,
      N,
      C,
      OC,
      variant,
      columnSum: opts.columnSum,
    }),
  );
  const dwRef = dw0.slice();
  const dbRef = db0.slice();
  const dinpRef = ref.matmulBackward(dwRef, opts.bias ? dbRef : undefined, dy, x, w, N, C, OC);
  if (dinp) {
    assertClose(await readTensor(gpu, dinp), dinpRef, { name: `dinp (${variant})`, ...tol(OC) });
  }
  assertClose(await readTensor(gpu, dweight), dwRef, { name: `dweight (${variant})`, ...tol(N) });
  if (dbias) {
    assertClose(await readTensor(gpu, dbias), dbRef, { name: `dbias (${variant})`, ...tol(N) });
  }
}

for (const variant of VARIANTS) {
  Deno.test(`matmul forward matches the CPU reference, odd sizes (${variant})`, async () => {
    await checkForward(variant, 37, 29, 43, true);
    await checkForward(variant, 37, 29, 43, false);
    await checkForward(variant, 1, 5, 3, true);
    await checkForward(variant, 130, 67, 200, true);
  });

  Deno.test(`matmul backward matches the CPU reference, odd sizes (${variant})`, async () => {
    await checkBackward(variant, 37, 29, 43, { bias: true, dinp: true });
    await checkBackward(variant, 37, 29, 43, { bias: false, dinp: false });
    await checkBackward(variant, 1, 5, 3, { bias: true, dinp: true });
    await checkBackward(variant, 130, 67, 200, { bias: true, dinp: true });
    // more inputs than outputs: the weight gradient as the transposed product on CPU adapters,
    // with the vec4 kernels (multiples of 4) and without
    await checkBackward(variant, 64, 96, 32, { bias: true, dinp: true });
    await checkBackward(variant, 37, 43, 29, { bias: false, dinp: true });
  });

  Deno.test(`matmul LM-head-like shape, no bias (${variant})`, async () => {
    // out = logits (N, V), weight = token embedding (V, C).
    await checkForward(variant, 70, 48, 1031, false);
    await checkBackward(variant, 70, 48, 1031, { bias: false, dinp: true });
  });

  Deno.test(`gemm: every transpose combination, alpha, accumulate, bias (${variant})`, async () => {
    const gpu = await getGpu();
    const rng = new Rng(5);
    const [M, N, K] = [45, 70, 19];
    // The first three are the forward, dinp and dweight products; the last is new.
    const combos = [
      { transA: false, transB: true, accumulate: false, bias: true },
      { transA: false, transB: false, accumulate: false, bias: false },
      { transA: true, transB: false, accumulate: true, bias: false },
      { transA: true, transB: true, accumulate: true, bias: true },
      { transA: true, transB: false, accumulate: true, bias: true, transC: true },
      { transA: false, transB: true, accumulate: false, bias: false, transC: true },
    ];
    for (const { transA, transB, accumulate, bias: withBias, transC } of combos) {
      const av = rng.normalArray(M * K);
      const bv = rng.normalArray(K * N);
      const biasV = rng.normalArray(N);
      const c0 = rng.normalArray(M * N);
      const alpha = 0.75;
      const a = createTensor(gpu, transA ? [K, M] : [M, K], "a", av);
      const b = createTensor(gpu, transB ? [N, K] : [K, N], "b", bv);
      const bias = withBias ? createTensor(gpu, [N], "bias", biasV) : undefined;
      const c = createTensor(gpu, transC ? [N, M] : [M, N], "c", c0);
      const opts = { transA, transB, accumulate, alpha };
      await runOps(gpu, [gemm(gpu, { c, a, b, bias, M, N, K, ...opts, transC, variant })]);
      // transC: the reference's (M, N) result, transposed, with the old C read the same way
      const transpose = (x: Float32Array, rows: number, cols: number) =>
        x.map((_, i) => x[(i % rows) * cols + Math.floor(i / rows)]);
      const expected = transC ? transpose(c0, N, M) : c0.slice();
      ref.gemm(expected, av, bv, withBias ? biasV : undefined, M, N, K, opts);
      assertClose(await readTensor(gpu, c), transC ? transpose(expected, M, N) : expected, {
        name: `c (${variant}, ${JSON.stringify({ ...opts, transC })})`,
        ...tol(K),
      });
    }
  });
}

// The three products of a linear layer, as gemm flags, and the vec4 kernel "reg" runs for each
// when the contiguous dimensions are multiples of 4.
const PRODUCTS = [
  { kernel: "gemm_dot", transA: false, transB: true, accumulate: false, bias: true, alpha: 1 },
  { kernel: "gemm_nn", transA: false, transB: false, accumulate: false, bias: false, alpha: 0.5 },
  { kernel: "gemm_tn", transA: true, transB: false, accumulate: true, bias: false, alpha: 1 },
];

async function checkGemm(
  variant: MatmulVariant,
  [M, N, K]: number[],
  prod: (typeof PRODUCTS)[number],
  expectKernel?: string,
) {
  const gpu = await getGpu();
  const rng = new Rng(M * 131 + N * 7 + K);
  const { transA, transB, accumulate, alpha } = prod;
  const av = rng.normalArray(M * K);
  const bv = rng.normalArray(K * N);
  const biasV = rng.normalArray(N);
  const c0 = rng.normalArray(M * N);
  const a = createTensor(gpu, transA ? [K, M] : [M, K], "a", av);
  const b = createTensor(gpu, transB ? [N, K] : [K, N], "b", bv);
  const bias = prod.bias ? createTensor(gpu, [N], "bias", biasV) : undefined;
  const c = createTensor(gpu, [M, N], "c", c0);
  const args = { c, a, b, bias, M, N, K, transA, transB, accumulate, alpha, variant };
  if (expectKernel) assertEquals(gemmKernelName(gpu, args), expectKernel);
  const ops = gemmPasses(gpu, args);
  await runOps(gpu, ops);
  const expected = c0.slice();
  ref.gemm(expected, av, bv, prod.bias ? biasV : undefined, M, N, K, prod);
  assertClose(await readTensor(gpu, c), expected, {
    name: `c (${variant}, ${prod.kernel}, ${M}x${N}x${K})`,
    ...tol(K),
  });
  for (const t of [a, b, bias, c]) t?.buffer.destroy();
  return ops.length;
}

Deno.test("gemm vec4 kernels: multiples of 4 that are not multiples of the tiles", async () => {
  const gpu = await getGpu();
  // 240 columns: every column of an invocation's block is used (8 columns WG = 32 apart in
  // gemm_dot, 2 vec4s 32 vec4s apart in gemm_nn and gemm_tn), and the last ones are clamped.
  for (const shape of [[37, 44, 36], [1031, 48, 20], [4, 4, 4], [13, 240, 8]]) {
    for (const prod of PRODUCTS) {
      // gemm_tn needs M % 4 == 0 as well: 37 and 1031 rows fall back to the scalar kernel.
      const vec4 = prod.kernel !== "gemm_tn" || shape[0] % 4 === 0;
      const expect = gpu.isCpu ? (vec4 ? prod.kernel : "gemm_reg") : undefined;
      await checkGemm("reg", shape, prod, expect);
    }
  }
  // gemm_tn on the transposed shapes (rows a multiple of 4, not of 16).
  for (const shape of [[44, 36, 37], [20, 48, 103], [12, 240, 9]]) {
    await checkGemm("reg", shape, PRODUCTS[2], gpu.isCpu ? "gemm_tn" : undefined);
  }
  // "scalar" never picks a vec4 kernel.
  await checkGemm("scalar", [37, 44, 36], PRODUCTS[0], "gemm_reg");
});

Deno.test("gemm splits a long K into accumulating passes on CPU adapters", async () => {
  const gpu = await getGpu();
  // gemm_tn (and gemm_reg) loops take one k per iteration, gemm_dot and gemm_nn four.
  const cases: [MatmulVariant, number[], (typeof PRODUCTS)[number]][] = [
    ["reg", [4, 8, 16400], PRODUCTS[2]], // gemm_tn
    ["reg", [2, 5, 65540], PRODUCTS[0]], // gemm_dot
    ["reg", [2, 4, 65540], PRODUCTS[1]], // gemm_nn
  ];
  for (const [variant, shape, prod] of cases) {
    const passes = await checkGemm(variant, shape, prod);
    assertEquals(passes, gpu.isCpu ? 2 : 1);
  }
  const [a, b, c] = ["a", "b", "c"].map((n) => createTensor(gpu, [16400 * 8], n));
  if (gpu.isCpu) {
    const args = { c, a, b, M: 4, N: 8, K: 16400, transA: true, variant: "reg" as const };
    assertThrows(() => gemm(gpu, args), RangeError);
  }
});

Deno.test("matmul variants agree on a benchmark-like shape", async () => {
  const gpu = await getGpu();
  const rng = new Rng(11);
  const [N, C, OC] = [100, 64, 96];
  const inp = createTensor(gpu, [N, C], "inp", rng.normalArray(N * C));
  const weight = createTensor(gpu, [OC, C], "weight", rng.normalArray(OC * C));
  const bias = createTensor(gpu, [OC], "bias", rng.normalArray(OC));
  const outs = VARIANTS.map((v) => createTensor(gpu, [N, OC], `out_${v}`));
  await runOps(
    gpu,
    VARIANTS.flatMap((variant, i) =>
      matmulForward(gpu, { out: outs[i], inp, weight, bias, N, C, OC, variant })
    ),
  );
  const [a, b] = await Promise.all(outs.map((o) => readTensor(gpu, o)));
  assertClose(a, b, { name: "reg vs tiled", ...tol(C) });
});

Deno.test("gemm subgroup kernels: multiples of 4 that are not multiples of the tiles", async () => {
  const gpu = await getGpu();
  if (!SUBGROUPS) {
    // Refused where the device lacks 8-wide subgroups; the CPU default is then "reg".
    const [a, b, c] = ["a", "b", "c"].map((n) => createTensor(gpu, [64], n));
    assertThrows(() => gemm(gpu, { c, a, b, M: 8, N: 8, K: 8, variant: "subgroup" }), RangeError);
    return;
  }
  // Blocks: gemm_dot_sg 24 rows x 256 columns, gemm_nn_sg 32 x 256, gemm_tn_sg 64 x 256; lane l
  // of a subgroup loads rows (or vec4s of rows) 8 g + l, clamped at the last. 300 columns take two
  // blocks across; 4 and 13 rows leave most lanes reading a clamped row.
  for (const shape of [[37, 44, 36], [1031, 48, 20], [4, 4, 4], [13, 240, 8], [70, 300, 12]]) {
    for (const prod of PRODUCTS) {
      // gemm_tn_sg needs M % 4 == 0 (37 and 1031 rows fall back to gemm_reg) and K % 4 == 0.
      const vec4 = prod.kernel !== "gemm_tn" || shape[0] % 4 === 0;
      await checkGemm("subgroup", shape, prod, vec4 ? `${prod.kernel}_sg` : "gemm_reg");
    }
  }
  // gemm_tn_sg: rows a multiple of 4, not of 32 (one load per lane) or 64 (the block); an odd K
  // falls back to gemm_tn.
  for (const shape of [[44, 36, 36], [20, 48, 104], [12, 240, 8], [100, 264, 4], [132, 8, 16]]) {
    await checkGemm("subgroup", shape, PRODUCTS[2], "gemm_tn_sg");
  }
  await checkGemm("subgroup", [44, 36, 37], PRODUCTS[2], "gemm_tn");
  // The default on this device.
  await checkGemm(defaultVariant(gpu), [37, 44, 36], PRODUCTS[0], "gemm_dot_sg");
});

Deno.test("gemm subgroup kernels split a long K into accumulating passes", async () => {
  if (!SUBGROUPS) return;
  const cases: [number[], (typeof PRODUCTS)[number]][] = [
    [[4, 8, 65540], PRODUCTS[2]], // gemm_tn_sg: four k steps per iteration, as the others
    [[2, 5, 65540], PRODUCTS[0]], // gemm_dot_sg
    [[2, 4, 65540], PRODUCTS[1]], // gemm_nn_sg
  ];
  for (const [shape, prod] of cases) {
    assertEquals(await checkGemm("subgroup", shape, prod, `${prod.kernel}_sg`), 2);
  }
});

// A GELU fused after the product: "out" (an MLP's first layer: C = A @ B^T + bias and gelu(C) as
// well) or "pre" (the input gradient through the GELU: C = (A @ B) · gelu'(pre)).
async function checkFusedGelu(
  variant: MatmulVariant,
  [M, N, K]: number[],
  mode: "out" | "pre",
  expectKernel?: string,
): Promise<number> {
  const gpu = await getGpu();
  const rng = new Rng(M * 17 + N * 5 + K + (mode === "out" ? 1 : 2));
  const transB = mode === "out";
  const av = rng.normalArray(M * K);
  const bv = rng.normalArray(K * N, 1 / Math.sqrt(K));
  const biasV = mode === "out" ? rng.normalArray(N) : undefined;
  const preV = rng.normalArray(M * N, 2);
  const a = createTensor(gpu, [M, K], "a", av);
  const b = createTensor(gpu, transB ? [N, K] : [K, N], "b", bv);
  const bias = biasV && createTensor(gpu, [N], "bias", biasV);
  // C and the GELU's output start non-zero: both are written, not accumulated.
  const c = createTensor(gpu, [M, N], "c", rng.normalArray(M * N));
  const aux = createTensor(gpu, [M, N], "aux", mode === "out" ? rng.normalArray(M * N) : preV);
  const gelu = mode === "out" ? { out: aux } : { pre: aux };
  const args = { c, a, b, bias, M, N, K, transB, gelu, variant };
  if (expectKernel) assertEquals(gemmKernelName(gpu, args), expectKernel);
  const ops = gemmPasses(gpu, args);
  await runOps(gpu, ops);
  const product = new Float32Array(M * N);
  ref.gemm(product, av, bv, biasV, M, N, K, { transB });
  const name = `(${variant}, ${mode}, ${M}x${N}x${K})`;
  if (mode === "out") {
    assertClose(await readTensor(gpu, c), product, { name: `c ${name}`, ...tol(K) });
    assertClose(await readTensor(gpu, aux), geluRef.geluForward(product), {
      name: `gelu(c) ${name}`,
      ...tol(K),
    });
  } else {
    assertClose(await readTensor(gpu, c), geluRef.geluBackward(preV, product), {
      name: `c ${name}`,
      ...tol(K),
    });
    assertClose(await readTensor(gpu, aux), preV, { name: `pre (unchanged) ${name}` });
  }
  for (const t of [a, b, bias, c, aux]) t?.buffer.destroy();
  return ops.length;
}

for (const variant of [...VARIANTS, "scalar" as const]) {
  Deno.test(`gemm with a fused GELU, forward and input gradient (${variant})`, async () => {
    // odd sizes (the scalar kernels), then multiples of 4 over several blocks (the vec4 ones)
    for (const shape of [[37, 44, 36], [70, 264, 12], [4, 4, 4]]) {
      await checkFusedGelu(variant, shape, "out");
      await checkFusedGelu(variant, shape, "pre");
    }
  });
}

Deno.test("gemm with a fused GELU: split products apply it once, to the whole sum", async () => {
  const gpu = await getGpu();
  // wide: C has one block and K is long, so the product is split over k and then summed
  for (const mode of ["out", "pre"] as const) {
    assertEquals(await checkFusedGelu("wide", [64, 64, 1024], mode), 2);
  }
  // CPU adapters: a K too long for one loop runs in passes; the GELU belongs to the last
  const cpuVariants: MatmulVariant[] = SUBGROUPS ? ["reg", "subgroup"] : ["reg"];
  for (const variant of cpuVariants) {
    const sg = variant === "subgroup" ? "_sg" : "";
    assertEquals(
      await checkFusedGelu(variant, [2, 8, 65540], "out", `gemm_dot${sg}`),
      gpu.isCpu ? 2 : 1,
    );
    assertEquals(
      await checkFusedGelu(variant, [2, 4, 65540], "pre", `gemm_nn${sg}`),
      gpu.isCpu ? 2 : 1,
    );
  }
});

Deno.test("gemm with a fused GELU refuses to accumulate, and a GELU tensor smaller than C", async () => {
  const gpu = await getGpu();
  const [a, b, c] = ["a", "b", "c"].map((n) => createTensor(gpu, [64], n));
  const small = createTensor(gpu, [63], "small");
  for (const variant of [...VARIANTS, "scalar" as const]) {
    const base = { c, a, b, M: 8, N: 8, K: 8, variant };
    assertThrows(() => gemm(gpu, { ...base, gelu: { out: small } }), RangeError);
    assertThrows(() => gemm(gpu, { ...base, gelu: { pre: c }, accumulate: true }), RangeError);
  }
});

Deno.test("bias gradient: vec4 columns on CPU adapters, scalar otherwise", async () => {
  const gpu = await getGpu();
  // OC = 260: 65 groups of four columns, three workgroups (the last one partly idle); OC = 43 and
  // an odd N take the scalar kernel's column and row remainders.
  for (const [N, OC] of [[70, 260], [9, 4], [37, 43]]) {
    const rng = new Rng(N * 1000 + OC);
    const dy = rng.normalArray(N * OC);
    const db0 = rng.normalArray(OC);
    const dout = createTensor(gpu, [N, OC], "dout", dy);
    const dbias = createTensor(gpu, [OC], "dbias", db0);
    const op = biasBackward(gpu, { dbias, dout, N, OC });
    assertEquals(op.label, gpu.isCpu && OC % 4 === 0 ? "bias_backward4" : "bias_backward");
    await runOps(gpu, [op]);
    const expected = db0.slice();
    for (let r = 0; r < N; r++) for (let o = 0; o < OC; o++) expected[o] += dy[r * OC + o];
    const got = await readTensor(gpu, dbias);
    assertClose(got, expected, { name: `dbias ${N}x${OC}`, ...tol(N) });
    // Both kernels sum each column in the same order: bit-identical results.
    const scalar = createTensor(gpu, [OC], "dbias scalar", db0);
    const scalarGpu = { ...gpu, isCpu: false };
    const op2 = biasBackward(scalarGpu, { dbias: scalar, dout, N, OC });
    assertEquals(op2.label, "bias_backward");
    await runOps(gpu, [op2]);
    assertClose(await readTensor(gpu, scalar), got, { name: "bit for bit", atol: 0, rtol: 0 });
  }
});

// Deterministic column sums: the two-pass bias gradient (the default on GPUs).

Deno.test("bias gradient chunks: whole rows in multiples of four, at most 64 chunks", () => {
  for (const N of [1, 3, 4, 5, 127, 128, 129, 1000, 8191, 8192, 65536, 100003]) {
    const { rows, R } = columnSumChunks(N);
    assertEquals(rows % 4, 0);
    assertEquals(R >= 1 && R <= 64, true);
    assertEquals(R * rows >= N && (R - 1) * rows < N, true); // every chunk holds rows
  }
  assertEquals(columnSumChunks(8192).R, 64);
  assertEquals(columnSumChunks(100).R, 1);
});

Deno.test("bias gradient: the two-pass sums match the CPU reference and accumulate", async () => {
  const gpu = await getGpu();
  // Chunks of 128 rows with a short last one; one chunk shorter than 128 rows; one row; more
  // columns than a workgroup takes (OC = 130: three workgroups of 64 columns, the last mostly idle).
  for (const [N, OC] of [[1000, 75], [50, 75], [1, 3], [4099, 130]]) {
    const rng = new Rng(N * 31 + OC);
    const dy = rng.normalArray(N * OC);
    const db0 = rng.normalArray(OC);
    const dout = createTensor(gpu, [N, OC], "dout", dy);
    const dbias = createTensor(gpu, [OC], "dbias", db0);
    const ops = biasBackwardOps(gpu, { dbias, dout, N, OC, columnSum: "two-pass" });
    assertEquals(ops.map((op) => op.label).join(), "bias_backward_partial,bias_backward_total");
    // Twice: dbias += the sum each time.
    await runOps(gpu, [...ops, ...ops]);
    const sum = new Float32Array(OC);
    for (let r = 0; r < N; r++) for (let o = 0; o < OC; o++) sum[o] += dy[r * OC + o];
    const expected = db0.map((v, o) => v + 2 * sum[o]);
    assertClose(await readTensor(gpu, dbias), expected, {
      name: `dbias two-pass ${N}x${OC}`,
      ...tol(2 * N),
    });
  }
});

Deno.test("bias gradient: serial on CPU adapters, two passes on GPUs, unless asked", async () => {
  const gpu = await getGpu();
  const dout = createTensor(gpu, [10, 8], "dout");
  const dbias = createTensor(gpu, [8], "dbias");
  const labels = (g: typeof gpu, columnSum?: ColumnSum) =>
    biasBackwardOps(g, { dbias, dout, N: 10, OC: 8, columnSum }).map((op) => op.label).join();
  const cpu = { ...gpu, isCpu: true }, other = { ...gpu, isCpu: false };
  assertEquals(labels(cpu), "bias_backward4");
  assertEquals(labels(other), "bias_backward_partial,bias_backward_total");
  assertEquals(labels(other, "serial"), "bias_backward");
  assertEquals(labels(cpu, "two-pass"), "bias_backward_partial,bias_backward_total");
  // matmulBackward passes the choice on.
  const weight = createTensor(gpu, [8, 3], "weight");
  const inp = createTensor(gpu, [10, 3], "inp");
  const dweight = createTensor(gpu, [8, 3], "dweight");
  const ops = matmulBackward(cpu, {
    dweight,
    dbias,
    dout,
    inp,
    weight,
    N: 10,
    C: 3,
    OC: 8,
    columnSum: "two-pass",
  });
  assertEquals(
    ops.slice(-2).map((op) => op.label).join(),
    "bias_backward_partial,bias_backward_total",
  );
});

Deno.test("matmul backward with two-pass bias sums matches the CPU reference", async () => {
  await checkBackward("reg", 1000, 29, 75, { bias: true, dinp: false, columnSum: "two-pass" });
  await checkBackward("reg", 37, 29, 43, { bias: true, dinp: true, columnSum: "two-pass" });
});
