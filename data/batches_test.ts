import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import { type Batch, TokenBatches } from "./batches.ts";
import { writeShard } from "./shards.ts";

/** Tokens equal to their index, so every window is a run of consecutive numbers. */
const ramp = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);

function assertWindows(batch: Batch, B: number, T: number, data: Uint32Array): number[] {
  assertEquals([batch.inputs.length, batch.targets.length], [B * T, B * T]);
  const starts: number[] = [];
  for (let b = 0; b < B; b++) {
    const start = data.indexOf(batch.inputs[b * T]);
    starts.push(start);
    for (let t = 0; t < T; t++) {
      assertEquals(batch.inputs[b * T + t], data[start + t], `inputs row ${b} col ${t}`);
      assertEquals(batch.targets[b * T + t], data[start + t + 1], `targets row ${b} col ${t}`);
    }
  }
  return starts;
}

Deno.test("nextBatch draws windows whose targets are the inputs shifted by one", () => {
  const data = ramp(1000);
  const batches = new TokenBatches(data, { seed: 42 });
  const B = 3, T = 17;
  const starts: number[] = [];
  for (let i = 0; i < 50; i++) starts.push(...assertWindows(batches.nextBatch(B, T), B, T, data));
  assert(starts.every((s) => s >= 0 && s + T + 1 <= data.length));
  assert(new Set(starts).size > 100, "windows vary");

  // Every possible start is reachable, including the last one.
  const small = new TokenBatches(ramp(T + 3), { seed: 1 });
  const seen = new Set<number>();
  for (let i = 0; i < 60; i++) seen.add(small.nextBatch(1, T).inputs[0]);
  assertEquals([...seen].sort(), [0, 1, 2]);
  assertEquals(new TokenBatches(ramp(T + 1)).nextBatch(2, T).targets[T - 1], T);
});

Deno.test("batches are deterministic and the saved state replays them", () => {
  const data = ramp(5000);
  const a = new TokenBatches(data, { seed: 7 });
  const b = new TokenBatches(data, { seed: 7 });
  for (let i = 0; i < 3; i++) assertEquals(a.nextBatch(4, 32), b.nextBatch(4, 32));
  assert(
    new TokenBatches(data, { seed: 8 }).nextBatch(4, 32).inputs.join() !==
      new TokenBatches(data, { seed: 7 }).nextBatch(4, 32).inputs.join(),
    "another seed, other batches",
  );

  // Draw 3, save, draw 2, restore, draw 2 again: the same two batches.
  const batches = new TokenBatches(data, { seed: 99 });
  for (let i = 0; i < 3; i++) batches.nextBatch(4, 32);
  const saved = JSON.parse(JSON.stringify(batches.state));
  const first = [batches.nextBatch(4, 32), batches.nextBatch(4, 32)];
  batches.state = saved;
  assertEquals([batches.nextBatch(4, 32), batches.nextBatch(4, 32)], first);
  // A fresh instance (a resumed run) continues the same way.
  const resumed = new TokenBatches(data, { seed: 12345 });
  resumed.state = saved;
  assertEquals([resumed.nextBatch(4, 32), resumed.nextBatch(4, 32)], first);
});

Deno.test("shards give the same batches as the concatenated array, across shard ends", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const data = Uint32Array.from({ length: 200 }, (_, i) => (i * 7919) % 300);
    const cuts = [0, 37, 38, 38, 120, 200]; // includes a 1-token and an empty shard
    const paths: string[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      paths.push(`${dir}/s${i}.bin`);
      writeShard(paths[i], data.subarray(cuts[i], cuts[i + 1]), 300);
    }
    using fromShards = new TokenBatches(paths, { seed: 3, vocabSize: 300 });
    const fromArray = new TokenBatches(data, { seed: 3 });
    assertEquals(fromShards.tokens, 200);
    for (let i = 0; i < 20; i++) {
      assertEquals(fromShards.nextBatch(5, 45), fromArray.nextBatch(5, 45));
    }
    assertEquals([...fromShards.sequentialBatches(3, 45)], [...fromArray.sequentialBatches(3, 45)]);
    assertEquals(fromShards.state, fromArray.state);

    await assertRejects(
      () => new TokenBatches(paths, { vocabSize: 50257 }),
      /s0\.bin holds ids of a 300-token vocabulary but the model has 50257/,
    );
    await assertRejects(() => new TokenBatches([`${dir}/nope.bin`]), /nope\.bin does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sequentialBatches covers every window once, in order", () => {
  const data = ramp(100);
  const batches = new TokenBatches(data);
  const B = 3, T = 9; // (100 - 1) / 9 = 11 windows: batches of 3, 3, 3, 2 + 1 wrapped
  assertEquals(batches.sequentialBatchCount(B, T), 4);
  const all = [...batches.sequentialBatches(B, T)];
  assertEquals(all.map((b) => b.rows), [3, 3, 3, 2]);
  const starts = all.flatMap((b) => assertWindows(b, B, T, data));
  assertEquals(starts, [0, 9, 18, 27, 36, 45, 54, 63, 72, 81, 90, 0]);
  assertEquals(all[3].targets[2 * T - 1], 99); // the last window ends at the last token
  assertEquals([...batches.sequentialBatches(B, T, { maxBatches: 2 })].length, 2);
  // Evaluation does not disturb the random batches.
  const state = batches.state;
  [...batches.sequentialBatches(B, T)];
  assertEquals(batches.state, state);
});

Deno.test("batch errors say what to change", async () => {
  const batches = new TokenBatches(ramp(64), { name: "Val split" });
  await assertRejects(
    () => batches.nextBatch(2, 64),
    /^Val split has 64 tokens; need at least T\+1 = 65: lower --context or add data$/,
  );
  await assertRejects(() => [...batches.sequentialBatches(1, 64)], /need at least T\+1 = 65/);
  await assertRejects(() => new TokenBatches([]).nextBatch(1, 1), /has 0 tokens/);
  await assertRejects(() => batches.nextBatch(0, 4), /Batch shape/);
  await assertRejects(
    () => (batches.state = { rng: 5, tokens: 10 }),
    /Val split has 64 tokens but the batch state was saved for 10: resume with the same data/,
  );
  await assertRejects(
    () => (batches.state = { rng: -1, tokens: 64 }),
    /Batch state .* is malformed/,
  );
});
