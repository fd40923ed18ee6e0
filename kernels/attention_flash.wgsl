// Causal multi-head self-attention without the T x T matrix (flash attention), GPT-2 layout.
//
// qkv (B, T, 3C): channels [0, C) are q, [C, 2C) k, [2C, 3C) v; head h uses channels
// h*hs .. (h+1)*hs of each (hs = C / NH); out (B, T, C). Instead of the probabilities, the
// forward pass saves one number per query row, lse = log(sum of exp(scores)) (B, NH, T), and the
// backward pass recomputes each probability as exp(score - lse).
//
// Each workgroup owns BR query rows (forward, dq) or BR key rows (dk, dv) of one (b, h) head,
// one per invocation, and walks the other side in tiles of BC rows staged in workgroup memory:
// every invocation reads the same tile entry at once (a broadcast), and the tile is loaded once
// per workgroup instead of once per row. Scores are softmaxed online per tile (running max m and
// sum l, the accumulator rescaled when the max grows). Tiles past the block's last causal row are
// skipped. No atomics: every output has one owner, so results are deterministic.
//
// Backward (FlashAttention-2): with P = softmax(S), S = scale q k^T, dP = dout v^T and
// D = rowsum(dout * out) = rowsum(P * dP):
//   dS = P * (dP - D);  dq = scale dS k;  dk = scale dS^T q;  dv = P^T dout.
// flash_backward_rows computes D and dq per query row; flash_backward_cols dk and dv per key row.

// HS4, MAX_HS4, Params and head() (where one head lives): attention_head.wgsl, in front.

const BR: u32 = 64u; // rows per workgroup, one per invocation
// vec4s of one tile in workgroup memory (8 KiB). An override: Mesa's OpenGL adapter compiles
// workgroup arrays in a time that grows with the square of their size (two tiles of 512 vec4s:
// about 100 s per kernel), so its launcher asks for smaller tiles there.
override TILE4: u32 = 512u;
const MAX_BC: u32 = 64u; // rows per tile at most

// Rows of one tile: TILE4 / HS4 (32 for a head size of 64), at most MAX_BC.
fn tile_rows() -> u32 {
  return min(MAX_BC, TILE4 / HS4);
}

const NEG: f32 = -3.0e38; // below any score

var<workgroup> tile_a: array<vec4<f32>, TILE4>; // k (forward, dq) or q (dk, dv) rows of a tile
var<workgroup> tile_b: array<vec4<f32>, TILE4>; // v (forward, dq) or dout (dk, dv) rows
var<workgroup> tile_lse: array<f32, MAX_BC>; // dk, dv: lse of the tile's query rows
var<workgroup> tile_d: array<f32, MAX_BC>; // dk, dv: D of the tile's query rows

// ---- Forward -------------------------------------------------------------------------------
@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>; // (B, T, C)
@group(0) @binding(1) var<storage, read_write> lse: array<f32>; // (B, NH, T)
@group(0) @binding(2) var<storage, read> qkv: array<vec4<f32>>; // (B, T, 3C); dq's too
@group(0) @binding(3) var<uniform> p: Params;

// The k and v rows s0 .. s0 + n of head hd into tile_a and tile_b (forward and dq), the BR
// invocations taking every BR-th vec4.
fn load_kv_tile(hd: Head, C4: u32, s0: u32, n: u32, lane: u32) {
  for (var e = lane; e < n * HS4; e += BR) {
    let r = hd.q0 + (s0 + e / HS4) * hd.row3 + e % HS4;
    tile_a[e] = qkv[r + C4];
    tile_b[e] = qkv[r + 2u * C4];
  }
}

