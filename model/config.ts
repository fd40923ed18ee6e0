/**
 * The model configuration (GPT-2 architecture) and its validation.
 *
 * @module
 */

/** Shape of a GPT-2 model. */
export interface GptConfig {
  /** Vocabulary size (rows of the token embedding and the tied LM head). */
  vocabSize: number;
  /** Maximum sequence length (rows of the position embedding). */
  context: number;
  /** Transformer blocks. */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** Channels (n_embd). Must be divisible by `heads`. */
  width: number;
  /**
   * The output head: `"lm"` (default) gives next-token logits with the LM head tied to the token
   * embedding; `"scalar"` gives one value per position from `score.weight` (1, C), Hugging Face's
   * `GPT2ForSequenceClassification` head with one label (reward and value models).
   */
  head?: GptHead;
}

/** The output heads a model can have. */
export type GptHead = "lm" | "scalar";

/** Named model shapes. */
export const PRESETS = {
  /** The tiny default of `deno task pretrain`: learns the embedded corpus in minutes on a CPU adapter. */
  tiny: { layers: 2, heads: 4, width: 128, context: 128 },
  /** The small benchmark config (with vocabulary 512). */
  small: { layers: 4, heads: 4, width: 256, context: 128 },
  /** GPT-2 124M. */
  gpt2: { layers: 12, heads: 12, width: 768, context: 1024 },
} as const satisfies Record<string, Omit<GptConfig, "vocabSize">>;

/** A configuration error: one line naming the problem and the fix. */
export class ConfigError extends Error {
  /** Printed as one line by the command lines, exit code 2. */
  override name = "ConfigError";
}

function positiveInt(name: string, v: unknown, flag: string): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
    throw new ConfigError(`${name} must be a positive integer, got ${v}: fix ${flag}`);
  }
}

/** Throws a ConfigError if the config cannot describe a model. */
export function validateConfig(c: GptConfig): GptConfig {
  positiveInt("Vocabulary size", c.vocabSize, "the tokenizer or --vocab");
  positiveInt("Context", c.context, "--context");
  positiveInt("Layers", c.layers, "--layers");
  positiveInt("Heads", c.heads, "--heads");
  positiveInt("Width", c.width, "--width");
  if (c.head !== undefined && c.head !== "lm" && c.head !== "scalar") {
    throw new ConfigError(`Head must be "lm" or "scalar", got ${JSON.stringify(c.head)}`);
  }
  if (c.width % c.heads !== 0) {
    throw new ConfigError(
      `Heads (${c.heads}) must divide the width (${c.width}): change --heads or --width`,
    );
  }
  return c;
}

/** Number of parameters (the tied LM head counted once; the scalar head's C included). */
export function parameterCount(c: GptConfig): number {
  const { vocabSize: V, context: T, layers: L, width: C } = c;
  const perLayer = 2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C + 4 * C + 4 * C * C +
    C;
  return V * C + T * C + L * perLayer + 2 * C + (c.head === "scalar" ? C : 0);
}

/** Hugging Face GPT-2 `config.json` keys for this config, plus ours under `instructgpu`. */
export function toHfConfig(c: GptConfig): Record<string, unknown> {
  const scalar = c.head === "scalar";
  return {
    architectures: [scalar ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel"],
    ...(scalar ? { num_labels: 1 } : {}),
    model_type: "gpt2",
    vocab_size: c.vocabSize,
    n_positions: c.context,
    n_ctx: c.context,
    n_embd: c.width,
    n_layer: c.layers,
    n_head: c.heads,
    n_inner: null,
    activation_function: "gelu_new",
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    tie_word_embeddings: true,
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
  };
}

/** Reads a GptConfig from a Hugging Face GPT-2 config object; throws naming the missing key. */
export function fromHfConfig(json: Record<string, unknown>, source: string): GptConfig {
  const get = (key: string): number => {
    const v = json[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new ConfigError(
        `${source}: key "${key}" must be a positive integer, got ${JSON.stringify(v)}: ` +
          `the checkpoint's config.json is damaged; re-create the checkpoint`,
      );
    }
    return v;
  };
  const ours = json.instructgpu as Record<string, unknown> | undefined;
  const archs = Array.isArray(json.architectures) ? json.architectures : [];
  const head: GptHead = ours?.head === "scalar" || archs.includes("GPT2ForSequenceClassification")
    ? "scalar"
    : "lm";
  if (head === "scalar" && json.num_labels !== undefined && json.num_labels !== 1) {
    throw new ConfigError(
      `${source}: num_labels is ${JSON.stringify(json.num_labels)}; only one label (a scalar ` +
        `reward or value) is supported`,
    );
  }
  return validateConfig({
    vocabSize: get("vocab_size"),
    context: get("n_positions"),
    layers: get("n_layer"),
    heads: get("n_head"),
    width: get("n_embd"),
    ...(head === "scalar" ? { head } : {}),
  });
}
