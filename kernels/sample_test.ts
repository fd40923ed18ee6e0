import { assert, assertEquals } from "../tests/_assert.ts";
import { getGpu, type Gpu, readback } from "../gpu/device.ts";
import { createTensor } from "../gpu/kernel.ts";
import { runOps } from "../gpu/testing.ts";
import { Rng } from "../data/rng.ts";
import { samplingProbs } from "../model/generate.ts";
import {
  decodeGate,
  PAD,
  ROW,
  sampleNext,
  sampleParams,
  type SampleSettings,
  sampleSettingsBuffer,
  sampleThreads,
  uniformDraw,
} from "./sample.ts";

interface Run {
  ids: Uint32Array; // (B, N)
  logps: Float32Array; // (B, N)
  tokens: Uint32Array;
  pos: Uint32Array;
  rows: Uint32Array; // (B, 4)
}

/** Runs `steps` sampling steps over fixed logits (B, V) in one pass. */
async function sample(
  gpu: Gpu,
  logits: Float32Array,
  shape: { B: number; V: number; N?: number; steps?: number; threads?: number },
  settings: Partial<SampleSettings>,
  state: { pos?: Uint32Array; rows?: Uint32Array } = {},
): Promise<Run> {
  const { B, V, N = 1, steps = 1 } = shape;
  const s: SampleSettings = {
    temperature: 1,
    topK: 0,
    topP: 1,
    seed: 1,
    stop: PAD,
    row0: 0,
    ...settings,
  };
  const rowsInit = state.rows ??
    Uint32Array.from({ length: 4 * B }, (_, i) => i % 4 === 2 ? 1000 : 0);
  const t = {
    logits: createTensor(gpu, [B, V], "logits", logits),
    tokens: createTensor(gpu, [B], "tokens"),
    pos: createTensor(gpu, [B], "pos", state.pos ?? new Uint32Array(B)),
    rows: createTensor(gpu, [B, 4], "rows", rowsInit),
    out: createTensor(gpu, [2, B, N], "out"),
  };
  const settingsBuffer = sampleSettingsBuffer(gpu, "settings");
  gpu.device.queue.writeBuffer(settingsBuffer, 0, sampleParams({ B, V, N }, s));
  const op = sampleNext(gpu, { ...t, settings: settingsBuffer, B, V, N, threads: shape.threads });
  await runOps(gpu, Array(steps).fill(op));
  const u32 = async (x: { buffer: GPUBuffer; length: number }) =>
    new Uint32Array(await readback(gpu, x.buffer, 0, x.length * 4));
  const out = await u32(t.out);
  const run = {
    ids: out.slice(0, B * N),
    logps: new Float32Array(out.slice(B * N).buffer),
    tokens: await u32(t.tokens),
    pos: await u32(t.pos),
    rows: await u32(t.rows),
  };
  for (const x of Object.values(t)) x.buffer.destroy();
  settingsBuffer.destroy();
  return run;
}

/** log softmax(logits * scale)[id] in float64. */
function logSoftmax(row: Float32Array, id: number, scale: number): number {
  let m = -Infinity;
  for (const x of row) m = Math.max(m, x);
  let z = 0;
  for (const x of row) z += Math.exp((x - m) * scale);
  return (row[id] - m) * scale - Math.log(z);
}

/** Row b's logits repeated over B rows. */
function repeatRow(row: Float32Array, B: number): Float32Array {
  const out = new Float32Array(B * row.length);
  for (let b = 0; b < B; b++) out.set(row, b * row.length);
  return out;
}

Deno.test("sample_next: greedy picks the argmax, ties to the lowest id, and its log-probability", async () => {
  const gpu = await getGpu();
  const V = 1000, B = 4;
  const rng = new Rng(5);
  const logits = rng.normalArray(B * V);
  logits[0 * V + 700] = 9; // a tie across threads' chunks: 300 wins
  logits[0 * V + 300] = 9;
  logits[1 * V + 999] = 7; // the last id
  logits[2 * V + 10] = logits[2 * V + 11] = 8; // a tie inside one chunk
  logits.fill(-Infinity, 3 * V, 4 * V); // every logit -inf: id 0, as the CPU sampler
  for (const threads of [4, 64, sampleThreads(gpu, V)]) {
    const r = await sample(gpu, logits, { B, V, threads }, { temperature: 0 });
    const want = Array.from(
      { length: B },
      (_, b) => samplingProbs(logits.subarray(b * V, (b + 1) * V), { temperature: 0 }).ids[0],
    );
    assertEquals([...r.ids], want, `threads ${threads}`);
    assertEquals(want, [300, 999, 10, 0]);
    for (let b = 0; b < 3; b++) {
      const lp = logSoftmax(logits.subarray(b * V, (b + 1) * V), want[b], 1);
      assert(Math.abs(r.logps[b] - lp) < 1e-5, `row ${b}: log-prob ${r.logps[b]}, want ${lp}`);
    }
  }
});

