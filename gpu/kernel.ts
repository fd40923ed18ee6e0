/**
 * Kernels, tensors and ops: the three pieces every launcher in `kernels/` is built from.
 *
 * - A **kernel** is one WGSL entry point compiled into a pipeline with an explicit bind-group
 *   layout, cached per device (what you read in the `.wgsl` file is what runs; only WGSL
 *   `override` constants vary).
 * - A **tensor** is a named, shaped view into a storage buffer at a 256-byte-aligned offset.
 * - An **op** is a kernel bound to its tensors with a fixed dispatch size, built once per model
 *   and batch shape and encoded into a compute pass every step.
 *
 * @module
 */
import { type Gpu, GpuError } from "./device.ts";

/** How a kernel uses a binding: read-only storage, read-write storage, or uniform. */
export type BindingKind = "read" | "write" | "uniform";

/** What a launcher says about one entry point. */
export interface KernelSpec {
  /** WGSL source (imported from the layer's `.wgsl` file). */
  code: string;
  entryPoint: string;
  /** One kind per `@binding(i)` of `@group(0)`, in order. */
  bindings: BindingKind[];
  /** Values for the WGSL `override` constants. */
  constants?: Record<string, number>;
}

/** A compiled entry point. */
export interface Kernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly label: string;
}

/** A view of `length` f32 (or u32) elements in `buffer`, starting at byte `offset`. */
export interface Tensor {
  /** Its name (for errors). */
  readonly name: string;
  /** The buffer that holds it. */
  readonly buffer: GPUBuffer;
  /** Byte offset into `buffer`, a multiple of 256. */
  readonly offset: number;
  /** Number of 4-byte elements. */
  readonly length: number;
  /** Its shape. */
  readonly shape: readonly number[];
}

/** A kernel bound to its resources, ready to be encoded. */
export interface Op {
  /** Its label (for profiles and errors). */
  readonly label: string;
  /** The compute pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** The bind group of its tensors and uniform. */
  readonly bindGroup: GPUBindGroup;
  /** The dispatch size. */
  readonly workgroups: readonly [number, number, number];
}

const modules = new WeakMap<GPUDevice, Map<string, GPUShaderModule>>();
const kernels = new WeakMap<GPUDevice, Map<string, Kernel>>();

function moduleFor(gpu: Gpu, code: string): GPUShaderModule {
  let cache = modules.get(gpu.device);
  if (!cache) modules.set(gpu.device, cache = new Map());
  let mod = cache.get(code);
  if (!mod) {
    mod = gpu.device.createShaderModule({ code });
    cache.set(code, mod);
  }
  return mod;
}

const VISIBILITY = GPUShaderStage.COMPUTE;

/**
 * Returns the compiled pipeline for an entry point, compiling it on first use. Creation runs in
 * validation error scopes; a shader or layout error is thrown at the first op built from it.
 */
export function getKernel(gpu: Gpu, spec: KernelSpec): Kernel {
  let cache = kernels.get(gpu.device);
  if (!cache) kernels.set(gpu.device, cache = new Map());
  const key = `${spec.entryPoint}|${JSON.stringify(spec.constants ?? {})}|${spec.bindings}|${
    hash(spec.code)
  }`;
  const hit = cache.get(key);
  if (hit) return hit;
  const storage = spec.bindings.filter((b) => b !== "uniform").length;
  if (storage > gpu.limits.maxStorageBuffersPerShaderStage) {
    throw new GpuError(
      `Kernel ${spec.entryPoint} needs ${storage} storage buffers; this adapter allows ` +
        `${gpu.limits.maxStorageBuffersPerShaderStage}`,
    );
  }
  const device = gpu.device;
  device.pushErrorScope("validation");
  const layout = device.createBindGroupLayout({
    label: spec.entryPoint,
    entries: spec.bindings.map((kind, binding) => ({
      binding,
      visibility: VISIBILITY,
      buffer: {
        type: kind === "uniform" ? "uniform" : kind === "read" ? "read-only-storage" : "storage",
      },
    })),
  });
  const pipeline = device.createComputePipeline({
    label: spec.entryPoint,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: {
      module: moduleFor(gpu, spec.code),
      entryPoint: spec.entryPoint,
      constants: spec.constants,
    },
  });
  const kernel: Kernel = { pipeline, layout, label: spec.entryPoint };
  pending.push(
    device.popErrorScope().then((err) => {
      if (err) {
        cache.delete(key);
        return `kernel ${spec.entryPoint}: ${err.message}`;
      }
      return undefined;
    }),
  );
  cache.set(key, kernel);
  return kernel;
}

let pending: Promise<string | undefined>[] = [];

/**
 * Runs `fn` (which creates GPU objects) inside validation and out-of-memory error scopes, without
 * waiting: a failure is reported by the next {@linkcode assertNoGpuErrors}, as `label: message`.
 */
