/**
 * Incremental decoding with a KV cache: the token and position embedding of one new token per row
 * at per-row positions, the write of its q, k, v into the cache, and the attention of its query
 * over the cached positions. The cache of a layer has the layout of that layer's qkv activation
 * (B, T, 3C), so a full forward pass over the prompts fills it.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform, GpuError } from "../gpu/device.ts";
import { getKernel, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./kv_cache.wgsl" with { type: "text" };
import { type VocabRows, vocabRows } from "./encoder.ts";

/** Invocations per workgroup of the element-wise entry points. */
const WG = 64;
/** Invocations per workgroup of attention_decode (one per (row, head)). */
const WG_ATT = 4;
/** The largest head size attention_decode holds in registers (MAX_HS4 * 4 in the WGSL). */
const MAX_HS = 128;
/** Loop iterations an invocation may take on CPU adapters. */
const CPU_LOOP_BUDGET = 65535;

interface Sizes {
  B: number;
  T: number;
  C: number;
  NH: number;
}

function uniform(gpu: Gpu, label: string, { B, T, C, NH }: Sizes): GPUBuffer {
  return createUniform(gpu, params([B, T, C, NH, { f32: 1 / Math.sqrt(C / NH) }]), label);
}

function need(label: string, t: Tensor, n: number, what: string): void {
  if (t.length < n) {
    throw new RangeError(`${label}: ${t.name} has ${t.length} elements, needs ${n} (${what})`);
  }
}

function dispatch(gpu: Gpu, label: string, invocations: number, wg: number): [number] {
  const n = Math.ceil(invocations / wg);
  if (n > gpu.limits.maxComputeWorkgroupsPerDimension) {
    throw new GpuError(`${label}: ${invocations} invocations are too many for one dispatch`);
  }
  return [n];
}

/**
 * out (B, C) = wte[tokens[b]] + wpe[pos[b]] for each row b. Written. wte (V, C) whole or as
 * pieces (one op each, writing the rows whose token the piece holds).
 */
export function embedAt(
  gpu: Gpu,
  args: {
    out: Tensor;
    tokens: Tensor;
    pos: Tensor;
    wte: Tensor | readonly VocabRows[];
    wpe: Tensor;
    B: number;
    C: number;
  },
): Op[] {
  const { out, tokens, pos, wpe, B, C } = args;
  const label = "embed_at";
  need(label, out, B * C, "B*C");
  need(label, tokens, B, "B");
  need(label, pos, B, "B");
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "embed_at",
    bindings: ["write", "read", "read", "read", "read", "uniform"],
    constants: { WG },
  });
  const size = dispatch(gpu, label, B * C, WG);
  return vocabRows(label, args.wte, C).map(({ tensor, start, count }) => {
    const u = createUniform(gpu, params([B, 1, C, 1, { f32: 1 }, start, count]), `${label}.params`);
    return makeOp(gpu, kernel, [out, tokens, pos, tensor, wpe, u], size);
  });
}

/**
 * One decoding step of attention. First `fresh` (B, 3C), the q, k, v of the new token of each row,
 * is written into `cache` (B, T, 3C) at position pos[b] (< T); then out (B, C) = softmax(q·k /
 * sqrt(hs)) v over positions 0..pos[b] of row b. Two ops, in order.
 */
export function attentionDecode(
  gpu: Gpu,
  args: {
    out: Tensor;
    cache: Tensor;
    fresh: Tensor;
    pos: Tensor;
    B: number;
    T: number;
    C: number;
    NH: number;
  },
): Op[] {
  const { out, cache, fresh, pos, B, T, C, NH } = args;
  const label = "attention_decode";
  if (C % NH !== 0) throw new RangeError(`${label}: C = ${C} is not a multiple of NH = ${NH}`);
  const hs = C / NH;
  if (hs % 4 !== 0 || hs > MAX_HS) {
    throw new RangeError(`${label}: head size ${hs} must be a multiple of 4 and at most ${MAX_HS}`);
  }
  if (gpu.isCpu && 2 * T * (hs / 2 + 1) > CPU_LOOP_BUDGET) {
    throw new GpuError(
      `${label}: a context of ${T} with head size ${hs} exceeds the loop budget of CPU adapters: ` +
        `generate without the cache`,
    );
  }
  need(label, out, B * C, "B*C");
  need(label, cache, B * T * 3 * C, "B*T*3C");
  need(label, fresh, B * 3 * C, "B*3C");
  need(label, pos, B, "B");
  const write = getKernel(gpu, {
    code,
    entryPoint: "cache_write",
    bindings: ["write", "read", "read", "uniform"],
    constants: { WG },
  });
  const attend = getKernel(gpu, {
    code,
    entryPoint: "attention_decode",
    bindings: ["write", "read", "read", "uniform"],
    constants: { WG: WG_ATT, HS4: hs / 4 },
  });
  const u = uniform(gpu, `${label}.params`, { B, T, C, NH });
  return [
    makeOp(gpu, write, [cache, fresh, pos, u], dispatch(gpu, "cache_write", B * 3 * C, WG)),
    makeOp(gpu, attend, [out, cache, pos, u], dispatch(gpu, label, B * NH, WG_ATT)),
  ];
}