// Dispatch (ceil(T / BR), NH, B).
@compute @workgroup_size(BR)
fn flash_forward(@builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
  let T = p.T;
  let C4 = p.C4;
  let hd = head(p, wid.z, wid.y);
  let t0 = wid.x * BR;
  let last = min(t0 + BR, T) - 1u; // the last key any row of the block sees
  let t = t0 + lid.x;
  let tl = min(t, T - 1u);
  let BC = tile_rows();

  var q: array<vec4<f32>, MAX_HS4>; // q * scale
  var o: array<vec4<f32>, MAX_HS4>; // the unnormalised output
  for (var i = 0u; i < HS4; i++) {
    q[i] = qkv[hd.q0 + tl * hd.row3 + i] * p.scale;
    o[i] = vec4<f32>(0.0);
  }
  var m = NEG;
  var l = 0.0;
  var sc: array<f32, MAX_BC>;
  for (var s0 = 0u; s0 <= last; s0 += BC) {
    let n = min(BC, last + 1u - s0);
    workgroupBarrier(); // the last tile is used up
    load_kv_tile(hd, C4, s0, n, lid.x);
    workgroupBarrier();
    var mt = m;
    for (var j = 0u; j < n; j++) {
      var acc = vec4<f32>(0.0);
      for (var i = 0u; i < HS4; i++) {
        acc = fma(q[i], tile_a[j * HS4 + i], acc);
      }
      let s = acc.x + acc.y + acc.z + acc.w;
      let visible = s0 + j <= t;
      sc[j] = select(NEG, s, visible);
      mt = select(mt, max(mt, s), visible);
    }
    let corr = exp(m - mt); // 0 on the first tile
    l *= corr;
    for (var i = 0u; i < HS4; i++) {
      o[i] *= corr;
    }
    for (var j = 0u; j < n; j++) {
      let pj = select(0.0, exp(sc[j] - mt), s0 + j <= t);
      l += pj;
      for (var i = 0u; i < HS4; i++) {
        o[i] = fma(vec4<f32>(pj), tile_b[j * HS4 + i], o[i]);
      }
    }
    m = mt;
  }
  if (t < T) {
    let inv = 1.0 / l;
    for (var i = 0u; i < HS4; i++) {
      out[hd.o0 + t * C4 + i] = o[i] * inv;
    }
    lse[hd.r0 + t] = m + log(l);
  }
}

// ---- Backward over query rows: D and dq ------------------------------------------------------
@group(0) @binding(0) var<storage, read_write> dqkv: array<vec4<f32>>; // (B, T, 3C)
@group(0) @binding(1) var<storage, read_write> dsum: array<f32>; // (B, NH, T): D
// binding 2: qkv, as in the forward
@group(0) @binding(3) var<storage, read> dout: array<vec4<f32>>; // (B, T, C)
@group(0) @binding(4) var<storage, read> out_r: array<vec4<f32>>; // (B, T, C)
@group(0) @binding(5) var<storage, read> lse_r: array<f32>; // (B, NH, T)
@group(0) @binding(6) var<uniform> pr: Params;

// Dispatch (ceil(T / BR), NH, B).
@compute @workgroup_size(BR)
fn flash_backward_rows(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
  let T = pr.T;
  let C4 = pr.C4;
  let hd = head(pr, wid.z, wid.y);
  let t0 = wid.x * BR;
  let last = min(t0 + BR, T) - 1u;
  let t = t0 + lid.x;
  let tl = min(t, T - 1u);
  let BC = tile_rows();

  var q: array<vec4<f32>, MAX_HS4>; // q * scale
  var g: array<vec4<f32>, MAX_HS4>; // dout
  var dq: array<vec4<f32>, MAX_HS4>;
  var dacc = vec4<f32>(0.0);
  for (var i = 0u; i < HS4; i++) {
    q[i] = qkv[hd.q0 + tl * hd.row3 + i] * pr.scale;
    g[i] = dout[hd.o0 + tl * C4 + i];
    dacc = fma(g[i], out_r[hd.o0 + tl * C4 + i], dacc);
    dq[i] = vec4<f32>(0.0);
  }
  let D = dacc.x + dacc.y + dacc.z + dacc.w;
  let L = lse_r[hd.r0 + tl];
  for (var s0 = 0u; s0 <= last; s0 += BC) {
    let n = min(BC, last + 1u - s0);
    workgroupBarrier();
    load_kv_tile(hd, C4, s0, n, lid.x);
    workgroupBarrier();
    for (var j = 0u; j < n; j++) {
      var sacc = vec4<f32>(0.0);
      var pacc = vec4<f32>(0.0);
      for (var i = 0u; i < HS4; i++) {
        sacc = fma(q[i], tile_a[j * HS4 + i], sacc);
        pacc = fma(g[i], tile_b[j * HS4 + i], pacc);
      }
      let s = sacc.x + sacc.y + sacc.z + sacc.w;
      let dp = pacc.x + pacc.y + pacc.z + pacc.w;
      let prob = select(0.0, exp(s - L), s0 + j <= t);
      let ds = prob * (dp - D);
      for (var i = 0u; i < HS4; i++) {
        dq[i] = fma(vec4<f32>(ds), tile_a[j * HS4 + i], dq[i]);
      }
    }
  }
  if (t < T) {
    for (var i = 0u; i < HS4; i++) {
      dqkv[hd.q0 + t * hd.row3 + i] = dq[i] * pr.scale;
    }
    dsum[hd.r0 + t] = D;
  }
}

