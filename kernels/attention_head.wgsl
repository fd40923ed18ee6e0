// One attention head's layout, shared by attention.wgsl and attention_flash.wgsl (their launchers
// put this file in front of them; WGSL has no imports). GPT-2 layout: qkv (B, T, 3C), channels
// [0, C) are q, [C, 2C) k, [2C, 3C) v; head h uses channels h*hs .. (h+1)*hs of each
// (hs = C / NH); out (B, T, C).

override HS4: u32 = 16u; // head size / 4

const MAX_HS4: u32 = 32u; // head size <= 128

struct Params {
  T: u32,
  C4: u32, // C / 4
  NH: u32,
  scale: f32, // 1 / sqrt(hs)
}

// Where one (b, h) head lives: in vec4 units, q of position t at q0 + t * row3 + i, k at + C4, v
// at + 2 C4, out and dout at o0 + t * C4 + i. r0 + t is position t's row of the per-head rows
// (B, NH, T): in floats, lse and D at r0 + t, the probabilities' row (T floats) at (r0 + t) * T.
struct Head {
  q0: u32,
  row3: u32,
  o0: u32,
  r0: u32,
}

fn head(pp: Params, b: u32, h: u32) -> Head {
  let T = pp.T;
  return Head(b * T * 3u * pp.C4 + h * HS4, 3u * pp.C4, b * T * pp.C4 + h * HS4,
              (b * pp.NH + h) * T);
}
