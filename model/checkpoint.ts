/**
 * Checkpoints: a directory with
 * - `model.safetensors`: the weights with Hugging Face `GPT2LMHeadModel` names and layouts (Conv1D
 *   matrices as (in, out); the LM head is tied to `transformer.wte.weight` and not stored); a model
 *   with the scalar head adds `score.weight` (1, C) as `GPT2ForSequenceClassification` does,
 * - `config.json`: Hugging Face GPT-2 keys, plus ours under `instructgpu` (with `head`: "lm" or
 *   "scalar"; a scalar-head model is `architectures: ["GPT2ForSequenceClassification"]`,
 *   `num_labels: 1`),
 * - `tokenizer.json`: the tokenizer description (with the dense id map of a compact vocabulary),
 * - `optimizer.safetensors` (optional): AdamW moments `exp_avg.<name>`, `exp_avg_sq.<name>`,
 * - `state.json`: training state (step, data position, RNG, the run's settings).
 *
 * Written atomically: a temporary directory, fsync, then a rename over the old one.
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
import { Gpt, parameterSpecs } from "./gpt.ts";
import type { Gpu } from "../gpu/device.ts";
import { createTokenizer, type Tokenizer, type TokenizerSpec } from "../data/tokenizer.ts";
import { decodeSafetensors, encodeSafetensors, type NamedArray } from "./safetensors.ts";

/** Raised for a checkpoint that cannot be used; the message names the file and the fix. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}

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
}

/** Whether a parameter is a Conv1D weight, stored transposed in Hugging Face GPT-2. */
function isConv1D(name: string): boolean {
  return /\.(c_attn|c_proj|c_fc)\.weight$/.test(name);
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}

/** Internal (out, in) tensors → Hugging Face names and layouts (`prefix` before each name). */
export function toHf(
  config: GptConfig,
  values: Map<string, Float32Array>,
  prefix = "",
): Map<string, NamedArray> {
  const out = new Map<string, NamedArray>();
  for (const spec of parameterSpecs(config).specs) {
    const v = values.get(spec.name);
    if (!v) throw new CheckpointError(`Missing tensor ${spec.name} while saving`);
    if (isConv1D(spec.name)) {
      const [rows, cols] = spec.shape;
      out.set(prefix + spec.name, {
        dtype: "F32",
        shape: [cols, rows],
        data: transpose(v, rows, cols),
      });
    } else out.set(prefix + spec.name, { dtype: "F32", shape: [...spec.shape], data: v });
  }
  return out;
}

/** Hugging Face names and layouts → internal tensors, checked against the config. */
export function fromHf(
  config: GptConfig,
  tensors: Map<string, NamedArray>,
  file: string,
  prefix = "",
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const spec of parameterSpecs(config).specs) {
    const t = tensors.get(prefix + spec.name);
    if (!t) {
      throw new CheckpointError(
        `${file}: tensor ${prefix + spec.name} is missing: the file does not match config.json`,
      );
    }
    const want = isConv1D(spec.name) ? [spec.shape[1], spec.shape[0]] : [...spec.shape];
    if (t.dtype !== "F32" || t.shape.join() !== want.join()) {
      throw new CheckpointError(
        `${file}: tensor ${prefix + spec.name} is ${t.dtype} [${t.shape}], config.json needs ` +
          `F32 [${want}]: the file does not match config.json`,
      );
    }
    const data = t.data as Float32Array;
    out.set(spec.name, isConv1D(spec.name) ? transpose(data, want[0], want[1]) : data);
  }
  return out;
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

/**
 * Writes a checkpoint to `dir` atomically: into `<dir>.tmp-<pid>`, fsynced, then renamed over
 * `dir`. A crash at any moment leaves either the old checkpoint or the new one.
 */
export async function saveCheckpoint(dir: string, ckpt: Checkpoint): Promise<void> {
  const config = validateConfig(ckpt.config);
  const tmp = `${dir.replace(/\/+$/, "")}.tmp-${Deno.pid}`;
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
    if (ckpt.optimizer) {
      const m = toHf(config, ckpt.optimizer.m, "exp_avg.");
      const v = toHf(config, ckpt.optimizer.v, "exp_avg_sq.");
      await writeFileSynced(
        `${tmp}/optimizer.safetensors`,
        encodeSafetensors(new Map([...m, ...v])),
      );
    }
    await writeFileSynced(`${tmp}/state.json`, JSON.stringify(ckpt.state, null, 2) + "\n");
    const old = `${dir.replace(/\/+$/, "")}.old-${Deno.pid}`;
    let hadOld = false;
    try {
      await Deno.rename(dir, old);
      hadOld = true;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    await Deno.rename(tmp, dir);
    if (hadOld) await Deno.remove(old, { recursive: true });
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
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
}

/**
 * Loads a checkpoint directory, checking every tensor against config.json. Never executes
 * anything from the files.
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
  const config = fromHfConfig(await readJson(`${dir}/config.json`), `${dir}/config.json`);
  const tokenizer = await readJson(`${dir}/tokenizer.json`);
  const state = await readJson(`${dir}/state.json`);
  const readTensors = async (name: string) => {
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
      return decodeSafetensors(bytes, path).tensors;
    } catch (e) {
      throw new CheckpointError((e as Error).message);
    }
  };
  const params = fromHf(config, await readTensors("model.safetensors"), `${dir}/model.safetensors`);
  const ckpt: Checkpoint = { config, tokenizer, params, state };
  if (options.optimizer) {
    const t = await readTensors("optimizer.safetensors");
    const file = `${dir}/optimizer.safetensors`;
    ckpt.optimizer = {
      m: fromHf(config, t, file, "exp_avg."),
      v: fromHf(config, t, file, "exp_avg_sq."),
    };
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
