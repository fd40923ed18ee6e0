/**
 * GPT-2 on WebGPU: the parameter table, GPT-2 initialisation, and the forward and backward passes
 * as lists of ops (llm.c's `gpt2_forward` / `gpt2_backward`, in mirrored order).
 *
 * Internal tensor names are Hugging Face `GPT2LMHeadModel` names; matrices are stored as
 * (out, in) row-major (llm.c's layout), which is the transpose of Hugging Face's Conv1D.
 *
 * A model with the scalar head (`config.head === "scalar"`, reward and value models) has one more
 * matrix, `score.weight` (1, C) (Hugging Face `GPT2ForSequenceClassification`, no bias), and its
 * graph computes `values` (B,T) = lnf @ score.weight^T instead of the logits. Its backward pass
 * starts from `dvalues` (B,T), which the CPU uploads into the io table.
 *
 * The parameter table and {@linkcode Gpt} are model/params.ts's, a block's forward ops
 * model/block.ts's (both re-exported here).
 *
 * @module
 */
import type { Op, Tensor } from "../gpu/kernel.ts";
import { type TensorSpec, TensorTable } from "./tensors.ts";
import type { Gpt } from "./params.ts";
import { blockForward, geluFusion } from "./block.ts";
import { encoderBackward, encoderForward } from "../kernels/encoder.ts";
import { layernormBackward, layernormForward } from "../kernels/layernorm.ts";
import { matmulBackward, matmulForward } from "../kernels/matmul.ts";
import {
  attentionBackward,
  attentionForward,
  flashAttentionBackward,
  flashAttentionForward,
} from "../kernels/attention.ts";
import { geluBackward } from "../kernels/gelu.ts";
import { crossEntropyForward, crossEntropyFused, sumReduce } from "../kernels/crossentropy.ts";
import {
  bindingLimit,
  gcd,
  lmHeadBackward,
  lmHeadForward,
  splitRanges,
  view,
  vocabPieces,
  vocabRowsOf,
} from "./split.ts";

export { blockForward, geluFusion } from "./block.ts";
export { BOUND_IN_PIECES, Gpt, initialParameters, parameterSpecs, readTable } from "./params.ts";

/** What a graph is built for. */
export interface GraphOptions {
  /** Batch size. */
  B: number;
  /** Sequence length (at most the model's context). */
  T: number;
  /** Build the backward pass too (needs the model's gradients). */
  training: boolean;
  /**
   * Largest tensor one binding may hold, in bytes (default: the adapter's
   * maxStorageBufferBindingSize). Larger logits are split by rows, larger attention matrices by
   * batch, and a larger token embedding by token ids; tests set it low to exercise the split.
   */
  maxBindingBytes?: number;
  /**
   * How attention keeps what its backward needs: `"matrix"`, the softmax probabilities
   * (B, NH, T, T) per layer, or `"flash"`, one log-sum-exp per query row (B, NH, T), from which
   * the backward recomputes them (kernels/attention_flash.wgsl). Default: {@linkcode attentionMode}.
   */
  attention?: AttentionMode;
  /**
   * Run the MLP's GELU inside its products: the fc product writes gelu(fch) too, and the fc
   * projection's input gradient comes out multiplied by gelu'(fch). Default: {@linkcode geluFusion}.
   */
  fuseGelu?: boolean;
}

/** The attention of a graph: probabilities kept (`"matrix"`) or recomputed (`"flash"`). */
export type AttentionMode = "matrix" | "flash";

/**
 * The attention graphs get when they do not say: `"matrix"`, the faster on every adapter measured
 * (flash attention trained GPT-2 124M at 0.55x its speed on an H100, and slower still on lavapipe),
 * while `"flash"` saves the T x T memory, most of GPT-2's activations. Benchmarks and the stages'
 * `--attention` flag set it.
 */
export const attentionMode: { value: AttentionMode } = { value: "matrix" };

/**
 * The activations and ops of one batch shape: `forward` (tokens → logits), the loss (fused with the
 * logits gradient when training), and `backward`. Inputs live in the `io` table: `inputs` (B,T)
 * u32, `targets` (B,T) u32, `weights` (B,T) f32, and the token buckets of the embedding backward.
 *
 * With the scalar head, `forward` ends in `values` (B,T) (no logits, no loss ops), and `backward`
 * starts from the io tensor `dvalues` (B,T) that the caller fills with ∂loss/∂values.
 */
