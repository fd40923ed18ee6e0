/**
 * The CPU math of RLHF: per-token rewards with a KL penalty, GAE, advantage whitening, the clipped
 * PPO policy and value losses with their gradients, the adaptive KL controller, the Bradley–Terry
 * reward-model loss, the DPO loss and GRPO's group-normalised advantages. Plain numbers in,
 * plain numbers out: no GPU here.
 *
 * The GPU applies every policy gradient through the weighted cross-entropy of the trainer: with
 * logπ_t = −CE_t, a loss L whose gradient wrt logπ_t is g_t is trained by the step with raw
 * per-token weights w_t = ∂L/∂CE_t = −g_t (`Trainer.submit(batches, hyper, { rawWeights: true })`
 * computes the gradient of Σ_t w_t·CE_t). The functions below return those weights.
 *
 * @module
 */

/** log σ(x), computed without overflow. */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

/** σ(x). */
export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * Per-token rewards of one response: r_t = −klCoef·(logπ_t − logπ_ref,t), plus `score` (the reward
 * model's or a rule's) at the last token.
 */
export function tokenRewards(
  logp: ArrayLike<number>,
  refLogp: ArrayLike<number>,
  score: number,
  klCoef: number,
): number[] {
  const n = logp.length;
  const r = Array.from({ length: n }, (_, t) => -klCoef * (logp[t] - refLogp[t]));
  if (n > 0) r[n - 1] += score;
  return r;
}

/**
 * Generalised advantage estimation over one response: δ_t = r_t + γ V_{t+1} − V_t (V_n = 0),
 * A_t = δ_t + γλ A_{t+1}; returns R_t = A_t + V_t (the value targets).
 */
export function gae(
  rewards: ArrayLike<number>,
  values: ArrayLike<number>,
  gamma = 1,
  lambda = 0.95,
): { advantages: number[]; returns: number[] } {
  const n = rewards.length;
  const advantages = new Array<number>(n);
  let next = 0, nextValue = 0;
  for (let t = n - 1; t >= 0; t--) {
    const delta = rewards[t] + gamma * nextValue - values[t];
    next = delta + gamma * lambda * next;
    advantages[t] = next;
    nextValue = values[t];
  }
  return { advantages, returns: advantages.map((a, t) => a + values[t]) };
}

/** (x − mean) / std over all values (population std, + 1e-8); `shiftMean` false keeps the mean. */
export function whiten(xs: readonly number[], shiftMean = true): number[] {
  const n = xs.length;
  if (n === 0) return [];
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
  const inv = 1 / Math.sqrt(variance + 1e-8);
  return xs.map((x) => (shiftMean ? (x - mean) * inv : (x - mean) * inv + mean));
}

/** The clipped PPO policy loss of a set of tokens and its cross-entropy weights. */
export interface PolicyLoss {
  /** L = mean over tokens of −min(ρ A, clip(ρ, 1 ± ε) A). */
  loss: number;
  /** w_t = ∂L/∂CE_t: ρ_t A_t / n where the unclipped term is the minimum, else 0. */
  weights: number[];
  /** Fraction of tokens whose gradient the clip removed. */
  clipFrac: number;
  /** Mean of (logπ_old − logπ) (the k1 estimate of KL(old ‖ new)). */
  approxKl: number;
}

/**
 * PPO-clip over `n` tokens: ratio ρ_t = exp(logπ_t − logπ_old,t). The gradient of L wrt logπ_t is
 * −ρ_t A_t / n unless the clip is active (A > 0 and ρ > 1 + ε, or A < 0 and ρ < 1 − ε), where it is
 * 0; the weights are its negation (CE = −logπ).
 */
export function ppoPolicyLoss(
  logp: ArrayLike<number>,
  oldLogp: ArrayLike<number>,
  advantages: ArrayLike<number>,
  clip = 0.2,
): PolicyLoss {
  const n = logp.length;
  const weights = new Array<number>(n).fill(0);
  let loss = 0, clipped = 0, kl = 0;
  for (let t = 0; t < n; t++) {
    const ratio = Math.exp(logp[t] - oldLogp[t]);
    const a = advantages[t];
    const unclipped = ratio * a;
    const bounded = Math.min(Math.max(ratio, 1 - clip), 1 + clip) * a;
    loss -= Math.min(unclipped, bounded);
    const active = (a > 0 && ratio > 1 + clip) || (a < 0 && ratio < 1 - clip);
    if (active) clipped++;
    else weights[t] = (ratio * a) / n;
    kl += oldLogp[t] - logp[t];
  }
  return {
    loss: n ? loss / n : 0,
    weights,
    clipFrac: n ? clipped / n : 0,
    approxKl: n ? kl / n : 0,
  };
}

/** The clipped value loss of a set of tokens and its gradient wrt the values. */
export interface ValueLoss {
  /** L = ½ mean over tokens of max((V − R)², (V_old + clip(V − V_old, ±ε) − R)²). */
  loss: number;
  /** ∂L/∂V_t: (V_t − R_t)/n where the unclipped square is the larger, else 0. */
  dvalues: number[];
  /** Fraction of tokens where the clipped square is the larger (no gradient). */
  clipFrac: number;
}

