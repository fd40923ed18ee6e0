import { assert, assertEquals, assertMatch, assertRejects } from "../tests/_assert.ts";
import {
  DataError,
  detectFormat,
  encodeInstructions,
  InstructionBatches,
  loadInstructions,
  parseInstructions,
  splitExamples,
  worldInstructions,
} from "./instructions.ts";
import { formatPrompt } from "./template.ts";
import { buildTokenizer, EOT_TEXT } from "./tokenizer.ts";

const bytes = buildTokenizer("bytes");

Deno.test("alpaca: JSON array and JSON Lines, input optional", () => {
  const array = `[
  {"instruction": "Add the numbers", "input": "2 and 3", "output": "5"},

  {
    "instruction": "Say hi",
    "output": " Hi! "
  }
]`;
  const a = parseInstructions(array, "a.json");
  assertEquals(a.format, "alpaca");
  assertEquals(a.examples, [
    { instruction: "Add the numbers", input: "2 and 3", response: "5" },
    { instruction: "Say hi", response: "Hi!" },
  ]);
  const lines = '{"instruction": "Say hi", "input": "", "output": "Hi!"}\n\n' +
    '{"instruction": "Add", "input": "1 1", "output": "2"}\n';
  const b = parseInstructions(lines, "a.jsonl");
  assertEquals(b.records, 2);
  assertEquals(b.examples[0], { instruction: "Say hi", response: "Hi!" });
  assertEquals(b.examples[1].input, "1 1");
});

Deno.test("prompt-completion, chat and self-instruct records", () => {
  const pc = parseInstructions('{"prompt": "Name a color", "completion": " Blue"}', "p.jsonl");
  assertEquals(pc.format, "prompt-completion");
  assertEquals(pc.examples, [{ instruction: "Name a color", response: "Blue" }]);

  const chat = parseInstructions(
    JSON.stringify({
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello." },
        { role: "user", content: "Name a fruit" },
        { role: "assistant", content: "Apple." },
      ],
    }) + "\n" +
      JSON.stringify({
        messages: [{ role: "user", content: "Q" }, { role: "assistant", content: "A" }],
      }),
    "c.jsonl",
  );
  assertEquals(chat.format, "chat");
  // The loss is on the last assistant turn; the system message opens the first instruction.
  assertEquals(chat.examples[0], {
    instruction: "Name a fruit",
    response: "Apple.",
    history: [{ instruction: "Be brief.\n\nHi", response: "Hello." }],
  });
  assertEquals(chat.examples[1], { instruction: "Q", response: "A" });

  const si = parseInstructions(
    JSON.stringify({
      id: "t0",
      instruction: "Translate",
      instances: [{ input: "hola", output: "hello" }, { input: "", output: "nothing" }],
      is_classification: false,
    }),
    "s.jsonl",
  );
  assertEquals(si.format, "self-instruct");
  assertEquals(si.records, 1);
  assertEquals(si.examples, [
    { instruction: "Translate", input: "hola", response: "hello" },
    { instruction: "Translate", response: "nothing" },
  ]);
  assertEquals(detectFormat({ text: "x" }), undefined);
});

Deno.test("the Self-Instruct seed tasks parse (skipped without the file)", async (t) => {
  const path = new URL("../../shared/data/self_instruct_seed_tasks.jsonl", import.meta.url);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    await t.step({ name: "file absent", ignore: true, fn: () => {} });
    return;
  }
  const parsed = parseInstructions(text, "self_instruct_seed_tasks.jsonl");
  assertEquals(parsed.format, "self-instruct");
  assertEquals(parsed.records, 175);
  assertEquals(parsed.examples.length, 175);
  assertEquals(parsed.examples.filter((e) => e.input !== undefined).length, 125);
  assert(parsed.examples.every((e) => e.instruction !== "" && e.response !== ""));
});

