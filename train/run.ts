/**
 * The run loop of every trainer (pretraining, SFT, the reward model, PPO, GRPO, DPO): steps from
 * the one after the trainer's checkpoint to `steps`, with
 *
 * - the learning-rate schedule (linear warm-up, cosine decay; train/schedule.ts);
 * - evaluations every `evalEvery` steps and at the end;
 * - checkpoints every `saveEvery` steps and at the end, `keep` of them (model/checkpoint.ts);
 * - SIGINT/SIGTERM: the step in flight finishes, a checkpoint is written and the run returns
 *   `interrupted` (the stages exit 130); a second signal exits 130 at once;
 * - a step whose loss or gradient norm is not finite: the run stops naming it and the checkpoint
 *   kept, or skips it (`skipNonfinite`);
 * - the metrics JSONL (one record per step and evaluation) and one progress line.
 *
 * A trainer that reports its step before the GPU finished it (`pipelined`) has step k + 1
 * submitted before step k's numbers are read: one wait on the GPU per step, overlapped.
 *
 * @example Pretrain a tiny model for 50 steps
 * ```ts
 * import { buildTokenizer, getGpu, Gpt, LmTrainer, run, TokenBatches, tokenizeTexts } from "../mod.ts";
 *
 * const text = "Drink water in the morning. Take a short walk after lunch. ".repeat(200);
 * const tokenizer = buildTokenizer("gpt2-compact", [text]);
 * const { train } = tokenizeTexts([text], tokenizer, { valFraction: 0.1 });
 * const gpu = await getGpu();
 * const gpt = Gpt.create(gpu, { vocabSize: tokenizer.vocabSize, context: 32, layers: 2, heads: 2, width: 32 });
 * const trainer = new LmTrainer(gpt, { tokenizer, data: new TokenBatches(train), batch: 4, lr: 3e-3 });
 * const result = await run(trainer, { steps: 50, warmup: 5 });
 * console.log(result.last?.loss);
 * ```
 *
 * @module
 */
import { assertNoGpuErrors } from "../gpu/kernel.ts";
import { claimOutput, newRunId, saveCheckpoint } from "../model/checkpoint.ts";
import type { BaseTrainer, StepReport, SubmittedStep } from "./base.ts";
import { learningRate } from "./schedule.ts";

/** Options of {@linkcode run}. */
export interface RunOptions {
  /** The last step (a resumed trainer starts after its checkpoint's). */
  steps: number;
  /** Linear warm-up steps. Default 0. */
  warmup?: number;
  /** The final learning rate as a fraction of the peak (cosine decay). Default 0.1. */
  minLr?: number;
  /** Steps between evaluations (0: only at the end). Default 0. */
  evalEvery?: number;
  /** The checkpoint directory (none: no checkpoints). */
  out?: string;
  /** Steps between checkpoints (0: only at the end). Default 0. */
  saveEvery?: number;
  /** Checkpoints kept: `out` and the newest keep − 1 earlier ones in `<out>.steps/`. Default 3. */
  keep?: number;
  /** The run id its checkpoints carry (`run_id`). Default: a new one. */
  runId?: string;
  /**
   * Whether a trainer that does not resume claims `out` for this run before its first step
   * (`<out>.run.json`, see model/checkpoint.ts). Default true.
   */
  claim?: boolean;
  /** The metrics JSONL: a log, or a path (truncated unless the trainer resumes). */
  log?: MetricsLog | string;
  /** Print evaluations only, no progress lines. Default false. */
  quiet?: boolean;
  /** Skip a step whose loss or gradient norm is not finite instead of stopping. Default false. */
  skipNonfinite?: boolean;
  /** A watch on SIGINT/SIGTERM shared with other runs. Default: one of its own. */
  stop?: StopRequest;
}

/** What a run did. */
export interface RunResult {
  /** A signal stopped it (a checkpoint of the step reached was written). */
  interrupted: boolean;
  /** Seconds from the first step to the end. */
  seconds: number;
  /** The report of its last step whose numbers were finite. */
  last?: StepReport;
  /** The metrics of its last evaluation. */
  eval?: Record<string, number>;
  /** Tokens per second over the run (trainers that count tokens; NaN otherwise). */
  tokensPerSecond: number;
}

