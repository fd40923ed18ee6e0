// GELU, tanh approximation (as GPT-2): y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// gelu_value and gelu_slope come from gelu_math.wgsl, which the launcher puts in front.

override WG: u32 = 256;

struct Params {
  N: u32, // number of elements
}

// Forward: out = gelu(inp), shapes (N)
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N) { return; }
  out[i] = gelu_value(inp[i]);
}

// Backward: dinp = gelu'(inp) * dout, shapes (N). dinp is written, not accumulated.
@group(0) @binding(0) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(1) var<storage, read> inp_b: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<uniform> pb: Params;

@compute @workgroup_size(WG)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= pb.N) { return; }
  dinp[i] = gelu_slope(inp_b[i]) * dout[i];
}

// The same two kernels over vec4s, one per invocation (N % 4 == 0): a quarter of the loads, which
// is what costs on CPU adapters. Element for element the same arithmetic.
@group(0) @binding(0) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> inp4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn gelu_forward4(@builtin(global_invocation_id) gid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N / 4u) { return; }
  let x = inp4[i];
  out4[i] = vec4(gelu_value(x.x), gelu_value(x.y), gelu_value(x.z), gelu_value(x.w));
}

@group(0) @binding(0) var<storage, read_write> dinp4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> inp_b4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dout4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn gelu_backward4(@builtin(global_invocation_id) gid: vec3<u32>,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= pb.N / 4u) { return; }
  let x = inp_b4[i];
  let slope = vec4(gelu_slope(x.x), gelu_slope(x.y), gelu_slope(x.z), gelu_slope(x.w));
  dinp4[i] = slope * dout4[i];
}
