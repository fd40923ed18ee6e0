// LayerNorm over the last dimension (as GPT-2): eps = 1e-5, biased variance.
//   out[n, c] = (inp[n, c] - mean[n]) * rstd[n] * weight[c] + bias[c]
//
// Two shapes of kernel for the per-row work:
// - `*_rows`: one invocation per row looping over C. No barriers: the fast choice on CPU adapters,
//   where lanes of one SIMD vector take neighbouring rows.
// - the others: one workgroup per row, a tree reduction in workgroup memory (GPUs).
// The parameter gradients use one invocation per channel looping over the rows (coalesced across
// channels, deterministic, no atomics) on CPU adapters; on GPUs two passes: partial sums over
// chunks of rows by many workgroups, then one invocation per channel adding them up in order.
//
// CPU adapters (lavapipe, llvmpipe) silently stop a shader invocation's loops after 65535
// iterations in all: every loop here is bounded by a few times C, or by the rows of one
// parameter-gradient op (the launcher splits N into ops of at most 32768 rows), or by a quarter of
// the rows of one chunk of the two-pass sums (at most 64 chunks: N up to about 16 million rows).

override WG: u32 = 128; // power of two for the workgroup-per-row kernels

struct Params {
  N: u32, // rows (B * T)
  C: u32, // channels
  row0: u32, // parameter gradients: the rows [row0, row1) this op sums
  row1: u32,
}

const EPS: f32 = 1e-5;

var<workgroup> red: array<f32, WG>;
var<workgroup> red2: array<vec2<f32>, WG>;

// Sum of `v` over the workgroup, returned to every invocation.
fn workgroup_sum(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red[lid] += red[lid + s];
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier(); // everyone has read red[0] before it is written again
  return total;
}

fn workgroup_sum2(lid: u32, v: vec2<f32>) -> vec2<f32> {
  red2[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red2[lid] += red2[lid + s];
    }
    workgroupBarrier();
  }
  let total = red2[0];
  workgroupBarrier();
  return total;
}

// ---- Forward -------------------------------------------------------------------------------
@group(0) @binding(0) var<storage, read_write> out: array<f32>; // (N, C)
@group(0) @binding(1) var<storage, read_write> mean: array<f32>; // (N)
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>; // (N)
@group(0) @binding(3) var<storage, read> inp: array<f32>; // (N, C)
@group(0) @binding(4) var<storage, read> weight: array<f32>; // (C)
@group(0) @binding(5) var<storage, read> bias: array<f32>; // (C)
@group(0) @binding(6) var<uniform> p: Params;

// One workgroup per row; dispatch grid(N).
@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(local_invocation_id) lid3: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let lid = lid3.x;
  let C = p.C;
  let base = row * C;
  var s = 0.0;
  for (var c = lid; c < C; c += WG) {
    s += inp[base + c];
  }
  let m = workgroup_sum(lid, s) / f32(C);
  var v = 0.0;
  for (var c = lid; c < C; c += WG) {
    let d = inp[base + c] - m;
    v += d * d;
  }
  let rs = inverseSqrt(workgroup_sum(lid, v) / f32(C) + EPS);
  for (var c = lid; c < C; c += WG) {
    out[base + c] = (inp[base + c] - m) * rs * weight[c] + bias[c];
  }
  if (lid == 0u) {
    mean[row] = m;
    rstd[row] = rs;
  }
}

// One invocation per row; dispatch grid(ceil(N / WG)).
@compute @workgroup_size(WG)
fn layernorm_forward_rows(@builtin(global_invocation_id) gid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.N) { return; }
  let C = p.C;
  let base = row * C;
  var s = 0.0;
  for (var c = 0u; c < C; c++) {
    s += inp[base + c];
  }
  let m = s / f32(C);
  var v = 0.0;
  for (var c = 0u; c < C; c++) {
    let d = inp[base + c] - m;
    v += d * d;
  }
  let rs = inverseSqrt(v / f32(C) + EPS);
  for (var c = 0u; c < C; c++) {
    out[base + c] = (inp[base + c] - m) * rs * weight[c] + bias[c];
  }
  mean[row] = m;
  rstd[row] = rs;
}

