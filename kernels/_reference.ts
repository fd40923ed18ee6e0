/**
 * Plain float32 CPU loops: the reference every kernel is tested against. Each function mirrors
 * one kernel launcher (same names, same argument meaning), written for clarity, not speed.
 *
 * @module
 */

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh form. */
export function geluForward(inp: Float32Array): Float32Array {
  const out = new Float32Array(inp.length);
  for (let i = 0; i < inp.length; i++) {
    const x = inp[i];
    out[i] = 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)));
  }
  return out;
}

/** dinp = gelu'(inp) · dout. */
export function geluBackward(inp: Float32Array, dout: Float32Array): Float32Array {
  const dinp = new Float32Array(inp.length);
  for (let i = 0; i < inp.length; i++) {
    const x = inp[i];
    const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3));
    const grad = 0.5 * (1 + t) +
      0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    dinp[i] = grad * dout[i];
  }
  return dinp;
}
