// Causal multi-head self-attention, GPT-2 layout.
//
// qkv (B, T, 3C): channels [0, C) are q, [C, 2C) k, [2C, 3C) v; head h uses channels
// h*hs .. (h+1)*hs of each (hs = C / NH). att (B, NH, T, T) holds the softmax probabilities
// (0 above the diagonal); out (B, T, C).
//
// Tuned for CPU adapters (lavapipe), where a load from a storage buffer costs a scalar loop over
// the SIMD lanes while arithmetic on values held in private arrays (registers, once the HS4 loops
// are unrolled) is cheap. So each invocation owns two rows (query positions ta, tb) or two
// columns (key positions) of one head's T x T matrix, keeps their head vectors in private arrays,
// and walks the other index in a loop: one load of a k, v, q or dout row feeds two dot products
// or two updates. (Four per invocation loads less but takes LLVM many seconds to compile.)
// No workgroup memory and no barriers. Rows t0 + lane and t0 + WG + lane of a block of 2 WG
// rows go to one invocation; the loops stop at the block's last row, so blocks above the
// diagonal are skipped.

override WG: u32 = 8; // invocations per workgroup; a workgroup covers 2 WG rows or columns
// HS4, MAX_HS4, Params and head() (where one head lives): attention_head.wgsl, in front.

@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>; // (B, T, C)
@group(0) @binding(1) var<storage, read_write> att: array<f32>; // (B, NH, T, T)
@group(0) @binding(2) var<storage, read> qkv: array<vec4<f32>>; // (B, T, 3C)
@group(0) @binding(3) var<uniform> p: Params;

// Forward. Dispatch (ceil(T / (2 WG)), NH, B). Pass 1: scaled scores q·k into att, with a
// running max and sum of exponentials; pass 2: probabilities into att and their weighted sum of
// v into out; then zeros to the right of the block.
@compute @workgroup_size(WG)
fn attention_forward(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
  let T = p.T;
  let C4 = p.C4;
  let hd = head(p, wid.z, wid.y);
  let t0 = wid.x * 2u * WG;
  let last = min(t0 + 2u * WG, T) - 1u;
  let ta = t0 + lid.x;
  let tb = ta + WG;
  let tla = min(ta, T - 1u);
  let tlb = min(tb, T - 1u);
  let rowa = (hd.r0 + tla) * T;
  let rowb = (hd.r0 + tlb) * T;

  var xa: array<vec4<f32>, MAX_HS4>; // q, then the output accumulator
  var xb: array<vec4<f32>, MAX_HS4>;
  var kv: array<vec4<f32>, MAX_HS4>; // the k or v row of position s
  for (var i = 0u; i < HS4; i++) {
    xa[i] = qkv[hd.q0 + tla * hd.row3 + i] * p.scale;
    xb[i] = qkv[hd.q0 + tlb * hd.row3 + i] * p.scale;
  }
  var ma = -3.0e38;
  var mb = -3.0e38;
  var la = 0.0;
  var lb = 0.0;
  for (var s = 0u; s <= last; s++) {
    row_qkv(hd.q0 + s * hd.row3 + C4, lid.x, &kv);
    var acca = vec4<f32>(0.0);
    var accb = vec4<f32>(0.0);
    for (var i = 0u; i < HS4; i++) {
      acca = fma(xa[i], kv[i], acca);
      accb = fma(xb[i], kv[i], accb);
    }
    let sa = acca.x + acca.y + acca.z + acca.w;
    let sb = accb.x + accb.y + accb.z + accb.w;
    let visa = s <= ta;
    let visb = s <= tb;
    let mna = max(ma, sa);
    let mnb = max(mb, sb);
    la = select(la, la * exp(ma - mna) + exp(sa - mna), visa);
    lb = select(lb, lb * exp(mb - mnb) + exp(sb - mnb), visb);
    ma = select(ma, mna, visa);
    mb = select(mb, mnb, visb);
    if (visa && ta < T) {
      att[rowa + s] = sa;
    }
    if (visb && tb < T) {
      att[rowb + s] = sb;
    }
  }
  la = 1.0 / la;
  lb = 1.0 / lb;
  for (var i = 0u; i < HS4; i++) {
    xa[i] = vec4<f32>(0.0);
    xb[i] = vec4<f32>(0.0);
  }
  for (var s = 0u; s <= last; s++) {
    row_qkv(hd.q0 + s * hd.row3 + 2u * C4, lid.x, &kv);
    let pa = select(0.0, exp(att[rowa + min(s, tla)] - ma) * la, s <= ta);
    let pb = select(0.0, exp(att[rowb + min(s, tlb)] - mb) * lb, s <= tb);
    if (ta < T) {
      att[rowa + s] = pa;
    }
    if (tb < T) {
      att[rowb + s] = pb;
    }
    for (var i = 0u; i < HS4; i++) {
      xa[i] = fma(vec4<f32>(pa), kv[i], xa[i]);
      xb[i] = fma(vec4<f32>(pb), kv[i], xb[i]);
    }
  }
  if (ta < T) {
    for (var i = 0u; i < HS4; i++) {
      out[hd.o0 + ta * C4 + i] = xa[i];
    }
    for (var s = last + 1u; s < T; s++) {
      att[rowa + s] = 0.0;
    }
  }
  if (tb < T) {
    for (var i = 0u; i < HS4; i++) {
      out[hd.o0 + tb * C4 + i] = xb[i];
    }
    for (var s = last + 1u; s < T; s++) {
      att[rowb + s] = 0.0;
    }
  }
}

