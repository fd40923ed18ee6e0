import { getGpu } from "../gpu/device.ts";
import { createTensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import { assertEquals, assertRejects } from "../tests/_assert.ts";
import { bmm, type BmmArgs, bmmOps, parseKernelSpec, type Strided } from "./bmm.ts";

/** CPU reference of the strided batched product, in float64, on host copies of the operands. */
function reference(
  args: BmmArgs,
  data: { a: Float32Array; b: Float32Array; c: Float32Array; bias?: Float32Array },
): Float32Array {
  const { M, N, K } = args;
  const ZO = args.ZO ?? 1, ZI = args.ZI ?? 1;
  const out = data.c.slice();
  const at = (s: Strided, zo: number, zi: number, i: number, j: number) =>
    (s.off ?? 0) + zo * (s.zo ?? 0) + zi * (s.zi ?? 0) + i * s.row + j * s.col;
  for (let zo = 0; zo < ZO; zo++) {
    for (let zi = 0; zi < ZI; zi++) {
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let s = 0;
          for (let k = 0; k < K; k++) {
            s += data.a[at(args.a, zo, zi, m, k)] * data.b[at(args.b, zo, zi, k, n)];
          }
          let v = (args.alpha ?? 1) * s + (data.bias ? data.bias[n] : 0);
          const i = at(args.c, zo, zi, m, n);
          if (args.accumulate) v += data.c[i];
          out[i] = v;
        }
      }
    }
  }
  return out;
}

async function check(
  rng: Rng,
  shape: Omit<BmmArgs, "a" | "b" | "c" | "bias"> & { bias?: boolean },
  layout: { a: Omit<Strided, "tensor">; b: Omit<Strided, "tensor">; c: Omit<Strided, "tensor"> },
  sizes: { a: number; b: number; c: number },
  mask?: {
    a?: (m: number, k: number) => boolean;
    compare?: (m: number, n: number) => boolean;
    /** The reference rounds A and B to half precision first (the f16 tiles). */
    halfOperands?: boolean;
  },
): Promise<void> {
  const gpu = await getGpu();
  const ha = rng.normalArray(sizes.a), hb = rng.normalArray(sizes.b), hc = rng.normalArray(sizes.c);
  if (mask?.a) {
    // zero A where the causal structure says it is zero (single batch matrix, dense rows)
    for (let m = 0; m < shape.M; m++) {
      for (let k = 0; k < shape.K; k++) {
        if (!mask.a(m, k)) ha[(layout.a.off ?? 0) + m * layout.a.row + k * layout.a.col] = 0;
      }
    }
  }
  const hbias = shape.bias ? rng.normalArray(shape.N) : undefined;
  const a = createTensor(gpu, [sizes.a], "a", ha);
  const b = createTensor(gpu, [sizes.b], "b", hb);
  const c = createTensor(gpu, [sizes.c], "c", hc);
  const bias = hbias ? createTensor(gpu, [shape.N], "bias", hbias) : undefined;
  const args: BmmArgs = {
    ...shape,
    bias,
    a: { tensor: a, ...layout.a },
    b: { tensor: b, ...layout.b },
    c: { tensor: c, ...layout.c },
  };
  await runOps(gpu, bmmOps(gpu, args));
  const got = await readTensor(gpu, c);
  const half = (x: Float32Array) => mask?.halfOperands ? x.map(Math.f16round) : x;
  const want = reference(args, { a: half(ha), b: half(hb), c: hc, bias: hbias });
  if (mask?.compare) {
    for (let m = 0; m < shape.M; m++) {
      for (let n = 0; n < shape.N; n++) {
        if (mask.compare(m, n)) continue;
        const i = (layout.c.off ?? 0) + m * layout.c.row + n * layout.c.col;
        got[i] = want[i] = 0; // not computed: not compared
      }
    }
  }
  assertClose(got, want, { atol: 1e-4, rtol: 1e-4, name: "C" });
}

Deno.test("bmm: plain and transposed layouts, bias, alpha, accumulate", async () => {
  const rng = new Rng(7);
  const M = 133, N = 70, K = 21; // more than one block of rows; nothing a multiple of the tiles
  const sizes = { a: M * K, b: K * N, c: M * N };
  const rowMajor = (cols: number) => ({ row: cols, col: 1 });
  const colMajor = (rows: number) => ({ row: 1, col: rows });
  for (const aT of [false, true]) {
    for (const bT of [false, true]) {
      await check(rng, { M, N, K, bias: !aT, alpha: bT ? 0.5 : 1, accumulate: aT && bT }, {
        a: aT ? colMajor(M) : rowMajor(K),
        b: bT ? colMajor(K) : rowMajor(N),
        c: rowMajor(N),
      }, sizes);
    }
  }
});

