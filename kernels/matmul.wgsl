// Matrix products of the linear layers (llm.c layout: weight (OC, C) row-major, bias (OC)).
//
// One general product serves forward and backward:
//   C (M, N) (+)= alpha * op(A) (M, K) @ op(B) (K, N) [+ bias (N)]
// where op(A) = A stored (M, K), or A^T when TRANS_A (A stored (K, M)), and op(B) = B stored
// (K, N), or B^T when TRANS_B (B stored (N, K)). All matrices are row-major and densely packed.
//   forward  out (N, OC)     = inp (N, C) @ weight^T          TRANS_B, HAS_BIAS
//   backward dinp (N, C)     = dout (N, OC) @ weight (OC, C)
//            dweight (OC, C) += dout^T @ inp (N, C)           TRANS_A, ACCUMULATE
//
// Two variants of the product, both summing over k in ascending order with one fma per step:
// - gemm_reg, for CPU adapters: no workgroup memory and no barriers. Each invocation keeps a
//   TM x TN (24 x 8) block of C in registers; the TM rows are the same for the whole workgroup
//   (their A values are uniform loads) and the TN columns of one invocation are WG apart, so
//   that neighbouring invocations (SIMD lanes) read neighbouring columns of B.
// - gemm_tiled, for GPUs: 64 x 64 blocks of C per workgroup of 256, A and B staged through
//   workgroup memory in K steps of 8, 4 x 4 outputs per invocation.
// Edges: loads clamp (reg) or zero-fill (tiled) out-of-range rows and columns; stores are guarded.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// Invocations per workgroup of gemm_reg (the tiled variant's shape is fixed below).
override WG: u32 = 32;

// Compiled in rather than read from Params: gemm_reg stores TM x TN elements unrolled, and each
// load that a runtime flag would keep there costs seconds of compilation on llvmpipe.
override ACCUMULATE: bool = false; // C += instead of C =
override HAS_BIAS: bool = false; // add bias (N) to every row

