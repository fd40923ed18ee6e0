import { assert, assertEquals } from "../../tests/_assert.ts";

const script = new URL("../../scripts/world.ts", import.meta.url).pathname;

async function run(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("scripts/world.ts writes the four files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await run(
      "--out",
      dir,
      "--seed",
      "4",
      "--prose",
      "5",
      "--instructions",
      "7",
      "--preferences",
      "6",
      "--held-out",
      "3",
    );
    assertEquals(r.code, 0, r.stderr);
    const text = await Deno.readTextFile(`${dir}/pretrain.txt`);
    assertEquals(text.trim().split("\n\n").length, 5);
    const rows = async (name: string) =>
      (await Deno.readTextFile(`${dir}/${name}`)).trim().split("\n").map((l) => JSON.parse(l));
    const sft = await rows("sft.jsonl");
    assertEquals(sft.length, 7);
    assertEquals(Object.keys(sft[0]).sort(), ["completion", "prompt"]);
    const prefs = await rows("preferences.jsonl");
    assertEquals(prefs.length, 6);
    for (const k of ["prompt", "chosen", "rejected"]) assert(typeof prefs[0][k] === "string");
    assertEquals((await rows("heldout.jsonl")).length, 3);
    assert(r.stdout.includes("distinct words"), r.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scripts/world.ts: an unknown flag is one error line and exit 2", async () => {
  const r = await run("--out", "/nonexistent", "--colour", "red");
  assertEquals(r.code, 2);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert(/unknown option/i.test(r.stderr), r.stderr);
  assertEquals((await run("--seed", "1")).code, 2);
});
