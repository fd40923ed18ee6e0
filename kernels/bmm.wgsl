// Batched, strided matrix product for GPUs, with workgroup-memory tiles:
//
//   C[z] (M, N) (+)= alpha * A[z] (M, K) @ B[z] (K, N) [+ bias (N)]
//
// Every operand is addressed through strides (in elements) and a base offset, so transposes and
// views into packed tensors (one head of qkv, one (b, h) matrix of att) need no copies:
//   A[z][m, k] = a[a_off + zo * a_zo + zi * a_zi + m * a_m + k * a_k]   (B and C alike)
// where the batch index z = zo * ZI + zi has two levels (attention: batch b, head h).
//
// One workgroup of 16 x 16 invocations computes a BM x BN block of C (BM = 128; BN = 128, or 64
// without WIDE_N). Invocation (lx, ly) owns rows m0 + 4 ly + i and m0 + 64 + 4 ly + i, columns
// n0 + 4 lx + j (and n0 + 64 + 4 lx + j when WIDE_N), i, j < 4: an 8 x 8 (or 8 x 4) block held
// in named registers, fed by four (or three) 16-byte reads of workgroup memory per k step, where
// neighbouring invocations read neighbouring vec4s. A and B are staged through workgroup memory in
// k steps of BK (16 on GPUs), four consecutive values of an operand's contiguous dimension per
// load group; with PREFETCH the next step's groups are loaded into registers while the current
// step is computed. Each element of C is one invocation's sum over k in ascending order:
// deterministic.
//
// CAUSAL skips work that a causal (lower-triangular) operand makes zero or unneeded, for
// attention with square T x T matrices:
//   1: blocks of C entirely above the diagonal (n0 > last row) are not computed (C there is left
//      as it was; the caller never reads it);
//   2: k stops after the block's last row (A is zero for k > m: P @ V, dS @ K);
//   3: k starts at the block's first row, rounded down to BK (A[m, k] is zero for k < m:
//      P^T @ dout, dS^T @ Q).
// Dispatch (ceil(N / BN), ceil(M / BM), number of batch matrices).

override ACCUMULATE: bool = false; // C += instead of C =
override HAS_BIAS: bool = false; // add bias (N) to every row of C
override CAUSAL: u32 = 0u;
// k step of the tiles, 8 or 16: 16 on GPUs (the faster on an H200), 8 on CPU adapters (the OpenGL
// backend of llvmpipe takes minutes to compile the larger workgroup arrays).
override BK: u32 = 16u;
// The contiguous dimension of each operand, along which its load groups run (any layout is
// correct either way; the launcher picks the one with the smaller stride).
override A_ALONG_K: bool = true; // groups of A: 4 consecutive k of one row (else 4 rows of one k)
override B_ALONG_N: bool = true; // groups of B: 4 consecutive n of one k (else 4 k of one n)
override PREFETCH: bool = true; // load the next k step's groups while computing this one
override WIDE_N: bool = true; // BN = 128 (else 64, for N <= 64 such as attention's head size)
// A fused GELU after the product, as in matmul.wgsl (aux addressed like C; gelu_math.wgsl is put
// in front by the launcher): 1: aux = gelu(C) as well; 2: C *= gelu'(aux).
override EPILOGUE: u32 = 0u;

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
@group(0) @binding(5) var<storage, read_write> aux: array<f32>; // like C, used only if EPILOGUE

const BM: u32 = 128u;
// Rows of the tiles are ROW = 33 vec4s apart (one of padding), so that the invocations that
// store 4 k values of neighbouring rows hit different memory banks.
const ROW: u32 = 33u;
// Element type of the tiles: f32, or f16 where the launcher compiles the `f16` setting (an
// experiment for measuring the products with half the workgroup-memory traffic: the operands are
// rounded to half precision in the tiles, the sums stay f32).
alias Tile = f32;
var<workgroup> tile_a: array<vec4<Tile>, BK * ROW>; // [kk * ROW + m / 4][m % 4]: BK x BM values
var<workgroup> tile_b: array<vec4<Tile>, BK * ROW>; // [kk * ROW + n / 4][n % 4]: BK x BN values

fn bn() -> u32 {
  return select(64u, 128u, WIDE_N);
}

// Load group e of A's tile at (m0, k0): four values, zero where out of range.
fn load_a(a0: u32, m0: u32, k0: u32, k_end: u32, e: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (A_ALONG_K) {
    let m = m0 + e / (BK / 4u);
    let k = k0 + (e % (BK / 4u)) * 4u;
    if (m < p.M) {
      let i = a0 + m * p.a_m + k * p.a_k;
      if (k < k_end) { v.x = a[i]; }
      if (k + 1u < k_end) { v.y = a[i + p.a_k]; }
      if (k + 2u < k_end) { v.z = a[i + 2u * p.a_k]; }
      if (k + 3u < k_end) { v.w = a[i + 3u * p.a_k]; }
    }
  } else {
    let k = k0 + e / (BM / 4u);
    let m = m0 + (e % (BM / 4u)) * 4u;
    if (k < k_end) {
      let i = a0 + m * p.a_m + k * p.a_k;
      if (m < p.M) { v.x = a[i]; }
      if (m + 1u < p.M) { v.y = a[i + p.a_m]; }
      if (m + 2u < p.M) { v.z = a[i + 2u * p.a_m]; }
      if (m + 3u < p.M) { v.w = a[i + 3u * p.a_m]; }
    }
  }
  return v;
}

