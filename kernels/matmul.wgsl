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
// Variants of the product, all summing over k in ascending order with one fma per step:
// - gemm_reg, for CPU adapters: no workgroup memory and no barriers. Each invocation keeps a
//   TM x TN (24 x 8) block of C in registers; the TM rows are the same for the whole workgroup
//   (their A values are uniform loads) and the TN columns of one invocation are WG apart, so
//   that neighbouring invocations (SIMD lanes) read neighbouring columns of B. Any sizes.
// - gemm_dot, gemm_nn and gemm_tn, for CPU adapters: the same scheme with vec4 loads, for the
//   three products of a linear layer when the dimension read contiguously is a multiple of 4.
//   On llvmpipe every storage load of a varying address becomes a loop over the SIMD lanes with a
//   bounds check per lane, so the number of load instructions, not the fmas, sets the speed: a
//   vec4 load costs little more than a scalar one.
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
override TRANS_C: bool = false; // C is stored (N, M): element (m, n) at n * M + m
// A fused GELU after the product (gelu_value and gelu_slope: gelu_math.wgsl, put in front by the
// launcher), applied to each finished element x of C, with aux indexed like C:
//   1: aux = gelu(x) as well (the forward of an MLP's first layer: C its input, aux its output)
//   2: C = x * gelu'(aux) (the input gradient of that layer's output, aux its input: dfch)
override EPILOGUE: u32 = 0u;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  alpha: f32,
  // This pass sums over k0 <= k < k1 (CPU adapters stop a loop after 65535 iterations, so a long
  // K is split into passes that accumulate). Multiples of 4 (of 8 for gemm_tiled).
  k0: u32,
  k1: u32,
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>; // (M, N), or (N, M) if TRANS_C
@group(0) @binding(1) var<storage, read> a: array<f32>; // (M, K), or (K, M) if TRANS_A
@group(0) @binding(2) var<storage, read> b: array<f32>; // (K, N), or (N, K) if TRANS_B
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (N), used only if HAS_BIAS
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> aux: array<f32>; // like C, used only if EPILOGUE
// The same operands read 16 bytes at a time (the vec4 variants; the tensors are 256-byte aligned).
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;

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

// Writes one finished element of C: alpha * sum, plus bias, plus the old value, then the
// EPILOGUE.
fn store_c(m: u32, n: u32, sum: f32) {
  var v = p.alpha * sum;
  if (HAS_BIAS) {
    v += bias[n];
  }
  let i = select(m * p.N + n, n * p.M + m, TRANS_C);
  if (ACCUMULATE) {
    v += c[i];
  }
  if (EPILOGUE == 1u) {
    aux[i] = gelu_value(v);
  }
  if (EPILOGUE == 2u) {
    v *= gelu_slope(aux[i]);
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
  for (var k = p.k0; k < p.k1; k++) {
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
// vec4 variants for CPU adapters: the scheme of gemm_reg (rows the same for the whole workgroup,
// columns WG apart over the invocations, clamped loads, guarded stores), unrolled by hand.
// Tiles measured on lavapipe (GFLOP/s per CPU second, relative to gemm_reg = 1 on the same
// product, N = 768; noisy): gemm_dot 8 x 8: 1.3, 16 x 8: 1.15-1.6, 24 x 8: 1.2-1.6, 16 x 12:
// 1.6, 24 x 12: 1.6 (and 2.6 s to compile); gemm_nn 8 x 2 vec4: 1.1-1.3, 16 x 2: 1.2, 12 x 3:
// 1.35; gemm_tn 4 x 2 vec4: 1.4, 4 x 3: 1.65, 4 x 4: 1.35. The chosen tiles span 256 columns
// per workgroup, as gemm_reg: wider ones leave lanes idle on the C = 256 products.

// gemm_dot: out = A (M, K) @ B^T with B stored (N, K) (TRANS_B, not TRANS_A), K % 4 == 0. Both
// operands are read as vec4s along k; each invocation owns a DOT_TM x DOT_TN block of scalar
// sums (rows m0 + i, columns n0 + j WG). Dispatch (ceil(N / (WG * DOT_TN)), ceil(M / DOT_TM)).
const DOT_TM: u32 = 24u;
const DOT_TN: u32 = 8u;

// s + a . b, in the order x, y, z, w (one fma per k step, as in every variant).
fn dot4(a: vec4<f32>, b: vec4<f32>, s: f32) -> f32 {
  return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, s))));
}

// Stores row m of a gemm_nn or gemm_tn block: columns 4 (g0 + j WG) + e, j = 0..1, e = 0..3.
// N % 4 == 0, so a vec4 of columns is either all inside or all outside.
fn store_row4x2(m: u32, g0: u32, s0: vec4<f32>, s1: vec4<f32>) {
  if (m >= p.M) {
    return;
  }
  for (var j = 0u; j < 2u; j++) {
    let n = 4u * (g0 + j * WG);
    if (n < p.N) {
      var v = s0;
      if (j == 1u) {
        v = s1;
      }
      for (var e = 0u; e < 4u; e++) {
        store_c(m, n + e, v[e]);
      }
    }
  }
}

// gemm_nn: C = A (M, K) @ B (K, N) (no transposes), K % 4 == 0 and N % 4 == 0. A is read as vec4s
// along k (uniform over the workgroup), B as vec4s along n; each invocation owns NN_TM rows and
// NN_TNV vec4s of columns, WG vec4s apart. Dispatch (ceil(N / (4 WG NN_TNV)), ceil(M / NN_TM)).
const NN_TM: u32 = 16u;
const NN_TNV: u32 = 2u;

// gemm_tn: C = A^T @ B with A stored (K, M) and B (K, N) (TRANS_A, not TRANS_B), M % 4 == 0 and
// N % 4 == 0. Both are read as vec4s along their rows: a rank-1 update of a block of 4 TN_TMV
// rows (uniform over the workgroup) by 4 TN_TNV columns (TN_TNV vec4s, WG vec4s apart) per k.
// Dispatch (ceil(N / (4 WG TN_TNV)), ceil(M / (4 TN_TMV))).
const TN_TMV: u32 = 4u;
const TN_TNV: u32 = 2u;

@compute @workgroup_size(WG)
fn gemm_dot(@builtin(workgroup_id) wid: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = wid.y * DOT_TM;
  let n0 = wid.x * (WG * DOT_TN) + lid.x;
  let K4 = p.K / 4u;
  // Row starts (in vec4s) of the clamped rows of A and B.
  let ra0 = min(m0 + 0u, p.M - 1u) * K4;
  let ra1 = min(m0 + 1u, p.M - 1u) * K4;
  let ra2 = min(m0 + 2u, p.M - 1u) * K4;
  let ra3 = min(m0 + 3u, p.M - 1u) * K4;
  let ra4 = min(m0 + 4u, p.M - 1u) * K4;
  let ra5 = min(m0 + 5u, p.M - 1u) * K4;
  let ra6 = min(m0 + 6u, p.M - 1u) * K4;
  let ra7 = min(m0 + 7u, p.M - 1u) * K4;
  let ra8 = min(m0 + 8u, p.M - 1u) * K4;
  let ra9 = min(m0 + 9u, p.M - 1u) * K4;
  let ra10 = min(m0 + 10u, p.M - 1u) * K4;
  let ra11 = min(m0 + 11u, p.M - 1u) * K4;
  let ra12 = min(m0 + 12u, p.M - 1u) * K4;
  let ra13 = min(m0 + 13u, p.M - 1u) * K4;
  let ra14 = min(m0 + 14u, p.M - 1u) * K4;
  let ra15 = min(m0 + 15u, p.M - 1u) * K4;
  let ra16 = min(m0 + 16u, p.M - 1u) * K4;
  let ra17 = min(m0 + 17u, p.M - 1u) * K4;
  let ra18 = min(m0 + 18u, p.M - 1u) * K4;
  let ra19 = min(m0 + 19u, p.M - 1u) * K4;
  let ra20 = min(m0 + 20u, p.M - 1u) * K4;
  let ra21 = min(m0 + 21u, p.M - 1u) * K4;
  let ra22 = min(m0 + 22u, p.M - 1u) * K4;
  let ra23 = min(m0 + 23u, p.M - 1u) * K4;
  let rb0 = min(n0 + 0u * WG, p.N - 1u) * K4;
  let rb1 = min(n0 + 1u * WG, p.N - 1u) * K4;
  let rb2 = min(n0 + 2u * WG, p.N - 1u) * K4;
  let rb3 = min(n0 + 3u * WG, p.N - 1u) * K4;
  let rb4 = min(n0 + 4u * WG, p.N - 1u) * K4;
  let rb5 = min(n0 + 5u * WG, p.N - 1u) * K4;
  let rb6 = min(n0 + 6u * WG, p.N - 1u) * K4;
  let rb7 = min(n0 + 7u * WG, p.N - 1u) * K4;
  // s<i>_<j>: row m0 + i, column n0 + j WG.
  var s0_0 = 0.0; var s0_1 = 0.0; var s0_2 = 0.0; var s0_3 = 0.0; var s0_4 = 0.0; var s0_5 = 0.0;
  var s0_6 = 0.0; var s0_7 = 0.0;
  var s1_0 = 0.0; var s1_1 = 0.0; var s1_2 = 0.0; var s1_3 = 0.0; var s1_4 = 0.0; var s1_5 = 0.0;
  var s1_6 = 0.0; var s1_7 = 0.0;
  var s2_0 = 0.0; var s2_1 = 0.0; var s2_2 = 0.0; var s2_3 = 0.0; var s2_4 = 0.0; var s2_5 = 0.0;
  var s2_6 = 0.0; var s2_7 = 0.0;
  var s3_0 = 0.0; var s3_1 = 0.0; var s3_2 = 0.0; var s3_3 = 0.0; var s3_4 = 0.0; var s3_5 = 0.0;
  var s3_6 = 0.0; var s3_7 = 0.0;
  var s4_0 = 0.0; var s4_1 = 0.0; var s4_2 = 0.0; var s4_3 = 0.0; var s4_4 = 0.0; var s4_5 = 0.0;
  var s4_6 = 0.0; var s4_7 = 0.0;
  var s5_0 = 0.0; var s5_1 = 0.0; var s5_2 = 0.0; var s5_3 = 0.0; var s5_4 = 0.0; var s5_5 = 0.0;
  var s5_6 = 0.0; var s5_7 = 0.0;
  var s6_0 = 0.0; var s6_1 = 0.0; var s6_2 = 0.0; var s6_3 = 0.0; var s6_4 = 0.0; var s6_5 = 0.0;
  var s6_6 = 0.0; var s6_7 = 0.0;
  var s7_0 = 0.0; var s7_1 = 0.0; var s7_2 = 0.0; var s7_3 = 0.0; var s7_4 = 0.0; var s7_5 = 0.0;
  var s7_6 = 0.0; var s7_7 = 0.0;
  var s8_0 = 0.0; var s8_1 = 0.0; var s8_2 = 0.0; var s8_3 = 0.0; var s8_4 = 0.0; var s8_5 = 0.0;
  var s8_6 = 0.0; var s8_7 = 0.0;
  var s9_0 = 0.0; var s9_1 = 0.0; var s9_2 = 0.0; var s9_3 = 0.0; var s9_4 = 0.0; var s9_5 = 0.0;
  var s9_6 = 0.0; var s9_7 = 0.0;
  var s10_0 = 0.0; var s10_1 = 0.0; var s10_2 = 0.0; var s10_3 = 0.0; var s10_4 = 0.0;
  var s10_5 = 0.0; var s10_6 = 0.0; var s10_7 = 0.0;
  var s11_0 = 0.0; var s11_1 = 0.0; var s11_2 = 0.0; var s11_3 = 0.0; var s11_4 = 0.0;
  var s11_5 = 0.0; var s11_6 = 0.0; var s11_7 = 0.0;
  var s12_0 = 0.0; var s12_1 = 0.0; var s12_2 = 0.0; var s12_3 = 0.0; var s12_4 = 0.0;
  var s12_5 = 0.0; var s12_6 = 0.0; var s12_7 = 0.0;
  var s13_0 = 0.0; var s13_1 = 0.0; var s13_2 = 0.0; var s13_3 = 0.0; var s13_4 = 0.0;
  var s13_5 = 0.0; var s13_6 = 0.0; var s13_7 = 0.0;
  var s14_0 = 0.0; var s14_1 = 0.0; var s14_2 = 0.0; var s14_3 = 0.0; var s14_4 = 0.0;
  var s14_5 = 0.0; var s14_6 = 0.0; var s14_7 = 0.0;
  var s15_0 = 0.0; var s15_1 = 0.0; var s15_2 = 0.0; var s15_3 = 0.0; var s15_4 = 0.0;
  var s15_5 = 0.0; var s15_6 = 0.0; var s15_7 = 0.0;
  var s16_0 = 0.0; var s16_1 = 0.0; var s16_2 = 0.0; var s16_3 = 0.0; var s16_4 = 0.0;
  var s16_5 = 0.0; var s16_6 = 0.0; var s16_7 = 0.0;
  var s17_0 = 0.0; var s17_1 = 0.0; var s17_2 = 0.0; var s17_3 = 0.0; var s17_4 = 0.0;
  var s17_5 = 0.0; var s17_6 = 0.0; var s17_7 = 0.0;
  var s18_0 = 0.0; var s18_1 = 0.0; var s18_2 = 0.0; var s18_3 = 0.0; var s18_4 = 0.0;
  var s18_5 = 0.0; var s18_6 = 0.0; var s18_7 = 0.0;
  var s19_0 = 0.0; var s19_1 = 0.0; var s19_2 = 0.0; var s19_3 = 0.0; var s19_4 = 0.0;
  var s19_5 = 0.0; var s19_6 = 0.0; var s19_7 = 0.0;
  var s20_0 = 0.0; var s20_1 = 0.0; var s20_2 = 0.0; var s20_3 = 0.0; var s20_4 = 0.0;
  var s20_5 = 0.0; var s20_6 = 0.0; var s20_7 = 0.0;
  var s21_0 = 0.0; var s21_1 = 0.0; var s21_2 = 0.0; var s21_3 = 0.0; var s21_4 = 0.0;
  var s21_5 = 0.0; var s21_6 = 0.0; var s21_7 = 0.0;
  var s22_0 = 0.0; var s22_1 = 0.0; var s22_2 = 0.0; var s22_3 = 0.0; var s22_4 = 0.0;
  var s22_5 = 0.0; var s22_6 = 0.0; var s22_7 = 0.0;
  var s23_0 = 0.0; var s23_1 = 0.0; var s23_2 = 0.0; var s23_3 = 0.0; var s23_4 = 0.0;
  var s23_5 = 0.0; var s23_6 = 0.0; var s23_7 = 0.0;
  for (var k = p.k0 / 4u; k < p.k1 / 4u; k++) {
    let y0 = b4[rb0 + k]; let y1 = b4[rb1 + k]; let y2 = b4[rb2 + k]; let y3 = b4[rb3 + k];
    let y4 = b4[rb4 + k]; let y5 = b4[rb5 + k]; let y6 = b4[rb6 + k]; let y7 = b4[rb7 + k];
    let x0 = a4[ra0 + k];
    s0_0 = dot4(x0, y0, s0_0); s0_1 = dot4(x0, y1, s0_1); s0_2 = dot4(x0, y2, s0_2);
    s0_3 = dot4(x0, y3, s0_3);
    s0_4 = dot4(x0, y4, s0_4); s0_5 = dot4(x0, y5, s0_5); s0_6 = dot4(x0, y6, s0_6);
    s0_7 = dot4(x0, y7, s0_7);
    let x1 = a4[ra1 + k];
    s1_0 = dot4(x1, y0, s1_0); s1_1 = dot4(x1, y1, s1_1); s1_2 = dot4(x1, y2, s1_2);
    s1_3 = dot4(x1, y3, s1_3);
    s1_4 = dot4(x1, y4, s1_4); s1_5 = dot4(x1, y5, s1_5); s1_6 = dot4(x1, y6, s1_6);
    s1_7 = dot4(x1, y7, s1_7);
    let x2 = a4[ra2 + k];
    s2_0 = dot4(x2, y0, s2_0); s2_1 = dot4(x2, y1, s2_1); s2_2 = dot4(x2, y2, s2_2);
    s2_3 = dot4(x2, y3, s2_3);
    s2_4 = dot4(x2, y4, s2_4); s2_5 = dot4(x2, y5, s2_5); s2_6 = dot4(x2, y6, s2_6);
    s2_7 = dot4(x2, y7, s2_7);
    let x3 = a4[ra3 + k];
    s3_0 = dot4(x3, y0, s3_0); s3_1 = dot4(x3, y1, s3_1); s3_2 = dot4(x3, y2, s3_2);
    s3_3 = dot4(x3, y3, s3_3);
    s3_4 = dot4(x3, y4, s3_4); s3_5 = dot4(x3, y5, s3_5); s3_6 = dot4(x3, y6, s3_6);
    s3_7 = dot4(x3, y7, s3_7);
    let x4 = a4[ra4 + k];
    s4_0 = dot4(x4, y0, s4_0); s4_1 = dot4(x4, y1, s4_1); s4_2 = dot4(x4, y2, s4_2);
    s4_3 = dot4(x4, y3, s4_3);
    s4_4 = dot4(x4, y4, s4_4); s4_5 = dot4(x4, y5, s4_5); s4_6 = dot4(x4, y6, s4_6);
    s4_7 = dot4(x4, y7, s4_7);
    let x5 = a4[ra5 + k];
    s5_0 = dot4(x5, y0, s5_0); s5_1 = dot4(x5, y1, s5_1); s5_2 = dot4(x5, y2, s5_2);
    s5_3 = dot4(x5, y3, s5_3);
    s5_4 = dot4(x5, y4, s5_4); s5_5 = dot4(x5, y5, s5_5); s5_6 = dot4(x5, y6, s5_6);
    s5_7 = dot4(x5, y7, s5_7);
    let x6 = a4[ra6 + k];
    s6_0 = dot4(x6, y0, s6_0); s6_1 = dot4(x6, y1, s6_1); s6_2 = dot4(x6, y2, s6_2);
    s6_3 = dot4(x6, y3, s6_3);
    s6_4 = dot4(x6, y4, s6_4); s6_5 = dot4(x6, y5, s6_5); s6_6 = dot4(x6, y6, s6_6);
    s6_7 = dot4(x6, y7, s6_7);
    let x7 = a4[ra7 + k];
    s7_0 = dot4(x7, y0, s7_0); s7_1 = dot4(x7, y1, s7_1); s7_2 = dot4(x7, y2, s7_2);
    s7_3 = dot4(x7, y3, s7_3);
    s7_4 = dot4(x7, y4, s7_4); s7_5 = dot4(x7, y5, s7_5); s7_6 = dot4(x7, y6, s7_6);
    s7_7 = dot4(x7, y7, s7_7);
    let x8 = a4[ra8 + k];
    s8_0 = dot4(x8, y0, s8_0); s8_1 = dot4(x8, y1, s8_1); s8_2 = dot4(x8, y2, s8_2);
    s8_3 = dot4(x8, y3, s8_3);
    s8_4 = dot4(x8, y4, s8_4); s8_5 = dot4(x8, y5, s8_5); s8_6 = dot4(x8, y6, s8_6);
    s8_7 = dot4(x8, y7, s8_7);
    let x9 = a4[ra9 + k];
    s9_0 = dot4(x9, y0, s9_0); s9_1 = dot4(x9, y1, s9_1); s9_2 = dot4(x9, y2, s9_2);
    s9_3 = dot4(x9, y3, s9_3);
    s9_4 = dot4(x9, y4, s9_4); s9_5 = dot4(x9, y5, s9_5); s9_6 = dot4(x9, y6, s9_6);
    s9_7 = dot4(x9, y7, s9_7);
    let x10 = a4[ra10 + k];
    s10_0 = dot4(x10, y0, s10_0); s10_1 = dot4(x10, y1, s10_1); s10_2 = dot4(x10, y2, s10_2);
    s10_3 = dot4(x10, y3, s10_3);
    s10_4 = dot4(x10, y4, s10_4); s10_5 = dot4(x10, y5, s10_5); s10_6 = dot4(x10, y6, s10_6);
    s10_7 = dot4(x10, y7, s10_7);
    let x11 = a4[ra11 + k];
    s11_0 = dot4(x11, y0, s11_0); s11_1 = dot4(x11, y1, s11_1); s11_2 = dot4(x11, y2, s11_2);
    s11_3 = dot4(x11, y3, s11_3);
    s11_4 = dot4(x11, y4, s11_4); s11_5 = dot4(x11, y5, s11_5); s11_6 = dot4(x11, y6, s11_6);
    s11_7 = dot4(x11, y7, s11_7);
    let x12 = a4[ra12 + k];
    s12_0 = dot4(x12, y0, s12_0); s12_1 = dot4(x12, y1, s12_1); s12_2 = dot4(x12, y2, s12_2);
    s12_3 = dot4(x12, y3, s12_3);
    s12_4 = dot4(x12, y4, s12_4); s12_5 = dot4(x12, y5, s12_5); s12_6 = dot4(x12, y6, s12_6);
    s12_7 = dot4(x12, y7, s12_7);
    let x13 = a4[ra13 + k];
    s13_0 = dot4(x13, y0, s13_0); s13_1 = dot4(x13, y1, s13_1); s13_2 = dot4(x13, y2, s13_2);
    s13_3 = dot4(x13, y3, s13_3);
    s13_4 = dot4(x13, y4, s13_4); s13_5 = dot4(x13, y5, s13_5); s13_6 = dot4(x13, y6, s13_6);
    s13_7 = dot4(x13, y7, s13_7);
    let x14 = a4[ra14 + k];
    s14_0 = dot4(x14, y0, s14_0); s14_1 = dot4(x14, y1, s14_1); s14_2 = dot4(x14, y2, s14_2);
    s14_3 = dot4(x14, y3, s14_3);
    s14_4 = dot4(x14, y4, s14_4); s14_5 = dot4(x14, y5, s14_5); s14_6 = dot4(x14, y6, s14_6);
    s14_7 = dot4(x14, y7, s14_7);
    let x15 = a4[ra15 + k];
    s15_0 = dot4(x15, y0, s15_0); s15_1 = dot4(x15, y1, s15_1); s15_2 = dot4(x15, y2, s15_2);
    s15_3 = dot4(x15, y3, s15_3);
    s15_4 = dot4(x15, y4, s15_4); s15_5 = dot4(x15, y5, s15_5); s15_6 = dot4(x15, y6, s15_6);
    s15_7 = dot4(x15, y7, s15_7);
    let x16 = a4[ra16 + k];
    s16_0 = dot4(x16, y0, s16_0); s16_1 = dot4(x16, y1, s16_1); s16_2 = dot4(x16, y2, s16_2);
    s16_3 = dot4(x16, y3, s16_3);
    s16_4 = dot4(x16, y4, s16_4); s16_5 = dot4(x16, y5, s16_5); s16_6 = dot4(x16, y6, s16_6);
    s16_7 = dot4(x16, y7, s16_7);
    let x17 = a4[ra17 + k];
    s17_0 = dot4(x17, y0, s17_0); s17_1 = dot4(x17, y1, s17_1); s17_2 = dot4(x17, y2, s17_2);
    s17_3 = dot4(x17, y3, s17_3);
    s17_4 = dot4(x17, y4, s17_4); s17_5 = dot4(x17, y5, s17_5); s17_6 = dot4(x17, y6, s17_6);
    s17_7 = dot4(x17, y7, s17_7);
    let x18 = a4[ra18 + k];
    s18_0 = dot4(x18, y0, s18_0); s18_1 = dot4(x18, y1, s18_1); s18_2 = dot4(x18, y2, s18_2);
    s18_3 = dot4(x18, y3, s18_3);
    s18_4 = dot4(x18, y4, s18_4); s18_5 = dot4(x18, y5, s18_5); s18_6 = dot4(x18, y6, s18_6);
    s18_7 = dot4(x18, y7, s18_7);
    let x19 = a4[ra19 + k];
    s19_0 = dot4(x19, y0, s19_0); s19_1 = dot4(x19, y1, s19_1); s19_2 = dot4(x19, y2, s19_2);
    s19_3 = dot4(x19, y3, s19_3);
    s19_4 = dot4(x19, y4, s19_4); s19_5 = dot4(x19, y5, s19_5); s19_6 = dot4(x19, y6, s19_6);
    s19_7 = dot4(x19, y7, s19_7);
    let x20 = a4[ra20 + k];
    s20_0 = dot4(x20, y0, s20_0); s20_1 = dot4(x20, y1, s20_1); s20_2 = dot4(x20, y2, s20_2);
    s20_3 = dot4(x20, y3, s20_3);
    s20_4 = dot4(x20, y4, s20_4); s20_5 = dot4(x20, y5, s20_5); s20_6 = dot4(x20, y6, s20_6);
    s20_7 = dot4(x20, y7, s20_7);
    let x21 = a4[ra21 + k];
    s21_0 = dot4(x21, y0, s21_0); s21_1 = dot4(x21, y1, s21_1); s21_2 = dot4(x21, y2, s21_2);
    s21_3 = dot4(x21, y3, s21_3);
    s21_4 = dot4(x21, y4, s21_4); s21_5 = dot4(x21, y5, s21_5); s21_6 = dot4(x21, y6, s21_6);
    s21_7 = dot4(x21, y7, s21_7);
    let x22 = a4[ra22 + k];
    s22_0 = dot4(x22, y0, s22_0); s22_1 = dot4(x22, y1, s22_1); s22_2 = dot4(x22, y2, s22_2);
    s22_3 = dot4(x22, y3, s22_3);
    s22_4 = dot4(x22, y4, s22_4); s22_5 = dot4(x22, y5, s22_5); s22_6 = dot4(x22, y6, s22_6);
    s22_7 = dot4(x22, y7, s22_7);
    let x23 = a4[ra23 + k];
    s23_0 = dot4(x23, y0, s23_0); s23_1 = dot4(x23, y1, s23_1); s23_2 = dot4(x23, y2, s23_2);
    s23_3 = dot4(x23, y3, s23_3);
    s23_4 = dot4(x23, y4, s23_4); s23_5 = dot4(x23, y5, s23_5); s23_6 = dot4(x23, y6, s23_6);
    s23_7 = dot4(x23, y7, s23_7);
  }
  store_row(m0 + 0u, n0, vec4(s0_0, s0_1, s0_2, s0_3), vec4(s0_4, s0_5, s0_6, s0_7));
  store_row(m0 + 1u, n0, vec4(s1_0, s1_1, s1_2, s1_3), vec4(s1_4, s1_5, s1_6, s1_7));
  store_row(m0 + 2u, n0, vec4(s2_0, s2_1, s2_2, s2_3), vec4(s2_4, s2_5, s2_6, s2_7));
  store_row(m0 + 3u, n0, vec4(s3_0, s3_1, s3_2, s3_3), vec4(s3_4, s3_5, s3_6, s3_7));
  store_row(m0 + 4u, n0, vec4(s4_0, s4_1, s4_2, s4_3), vec4(s4_4, s4_5, s4_6, s4_7));
  store_row(m0 + 5u, n0, vec4(s5_0, s5_1, s5_2, s5_3), vec4(s5_4, s5_5, s5_6, s5_7));
  store_row(m0 + 6u, n0, vec4(s6_0, s6_1, s6_2, s6_3), vec4(s6_4, s6_5, s6_6, s6_7));
  store_row(m0 + 7u, n0, vec4(s7_0, s7_1, s7_2, s7_3), vec4(s7_4, s7_5, s7_6, s7_7));
  store_row(m0 + 8u, n0, vec4(s8_0, s8_1, s8_2, s8_3), vec4(s8_4, s8_5, s8_6, s8_7));
  store_row(m0 + 9u, n0, vec4(s9_0, s9_1, s9_2, s9_3), vec4(s9_4, s9_5, s9_6, s9_7));
  store_row(m0 + 10u, n0, vec4(s10_0, s10_1, s10_2, s10_3), vec4(s10_4, s10_5, s10_6, s10_7));
  store_row(m0 + 11u, n0, vec4(s11_0, s11_1, s11_2, s11_3), vec4(s11_4, s11_5, s11_6, s11_7));
  store_row(m0 + 12u, n0, vec4(s12_0, s12_1, s12_2, s12_3), vec4(s12_4, s12_5, s12_6, s12_7));
  store_row(m0 + 13u, n0, vec4(s13_0, s13_1, s13_2, s13_3), vec4(s13_4, s13_5, s13_6, s13_7));
  store_row(m0 + 14u, n0, vec4(s14_0, s14_1, s14_2, s14_3), vec4(s14_4, s14_5, s14_6, s14_7));
  store_row(m0 + 15u, n0, vec4(s15_0, s15_1, s15_2, s15_3), vec4(s15_4, s15_5, s15_6, s15_7));
  store_row(m0 + 16u, n0, vec4(s16_0, s16_1, s16_2, s16_3), vec4(s16_4, s16_5, s16_6, s16_7));
  store_row(m0 + 17u, n0, vec4(s17_0, s17_1, s17_2, s17_3), vec4(s17_4, s17_5, s17_6, s17_7));
  store_row(m0 + 18u, n0, vec4(s18_0, s18_1, s18_2, s18_3), vec4(s18_4, s18_5, s18_6, s18_7));
  store_row(m0 + 19u, n0, vec4(s19_0, s19_1, s19_2, s19_3), vec4(s19_4, s19_5, s19_6, s19_7));
  store_row(m0 + 20u, n0, vec4(s20_0, s20_1, s20_2, s20_3), vec4(s20_4, s20_5, s20_6, s20_7));
  store_row(m0 + 21u, n0, vec4(s21_0, s21_1, s21_2, s21_3), vec4(s21_4, s21_5, s21_6, s21_7));
  store_row(m0 + 22u, n0, vec4(s22_0, s22_1, s22_2, s22_3), vec4(s22_4, s22_5, s22_6, s22_7));
  store_row(m0 + 23u, n0, vec4(s23_0, s23_1, s23_2, s23_3), vec4(s23_4, s23_5, s23_6, s23_7));
}

