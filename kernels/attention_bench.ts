/**
 * Times the attention kernels: `deno run -A kernels/attention_bench.ts [B T C NH]`
 * (default B=8, T=128, C=256, NH=4). Warm-up, then many dispatches per submit and one wait.
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { assertNoGpuErrors, createTensor, encodeOps, type Op } from "../gpu/kernel.ts";
import { Rng } from "../data/rng.ts";
import { attentionBackward, attentionForward } from "./attention.ts";

const [B, T, C, NH] = Deno.args.length === 4 ? Deno.args.map(Number) : [8, 128, 256, 4];
const gpu = await getGpu();
const rng = new Rng(1);
const qkv = createTensor(gpu, [B, T, 3 * C], "qkv", rng.normalArray(B * T * 3 * C));
const dout = createTensor(gpu, [B, T, C], "dout", rng.normalArray(B * T * C));
const out = createTensor(gpu, [B, T, C], "out");
const dqkv = createTensor(gpu, [B, T, 3 * C], "dqkv");
const att = createTensor(gpu, [B, NH, T, T], "att");
const datt = createTensor(gpu, [B, NH, T, T], "datt");
const sizes = { B, T, C, NH };
const fwd = attentionForward(gpu, { out, att, qkv, ...sizes });
const bwd = attentionBackward(gpu, { dqkv, datt, dout, qkv, att, ...sizes });
await assertNoGpuErrors();

/** CPU time of this process in ms (Linux; NaN elsewhere): on a CPU adapter it counts the kernels'
 * work even when other processes compete for the cores and stretch the wall time. */
function cpuMs(): number {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

async function time(ops: Op[], reps: number): Promise<number> {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (let i = 0; i < reps; i++) encodeOps(pass, ops);
  pass.end();
  const t0 = performance.now();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / reps;
}

const causalFlops = B * NH * (T * (T + 1) / 2) * (C / NH) * 2; // one (T x T/2) x hs product
console.log(`${gpu.name}, ${gpu.backend}: B=${B} T=${T} C=${C} NH=${NH}`);
for (const [name, ops, products] of [["forward", fwd, 2], ["backward", bwd, 4]] as const) {
  await time(ops, 2);
  const reps = Math.max(3, Math.round(2000 / Math.max(1, await time(ops, 3))));
  const n = Math.min(reps, 50);
  const c0 = cpuMs();
  const ms = await time(ops, n);
  const cpu = (cpuMs() - c0) / n;
  const gflops = (products * causalFlops) / (ms * 1e6);
  console.log(
    `${name}: ${ms.toFixed(2)} ms wall, ${cpu.toFixed(1)} ms CPU per call ` +
      `(${gflops.toFixed(2)} GFLOP/s of causal work)`,
  );
}
