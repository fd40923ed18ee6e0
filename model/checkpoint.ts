/**
 * Checkpoints: a directory with
 * - `model.safetensors`: the weights with Hugging Face `GPT2LMHeadModel` names and layouts (Conv1D
 *   matrices as (in, out); the LM head is tied to `transformer.wte.weight` and not stored); a model
 *   with the scalar head adds `score.weight` (1, C) as `GPT2ForSequenceClassification` does,
 * - `config.json`: Hugging Face GPT-2 keys, plus ours under `instructgpu` (with `head`: "lm" or
 *   "scalar"; a scalar-head model is `architectures: ["GPT2ForSequenceClassification"]`,
 *   `num_labels: 1`),
 * - `tokenizer.json`: the tokenizer description (with the dense id map of a compact vocabulary),
 *   and with GPT-2's tokenizer also `vocab.json` + `merges.txt`, Hugging Face's GPT-2 tokenizer
 *   files (so that `GPT2LMHeadModel.from_pretrained` and `GPT2TokenizerFast` load the directory),
 * - `optimizer.safetensors` (optional): AdamW moments `exp_avg.<name>`, `exp_avg_sq.<name>`,
 * - `<name>.safetensors` (optional): a further model of the run (PPO's value model), its parameters
 *   and AdamW moments (`exp_avg.`, `exp_avg_sq.`) with the same names and layouts,
 * - `state.json`: training state (step, data position, RNG, the run's settings).
 *
 * Written atomically: a temporary directory, fsync, then a rename over the old one. With
 * `keep` > 1 the checkpoint it replaces is not deleted but moved to `<dir>.steps/step-<step>`, and
 * only the newest `keep` − 1 of those are kept; {@linkcode latestCheckpoint} finds the newest
 * complete one. A fresh run first claims its output ({@linkcode claimOutput}: `<dir>.run.json`
 * names its run id, which each of its checkpoints repeats as `run_id` in `state.json`), and
 * `--resume` continues only that run's checkpoints ({@linkcode resumePoint}).
 *
 * {@linkcode loadCheckpoint} also reads a GPT-2 directory as Hugging Face's hub serves it
 * (`config.json`, `model.safetensors`, and `vocab.json` + `merges.txt` or `tokenizer.json`; no
 * `state.json`): see model/hf.ts and data/hf_tokenizer.ts for what is accepted.
 *
 * @module
 */
import {
  fromHfConfig,
  type GptConfig,
  parameterCount,
  toHfConfig,
  validateConfig,
} from "./config.ts";
import { Gpt } from "./gpt.ts";
import type { Gpu } from "../gpu/device.ts";
import { createTokenizer, type Tokenizer, type TokenizerSpec } from "../data/tokenizer.ts";
import { gpt2MergesTxt, gpt2VocabJson } from "../data/hf_tokenizer.ts";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import {
  checkGpt2Architecture,
  CheckpointError,
  exists,
  fromHf,
  hfModelTensors,
  hubTokenizer,
  toHf,
} from "./hf.ts";

export { CheckpointError, fromHf, toHf };

/** Everything a checkpoint holds. */
export interface Checkpoint {
  config: GptConfig;
  /** Tokenizer description (see data/tokenizer.ts). */
  tokenizer: Record<string, unknown>;
  /** Parameters by internal name, in the internal (out, in) layout. */
  params: Map<string, Float32Array>;
  /** AdamW moments by internal name, when saved. */
  optimizer?: { m: Map<string, Float32Array>; v: Map<string, Float32Array> };
  /** Free-form training state (step, data position, RNG state, settings, stage). */
  state: Record<string, unknown>;
  /** Further models of the run by name (`<name>.safetensors`), e.g. PPO's value model. */
  extra?: Record<string, ExtraModel>;
}

/** A further model saved with a checkpoint: its parameters and, optionally, AdamW moments. */
export interface ExtraModel {
  config: GptConfig;
  params: Map<string, Float32Array>;
  optimizer?: { m: Map<string, Float32Array>; v: Map<string, Float32Array> };
}