export function deferErrors<T>(gpu: Gpu, label: string, fn: () => T): T {
  gpu.device.pushErrorScope("out-of-memory");
  gpu.device.pushErrorScope("validation");
  try {
    return fn();
  } finally {
    const validation = gpu.device.popErrorScope();
    const oom = gpu.device.popErrorScope();
    pending.push(
      Promise.all([validation, oom]).then(([v, o]) =>
        o
          ? `${label}: out of GPU memory (${o.message}): lower --batch or --context, or use a smaller model`
          : v
          ? `${label}: ${v.message}`
          : undefined
      ),
    );
  }
}

/**
 * Waits for the error scopes of every kernel and op created so far and throws the first error.
 * Model and test setup call it once after building their ops (one wait, not one per op).
 */
export async function assertNoGpuErrors(): Promise<void> {
  const waiting = pending;
  pending = [];
  const errors = (await Promise.all(waiting)).filter((e): e is string => e !== undefined);
  if (errors.length > 0) throw new GpuError(errors.join("\n"));
}

/** A resource for one binding: a tensor (its window of the buffer) or a whole buffer. */
export type Resource = Tensor | GPUBuffer;

function isTensor(r: Resource): r is Tensor {
  return (r as Tensor).length !== undefined && (r as Tensor).buffer !== undefined;
}

/** Binds a kernel to its resources (one per binding, in order) with a fixed dispatch size. */
export function makeOp(
  gpu: Gpu,
  kernel: Kernel,
  resources: Resource[],
  workgroups: readonly [number, number?, number?],
): Op {
  const [x, y = 1, z = 1] = workgroups;
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (x > max || y > max || z > max || x < 1 || y < 1 || z < 1) {
    throw new GpuError(`${kernel.label}: dispatch ${x}x${y}x${z} is outside 1..${max}`);
  }
  gpu.device.pushErrorScope("validation");
  const bindGroup = gpu.device.createBindGroup({
    label: kernel.label,
    layout: kernel.layout,
    entries: resources.map((r, binding) => ({
      binding,
      resource: isTensor(r)
        ? { buffer: r.buffer, offset: r.offset, size: Math.max(4, r.length * 4) }
        : { buffer: r },
    })),
  });
  pending.push(
    gpu.device.popErrorScope().then((err) =>
      err ? `op ${kernel.label} (${resources.map(nameOf).join(", ")}): ${err.message}` : undefined
    ),
  );
  return { label: kernel.label, pipeline: kernel.pipeline, bindGroup, workgroups: [x, y, z] };
}

function nameOf(r: Resource): string {
  return isTensor(r) ? r.name : (r.label || "buffer");
}

/** Encodes ops, in order, into a compute pass. */
export function encodeOps(pass: GPUComputePassEncoder, ops: readonly Op[]): void {
  for (const op of ops) {
    pass.setPipeline(op.pipeline);
    pass.setBindGroup(0, op.bindGroup);
    pass.dispatchWorkgroups(op.workgroups[0], op.workgroups[1], op.workgroups[2]);
  }
}

/**
 * Splits `n` workgroups into an (x, y) grid within the per-dimension limit. Kernels recover the
 * linear index as `wid.x + wid.y * nwg.x` (with `@builtin(num_workgroups) nwg`).
 */
export function grid(gpu: Gpu, n: number): [number, number] {
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (n <= max) return [Math.max(1, n), 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y];
}

/** Packs a params struct of u32 and f32 fields (in WGSL declaration order) for a uniform. */
export function params(fields: ReadonlyArray<number | { f32: number }>): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil(fields.length / 4) * 16));
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  fields.forEach((v, i) => {
    if (typeof v === "number") {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw new RangeError(`params: field ${i} = ${v} is not a u32`);
      }
      u[i] = v;
    } else f[i] = v.f32;
  });
  return buf;
}

function hash(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0).toString(16) + s.length;
}

/** A tensor with a buffer of its own (tests, small state); `data` fills it if given. */
export function createTensor(
  gpu: Gpu,
  shape: readonly number[],
  name: string,
  data?: Float32Array | Uint32Array | Int32Array,
): Tensor {
  const length = shape.reduce((a, b) => a * b, 1);
  if (data && data.length !== length) {
    throw new RangeError(`${name}: ${data.length} values for shape [${shape}]`);
  }
  const buffer = gpu.device.createBuffer({
    label: name,
    size: Math.max(16, Math.ceil(length / 4) * 16),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  if (data) {
    gpu.device.queue.writeBuffer(
      buffer,
      0,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
  }
  return { name, buffer, offset: 0, length, shape };
}

/**
 * Whether an elementwise kernel may read and write these tensors as vec4s: `n` elements, a
 * multiple of 4, and every tensor at a 16-byte offset.
 */
export function fitsVec4(n: number, tensors: readonly Tensor[]): boolean {
  return n % 4 === 0 && tensors.every((t) => t.offset % 16 === 0);
}
