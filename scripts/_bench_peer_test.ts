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

// The PyTorch peer (bench_torch.py) checks its rounds too, from the flag or from the bench
// directory, before it imports torch: only Python is needed, and the tests are ignored without it.
const TORCH_PEER = new URL("./bench_torch.py", import.meta.url).pathname;
const noPython = await new Deno.Command("python3", { args: ["--version"] }).output()
  .then((r) => !r.success, () => true);

/** Runs the PyTorch peer with `args`: its exit code and the last line of its stderr. */
async function torchPeer(args: string[]): Promise<{ code: number; line: string }> {
  const out = await new Deno.Command("python3", { args: [TORCH_PEER, ...args], stdout: "null" })
    .output();
  const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
  return { code: out.code, line: lines[lines.length - 1] };
}

Deno.test({
  name: "bench_torch.py refuses --rounds below 1 in one line, exit code 2",
  ignore: noPython,
  fn: async () => {
    for (
      const [rounds, message] of [
        ["0", "rounds must be positive, got 0"],
        ["-1", "rounds must be a non-negative integer, got -1"],
      ]
    ) {
      const r = await torchPeer(["--rounds", rounds]);
      assertEquals([r.code, r.line], [2, `bench_torch.py: error: ${message}`]);
    }
  },
});

Deno.test({
  name: "bench_torch.py refuses a bench directory whose rounds is not an integer",
  ignore: noPython,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      // the settings the peer reads from the directory, with rounds as a string
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...CONFIG, rounds: "2" }));
      const r = await torchPeer(["--dir", dir]);
      assertEquals(
        [r.code, r.line],
        [2, "bench_torch.py: error: rounds must be a non-negative integer, got '2'"],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
