// Ceilings of this toolchain (WGSL through the WebGPU implementation to the driver) on a GPU, for
// scripts/bench_gemm.ts --probe: what rate of fmas a kernel can reach at all, and what the inner
// loop of kernels/bmm.wgsl reaches when its operands are already in workgroup memory.

override ITERS: u32 = 4096u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;

// 16 independent vec4 chains of fmas per invocation: 64 fmas (128 flop) per iteration.
@compute @workgroup_size(256)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>) {
  let x = vec4<f32>(f32(gid.x) * 1e-9);
  let y = vec4<f32>(0.999);
  var r0 = x; var r1 = x + 1.0; var r2 = x + 2.0; var r3 = x + 3.0;
  var r4 = x + 4.0; var r5 = x + 5.0; var r6 = x + 6.0; var r7 = x + 7.0;
  var r8 = x + 8.0; var r9 = x + 9.0; var r10 = x + 10.0; var r11 = x + 11.0;
  var r12 = x + 12.0; var r13 = x + 13.0; var r14 = x + 14.0; var r15 = x + 15.0;
  for (var i = 0u; i < ITERS; i++) {
    r0 = fma(r0, y, x); r1 = fma(r1, y, x); r2 = fma(r2, y, x); r3 = fma(r3, y, x);
    r4 = fma(r4, y, x); r5 = fma(r5, y, x); r6 = fma(r6, y, x); r7 = fma(r7, y, x);
    r8 = fma(r8, y, x); r9 = fma(r9, y, x); r10 = fma(r10, y, x); r11 = fma(r11, y, x);
    r12 = fma(r12, y, x); r13 = fma(r13, y, x); r14 = fma(r14, y, x); r15 = fma(r15, y, x);
  }
  let s = r0 + r1 + r2 + r3 + r4 + r5 + r6 + r7 + r8 + r9 + r10 + r11 + r12 + r13 + r14 + r15;
  out[gid.x] = s.x + s.y + s.z + s.w;
}

// The bmm inner loop (16 x 16 invocations, an 8 x 8 block each, four vec4 reads of workgroup
// memory per k step) over a tile that stays in workgroup memory: 128 flop per k step.
const ROW: u32 = 33u;
var<workgroup> ta: array<vec4<f32>, 16u * ROW>;
var<workgroup> tb: array<vec4<f32>, 16u * ROW>;

@compute @workgroup_size(16, 16)
fn lds_peak(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  ta[li] = vec4<f32>(f32(li) * 1e-3);
  tb[li] = vec4<f32>(f32(li) * 2e-3);
  workgroupBarrier();
  var r0_0 = vec4<f32>(0.0); var r0_1 = vec4<f32>(0.0);
  var r1_0 = vec4<f32>(0.0); var r1_1 = vec4<f32>(0.0);
  var r2_0 = vec4<f32>(0.0); var r2_1 = vec4<f32>(0.0);
  var r3_0 = vec4<f32>(0.0); var r3_1 = vec4<f32>(0.0);
  var r4_0 = vec4<f32>(0.0); var r4_1 = vec4<f32>(0.0);
  var r5_0 = vec4<f32>(0.0); var r5_1 = vec4<f32>(0.0);
  var r6_0 = vec4<f32>(0.0); var r6_1 = vec4<f32>(0.0);
  var r7_0 = vec4<f32>(0.0); var r7_1 = vec4<f32>(0.0);
  for (var i = 0u; i < ITERS / 16u; i++) {
    for (var kk = 0u; kk < 16u; kk++) {
      let x0 = ta[kk * ROW + lid.y];
      let x1 = ta[kk * ROW + 16u + lid.y];
      let y0 = tb[kk * ROW + lid.x];
      let y1 = tb[kk * ROW + 16u + lid.x];
      r0_0 = fma(vec4<f32>(x0.x), y0, r0_0); r0_1 = fma(vec4<f32>(x0.x), y1, r0_1);
      r1_0 = fma(vec4<f32>(x0.y), y0, r1_0); r1_1 = fma(vec4<f32>(x0.y), y1, r1_1);
      r2_0 = fma(vec4<f32>(x0.z), y0, r2_0); r2_1 = fma(vec4<f32>(x0.z), y1, r2_1);
      r3_0 = fma(vec4<f32>(x0.w), y0, r3_0); r3_1 = fma(vec4<f32>(x0.w), y1, r3_1);
      r4_0 = fma(vec4<f32>(x1.x), y0, r4_0); r4_1 = fma(vec4<f32>(x1.x), y1, r4_1);
      r5_0 = fma(vec4<f32>(x1.y), y0, r5_0); r5_1 = fma(vec4<f32>(x1.y), y1, r5_1);
      r6_0 = fma(vec4<f32>(x1.z), y0, r6_0); r6_1 = fma(vec4<f32>(x1.z), y1, r6_1);
      r7_0 = fma(vec4<f32>(x1.w), y0, r7_0); r7_1 = fma(vec4<f32>(x1.w), y1, r7_1);
    }
  }
  let s = r0_0 + r0_1 + r1_0 + r1_1 + r2_0 + r2_1 + r3_0 + r3_1 + r4_0 + r4_1 + r5_0 + r5_1 +
    r6_0 + r6_1 + r7_0 + r7_1;
  out[gid.x + gid.y * 1024u] = s.x + s.y + s.z + s.w;
}

