/**
 * Where the RLHF stage writes: with `--stage rm`, `--out` names the reward model's directory
 * (unless `--reward-out` is given), and nothing goes to the default reward directory.
 */
import { assert, assertEquals } from "./_assert.ts";
import { exists, tinyCheckpoint } from "./_run.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";

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
