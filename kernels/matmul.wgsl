// Matrix products of the linear layers (llm.c layout: weight (OC, C) row-major, bias (OC)).
//
// One general product serves forward and backward:
//   C (M, N) (+)= alpha * op(A) (M, K) @ op(B) (K, N) [+ bias (N)]
// where op(A) = A stored (M, K), or A^T when TRANS_A (A stored (K, M)), and op(B) = B stored (K, N),
// or B^T when TRANS_B (B stored (N, K)). All matrices are row-major and densely packed.
//   forward  out (N, OC)     = inp (N, C) @ weight^T          TRANS_B, bias
//   backward dinp (N, C)     = dout (N, OC) @ weight (OC, C)
//            dweight (OC, C) += dout^T @ inp (N, C)           TRANS_A, ACCUMULATE
//
// Two variants of the product, both summing over k in ascending order with one fma per step:
// - gemm_reg, for CPU adapters: no workgroup memory and no barriers. Each invocation keeps a
//   TM x TN block of C in registers; the TM rows are the same for the whole workgroup (their A
//   values are uniform loads) and the TN columns of one invocation are WG apart, so that
//   neighbouring invocations (SIMD lanes) read neighbouring columns of B.
// - gemm_tiled, for GPUs: 64 x 64 blocks of C per workgroup of 256, A and B staged through
//   workgroup memory in K steps of 8, 4 x 4 outputs per invocation.
// Edges: loads clamp (reg) or zero-fill (tiled) out-of-range rows and columns; stores are guarded.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUMULATE: bool = false;
override HAS_BIAS: bool = false;
// Invocations per workgroup of gemm_reg (the tiled variant's shape is fixed below).
override WG: u32 = 32;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  alpha: f32,
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>; // (M, N)
@group(0) @binding(1) var<storage, read> a: array<f32>; // (M, K), or (K, M) if TRANS_A
@group(0) @binding(2) var<storage, read> b: array<f32>; // (K, N), or (N, K) if TRANS_B
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (N), read only if HAS_BIAS
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

const TM: u32 = 16u; // rows of C per invocation (shared by the workgroup)
const TN: u32 = 4u; // columns of C per invocation, WG apart

@compute @workgroup_size(WG)
fn gemm_reg(@builtin(workgroup_id) wid: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = wid.y * TM;
  let n0 = wid.x * (WG * TN) + lid.x;
  // Clamped indices keep every load in range without branches in the inner loop.
  var rows: array<u32, TM>;
  for (var i = 0u; i < TM; i++) {
    rows[i] = min(m0 + i, p.M - 1u);
  }
  let cols = min(vec4<u32>(n0, n0 + WG, n0 + 2u * WG, n0 + 3u * WG), vec4<u32>(p.N - 1u));
  var acc: array<vec4<f32>, TM>;
  for (var k = 0u; k < p.K; k++) {
    let bk = vec4<f32>(load_b(k, cols.x), load_b(k, cols.y), load_b(k, cols.z), load_b(k, cols.w));
    for (var i = 0u; i < TM; i++) {
      acc[i] = fma(vec4<f32>(load_a(rows[i], k)), bk, acc[i]);
    }
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= p.M) {
      break;
    }
    for (var j = 0u; j < TN; j++) {
      let n = n0 + j * WG;
      if (n < p.N) {
        store_c(m, n, acc[i][j]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// gemm_tiled: workgroup-memory tiling for GPUs. 16 x 16 invocations, each a 4 x 4 block of the
// 64 x 64 block of C (rows m0 + 4 lid.y + i, columns n0 + 4 lid.x + j). The tiles hold vec4s of
// four neighbouring rows (of A) or columns (of B): one load per operand and k step. (Kept small:
// the GL backend compiles the zero-initialisation of workgroup arrays slowly, per element.)
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