Deno.test("bmm: two-level batches over strided views with offsets", async () => {
  const rng = new Rng(8);
  // Like attention's scores: q and k are views into one packed (ZO, T, 3C) tensor, head zi.
  const ZO = 2, ZI = 3, T = 37, hs = 8, C = ZI * hs;
  const packed = ZO * T * 3 * C;
  await check(rng, { M: T, N: T, K: hs, ZO, ZI, alpha: 0.25 }, {
    a: { off: 0, row: 3 * C, col: 1, zo: T * 3 * C, zi: hs }, // q
    b: { off: C, row: 1, col: 3 * C, zo: T * 3 * C, zi: hs }, // k^T
    c: { off: 5, row: T, col: 1, zo: ZI * T * T, zi: T * T },
  }, { a: packed, b: packed, c: 5 + ZO * ZI * T * T });
});

Deno.test("bmm: both k steps of the tiles give the same products", async () => {
  const gpu = await getGpu();
  if (gpu.backend !== "vulkan") return; // the OpenGL backend compiles the k = 16 tiles for minutes
  const rng = new Rng(10);
  const M = 150, N = 131, K = 45;
  for (const tileK of [8, 16] as const) {
    await check(rng, { M, N, K, tuning: { tileK }, bias: true }, {
      a: { row: K, col: 1 },
      b: { row: 1, col: K },
      c: { row: N, col: 1 },
    }, { a: M * K, b: K * N, c: M * N });
  }
});

Deno.test("bmm: every tuning (prefetch, 64- or 128-column blocks) gives the same products", async () => {
  const gpu = await getGpu();
  const rng = new Rng(11);
  const M = 140, N = 75, K = 37; // nothing a multiple of the tiles or of the 4-value load groups
  const tileKs = gpu.backend === "vulkan" ? [8, 16] as const : [8] as const;
  for (const tileK of tileKs) {
    for (const prefetch of [false, true]) {
      for (const narrow of [0, 1 << 30]) {
        for (const t of [false, true]) {
          await check(rng, { M, N, K, tuning: { tileK, prefetch, narrow }, bias: !t }, {
            a: t ? { row: 1, col: M } : { row: K, col: 1 },
            b: t ? { row: 1, col: K } : { row: N, col: 1 },
            c: { row: N, col: 1 },
          }, { a: M * K, b: K * N, c: M * N });
        }
      }
    }
  }
});

Deno.test("bmm: f16 tiles round the operands to half precision and sum in f32", async () => {
  const gpu = await getGpu();
  const rng = new Rng(13);
  const M = 140, N = 75, K = 37;
  const layout = { a: { row: K, col: 1 }, b: { row: 1, col: K }, c: { row: N, col: 1 } };
  const sizes = { a: M * K, b: K * N, c: M * N };
  const shape = { M, N, K, bias: true, tuning: { tile: "f16" as const } };
  if (!gpu.hasF16) {
    // refused, naming the feature (the OpenGL adapter has no shader-f16)
    await assertRejects(() => check(rng, shape, layout, sizes), /shader-f16/);
    return;
  }
  // against the reference on rounded operands: only the f32 sums differ
  await check(rng, shape, layout, sizes, { halfOperands: true });
  // and the rounding is really there: the exact operands' products differ by more
  await assertRejects(() => check(rng, shape, layout, sizes), /C/);
});

Deno.test("bmm: a product split over k sums its slices into C", async () => {
  const rng = new Rng(12);
  // one block of C and K = 2048: split into 8 slices of 256 (4 with the narrow blocks' target)
  const M = 70, N = 90, K = 2048;
  for (const split of [4, 8]) {
    for (const t of [false, true]) {
      await check(rng, {
        M,
        N,
        K,
        tuning: { split },
        bias: !t,
        alpha: t ? 0.5 : 1,
        accumulate: t,
      }, {
        a: t ? { row: 1, col: M } : { row: K, col: 1 },
        b: t ? { row: 1, col: K } : { row: N, col: 1 },
        c: t ? { off: 3, row: 1, col: M } : { row: N, col: 1 },
      }, { a: M * K, b: K * N, c: 3 + M * N });
    }
  }
  const gpu = await getGpu();
  const dummy = createTensor(gpu, [K * N], "x");
  const ops = bmmOps(gpu, {
    a: { tensor: dummy, row: K, col: 1 },
    b: { tensor: dummy, row: N, col: 1 },
    c: { tensor: dummy, row: N, col: 1 },
    M,
    N,
    K,
    tuning: { split: 8 },
  });
  assertEquals(ops.map((o) => o.workgroups), [[1, 1, 8], [Math.ceil(M * N / 256), 1, 1]]);
  dummy.buffer.destroy();
});