fn store_a(e: u32, v: vec4<f32>) {
  if (A_ALONG_K) {
    let mm = e / (BK / 4u);
    let kk = (e % (BK / 4u)) * 4u;
    let i = kk * ROW + mm / 4u;
    let j = mm % 4u;
    tile_a[i][j] = Tile(v.x);
    tile_a[i + ROW][j] = Tile(v.y);
    tile_a[i + 2u * ROW][j] = Tile(v.z);
    tile_a[i + 3u * ROW][j] = Tile(v.w);
  } else {
    tile_a[(e / (BM / 4u)) * ROW + e % (BM / 4u)] = vec4<Tile>(v);
  }
}

// Load group e of B's tile at (k0, n0); groups past the tile's end load nothing.
fn load_b(b0: u32, k0: u32, n0: u32, k_end: u32, e: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (e >= BK * bn() / 4u) {
    return v;
  }
  if (B_ALONG_N) {
    let k = k0 + e / (bn() / 4u);
    let n = n0 + (e % (bn() / 4u)) * 4u;
    if (k < k_end) {
      let i = b0 + k * p.b_k + n * p.b_n;
      if (n < p.N) { v.x = b[i]; }
      if (n + 1u < p.N) { v.y = b[i + p.b_n]; }
      if (n + 2u < p.N) { v.z = b[i + 2u * p.b_n]; }
      if (n + 3u < p.N) { v.w = b[i + 3u * p.b_n]; }
    }
  } else {
    let n = n0 + e / (BK / 4u);
    let k = k0 + (e % (BK / 4u)) * 4u;
    if (n < p.N) {
      let i = b0 + k * p.b_k + n * p.b_n;
      if (k < k_end) { v.x = b[i]; }
      if (k + 1u < k_end) { v.y = b[i + p.b_k]; }
      if (k + 2u < k_end) { v.z = b[i + 2u * p.b_k]; }
      if (k + 3u < k_end) { v.w = b[i + 3u * p.b_k]; }
    }
  }
  return v;
}

fn store_b(e: u32, v: vec4<f32>) {
  if (e >= BK * bn() / 4u) {
    return;
  }
  if (B_ALONG_N) {
    tile_b[(e / (bn() / 4u)) * ROW + e % (bn() / 4u)] = vec4<Tile>(v);
  } else {
    let nn = e / (BK / 4u);
    let kk = (e % (BK / 4u)) * 4u;
    let i = kk * ROW + nn / 4u;
    let j = nn % 4u;
    tile_b[i][j] = Tile(v.x);
    tile_b[i + ROW][j] = Tile(v.y);
    tile_b[i + 2u * ROW][j] = Tile(v.z);
    tile_b[i + 3u * ROW][j] = Tile(v.w);
  }
}

// The finished element x at index idx of C (and of aux): written, after the EPILOGUE.
fn finish(idx: u32, x: f32) {
  var v = x;
  if (EPILOGUE == 1u) {
    aux[idx] = gelu_value(v);
  }
  if (EPILOGUE == 2u) {
    v *= gelu_slope(aux[idx]);
  }
  c[idx] = v;
}

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
      finish(idx, x);
    }
  }
}

