import { Tiktoken } from "js-tiktoken/lite";
import gpt2Ranks from "js-tiktoken/ranks/gpt2";
import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import {
  buildTokenizer,
  createTokenizer,
  EOT_TEXT,
  GPT2_EOT,
  GPT2_VOCAB_SIZE,
  type TokenizerSpec,
} from "./tokenizer.ts";

const SAMPLES = [
  "Hello world",
  "",
  " ",
  "a\n\nb",
  "Once upon a time, there was a little cat named Tom. He liked to play in the garden.\n",
  "héllo wörld — naïve café, 日本語のテキスト, Ελληνικά, עברית",
  "emoji 🙂👍🏽👨‍👩‍👧 and flags 🇫🇷",
  "  leading spaces   and\ttabs\r\nwindows line\r\n\r\n\n\n",
  "I'm sure you'll see it's 3.14159 or 1,000,000 — ok's",
  "<|endoftext|> is just text here",
  "\uFEFFbyte order mark first",
  "=".repeat(70) + "a".repeat(40),
];

/** The sample text used to report the compact vocabulary size. */
const STORY = [
  "Once upon a time, in a small village by the sea, there lived a girl named Mia.",
  "Every morning she walked to the harbour to watch the boats come in.",
  "One day a storm came, and the boats did not return. Mia waited and waited.",
  "When the sun came out again, she saw a tiny red boat on the horizon.",
  "It was her father, tired but safe, waving at her from the deck.",
].join("\n\n");

Deno.test("bytes tokenizer round-trips any text and decodes invalid UTF-8 leniently", () => {
  const tok = buildTokenizer("bytes");
  assertEquals(tok.spec, { kind: "bytes", vocabSize: 257, eot: 256 });
  assertEquals([tok.vocabSize, tok.eot], [257, 256]);
  for (const text of SAMPLES) {
    const ids = tok.encode(text);
    assertEquals(ids, Array.from(new TextEncoder().encode(text)));
    assertEquals(tok.decode(ids), text);
  }
  assertEquals(tok.decode([104, 105, 256, 33]), `hi${EOT_TEXT}!`);
  assertEquals(tok.decode([0xff, 0x41]), "\uFFFDA");
  assertEquals(tok.decode(tok.encode("🙂").slice(0, 2)), "\uFFFD");
  assertEquals(tok.decode(new Uint32Array([0x68, 0x69])), "hi");
});

Deno.test("gpt2 tokenizer matches js-tiktoken and round-trips", () => {
  const tok = buildTokenizer("gpt2");
  assertEquals(tok.spec, { kind: "gpt2", vocabSize: GPT2_VOCAB_SIZE, eot: GPT2_EOT });
  assertEquals(tok.encode("Hello world"), [15496, 995]);
  const reference = new Tiktoken(gpt2Ranks);
  for (const text of [...SAMPLES, STORY]) {
    const ids = tok.encode(text);
    assertEquals(ids, reference.encode(text, [], []), `encode ${JSON.stringify(text)}`);
    assertEquals(tok.decode(ids), text);
    // Cached pieces give the same result the second time.
    assertEquals(tok.encode(text), ids);
  }
  // "<|endoftext|>" in text is ordinary characters; the eot id decodes to it.
  assert(!tok.encode(EOT_TEXT).includes(GPT2_EOT));
  assertEquals(tok.decode([15496, GPT2_EOT, 995]), `Hello${EOT_TEXT} world`);
  // One byte of a multi-byte character decodes to a replacement character; the bytes are exact.
  const smile = tok.encode("🙂");
  assert(smile.length > 1);
  assertEquals(tok.decode(smile.slice(0, 1)), "\uFFFD");
  assertEquals(tok.decodeBytes(smile), new TextEncoder().encode("🙂"));
});