Deno.test("bmm: causal skips give the full product where it is used", async () => {
  const rng = new Rng(9);
  const T = 300; // three blocks of rows
  const sq = { a: T * T, b: T * T, c: T * T };
  const dense = { row: T, col: 1 };
  // 1: blocks above the diagonal are skipped; on and below it, C is the full product.
  await check(
    rng,
    { M: T, N: T, K: T, causal: "upper-blocks" },
    {
      a: dense,
      b: dense,
      c: dense,
    },
    sq,
    { compare: (m, n) => n <= m },
  );
  // 2: A lower-triangular (zero for k > m): k stops at the block's last row.
  await check(
    rng,
    { M: T, N: 40, K: T, causal: "k-to-row" },
    {
      a: dense,
      b: { row: 40, col: 1 },
      c: { row: 40, col: 1 },
    },
    { a: T * T, b: T * 40, c: T * 40 },
    { a: (m, k) => k <= m },
  );
  // 3: A zero for k < m (A^T of a lower-triangular matrix): k starts at the block's first row.
  await check(
    rng,
    { M: T, N: 40, K: T, causal: "k-from-row" },
    {
      a: dense,
      b: { row: 40, col: 1 },
      c: { row: 40, col: 1 },
    },
    { a: T * T, b: T * 40, c: T * 40 },
    { a: (m, k) => k >= m },
  );
});

Deno.test("bmm: refuses operands that are too small", async () => {
  const gpu = await getGpu();
  const t = createTensor(gpu, [9], "t");
  const small = createTensor(gpu, [8], "small");
  const dense = { row: 3, col: 1 };
  const product = {
    M: 3,
    N: 3,
    K: 3,
    a: { tensor: t, ...dense },
    b: { tensor: t, ...dense },
    c: { tensor: t, ...dense },
  };
  bmm(gpu, product);
  let message = "";
  try {
    bmm(gpu, { ...product, a: { tensor: small, ...dense } });
  } catch (e) {
    message = (e as Error).message;
  }
  if (!message.includes("A (small) reaches element 8, but holds 8")) {
    throw new Error(`expected the size error, got "${message}"`);
  }
  // A product split over k binds C only in its second op: C is checked all the same.
  const M = 4, N = 4, K = 1024;
  const x = createTensor(gpu, [K * 4], "x");
  const tinyC = createTensor(gpu, [M * N - 1], "tinyC");
  const split = () =>
    bmmOps(gpu, {
      M,
      N,
      K,
      a: { tensor: x, row: K, col: 1 },
      b: { tensor: x, row: N, col: 1 },
      c: { tensor: tinyC, row: N, col: 1 },
      tuning: { split: 8 },
    });
  message = "";
  try {
    split();
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "bmm: C (tinyC) reaches element 15, but holds 15");
  // A fused GELU's tensor is addressed like C, and the GELU does not accumulate.
  await assertRejects(
    () => bmm(gpu, { ...product, gelu: { out: small } }),
    /^bmm: the GELU's tensor small holds 8 values, needs 9 \(as C\)$/,
  );
  await assertRejects(
    () => bmm(gpu, { ...product, gelu: { pre: t }, accumulate: true }),
    /^bmm: a fused GELU cannot accumulate into C$/,
  );
  for (const z of [t, small, x, tinyC]) z.buffer.destroy();
});

Deno.test("parseKernelSpec: a variant, then settings only for wide", () => {
  const variants = ["wide", "tiled"];
  assertEquals(parseKernelSpec("wide:nopf:bk8", variants), {
    variant: "wide",
    tuning: { prefetch: false, tileK: 8 },
  });
  assertEquals(parseKernelSpec("tiled", variants), { variant: "tiled", tuning: {} });
  for (const bad of ["tiled:nopf", "wide:fast", "reg", "wide:", "wide:toString"]) {
    assertEquals(parseKernelSpec(bad, variants), undefined, bad);
  }
});
