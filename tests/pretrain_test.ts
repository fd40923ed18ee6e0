/**
 * End to end: `deno task pretrain` on tiny settings writes a loadable checkpoint, resumes, and
 * refuses bad input with one line, exit code 2 and nothing written.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { exists, runScript, TINY } from "./_run.ts";

Deno.test("pretrain writes a checkpoint that sample loads, and resumes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/pretrain`;
    const r = await runScript("stages/pretrain.ts", [...TINY, "--steps", "12", "--out", out]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /val loss \d/);
    for (
      const f of [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "optimizer.safetensors",
        "state.json",
      ]
    ) {
      assert(await exists(`${out}/${f}`), `missing ${f}`);
    }
    const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
    assertEquals(config.n_layer, 1);
    assertEquals(config.n_embd, 32);
    assertEquals(config.model_type, "gpt2");
    const state = JSON.parse(await Deno.readTextFile(`${out}/state.json`));
    assertEquals(state.step, 12);
    assertEquals(state.stage, "pretrain");
    const log = (await Deno.readTextFile(`${out}.metrics.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    const losses = log.filter((e) => typeof e.loss === "number").map((e) => e.loss);
    assertEquals(losses.length, 12);

    const resumed = await runScript("stages/pretrain.ts", [
      ...TINY,
      "--steps",
      "16",
      "--out",
      out,
      "--resume",
    ]);
    assertEquals(resumed.code, 0, resumed.stderr);
    assertMatch(resumed.stdout, /resuming at step 12/);
    assertEquals(JSON.parse(await Deno.readTextFile(`${out}/state.json`)).step, 16);

    const s = await runScript("scripts/sample.ts", [
      "--checkpoint",
      out,
      "--prompt",
      "Sleep",
      "--tokens",
      "5",
      "--temperature",
      "0",
    ]);
    assertEquals(s.code, 0, s.stderr);
    assert(s.stdout.startsWith("Sleep"), s.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pretrain refuses bad input with one line and exit code 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/empty.txt`, "");
    await Deno.mkdir(`${dir}/nothing`);
    const cases: [string[], RegExp][] = [
      [["--data", `${dir}/missing.txt`], /missing\.txt does not exist/],
      [["--data", `${dir}/empty.txt`], /no text|empty/i],
      [["--data", `${dir}/nothing`], /empty|no \.txt/i],
      [["--lr", "-1"], /--lr must be > 0/],
      [["--lr", "abc"], /--lr must be a number/],
      [["--steps", "0"], /--steps must be >= 1/],
      [["--heads", "3"], /Heads \(3\) must divide the width \(32\)/],
      [["--tokenizer", "words"], /--tokenizer must be one of/],
      [["--bogus", "1"], /unknown flag --bogus/],
      [["--resume"], /does not exist/],
      [["--lr", "NaN"], /--lr must be a number/],
      [["--out", `${dir}/empty.txt/out`], /is not a directory: choose another --out/],
    ];
    for (const [args, pattern] of cases) {
      const out = `${dir}/out`;
      const r = await runScript("stages/pretrain.ts", [
        ...TINY,
        "--steps",
        "2",
        "--out",
        out,
        ...args,
      ]);
      const what = args.join(" ");
      assertEquals(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assertEquals(lines.length, 1, `${what}: expected one line, got:\n${r.stderr}`);
      assertMatch(lines[0], /^error: /);
      assertMatch(lines[0], pattern, what);
      assert(!(await exists(out)), `${what}: wrote ${out}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a checkpoint of another shape is refused on resume", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/p`;
    assertEquals(
      (await runScript("stages/pretrain.ts", [...TINY, "--steps", "2", "--out", out])).code,
      0,
    );
    const r = await runScript("stages/pretrain.ts", [
      ...TINY,
      "--steps",
      "4",
      "--out",
      out,
      "--resume",
      "--width",
      "64",
    ]);
    assertEquals(r.code, 2, r.stderr);
    assertMatch(r.stderr, /^error: .*width is 32 in the checkpoint but 64 was asked for/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pretrain --attention flash gives the losses of the matrix attention", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const losses = async (attention: string) => {
      const out = `${dir}/${attention}`;
      const r = await runScript("stages/pretrain.ts", [
        ...TINY,
        "--steps",
        "4",
        "--attention",
        attention,
        "--out",
        out,
      ]);
      assertEquals(r.code, 0, r.stderr);
      const log = (await Deno.readTextFile(`${out}.metrics.jsonl`)).trim().split("\n");
      return log.map((l) => JSON.parse(l)).filter((e) => typeof e.loss === "number")
        .map((e) => e.loss as number);
    };
    const matrix = await losses("matrix"), flash = await losses("flash");
    assertEquals(flash.length, 4);
    for (let i = 0; i < 4; i++) {
      assert(Math.abs(flash[i] - matrix[i]) < 1e-4, `step ${i + 1}: ${flash[i]} vs ${matrix[i]}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
