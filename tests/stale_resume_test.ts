/**
 * Reliability: a fresh run over the output of an old, finished run that is killed (SIGKILL) before
 * its first save does not leave the old run's checkpoints resumable: `--resume` then refuses
 * (pretraining) or starts the policy afresh (RLHF, whose new reward model was already saved),
 * instead of continuing a model of the old run.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { records, refusal, runScript, TINY, tinyCheckpoint } from "./_run.ts";
import { loadCheckpoint, readRunMarker } from "../model/checkpoint.ts";

const ROOT = new URL("../", import.meta.url).pathname;

type Rec = Record<string, unknown>;

/** Starts `script`, waits until `log` holds `n` records matching `done`, then SIGKILLs it. */
async function killAfter(
  script: string,
  args: string[],
  log: string,
  n: number,
  done: (r: Rec) => boolean,
): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  try {
    // Up to two minutes: a loaded machine can take half a minute to start a run.
    for (let i = 0; i < 2400 && (await records(log)).filter(done).length < n; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert((await records(log)).filter(done).length >= n, `no ${n} steps in ${log}`);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

Deno.test("pretrain: --resume refuses the old run's checkpoint after a fresh run was killed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/p`;
    const pretrain = (...args: string[]) =>
      runScript("stages/pretrain.ts", [...TINY, "--eval-every", "0", "--out", out, ...args]);
    const old = await pretrain("--steps", "3");
    assertEquals(old.code, 0, old.stderr);
    const oldRun = (await loadCheckpoint(out)).state.run_id;
    assertEquals(oldRun, (await readRunMarker(out))?.run_id);
    await Deno.remove(`${out}.metrics.jsonl`);

    // A new run over the same --out, killed before its first save (only at the end).
    const args = [...TINY, "--eval-every", "0", "--out", out, "--seed", "2", "--steps", "100000"];
    await killAfter("stages/pretrain.ts", args, `${out}.metrics.jsonl`, 3, (r) => "loss" in r);
    const newRun = (await readRunMarker(out))?.run_id;
    assert(newRun !== undefined && newRun !== oldRun, `marker ${newRun}, old run ${oldRun}`);
    // The old run's checkpoint stays where it was (a later stage still reads it)...
    const kept = await loadCheckpoint(out);
    assertEquals([kept.state.step, kept.state.run_id], [3, oldRun]);
    // ...but it is not resumed as the new run's.
    const r = await pretrain("--seed", "2", "--steps", "100000", "--resume");
    const bad = refusal(
      r,
      new RegExp(
        `--resume: \\S+/p holds no checkpoint of the run that last started there \\(pretrain ` +
          `run ${newRun}, started \\S+; it stopped before its first save\\): start without --resume$`,
      ),
    );
    assert(bad === undefined, bad);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rlhf: a policy of the old run is not resumed against the new run's reward model", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await tinyCheckpoint(`${dir}/sft`);
    const out = `${dir}/ppo`, rmOut = `${dir}/rm`;
    const args = (...more: string[]) => [
      ...["--init", `${dir}/sft`, "--out", out, "--reward-out", rmOut, "--algo", "ppo"],
      ...["--rm-batch", "2", "--rm-eval-pairs", "4", "--rm-steps", "3", "--keep", "2"],
      ...["--batch", "2", "--max-tokens", "6", "--eval-prompts", "2", "--quiet", ...more],
    ];
    const old = await runScript("stages/rlhf.ts", args("--steps", "3"));
    assertEquals(old.code, 0, old.stderr);
    const oldPolicy = await loadCheckpoint(out);
    assertEquals([oldPolicy.state.step, oldPolicy.state.finished], [3, true]);
    const oldRun = oldPolicy.state.run_id;
    assertEquals((await loadCheckpoint(rmOut)).state.run_id, oldRun);
    assertEquals(oldPolicy.state.reward_run, oldRun);
    await Deno.remove(`${out}.metrics.jsonl`);

    // A new run (another seed: another reward model) retrains and saves the reward model, then is
    // killed in the policy phase before the policy's first save.
    await killAfter(
      "stages/rlhf.ts",
      args("--seed", "7", "--steps", "1000"),
      `${out}.metrics.jsonl`,
      1,
      (r) => r.phase === "ppo" && r.step !== undefined,
    );
    const rm = await loadCheckpoint(rmOut);
    const newRun = rm.state.run_id;
    assert(newRun !== oldRun && rm.state.finished === true, `reward model of run ${newRun}`);
    assertEquals((await readRunMarker(out))?.run_id, newRun);
    assertEquals((await loadCheckpoint(out)).state.run_id, oldRun);

    // --resume keeps the new reward model and starts the policy afresh, with one line saying so.
    const r = await runScript("stages/rlhf.ts", args("--seed", "7", "--steps", "2", "--resume"));
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /the reward model in \S+ is finished/);
    const lines = r.stdout.split("\n").filter((l) => l.includes("starts afresh"));
    assertEquals(lines.length, 1, r.stdout);
    assertMatch(
      lines[0],
      new RegExp(
        `^rlhf: \\S+/ppo holds no checkpoint of the run that last started there \\(rlhf run ` +
          `${newRun}, started \\S+; it stopped before its first save\\): the policy starts afresh$`,
      ),
    );
    assert(!/resuming at step/.test(r.stdout), r.stdout);
    const policy = await loadCheckpoint(out);
    assertEquals([policy.state.step, policy.state.finished], [2, true]);
    assertEquals([policy.state.run_id, policy.state.reward_run], [newRun, newRun]);
    const steps = (await records(`${out}.metrics.jsonl`)).filter((e) => e.phase === "ppo");
    assertEquals(steps.at(-1)?.step, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
