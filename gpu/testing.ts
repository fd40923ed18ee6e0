/**
 * Helpers for kernel tests: run ops, read tensors back, compare with a CPU reference.
 *
 * @module
 */
import { type Gpu, readback } from "./device.ts";
import { assertNoGpuErrors, encodeOps, type Op, type Tensor } from "./kernel.ts";

/** Encodes the ops into one pass, submits, and checks that WebGPU reported no error. */
export async function runOps(gpu: Gpu, ops: readonly Op[]): Promise<void> {
  await assertNoGpuErrors();
  gpu.device.pushErrorScope("validation");
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeOps(pass, ops);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const err = await gpu.device.popErrorScope();
  if (err) throw new Error(`runOps: ${err.message}`);
}

/** Reads a tensor back as f32. */
export async function readTensor(gpu: Gpu, t: Tensor): Promise<Float32Array> {
  return new Float32Array(await readback(gpu, t.buffer, t.offset, t.length * 4));
}

/** Options of {@linkcode assertClose}. */
export interface CloseOptions {
  atol?: number;
  rtol?: number;
  name?: string;
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| element-wise; on failure the message
 * lists the first mismatches and the largest difference. NaN never passes.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  options: CloseOptions = {},
): void {
  const { atol = 1e-5, rtol = 1e-4, name = "tensor" } = options;
  if (actual.length !== expected.length) {
    throw new Error(`${name}: length ${actual.length}, expected ${expected.length}`);
  }
  const bad: string[] = [];
  let maxDiff = 0;
  let nBad = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const d = Math.abs(a - e);
    if (!(d <= atol + rtol * Math.abs(e))) {
      nBad++;
      if (bad.length < 8) bad.push(`  [${i}] got ${a}, expected ${e}`);
    }
    if (d > maxDiff || Number.isNaN(d)) maxDiff = d;
  }
  if (nBad > 0) {
    throw new Error(
      `${name}: ${nBad} of ${actual.length} elements differ (max |diff| ${maxDiff}, atol ${atol}, ` +
        `rtol ${rtol}):\n${bad.join("\n")}`,
    );
  }
}

/** Relative L2 error ‖a − b‖ / ‖b‖ (‖a − b‖ when b is zero). */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/**
 * CPU seconds used by this process so far, all threads (NaN where /proc is not there): on CPU
 * adapters the kernels run on this process's threads, and CPU time is steadier than wall time.
 */
export function cpuSeconds(): number {
  try {
    let ns = 0;
    for (const t of Deno.readDirSync("/proc/self/task")) {
      try {
        ns += Number(Deno.readTextFileSync(`/proc/self/task/${t.name}/schedstat`).split(" ")[0]);
      } catch { /* the thread ended */ }
    }
    return ns / 1e9;
  } catch {
    return NaN;
  }
}
