// Global L2 norm of the gradients and the clip scale (as torch.nn.utils.clip_grad_norm_), in two
// deterministic stages: per-block sums of squares into `partials`, then one workgroup sums them.

override WG: u32 = 256; // threads per workgroup, a power of two
override PER: u32 = 4;  // vec4 loads per thread in stage 1: a block is WG * PER * 4 elements

var<workgroup> red: array<f32, WG>;

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

// Stage 1, one op per binding window of the gradients: partials[base + b] = sum of g^2 over block b.
// The window is read as vec4 (its binding is rounded up to whole vec4s; the components past n count 0).
struct PartialParams {
  n: u32,    // elements in this window
  base: u32, // index of this window's first partial
}

@group(0) @binding(0) var<storage, read_write> partials: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> pp: PartialParams;

@compute @workgroup_size(WG)
fn gradnorm_partial(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(local_invocation_id) lid3: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = wid.x + wid.y * nwg.x;
  let n4 = (pp.n + 3u) / 4u;
  let start = b * WG * PER; // in vec4
  if (start >= n4) { return; }
  let lid = lid3.x;
  var acc = 0.0;
  for (var k = 0u; k < PER; k++) {
    let i = start + k * WG + lid;
    if (i < n4) {
      var g = grads[i];
      if (i * 4u + 4u > pp.n) {
        g = select(vec4<f32>(0.0), g, vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(pp.n - i * 4u));
      }
      acc += dot(g, g);
    }
  }
  acc = reduce_sum(lid, acc);
  if (lid == 0u) {
    partials[pp.base + b] = acc;
  }
}

// Stage 2, one workgroup: out[0] = sqrt(sum of partials), out[1] = clip scale.
struct FinalParams {
  count: u32,    // number of partials
  max_norm: f32, // <= 0: no clipping (scale 1)
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> partials_f: array<f32>;
@group(0) @binding(2) var<uniform> pf: FinalParams;

@compute @workgroup_size(WG)
fn gradnorm_final(@builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  var s = 0.0;
  for (var i = lid; i < pf.count; i += WG) {
    s += partials_f[i];
  }
  s = reduce_sum(lid, s);
  if (lid == 0u) {
    let norm = sqrt(s);
    out[0] = norm;
    var scale = 1.0;
    if (pf.max_norm > 0.0) {
      scale = min(1.0, pf.max_norm / (norm + 1e-6));
    }
    out[1] = scale;
  }
}
