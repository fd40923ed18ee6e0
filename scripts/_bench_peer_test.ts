import { assertEquals } from "../tests/_assert.ts";
import { type BenchConfig, median, timeRounds, writeBenchDir } from "./_bench_peer.ts";

const CONFIG: BenchConfig = {
  vocab: 16,
  layers: 1,
  heads: 2,
  width: 8,
  context: 4,
  batch: 2,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0,
  gradClip: 1,
  steps: 2,
  warmup: 0,
};

async function refusal(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
}

Deno.test("bench directory: rounds must be a positive integer", async () => {
  for (const rounds of [0, 1.5]) {
    const dir = await Deno.makeTempDir();
    try {
      const message = await refusal(() => writeBenchDir(dir, { ...CONFIG, rounds }, new Map(), []));
      assertEquals(message, `config: rounds must be a positive integer, got ${rounds}`);
      assertEquals([...Deno.readDirSync(dir)].length, 0, "nothing written");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("median: the middle value (the upper one of two)", () => {
  assertEquals(median([3, 1, 2]), 2);
  assertEquals(median([4, 1, 3, 2]), 3);
  assertEquals(median([5]), 5);
});

Deno.test("timeRounds: one time per round, device errors checked, a non-finite loss refused", async () => {
  let checks = 0;
  const ms = await timeRounds(3, () => checks++, () => Promise.resolve(1.5));
  assertEquals([ms.length, checks], [3, 3]);
  assertEquals(ms.every((t) => t >= 0), true);
  let round = 0;
  const message = await refusal(() =>
    timeRounds(3, () => {}, () => Promise.resolve(++round === 2 ? NaN : 1))
  );
  assertEquals([message, round], ["the loss of the last timed step is NaN", 2]);
});
