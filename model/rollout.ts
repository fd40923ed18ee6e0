/**
 * Batched generation for RLHF rollouts and evaluation: B prompts at once, each row with its own
 * length, sampled with temperature / top-k / top-p (temperature 0: greedy).
 *
 * Generation uses a KV cache. A full forward pass over the right-padded prompts (a {@linkcode Graph}
 * of B rows and the smallest length bucket that holds them) computes every layer's q, k, v; they are
 * copied into the cache (B, context, 3C) per layer. Each later step runs the model on one new token
 * per row at that row's own position (kernels/kv_cache.ts for the embedding and the attention,
 * the ordinary kernels with N = B rows for the rest) and reads back only B rows of logits. The
 * arithmetic is that of a full recomputation, so greedy decoding gives the same tokens.
 *
 * @module
 */
import { throwUncapturedErrors } from "../gpu/device.ts";
import { assertNoGpuErrors, encodeOps, type Op } from "../gpu/kernel.ts";
import { Rng } from "../data/rng.ts";
import { attentionDecode, embedAt } from "../kernels/kv_cache.ts";
import { layernormForward } from "../kernels/layernorm.ts";
import { type AttentionMode, blockForward, type Gpt, Graph, type GraphOptions } from "./gpt.ts";
import { bindingLimit, lmHeadForward, vocabPieces, vocabRowsOf } from "./split.ts";
import { sampleToken } from "./generate.ts";
import { type TensorSpec, TensorTable } from "./tensors.ts";

/** Sampling settings of a batch of rollouts. */
export interface RolloutOptions {
  /** Maximum number of new tokens per row. */
  maxTokens: number;
  /** 0 means greedy. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0: all). Default 0. */
  topK?: number;
  /** Nucleus sampling threshold (1: all). Default 1. */
  topP?: number;
  /** RNG of the sampling. */
  rng?: Rng;
  /** A row stops after this token (it is included in its output). */
  stopToken?: number;
}

/** The generated continuations of a batch. */
export interface Rollout {
  /** New tokens of each row (the prompt is not included; the stop token is, when produced). */
  tokens: number[][];
  /** Whether each row ended with the stop token. */
  finished: boolean[];
  /** The prompt ids each row actually used (a prompt longer than the context loses its start). */
  prompts: number[][];
}

/** Options of {@linkcode Generator}. */
export interface GeneratorOptions {
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

/** Generates continuations of up to B prompts at once with a KV cache. */
export class Generator {
  readonly gpt: Gpt;
  readonly B: number;
  readonly #cache: TensorTable;
  readonly #acts: TensorTable;
  readonly #io: TensorTable;
  readonly #decode: Op[];
  readonly #prefill = new Map<number, Graph>();
  readonly #staging: GPUBuffer;
  readonly #graphOptions: Pick<GraphOptions, "maxBindingBytes" | "attention">;

