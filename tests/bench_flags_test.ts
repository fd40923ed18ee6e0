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

Deno.test("bench_gemm leaves out a variant the adapter cannot build, and refuses when none can", async () => {
  // The OpenGL adapter has no shader-f16, so the f16 tiles cannot build there.
  const env = { DENO_WEBGPU_BACKEND: "gl" };
  const tiny = ["--rows", "8", "--width", "8", "--vocab", "8", "--peak", "0", "--seconds", "0.01"];
  const none = await runScript("scripts/bench_gemm.ts", [...tiny, "--variants", "wide:f16"], {
    env,
  });
  if (/\(gl\)/.test(none.stdout) && !/left out/.test(none.stdout)) return; // an adapter with f16
  assert(/variant wide:f16: left out \(.*shader-f16/.test(none.stdout), none.stdout);
  const why = refusal(none, /--variants: none of them builds on this adapter/);
  assert(why === undefined, why);
  const some = await runScript(
    "scripts/bench_gemm.ts",
    [...tiny, "--rounds", "1", "--variants", "tiled,wide:f16"],
    { env },
  );
  assert(some.code === 0, some.stderr);
  assert(/variant wide:f16: left out/.test(some.stdout), some.stdout);
  assert(/^best tiled$/m.test(some.stdout), some.stdout);
});