/** PPO's clipped value loss (Schulman et al. 2017; as in OpenAI's baselines). */
export function ppoValueLoss(
  values: ArrayLike<number>,
  oldValues: ArrayLike<number>,
  returns: ArrayLike<number>,
  clip = 0.2,
): ValueLoss {
  const n = values.length;
  const dvalues = new Array<number>(n).fill(0);
  let loss = 0, clipped = 0;
  for (let t = 0; t < n; t++) {
    const v = values[t], r = returns[t];
    const vc = oldValues[t] + Math.min(Math.max(v - oldValues[t], -clip), clip);
    const a = (v - r) ** 2, b = (vc - r) ** 2;
    loss += 0.5 * Math.max(a, b);
    if (a >= b) dvalues[t] = (v - r) / n;
    else clipped++;
  }
  return { loss: n ? loss / n : 0, dvalues, clipFrac: n ? clipped / n : 0 };
}

/**
 * The adaptive KL coefficient of Ziegler et al. (2019): after a batch with observed KL `kl` over
 * `nSteps` samples, β ← β·(1 + clip(kl/target − 1, ±0.2)·nSteps/horizon). A target of 0 keeps β.
 */
export class AdaptiveKl {
  value: number;
  readonly target: number;
  readonly horizon: number;

  constructor(initial: number, target: number, horizon = 10000) {
    this.value = initial;
    this.target = target;
    this.horizon = horizon;
  }

  /** Updates β from the KL of the last batch and returns it. */
  update(kl: number, nSteps: number): number {
    if (this.target > 0 && Number.isFinite(kl)) {
      const error = Math.min(Math.max(kl / this.target - 1, -0.2), 0.2);
      this.value *= 1 + (error * nSteps) / this.horizon;
    }
    return this.value;
  }
}

/** The Bradley–Terry loss of one pair and its gradient wrt the two rewards. */
export interface PairLoss {
  /** −log σ(r_chosen − r_rejected − margin) plus the centring term. */
  loss: number;
  /** ∂loss/∂r_chosen. */
  dChosen: number;
  /** ∂loss/∂r_rejected. */
  dRejected: number;
}

/**
 * Reward-model loss of one pair: −log σ(r_c − r_r − margin) + centerCoef·(r_c + r_r)² (the second
 * term keeps rewards centred on zero).
 */
export function bradleyTerry(
  chosen: number,
  rejected: number,
  margin = 0,
  centerCoef = 0,
): PairLoss {
  const d = chosen - rejected - margin;
  const g = -sigmoid(-d); // ∂(−log σ(d))/∂d
  const c = 2 * centerCoef * (chosen + rejected);
  return {
    loss: -logSigmoid(d) + centerCoef * (chosen + rejected) ** 2,
    dChosen: g + c,
    dRejected: -g + c,
  };
}

/** The DPO loss of one pair and the cross-entropy weight of each of its response tokens. */
export interface DpoLoss {
  /** −log σ(z). */
  loss: number;
  /** z = β((logπ_c − logπ_ref,c) − (logπ_r − logπ_ref,r)). */
  z: number;
  /** ∂loss/∂CE_t of every chosen token: β σ(−z) (divide by the pairs of the batch). */
  chosenWeight: number;
  /** ∂loss/∂CE_t of every rejected token: −β σ(−z). */
  rejectedWeight: number;
}

/**
 * Sigmoid DPO (Rafailov et al. 2023) of one pair from sequence log-probabilities (sums over the
 * response tokens): loss = −log σ(z). With CE_t = −logπ_t, ∂loss/∂CE_t = β σ(−z) for chosen
 * tokens and −β σ(−z) for rejected ones.
 */
export function dpoLoss(
  chosen: number,
  rejected: number,
  refChosen: number,
  refRejected: number,
  beta = 0.1,
): DpoLoss {
  const z = beta * ((chosen - refChosen) - (rejected - refRejected));
  const s = sigmoid(-z);
  return { loss: -logSigmoid(z), z, chosenWeight: beta * s, rejectedWeight: -beta * s };
}

/**
 * GRPO advantages: each reward minus its group's mean, over the group's std (+ 1e-6; population
 * std). `rewards` holds consecutive groups of `groupSize`.
 */
export function groupAdvantages(rewards: readonly number[], groupSize: number): number[] {
  if (groupSize < 1 || rewards.length % groupSize !== 0) {
    throw new RangeError(`${rewards.length} rewards do not split into groups of ${groupSize}`);
  }
  const out = new Array<number>(rewards.length);
  for (let g = 0; g < rewards.length; g += groupSize) {
    const xs = rewards.slice(g, g + groupSize);
    const mean = xs.reduce((a, b) => a + b, 0) / groupSize;
    const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / groupSize);
    for (let i = 0; i < groupSize; i++) out[g + i] = (xs[i] - mean) / (std + 1e-6);
  }
  return out;
}

/**
 * The k3 estimate of KL(π ‖ π_ref) at one token, exp(d) − d − 1 with d = logπ_ref − logπ (GRPO's
 * penalty), and its gradient wrt logπ: 1 − exp(d).
 */
export function k3(logp: number, refLogp: number): { kl: number; dLogp: number } {
  const d = refLogp - logp;
  return { kl: Math.exp(d) - d - 1, dLogp: 1 - Math.exp(d) };
}
