/**
 * The benchmark refuses bad flags in one line, before any GPU work.
 */
import { assert } from "./_assert.ts";
import { refusal, runScript } from "./_run.ts";

Deno.test("bench: bad flags get one line naming the flag, exit 2", async () => {
  const rows: [string[], RegExp][] = [
    [["--peers", "bogus"], /--peers: unknown peer "bogus"/],
    [["--gemm", "huge"], /--gemm: unknown kernel "huge"/],
    [["--gemm", "wide:bogus"], /--gemm: unknown kernel "wide:bogus"/],
    [["--torch-device", "tpu"], /--torch-device must be one of auto, cpu, cuda/],
    [["--steps", "0"], /--steps/],
  ];
  for (const [args, pattern] of rows) {
    const why = refusal(await runScript("scripts/bench.ts", args), pattern);
    assert(why === undefined, `${args.join(" ")}: ${why}`);
  }
});
