/**
 * Causal multi-head self-attention (GPT-2 layout), forward and backward.
 *
 * qkv (B, T, 3C) holds q, k and v side by side; head h of NH uses channels h*hs .. (h+1)*hs of
 * each (hs = C / NH). The forward saves the softmax probabilities att (B, NH, T, T) for the
 * backward. T is the sequence length of the batch (it may be less than the model's context).
 *
 * {@linkcode flashAttentionForward} and {@linkcode flashAttentionBackward} compute the same
 * without the T x T matrix (kernels/attention_flash.wgsl): the forward saves one log-sum-exp per
 * query row (B, NH, T) and the backward recomputes the probabilities from it.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform, GpuError } from "../gpu/device.ts";
import {
  type BindingKind,
  getKernel,
  makeOp,
  type Op,
  params,
  type Tensor,
} from "../gpu/kernel.ts";
import headCode from "./attention_head.wgsl" with { type: "text" };
import rowsCode from "./attention.wgsl" with { type: "text" };
import flashCode from "./attention_flash.wgsl" with { type: "text" };

/** The two modules, each behind the head layout they share. */
const source = headCode + rowsCode;
const flashSource = headCode + flashCode;
import { hasSubgroupKernels } from "./matmul.ts";
import { bmm } from "./bmm.ts";
import { causalSoftmaxBackward, causalSoftmaxForward } from "./softmax.ts";

/**
 * Which kernels run: `"rows"`, the register kernels of attention.wgsl (one invocation per row or
 * column of a head's T x T matrix: fast on CPU adapters), or `"bmm"`, batched tiled products
 * (kernels/bmm.wgsl) around a row softmax (kernels/softmax.wgsl), for GPUs. The default follows
 * `gpu.isCpu`; tests force each.
 */
export type AttentionVariant = "rows" | "bmm";

function pickVariant(gpu: Gpu, variant: AttentionVariant | undefined): AttentionVariant {
  return variant ?? (gpu.isCpu ? "rows" : "bmm");
}

/** The WGSL with one of its two versions of the row loads (see attention.wgsl). */
const section = (name: string) => new RegExp(`// BEGIN ${name}\n[\\s\\S]*?// END ${name}\n`);
const CODE = {
  subgroup: source.replace(section("plain rows"), ""),
  plain: source.replace(section("subgroup rows"), ""),
};

/**
 * The module for this device: shared row loads through subgroup broadcasts where the workgroup
 * is one 8-lane subgroup (lavapipe), plain loads elsewhere. `subgroupRows` forces it (tests).
 */
function moduleCode(gpu: Gpu, subgroupRows?: boolean): string {
  return (subgroupRows ?? (hasSubgroupKernels(gpu) && WG === 8)) ? CODE.subgroup : CODE.plain;
}

/** Invocations per workgroup; each owns two rows (or columns) of the T x T matrix. */
const WG = 8;
/** Rows (or columns) of the T x T matrix per workgroup. */
const ROWS = 2 * WG;
/** The largest head size the kernels hold in registers (MAX_HS4 * 4 in the WGSL). */
const MAX_HS = 128;

interface Sizes {
  B: number;
  T: number;
  C: number;
  NH: number;
}

/** The sizes of one call and the kernels it runs. */
interface Options extends Sizes {
  variant?: AttentionVariant;
  /** `"rows"` variant: broadcast the shared rows over a subgroup (default: where it pays). */
  subgroupRows?: boolean;
}

