/**
 * {@linkcode DpoTrainer}: direct preference optimisation, the sigmoid DPO loss on preference pairs
 * against the frozen reference's log-probabilities (computed once per pair when it is first used,
 * cached, and saved in checkpoints so that a resumed run uses the very same numbers).
 *
 * @module
 */
import { encodePreference, type Preference } from "../data/preferences.ts";
import type { EncodedExample } from "../data/template.ts";
import { responseBatch, responseLogProbs } from "../model/generate.ts";
import { dpoLoss } from "../model/ppo.ts";
import type { EvalReport, StepContext, SubmittedStep } from "./base.ts";
import { PairOrder, type PairOrderState } from "./pairs.ts";
import { PolicyTrainer, type PolicyTrainerOptions, type Sample } from "./policy.ts";

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Options of {@linkcode DpoTrainer} (`batch`: pairs per step). */
export interface DpoTrainerOptions extends Omit<PolicyTrainerOptions, "reward"> {
  /** Training pairs. */
  pairs: readonly Preference[];
  /** β of the DPO loss. Default 0.1. */
  beta?: number;
  /** Held-out pairs: each evaluation measures how often their implicit reward prefers chosen. */
  evalPairs?: readonly Preference[];
}

/**
 * DPO: `batch` pairs per step (rows 2i and 2i + 1: pair i's chosen and rejected response).
 *
 * @example DPO on a preference file
 * ```ts
 * import { DpoTrainer, getGpu, loadModel, loadPreferences, run } from "../mod.ts";
 *
 * const gpu = await getGpu();
 * const sft = await loadModel(gpu, "checkpoints/sft");
 * const { pairs } = await loadPreferences("prefs.jsonl");
 * const dpo = new DpoTrainer({ policy: sft, pairs, batch: 4, lr: 1e-4, beta: 0.1 });
 * await run(dpo, { steps: 30, warmup: 3 });
 * ```
 */
export class DpoTrainer extends PolicyTrainer {
  readonly #o: DpoTrainerOptions;
  readonly #order: PairOrder;
  // Reference log-probabilities (chosen, rejected) of each pair used so far.
  readonly #refCache = new Map<number, [number, number]>();
  // The same for the held-out pairs.
  readonly #evalRef = new Map<number, [number, number]>();

  /** A DPO trainer. */
  constructor(options: DpoTrainerOptions) {
    super("dpo", 2 * (options.batch ?? 8), options);
    this.#o = options;
    this.#order = new PairOrder(options.pairs.length, (options.seed ?? 1337) + 41);
    const resume = this.resumeCheckpoint;
    if (resume) {
      this.#order.state = resume.state.data as PairOrderState;
      for (const [i, c, r] of resume.state.ref_logps as number[][]) this.#refCache.set(i, [c, r]);
    }
    this.printEvery = 5;
  }

  /**
   * The batch of `pairs[idx]` (rows 2j, 2j + 1), with the reference's summed log-probabilities of
   * each pair in `cache` (computed when one is missing).
   */
  async #pairBatch(
    pairs: readonly Preference[],
    idx: readonly number[],
    cache: Map<number, [number, number]>,
  ) {
    const m = this.models;
    const { B, T } = m;
    const toSample = (e: EncodedExample): Sample => ({
      prompt: { ids: [], text: "" },
      seq: e.ids,
      promptLength: e.promptLength,
      finished: true,
    });
    const enc = idx.map((i) => encodePreference(this.tokenizer, pairs[i], T + 1));
    const samples = enc.flatMap((e) => [toSample(e.chosen), toSample(e.rejected)]);
    const batch = responseBatch(samples, { B, T, pad: this.tokenizer.eot });
    if (idx.some((i) => !cache.has(i))) {
      const ref = await responseLogProbs(m.refEval, batch);
      idx.forEach((i, j) => cache.set(i, [sum(ref[2 * j]), sum(ref[2 * j + 1])]));
    }
    return batch;
  }

  /** One update on `batch` pairs. */
  async trainStep({ lr }: StepContext): Promise<SubmittedStep> {
    const m = this.models;
    const { B, T } = m;
    const P = B / 2, beta = this.#o.beta ?? 0.1;
    const idx: number[] = [];
    for (let i = 0; i < P; i++) idx.push(this.#order.next());
    const batch = await this.#pairBatch(this.#o.pairs, idx, this.#refCache);
    const logp = await responseLogProbs(m.policyEval, batch);
    const weights = new Float32Array(B * T);
    let loss = 0, acc = 0, margin = 0;
    idx.forEach((i, j) => {
      const [rc, rr] = this.#refCache.get(i)!;
      const d = dpoLoss(sum(logp[2 * j]), sum(logp[2 * j + 1]), rc, rr, beta);
      loss += d.loss / P;
      acc += (d.z > 0 ? 1 : 0) / P;
      margin += d.z / P;
      for (const p of batch.positions[2 * j]) weights[p] = d.chosenWeight / P;
      for (const p of batch.positions[2 * j + 1]) weights[p] = d.rejectedWeight / P;
    });
    const s = await m.engine.submit(
      [{ inputs: batch.inputs, targets: batch.targets, weights }],
      this.hyper(lr),
      { rawWeights: true },
    );
    return {
      report: Promise.resolve({
        loss,
        gradNorm: s.gradNorm,
        metrics: {
          dpo_loss: loss,
          reward_accuracy: acc,
          reward_margin: margin,
          lr,
          grad_norm: s.gradNorm,
        },
        progress: [
          `loss ${loss.toFixed(4)}`,
          `acc ${acc.toFixed(2)}`,
          `margin ${margin.toFixed(3)}`,
        ],
      }),
    };
  }

  /**
   * The held-out pairs' reward accuracy (the implicit reward β·(logπ − logπ_ref) of chosen above
   * rejected's) and mean margin; none without held-out pairs.
   */
  override async evaluate(): Promise<EvalReport | undefined> {
    const pairs = this.#o.evalPairs ?? [];
    if (pairs.length === 0) return undefined;
    const P = this.models.B / 2, beta = this.#o.beta ?? 0.1;
    let correct = 0, margin = 0;
    for (let start = 0; start < pairs.length; start += P) {
      const idx = [...pairs.keys()].slice(start, start + P);
      const batch = await this.#pairBatch(pairs, idx, this.#evalRef);
      const logp = await responseLogProbs(this.models.policyEval, batch);
      idx.forEach((i, j) => {
        const [rc, rr] = this.#evalRef.get(i)!;
        const z = beta * ((sum(logp[2 * j]) - rc) - (sum(logp[2 * j + 1]) - rr));
        if (z > 0) correct++;
        margin += z;
      });
    }
    const accuracy = correct / pairs.length;
    return {
      metrics: { eval_reward_accuracy: accuracy, eval_reward_margin: margin / pairs.length },
      fields: [
        `held-out reward acc ${accuracy.toFixed(3)}`,
        `margin ${(margin / pairs.length).toFixed(3)}`,
      ],
    };
  }

  /** The pairs' order and the cached reference log-probabilities. */
  protected algoState(): Record<string, unknown> {
    return {
      data: this.#order.state,
      ref_logps: [...this.#refCache].map(([i, [c, r]]) => [i, c, r]),
    };
  }
}
