// Causal row softmax of square score matrices, in place: the row-wise half of attention's GPU
// path (the products around it are kernels/bmm.wgsl). Row r of a (rows, T) matrix is query
// position t = r % T; only columns j <= t take part, columns j > t are written as 0 (they may
// hold anything before: the products skip blocks above the diagonal).
//
// One workgroup per row: each invocation walks columns lid, lid + WG, ...; the max and the sums
// are combined by a fixed tree in workgroup memory, so results are deterministic.
// Dispatch grid(rows), linear workgroup index wid.x + wid.y * nwg.x.

override WG: u32 = 256; // a power of two

struct Params {
  T: u32,
  rows: u32,
  scale: f32, // backward only: the scale the scores were computed with
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>; // (rows, T)
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> prob: array<f32>; // (rows, T), backward
@group(0) @binding(2) var<uniform> pb: Params;

var<workgroup> red: array<f32, WG>;

fn reduce(v: f32, lid: u32, is_max: bool) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      if (is_max) {
        red[lid] = max(red[lid], red[lid + s]);
      } else {
        red[lid] = red[lid] + red[lid + s];
      }
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// x: scores in, probabilities out.
@compute @workgroup_size(WG)
fn causal_softmax_forward(@builtin(workgroup_id) wid: vec3<u32>,
                          @builtin(local_invocation_id) lid: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) {
    return; // the whole workgroup
  }
  let T = p.T;
  let t = r % T;
  let base = r * T;
  var m = -3.0e38;
  for (var j = lid.x; j <= t; j += WG) {
    m = max(m, x[base + j]);
  }
  m = reduce(m, lid.x, true);
  var s = 0.0;
  for (var j = lid.x; j <= t; j += WG) {
    s += exp(x[base + j] - m);
  }
  s = reduce(s, lid.x, false);
  let inv = 1.0 / s;
  for (var j = lid.x; j < T; j += WG) {
    var v = 0.0;
    if (j <= t) {
      v = exp(x[base + j] - m) * inv;
    }
    x[base + j] = v;
  }
}

// x: dP (the gradient wrt the probabilities) in, dS = scale * P * (dP - sum_j P dP) out, the
// gradient wrt the unscaled scores q·k.
@compute @workgroup_size(WG)
fn causal_softmax_backward(@builtin(workgroup_id) wid: vec3<u32>,
                           @builtin(local_invocation_id) lid: vec3<u32>,
                           @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= pb.rows) {
    return; // the whole workgroup
  }
  let T = pb.T;
  let t = r % T;
  let base = r * T;
  var s = 0.0;
  for (var j = lid.x; j <= t; j += WG) {
    s += prob[base + j] * x[base + j];
  }
  s = reduce(s, lid.x, false);
  for (var j = lid.x; j < T; j += WG) {
    var v = 0.0;
    if (j <= t) {
      v = pb.scale * prob[base + j] * (x[base + j] - s);
    }
    x[base + j] = v;
  }
}