function check(label: string, { B, T, C, NH }: Sizes, tensors: [Tensor, number, string][]): number {
  for (const [name, v] of Object.entries({ B, T, C, NH })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${label}: ${name} = ${v} must be >= 1`);
    }
  }
  if (C % NH !== 0) throw new RangeError(`${label}: C = ${C} is not a multiple of NH = ${NH}`);
  const hs = C / NH;
  if (hs % 4 !== 0 || hs > MAX_HS) {
    throw new RangeError(`${label}: head size ${hs} must be a multiple of 4 and at most ${MAX_HS}`);
  }
  for (const [t, n, what] of tensors) {
    if (t.length < n) {
      throw new RangeError(`${label}: ${t.name} has ${t.length} elements, needs ${n} (${what})`);
    }
  }
  return hs;
}

function uniform(gpu: Gpu, label: string, { T, C, NH }: Sizes, hs: number): GPUBuffer {
  return createUniform(gpu, params([T, C / 4, NH, { f32: 1 / Math.sqrt(hs) }]), label);
}

/**
 * out (B, T, C) = attention(qkv); att (B, NH, T, T) saves the softmax probabilities for backward
 * (entries above the diagonal are written as 0). Written, not accumulated.
 */
export function attentionForward(
  gpu: Gpu,
  args: Options & { out: Tensor; att: Tensor; qkv: Tensor },
): Op[] {
  const { out, att, qkv, B, T, C, NH } = args;
  const hs = check("attentionForward", args, [
    [out, B * T * C, "B*T*C"],
    [att, B * NH * T * T, "B*NH*T*T"],
    [qkv, B * T * 3 * C, "B*T*3C"],
  ]);
  if (pickVariant(gpu, args.variant) === "bmm") {
    const head = { zo: T * 3 * C, zi: hs }; // head (b, h) of q, k or v inside qkv
    const mat = { row: T, col: 1, zo: NH * T * T, zi: T * T }; // att[b, h]
    return [
      // att = scale · q @ k^T (blocks above the diagonal skipped)
      bmm(gpu, {
        c: { tensor: att, ...mat },
        a: { tensor: qkv, off: 0, row: 3 * C, col: 1, ...head },
        b: { tensor: qkv, off: C, row: 1, col: 3 * C, ...head },
        M: T,
        N: T,
        K: hs,
        ZO: B,
        ZI: NH,
        alpha: 1 / Math.sqrt(hs),
        causal: "upper-blocks",
        label: "attention_forward.scores",
      }),
      causalSoftmaxForward(gpu, { x: att, rows: B * NH * T, T }),
      // out[b, :, h] = att @ v
      bmm(gpu, {
        c: { tensor: out, row: C, col: 1, zo: T * C, zi: hs },
        a: { tensor: att, ...mat },
        b: { tensor: qkv, off: 2 * C, row: 3 * C, col: 1, ...head },
        M: T,
        N: hs,
        K: T,
        ZO: B,
        ZI: NH,
        causal: "k-to-row",
        label: "attention_forward.values",
      }),
    ];
  }
  const kernel = getKernel(gpu, {
    code: moduleCode(gpu, args.subgroupRows),
    entryPoint: "attention_forward",
    bindings: ["write", "write", "read", "uniform"],
    constants: { WG, HS4: hs / 4 },
  });
  const u = uniform(gpu, "attention_forward.params", args, hs);
  return [makeOp(gpu, kernel, [out, att, qkv, u], [Math.ceil(T / ROWS), NH, B])];
}

/**
 * dqkv (B, T, 3C) is written (=) with the gradient wrt q, k and v. datt (B, NH, T, T) is scratch
 * (it receives dS, the gradient wrt the pre-softmax scores, on and below the diagonal). Inputs:
 * dout (B, T, C), qkv, and att from the forward. Three ops, in order: a pass over rows (dS into
 * datt, dq), then dk and dv from passes over columns. Each output element has one owner: no
 * atomics, deterministic.
 */
export function attentionBackward(
  gpu: Gpu,
  args: Options & { dqkv: Tensor; datt: Tensor; dout: Tensor; qkv: Tensor; att: Tensor },
): Op[] {
  const { dqkv, datt, dout, qkv, att, B, T, C, NH } = args;
  const hs = check("attentionBackward", args, [
    [dqkv, B * T * 3 * C, "B*T*3C"],
    [datt, B * NH * T * T, "B*NH*T*T"],
    [dout, B * T * C, "B*T*C"],
    [qkv, B * T * 3 * C, "B*T*3C"],
    [att, B * NH * T * T, "B*NH*T*T"],
  ]);
  if (pickVariant(gpu, args.variant) === "bmm") {
    const head = { zo: T * 3 * C, zi: hs }; // head (b, h) of q, k, v (or their gradients)
    const outHead = { zo: T * C, zi: hs }; // head (b, h) of dout
    const mat = { row: T, col: 1, zo: NH * T * T, zi: T * T }; // att[b, h], datt[b, h]
    const matT = { ...mat, row: 1, col: T }; // its transpose
    const sizes = { ZO: B, ZI: NH };
    return [
      // datt = dP = dout @ v^T (blocks above the diagonal skipped)
      bmm(gpu, {
        c: { tensor: datt, ...mat },
        a: { tensor: dout, row: C, col: 1, ...outHead },
        b: { tensor: qkv, off: 2 * C, row: 1, col: 3 * C, ...head },
        M: T,
        N: T,
        K: hs,
        ...sizes,
        causal: "upper-blocks",
        label: "attention_backward.dprobs",
      }),
      // dv = att^T @ dout
      bmm(gpu, {
        c: { tensor: dqkv, off: 2 * C, row: 3 * C, col: 1, ...head },
        a: { tensor: att, ...matT },
        b: { tensor: dout, row: C, col: 1, ...outHead },
        M: T,
        N: hs,
        K: T,
        ...sizes,
        causal: "k-from-row",
        label: "attention_backward.dv",
      }),
      // datt = dS, the gradient wrt q·k
      causalSoftmaxBackward(gpu, {
        dx: datt,
        prob: att,
        rows: B * NH * T,
        T,
        scale: 1 / Math.sqrt(hs),
      }),
      // dq = dS @ k
      bmm(gpu, {
        c: { tensor: dqkv, off: 0, row: 3 * C, col: 1, ...head },
        a: { tensor: datt, ...mat },
        b: { tensor: qkv, off: C, row: 3 * C, col: 1, ...head },
        M: T,
        N: hs,
        K: T,
        ...sizes,
        causal: "k-to-row",
        label: "attention_backward.dq",
      }),
      // dk = dS^T @ q
      bmm(gpu, {
        c: { tensor: dqkv, off: C, row: 3 * C, col: 1, ...head },
        a: { tensor: datt, ...matT },
        b: { tensor: qkv, off: 0, row: 3 * C, col: 1, ...head },
        M: T,
        N: hs,
        K: T,
        ...sizes,
        causal: "k-from-row",
        label: "attention_backward.dk",
      }),
    ];
  }
  const bindings: BindingKind[] = [
    "write",
    "write",
    "read",
    "read",
    "read",
    "uniform",
  ];
  const constants = { WG, HS4: hs / 4 };
  const code = moduleCode(gpu, args.subgroupRows);
  const rows = getKernel(gpu, { code, entryPoint: "attention_backward_rows", bindings, constants });
  const dk = getKernel(gpu, { code, entryPoint: "attention_backward_dk", bindings, constants });
  const dv = getKernel(gpu, { code, entryPoint: "attention_backward_dv", bindings, constants });
  const u = uniform(gpu, "attention_backward.params", args, hs);
  const resources = [dqkv, datt, dout, qkv, att, u];
  const wg: [number, number, number] = [Math.ceil(T / ROWS), NH, B];
  return [
    makeOp(gpu, rows, resources, wg),
    makeOp(gpu, dk, resources, wg),
    makeOp(gpu, dv, resources, wg),
  ];
}

/** Rows per workgroup and the vec4s of one workgroup-memory tile, as in attention_flash.wgsl. */
const FLASH_BR = 64;
const FLASH_TILE4 = 512;
const FLASH_MAX_BC = 64;
/**
 * The tile on the OpenGL adapter, whose shader compiler takes a time growing with the square of a
 * workgroup array's size (one array of 64 / 512 / 1024 vec4s: 0.5 / 16 / 58 s cold, llvmpipe):
 * 128 vec4s (8 rows of a 64-wide head) instead of 512.
 */
const FLASH_TILE4_GL = 128;

function flashKernel(gpu: Gpu, entryPoint: string, bindings: BindingKind[], hs: number) {
  const tile4 = gpu.backend === "gl" ? FLASH_TILE4_GL : FLASH_TILE4;
  // Two tiles of vec4s and two rows of floats.
  const need = 2 * tile4 * 16 + 2 * FLASH_MAX_BC * 4;
  if (gpu.limits.maxComputeWorkgroupStorageSize < need) {
    throw new GpuError(
      `Flash attention needs ${need} bytes of workgroup memory; this adapter allows ` +
        `${gpu.limits.maxComputeWorkgroupStorageSize}: use --attention matrix`,
    );
  }
  return getKernel(gpu, {
    code: flashSource,
    entryPoint,
    bindings,
    constants: { HS4: hs / 4, TILE4: tile4 },
  });
}

/**
 * out (B, T, C) = attention(qkv), without the T x T matrix; lse (B, NH, T) saves the log of each
 * query row's sum of exponentials for {@linkcode flashAttentionBackward}. Both written.
 */
export function flashAttentionForward(
  gpu: Gpu,
  args: Sizes & { out: Tensor; lse: Tensor; qkv: Tensor },
): Op[] {
  const { out, lse, qkv, B, T, C, NH } = args;
  const hs = check("flashAttentionForward", args, [
    [out, B * T * C, "B*T*C"],
    [lse, B * NH * T, "B*NH*T"],
    [qkv, B * T * 3 * C, "B*T*3C"],
  ]);
  const kernel = flashKernel(gpu, "flash_forward", ["write", "write", "read", "uniform"], hs);
  const u = uniform(gpu, "flash_forward.params", args, hs);
  return [makeOp(gpu, kernel, [out, lse, qkv, u], [Math.ceil(T / FLASH_BR), NH, B])];
}

/**
 * dqkv (B, T, 3C) is written (=) with the gradient wrt q, k and v, from dout (B, T, C), the
 * forward's inputs qkv and outputs out and lse. dsum (B, NH, T) is scratch (it receives
 * D = rowsum(dout * out)). Two ops, in order: D and dq over query rows, then dk and dv over key
 * rows. Each output element has one owner: no atomics, deterministic.
 */
export function flashAttentionBackward(
  gpu: Gpu,
  args: Sizes & {
    dqkv: Tensor;
    dsum: Tensor;
    dout: Tensor;
    qkv: Tensor;
    out: Tensor;
    lse: Tensor;
  },
): Op[] {
  const { dqkv, dsum, dout, qkv, out, lse, B, T, C, NH } = args;
  const hs = check("flashAttentionBackward", args, [
    [dqkv, B * T * 3 * C, "B*T*3C"],
    [dsum, B * NH * T, "B*NH*T"],
    [dout, B * T * C, "B*T*C"],
    [qkv, B * T * 3 * C, "B*T*3C"],
    [out, B * T * C, "B*T*C"],
    [lse, B * NH * T, "B*NH*T"],
  ]);
  const rows = flashKernel(gpu, "flash_backward_rows", [
    "write",
    "write",
    "read",
    "read",
    "read",
    "read",
    "uniform",
  ], hs);
  const cols = flashKernel(gpu, "flash_backward_cols", [
    "write",
    "read",
    "read",
    "read",
    "read",
    "uniform",
  ], hs);
  const u = uniform(gpu, "flash_backward.params", args, hs);
  const wg: [number, number, number] = [Math.ceil(T / FLASH_BR), NH, B];
  return [
    makeOp(gpu, rows, [dqkv, dsum, qkv, dout, out, lse, u], wg),
    makeOp(gpu, cols, [dqkv, dout, qkv, lse, dsum, u], wg),
  ];
}
