/**
 * GFLOP/s of our matrix-product kernels on the products of one GPT-2 training step, as a fraction
 * of the adapter's float32 peak.
 *
 *     deno run -A scripts/bench_gemm.ts                    # GPT-2 124M shapes, B*T = 8192 rows
 *     deno run -A scripts/bench_gemm.ts --rows 1024 --width 256 --vocab 512 --peak 0
 *     deno run -A scripts/bench_gemm.ts --variants wide,wide:nopf,wide:bk8,wide:nosplit --probe
 *
 * A variant is a {@linkcode MatmulVariant}; `wide` takes settings of {@linkcode bmmTuning} after
 * colons: `nopf` (no prefetch), `bk8`, `bk16` (k steps of 8 or 16), `nosplit` (no split over
 * k), `cols128` (128-column blocks even for N <= 64), `cols64` (64-column blocks up to N = 1024),
 * `f16` (f16 tiles: an experiment, operands rounded to half precision; needs `shader-f16`).
 * `--probe` first reports the rate of a kernel of fmas alone and of bmm's inner loop on operands already in
 * workgroup memory: the ceilings of this toolchain.
 *
 * Each product is dispatched many times in one pass of one submit with one wait at the end (about
 * `--seconds` of work), after a warm-up; the best of `--rounds` rounds counts, the variants taking
 * turns within each round. `--peak` is the adapter's float32 rate in TFLOP/s (default 66.9: an H100
 * SXM without tensor cores); 0 leaves the fraction out. The last line names the fastest variant
 * over all the products (time-weighted).
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { assertNoGpuErrors, createTensor, encodeOps, type Op } from "../gpu/kernel.ts";
import { type GemmArgs, gemmPasses, type MatmulVariant } from "../kernels/matmul.ts";
import { BMM_SETTINGS, bmmTuning, parseKernelSpec } from "../kernels/bmm.ts";
import { getKernel, makeOp } from "../gpu/kernel.ts";
import probeCode from "./probe.wgsl" with { type: "text" };
import { parseFlags, runMain, UsageError } from "../stages/cli.ts";

const FLAGS = {
  rows: { default: 8192, help: "Rows of the activations (batch x context)", min: 1, int: true },
  width: { default: 768, help: "Channels C", min: 1, int: true },
  vocab: { default: 50257, help: "Vocabulary (the LM head's outputs)", min: 1, int: true },
  variants: { default: "wide,tiled", help: "Kernels to time (comma-separated, see above)" },
  probe: { default: false, help: "Report the fma and inner-loop ceilings first" },
  peak: { default: 66.9, help: "float32 peak in TFLOP/s (0: do not report a fraction)", min: 0 },
  seconds: { default: 0.3, help: "Work per round, in seconds", min: 0.01 },
  rounds: { default: 3, help: "Rounds per product (the best counts)", min: 1, int: true },
};

function randomFill(n: number): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
  return a;
}

const VARIANTS = ["wide", "tiled", "reg", "subgroup"];

/** A variant name with its bmm settings (`wide:nopf:bk8`); throws on an unknown one. */
function parseVariant(spec: string): { variant: MatmulVariant; tuning: Partial<typeof bmmTuning> } {
  const parsed = parseKernelSpec(spec, VARIANTS);
  if (!parsed) {
    throw new UsageError(
      `--variants: unknown kernel "${spec}"; use ${VARIANTS.join(", ")}; wide takes settings ` +
        `after colons (${Object.keys(BMM_SETTINGS).join(", ")})`,
    );
  }
  return { variant: parsed.variant as MatmulVariant, tuning: parsed.tuning };
}

/** Builds ops with the variant (and bmm settings) of `spec`, restoring the settings after. */
function withVariant(spec: string, build: (variant: MatmulVariant) => Op[]): Op[] {
  const { variant, tuning } = parseVariant(spec);
  const saved = { ...bmmTuning };
  Object.assign(bmmTuning, tuning);
  try {
    return build(variant);
  } finally {
    Object.assign(bmmTuning, saved);
  }
}

/** Why `spec` cannot run one small product on this device, or undefined if it can. */
async function buildError(
  gpu: Awaited<ReturnType<typeof getGpu>>,
  spec: string,
): Promise<string | undefined> {
  const t = createTensor(gpu, [64], "probe.gemm");
  try {
    withVariant(spec, (v) => gemmPasses(gpu, { c: t, a: t, b: t, M: 8, N: 8, K: 8, variant: v }));
    await assertNoGpuErrors();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    t.buffer.destroy();
  }
}

/** The fma and bmm inner-loop ceilings (see scripts/probe.wgsl). */
async function probe(gpu: Awaited<ReturnType<typeof getGpu>>, peak: number): Promise<void> {
  const ITERS = 4096;
  const groups = gpu.isCpu ? 16 : 4096; // 1M invocations on GPUs
  const out = createTensor(gpu, [groups * 256], "probe.out");
  for (
    const [entryPoint, flopPerIter] of [["fma_peak", 128], ["lds_peak", 128], [
      "lds_peak_u4",
      128,
    ]] as const
  ) {
    const kernel = getKernel(gpu, {
      code: probeCode,
      entryPoint,
      bindings: ["write"],
      constants: { ITERS },
    });
    // lds_*: a 2-D grid of as many workgroups (a 1M-invocation grid takes minutes on a CPU adapter)
    const side = Math.sqrt(groups);
    const op = makeOp(gpu, kernel, [out], entryPoint === "fma_peak" ? [groups] : [side, side]);
    const [seconds] = await timeOps(gpu, [[op]], 0.2, 3);
    const rate = groups * 256 * ITERS * flopPerIter / seconds / 1e9;
    console.log(
      `probe ${entryPoint}: ${rate.toFixed(0)} GFLOP/s${
        peak ? ` (${(rate / 1e3 / peak).toFixed(2)} of peak)` : ""
      }`,
    );
  }
  out.buffer.destroy();
}

