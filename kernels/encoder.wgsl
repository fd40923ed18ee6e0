// Token + position embedding (GPT-2): out[b, t, :] = wte[inp[b, t], :] + wpe[t, :].
// The backward pass is deterministic without atomics: the token embedding gradient reads a CSR
// index of the positions holding each token id (built on the CPU), and the position embedding
// gradient sums over the batch in a loop.
//
// The forward pass has a `_rows` twin for CPU adapters: one invocation per position looping over
// the channels (lanes of a SIMD vector take neighbouring rows), twice as fast there as one
// invocation per element because each workgroup costs a fixed overhead.
//
// A token table larger than one binding comes as several pieces, one op each: a piece holds the
// rows V0 .. V0 + NV of wte (or dwte), and its op touches only the positions whose token is there.
//
// CPU adapters (lavapipe, llvmpipe) silently stop an invocation's loops after 65535 iterations in
// all. A frequent token's bucket can be long, so an invocation of the token embedding gradient
// takes only as many channels as keeps (channels) x (B * T + 1) within that budget: the launcher
// picks CL, the invocations per slot.

override WG: u32 = 64;

struct Params {
  B: u32,
  T: u32,
  C: u32,
  V: u32, // vocabulary size (backward only)
  CL: u32, // token embedding gradient: invocations per slot, each taking every CL-th channel
  V0: u32, // the first token id of the bound piece of wte or dwte
  NV: u32, // the token ids it holds
}

// ---- Forward -------------------------------------------------------------------------------
@group(0) @binding(0) var<storage, read_write> out: array<f32>; // (B, T, C)
@group(0) @binding(1) var<storage, read> tokens: array<u32>; // (B, T)
@group(0) @binding(2) var<storage, read> wte: array<f32>; // (NV, C): rows V0 .. V0 + NV
@group(0) @binding(3) var<storage, read> wpe: array<f32>; // (maxT, C)
@group(0) @binding(4) var<uniform> p: Params;

// Dispatch (ceil(C / WG), grid(B * T)): x runs over channels, (y, z) over positions.
@compute @workgroup_size(WG)
fn encoder_forward(@builtin(global_invocation_id) gid: vec3<u32>,
                   @builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.x;
  let bt = wid.y + wid.z * nwg.y;
  if (c >= p.C || bt >= p.B * p.T) { return; }
  let row = tokens[bt] - p.V0; // ids below the piece wrap around to large values
  if (row >= p.NV) { return; }
  let t = bt % p.T;
  out[bt * p.C + c] = wte[row * p.C + c] + wpe[t * p.C + c];
}

// One invocation per position (b, t); dispatch grid(ceil(B * T / WG)).
@compute @workgroup_size(WG)
fn encoder_forward_rows(@builtin(global_invocation_id) gid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
  let bt = gid.x + gid.y * nwg.x * WG;
  if (bt >= p.B * p.T) { return; }
  let row = tokens[bt] - p.V0;
  if (row >= p.NV) { return; }
  let C = p.C;
  let o = bt * C;
  let e = row * C;
  let q = (bt % p.T) * C;
  for (var c = 0u; c < C; c++) {
    out[o + c] = wte[e + c] + wpe[q + c];
  }
}

// ---- Backward, token embedding (accumulated) -------------------------------------------------
//   dwte[v, :] += sum over the positions k holding v (increasing) of dout[k, :]
@group(0) @binding(0) var<storage, read_write> dwte: array<f32>; // (NV, C): rows V0 .. V0 + NV
@group(0) @binding(1) var<storage, read> dout_w: array<f32>; // (B, T, C)
@group(0) @binding(2) var<storage, read> bucket_start: array<u32>; // (V + 1)
@group(0) @binding(3) var<storage, read> bucket_pos: array<u32>; // (B * T)
@group(0) @binding(4) var<uniform> pw: Params;

// The token id whose bucket holds slot k of the index: the last v with bucket_start[v] <= k (empty
// buckets before it share its start). Requires k < B * T = bucket_start[V].
fn bucket_of(k: u32) -> u32 {
  var lo = 0u; // bucket_start[lo] <= k
  var hi = pw.V; // bucket_start[hi] > k
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (bucket_start[mid] <= k) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Work goes by slot of the index, not by token id: B * T slots are fewer than V token ids when the
// vocabulary is large, and most ids are absent from a batch. Only the slot that opens a bucket
// works; it sums the bucket's rows in increasing position order.

// CL invocations per slot, the slot's invocations adjacent (coalesced channels); invocation
// (k0, lane) takes channels lane, lane + CL, ... Dispatch grid(ceil(B * T * CL / WG)).
@compute @workgroup_size(WG)
fn encoder_backward_wte(@builtin(global_invocation_id) gid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let CL = pw.CL;
  let k0 = i / CL;
  let lane = i - k0 * CL;
  if (k0 >= pw.B * pw.T) { return; }
  let v = bucket_of(k0);
  let row = v - pw.V0;
  if (bucket_start[v] != k0 || row >= pw.NV) { return; }
  let end = bucket_start[v + 1u];
  let C = pw.C;
  for (var c = lane; c < C; c += CL) {
    var s = 0.0;
    for (var k = k0; k < end; k++) {
      s += dout_w[bucket_pos[k] * C + c];
    }
    dwte[row * C + c] += s;
  }
}

// ---- Backward, position embedding (accumulated) ----------------------------------------------
//   dwpe[t, :] += sum over b of dout[b, t, :]
@group(0) @binding(0) var<storage, read_write> dwpe: array<f32>; // (maxT, C)
@group(0) @binding(1) var<storage, read> dout_p: array<f32>; // (B, T, C)
@group(0) @binding(2) var<uniform> pp: Params;

// One invocation per (t, c); dispatch (ceil(C / WG), grid(T)).
@compute @workgroup_size(WG)
fn encoder_backward_wpe(@builtin(global_invocation_id) gid: vec3<u32>,
                        @builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.x;
  let t = wid.y + wid.z * nwg.y;
  let C = pp.C;
  if (c >= C || t >= pp.T) { return; }
  var s = 0.0;
  for (var b = 0u; b < pp.B; b++) {
    s += dout_p[(b * pp.T + t) * C + c];
  }
  dwpe[t * C + c] += s;
}
