/**
 * One decoding step of B rows against a KV cache, and the prompts' forward pass that fills it.
 *
 * A full forward pass over the right-padded prompts (a {@linkcode Graph} of B rows and the smallest
 * length bucket that holds them) computes every layer's q, k, v; they are copied into the cache
 * (B, context, 3C) per layer, and each row's logits at its last prompt position into `logits`
 * (B, V). A step then runs the model on one new token per row at that row's own position
 * (kernels/kv_cache.ts for the embedding and the attention, kernels/matvec.ts for the products of
 * a few rows on CPU adapters, the ordinary kernels with N = B rows for the rest) and writes `logits` again. The arithmetic is that of a full recomputation, so
 * greedy decoding gives its tokens.
 *
 * @module
 */
import { encodeOps, type Op, type Tensor } from "../gpu/kernel.ts";
import { attentionDecode, embedAt } from "../kernels/kv_cache.ts";
import { layernormForward } from "../kernels/layernorm.ts";
import { decodeProduct, matvec, usesMatvec } from "../kernels/matvec.ts";
import { type AttentionMode, blockForward, type Gpt, Graph, type GraphOptions } from "./gpt.ts";
import { bindingLimit, lmHeadForward, vocabPieces, vocabRowsOf } from "./split.ts";
import { type TensorSpec, TensorTable } from "./tensors.ts";

/** Options of {@linkcode KvStep}. */
export interface KvStepOptions {
  /**
   * Largest tensor one binding may hold, in bytes (default: the adapter's limit): a larger token
   * embedding is bound in pieces of token ids. Tests set it low to exercise the split.
   */
  maxBindingBytes?: number;
  /** The prompts' forward pass: attention with its probabilities kept or recomputed (GraphOptions). */
  attention?: AttentionMode;
}

/** Prompt length buckets: the prefill graph's T is a multiple of this (or the context). */
const BUCKET = 16;

/** The KV cache of B rows, the ops of one decoding step, and the prompts' forward pass. */
export class KvStep {
  readonly gpt: Gpt;
  readonly B: number;
  /** The step's ops: `tokens` at `pos` → `logits`. */
  readonly ops: Op[];
  /** (B) u32: the token of each row that the step embeds. */
  readonly tokens: Tensor;
  /** (B) u32: its position (< context). */
  readonly pos: Tensor;
  /** (B, V): the logits of the step, or of the prompts' last positions after the prefill. */
  readonly logits: Tensor;
  readonly #cache: TensorTable;
  readonly #acts: TensorTable;
  readonly #io: TensorTable;
  readonly #prefill = new Map<number, Graph>();
  readonly #graphOptions: Pick<GraphOptions, "maxBindingBytes" | "attention">;

