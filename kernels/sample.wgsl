// The next token of each row, chosen on the GPU: one workgroup per row reads the row's logits (V)
// and picks a token, so that decoding keeps its token ids on the GPU (model/decode.ts).
//
// - temperature 0: the argmax, ties to the lowest id (as the CPU sampler, model/generate.ts).
// - temperature T > 0: a draw from softmax(logits / T), restricted to the top_k most likely ids
//   (top_k > 0) and then to the shortest run of most likely ids whose probability reaches top_p
//   (top_p < 1). "Most likely first" orders by logit, ties by increasing id (the CPU sampler's
//   stable sort).
//
// No sort: a cut is a key threshold x and a tie count r (kept: ids whose key is above x, and the
// first r ids, in id order, whose key is x), found by a binary search over the 32 bits of an
// order-preserving u32 key of the logit: the largest x whose count (top-k) or probability mass
// (top-p) of keys >= x reaches the goal. 32 passes over the row each; without top-k and top-p, two
// passes in all (max, then the partition function).
//
// The draw: u * Z (Z: the kept mass) walked in id order, u in [0, 1) from a counter-based hash
// (pcg3d, Jarzynski & Olano 2020) of (seed, row0 + b, position of the new token): the same ids
// however many steps one submit holds, and a run continued from (seed, position) draws as if it
// had never stopped.
//
// Each thread owns a contiguous chunk of ceil(V / WG) ids, so thread order is id order: the
// prefix sums over threads (thread 0 alone, in order) place the draw and rank the ties.
// Reductions have a fixed order; no atomics: deterministic.
//
// The row's state rows[b] = (step, count, limit, done): step counts the samplings since the start
// (the column of `out` is step % N), count the tokens produced, limit the most it may produce,
// done is 0 while it runs, 1 after the stop token, 2 at the limit, 3 for an unused row. A running
// row writes its id and log-probability into out at the step's column and, unless it just ended,
// the id into tokens[b] and pos[b] + 1 into pos[b] (the next step embeds it there). An ended row
// writes PAD and 0 without reading its logits, and leaves tokens and pos alone, so later steps
// recompute its last position with the same values. The log-probability is log softmax(logits / T) of the id (T = 1 when
// greedy), over every id: top-k and top-p cut the draw, not the distribution it reports.
//
// CPU adapters stop an invocation's loops after 65535 iterations in all: about 75 passes of
// ceil(V / WG) ids each with top-k and top-p, which the launcher keeps in bounds with WG.

override WG: u32 = 256; // threads per row, a power of two

struct Params {
  B: u32, // rows
  V: u32, // vocabulary
  N: u32, // columns of out (steps per readback)
  row0: u32, // the RNG's row of row 0
  temperature: f32, // 0: greedy
  top_k: u32, // 0: all
  top_p: f32, // 1: all
  seed: u32,
  stop: u32, // the stop token (PAD: none)
}

const PAD: u32 = 0xffffffffu;
const FLT_MAX: f32 = 3.4028234663852886e38;

@group(0) @binding(0) var<storage, read> logits: array<f32>; // (B, V)
@group(0) @binding(1) var<storage, read_write> tokens: array<u32>; // (B)
@group(0) @binding(2) var<storage, read_write> pos: array<u32>; // (B)
@group(0) @binding(3) var<storage, read_write> rows: array<vec4<u32>>; // (B)
@group(0) @binding(4) var<storage, read_write> out: array<u32>; // (2, B, N): ids, f32 log-probs
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> redf: array<f32, WG>;
var<workgroup> redu: array<u32, WG>;
var<workgroup> chosen: vec2<u32>; // the thread that holds the draw, and the drawn id
var<workgroup> offset: vec2<f32>; // the kept mass before that thread's chunk, and u * Z
var<workgroup> row_done: u32;

// An order-preserving key of a float (-0 and +0 share one), and back.
fn key_of(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let k = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
  return select(k, 0x80000000u, x == 0.0);
}

fn value_of(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

// pcg3d: a hash of three words whose first output is uniform in the others' every change.
fn pcg3d(seed: vec3<u32>) -> vec3<u32> {
  var v = seed * 1664525u + 1013904223u;
  v.x += v.y * v.z;
  v.y += v.z * v.x;
  v.z += v.x * v.y;
  v = v ^ (v >> vec3<u32>(16u));
  v.x += v.y * v.z;
  v.y += v.z * v.x;
  v.z += v.x * v.y;
  return v;
}

// The workgroup's sum in a fixed tree order. Call from uniform control flow. Counts go through it
// as floats: exact below 2^24.
fn sum_f(lid: u32, x: f32) -> f32 {
  redf[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      redf[lid] += redf[lid + s];
    }
    workgroupBarrier();
  }
  let r = redf[0];
  workgroupBarrier();
  return r;
}

