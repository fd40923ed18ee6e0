/**
 * {@linkcode LmTrainer}: trains a language model on batches of token ids, for pretraining (the
 * loss at every position) and supervised fine-tuning (per-position weights: 0 on the prompt).
 *
 * @module
 */
import type { Tokenizer } from "../data/tokenizer.ts";
import type { Checkpoint } from "../model/checkpoint.ts";
import { type Gpt, readTable } from "../model/gpt.ts";
import { type Batch, Trainer } from "../model/trainer.ts";
import { Evaluator } from "../model/generate.ts";
import {
  BaseTrainer,
  type EvalReport,
  type OptimizerOptions,
  type SaveContext,
  type StepContext,
  type StepReport,
  type SubmittedStep,
} from "./base.ts";

/** Where training batches come from: {@linkcode TokenBatches}, InstructionBatches, your own. */
export interface BatchSource {
  /** The next micro-batch of `B` rows of `T` tokens (weights optional). */
  nextBatch(B: number, T: number): Batch;
  /** Its position, saved in checkpoints; setting it continues with the same batches. */
  state: unknown;
}

/** Options of {@linkcode LmTrainer}. */
export interface LmTrainerOptions extends OptimizerOptions {
  /** The tokenizer, saved in checkpoints. */
  tokenizer: Tokenizer;
  /** Training batches. */
  data: BatchSource;
  /** Rows per micro-batch. */
  batch: number;
  /** Tokens per row. Default: the model's context. */
  context?: number;
  /** Micro-batches per step (gradient accumulation). Default 1. */
  accum?: number;
  /** Its name in logs and checkpoints ("pretrain", "sft"). Default "lm". */
  stage?: string;
  /** Validation batches: their mean loss is the evaluations' `val_loss`. */
  validation?: Batch[];
  /** Further metrics of each evaluation (instruction-following, …). */
  evaluate?: () => Promise<Record<string, number>>;
  /** A short text printed after each evaluation. */
  sample?: () => Promise<string>;
  /** More fields of each checkpoint's state.json. */
  state?: Record<string, unknown>;
  /** A checkpoint of this trainer to continue (its AdamW moments, step and data position). */
  resume?: Checkpoint;
}

/**
 * Trains a language model (pretraining, SFT) with AdamW, one command encoder per step; steps are
 * pipelined (step k + 1 is submitted before step k's loss is read back).
 *
 * @example SFT-style training on weighted batches
 * ```ts
 * import { getGpu, Gpt, LmTrainer, run, buildTokenizer } from "../mod.ts";
 *
 * const tokenizer = buildTokenizer("bytes");
 * const gpu = await getGpu();
 * const gpt = Gpt.create(gpu, { vocabSize: tokenizer.vocabSize, context: 16, layers: 1, heads: 2, width: 16 });
 * const ids = Uint32Array.from({ length: 4 * 16 }, (_, i) => 97 + (i % 7));
 * const weights = new Float32Array(4 * 16).fill(1);
 * const data = { nextBatch: () => ({ inputs: ids, targets: ids.map((x) => x + 1), weights }), state: {} };
 * await run(new LmTrainer(gpt, { tokenizer, data, batch: 4, lr: 1e-3 }), { steps: 5 });
 * ```
 */
export class LmTrainer extends BaseTrainer {
  /** No prefix: its lines read `step 12/250 | …`. */
  readonly label = "";
  /** `{ stage }` in each metrics record. */
  readonly tag: { stage: string };
  /** The model it trains. */
  readonly gpt: Gpt;
  /** The step engine (AdamW state, the training graph). */
  readonly engine: Trainer;
  /** The tokenizer, saved in checkpoints. */
  readonly tokenizer: Tokenizer;
  /** Rows per micro-batch. */
  readonly B: number;
  /** Tokens per row. */
  readonly T: number;
  readonly #data: BatchSource;
  readonly #options: LmTrainerOptions;
  readonly #evaluator: Evaluator | undefined;