  constructor(gpt: Gpt, B: number, options: KvStepOptions = {}) {
    if (gpt.config.head === "scalar") throw new Error("Generation needs a model with the LM head");
    this.gpt = gpt;
    this.B = B;
    this.#graphOptions = { maxBindingBytes: options.maxBindingBytes, attention: options.attention };
    const gpu = gpt.gpu;
    const { width: C, vocabSize: V, layers: L, heads: NH, context: T } = gpt.config;
    const pieces = vocabPieces(V, C, bindingLimit(gpu, options.maxBindingBytes));
    const wte = vocabRowsOf(gpt.param("transformer.wte.weight"), pieces, C);
    this.#cache = TensorTable.create(
      gpu,
      `kv cache ${B}x${T}`,
      Array.from({ length: L }, (_, l) => ({ name: `${l}`, shape: [B, T, 3 * C] })),
    );
    const specs: TensorSpec[] = [{ name: "encoded", shape: [B, C] }];
    for (let l = 0; l < L; l++) {
      for (const [name, width] of ACTS) specs.push({ name: `${l}.${name}`, shape: [B, width * C] });
      for (const name of ["ln1_mean", "ln1_rstd", "ln2_mean", "ln2_rstd"]) {
        specs.push({ name: `${l}.${name}`, shape: [B] });
      }
    }
    specs.push(
      { name: "lnf", shape: [B, C] },
      { name: "lnf_mean", shape: [B] },
      { name: "lnf_rstd", shape: [B] },
      { name: "logits", shape: [B, V] },
    );
    this.#acts = TensorTable.create(gpu, `decode ${B}`, specs);
    // One buffer each: the sampling kernel writes both in one dispatch.
    this.#io = TensorTable.create(gpu, `decode io ${B}`, [
      { name: "tokens", shape: [B] },
      { name: "pos", shape: [B] },
    ]);
    const a = (name: string) => this.#acts.get(name);
    const p = (name: string) => gpt.param(name);
    this.tokens = this.#io.get("tokens");
    this.pos = this.#io.get("pos");
    this.logits = a("logits");
    const ops: Op[] = embedAt(gpu, {
      out: a("encoded"), // (B,C)
      tokens: this.tokens,
      pos: this.pos,
      wte,
      wpe: p("transformer.wpe.weight"),
      B,
      C,
    });
    for (let l = 0; l < L; l++) {
      ops.push(...blockForward(gpu, {
        gpt,
        acts: a,
        l,
        residualIn: l === 0 ? a("encoded") : a(`${l - 1}.residual3`),
        N: B,
        product: decodeProduct,
        attention: (x) =>
          attentionDecode(gpu, {
            out: a(`${x}atty`), // (B,C)
            cache: this.#cache.get(`${l}`), // (B,T,3C)
            fresh: a(`${x}qkv`),
            pos: this.pos,
            B,
            T,
            C,
            NH,
          }),
      }));
    }
    ops.push(...layernormForward(gpu, {
      out: a("lnf"),
      mean: a("lnf_mean"),
      rstd: a("lnf_rstd"),
      inp: a(`${L - 1}.residual3`),
      weight: p("transformer.ln_f.weight"),
      bias: p("transformer.ln_f.bias"),
      N: B,
      C,
    }));
    // The tied LM head; with few rows on CPU adapters, a few-row product per piece of wte.
    ops.push(
      ...(usesMatvec(gpu, B, C)
        ? wte.map(({ tensor, start, count }) =>
          matvec(gpu, {
            c: this.logits,
            a: a("lnf"),
            w: tensor,
            M: B,
            N: count,
            K: C,
            ldc: V,
            c0: start,
          })
        )
        : lmHeadForward(gpu, { logits: this.logits, inp: a("lnf"), wte, N: B, C, V })),
    );
    this.ops = ops;
  }

  #prefillGraph(len: number): Graph {
    const ctx = this.gpt.config.context;
    const T = Math.min(ctx, Math.ceil(len / BUCKET) * BUCKET);
    let g = this.#prefill.get(T);
    if (!g) {
      g = new Graph(this.gpt, { B: this.B, T, training: false, ...this.#graphOptions });
      this.#prefill.set(T, g);
    }
    return g;
  }

  /**
   * Encodes the forward pass of up to B prompts (each non-empty, shorter than the context), the
   * copy of their q, k, v into the cache, and of each row's logits at its last prompt position
   * into `logits`. Writes the prompts into the graph's inputs now (queued before the encoder).
   */
  encodePrefill(enc: GPUCommandEncoder, prompts: readonly (readonly number[])[]): void {
    const gpu = this.gpt.gpu;
    const { context: ctx, width: C, layers: L, vocabSize: V } = this.gpt.config;
    const graph = this.#prefillGraph(Math.max(...prompts.map((r) => r.length)));
    const T = graph.T;
    const inputs = new Uint32Array(this.B * T);
    prompts.forEach((r, b) => inputs.set(r, b * T));
    const inp = graph.io.get("inputs");
    gpu.device.queue.writeBuffer(inp.buffer, inp.offset, inputs);
    const pass = enc.beginComputePass();
    encodeOps(pass, graph.forward);
    pass.end();
    const rowBytes = 3 * C * 4;
    for (let l = 0; l < L; l++) {
      const src = graph.acts.get(`${l}.qkv`), dst = this.#cache.get(`${l}`);
      for (let b = 0; b < prompts.length; b++) {
        enc.copyBufferToBuffer(
          src.buffer,
          src.offset + b * T * rowBytes,
          dst.buffer,
          dst.offset + b * ctx * rowBytes,
          T * rowBytes,
        );
      }
    }
    prompts.forEach((r, b) => {
      const row = graph.logitsRow(b * T + r.length - 1);
      enc.copyBufferToBuffer(
        row.buffer,
        row.offset,
        this.logits.buffer,
        this.logits.offset + b * V * 4,
        V * 4,
      );
    });
  }

  /** Frees the GPU memory. */
  destroy(): void {
    this.#cache.destroy();
    this.#acts.destroy();
    this.#io.destroy();
    for (const g of this.#prefill.values()) g.destroy();
  }
}

/** The per-row activations of a block and their width in multiples of C. */
const ACTS: readonly [string, number][] = [
  ["ln1", 1],
  ["qkv", 3],
  ["atty", 1],
  ["attproj", 1],
  ["residual2", 1],
  ["ln2", 1],
  ["fch", 4],
  ["fch_gelu", 4],
  ["fcproj", 1],
  ["residual3", 1],
];