Deno.test("sample_next: a draw is the inverse CDF, in id order, at the hash of (seed, row, position)", async () => {
  const gpu = await getGpu();
  const V = 300, B = 256, T = 0.8;
  const rng = new Rng(8);
  const logits = rng.normalArray(B * V, 2);
  const pos = Uint32Array.from({ length: B }, () => rng.int(1000));
  const seed = 12345;
  const r = await sample(gpu, logits, { B, V }, { temperature: T, seed, row0: 7 }, { pos });
  let boundary = 0;
  for (let b = 0; b < B; b++) {
    const row = logits.subarray(b * V, (b + 1) * V);
    const m = Math.max(...row);
    const e = Array.from(row, (x) => Math.exp((x - m) / T));
    const z = e.reduce((a, x) => a + x, 0);
    const goal = uniformDraw(seed, 7 + b, pos[b] + 1) * z;
    let acc = 0, want = 0;
    while (acc + e[want] <= goal) acc += e[want++];
    if (r.ids[b] !== want) {
      // only a goal within float32 rounding of a boundary may land on the neighbour
      assert(Math.abs(goal - acc) < 1e-5 * z || Math.abs(acc + e[want] - goal) < 1e-5 * z);
      boundary++;
    }
    assert(Math.abs(r.logps[b] - logSoftmax(row, r.ids[b], 1 / T)) < 1e-5, `row ${b} log-prob`);
    assertEquals(r.pos[b], pos[b] + 1);
    assertEquals(r.tokens[b], r.ids[b]);
  }
  assert(boundary <= 2, `${boundary} draws differ from the inverse CDF`);
});

/**
 * The chi-square statistic of `counts` against probabilities `probs` over the same ids, cells of
 * expected count below 5 pooled, and its critical value at false-alarm rate 1e-4 (Wilson–Hilferty).
 */
function chiSquare(
  counts: Map<number, number>,
  expected: { ids: number[]; probs: number[] },
  n: number,
): { stat: number; critical: number; df: number } {
  let stat = 0, cells = 0, poolObs = 0, poolExp = 0;
  expected.ids.forEach((id, i) => {
    const e = expected.probs[i] * n, o = counts.get(id) ?? 0;
    if (e < 5) {
      poolObs += o;
      poolExp += e;
    } else {
      stat += (o - e) ** 2 / e;
      cells++;
    }
  });
  if (poolExp > 0) {
    stat += (poolObs - poolExp) ** 2 / Math.max(poolExp, 1e-9);
    cells++;
  }
  const df = Math.max(1, cells - 1);
  const z = 3.719; // the standard normal's 1 - 1e-4 quantile
  const critical = df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
  return { stat, critical, df };
}

