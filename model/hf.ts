/**
 * Hugging Face GPT-2 layouts: our internal (out, in) tensors to `GPT2LMHeadModel` names and layouts
 * and back, and what a GPT-2 directory downloaded from Hugging Face may hold beyond our own files:
 * names without the `transformer.` prefix (`GPT2Model`'s), the `attn.bias` / `attn.masked_bias`
 * buffers, a stored `lm_head.weight` tied to `wte`, and configuration keys that would change the
 * architecture. Every weight read is checked to be finite.
 *
 * @module
 */
import type { GptConfig } from "./config.ts";
import { parameterSpecs } from "./gpt.ts";
import type { NamedArray } from "./safetensors.ts";
import type { TokenizerSpec } from "../data/tokenizer.ts";
import { readHfTokenizer } from "../data/hf_tokenizer.ts";

/** Raised for a checkpoint that cannot be used; the message names the file and the fix. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
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

/** The index of the first value that is not finite, or -1. */
function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!(data[i] - data[i] === 0)) return i;
  return -1;
}

/** The position of flat index `i` in `shape`, as "[r, c]". */
function position(i: number, shape: readonly number[]): string {
  const at: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    at.unshift(i % shape[d]);
    i = Math.floor(i / shape[d]);
  }
  return `[${at.join(", ")}]`;
}

/**
 * Hugging Face names and layouts → internal tensors, checked against the config; a tensor holding
 * a value that is not finite (NaN, ±Infinity) is refused, naming it and its first such index.
 */
export function fromHf(
  config: GptConfig,
  tensors: Map<string, NamedArray>,
  file: string,
  prefix = "",
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const spec of parameterSpecs(config).specs) {
    const name = prefix + spec.name;
    const t = tensors.get(name);
    if (!t) {
      throw new CheckpointError(
        `${file}: tensor ${name} is missing: the file does not match config.json`,
      );
    }
    const want = isConv1D(spec.name) ? [spec.shape[1], spec.shape[0]] : [...spec.shape];
    if (t.dtype !== "F32" || t.shape.join() !== want.join()) {
      throw new CheckpointError(
        `${file}: tensor ${name} is ${t.dtype} [${t.shape}], config.json needs ` +
          `F32 [${want}]: the file does not match config.json`,
      );
    }
    const data = t.data as Float32Array;
    const bad = firstNonFinite(data);
    if (bad >= 0) {
      throw new CheckpointError(
        `${file}: tensor ${name} holds ${data[bad]} at index ${position(bad, want)}: the ` +
          `weights are damaged; re-create or download the checkpoint again`,
      );
    }
    out.set(spec.name, isConv1D(spec.name) ? transpose(data, want[0], want[1]) : data);
  }
  return out;
}

/** The per-layer buffers of Hugging Face's GPT-2 (the causal mask and its fill value). */
const BUFFER = /^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$/;

/**
 * A model file's tensors under `GPT2LMHeadModel` names: `GPT2Model`'s names (no `transformer.`)
 * get the prefix, the attention buffers are dropped, and a stored `lm_head.weight` is dropped
 * once it is checked to equal the tied `transformer.wte.weight`. `skipped` (tensors of dtypes that
 * were not read) may hold only the buffers.
 */
export function hfModelTensors(
  tensors: Map<string, NamedArray>,
  skipped: ReadonlyMap<string, string>,
  file: string,
): Map<string, NamedArray> {
  for (const [name, dtype] of skipped) {
    if (!BUFFER.test(name)) {
      throw new CheckpointError(
        `${file}: tensor ${name} is ${dtype}: only F32, F16 and BF16 weights are read; ` +
          `save the model in float32`,
      );
    }
  }
  const bare = !tensors.has("transformer.wte.weight") && tensors.has("wte.weight");
  const out = new Map<string, NamedArray>();
  for (const [name, t] of tensors) {
    if (BUFFER.test(name)) continue;
    out.set(bare && /^(wte|wpe|h|ln_f)\./.test(name) ? `transformer.${name}` : name, t);
  }
  const head = out.get("lm_head.weight");
  if (head) {
    const wte = out.get("transformer.wte.weight");
    const same = wte !== undefined && wte.shape.join() === head.shape.join() &&
      wte.data.every((v, i) => Object.is(v, head.data[i]));
    if (!same) {
      throw new CheckpointError(
        `${file}: lm_head.weight differs from transformer.wte.weight: only GPT-2's tied LM ` +
          `head is supported`,
      );
    }
    out.delete("lm_head.weight");
  }
  return out;
}

/** Keys of a GPT-2 `config.json` with the only values our model implements (absent: the default). */
const ARCHITECTURE: [
  key: string,
  ok: (v: unknown, c: Record<string, unknown>) => boolean,
  want: string,
][] = [
  ["model_type", (v) => v === "gpt2", '"gpt2"'],
  [
    "activation_function",
    (v) => v === "gelu_new" || v === "gelu_pytorch_tanh",
    '"gelu_new" (the tanh GELU)',
  ],
  ["n_inner", (v, c) => v === null || v === 4 * (c.n_embd as number), "null (4 x n_embd)"],
  ["layer_norm_epsilon", (v) => typeof v === "number" && Math.abs(v - 1e-5) < 1e-12, "1e-5"],
  ["scale_attn_weights", (v) => v === true, "true"],
  ["scale_attn_by_inverse_layer_idx", (v) => v === false, "false"],
  ["add_cross_attention", (v) => v === false, "false"],
  ["tie_word_embeddings", (v) => v === true, "true (the LM head is wte)"],
];

/**
 * Checks that a GPT-2 `config.json` describes the architecture our model implements; throws naming
 * the first key with another value.
 */
export function checkGpt2Architecture(json: Record<string, unknown>, source: string): void {
  for (const [key, ok, want] of ARCHITECTURE) {
    if (key in json && !ok(json[key], json)) {
      throw new CheckpointError(
        `${source}: "${key}" is ${JSON.stringify(json[key])}, but only ${want} is supported: ` +
          `this is not a GPT-2 model this framework can run`,
      );
    }
  }
}

/** Whether `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** The tokenizer of a Hugging Face GPT-2 directory, as our spec. */
export async function hubTokenizer(dir: string): Promise<Record<string, unknown>> {
  let spec: TokenizerSpec | undefined;
  try {
    spec = await readHfTokenizer(dir);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  if (!spec) {
    throw new CheckpointError(
      `${dir} has no tokenizer: download GPT-2's vocab.json and merges.txt (or tokenizer.json) ` +
        `into it`,
    );
  }
  return spec as unknown as Record<string, unknown>;
}
