import { assertEquals, assertRejects } from "../tests/_assert.ts";
import { benchDecode } from "./bench_decode.ts";

Deno.test("bench --decode refuses bad batches and a prompt that leaves no room", async () => {
  await assertRejects(
    () => benchDecode(["--batches", "1,0"]),
    /^--batches: "1,0" must be positive integers, comma-separated$/,
  );
  await assertRejects(
    () => benchDecode(["--prompt", "200", "--layers", "1", "--width", "16", "--heads", "2"]),
    /^--prompt 200 \+ --tokens 128 exceed the context \(256\)$/,
  );
});

// The PyTorch peer checks its directory before it imports torch: only Python is needed.
const PEER = new URL("./bench_torch_decode.py", import.meta.url).pathname;
const noPython = await new Deno.Command("python3", { args: ["--version"] }).output()
  .then((r) => !r.success, () => true);

Deno.test({
  name: "bench_torch_decode.py refuses a bad directory in one line, exit code 2",
  ignore: noPython,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const good = {
      layers: 1,
      heads: 2,
      context: 8,
      batch: 2,
      prompt: 3,
      new_tokens: 4,
      rounds: 1,
    };
    try {
      for (
        const [config, ids, message] of [
          [{ ...good, layers: 0 }, 6, "config.json: layers must be a positive integer, got 0"],
          [{ ...good, batch: "2" }, 6, "config.json: batch must be a positive integer, got '2'"],
          [{ ...good, new_tokens: 6 }, 6, "config.json: prompt + new_tokens exceed the context"],
          [good, 5, "prompts.bin must hold batch x prompt = 6 u32 ids"],
        ] as const
      ) {
        await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
        await Deno.writeFile(`${dir}/prompts.bin`, new Uint8Array(4 * ids));
        const out = await new Deno.Command("python3", {
          args: [PEER, "--dir", dir],
          stdout: "null",
        }).output();
        const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
        assertEquals(
          [out.code, lines[lines.length - 1]],
          [2, `bench_torch_decode.py: error: ${message}`],
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
