/**
 * {@linkcode RewardTrainer}: a reward model (a language model's transformer with a scalar head)
 * trained on preference pairs with the Bradley–Terry loss −log σ(r_chosen − r_rejected − margin)
 * (+ a centring term), its held-out pairwise accuracy measured at each evaluation.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { type EncodedPair, encodePreference, type Preference } from "../data/preferences.ts";
import type { GptConfig } from "../model/config.ts";
import type { Checkpoint } from "../model/checkpoint.ts";
import { Gpt, readTable } from "../model/gpt.ts";
import { Trainer } from "../model/trainer.ts";
import { RewardModelTrainer, withScalarHead } from "../model/reward.ts";
import {
  BaseTrainer,
  type EvalReport,
  type OptimizerOptions,
  type SaveContext,
  type StepContext,
  type SubmittedStep,
} from "./base.ts";
import { NonFiniteError } from "./errors.ts";
import { PairOrder, type PairOrderState } from "./pairs.ts";

/** Options of {@linkcode RewardTrainer}. */
export interface RewardTrainerOptions extends OptimizerOptions {
  /** The language model whose transformer the reward model starts from (a checkpoint). */
  init: { config: GptConfig; params: Map<string, Float32Array> };
  /** Its tokenizer. */
  tokenizer: Tokenizer;
  /** Training pairs. */
  pairs: readonly Preference[];
  /** Held-out pairs whose accuracy each evaluation measures (none: no evaluation). */
  evalPairs?: readonly Preference[];
  /** Pairs per step. Default 16. */
  batch?: number;
  /** Seed of the head's initialisation and of the pairs' order. Default 1337. */
  seed?: number;
  /** Required reward gap in −log σ(r_c − r_r − margin). Default 0. */
  margin?: number;
  /** Coefficient of the centring term (r_c + r_r)². Default 0.01. */
  centerCoef?: number;
  /** More fields of each checkpoint's state.json. */
  state?: Record<string, unknown>;
  /** A checkpoint of this trainer to continue. */
  resume?: Checkpoint;
}

/** The AdamW step count of a checkpoint (its optimizer may take several steps per phase step). */
export function optimizerStep(ckpt: Checkpoint): number {
  return (ckpt.state.optimizer_step ?? ckpt.state.step) as number;
}

const mean = (xs: readonly number[]) =>
  xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Trains a reward model on preference pairs (rows 2i and 2i + 1 of a step hold pair i's chosen
 * and rejected sequence; the reward is the value at the last token).
 *
 * @example
 * ```ts
 * import { fromWorld, generateWorld, getGpu, loadModel, RewardTrainer, run } from "../mod.ts";
 *
 * const gpu = await getGpu();
 * const sft = await loadModel(gpu, "checkpoints/sft");
 * const pairs = fromWorld(generateWorld({ seed: 1, proseParagraphs: 0 }).preferences);
 * const rm = new RewardTrainer(gpu, { init: sft.checkpoint, tokenizer: sft.tokenizer, pairs, lr: 1e-3 });
 * await run(rm, { steps: 150, warmup: 5, out: "checkpoints/reward" });
 * ```
 */
export class RewardTrainer extends BaseTrainer {
  /** "rm" in its lines. */
  readonly label = "rm";
  /** `{ stage: "rlhf", phase: "rm" }` in each metrics record. */
  readonly tag = { stage: "rlhf", phase: "rm" };
  /** The reward model it trains. */
  readonly gpt: Gpt;
  /** The step engine (AdamW state, the training graph). */
  readonly engine: Trainer;
  readonly #options: RewardTrainerOptions;
  readonly #config: GptConfig;
  readonly #rm: RewardModelTrainer;
  readonly #order: PairOrder;
  readonly #evalSet: EncodedPair[];
  readonly #trainAcc: number[] = [];
  #accuracy: number;