// ---- Backward, input gradient (accumulated: it is the residual stream's gradient) ------------
//   dnorm = dout * weight, norm = (inp - mean) * rstd
//   dinp += rstd * (dnorm - mean_c(dnorm) - norm * mean_c(dnorm * norm))
@group(0) @binding(0) var<storage, read_write> dinp_b: array<f32>; // (N, C)
@group(0) @binding(1) var<storage, read> dout_b: array<f32>; // (N, C)
@group(0) @binding(2) var<storage, read> inp_b: array<f32>; // (N, C)
@group(0) @binding(3) var<storage, read> weight_b: array<f32>; // (C)
@group(0) @binding(4) var<storage, read> mean_b: array<f32>; // (N)
@group(0) @binding(5) var<storage, read> rstd_b: array<f32>; // (N)
@group(0) @binding(6) var<uniform> pb: Params;

// One workgroup per row; dispatch grid(N).
@compute @workgroup_size(WG)
fn layernorm_backward_dinp(@builtin(workgroup_id) wid: vec3<u32>,
                           @builtin(local_invocation_id) lid3: vec3<u32>,
                           @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= pb.N) { return; }
  let lid = lid3.x;
  let C = pb.C;
  let base = row * C;
  let m = mean_b[row];
  let rs = rstd_b[row];
  var acc = vec2<f32>(0.0);
  for (var c = lid; c < C; c += WG) {
    let norm = (inp_b[base + c] - m) * rs;
    let dnorm = dout_b[base + c] * weight_b[c];
    acc += vec2<f32>(dnorm, dnorm * norm);
  }
  let sums = workgroup_sum2(lid, acc) / f32(C);
  for (var c = lid; c < C; c += WG) {
    let norm = (inp_b[base + c] - m) * rs;
    let dnorm = dout_b[base + c] * weight_b[c];
    dinp_b[base + c] += rs * (dnorm - sums.x - norm * sums.y);
  }
}

// One invocation per row; dispatch grid(ceil(N / WG)).
@compute @workgroup_size(WG)
fn layernorm_backward_dinp_rows(@builtin(global_invocation_id) gid: vec3<u32>,
                                @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= pb.N) { return; }
  let C = pb.C;
  let base = row * C;
  let m = mean_b[row];
  let rs = rstd_b[row];
  var sd = 0.0;
  var sdn = 0.0;
  for (var c = 0u; c < C; c++) {
    let norm = (inp_b[base + c] - m) * rs;
    let dnorm = dout_b[base + c] * weight_b[c];
    sd += dnorm;
    sdn += dnorm * norm;
  }
  sd /= f32(C);
  sdn /= f32(C);
  for (var c = 0u; c < C; c++) {
    let norm = (inp_b[base + c] - m) * rs;
    let dnorm = dout_b[base + c] * weight_b[c];
    dinp_b[base + c] += rs * (dnorm - sd - norm * sdn);
  }
}

// ---- Backward, parameter gradients (accumulated) ----------------------------------------------
//   dweight[c] += sum_n dout[n, c] * norm[n, c];  dbias[c] += sum_n dout[n, c]
@group(0) @binding(0) var<storage, read_write> dweight_p: array<f32>; // (C)
@group(0) @binding(1) var<storage, read_write> dbias_p: array<f32>; // (C)
@group(0) @binding(2) var<storage, read> dout_p: array<f32>; // (N, C)
@group(0) @binding(3) var<storage, read> inp_p: array<f32>; // (N, C)
@group(0) @binding(4) var<storage, read> mean_p: array<f32>; // (N)
@group(0) @binding(5) var<storage, read> rstd_p: array<f32>; // (N)
@group(0) @binding(6) var<uniform> pp: Params;

// One invocation per channel summing rows [row0, row1); dispatch ceil(C / WG).
@compute @workgroup_size(WG)
fn layernorm_backward_params(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let C = pp.C;
  if (c >= C) { return; }
  var dw = 0.0;
  var db = 0.0;
  for (var n = pp.row0; n < pp.row1; n++) {
    let i = n * C + c;
    let d = dout_p[i];
    dw += d * (inp_p[i] - mean_p[n]) * rstd_p[n];
    db += d;
  }
  dweight_p[c] += dw;
  dbias_p[c] += db;
}

