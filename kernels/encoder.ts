/**
 * Token + position embedding (GPT-2 encoder), forward and backward, and the CPU-built index of
 * token positions that makes the backward pass deterministic without atomics.
 *
 * On CPU adapters the forward kernel runs one invocation per position looping over the channels
 * (fewer, fuller workgroups); elsewhere invocations run over channels, coalesced.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { createUniform } from "../gpu/device.ts";
import { getKernel, grid, makeOp, type Op, params, type Tensor } from "../gpu/kernel.ts";
import code from "./encoder.wgsl" with { type: "text" };

/** Workgroup size of the GPU kernels (invocations over channels). */
const WG = 64;
/** Loop iterations one invocation may run on CPU adapters, which stop loops after 65535. */
const CPU_LOOP_BUDGET = 60000;
/** Workgroup size of the CPU-adapter forward kernel (one invocation per position). */
const WG_ROWS = 32;

function checkSizes(label: string, tensors: Record<string, [Tensor, number]>): void {
  for (const [name, [t, n]] of Object.entries(tensors)) {
    if (t.length < n) {
      throw new RangeError(`${label}: ${name} (${t.name}) holds ${t.length} values, needs ${n}`);
    }
  }
}

function checkShape(label: string, dims: Record<string, number>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${label}: ${name} must be a positive integer, got ${v}`);
    }
  }
}

/**
 * Rows [start, start + count) of a (V, C) token table, bound as a tensor of their own. A table
 * larger than one binding goes to the kernels as several pieces (the model's `vocabPieces`).
 */
export interface VocabRows {
  tensor: Tensor;
  start: number;
  count: number;
}

/**
 * The pieces of a token table: a list of {@linkcode VocabRows} as it is, a whole tensor as one
 * piece of V rows (all the rows it holds when V is not given); each checked to hold C values per
 * row.
 */
export function vocabRows(
  label: string,
  table: Tensor | readonly VocabRows[],
  C: number,
  V?: number,
): readonly VocabRows[] {
  const pieces = "buffer" in table
    ? [{ tensor: table, start: 0, count: V ?? Math.floor(table.length / C) }]
    : table;
  for (const { tensor, start, count } of pieces) {
    if (!Number.isInteger(start) || start < 0 || !Number.isInteger(count) || count < 1) {
      throw new RangeError(`${label}: token rows [${start}, ${start + count}) are not a range`);
    }
    if (tensor.length < count * C) {
      throw new RangeError(
        `${label}: ${tensor.name} holds ${tensor.length} values, needs ${
          count * C
        } (${count} rows)`,
      );
    }
  }
  return pieces;
}

/**
 * out (B, T, C) = wte[inp[b, t]] + wpe[t]. inp (B, T) holds u32 token ids; wte (V, C), whole or
 * as pieces (one op each, writing the positions whose token the piece holds), wpe (maxT, C) with
 * maxT >= T.
 */
export function encoderForward(
  gpu: Gpu,
  args: {
    out: Tensor;
    inp: Tensor;
    wte: Tensor | readonly VocabRows[];
    wpe: Tensor;
    B: number;
    T: number;
    C: number;
  },
): Op[] {
  const { out, inp, wpe, B, T, C } = args;
  checkShape("encoderForward", { B, T, C });
  checkSizes("encoderForward", {
    out: [out, B * T * C],
    inp: [inp, B * T],
    wpe: [wpe, T * C],
  });
  const pieces = vocabRows("encoderForward", args.wte, C);
  const rows = gpu.isCpu;
  const kernel = getKernel(gpu, {
    code,
    entryPoint: rows ? "encoder_forward_rows" : "encoder_forward",
    bindings: ["write", "read", "read", "read", "uniform"],
    constants: { WG: rows ? WG_ROWS : WG },
  });
  const [y, z] = grid(gpu, B * T);
  const dispatch: [number, number, number] = rows
    ? [...grid(gpu, Math.ceil((B * T) / WG_ROWS)), 1]
    : [Math.ceil(C / WG), y, z];
  return pieces.map(({ tensor, start, count }) => {
    const u = createUniform(
      gpu,
      params([B, T, C, 0, 0, start, count]),
      "encoder_forward.params",
    );
    return makeOp(gpu, kernel, [out, inp, tensor, wpe, u], dispatch);
  });
}

/**
 * dwte (V, C) += and dwpe (maxT, C) += from dout (B, T, C); dwte whole, or as pieces that tile
 * the V token ids in order. Deterministic without atomics: the positions of each token id come as
 * a CSR index built on the CPU each batch by {@linkcode buildTokenBuckets}: bucketStart (V + 1)
 * u32 and bucketPos (B * T) u32, where the flat positions (b * T + t) holding token v are
 * bucketPos[bucketStart[v] .. bucketStart[v + 1]), in increasing order. bucketStart[V] must equal
 * B * T. The ops:
 * - the token embedding gradient, one per piece of dwte. Work goes by slot of the index (B * T of
 *   them), so absent token ids cost nothing; the slot opening a bucket sums its rows, with one
 *   invocation per channel on GPUs and per few channels on CPU adapters;
 * - the position embedding gradient: one invocation per (t, c), looping over b.
 */
export function encoderBackward(
  gpu: Gpu,
  args: {
    dwte: Tensor | readonly VocabRows[];
    dwpe: Tensor;
    dout: Tensor;
    bucketStart: Tensor;
    bucketPos: Tensor;
    B: number;
    T: number;
    C: number;
    V: number;
  },
): Op[] {
  const { dwpe, dout, bucketStart, bucketPos, B, T, C, V } = args;
  checkShape("encoderBackward", { B, T, C, V });
  const pieces = vocabRows("encoderBackward", args.dwte, C, V);
  let end = 0; // each piece must start where the last ended, and the last end at V
  for (const p of pieces) end = p.start === end ? p.start + p.count : NaN;
  if (end !== V) {
    throw new RangeError(`encoderBackward: the pieces of dwte do not tile the ${V} token ids`);
  }
  checkSizes("encoderBackward", {
    dwpe: [dwpe, T * C],
    dout: [dout, B * T * C],
    bucketStart: [bucketStart, V + 1],
    bucketPos: [bucketPos, B * T],
  });
  const wteKernel = getKernel(gpu, {
    code,
    entryPoint: "encoder_backward_wte",
    bindings: ["write", "read", "read", "read", "uniform"],
    constants: { WG },
  });
  const wpeKernel = getKernel(gpu, {
    code,
    entryPoint: "encoder_backward_wpe",
    bindings: ["write", "read", "uniform"],
    constants: { WG },
  });
  // Invocations per slot of the index: one per channel on GPUs; on CPU adapters each takes as
  // many channels as the loop budget allows for the longest possible bucket (B * T), which keeps
  // the count of invocations (and of binary searches) low.
  const perInvocation = gpu.isCpu
    ? Math.max(1, Math.min(C, Math.floor(CPU_LOOP_BUDGET / (B * T + 1))))
    : 1;
  const CL = Math.ceil(C / perInvocation);
  const wteOps = pieces.map(({ tensor, start, count }) =>
    makeOp(
      gpu,
      wteKernel,
      [
        tensor,
        dout,
        bucketStart,
        bucketPos,
        createUniform(gpu, params([B, T, C, V, CL, start, count]), "encoder_backward.params"),
      ],
      grid(gpu, Math.ceil((B * T * CL) / WG)),
    )
  );
  const u = createUniform(gpu, params([B, T, C, V, CL, 0, 0]), "encoder_backward.params");
  return [
    ...wteOps,
    makeOp(gpu, wpeKernel, [dwpe, dout, u], [Math.ceil(C / WG), ...grid(gpu, T)]),
  ];
}

/**
 * Builds the CSR index of token positions on the CPU (a counting sort) into arrays the caller
 * allocates once and reuses every step: bucketStart (V + 1) and bucketPos (inp.length). After the
 * call, the flat positions holding token v are bucketPos[bucketStart[v] .. bucketStart[v + 1]),
 * in increasing order. Throws a RangeError on a token id >= V.
 */
export function buildTokenBuckets(
  inp: Uint32Array,
  V: number,
  bucketStart: Uint32Array,
  bucketPos: Uint32Array,
): void {
  if (bucketStart.length < V + 1) {
    throw new RangeError(
      `buildTokenBuckets: bucketStart holds ${bucketStart.length}, needs ${V + 1}`,
    );
  }
  if (bucketPos.length < inp.length) {
    throw new RangeError(
      `buildTokenBuckets: bucketPos holds ${bucketPos.length}, needs ${inp.length}`,
    );
  }
  bucketStart.fill(0, 0, V + 1);
  for (let i = 0; i < inp.length; i++) {
    const tok = inp[i];
    if (tok >= V) {
      throw new RangeError(
        `buildTokenBuckets: token id ${tok} at position ${i} is outside the vocabulary of ${V}`,
      );
    }
    bucketStart[tok + 1]++;
  }
  // Exclusive prefix sum: bucketStart[v] = first slot of token v.
  for (let v = 0; v < V; v++) bucketStart[v + 1] += bucketStart[v];
  // Scatter with bucketStart[v] as the cursor of v; afterwards it holds the end of v, which is the
  // start of v + 1, so shift right by one to restore the starts.
  for (let i = 0; i < inp.length; i++) bucketPos[bucketStart[inp[i]]++] = i;
  for (let v = V; v > 0; v--) bucketStart[v] = bucketStart[v - 1];
  bucketStart[0] = 0;
}
