// Incremental decoding with a cache of the attention inputs (a KV cache), GPT-2 layout.
//
// The cache of one layer is its qkv activation (B, T, 3C) of a full forward pass: position t of
// row b holds that position's q, k and v (channels [0, C), [C, 2C), [2C, 3C)). A decoding step
// takes one new token per row b at its own position pos[b] (rows may be at different positions):
// - embed_at: x (B, C) = wte[tokens[b]] + wpe[pos[b]],
// - cache_write: the step's qkv row (B, 3C) into the cache at (b, pos[b]),
// - attention_decode: out (B, C) = causal attention of the query at pos[b] over cache positions
//   0..pos[b] of row b.
// attention_decode does the arithmetic of attention_forward (attention.wgsl) for one query in the
// same order (scaled q, fma dot products over vec4s, online max and sum, then exp(s - m) / l
// times v), so a cached decode gives the logits of a full recomputation.
//
// CPU adapters stop an invocation's loops after 65535 iterations in all: attention_decode takes
// about 2 T (2 HS4 + 1) of them, which the launcher checks.

override WG: u32 = 64;
override HS4: u32 = 16; // head size / 4

const MAX_HS4: u32 = 32u; // head size <= 128

struct Params {
  B: u32,
  T: u32, // positions per row of the cache
  C: u32,
  NH: u32,
  scale: f32, // 1 / sqrt(hs)
  V0: u32, // embed_at: the first token id of the bound piece of wte
  NV: u32, // embed_at: the token ids it holds
}

// ---- embed_at ------------------------------------------------------------------------------
@group(0) @binding(0) var<storage, read_write> emb_out: array<f32>; // (B, C)
@group(0) @binding(1) var<storage, read> emb_tokens: array<u32>; // (B)
@group(0) @binding(2) var<storage, read> emb_pos: array<u32>; // (B)
@group(0) @binding(3) var<storage, read> wte: array<f32>; // (NV, C): rows V0 .. V0 + NV
@group(0) @binding(4) var<storage, read> wpe: array<f32>; // (maxT, C)
@group(0) @binding(5) var<uniform> pe: Params;

// One invocation per element; dispatch ceil(B * C / WG). Rows whose token is outside the piece
// are left to the op of another piece.
@compute @workgroup_size(WG)
fn embed_at(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= pe.B * pe.C) { return; }
  let b = i / pe.C;
  let c = i % pe.C;
  let row = emb_tokens[b] - pe.V0; // ids below the piece wrap around to large values
  if (row >= pe.NV) { return; }
  emb_out[i] = wte[row * pe.C + c] + wpe[emb_pos[b] * pe.C + c];
}

// ---- cache_write -----------------------------------------------------------------------------
@group(0) @binding(0) var<storage, read_write> cw_cache: array<f32>; // (B, T, 3C)
@group(0) @binding(1) var<storage, read> cw_fresh: array<f32>; // (B, 3C)
@group(0) @binding(2) var<storage, read> cw_pos: array<u32>; // (B)
@group(0) @binding(3) var<uniform> pw: Params;

// One invocation per element of fresh; dispatch ceil(B * 3C / WG).
@compute @workgroup_size(WG)
fn cache_write(@builtin(global_invocation_id) gid: vec3<u32>) {
  let C3 = 3u * pw.C;
  let i = gid.x;
  if (i >= pw.B * C3) { return; }
  let b = i / C3;
  cw_cache[(b * pw.T + cw_pos[b]) * C3 + i % C3] = cw_fresh[i];
}

// ---- attention_decode ------------------------------------------------------------------------
@group(0) @binding(0) var<storage, read_write> ad_out: array<vec4<f32>>; // (B, C)
@group(0) @binding(1) var<storage, read> ad_cache: array<vec4<f32>>; // (B, T, 3C)
@group(0) @binding(2) var<storage, read> ad_pos: array<u32>; // (B)
@group(0) @binding(3) var<uniform> pa: Params;

// One invocation per (b, h); dispatch ceil(B * NH / WG).
@compute @workgroup_size(WG)
fn attention_decode(@builtin(global_invocation_id) gid: vec3<u32>) {
  let bh = gid.x;
  if (bh >= pa.B * pa.NH) { return; }
  let b = bh / pa.NH;
  let h = bh % pa.NH;
  let C4 = pa.C / 4u;
  let row3 = 3u * C4;
  let base = b * pa.T * row3 + h * HS4;
  let t = min(ad_pos[b], pa.T - 1u);
  var q: array<vec4<f32>, MAX_HS4>;
  var x: array<vec4<f32>, MAX_HS4>;
  for (var i = 0u; i < HS4; i++) {
    q[i] = ad_cache[base + t * row3 + i] * pa.scale;
  }
  var m = -3.0e38;
  var l = 0.0;
  for (var s = 0u; s <= t; s++) {
    let ki = base + s * row3 + C4;
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < HS4; i++) {
      acc = fma(q[i], ad_cache[ki + i], acc);
    }
    let sc = acc.x + acc.y + acc.z + acc.w;
    let mn = max(m, sc);
    l = l * exp(m - mn) + exp(sc - mn);
    m = mn;
  }
  l = 1.0 / l;
  for (var i = 0u; i < HS4; i++) {
    x[i] = vec4<f32>(0.0);
  }
  for (var s = 0u; s <= t; s++) {
    let ki = base + s * row3 + C4;
    var acc = vec4<f32>(0.0);
    for (var i = 0u; i < HS4; i++) {
      acc = fma(q[i], ad_cache[ki + i], acc);
    }
    let sc = acc.x + acc.y + acc.z + acc.w;
    let pr = exp(sc - m) * l;
    let vi = ki + C4;
    for (var i = 0u; i < HS4; i++) {
      x[i] = fma(vec4<f32>(pr), ad_cache[vi + i], x[i]);
    }
  }
  let o = b * C4 + h * HS4;
  for (var i = 0u; i < HS4; i++) {
    ad_out[o + i] = x[i];
  }
}
