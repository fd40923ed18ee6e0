import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import { adapterName, checked, getGpu, GpuError } from "./device.ts";
import { assertNoGpuErrors, createTensor, getKernel, grid, makeOp, params } from "./kernel.ts";
import { runOps } from "./testing.ts";

const GOOD = `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@compute @workgroup_size(64)
fn copy(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < arrayLength(&out)) { out[g.x] = inp[g.x]; }
}`;

Deno.test("the device is shared and has the limits the model needs", async () => {
  const gpu = await getGpu();
  assert(gpu === await getGpu(), "one device per process");
  assert(gpu.limits.maxStorageBuffersPerShaderStage >= 8);
  assert(gpu.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20);
  assert(gpu.name.length > 0);
});

Deno.test("a shader that does not compile is an exception, not zeros", async () => {
  const gpu = await getGpu();
  getKernel(gpu, {
    code: "@compute @workgroup_size(1) fn broken() { let x: f32 = undefined_name; }",
    entryPoint: "broken",
    bindings: [],
  });
  await assertRejects(() => assertNoGpuErrors(), /kernel broken/);
});

Deno.test("binding one buffer writable and read-only in a dispatch is an exception", async () => {
  const gpu = await getGpu();
  const kernel = getKernel(gpu, { code: GOOD, entryPoint: "copy", bindings: ["write", "read"] });
  const t = createTensor(gpu, [64], "t");
  const op = makeOp(gpu, kernel, [t, t], [1]);
  await assertRejects(() => runOps(gpu, [op]), /conflicting|usage|writable/i);
});

Deno.test("checked() turns a validation error into a GpuError", async () => {
  const gpu = await getGpu();
  await assertRejects(
    () =>
      checked(
        gpu,
        "bad buffer",
        () =>
          gpu.device.createBuffer({
            size: 4,
            usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE,
          }),
      ),
    /bad buffer/,
  );
  const err = await assertRejects(() =>
    checked(gpu, "x", () => gpu.device.createBuffer({ size: 4, usage: 0 }))
  );
  assert(err instanceof GpuError);
});

Deno.test("params() packs u32 and f32 fields and rejects non-u32 values", () => {
  const buf = params([3, { f32: 0.5 }]);
  assert(new Uint32Array(buf)[0] === 3 && new Float32Array(buf)[1] === 0.5);
  let threw = false;
  try {
    params([-1]);
  } catch {
    threw = true;
  }
  assert(threw);
});

Deno.test("grid() stays within the per-dimension dispatch limit", async () => {
  const gpu = await getGpu();
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  const [x, y] = grid(gpu, 3 * max + 5);
  assert(x <= max && y <= max && x * y >= 3 * max + 5);
});

Deno.test("the CPU adapters say which they are; the OpenGL one gives the faster one's install", () => {
  const llvm = "llvmpipe (LLVM 15.0.6, 256 bits)";
  const vulkan = new Set(["shader-f16", "timestamp-query"]);
  const gl = new Set(["texture-compression-etc2", "timestamp-query"]);
  const lavapipe = "lavapipe (Vulkan on the CPU; LLVM 15.0.6, 256 bits)";
  const opengl = "llvmpipe (OpenGL on the CPU; LLVM 15.0.6, 256 bits), about 2.5x slower than " +
    "lavapipe: apt-get install -y mesa-vulkan-drivers";
  assertEquals(adapterName(llvm, vulkan, undefined), lavapipe);
  assertEquals(adapterName(llvm, gl, undefined), opengl);
  assertEquals(adapterName(llvm, gl, "gl"), opengl);
  assertEquals(adapterName(llvm, gl, "vulkan"), lavapipe);
  assertEquals(adapterName("NVIDIA H200", vulkan, undefined), "NVIDIA H200");
});

Deno.test("this process's adapter is named as the stages print it", async () => {
  const gpu = await getGpu();
  console.log(`adapter: ${gpu.name} (backend ${gpu.backend})`);
  if (gpu.isCpu && /llvmpipe|lavapipe/.test(gpu.name)) {
    // DENO_WEBGPU_BACKEND=gl, or no Vulkan driver (Deno then falls back to OpenGL by itself).
    const gl = gpu.backend === "gl";
    if (Deno.env.get("DENO_WEBGPU_BACKEND") === "gl") assert(gl, gpu.backend);
    assert(gpu.name.startsWith(gl ? "llvmpipe (OpenGL" : "lavapipe (Vulkan"), gpu.name);
  }
});
