/**
 * The benchmarks and the profiler refuse bad flags in one line, before any GPU work.
 */
import { assert } from "./_assert.ts";
import { refusal, runScript } from "./_run.ts";

Deno.test("bench: bad flags get one line naming the flag, exit 2", async () => {
  const rows: [string, string[], RegExp][] = [
    ["bench", ["--peers", "bogus"], /--peers: unknown peer "bogus"/],
    ["bench", ["--gemm", "huge"], /--gemm: unknown kernel "huge"/],
    ["bench", ["--gemm", "wide:bogus"], /--gemm: unknown kernel "wide:bogus"/],
    ["bench", ["--gemm", "tiled:nopf"], /--gemm: unknown kernel "tiled:nopf"/],
    ["bench", ["--torch-device", "tpu"], /--torch-device must be one of auto, cpu, cuda/],
    ["bench", ["--steps", "0"], /--steps/],
    ["bench", ["--rounds", "0"], /--rounds/],
    ["profile", ["--gemm", "wide:nope"], /--gemm: unknown kernel "wide:nope"/],
    ["bench_gemm", ["--variants", "tiled:nopf"], /--variants: unknown kernel "tiled:nopf"/],
  ];
  for (const [script, args, pattern] of rows) {
    const why = refusal(await runScript(`scripts/${script}.ts`, args), pattern);
    assert(why === undefined, `${script} ${args.join(" ")}: ${why}`);
  }
});
