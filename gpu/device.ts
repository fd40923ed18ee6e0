/**
 * The GPU runtime: one adapter and device per process, the limits the model needs, WebGPU
 * validation errors raised as exceptions, buffers, upload and readback, and a pipeline cache.
 *
 * @module
 */

/** What the framework knows about the device it runs on. */
export interface Gpu {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  /**
   * Human-readable adapter name, e.g. "NVIDIA H200". The CPU adapters say which they are:
   * "lavapipe (Vulkan on the CPU; LLVM 15.0.6, 256 bits)", or for the slower OpenGL one also the
   * command that installs lavapipe (see {@linkcode adapterName}).
   */
  readonly name: string;
  /** True on CPU adapters (lavapipe, llvmpipe): kernels pick their CPU-friendly variants. */
  readonly isCpu: boolean;
  /** The backend: "gl" on the OpenGL CPU adapter, else DENO_WEBGPU_BACKEND or "vulkan". */
  readonly backend: string;
  /** Whether `shader-f16` was enabled on the device. */
  readonly hasF16: boolean;
  readonly limits: GpuLimits;
}

/** The limits that kernels and the memory plan read. */
export interface GpuLimits {
  maxStorageBuffersPerShaderStage: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
  minStorageBufferOffsetAlignment: number;
}

/** Raised when WebGPU reports a validation, out-of-memory or internal error. */
export class GpuError extends Error {
  override name = "GpuError";
}

let shared: Promise<Gpu> | undefined;

/**
 * The process-wide GPU. The first call picks the adapter and creates the device; later calls return
 * the same one (one device per process).
 */
export function getGpu(): Promise<Gpu> {
  shared ??= createGpu();
  return shared;
}

/**
 * Points XDG_RUNTIME_DIR at a private (0700) directory unless it already names one: Mesa's lavapipe
 * warns on every start otherwise. getGpu calls it; other WebGPU users (the benchmark's peers) may.
 */
