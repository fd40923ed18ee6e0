import { getGpu, type Gpu } from "../gpu/device.ts";
import { createTensor, type Tensor } from "../gpu/kernel.ts";
import { assertClose, readTensor, runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import * as ref from "./_reference_layers.ts";
import { buildTokenBuckets, encoderBackward, encoderForward, type VocabRows } from "./encoder.ts";

function assert(cond: boolean, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

/** The adapter as it is, and the same device pretending to be the other kind, so that both kernel
 * variants (per row for CPU adapters, per channel for GPUs) run here. */
async function variants(): Promise<[string, Gpu][]> {
  const gpu = await getGpu();
  const other: Gpu = { ...gpu, isCpu: !gpu.isCpu };
  return [[gpu.isCpu ? "rows" : "channels", gpu], [gpu.isCpu ? "channels" : "rows", other]];
}

Deno.test("buildTokenBuckets builds the CSR index of token positions", () => {
  const V = 7;
  const inp = new Uint32Array([3, 0, 3, 6, 3, 0, 5]);
  const start = new Uint32Array(V + 1).fill(99), pos = new Uint32Array(inp.length).fill(99);
  buildTokenBuckets(inp, V, start, pos);
  assert(start.join() === "0,2,2,2,5,5,6,7", `bucketStart ${start}`);
  assert(pos.join() === "1,5,0,2,4,6,3", `bucketPos ${pos}`);
  // Reused arrays give the same index for another batch (nothing left over from the last one).
  const inp2 = new Uint32Array([1, 1, 1, 1, 1, 1, 1]);
  buildTokenBuckets(inp2, V, start, pos);
  assert(start.join() === "0,0,7,7,7,7,7,7", `bucketStart ${start}`);
  assert(pos.join() === "0,1,2,3,4,5,6", `bucketPos ${pos}`);
  let message = "";
  try {
    buildTokenBuckets(new Uint32Array([1, 7]), V, start, pos);
  } catch (e) {
    message = (e as Error).message;
  }
  assert(/token id 7 at position 1 is outside the vocabulary of 7/.test(message), message);
});

async function checkEncoder(
  B: number,
  T: number,
  C: number,
  V: number,
  seed: number,
  frequent = 0, // share of positions holding token 2
  cuts: number[] = [], // token ids where wte and dwte are cut into pieces (tensors of their own)
) {
  const rng = new Rng(seed);
  const maxT = T + 3; // wpe has more rows than the batch uses
  // Tokens from a small range so that ids repeat; plus the last id of the vocabulary.
  const tokens = new Uint32Array(B * T).map(() =>
    rng.random() < frequent ? 2 : rng.int(Math.min(V, 9))
  );
  tokens[B * T - 1] = V - 1;
  tokens[1] = tokens[B * T - 2] = V - 1;
  const wte = rng.normalArray(V * C);
  const wpe = rng.normalArray(maxT * C);
  const dy = rng.normalArray(B * T * C);
  const dwte0 = rng.normalArray(V * C);
  const dwpe0 = rng.normalArray(maxT * C);
  const start = new Uint32Array(V + 1), pos = new Uint32Array(B * T);
  buildTokenBuckets(tokens, V, start, pos);

  const out = new Float32Array(B * T * C);
  ref.encoderForward(out, tokens, wte, wpe, B, T, C);
  const dwte = dwte0.slice(), dwpe = dwpe0.slice();
  ref.encoderBackward(dwte, dwpe, dy, tokens, B, T, C);

  for (const [name, gpu] of await variants()) {
    const t = {
      out: createTensor(gpu, [B, T, C], "out"),
      inp: createTensor(gpu, [B, T], "inp", tokens),
      wte: createTensor(gpu, [V, C], "wte", wte),
      wpe: createTensor(gpu, [maxT, C], "wpe", wpe),
      dout: createTensor(gpu, [B, T, C], "dout", dy),
      dwte: createTensor(gpu, [V, C], "dwte", dwte0),
      dwpe: createTensor(gpu, [maxT, C], "dwpe", dwpe0),
      bucketStart: createTensor(gpu, [V + 1], "bucketStart", start),
      bucketPos: createTensor(gpu, [B * T], "bucketPos", pos),
    };
    const bounds = [0, ...cuts, V];
    const pieces = (data: Float32Array, label: string): VocabRows[] =>
      bounds.slice(1).map((end, k) => {
        const start = bounds[k], count = end - start;
        const rows = data.slice(start * C, end * C);
        return { tensor: createTensor(gpu, [count, C], `${label}.${k}`, rows), start, count };
      });
    const wtePieces = cuts.length ? pieces(wte, "wte") : t.wte;
    const dwtePieces = cuts.length ? pieces(dwte0, "dwte") : t.dwte;
    await runOps(gpu, [
      ...encoderForward(gpu, { ...t, wte: wtePieces, B, T, C }),
      ...encoderBackward(gpu, { ...t, dwte: dwtePieces, B, T, C, V }),
    ]);
    const gotDwte = "buffer" in dwtePieces ? await readTensor(gpu, dwtePieces) : new Float32Array(
      (await Promise.all(dwtePieces.map((p) => readTensor(gpu, p.tensor)))).flatMap((a) => [...a]),
    );
    const tol = { atol: 1e-4, rtol: 1e-5 }; // long bucket sums round in another order
    assertClose(await readTensor(gpu, t.out), out, { ...tol, name: `out (${name})` });
    assertClose(gotDwte, dwte, { ...tol, name: `dwte (${name})` });
    assertClose(await readTensor(gpu, t.dwpe), dwpe, { ...tol, name: `dwpe (${name})` });
  }
}

Deno.test("encoder forward and backward match the CPU reference (B=3, T=11, C=43, V=29)", () =>
  checkEncoder(3, 11, 43, 29, 1));

Deno.test("encoder with the token tables in pieces of token ids (cut at 1, 3 and 20 of 29)", () =>
  checkEncoder(3, 11, 43, 29, 6, 0.2, [1, 3, 20]));

Deno.test("encoder handles channels above the workgroup size (B=2, T=5, C=200, V=13)", () =>
  checkEncoder(2, 5, 200, 13, 2));

Deno.test("encoder backward with a GPT-2 vocabulary (V=50257)", () =>
  checkEncoder(2, 7, 3, 50257, 3));

Deno.test("encoder with more positions than one dispatch dimension allows (B=2, T=33001)", () =>
  checkEncoder(2, 33001, 2, 5, 4));

// Its bucket times the channels is far above the 65535 loop iterations a CPU adapter allows one
// invocation: the kernel must not loop over both.
Deno.test("encoder backward with one token filling most of the batch (B=4, T=700, C=200)", () =>
  checkEncoder(4, 700, 200, 11, 5, 0.9));

/** The refusal of encoderBackward (B=1, T=2, C=4, V=10) for this dwte: its message, or "". */
async function backwardRefusal(dwte: (gpu: Gpu) => Tensor | VocabRows[]): Promise<string> {
  const gpu = await getGpu();
  try {
    encoderBackward(gpu, {
      dwte: dwte(gpu),
      dwpe: createTensor(gpu, [2, 4], "dwpe"),
      dout: createTensor(gpu, [1, 2, 4], "dout"),
      bucketStart: createTensor(gpu, [11], "bucketStart"),
      bucketPos: createTensor(gpu, [2], "bucketPos"),
      B: 1,
      T: 2,
      C: 4,
      V: 10,
    });
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

Deno.test("encoder backward refuses pieces of dwte that do not tile the vocabulary", async () => {
  const piece = (gpu: Gpu, start: number, count: number) => ({
    tensor: createTensor(gpu, [count, 4], "piece"),
    start,
    count,
  });
  const cases: ((gpu: Gpu) => VocabRows[])[] = [
    (gpu) => [piece(gpu, 0, 4), piece(gpu, 5, 5)], // a gap
    (gpu) => [piece(gpu, 0, 6), piece(gpu, 5, 5)], // an overlap
    (gpu) => [piece(gpu, 0, 9)], // short of V
    (gpu) => [piece(gpu, 0, 11)], // past V
  ];
  for (const dwte of cases) {
    const message = await backwardRefusal(dwte);
    assert(/do not tile the 10 token ids/.test(message), message || "no error");
  }
});

Deno.test("encoder backward refuses a whole dwte smaller than V x C, naming the sizes", async () => {
  const message = await backwardRefusal((gpu) => createTensor(gpu, [9, 4], "dwte"));
  assert(/dwte holds 36 values, needs 40 \(10 rows\)/.test(message), message || "no error");
});