fn sum_u(lid: u32, x: u32) -> u32 {
  return u32(sum_f(lid, f32(x)));
}

// The sum of x over the threads before this one (thread order is id order).
fn before_u(lid: u32, x: u32) -> u32 {
  redu[lid] = x;
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0u;
    for (var t = 0u; t < WG; t++) {
      let v = redu[t];
      redu[t] = acc;
      acc += v;
    }
  }
  workgroupBarrier();
  let r = redu[lid];
  workgroupBarrier();
  return r;
}

// Whether an id of key k is kept by the cut (cx, cr); `rank`: the ids of key cx before it.
fn kept(k: u32, cx: u32, cr: u32, rank: u32) -> bool {
  return k > cx || (k == cx && rank < cr);
}

// The probability mass (unnormalised, exp((x - m) inv_t)) of the ids in [lo, hi) of the row at
// `base` that the cut (cx, cr) keeps and whose key is at least `floor`; tb: ids of key cx before lo.
fn kept_mass(base: u32, lo: u32, hi: u32, m: f32, inv_t: f32, cx: u32, cr: u32, tb: u32,
             floor: u32) -> f32 {
  var mass = 0.0;
  var rank = tb;
  for (var i = lo; i < hi; i++) {
    let x = logits[base + i];
    let k = key_of(x);
    if (k >= floor && kept(k, cx, cr, rank)) {
      mass += exp((x - m) * inv_t);
    }
    rank += select(0u, 1u, k == cx);
  }
  return mass;
}

