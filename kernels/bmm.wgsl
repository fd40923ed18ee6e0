// Batched, strided matrix product for GPUs, with workgroup-memory tiles:
//
//   C[z] (M, N) (+)= alpha * A[z] (M, K) @ B[z] (K, N) [+ bias (N)]
//
// Every operand is addressed through strides (in elements) and a base offset, so transposes and
// views into packed tensors (one head of qkv, one (b, h) matrix of att) need no copies:
//   A[z][m, k] = a[a_off + zo * a_zo + zi * a_zi + m * a_m + k * a_k]   (B and C alike)
// where the batch index z = zo * ZI + zi has two levels (attention: batch b, head h).
//
// One workgroup of 16 x 16 invocations computes a 128 x 128 block of C. Invocation (lx, ly) owns
// rows m0 + 4 ly + i and m0 + 64 + 4 ly + i, columns n0 + 4 lx + j and n0 + 64 + 4 lx + j
// (i, j < 4): an 8 x 8 block held in registers, fed by four 16-byte reads of workgroup memory
// per k step (neighbouring invocations read neighbouring vec4s). A and B are staged through
// workgroup memory in k steps of BK (16 on GPUs); the loads follow whichever of the operand's two
// dimensions is contiguous in memory. Each element of C is one invocation's sum over k in
// ascending order: deterministic.
//
// CAUSAL skips work that a causal (lower-triangular) operand makes zero or unneeded, for
// attention with square T x T matrices:
//   1: blocks of C entirely above the diagonal (n0 > last row) are not computed (C there is left
//      as it was; the caller never reads it);
//   2: k stops after the block's last row (A is zero for k > m: P @ V, dS @ K);
//   3: k starts at the block's first row, rounded down to BK (A[m, k] is zero for k < m:
//      P^T @ dout, dS^T @ Q).
// Dispatch (ceil(N / 128), ceil(M / 128), number of batch matrices).

override ACCUMULATE: bool = false; // C += instead of C =
override HAS_BIAS: bool = false; // add bias (N) to every row of C
override CAUSAL: u32 = 0u;

const BM: u32 = 128u;
const BN: u32 = 128u;
// k step of the tiles: 16 on GPUs, 8 on CPU adapters (the OpenGL backend of llvmpipe takes
// minutes to compile the larger workgroup arrays). A multiple of 4, at most 16.
override BK: u32 = 16u;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  ZI: u32, // inner batch count (z = zo * ZI + zi)
  a_off: u32,
  a_m: u32,
  a_k: u32,
  a_zo: u32,
  a_zi: u32,
  b_off: u32,
  b_k: u32,
  b_n: u32,
  b_zo: u32,
  b_zi: u32,
  c_off: u32,
  c_m: u32,
  c_n: u32,
  c_zo: u32,
  c_zi: u32,
  alpha: f32,
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (N), used only if HAS_BIAS
@group(0) @binding(4) var<uniform> p: Params;

// Rows of the tiles are ROW = 33 vec4s apart (one of padding), so that the 16 invocations that
// store one column of A's block (16 k values of one row m) hit different memory banks.
const ROW: u32 = 33u;
var<workgroup> tile_a: array<vec4<f32>, BK * ROW>; // [kk * ROW + m / 4][m % 4]: BK x BM values
var<workgroup> tile_b: array<vec4<f32>, BK * ROW>; // [kk * ROW + n / 4][n % 4]: BK x BN values

// Writes alpha * v (+ bias) (+ the old C) to row m, columns n .. n + 3 of the C at c0.
fn store4(c0: u32, m: u32, n: u32, v: vec4<f32>) {
  if (m >= p.M) {
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    let col = n + j;
    if (col < p.N) {
      var x = p.alpha * v[j];
      if (HAS_BIAS) {
        x += bias[col];
      }
      let idx = c0 + m * p.c_m + col * p.c_n;
      if (ACCUMULATE) {
        x += c[idx];
      }
      c[idx] = x;
    }
  }
}