async function writeFileSynced(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

/** Flushes a directory's entries (a rename into it) to disk; best effort where unsupported. */
async function syncDir(path: string): Promise<void> {
  let dir: Deno.FsFile;
  try {
    dir = await Deno.open(path, { read: true });
  } catch {
    return;
  }
  try {
    await dir.sync();
  } catch {
    /* not every platform can fsync a directory */
  } finally {
    dir.close();
  }
}

/** The files that every complete checkpoint holds (`state.json` is written last). */
const CHECKPOINT_FILES = ["model.safetensors", "config.json", "tokenizer.json", "state.json"];

/** Options of {@linkcode saveCheckpoint}. */
export interface SaveOptions {
  /**
   * Checkpoints to keep in all: `dir` and up to `keep` − 1 earlier ones, moved to
   * `<dir>.steps/step-<step>` when a newer one replaces them. Default 1: only `dir`.
   */
  keep?: number;
  /**
   * What `dir` and `<dir>.steps` hold comes from another run (a fresh start over an old `--out`):
   * delete it, once the new checkpoint is in place, instead of keeping it as history.
   */
  replace?: boolean;
}

/** The folder of the earlier checkpoints kept beside `dir`. */
export function historyDir(dir: string): string {
  return `${dir.replace(/\/+$/, "")}.steps`;
}

const STEP_DIR = /^step-(\d+)$/;

/** The step in `<dir>/state.json`, or undefined when it cannot be read. */
async function savedStep(dir: string): Promise<number | undefined> {
  try {
    const step = JSON.parse(await Deno.readTextFile(`${dir}/state.json`)).step;
    return Number.isSafeInteger(step) && step >= 0 ? step : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `dir` holds every file of a checkpoint. */
async function isComplete(dir: string): Promise<boolean> {
  for (const name of CHECKPOINT_FILES) {
    try {
      if (!(await Deno.stat(`${dir}/${name}`)).isFile) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** The earlier checkpoints in `<dir>.steps`, newest first. */
async function history(dir: string): Promise<{ path: string; step: number }[]> {
  const root = historyDir(dir);
  const out: { path: string; step: number }[] = [];
  try {
    for await (const e of Deno.readDir(root)) {
      const m = STEP_DIR.exec(e.name);
      if (e.isDirectory && m) out.push({ path: `${root}/${e.name}`, step: Number(m[1]) });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort((a, b) => b.step - a.step);
}

/** The `run_id` in `<dir>/state.json`, or undefined when there is none or it cannot be read. */
export async function checkpointRunId(dir: string): Promise<string | undefined> {
  try {
    const id = JSON.parse(await Deno.readTextFile(`${dir}/state.json`)).run_id;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The newest complete checkpoint of a run whose output is `dir`: `dir` itself when it is complete,
 * else the newest complete earlier one (in `<dir>.steps`, or one a crash left aside during a save).
 * With `runId`, only a checkpoint whose `state.json` names that `run_id` counts. Returns `dir`
 * when there is none, so that loading it reports what is wrong.
 */
export async function latestCheckpoint(dir: string, runId?: string): Promise<string> {
  return await newestCheckpoint(dir, runId) ?? dir.replace(/\/+$/, "");
}

/** {@linkcode latestCheckpoint}, or undefined when there is none. */
async function newestCheckpoint(dir: string, runId?: string): Promise<string | undefined> {
  const base = dir.replace(/\/+$/, "");
  const ours = async (path: string) =>
    (await isComplete(path)) && (runId === undefined || (await checkpointRunId(path)) === runId);
  if (await ours(base)) return base;
  const candidates = await history(base);
  const parent = base.includes("/") ? base.replace(/\/[^/]*$/, "") || "/" : ".";
  const name = base.slice(base.lastIndexOf("/") + 1);
  try {
    for await (const e of Deno.readDir(parent)) {
      if (!e.isDirectory || !e.name.startsWith(`${name}.old-`)) continue;
      const path = parent === "." ? e.name : `${parent}/${e.name}`;
      const step = await savedStep(path);
      if (step !== undefined) candidates.push({ path, step });
    }
  } catch { /* no parent: nothing to find */ }
  candidates.sort((a, b) => b.step - a.step);
  for (const c of candidates) if (await ours(c.path)) return c.path;
  return undefined;
}

// ---- the run that owns an output -------------------------------------------------------------

/**
 * The marker beside an output (`<dir>.run.json`) naming the run that owns it: a fresh run writes it
 * before it trains, and every checkpoint it saves carries the same `run_id` in `state.json`, so
 * that `--resume` never continues the checkpoints an earlier run left in the same output.
 */
export interface RunMarker {
  /** The run's id (also `run_id` in the `state.json` of each checkpoint it writes). */
  run_id: string;
  /** The stage that started it ("pretrain", "sft", "rlhf"). */
  stage: string;
  /** When it started (ISO 8601). */
  started: string;
}

/** A new run id: the start time and a random suffix. */
export function newRunId(): string {
  const time = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${time}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The path of the marker of the output `dir` (see {@linkcode RunMarker}). */
export function runMarkerPath(dir: string): string {
  return `${dir.replace(/\/+$/, "")}.run.json`;
}

/**
 * Records atomically (a temporary file, fsync, a rename) that the run `runId` of `stage` now owns
 * the output `dir`; from then on only its checkpoints are resumed there.
 */
export async function claimOutput(dir: string, runId: string, stage: string): Promise<void> {
  const path = runMarkerPath(dir);
  const marker: RunMarker = { run_id: runId, stage, started: new Date().toISOString() };
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    await writeFileSynced(tmp, JSON.stringify(marker, null, 2) + "\n");
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await syncDir(path.includes("/") ? path.replace(/\/[^/]*$/, "") || "/" : ".");
}

/** The marker of the output `dir`, or undefined when no run claimed it (an older layout). */
export async function readRunMarker(dir: string): Promise<RunMarker | undefined> {
  const path = runMarkerPath(dir);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    const m = JSON.parse(text);
    if (typeof m?.run_id === "string" && m.run_id !== "") {
      return { run_id: m.run_id, stage: String(m.stage ?? "?"), started: String(m.started ?? "?") };
    }
  } catch { /* reported below */ }
  throw new CheckpointError(
    `${path} is damaged: it should name the run that owns ${dir}; delete it to resume the newest ` +
      `checkpoint there whichever run wrote it`,
  );
}

/** What `--resume` finds in an output (see {@linkcode resumePoint}). */
export interface ResumePoint {
  /**
   * The checkpoint to continue: the newest complete one of the run that owns the output (`dir`
   * itself when there is none and no run claimed it, so that loading it reports what is wrong).
   * Undefined when the run that claimed the output saved none: `stale` says why.
   */
  from: string | undefined;
  /** The owner's marker, when a run claimed the output. */
  owner: RunMarker | undefined;
  /** Why there is nothing to resume (one clause, naming the output and the run). */
  stale?: string;
}

/**
 * The checkpoint `--resume` continues in the output `dir`: the newest complete one of the run that
 * owns it (its {@linkcode RunMarker}), never one an earlier run left there; without a marker (an
 * output written before markers existed) the newest complete one, as {@linkcode latestCheckpoint}.
 */
export async function resumePoint(dir: string): Promise<ResumePoint> {
  const owner = await readRunMarker(dir);
  if (!owner) return { from: await latestCheckpoint(dir), owner };
  const from = await newestCheckpoint(dir, owner.run_id);
  if (from !== undefined) return { from, owner };
  return {
    from,
    owner,
    stale: `${dir} holds no checkpoint of the run that last started there (${owner.stage} run ` +
      `${owner.run_id}, started ${owner.started}; it stopped before its first save)`,
  };
}

/** Throws unless every value of every tensor is finite (a model worth saving). */
function assertFinite(
  dir: string,
  step: unknown,
  what: string,
  table: Map<string, Float32Array>,
): void {
  for (const [name, data] of table) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new CheckpointError(
          `${typeof step === "number" ? `Step ${step}: ` : ""}${what} ${name} holds ` +
            `${data[i]}: not saving it to ${dir}, the checkpoint already there is kept: ` +
            `lower --lr or raise --warmup`,
        );
      }
    }
  }
}

/**
 * Writes a checkpoint to `dir` atomically: into `<dir>.tmp-<pid>`, fsynced, then renamed over
 * `dir`. A crash at any moment leaves either the old checkpoint or the new one. The checkpoint it
 * replaces is deleted, or kept in `<dir>.steps` (see {@linkcode SaveOptions}), only once the new
 * one is in place. A checkpoint with a non-finite value is refused (CheckpointError) and nothing
 * is written.
 */
export async function saveCheckpoint(
  dir: string,
  ckpt: Checkpoint,
  options: SaveOptions = {},
): Promise<void> {
  const config = validateConfig(ckpt.config);
  const keep = options.keep ?? 1;
  if (!Number.isInteger(keep) || keep < 1) {
    throw new RangeError(`Checkpoints to keep must be an integer >= 1, got ${keep}`);
  }
  const base = dir.replace(/\/+$/, "");
  assertFinite(base, ckpt.state.step, "parameter", ckpt.params);
  if (ckpt.optimizer) {
    assertFinite(base, ckpt.state.step, "AdamW moment", ckpt.optimizer.m);
    assertFinite(base, ckpt.state.step, "AdamW moment", ckpt.optimizer.v);
  }
  const extra = Object.entries(ckpt.extra ?? {});
  for (const [name, model] of extra) {
    if (!/^[a-z][a-z0-9_-]*$/.test(name) || ["model", "optimizer"].includes(name)) {
      throw new RangeError(`An extra model needs a plain file name, got "${name}"`);
    }
    assertFinite(base, ckpt.state.step, `${name} parameter`, model.params);
    if (model.optimizer) {
      assertFinite(base, ckpt.state.step, `${name} AdamW moment`, model.optimizer.m);
      assertFinite(base, ckpt.state.step, `${name} AdamW moment`, model.optimizer.v);
    }
  }
  const tmp = `${base}.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });
  try {
    await writeFileSynced(
      `${tmp}/model.safetensors`,
      encodeSafetensors(toHf(config, ckpt.params), { format: "pt" }),
    );
    const hf = {
      ...toHfConfig(config),
      instructgpu: {
        version: 1,
        parameters: parameterCount(config),
        head: config.head ?? "lm",
        stage: ckpt.state.stage ?? null,
      },
    };
    await writeFileSynced(`${tmp}/config.json`, JSON.stringify(hf, null, 2) + "\n");
    await writeFileSynced(`${tmp}/tokenizer.json`, JSON.stringify(ckpt.tokenizer) + "\n");
    if (ckpt.tokenizer.kind === "gpt2") {
      await writeFileSynced(`${tmp}/vocab.json`, gpt2VocabJson());
      await writeFileSynced(`${tmp}/merges.txt`, gpt2MergesTxt());
    }
    if (ckpt.optimizer) {
      const m = toHf(config, ckpt.optimizer.m, "exp_avg.");
      const v = toHf(config, ckpt.optimizer.v, "exp_avg_sq.");
      await writeFileSynced(
        `${tmp}/optimizer.safetensors`,
        encodeSafetensors(new Map([...m, ...v])),
      );
    }
    for (const [name, model] of extra) {
      const c = validateConfig(model.config);
      const tables = [toHf(c, model.params)];
      if (model.optimizer) {
        tables.push(
          toHf(c, model.optimizer.m, "exp_avg."),
          toHf(c, model.optimizer.v, "exp_avg_sq."),
        );
      }
      await writeFileSynced(
        `${tmp}/${name}.safetensors`,
        encodeSafetensors(new Map(tables.flatMap((t) => [...t]))),
      );
    }
    await writeFileSynced(`${tmp}/state.json`, JSON.stringify(ckpt.state, null, 2) + "\n");
    await syncDir(tmp);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  // Move the old checkpoint aside (into the history when it is kept), then the new one in place.
  const parent = base.includes("/") ? base.replace(/\/[^/]*$/, "") || "/" : ".";
  const root = historyDir(base);
  const oldStep = keep > 1 && !options.replace ? await savedStep(base) : undefined;
  const aside = oldStep !== undefined
    ? `${root}/step-${String(oldStep).padStart(8, "0")}`
    : `${base}.old-${Deno.pid}`;
  let movedAside = false;
  try {
    if (oldStep !== undefined) {
      await Deno.mkdir(root, { recursive: true });
      await Deno.remove(aside, { recursive: true }).catch(() => {});
    }
    try {
      await Deno.rename(base, aside);
      movedAside = true;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    await Deno.rename(tmp, base);
  } catch (e) {
    if (movedAside) await Deno.rename(aside, base).catch(() => {});
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  await syncDir(parent);
  if (oldStep !== undefined) await syncDir(root);
  // Only now that the new checkpoint is durably in place: delete what is no longer kept.
  if (movedAside && oldStep === undefined) await Deno.remove(aside, { recursive: true });
  const earlier = await history(base);
  const keepEarlier = options.replace ? 0 : keep - 1;
  for (const h of earlier.slice(keepEarlier)) await Deno.remove(h.path, { recursive: true });
  if (earlier.length > 0 && keepEarlier === 0) {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(`${path} is missing: the checkpoint is incomplete; re-create it`);
    }
    throw e;
  }
  try {
    const v = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error();
    return v;
  } catch {
    throw new CheckpointError(`${path} is not a JSON object: the checkpoint is damaged`);
  }
}

/** Options of {@linkcode loadCheckpoint}. */
export interface LoadOptions {
  /** Also load the AdamW moments (for resuming). Default false. */
  optimizer?: boolean;
  /**
   * Also load these further models (`<name>.safetensors`, see {@linkcode ExtraModel}), each checked
   * against its config; their moments are loaded with `optimizer`.
   */
  extra?: Record<string, GptConfig>;
}

/**
 * Loads a checkpoint directory, checking every tensor against config.json and refusing any value
 * that is not finite. Never executes anything from the files. A Hugging Face GPT-2 directory (no
 * `state.json`, no `instructgpu` in config.json) loads with `state` `{ stage: "huggingface" }`.
 */
export async function loadCheckpoint(dir: string, options: LoadOptions = {}): Promise<Checkpoint> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) {
      throw new CheckpointError(
        `Checkpoint ${dir} is not a directory: pass a checkpoint directory`,
      );
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(
        `Checkpoint directory ${dir} does not exist: train one first (deno task pretrain) ` +
          `or pass the right --checkpoint`,
      );
    }
    throw e;
  }
  const hfConfig = await readJson(`${dir}/config.json`);
  checkGpt2Architecture(hfConfig, `${dir}/config.json`);
  const config = fromHfConfig(hfConfig, `${dir}/config.json`);
  // A directory without our state.json and config section is a Hugging Face download.
  const hub = !("instructgpu" in hfConfig) && !(await exists(`${dir}/state.json`));
  const tokenizer = hub ? await hubTokenizer(dir) : await readJson(`${dir}/tokenizer.json`);
  const state = hub ? { stage: "huggingface" } : await readJson(`${dir}/state.json`);
  const readSafetensors = async (name: string) => {
    const path = `${dir}/${name}`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new CheckpointError(`${path} is missing: the checkpoint is incomplete; re-create it`);
      }
      throw e;
    }
    try {
      return decodeSafetensors(bytes, path);
    } catch (e) {
      throw new CheckpointError((e as Error).message);
    }
  };
  const readTensors = async (name: string) => (await readSafetensors(name)).tensors;
  const modelFile = `${dir}/model.safetensors`;
  if (hub && !(await exists(modelFile)) && (await exists(`${dir}/pytorch_model.bin`))) {
    throw new CheckpointError(
      `${modelFile} is missing: only safetensors weights are read (never pickle); download ` +
        `model.safetensors or convert pytorch_model.bin`,
    );
  }
  const model = await readSafetensors("model.safetensors");
  const params = fromHf(config, hfModelTensors(model.tensors, model.skipped, modelFile), modelFile);
  const ckpt: Checkpoint = { config, tokenizer, params, state };
  if (options.optimizer) {
    const t = await readTensors("optimizer.safetensors");
    const file = `${dir}/optimizer.safetensors`;
    ckpt.optimizer = {
      m: fromHf(config, t, file, "exp_avg."),
      v: fromHf(config, t, file, "exp_avg_sq."),
    };
  }
  for (const [name, c] of Object.entries(options.extra ?? {})) {
    const t = await readTensors(`${name}.safetensors`);
    const file = `${dir}/${name}.safetensors`;
    const model: ExtraModel = { config: c, params: fromHf(c, t, file) };
    if (options.optimizer) {
      model.optimizer = { m: fromHf(c, t, file, "exp_avg."), v: fromHf(c, t, file, "exp_avg_sq.") };
    }
    (ckpt.extra ??= {})[name] = model;
  }
  return ckpt;
}

/** Checks that two configs describe the same model; throws naming the first difference. */
export function assertSameShape(a: GptConfig, b: GptConfig, what: string): void {
  for (const k of ["vocabSize", "context", "layers", "heads", "width", "head"] as const) {
    if (k === "head" && (a.head ?? "lm") === (b.head ?? "lm")) continue;
    if (a[k] !== b[k]) {
      throw new CheckpointError(
        `${what}: ${k} is ${b[k]} in the checkpoint but ${a[k]} was asked for: ` +
          `drop the conflicting flag or start a new run with a different --out`,
      );
    }
  }
}

/** A model ready to run: the checkpoint, its tokenizer and its parameters on the GPU. */
export interface LoadedModel {
  checkpoint: Checkpoint;
  tokenizer: Tokenizer;
  gpt: Gpt;
}

/** Loads a checkpoint directory onto the GPU, with its tokenizer. */
export async function loadModel(
  gpu: Gpu,
  dir: string,
  options: LoadOptions = {},
): Promise<LoadedModel> {
  const checkpoint = await loadCheckpoint(dir, options);
  let tokenizer: Tokenizer;
  try {
    tokenizer = createTokenizer(checkpoint.tokenizer as unknown as TokenizerSpec);
  } catch (e) {
    throw new CheckpointError(`${dir}/tokenizer.json: ${(e as Error).message}`);
  }
  if (tokenizer.vocabSize !== checkpoint.config.vocabSize) {
    throw new CheckpointError(
      `${dir}: the tokenizer has ${tokenizer.vocabSize} ids but the model's vocabulary is ` +
        `${checkpoint.config.vocabSize}: tokenizer.json and config.json come from different runs`,
    );
  }
  const gpt = Gpt.create(gpu, checkpoint.config, { values: checkpoint.params });
  return { checkpoint, tokenizer, gpt };
}