// ---- Backward, parameter gradients in two passes (GPUs) ---------------------------------------
// The rows are cut into R chunks of pq.rows rows (a multiple of CS_LANES). Deterministic (fixed
// order, no atomics), not bit-identical to layernorm_backward_params.
// - layernorm_backward_params_partial: partial (R, C) = the (dweight, dbias) sums of each chunk.
//   A workgroup takes CS_COLS neighbouring channels (coalesced loads) of one chunk with CS_LANES
//   row lanes: lane l sums the chunk's rows l, l + CS_LANES, ... in order, and the lanes are
//   combined in a fixed order through workgroup memory. Dispatch (ceil(C / CS_COLS), R).
// - layernorm_backward_params_total: dweight (C) += and dbias (C) += the R partial sums of each
//   channel in chunk order, one invocation per channel. Dispatch grid(ceil(C / WG)).
const CS_COLS: u32 = 64u; // channels per workgroup of layernorm_backward_params_partial
const CS_LANES: u32 = 4u; // row lanes per channel (the combination below is written for four)

struct ChunkParams {
  N: u32, // rows summed: N for the partial sums, R for the total
  C: u32,
  rows: u32, // rows per chunk (layernorm_backward_params_partial)
}

@group(0) @binding(0) var<storage, read_write> partial_q: array<vec2<f32>>; // (R, C): (dw, db)
@group(0) @binding(1) var<storage, read> dout_q: array<f32>; // (N, C)
@group(0) @binding(2) var<storage, read> inp_q: array<f32>; // (N, C)
@group(0) @binding(3) var<storage, read> mean_q: array<f32>; // (N)
@group(0) @binding(4) var<storage, read> rstd_q: array<f32>; // (N)
@group(0) @binding(5) var<uniform> pq: ChunkParams;

var<workgroup> lane_sums: array<vec2<f32>, CS_COLS * CS_LANES>; // [lane * CS_COLS + channel]

@compute @workgroup_size(CS_COLS, CS_LANES)
fn layernorm_backward_params_partial(@builtin(workgroup_id) wid: vec3<u32>,
                                     @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wid.x * CS_COLS + lid.x;
  let C = pq.C;
  let n0 = wid.y * pq.rows;
  let n1 = min(pq.N, n0 + pq.rows);
  var dw = 0.0;
  var db = 0.0;
  if (c < C) {
    for (var n = n0 + lid.y; n < n1; n += CS_LANES) {
      let i = n * C + c;
      let d = dout_q[i];
      dw += d * (inp_q[i] - mean_q[n]) * rstd_q[n];
      db += d;
    }
  }
  lane_sums[lid.y * CS_COLS + lid.x] = vec2<f32>(dw, db);
  workgroupBarrier();
  if (lid.y == 0u && c < C) {
    partial_q[wid.y * C + c] = (lane_sums[lid.x] + lane_sums[CS_COLS + lid.x]) +
      (lane_sums[2u * CS_COLS + lid.x] + lane_sums[3u * CS_COLS + lid.x]);
  }
}

@group(0) @binding(0) var<storage, read_write> dweight_t: array<f32>; // (C)
@group(0) @binding(1) var<storage, read_write> dbias_t: array<f32>; // (C)
@group(0) @binding(2) var<storage, read> partial_t: array<vec2<f32>>; // (R, C)
@group(0) @binding(3) var<uniform> pt: ChunkParams;

@compute @workgroup_size(WG)
fn layernorm_backward_params_total(@builtin(global_invocation_id) gid: vec3<u32>,
                                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.x + gid.y * nwg.x * WG;
  let C = pt.C;
  if (c >= C) { return; }
  var s = vec2<f32>(0.0);
  for (var r = 0u; r < pt.N; r++) {
    s += partial_t[r * C + c];
  }
  dweight_t[c] += s.x;
  dbias_t[c] += s.y;
}
