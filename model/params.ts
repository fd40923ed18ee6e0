/**
 * The parameters of GPT-2 on WebGPU: the parameter table's layout (Hugging Face `GPT2LMHeadModel`
 * names, every 2-D tensor first), GPT-2 initialisation, and {@linkcode Gpt}, a configuration with
 * its parameters on the GPU. The forward and backward passes are model/gpt.ts's.
 *
 * @module
 */
import { type Gpu, readback } from "../gpu/device.ts";
import type { Tensor } from "../gpu/kernel.ts";
import { Rng } from "../data/rng.ts";
import { type GptConfig, validateConfig } from "./config.ts";
import { numel, type TensorSpec, TensorTable } from "./tensors.ts";

/** The four matrices of a block, with their (out, in) shapes. */
function blockMatrices(c: GptConfig, l: number): TensorSpec[] {
  const C = c.width, h = `transformer.h.${l}.`;
  return [
    { name: `${h}attn.c_attn.weight`, shape: [3 * C, C] },
    { name: `${h}attn.c_proj.weight`, shape: [C, C] },
    { name: `${h}mlp.c_fc.weight`, shape: [4 * C, C] },
    { name: `${h}mlp.c_proj.weight`, shape: [C, 4 * C] },
  ];
}

function blockVectors(c: GptConfig, l: number): TensorSpec[] {
  const C = c.width, h = `transformer.h.${l}.`;
  return [
    { name: `${h}ln_1.weight`, shape: [C] },
    { name: `${h}ln_1.bias`, shape: [C] },
    { name: `${h}attn.c_attn.bias`, shape: [3 * C] },
    { name: `${h}attn.c_proj.bias`, shape: [C] },
    { name: `${h}ln_2.weight`, shape: [C] },
    { name: `${h}ln_2.bias`, shape: [C] },
    { name: `${h}mlp.c_fc.bias`, shape: [4 * C] },
    { name: `${h}mlp.c_proj.bias`, shape: [C] },
  ];
}

/**
 * The parameter table's layout: every 2-D tensor first (they get weight decay), then every 1-D
 * tensor. `decayCount` is the number of leading specs that are 2-D.
 */
export function parameterSpecs(c: GptConfig): { specs: TensorSpec[]; decayCount: number } {
  const C = c.width;
  const matrices: TensorSpec[] = [
    { name: "transformer.wte.weight", shape: [c.vocabSize, C] },
    { name: "transformer.wpe.weight", shape: [c.context, C] },
  ];
  const vectors: TensorSpec[] = [];
  for (let l = 0; l < c.layers; l++) {
    matrices.push(...blockMatrices(c, l));
    vectors.push(...blockVectors(c, l));
  }
  if (c.head === "scalar") matrices.push({ name: "score.weight", shape: [1, C] });
  vectors.push({ name: "transformer.ln_f.weight", shape: [C] });
  vectors.push({ name: "transformer.ln_f.bias", shape: [C] });
  return { specs: [...matrices, ...vectors], decayCount: matrices.length };
}

/**
 * GPT-2 initial values: N(0, 0.02) for embeddings and matrices, N(0, 0.02/sqrt(2·layers)) for the
 * residual projections, zero biases, unit LayerNorm weights; the scalar head `score.weight` from
 * N(0, 1/(C+1)) (std 1/sqrt(C+1), as in Stiennon et al.). Deterministic in `seed`.
 */
export function initialParameters(c: GptConfig, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const spec of parameterSpecs(c).specs) {
    const n = numel(spec.shape);
    const { name } = spec;
    if (spec.shape.length === 2) {
      const std = name === "score.weight"
        ? 1 / Math.sqrt(c.width + 1)
        : name.endsWith("c_proj.weight")
        ? 0.02 / Math.sqrt(2 * c.layers)
        : 0.02;
      out.set(name, rng.normalArray(n, std));
    } else if (name.includes("ln_") && name.endsWith(".weight")) {
      out.set(name, new Float32Array(n).fill(1));
    } else {
      out.set(name, new Float32Array(n));
    }
  }
  return out;
}

