// Products of a few rows, the shape of a decoding step: c (M, N) = a (M, K) @ w (N, K)^T + bias,
// M small (the batch of the step), w a layer's weight (OC, C) row-major (kernels/matmul.ts's
// forward product with transB), written at columns c0 .. c0 + N of rows ldc floats apart (a piece
// of the LM head writes its columns of the logits).
//
// The register-tiled kernels of matmul.wgsl compute 24 rows per invocation, so a step of 1 or 8 rows
// wastes most of their work. Here an invocation computes R rows (an override: 1, 2, 4 or 8) by 4
// columns WG apart. Every element is the same ordered sum as there (dot4 over k, 4 at a time, from
// 0, then the bias): the same bits as the full forward pass, so cached greedy decoding still gives
// its tokens.
//
// CPU adapters stop an invocation's loops after 65535 iterations: K / 4 of them here; the launcher
// checks K.

override WG: u32 = 32;
override R: u32 = 8; // rows per invocation: 1, 2, 4 or 8
override HAS_BIAS: bool = true;

struct Params {
  M: u32,
  N: u32,
  K: u32, // a multiple of 4
  ldc: u32, // floats between rows of c
  c0: u32, // the first column of c written
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>; // (M, K)
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>; // (N, K)
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (N)
@group(0) @binding(4) var<uniform> p: Params;

fn dot4(x: vec4<f32>, y: vec4<f32>, s: f32) -> f32 {
  return fma(x.w, y.w, fma(x.z, y.z, fma(x.y, y.y, fma(x.x, y.x, s))));
}

// The four columns' sums of one row, after k/4 steps.
fn step4(x: vec4<f32>, y0: vec4<f32>, y1: vec4<f32>, y2: vec4<f32>, y3: vec4<f32>,
         s: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(dot4(x, y0, s.x), dot4(x, y1, s.y), dot4(x, y2, s.z), dot4(x, y3, s.w));
}

fn store(m: u32, n0: u32, s: vec4<f32>) {
  if (m >= p.M) {
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    let n = n0 + j * WG;
    if (n < p.N) {
      var v = s[j];
      if (HAS_BIAS) {
        v += bias[n];
      }
      c[m * p.ldc + p.c0 + n] = v;
    }
  }
}

// Dispatch (ceil(N / (4 WG)), ceil(M / R)).
@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = wid.y * R;
  let n0 = wid.x * (4u * WG) + lid.x;
  let K4 = p.K / 4u;
  // Clamped rows and columns keep the loads in range; the stores are guarded.
  let last = p.M - 1u;
  let ra0 = min(m0 + 0u, last) * K4; let ra1 = min(m0 + 1u, last) * K4;
  let ra2 = min(m0 + 2u, last) * K4; let ra3 = min(m0 + 3u, last) * K4;
  let ra4 = min(m0 + 4u, last) * K4; let ra5 = min(m0 + 5u, last) * K4;
  let ra6 = min(m0 + 6u, last) * K4; let ra7 = min(m0 + 7u, last) * K4;
  let rw0 = min(n0 + 0u * WG, p.N - 1u) * K4; let rw1 = min(n0 + 1u * WG, p.N - 1u) * K4;
  let rw2 = min(n0 + 2u * WG, p.N - 1u) * K4; let rw3 = min(n0 + 3u * WG, p.N - 1u) * K4;
  var s0 = vec4<f32>(0.0); var s1 = vec4<f32>(0.0); var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0); var s4 = vec4<f32>(0.0); var s5 = vec4<f32>(0.0);
  var s6 = vec4<f32>(0.0); var s7 = vec4<f32>(0.0);
  for (var k = 0u; k < K4; k++) {
    let y0 = w[rw0 + k]; let y1 = w[rw1 + k]; let y2 = w[rw2 + k]; let y3 = w[rw3 + k];
    s0 = step4(a[ra0 + k], y0, y1, y2, y3, s0);
    if (R > 1u) {
      s1 = step4(a[ra1 + k], y0, y1, y2, y3, s1);
    }
    if (R > 2u) {
      s2 = step4(a[ra2 + k], y0, y1, y2, y3, s2);
      s3 = step4(a[ra3 + k], y0, y1, y2, y3, s3);
    }
    if (R > 4u) {
      s4 = step4(a[ra4 + k], y0, y1, y2, y3, s4);
      s5 = step4(a[ra5 + k], y0, y1, y2, y3, s5);
      s6 = step4(a[ra6 + k], y0, y1, y2, y3, s6);
      s7 = step4(a[ra7 + k], y0, y1, y2, y3, s7);
    }
  }
  store(m0 + 0u, n0, s0);
  if (R > 1u) {
    store(m0 + 1u, n0, s1);
  }
  if (R > 2u) {
    store(m0 + 2u, n0, s2);
    store(m0 + 3u, n0, s3);
  }
  if (R > 4u) {
    store(m0 + 4u, n0, s4);
    store(m0 + 5u, n0, s5);
    store(m0 + 6u, n0, s6);
    store(m0 + 7u, n0, s7);
  }
}
