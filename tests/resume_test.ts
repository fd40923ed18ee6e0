/**
 * Reliability: a run interrupted by SIGINT writes a checkpoint and exits 130, and resuming it gives
 * bit-for-bit the losses of an uninterrupted run; SIGKILL at any moment leaves a loadable checkpoint.
 */
import { assert, assertEquals } from "./_assert.ts";
import { exists, TINY } from "./_run.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const STEPS = "60";

function spawnPretrain(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "stages/pretrain.ts",
      ...TINY,
      "--eval-every",
      "0",
      "--steps",
      STEPS,
      ...args,
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

async function losses(path: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const line of (await Deno.readTextFile(path)).trim().split("\n")) {
    const e = JSON.parse(line);
    if (typeof e.loss === "number") out.set(e.step, e.loss);
  }
  return out;
}

async function waitForSteps(path: string, n: number): Promise<void> {
  // Up to two minutes: a loaded machine can take half a minute to start a run.
  for (let i = 0; i < 2400; i++) {
    if ((await exists(path)) && (await losses(path).catch(() => new Map())).size >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${n} steps in ${path}`);
}

Deno.test("SIGINT saves a checkpoint; resuming reproduces the uninterrupted losses exactly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const full = spawnPretrain(["--out", `${dir}/full`]);
    assertEquals((await full.output()).code, 0);
    const want = await losses(`${dir}/full.metrics.jsonl`);

    const run = spawnPretrain(["--out", `${dir}/cut`]);
    await waitForSteps(`${dir}/cut.metrics.jsonl`, 5);
    run.kill("SIGINT");
    const r = await run.output();
    assertEquals(r.code, 130, new TextDecoder().decode(r.stderr));
    const cut = (await loadCheckpoint(`${dir}/cut`)).state.step as number;
    assert(cut >= 5 && cut < Number(STEPS), `interrupted at step ${cut}`);

    const resumed = spawnPretrain(["--out", `${dir}/cut`, "--resume"]);
    assertEquals((await resumed.output()).code, 0);
    const got = await losses(`${dir}/cut.metrics.jsonl`);
    for (let step = 1; step <= Number(STEPS); step++) {
      assertEquals(got.get(step), want.get(step), `step ${step} (interrupted after ${cut})`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGKILL at any moment leaves the previous checkpoint loadable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const delay of [40, 110, 230]) {
      const out = `${dir}/k${delay}`;
      const run = spawnPretrain(["--out", out, "--save-every", "1"]);
      await waitForSteps(`${out}.metrics.jsonl`, 3);
      await new Promise((r) => setTimeout(r, delay));
      run.kill("SIGKILL");
      await run.output();
      const ckpt = await loadCheckpoint(out, { optimizer: true });
      assert((ckpt.state.step as number) >= 1);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
