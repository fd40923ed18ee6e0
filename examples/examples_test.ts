/**
 * The examples run end to end on tiny settings: GRPO against the example's own rule reward, DPO on
 * a small preference file written here, and the model-size sweep.
 */
import { assert, assertEquals, assertMatch } from "../tests/_assert.ts";
import { runScript, tinyCheckpoint } from "../tests/_run.ts";
import { generateWorld } from "../data/world/mod.ts";

Deno.test("examples/grpo_rule_reward.ts: GRPO against its own rule reward, before and after", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await tinyCheckpoint(`${dir}/sft`, { context: 64 });
    const r = await runScript("examples/grpo_rule_reward.ts", [
      `--init=${dir}/sft`,
      `--out=${dir}/grpo`,
      ...["--steps=2", "--batch=2", "--groupSize=2", "--maxTokens=6", "--evalPrompts=4"],
    ]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /grpo step 2\/2 \| reward [\d.]+/);
    assertMatch(r.stdout, /rule reward on 4 held-out prompts: [\d.]+ → [\d.]+/);
    const state = JSON.parse(await Deno.readTextFile(`${dir}/grpo/state.json`));
    assertEquals([state.algo, state.step, state.finished], ["grpo", 2, true]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/dpo_preferences.ts trains on a preference file and measures held-out pairs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await tinyCheckpoint(`${dir}/sft`, { context: 64 });
    const world = generateWorld({ seed: 1, proseParagraphs: 0, instructions: 0, preferences: 40 });
    const lines = world.preferences.map(({ prompt, chosen, rejected }) =>
      JSON.stringify({ prompt, chosen, rejected })
    );
    await Deno.writeTextFile(`${dir}/prefs.jsonl`, lines.join("\n") + "\n");
    const r = await runScript("examples/dpo_preferences.ts", [
      `--init=${dir}/sft`,
      `--data=${dir}/prefs.jsonl`,
      ...["--steps=3", "--batch=2", "--evalEvery=2"],
    ]);
    assertEquals(r.code, 0, r.stderr);
    const held = Number(r.stdout.match(/: 40 pairs \(.*\), (\d+) held out/)?.[1]);
    assert(held > 0, r.stdout);
    assertMatch(r.stdout, /before training: held-out reward acc [\d.]+ \| margin -?[\d.]+/);
    // evaluations at step 2 and at the end
    assertEquals(r.stdout.match(/dpo eval step \d+: held-out reward acc/g)?.length, 2, r.stdout);
    assertMatch(r.stdout, /DPO loss [\d.]+ after 3 steps/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/size_sweep.ts prints one row per size", async () => {
  const r = await runScript("examples/size_sweep.ts", [
    ...[
      "--sizes=1x16,2x16",
      "--heads=2",
      "--context=16",
      "--steps=3",
      "--batch=2",
      "--paragraphs=30",
    ],
  ]);
  assertEquals(r.code, 0, r.stderr);
  const rows = r.stdout.split("\n").filter((l) => /^\dx16 /.test(l));
  assertEquals(rows.length, 2, r.stdout);
  for (const row of rows) assertMatch(row, /^\dx16\s+[\d.]+M\s+[\d.]+\s+[\d.]+\s+[\d,]+$/);
});
