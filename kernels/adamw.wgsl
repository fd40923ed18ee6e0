// AdamW (torch.optim.AdamW: decoupled weight decay) over one binding window of the flat parameter,
// gradient and moment buffers. One invocation per 4 elements (vec4 loads and stores); the window's
// bindings are rounded up to whole vec4s and the components past n are never written.

override WG: u32 = 256;

// Per-step values, computed on the CPU in f64 (shared by every window).
struct Hyper {
  step_size: f32,       // lr / (1 - beta1^t)
  beta1: f32,
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  decay: f32,           // 1 - lr * weight_decay
  bc2_sqrt: f32,        // sqrt(1 - beta2^t)
}

// Fixed per window.
struct Window {
  n: u32,         // elements in this window
  decay_end: u32, // elements [0, decay_end) of this window get weight decay
}

@group(0) @binding(0) var<storage, read_write> params: array<vec4<f32>>; // (n / 4)
@group(0) @binding(1) var<storage, read_write> m: array<vec4<f32>>;      // (n / 4)
@group(0) @binding(2) var<storage, read_write> v: array<vec4<f32>>;      // (n / 4)
@group(0) @binding(3) var<storage, read> grads: array<vec4<f32>>;        // (n / 4)
@group(0) @binding(4) var<storage, read> clip: array<f32>;               // (2): [norm, scale]
@group(0) @binding(5) var<uniform> h: Hyper;
@group(0) @binding(6) var<uniform> win: Window;

@compute @workgroup_size(WG)
fn adamw_step(@builtin(global_invocation_id) gid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = gid.x + gid.y * nwg.x * WG; // vec4 index
  let i0 = q * 4u;                    // first element
  if (i0 >= win.n) { return; }
  // A non-finite global gradient norm (inf or NaN exponent bits) skips the update: the parameters
  // and moments stay as they were, and the run decides whether to stop or go on.
  if ((bitcast<u32>(clip[0]) & 0x7f800000u) == 0x7f800000u) { return; }
  let idx = vec4<u32>(i0) + vec4<u32>(0u, 1u, 2u, 3u);
  let g = grads[q] * clip[1];
  let decays = idx < vec4<u32>(win.decay_end);
  let p = params[q] * select(vec4<f32>(1.0), vec4<f32>(h.decay), decays);
  let mq = h.beta1 * m[q] + h.one_minus_beta1 * g;
  let vq = h.beta2 * v[q] + h.one_minus_beta2 * g * g;
  let denom = sqrt(vq) / h.bc2_sqrt + h.eps;
  let pq = p - h.step_size * mq / denom;
  if (i0 + 4u <= win.n) {
    params[q] = pq;
    m[q] = mq;
    v[q] = vq;
  } else {
    // The window's last, partial vec4: write only its elements.
    for (var c = 0u; c < win.n - i0; c++) {
      params[q][c] = pq[c];
      m[q][c] = mq[c];
      v[q][c] = vq[c];
    }
  }
}
