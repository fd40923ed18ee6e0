/** The bad-input sweep of RLHF (see tests/_bad_input.ts). */
import { assertEquals } from "./_assert.ts";
import { common, damaged, sweep } from "./_bad_input.ts";

Deno.test("rlhf: the rest of the bad-input sweep", async () => {
  const rows = common([
    { args: ["--steps", "-1"], pattern: /--steps must be >= 0, got -1$/ },
    { args: ["--top-p", "1.5"], pattern: /--top-p must be <= 1, got 1\.5$/ },
    { args: ["--algo", "ppo2"], pattern: /--algo must be one of ppo, dpo, grpo, got "ppo2"$/ },
    {
      args: ["--reward-out", "$IN/file/rm"],
      pattern: /--reward-out \S+: \S+\/file is not a directory: choose another --reward-out$/,
    },
    { args: ["--reward-out"], pattern: /--reward-out needs a value/ },
    {
      args: ["--data", "$IN/corrupt.gz"],
      pattern: /corrupt\.gz: line 1: cannot read the file: invalid gzip data/,
    },
    { args: ["--data", "$IN/same.jsonl"], pattern: /same\.jsonl: line 3: .*no preference pairs/ },
    ...damaged("--init", (name) => `$IN/${name}`),
  ]);
  const base = [
    ...["--init", "$IN/good", "--reward-out", "$OUT/r/rm"],
    ...["--steps", "1", "--rm-steps", "1", "--batch", "2", "--rm-batch", "2"],
  ];
  assertEquals(await sweep("stages/rlhf.ts", base, rows), []);
});
