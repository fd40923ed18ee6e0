// Residual connection: out = inp1 + inp2; its backward adds dout into both input gradients
// (accumulated: the residual stream's gradient and the branch's).

override WG: u32 = 256;

struct Params {
  N: u32, // number of elements
}

// ---- Forward: out (N) = inp1 (N) + inp2 (N) ---------------------------------------------------
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp1: array<f32>;
@group(0) @binding(2) var<storage, read> inp2: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn residual_forward(@builtin(global_invocation_id) gid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N) { return; }
  out[i] = inp1[i] + inp2[i];
}

// The same over vec4s, one per invocation (N % 4 == 0): a quarter of the loads.
@group(0) @binding(0) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> inp14: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> inp24: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn residual_forward4(@builtin(global_invocation_id) gid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N / 4u) { return; }
  out4[i] = inp14[i] + inp24[i];
}

// ---- Backward: dinp1 (N) += dout (N); dinp2 (N) += dout ---------------------------------------
@group(0) @binding(0) var<storage, read_write> dinp1: array<f32>;
@group(0) @binding(1) var<storage, read_write> dinp2: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<uniform> pb: Params;

@compute @workgroup_size(WG)
fn residual_backward(@builtin(global_invocation_id) gid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= pb.N) { return; }
  let d = dout[i];
  dinp1[i] += d;
  dinp2[i] += d;
}

// One gradient only: dinp (N) += dout (N).
@group(0) @binding(0) var<storage, read_write> dinp_one: array<f32>;
@group(0) @binding(1) var<storage, read> dout_one: array<f32>;
@group(0) @binding(2) var<uniform> po: Params;

@compute @workgroup_size(WG)
fn residual_backward_one(@builtin(global_invocation_id) gid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= po.N) { return; }
  dinp_one[i] += dout_one[i];
}
