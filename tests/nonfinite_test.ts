/**
 * A run whose loss or gradient norm stops being finite: pretraining stops with one line naming the
 * step, exit code 2, and the checkpoint of the step before intact (finite, loadable, with the
 * `--keep` history beside it); with `--skip-nonfinite` it skips such steps and finishes; the RLHF
 * reward model stops naming its step and writes no reward model.
 *
 * The divergence is provoked honestly: a learning rate of 10 with weight decay 10 multiplies the
 * decayed weights by 1 − lr·wd = −99 at every step, so the activations overflow within a few steps.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { exists, runScript, TINY, tinyCheckpoint } from "./_run.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";

/** A constant learning rate of 10 (the schedule does not depend on --steps) and weight decay 10. */
const DIVERGE = [
  ...["--lr", "10", "--min-lr", "1", "--weight-decay", "10", "--warmup", "0"],
  ...["--eval-every", "0"],
];

function records(path: string): Record<string, unknown>[] {
  return Deno.readTextFileSync(path).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("pretrain: a non-finite loss stops the run, naming the step; the last checkpoint stays good", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/p`;
    const args = [...TINY, ...DIVERGE, "--save-every", "1", "--keep", "2", "--out", out];
    const r = await runScript("stages/pretrain.ts", [...args, "--steps", "40"]);
    assertEquals(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    const m = lines[0].match(
      /^error: Step (\d+): the loss \(.*\) or gradient norm \(.*\) is not finite; the update was skipped and the checkpoint of step (\d+) in .* is kept: lower --lr, raise --warmup, or pass --skip-nonfinite$/,
    );
    assert(m, lines[0]);
    const bad = Number(m[1]), kept = Number(m[2]);
    assert(bad >= 3 && bad < 40, `diverged at step ${bad}`);
    assertEquals(kept, bad - 1);
    const ckpt = await loadCheckpoint(out, { optimizer: true });
    assertEquals(ckpt.state.step, kept);
    for (const table of [ckpt.params, ckpt.optimizer!.m, ckpt.optimizer!.v]) {
      for (const [name, v] of table) assert(v.every(Number.isFinite), `${name} is not finite`);
    }
    assertEquals(
      [...Deno.readDirSync(`${out}.steps`)].map((e) => e.name),
      [`step-${String(kept - 1).padStart(8, "0")}`],
    );
    const log = records(`${out}.metrics.jsonl`);
    assert(log.every((e) => e.step !== bad || e.loss === undefined), "the bad step was logged");

    // The same run with --skip-nonfinite goes on to the end.
    const s = await runScript("stages/pretrain.ts", [
      ...args,
      "--steps",
      String(bad + 2),
      "--skip-nonfinite",
    ]);
    assertEquals(s.code, 0, s.stderr);
    assertMatch(s.stderr, new RegExp(`step ${bad}: loss .*, gradient norm .*: update skipped`));
    assertEquals((await loadCheckpoint(out)).state.step, bad + 2);
    const skipped = records(`${out}.metrics.jsonl`).filter((e) => e.skipped === true);
    assert(skipped.length >= 1 && skipped[0].step === bad, JSON.stringify(skipped));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rlhf: a non-finite reward-model loss stops the run, naming the step", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await tinyCheckpoint(`${dir}/sft`);
    const r = await runScript("stages/rlhf.ts", [
      "--init",
      `${dir}/sft`,
      "--out",
      `${dir}/ppo`,
      "--reward-out",
      `${dir}/reward`,
      "--stage",
      "rm",
      "--rm-lr",
      "1",
      "--weight-decay",
      "10",
      "--warmup",
      "0",
      "--rm-steps",
      "60",
      "--rm-batch",
      "2",
      "--rm-eval-pairs",
      "4",
      "--quiet",
    ]);
    assertEquals(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assertEquals(lines.length, 1, r.stderr);
    assertMatch(lines[0], /^error: RM step \d+: the loss is not finite: lower --rm-lr$/);
    assert(!(await exists(`${dir}/reward`)), "a reward model was written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