  constructor(gpt: Gpt, B: number, options: GeneratorOptions = {}) {
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
      const s = (name: string, shape: number[]) => specs.push({ name: `${l}.${name}`, shape });
      s("ln1", [B, C]);
      s("ln1_mean", [B]);
      s("ln1_rstd", [B]);
      s("qkv", [B, 3 * C]);
      s("atty", [B, C]);
      s("attproj", [B, C]);
      s("residual2", [B, C]);
      s("ln2", [B, C]);
      s("ln2_mean", [B]);
      s("ln2_rstd", [B]);
      s("fch", [B, 4 * C]);
      s("fch_gelu", [B, 4 * C]);
      s("fcproj", [B, C]);
      s("residual3", [B, C]);
    }
    specs.push(
      { name: "lnf", shape: [B, C] },
      { name: "lnf_mean", shape: [B] },
      { name: "lnf_rstd", shape: [B] },
      { name: "logits", shape: [B, V] },
    );
    this.#acts = TensorTable.create(gpu, `decode ${B}`, specs);
    this.#io = TensorTable.create(gpu, `decode io ${B}`, [
      { name: "tokens", shape: [B] },
      { name: "pos", shape: [B] },
    ], { contiguous: true });
    const a = (name: string) => this.#acts.get(name);
    const p = (name: string) => gpt.param(name);
    const io = (name: string) => this.#io.get(name);
    const N = B;
    const ops: Op[] = [];
    ops.push(...embedAt(gpu, {
      out: a("encoded"), // (B,C)
      tokens: io("tokens"),
      pos: io("pos"),
      wte,
      wpe: p("transformer.wpe.weight"),
      B,
      C,
    }));
    for (let l = 0; l < L; l++) {
      ops.push(...blockForward(gpu, {
        gpt,
        acts: a,
        l,
        residualIn: l === 0 ? a("encoded") : a(`${l - 1}.residual3`),
        N,
        attention: (x) =>
          attentionDecode(gpu, {
            out: a(`${x}atty`), // (B,C)
            cache: this.#cache.get(`${l}`), // (B,T,3C)
            fresh: a(`${x}qkv`),
            pos: io("pos"),
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
      N,
      C,
    }));
    ops.push(...lmHeadForward(gpu, {
      logits: a("logits"), // (B,V), tied LM head
      inp: a("lnf"),
      wte,
      N,
      C,
      V,
    }));
    this.#decode = ops;
    this.#staging = gpu.device.createBuffer({
      label: "rollout logits",
      size: Math.ceil((B * V) / 4) * 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Waits until every kernel built so far is known to be valid. */
  async ready(): Promise<void> {
    await assertNoGpuErrors();
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

  async #readLogits(enc: GPUCommandEncoder): Promise<Float32Array> {
    const gpu = this.gpt.gpu;
    const n = this.B * this.gpt.config.vocabSize;
    gpu.device.queue.submit([enc.finish()]);
    await this.#staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(this.#staging.getMappedRange(0, n * 4).slice(0));
    this.#staging.unmap();
    throwUncapturedErrors();
    return out;
  }

  /**
   * Continues up to B prompts (token ids, each non-empty). Rows stop at the stop token, after
   * `maxTokens` new tokens, or when the context is full. One wait on the GPU per new token.
   */
  async generate(
    prompts: readonly (readonly number[])[],
    options: RolloutOptions,
  ): Promise<Rollout> {
    const B = this.B;
    if (prompts.length === 0 || prompts.length > B) {
      throw new RangeError(`Generator takes 1 to ${B} prompts, got ${prompts.length}`);
    }
    const gpu = this.gpt.gpu;
    const { context: ctx, vocabSize: V, width: C, layers: L } = this.gpt.config;
    const rows = prompts.map((p) => {
      if (p.length === 0) throw new RangeError("Every prompt needs at least one token");
      return p.slice(-(ctx - 1));
    });
    const maxLen = Math.max(...rows.map((r) => r.length));
    const graph = this.#prefillGraph(maxLen);
    const T = graph.T;
    const inputs = new Uint32Array(B * T);
    rows.forEach((r, b) => inputs.set(r, b * T));
    const q = gpu.device.queue;
    const inp = graph.io.get("inputs");
    q.writeBuffer(inp.buffer, inp.offset, inputs);
    let enc = gpu.device.createCommandEncoder({ label: "prefill" });
    let pass = enc.beginComputePass();
    encodeOps(pass, graph.forward);
    pass.end();
    const rowBytes = 3 * C * 4;
    for (let l = 0; l < L; l++) {
      const src = graph.acts.get(`${l}.qkv`), dst = this.#cache.get(`${l}`);
      for (let b = 0; b < rows.length; b++) {
        enc.copyBufferToBuffer(
          src.buffer,
          src.offset + b * T * rowBytes,
          dst.buffer,
          dst.offset + b * ctx * rowBytes,
          T * rowBytes,
        );
      }
    }
    rows.forEach((r, b) => {
      const logits = graph.logitsRow(b * T + r.length - 1);
      enc.copyBufferToBuffer(
        logits.buffer,
        logits.offset,
        this.#staging,
        b * V * 4,
        V * 4,
      );
    });
    let all = await this.#readLogits(enc);
    const rng = options.rng ?? new Rng(Date.now());
    const sampling = {
      temperature: options.temperature ?? 1,
      topK: options.topK ?? 0,
      topP: options.topP ?? 1,
      rng,
    };
    const out: number[][] = rows.map(() => []);
    const finished = rows.map(() => false);
    const active = rows.map(() => true);
    const tokens = new Uint32Array(B);
    const pos = new Uint32Array(B);
    const io = this.#io;
    for (;;) {
      let any = false;
      for (let b = 0; b < rows.length; b++) {
        if (!active[b]) continue;
        const id = sampleToken(all.subarray(b * V, (b + 1) * V), sampling);
        out[b].push(id);
        const length = rows[b].length + out[b].length;
        if (id === options.stopToken) {
          finished[b] = true;
          active[b] = false;
        } else if (out[b].length >= options.maxTokens || length >= ctx) active[b] = false;
        else any = true;
        tokens[b] = id;
        pos[b] = Math.min(length - 1, ctx - 1);
      }
      if (!any) break;
      q.writeBuffer(io.buffers[0], io.get("tokens").offset, tokens);
      q.writeBuffer(io.buffers[0], io.get("pos").offset, pos);
      enc = gpu.device.createCommandEncoder({ label: "decode" });
      pass = enc.beginComputePass();
      encodeOps(pass, this.#decode);
      pass.end();
      const lg = this.#acts.get("logits");
      enc.copyBufferToBuffer(lg.buffer, lg.offset, this.#staging, 0, B * V * 4);
      all = await this.#readLogits(enc);
    }
    return { tokens: out, finished, prompts: rows };
  }

  /** Frees the GPU memory. */
  destroy(): void {
    this.#cache.destroy();
    this.#acts.destroy();
    this.#io.destroy();
    for (const g of this.#prefill.values()) g.destroy();
    this.#staging.destroy();
  }
}
