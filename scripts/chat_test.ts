import { assert, assertEquals, assertMatch } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { buildTokenizer } from "../data/tokenizer.ts";
import { encodeConversation } from "../data/template.ts";
import type { GptConfig } from "../model/config.ts";
import { saveCheckpoint } from "../model/checkpoint.ts";
import { Gpt, readTable } from "../model/gpt.ts";
import { fitConversation } from "./chat.ts";

const bytes = buildTokenizer("bytes");
const TINY: GptConfig = { vocabSize: 257, context: 64, layers: 1, heads: 2, width: 32 };
const SCRIPT = new URL("./chat.ts", import.meta.url).pathname;

async function writeTinyCheckpoint(dir: string): Promise<void> {
  const gpu = await getGpu();
  const gpt = Gpt.create(gpu, TINY, { seed: 3 });
  await saveCheckpoint(dir, {
    config: TINY,
    tokenizer: bytes.spec as unknown as Record<string, unknown>,
    params: await readTable(gpu, gpt.params),
    state: { stage: "sft", step: 0 },
  });
  gpt.destroy();
}

async function runChat(args: string[], stdin?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

Deno.test("fitConversation drops the oldest turns first", () => {
  const turns = [
    { instruction: "first question", response: "first answer" },
    { instruction: "second question", response: "second answer" },
    { instruction: "third question" },
  ];
  const all = encodeConversation(bytes, turns);
  assertEquals(fitConversation(bytes, turns, all.length + 10, 10), { ids: all, kept: 3 });
  const two = encodeConversation(bytes, turns.slice(1));
  assertEquals(fitConversation(bytes, turns, two.length + 10, 10), { ids: two, kept: 2 });
  // Even the last turn alone is too long: its end is kept.
  const last = encodeConversation(bytes, turns.slice(2));
  const fit = fitConversation(bytes, turns, 30, 10);
  assertEquals(fit, { ids: last.slice(-20), kept: 1 });
});

Deno.test("chat: one-shot --prompt and piped interactive input exit 0", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeTinyCheckpoint(`${dir}/ckpt`);
    const flags = ["--checkpoint", `${dir}/ckpt`, "--seed", "1"];
    const once = await runChat([...flags, "--tokens", "8", "--prompt", "Give 2 tips for sleep"]);
    assertEquals(once.code, 0, once.stderr);
    assert(once.stdout.endsWith("\n") && once.stdout.trim() !== "", `an answer: ${once.stdout}`);

    // One-token answers (white space trimmed) are one line each, whatever the random model says.
    flags.push("--tokens", "1");
    // Three messages, a reset between; the input ends without a newline (end of input exits).
    const piped = await runChat(flags, "Hello\n\nHow are you?\n/reset\nBye");
    assertEquals(piped.code, 0, piped.stderr);
    assertEquals(piped.stdout.split("\n").length, 4, `three answers: ${piped.stdout}`);
    const quit = await runChat(flags, "Hello\n/quit\nnever answered\n");
    assertEquals(quit.code, 0, quit.stderr);
    assertEquals(quit.stdout.split("\n").length, 2);

    const missing = await runChat(["--checkpoint", `${dir}/none`, "--prompt", "hi"]);
    assertEquals(missing.code, 2);
    assertMatch(missing.stderr, /^error: Checkpoint directory .* does not exist/);
    assert(!missing.stderr.trim().includes("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
