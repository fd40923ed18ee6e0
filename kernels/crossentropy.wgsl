// Softmax cross-entropy over the vocabulary (one workgroup per row; on CPU adapters one
// invocation per row), and a deterministic sum.
//
// loss_i = weights[i] * (logsumexp(logits[i]) - logits[i, targets[i]]); a row of weight 0 is masked:
// its loss and gradient are exactly 0. Targets are clamped to V - 1 so that any id stays in bounds.

override WG: u32 = 256; // threads per workgroup, a power of two

struct Params {
  N: u32, // rows
  V: u32, // vocabulary (row length)
}

const FLT_MAX: f32 = 3.4028234663852886e38;

var<workgroup> red: array<f32, WG>;

// Workgroup-wide max and sum (fixed tree order: deterministic). Call from uniform control flow.
fn reduce_max(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_sum(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red[lid] = red[lid] + red[lid + s];
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// Fused forward + backward. losses (N) written; logits (N, V) overwritten with
// dlogits = weights[i] * (softmax(logits[i]) - onehot(targets[i])).
@group(0) @binding(0) var<storage, read_write> losses: array<f32>;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn crossentropy_fused(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(local_invocation_id) lid3: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let lid = lid3.x;
  let V = p.V;
  let base = row * V;
  let t = min(targets[row], V - 1u);
  let w = weights[row];
  // Read before any thread of this workgroup writes the row (the first barrier orders it).
  let xt = logits[base + t];

  var mx = -FLT_MAX;
  for (var j = lid; j < V; j += WG) {
    mx = max(mx, logits[base + j]);
  }
  mx = reduce_max(lid, mx);

  // Keep exp(x - max) in place: the gradient pass then only scales it.
  var s = 0.0;
  for (var j = lid; j < V; j += WG) {
    let e = exp(logits[base + j] - mx);
    logits[base + j] = e;
    s += e;
  }
  s = reduce_sum(lid, s);

  let masked = w == 0.0;
  let scale = w / s;
  for (var j = lid; j < V; j += WG) {
    var g = logits[base + j] * scale;
    if (j == t) { g -= w; }
    if (masked) { g = 0.0; }
    logits[base + j] = g;
  }
  if (lid == 0u) {
    let ce = log(s) + mx - xt;
    losses[row] = select(w * ce, 0.0, masked);
  }
}

// Forward only: losses (N) written; logits (N, V) read.
@group(0) @binding(0) var<storage, read_write> losses_f: array<f32>;
@group(0) @binding(1) var<storage, read> logits_f: array<f32>;
@group(0) @binding(2) var<storage, read> targets_f: array<u32>;
@group(0) @binding(3) var<storage, read> weights_f: array<f32>;
@group(0) @binding(4) var<uniform> pf: Params;

@compute @workgroup_size(WG)
fn crossentropy_forward(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(local_invocation_id) lid3: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= pf.N) { return; }
  let lid = lid3.x;
  let V = pf.V;
  let base = row * V;

  var mx = -FLT_MAX;
  for (var j = lid; j < V; j += WG) {
    mx = max(mx, logits_f[base + j]);
  }
  mx = reduce_max(lid, mx);

  var s = 0.0;
  for (var j = lid; j < V; j += WG) {
    s += exp(logits_f[base + j] - mx);
  }
  s = reduce_sum(lid, s);

  if (lid == 0u) {
    let t = min(targets_f[row], V - 1u);
    let w = weights_f[row];
    let ce = log(s) + mx - logits_f[base + t];
    losses_f[row] = select(w * ce, 0.0, w == 0.0);
  }
}

// CPU variants (one row per invocation, no barriers): on CPU adapters workgroup barriers cost
// more than the strided reads they save. Same bindings and results as the kernels above.
@compute @workgroup_size(WG)
fn crossentropy_fused_rows(@builtin(global_invocation_id) gid: vec3<u32>,
                           @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.N) { return; }
  let V = p.V;
  let base = row * V;
  let t = min(targets[row], V - 1u);
  let w = weights[row];
  let masked = w == 0.0;
  let xt = logits[base + t];
  var mx = -FLT_MAX;
  for (var j = 0u; j < V; j++) {
    mx = max(mx, logits[base + j]);
  }
  var s = 0.0;
  for (var j = 0u; j < V; j++) {
    let e = exp(logits[base + j] - mx);
    logits[base + j] = e;
    s += e;
  }
  let scale = w / s;
  for (var j = 0u; j < V; j++) {
    logits[base + j] = select(logits[base + j] * scale, 0.0, masked);
  }
  logits[base + t] = select(logits[base + t] - w, 0.0, masked);
  losses[row] = select(w * (log(s) + mx - xt), 0.0, masked);
}

@compute @workgroup_size(WG)
fn crossentropy_forward_rows(@builtin(global_invocation_id) gid: vec3<u32>,
                             @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= pf.N) { return; }
  let V = pf.V;
  let base = row * V;
  var mx = -FLT_MAX;
  for (var j = 0u; j < V; j++) {
    mx = max(mx, logits_f[base + j]);
  }
  var s = 0.0;
  for (var j = 0u; j < V; j++) {
    s += exp(logits_f[base + j] - mx);
  }
  let t = min(targets_f[row], V - 1u);
  let w = weights_f[row];
  losses_f[row] = select(w * (log(s) + mx - logits_f[base + t]), 0.0, w == 0.0);
}

// out[offset] = sum of inp (N), one workgroup: each thread sums a strided slice in order, then a
// fixed tree. Deterministic.
struct SumParams {
  N: u32,
  offset: u32, // element index of the result in out
}

@group(0) @binding(0) var<storage, read_write> sum_out: array<f32>;
@group(0) @binding(1) var<storage, read> sum_inp: array<f32>;
@group(0) @binding(2) var<uniform> ps: SumParams;

@compute @workgroup_size(WG)
fn sum_reduce(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  var s = 0.0;
  for (var i = lid; i < ps.N; i += WG) {
    s += sum_inp[i];
  }
  s = reduce_sum(lid, s);
  if (lid == 0u) {
    sum_out[ps.offset] = s;
  }
}