struct Params {
  M: u32,
  N: u32,
  K: u32,
  alpha: f32,
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>; // (M, N)
@group(0) @binding(1) var<storage, read> a: array<f32>; // (M, K), or (K, M) if TRANS_A
@group(0) @binding(2) var<storage, read> b: array<f32>; // (K, N), or (N, K) if TRANS_B
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (N), used only if HAS_BIAS
@group(0) @binding(4) var<uniform> p: Params;

// op(A)[m, k]
fn load_a(m: u32, k: u32) -> f32 {
  if (TRANS_A) {
    return a[k * p.M + m];
  }
  return a[m * p.K + k];
}

// op(B)[k, n]
fn load_b(k: u32, n: u32) -> f32 {
  if (TRANS_B) {
    return b[n * p.K + k];
  }
  return b[k * p.N + n];
}

// Writes one finished element of C: alpha * sum, plus bias, plus the old value.
fn store_c(m: u32, n: u32, sum: f32) {
  var v = p.alpha * sum;
  if (HAS_BIAS) {
    v += bias[n];
  }
  let i = m * p.N + n;
  if (ACCUMULATE) {
    v += c[i];
  }
  c[i] = v;
}

// ---------------------------------------------------------------------------------------------
// gemm_reg: register tiling for CPU adapters. Dispatch (ceil(N / (WG * TN)), ceil(M / TM)).
// Unrolled by hand: on llvmpipe, loops over private arrays of accumulators run at half the speed.
// Tiles measured on lavapipe (GFLOP/s per CPU second, relative): 4 x 4: 0.4, 16 x 4: 0.6,
// 16 x 8: 0.85, 24 x 8: 1, 32 x 8: 1.07 (but 1.6 times the compile time), 16 x 16: 0.85.

const TM: u32 = 24u; // rows of C per invocation, the same for the whole workgroup
const TN: u32 = 8u; // columns of C per invocation, WG apart

// Stores row m of an invocation's block: columns n0 + j WG, j = 0..7.
fn store_row(m: u32, n0: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (m >= p.M) {
    return;
  }
  for (var j = 0u; j < 8u; j++) {
    let n = n0 + j * WG;
    if (n < p.N) {
      if (j < 4u) {
        store_c(m, n, lo[j]);
      } else {
        store_c(m, n, hi[j - 4u]);
      }
    }
  }
}

@compute @workgroup_size(WG)
fn gemm_reg(@builtin(workgroup_id) wid: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = wid.y * TM;
  let n0 = wid.x * (WG * TN) + lid.x;
  // Clamped indices keep every load in range without branches in the loop; the stores are
  // guarded instead. Rows m0 + i (uniform over the workgroup), columns n0 + j WG.
  let last_m = vec4<u32>(p.M - 1u);
  let r0 = min(vec4<u32>(m0 + 0u, m0 + 1u, m0 + 2u, m0 + 3u), last_m);
  let r1 = min(vec4<u32>(m0 + 4u, m0 + 5u, m0 + 6u, m0 + 7u), last_m);
  let r2 = min(vec4<u32>(m0 + 8u, m0 + 9u, m0 + 10u, m0 + 11u), last_m);
  let r3 = min(vec4<u32>(m0 + 12u, m0 + 13u, m0 + 14u, m0 + 15u), last_m);
  let r4 = min(vec4<u32>(m0 + 16u, m0 + 17u, m0 + 18u, m0 + 19u), last_m);
  let r5 = min(vec4<u32>(m0 + 20u, m0 + 21u, m0 + 22u, m0 + 23u), last_m);
  let last_n = vec4<u32>(p.N - 1u);
  let q0 = min(vec4<u32>(n0, n0 + WG, n0 + 2u * WG, n0 + 3u * WG), last_n);
  let q1 = min(vec4<u32>(n0 + 4u * WG, n0 + 5u * WG, n0 + 6u * WG, n0 + 7u * WG), last_n);
  // c<i>l: row m0 + i, columns n0 + (0..3) WG; c<i>h: columns n0 + (4..7) WG.
  var c0l = vec4<f32>(); var c0h = vec4<f32>(); var c1l = vec4<f32>(); var c1h = vec4<f32>();
  var c2l = vec4<f32>(); var c2h = vec4<f32>(); var c3l = vec4<f32>(); var c3h = vec4<f32>();
  var c4l = vec4<f32>(); var c4h = vec4<f32>(); var c5l = vec4<f32>(); var c5h = vec4<f32>();
  var c6l = vec4<f32>(); var c6h = vec4<f32>(); var c7l = vec4<f32>(); var c7h = vec4<f32>();
  var c8l = vec4<f32>(); var c8h = vec4<f32>(); var c9l = vec4<f32>(); var c9h = vec4<f32>();
  var c10l = vec4<f32>(); var c10h = vec4<f32>(); var c11l = vec4<f32>(); var c11h = vec4<f32>();
  var c12l = vec4<f32>(); var c12h = vec4<f32>(); var c13l = vec4<f32>(); var c13h = vec4<f32>();
  var c14l = vec4<f32>(); var c14h = vec4<f32>(); var c15l = vec4<f32>(); var c15h = vec4<f32>();
  var c16l = vec4<f32>(); var c16h = vec4<f32>(); var c17l = vec4<f32>(); var c17h = vec4<f32>();
  var c18l = vec4<f32>(); var c18h = vec4<f32>(); var c19l = vec4<f32>(); var c19h = vec4<f32>();
  var c20l = vec4<f32>(); var c20h = vec4<f32>(); var c21l = vec4<f32>(); var c21h = vec4<f32>();
  var c22l = vec4<f32>(); var c22h = vec4<f32>(); var c23l = vec4<f32>(); var c23h = vec4<f32>();
  for (var k = 0u; k < p.K; k++) {
    let bl = vec4<f32>(load_b(k, q0.x), load_b(k, q0.y), load_b(k, q0.z), load_b(k, q0.w));
    let bh = vec4<f32>(load_b(k, q1.x), load_b(k, q1.y), load_b(k, q1.z), load_b(k, q1.w));
    var a: vec4<f32>;
    a = vec4<f32>(load_a(r0.x, k)); c0l = fma(a, bl, c0l); c0h = fma(a, bh, c0h);
    a = vec4<f32>(load_a(r0.y, k)); c1l = fma(a, bl, c1l); c1h = fma(a, bh, c1h);
    a = vec4<f32>(load_a(r0.z, k)); c2l = fma(a, bl, c2l); c2h = fma(a, bh, c2h);
    a = vec4<f32>(load_a(r0.w, k)); c3l = fma(a, bl, c3l); c3h = fma(a, bh, c3h);
    a = vec4<f32>(load_a(r1.x, k)); c4l = fma(a, bl, c4l); c4h = fma(a, bh, c4h);
    a = vec4<f32>(load_a(r1.y, k)); c5l = fma(a, bl, c5l); c5h = fma(a, bh, c5h);
    a = vec4<f32>(load_a(r1.z, k)); c6l = fma(a, bl, c6l); c6h = fma(a, bh, c6h);
    a = vec4<f32>(load_a(r1.w, k)); c7l = fma(a, bl, c7l); c7h = fma(a, bh, c7h);
    a = vec4<f32>(load_a(r2.x, k)); c8l = fma(a, bl, c8l); c8h = fma(a, bh, c8h);
    a = vec4<f32>(load_a(r2.y, k)); c9l = fma(a, bl, c9l); c9h = fma(a, bh, c9h);
    a = vec4<f32>(load_a(r2.z, k)); c10l = fma(a, bl, c10l); c10h = fma(a, bh, c10h);
    a = vec4<f32>(load_a(r2.w, k)); c11l = fma(a, bl, c11l); c11h = fma(a, bh, c11h);
    a = vec4<f32>(load_a(r3.x, k)); c12l = fma(a, bl, c12l); c12h = fma(a, bh, c12h);
    a = vec4<f32>(load_a(r3.y, k)); c13l = fma(a, bl, c13l); c13h = fma(a, bh, c13h);
    a = vec4<f32>(load_a(r3.z, k)); c14l = fma(a, bl, c14l); c14h = fma(a, bh, c14h);
    a = vec4<f32>(load_a(r3.w, k)); c15l = fma(a, bl, c15l); c15h = fma(a, bh, c15h);
    a = vec4<f32>(load_a(r4.x, k)); c16l = fma(a, bl, c16l); c16h = fma(a, bh, c16h);
    a = vec4<f32>(load_a(r4.y, k)); c17l = fma(a, bl, c17l); c17h = fma(a, bh, c17h);
    a = vec4<f32>(load_a(r4.z, k)); c18l = fma(a, bl, c18l); c18h = fma(a, bh, c18h);
    a = vec4<f32>(load_a(r4.w, k)); c19l = fma(a, bl, c19l); c19h = fma(a, bh, c19h);
    a = vec4<f32>(load_a(r5.x, k)); c20l = fma(a, bl, c20l); c20h = fma(a, bh, c20h);
    a = vec4<f32>(load_a(r5.y, k)); c21l = fma(a, bl, c21l); c21h = fma(a, bh, c21h);
    a = vec4<f32>(load_a(r5.z, k)); c22l = fma(a, bl, c22l); c22h = fma(a, bh, c22h);
    a = vec4<f32>(load_a(r5.w, k)); c23l = fma(a, bl, c23l); c23h = fma(a, bh, c23h);
  }
  store_row(m0 + 0u, n0, c0l, c0h);
  store_row(m0 + 1u, n0, c1l, c1h);
  store_row(m0 + 2u, n0, c2l, c2h);
  store_row(m0 + 3u, n0, c3l, c3h);
  store_row(m0 + 4u, n0, c4l, c4h);
  store_row(m0 + 5u, n0, c5l, c5h);
  store_row(m0 + 6u, n0, c6l, c6h);
  store_row(m0 + 7u, n0, c7l, c7h);
  store_row(m0 + 8u, n0, c8l, c8h);
  store_row(m0 + 9u, n0, c9l, c9h);
  store_row(m0 + 10u, n0, c10l, c10h);
  store_row(m0 + 11u, n0, c11l, c11h);
  store_row(m0 + 12u, n0, c12l, c12h);
  store_row(m0 + 13u, n0, c13l, c13h);
  store_row(m0 + 14u, n0, c14l, c14h);
  store_row(m0 + 15u, n0, c15l, c15h);
  store_row(m0 + 16u, n0, c16l, c16h);
  store_row(m0 + 17u, n0, c17l, c17h);
  store_row(m0 + 18u, n0, c18l, c18h);
  store_row(m0 + 19u, n0, c19l, c19h);
  store_row(m0 + 20u, n0, c20l, c20h);
  store_row(m0 + 21u, n0, c21l, c21h);
  store_row(m0 + 22u, n0, c22l, c22h);
  store_row(m0 + 23u, n0, c23l, c23h);
}

// ---------------------------------------------------------------------------------------------
// gemm_tiled: workgroup-memory tiling for GPUs. 16 x 16 invocations, each a 4 x 4 block of the
// 64 x 64 block of C (rows m0 + 4 lid.y + i, columns n0 + 4 lid.x + j). The tiles hold vec4s of
// four neighbouring rows (of A) or columns (of B): one load per operand and k step. (Kept small:
// on the GL backend, compile time grows fast with the number of workgroup array elements; with
// 2 x 1024 f32 it took over 30 s.)
// Dispatch (ceil(N / 64), ceil(M / 64)).

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 8u;

var<workgroup> tile_a: array<vec4<f32>, 128>; // [kk * 16 + m / 4][m % 4], BK x BM values
var<workgroup> tile_b: array<vec4<f32>, 128>; // [kk * 16 + n / 4][n % 4], BK x BN values

@compute @workgroup_size(16, 16)
fn gemm_tiled(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  var acc: array<vec4<f32>, 4>; // acc[i][j]: row m0 + 4 lid.y + i, column n0 + 4 lid.x + j
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // 512 values of each tile, 2 per invocation; the fast index follows memory order.
    for (var r = 0u; r < 2u; r++) {
      let e = li + r * 256u;
      var kk: u32;
      var mm: u32;
      if (TRANS_A) {
        kk = e / BM;
        mm = e % BM;
      } else {
        mm = e / BK;
        kk = e % BK;
      }
      var va = 0.0;
      if (m0 + mm < p.M && k0 + kk < p.K) {
        va = load_a(m0 + mm, k0 + kk);
      }
      tile_a[kk * 16u + mm / 4u][mm % 4u] = va;
      var nn: u32;
      if (TRANS_B) {
        nn = e / BK;
        kk = e % BK;
      } else {
        kk = e / BN;
        nn = e % BN;
      }
      var vb = 0.0;
      if (n0 + nn < p.N && k0 + kk < p.K) {
        vb = load_b(k0 + kk, n0 + nn);
      }
      tile_b[kk * 16u + nn / 4u][nn % 4u] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let av = tile_a[kk * 16u + lid.y];
      let bv = tile_b[kk * 16u + lid.x];
      for (var i = 0u; i < 4u; i++) {
        acc[i] = fma(vec4<f32>(av[i]), bv, acc[i]);
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + 4u * lid.y + i;
    if (m >= p.M) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + 4u * lid.x + j;
      if (n < p.N) {
        store_c(m, n, acc[i][j]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bias gradient: dbias (OC) += sum over N rows of dout (N, OC). One invocation per column, rows
// in order (neighbouring invocations read neighbouring columns). Dispatch grid(ceil(OC / WG)).

struct BiasParams {
  N: u32,
  OC: u32,
}

@group(0) @binding(0) var<storage, read_write> dbias: array<f32>; // (OC)
@group(0) @binding(1) var<storage, read> dout: array<f32>; // (N, OC)
@group(0) @binding(2) var<uniform> pb: BiasParams;

@compute @workgroup_size(WG)
fn bias_backward(@builtin(global_invocation_id) gid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= pb.OC) {
    return;
  }
  // Four partial sums over interleaved rows, combined in a fixed order.
  var s = vec4<f32>(0.0);
  var r = 0u;
  for (; r + 3u < pb.N; r += 4u) {
    s += vec4<f32>(
      dout[r * pb.OC + o],
      dout[(r + 1u) * pb.OC + o],
      dout[(r + 2u) * pb.OC + o],
      dout[(r + 3u) * pb.OC + o],
    );
  }
  for (; r < pb.N; r++) {
    s.x += dout[r * pb.OC + o];
  }
  dbias[o] += (s.x + s.y) + (s.z + s.w);
}