export class Graph {
  /** The model it runs. */
  readonly gpt: Gpt;
  /** Rows. */
  readonly B: number;
  /** Tokens per row. */
  readonly T: number;
  /** The activations. */
  readonly acts: TensorTable;
  /** Inputs, targets, weights and token buckets: one buffer written per step. */
  readonly io: TensorTable;
  /** Shared activation gradients (one layer's worth, reused by every layer). */
  readonly dacts: TensorTable | undefined;
  /** Whether the model has the scalar head (`values` and `dvalues` instead of logits and losses). */
  readonly scalar: boolean;
  /** Tokens → logits (B,T,V), or values (B,T) with the scalar head. */
  readonly forward: Op[];
  /** Logits → per-position losses → `loss` (1); logits left intact. */
  readonly evalLoss: Op[];
  /** Logits → `loss`, logits overwritten with their gradient (training only). */
  readonly trainLoss: Op[];
  /** Gradient of the loss → parameter gradients (+=). The residual gradient must be zeroed first. */
  readonly backward: Op[];
  /** Rows [start, start + count) of the logits held by each logits tensor (one unless split). */
  readonly logitChunks: readonly [number, number][];
  /** The logits tensors, one per chunk (none with the scalar head). */
  readonly #logits: Tensor[];
  /** How attention keeps what its backward needs (see {@linkcode GraphOptions.attention}). */
  readonly attention: AttentionMode;
  /**
   * Batch entries [start, start + count) of each attention matrix tensor (one unless split; none
   * with flash attention).
   */
  readonly attChunks: readonly [number, number][];
  /** Token ids [start, start + count) of each piece of the token embedding (one unless split). */
  readonly vocabChunks: readonly [number, number][];
  /** Whether the MLP's GELU runs inside its products (see {@linkcode GraphOptions.fuseGelu}). */
  readonly fuseGelu: boolean;

