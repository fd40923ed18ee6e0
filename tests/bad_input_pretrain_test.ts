/** The bad-input sweep of pretraining (see tests/_bad_input.ts). */
import { assertEquals } from "./_assert.ts";
import { TINY } from "./_run.ts";
import { common, damaged, type Row, sweep } from "./_bad_input.ts";

Deno.test("pretrain: the rest of the bad-input sweep", async () => {
  const resume = (checkpoint: string, pattern: RegExp): Row => ({
    args: ["--tokenizer", "bytes", "--resume"],
    pattern,
    checkpoint,
  });
  const rows = common([
    { args: ["--keep", "0"], pattern: /--keep must be >= 1, got 0$/ },
    { args: ["--data", "$IN/corrupt.gz"], pattern: /--data \S+corrupt\.gz is gzip-compressed/ },
    {
      args: ["--data", "$IN/file", "--tokenizer", "bytes"],
      pattern: /--data \S+\/file is too small to hold out a validation split: add text$/,
    },
    // The damaged checkpoint sits in the row's own --out, as a crashed or copied run's would.
    ...damaged("--resume", (name) => name).map((r) => resume(r.args[1], r.pattern)),
  ]);
  assertEquals(await sweep("stages/pretrain.ts", [...TINY, "--steps", "2"], rows), []);
});