@group(0) @binding(0) var<storage, read_write> dqkv: array<vec4<f32>>; // (B, T, 3C)
@group(0) @binding(1) var<storage, read_write> datt: array<f32>; // (B, NH, T, T) scratch
@group(0) @binding(2) var<storage, read> dout: array<vec4<f32>>; // (B, T, C)
@group(0) @binding(3) var<storage, read> qkv_b: array<vec4<f32>>; // (B, T, 3C)
@group(0) @binding(4) var<storage, read> att_b: array<f32>; // (B, NH, T, T)
@group(0) @binding(5) var<uniform> pb: Params;

// One row of HS4 vec4s that every invocation of the workgroup needs (the k or v row of key
// position s, the q or dout row of query position t), into dst. Two versions: the launcher keeps
// one. With subgroups (CPU adapters whose subgroup is the workgroup's 8 lanes), each lane loads a
// different vec4 and broadcasts it to the others: on llvmpipe a load costs the same for one
// address as for 8, a broadcast about a tenth of that.
// BEGIN subgroup rows
fn row_qkv(base: u32, lane: u32, dst: ptr<function, array<vec4<f32>, MAX_HS4>>) {
  for (var j = 0u; j < HS4; j += 8u) {
    let mine = qkv[base + min(j + lane, HS4 - 1u)];
    spread(mine, j, dst);
  }
}

fn row_qkv_b(base: u32, lane: u32, dst: ptr<function, array<vec4<f32>, MAX_HS4>>) {
  for (var j = 0u; j < HS4; j += 8u) {
    let mine = qkv_b[base + min(j + lane, HS4 - 1u)];
    spread(mine, j, dst);
  }
}

fn row_dout(base: u32, lane: u32, dst: ptr<function, array<vec4<f32>, MAX_HS4>>) {
  for (var j = 0u; j < HS4; j += 8u) {
    let mine = dout[base + min(j + lane, HS4 - 1u)];
    spread(mine, j, dst);
  }
}

// dst[j + l] = lane l's value, for the lanes l with j + l < HS4 (j is uniform).
fn spread(mine: vec4<f32>, j: u32, dst: ptr<function, array<vec4<f32>, MAX_HS4>>) {
  (*dst)[j] = subgroupBroadcast(mine, 0u);
  let b1 = subgroupBroadcast(mine, 1u);
  let b2 = subgroupBroadcast(mine, 2u);
  let b3 = subgroupBroadcast(mine, 3u);
  let b4 = subgroupBroadcast(mine, 4u);
  let b5 = subgroupBroadcast(mine, 5u);
  let b6 = subgroupBroadcast(mine, 6u);
  let b7 = subgroupBroadcast(mine, 7u);
  if (j + 1u < HS4) {
    (*dst)[j + 1u] = b1;
  }
  if (j + 2u < HS4) {
    (*dst)[j + 2u] = b2;
  }
  if (j + 3u < HS4) {
    (*dst)[j + 3u] = b3;
  }
  if (j + 4u < HS4) {
    (*dst)[j + 4u] = b4;
  }
  if (j + 5u < HS4) {
    (*dst)[j + 5u] = b5;
  }
  if (j + 6u < HS4) {
    (*dst)[j + 6u] = b6;
  }
  if (j + 7u < HS4) {
    (*dst)[j + 7u] = b7;
  }
}
// END subgroup rows
// BEGIN plain rows
fn row_qkv(base: u32, lane: u32, dst: ptr<function, array<vec4<f32>, MAX_HS4>>) {
  for (var i = 0u; i < HS4; i++) {
    (*dst)[i] = qkv[base + i];
  }
}