@compute @workgroup_size(16, 16)
fn bmm(@builtin(workgroup_id) wid: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * BM;
  let n0 = wid.x * bn();
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
  // Load groups held in registers: A's tile has BM * BK / 4 groups (2 per invocation at BK = 16,
  // 1 at BK = 8), B's BN * BK / 4 (2, 1 or a half).
  var ga0 = vec4<f32>(0.0);
  var ga1 = vec4<f32>(0.0);
  var gb0 = vec4<f32>(0.0);
  var gb1 = vec4<f32>(0.0);
  let two = BK == 16u;
  if (PREFETCH && k_begin < k_end) {
    ga0 = load_a(a0, m0, k_begin, k_end, li);
    gb0 = load_b(b0, k_begin, n0, k_end, li);
    if (two) {
      ga1 = load_a(a0, m0, k_begin, k_end, li + 256u);
      gb1 = load_b(b0, k_begin, n0, k_end, li + 256u);
    }
  }
  // The 8 x 8 block in 16 named registers (no private array: GPU compilers may put an array
  // indexed in a loop in slow local memory). rI_H: row I of the block (rows 4 ly + I for I < 4,
  // 64 + 4 ly + I - 4 after), column half H (columns 4 lx .. 4 lx + 3, then 64 + 4 lx ..; the
  // second half only when WIDE_N).
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
    if (!PREFETCH) {
      ga0 = load_a(a0, m0, k0, k_end, li);
      gb0 = load_b(b0, k0, n0, k_end, li);
      if (two) {
        ga1 = load_a(a0, m0, k0, k_end, li + 256u);
        gb1 = load_b(b0, k0, n0, k_end, li + 256u);
      }
    }
    store_a(li, ga0);
    store_b(li, gb0);
    if (two) {
      store_a(li + 256u, ga1);
      store_b(li + 256u, gb1);
    }
    workgroupBarrier();
    let k1 = k0 + BK;
    if (PREFETCH && k1 < k_end) {
      ga0 = load_a(a0, m0, k1, k_end, li);
      gb0 = load_b(b0, k1, n0, k_end, li);
      if (two) {
        ga1 = load_a(a0, m0, k1, k_end, li + 256u);
        gb1 = load_b(b0, k1, n0, k_end, li + 256u);
      }
    }
    for (var kk = 0u; kk < BK; kk++) {
      let x0 = vec4<f32>(tile_a[kk * ROW + lid.y]); // rows 4 ly .. 4 ly + 3
      let x1 = vec4<f32>(tile_a[kk * ROW + 16u + lid.y]); // rows 64 + 4 ly ..
      let y0 = vec4<f32>(tile_b[kk * ROW + lid.x]); // columns 4 lx .. 4 lx + 3
      r0_0 = fma(vec4<f32>(x0.x), y0, r0_0);
      r1_0 = fma(vec4<f32>(x0.y), y0, r1_0);
      r2_0 = fma(vec4<f32>(x0.z), y0, r2_0);
      r3_0 = fma(vec4<f32>(x0.w), y0, r3_0);
      r4_0 = fma(vec4<f32>(x1.x), y0, r4_0);
      r5_0 = fma(vec4<f32>(x1.y), y0, r5_0);
      r6_0 = fma(vec4<f32>(x1.z), y0, r6_0);
      r7_0 = fma(vec4<f32>(x1.w), y0, r7_0);
      if (WIDE_N) {
        let y1 = vec4<f32>(tile_b[kk * ROW + 16u + lid.x]); // columns 64 + 4 lx ..
        r0_1 = fma(vec4<f32>(x0.x), y1, r0_1);
        r1_1 = fma(vec4<f32>(x0.y), y1, r1_1);
        r2_1 = fma(vec4<f32>(x0.z), y1, r2_1);
        r3_1 = fma(vec4<f32>(x0.w), y1, r3_1);
        r4_1 = fma(vec4<f32>(x1.x), y1, r4_1);
        r5_1 = fma(vec4<f32>(x1.y), y1, r5_1);
        r6_1 = fma(vec4<f32>(x1.z), y1, r6_1);
        r7_1 = fma(vec4<f32>(x1.w), y1, r7_1);
      }
    }
    workgroupBarrier();
  }
  let c0 = p.c_off + zo * p.c_zo + zi * p.c_zi;
  let m = m0 + 4u * lid.y;
  let n = n0 + 4u * lid.x;
  store4(c0, m, n, r0_0);
  store4(c0, m + 1u, n, r1_0);
  store4(c0, m + 2u, n, r2_0);
  store4(c0, m + 3u, n, r3_0);
  store4(c0, m + 64u, n, r4_0);
  store4(c0, m + 65u, n, r5_0);
  store4(c0, m + 66u, n, r6_0);
  store4(c0, m + 67u, n, r7_0);
  if (WIDE_N) {
    store4(c0, m, n + 64u, r0_1);
    store4(c0, m + 1u, n + 64u, r1_1);
    store4(c0, m + 2u, n + 64u, r2_1);
    store4(c0, m + 3u, n + 64u, r3_1);
    store4(c0, m + 64u, n + 64u, r4_1);
    store4(c0, m + 65u, n + 64u, r5_1);
    store4(c0, m + 66u, n + 64u, r6_1);
    store4(c0, m + 67u, n + 64u, r7_1);
  }
}

// The sum of a product split over k (see bmmOps in bmm.ts): the slices A[s] (M, N), s < S, dense
// and M * N apart, hold the partial products over consecutive ranges of k;
//   C (M, N) (+)= alpha * (A[0] + A[1] + ... + A[S - 1]) [+ bias (N)]
// summed in slice order (deterministic), C addressed through c_off, c_m and c_n.
// Dispatch: grid(ceil(M * N / 256)).
struct SliceParams {
  M: u32,
  N: u32,
  S: u32,
  c_off: u32,
  c_m: u32,
  c_n: u32,
  alpha: f32,
}

@group(0) @binding(4) var<uniform> ps: SliceParams;

@compute @workgroup_size(256)
fn bmm_slices(@builtin(global_invocation_id) gid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let mn = ps.M * ps.N;
  if (i >= mn) {
    return;
  }
  var s = 0.0;
  for (var z = 0u; z < ps.S; z++) {
    s += a[z * mn + i];
  }
  let m = i / ps.N;
  let n = i % ps.N;
  var x = ps.alpha * s;
  if (HAS_BIAS) {
    x += bias[n];
  }
  let idx = ps.c_off + m * ps.c_m + n * ps.c_n;
  if (ACCUMULATE) {
    x += c[idx];
  }
  finish(idx, x);
}