/**
 * The parameters that kernels bind in pieces of token ids (see `vocabPieces`), so that they may be
 * larger than one binding: GPT-2's token embedding is 147 MiB, more than lavapipe's 128 MiB.
 */
export const BOUND_IN_PIECES: readonly string[] = ["transformer.wte.weight"];

/** A GPT-2 model: configuration and parameters on the GPU. */
export class Gpt {
  /** The device. */
  readonly gpu: Gpu;
  /** Its shape. */
  readonly config: GptConfig;
  /** The parameters: one buffer, each tensor at an aligned offset. */
  readonly params: TensorTable;
  /** Elements of the parameter table that get weight decay (the 2-D tensors come first). */
  readonly decayEnd: number;
  #grads: TensorTable | undefined;

  private constructor(gpu: Gpu, config: GptConfig) {
    this.gpu = gpu;
    this.config = validateConfig(config);
    const { specs, decayCount } = parameterSpecs(config);
    this.params = this.tableLikeParams("params");
    const firstVector = this.params.get(specs[decayCount].name);
    this.decayEnd = firstVector.offset / 4;
  }

  /**
   * Creates a model. Its parameters come from `values` (every tensor, by internal name) or from
   * GPT-2 initialisation with `seed`.
   */
  static create(
    gpu: Gpu,
    config: GptConfig,
    options: { seed?: number; values?: Map<string, Float32Array> } = {},
  ): Gpt {
    const gpt = new Gpt(gpu, config);
    gpt.setParameters(options.values ?? initialParameters(config, options.seed ?? 1337));
    return gpt;
  }

  /** Number of parameters (padding excluded). */
  get parameterCount(): number {
    let n = 0;
    for (const t of this.params.tensors.values()) n += t.length;
    return n;
  }

  /** The parameter tensor called `name`. */
  param(name: string): Tensor {
    return this.params.get(name);
  }

  /** Gradients (same layout as the parameters), allocated on first use. */
  get grads(): TensorTable {
    this.#grads ??= this.tableLikeParams("grads");
    return this.#grads;
  }

  /** A new zero-filled table with the parameters' layout (gradients, optimizer moments). */
  tableLikeParams(label: string): TensorTable {
    return TensorTable.create(this.gpu, label, parameterSpecs(this.config).specs, {
      contiguous: true,
      boundInPieces: BOUND_IN_PIECES,
      tooLarge: "use a smaller width",
    });
  }

  /** Uploads parameter values (every tensor must be present with the right size). */
  setParameters(values: Map<string, Float32Array>): void {
    for (const t of this.params.tensors.values()) {
      const v = values.get(t.name);
      if (!v) throw new Error(`Missing parameter ${t.name}`);
      if (v.length !== t.length) {
        throw new Error(`Parameter ${t.name} has ${v.length} values; expected ${t.length}`);
      }
      this.gpu.device.queue.writeBuffer(
        t.buffer,
        t.offset,
        v.buffer as ArrayBuffer,
        v.byteOffset,
        v.byteLength,
      );
    }
  }

  /** Reads every parameter back (one wait). */
  async readParameters(): Promise<Map<string, Float32Array>> {
    return await readTable(this.gpu, this.params);
  }

  /** Frees the GPU memory of parameters and gradients. */
  destroy(): void {
    this.params.destroy();
    this.#grads?.destroy();
  }
}

/** Reads every tensor of a contiguous table back (one wait). */
export async function readTable(gpu: Gpu, table: TensorTable): Promise<Map<string, Float32Array>> {
  const all = new Float32Array(await readback(gpu, table.buffers[0], 0, table.byteLength));
  const out = new Map<string, Float32Array>();
  for (const t of table.tensors.values()) {
    out.set(t.name, all.slice(t.offset / 4, t.offset / 4 + t.length));
  }
  return out;
}
