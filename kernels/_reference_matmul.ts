/**
 * Plain float32 CPU loops for the matmul layer (weight (OC, C) row-major, bias (OC)): the
 * reference the kernels are tested against. Written for clarity, not speed.
 *
 * @module
 */

/** out (N, OC) = inp (N, C) @ weight (OC, C)^T + bias (OC). */
export function matmulForward(
  inp: Float32Array,
  weight: Float32Array,
  bias: Float32Array | undefined,
  N: number,
  C: number,
  OC: number,
): Float32Array {
  const out = new Float32Array(N * OC);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      let s = bias ? bias[o] : 0;
      for (let c = 0; c < C; c++) s += inp[n * C + c] * weight[o * C + c];
      out[n * OC + o] = s;
    }
  }
  return out;
}

/**
 * Gradients of {@linkcode matmulForward}: returns dinp (N, C) (fresh) and adds into dweight
 * (OC, C) and, if given, dbias (OC), in place.
 */
export function matmulBackward(
  dweight: Float32Array,
  dbias: Float32Array | undefined,
  dout: Float32Array,
  inp: Float32Array,
  weight: Float32Array,
  N: number,
  C: number,
  OC: number,
): Float32Array {
  const dinp = new Float32Array(N * C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let o = 0; o < OC; o++) s += dout[n * OC + o] * weight[o * C + c];
      dinp[n * C + c] = s;
    }
  }
  for (let o = 0; o < OC; o++) {
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dout[n * OC + o] * inp[n * C + c];
      dweight[o * C + c] += s;
    }
  }
  if (dbias) {
    for (let o = 0; o < OC; o++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dout[n * OC + o];
      dbias[o] += s;
    }
  }
  return dinp;
}

/**
 * The general product of `gemm`: C (M, N) (+)= alpha · op(A) @ op(B) [+ bias (N)], in place on c.
 * op(A) is A (M, K), or A stored (K, M) transposed when transA; op(B) is B (K, N), or B stored
 * (N, K) transposed when transB.
 */
export function gemm(
  c: Float32Array,
  a: Float32Array,
  b: Float32Array,
  bias: Float32Array | undefined,
  M: number,
  N: number,
  K: number,
  opts: { transA?: boolean; transB?: boolean; accumulate?: boolean; alpha?: number } = {},
): void {
  const { transA = false, transB = false, accumulate = false, alpha = 1 } = opts;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = transA ? a[k * M + m] : a[m * K + k];
        const bv = transB ? b[n * K + k] : b[k * N + n];
        s += av * bv;
      }
      let v = alpha * s + (bias ? bias[n] : 0);
      if (accumulate) v += c[m * N + n];
      c[m * N + n] = v;
    }
  }
}
