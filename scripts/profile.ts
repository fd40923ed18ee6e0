/**
 * Where a training step's time goes: times every op of the step alone (repeated in one pass, one
 * wait) and prints the total per kernel, sorted, in wall time and in CPU time of the process (all
 * threads, where /proc/self/task is readable: on CPU adapters such as lavapipe the kernels run on
 * this process's threads, and CPU time is steadier than wall time on a busy machine). Where the
 * device has `timestamp-query` (GPUs), the GPU's own time of every op is reported too: one step
 * with each op in a compute pass of its own, free of the cost of a submit and a wait per op,
 * which is most of the wall time of a short op on a GPU.
 *
 *     deno run -A scripts/profile.ts [--layers 4 --width 256 --context 128 --batch 8 --vocab 512]
 *
 * @module
 */
import { getGpu, type Gpu } from "../gpu/device.ts";
import { encodeOps, type Op } from "../gpu/kernel.ts";
import { cpuSeconds } from "../gpu/testing.ts";
import { type AttentionMode, Gpt } from "../model/gpt.ts";
import { Trainer } from "../model/trainer.ts";
import { parseFlags, runMain } from "../stages/cli.ts";
import { BENCH_MODEL_FLAGS, FUSE_GELU_FLAG, GEMM_FLAG, useGemm } from "./bench.ts";
import { ATTENTION_FLAG } from "../stages/flags.ts";

const FLAGS = {
  ...BENCH_MODEL_FLAGS,
  repeat: { default: 3, help: "Times each op runs", min: 1, int: true },
  gemm: GEMM_FLAG,
  attention: ATTENTION_FLAG,
  "fuse-gelu": FUSE_GELU_FLAG,
};

if (import.meta.main) {
  await runMain(async () => {
    const f = parseFlags(Deno.args, FLAGS, "Usage: deno run -A scripts/profile.ts [options]");
    useGemm(f.gemm);
    const gpu = await getGpu();
    const gpt = Gpt.create(gpu, {
      vocabSize: f.vocab,
      context: f.context,
      layers: f.layers,
      heads: f.heads,
      width: f.width,
    });
    const trainer = new Trainer(gpt, {
      B: f.batch,
      T: f.context,
      attention: f.attention as AttentionMode,
      fuseGelu: f["fuse-gelu"],
    });
    await trainer.ready();
    const g = trainer.graph;
    const time = async (ops: Op[]) => {
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < f.repeat; i++) encodeOps(pass, ops);
      pass.end();
      const c0 = cpuSeconds();
      const t0 = performance.now();
      gpu.device.queue.submit([enc.finish()]);
      await gpu.device.queue.onSubmittedWorkDone();
      return {
        ms: (performance.now() - t0) / f.repeat,
        cpu: (cpuSeconds() - c0) * 1000 / f.repeat,
      };
    };
    await time([]);
    const empty = await time([]);
    const totals = new Map<string, { ms: number; cpu: number; count: number }>();
    for (
      const [phase, ops] of [["fwd", g.forward], ["loss", g.trainLoss], [
        "bwd",
        g.backward,
      ]] as const
    ) {
      for (const op of ops) {
        await time([op]); // warm
        const r = await time([op]);
        const key = `${phase} ${op.label}`;
        const t = totals.get(key) ?? { ms: 0, cpu: 0, count: 0 };
        t.ms += Math.max(0, r.ms - empty.ms / f.repeat);
        t.cpu += Math.max(0, r.cpu - empty.cpu / f.repeat);
        t.count++;
        totals.set(key, t);
      }
    }
    if (gpu.device.features.has("timestamp-query")) {
      const all = [
        ...g.forward.map((op) => ({ key: `fwd ${op.label}`, op })),
        ...g.trainLoss.map((op) => ({ key: `loss ${op.label}`, op })),
        ...g.backward.map((op) => ({ key: `bwd ${op.label}`, op })),
      ];
      await gpuTimes(gpu, all.map((x) => x.op)); // warm
      const ms = await gpuTimes(gpu, all.map((x) => x.op));
      const byKernel = new Map<string, { ms: number; count: number }>();
      all.forEach(({ key }, i) => {
        const t = byKernel.get(key) ?? { ms: 0, count: 0 };
        byKernel.set(key, { ms: t.ms + ms[i], count: t.count + 1 });
      });
      const total = ms.reduce((a, b) => a + b, 0);
      console.log(`GPU time of one step, each op in its own pass (timestamp queries)`);
      for (const [k, t] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms)) {
        console.log(
          `${k.padEnd(40)} ${t.ms.toFixed(2).padStart(9)} ${
            `${(100 * t.ms / total).toFixed(1)}%`.padStart(6)
          }  x${t.count}`,
        );
      }
      console.log(`${"total".padEnd(40)} ${total.toFixed(2).padStart(9)}`);
      console.log();
    }
    const rows = [...totals].sort((a, b) => b[1].cpu - a[1].cpu || b[1].ms - a[1].ms);
    const sum = rows.reduce((s, [, t]) => s + t.ms, 0);
    const cpuSum = rows.reduce((s, [, t]) => s + t.cpu, 0);
    const pct = (x: number, of: number) => `${(100 * x / of).toFixed(1)}%`.padStart(6);
    console.log(`${"op".padEnd(40)} ${"wall ms".padStart(9)}        ${"cpu ms".padStart(9)}`);
    for (const [k, t] of rows) {
      console.log(
        `${k.padEnd(40)} ${t.ms.toFixed(1).padStart(9)} ${pct(t.ms, sum)} ${
          t.cpu.toFixed(1).padStart(9)
        } ${pct(t.cpu, cpuSum)}  x${t.count}`,
      );
    }
    console.log(
      `${"total".padEnd(40)} ${sum.toFixed(1).padStart(9)}        ${cpuSum.toFixed(1).padStart(9)}`,
    );
  });
}

/** GPU milliseconds of each op, from timestamps written at the start and end of its own pass. */
async function gpuTimes(gpu: Gpu, ops: readonly Op[]): Promise<number[]> {
  const out: number[] = [];
  const chunk = 2048; // a query set holds at most 4096 timestamps
  for (let i0 = 0; i0 < ops.length; i0 += chunk) {
    const part = ops.slice(i0, i0 + chunk);
    const n = 2 * part.length;
    const querySet = gpu.device.createQuerySet({ type: "timestamp", count: n });
    const resolved = gpu.device.createBuffer({
      size: 8 * n,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const read = gpu.device.createBuffer({
      size: 8 * n,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = gpu.device.createCommandEncoder();
    part.forEach((op, i) => {
      const pass = enc.beginComputePass({
        timestampWrites: {
          querySet,
          beginningOfPassWriteIndex: 2 * i,
          endOfPassWriteIndex: 2 * i + 1,
        },
      });
      encodeOps(pass, [op]);
      pass.end();
    });
    enc.resolveQuerySet(querySet, 0, n, resolved, 0);
    enc.copyBufferToBuffer(resolved, 0, read, 0, 8 * n);
    gpu.device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    for (let i = 0; i < part.length; i++) out.push(Number(t[2 * i + 1] - t[2 * i]) / 1e6);
    for (const b of [resolved, read]) b.destroy();
    querySet.destroy();
  }
  return out;
}
