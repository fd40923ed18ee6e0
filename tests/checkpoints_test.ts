/**
 * Reliability of checkpoints across runs (on the SFT stage, the quickest to start; pretraining
 * shares the loop and its --keep wiring is checked in nonfinite_test.ts): `--keep N` keeps the
 * newest N (the output and N−1 step snapshots beside it), `--resume` picks the newest complete one
 * when the output is missing or incomplete, a fresh run replaces an old run's snapshots, and
 * SIGTERM stops a run with a checkpoint and exit code 130.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { exists, runScript, tinyCheckpoint } from "./_run.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";

const ROOT = new URL("../", import.meta.url).pathname;

function names(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

const step = async (dir: string) => (await loadCheckpoint(dir)).state.step;

/** A tiny init checkpoint (bytes tokenizer) and an instruction file in `dir`. */
async function sftInputs(dir: string): Promise<string[]> {
  await tinyCheckpoint(`${dir}/init`, {
    context: 32,
    seed: 5,
    state: { stage: "pretrain", step: 0 },
  });
  const records = Array.from(
    { length: 20 },
    (_, i) => JSON.stringify({ prompt: `Add ${i} and 1`, completion: String(i + 1) }),
  );
  await Deno.writeTextFile(`${dir}/data.jsonl`, records.join("\n") + "\n");
  return [
    "--init",
    `${dir}/init`,
    "--data",
    `${dir}/data.jsonl`,
    "--batch",
    "2",
    "--eval-prompts",
    "0",
    "--sample-tokens",
    "0",
    "--quiet",
  ];
}

Deno.test("--keep keeps the newest checkpoints; --resume takes the newest complete one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const inputs = await sftInputs(dir);
    const out = `${dir}/s`;
    const sft = (...args: string[]) =>
      runScript("stages/sft.ts", [...inputs, "--save-every", "2", "--out", out, ...args]);
    let r = await sft("--steps", "8", "--keep", "3");
    assertEquals(r.code, 0, r.stderr);
    assertEquals(names(dir).filter((n) => n.startsWith("s")), [
      "s",
      "s.metrics.jsonl",
      "s.run.json",
      "s.steps",
    ]);
    assertEquals(names(`${out}.steps`), ["step-00000004", "step-00000006"]);
    assertEquals(await step(out), 8);
    assertEquals(await step(`${out}.steps/step-00000006`), 6);

    // The output lost a file (a damaged disk, a careless copy): resume from the newest snapshot.
    await Deno.remove(`${out}/state.json`);
    r = await sft("--steps", "10", "--keep", "2", "--resume");
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /s is missing or incomplete: resuming from .*s\.steps\/step-00000006/);
    assertMatch(r.stdout, /resuming at step 6/);
    assertEquals(await step(out), 10);
    assertEquals(names(`${out}.steps`), ["step-00000008"]);

    // A fresh run over the same --out replaces the old run's checkpoints at its first save.
    r = await sft("--steps", "2", "--keep", "3");
    assertEquals(r.code, 0, r.stderr);
    assertEquals(await step(out), 2);
    assert(!(await exists(`${out}.steps`)), `${names(`${out}.steps`)} left from the old run`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM stops SFT after the step in flight, with a checkpoint and exit code 130", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const inputs = await sftInputs(dir);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "stages/sft.ts",
        ...inputs,
        "--out",
        `${dir}/sft`,
        "--steps",
        "100000",
      ],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const log = `${dir}/sft.metrics.jsonl`;
    const steps = async () =>
      (await Deno.readTextFile(log).catch(() => "")).split("\n").filter((l) => l.includes('"loss"'))
        .length;
    for (let i = 0; i < 2400 && (await steps()) < 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGTERM");
    const r = await child.output();
    const stderr = new TextDecoder().decode(r.stderr);
    assertEquals(r.code, 130, stderr);
    assertMatch(stderr, /stopping after this step/);
    const ckpt = await loadCheckpoint(`${dir}/sft`, { optimizer: true });
    assertEquals(ckpt.state.stage, "sft");
    const saved = ckpt.state.step as number;
    assert(saved >= 3 && saved < 100000, `checkpoint at step ${saved}`);
    assertEquals(await steps(), saved, "every step finished is in the log");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