/** Malformed data: the error names the file and the line. */
const BAD: [string, string, RegExp][] = [
  [
    "invalid JSON line",
    '{"instruction": "a", "output": "b"}\n{"instruction": "a" "output"}\n',
    /bad\.jsonl line 2: invalid JSON/,
  ],
  [
    "invalid JSON in an array",
    '[\n  {"instruction": "a", "output": "b"},\n  {"instruction" "a"}\n]',
    /bad\.jsonl line 3: invalid JSON/,
  ],
  [
    "missing output",
    '{"instruction": "a", "output": "b"}\n\n{"instruction": "a", "input": "x"}\n',
    /bad\.jsonl line 3: missing "output" \(alpaca record\): fix the record or pass --format/,
  ],
  [
    "missing field in an array",
    '[\n{"instruction": "a", "output": "b"},\n{"instruction": "c"}\n]',
    /bad\.jsonl line 3: missing "output"/,
  ],
  [
    "wrong type",
    '{"instruction": "a", "output": 7}',
    /line 1: "output" must be a string, got a number/,
  ],
  ["empty response", '{"prompt": "a", "completion": "  "}', /line 1: "completion" is empty/],
  [
    "not an object",
    '{"prompt": "a", "completion": "b"}\n[1, 2]\n',
    /line 2: expected a JSON object, got an array/,
  ],
  [
    "unknown format",
    '{"text": "hello"}',
    /line 1: cannot tell the format \(keys "text"\).*--format/,
  ],
  ["empty file", "\n  \n", /bad\.jsonl is empty/],
  ["empty array", "[]", /bad\.jsonl is an empty JSON array/],
  [
    "chat ends with user",
    '{"messages": [{"role": "user", "content": "hi"}]}',
    /line 1: the last message must be an "assistant" turn/,
  ],
  [
    "chat bad role",
    '{"messages": [{"role": "bot", "content": "hi"}]}',
    /line 1: unknown role "bot"/,
  ],
  [
    "chat two users",
    '{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]}',
    /two "user" messages in a row/,
  ],
  [
    "instances not an array",
    '{"instruction": "a", "instances": {"output": "b"}}',
    /"instances" must be an array, got an object/,
  ],
  [
    "instance without output",
    '{"instruction": "a", "instances": [{"input": "b"}]}',
    /line 1: missing "output" in instance 1/,
  ],
];

for (const [name, text, pattern] of BAD) {
  Deno.test(`malformed data: ${name}`, () => {
    let error: unknown;
    try {
      parseInstructions(text, "bad.jsonl");
    } catch (e) {
      error = e;
    }
    assert(error instanceof DataError, `${name}: expected a DataError, got ${error}`);
    assertMatch(error.message, pattern);
    assert(!error.message.includes("\n"), "one line");
  });
}

Deno.test("a forced format reports the fields it needs", () => {
  let message = "";
  try {
    parseInstructions('{"instruction": "a", "output": "b"}', "x.jsonl", "prompt-completion");
  } catch (e) {
    message = (e as Error).message;
  }
  assertMatch(message, /x\.jsonl line 1: missing "prompt" \(prompt-completion record\)/);
});

