/**
 * Plain float32 CPU loops for the loss and optimizer kernels (cross-entropy, sum, gradient norm,
 * AdamW). Each function mirrors one launcher; written for clarity, not speed.
 *
 * @module
 */

const f = Math.fround;

/** Per-row weighted losses (N) of logits (N, V); targets are clamped to V - 1, weight 0 gives 0. */
export function crossEntropyForward(
  logits: Float32Array,
  targets: Uint32Array,
  weights: Float32Array,
  N: number,
  V: number,
): Float32Array {
  const losses = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    const w = weights[i];
    if (w === 0) continue;
    const row = logits.subarray(i * V, (i + 1) * V);
    let mx = -Infinity;
    for (let j = 0; j < V; j++) mx = Math.max(mx, row[j]);
    let s = 0;
    for (let j = 0; j < V; j++) s = f(s + f(Math.exp(row[j] - mx)));
    const t = Math.min(targets[i], V - 1);
    losses[i] = f(w * f(f(Math.log(s)) + mx - row[t]));
  }
  return losses;
}

/** dlogits (N, V) = weights[i] * (softmax(logits[i]) - onehot(targets[i])); 0 on masked rows. */
export function crossEntropyBackward(
  logits: Float32Array,
  targets: Uint32Array,
  weights: Float32Array,
  N: number,
  V: number,
): Float32Array {
  const d = new Float32Array(N * V);
  for (let i = 0; i < N; i++) {
    const w = weights[i];
    if (w === 0) continue;
    const row = logits.subarray(i * V, (i + 1) * V);
    let mx = -Infinity;
    for (let j = 0; j < V; j++) mx = Math.max(mx, row[j]);
    let s = 0;
    for (let j = 0; j < V; j++) s = f(s + f(Math.exp(row[j] - mx)));
    const t = Math.min(targets[i], V - 1);
    for (let j = 0; j < V; j++) {
      const p = f(f(Math.exp(row[j] - mx)) / s);
      d[i * V + j] = f(w * (p - (j === t ? 1 : 0)));
    }
  }
  return d;
}

/** Sum of a float32 array, accumulated in float64 (the exact-ish value the GPU sum approximates). */
export function sum(inp: Float32Array): number {
  let s = 0;
  for (let i = 0; i < inp.length; i++) s += inp[i];
  return s;
}

/** [norm, clip scale] of the gradients, as torch.nn.utils.clip_grad_norm_ (norm in float64). */
export function gradNorm(grads: Float32Array, maxNorm: number): [number, number] {
  let s = 0;
  for (let i = 0; i < grads.length; i++) s += grads[i] * grads[i];
  const norm = Math.sqrt(s);
  const scale = maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  return [norm, scale];
}

/** AdamW hyperparameters of one step (`step` counts from 1). */
export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

/**
 * One AdamW step in float32, updating params, m and v IN PLACE. Gradients are multiplied by
 * `clip`; elements with index < decayEnd get decoupled weight decay.
 */
export function adamwStep(
  params: Float32Array,
  grads: Float32Array,
  m: Float32Array,
  v: Float32Array,
  clip: number,
  decayEnd: number,
  h: AdamWHyper,
): void {
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  for (let i = 0; i < params.length; i++) {
    const g = f(grads[i] * clip);
    let p = params[i];
    if (i < decayEnd) p = f(p - f(f(h.lr * h.weightDecay) * p));
    m[i] = f(f(h.beta1 * m[i]) + f(f(1 - h.beta1) * g));
    v[i] = f(f(h.beta2 * v[i]) + f(f(f(1 - h.beta2) * g) * g));
    const mHat = f(m[i] / bc1);
    const vHat = f(v[i] / bc2);
    params[i] = f(p - f(h.lr * f(mHat / f(f(Math.sqrt(vHat)) + h.eps))));
  }
}
