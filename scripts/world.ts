/**
 * Writes the instruction world's data to files:
 *
 * - `pretrain.txt`: prose paragraphs separated by a blank line;
 * - `sft.jsonl`: `{prompt, completion}` per line;
 * - `preferences.jsonl`: `{prompt, chosen, rejected, broken}` per line;
 * - `heldout.jsonl`: `{prompt}` per line.
 *
 * Usage: `deno run -A scripts/world.ts --out DIR [--seed N] [--prose N] [--instructions N]
 * [--preferences N] [--held-out N]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { generateWorld, worldVocabulary } from "../data/world/mod.ts";

const USAGE = "usage: world.ts --out DIR [--seed N] [--prose N] [--instructions N] " +
  "[--preferences N] [--held-out N]";

function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

function intFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got ${value}`);
  return n;
}

function jsonl(rows: readonly object[]): string {
  return rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length ? "\n" : "");
}

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      strict: true,
      allowPositionals: false,
      options: {
        out: { type: "string" },
        seed: { type: "string" },
        prose: { type: "string" },
        instructions: { type: "string" },
        preferences: { type: "string" },
        "held-out": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    fail(`${(e as Error).message.split("\n")[0]} (${USAGE})`);
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (!values.out) fail(`Missing --out (${USAGE})`);
  const world = generateWorld({
    seed: intFlag("seed", values.seed),
    proseParagraphs: intFlag("prose", values.prose),
    instructions: intFlag("instructions", values.instructions),
    preferences: intFlag("preferences", values.preferences),
    heldOut: intFlag("held-out", values["held-out"]),
  });
  const dir = values.out;
  await Deno.mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ["pretrain.txt", world.prose.join("\n\n") + "\n"],
    [
      "sft.jsonl",
      jsonl(world.instructions.map((p) => ({ prompt: p.prompt, completion: p.response }))),
    ],
    ["preferences.jsonl", jsonl(world.preferences)],
    ["heldout.jsonl", jsonl(world.heldOutPrompts.map((prompt) => ({ prompt })))],
  ];
  for (const [name, text] of files) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
    const kb = (new TextEncoder().encode(text).length / 1024).toFixed(1);
    console.log(`wrote ${dir}/${name} (${kb} KB)`);
  }
  console.log(
    `${world.prose.length} paragraphs, ${world.instructions.length} instruction pairs, ` +
      `${world.preferences.length} preference pairs, ${world.heldOutPrompts.length} held-out ` +
      `prompts, ${worldVocabulary(world).size} distinct words`,
  );
}
