import { assert, assertEquals, assertMatch } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { buildTokenizer } from "../data/tokenizer.ts";
import { encodeConversation, formatPrompt } from "../data/template.ts";
import { encodeInstructions, InstructionBatches } from "../data/instructions.ts";
import type { GptConfig } from "../model/config.ts";
import { saveCheckpoint } from "../model/checkpoint.ts";
import { Gpt, readTable } from "../model/gpt.ts";
import { Trainer } from "../model/trainer.ts";
import { fitConversation, historyCommand } from "./chat.ts";

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

Deno.test("/history on|off parses; anything else is a message", () => {
  assertEquals(["/history", "/history on", "/history off"].map(historyCommand), [
    true,
    true,
    false,
  ]);
  assertEquals(["/history maybe", "history on", "/historyon"].map(historyCommand), [
    undefined,
    undefined,
    undefined,
  ]);
});

/** The conversation of the test: each message asks for a list (of 3, of any length, of 5). */
const CONVERSATION = [
  {
    instruction: "Give 3 tips for better sleep",
    response:
      "1. Keep the same bedtime every night.\n2. Keep your bedroom cool, dark and quiet.\n" +
      "3. Avoid screens for an hour before bed.",
  },
  { instruction: "What is the capital of France?", response: "1. Paris is the capital of France." },
  {
    instruction: "List 5 ways to stay healthy",
    response: "1. Walk every day.\n2. Drink water.\n3. Sleep eight hours.\n4. Eat vegetables.\n" +
      "5. See your friends.",
  },
];

/** Trains a tiny model on the conversation's messages, each alone (as SFT does), until it knows them. */
async function writeListCheckpoint(dir: string): Promise<void> {
  const texts = CONVERSATION.map((c) => formatPrompt(c.instruction) + c.response);
  const tokenizer = buildTokenizer("gpt2-compact", texts);
  const config: GptConfig = {
    vocabSize: tokenizer.vocabSize,
    context: 96,
    layers: 2,
    heads: 2,
    width: 64,
  };
  const examples = encodeInstructions(tokenizer, CONVERSATION, config.context + 1);
  const T = Math.ceil(Math.max(...examples.map((e) => e.ids.length)) / 16) * 16;
  const batches = new InstructionBatches(examples, { T, pad: tokenizer.eot, seed: 1 });
  const gpu = await getGpu();
  const gpt = Gpt.create(gpu, config, { seed: 5 });
  const trainer = new Trainer(gpt, { B: 3, T });
  await trainer.ready();
  const hyper = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 1 };
  let loss = Infinity;
  for (let step = 0; step < 400 && loss > 0.01; step++) {
    loss = (await trainer.submit([batches.nextBatch(3)], hyper)).loss;
  }
  assert(loss <= 0.01, `the tiny model did not learn its lists: loss ${loss}`);
  await saveCheckpoint(dir, {
    config,
    tokenizer: tokenizer.spec as unknown as Record<string, unknown>,
    params: await readTable(gpu, gpt.params),
    state: { stage: "sft", step: 0 },
  });
  trainer.destroy();
  gpt.destroy();
}

/** The numbered lists in a chat's output, one per answer (each answer starts at "1. "). */
function answers(stdout: string): string[][] {
  const out: string[][] = [];
  for (const line of stdout.split("\n").filter((l) => l.trim() !== "")) {
    if (line.startsWith("1. ") || out.length === 0) out.push([]);
    out[out.length - 1].push(line);
  }
  return out;
}

Deno.test("chat: a three-message conversation gets each list in the requested format", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeListCheckpoint(`${dir}/ckpt`);
    const flags = ["--checkpoint", `${dir}/ckpt`, "--temperature", "0", "--tokens", "60"];
    const messages = CONVERSATION.map((c) => c.instruction).join("\n") + "\n";
    const r = await runChat(flags, messages);
    assertEquals(r.code, 0, r.stderr);
    const lists = answers(r.stdout);
    assertEquals(lists.map((l) => l.length), [3, 1, 5], r.stdout);
    for (const list of lists) {
      list.forEach((item, i) => assertMatch(item, new RegExp(`^${i + 1}\\. [A-Z]\\w`)));
    }
    assertEquals(r.stdout.trim(), CONVERSATION.map((c) => c.response).join("\n"));
    // With the conversation kept, later prompts start with earlier turns, a template this model
    // never saw: its answers may go wrong (here the third one was "3." when this was written).
    const kept = await runChat(flags, `/history on\n${messages}`);
    assertEquals(kept.code, 0, kept.stderr);
    assertEquals(answers(kept.stdout)[0].length, 3, kept.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
