/**
 * Plain CPU loops for the layernorm, encoder and residual kernels: the reference their tests
 * compare against. Each function mirrors one launcher (same names, outputs first, same
 * accumulation rules). They take Float32Array (the float32 reference) or Float64Array (for
 * finite-difference checks of the reference itself).
 *
 * @module
 */

/** A float array of either precision. */
export type Floats = Float32Array | Float64Array;

/** LayerNorm epsilon (GPT-2). */
export const LAYERNORM_EPS = 1e-5;

/** out (N, C), mean (N), rstd (N) written from inp (N, C), weight (C), bias (C). */
export function layernormForward(
  out: Floats,
  mean: Floats,
  rstd: Floats,
  inp: Floats,
  weight: Floats,
  bias: Floats,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const x = inp.subarray(n * C, (n + 1) * C);
    let m = 0;
    for (let c = 0; c < C; c++) m += x[c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[c] - m) ** 2;
    v /= C;
    const s = 1 / Math.sqrt(v + LAYERNORM_EPS);
    for (let c = 0; c < C; c++) out[n * C + c] = (x[c] - m) * s * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = s;
  }
}

/** dinp (N, C) +=, dweight (C) +=, dbias (C) += from dout (N, C) and the forward's inputs. */
export function layernormBackward(
  dinp: Floats,
  dweight: Floats,
  dbias: Floats,
  dout: Floats,
  inp: Floats,
  weight: Floats,
  mean: Floats,
  rstd: Floats,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const m = mean[n], s = rstd[n];
    let dnormMean = 0, dnormNormMean = 0;
    for (let c = 0; c < C; c++) {
      const i = n * C + c;
      const norm = (inp[i] - m) * s;
      const dnorm = dout[i] * weight[c];
      dnormMean += dnorm;
      dnormNormMean += dnorm * norm;
    }
    dnormMean /= C;
    dnormNormMean /= C;
    for (let c = 0; c < C; c++) {
      const i = n * C + c;
      const norm = (inp[i] - m) * s;
      const dnorm = dout[i] * weight[c];
      dinp[i] += s * (dnorm - dnormMean - norm * dnormNormMean);
      dweight[c] += dout[i] * norm;
      dbias[c] += dout[i];
    }
  }
}

/** out (B, T, C) = wte[inp[b, t]] + wpe[t]; inp (B, T) token ids, wte (V, C), wpe (maxT, C). */
export function encoderForward(
  out: Floats,
  inp: Uint32Array,
  wte: Floats,
  wpe: Floats,
  B: number,
  T: number,
  C: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tok = inp[b * T + t];
      for (let c = 0; c < C; c++) {
        out[(b * T + t) * C + c] = wte[tok * C + c] + wpe[t * C + c];
      }
    }
  }
}

/** dwte (V, C) += and dwpe (maxT, C) += from dout (B, T, C), straight from the token ids. */
export function encoderBackward(
  dwte: Floats,
  dwpe: Floats,
  dout: Floats,
  inp: Uint32Array,
  B: number,
  T: number,
  C: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tok = inp[b * T + t];
      for (let c = 0; c < C; c++) {
        const d = dout[(b * T + t) * C + c];
        dwte[tok * C + c] += d;
        dwpe[t * C + c] += d;
      }
    }
  }
}

/** out (N) = inp1 + inp2. */
export function residualForward(out: Floats, inp1: Floats, inp2: Floats): void {
  for (let i = 0; i < out.length; i++) out[i] = inp1[i] + inp2[i];
}

/** dinp1 (N) += dout and dinp2 (N) += dout, each where given. */
export function residualBackward(
  dinp1: Floats | undefined,
  dinp2: Floats | undefined,
  dout: Floats,
): void {
  for (let i = 0; i < dout.length; i++) {
    if (dinp1) dinp1[i] += dout[i];
    if (dinp2) dinp2[i] += dout[i];
  }
}
