/**
 * A model or batch too large for the adapter fails fast, before anything is allocated for it or
 * written: one line naming the sizes and the flag to lower, exit code 2, no output. The sizes are
 * far beyond any adapter's limits (a binding of at most 4 GiB, a buffer far below 1 TiB).
 */
import { assertEquals } from "./_assert.ts";
import { listTree, pool, refusal, runScript, TINY, tinyCheckpoint } from "./_run.ts";

/** [stage, flags, what the line must say]. */
const ROWS: [string, string[], RegExp][] = [
  [
    "pretrain",
    ["--batch", "100000"],
    /^error: acts 100000x32: tensor \S+ \[[\d,]+\] needs [\d.]+ [MG]iB, more than one binding allows here \([\d.]+ [MG]iB\): lower --batch or --context$/,
  ],
  [
    "pretrain",
    ["--batch", "1024", "--context", "2048"],
    /^error: acts 1024x2048: .* needs [\d.]+ [MG]iB, .*: lower --batch or --context$/,
  ],
  [
    "pretrain",
    ["--layers", "96", "--width", "16384"],
    /^error: --layers 96 --width 16384: parameter transformer\.h\.0\.\S+ \[\d+, 16384\] needs [\d.]+ GiB, more than one GPU binding holds on this adapter \([\d.]+ [MG]iB\): lower --width$/,
  ],
  [
    "pretrain",
    ["--layers", "96", "--width", "1536"],
    /^error: --layers 96 --width 1536: the parameters need [\d.]+ GiB in one GPU buffer, more than this adapter's [\d.]+ GiB: lower --layers or --width$/,
  ],
  [
    "sft",
    ["--batch", "100000"],
    /^error: acts 100000x\d+: .* needs [\d.]+ [MG]iB.*: lower --batch/,
  ],
  [
    "rlhf",
    ["--batch", "100000"],
    /^error: acts 100000x64: .* needs [\d.]+ [MG]iB.*: lower --batch/,
  ],
  [
    "rlhf",
    ["--rm-batch", "100000"],
    /^error: acts 200000x64: .* needs [\d.]+ [MG]iB.*: lower --batch/,
  ],
];

Deno.test("too large for the adapter: one line with the sizes and the flag, exit 2, no output", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const init = `${dir}/in/sft`;
    await tinyCheckpoint(init, { context: 64, seed: 7 });
    const data = `${dir}/in/data.jsonl`;
    await Deno.writeTextFile(data, '{"prompt": "Say hi", "completion": "Hi there"}\n'.repeat(8));
    const failures = await pool(ROWS.map((row, i) => [i, ...row] as const), 2, async (row) => {
      const [i, stage, flags, pattern] = row;
      const out = `${dir}/run${i}`;
      await Deno.mkdir(out);
      const common = stage === "pretrain"
        ? [...TINY, "--steps", "2"]
        : stage === "sft"
        ? ["--init", init, "--data", data, "--steps", "2", "--eval-prompts", "0"]
        : ["--init", init, "--reward-out", `${out}/reward/rm`, "--steps", "1", "--rm-steps", "1"];
      const r = await runScript(`stages/${stage}.ts`, [...common, "--out", `${out}/o/c`, ...flags]);
      const what = `${stage} ${flags.join(" ")}`;
      const bad = refusal(r, pattern);
      if (bad) return `${what}: ${bad}`;
      const left = listTree(out);
      return left.length > 0 ? `${what}: wrote ${left.join(", ")}` : undefined;
    });
    assertEquals(failures.filter((f) => f !== undefined), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
