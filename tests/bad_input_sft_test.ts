/** The bad-input sweep of SFT (see tests/_bad_input.ts). */
import { assertEquals } from "./_assert.ts";
import { common, damaged, sweep } from "./_bad_input.ts";

Deno.test("sft: the rest of the bad-input sweep", async () => {
  const rows = common([
    { args: ["--keep", "0"], pattern: /--keep must be >= 1, got 0$/ },
    { args: ["--epochs", "-1"], pattern: /--epochs must be >= 0, got -1$/ },
    { args: ["--data", "$IN/corrupt.gz"], pattern: /--data \S+corrupt\.gz is gzip-compressed/ },
    { args: ["--data", "$IN/blank.jsonl"], pattern: /blank\.jsonl is empty: give instruction/ },
    { args: ["--resume"], pattern: /Checkpoint directory \S+ does not exist/ },
    ...damaged("--init", (name) => `$IN/${name}`),
  ]);
  const base = ["--init", "$IN/good", "--data", "$IN/data.jsonl", "--steps", "2"];
  assertEquals(await sweep("stages/sft.ts", base, rows), []);
});