fn row_qkv_b(base: u32, lane: u32, dst: ptr<function, array<vec4<f32>, MAX_HS4>>) {
  for (var i = 0u; i < HS4; i++) {
    (*dst)[i] = qkv_b[base + i];
  }
}

fn row_dout(base: u32, lane: u32, dst: ptr<function, array<vec4<f32>, MAX_HS4>>) {
  for (var i = 0u; i < HS4; i++) {
    (*dst)[i] = dout[base + i];
  }
}
// END plain rows

// Backward over rows: dP = dO·vᵀ into datt with rs = rowsum(P ⊙ dP); then
// dS = P ⊙ (dP − rs) into datt (on and below the diagonal only) and dq = dS·k / sqrt(hs).
// Dispatch (ceil(T / (2 WG)), NH, B).
@compute @workgroup_size(WG)
fn attention_backward_rows(@builtin(workgroup_id) wid: vec3<u32>,
                           @builtin(local_invocation_id) lid: vec3<u32>) {
  let T = pb.T;
  let C4 = pb.C4;
  let hd = head(pb, wid.z, wid.y);
  let t0 = wid.x * 2u * WG;
  let last = min(t0 + 2u * WG, T) - 1u;
  let ta = t0 + lid.x;
  let tb = ta + WG;
  let tla = min(ta, T - 1u);
  let tlb = min(tb, T - 1u);
  let rowa = (hd.r0 + tla) * T;
  let rowb = (hd.r0 + tlb) * T;

  var xa: array<vec4<f32>, MAX_HS4>; // dout, then the dq accumulator
  var xb: array<vec4<f32>, MAX_HS4>;
  var kv: array<vec4<f32>, MAX_HS4>;
  for (var i = 0u; i < HS4; i++) {
    xa[i] = dout[hd.o0 + tla * C4 + i];
    xb[i] = dout[hd.o0 + tlb * C4 + i];
  }
  var rsa = 0.0;
  var rsb = 0.0;
  for (var s = 0u; s <= last; s++) {
    row_qkv_b(hd.q0 + s * hd.row3 + 2u * C4, lid.x, &kv);
    var acca = vec4<f32>(0.0);
    var accb = vec4<f32>(0.0);
    for (var i = 0u; i < HS4; i++) {
      acca = fma(xa[i], kv[i], acca);
      accb = fma(xb[i], kv[i], accb);
    }
    let dpa = acca.x + acca.y + acca.z + acca.w;
    let dpb = accb.x + accb.y + accb.z + accb.w;
    let visa = s <= ta;
    let visb = s <= tb;
    rsa += select(0.0, att_b[rowa + min(s, tla)] * dpa, visa);
    rsb += select(0.0, att_b[rowb + min(s, tlb)] * dpb, visb);
    if (visa && ta < T) {
      datt[rowa + s] = dpa;
    }
    if (visb && tb < T) {
      datt[rowb + s] = dpb;
    }
  }
  for (var i = 0u; i < HS4; i++) {
    xa[i] = vec4<f32>(0.0);
    xb[i] = vec4<f32>(0.0);
  }
  for (var s = 0u; s <= last; s++) {
    row_qkv_b(hd.q0 + s * hd.row3 + C4, lid.x, &kv);
    let visa = s <= ta;
    let visb = s <= tb;
    let ja = rowa + min(s, tla);
    let jb = rowb + min(s, tlb);
    let dsa = select(0.0, att_b[ja] * (datt[ja] - rsa), visa);
    let dsb = select(0.0, att_b[jb] * (datt[jb] - rsb), visb);
    if (visa && ta < T) {
      datt[ja] = dsa;
    }
    if (visb && tb < T) {
      datt[jb] = dsb;
    }
    for (var i = 0u; i < HS4; i++) {
      xa[i] = fma(vec4<f32>(dsa), kv[i], xa[i]);
      xb[i] = fma(vec4<f32>(dsb), kv[i], xb[i]);
    }
  }
  if (ta < T) {
    for (var i = 0u; i < HS4; i++) {
      dqkv[hd.q0 + ta * hd.row3 + i] = xa[i] * pb.scale;
    }
  }
  if (tb < T) {
    for (var i = 0u; i < HS4; i++) {
      dqkv[hd.q0 + tb * hd.row3 + i] = xb[i] * pb.scale;
    }
  }
}