/**
 * Seconds per run of each list of ops, the best of `rounds` rounds of about `seconds` each. The
 * lists take turns within every round, so that a slow start of the GPU or of a buffer (the first
 * touch of a large output) does not fall on whichever is timed first.
 */
async function timeOps(
  gpu: Awaited<ReturnType<typeof getGpu>>,
  opLists: Op[][],
  seconds: number,
  rounds: number,
): Promise<number[]> {
  const run = async (ops: Op[], n: number) => {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; i++) encodeOps(pass, ops);
    pass.end();
    const t0 = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / 1000;
  };
  await assertNoGpuErrors();
  const reps: number[] = [];
  for (const ops of opLists) {
    await run(ops, 1); // compile and warm up
    const first = await run(ops, 1); // a first estimate
    reps.push(Math.max(1, Math.min(1000, Math.round(seconds / Math.max(first, 1e-6)))));
  }
  await assertNoGpuErrors();
  const best = opLists.map(() => Infinity);
  for (let r = 0; r < rounds; r++) {
    for (const [i, ops] of opLists.entries()) {
      best[i] = Math.min(best[i], (await run(ops, reps[i])) / reps[i]);
    }
  }
  return best;
}

if (import.meta.main) {
  await runMain(async () => {
    const f = parseFlags(Deno.args, FLAGS, "Usage: deno run -A scripts/bench_gemm.ts [options]");
    const asked = f.variants.split(",").map((s) => s.trim());
    for (const v of asked) parseVariant(v); // bad names fail before any GPU work
    const gpu = await getGpu();
    const N = f.rows, C = f.width, V = f.vocab;
    console.log(`adapter ${gpu.name} (${gpu.backend}); rows ${N}, width ${C}, vocab ${V}`);
    // A variant this device cannot build (f16 tiles without shader-f16, a shader its compiler
    // rejects) is left out with its reason, so that the others are still timed.
    const variants: string[] = [];
    for (const v of asked) {
      const reason = await buildError(gpu, v);
      if (reason) console.log(`variant ${v}: left out (${reason})`);
      else variants.push(v);
    }
    if (variants.length === 0) {
      throw new UsageError("--variants: none of them builds on this adapter (see the lines above)");
    }
    // The products of one linear layer: forward (x W^T), input gradient (dy W), weight gradient
    // (dy^T x), for the four shapes of a block and the LM head.
    const layers: [string, number, number][] = [
      ["qkv", C, 3 * C],
      ["attn proj", C, C],
      ["fc", C, 4 * C],
      ["fc proj", 4 * C, C],
      ["lm head", C, V],
    ];
    if (f.probe) await probe(gpu, f.peak);
    console.log(
      `${"product".padEnd(26)} ${variants.map((v) => `${v} GFLOP/s`.padStart(16)).join(" ")}${
        f.peak ? "  (fraction of peak)" : ""
      }`,
    );
    const totals = new Map<string, { flop: number; seconds: number }>();
    for (const [name, inC, outC] of layers) {
      const x = createTensor(gpu, [N, inC], "x", randomFill(N * inC));
      const w = createTensor(gpu, [outC, inC], "w", randomFill(outC * inC));
      const y = createTensor(gpu, [N, outC], "y", randomFill(N * outC));
      const products: [string, Omit<GemmArgs, "variant">][] = [
        [`${name} forward`, { c: y, a: x, b: w, M: N, N: outC, K: inC, transB: true }],
        [`${name} dinp`, { c: x, a: y, b: w, M: N, N: inC, K: outC }],
        [`${name} dweight`, { c: w, a: y, b: x, M: outC, N: inC, K: N, transA: true }],
      ];
      for (const [label, args] of products) {
        const flop = 2 * args.M * args.N * args.K;
        const cells: string[] = [];
        const opLists = variants.map((variant) =>
          withVariant(variant, (v) => gemmPasses(gpu, { ...args, variant: v, label }))
        );
        const times = await timeOps(gpu, opLists, f.seconds, f.rounds);
        for (const [i, variant] of variants.entries()) {
          const seconds = times[i];
          const rate = flop / seconds / 1e9;
          const t = totals.get(variant) ?? { flop: 0, seconds: 0 };
          totals.set(variant, { flop: t.flop + flop, seconds: t.seconds + seconds });
          cells.push(
            `${rate.toFixed(rate < 100 ? 1 : 0)}${
              f.peak ? ` (${(rate / 1e3 / f.peak).toFixed(2)})` : ""
            }`
              .padStart(16),
          );
        }
        console.log(`${label.padEnd(26)} ${cells.join(" ")}`);
      }
      for (const t of [x, w, y]) t.buffer.destroy();
    }
    const all = variants.map((v) => {
      const t = totals.get(v)!;
      const rate = t.flop / t.seconds / 1e9;
      return `${rate.toFixed(rate < 100 ? 1 : 0)}${
        f.peak ? ` (${(rate / 1e3 / f.peak).toFixed(2)})` : ""
      }`
        .padStart(16);
    });
    console.log(`${"all, time-weighted".padEnd(26)} ${all.join(" ")}`);
    const rate = (v: string) => totals.get(v)!.flop / totals.get(v)!.seconds;
    console.log(`best ${variants.reduce((x, y) => rate(y) > rate(x) ? y : x)}`);
  });
}