// ---- Backward over key rows: dk and dv -------------------------------------------------------
@group(0) @binding(0) var<storage, read_write> dqkv_c: array<vec4<f32>>; // (B, T, 3C)
@group(0) @binding(1) var<storage, read> dout_c: array<vec4<f32>>; // (B, T, C)
@group(0) @binding(2) var<storage, read> qkv_c: array<vec4<f32>>; // (B, T, 3C)
@group(0) @binding(3) var<storage, read> lse_c: array<f32>; // (B, NH, T)
@group(0) @binding(4) var<storage, read> dsum_c: array<f32>; // (B, NH, T): D
@group(0) @binding(5) var<uniform> pc: Params;

// Dispatch (ceil(T / BR), NH, B). Key row j sees the query rows t >= j: the workgroup walks the
// query tiles from its first key row to the end.
@compute @workgroup_size(BR)
fn flash_backward_cols(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
  let T = pc.T;
  let C4 = pc.C4;
  let hd = head(pc, wid.z, wid.y);
  let j0 = wid.x * BR;
  let j = j0 + lid.x;
  let jl = min(j, T - 1u);
  let BC = tile_rows();

  var k: array<vec4<f32>, MAX_HS4>; // k * scale
  var v: array<vec4<f32>, MAX_HS4>;
  var dk: array<vec4<f32>, MAX_HS4>;
  var dv: array<vec4<f32>, MAX_HS4>;
  for (var i = 0u; i < HS4; i++) {
    k[i] = qkv_c[hd.q0 + jl * hd.row3 + C4 + i] * pc.scale;
    v[i] = qkv_c[hd.q0 + jl * hd.row3 + 2u * C4 + i];
    dk[i] = vec4<f32>(0.0);
    dv[i] = vec4<f32>(0.0);
  }
  for (var t0 = j0; t0 < T; t0 += BC) {
    let n = min(BC, T - t0);
    workgroupBarrier();
    for (var e = lid.x; e < n * HS4; e += BR) {
      let r = t0 + e / HS4;
      tile_a[e] = qkv_c[hd.q0 + r * hd.row3 + e % HS4];
      tile_b[e] = dout_c[hd.o0 + r * C4 + e % HS4];
    }
    if (lid.x < n) {
      tile_lse[lid.x] = lse_c[hd.r0 + t0 + lid.x];
      tile_d[lid.x] = dsum_c[hd.r0 + t0 + lid.x];
    }
    workgroupBarrier();
    for (var r = 0u; r < n; r++) {
      var sacc = vec4<f32>(0.0);
      var pacc = vec4<f32>(0.0);
      for (var i = 0u; i < HS4; i++) {
        sacc = fma(k[i], tile_a[r * HS4 + i], sacc);
        pacc = fma(v[i], tile_b[r * HS4 + i], pacc);
      }
      let s = sacc.x + sacc.y + sacc.z + sacc.w;
      let dp = pacc.x + pacc.y + pacc.z + pacc.w;
      let prob = select(0.0, exp(s - tile_lse[r]), j <= t0 + r);
      let ds = prob * (dp - tile_d[r]);
      for (var i = 0u; i < HS4; i++) {
        dv[i] = fma(vec4<f32>(prob), tile_b[r * HS4 + i], dv[i]);
        dk[i] = fma(vec4<f32>(ds), tile_a[r * HS4 + i], dk[i]);
      }
    }
  }
  if (j < T) {
    for (var i = 0u; i < HS4; i++) {
      dqkv_c[hd.q0 + j * hd.row3 + C4 + i] = dk[i] * pc.scale;
      dqkv_c[hd.q0 + j * hd.row3 + 2u * C4 + i] = dv[i];
    }
  }
}
