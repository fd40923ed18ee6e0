/**
 * GFLOP/s of our matrix-product kernels on the products of one GPT-2 training step, as a fraction
 * of the adapter's float32 peak.
 *
 *     deno run -A scripts/bench_gemm.ts                    # GPT-2 124M shapes, B*T = 8192 rows
 *     deno run -A scripts/bench_gemm.ts --rows 1024 --width 256 --vocab 512 --peak 0
 *
 * Each product is dispatched many times in one pass of one submit with one wait at the end (about
 * `--seconds` of work), after a warm-up; the best of `--rounds` rounds counts. `--peak` is the
 * adapter's float32 rate in TFLOP/s (default 66.9: an H100 SXM without tensor cores); 0 leaves the
 * fraction out.
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { assertNoGpuErrors, createTensor, encodeOps, type Op } from "../gpu/kernel.ts";
import { gemm, type GemmArgs, type MatmulVariant } from "../kernels/matmul.ts";
import { parseFlags, runMain } from "../stages/_cli.ts";

const FLAGS = {
  rows: { default: 8192, help: "Rows of the activations (batch x context)", min: 1, int: true },
  width: { default: 768, help: "Channels C", min: 1, int: true },
  vocab: { default: 50257, help: "Vocabulary (the LM head's outputs)", min: 1, int: true },
  variants: { default: "wide,tiled", help: "Kernels to time (comma-separated)" },
  peak: { default: 66.9, help: "float32 peak in TFLOP/s (0: do not report a fraction)", min: 0 },
  seconds: { default: 0.3, help: "Work per round, in seconds", min: 0.01 },
  rounds: { default: 3, help: "Rounds per product (the best counts)", min: 1, int: true },
};

if (import.meta.main) {
  await runMain(async () => {
    const f = parseFlags(Deno.args, FLAGS, "Usage: deno run -A scripts/bench_gemm.ts [options]");
    const gpu = await getGpu();
    const N = f.rows, C = f.width, V = f.vocab;
    // The products of one linear layer: forward (x W^T), input gradient (dy W), weight gradient
    // (dy^T x), for the four shapes of a block and the LM head.
    const layers: [string, number, number][] = [
      ["qkv", C, 3 * C],
      ["attn proj", C, C],
      ["fc", C, 4 * C],
      ["fc proj", 4 * C, C],
      ["lm head", C, V],
    ];
    const variants = f.variants.split(",").map((s) => s.trim()) as MatmulVariant[];
    console.log(`adapter ${gpu.name} (${gpu.backend}); rows ${N}, width ${C}, vocab ${V}`);
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
        for (const variant of variants) {
          const op = gemm(gpu, { ...args, variant, label });
          const seconds = await timeOp(gpu, op, f.seconds, f.rounds);
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
  });
}

function randomFill(n: number): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 0.1;
  }
  return a;
}

/** Seconds per run of `op`, the best of `rounds` rounds of about `seconds` each. */
async function timeOp(
  gpu: Awaited<ReturnType<typeof getGpu>>,
  op: Op,
  seconds: number,
  rounds: number,
): Promise<number> {
  const run = async (n: number) => {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; i++) encodeOps(pass, [op]);
    pass.end();
    const t0 = performance.now();
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / 1000;
  };
  await assertNoGpuErrors();
  const first = await run(1); // compile, warm up, and a first estimate
  await assertNoGpuErrors();
  const reps = Math.max(1, Math.min(1000, Math.round(seconds / Math.max(first, 1e-6))));
  let best = Infinity;
  for (let r = 0; r < rounds; r++) best = Math.min(best, (await run(reps)) / reps);
  return best;
}