Deno.test("sample_next: temperature, top-k and top-p draw from the CPU sampler's distribution", async () => {
  const gpu = await getGpu();
  const V = 40, B = 4096, seeds = [1, 2, 3];
  const rng = new Rng(21);
  const logits = rng.normalArray(V, 1.5);
  logits[3] = logits[17] = logits[29] = 1.2; // ties, which a cut may split (lowest ids first)
  logits[8] = logits[9] = 2.5;
  const settings = [
    { temperature: 1 },
    { temperature: 0.7, topK: 5 },
    { temperature: 1.3, topP: 0.8 },
    { temperature: 1, topK: 12, topP: 0.6 },
    { temperature: 2, topK: 6 }, // keeps id 3, not 17 and 29 (the same logit)
    { temperature: 0.5, topP: 0.3 }, // keeps 20 and 8, not 9 (the same logit as 8)
  ];
  for (const s of settings) {
    const expected = samplingProbs(logits, s);
    const allowed = new Set(expected.ids);
    const counts = new Map<number, number>();
    for (const seed of seeds) {
      const r = await sample(gpu, repeatRow(logits, B), { B, V }, { ...s, seed });
      for (const id of r.ids) {
        assert(allowed.has(id), `${JSON.stringify(s)}: id ${id} is outside the CPU's cut`);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
    }
    const n = B * seeds.length;
    const { stat, critical, df } = chiSquare(counts, expected, n);
    assert(stat < critical, `${JSON.stringify(s)}: chi-square ${stat} >= ${critical} (df ${df})`);
    // The test can fail: the same draws against a temperature 50% higher are rejected.
    if (expected.ids.length < 3) continue; // two ids: too close to tell apart
    const off = samplingProbs(logits, { ...s, temperature: s.temperature * 1.5 });
    const wrong = chiSquare(counts, off, n);
    assert(wrong.stat > wrong.critical, `${JSON.stringify(s)}: a wrong temperature passes`);
  }
});

Deno.test("sample_next: rows stop at the stop token and at their limit; ended rows write PAD", async () => {
  const gpu = await getGpu();
  const V = 10, B = 3, N = 4;
  const logits = new Float32Array(B * V);
  logits[0 * V + 6] = 5; // row 0: greedy 6, the stop token
  logits[1 * V + 2] = 5; // row 1: greedy 2, limit 2
  const rows = Uint32Array.from([
    0,
    0,
    100,
    ROW.running,
    0,
    0,
    2,
    ROW.running,
    0,
    0,
    0,
    ROW.unused,
  ]);
  const pos = Uint32Array.from([4, 9, 0]);
  const r = await sample(gpu, logits, { B, V, N, steps: 3 }, { temperature: 0, stop: 6 }, {
    pos,
    rows,
  });
  assertEquals([...r.ids], [6, PAD, PAD, 0, 2, 2, PAD, 0, PAD, PAD, PAD, 0]);
  assertEquals(r.logps[3] === 0 && r.logps[6] === 0, true);
  // row 0 ended at once: its token and position stay; row 1 moved once, then hit its limit
  assertEquals([...r.pos], [4, 10, 0]);
  assertEquals([...r.tokens], [0, 2, 0]);
  assertEquals([...r.rows], [3, 1, 100, ROW.stopped, 3, 2, 2, ROW.limit, 3, 0, 0, ROW.unused]);
});

Deno.test("sample_next: GPT-2's vocabulary, top-k and top-p, within the loop budget", async () => {
  const gpu = await getGpu();
  const V = 50257, B = 2;
  const rng = new Rng(4);
  const logits = rng.normalArray(B * V, 3);
  for (
    const s of [{ temperature: 0 }, { temperature: 1, topK: 40 }, { temperature: 0.9, topP: 0.5 }]
  ) {
    for (const seed of [1, 2, 3]) {
      const r = await sample(gpu, logits, { B, V }, { ...s, seed });
      for (let b = 0; b < B; b++) {
        const allowed = samplingProbs(logits.subarray(b * V, (b + 1) * V), s).ids;
        assert(allowed.includes(r.ids[b]), `${JSON.stringify(s)} row ${b}: ${r.ids[b]}`);
      }
    }
  }
});

Deno.test("decode_gate: the ops' workgroup counts while a row runs, none once every row has ended", async () => {
  const gpu = await getGpu();
  const V = 6, B = 2;
  const logits = createTensor(
    gpu,
    [B, V],
    "logits",
    Float32Array.from([0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 9, 0]),
  );
  const t = {
    tokens: createTensor(gpu, [B], "tokens"),
    pos: createTensor(gpu, [B], "pos"),
    rows: createTensor(
      gpu,
      [B, 4],
      "rows",
      Uint32Array.from([0, 0, 3, ROW.running, 0, 0, 1, ROW.running]),
    ),
    out: createTensor(gpu, [2, B, 4], "out"),
  };
  const settings = sampleSettingsBuffer(gpu, "settings");
  gpu.device.queue.writeBuffer(
    settings,
    0,
    sampleParams({ B, V, N: 4 }, {
      temperature: 0,
      topK: 0,
      topP: 1,
      seed: 0,
      stop: PAD,
      row0: 0,
    }),
  );
  const sampleOp = sampleNext(gpu, { logits, ...t, settings, B, V, N: 4 });
  // Two ops to gate, with counts of their own: the sampling op (7 x 1 x 1) and another (2 x 3 x 1).
  const ops = [{ ...sampleOp, workgroups: [7, 1, 1] as const }, {
    ...sampleOp,
    workgroups: [2, 3, 1] as const,
  }];
  const gated = decodeGate(gpu, { rows: t.rows, ops, B });
  const args = async () => [...new Uint32Array(await readback(gpu, gated.args, 0, 24))];
  // Row 1 ends at its first step (limit 1), row 0 at its third (limit 3).
  const counts: number[][] = [];
  for (let step = 0; step < 3; step++) {
    await runOps(gpu, [sampleOp, gated.gate]);
    counts.push(await args());
  }
  assertEquals(counts, [[7, 1, 1, 2, 3, 1], [7, 1, 1, 2, 3, 1], [0, 0, 0, 0, 0, 0]]);
  for (const x of Object.values(t)) x.buffer.destroy();
  gated.args.destroy();
  gated.full.buffer.destroy();
});
