/**
 * Reliability of RLHF: SIGINT or SIGTERM in the reward-model phase or in the policy phase writes a
 * checkpoint and exits 130, and resuming gives bit-for-bit the per-step metrics of an
 * uninterrupted run (reward model, DPO, PPO and GRPO); a non-finite step names the checkpoint that
 * is kept, or is skipped with --skip-nonfinite.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { exists, records, runScript, tinyCheckpoint } from "./_run.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** A tiny untrained "SFT" checkpoint with the byte tokenizer. */
async function tinySft(dir: string): Promise<string> {
  await tinyCheckpoint(`${dir}/sft`);
  return `${dir}/sft`;
}

const RM = ["--rm-batch", "2", "--rm-eval-pairs", "4", "--rm-eval-every", "10"];
const POLICY = ["--batch", "2", "--max-tokens", "6", "--eval-prompts", "2", "--group-size", "2"];
/** Periodic checkpoints along the way: they must not change what a run computes. */
const SAVES = ["--save-every", "7", "--keep", "2", "--quiet"];

function spawnRlhf(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "stages/rlhf.ts", ...RM, ...POLICY, ...SAVES, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

async function finish(child: Deno.ChildProcess): Promise<{ code: number; text: string }> {
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, text: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

type Rec = Record<string, unknown>;

/**
 * The per-step records of each phase (and the final report), keyed by phase, step and fields,
 * without the wall-clock fields; a later record of the same key replaces an earlier one.
 */
async function metrics(path: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const r of await records(path)) {
    if (r.event === "start") continue;
    const { time: _t, seconds: _s, ...rest } = r;
    const key = `${r.phase ?? r.event}:${r.step ?? ""}:${Object.keys(rest).sort().join(",")}`;
    out.set(key, JSON.stringify(rest));
  }
  return out;
}

/** Waits (generously: the machine may be loaded) until `path` logs `n` steps of `phase`. */
async function waitForSteps(path: string, phase: string, n: number): Promise<void> {
  for (let i = 0; i < 3600; i++) {
    const count = (await records(path)).filter((r) => r.phase === phase && r.step !== undefined)
      .length;
    if (count >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${n} ${phase} steps in ${path}`);
}

/** Sends `signal` once `phase` logged a few steps; checks exit 130 and the checkpoint in `dir`. */
async function interrupt(
  args: string[],
  log: string,
  phase: string,
  signal: Deno.Signal,
  dir: string,
  steps: number,
): Promise<number> {
  const run = spawnRlhf(args);
  await waitForSteps(log, phase, 3);
  run.kill(signal);
  const r = await finish(run);
  assertEquals(r.code, 130, r.text);
  assertMatch(r.text, new RegExp(`interrupted: ${phase} checkpoint at step \\d+ written to`));
  const ckpt = await loadCheckpoint(dir, { optimizer: true });
  const step = ckpt.state.step as number;
  assert(step >= 3 && step < steps, `${phase} interrupted at step ${step}`);
  assertEquals(ckpt.state.finished, false);
  assertEquals(ckpt.state.phase, phase);
  return step;
}

function assertSameMetrics(got: Map<string, string>, want: Map<string, string>, what: string) {
  for (const [k, v] of want) assertEquals(got.get(k), v, `${what}: ${k}`);
  assertEquals([...got.keys()].sort(), [...want.keys()].sort(), what);
}

Deno.test("rlhf: SIGINT in the reward model, SIGTERM in DPO; resuming reproduces the metrics exactly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const init = await tinySft(dir);
    const args = (name: string) => [
      ...["--init", init, "--algo", "dpo", "--rm-steps", "40", "--steps", "30"],
      ...["--out", `${dir}/${name}/dpo`, "--reward-out", `${dir}/${name}/rm`],
    ];
    // The uninterrupted run goes on beside the interrupted ones.
    const fullRun = finish(spawnRlhf(args("full")));
    const log = `${dir}/cut/dpo.metrics.jsonl`;
    const rmStep = await interrupt(args("cut"), log, "rm", "SIGINT", `${dir}/cut/rm`, 40);
    assert(!(await exists(`${dir}/cut/dpo`)), "a policy was written before the reward model");
    const dpoStep = await interrupt(
      [...args("cut"), "--resume"],
      log,
      "dpo",
      "SIGTERM",
      `${dir}/cut/dpo`,
      30,
    );
    assertEquals((await loadCheckpoint(`${dir}/cut/rm`)).state.finished, true);

    const resumed = await finish(spawnRlhf([...args("cut"), "--resume"]));
    assertEquals(resumed.code, 0, resumed.text);
    const full = await fullRun;
    assertEquals(full.code, 0, full.text);
    const want = await metrics(`${dir}/full/dpo.metrics.jsonl`);
    assert([...want.keys()].some((k) => k.startsWith("dpo:30:")), "no DPO step 30");
    assertMatch(resumed.text, /the reward model in \S+ is finished/);
    assertMatch(resumed.text, new RegExp(`rlhf dpo: resuming at step ${dpoStep} of 30`));
    assertSameMetrics(
      await metrics(log),
      want,
      `rm interrupted after ${rmStep}, dpo after ${dpoStep}`,
    );
    assertEquals((await loadCheckpoint(`${dir}/cut/dpo`)).state.finished, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const algo of ["ppo", "grpo"]) {
  Deno.test(`rlhf: SIGINT in ${algo.toUpperCase()}; resuming reproduces the metrics exactly`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const init = await tinySft(dir);
      // PPO with the reward model (its value model is saved too), GRPO with the judge.
      const args = (name: string) => [
        ...["--init", init, "--algo", algo, "--rm-steps", "3", "--steps", "20"],
        ...(algo === "grpo" ? ["--stage", "policy", "--reward", "judge"] : []),
        ...["--out", `${dir}/${name}/${algo}`, "--reward-out", `${dir}/${name}/rm`],
      ];
      const fullRun = finish(spawnRlhf(args("full")));
      const out = `${dir}/cut/${algo}`;
      const step = await interrupt(args("cut"), `${out}.metrics.jsonl`, algo, "SIGINT", out, 20);
      if (algo === "ppo") {
        assert(await exists(`${out}/value.safetensors`), "no value model in the checkpoint");
      }
      const resumed = await finish(spawnRlhf([...args("cut"), "--resume"]));
      assertEquals(resumed.code, 0, resumed.text);
      const full = await fullRun;
      assertEquals(full.code, 0, full.text);
      const want = await metrics(`${dir}/full/${algo}.metrics.jsonl`);
      assertSameMetrics(await metrics(`${out}.metrics.jsonl`), want, `interrupted after ${step}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("rlhf: a non-finite step names the checkpoint kept; --skip-nonfinite finishes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const init = await tinySft(dir);
    // lr 1 with weight decay 10 multiplies the decayed weights by −9 at every step.
    const args = [
      ...["--init", init, "--out", `${dir}/p`, "--reward-out", `${dir}/rm`, "--stage", "rm"],
      ...["--rm-lr", "1", "--min-lr", "1", "--weight-decay", "10", "--warmup", "0"],
      ...[...RM, "--save-every", "1", "--quiet"],
    ];
    const r = await runScript("stages/rlhf.ts", [...args, "--rm-steps", "60"]);
    assertEquals(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    const m = lines[0].match(
      /^error: RM step (\d+): the loss \(.*\) or gradient norm \(.*\) is not finite; the update was skipped and the checkpoint of step (\d+) in \S+ is kept: lower --rm-lr, or pass --skip-nonfinite$/,
    );
    assert(m, lines[0]);
    assertEquals(Number(m[2]), Number(m[1]) - 1);
    const kept = await loadCheckpoint(`${dir}/rm`, { optimizer: true });
    assertEquals(kept.state.step, Number(m[2]));

    const end = Number(m[1]) + 2;
    const s = await runScript("stages/rlhf.ts", [
      ...args,
      "--rm-steps",
      String(end),
      "--skip-nonfinite",
    ]);
    assertEquals(s.code, 0, s.stderr);
    assertMatch(s.stderr, new RegExp(`rm step ${m[1]}: loss .*, gradient norm .*: update skipped`));
    const skipped = (await records(`${dir}/rm.metrics.jsonl`)).filter((e) => e.skipped === true);
    assert(skipped.length >= 1 && skipped[0].step === Number(m[1]), JSON.stringify(skipped));
    assertEquals((await loadCheckpoint(`${dir}/rm`)).state.step, end);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