export function ensureRuntimeDir(): void {
  const current = Deno.env.get("XDG_RUNTIME_DIR");
  try {
    if (current && (Deno.statSync(current).mode! & 0o777) === 0o700) return;
  } catch { /* missing: make our own */ }
  const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/instructgpu-runtime-${Deno.uid?.() ?? "user"}`;
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.chmodSync(dir, 0o700);
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch { /* harmless: only a warning is at stake */ }
}

const LIMIT_NAMES: (keyof GpuLimits)[] = [
  "maxStorageBuffersPerShaderStage",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupsPerDimension",
  "minStorageBufferOffsetAlignment",
];

async function createGpu(): Promise<Gpu> {
  ensureRuntimeDir();
  if (!("gpu" in navigator) || !navigator.gpu) {
    throw new GpuError(
      "WebGPU is not available in this Deno: use Deno 2.x (npm install -g deno@2.9.6)",
    );
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new GpuError(
      "No WebGPU adapter found: install a GPU driver, or for a CPU adapter run " +
        "`apt-get install -y mesa-vulkan-drivers` (or try DENO_WEBGPU_BACKEND=gl)",
    );
  }
  // Ask for everything the adapter offers of the limits we use: the defaults (8 storage buffers,
  // 16 KiB of workgroup memory, 128 MiB bindings) are lower than most adapters allow.
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMIT_NAMES) {
    if (k === "minStorageBufferOffsetAlignment") continue;
    requiredLimits[k] = adapter.limits[k];
  }
  const hasF16 = adapter.features.has("shader-f16");
  const requiredFeatures: GPUFeatureName[] = [];
  if (hasF16) requiredFeatures.push("shader-f16");
  // GPU-side timing of single ops (scripts/profile.ts), where the adapter has it
  if (adapter.features.has("timestamp-query")) requiredFeatures.push("timestamp-query");
  // Lavapipe grants `subgroups` without listing it in adapter.features: ask, and fall back.
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredLimits,
      requiredFeatures: [...requiredFeatures, "subgroups" as GPUFeatureName],
    });
  } catch {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  }
  device.addEventListener("uncapturederror", (e) => {
    const err = (e as GPUUncapturedErrorEvent).error;
    uncaptured.push(err.message);
    if (Deno.env.get("INSTRUCTGPU_STRICT") !== "0") {
      console.error(`WebGPU error: ${err.message}`);
    }
  });
  device.lost.then((info) => {
    if (info.reason === "destroyed") return;
    console.error(
      `error: the GPU device was lost (${
        info.message || "no reason given"
      }): the driver may have ` +
        `reset or run out of memory; lower --batch or --context, or use a smaller model`,
    );
    Deno.exit(3);
  });
  const limits = {} as GpuLimits;
  for (const k of LIMIT_NAMES) limits[k] = device.limits[k];
  const description = adapter.info.description || adapter.info.vendor || "unknown adapter";
  const isCpu = adapter.info.isFallbackAdapter ||
    /llvmpipe|lavapipe|swiftshader/i.test(description);
  const env = Deno.env.get("DENO_WEBGPU_BACKEND");
  const gl = isOpenGlLlvmpipe(description, adapter.features, env);
  return {
    device,
    adapter,
    name: adapterName(description, adapter.features, env),
    isCpu,
    backend: gl ? "gl" : env ?? "vulkan",
    hasF16,
    limits,
  };
}

/** The command that installs lavapipe, the faster CPU adapter. */
export const LAVAPIPE_INSTALL = "apt-get install -y mesa-vulkan-drivers";

/**
 * Whether an llvmpipe adapter is Mesa's OpenGL one rather than lavapipe (Vulkan): both describe
 * themselves as "llvmpipe (LLVM ...)"; the backend says which when DENO_WEBGPU_BACKEND names one,
 * else the features do (wgpu's OpenGL adapters list ETC2 texture compression, lavapipe does not).
 */
function isOpenGlLlvmpipe(
  description: string,
  features: { has(feature: string): boolean },
  backend: string | undefined,
): boolean {
  if (!/llvmpipe/i.test(description)) return false;
  if (backend === "gl" || backend === "vulkan") return backend === "gl";
  return features.has("texture-compression-etc2");
}

/**
 * The adapter's name as the stages print it: the description, except that the two CPU adapters
 * say which they are, and the OpenGL one (about 2.5× slower than lavapipe on the pipeline) gives
 * the one command that installs lavapipe.
 */
export function adapterName(
  description: string,
  features: { has(feature: string): boolean },
  backend: string | undefined,
): string {
  const llvm = /^llvmpipe \((.*)\)$/.exec(description)?.[1];
  if (!llvm) return description;
  if (isOpenGlLlvmpipe(description, features, backend)) {
    return `llvmpipe (OpenGL on the CPU; ${llvm}), about 2.5x slower than lavapipe: ` +
      LAVAPIPE_INSTALL;
  }
  return `lavapipe (Vulkan on the CPU; ${llvm})`;
}

const uncaptured: string[] = [];

/** Throws if WebGPU reported an error that no error scope caught since the last call. */
export function throwUncapturedErrors(): void {
  if (uncaptured.length === 0) return;
  const msg = uncaptured.splice(0).join("\n");
  throw new GpuError(`WebGPU reported an error: ${msg}`);
}

/**
 * Runs `fn` inside validation and out-of-memory error scopes and throws if either caught an error.
 * Use it around pipeline, bind group and buffer creation.
 */
export async function checked<T>(gpu: Gpu, label: string, fn: () => T): Promise<T> {
  gpu.device.pushErrorScope("out-of-memory");
  gpu.device.pushErrorScope("validation");
  gpu.device.pushErrorScope("internal");
  let value: T;
  try {
    value = fn();
  } finally {
    const internal = await gpu.device.popErrorScope();
    const validation = await gpu.device.popErrorScope();
    const oom = await gpu.device.popErrorScope();
    const err = validation ?? internal ?? oom;
    if (err) {
      const kind = err === oom ? "out of GPU memory" : "WebGPU error";
      // deno-lint-ignore no-unsafe-finally
      throw new GpuError(`${label}: ${kind}: ${err.message}`);
    }
  }
  return value;
}

/** Usage of the buffers that hold tensors: read and written by kernels, copied in and out. */
export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/** Creates a zero-filled storage buffer of `bytes` bytes (rounded up to 16). */
export function createStorageBuffer(gpu: Gpu, bytes: number, label: string): GPUBuffer {
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (size > gpu.limits.maxBufferSize) {
    throw new GpuError(
      `${label}: needs a buffer of ${fmtBytes(size)}, more than this adapter's ` +
        `${fmtBytes(gpu.limits.maxBufferSize)}: use a smaller model, batch or context`,
    );
  }
  return gpu.device.createBuffer({ label, size, usage: STORAGE_USAGE });
}

/** Creates a uniform buffer holding `data` (u32 and f32 words, 16-byte padded). */
export function createUniform(gpu: Gpu, data: ArrayBuffer | ArrayBufferView, label: string) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(
    data.buffer as ArrayBuffer,
    data.byteOffset,
    data.byteLength,
  );
  const size = Math.max(16, Math.ceil(bytes.byteLength / 16) * 16);
  const buf = gpu.device.createBuffer({
    label,
    size,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  gpu.device.queue.writeBuffer(buf, 0, bytes);
  return buf;
}

/** Writes typed-array data into a buffer at a byte offset (queued, no wait). */
export function upload(
  gpu: Gpu,
  buffer: GPUBuffer,
  data: Float32Array | Uint32Array | Int32Array,
  byteOffset = 0,
): void {
  gpu.device.queue.writeBuffer(
    buffer,
    byteOffset,
    data.buffer as ArrayBuffer,
    data.byteOffset,
    data.byteLength,
  );
}

/**
 * Copies `bytes` bytes at `byteOffset` of a storage buffer back to the CPU. One wait on the GPU:
 * never call it inside a training step.
 */
export async function readback(
  gpu: Gpu,
  buffer: GPUBuffer,
  byteOffset: number,
  bytes: number,
): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = gpu.device.createBuffer({
    label: "readback",
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = gpu.device.createCommandEncoder({ label: "readback" });
  enc.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
  gpu.device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  throwUncapturedErrors();
  return out;
}

/** Formats a byte count for messages. */
export function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}
