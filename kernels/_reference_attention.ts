/**
 * Plain CPU loops for causal multi-head self-attention (GPT-2 layout): the reference the attention
 * kernels are tested against. Written as the naive math, for clarity, not speed. The arithmetic
 * runs in JavaScript doubles and the results are returned as float32 (or float64 if asked).
 *
 * @module
 */

/** Float32Array or Float64Array: the reference runs on either. */
export type FloatArray = Float32Array | Float64Array;

/** Sizes of one attention layer. */
export interface AttentionSizes {
  B: number;
  T: number;
  C: number;
  NH: number;
}

function newLike(a: FloatArray, n: number): FloatArray {
  return a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/**
 * out (B, T, C) and att (B, NH, T, T) from qkv (B, T, 3C): scores q·k / sqrt(hs), causal mask,
 * softmax (max-subtracted), weighted sum of v. Entries of att above the diagonal are 0. lse
 * (B, NH, T) is the log of each row's sum of exp(score), which flash attention saves instead.
 */
export function attentionForward(
  qkv: FloatArray,
  { B, T, C, NH }: AttentionSizes,
): { out: FloatArray; att: FloatArray; lse: FloatArray } {
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const out = newLike(qkv, B * T * C);
  const att = newLike(qkv, B * NH * T * T);
  const lse = newLike(qkv, B * NH * T);
  const scores = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const q = (b * T + t) * 3 * C + h * hs;
        // scores of the visible positions 0..t
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          const k = (b * T + s) * 3 * C + C + h * hs;
          let dot = 0;
          for (let i = 0; i < hs; i++) dot += qkv[q + i] * qkv[k + i];
          scores[s] = dot * scale;
          if (scores[s] > max) max = scores[s];
        }
        // softmax over 0..t; the masked positions t+1..T-1 get probability 0
        let sum = 0;
        for (let s = 0; s <= t; s++) {
          scores[s] = Math.exp(scores[s] - max);
          sum += scores[s];
        }
        lse[(b * NH + h) * T + t] = max + Math.log(sum);
        const row = ((b * NH + h) * T + t) * T;
        for (let s = 0; s < T; s++) att[row + s] = s <= t ? scores[s] / sum : 0;
        // weighted sum of the values
        const o = (b * T + t) * C + h * hs;
        for (let i = 0; i < hs; i++) {
          let acc = 0;
          for (let s = 0; s <= t; s++) {
            acc += att[row + s] * qkv[(b * T + s) * 3 * C + 2 * C + h * hs + i];
          }
          out[o + i] = acc;
        }
      }
    }
  }
  return { out, att, lse };
}

/**
 * dqkv (B, T, 3C) from dout (B, T, C), qkv and the forward's att (B, NH, T, T), by the chain rule:
 * dv = Pᵀ·dO, dP = dO·vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dq = dS·k / sqrt(hs),
 * dk = dSᵀ·q / sqrt(hs).
 */
export function attentionBackward(
  dout: FloatArray,
  qkv: FloatArray,
  att: FloatArray,
  { B, T, C, NH }: AttentionSizes,
): FloatArray {
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const dqkv = newLike(qkv, B * T * 3 * C);
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const row = ((b * NH + h) * T + t) * T;
        const o = (b * T + t) * C + h * hs;
        const q = (b * T + t) * 3 * C + h * hs;
        // dP[t, s] = dO[t] · v[s]; dv[s] += P[t, s] dO[t]
        for (let s = 0; s <= t; s++) {
          const v = (b * T + s) * 3 * C + 2 * C + h * hs;
          let dot = 0;
          for (let i = 0; i < hs; i++) {
            dot += dout[o + i] * qkv[v + i];
            dqkv[v + i] += att[row + s] * dout[o + i];
          }
          dp[s] = dot;
        }
        // softmax backward: dS[t, s] = P[t, s] (dP[t, s] - sum_r P[t, r] dP[t, r])
        let rowDot = 0;
        for (let s = 0; s <= t; s++) rowDot += att[row + s] * dp[s];
        for (let s = 0; s <= t; s++) {
          const ds = att[row + s] * (dp[s] - rowDot) * scale;
          const k = (b * T + s) * 3 * C + C + h * hs;
          for (let i = 0; i < hs; i++) {
            dqkv[q + i] += ds * qkv[k + i];
            dqkv[k + i] += ds * qkv[q + i];
          }
        }
      }
    }
  }
  return dqkv;
}