// Backward over columns, in two kernels that each keep two accumulators per invocation (four
// would not stay in registers): dk = dSᵀ·q / sqrt(hs) reading dS from datt (written by
// attention_backward_rows), and dv = Pᵀ·dO, for key positions sa and sb.
// Dispatch (ceil(T / (2 WG)), NH, B) each.
@compute @workgroup_size(WG)
fn attention_backward_dk(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(local_invocation_id) lid: vec3<u32>) {
  let T = pb.T;
  let hd = head(pb, wid.z, wid.y);
  let s0 = wid.x * 2u * WG;
  let sa = s0 + lid.x;
  let sb = sa + WG;

  var xa: array<vec4<f32>, MAX_HS4>;
  var xb: array<vec4<f32>, MAX_HS4>;
  var qr: array<vec4<f32>, MAX_HS4>; // q of position t
  for (var i = 0u; i < HS4; i++) {
    xa[i] = vec4<f32>(0.0);
    xb[i] = vec4<f32>(0.0);
  }
  for (var t = s0; t < T; t++) {
    row_qkv_b(hd.q0 + t * hd.row3, lid.x, &qr);
    let row = (hd.r0 + t) * T;
    let dsa = select(0.0, datt[row + min(sa, t)], sa <= t);
    let dsb = select(0.0, datt[row + min(sb, t)], sb <= t);
    for (var i = 0u; i < HS4; i++) {
      xa[i] = fma(vec4<f32>(dsa), qr[i], xa[i]);
      xb[i] = fma(vec4<f32>(dsb), qr[i], xb[i]);
    }
  }
  if (sa < T) {
    for (var i = 0u; i < HS4; i++) {
      dqkv[hd.q0 + sa * hd.row3 + pb.C4 + i] = xa[i] * pb.scale;
    }
  }
  if (sb < T) {
    for (var i = 0u; i < HS4; i++) {
      dqkv[hd.q0 + sb * hd.row3 + pb.C4 + i] = xb[i] * pb.scale;
    }
  }
}

@compute @workgroup_size(WG)
fn attention_backward_dv(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(local_invocation_id) lid: vec3<u32>) {
  let T = pb.T;
  let C4 = pb.C4;
  let hd = head(pb, wid.z, wid.y);
  let s0 = wid.x * 2u * WG;
  let sa = s0 + lid.x;
  let sb = sa + WG;

  var xa: array<vec4<f32>, MAX_HS4>;
  var xb: array<vec4<f32>, MAX_HS4>;
  var gr: array<vec4<f32>, MAX_HS4>; // dout of position t
  for (var i = 0u; i < HS4; i++) {
    xa[i] = vec4<f32>(0.0);
    xb[i] = vec4<f32>(0.0);
  }
  for (var t = s0; t < T; t++) {
    row_dout(hd.o0 + t * C4, lid.x, &gr);
    let row = (hd.r0 + t) * T;
    let pa = select(0.0, att_b[row + min(sa, t)], sa <= t);
    let pb_ = select(0.0, att_b[row + min(sb, t)], sb <= t);
    for (var i = 0u; i < HS4; i++) {
      xa[i] = fma(vec4<f32>(pa), gr[i], xa[i]);
      xb[i] = fma(vec4<f32>(pb_), gr[i], xb[i]);
    }
  }
  if (sa < T) {
    for (var i = 0u; i < HS4; i++) {
      dqkv[hd.q0 + sa * hd.row3 + 2u * C4 + i] = xa[i];
    }
  }
  if (sb < T) {
    for (var i = 0u; i < HS4; i++) {
      dqkv[hd.q0 + sb * hd.row3 + 2u * C4 + i] = xb[i];
    }
  }
}
