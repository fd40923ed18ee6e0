/**
 * What the RLHF stage trains and where it writes: with `--stage rm`, `--out` names the reward
 * model's directory (unless `--reward-out` is given); `--stage all` trains a reward model only for
 * a policy that uses it (PPO, GRPO with `--reward rm`) or when asked.
 */
import { assert, assertEquals } from "./_assert.ts";
import { exists, tinyCheckpoint } from "./_run.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { phases } from "../stages/rlhf.ts";

const SCRIPT = new URL("../stages/rlhf.ts", import.meta.url).pathname;
const RM = ["--rm-steps", "2", "--rm-batch", "2", "--rm-eval-pairs", "4", "--quiet"];

/** Runs the stage from `cwd` (so that default outputs land there). */
async function rlhf(cwd: string, args: string[]): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("rlhf --stage rm --out DIR writes the reward model to DIR", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await tinyCheckpoint(`${dir}/sft`);
    const r = await rlhf(dir, [
      "--init",
      `${dir}/sft`,
      "--stage",
      "rm",
      "--out",
      `${dir}/rm`,
      ...RM,
    ]);
    assertEquals(r.code, 0, r.text);
    const rm = await loadCheckpoint(`${dir}/rm`);
    assertEquals([rm.config.head, rm.state.stage, rm.state.step], ["scalar", "reward", 2]);
    assert(await exists(`${dir}/rm.metrics.jsonl`), "no metrics beside the reward model");
    assert(!(await exists(`${dir}/checkpoints`)), "something was written to checkpoints/");

    // --reward-out, when given, names it (as before); --out is then the policy's, unused here.
    const s = await rlhf(dir, [
      ...["--init", `${dir}/sft`, "--stage", "rm", "--out", `${dir}/p`],
      ...["--reward-out", `${dir}/rm2`, ...RM],
    ]);
    assertEquals(s.code, 0, s.text);
    assertEquals((await loadCheckpoint(`${dir}/rm2`)).state.stage, "reward");
    assert(!(await exists(`${dir}/p`)), "a policy directory was written by --stage rm");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rlhf --stage all trains the reward model only when the policy uses it or when asked", () => {
  const f = (algo: string, reward: string, withRm = false, stage = "all") => ({
    stage,
    algo,
    reward,
    "with-rm": withRm,
  });
  assertEquals(phases(f("ppo", "rm"), false), "all");
  assertEquals(phases(f("grpo", "rm"), false), "all");
  assertEquals(phases(f("dpo", "rm"), false), "policy");
  assertEquals(phases(f("ppo", "judge"), false), "policy");
  assertEquals(phases(f("grpo", "judge"), false), "policy");
  assertEquals(phases(f("dpo", "rm", true), false), "all");
  assertEquals(phases(f("dpo", "rm"), true), "all");
  assertEquals(phases(f("dpo", "rm", false, "rm"), false), "rm");
  assertEquals(phases(f("ppo", "rm", false, "policy"), false), "policy");
});

Deno.test("rlhf --algo dpo trains no reward model unless asked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await tinyCheckpoint(`${dir}/sft`);
    const policy = ["--steps", "2", "--batch", "2", "--max-tokens", "4", "--eval-prompts", "2"];
    const args = (name: string) => [
      ...["--init", `${dir}/sft`, "--algo", "dpo", ...policy, "--quiet"],
      ...["--rm-batch", "2", "--rm-eval-pairs", "4"],
      ...["--out", `${dir}/${name}/dpo`, "--reward-out", `${dir}/${name}/rm`],
    ];
    const r = await rlhf(dir, args("plain"));
    assertEquals(r.code, 0, r.text);
    assert(/rlhf: dpo uses no reward model: none is trained/.test(r.text), r.text);
    assert(!(await exists(`${dir}/plain/rm`)), "a reward model was trained for DPO");
    assertEquals((await loadCheckpoint(`${dir}/plain/dpo`)).state.step, 2);

    const s = await rlhf(dir, [...args("asked"), "--with-rm", "--rm-steps", "2"]);
    assertEquals(s.code, 0, s.text);
    assertEquals((await loadCheckpoint(`${dir}/asked/rm`)).state.stage, "reward");
    assert(/reward-model held-out accuracy/.test(s.text), s.text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