/** Runs `trainer` to `options.steps`; see the module documentation. */
export async function run(trainer: BaseTrainer, options: RunOptions): Promise<RunResult> {
  const { steps, out } = options;
  const schedule = { steps, warmup: options.warmup ?? 0, minLr: options.minLr ?? 0.1 };
  const evalEvery = options.evalEvery ?? 0, saveEvery = options.saveEvery ?? 0;
  const quiet = options.quiet ?? false;
  const log = typeof options.log === "string"
    ? new MetricsLog(options.log, !trainer.resumed)
    : options.log;
  const runId = options.runId ?? newRunId();
  const prefix = trainer.label ? `${trainer.label} ` : "";
  const tokens = trainer.tokensPerStep;
  await assertNoGpuErrors(); // every kernel, bind group and buffer built so far is valid
  if (out !== undefined && !trainer.resumed && options.claim !== false) {
    await claimOutput(out, runId, trainer.tag.stage ?? trainer.label);
  }
  const stop = options.stop ?? new StopRequest();
  const tty = Deno.stdout.isTerminal();
  const start = performance.now();
  const first = (trainer.resumed?.step ?? 0) + 1;
  let lastTime = start, lastStep = first - 1, tokPerS = 0;
  let last: StepReport | undefined, evalMetrics: Record<string, number> | undefined;
  // The step of the checkpoint in `out` that this run wrote or resumed from.
  let kept = trainer.resumed?.step;
  // A fresh run replaces what an earlier run left in `out` (and its history) at its first save.
  let fresh = !trainer.resumed;
  type Pending = { step: number; report: Promise<StepReport> };
  let pending: Pending | undefined;

  const save = async (step: number, finished: boolean) => {
    if (out === undefined) return;
    const ckpt = await trainer.checkpoint({ step, finished, runId });
    await saveCheckpoint(out, ckpt, { keep: options.keep ?? 3, replace: fresh });
    fresh = false;
    kept = step;
  };

  const finish = async (p: Pending) => {
    const r = await p.report;
    if (!Number.isFinite(r.loss) || !Number.isFinite(r.gradNorm)) {
      // AdamW skipped this update on the GPU (it checks the norm), so the parameters are intact.
      if (options.skipNonfinite) {
        log?.write({ ...trainer.tag, step: p.step, skipped: true });
        console.error(
          `${prefix}step ${p.step}: loss ${r.loss}, gradient norm ${r.gradNorm}: update skipped`,
        );
        return;
      }
      const at = kept !== undefined && out !== undefined ? { step: kept, dir: out } : undefined;
      throw trainer.nonFiniteError(p.step, r, at);
    }
    last = r;
    const now = performance.now();
    let timing: string;
    if (tokens !== undefined) {
      if (now - lastTime > 250) {
        tokPerS = ((p.step - lastStep) * tokens) / ((now - lastTime) / 1000);
        lastTime = now;
        lastStep = p.step;
      }
      const eta = tokPerS > 0 ? ((steps - p.step) * tokens) / tokPerS : NaN;
      timing = `${Math.round(tokPerS).toLocaleString("en-US")} tok/s | ETA ${fmtDuration(eta)}`;
    } else {
      const el = (now - start) / 1000;
      timing = `${fmtDuration(el)} (ETA ${
        fmtDuration((el / (p.step - first + 1)) * (steps - p.step))
      })`;
    }
    log?.write({
      ...trainer.tag,
      step: p.step,
      ...r.metrics,
      ...(tokens !== undefined ? { tokens_per_s: tokPerS } : {}),
    });
    if (quiet) return;
    const line = `${prefix}step ${String(p.step).padStart(String(steps).length)}/${steps} | ${
      [...r.progress, timing].join(" | ")
    }`;
    if (tty) await Deno.stdout.write(new TextEncoder().encode(`\r${line}\x1b[K`));
    else if (p.step === first || p.step % trainer.printEvery === 0 || p.step === steps) {
      console.log(line);
    }
  };

  const settle = async () => {
    if (!pending) return;
    const p = pending;
    pending = undefined;
    await finish(p);
  };

  const evaluate = async (step: number) => {
    await settle();
    const report = await trainer.evaluate!(step, last);
    if (!report) return;
    evalMetrics = report.metrics;
    if (tty && !quiet) console.log();
    console.log(`${prefix}eval step ${step}: ${report.fields.join(" | ")}`);
    log?.write({ ...trainer.tag, step, ...report.metrics });
    for (const line of report.lines ?? []) console.log(line);
  };

  const result = (interrupted: boolean): RunResult => {
    const seconds = (performance.now() - start) / 1000;
    const done = Math.max(0, steps - first + 1);
    return {
      interrupted,
      seconds,
      last,
      eval: evalMetrics,
      tokensPerSecond: tokens === undefined
        ? NaN
        : interrupted
        ? tokPerS
        : (done * tokens) / Math.max(seconds, 1e-9),
    };
  };

  try {
    for (let step = first; step <= steps; step++) {
      const lr = learningRate(trainer.lr, step, schedule);
      const lrFor = (peak: number) => learningRate(peak, step, schedule);
      const submitted: SubmittedStep = await trainer.trainStep({ step, lr, lrFor });
      await settle(); // the step before, read back while this one runs
      pending = { step, report: submitted.report };
      if (!trainer.pipelined) await settle();
      const isLast = step === steps;
      if (trainer.evaluate && ((evalEvery > 0 && step % evalEvery === 0) || isLast)) {
        await evaluate(step);
      }
      if (stop.requested) {
        await settle();
        if (tty && !quiet) console.log();
        await save(step, false);
        console.log(
          out === undefined
            ? `interrupted at step ${step}`
            : `interrupted: ${prefix}checkpoint at step ${step} written to ${out}`,
        );
        return result(true);
      }
      if (saveEvery > 0 && step % saveEvery === 0 && !isLast) {
        await settle();
        await save(step, false);
      }
    }
    await settle();
    if (steps === 0 && trainer.evaluate) await evaluate(0);
    // The end: its checkpoint, unless the one resumed from already is.
    if (!(trainer.resumed?.finished && trainer.resumed.step === steps)) await save(steps, true);
  } finally {
    if (!options.stop) stop.dispose();
  }
  return result(false);
}