@compute @workgroup_size(16, 16)
fn bmm(@builtin(workgroup_id) wid: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  if (CAUSAL == 1u && n0 > m0 + BM - 1u) {
    return; // uniform for the workgroup, before any barrier
  }
  let zo = wid.z / p.ZI;
  let zi = wid.z % p.ZI;
  let a0 = p.a_off + zo * p.a_zo + zi * p.a_zi;
  let b0 = p.b_off + zo * p.b_zo + zi * p.b_zi;
  var k_begin = 0u;
  var k_end = p.K;
  if (CAUSAL == 2u) {
    k_end = min(p.K, m0 + BM);
  }
  if (CAUSAL == 3u) {
    k_begin = min(m0, p.K) / BK * BK;
  }
  let a_k_fast = p.a_k == 1u;
  let b_n_fast = p.b_n == 1u;
  // The 8 x 8 block in 16 named registers (no private array: GPU compilers may put an array
  // indexed in a loop in slow local memory). rI_H: row I of the block (rows 4 ly + I for I < 4,
  // 64 + 4 ly + I - 4 after), column half H (columns 4 lx .. 4 lx + 3, then 64 + 4 lx ..).
  var r0_0 = vec4<f32>(0.0);
  var r0_1 = vec4<f32>(0.0);
  var r1_0 = vec4<f32>(0.0);
  var r1_1 = vec4<f32>(0.0);
  var r2_0 = vec4<f32>(0.0);
  var r2_1 = vec4<f32>(0.0);
  var r3_0 = vec4<f32>(0.0);
  var r3_1 = vec4<f32>(0.0);
  var r4_0 = vec4<f32>(0.0);
  var r4_1 = vec4<f32>(0.0);
  var r5_0 = vec4<f32>(0.0);
  var r5_1 = vec4<f32>(0.0);
  var r6_0 = vec4<f32>(0.0);
  var r6_1 = vec4<f32>(0.0);
  var r7_0 = vec4<f32>(0.0);
  var r7_1 = vec4<f32>(0.0);
  for (var k0 = k_begin; k0 < k_end; k0 += BK) {
    // 128 BK values of each tile, BK / 2 per invocation, consecutive invocations following
    // memory order.
    for (var r = 0u; r < BK / 2u; r++) {
      let e = li + r * 256u;
      var kk: u32;
      var mm: u32;
      if (a_k_fast) {
        mm = e / BK;
        kk = e % BK;
      } else {
        kk = e / BM;
        mm = e % BM;
      }
      var va = 0.0;
      if (m0 + mm < p.M && k0 + kk < k_end) {
        va = a[a0 + (m0 + mm) * p.a_m + (k0 + kk) * p.a_k];
      }
      tile_a[kk * ROW + mm / 4u][mm % 4u] = va;
      var nn: u32;
      if (b_n_fast) {
        kk = e / BN;
        nn = e % BN;
      } else {
        nn = e / BK;
        kk = e % BK;
      }
      var vb = 0.0;
      if (n0 + nn < p.N && k0 + kk < k_end) {
        vb = b[b0 + (k0 + kk) * p.b_k + (n0 + nn) * p.b_n];
      }
      tile_b[kk * ROW + nn / 4u][nn % 4u] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let x0 = tile_a[kk * ROW + lid.y]; // rows 4 ly .. 4 ly + 3
      let x1 = tile_a[kk * ROW + 16u + lid.y]; // rows 64 + 4 ly ..
      let y0 = tile_b[kk * ROW + lid.x]; // columns 4 lx .. 4 lx + 3
      let y1 = tile_b[kk * ROW + 16u + lid.x]; // columns 64 + 4 lx ..
      r0_0 = fma(vec4<f32>(x0.x), y0, r0_0);
      r0_1 = fma(vec4<f32>(x0.x), y1, r0_1);
      r1_0 = fma(vec4<f32>(x0.y), y0, r1_0);
      r1_1 = fma(vec4<f32>(x0.y), y1, r1_1);
      r2_0 = fma(vec4<f32>(x0.z), y0, r2_0);
      r2_1 = fma(vec4<f32>(x0.z), y1, r2_1);
      r3_0 = fma(vec4<f32>(x0.w), y0, r3_0);
      r3_1 = fma(vec4<f32>(x0.w), y1, r3_1);
      r4_0 = fma(vec4<f32>(x1.x), y0, r4_0);
      r4_1 = fma(vec4<f32>(x1.x), y1, r4_1);
      r5_0 = fma(vec4<f32>(x1.y), y0, r5_0);
      r5_1 = fma(vec4<f32>(x1.y), y1, r5_1);
      r6_0 = fma(vec4<f32>(x1.z), y0, r6_0);
      r6_1 = fma(vec4<f32>(x1.z), y1, r6_1);
      r7_0 = fma(vec4<f32>(x1.w), y0, r7_0);
      r7_1 = fma(vec4<f32>(x1.w), y1, r7_1);
    }
    workgroupBarrier();
  }
  let c0 = p.c_off + zo * p.c_zo + zi * p.c_zi;
  let m = m0 + 4u * lid.y;
  let n = n0 + 4u * lid.x;
  store4(c0, m, n, r0_0);
  store4(c0, m, n + 64u, r0_1);
  store4(c0, m + 1u, n, r1_0);
  store4(c0, m + 1u, n + 64u, r1_1);
  store4(c0, m + 2u, n, r2_0);
  store4(c0, m + 2u, n + 64u, r2_1);
  store4(c0, m + 3u, n, r3_0);
  store4(c0, m + 3u, n + 64u, r3_1);
  store4(c0, m + 64u, n, r4_0);
  store4(c0, m + 64u, n + 64u, r4_1);
  store4(c0, m + 65u, n, r5_0);
  store4(c0, m + 65u, n + 64u, r5_1);
  store4(c0, m + 66u, n, r6_0);
  store4(c0, m + 66u, n + 64u, r6_1);
  store4(c0, m + 67u, n, r7_0);
  store4(c0, m + 67u, n + 64u, r7_1);
}