  /** The graph of `gpt` for (B, T) batches; built once, run every step. */
  constructor(gpt: Gpt, options: GraphOptions) {
    const { B, T, training } = options;
    const c = gpt.config;
    if (T > c.context) {
      throw new RangeError(`Sequence length ${T} is longer than the model's context ${c.context}`);
    }
    this.gpt = gpt;
    this.B = B;
    this.T = T;
    const scalar = c.head === "scalar";
    this.scalar = scalar;
    const gpu = gpt.gpu;
    const C = c.width, V = c.vocabSize, NH = c.heads, L = c.layers, N = B * T;
    // Tensors larger than one binding are split: the logits by rows (starts 64 rows apart keep
    // every row slice 256-byte aligned), the attention matrices by batch entries, the token
    // embedding (and its gradient) by token ids.
    const maxBinding = bindingLimit(gpu, options.maxBindingBytes);
    const logitChunks = scalar ? [] : splitRanges(N, V * 4, maxBinding, 64, "The logits");
    const flash = (options.attention ?? attentionMode.value) === "flash";
    this.attention = flash ? "flash" : "matrix";
    const fuseGelu = options.fuseGelu ?? geluFusion.value;
    this.fuseGelu = fuseGelu;
    const attChunks = flash ? [] : splitRanges(
      B,
      NH * T * T * 4,
      maxBinding,
      64 / gcd(T * C, 64),
      `Attention (${NH} heads x ${T} x ${T})`,
    );
    const vocabChunks = vocabPieces(V, C, maxBinding);
    this.logitChunks = logitChunks;
    this.attChunks = attChunks;
    this.vocabChunks = vocabChunks;
    const wte = vocabRowsOf(gpt.param("transformer.wte.weight"), vocabChunks, C);
    const chunkName = (name: string, k: number, n: number) => (n === 1 ? name : `${name}.${k}`);
    const actSpecs: TensorSpec[] = [{ name: "encoded", shape: [B, T, C] }];
    for (let l = 0; l < L; l++) {
      const s = (name: string, shape: number[]) => actSpecs.push({ name: `${l}.${name}`, shape });
      s("ln1", [B, T, C]);
      s("ln1_mean", [B, T]);
      s("ln1_rstd", [B, T]);
      s("qkv", [B, T, 3 * C]);
      s("atty", [B, T, C]);
      attChunks.forEach(([, nb], k) => s(chunkName("att", k, attChunks.length), [nb, NH, T, T]));
      if (flash) s("lse", [B, NH, T]);
      s("attproj", [B, T, C]);
      s("residual2", [B, T, C]);
      s("ln2", [B, T, C]);
      s("ln2_mean", [B, T]);
      s("ln2_rstd", [B, T]);
      s("fch", [B, T, 4 * C]);
      s("fch_gelu", [B, T, 4 * C]);
      s("fcproj", [B, T, C]);
      s("residual3", [B, T, C]);
    }
    actSpecs.push(
      { name: "lnf", shape: [B, T, C] },
      { name: "lnf_mean", shape: [B, T] },
      { name: "lnf_rstd", shape: [B, T] },
    );
    if (scalar) actSpecs.push({ name: "values", shape: [B, T] });
    else {
      logitChunks.forEach(([, rows], k) =>
        actSpecs.push({ name: chunkName("logits", k, logitChunks.length), shape: [rows, V] })
      );
      actSpecs.push({ name: "losses", shape: [B, T] }, { name: "loss", shape: [1] });
    }
    this.acts = TensorTable.create(gpu, `acts ${B}x${T}`, actSpecs);
    this.io = TensorTable.create(gpu, `io ${B}x${T}`, [
      { name: "inputs", shape: [B, T] },
      { name: "targets", shape: [B, T] },
      { name: "weights", shape: [B, T] },
      { name: "bucketStart", shape: [V + 1] },
      { name: "bucketPos", shape: [B, T] },
      ...(scalar ? [{ name: "dvalues", shape: [B, T] }] : []),
    ], { contiguous: true });
    const a = (name: string) => this.acts.get(name);
    const p = (name: string) => gpt.param(name);
    const io = (name: string) => this.io.get(name);
    const h = (l: number) => `transformer.h.${l}.`;
    const residualIn = (l: number) => (l === 0 ? a("encoded") : a(`${l - 1}.residual3`));
    this.#logits = logitChunks.map((_, k) => a(chunkName("logits", k, logitChunks.length)));
    const logits = (k: number) => this.#logits[k];
    const att = (x: string, k: number) => a(`${x}${chunkName("att", k, attChunks.length)}`);
    const rowsOf = (t: Tensor, [r0, rows]: [number, number], width: number) =>
      view(t, r0 * width, rows * width);
    const batchOf = (t: Tensor, [b0, nb]: [number, number], width: number) =>
      view(t, b0 * T * width, nb * T * width);

    // ---- forward (llm.c gpt2_forward) ----
    const fwd: Op[] = [];
    fwd.push(...encoderForward(gpu, {
      out: a("encoded"), // (B,T,C)
      inp: io("inputs"),
      wte,
      wpe: p("transformer.wpe.weight"),
      B,
      T,
      C,
    }));
    for (let l = 0; l < L; l++) {
      fwd.push(...blockForward(gpu, {
        gpt,
        acts: a,
        l,
        residualIn: residualIn(l),
        N,
        fuseGelu,
        attention: (x) =>
          flash
            ? flashAttentionForward(gpu, {
              out: a(`${x}atty`), // (B,T,C)
              lse: a(`${x}lse`), // (B,NH,T)
              qkv: a(`${x}qkv`),
              B,
              T,
              C,
              NH,
            })
            : attChunks.flatMap((range, k) =>
              attentionForward(gpu, {
                out: batchOf(a(`${x}atty`), range, C), // (B,T,C)
                att: att(x, k), // (B,NH,T,T)
                qkv: batchOf(a(`${x}qkv`), range, 3 * C),
                B: range[1],
                T,
                C,
                NH,
              })
            ),
      }));
    }
    fwd.push(...layernormForward(gpu, {
      out: a("lnf"),
      mean: a("lnf_mean"),
      rstd: a("lnf_rstd"),
      inp: a(`${L - 1}.residual3`),
      weight: p("transformer.ln_f.weight"),
      bias: p("transformer.ln_f.bias"),
      N,
      C,
    }));
    if (scalar) {
      fwd.push(...matmulForward(gpu, {
        out: a("values"), // (B,T): the scalar head, OC = 1
        inp: a("lnf"),
        weight: p("score.weight"),
        N,
        C,
        OC: 1,
      }));
      this.forward = fwd;
    } else {
      logitChunks.forEach((range, k) =>
        fwd.push(...lmHeadForward(gpu, {
          logits: logits(k), // (B,T,V): the LM head is tied to the token embedding
          inp: rowsOf(a("lnf"), range, C),
          wte,
          N: range[1],
          C,
          V,
        }))
      );
      this.forward = fwd;
    }
    const lossArgs = logitChunks.map((range, k) => ({
      losses: rowsOf(a("losses"), range, 1),
      logits: logits(k),
      targets: rowsOf(io("targets"), range, 1),
      weights: rowsOf(io("weights"), range, 1),
      N: range[1],
      V,
    }));
    const sum = scalar ? [] : sumReduce(gpu, { out: a("loss"), inp: a("losses"), N });
    this.evalLoss = scalar
      ? []
      : [...lossArgs.flatMap((args) => crossEntropyForward(gpu, args)), ...sum];

    if (!training) {
      this.trainLoss = [];
      this.backward = [];
      this.dacts = undefined;
      return;
    }

    // ---- backward (llm.c gpt2_backward): the forward in reverse ----
    this.trainLoss = scalar
      ? []
      : [...lossArgs.flatMap((args) => crossEntropyFused(gpu, args)), ...sum];
    const dacts = TensorTable.create(gpu, `dacts ${B}x${T}`, [
      { name: "dresidual", shape: [B, T, C] },
      { name: "dbtc", shape: [B, T, C] },
      { name: "dqkv", shape: [B, T, 3 * C] },
      { name: "dfch", shape: [B, T, 4 * C] },
      ...(fuseGelu ? [] : [{ name: "dfch_gelu", shape: [B, T, 4 * C] }]),
      // scratch: the matrix's gradient, reused by every chunk; flash: D (rowsum(dout * out))
      flash
        ? { name: "dsum", shape: [B, NH, T] }
        : { name: "datt", shape: [attChunks[0][1], NH, T, T] },
    ]);
    this.dacts = dacts;
    const d = (name: string) => dacts.get(name);
    const g = (name: string) => gpt.grads.get(name);
    const dwte = vocabRowsOf(g("transformer.wte.weight"), vocabChunks, C);
    const bwd: Op[] = [];
    if (scalar) {
      // values = lnf @ score.weight^T; io "dvalues" holds dvalues (B,T)
      bwd.push(...matmulBackward(gpu, {
        dinp: d("dbtc"),
        dweight: g("score.weight"),
        dout: io("dvalues"),
        inp: a("lnf"),
        weight: p("score.weight"),
        N,
        C,
        OC: 1,
      }));
    } else {
      // logits = lnf @ wte^T; the logits tensors now hold dlogits
      logitChunks.forEach((range, k) =>
        bwd.push(...lmHeadBackward(gpu, {
          dinp: rowsOf(d("dbtc"), range, C),
          dwte,
          dlogits: logits(k),
          inp: rowsOf(a("lnf"), range, C),
          wte,
          N: range[1],
          C,
          V,
        }))
      );
    }
    bwd.push(...layernormBackward(gpu, {
      dinp: d("dresidual"),
      dweight: g("transformer.ln_f.weight"),
      dbias: g("transformer.ln_f.bias"),
      dout: d("dbtc"),
      inp: a(`${L - 1}.residual3`),
      weight: p("transformer.ln_f.weight"),
      mean: a("lnf_mean"),
      rstd: a("lnf_rstd"),
      N,
      C,
    }));
    for (let l = L - 1; l >= 0; l--) {
      const pre = h(l), x = `${l}.`;
      // residual3 = residual2 + fcproj: dresidual flows to both unchanged
      // fused: fcproj's input gradient goes through the GELU's backward in the same op
      bwd.push(...matmulBackward(gpu, {
        dinp: d(fuseGelu ? "dfch" : "dfch_gelu"),
        geluInput: fuseGelu ? a(`${x}fch`) : undefined,
        dweight: g(`${pre}mlp.c_proj.weight`),
        dbias: g(`${pre}mlp.c_proj.bias`),
        dout: d("dresidual"),
        inp: a(`${x}fch_gelu`),
        weight: p(`${pre}mlp.c_proj.weight`),
        N,
        C: 4 * C,
        OC: C,
      }));
      if (!fuseGelu) {
        bwd.push(
          ...geluBackward(gpu, { dinp: d("dfch"), inp: a(`${x}fch`), dout: d("dfch_gelu") }),
        );
      }
      bwd.push(...matmulBackward(gpu, {
        dinp: d("dbtc"),
        dweight: g(`${pre}mlp.c_fc.weight`),
        dbias: g(`${pre}mlp.c_fc.bias`),
        dout: d("dfch"),
        inp: a(`${x}ln2`),
        weight: p(`${pre}mlp.c_fc.weight`),
        N,
        C,
        OC: 4 * C,
      }));
      bwd.push(...layernormBackward(gpu, {
        dinp: d("dresidual"), // += : residual2 also feeds residual3
        dweight: g(`${pre}ln_2.weight`),
        dbias: g(`${pre}ln_2.bias`),
        dout: d("dbtc"),
        inp: a(`${x}residual2`),
        weight: p(`${pre}ln_2.weight`),
        mean: a(`${x}ln2_mean`),
        rstd: a(`${x}ln2_rstd`),
        N,
        C,
      }));
      // residual2 = residualIn + attproj
      bwd.push(...matmulBackward(gpu, {
        dinp: d("dbtc"),
        dweight: g(`${pre}attn.c_proj.weight`),
        dbias: g(`${pre}attn.c_proj.bias`),
        dout: d("dresidual"),
        inp: a(`${x}atty`),
        weight: p(`${pre}attn.c_proj.weight`),
        N,
        C,
        OC: C,
      }));
      if (flash) {
        bwd.push(...flashAttentionBackward(gpu, {
          dqkv: d("dqkv"),
          dsum: d("dsum"),
          dout: d("dbtc"),
          qkv: a(`${x}qkv`),
          out: a(`${x}atty`),
          lse: a(`${x}lse`),
          B,
          T,
          C,
          NH,
        }));
      }
      attChunks.forEach((range, k) =>
        bwd.push(...attentionBackward(gpu, {
          dqkv: batchOf(d("dqkv"), range, 3 * C),
          datt: view(d("datt"), 0, range[1] * NH * T * T),
          dout: batchOf(d("dbtc"), range, C),
          qkv: batchOf(a(`${x}qkv`), range, 3 * C),
          att: att(x, k),
          B: range[1],
          T,
          C,
          NH,
        }))
      );
      bwd.push(...matmulBackward(gpu, {
        dinp: d("dbtc"),
        dweight: g(`${pre}attn.c_attn.weight`),
        dbias: g(`${pre}attn.c_attn.bias`),
        dout: d("dqkv"),
        inp: a(`${x}ln1`),
        weight: p(`${pre}attn.c_attn.weight`),
        N,
        C,
        OC: 3 * C,
      }));
      bwd.push(...layernormBackward(gpu, {
        dinp: d("dresidual"), // += : now the gradient of residualIn(l)
        dweight: g(`${pre}ln_1.weight`),
        dbias: g(`${pre}ln_1.bias`),
        dout: d("dbtc"),
        inp: residualIn(l),
        weight: p(`${pre}ln_1.weight`),
        mean: a(`${x}ln1_mean`),
        rstd: a(`${x}ln1_rstd`),
        N,
        C,
      }));
    }
    bwd.push(...encoderBackward(gpu, {
      dwte,
      dwpe: g("transformer.wpe.weight"),
      dout: d("dresidual"),
      bucketStart: io("bucketStart"),
      bucketPos: io("bucketPos"),
      B,
      T,
      C,
      V,
    }));
    this.backward = bwd;
  }

  /** Where the logits (V values) of row `row` (= b * T + t) live: buffer and byte offset. */
  logitsRow(row: number): { buffer: GPUBuffer; offset: number } {
    const k = this.logitChunks.findIndex(([r0, n]) => row >= r0 && row < r0 + n);
    if (k < 0) throw new RangeError(`Row ${row} is outside the logits`);
    const t = this.#logits[k];
    return { buffer: t.buffer, offset: t.offset + (row - this.logitChunks[k][0]) * t.shape[1] * 4 };
  }

  /** The residual-stream gradient, which `backward` accumulates into and must start at zero. */
  get dresidual(): Tensor {
    if (!this.dacts) throw new Error("This graph was built without training");
    return this.dacts.get("dresidual");
  }

  /** Frees the GPU memory of activations and inputs. */
  destroy(): void {
    this.acts.destroy();
    this.io.destroy();
    this.dacts?.destroy();
  }
}
