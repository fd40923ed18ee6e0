import { assert, assertEquals } from "../tests/_assert.ts";
import {
  AdaptiveKl,
  bradleyTerry,
  dpoLoss,
  gae,
  groupAdvantages,
  k3,
  logSigmoid,
  ppoPolicyLoss,
  ppoValueLoss,
  tokenRewards,
  whiten,
} from "./ppo.ts";

function near(actual: number, expected: number, tol = 1e-6, what = "value"): void {
  assert(Math.abs(actual - expected) <= tol, `${what}: ${actual}, expected ${expected}`);
}

function nearAll(actual: readonly number[], expected: readonly number[], tol = 1e-6, what = "") {
  assertEquals(actual.length, expected.length);
  actual.forEach((a, i) => near(a, expected[i], tol, `${what}[${i}]`));
}

Deno.test("per-token rewards: KL penalty everywhere, the score at the last token", () => {
  nearAll(tokenRewards([-1, -2], [-1.5, -1], 0.7, 0.1), [-0.05, 0.1 + 0.7]);
  assertEquals(tokenRewards([], [], 1, 0.1), []);
});

Deno.test("GAE with γ = 1, λ = 0.95 matches the hand computation", () => {
  // δ2 = 1 − 0.7 = 0.3; δ1 = 0.7 − 0.6 = 0.1; δ0 = 0.6 − 0.5 = 0.1
  // A2 = 0.3, A1 = 0.1 + 0.95·0.3 = 0.385, A0 = 0.1 + 0.95·0.385 = 0.46575
  const { advantages, returns } = gae([0, 0, 1], [0.5, 0.6, 0.7], 1, 0.95);
  nearAll(advantages, [0.46575, 0.385, 0.3], 1e-12, "A");
  nearAll(returns, [0.96575, 0.985, 1.0], 1e-12, "R");
  // γ = 0.5, λ = 1: A1 = δ1 = 2 (V2 = 0); δ0 = 0 + 0.5·V1 − V0 = −1, A0 = −1 + 0.5·2 = 0
  nearAll(gae([0, 2], [1, 0], 0.5, 1).advantages, [0, 2], 1e-12, "A'");
  nearAll(gae([0, 2], [0.5, 0], 0.5, 1).advantages, [0.5, 2], 1e-12, "A''");
});

Deno.test("whitening gives zero mean and unit variance", () => {
  const s = Math.sqrt(2 / 3 + 1e-8);
  nearAll(whiten([1, 2, 3]), [-1 / s, 0, 1 / s], 1e-9);
  nearAll(whiten([1, 2, 3], false), [-1 / s + 2, 2, 1 / s + 2], 1e-9);
});

Deno.test("PPO-clip: loss, weights (the gradient wrt CE), clip fraction", () => {
  const logp = [Math.log(1.5), Math.log(0.5), Math.log(1.1), Math.log(0.7)];
  const old = [0, 0, 0, 0];
  const adv = [1, -1, -2, 1];
  const r = ppoPolicyLoss(logp, old, adv, 0.2);
  // token 0: ρ 1.5, A > 0 → clipped (1.2); token 1: ρ 0.5, A < 0 → clipped (−0.8);
  // token 2: ρ 1.1, A −2 → −2.2 with gradient; token 3: ρ 0.7, A 1 → 0.7 with gradient
  near(r.loss, (-1.2 + 0.8 + 2.2 - 0.7) / 4, 1e-12, "loss");
  nearAll(r.weights, [0, 0, (1.1 * -2) / 4, 0.7 / 4], 1e-12, "weights");
  near(r.clipFrac, 0.5, 0, "clipFrac");
  near(r.approxKl, -(Math.log(1.5) + Math.log(0.5) + Math.log(1.1) + Math.log(0.7)) / 4, 1e-12);
  // The weights are −∂loss/∂logπ: check against a central difference of the loss.
  for (let t = 0; t < 4; t++) {
    const h = 1e-6;
    const up = [...logp], down = [...logp];
    up[t] += h;
    down[t] -= h;
    const d = (ppoPolicyLoss(up, old, adv).loss - ppoPolicyLoss(down, old, adv).loss) / (2 * h);
    near(r.weights[t], -d, 1e-6, `weight ${t} vs finite difference`);
  }
});

