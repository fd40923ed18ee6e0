/**
 * Tensors larger than one binding, as pieces: ranges that fit a binding, views of a tensor at
 * 256-byte-aligned offsets, and the tied LM head over a token embedding held in pieces of token
 * ids (GPT-2's is 147 MiB, more than lavapipe's 128 MiB bindings).
 *
 * @module
 */
import { type Gpu, GpuError } from "../gpu/device.ts";
import type { Op, Tensor } from "../gpu/kernel.ts";
import { bmmOps } from "../kernels/bmm.ts";
import type { VocabRows } from "../kernels/encoder.ts";
import { matmulBackward, matmulForward } from "../kernels/matmul.ts";

/** The largest tensor one binding may hold here: `override` (tests) or the adapter's limits. */
export function bindingLimit(gpu: Gpu, override?: number): number {
  return override ?? Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
}

/**
 * Ranges [start, start + count) covering n items of `bytesPer` bytes, each range <= maxBytes and,
 * but for the last, a multiple of `align` items.
 */
export function splitRanges(
  n: number,
  bytesPer: number,
  maxBytes: number,
  align: number,
  what: string,
): [number, number][] {
  if (n * bytesPer <= maxBytes) return [[0, n]];
  const per = Math.floor(Math.floor(maxBytes / bytesPer) / align) * align;
  if (per < 1) {
    throw new GpuError(
      `${what} needs ${align * bytesPer} bytes per piece, more than one binding allows here ` +
        `(${maxBytes}): lower --context or use a smaller vocabulary`,
    );
  }
  const out: [number, number][] = [];
  for (let i = 0; i < n; i += per) out.push([i, Math.min(per, n - i)]);
  return out;
}

/** Elements [start, start + length) of t, as a tensor (the start must keep 256-byte alignment). */
export function view(t: Tensor, start: number, length: number): Tensor {
  if (start === 0 && length === t.length) return t;
  const offset = t.offset + start * 4;
  if (offset % 256 !== 0 || start + length > t.length) {
    throw new Error(`${t.name}: view [${start}, ${start + length}) is misaligned or out of range`);
  }
  return { name: `${t.name}[${start}:]`, buffer: t.buffer, offset, length, shape: [length] };
}

export function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * The token ids [start, start + count) of each piece of a (V, C) token table that one binding of
 * `maxBytes` holds: one piece when the table fits. Piece starts are 256 bytes apart or a multiple.
 */
export function vocabPieces(V: number, C: number, maxBytes: number): [number, number][] {
  return splitRanges(V, C * 4, maxBytes, 64 / gcd(C, 64), `The token embedding (${V} x ${C})`);
}

/** The pieces of a (V, C) table tensor (parameters, gradients) at the ranges of `pieces`. */
export function vocabRowsOf(
  table: Tensor,
  pieces: readonly [number, number][],
  C: number,
): VocabRows[] {
  return pieces.map(([start, count]) => ({
    tensor: view(table, start * C, count * C),
    start,
    count,
  }));
}

/**
 * The tied LM head: logits (N, V) = inp (N, C) @ wte^T, written. With one piece, the linear
 * layer's product; with several, one product per piece into its columns of the logits.
 */
export function lmHeadForward(
  gpu: Gpu,
  args: { logits: Tensor; inp: Tensor; wte: readonly VocabRows[]; N: number; C: number; V: number },
): Op[] {
  const { logits, inp, wte, N, C, V } = args;
  if (wte.length === 1) {
    return matmulForward(gpu, { out: logits, inp, weight: wte[0].tensor, N, C, OC: V });
  }
  return wte.flatMap(({ tensor, start, count }) =>
    bmmOps(gpu, {
      c: { tensor: logits, off: start, row: V, col: 1 }, // columns start .. start + count
      a: { tensor: inp, row: C, col: 1 },
      b: { tensor, row: 1, col: C }, // the piece, transposed
      M: N,
      N: count,
      K: C,
      label: "lm_head_forward",
    })
  );
}

/**
 * The LM head's backward, from dlogits (N, V):
 * dinp (N, C) = dlogits @ wte    [written, =]
 * dwte (V, C) += dlogits^T @ inp [accumulated, +=]
 * With several pieces, dinp is the sum over pieces in order (the first writes, the rest add).
 */
export function lmHeadBackward(
  gpu: Gpu,
  args: {
    dinp: Tensor;
    dwte: readonly VocabRows[];
    dlogits: Tensor;
    inp: Tensor;
    wte: readonly VocabRows[];
    N: number;
    C: number;
    V: number;
  },
): Op[] {
  const { dinp, dwte, dlogits, inp, wte, N, C, V } = args;
  if (wte.length === 1 && dwte.length === 1) {
    return matmulBackward(gpu, {
      dinp,
      dweight: dwte[0].tensor,
      dout: dlogits,
      inp,
      weight: wte[0].tensor,
      N,
      C,
      OC: V,
    });
  }
  if (dwte.length !== wte.length || dwte.some((d, k) => d.start !== wte[k].start)) {
    throw new RangeError("lmHeadBackward: dwte and wte must come in the same pieces");
  }
  return wte.flatMap(({ tensor, start, count }, k) => [
    ...bmmOps(gpu, {
      c: { tensor: dinp, row: C, col: 1 },
      a: { tensor: dlogits, off: start, row: V, col: 1 }, // columns start .. start + count
      b: { tensor, row: C, col: 1 },
      M: N,
      N: C,
      K: count,
      accumulate: k > 0,
      label: "lm_head_backward.dinp",
    }),
    ...bmmOps(gpu, {
      c: { tensor: dwte[k].tensor, row: C, col: 1 },
      a: { tensor: dlogits, off: start, row: 1, col: V }, // its columns, transposed
      b: { tensor: inp, row: C, col: 1 },
      M: count,
      N: C,
      K: N,
      accumulate: true,
      label: "lm_head_backward.dwte",
    }),
  ]);
}
