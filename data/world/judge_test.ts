import { assert, assertEquals } from "../../tests/_assert.ts";
import { generateWorld } from "./generate.ts";
import { judge } from "./judge.ts";

const P = "Give 3 tips for better sleep";
const GOOD = [
  "Go to bed at the same time each night.",
  "Avoid screens for an hour before bed.",
  "Keep your bedroom cool, dark and quiet.",
];
const list = (items: string[]) => items.map((t, i) => `${i + 1}. ${t}`).join("\n");

Deno.test("judge: a good list scores exactly 1", () => {
  const j = judge(P, list(GOOD));
  assertEquals(j, {
    score: 1,
    format: true,
    count: true,
    onTopic: 1,
    preferred: 1,
    distinct: 1,
    clean: true,
    items: 3,
    details: [],
  });
  // Surrounding whitespace, CRLF and "1)" numbering are fine.
  assertEquals(judge(P, `\n${list(GOOD).replaceAll("\n", "\r\n")}\n\n`).score, 1);
  assertEquals(judge(P, GOOD.map((t, i) => `${i + 1}) ${t}`).join("\n")).score, 1);
});

Deno.test("judge: garbage, empty text and prose score low on format", () => {
  for (const r of ["", "   \n ", "the of the of and", "!!!! 7 ##", "\u0000\u0001 zzz qq"]) {
    const j = judge(P, r);
    assertEquals([j.format, j.count, j.clean], [false, false, false], r);
    assert(j.score <= 0.1, `${j.score} for ${JSON.stringify(r)}`);
  }
  const prose = generateWorld({ seed: 2, proseParagraphs: 20, instructions: 0, preferences: 0 })
    .prose;
  for (const p of prose) {
    const j = judge(P, p);
    assertEquals(j.format, false);
    assert(j.score <= 0.325, `prose scored ${j.score}: ${p}`);
  }
});

Deno.test("judge: partial lists, text around the list, broken numbering", () => {
  const truncated = judge(P, `${list(GOOD.slice(0, 2))}\n3. Keep your bedroom co`);
  assert(truncated.format && truncated.count && !truncated.clean, truncated.details.join());
  assert(truncated.score < 1 && truncated.score > 0.8, `${truncated.score}`);

  const short = judge(P, list(GOOD.slice(0, 2)));
  assertEquals([short.format, short.count, short.items], [true, false, 2]);

  const after = judge(P, `${list(GOOD)}\nI hope this helps you sleep well!`);
  assertEquals([after.format, after.count, after.clean, after.onTopic], [true, true, false, 1]);
  const before = judge(P, `Here are some tips:\n${list(GOOD)}`);
  assertEquals([before.format, before.clean], [true, false]);

  const skipped = judge(P, `1. ${GOOD[0]}\n3. ${GOOD[1]}\n4. ${GOOD[2]}`);
  assertEquals([skipped.format, skipped.count], [false, false]);
  assertEquals(skipped.items, 3);

  const inline = judge(P, `1. ${GOOD[0]} 2. ${GOOD[1]} 3. ${GOOD[2]}`);
  assertEquals([inline.format, inline.items, inline.onTopic], [false, 3, 1]);

  const empty = judge(P, `1. ${GOOD[0]}\n2.\n3. ${GOOD[2]}`);
  assertEquals([empty.format, empty.items], [false, 2]);

  const bullets = judge(P, GOOD.map((t) => `- ${t}`).join("\n"));
  assertEquals([bullets.format, bullets.items, bullets.onTopic, bullets.preferred], [
    false,
    3,
    1,
    1,
  ]);
});

Deno.test("judge: off-topic, dispreferred and repeated items lower their fractions", () => {
  const off = judge(P, list([GOOD[0], "Pay your bills on time.", GOOD[2]]));
  assertEquals([off.onTopic, off.preferred], [2 / 3, 1]);
  const bad = judge(P, list([GOOD[0], "Keep the TV on all night.", GOOD[2]]));
  assertEquals([bad.onTopic, bad.preferred], [1, 2 / 3]);
  const rep = judge(P, list([GOOD[0], GOOD[1], GOOD[0]]));
  assertEquals([rep.distinct, rep.count], [2 / 3, true]);
  // A light paraphrase still counts as the same tip (and so as a repetition).
  const para = judge(P, list([GOOD[0], GOOD[1], "Go to bed at the same time every night."]));
  assertEquals([para.onTopic, para.distinct], [1, 2 / 3]);
  for (const j of [off, bad, rep, para]) assert(j.score < 1 && j.score > 0.8, `${j.score}`);
});

Deno.test("judge: unknown items earn at most half credit and keyword stuffing does not pay", () => {
  const stuffed = judge(P, list(["Bed.", "Pillow bed bedroom.", "Naps."]));
  const imperfect = judge(P, list([GOOD[0], GOOD[1], "Keep the TV on all night."]));
  assert(stuffed.score < 0.6, `keyword stuffing scored ${stuffed.score}`);
  assert(stuffed.score < imperfect.score - 0.3, "keyword stuffing pays");
  assert(stuffed.onTopic <= 0.5, "unknown items get at most half on-topic credit");
  assert(stuffed.preferred === 0, "one-word items are not preferred");
  const novel = judge(P, list([GOOD[0], GOOD[1], "Put a soft blanket on your bed tonight."]));
  assertEquals([novel.onTopic, novel.preferred], [2.5 / 3, 2.5 / 3]);
  const harmful = judge(P, list([GOOD[0], GOOD[1], "Take pills and skip the bed at night."]));
  assertEquals(harmful.preferred, 2 / 3);
  const sneaky = judge(P, list([GOOD[0], GOOD[1], `${GOOD[2]} Skip sleep and drink coffee.`]));
  assert(sneaky.preferred < 1 && !sneaky.clean, sneaky.details.join());
});

Deno.test("judge: the prompt sets topic and count; unknown prompts get no topic credit", () => {
  assertEquals(judge("Give one tip for better sleep", list([GOOD[0]])).score, 1);
  assertEquals(judge("How can I sleep better?", list(GOOD)).score, 1);
  assertEquals(judge("Give 5 tips for better sleep", list(GOOD)).count, false);
  const money = judge("How to save money", list(GOOD));
  assertEquals([money.onTopic, money.count], [0, true]);
  const unknown = judge("How to fix a car", list(GOOD));
  assertEquals(unknown.onTopic, 0);
  assert(unknown.details[0].includes("no known topic"));
});
