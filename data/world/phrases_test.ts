import { assert, assertEquals } from "../../tests/_assert.ts";
import { TOPICS } from "./phrases.ts";
import { judge } from "./judge.ts";
import { allCombos, comboPrompts, parsePrompt } from "./prompts.ts";

Deno.test("phrase bank: tips are short imperative sentences, unique across the bank", () => {
  const seen = new Set<string>();
  assert(TOPICS.length >= 8 && TOPICS.length <= 10, `${TOPICS.length} topics`);
  for (const t of TOPICS) {
    assert(t.good.length >= 10, `${t.id}: too few good tips`);
    assert(t.bad.length >= 5, `${t.id}: too few dispreferred tips`);
    for (const s of [...t.good, ...t.bad, ...t.prose]) {
      assert(!seen.has(s.toLowerCase()), `duplicate sentence: ${s}`);
      seen.add(s.toLowerCase());
      assert(/^[A-Z][^.!?]*\.$/.test(s), `not one sentence: ${s}`);
    }
    for (const s of [...t.good, ...t.bad]) {
      assert(s.split(" ").length <= 12, `tip too long: ${s}`);
      assert(!/^(do not|don't|never)\b/i.test(s), `tip starts with a negation: ${s}`);
    }
  }
});

Deno.test("phrase bank: the judge recognises every bank tip as its own topic and kind", () => {
  for (const t of TOPICS) {
    for (const tip of t.bad) {
      const j = judge(`Give 1 tip for ${t.nouns[0]}`, `1. ${tip}`);
      assertEquals([j.onTopic, j.preferred], [1, 0], tip);
    }
    for (const tip of t.good) {
      const j = judge(`Give 1 tip for ${t.nouns[0]}`, `1. ${tip}`);
      assertEquals(j.score, 1, `${tip}: ${j.details.join("; ")}`);
    }
  }
});

Deno.test("parsePrompt reads back the topic and count of every prompt of the world", () => {
  let n = 0;
  for (const c of allCombos()) {
    for (const p of comboPrompts(c)) {
      assertEquals(parsePrompt(p), { topic: c.topic.id, count: c.count }, p);
      n++;
    }
  }
  assert(n > 1000, `only ${n} prompts`);
});

Deno.test("parsePrompt handles free wordings and unknown topics", () => {
  assertEquals(parsePrompt("Any advice on saving money?"), { topic: "money", count: 3 });
  assertEquals(parsePrompt("give me 4 tips for better sleep please"), { topic: "sleep", count: 4 });
  assertEquals(parsePrompt("What is a single way to relax?"), { topic: "stress", count: 1 });
  assertEquals(parsePrompt("How to get better sleep"), { topic: "sleep", count: 3 });
  assertEquals(parsePrompt("How to fix a car"), undefined);
  assertEquals(parsePrompt(""), undefined);
});