Deno.test("gpt2-compact keeps the used ids and spells unseen tokens with bytes", () => {
  const gpt2 = buildTokenizer("gpt2");
  const tok = buildTokenizer("gpt2-compact", [STORY]);
  const ids = tok.spec.ids!;
  console.log(
    `gpt2-compact vocabulary for a ${STORY.length}-character story: ${tok.vocabSize} tokens ` +
      `(GPT-2: ${GPT2_VOCAB_SIZE})`,
  );
  assertEquals(ids.length, tok.vocabSize);
  assert(tok.vocabSize < 400, `compact vocab ${tok.vocabSize}`);
  assertEquals(tok.eot, tok.vocabSize - 1);
  assertEquals(ids[tok.eot], GPT2_EOT);
  assert(ids.every((id, i) => i === 0 || ids[i - 1] < id), "ids sorted by GPT-2 id");

  // Seen text: same tokens as GPT-2, renumbered.
  const dense = tok.encode(STORY);
  assertEquals(dense.map((d) => ids[d]), gpt2.encode(STORY));
  assert(dense.every((d) => d >= 0 && d < tok.vocabSize));

  // Unseen text still round-trips, through single-byte tokens.
  for (const text of SAMPLES) {
    const enc = tok.encode(text);
    assert(enc.every((d) => Number.isInteger(d) && d >= 0 && d < tok.vocabSize));
    assertEquals(tok.decode(enc), text);
  }
  const unseen = "Zebras quizzically juxtapose xylophones 🦓";
  assert(tok.encode(unseen).length > gpt2.encode(unseen).length);
  assertEquals(tok.decode(tok.encode(unseen)), unseen);
  assertEquals(tok.decode([tok.eot]), EOT_TEXT);

  // The spec survives JSON and rebuilds the same tokenizer.
  const again = createTokenizer(JSON.parse(JSON.stringify(tok.spec)));
  assertEquals(again.spec, tok.spec);
  assertEquals(again.encode(unseen + STORY), tok.encode(unseen + STORY));

  // Building is deterministic and independent of text order.
  assertEquals(buildTokenizer("gpt2-compact", [STORY]).spec, tok.spec);
  assertEquals(
    buildTokenizer("gpt2-compact", [unseen, STORY]).spec,
    buildTokenizer("gpt2-compact", [STORY, unseen]).spec,
  );
});

Deno.test("createTokenizer rejects malformed specs with one-line errors", async () => {
  const compact = buildTokenizer("gpt2-compact", ["hello there"]).spec;
  const cases: [unknown, RegExp][] = [
    [null, /must be an object/],
    [{ kind: "sentencepiece", vocabSize: 10, eot: 9 }, /Unknown tokenizer kind "sentencepiece"/],
    [{ kind: "gpt2", vocabSize: 50304, eot: 50256 }, /must have vocabSize 50257 and eot 50256/],
    [{ kind: "bytes", vocabSize: 256, eot: 255 }, /must have vocabSize 257 and eot 256/],
    [{ kind: "gpt2-compact", vocabSize: 300, eot: 299 }, /needs an ids array/],
    [{ ...compact, vocabSize: compact.vocabSize + 1 }, /has \d+ ids but vocabSize \d+/],
    [
      { ...compact, ids: [...compact.ids!.slice(0, -1), compact.ids![0]] },
      /lists GPT-2 id \d+ twice/,
    ],
    [{ ...compact, ids: [...compact.ids!.slice(0, -1), 60000] }, /not a GPT-2 id/],
    [{ ...compact, ids: [...compact.ids!.slice(1), 40000] }, /lacks the single-byte GPT-2 token/],
    [{ ...compact, eot: 0 }, /eot 0 must be the index of GPT-2 id 50256/],
  ];
  for (const [spec, pattern] of cases) {
    const e = await assertRejects(() => createTokenizer(spec as TokenizerSpec), pattern);
    assert(!e.message.includes("\n"), "one line");
    assert(/^[A-Z]/.test(e.message), "sentence case");
  }
  await assertRejects(() => buildTokenizer("gpt2-compact"), /needs the corpus texts/);
  await assertRejects(() => buildTokenizer("gpt2").decode([GPT2_VOCAB_SIZE]), /outside/);
  await assertRejects(() => buildTokenizer("bytes").decode([-1]), /outside/);
  await assertRejects(() => buildTokenizer("bytes").decode([1.5]), /outside/);
});