Deno.test("loadInstructions: a missing file and a directory are data errors", async () => {
  await assertRejects(() => loadInstructions("/nonexistent/data.jsonl"), /does not exist/);
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(() => loadInstructions(dir), /is a directory/);
    await Deno.writeTextFile(`${dir}/d.jsonl`, '{"prompt": "a", "completion": "b"}\n');
    assertEquals((await loadInstructions(`${dir}/d.jsonl`)).examples.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("template round trip: the weighted targets are exactly the response and eot", () => {
  const examples = [
    { instruction: "Give 2 tips for sleep", response: "1. Rest.\n2. Read." },
    { instruction: "Translate", input: "hola", response: "hello" },
    {
      instruction: "Second question",
      response: "Second answer",
      history: [{ instruction: "First", response: "One" }],
    },
  ];
  const T = 120;
  const encoded = encodeInstructions(bytes, examples, T + 1);
  const batches = new InstructionBatches(encoded, { T, pad: bytes.eot });
  const [batch] = batches.sequentialBatches(4);
  examples.forEach((ex, row) => {
    const o = row * T;
    const prompt = (ex.history ? `${formatPrompt("First")}One${EOT_TEXT}\n` : "") +
      formatPrompt(ex.instruction, ex.input);
    const inputs = bytes.decode(batch.inputs.subarray(o, o + T).filter((id) => id !== bytes.eot));
    // The input row holds the prompt and the response (the final eot is only a target).
    assertEquals(inputs.replace(EOT_TEXT, ""), (prompt + ex.response).replace(EOT_TEXT, ""));
    const picked: number[] = [];
    for (let t = 0; t < T; t++) if (batch.weights[o + t] === 1) picked.push(batch.targets[o + t]);
    assertEquals(bytes.decode(picked), ex.response + EOT_TEXT);
    // Targets are the inputs shifted by one.
    for (let t = 0; t + 1 < encoded[row].ids.length - 1; t++) {
      assertEquals(batch.targets[o + t], batch.inputs[o + t + 1]);
    }
  });
  // The fourth row is padding with weight 0.
  assert(batch.weights.subarray(3 * T).every((w) => w === 0));
  assert(batch.inputs.subarray(3 * T).every((id) => id === bytes.eot));
});

Deno.test("full-sequence weights every real position; truncation keeps T+1 ids", () => {
  const ex = { instruction: "x".repeat(100), response: "y".repeat(100) };
  const T = 63;
  const [enc] = encodeInstructions(bytes, [ex], T + 1);
  assert(enc.truncated);
  assertEquals(enc.ids.length, T + 1);
  // The truncation rule: the prompt keeps at least half, its end (the response header) kept.
  assert(enc.promptLength >= 32);
  assertEquals(bytes.decode(enc.ids.slice(0, enc.promptLength)).slice(-14), "### Response:\n");
  const masked = new InstructionBatches([enc], { T, pad: bytes.eot }).nextBatch(1);
  const full = new InstructionBatches([enc], { T, pad: bytes.eot, fullSequence: true })
    .nextBatch(1);
  assertEquals(masked.weights.reduce((a, b) => a + b, 0), T + 1 - enc.promptLength);
  assertEquals(full.weights.reduce((a, b) => a + b, 0), T);
});

Deno.test("batches: each epoch visits every example once; the state replays the batches", () => {
  const examples = Array.from({ length: 7 }, (_, i) => ({
    instruction: `q${i}`,
    response: `answer ${i}`,
  }));
  const encoded = encodeInstructions(bytes, examples, 65);
  const rowsOf = (b: InstructionBatches, n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const batch = b.nextBatch(1);
      out.push(bytes.decode(batch.inputs.filter((id) => id !== bytes.eot)).split("\n")[1]);
    }
    return out;
  };
  const a = new InstructionBatches(encoded, { T: 64, pad: bytes.eot, seed: 3 });
  const epoch1 = rowsOf(a, 7);
  assertEquals([...epoch1].sort(), examples.map((e) => e.instruction).sort());
  const mid = rowsOf(a, 3);
  const saved = a.state;
  const rest = rowsOf(a, 9);
  assertEquals(a.epochs, 19 / 7);
  const b = new InstructionBatches(encoded, { T: 64, pad: bytes.eot, seed: 99 });
  b.state = JSON.parse(JSON.stringify(saved));
  assertEquals(rowsOf(b, 9), rest);
  assert(mid.join() !== epoch1.slice(0, 3).join(), "a new order per epoch");
  let threw = false;
  try {
    b.state = { ...saved, examples: 8 };
  } catch (e) {
    threw = e instanceof DataError;
  }
  assert(threw);
});

Deno.test("splitExamples holds out a fixed 5%", () => {
  const items = Array.from({ length: 400 }, (_, i) => i);
  const a = splitExamples(items);
  const b = splitExamples(items);
  assertEquals(a.val.length, 20);
  assertEquals(a.train.length, 380);
  assertEquals(a.val, b.val);
  assertEquals(new Set([...a.train, ...a.val]).size, 400);
  assertEquals(splitExamples([1, 2]).val.length, 1);
  assertEquals(splitExamples([1]), { train: [1], val: [1] });
});

Deno.test("mismatch rule: a compact tokenizer encodes unseen text through byte tokens", () => {
  const tok = buildTokenizer("gpt2-compact", ["plain words only"]);
  const world = worldInstructions(1).slice(0, 3);
  const [enc] = encodeInstructions(tok, world, 1000);
  assert(enc.ids.every((id) => id < tok.vocabSize));
  assertEquals(
    tok.decode(enc.ids),
    formatPrompt(world[0].instruction) + world[0].response + EOT_TEXT,
  );
});