Deno.test("clipped value loss and its gradient", () => {
  // token 0: V 1, V_old 0.5 → V_clip 0.7; (1 − 1.2)² = 0.04 < (0.7 − 1.2)² = 0.25: clipped, no grad
  // token 1: V 0.4 within the clip: both squares 1.96, gradient (0.4 + 1) / 2
  const r = ppoValueLoss([1.0, 0.4], [0.5, 0.5], [1.2, -1.0], 0.2);
  near(r.loss, (0.5 * (0.25 + 1.96)) / 2, 1e-12, "loss");
  nearAll(r.dvalues, [0, 0.7], 1e-12, "dvalues");
  near(r.clipFrac, 0.5, 0);
});

Deno.test("Bradley–Terry loss and gradient match the hand computation", () => {
  const sig1 = 1 / (1 + Math.E); // σ(−1)
  const a = bradleyTerry(2, 1);
  near(a.loss, Math.log(1 + Math.exp(-1)), 1e-12);
  near(a.dChosen, -sig1, 1e-12);
  near(a.dRejected, sig1, 1e-12);
  const b = bradleyTerry(2, 1, 0, 0.1);
  near(b.loss, Math.log(1 + Math.exp(-1)) + 0.9, 1e-12);
  near(b.dChosen, -sig1 + 0.6, 1e-12);
  near(b.dRejected, sig1 + 0.6, 1e-12);
  const m = bradleyTerry(2, 1, 1); // margin 1: −log σ(0) = log 2
  near(m.loss, Math.LN2, 1e-12);
  near(logSigmoid(-800), -800, 1e-9, "logSigmoid far left");
  near(logSigmoid(800), 0, 1e-12, "logSigmoid far right");
});

Deno.test("DPO loss and weights match the hand computation", () => {
  // z = 0.1 ((−10 + 11) − (−12 + 11)) = 0.2; loss = log(1 + e^−0.2); σ(−0.2) = 0.450166
  const d = dpoLoss(-10, -12, -11, -11, 0.1);
  near(d.z, 0.2, 1e-12, "z");
  near(d.loss, 0.5981388693815918, 1e-12, "loss");
  near(d.chosenWeight, 0.1 * 0.45016600268752216, 1e-12, "chosen");
  near(d.rejectedWeight, -0.1 * 0.45016600268752216, 1e-12, "rejected");
  // The weights are ∂loss/∂CE = −∂loss/∂logπ (summed over tokens).
  const h = 1e-6;
  const dc = (dpoLoss(-10 + h, -12, -11, -11).loss - dpoLoss(-10 - h, -12, -11, -11).loss) /
    (2 * h);
  const dr = (dpoLoss(-10, -12 + h, -11, -11).loss - dpoLoss(-10, -12 - h, -11, -11).loss) /
    (2 * h);
  near(d.chosenWeight, -dc, 1e-8);
  near(d.rejectedWeight, -dr, 1e-8);
});

Deno.test("adaptive KL controller (Ziegler et al.)", () => {
  const kl = new AdaptiveKl(0.1, 6, 10000);
  near(kl.update(12, 256), 0.1 * (1 + (0.2 * 256) / 10000), 1e-15); // error clipped to 0.2
  const k2 = new AdaptiveKl(0.1, 6, 10000);
  near(k2.update(5.4, 100), 0.1 * (1 - (0.1 * 100) / 10000), 1e-15);
  near(new AdaptiveKl(0.3, 0).update(100, 100), 0.3, 0, "target 0 keeps β");
});

Deno.test("GRPO group advantages and the k3 penalty", () => {
  const s = Math.sqrt(2 / 3);
  nearAll(groupAdvantages([1, 2, 3, 5, 5, 5], 3), [-1 / s, 0, 1 / s, 0, 0, 0], 1e-5);
  const k = k3(-1, -1.5);
  near(k.kl, Math.exp(-0.5) + 0.5 - 1, 1e-12);
  near(k.dLogp, 1 - Math.exp(-0.5), 1e-12);
  let threw = false;
  try {
    groupAdvantages([1, 2, 3], 2);
  } catch {
    threw = true;
  }
  assert(threw, "groups must divide the rewards");
});