// lds_peak with the k loop unrolled by hand, four k steps per iteration (whether the compiler
// unrolls the loop itself).
@compute @workgroup_size(16, 16)
fn lds_peak_u4(@builtin(global_invocation_id) gid: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  ta[li] = vec4<f32>(f32(li) * 1e-3);
  tb[li] = vec4<f32>(f32(li) * 2e-3);
  workgroupBarrier();
  var r0_0 = vec4<f32>(0.0); var r0_1 = vec4<f32>(0.0);
  var r1_0 = vec4<f32>(0.0); var r1_1 = vec4<f32>(0.0);
  var r2_0 = vec4<f32>(0.0); var r2_1 = vec4<f32>(0.0);
  var r3_0 = vec4<f32>(0.0); var r3_1 = vec4<f32>(0.0);
  var r4_0 = vec4<f32>(0.0); var r4_1 = vec4<f32>(0.0);
  var r5_0 = vec4<f32>(0.0); var r5_1 = vec4<f32>(0.0);
  var r6_0 = vec4<f32>(0.0); var r6_1 = vec4<f32>(0.0);
  var r7_0 = vec4<f32>(0.0); var r7_1 = vec4<f32>(0.0);
  for (var i = 0u; i < ITERS / 16u; i++) {
    for (var kk = 0u; kk < 16u; kk += 4u) {
      let x0_0 = ta[(kk + 0u) * ROW + lid.y];
      let x1_0 = ta[(kk + 0u) * ROW + 16u + lid.y];
      let y0_0 = tb[(kk + 0u) * ROW + lid.x];
      let y1_0 = tb[(kk + 0u) * ROW + 16u + lid.x];
      let x0_1 = ta[(kk + 1u) * ROW + lid.y];
      let x1_1 = ta[(kk + 1u) * ROW + 16u + lid.y];
      let y0_1 = tb[(kk + 1u) * ROW + lid.x];
      let y1_1 = tb[(kk + 1u) * ROW + 16u + lid.x];
      let x0_2 = ta[(kk + 2u) * ROW + lid.y];
      let x1_2 = ta[(kk + 2u) * ROW + 16u + lid.y];
      let y0_2 = tb[(kk + 2u) * ROW + lid.x];
      let y1_2 = tb[(kk + 2u) * ROW + 16u + lid.x];
      let x0_3 = ta[(kk + 3u) * ROW + lid.y];
      let x1_3 = ta[(kk + 3u) * ROW + 16u + lid.y];
      let y0_3 = tb[(kk + 3u) * ROW + lid.x];
      let y1_3 = tb[(kk + 3u) * ROW + 16u + lid.x];
      r0_0 = fma(vec4<f32>(x0_0.x), y0_0, r0_0); r0_1 = fma(vec4<f32>(x0_0.x), y1_0, r0_1);
      r1_0 = fma(vec4<f32>(x0_0.y), y0_0, r1_0); r1_1 = fma(vec4<f32>(x0_0.y), y1_0, r1_1);
      r2_0 = fma(vec4<f32>(x0_0.z), y0_0, r2_0); r2_1 = fma(vec4<f32>(x0_0.z), y1_0, r2_1);
      r3_0 = fma(vec4<f32>(x0_0.w), y0_0, r3_0); r3_1 = fma(vec4<f32>(x0_0.w), y1_0, r3_1);
      r4_0 = fma(vec4<f32>(x1_0.x), y0_0, r4_0); r4_1 = fma(vec4<f32>(x1_0.x), y1_0, r4_1);
      r5_0 = fma(vec4<f32>(x1_0.y), y0_0, r5_0); r5_1 = fma(vec4<f32>(x1_0.y), y1_0, r5_1);
      r6_0 = fma(vec4<f32>(x1_0.z), y0_0, r6_0); r6_1 = fma(vec4<f32>(x1_0.z), y1_0, r6_1);
      r7_0 = fma(vec4<f32>(x1_0.w), y0_0, r7_0); r7_1 = fma(vec4<f32>(x1_0.w), y1_0, r7_1);
      r0_0 = fma(vec4<f32>(x0_1.x), y0_1, r0_0); r0_1 = fma(vec4<f32>(x0_1.x), y1_1, r0_1);
      r1_0 = fma(vec4<f32>(x0_1.y), y0_1, r1_0); r1_1 = fma(vec4<f32>(x0_1.y), y1_1, r1_1);
      r2_0 = fma(vec4<f32>(x0_1.z), y0_1, r2_0); r2_1 = fma(vec4<f32>(x0_1.z), y1_1, r2_1);
      r3_0 = fma(vec4<f32>(x0_1.w), y0_1, r3_0); r3_1 = fma(vec4<f32>(x0_1.w), y1_1, r3_1);
      r4_0 = fma(vec4<f32>(x1_1.x), y0_1, r4_0); r4_1 = fma(vec4<f32>(x1_1.x), y1_1, r4_1);
      r5_0 = fma(vec4<f32>(x1_1.y), y0_1, r5_0); r5_1 = fma(vec4<f32>(x1_1.y), y1_1, r5_1);
      r6_0 = fma(vec4<f32>(x1_1.z), y0_1, r6_0); r6_1 = fma(vec4<f32>(x1_1.z), y1_1, r6_1);
      r7_0 = fma(vec4<f32>(x1_1.w), y0_1, r7_0); r7_1 = fma(vec4<f32>(x1_1.w), y1_1, r7_1);
      r0_0 = fma(vec4<f32>(x0_2.x), y0_2, r0_0); r0_1 = fma(vec4<f32>(x0_2.x), y1_2, r0_1);
      r1_0 = fma(vec4<f32>(x0_2.y), y0_2, r1_0); r1_1 = fma(vec4<f32>(x0_2.y), y1_2, r1_1);
      r2_0 = fma(vec4<f32>(x0_2.z), y0_2, r2_0); r2_1 = fma(vec4<f32>(x0_2.z), y1_2, r2_1);
      r3_0 = fma(vec4<f32>(x0_2.w), y0_2, r3_0); r3_1 = fma(vec4<f32>(x0_2.w), y1_2, r3_1);
      r4_0 = fma(vec4<f32>(x1_2.x), y0_2, r4_0); r4_1 = fma(vec4<f32>(x1_2.x), y1_2, r4_1);
      r5_0 = fma(vec4<f32>(x1_2.y), y0_2, r5_0); r5_1 = fma(vec4<f32>(x1_2.y), y1_2, r5_1);
      r6_0 = fma(vec4<f32>(x1_2.z), y0_2, r6_0); r6_1 = fma(vec4<f32>(x1_2.z), y1_2, r6_1);
      r7_0 = fma(vec4<f32>(x1_2.w), y0_2, r7_0); r7_1 = fma(vec4<f32>(x1_2.w), y1_2, r7_1);
      r0_0 = fma(vec4<f32>(x0_3.x), y0_3, r0_0); r0_1 = fma(vec4<f32>(x0_3.x), y1_3, r0_1);
      r1_0 = fma(vec4<f32>(x0_3.y), y0_3, r1_0); r1_1 = fma(vec4<f32>(x0_3.y), y1_3, r1_1);
      r2_0 = fma(vec4<f32>(x0_3.z), y0_3, r2_0); r2_1 = fma(vec4<f32>(x0_3.z), y1_3, r2_1);
      r3_0 = fma(vec4<f32>(x0_3.w), y0_3, r3_0); r3_1 = fma(vec4<f32>(x0_3.w), y1_3, r3_1);
      r4_0 = fma(vec4<f32>(x1_3.x), y0_3, r4_0); r4_1 = fma(vec4<f32>(x1_3.x), y1_3, r4_1);
      r5_0 = fma(vec4<f32>(x1_3.y), y0_3, r5_0); r5_1 = fma(vec4<f32>(x1_3.y), y1_3, r5_1);
      r6_0 = fma(vec4<f32>(x1_3.z), y0_3, r6_0); r6_1 = fma(vec4<f32>(x1_3.z), y1_3, r6_1);
      r7_0 = fma(vec4<f32>(x1_3.w), y0_3, r7_0); r7_1 = fma(vec4<f32>(x1_3.w), y1_3, r7_1);
    }
  }
  let s = r0_0 + r0_1 + r1_0 + r1_1 + r2_0 + r2_1 + r3_0 + r3_1 + r4_0 + r4_1 + r5_0 + r5_1 +
    r6_0 + r6_1 + r7_0 + r7_1;
  out[gid.x + gid.y * 1024u] = s.x + s.y + s.z + s.w;
}
