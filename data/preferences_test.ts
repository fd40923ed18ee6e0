import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import { createTokenizer } from "./tokenizer.ts";
import {
  dialogueTurns,
  encodePreference,
  loadPreferences,
  parseRecord,
  splitDialogues,
  splitHeldOut,
} from "./preferences.ts";

async function tempFile(name: string, data: string | Uint8Array): Promise<string> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/${name}`;
  if (typeof data === "string") await Deno.writeTextFile(path, data);
  else await Deno.writeFile(path, data);
  return path;
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("the three record formats", () => {
  const a = parseRecord({ prompt: "Give 2 tips", chosen: "1. a", rejected: "b", broken: "x" }, "f");
  assertEquals(a?.pairs, [{
    turns: [{ instruction: "Give 2 tips", input: undefined }],
    chosen: "1. a",
    rejected: "b",
  }]);
  const r = parseRecord({ prompt: "p", responses: ["best", "mid", "worst"] }, "f");
  assertEquals(r?.pairs.map((x) => [x.chosen, x.rejected]), [
    ["best", "mid"],
    ["best", "worst"],
    ["mid", "worst"],
  ]);
  const hh = parseRecord({
    chosen: "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tips?\n\nAssistant: Sleep well.",
    rejected: "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tips?\n\nAssistant: No.",
  }, "f");
  assertEquals(hh?.format, "hh-rlhf");
  assertEquals(hh?.pairs[0], {
    turns: [{ instruction: "Hi", response: "Hello!" }, { instruction: "Tips?" }],
    chosen: "Sleep well.",
    rejected: "No.",
  });
  // Replies sharing a prefix are split at the last assistant turn, not inside the reply.
  const s = splitDialogues(
    "\n\nHuman: Q\n\nAssistant: Sure, here it is",
    "\n\nHuman: Q\n\nAssistant: Sure, no",
    "f",
  );
  assertEquals([s.chosen, s.rejected], ["Sure, here it is", "Sure, no"]);
  assertEquals(dialogueTurns("\n\nHuman: a\n\nHuman: b\n\nAssistant:", "f"), [{
    instruction: "a\nb",
  }]);
  // hh-rlhf pairs with identical replies are skipped (the public data has a few).
  assertEquals(
    parseRecord({
      chosen: "\n\nHuman: a\n\nAssistant: b",
      rejected: "\n\nHuman: a\n\nAssistant: b",
    }, "f"),
    null,
  );
});

Deno.test("bad records name the file and line", async () => {
  const cases: [string, RegExp][] = [
    ['{"prompt": "p", "chosen": "a"}', /bad\.jsonl: line 2: "rejected" is missing/],
    [
      '{"prompt": "p", "chosen": "a", "rejected": "a"}',
      /line 2: "chosen" and "rejected" are identical/,
    ],
    ['{"prompt": "p", "chosen": "a", "rejected": ', /line 2: invalid JSON/],
    ['{"chosen": "a", "rejected": "b"}', /line 2: "prompt" is missing/],
    ['{"prompt": "p", "responses": ["a"]}', /line 2: "responses" needs at least two/],
  ];
  for (const [line, pattern] of cases) {
    const path = await tempFile(
      "bad.jsonl",
      `{"prompt": "ok", "chosen": "x", "rejected": "y"}\n${line}\n`,
    );
    const e = await assertRejects(() => loadPreferences(path), pattern);
    assertEquals(e.name, "DataFileError");
    assert(!e.message.includes("\n"), "one line");
  }
  const gz = await tempFile("bad.jsonl.gz", new TextEncoder().encode("not gzip at all"));
  await assertRejects(() => loadPreferences(gz), /bad\.jsonl\.gz: line 1: .*invalid gzip/);
});

Deno.test("gzip files are read directly; the held-out split is deterministic", async () => {
  const lines = Array.from(
    { length: 50 },
    (_, i) => JSON.stringify({ prompt: `p${i}`, chosen: `good ${i}`, rejected: `bad ${i}` }),
  );
  const path = await tempFile("prefs.jsonl.gz", await gzip(lines.join("\n") + "\n"));
  const data = await loadPreferences(path);
  assertEquals(data.pairs.length, 50);
  assertEquals(data.formats, ["prompt/chosen/rejected"]);
  const a = splitHeldOut(data.pairs, 0.1), b = splitHeldOut([...data.pairs].reverse(), 0.1);
  assertEquals(a.heldOut.length + a.train.length, 50);
  assert(a.heldOut.length > 0 && a.heldOut.length < 15, `${a.heldOut.length} held out`);
  assertEquals(new Set(a.heldOut.map((p) => p.chosen)), new Set(b.heldOut.map((p) => p.chosen)));
});

Deno.test("pairs are tokenized with the chat template, ending in end-of-text", () => {
  const tok = createTokenizer({ kind: "bytes", vocabSize: 257, eot: 256 });
  const e = encodePreference(
    tok,
    { turns: [{ instruction: "Hi" }], chosen: "Yes", rejected: "No" },
    64,
  );
  const text = tok.decode(e.chosen.ids);
  assert(text.startsWith("### Instruction:\nHi\n\n### Response:\nYes"), text);
  assertEquals(e.chosen.ids[e.chosen.ids.length - 1], 256);
  assertEquals(e.chosen.promptLength, e.rejected.promptLength);
});

const HH = "/work/shared/data/hh_rlhf_helpful_base_test.jsonl.gz";
const hasHh = await Deno.stat(HH).then(() => true, () => false);

Deno.test({
  name: "the public hh-rlhf sample loads (skipped when absent)",
  ignore: !hasHh,
  fn: async () => {
    const data = await loadPreferences(HH);
    assertEquals(data.formats, ["hh-rlhf"]);
    assert(data.pairs.length > 2000, `${data.pairs.length} pairs`);
    for (const p of data.pairs.slice(0, 200)) {
      assert(p.turns.length >= 1 && p.turns[p.turns.length - 1].response === undefined);
      assert(p.chosen !== p.rejected && !p.chosen.includes("Human:"));
    }
  },
});