  /** A trainer of `gpt` (its parameters are trained in place). */
  constructor(gpt: Gpt, options: LmTrainerOptions) {
    super(options, { lr: 3e-3, weightDecay: 0.1 });
    this.gpt = gpt;
    this.tokenizer = options.tokenizer;
    this.tag = { stage: options.stage ?? "lm" };
    this.B = options.batch;
    this.T = options.context ?? gpt.config.context;
    this.#data = options.data;
    this.#options = options;
    const accum = options.accum ?? 1;
    const state = options.resume?.state;
    const step = (state?.step as number | undefined) ?? 0;
    this.engine = new Trainer(gpt, {
      B: this.B,
      T: this.T,
      accum,
      step: options.resume ? step : 0,
    });
    if (options.resume) {
      this.engine.loadMoments(options.resume.optimizer!);
      this.#data.state = state!.data;
      this.resumed = { step, finished: state!.finished !== false };
    }
    this.#evaluator = options.validation?.length
      ? new Evaluator(gpt, { B: this.B, T: this.T })
      : undefined;
    this.tokensPerStep = this.B * this.T * accum;
    this.pipelined = true;
    this.remedy = "lower --lr, raise --warmup";
  }

  /** Submits one step of `accum` micro-batches; its report resolves once its loss is read. */
  trainStep({ lr }: StepContext): Promise<SubmittedStep> {
    const batches: Batch[] = [];
    for (let k = 0; k < this.engine.accum; k++) batches.push(this.#data.nextBatch(this.B, this.T));
    const stats = this.engine.submit(batches, this.hyper(lr));
    const report = stats.then((s): StepReport => ({
      loss: s.loss,
      gradNorm: s.gradNorm,
      metrics: { loss: s.loss, lr, grad_norm: s.gradNorm },
      progress: [
        `loss ${s.loss.toFixed(4)}`,
        `lr ${lr.toExponential(2)}`,
        `norm ${s.gradNorm.toFixed(2)}`,
      ],
    }));
    return Promise.resolve({ report });
  }

  /** The mean loss of the validation batches (NaN without them). One wait per batch. */
  async validate(): Promise<number> {
    const val = this.#options.validation ?? [];
    if (!this.#evaluator) return NaN;
    let sum = 0;
    for (const b of val) sum += await this.#evaluator.loss(b.inputs, b.targets, b.weights);
    return sum / val.length;
  }

  /** The validation loss, the further metrics and the sample (none without any of them). */
  override async evaluate(
    _step: number,
    last: StepReport | undefined,
  ): Promise<EvalReport | undefined> {
    const o = this.#options;
    if (!this.#evaluator && !o.evaluate && !o.sample) return undefined;
    const valLoss = await this.validate();
    const extra = this.#options.evaluate ? await this.#options.evaluate() : {};
    const trainLoss = last?.loss ?? NaN;
    const sample = this.#options.sample ? await this.#options.sample() : undefined;
    return {
      metrics: { val_loss: valLoss, train_loss: trainLoss, ...extra },
      fields: [
        `train loss ${trainLoss.toFixed(4)}`,
        `val loss ${valLoss.toFixed(4)}`,
        ...Object.entries(extra).map(([k, v]) => `${k} ${v.toFixed(3)}`),
      ],
      lines: sample !== undefined ? [`sample: ${JSON.stringify(sample)}`] : [],
    };
  }

  /** Parameters, AdamW moments, step and data position. */
  async checkpoint({ runId }: SaveContext): Promise<Checkpoint> {
    const [params, moments] = await Promise.all([
      readTable(this.gpt.gpu, this.gpt.params),
      this.engine.readMoments(),
    ]);
    return {
      config: this.gpt.config,
      tokenizer: this.tokenizer.spec as unknown as Record<string, unknown>,
      params,
      optimizer: moments,
      state: {
        stage: this.tag.stage,
        run_id: runId,
        step: this.engine.step,
        data: this.#data.state,
        ...this.#options.state,
      },
    };
  }

  /** Frees the engine and the evaluator. */
  destroy(): void {
    this.engine.destroy();
    this.#evaluator?.destroy();
  }
}