/** Formats seconds as 1h02m, 3m05s or 12s. */
export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  s = Math.round(s);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** Appends JSON lines to a metrics file (one object per event, with its time). */
export class MetricsLog {
  /** The file's path. */
  readonly path: string;

  /** A log at `path`, emptied first when `fresh`. */
  constructor(path: string, fresh: boolean) {
    this.path = path;
    if (fresh) Deno.writeTextFileSync(path, "");
  }

  /** Appends one record (with `time`, seconds since the epoch, first). */
  write(record: Record<string, unknown>): void {
    Deno.writeTextFileSync(
      this.path,
      JSON.stringify({ time: Date.now() / 1000, ...record }) + "\n",
      { append: true },
    );
  }
}

/**
 * Watches SIGINT and SIGTERM while a run trains: the first signal sets `requested` (the run
 * finishes its step, saves and returns `interrupted`); a second one exits 130 at once. Call
 * `dispose` after.
 */
export class StopRequest {
  /** Whether a signal asked the run to stop. */
  requested = false;
  readonly #signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  readonly #handler = () => {
    if (this.requested) Deno.exit(130);
    this.requested = true;
    console.error("\nstopping after this step (signal received; again to quit at once)");
  };

  /** Starts watching. */
  constructor() {
    for (const s of this.#signals) Deno.addSignalListener(s, this.#handler);
  }

  /** Stops watching (again: nothing). */
  dispose(): void {
    for (const s of this.#signals.splice(0)) Deno.removeSignalListener(s, this.#handler);
  }
}