@compute @workgroup_size(WG)
fn gemm_nn(@builtin(workgroup_id) wid: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = wid.y * NN_TM;
  let g0 = wid.x * (WG * NN_TNV) + lid.x; // first vec4 column group
  let K4 = p.K / 4u;
  let N4 = p.N / 4u;
  let ra0 = min(m0 + 0u, p.M - 1u) * K4;
  let ra1 = min(m0 + 1u, p.M - 1u) * K4;
  let ra2 = min(m0 + 2u, p.M - 1u) * K4;
  let ra3 = min(m0 + 3u, p.M - 1u) * K4;
  let ra4 = min(m0 + 4u, p.M - 1u) * K4;
  let ra5 = min(m0 + 5u, p.M - 1u) * K4;
  let ra6 = min(m0 + 6u, p.M - 1u) * K4;
  let ra7 = min(m0 + 7u, p.M - 1u) * K4;
  let ra8 = min(m0 + 8u, p.M - 1u) * K4;
  let ra9 = min(m0 + 9u, p.M - 1u) * K4;
  let ra10 = min(m0 + 10u, p.M - 1u) * K4;
  let ra11 = min(m0 + 11u, p.M - 1u) * K4;
  let ra12 = min(m0 + 12u, p.M - 1u) * K4;
  let ra13 = min(m0 + 13u, p.M - 1u) * K4;
  let ra14 = min(m0 + 14u, p.M - 1u) * K4;
  let ra15 = min(m0 + 15u, p.M - 1u) * K4;
  let q0 = min(g0 + 0u * WG, N4 - 1u);
  let q1 = min(g0 + 1u * WG, N4 - 1u);
  // s<i>_<j>: row m0 + i, columns 4 (g0 + j WG) + 0..3.
  var s0_0 = vec4<f32>(); var s0_1 = vec4<f32>();
  var s1_0 = vec4<f32>(); var s1_1 = vec4<f32>();
  var s2_0 = vec4<f32>(); var s2_1 = vec4<f32>();
  var s3_0 = vec4<f32>(); var s3_1 = vec4<f32>();
  var s4_0 = vec4<f32>(); var s4_1 = vec4<f32>();
  var s5_0 = vec4<f32>(); var s5_1 = vec4<f32>();
  var s6_0 = vec4<f32>(); var s6_1 = vec4<f32>();
  var s7_0 = vec4<f32>(); var s7_1 = vec4<f32>();
  var s8_0 = vec4<f32>(); var s8_1 = vec4<f32>();
  var s9_0 = vec4<f32>(); var s9_1 = vec4<f32>();
  var s10_0 = vec4<f32>(); var s10_1 = vec4<f32>();
  var s11_0 = vec4<f32>(); var s11_1 = vec4<f32>();
  var s12_0 = vec4<f32>(); var s12_1 = vec4<f32>();
  var s13_0 = vec4<f32>(); var s13_1 = vec4<f32>();
  var s14_0 = vec4<f32>(); var s14_1 = vec4<f32>();
  var s15_0 = vec4<f32>(); var s15_1 = vec4<f32>();
  for (var k = p.k0 / 4u; k < p.k1 / 4u; k++) {
    let x0 = a4[ra0 + k]; let x1 = a4[ra1 + k]; let x2 = a4[ra2 + k]; let x3 = a4[ra3 + k];
    let x4 = a4[ra4 + k]; let x5 = a4[ra5 + k]; let x6 = a4[ra6 + k]; let x7 = a4[ra7 + k];
    let x8 = a4[ra8 + k]; let x9 = a4[ra9 + k]; let x10 = a4[ra10 + k]; let x11 = a4[ra11 + k];
    let x12 = a4[ra12 + k]; let x13 = a4[ra13 + k]; let x14 = a4[ra14 + k]; let x15 = a4[ra15 + k];
    // k step 4 k + 0
    let r0 = (4u * k + 0u) * N4;
    let y0_0 = b4[r0 + q0]; let y0_1 = b4[r0 + q1];
    s0_0 = fma(vec4(x0.x), y0_0, s0_0); s0_1 = fma(vec4(x0.x), y0_1, s0_1);
    s1_0 = fma(vec4(x1.x), y0_0, s1_0); s1_1 = fma(vec4(x1.x), y0_1, s1_1);
    s2_0 = fma(vec4(x2.x), y0_0, s2_0); s2_1 = fma(vec4(x2.x), y0_1, s2_1);
    s3_0 = fma(vec4(x3.x), y0_0, s3_0); s3_1 = fma(vec4(x3.x), y0_1, s3_1);
    s4_0 = fma(vec4(x4.x), y0_0, s4_0); s4_1 = fma(vec4(x4.x), y0_1, s4_1);
    s5_0 = fma(vec4(x5.x), y0_0, s5_0); s5_1 = fma(vec4(x5.x), y0_1, s5_1);
    s6_0 = fma(vec4(x6.x), y0_0, s6_0); s6_1 = fma(vec4(x6.x), y0_1, s6_1);
    s7_0 = fma(vec4(x7.x), y0_0, s7_0); s7_1 = fma(vec4(x7.x), y0_1, s7_1);
    s8_0 = fma(vec4(x8.x), y0_0, s8_0); s8_1 = fma(vec4(x8.x), y0_1, s8_1);
    s9_0 = fma(vec4(x9.x), y0_0, s9_0); s9_1 = fma(vec4(x9.x), y0_1, s9_1);
    s10_0 = fma(vec4(x10.x), y0_0, s10_0); s10_1 = fma(vec4(x10.x), y0_1, s10_1);
    s11_0 = fma(vec4(x11.x), y0_0, s11_0); s11_1 = fma(vec4(x11.x), y0_1, s11_1);
    s12_0 = fma(vec4(x12.x), y0_0, s12_0); s12_1 = fma(vec4(x12.x), y0_1, s12_1);
    s13_0 = fma(vec4(x13.x), y0_0, s13_0); s13_1 = fma(vec4(x13.x), y0_1, s13_1);
    s14_0 = fma(vec4(x14.x), y0_0, s14_0); s14_1 = fma(vec4(x14.x), y0_1, s14_1);
    s15_0 = fma(vec4(x15.x), y0_0, s15_0); s15_1 = fma(vec4(x15.x), y0_1, s15_1);
    // k step 4 k + 1
    let r1 = (4u * k + 1u) * N4;
    let y1_0 = b4[r1 + q0]; let y1_1 = b4[r1 + q1];
    s0_0 = fma(vec4(x0.y), y1_0, s0_0); s0_1 = fma(vec4(x0.y), y1_1, s0_1);
    s1_0 = fma(vec4(x1.y), y1_0, s1_0); s1_1 = fma(vec4(x1.y), y1_1, s1_1);
    s2_0 = fma(vec4(x2.y), y1_0, s2_0); s2_1 = fma(vec4(x2.y), y1_1, s2_1);
    s3_0 = fma(vec4(x3.y), y1_0, s3_0); s3_1 = fma(vec4(x3.y), y1_1, s3_1);
    s4_0 = fma(vec4(x4.y), y1_0, s4_0); s4_1 = fma(vec4(x4.y), y1_1, s4_1);
    s5_0 = fma(vec4(x5.y), y1_0, s5_0); s5_1 = fma(vec4(x5.y), y1_1, s5_1);
    s6_0 = fma(vec4(x6.y), y1_0, s6_0); s6_1 = fma(vec4(x6.y), y1_1, s6_1);
    s7_0 = fma(vec4(x7.y), y1_0, s7_0); s7_1 = fma(vec4(x7.y), y1_1, s7_1);
    s8_0 = fma(vec4(x8.y), y1_0, s8_0); s8_1 = fma(vec4(x8.y), y1_1, s8_1);
    s9_0 = fma(vec4(x9.y), y1_0, s9_0); s9_1 = fma(vec4(x9.y), y1_1, s9_1);
    s10_0 = fma(vec4(x10.y), y1_0, s10_0); s10_1 = fma(vec4(x10.y), y1_1, s10_1);
    s11_0 = fma(vec4(x11.y), y1_0, s11_0); s11_1 = fma(vec4(x11.y), y1_1, s11_1);
    s12_0 = fma(vec4(x12.y), y1_0, s12_0); s12_1 = fma(vec4(x12.y), y1_1, s12_1);
    s13_0 = fma(vec4(x13.y), y1_0, s13_0); s13_1 = fma(vec4(x13.y), y1_1, s13_1);
    s14_0 = fma(vec4(x14.y), y1_0, s14_0); s14_1 = fma(vec4(x14.y), y1_1, s14_1);
    s15_0 = fma(vec4(x15.y), y1_0, s15_0); s15_1 = fma(vec4(x15.y), y1_1, s15_1);
    // k step 4 k + 2
    let r2 = (4u * k + 2u) * N4;
    let y2_0 = b4[r2 + q0]; let y2_1 = b4[r2 + q1];
    s0_0 = fma(vec4(x0.z), y2_0, s0_0); s0_1 = fma(vec4(x0.z), y2_1, s0_1);
    s1_0 = fma(vec4(x1.z), y2_0, s1_0); s1_1 = fma(vec4(x1.z), y2_1, s1_1);
    s2_0 = fma(vec4(x2.z), y2_0, s2_0); s2_1 = fma(vec4(x2.z), y2_1, s2_1);
    s3_0 = fma(vec4(x3.z), y2_0, s3_0); s3_1 = fma(vec4(x3.z), y2_1, s3_1);
    s4_0 = fma(vec4(x4.z), y2_0, s4_0); s4_1 = fma(vec4(x4.z), y2_1, s4_1);
    s5_0 = fma(vec4(x5.z), y2_0, s5_0); s5_1 = fma(vec4(x5.z), y2_1, s5_1);
    s6_0 = fma(vec4(x6.z), y2_0, s6_0); s6_1 = fma(vec4(x6.z), y2_1, s6_1);
    s7_0 = fma(vec4(x7.z), y2_0, s7_0); s7_1 = fma(vec4(x7.z), y2_1, s7_1);
    s8_0 = fma(vec4(x8.z), y2_0, s8_0); s8_1 = fma(vec4(x8.z), y2_1, s8_1);
    s9_0 = fma(vec4(x9.z), y2_0, s9_0); s9_1 = fma(vec4(x9.z), y2_1, s9_1);
    s10_0 = fma(vec4(x10.z), y2_0, s10_0); s10_1 = fma(vec4(x10.z), y2_1, s10_1);
    s11_0 = fma(vec4(x11.z), y2_0, s11_0); s11_1 = fma(vec4(x11.z), y2_1, s11_1);
    s12_0 = fma(vec4(x12.z), y2_0, s12_0); s12_1 = fma(vec4(x12.z), y2_1, s12_1);
    s13_0 = fma(vec4(x13.z), y2_0, s13_0); s13_1 = fma(vec4(x13.z), y2_1, s13_1);
    s14_0 = fma(vec4(x14.z), y2_0, s14_0); s14_1 = fma(vec4(x14.z), y2_1, s14_1);
    s15_0 = fma(vec4(x15.z), y2_0, s15_0); s15_1 = fma(vec4(x15.z), y2_1, s15_1);
    // k step 4 k + 3
    let r3 = (4u * k + 3u) * N4;
    let y3_0 = b4[r3 + q0]; let y3_1 = b4[r3 + q1];
    s0_0 = fma(vec4(x0.w), y3_0, s0_0); s0_1 = fma(vec4(x0.w), y3_1, s0_1);
    s1_0 = fma(vec4(x1.w), y3_0, s1_0); s1_1 = fma(vec4(x1.w), y3_1, s1_1);
    s2_0 = fma(vec4(x2.w), y3_0, s2_0); s2_1 = fma(vec4(x2.w), y3_1, s2_1);
    s3_0 = fma(vec4(x3.w), y3_0, s3_0); s3_1 = fma(vec4(x3.w), y3_1, s3_1);
    s4_0 = fma(vec4(x4.w), y3_0, s4_0); s4_1 = fma(vec4(x4.w), y3_1, s4_1);
    s5_0 = fma(vec4(x5.w), y3_0, s5_0); s5_1 = fma(vec4(x5.w), y3_1, s5_1);
    s6_0 = fma(vec4(x6.w), y3_0, s6_0); s6_1 = fma(vec4(x6.w), y3_1, s6_1);
    s7_0 = fma(vec4(x7.w), y3_0, s7_0); s7_1 = fma(vec4(x7.w), y3_1, s7_1);
    s8_0 = fma(vec4(x8.w), y3_0, s8_0); s8_1 = fma(vec4(x8.w), y3_1, s8_1);
    s9_0 = fma(vec4(x9.w), y3_0, s9_0); s9_1 = fma(vec4(x9.w), y3_1, s9_1);
    s10_0 = fma(vec4(x10.w), y3_0, s10_0); s10_1 = fma(vec4(x10.w), y3_1, s10_1);
    s11_0 = fma(vec4(x11.w), y3_0, s11_0); s11_1 = fma(vec4(x11.w), y3_1, s11_1);
    s12_0 = fma(vec4(x12.w), y3_0, s12_0); s12_1 = fma(vec4(x12.w), y3_1, s12_1);
    s13_0 = fma(vec4(x13.w), y3_0, s13_0); s13_1 = fma(vec4(x13.w), y3_1, s13_1);
    s14_0 = fma(vec4(x14.w), y3_0, s14_0); s14_1 = fma(vec4(x14.w), y3_1, s14_1);
    s15_0 = fma(vec4(x15.w), y3_0, s15_0); s15_1 = fma(vec4(x15.w), y3_1, s15_1);
  }
  store_row4x2(m0 + 0u, g0, s0_0, s0_1);
  store_row4x2(m0 + 1u, g0, s1_0, s1_1);
  store_row4x2(m0 + 2u, g0, s2_0, s2_1);
  store_row4x2(m0 + 3u, g0, s3_0, s3_1);
  store_row4x2(m0 + 4u, g0, s4_0, s4_1);
  store_row4x2(m0 + 5u, g0, s5_0, s5_1);
  store_row4x2(m0 + 6u, g0, s6_0, s6_1);
  store_row4x2(m0 + 7u, g0, s7_0, s7_1);
  store_row4x2(m0 + 8u, g0, s8_0, s8_1);
  store_row4x2(m0 + 9u, g0, s9_0, s9_1);
  store_row4x2(m0 + 10u, g0, s10_0, s10_1);
  store_row4x2(m0 + 11u, g0, s11_0, s11_1);
  store_row4x2(m0 + 12u, g0, s12_0, s12_1);
  store_row4x2(m0 + 13u, g0, s13_0, s13_1);
  store_row4x2(m0 + 14u, g0, s14_0, s14_1);
  store_row4x2(m0 + 15u, g0, s15_0, s15_1);
}

