import { getGpu, type Gpu } from "../gpu/device.ts";
import { createTensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference_layers.ts";
import { layernormBackward, layernormForward } from "./layernorm.ts";

function assert(cond: boolean, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

/** The adapter as it is, and the same device pretending to be the other kind, so that both kernel
 * variants (invocation per row, workgroup per row) run here. */
async function variants(): Promise<[string, Gpu][]> {
  const gpu = await getGpu();
  const other: Gpu = { ...gpu, isCpu: !gpu.isCpu };
  return gpu.isCpu
    ? [["invocation per row", gpu], ["workgroup per row", other]]
    : [["workgroup per row", gpu], ["invocation per row", other]];
}

Deno.test("layernorm reference backward matches finite differences (f64)", () => {
  const rng = new Rng(7);
  const N = 3, C = 5;
  const f64 = (a: Float32Array) => Float64Array.from(a);
  const inp = f64(rng.normalArray(N * C, 1.5, 0.3));
  const weight = f64(rng.normalArray(C, 1, 1));
  const bias = f64(rng.normalArray(C));
  const g = f64(rng.normalArray(N * C)); // loss = sum(out * g), so dout = g
  const loss = () => {
    const out = new Float64Array(N * C);
    ref.layernormForward(out, new Float64Array(N), new Float64Array(N), inp, weight, bias, N, C);
    return out.reduce((s, o, i) => s + o * g[i], 0);
  };
  const out = new Float64Array(N * C), mean = new Float64Array(N), rstd = new Float64Array(N);
  ref.layernormForward(out, mean, rstd, inp, weight, bias, N, C);
  const dinp = new Float64Array(N * C), dweight = new Float64Array(C), dbias = new Float64Array(C);
  ref.layernormBackward(dinp, dweight, dbias, g, inp, weight, mean, rstd, N, C);
  const h = 1e-6;
  const numeric = (x: Float64Array) =>
    Float64Array.from(x, (_, i) => {
      const keep = x[i];
      x[i] = keep + h;
      const up = loss();
      x[i] = keep - h;
      const down = loss();
      x[i] = keep;
      return (up - down) / (2 * h);
    });
  assertClose(dinp, numeric(inp), { atol: 1e-7, rtol: 1e-6, name: "dinp" });
  assertClose(dweight, numeric(weight), { atol: 1e-7, rtol: 1e-6, name: "dweight" });
  assertClose(dbias, numeric(bias), { atol: 1e-7, rtol: 1e-6, name: "dbias" });
  // The check has teeth: the gradient is not trivially small.
  assert(dinp.some((v) => Math.abs(v) > 0.1));
});

// The last case has more rows than one dispatch dimension allows (2-D grid of workgroups); among
// its many 3-wide rows a few have a tiny variance, whose input gradient is ill-conditioned in f32.
for (const [N, C, gatol] of [[37, 43, 1e-4], [19, 300, 1e-4], [5, 1024, 1e-4], [66000, 3, 2e-3]]) {
  Deno.test(`layernorm forward and backward match the CPU reference (N=${N}, C=${C})`, async () => {
    const rng = new Rng(N * 1000 + C);
    const x = rng.normalArray(N * C, 2, 0.5);
    const w = rng.normalArray(C, 0.5, 1);
    const bi = rng.normalArray(C, 0.5);
    const dy = rng.normalArray(N * C);
    const dinp0 = rng.normalArray(N * C);
    const dweight0 = rng.normalArray(C);
    const dbias0 = rng.normalArray(C);

    const out = new Float32Array(N * C), mean = new Float32Array(N), rstd = new Float32Array(N);
    ref.layernormForward(out, mean, rstd, x, w, bi, N, C);
    const dinp = dinp0.slice(), dweight = dweight0.slice(), dbias = dbias0.slice();
    ref.layernormBackward(dinp, dweight, dbias, dy, x, w, mean, rstd, N, C);

    for (const [name, gpu] of await variants()) {
      const t = {
        out: createTensor(gpu, [N, C], "out"),
        mean: createTensor(gpu, [N], "mean"),
        rstd: createTensor(gpu, [N], "rstd"),
        inp: createTensor(gpu, [N, C], "inp", x),
        weight: createTensor(gpu, [C], "weight", w),
        bias: createTensor(gpu, [C], "bias", bi),
        dout: createTensor(gpu, [N, C], "dout", dy),
        dinp: createTensor(gpu, [N, C], "dinp", dinp0),
        dweight: createTensor(gpu, [C], "dweight", dweight0),
        dbias: createTensor(gpu, [C], "dbias", dbias0),
      };
      await runOps(gpu, [
        ...layernormForward(gpu, { ...t, N, C }),
        ...layernormBackward(gpu, { ...t, N, C }),
      ]);
      const tol = { atol: 1e-5, rtol: 1e-4 };
      assertClose(await readTensor(gpu, t.out), out, { ...tol, name: `out (${name})` });
      assertClose(await readTensor(gpu, t.mean), mean, { ...tol, name: `mean (${name})` });
      assertClose(await readTensor(gpu, t.rstd), rstd, { ...tol, name: `rstd (${name})` });
      const gtol = { atol: gatol, rtol: 1e-4 };
      assertClose(await readTensor(gpu, t.dinp), dinp, { ...gtol, name: `dinp (${name})` });
      assertClose(await readTensor(gpu, t.dweight), dweight, {
        ...gtol,
        name: `dweight (${name})`,
      });
      assertClose(await readTensor(gpu, t.dbias), dbias, { ...gtol, name: `dbias (${name})` });
    }
  });
}

Deno.test("layernorm launchers reject tensors too small for N and C", async () => {
  const gpu = await getGpu();
  const small = createTensor(gpu, [10], "small");
  let threw = false;
  try {
    layernormForward(gpu, {
      out: small,
      mean: small,
      rstd: small,
      inp: small,
      weight: small,
      bias: small,
      N: 4,
      C: 4,
    });
  } catch (e) {
    threw = e instanceof RangeError && /out \(small\) holds 10 values, needs 16/.test(e.message);
  }
  assert(threw);
});

// The parameter gradients in two passes (the default on GPUs), forced here: chunks of 128 rows
// with a short last one, one chunk shorter than 128 rows, one row, and more channels than a
// workgroup takes (C = 130). Run twice: dweight and dbias accumulate.
for (const [N, C] of [[1000, 75], [50, 75], [1, 3], [300, 130]]) {
  Deno.test(`layernorm two-pass parameter gradients match and accumulate (N=${N}, C=${C})`, async () => {
    const gpu = await getGpu();
    const rng = new Rng(N * 77 + C);
    const x = rng.normalArray(N * C, 2, 0.5);
    const w = rng.normalArray(C, 0.5, 1);
    const dy = rng.normalArray(N * C);
    const dweight0 = rng.normalArray(C);
    const dbias0 = rng.normalArray(C);
    const out = new Float32Array(N * C), mean = new Float32Array(N), rstd = new Float32Array(N);
    ref.layernormForward(out, mean, rstd, x, w, new Float32Array(C), N, C);
    const dinp = new Float32Array(N * C), dweight = dweight0.slice(), dbias = dbias0.slice();
    ref.layernormBackward(dinp, dweight, dbias, dy, x, w, mean, rstd, N, C);
    // Twice: the reference's sums added once more.
    const dweight2 = dweight.map((v, c) => 2 * v - dweight0[c]);
    const dbias2 = dbias.map((v, c) => 2 * v - dbias0[c]);
    const t = {
      inp: createTensor(gpu, [N, C], "inp", x),
      weight: createTensor(gpu, [C], "weight", w),
      mean: createTensor(gpu, [N], "mean", mean),
      rstd: createTensor(gpu, [N], "rstd", rstd),
      dout: createTensor(gpu, [N, C], "dout", dy),
      dinp: createTensor(gpu, [N, C], "dinp"),
      dweight: createTensor(gpu, [C], "dweight", dweight0),
      dbias: createTensor(gpu, [C], "dbias", dbias0),
    };
    const ops = layernormBackward(gpu, { ...t, N, C, columnSum: "two-pass" });
    assert(
      ops.slice(1).map((op) => op.label).join() ===
        "layernorm_backward_params_partial,layernorm_backward_params_total",
      `ops: ${ops.map((op) => op.label)}`,
    );
    await runOps(gpu, [...ops, ...ops]);
    const gtol = { atol: 1e-4 * Math.sqrt(N), rtol: 1e-4 };
    assertClose(await readTensor(gpu, t.dweight), dweight2, { ...gtol, name: "dweight" });
    assertClose(await readTensor(gpu, t.dbias), dbias2, { ...gtol, name: "dbias" });
    // Twice the input gradient too (it accumulates as well).
    assertClose(await readTensor(gpu, t.dinp), dinp.map((v) => 2 * v), { ...gtol, name: "dinp" });
  });
}

Deno.test("layernorm parameter gradients: serial on CPU adapters, two passes on GPUs", async () => {
  const gpu = await getGpu();
  const a = createTensor(gpu, [40], "a"), b = createTensor(gpu, [10], "b");
  const t = { dinp: a, dweight: b, dbias: b, dout: a, inp: a, weight: b, mean: b, rstd: b };
  const labels = (g: Gpu) =>
    layernormBackward(g, { ...t, N: 4, C: 10 }).slice(1).map((op) => op.label).join();
  assert(labels({ ...gpu, isCpu: true }) === "layernorm_backward_params");
  assert(
    labels({ ...gpu, isCpu: false }) ===
      "layernorm_backward_params_partial,layernorm_backward_params_total",
  );
});