  /** A reward-model trainer (the model is built here). */
  constructor(gpu: Gpu, options: RewardTrainerOptions) {
    super(options, { lr: 1e-3, weightDecay: 0 });
    this.#options = options;
    const resume = options.resume;
    const T = options.init.config.context;
    const init = resume
      ? { config: resume.config, params: resume.params }
      : withScalarHead(options.init.config, options.init.params, { seed: options.seed ?? 1337 });
    this.#config = init.config;
    this.gpt = Gpt.create(gpu, init.config, { values: init.params });
    this.engine = new Trainer(this.gpt, {
      B: 2 * (options.batch ?? 16),
      T,
      step: resume ? optimizerStep(resume) : 0,
    });
    if (resume) this.engine.loadMoments(resume.optimizer!);
    this.#rm = new RewardModelTrainer(this.engine, options.tokenizer.eot);
    this.#order = new PairOrder(options.pairs.length, (options.seed ?? 1337) + 11);
    if (resume) {
      this.#order.state = resume.state.data as PairOrderState;
      this.resumed = {
        step: resume.state.step as number,
        finished: resume.state.finished === true,
      };
    }
    this.#evalSet = (options.evalPairs ?? []).map((p) => this.#encode(p));
    // The last held-out accuracy (null in JSON while there is none).
    this.#accuracy = (resume?.state.rm_accuracy as number | null | undefined) ?? NaN;
    this.remedy = "lower --rm-lr";
  }

  /** The last held-out accuracy measured (NaN before the first evaluation). */
  get accuracy(): number {
    return this.#accuracy;
  }

  /** How many held-out pairs each evaluation scores. */
  get evalPairs(): number {
    return this.#evalSet.length;
  }

  #encode(p: Preference): EncodedPair {
    return encodePreference(this.#options.tokenizer, p, this.#options.init.config.context);
  }

  /** One Bradley–Terry update on `batch` pairs. */
  async trainStep({ lr }: StepContext): Promise<SubmittedStep> {
    const pairs: EncodedPair[] = [];
    const n = this.#options.batch ?? 16;
    for (let i = 0; i < n; i++) pairs.push(this.#encode(this.#options.pairs[this.#order.next()]));
    const s = await this.#rm.step(pairs, this.hyper(lr), {
      margin: this.#options.margin ?? 0,
      centerCoef: this.#options.centerCoef ?? 0.01,
    });
    if (Number.isFinite(s.loss) && Number.isFinite(s.gradNorm)) this.#trainAcc.push(s.accuracy);
    return {
      report: Promise.resolve({
        loss: s.loss,
        gradNorm: s.gradNorm,
        metrics: { rm_loss: s.loss, rm_train_accuracy: s.accuracy, lr, grad_norm: s.gradNorm },
        progress: [
          `loss ${s.loss.toFixed(4)}`,
          `train acc ${mean(this.#trainAcc.slice(-10)).toFixed(2)}`,
        ],
      }),
    };
  }

  /** The held-out pairwise accuracy. */
  override async evaluate(): Promise<EvalReport | undefined> {
    if (this.#evalSet.length === 0) return undefined;
    this.#accuracy = await this.#rm.accuracy(this.#evalSet);
    return {
      metrics: { rm_accuracy: this.#accuracy },
      fields: [`held-out acc ${this.#accuracy.toFixed(3)}`],
    };
  }

  /** Before any checkpoint is kept, a non-finite loss names the learning rate alone. */
  override nonFiniteError(
    step: number,
    stats: { loss: number; gradNorm: number },
    kept: { step: number; dir: string } | undefined,
  ): NonFiniteError {
    if (kept === undefined) {
      return new NonFiniteError(`RM step ${step}: the loss is not finite: ${this.remedy}`);
    }
    return super.nonFiniteError(step, stats, kept);
  }

  /** The reward model, its AdamW moments and state. */
  async checkpoint({ step, finished, runId }: SaveContext): Promise<Checkpoint> {
    return {
      config: this.#config,
      tokenizer: this.#options.tokenizer.spec as unknown as Record<string, unknown>,
      params: await readTable(this.gpt.gpu, this.gpt.params),
      optimizer: await this.engine.readMoments(),
      state: {
        stage: "reward",
        phase: "rm",
        step,
        optimizer_step: this.engine.step,
        finished,
        rm_accuracy: this.#accuracy,
        eval_pairs: this.#evalSet.length,
        ...this.#options.state,
        data: this.#order.state,
        run_id: runId,
      },
    };
  }

  /** Frees the engine and the model. */
  destroy(): void {
    this.engine.destroy();
    this.gpt.destroy();
  }
}
