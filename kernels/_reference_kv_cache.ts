/**
 * Plain CPU loops for decoding with a KV cache: the reference of kernels/kv_cache.ts.
 *
 * @module
 */

/** out (B, C) = wte[tokens[b]] + wpe[pos[b]]. */
export function embedAt(
  tokens: ArrayLike<number>,
  pos: ArrayLike<number>,
  wte: Float32Array,
  wpe: Float32Array,
  B: number,
  C: number,
): Float32Array {
  const out = new Float32Array(B * C);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) out[b * C + c] = wte[tokens[b] * C + c] + wpe[pos[b] * C + c];
  }
  return out;
}

/**
 * The cache (B, T, 3C) after writing fresh (B, 3C) at (b, pos[b]), and out (B, C): for each row
 * and head, softmax(q·k / sqrt(hs)) over positions 0..pos[b], times v (naive math in doubles).
 */
export function attentionDecode(
  cache: Float32Array,
  fresh: Float32Array,
  pos: ArrayLike<number>,
  B: number,
  T: number,
  C: number,
  NH: number,
): { cache: Float32Array; out: Float32Array } {
  const next = cache.slice();
  const C3 = 3 * C;
  for (let b = 0; b < B; b++) {
    next.set(fresh.subarray(b * C3, (b + 1) * C3), (b * T + pos[b]) * C3);
  }
  const hs = C / NH;
  const out = new Float32Array(B * C);
  for (let b = 0; b < B; b++) {
    const t = pos[b];
    for (let h = 0; h < NH; h++) {
      const q = (b * T + t) * C3 + h * hs;
      const scores: number[] = [];
      for (let s = 0; s <= t; s++) {
        const k = (b * T + s) * C3 + C + h * hs;
        let dot = 0;
        for (let i = 0; i < hs; i++) dot += next[q + i] * next[k + i];
        scores.push(dot / Math.sqrt(hs));
      }
      const max = Math.max(...scores);
      const e = scores.map((x) => Math.exp(x - max));
      const sum = e.reduce((a, x) => a + x, 0);
      for (let i = 0; i < hs; i++) {
        let acc = 0;
        for (let s = 0; s <= t; s++) {
          acc += (e[s] / sum) * next[(b * T + s) * C3 + 2 * C + h * hs + i];
        }
        out[b * C + h * hs + i] = acc;
      }
    }
  }
  return { cache: next, out };
}