@compute @workgroup_size(WG)
fn gemm_tn(@builtin(workgroup_id) wid: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
  let h0 = wid.y * TN_TMV; // first vec4 row group
  let g0 = wid.x * (WG * TN_TNV) + lid.x; // first vec4 column group
  let M4 = p.M / 4u;
  let N4 = p.N / 4u;
  let hc0 = min(h0 + 0u, M4 - 1u);
  let h1 = min(h0 + 1u, M4 - 1u);
  let h2 = min(h0 + 2u, M4 - 1u);
  let h3 = min(h0 + 3u, M4 - 1u);
  let q0 = min(g0 + 0u * WG, N4 - 1u);
  let q1 = min(g0 + 1u * WG, N4 - 1u);
  // s<i>_<j>: row 4 h0 + i, columns 4 (g0 + j WG) + 0..3.
  var s0_0 = vec4<f32>(); var s0_1 = vec4<f32>();
  var s1_0 = vec4<f32>(); var s1_1 = vec4<f32>();
  var s2_0 = vec4<f32>(); var s2_1 = vec4<f32>();
  var s3_0 = vec4<f32>(); var s3_1 = vec4<f32>();
  var s4_0 = vec4<f32>(); var s4_1 = vec4<f32>();
  var s5_0 = vec4<f32>(); var s5_1 = vec4<f32>();
  var s6_0 = vec4<f32>(); var s6_1 = vec4<f32>();
  var s7_0 = vec4<f32>(); var s7_1 = vec4<f32>();
  var s8_0 = vec4<f32>(); var s8_1 = vec4<f32>();
  var s9_0 = vec4<f32>(); var s9_1 = vec4<f32>();
  var s10_0 = vec4<f32>(); var s10_1 = vec4<f32>();
  var s11_0 = vec4<f32>(); var s11_1 = vec4<f32>();
  var s12_0 = vec4<f32>(); var s12_1 = vec4<f32>();
  var s13_0 = vec4<f32>(); var s13_1 = vec4<f32>();
  var s14_0 = vec4<f32>(); var s14_1 = vec4<f32>();
  var s15_0 = vec4<f32>(); var s15_1 = vec4<f32>();
  for (var k = p.k0; k < p.k1; k++) {
    let x0 = a4[k * M4 + hc0]; let x1 = a4[k * M4 + h1]; let x2 = a4[k * M4 + h2];
    let x3 = a4[k * M4 + h3];
    let y0 = b4[k * N4 + q0]; let y1 = b4[k * N4 + q1];
    s0_0 = fma(vec4(x0.x), y0, s0_0); s0_1 = fma(vec4(x0.x), y1, s0_1);
    s1_0 = fma(vec4(x0.y), y0, s1_0); s1_1 = fma(vec4(x0.y), y1, s1_1);
    s2_0 = fma(vec4(x0.z), y0, s2_0); s2_1 = fma(vec4(x0.z), y1, s2_1);
    s3_0 = fma(vec4(x0.w), y0, s3_0); s3_1 = fma(vec4(x0.w), y1, s3_1);
    s4_0 = fma(vec4(x1.x), y0, s4_0); s4_1 = fma(vec4(x1.x), y1, s4_1);
    s5_0 = fma(vec4(x1.y), y0, s5_0); s5_1 = fma(vec4(x1.y), y1, s5_1);
    s6_0 = fma(vec4(x1.z), y0, s6_0); s6_1 = fma(vec4(x1.z), y1, s6_1);
    s7_0 = fma(vec4(x1.w), y0, s7_0); s7_1 = fma(vec4(x1.w), y1, s7_1);
    s8_0 = fma(vec4(x2.x), y0, s8_0); s8_1 = fma(vec4(x2.x), y1, s8_1);
    s9_0 = fma(vec4(x2.y), y0, s9_0); s9_1 = fma(vec4(x2.y), y1, s9_1);
    s10_0 = fma(vec4(x2.z), y0, s10_0); s10_1 = fma(vec4(x2.z), y1, s10_1);
    s11_0 = fma(vec4(x2.w), y0, s11_0); s11_1 = fma(vec4(x2.w), y1, s11_1);
    s12_0 = fma(vec4(x3.x), y0, s12_0); s12_1 = fma(vec4(x3.x), y1, s12_1);
    s13_0 = fma(vec4(x3.y), y0, s13_0); s13_1 = fma(vec4(x3.y), y1, s13_1);
    s14_0 = fma(vec4(x3.z), y0, s14_0); s14_1 = fma(vec4(x3.z), y1, s14_1);
    s15_0 = fma(vec4(x3.w), y0, s15_0); s15_1 = fma(vec4(x3.w), y1, s15_1);
  }
  store_row4x2(4u * h0 + 0u, g0, s0_0, s0_1);
  store_row4x2(4u * h0 + 1u, g0, s1_0, s1_1);
  store_row4x2(4u * h0 + 2u, g0, s2_0, s2_1);
  store_row4x2(4u * h0 + 3u, g0, s3_0, s3_1);
  store_row4x2(4u * h0 + 4u, g0, s4_0, s4_1);
  store_row4x2(4u * h0 + 5u, g0, s5_0, s5_1);
  store_row4x2(4u * h0 + 6u, g0, s6_0, s6_1);
  store_row4x2(4u * h0 + 7u, g0, s7_0, s7_1);
  store_row4x2(4u * h0 + 8u, g0, s8_0, s8_1);
  store_row4x2(4u * h0 + 9u, g0, s9_0, s9_1);
  store_row4x2(4u * h0 + 10u, g0, s10_0, s10_1);
  store_row4x2(4u * h0 + 11u, g0, s11_0, s11_1);
  store_row4x2(4u * h0 + 12u, g0, s12_0, s12_1);
  store_row4x2(4u * h0 + 13u, g0, s13_0, s13_1);
  store_row4x2(4u * h0 + 14u, g0, s14_0, s14_1);
  store_row4x2(4u * h0 + 15u, g0, s15_0, s15_1);
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
  for (var k0 = p.k0; k0 < p.k1; k0 += BK) {
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
      if (m0 + mm < p.M && k0 + kk < p.k1) {
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
      if (n0 + nn < p.N && k0 + kk < p.k1) {
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

// bias_backward4, for CPU adapters (where a vec4 load costs little more than a scalar one): the
// same sums with dout read as vec4s (OC % 4 == 0), one invocation per four neighbouring columns.
// Dispatch grid(ceil(OC / (4 WG))).
@compute @workgroup_size(WG)
fn bias_backward4(@builtin(global_invocation_id) gid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
  let o4 = gid.x + gid.y * nwg.x * WG;
  let OC4 = pb.OC / 4u;
  if (o4 >= OC4) {
    return;
  }
  // The four partial sums of bias_backward for each of the four columns (sk: rows r with
  // r % 4 == k), combined in its order: the results are bit-identical to bias_backward's.
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  var r = 0u;
  // Four rows per iteration: loops stop after 65535 iterations on CPU adapters.
  for (; r + 3u < pb.N; r += 4u) {
    s0 += a4[r * OC4 + o4];
    s1 += a4[(r + 1u) * OC4 + o4];
    s2 += a4[(r + 2u) * OC4 + o4];
    s3 += a4[(r + 3u) * OC4 + o4];
  }
  for (; r < pb.N; r++) {
    s0 += a4[r * OC4 + o4];
  }
  let total = (s0 + s1) + (s2 + s3);
  for (var e = 0u; e < 4u; e++) {
    dbias[4u * o4 + e] += total[e];
  }
}

// ---------------------------------------------------------------------------------------------
// Bias gradient in two passes, for GPUs, where one invocation per column leaves most of the chip
// idle (OC = 768: a few workgroups each looping over all N rows). The rows are cut into R chunks
// of pc.rows rows each (a multiple of CS_LANES); the sums stay deterministic (fixed order, no
// atomics) but are not bit-identical to bias_backward's.
// - bias_backward_partial: partial (R, OC) = the sums of each chunk of rows. A workgroup takes
//   CS_COLS neighbouring columns (coalesced loads) of one chunk with CS_LANES row lanes: lane l
//   sums the chunk's rows l, l + CS_LANES, ... in order, and the lanes are combined in a fixed
//   order through workgroup memory. Dispatch (ceil(OC / CS_COLS), R).
// - bias_backward_total: dbias (OC) += the R partial sums of each column, in chunk order, one
//   invocation per column. Dispatch grid(ceil(OC / WG)).

const CS_COLS: u32 = 64u; // columns per workgroup of bias_backward_partial
const CS_LANES: u32 = 4u; // row lanes per column (the combination below is written for four)

struct ChunkParams {
  N: u32, // rows summed: N for the partial sums, R for the total
  OC: u32,
  rows: u32, // rows per chunk (bias_backward_partial)
}

@group(0) @binding(0) var<storage, read_write> partial: array<f32>; // (R, OC)
@group(0) @binding(2) var<uniform> pc: ChunkParams;

var<workgroup> lane_sums: array<f32, CS_COLS * CS_LANES>; // [lane * CS_COLS + column]

@compute @workgroup_size(CS_COLS, CS_LANES)
fn bias_backward_partial(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = wid.x * CS_COLS + lid.x;
  let r0 = wid.y * pc.rows;
  let r1 = min(pc.N, r0 + pc.rows);
  var s = 0.0;
  if (o < pc.OC) {
    for (var r = r0 + lid.y; r < r1; r += CS_LANES) {
      s += dout[r * pc.OC + o];
    }
  }
  lane_sums[lid.y * CS_COLS + lid.x] = s;
  workgroupBarrier();
  if (lid.y == 0u && o < pc.OC) {
    partial[wid.y * pc.OC + o] = (lane_sums[lid.x] + lane_sums[CS_COLS + lid.x]) +
      (lane_sums[2u * CS_COLS + lid.x] + lane_sums[3u * CS_COLS + lid.x]);
  }
}

// Reads the partial sums (R, OC) through `dout` (binding 1), with pc.N = R.
@compute @workgroup_size(WG)
fn bias_backward_total(@builtin(global_invocation_id) gid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= pc.OC) {
    return;
  }
  var s = 0.0;
  for (var r = 0u; r < pc.N; r++) {
    s += dout[r * pc.OC + o];
  }
  dbias[o] += s;
}

// BEGIN subgroup kernels
// ---------------------------------------------------------------------------------------------
// Subgroup variants for CPU adapters whose subgroups are 8 wide (lavapipe on 256-bit SIMD). The
// launcher cuts this section out, from the BEGIN line to the END line, on devices without the
// subgroups feature; it needs no `enable subgroups;` (which this WGSL front end rejects).
// On llvmpipe every storage load is a loop over the 8 SIMD lanes whether the address varies or
// not, so in gemm_dot, gemm_nn and gemm_tn the rows of A that the whole workgroup shares cost as
// much per load as the columns of B that each invocation owns. Here each lane of a subgroup loads
// a different row (or vec4 of rows) of A, and subgroupBroadcast, one vector shuffle on llvmpipe,
// hands every row to all 8 lanes: the A loads per k step fall from TM to TM / 8. The rest is the
// scheme of the vec4 variants (rows uniform over the workgroup, columns WG apart over the
// invocations, clamped loads, guarded stores) with the same order of summation: the results are
// bit-identical to theirs.
// Tiles measured on lavapipe (speedup in CPU time over the vec4 variant on the same products;
// noisy): gemm_dot_sg 24 x 8: 2.0, 32 x 8: 2.0, 48 x 4: 1.9, 16 x 12: 1.4; gemm_nn_sg 32 x 2
// vec4: 2.2-2.8, 64 x 1: 2.2-2.6, 24 x 2: 2.1, 16 x 3: 1.5; gemm_tn_sg 64 x 2 vec4: 2.2-2.6 (with
// one k step per iteration instead of four: 2.1), 32 x 2: 2.0, 64 x 1: 2.0, 32 x 3: 1.9.

// gemm_dot_sg: as gemm_dot. Dispatch (ceil(N / (WG * DS_TN)), ceil(M / DS_TM)).
const DS_TM: u32 = 24u;
const DS_TN: u32 = 8u;

// gemm_nn_sg: as gemm_nn. Dispatch (ceil(N / (4 WG NS_TNV)), ceil(M / NS_TM)).
const NS_TM: u32 = 32u;
const NS_TNV: u32 = 2u;

// gemm_tn_sg: as gemm_tn, four k steps per iteration (K % 4 == 0 as well). Dispatch
// (ceil(N / (4 WG TS_TNV)), ceil(M / (4 TS_TMV))).
const TS_TMV: u32 = 16u;
const TS_TNV: u32 = 2u;

@compute @workgroup_size(WG)
fn gemm_dot_sg(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(subgroup_invocation_id) sl: u32) {
  let m0 = wid.y * DS_TM;
  let n0 = wid.x * (WG * DS_TN) + lid.x;
  let K4 = p.K / 4u;
  // Row starts (in vec4s): lane sl reads rows m0 + 8 g + sl of A (ra<g>), and its own
  // columns n0 + j WG of B (rb<j>), all clamped.
  let ra0 = min(m0 + 0u + sl, p.M - 1u) * K4;
  let ra1 = min(m0 + 8u + sl, p.M - 1u) * K4;
  let ra2 = min(m0 + 16u + sl, p.M - 1u) * K4;
  let rb0 = min(n0 + 0u * WG, p.N - 1u) * K4;
  let rb1 = min(n0 + 1u * WG, p.N - 1u) * K4;
  let rb2 = min(n0 + 2u * WG, p.N - 1u) * K4;
  let rb3 = min(n0 + 3u * WG, p.N - 1u) * K4;
  let rb4 = min(n0 + 4u * WG, p.N - 1u) * K4;
  let rb5 = min(n0 + 5u * WG, p.N - 1u) * K4;
  let rb6 = min(n0 + 6u * WG, p.N - 1u) * K4;
  let rb7 = min(n0 + 7u * WG, p.N - 1u) * K4;
  // s<i>_<j>: row m0 + i, column n0 + j WG.
  var s0_0 = 0.0; var s0_1 = 0.0; var s0_2 = 0.0; var s0_3 = 0.0; var s0_4 = 0.0; var s0_5 = 0.0;
  var s0_6 = 0.0; var s0_7 = 0.0;
  var s1_0 = 0.0; var s1_1 = 0.0; var s1_2 = 0.0; var s1_3 = 0.0; var s1_4 = 0.0; var s1_5 = 0.0;
  var s1_6 = 0.0; var s1_7 = 0.0;
  var s2_0 = 0.0; var s2_1 = 0.0; var s2_2 = 0.0; var s2_3 = 0.0; var s2_4 = 0.0; var s2_5 = 0.0;
  var s2_6 = 0.0; var s2_7 = 0.0;
  var s3_0 = 0.0; var s3_1 = 0.0; var s3_2 = 0.0; var s3_3 = 0.0; var s3_4 = 0.0; var s3_5 = 0.0;
  var s3_6 = 0.0; var s3_7 = 0.0;
  var s4_0 = 0.0; var s4_1 = 0.0; var s4_2 = 0.0; var s4_3 = 0.0; var s4_4 = 0.0; var s4_5 = 0.0;
  var s4_6 = 0.0; var s4_7 = 0.0;
  var s5_0 = 0.0; var s5_1 = 0.0; var s5_2 = 0.0; var s5_3 = 0.0; var s5_4 = 0.0; var s5_5 = 0.0;
  var s5_6 = 0.0; var s5_7 = 0.0;
  var s6_0 = 0.0; var s6_1 = 0.0; var s6_2 = 0.0; var s6_3 = 0.0; var s6_4 = 0.0; var s6_5 = 0.0;
  var s6_6 = 0.0; var s6_7 = 0.0;
  var s7_0 = 0.0; var s7_1 = 0.0; var s7_2 = 0.0; var s7_3 = 0.0; var s7_4 = 0.0; var s7_5 = 0.0;
  var s7_6 = 0.0; var s7_7 = 0.0;
  var s8_0 = 0.0; var s8_1 = 0.0; var s8_2 = 0.0; var s8_3 = 0.0; var s8_4 = 0.0; var s8_5 = 0.0;
  var s8_6 = 0.0; var s8_7 = 0.0;
  var s9_0 = 0.0; var s9_1 = 0.0; var s9_2 = 0.0; var s9_3 = 0.0; var s9_4 = 0.0; var s9_5 = 0.0;
  var s9_6 = 0.0; var s9_7 = 0.0;
  var s10_0 = 0.0; var s10_1 = 0.0; var s10_2 = 0.0; var s10_3 = 0.0; var s10_4 = 0.0;
  var s10_5 = 0.0; var s10_6 = 0.0; var s10_7 = 0.0;
  var s11_0 = 0.0; var s11_1 = 0.0; var s11_2 = 0.0; var s11_3 = 0.0; var s11_4 = 0.0;
  var s11_5 = 0.0; var s11_6 = 0.0; var s11_7 = 0.0;
  var s12_0 = 0.0; var s12_1 = 0.0; var s12_2 = 0.0; var s12_3 = 0.0; var s12_4 = 0.0;
  var s12_5 = 0.0; var s12_6 = 0.0; var s12_7 = 0.0;
  var s13_0 = 0.0; var s13_1 = 0.0; var s13_2 = 0.0; var s13_3 = 0.0; var s13_4 = 0.0;
  var s13_5 = 0.0; var s13_6 = 0.0; var s13_7 = 0.0;
  var s14_0 = 0.0; var s14_1 = 0.0; var s14_2 = 0.0; var s14_3 = 0.0; var s14_4 = 0.0;
  var s14_5 = 0.0; var s14_6 = 0.0; var s14_7 = 0.0;
  var s15_0 = 0.0; var s15_1 = 0.0; var s15_2 = 0.0; var s15_3 = 0.0; var s15_4 = 0.0;
  var s15_5 = 0.0; var s15_6 = 0.0; var s15_7 = 0.0;
  var s16_0 = 0.0; var s16_1 = 0.0; var s16_2 = 0.0; var s16_3 = 0.0; var s16_4 = 0.0;
  var s16_5 = 0.0; var s16_6 = 0.0; var s16_7 = 0.0;
  var s17_0 = 0.0; var s17_1 = 0.0; var s17_2 = 0.0; var s17_3 = 0.0; var s17_4 = 0.0;
  var s17_5 = 0.0; var s17_6 = 0.0; var s17_7 = 0.0;
  var s18_0 = 0.0; var s18_1 = 0.0; var s18_2 = 0.0; var s18_3 = 0.0; var s18_4 = 0.0;
  var s18_5 = 0.0; var s18_6 = 0.0; var s18_7 = 0.0;
  var s19_0 = 0.0; var s19_1 = 0.0; var s19_2 = 0.0; var s19_3 = 0.0; var s19_4 = 0.0;
  var s19_5 = 0.0; var s19_6 = 0.0; var s19_7 = 0.0;
  var s20_0 = 0.0; var s20_1 = 0.0; var s20_2 = 0.0; var s20_3 = 0.0; var s20_4 = 0.0;
  var s20_5 = 0.0; var s20_6 = 0.0; var s20_7 = 0.0;
  var s21_0 = 0.0; var s21_1 = 0.0; var s21_2 = 0.0; var s21_3 = 0.0; var s21_4 = 0.0;
  var s21_5 = 0.0; var s21_6 = 0.0; var s21_7 = 0.0;
  var s22_0 = 0.0; var s22_1 = 0.0; var s22_2 = 0.0; var s22_3 = 0.0; var s22_4 = 0.0;
  var s22_5 = 0.0; var s22_6 = 0.0; var s22_7 = 0.0;
  var s23_0 = 0.0; var s23_1 = 0.0; var s23_2 = 0.0; var s23_3 = 0.0; var s23_4 = 0.0;
  var s23_5 = 0.0; var s23_6 = 0.0; var s23_7 = 0.0;
  for (var k = p.k0 / 4u; k < p.k1 / 4u; k++) {
    let xa0 = a4[ra0 + k]; let xa1 = a4[ra1 + k]; let xa2 = a4[ra2 + k];
    let y0 = b4[rb0 + k]; let y1 = b4[rb1 + k]; let y2 = b4[rb2 + k]; let y3 = b4[rb3 + k];
    let y4 = b4[rb4 + k]; let y5 = b4[rb5 + k]; let y6 = b4[rb6 + k]; let y7 = b4[rb7 + k];
    // Row m0 + i is lane i % 8's value of xa<i / 8>.
    let x0 = subgroupBroadcast(xa0, 0u);
    s0_0 = dot4(x0, y0, s0_0); s0_1 = dot4(x0, y1, s0_1); s0_2 = dot4(x0, y2, s0_2);
    s0_3 = dot4(x0, y3, s0_3); s0_4 = dot4(x0, y4, s0_4); s0_5 = dot4(x0, y5, s0_5);
    s0_6 = dot4(x0, y6, s0_6); s0_7 = dot4(x0, y7, s0_7);
    let x1 = subgroupBroadcast(xa0, 1u);
    s1_0 = dot4(x1, y0, s1_0); s1_1 = dot4(x1, y1, s1_1); s1_2 = dot4(x1, y2, s1_2);
    s1_3 = dot4(x1, y3, s1_3); s1_4 = dot4(x1, y4, s1_4); s1_5 = dot4(x1, y5, s1_5);
    s1_6 = dot4(x1, y6, s1_6); s1_7 = dot4(x1, y7, s1_7);
    let x2 = subgroupBroadcast(xa0, 2u);
    s2_0 = dot4(x2, y0, s2_0); s2_1 = dot4(x2, y1, s2_1); s2_2 = dot4(x2, y2, s2_2);
    s2_3 = dot4(x2, y3, s2_3); s2_4 = dot4(x2, y4, s2_4); s2_5 = dot4(x2, y5, s2_5);
    s2_6 = dot4(x2, y6, s2_6); s2_7 = dot4(x2, y7, s2_7);
    let x3 = subgroupBroadcast(xa0, 3u);
    s3_0 = dot4(x3, y0, s3_0); s3_1 = dot4(x3, y1, s3_1); s3_2 = dot4(x3, y2, s3_2);
    s3_3 = dot4(x3, y3, s3_3); s3_4 = dot4(x3, y4, s3_4); s3_5 = dot4(x3, y5, s3_5);
    s3_6 = dot4(x3, y6, s3_6); s3_7 = dot4(x3, y7, s3_7);
    let x4 = subgroupBroadcast(xa0, 4u);
    s4_0 = dot4(x4, y0, s4_0); s4_1 = dot4(x4, y1, s4_1); s4_2 = dot4(x4, y2, s4_2);
    s4_3 = dot4(x4, y3, s4_3); s4_4 = dot4(x4, y4, s4_4); s4_5 = dot4(x4, y5, s4_5);
    s4_6 = dot4(x4, y6, s4_6); s4_7 = dot4(x4, y7, s4_7);
    let x5 = subgroupBroadcast(xa0, 5u);
    s5_0 = dot4(x5, y0, s5_0); s5_1 = dot4(x5, y1, s5_1); s5_2 = dot4(x5, y2, s5_2);
    s5_3 = dot4(x5, y3, s5_3); s5_4 = dot4(x5, y4, s5_4); s5_5 = dot4(x5, y5, s5_5);
    s5_6 = dot4(x5, y6, s5_6); s5_7 = dot4(x5, y7, s5_7);
    let x6 = subgroupBroadcast(xa0, 6u);
    s6_0 = dot4(x6, y0, s6_0); s6_1 = dot4(x6, y1, s6_1); s6_2 = dot4(x6, y2, s6_2);
    s6_3 = dot4(x6, y3, s6_3); s6_4 = dot4(x6, y4, s6_4); s6_5 = dot4(x6, y5, s6_5);
    s6_6 = dot4(x6, y6, s6_6); s6_7 = dot4(x6, y7, s6_7);
    let x7 = subgroupBroadcast(xa0, 7u);
    s7_0 = dot4(x7, y0, s7_0); s7_1 = dot4(x7, y1, s7_1); s7_2 = dot4(x7, y2, s7_2);
    s7_3 = dot4(x7, y3, s7_3); s7_4 = dot4(x7, y4, s7_4); s7_5 = dot4(x7, y5, s7_5);
    s7_6 = dot4(x7, y6, s7_6); s7_7 = dot4(x7, y7, s7_7);
    let x8 = subgroupBroadcast(xa1, 0u);
    s8_0 = dot4(x8, y0, s8_0); s8_1 = dot4(x8, y1, s8_1); s8_2 = dot4(x8, y2, s8_2);
    s8_3 = dot4(x8, y3, s8_3); s8_4 = dot4(x8, y4, s8_4); s8_5 = dot4(x8, y5, s8_5);
    s8_6 = dot4(x8, y6, s8_6); s8_7 = dot4(x8, y7, s8_7);
    let x9 = subgroupBroadcast(xa1, 1u);
    s9_0 = dot4(x9, y0, s9_0); s9_1 = dot4(x9, y1, s9_1); s9_2 = dot4(x9, y2, s9_2);
    s9_3 = dot4(x9, y3, s9_3); s9_4 = dot4(x9, y4, s9_4); s9_5 = dot4(x9, y5, s9_5);
    s9_6 = dot4(x9, y6, s9_6); s9_7 = dot4(x9, y7, s9_7);
    let x10 = subgroupBroadcast(xa1, 2u);
    s10_0 = dot4(x10, y0, s10_0); s10_1 = dot4(x10, y1, s10_1); s10_2 = dot4(x10, y2, s10_2);
    s10_3 = dot4(x10, y3, s10_3); s10_4 = dot4(x10, y4, s10_4); s10_5 = dot4(x10, y5, s10_5);
    s10_6 = dot4(x10, y6, s10_6); s10_7 = dot4(x10, y7, s10_7);
    let x11 = subgroupBroadcast(xa1, 3u);
    s11_0 = dot4(x11, y0, s11_0); s11_1 = dot4(x11, y1, s11_1); s11_2 = dot4(x11, y2, s11_2);
    s11_3 = dot4(x11, y3, s11_3); s11_4 = dot4(x11, y4, s11_4); s11_5 = dot4(x11, y5, s11_5);
    s11_6 = dot4(x11, y6, s11_6); s11_7 = dot4(x11, y7, s11_7);
    let x12 = subgroupBroadcast(xa1, 4u);
    s12_0 = dot4(x12, y0, s12_0); s12_1 = dot4(x12, y1, s12_1); s12_2 = dot4(x12, y2, s12_2);
    s12_3 = dot4(x12, y3, s12_3); s12_4 = dot4(x12, y4, s12_4); s12_5 = dot4(x12, y5, s12_5);
    s12_6 = dot4(x12, y6, s12_6); s12_7 = dot4(x12, y7, s12_7);
    let x13 = subgroupBroadcast(xa1, 5u);
    s13_0 = dot4(x13, y0, s13_0); s13_1 = dot4(x13, y1, s13_1); s13_2 = dot4(x13, y2, s13_2);
    s13_3 = dot4(x13, y3, s13_3); s13_4 = dot4(x13, y4, s13_4); s13_5 = dot4(x13, y5, s13_5);
    s13_6 = dot4(x13, y6, s13_6); s13_7 = dot4(x13, y7, s13_7);
    let x14 = subgroupBroadcast(xa1, 6u);
    s14_0 = dot4(x14, y0, s14_0); s14_1 = dot4(x14, y1, s14_1); s14_2 = dot4(x14, y2, s14_2);
    s14_3 = dot4(x14, y3, s14_3); s14_4 = dot4(x14, y4, s14_4); s14_5 = dot4(x14, y5, s14_5);
    s14_6 = dot4(x14, y6, s14_6); s14_7 = dot4(x14, y7, s14_7);
    let x15 = subgroupBroadcast(xa1, 7u);
    s15_0 = dot4(x15, y0, s15_0); s15_1 = dot4(x15, y1, s15_1); s15_2 = dot4(x15, y2, s15_2);
    s15_3 = dot4(x15, y3, s15_3); s15_4 = dot4(x15, y4, s15_4); s15_5 = dot4(x15, y5, s15_5);
    s15_6 = dot4(x15, y6, s15_6); s15_7 = dot4(x15, y7, s15_7);
    let x16 = subgroupBroadcast(xa2, 0u);
    s16_0 = dot4(x16, y0, s16_0); s16_1 = dot4(x16, y1, s16_1); s16_2 = dot4(x16, y2, s16_2);
    s16_3 = dot4(x16, y3, s16_3); s16_4 = dot4(x16, y4, s16_4); s16_5 = dot4(x16, y5, s16_5);
    s16_6 = dot4(x16, y6, s16_6); s16_7 = dot4(x16, y7, s16_7);
    let x17 = subgroupBroadcast(xa2, 1u);
    s17_0 = dot4(x17, y0, s17_0); s17_1 = dot4(x17, y1, s17_1); s17_2 = dot4(x17, y2, s17_2);
    s17_3 = dot4(x17, y3, s17_3); s17_4 = dot4(x17, y4, s17_4); s17_5 = dot4(x17, y5, s17_5);
    s17_6 = dot4(x17, y6, s17_6); s17_7 = dot4(x17, y7, s17_7);
    let x18 = subgroupBroadcast(xa2, 2u);
    s18_0 = dot4(x18, y0, s18_0); s18_1 = dot4(x18, y1, s18_1); s18_2 = dot4(x18, y2, s18_2);
    s18_3 = dot4(x18, y3, s18_3); s18_4 = dot4(x18, y4, s18_4); s18_5 = dot4(x18, y5, s18_5);
    s18_6 = dot4(x18, y6, s18_6); s18_7 = dot4(x18, y7, s18_7);
    let x19 = subgroupBroadcast(xa2, 3u);
    s19_0 = dot4(x19, y0, s19_0); s19_1 = dot4(x19, y1, s19_1); s19_2 = dot4(x19, y2, s19_2);
    s19_3 = dot4(x19, y3, s19_3); s19_4 = dot4(x19, y4, s19_4); s19_5 = dot4(x19, y5, s19_5);
    s19_6 = dot4(x19, y6, s19_6); s19_7 = dot4(x19, y7, s19_7);
    let x20 = subgroupBroadcast(xa2, 4u);
    s20_0 = dot4(x20, y0, s20_0); s20_1 = dot4(x20, y1, s20_1); s20_2 = dot4(x20, y2, s20_2);
    s20_3 = dot4(x20, y3, s20_3); s20_4 = dot4(x20, y4, s20_4); s20_5 = dot4(x20, y5, s20_5);
    s20_6 = dot4(x20, y6, s20_6); s20_7 = dot4(x20, y7, s20_7);
    let x21 = subgroupBroadcast(xa2, 5u);
    s21_0 = dot4(x21, y0, s21_0); s21_1 = dot4(x21, y1, s21_1); s21_2 = dot4(x21, y2, s21_2);
    s21_3 = dot4(x21, y3, s21_3); s21_4 = dot4(x21, y4, s21_4); s21_5 = dot4(x21, y5, s21_5);
    s21_6 = dot4(x21, y6, s21_6); s21_7 = dot4(x21, y7, s21_7);
    let x22 = subgroupBroadcast(xa2, 6u);
    s22_0 = dot4(x22, y0, s22_0); s22_1 = dot4(x22, y1, s22_1); s22_2 = dot4(x22, y2, s22_2);
    s22_3 = dot4(x22, y3, s22_3); s22_4 = dot4(x22, y4, s22_4); s22_5 = dot4(x22, y5, s22_5);
    s22_6 = dot4(x22, y6, s22_6); s22_7 = dot4(x22, y7, s22_7);
    let x23 = subgroupBroadcast(xa2, 7u);
    s23_0 = dot4(x23, y0, s23_0); s23_1 = dot4(x23, y1, s23_1); s23_2 = dot4(x23, y2, s23_2);
    s23_3 = dot4(x23, y3, s23_3); s23_4 = dot4(x23, y4, s23_4); s23_5 = dot4(x23, y5, s23_5);
    s23_6 = dot4(x23, y6, s23_6); s23_7 = dot4(x23, y7, s23_7);
  }
  store_row(m0 + 0u, n0, vec4(s0_0, s0_1, s0_2, s0_3), vec4(s0_4, s0_5, s0_6, s0_7));
  store_row(m0 + 1u, n0, vec4(s1_0, s1_1, s1_2, s1_3), vec4(s1_4, s1_5, s1_6, s1_7));
  store_row(m0 + 2u, n0, vec4(s2_0, s2_1, s2_2, s2_3), vec4(s2_4, s2_5, s2_6, s2_7));
  store_row(m0 + 3u, n0, vec4(s3_0, s3_1, s3_2, s3_3), vec4(s3_4, s3_5, s3_6, s3_7));
  store_row(m0 + 4u, n0, vec4(s4_0, s4_1, s4_2, s4_3), vec4(s4_4, s4_5, s4_6, s4_7));
  store_row(m0 + 5u, n0, vec4(s5_0, s5_1, s5_2, s5_3), vec4(s5_4, s5_5, s5_6, s5_7));
  store_row(m0 + 6u, n0, vec4(s6_0, s6_1, s6_2, s6_3), vec4(s6_4, s6_5, s6_6, s6_7));
  store_row(m0 + 7u, n0, vec4(s7_0, s7_1, s7_2, s7_3), vec4(s7_4, s7_5, s7_6, s7_7));
  store_row(m0 + 8u, n0, vec4(s8_0, s8_1, s8_2, s8_3), vec4(s8_4, s8_5, s8_6, s8_7));
  store_row(m0 + 9u, n0, vec4(s9_0, s9_1, s9_2, s9_3), vec4(s9_4, s9_5, s9_6, s9_7));
  store_row(m0 + 10u, n0, vec4(s10_0, s10_1, s10_2, s10_3), vec4(s10_4, s10_5, s10_6, s10_7));
  store_row(m0 + 11u, n0, vec4(s11_0, s11_1, s11_2, s11_3), vec4(s11_4, s11_5, s11_6, s11_7));
  store_row(m0 + 12u, n0, vec4(s12_0, s12_1, s12_2, s12_3), vec4(s12_4, s12_5, s12_6, s12_7));
  store_row(m0 + 13u, n0, vec4(s13_0, s13_1, s13_2, s13_3), vec4(s13_4, s13_5, s13_6, s13_7));
  store_row(m0 + 14u, n0, vec4(s14_0, s14_1, s14_2, s14_3), vec4(s14_4, s14_5, s14_6, s14_7));
  store_row(m0 + 15u, n0, vec4(s15_0, s15_1, s15_2, s15_3), vec4(s15_4, s15_5, s15_6, s15_7));
  store_row(m0 + 16u, n0, vec4(s16_0, s16_1, s16_2, s16_3), vec4(s16_4, s16_5, s16_6, s16_7));
  store_row(m0 + 17u, n0, vec4(s17_0, s17_1, s17_2, s17_3), vec4(s17_4, s17_5, s17_6, s17_7));
  store_row(m0 + 18u, n0, vec4(s18_0, s18_1, s18_2, s18_3), vec4(s18_4, s18_5, s18_6, s18_7));
  store_row(m0 + 19u, n0, vec4(s19_0, s19_1, s19_2, s19_3), vec4(s19_4, s19_5, s19_6, s19_7));
  store_row(m0 + 20u, n0, vec4(s20_0, s20_1, s20_2, s20_3), vec4(s20_4, s20_5, s20_6, s20_7));
  store_row(m0 + 21u, n0, vec4(s21_0, s21_1, s21_2, s21_3), vec4(s21_4, s21_5, s21_6, s21_7));
  store_row(m0 + 22u, n0, vec4(s22_0, s22_1, s22_2, s22_3), vec4(s22_4, s22_5, s22_6, s22_7));
  store_row(m0 + 23u, n0, vec4(s23_0, s23_1, s23_2, s23_3), vec4(s23_4, s23_5, s23_6, s23_7));
}

@compute @workgroup_size(WG)
fn gemm_nn_sg(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>,
              @builtin(subgroup_invocation_id) sl: u32) {
  let m0 = wid.y * NS_TM;
  let g0 = wid.x * (WG * NS_TNV) + lid.x; // first vec4 column group
  let K4 = p.K / 4u;
  let N4 = p.N / 4u;
  // Lane sl reads rows m0 + 8 g + sl of A (row starts in vec4s, clamped).
  let ra0 = min(m0 + 0u + sl, p.M - 1u) * K4;
  let ra1 = min(m0 + 8u + sl, p.M - 1u) * K4;
  let ra2 = min(m0 + 16u + sl, p.M - 1u) * K4;
  let ra3 = min(m0 + 24u + sl, p.M - 1u) * K4;
  let q0 = min(g0 + 0u * WG, N4 - 1u);
  let q1 = min(g0 + 1u * WG, N4 - 1u);
  // s<i>_<j>: row m0 + i, columns 4 (g0 + j WG) + 0..3.
  var s0_0 = vec4<f32>(); var s0_1 = vec4<f32>(); var s1_0 = vec4<f32>(); var s1_1 = vec4<f32>();
  var s2_0 = vec4<f32>(); var s2_1 = vec4<f32>(); var s3_0 = vec4<f32>(); var s3_1 = vec4<f32>();
  var s4_0 = vec4<f32>(); var s4_1 = vec4<f32>(); var s5_0 = vec4<f32>(); var s5_1 = vec4<f32>();
  var s6_0 = vec4<f32>(); var s6_1 = vec4<f32>(); var s7_0 = vec4<f32>(); var s7_1 = vec4<f32>();
  var s8_0 = vec4<f32>(); var s8_1 = vec4<f32>(); var s9_0 = vec4<f32>(); var s9_1 = vec4<f32>();
  var s10_0 = vec4<f32>(); var s10_1 = vec4<f32>(); var s11_0 = vec4<f32>();
  var s11_1 = vec4<f32>();
  var s12_0 = vec4<f32>(); var s12_1 = vec4<f32>(); var s13_0 = vec4<f32>();
  var s13_1 = vec4<f32>(); var s14_0 = vec4<f32>(); var s14_1 = vec4<f32>();
  var s15_0 = vec4<f32>(); var s15_1 = vec4<f32>();
  var s16_0 = vec4<f32>(); var s16_1 = vec4<f32>(); var s17_0 = vec4<f32>();
  var s17_1 = vec4<f32>(); var s18_0 = vec4<f32>(); var s18_1 = vec4<f32>();
  var s19_0 = vec4<f32>(); var s19_1 = vec4<f32>();
  var s20_0 = vec4<f32>(); var s20_1 = vec4<f32>(); var s21_0 = vec4<f32>();
  var s21_1 = vec4<f32>(); var s22_0 = vec4<f32>(); var s22_1 = vec4<f32>();
  var s23_0 = vec4<f32>(); var s23_1 = vec4<f32>();
  var s24_0 = vec4<f32>(); var s24_1 = vec4<f32>(); var s25_0 = vec4<f32>();
  var s25_1 = vec4<f32>(); var s26_0 = vec4<f32>(); var s26_1 = vec4<f32>();
  var s27_0 = vec4<f32>(); var s27_1 = vec4<f32>();
  var s28_0 = vec4<f32>(); var s28_1 = vec4<f32>(); var s29_0 = vec4<f32>();
  var s29_1 = vec4<f32>(); var s30_0 = vec4<f32>(); var s30_1 = vec4<f32>();
  var s31_0 = vec4<f32>(); var s31_1 = vec4<f32>();
  for (var k = p.k0 / 4u; k < p.k1 / 4u; k++) {
    let xa0 = a4[ra0 + k]; let xa1 = a4[ra1 + k]; let xa2 = a4[ra2 + k]; let xa3 = a4[ra3 + k];
    // Rows 4 k + 0..3 of B, this invocation's columns.
    let r0 = (4u * k + 0u) * N4; let y0_0 = b4[r0 + q0]; let y0_1 = b4[r0 + q1];
    let r1 = (4u * k + 1u) * N4; let y1_0 = b4[r1 + q0]; let y1_1 = b4[r1 + q1];
    let r2 = (4u * k + 2u) * N4; let y2_0 = b4[r2 + q0]; let y2_1 = b4[r2 + q1];
    let r3 = (4u * k + 3u) * N4; let y3_0 = b4[r3 + q0]; let y3_1 = b4[r3 + q1];
    // A[m0 + i, 4 k + 0..3] is lane i % 8's value of xa<i / 8>; k steps in order per row.
    let x0 = subgroupBroadcast(xa0, 0u);
    s0_0 = fma(vec4(x0.x), y0_0, s0_0); s0_1 = fma(vec4(x0.x), y0_1, s0_1);
    s0_0 = fma(vec4(x0.y), y1_0, s0_0); s0_1 = fma(vec4(x0.y), y1_1, s0_1);
    s0_0 = fma(vec4(x0.z), y2_0, s0_0); s0_1 = fma(vec4(x0.z), y2_1, s0_1);
    s0_0 = fma(vec4(x0.w), y3_0, s0_0); s0_1 = fma(vec4(x0.w), y3_1, s0_1);
    let x1 = subgroupBroadcast(xa0, 1u);
    s1_0 = fma(vec4(x1.x), y0_0, s1_0); s1_1 = fma(vec4(x1.x), y0_1, s1_1);
    s1_0 = fma(vec4(x1.y), y1_0, s1_0); s1_1 = fma(vec4(x1.y), y1_1, s1_1);
    s1_0 = fma(vec4(x1.z), y2_0, s1_0); s1_1 = fma(vec4(x1.z), y2_1, s1_1);
    s1_0 = fma(vec4(x1.w), y3_0, s1_0); s1_1 = fma(vec4(x1.w), y3_1, s1_1);
    let x2 = subgroupBroadcast(xa0, 2u);
    s2_0 = fma(vec4(x2.x), y0_0, s2_0); s2_1 = fma(vec4(x2.x), y0_1, s2_1);
    s2_0 = fma(vec4(x2.y), y1_0, s2_0); s2_1 = fma(vec4(x2.y), y1_1, s2_1);
    s2_0 = fma(vec4(x2.z), y2_0, s2_0); s2_1 = fma(vec4(x2.z), y2_1, s2_1);
    s2_0 = fma(vec4(x2.w), y3_0, s2_0); s2_1 = fma(vec4(x2.w), y3_1, s2_1);
    let x3 = subgroupBroadcast(xa0, 3u);
    s3_0 = fma(vec4(x3.x), y0_0, s3_0); s3_1 = fma(vec4(x3.x), y0_1, s3_1);
    s3_0 = fma(vec4(x3.y), y1_0, s3_0); s3_1 = fma(vec4(x3.y), y1_1, s3_1);
    s3_0 = fma(vec4(x3.z), y2_0, s3_0); s3_1 = fma(vec4(x3.z), y2_1, s3_1);
    s3_0 = fma(vec4(x3.w), y3_0, s3_0); s3_1 = fma(vec4(x3.w), y3_1, s3_1);
    let x4 = subgroupBroadcast(xa0, 4u);
    s4_0 = fma(vec4(x4.x), y0_0, s4_0); s4_1 = fma(vec4(x4.x), y0_1, s4_1);
    s4_0 = fma(vec4(x4.y), y1_0, s4_0); s4_1 = fma(vec4(x4.y), y1_1, s4_1);
    s4_0 = fma(vec4(x4.z), y2_0, s4_0); s4_1 = fma(vec4(x4.z), y2_1, s4_1);
    s4_0 = fma(vec4(x4.w), y3_0, s4_0); s4_1 = fma(vec4(x4.w), y3_1, s4_1);
    let x5 = subgroupBroadcast(xa0, 5u);
    s5_0 = fma(vec4(x5.x), y0_0, s5_0); s5_1 = fma(vec4(x5.x), y0_1, s5_1);
    s5_0 = fma(vec4(x5.y), y1_0, s5_0); s5_1 = fma(vec4(x5.y), y1_1, s5_1);
    s5_0 = fma(vec4(x5.z), y2_0, s5_0); s5_1 = fma(vec4(x5.z), y2_1, s5_1);
    s5_0 = fma(vec4(x5.w), y3_0, s5_0); s5_1 = fma(vec4(x5.w), y3_1, s5_1);
    let x6 = subgroupBroadcast(xa0, 6u);
    s6_0 = fma(vec4(x6.x), y0_0, s6_0); s6_1 = fma(vec4(x6.x), y0_1, s6_1);
    s6_0 = fma(vec4(x6.y), y1_0, s6_0); s6_1 = fma(vec4(x6.y), y1_1, s6_1);
    s6_0 = fma(vec4(x6.z), y2_0, s6_0); s6_1 = fma(vec4(x6.z), y2_1, s6_1);
    s6_0 = fma(vec4(x6.w), y3_0, s6_0); s6_1 = fma(vec4(x6.w), y3_1, s6_1);
    let x7 = subgroupBroadcast(xa0, 7u);
    s7_0 = fma(vec4(x7.x), y0_0, s7_0); s7_1 = fma(vec4(x7.x), y0_1, s7_1);
    s7_0 = fma(vec4(x7.y), y1_0, s7_0); s7_1 = fma(vec4(x7.y), y1_1, s7_1);
    s7_0 = fma(vec4(x7.z), y2_0, s7_0); s7_1 = fma(vec4(x7.z), y2_1, s7_1);
    s7_0 = fma(vec4(x7.w), y3_0, s7_0); s7_1 = fma(vec4(x7.w), y3_1, s7_1);
    let x8 = subgroupBroadcast(xa1, 0u);
    s8_0 = fma(vec4(x8.x), y0_0, s8_0); s8_1 = fma(vec4(x8.x), y0_1, s8_1);
    s8_0 = fma(vec4(x8.y), y1_0, s8_0); s8_1 = fma(vec4(x8.y), y1_1, s8_1);
    s8_0 = fma(vec4(x8.z), y2_0, s8_0); s8_1 = fma(vec4(x8.z), y2_1, s8_1);
    s8_0 = fma(vec4(x8.w), y3_0, s8_0); s8_1 = fma(vec4(x8.w), y3_1, s8_1);
    let x9 = subgroupBroadcast(xa1, 1u);
    s9_0 = fma(vec4(x9.x), y0_0, s9_0); s9_1 = fma(vec4(x9.x), y0_1, s9_1);
    s9_0 = fma(vec4(x9.y), y1_0, s9_0); s9_1 = fma(vec4(x9.y), y1_1, s9_1);
    s9_0 = fma(vec4(x9.z), y2_0, s9_0); s9_1 = fma(vec4(x9.z), y2_1, s9_1);
    s9_0 = fma(vec4(x9.w), y3_0, s9_0); s9_1 = fma(vec4(x9.w), y3_1, s9_1);
    let x10 = subgroupBroadcast(xa1, 2u);
    s10_0 = fma(vec4(x10.x), y0_0, s10_0); s10_1 = fma(vec4(x10.x), y0_1, s10_1);
    s10_0 = fma(vec4(x10.y), y1_0, s10_0); s10_1 = fma(vec4(x10.y), y1_1, s10_1);
    s10_0 = fma(vec4(x10.z), y2_0, s10_0); s10_1 = fma(vec4(x10.z), y2_1, s10_1);
    s10_0 = fma(vec4(x10.w), y3_0, s10_0); s10_1 = fma(vec4(x10.w), y3_1, s10_1);
    let x11 = subgroupBroadcast(xa1, 3u);
    s11_0 = fma(vec4(x11.x), y0_0, s11_0); s11_1 = fma(vec4(x11.x), y0_1, s11_1);
    s11_0 = fma(vec4(x11.y), y1_0, s11_0); s11_1 = fma(vec4(x11.y), y1_1, s11_1);
    s11_0 = fma(vec4(x11.z), y2_0, s11_0); s11_1 = fma(vec4(x11.z), y2_1, s11_1);
    s11_0 = fma(vec4(x11.w), y3_0, s11_0); s11_1 = fma(vec4(x11.w), y3_1, s11_1);
    let x12 = subgroupBroadcast(xa1, 4u);
    s12_0 = fma(vec4(x12.x), y0_0, s12_0); s12_1 = fma(vec4(x12.x), y0_1, s12_1);
    s12_0 = fma(vec4(x12.y), y1_0, s12_0); s12_1 = fma(vec4(x12.y), y1_1, s12_1);
    s12_0 = fma(vec4(x12.z), y2_0, s12_0); s12_1 = fma(vec4(x12.z), y2_1, s12_1);
    s12_0 = fma(vec4(x12.w), y3_0, s12_0); s12_1 = fma(vec4(x12.w), y3_1, s12_1);
    let x13 = subgroupBroadcast(xa1, 5u);
    s13_0 = fma(vec4(x13.x), y0_0, s13_0); s13_1 = fma(vec4(x13.x), y0_1, s13_1);
    s13_0 = fma(vec4(x13.y), y1_0, s13_0); s13_1 = fma(vec4(x13.y), y1_1, s13_1);
    s13_0 = fma(vec4(x13.z), y2_0, s13_0); s13_1 = fma(vec4(x13.z), y2_1, s13_1);
    s13_0 = fma(vec4(x13.w), y3_0, s13_0); s13_1 = fma(vec4(x13.w), y3_1, s13_1);
    let x14 = subgroupBroadcast(xa1, 6u);
    s14_0 = fma(vec4(x14.x), y0_0, s14_0); s14_1 = fma(vec4(x14.x), y0_1, s14_1);
    s14_0 = fma(vec4(x14.y), y1_0, s14_0); s14_1 = fma(vec4(x14.y), y1_1, s14_1);
    s14_0 = fma(vec4(x14.z), y2_0, s14_0); s14_1 = fma(vec4(x14.z), y2_1, s14_1);
    s14_0 = fma(vec4(x14.w), y3_0, s14_0); s14_1 = fma(vec4(x14.w), y3_1, s14_1);
    let x15 = subgroupBroadcast(xa1, 7u);
    s15_0 = fma(vec4(x15.x), y0_0, s15_0); s15_1 = fma(vec4(x15.x), y0_1, s15_1);
    s15_0 = fma(vec4(x15.y), y1_0, s15_0); s15_1 = fma(vec4(x15.y), y1_1, s15_1);
    s15_0 = fma(vec4(x15.z), y2_0, s15_0); s15_1 = fma(vec4(x15.z), y2_1, s15_1);
    s15_0 = fma(vec4(x15.w), y3_0, s15_0); s15_1 = fma(vec4(x15.w), y3_1, s15_1);
    let x16 = subgroupBroadcast(xa2, 0u);
    s16_0 = fma(vec4(x16.x), y0_0, s16_0); s16_1 = fma(vec4(x16.x), y0_1, s16_1);
    s16_0 = fma(vec4(x16.y), y1_0, s16_0); s16_1 = fma(vec4(x16.y), y1_1, s16_1);
    s16_0 = fma(vec4(x16.z), y2_0, s16_0); s16_1 = fma(vec4(x16.z), y2_1, s16_1);
    s16_0 = fma(vec4(x16.w), y3_0, s16_0); s16_1 = fma(vec4(x16.w), y3_1, s16_1);
    let x17 = subgroupBroadcast(xa2, 1u);
    s17_0 = fma(vec4(x17.x), y0_0, s17_0); s17_1 = fma(vec4(x17.x), y0_1, s17_1);
    s17_0 = fma(vec4(x17.y), y1_0, s17_0); s17_1 = fma(vec4(x17.y), y1_1, s17_1);
    s17_0 = fma(vec4(x17.z), y2_0, s17_0); s17_1 = fma(vec4(x17.z), y2_1, s17_1);
    s17_0 = fma(vec4(x17.w), y3_0, s17_0); s17_1 = fma(vec4(x17.w), y3_1, s17_1);
    let x18 = subgroupBroadcast(xa2, 2u);
    s18_0 = fma(vec4(x18.x), y0_0, s18_0); s18_1 = fma(vec4(x18.x), y0_1, s18_1);
    s18_0 = fma(vec4(x18.y), y1_0, s18_0); s18_1 = fma(vec4(x18.y), y1_1, s18_1);
    s18_0 = fma(vec4(x18.z), y2_0, s18_0); s18_1 = fma(vec4(x18.z), y2_1, s18_1);
    s18_0 = fma(vec4(x18.w), y3_0, s18_0); s18_1 = fma(vec4(x18.w), y3_1, s18_1);
    let x19 = subgroupBroadcast(xa2, 3u);
    s19_0 = fma(vec4(x19.x), y0_0, s19_0); s19_1 = fma(vec4(x19.x), y0_1, s19_1);
    s19_0 = fma(vec4(x19.y), y1_0, s19_0); s19_1 = fma(vec4(x19.y), y1_1, s19_1);
    s19_0 = fma(vec4(x19.z), y2_0, s19_0); s19_1 = fma(vec4(x19.z), y2_1, s19_1);
    s19_0 = fma(vec4(x19.w), y3_0, s19_0); s19_1 = fma(vec4(x19.w), y3_1, s19_1);
    let x20 = subgroupBroadcast(xa2, 4u);
    s20_0 = fma(vec4(x20.x), y0_0, s20_0); s20_1 = fma(vec4(x20.x), y0_1, s20_1);
    s20_0 = fma(vec4(x20.y), y1_0, s20_0); s20_1 = fma(vec4(x20.y), y1_1, s20_1);
    s20_0 = fma(vec4(x20.z), y2_0, s20_0); s20_1 = fma(vec4(x20.z), y2_1, s20_1);
    s20_0 = fma(vec4(x20.w), y3_0, s20_0); s20_1 = fma(vec4(x20.w), y3_1, s20_1);
    let x21 = subgroupBroadcast(xa2, 5u);
    s21_0 = fma(vec4(x21.x), y0_0, s21_0); s21_1 = fma(vec4(x21.x), y0_1, s21_1);
    s21_0 = fma(vec4(x21.y), y1_0, s21_0); s21_1 = fma(vec4(x21.y), y1_1, s21_1);
    s21_0 = fma(vec4(x21.z), y2_0, s21_0); s21_1 = fma(vec4(x21.z), y2_1, s21_1);
    s21_0 = fma(vec4(x21.w), y3_0, s21_0); s21_1 = fma(vec4(x21.w), y3_1, s21_1);
    let x22 = subgroupBroadcast(xa2, 6u);
    s22_0 = fma(vec4(x22.x), y0_0, s22_0); s22_1 = fma(vec4(x22.x), y0_1, s22_1);
    s22_0 = fma(vec4(x22.y), y1_0, s22_0); s22_1 = fma(vec4(x22.y), y1_1, s22_1);
    s22_0 = fma(vec4(x22.z), y2_0, s22_0); s22_1 = fma(vec4(x22.z), y2_1, s22_1);
    s22_0 = fma(vec4(x22.w), y3_0, s22_0); s22_1 = fma(vec4(x22.w), y3_1, s22_1);
    let x23 = subgroupBroadcast(xa2, 7u);
    s23_0 = fma(vec4(x23.x), y0_0, s23_0); s23_1 = fma(vec4(x23.x), y0_1, s23_1);
    s23_0 = fma(vec4(x23.y), y1_0, s23_0); s23_1 = fma(vec4(x23.y), y1_1, s23_1);
    s23_0 = fma(vec4(x23.z), y2_0, s23_0); s23_1 = fma(vec4(x23.z), y2_1, s23_1);
    s23_0 = fma(vec4(x23.w), y3_0, s23_0); s23_1 = fma(vec4(x23.w), y3_1, s23_1);
    let x24 = subgroupBroadcast(xa3, 0u);
    s24_0 = fma(vec4(x24.x), y0_0, s24_0); s24_1 = fma(vec4(x24.x), y0_1, s24_1);
    s24_0 = fma(vec4(x24.y), y1_0, s24_0); s24_1 = fma(vec4(x24.y), y1_1, s24_1);
    s24_0 = fma(vec4(x24.z), y2_0, s24_0); s24_1 = fma(vec4(x24.z), y2_1, s24_1);
    s24_0 = fma(vec4(x24.w), y3_0, s24_0); s24_1 = fma(vec4(x24.w), y3_1, s24_1);
    let x25 = subgroupBroadcast(xa3, 1u);
    s25_0 = fma(vec4(x25.x), y0_0, s25_0); s25_1 = fma(vec4(x25.x), y0_1, s25_1);
    s25_0 = fma(vec4(x25.y), y1_0, s25_0); s25_1 = fma(vec4(x25.y), y1_1, s25_1);
    s25_0 = fma(vec4(x25.z), y2_0, s25_0); s25_1 = fma(vec4(x25.z), y2_1, s25_1);
    s25_0 = fma(vec4(x25.w), y3_0, s25_0); s25_1 = fma(vec4(x25.w), y3_1, s25_1);
    let x26 = subgroupBroadcast(xa3, 2u);
    s26_0 = fma(vec4(x26.x), y0_0, s26_0); s26_1 = fma(vec4(x26.x), y0_1, s26_1);
    s26_0 = fma(vec4(x26.y), y1_0, s26_0); s26_1 = fma(vec4(x26.y), y1_1, s26_1);
    s26_0 = fma(vec4(x26.z), y2_0, s26_0); s26_1 = fma(vec4(x26.z), y2_1, s26_1);
    s26_0 = fma(vec4(x26.w), y3_0, s26_0); s26_1 = fma(vec4(x26.w), y3_1, s26_1);
    let x27 = subgroupBroadcast(xa3, 3u);
    s27_0 = fma(vec4(x27.x), y0_0, s27_0); s27_1 = fma(vec4(x27.x), y0_1, s27_1);
    s27_0 = fma(vec4(x27.y), y1_0, s27_0); s27_1 = fma(vec4(x27.y), y1_1, s27_1);
    s27_0 = fma(vec4(x27.z), y2_0, s27_0); s27_1 = fma(vec4(x27.z), y2_1, s27_1);
    s27_0 = fma(vec4(x27.w), y3_0, s27_0); s27_1 = fma(vec4(x27.w), y3_1, s27_1);
    let x28 = subgroupBroadcast(xa3, 4u);
    s28_0 = fma(vec4(x28.x), y0_0, s28_0); s28_1 = fma(vec4(x28.x), y0_1, s28_1);
    s28_0 = fma(vec4(x28.y), y1_0, s28_0); s28_1 = fma(vec4(x28.y), y1_1, s28_1);
    s28_0 = fma(vec4(x28.z), y2_0, s28_0); s28_1 = fma(vec4(x28.z), y2_1, s28_1);
    s28_0 = fma(vec4(x28.w), y3_0, s28_0); s28_1 = fma(vec4(x28.w), y3_1, s28_1);
    let x29 = subgroupBroadcast(xa3, 5u);
    s29_0 = fma(vec4(x29.x), y0_0, s29_0); s29_1 = fma(vec4(x29.x), y0_1, s29_1);
    s29_0 = fma(vec4(x29.y), y1_0, s29_0); s29_1 = fma(vec4(x29.y), y1_1, s29_1);
    s29_0 = fma(vec4(x29.z), y2_0, s29_0); s29_1 = fma(vec4(x29.z), y2_1, s29_1);
    s29_0 = fma(vec4(x29.w), y3_0, s29_0); s29_1 = fma(vec4(x29.w), y3_1, s29_1);
    let x30 = subgroupBroadcast(xa3, 6u);
    s30_0 = fma(vec4(x30.x), y0_0, s30_0); s30_1 = fma(vec4(x30.x), y0_1, s30_1);
    s30_0 = fma(vec4(x30.y), y1_0, s30_0); s30_1 = fma(vec4(x30.y), y1_1, s30_1);
    s30_0 = fma(vec4(x30.z), y2_0, s30_0); s30_1 = fma(vec4(x30.z), y2_1, s30_1);
    s30_0 = fma(vec4(x30.w), y3_0, s30_0); s30_1 = fma(vec4(x30.w), y3_1, s30_1);
    let x31 = subgroupBroadcast(xa3, 7u);
    s31_0 = fma(vec4(x31.x), y0_0, s31_0); s31_1 = fma(vec4(x31.x), y0_1, s31_1);
    s31_0 = fma(vec4(x31.y), y1_0, s31_0); s31_1 = fma(vec4(x31.y), y1_1, s31_1);
    s31_0 = fma(vec4(x31.z), y2_0, s31_0); s31_1 = fma(vec4(x31.z), y2_1, s31_1);
    s31_0 = fma(vec4(x31.w), y3_0, s31_0); s31_1 = fma(vec4(x31.w), y3_1, s31_1);
  }
  store_row4x2(m0 + 0u, g0, s0_0, s0_1);
  store_row4x2(m0 + 1u, g0, s1_0, s1_1);
  store_row4x2(m0 + 2u, g0, s2_0, s2_1);
  store_row4x2(m0 + 3u, g0, s3_0, s3_1);
  store_row4x2(m0 + 4u, g0, s4_0, s4_1);
  store_row4x2(m0 + 5u, g0, s5_0, s5_1);
  store_row4x2(m0 + 6u, g0, s6_0, s6_1);
  store_row4x2(m0 + 7u, g0, s7_0, s7_1);
  store_row4x2(m0 + 8u, g0, s8_0, s8_1);
  store_row4x2(m0 + 9u, g0, s9_0, s9_1);
  store_row4x2(m0 + 10u, g0, s10_0, s10_1);
  store_row4x2(m0 + 11u, g0, s11_0, s11_1);
  store_row4x2(m0 + 12u, g0, s12_0, s12_1);
  store_row4x2(m0 + 13u, g0, s13_0, s13_1);
  store_row4x2(m0 + 14u, g0, s14_0, s14_1);
  store_row4x2(m0 + 15u, g0, s15_0, s15_1);
  store_row4x2(m0 + 16u, g0, s16_0, s16_1);
  store_row4x2(m0 + 17u, g0, s17_0, s17_1);
  store_row4x2(m0 + 18u, g0, s18_0, s18_1);
  store_row4x2(m0 + 19u, g0, s19_0, s19_1);
  store_row4x2(m0 + 20u, g0, s20_0, s20_1);
  store_row4x2(m0 + 21u, g0, s21_0, s21_1);
  store_row4x2(m0 + 22u, g0, s22_0, s22_1);
  store_row4x2(m0 + 23u, g0, s23_0, s23_1);
  store_row4x2(m0 + 24u, g0, s24_0, s24_1);
  store_row4x2(m0 + 25u, g0, s25_0, s25_1);
  store_row4x2(m0 + 26u, g0, s26_0, s26_1);
  store_row4x2(m0 + 27u, g0, s27_0, s27_1);
  store_row4x2(m0 + 28u, g0, s28_0, s28_1);
  store_row4x2(m0 + 29u, g0, s29_0, s29_1);
  store_row4x2(m0 + 30u, g0, s30_0, s30_1);
  store_row4x2(m0 + 31u, g0, s31_0, s31_1);
}

@compute @workgroup_size(WG)
fn gemm_tn_sg(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>,
              @builtin(subgroup_invocation_id) sl: u32) {
  let h0 = wid.y * TS_TMV; // first vec4 row group
  let g0 = wid.x * (WG * TS_TNV) + lid.x; // first vec4 column group
  let M4 = p.M / 4u;
  let N4 = p.N / 4u;
  // Lane sl reads the vec4 row groups h0 + 8 g + sl of A (clamped).
  let ha0 = min(h0 + 0u + sl, M4 - 1u);
  let ha1 = min(h0 + 8u + sl, M4 - 1u);
  let q0 = min(g0 + 0u * WG, N4 - 1u);
  let q1 = min(g0 + 1u * WG, N4 - 1u);
  // s<i>_<j>: row 4 h0 + i, columns 4 (g0 + j WG) + 0..3.
  var s0_0 = vec4<f32>(); var s0_1 = vec4<f32>(); var s1_0 = vec4<f32>(); var s1_1 = vec4<f32>();
  var s2_0 = vec4<f32>(); var s2_1 = vec4<f32>(); var s3_0 = vec4<f32>(); var s3_1 = vec4<f32>();
  var s4_0 = vec4<f32>(); var s4_1 = vec4<f32>(); var s5_0 = vec4<f32>(); var s5_1 = vec4<f32>();
  var s6_0 = vec4<f32>(); var s6_1 = vec4<f32>(); var s7_0 = vec4<f32>(); var s7_1 = vec4<f32>();
  var s8_0 = vec4<f32>(); var s8_1 = vec4<f32>(); var s9_0 = vec4<f32>(); var s9_1 = vec4<f32>();
  var s10_0 = vec4<f32>(); var s10_1 = vec4<f32>(); var s11_0 = vec4<f32>();
  var s11_1 = vec4<f32>();
  var s12_0 = vec4<f32>(); var s12_1 = vec4<f32>(); var s13_0 = vec4<f32>();
  var s13_1 = vec4<f32>(); var s14_0 = vec4<f32>(); var s14_1 = vec4<f32>();
  var s15_0 = vec4<f32>(); var s15_1 = vec4<f32>();
  var s16_0 = vec4<f32>(); var s16_1 = vec4<f32>(); var s17_0 = vec4<f32>();
  var s17_1 = vec4<f32>(); var s18_0 = vec4<f32>(); var s18_1 = vec4<f32>();
  var s19_0 = vec4<f32>(); var s19_1 = vec4<f32>();
  var s20_0 = vec4<f32>(); var s20_1 = vec4<f32>(); var s21_0 = vec4<f32>();
  var s21_1 = vec4<f32>(); var s22_0 = vec4<f32>(); var s22_1 = vec4<f32>();
  var s23_0 = vec4<f32>(); var s23_1 = vec4<f32>();
  var s24_0 = vec4<f32>(); var s24_1 = vec4<f32>(); var s25_0 = vec4<f32>();
  var s25_1 = vec4<f32>(); var s26_0 = vec4<f32>(); var s26_1 = vec4<f32>();
  var s27_0 = vec4<f32>(); var s27_1 = vec4<f32>();
  var s28_0 = vec4<f32>(); var s28_1 = vec4<f32>(); var s29_0 = vec4<f32>();
  var s29_1 = vec4<f32>(); var s30_0 = vec4<f32>(); var s30_1 = vec4<f32>();
  var s31_0 = vec4<f32>(); var s31_1 = vec4<f32>();
  var s32_0 = vec4<f32>(); var s32_1 = vec4<f32>(); var s33_0 = vec4<f32>();
  var s33_1 = vec4<f32>(); var s34_0 = vec4<f32>(); var s34_1 = vec4<f32>();
  var s35_0 = vec4<f32>(); var s35_1 = vec4<f32>();
  var s36_0 = vec4<f32>(); var s36_1 = vec4<f32>(); var s37_0 = vec4<f32>();
  var s37_1 = vec4<f32>(); var s38_0 = vec4<f32>(); var s38_1 = vec4<f32>();
  var s39_0 = vec4<f32>(); var s39_1 = vec4<f32>();
  var s40_0 = vec4<f32>(); var s40_1 = vec4<f32>(); var s41_0 = vec4<f32>();
  var s41_1 = vec4<f32>(); var s42_0 = vec4<f32>(); var s42_1 = vec4<f32>();
  var s43_0 = vec4<f32>(); var s43_1 = vec4<f32>();
  var s44_0 = vec4<f32>(); var s44_1 = vec4<f32>(); var s45_0 = vec4<f32>();
  var s45_1 = vec4<f32>(); var s46_0 = vec4<f32>(); var s46_1 = vec4<f32>();
  var s47_0 = vec4<f32>(); var s47_1 = vec4<f32>();
  var s48_0 = vec4<f32>(); var s48_1 = vec4<f32>(); var s49_0 = vec4<f32>();
  var s49_1 = vec4<f32>(); var s50_0 = vec4<f32>(); var s50_1 = vec4<f32>();
  var s51_0 = vec4<f32>(); var s51_1 = vec4<f32>();
  var s52_0 = vec4<f32>(); var s52_1 = vec4<f32>(); var s53_0 = vec4<f32>();
  var s53_1 = vec4<f32>(); var s54_0 = vec4<f32>(); var s54_1 = vec4<f32>();
  var s55_0 = vec4<f32>(); var s55_1 = vec4<f32>();
  var s56_0 = vec4<f32>(); var s56_1 = vec4<f32>(); var s57_0 = vec4<f32>();
  var s57_1 = vec4<f32>(); var s58_0 = vec4<f32>(); var s58_1 = vec4<f32>();
  var s59_0 = vec4<f32>(); var s59_1 = vec4<f32>();
  var s60_0 = vec4<f32>(); var s60_1 = vec4<f32>(); var s61_0 = vec4<f32>();
  var s61_1 = vec4<f32>(); var s62_0 = vec4<f32>(); var s62_1 = vec4<f32>();
  var s63_0 = vec4<f32>(); var s63_1 = vec4<f32>();
  // Four k steps per iteration: each accumulator takes four fmas in a row.
  for (var k = p.k0; k < p.k1; k += 4u) {
    let r0 = k + 0u; let xa0_0 = a4[r0 * M4 + ha0]; let xa0_1 = a4[r0 * M4 + ha1];
    let y0_0 = b4[r0 * N4 + q0]; let y0_1 = b4[r0 * N4 + q1];
    let r1 = k + 1u; let xa1_0 = a4[r1 * M4 + ha0]; let xa1_1 = a4[r1 * M4 + ha1];
    let y1_0 = b4[r1 * N4 + q0]; let y1_1 = b4[r1 * N4 + q1];
    let r2 = k + 2u; let xa2_0 = a4[r2 * M4 + ha0]; let xa2_1 = a4[r2 * M4 + ha1];
    let y2_0 = b4[r2 * N4 + q0]; let y2_1 = b4[r2 * N4 + q1];
    let r3 = k + 3u; let xa3_0 = a4[r3 * M4 + ha0]; let xa3_1 = a4[r3 * M4 + ha1];
    let y3_0 = b4[r3 * N4 + q0]; let y3_1 = b4[r3 * N4 + q1];
    // Rows 4 (h0 + v) + 0..3 of A^T at k + kk are lane v % 8's value of xa<kk>_<v / 8>.
    let x0_0 = subgroupBroadcast(xa0_0, 0u); let x0_1 = subgroupBroadcast(xa1_0, 0u);
    let x0_2 = subgroupBroadcast(xa2_0, 0u); let x0_3 = subgroupBroadcast(xa3_0, 0u);
    s0_0 = fma(vec4(x0_0.x), y0_0, s0_0); s0_0 = fma(vec4(x0_1.x), y1_0, s0_0);
    s0_0 = fma(vec4(x0_2.x), y2_0, s0_0); s0_0 = fma(vec4(x0_3.x), y3_0, s0_0);
    s0_1 = fma(vec4(x0_0.x), y0_1, s0_1); s0_1 = fma(vec4(x0_1.x), y1_1, s0_1);
    s0_1 = fma(vec4(x0_2.x), y2_1, s0_1); s0_1 = fma(vec4(x0_3.x), y3_1, s0_1);
    s1_0 = fma(vec4(x0_0.y), y0_0, s1_0); s1_0 = fma(vec4(x0_1.y), y1_0, s1_0);
    s1_0 = fma(vec4(x0_2.y), y2_0, s1_0); s1_0 = fma(vec4(x0_3.y), y3_0, s1_0);
    s1_1 = fma(vec4(x0_0.y), y0_1, s1_1); s1_1 = fma(vec4(x0_1.y), y1_1, s1_1);
    s1_1 = fma(vec4(x0_2.y), y2_1, s1_1); s1_1 = fma(vec4(x0_3.y), y3_1, s1_1);
    s2_0 = fma(vec4(x0_0.z), y0_0, s2_0); s2_0 = fma(vec4(x0_1.z), y1_0, s2_0);
    s2_0 = fma(vec4(x0_2.z), y2_0, s2_0); s2_0 = fma(vec4(x0_3.z), y3_0, s2_0);
    s2_1 = fma(vec4(x0_0.z), y0_1, s2_1); s2_1 = fma(vec4(x0_1.z), y1_1, s2_1);
    s2_1 = fma(vec4(x0_2.z), y2_1, s2_1); s2_1 = fma(vec4(x0_3.z), y3_1, s2_1);
    s3_0 = fma(vec4(x0_0.w), y0_0, s3_0); s3_0 = fma(vec4(x0_1.w), y1_0, s3_0);
    s3_0 = fma(vec4(x0_2.w), y2_0, s3_0); s3_0 = fma(vec4(x0_3.w), y3_0, s3_0);
    s3_1 = fma(vec4(x0_0.w), y0_1, s3_1); s3_1 = fma(vec4(x0_1.w), y1_1, s3_1);
    s3_1 = fma(vec4(x0_2.w), y2_1, s3_1); s3_1 = fma(vec4(x0_3.w), y3_1, s3_1);
    let x1_0 = subgroupBroadcast(xa0_0, 1u); let x1_1 = subgroupBroadcast(xa1_0, 1u);
    let x1_2 = subgroupBroadcast(xa2_0, 1u); let x1_3 = subgroupBroadcast(xa3_0, 1u);
    s4_0 = fma(vec4(x1_0.x), y0_0, s4_0); s4_0 = fma(vec4(x1_1.x), y1_0, s4_0);
    s4_0 = fma(vec4(x1_2.x), y2_0, s4_0); s4_0 = fma(vec4(x1_3.x), y3_0, s4_0);
    s4_1 = fma(vec4(x1_0.x), y0_1, s4_1); s4_1 = fma(vec4(x1_1.x), y1_1, s4_1);
    s4_1 = fma(vec4(x1_2.x), y2_1, s4_1); s4_1 = fma(vec4(x1_3.x), y3_1, s4_1);
    s5_0 = fma(vec4(x1_0.y), y0_0, s5_0); s5_0 = fma(vec4(x1_1.y), y1_0, s5_0);
    s5_0 = fma(vec4(x1_2.y), y2_0, s5_0); s5_0 = fma(vec4(x1_3.y), y3_0, s5_0);
    s5_1 = fma(vec4(x1_0.y), y0_1, s5_1); s5_1 = fma(vec4(x1_1.y), y1_1, s5_1);
    s5_1 = fma(vec4(x1_2.y), y2_1, s5_1); s5_1 = fma(vec4(x1_3.y), y3_1, s5_1);
    s6_0 = fma(vec4(x1_0.z), y0_0, s6_0); s6_0 = fma(vec4(x1_1.z), y1_0, s6_0);
    s6_0 = fma(vec4(x1_2.z), y2_0, s6_0); s6_0 = fma(vec4(x1_3.z), y3_0, s6_0);
    s6_1 = fma(vec4(x1_0.z), y0_1, s6_1); s6_1 = fma(vec4(x1_1.z), y1_1, s6_1);
    s6_1 = fma(vec4(x1_2.z), y2_1, s6_1); s6_1 = fma(vec4(x1_3.z), y3_1, s6_1);
    s7_0 = fma(vec4(x1_0.w), y0_0, s7_0); s7_0 = fma(vec4(x1_1.w), y1_0, s7_0);
    s7_0 = fma(vec4(x1_2.w), y2_0, s7_0); s7_0 = fma(vec4(x1_3.w), y3_0, s7_0);
    s7_1 = fma(vec4(x1_0.w), y0_1, s7_1); s7_1 = fma(vec4(x1_1.w), y1_1, s7_1);
    s7_1 = fma(vec4(x1_2.w), y2_1, s7_1); s7_1 = fma(vec4(x1_3.w), y3_1, s7_1);
    let x2_0 = subgroupBroadcast(xa0_0, 2u); let x2_1 = subgroupBroadcast(xa1_0, 2u);
    let x2_2 = subgroupBroadcast(xa2_0, 2u); let x2_3 = subgroupBroadcast(xa3_0, 2u);
    s8_0 = fma(vec4(x2_0.x), y0_0, s8_0); s8_0 = fma(vec4(x2_1.x), y1_0, s8_0);
    s8_0 = fma(vec4(x2_2.x), y2_0, s8_0); s8_0 = fma(vec4(x2_3.x), y3_0, s8_0);
    s8_1 = fma(vec4(x2_0.x), y0_1, s8_1); s8_1 = fma(vec4(x2_1.x), y1_1, s8_1);
    s8_1 = fma(vec4(x2_2.x), y2_1, s8_1); s8_1 = fma(vec4(x2_3.x), y3_1, s8_1);
    s9_0 = fma(vec4(x2_0.y), y0_0, s9_0); s9_0 = fma(vec4(x2_1.y), y1_0, s9_0);
    s9_0 = fma(vec4(x2_2.y), y2_0, s9_0); s9_0 = fma(vec4(x2_3.y), y3_0, s9_0);
    s9_1 = fma(vec4(x2_0.y), y0_1, s9_1); s9_1 = fma(vec4(x2_1.y), y1_1, s9_1);
    s9_1 = fma(vec4(x2_2.y), y2_1, s9_1); s9_1 = fma(vec4(x2_3.y), y3_1, s9_1);
    s10_0 = fma(vec4(x2_0.z), y0_0, s10_0); s10_0 = fma(vec4(x2_1.z), y1_0, s10_0);
    s10_0 = fma(vec4(x2_2.z), y2_0, s10_0); s10_0 = fma(vec4(x2_3.z), y3_0, s10_0);
    s10_1 = fma(vec4(x2_0.z), y0_1, s10_1); s10_1 = fma(vec4(x2_1.z), y1_1, s10_1);
    s10_1 = fma(vec4(x2_2.z), y2_1, s10_1); s10_1 = fma(vec4(x2_3.z), y3_1, s10_1);
    s11_0 = fma(vec4(x2_0.w), y0_0, s11_0); s11_0 = fma(vec4(x2_1.w), y1_0, s11_0);
    s11_0 = fma(vec4(x2_2.w), y2_0, s11_0); s11_0 = fma(vec4(x2_3.w), y3_0, s11_0);
    s11_1 = fma(vec4(x2_0.w), y0_1, s11_1); s11_1 = fma(vec4(x2_1.w), y1_1, s11_1);
    s11_1 = fma(vec4(x2_2.w), y2_1, s11_1); s11_1 = fma(vec4(x2_3.w), y3_1, s11_1);
    let x3_0 = subgroupBroadcast(xa0_0, 3u); let x3_1 = subgroupBroadcast(xa1_0, 3u);
    let x3_2 = subgroupBroadcast(xa2_0, 3u); let x3_3 = subgroupBroadcast(xa3_0, 3u);
    s12_0 = fma(vec4(x3_0.x), y0_0, s12_0); s12_0 = fma(vec4(x3_1.x), y1_0, s12_0);
    s12_0 = fma(vec4(x3_2.x), y2_0, s12_0); s12_0 = fma(vec4(x3_3.x), y3_0, s12_0);
    s12_1 = fma(vec4(x3_0.x), y0_1, s12_1); s12_1 = fma(vec4(x3_1.x), y1_1, s12_1);
    s12_1 = fma(vec4(x3_2.x), y2_1, s12_1); s12_1 = fma(vec4(x3_3.x), y3_1, s12_1);
    s13_0 = fma(vec4(x3_0.y), y0_0, s13_0); s13_0 = fma(vec4(x3_1.y), y1_0, s13_0);
    s13_0 = fma(vec4(x3_2.y), y2_0, s13_0); s13_0 = fma(vec4(x3_3.y), y3_0, s13_0);
    s13_1 = fma(vec4(x3_0.y), y0_1, s13_1); s13_1 = fma(vec4(x3_1.y), y1_1, s13_1);
    s13_1 = fma(vec4(x3_2.y), y2_1, s13_1); s13_1 = fma(vec4(x3_3.y), y3_1, s13_1);
    s14_0 = fma(vec4(x3_0.z), y0_0, s14_0); s14_0 = fma(vec4(x3_1.z), y1_0, s14_0);
    s14_0 = fma(vec4(x3_2.z), y2_0, s14_0); s14_0 = fma(vec4(x3_3.z), y3_0, s14_0);
    s14_1 = fma(vec4(x3_0.z), y0_1, s14_1); s14_1 = fma(vec4(x3_1.z), y1_1, s14_1);
    s14_1 = fma(vec4(x3_2.z), y2_1, s14_1); s14_1 = fma(vec4(x3_3.z), y3_1, s14_1);
    s15_0 = fma(vec4(x3_0.w), y0_0, s15_0); s15_0 = fma(vec4(x3_1.w), y1_0, s15_0);
    s15_0 = fma(vec4(x3_2.w), y2_0, s15_0); s15_0 = fma(vec4(x3_3.w), y3_0, s15_0);
    s15_1 = fma(vec4(x3_0.w), y0_1, s15_1); s15_1 = fma(vec4(x3_1.w), y1_1, s15_1);
    s15_1 = fma(vec4(x3_2.w), y2_1, s15_1); s15_1 = fma(vec4(x3_3.w), y3_1, s15_1);
    let x4_0 = subgroupBroadcast(xa0_0, 4u); let x4_1 = subgroupBroadcast(xa1_0, 4u);
    let x4_2 = subgroupBroadcast(xa2_0, 4u); let x4_3 = subgroupBroadcast(xa3_0, 4u);
    s16_0 = fma(vec4(x4_0.x), y0_0, s16_0); s16_0 = fma(vec4(x4_1.x), y1_0, s16_0);
    s16_0 = fma(vec4(x4_2.x), y2_0, s16_0); s16_0 = fma(vec4(x4_3.x), y3_0, s16_0);
    s16_1 = fma(vec4(x4_0.x), y0_1, s16_1); s16_1 = fma(vec4(x4_1.x), y1_1, s16_1);
    s16_1 = fma(vec4(x4_2.x), y2_1, s16_1); s16_1 = fma(vec4(x4_3.x), y3_1, s16_1);
    s17_0 = fma(vec4(x4_0.y), y0_0, s17_0); s17_0 = fma(vec4(x4_1.y), y1_0, s17_0);
    s17_0 = fma(vec4(x4_2.y), y2_0, s17_0); s17_0 = fma(vec4(x4_3.y), y3_0, s17_0);
    s17_1 = fma(vec4(x4_0.y), y0_1, s17_1); s17_1 = fma(vec4(x4_1.y), y1_1, s17_1);
    s17_1 = fma(vec4(x4_2.y), y2_1, s17_1); s17_1 = fma(vec4(x4_3.y), y3_1, s17_1);
    s18_0 = fma(vec4(x4_0.z), y0_0, s18_0); s18_0 = fma(vec4(x4_1.z), y1_0, s18_0);
    s18_0 = fma(vec4(x4_2.z), y2_0, s18_0); s18_0 = fma(vec4(x4_3.z), y3_0, s18_0);
    s18_1 = fma(vec4(x4_0.z), y0_1, s18_1); s18_1 = fma(vec4(x4_1.z), y1_1, s18_1);
    s18_1 = fma(vec4(x4_2.z), y2_1, s18_1); s18_1 = fma(vec4(x4_3.z), y3_1, s18_1);
    s19_0 = fma(vec4(x4_0.w), y0_0, s19_0); s19_0 = fma(vec4(x4_1.w), y1_0, s19_0);
    s19_0 = fma(vec4(x4_2.w), y2_0, s19_0); s19_0 = fma(vec4(x4_3.w), y3_0, s19_0);
    s19_1 = fma(vec4(x4_0.w), y0_1, s19_1); s19_1 = fma(vec4(x4_1.w), y1_1, s19_1);
    s19_1 = fma(vec4(x4_2.w), y2_1, s19_1); s19_1 = fma(vec4(x4_3.w), y3_1, s19_1);
    let x5_0 = subgroupBroadcast(xa0_0, 5u); let x5_1 = subgroupBroadcast(xa1_0, 5u);
    let x5_2 = subgroupBroadcast(xa2_0, 5u); let x5_3 = subgroupBroadcast(xa3_0, 5u);
    s20_0 = fma(vec4(x5_0.x), y0_0, s20_0); s20_0 = fma(vec4(x5_1.x), y1_0, s20_0);
    s20_0 = fma(vec4(x5_2.x), y2_0, s20_0); s20_0 = fma(vec4(x5_3.x), y3_0, s20_0);
    s20_1 = fma(vec4(x5_0.x), y0_1, s20_1); s20_1 = fma(vec4(x5_1.x), y1_1, s20_1);
    s20_1 = fma(vec4(x5_2.x), y2_1, s20_1); s20_1 = fma(vec4(x5_3.x), y3_1, s20_1);
    s21_0 = fma(vec4(x5_0.y), y0_0, s21_0); s21_0 = fma(vec4(x5_1.y), y1_0, s21_0);
    s21_0 = fma(vec4(x5_2.y), y2_0, s21_0); s21_0 = fma(vec4(x5_3.y), y3_0, s21_0);
    s21_1 = fma(vec4(x5_0.y), y0_1, s21_1); s21_1 = fma(vec4(x5_1.y), y1_1, s21_1);
    s21_1 = fma(vec4(x5_2.y), y2_1, s21_1); s21_1 = fma(vec4(x5_3.y), y3_1, s21_1);
    s22_0 = fma(vec4(x5_0.z), y0_0, s22_0); s22_0 = fma(vec4(x5_1.z), y1_0, s22_0);
    s22_0 = fma(vec4(x5_2.z), y2_0, s22_0); s22_0 = fma(vec4(x5_3.z), y3_0, s22_0);
    s22_1 = fma(vec4(x5_0.z), y0_1, s22_1); s22_1 = fma(vec4(x5_1.z), y1_1, s22_1);
    s22_1 = fma(vec4(x5_2.z), y2_1, s22_1); s22_1 = fma(vec4(x5_3.z), y3_1, s22_1);
    s23_0 = fma(vec4(x5_0.w), y0_0, s23_0); s23_0 = fma(vec4(x5_1.w), y1_0, s23_0);
    s23_0 = fma(vec4(x5_2.w), y2_0, s23_0); s23_0 = fma(vec4(x5_3.w), y3_0, s23_0);
    s23_1 = fma(vec4(x5_0.w), y0_1, s23_1); s23_1 = fma(vec4(x5_1.w), y1_1, s23_1);
    s23_1 = fma(vec4(x5_2.w), y2_1, s23_1); s23_1 = fma(vec4(x5_3.w), y3_1, s23_1);
    let x6_0 = subgroupBroadcast(xa0_0, 6u); let x6_1 = subgroupBroadcast(xa1_0, 6u);
    let x6_2 = subgroupBroadcast(xa2_0, 6u); let x6_3 = subgroupBroadcast(xa3_0, 6u);
    s24_0 = fma(vec4(x6_0.x), y0_0, s24_0); s24_0 = fma(vec4(x6_1.x), y1_0, s24_0);
    s24_0 = fma(vec4(x6_2.x), y2_0, s24_0); s24_0 = fma(vec4(x6_3.x), y3_0, s24_0);
    s24_1 = fma(vec4(x6_0.x), y0_1, s24_1); s24_1 = fma(vec4(x6_1.x), y1_1, s24_1);
    s24_1 = fma(vec4(x6_2.x), y2_1, s24_1); s24_1 = fma(vec4(x6_3.x), y3_1, s24_1);
    s25_0 = fma(vec4(x6_0.y), y0_0, s25_0); s25_0 = fma(vec4(x6_1.y), y1_0, s25_0);
    s25_0 = fma(vec4(x6_2.y), y2_0, s25_0); s25_0 = fma(vec4(x6_3.y), y3_0, s25_0);
    s25_1 = fma(vec4(x6_0.y), y0_1, s25_1); s25_1 = fma(vec4(x6_1.y), y1_1, s25_1);
    s25_1 = fma(vec4(x6_2.y), y2_1, s25_1); s25_1 = fma(vec4(x6_3.y), y3_1, s25_1);
    s26_0 = fma(vec4(x6_0.z), y0_0, s26_0); s26_0 = fma(vec4(x6_1.z), y1_0, s26_0);
    s26_0 = fma(vec4(x6_2.z), y2_0, s26_0); s26_0 = fma(vec4(x6_3.z), y3_0, s26_0);
    s26_1 = fma(vec4(x6_0.z), y0_1, s26_1); s26_1 = fma(vec4(x6_1.z), y1_1, s26_1);
    s26_1 = fma(vec4(x6_2.z), y2_1, s26_1); s26_1 = fma(vec4(x6_3.z), y3_1, s26_1);
    s27_0 = fma(vec4(x6_0.w), y0_0, s27_0); s27_0 = fma(vec4(x6_1.w), y1_0, s27_0);
    s27_0 = fma(vec4(x6_2.w), y2_0, s27_0); s27_0 = fma(vec4(x6_3.w), y3_0, s27_0);
    s27_1 = fma(vec4(x6_0.w), y0_1, s27_1); s27_1 = fma(vec4(x6_1.w), y1_1, s27_1);
    s27_1 = fma(vec4(x6_2.w), y2_1, s27_1); s27_1 = fma(vec4(x6_3.w), y3_1, s27_1);
    let x7_0 = subgroupBroadcast(xa0_0, 7u); let x7_1 = subgroupBroadcast(xa1_0, 7u);
    let x7_2 = subgroupBroadcast(xa2_0, 7u); let x7_3 = subgroupBroadcast(xa3_0, 7u);
    s28_0 = fma(vec4(x7_0.x), y0_0, s28_0); s28_0 = fma(vec4(x7_1.x), y1_0, s28_0);
    s28_0 = fma(vec4(x7_2.x), y2_0, s28_0); s28_0 = fma(vec4(x7_3.x), y3_0, s28_0);
    s28_1 = fma(vec4(x7_0.x), y0_1, s28_1); s28_1 = fma(vec4(x7_1.x), y1_1, s28_1);
    s28_1 = fma(vec4(x7_2.x), y2_1, s28_1); s28_1 = fma(vec4(x7_3.x), y3_1, s28_1);
    s29_0 = fma(vec4(x7_0.y), y0_0, s29_0); s29_0 = fma(vec4(x7_1.y), y1_0, s29_0);
    s29_0 = fma(vec4(x7_2.y), y2_0, s29_0); s29_0 = fma(vec4(x7_3.y), y3_0, s29_0);
    s29_1 = fma(vec4(x7_0.y), y0_1, s29_1); s29_1 = fma(vec4(x7_1.y), y1_1, s29_1);
    s29_1 = fma(vec4(x7_2.y), y2_1, s29_1); s29_1 = fma(vec4(x7_3.y), y3_1, s29_1);
    s30_0 = fma(vec4(x7_0.z), y0_0, s30_0); s30_0 = fma(vec4(x7_1.z), y1_0, s30_0);
    s30_0 = fma(vec4(x7_2.z), y2_0, s30_0); s30_0 = fma(vec4(x7_3.z), y3_0, s30_0);
    s30_1 = fma(vec4(x7_0.z), y0_1, s30_1); s30_1 = fma(vec4(x7_1.z), y1_1, s30_1);
    s30_1 = fma(vec4(x7_2.z), y2_1, s30_1); s30_1 = fma(vec4(x7_3.z), y3_1, s30_1);
    s31_0 = fma(vec4(x7_0.w), y0_0, s31_0); s31_0 = fma(vec4(x7_1.w), y1_0, s31_0);
    s31_0 = fma(vec4(x7_2.w), y2_0, s31_0); s31_0 = fma(vec4(x7_3.w), y3_0, s31_0);
    s31_1 = fma(vec4(x7_0.w), y0_1, s31_1); s31_1 = fma(vec4(x7_1.w), y1_1, s31_1);
    s31_1 = fma(vec4(x7_2.w), y2_1, s31_1); s31_1 = fma(vec4(x7_3.w), y3_1, s31_1);
    let x8_0 = subgroupBroadcast(xa0_1, 0u); let x8_1 = subgroupBroadcast(xa1_1, 0u);
    let x8_2 = subgroupBroadcast(xa2_1, 0u); let x8_3 = subgroupBroadcast(xa3_1, 0u);
    s32_0 = fma(vec4(x8_0.x), y0_0, s32_0); s32_0 = fma(vec4(x8_1.x), y1_0, s32_0);
    s32_0 = fma(vec4(x8_2.x), y2_0, s32_0); s32_0 = fma(vec4(x8_3.x), y3_0, s32_0);
    s32_1 = fma(vec4(x8_0.x), y0_1, s32_1); s32_1 = fma(vec4(x8_1.x), y1_1, s32_1);
    s32_1 = fma(vec4(x8_2.x), y2_1, s32_1); s32_1 = fma(vec4(x8_3.x), y3_1, s32_1);
    s33_0 = fma(vec4(x8_0.y), y0_0, s33_0); s33_0 = fma(vec4(x8_1.y), y1_0, s33_0);
    s33_0 = fma(vec4(x8_2.y), y2_0, s33_0); s33_0 = fma(vec4(x8_3.y), y3_0, s33_0);
    s33_1 = fma(vec4(x8_0.y), y0_1, s33_1); s33_1 = fma(vec4(x8_1.y), y1_1, s33_1);
    s33_1 = fma(vec4(x8_2.y), y2_1, s33_1); s33_1 = fma(vec4(x8_3.y), y3_1, s33_1);
    s34_0 = fma(vec4(x8_0.z), y0_0, s34_0); s34_0 = fma(vec4(x8_1.z), y1_0, s34_0);
    s34_0 = fma(vec4(x8_2.z), y2_0, s34_0); s34_0 = fma(vec4(x8_3.z), y3_0, s34_0);
    s34_1 = fma(vec4(x8_0.z), y0_1, s34_1); s34_1 = fma(vec4(x8_1.z), y1_1, s34_1);
    s34_1 = fma(vec4(x8_2.z), y2_1, s34_1); s34_1 = fma(vec4(x8_3.z), y3_1, s34_1);
    s35_0 = fma(vec4(x8_0.w), y0_0, s35_0); s35_0 = fma(vec4(x8_1.w), y1_0, s35_0);
    s35_0 = fma(vec4(x8_2.w), y2_0, s35_0); s35_0 = fma(vec4(x8_3.w), y3_0, s35_0);
    s35_1 = fma(vec4(x8_0.w), y0_1, s35_1); s35_1 = fma(vec4(x8_1.w), y1_1, s35_1);
    s35_1 = fma(vec4(x8_2.w), y2_1, s35_1); s35_1 = fma(vec4(x8_3.w), y3_1, s35_1);
    let x9_0 = subgroupBroadcast(xa0_1, 1u); let x9_1 = subgroupBroadcast(xa1_1, 1u);
    let x9_2 = subgroupBroadcast(xa2_1, 1u); let x9_3 = subgroupBroadcast(xa3_1, 1u);
    s36_0 = fma(vec4(x9_0.x), y0_0, s36_0); s36_0 = fma(vec4(x9_1.x), y1_0, s36_0);
    s36_0 = fma(vec4(x9_2.x), y2_0, s36_0); s36_0 = fma(vec4(x9_3.x), y3_0, s36_0);
    s36_1 = fma(vec4(x9_0.x), y0_1, s36_1); s36_1 = fma(vec4(x9_1.x), y1_1, s36_1);
    s36_1 = fma(vec4(x9_2.x), y2_1, s36_1); s36_1 = fma(vec4(x9_3.x), y3_1, s36_1);
    s37_0 = fma(vec4(x9_0.y), y0_0, s37_0); s37_0 = fma(vec4(x9_1.y), y1_0, s37_0);
    s37_0 = fma(vec4(x9_2.y), y2_0, s37_0); s37_0 = fma(vec4(x9_3.y), y3_0, s37_0);
    s37_1 = fma(vec4(x9_0.y), y0_1, s37_1); s37_1 = fma(vec4(x9_1.y), y1_1, s37_1);
    s37_1 = fma(vec4(x9_2.y), y2_1, s37_1); s37_1 = fma(vec4(x9_3.y), y3_1, s37_1);
    s38_0 = fma(vec4(x9_0.z), y0_0, s38_0); s38_0 = fma(vec4(x9_1.z), y1_0, s38_0);
    s38_0 = fma(vec4(x9_2.z), y2_0, s38_0); s38_0 = fma(vec4(x9_3.z), y3_0, s38_0);
    s38_1 = fma(vec4(x9_0.z), y0_1, s38_1); s38_1 = fma(vec4(x9_1.z), y1_1, s38_1);
    s38_1 = fma(vec4(x9_2.z), y2_1, s38_1); s38_1 = fma(vec4(x9_3.z), y3_1, s38_1);
    s39_0 = fma(vec4(x9_0.w), y0_0, s39_0); s39_0 = fma(vec4(x9_1.w), y1_0, s39_0);
    s39_0 = fma(vec4(x9_2.w), y2_0, s39_0); s39_0 = fma(vec4(x9_3.w), y3_0, s39_0);
    s39_1 = fma(vec4(x9_0.w), y0_1, s39_1); s39_1 = fma(vec4(x9_1.w), y1_1, s39_1);
    s39_1 = fma(vec4(x9_2.w), y2_1, s39_1); s39_1 = fma(vec4(x9_3.w), y3_1, s39_1);
    let x10_0 = subgroupBroadcast(xa0_1, 2u); let x10_1 = subgroupBroadcast(xa1_1, 2u);
    let x10_2 = subgroupBroadcast(xa2_1, 2u); let x10_3 = subgroupBroadcast(xa3_1, 2u);
    s40_0 = fma(vec4(x10_0.x), y0_0, s40_0); s40_0 = fma(vec4(x10_1.x), y1_0, s40_0);
    s40_0 = fma(vec4(x10_2.x), y2_0, s40_0); s40_0 = fma(vec4(x10_3.x), y3_0, s40_0);
    s40_1 = fma(vec4(x10_0.x), y0_1, s40_1); s40_1 = fma(vec4(x10_1.x), y1_1, s40_1);
    s40_1 = fma(vec4(x10_2.x), y2_1, s40_1); s40_1 = fma(vec4(x10_3.x), y3_1, s40_1);
    s41_0 = fma(vec4(x10_0.y), y0_0, s41_0); s41_0 = fma(vec4(x10_1.y), y1_0, s41_0);
    s41_0 = fma(vec4(x10_2.y), y2_0, s41_0); s41_0 = fma(vec4(x10_3.y), y3_0, s41_0);
    s41_1 = fma(vec4(x10_0.y), y0_1, s41_1); s41_1 = fma(vec4(x10_1.y), y1_1, s41_1);
    s41_1 = fma(vec4(x10_2.y), y2_1, s41_1); s41_1 = fma(vec4(x10_3.y), y3_1, s41_1);
    s42_0 = fma(vec4(x10_0.z), y0_0, s42_0); s42_0 = fma(vec4(x10_1.z), y1_0, s42_0);
    s42_0 = fma(vec4(x10_2.z), y2_0, s42_0); s42_0 = fma(vec4(x10_3.z), y3_0, s42_0);
    s42_1 = fma(vec4(x10_0.z), y0_1, s42_1); s42_1 = fma(vec4(x10_1.z), y1_1, s42_1);
    s42_1 = fma(vec4(x10_2.z), y2_1, s42_1); s42_1 = fma(vec4(x10_3.z), y3_1, s42_1);
    s43_0 = fma(vec4(x10_0.w), y0_0, s43_0); s43_0 = fma(vec4(x10_1.w), y1_0, s43_0);
    s43_0 = fma(vec4(x10_2.w), y2_0, s43_0); s43_0 = fma(vec4(x10_3.w), y3_0, s43_0);
    s43_1 = fma(vec4(x10_0.w), y0_1, s43_1); s43_1 = fma(vec4(x10_1.w), y1_1, s43_1);
    s43_1 = fma(vec4(x10_2.w), y2_1, s43_1); s43_1 = fma(vec4(x10_3.w), y3_1, s43_1);
    let x11_0 = subgroupBroadcast(xa0_1, 3u); let x11_1 = subgroupBroadcast(xa1_1, 3u);
    let x11_2 = subgroupBroadcast(xa2_1, 3u); let x11_3 = subgroupBroadcast(xa3_1, 3u);
    s44_0 = fma(vec4(x11_0.x), y0_0, s44_0); s44_0 = fma(vec4(x11_1.x), y1_0, s44_0);
    s44_0 = fma(vec4(x11_2.x), y2_0, s44_0); s44_0 = fma(vec4(x11_3.x), y3_0, s44_0);
    s44_1 = fma(vec4(x11_0.x), y0_1, s44_1); s44_1 = fma(vec4(x11_1.x), y1_1, s44_1);
    s44_1 = fma(vec4(x11_2.x), y2_1, s44_1); s44_1 = fma(vec4(x11_3.x), y3_1, s44_1);
    s45_0 = fma(vec4(x11_0.y), y0_0, s45_0); s45_0 = fma(vec4(x11_1.y), y1_0, s45_0);
    s45_0 = fma(vec4(x11_2.y), y2_0, s45_0); s45_0 = fma(vec4(x11_3.y), y3_0, s45_0);
    s45_1 = fma(vec4(x11_0.y), y0_1, s45_1); s45_1 = fma(vec4(x11_1.y), y1_1, s45_1);
    s45_1 = fma(vec4(x11_2.y), y2_1, s45_1); s45_1 = fma(vec4(x11_3.y), y3_1, s45_1);
    s46_0 = fma(vec4(x11_0.z), y0_0, s46_0); s46_0 = fma(vec4(x11_1.z), y1_0, s46_0);
    s46_0 = fma(vec4(x11_2.z), y2_0, s46_0); s46_0 = fma(vec4(x11_3.z), y3_0, s46_0);
    s46_1 = fma(vec4(x11_0.z), y0_1, s46_1); s46_1 = fma(vec4(x11_1.z), y1_1, s46_1);
    s46_1 = fma(vec4(x11_2.z), y2_1, s46_1); s46_1 = fma(vec4(x11_3.z), y3_1, s46_1);
    s47_0 = fma(vec4(x11_0.w), y0_0, s47_0); s47_0 = fma(vec4(x11_1.w), y1_0, s47_0);
    s47_0 = fma(vec4(x11_2.w), y2_0, s47_0); s47_0 = fma(vec4(x11_3.w), y3_0, s47_0);
    s47_1 = fma(vec4(x11_0.w), y0_1, s47_1); s47_1 = fma(vec4(x11_1.w), y1_1, s47_1);
    s47_1 = fma(vec4(x11_2.w), y2_1, s47_1); s47_1 = fma(vec4(x11_3.w), y3_1, s47_1);
    let x12_0 = subgroupBroadcast(xa0_1, 4u); let x12_1 = subgroupBroadcast(xa1_1, 4u);
    let x12_2 = subgroupBroadcast(xa2_1, 4u); let x12_3 = subgroupBroadcast(xa3_1, 4u);
    s48_0 = fma(vec4(x12_0.x), y0_0, s48_0); s48_0 = fma(vec4(x12_1.x), y1_0, s48_0);
    s48_0 = fma(vec4(x12_2.x), y2_0, s48_0); s48_0 = fma(vec4(x12_3.x), y3_0, s48_0);
    s48_1 = fma(vec4(x12_0.x), y0_1, s48_1); s48_1 = fma(vec4(x12_1.x), y1_1, s48_1);
    s48_1 = fma(vec4(x12_2.x), y2_1, s48_1); s48_1 = fma(vec4(x12_3.x), y3_1, s48_1);
    s49_0 = fma(vec4(x12_0.y), y0_0, s49_0); s49_0 = fma(vec4(x12_1.y), y1_0, s49_0);
    s49_0 = fma(vec4(x12_2.y), y2_0, s49_0); s49_0 = fma(vec4(x12_3.y), y3_0, s49_0);
    s49_1 = fma(vec4(x12_0.y), y0_1, s49_1); s49_1 = fma(vec4(x12_1.y), y1_1, s49_1);
    s49_1 = fma(vec4(x12_2.y), y2_1, s49_1); s49_1 = fma(vec4(x12_3.y), y3_1, s49_1);
    s50_0 = fma(vec4(x12_0.z), y0_0, s50_0); s50_0 = fma(vec4(x12_1.z), y1_0, s50_0);
    s50_0 = fma(vec4(x12_2.z), y2_0, s50_0); s50_0 = fma(vec4(x12_3.z), y3_0, s50_0);
    s50_1 = fma(vec4(x12_0.z), y0_1, s50_1); s50_1 = fma(vec4(x12_1.z), y1_1, s50_1);
    s50_1 = fma(vec4(x12_2.z), y2_1, s50_1); s50_1 = fma(vec4(x12_3.z), y3_1, s50_1);
    s51_0 = fma(vec4(x12_0.w), y0_0, s51_0); s51_0 = fma(vec4(x12_1.w), y1_0, s51_0);
    s51_0 = fma(vec4(x12_2.w), y2_0, s51_0); s51_0 = fma(vec4(x12_3.w), y3_0, s51_0);
    s51_1 = fma(vec4(x12_0.w), y0_1, s51_1); s51_1 = fma(vec4(x12_1.w), y1_1, s51_1);
    s51_1 = fma(vec4(x12_2.w), y2_1, s51_1); s51_1 = fma(vec4(x12_3.w), y3_1, s51_1);
    let x13_0 = subgroupBroadcast(xa0_1, 5u); let x13_1 = subgroupBroadcast(xa1_1, 5u);
    let x13_2 = subgroupBroadcast(xa2_1, 5u); let x13_3 = subgroupBroadcast(xa3_1, 5u);
    s52_0 = fma(vec4(x13_0.x), y0_0, s52_0); s52_0 = fma(vec4(x13_1.x), y1_0, s52_0);
    s52_0 = fma(vec4(x13_2.x), y2_0, s52_0); s52_0 = fma(vec4(x13_3.x), y3_0, s52_0);
    s52_1 = fma(vec4(x13_0.x), y0_1, s52_1); s52_1 = fma(vec4(x13_1.x), y1_1, s52_1);
    s52_1 = fma(vec4(x13_2.x), y2_1, s52_1); s52_1 = fma(vec4(x13_3.x), y3_1, s52_1);
    s53_0 = fma(vec4(x13_0.y), y0_0, s53_0); s53_0 = fma(vec4(x13_1.y), y1_0, s53_0);
    s53_0 = fma(vec4(x13_2.y), y2_0, s53_0); s53_0 = fma(vec4(x13_3.y), y3_0, s53_0);
    s53_1 = fma(vec4(x13_0.y), y0_1, s53_1); s53_1 = fma(vec4(x13_1.y), y1_1, s53_1);
    s53_1 = fma(vec4(x13_2.y), y2_1, s53_1); s53_1 = fma(vec4(x13_3.y), y3_1, s53_1);
    s54_0 = fma(vec4(x13_0.z), y0_0, s54_0); s54_0 = fma(vec4(x13_1.z), y1_0, s54_0);
    s54_0 = fma(vec4(x13_2.z), y2_0, s54_0); s54_0 = fma(vec4(x13_3.z), y3_0, s54_0);
    s54_1 = fma(vec4(x13_0.z), y0_1, s54_1); s54_1 = fma(vec4(x13_1.z), y1_1, s54_1);
    s54_1 = fma(vec4(x13_2.z), y2_1, s54_1); s54_1 = fma(vec4(x13_3.z), y3_1, s54_1);
    s55_0 = fma(vec4(x13_0.w), y0_0, s55_0); s55_0 = fma(vec4(x13_1.w), y1_0, s55_0);
    s55_0 = fma(vec4(x13_2.w), y2_0, s55_0); s55_0 = fma(vec4(x13_3.w), y3_0, s55_0);
    s55_1 = fma(vec4(x13_0.w), y0_1, s55_1); s55_1 = fma(vec4(x13_1.w), y1_1, s55_1);
    s55_1 = fma(vec4(x13_2.w), y2_1, s55_1); s55_1 = fma(vec4(x13_3.w), y3_1, s55_1);
    let x14_0 = subgroupBroadcast(xa0_1, 6u); let x14_1 = subgroupBroadcast(xa1_1, 6u);
    let x14_2 = subgroupBroadcast(xa2_1, 6u); let x14_3 = subgroupBroadcast(xa3_1, 6u);
    s56_0 = fma(vec4(x14_0.x), y0_0, s56_0); s56_0 = fma(vec4(x14_1.x), y1_0, s56_0);
    s56_0 = fma(vec4(x14_2.x), y2_0, s56_0); s56_0 = fma(vec4(x14_3.x), y3_0, s56_0);
    s56_1 = fma(vec4(x14_0.x), y0_1, s56_1); s56_1 = fma(vec4(x14_1.x), y1_1, s56_1);
    s56_1 = fma(vec4(x14_2.x), y2_1, s56_1); s56_1 = fma(vec4(x14_3.x), y3_1, s56_1);
    s57_0 = fma(vec4(x14_0.y), y0_0, s57_0); s57_0 = fma(vec4(x14_1.y), y1_0, s57_0);
    s57_0 = fma(vec4(x14_2.y), y2_0, s57_0); s57_0 = fma(vec4(x14_3.y), y3_0, s57_0);
    s57_1 = fma(vec4(x14_0.y), y0_1, s57_1); s57_1 = fma(vec4(x14_1.y), y1_1, s57_1);
    s57_1 = fma(vec4(x14_2.y), y2_1, s57_1); s57_1 = fma(vec4(x14_3.y), y3_1, s57_1);
    s58_0 = fma(vec4(x14_0.z), y0_0, s58_0); s58_0 = fma(vec4(x14_1.z), y1_0, s58_0);
    s58_0 = fma(vec4(x14_2.z), y2_0, s58_0); s58_0 = fma(vec4(x14_3.z), y3_0, s58_0);
    s58_1 = fma(vec4(x14_0.z), y0_1, s58_1); s58_1 = fma(vec4(x14_1.z), y1_1, s58_1);
    s58_1 = fma(vec4(x14_2.z), y2_1, s58_1); s58_1 = fma(vec4(x14_3.z), y3_1, s58_1);
    s59_0 = fma(vec4(x14_0.w), y0_0, s59_0); s59_0 = fma(vec4(x14_1.w), y1_0, s59_0);
    s59_0 = fma(vec4(x14_2.w), y2_0, s59_0); s59_0 = fma(vec4(x14_3.w), y3_0, s59_0);
    s59_1 = fma(vec4(x14_0.w), y0_1, s59_1); s59_1 = fma(vec4(x14_1.w), y1_1, s59_1);
    s59_1 = fma(vec4(x14_2.w), y2_1, s59_1); s59_1 = fma(vec4(x14_3.w), y3_1, s59_1);
    let x15_0 = subgroupBroadcast(xa0_1, 7u); let x15_1 = subgroupBroadcast(xa1_1, 7u);
    let x15_2 = subgroupBroadcast(xa2_1, 7u); let x15_3 = subgroupBroadcast(xa3_1, 7u);
    s60_0 = fma(vec4(x15_0.x), y0_0, s60_0); s60_0 = fma(vec4(x15_1.x), y1_0, s60_0);
    s60_0 = fma(vec4(x15_2.x), y2_0, s60_0); s60_0 = fma(vec4(x15_3.x), y3_0, s60_0);
    s60_1 = fma(vec4(x15_0.x), y0_1, s60_1); s60_1 = fma(vec4(x15_1.x), y1_1, s60_1);
    s60_1 = fma(vec4(x15_2.x), y2_1, s60_1); s60_1 = fma(vec4(x15_3.x), y3_1, s60_1);
    s61_0 = fma(vec4(x15_0.y), y0_0, s61_0); s61_0 = fma(vec4(x15_1.y), y1_0, s61_0);
    s61_0 = fma(vec4(x15_2.y), y2_0, s61_0); s61_0 = fma(vec4(x15_3.y), y3_0, s61_0);
    s61_1 = fma(vec4(x15_0.y), y0_1, s61_1); s61_1 = fma(vec4(x15_1.y), y1_1, s61_1);
    s61_1 = fma(vec4(x15_2.y), y2_1, s61_1); s61_1 = fma(vec4(x15_3.y), y3_1, s61_1);
    s62_0 = fma(vec4(x15_0.z), y0_0, s62_0); s62_0 = fma(vec4(x15_1.z), y1_0, s62_0);
    s62_0 = fma(vec4(x15_2.z), y2_0, s62_0); s62_0 = fma(vec4(x15_3.z), y3_0, s62_0);
    s62_1 = fma(vec4(x15_0.z), y0_1, s62_1); s62_1 = fma(vec4(x15_1.z), y1_1, s62_1);
    s62_1 = fma(vec4(x15_2.z), y2_1, s62_1); s62_1 = fma(vec4(x15_3.z), y3_1, s62_1);
    s63_0 = fma(vec4(x15_0.w), y0_0, s63_0); s63_0 = fma(vec4(x15_1.w), y1_0, s63_0);
    s63_0 = fma(vec4(x15_2.w), y2_0, s63_0); s63_0 = fma(vec4(x15_3.w), y3_0, s63_0);
    s63_1 = fma(vec4(x15_0.w), y0_1, s63_1); s63_1 = fma(vec4(x15_1.w), y1_1, s63_1);
    s63_1 = fma(vec4(x15_2.w), y2_1, s63_1); s63_1 = fma(vec4(x15_3.w), y3_1, s63_1);
  }
  store_row4x2(4u * h0 + 0u, g0, s0_0, s0_1);
  store_row4x2(4u * h0 + 1u, g0, s1_0, s1_1);
  store_row4x2(4u * h0 + 2u, g0, s2_0, s2_1);
  store_row4x2(4u * h0 + 3u, g0, s3_0, s3_1);
  store_row4x2(4u * h0 + 4u, g0, s4_0, s4_1);
  store_row4x2(4u * h0 + 5u, g0, s5_0, s5_1);
  store_row4x2(4u * h0 + 6u, g0, s6_0, s6_1);
  store_row4x2(4u * h0 + 7u, g0, s7_0, s7_1);
  store_row4x2(4u * h0 + 8u, g0, s8_0, s8_1);
  store_row4x2(4u * h0 + 9u, g0, s9_0, s9_1);
  store_row4x2(4u * h0 + 10u, g0, s10_0, s10_1);
  store_row4x2(4u * h0 + 11u, g0, s11_0, s11_1);
  store_row4x2(4u * h0 + 12u, g0, s12_0, s12_1);
  store_row4x2(4u * h0 + 13u, g0, s13_0, s13_1);
  store_row4x2(4u * h0 + 14u, g0, s14_0, s14_1);
  store_row4x2(4u * h0 + 15u, g0, s15_0, s15_1);
  store_row4x2(4u * h0 + 16u, g0, s16_0, s16_1);
  store_row4x2(4u * h0 + 17u, g0, s17_0, s17_1);
  store_row4x2(4u * h0 + 18u, g0, s18_0, s18_1);
  store_row4x2(4u * h0 + 19u, g0, s19_0, s19_1);
  store_row4x2(4u * h0 + 20u, g0, s20_0, s20_1);
  store_row4x2(4u * h0 + 21u, g0, s21_0, s21_1);
  store_row4x2(4u * h0 + 22u, g0, s22_0, s22_1);
  store_row4x2(4u * h0 + 23u, g0, s23_0, s23_1);
  store_row4x2(4u * h0 + 24u, g0, s24_0, s24_1);
  store_row4x2(4u * h0 + 25u, g0, s25_0, s25_1);
  store_row4x2(4u * h0 + 26u, g0, s26_0, s26_1);
  store_row4x2(4u * h0 + 27u, g0, s27_0, s27_1);
  store_row4x2(4u * h0 + 28u, g0, s28_0, s28_1);
  store_row4x2(4u * h0 + 29u, g0, s29_0, s29_1);
  store_row4x2(4u * h0 + 30u, g0, s30_0, s30_1);
  store_row4x2(4u * h0 + 31u, g0, s31_0, s31_1);
  store_row4x2(4u * h0 + 32u, g0, s32_0, s32_1);
  store_row4x2(4u * h0 + 33u, g0, s33_0, s33_1);
  store_row4x2(4u * h0 + 34u, g0, s34_0, s34_1);
  store_row4x2(4u * h0 + 35u, g0, s35_0, s35_1);
  store_row4x2(4u * h0 + 36u, g0, s36_0, s36_1);
  store_row4x2(4u * h0 + 37u, g0, s37_0, s37_1);
  store_row4x2(4u * h0 + 38u, g0, s38_0, s38_1);
  store_row4x2(4u * h0 + 39u, g0, s39_0, s39_1);
  store_row4x2(4u * h0 + 40u, g0, s40_0, s40_1);
  store_row4x2(4u * h0 + 41u, g0, s41_0, s41_1);
  store_row4x2(4u * h0 + 42u, g0, s42_0, s42_1);
  store_row4x2(4u * h0 + 43u, g0, s43_0, s43_1);
  store_row4x2(4u * h0 + 44u, g0, s44_0, s44_1);
  store_row4x2(4u * h0 + 45u, g0, s45_0, s45_1);
  store_row4x2(4u * h0 + 46u, g0, s46_0, s46_1);
  store_row4x2(4u * h0 + 47u, g0, s47_0, s47_1);
  store_row4x2(4u * h0 + 48u, g0, s48_0, s48_1);
  store_row4x2(4u * h0 + 49u, g0, s49_0, s49_1);
  store_row4x2(4u * h0 + 50u, g0, s50_0, s50_1);
  store_row4x2(4u * h0 + 51u, g0, s51_0, s51_1);
  store_row4x2(4u * h0 + 52u, g0, s52_0, s52_1);
  store_row4x2(4u * h0 + 53u, g0, s53_0, s53_1);
  store_row4x2(4u * h0 + 54u, g0, s54_0, s54_1);
  store_row4x2(4u * h0 + 55u, g0, s55_0, s55_1);
  store_row4x2(4u * h0 + 56u, g0, s56_0, s56_1);
  store_row4x2(4u * h0 + 57u, g0, s57_0, s57_1);
  store_row4x2(4u * h0 + 58u, g0, s58_0, s58_1);
  store_row4x2(4u * h0 + 59u, g0, s59_0, s59_1);
  store_row4x2(4u * h0 + 60u, g0, s60_0, s60_1);
  store_row4x2(4u * h0 + 61u, g0, s61_0, s61_1);
  store_row4x2(4u * h0 + 62u, g0, s62_0, s62_1);
  store_row4x2(4u * h0 + 63u, g0, s63_0, s63_1);
}
// END subgroup kernels