@compute @workgroup_size(WG)
fn sample_next(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(local_invocation_id) lid3: vec3<u32>) {
  let b = wid.x;
  if (b >= p.B) { return; }
  let lid = lid3.x;
  let V = p.V;
  let E = (V + WG - 1u) / WG;
  let lo = min(V, lid * E);
  let hi = min(V, lo + E);
  let base = b * V;
  if (lid == 0u) {
    row_done = rows[b].w;
  }
  if (workgroupUniformLoad(&row_done) != 0u) {
    // an ended row: padding, and a step more
    if (lid == 0u) {
      let row = rows[b];
      out[b * p.N + row.x % p.N] = PAD;
      out[(p.B + b) * p.N + row.x % p.N] = 0u;
      rows[b] = vec4<u32>(row.x + 1u, row.y, row.z, row.w);
    }
    return;
  }

  // The largest logit and its lowest id.
  var mv = -FLT_MAX;
  var mi = PAD;
  for (var i = lo; i < hi; i++) {
    let x = logits[base + i];
    if (mi == PAD || x > mv) {
      mv = x;
      mi = i;
    }
  }
  redf[lid] = mv;
  redu[lid] = mi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let i1 = redu[lid];
      let v1 = redf[lid];
      let i2 = redu[lid + s];
      let v2 = redf[lid + s];
      if (i2 != PAD && (i1 == PAD || v2 > v1 || (v2 == v1 && i2 < i1))) {
        redf[lid] = v2;
        redu[lid] = i2;
      }
    }
    workgroupBarrier();
  }
  let m = redf[0];
  var pick = redu[0];
  workgroupBarrier();

  let greedy = p.temperature <= 0.0;
  let inv_t = select(1.0 / p.temperature, 1.0, greedy);
  var mass = 0.0; // this thread's share of the partition function, later of the kept mass
  for (var i = lo; i < hi; i++) {
    mass += exp((logits[base + i] - m) * inv_t);
  }
  let z = sum_f(lid, mass);

  if (!greedy) {
    // The cut: every id, then the top-k, then the top-p within it.
    var cx = 0u;
    var cr = V;
    var tb = 0u; // ids of key cx before this thread's chunk
    if (p.top_k > 0u && p.top_k < V) {
      var res = 0u;
      for (var j = 0u; j < 32u; j++) {
        let cand = res | (0x80000000u >> j);
        var c = 0u;
        for (var i = lo; i < hi; i++) {
          c += select(0u, 1u, key_of(logits[base + i]) >= cand);
        }
        if (sum_u(lid, c) >= p.top_k) {
          res = cand;
        }
      }
      var gt = 0u;
      var eq = 0u;
      for (var i = lo; i < hi; i++) {
        let k = key_of(logits[base + i]);
        gt += select(0u, 1u, k > res);
        eq += select(0u, 1u, k == res);
      }
      cx = res;
      cr = p.top_k - sum_u(lid, gt);
      tb = before_u(lid, eq);
      mass = kept_mass(base, lo, hi, m, inv_t, cx, cr, tb, 0u);
    }
    if (p.top_p < 1.0) {
      let goal = p.top_p * sum_f(lid, mass);
      var res = 0u;
      for (var j = 0u; j < 32u; j++) {
        let cand = res | (0x80000000u >> j);
        if (sum_f(lid, kept_mass(base, lo, hi, m, inv_t, cx, cr, tb, cand)) >= goal) {
          res = cand;
        }
      }
      // Keys above res hold less than the goal: add ties at res, in id order, until it is reached.
      var ties = 0u;
      var all_ties = 0u;
      var rank = tb;
      for (var i = lo; i < hi; i++) {
        let k = key_of(logits[base + i]);
        ties += select(0u, 1u, k == res && kept(k, cx, cr, rank));
        all_ties += select(0u, 1u, k == res);
        rank += select(0u, 1u, k == cx);
      }
      let above = select(kept_mass(base, lo, hi, m, inv_t, cx, cr, tb, res + 1u), 0.0, res == PAD);
      let need = (goal - sum_f(lid, above)) / exp((value_of(res) - m) * inv_t);
      let kept_ties = sum_u(lid, ties);
      cr = u32(clamp(ceil(need), 1.0, f32(kept_ties)));
      cx = res;
      tb = before_u(lid, all_ties);
      mass = kept_mass(base, lo, hi, m, inv_t, cx, cr, tb, 0u);
    }

    // The draw: thread 0 finds the chunk where the running kept mass passes u * Z.
    redf[lid] = mass;
    workgroupBarrier();
    if (lid == 0u) {
      var total = 0.0;
      for (var t = 0u; t < WG; t++) {
        total += redf[t];
      }
      let h = pcg3d(vec3<u32>(p.seed, p.row0 + b, pos[b] + 1u)).x;
      let goal = f32(h >> 8u) * (1.0 / 16777216.0) * total;
      var acc = 0.0;
      var last = 0u;
      var t_pick = WG;
      var t_acc = 0.0;
      for (var t = 0u; t < WG; t++) {
        let next = acc + redf[t];
        if (redf[t] > 0.0) {
          last = t;
        }
        if (next > goal && t_pick == WG) {
          t_pick = t;
          t_acc = acc;
        }
        acc = next;
      }
      if (t_pick == WG) {
        // rounding left the goal at the total: the chunk of the last kept id
        t_pick = last;
        t_acc = acc - redf[last];
      }
      chosen = vec2<u32>(t_pick, 0u);
      offset = vec2<f32>(t_acc, goal);
    }
    workgroupBarrier();
    let owner = chosen.x;
    let start = offset;
    workgroupBarrier();
    if (lid == owner) {
      var acc = start.x;
      var last = PAD;
      var found = PAD;
      var rank = tb;
      for (var i = lo; i < hi; i++) {
        let x = logits[base + i];
        let k = key_of(x);
        let e = exp((x - m) * inv_t);
        if (kept(k, cx, cr, rank) && e > 0.0) {
          last = i;
          acc += e;
          if (acc > start.y) {
            found = i;
            break;
          }
        }
        rank += select(0u, 1u, k == cx);
      }
      chosen.y = select(found, last, found == PAD);
    }
    workgroupBarrier();
    pick = chosen.y;
  }

  if (lid == 0u) {
    let row = rows[b];
    let col = row.x % p.N;
    out[b * p.N + col] = pick;
    out[(p.B + b) * p.N + col] = bitcast<u32>((logits[base + pick] - m) * inv_t - log(z));
    let count = row.y + 1u;
    var done = 0u;
    if (pick == p.stop) {
      done = 1u;
    } else if (count >= row.z) {
      done = 2u;
    }
    if (done == 0u) {
      tokens[b] = pick;
      pos[b] += 1u;
    }
    rows[b] = vec4<u32>(row.x + 1u, count, row.z, done);
  }
}

// ---- decode_gate -------------------------------------------------------------------------------
// The workgroup counts of a decoding step's ops for their indirect dispatch: as built while a row
// runs, zero once every row has ended, so that steps queued past the end cost next to nothing.

struct GateParams {
  B: u32,
  words: u32, // 3 per op
}

@group(0) @binding(0) var<storage, read> gate_rows: array<vec4<u32>>; // (B)
@group(0) @binding(1) var<storage, read> gate_full: array<u32>; // (words)
@group(0) @binding(2) var<storage, read_write> gate_args: array<u32>; // (words)
@group(0) @binding(3) var<uniform> pg: GateParams;

// One workgroup of 64.
@compute @workgroup_size(64)
fn decode_gate(@builtin(local_invocation_id) lid3: vec3<u32>) {
  var running = false;
  for (var b = 0u; b < pg.B; b++) {
    running = running || gate_rows[b].w == 0u;
  }
  for (var i = lid3.x; i < pg.words; i += 64u) {
    gate_args[i] = select(0u, gate_full[i], running);
  }
}
