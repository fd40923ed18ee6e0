/**
 * LayerNorm over the last dimension (as GPT-2: eps = 1e-5, biased variance), forward and backward.
 *
 * On CPU adapters the per-row kernels run one invocation per row (no workgroup barriers, which are
 * slow there); on GPUs one workgroup per row with a reduction in workgroup memory. The parameter
 * gradients sum over the rows with one invocation per channel on CPU adapters, and in two passes
 * (chunks of rows, then their sums in order) on GPUs.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import {
  createTensor,
  getKernel,
  grid,
  makeOp,
  type Op,
  params,
  type Tensor,
} from "../gpu/kernel.ts";
import code from "./layernorm.wgsl" with { type: "text" };
import { type ColumnSum, columnSumChunks } from "./matmul.ts";

/** Workgroup size of the workgroup-per-row kernels (a power of two). */
const WG_ROW = 128;
/** Workgroup size of the invocation-per-row kernels (CPU adapters). */
const WG_ROWS = 32;
/** Workgroup size of the parameter-gradient kernels with one invocation per channel. */
const WG_PARAMS = 64;
/** Channels per workgroup of `layernorm_backward_params_partial`, as in the WGSL. */
const CS_COLS = 64;
/** Rows per parameter-gradient op: CPU adapters stop an invocation's loops after 65535 iterations. */
const ROWS_PER_OP = 32768;

function checkSizes(
  label: string,
  N: number,
  C: number,
  tensors: Record<string, [Tensor, number]>,
) {
  if (!(N >= 1 && C >= 1)) throw new RangeError(`${label}: N (${N}) and C (${C}) must be >= 1`);
  for (const [name, [t, n]] of Object.entries(tensors)) {
    if (t.length < n) {
      throw new RangeError(`${label}: ${name} (${t.name}) holds ${t.length} values, needs ${n}`);
    }
  }
}

/** The per-row kernel variant and its dispatch for `N` rows. */
function rowsPlan(gpu: Gpu, N: number): { suffix: string; wg: number; dispatch: [number, number] } {
  return gpu.isCpu
    ? { suffix: "_rows", wg: WG_ROWS, dispatch: grid(gpu, Math.ceil(N / WG_ROWS)) }
    : { suffix: "", wg: WG_ROW, dispatch: grid(gpu, N) };
}

/**
 * LayerNorm forward: out (N, C) = (inp - mean) · rstd · weight + bias, with mean (N) and rstd (N)
 * written for the backward pass. inp (N, C), weight (C), bias (C).
 */
export function layernormForward(
  gpu: Gpu,
  args: {
    out: Tensor;
    mean: Tensor;
    rstd: Tensor;
    inp: Tensor;
    weight: Tensor;
    bias: Tensor;
    N: number;
    C: number;
  },
): Op[] {
  const { out, mean, rstd, inp, weight, bias, N, C } = args;
  checkSizes("layernormForward", N, C, {
    out: [out, N * C],
    mean: [mean, N],
    rstd: [rstd, N],
    inp: [inp, N * C],
    weight: [weight, C],
    bias: [bias, C],
  });
  const plan = rowsPlan(gpu, N);
  const kernel = getKernel(gpu, {
    code,
    entryPoint: "layernorm_forward" + plan.suffix,
    bindings: ["write", "write", "write", "read", "read", "read", "uniform"],
    constants: { WG: plan.wg },
  });
  const u = createUniform(gpu, params([N, C, 0, N]), "layernorm_forward.params");
  return [makeOp(gpu, kernel, [out, mean, rstd, inp, weight, bias, u], plan.dispatch)];
}

/**
 * LayerNorm backward. dinp (N, C) += the input gradient (accumulated: it is the residual
 * stream's gradient); dweight (C) += and dbias (C) +=. Inputs: dout (N, C), inp (N, C),
 * weight (C), and mean (N), rstd (N) from the forward pass. Ops: the input gradient (per row),
 * then the parameter gradients: with `columnSum: "serial"` (the default on CPU adapters) one
 * invocation per channel looping over the rows, one op per 32768 rows; with `"two-pass"` (the
 * default on GPUs) two ops, partial sums of chunks of rows into a scratch tensor (R, C, 2) of the
 * op's own, then their sums in chunk order. Deterministic either way.
 */
export function layernormBackward(
  gpu: Gpu,
  args: {
    dinp: Tensor;
    dweight: Tensor;
    dbias: Tensor;
    dout: Tensor;
    inp: Tensor;
    weight: Tensor;
    mean: Tensor;
    rstd: Tensor;
    N: number;
    C: number;
    /** How the parameter gradients sum over the rows; by default as the adapter suits. */
    columnSum?: ColumnSum;
  },
): Op[] {
  const { dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C } = args;
  checkSizes("layernormBackward", N, C, {
    dinp: [dinp, N * C],
    dweight: [dweight, C],
    dbias: [dbias, C],
    dout: [dout, N * C],
    inp: [inp, N * C],
    weight: [weight, C],
    mean: [mean, N],
    rstd: [rstd, N],
  });
  const plan = rowsPlan(gpu, N);
  const dinpKernel = getKernel(gpu, {
    code,
    entryPoint: "layernorm_backward_dinp" + plan.suffix,
    bindings: ["write", "read", "read", "read", "read", "read", "uniform"],
    constants: { WG: plan.wg },
  });
  const u = createUniform(gpu, params([N, C, 0, N]), "layernorm_backward.params");
  const ops = [makeOp(gpu, dinpKernel, [dinp, dout, inp, weight, mean, rstd, u], plan.dispatch)];
  if ((args.columnSum ?? (gpu.isCpu ? "serial" : "two-pass")) === "two-pass") {
    const { rows, R } = columnSumChunks(N);
    const partial = createTensor(gpu, [R, C, 2], "layernorm_backward.partial");
    const partialKernel = getKernel(gpu, {
      code,
      entryPoint: "layernorm_backward_params_partial",
      bindings: ["write", "read", "read", "read", "read", "uniform"],
    });
    const totalKernel = getKernel(gpu, {
      code,
      entryPoint: "layernorm_backward_params_total",
      bindings: ["write", "write", "read", "uniform"],
      constants: { WG: WG_PARAMS },
    });
    const u1 = createUniform(gpu, params([N, C, rows]), "layernorm_backward.partial.params");
    const u2 = createUniform(gpu, params([R, C, rows]), "layernorm_backward.total.params");
    ops.push(
      makeOp(gpu, partialKernel, [partial, dout, inp, mean, rstd, u1], [
        Math.ceil(C / CS_COLS),
        R,
      ]),
      makeOp(gpu, totalKernel, [dweight, dbias, partial, u2], grid(gpu, Math.ceil(C / WG_PARAMS))),
    );
    return ops;
  }
  const paramsKernel = getKernel(gpu, {
    code,
    entryPoint: "layernorm_backward_params",
    bindings: ["write", "write", "read", "read", "read", "read", "uniform"],
    constants: { WG: WG_PARAMS },
  });
  // The parameter gradients: one op per block of rows, each adding its sums in turn.
  for (let row0 = 0; row0 < N; row0 += ROWS_PER_OP) {
    const row1 = Math.min(N, row0 + ROWS_PER_OP);
    const up = row0 === 0 && row1 === N
      ? u
      : createUniform(gpu, params([N, C, row0, row1]), "layernorm_backward.params");
    ops.push(
      makeOp(gpu, paramsKernel, [dweight, dbias, dout, inp, mean, rstd, up], [
        Math.ceil(C / WG_PARAMS),
      ]),
    );
  }
  return ops;
}
