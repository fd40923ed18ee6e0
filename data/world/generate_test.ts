import { assert, assertEquals } from "../../tests/_assert.ts";
import { BROKEN_RULES, generateWorld, worldVocabulary } from "./generate.ts";
import { judge } from "./judge.ts";
import { heldOutCombos, parsePrompt, trainingCombos } from "./prompts.ts";
import { OPEN_TIPS } from "./open.ts";

const world = generateWorld({
  seed: 3,
  proseParagraphs: 60,
  instructions: 1500,
  preferences: 1500,
});

Deno.test("generateWorld is deterministic by seed", () => {
  const opts = { proseParagraphs: 20, instructions: 200, preferences: 200, heldOut: 30 };
  const a = generateWorld({ seed: 5, ...opts });
  assertEquals(generateWorld({ seed: 5, ...opts }), a);
  const b = generateWorld({ seed: 6, ...opts });
  assert(JSON.stringify(a.prose) !== JSON.stringify(b.prose), "seed does not change the prose");
  assert(JSON.stringify(a.instructions) !== JSON.stringify(b.instructions), "seed ignored");
  // The held-out set is the same for every seed (the sample of it may differ).
  assertEquals(
    generateWorld({ seed: 5, ...opts, heldOut: undefined }).heldOutPrompts,
    generateWorld({ seed: 9, ...opts, heldOut: undefined }).heldOutPrompts,
  );
});

Deno.test("generateWorld returns the requested numbers of items", () => {
  assertEquals(world.prose.length, 60);
  assertEquals(world.instructions.length, 1500);
  assertEquals(world.preferences.length, 1500);
  const all = generateWorld({ proseParagraphs: 0, instructions: 0, preferences: 0 }).heldOutPrompts;
  assert(all.length >= 100, `${all.length} held-out prompts`);
  assertEquals(new Set(all).size, all.length);
  assertEquals(
    generateWorld({ proseParagraphs: 0, instructions: 0, heldOut: 17 }).heldOutPrompts.length,
    17,
  );
});

Deno.test("default prose is about 150 KB of paragraphs without lists or instructions", () => {
  const prose = generateWorld({ instructions: 0, preferences: 0 }).prose;
  const bytes = new TextEncoder().encode(prose.join("\n\n")).length;
  assert(bytes > 120_000 && bytes < 200_000, `${bytes} bytes`);
  for (const p of prose) {
    assert(!/^\s*\d+[.)]/m.test(p), `numbered line in prose: ${p}`);
    assert(!/\b(give|list|name) (\d|one|two|three|four|five)\b/i.test(p), `prompt in prose: ${p}`);
    assert(!p.includes("\n"), "a paragraph is one line");
    assert(/^[A-Z].*\.$/.test(p), `paragraph shape: ${p}`);
  }
});

Deno.test("held-out prompts never appear among training prompts", () => {
  const big = generateWorld({ seed: 1, proseParagraphs: 0 });
  const train = new Set([
    ...big.instructions.map((p) => p.prompt),
    ...big.preferences.map((p) => p.prompt),
  ]);
  assert(big.heldOutPrompts.length > 0);
  for (const p of big.heldOutPrompts) assert(!train.has(p), `held-out prompt in training: ${p}`);
  const held = new Set(heldOutCombos().map((c) => `${c.topic.id}/${c.wording.id}/${c.count}`));
  const training = trainingCombos().map((c) => `${c.topic.id}/${c.wording.id}/${c.count}`);
  assert(training.every((k) => !held.has(k)));
  // Every held-out combination is new only as a combination: its topic, wording and count occur.
  const topics = new Set(trainingCombos().map((c) => c.topic.id));
  const wordings = new Set(trainingCombos().map((c) => c.wording.id));
  for (const c of heldOutCombos()) {
    assert(topics.has(c.topic.id) && wordings.has(c.wording.id), `${c.topic.id}/${c.wording.id}`);
  }
});

Deno.test("instruction responses: the requested count of distinct on-topic items", () => {
  let imperfect = 0;
  for (const { prompt, response } of world.instructions) {
    const want = parsePrompt(prompt)!.count;
    const lines = response.split("\n");
    assertEquals(lines.length, want, prompt);
    lines.forEach((l, i) => assert(l.startsWith(`${i + 1}. `), l));
    assertEquals(new Set(lines.map((l) => l.slice(3))).size, want, response);
    const j = judge(prompt, response);
    assert(j.format && j.count && j.onTopic === 1 && j.distinct === 1 && j.clean, j.details.join());
    if (j.score === 1) continue;
    // Not preference-perfect: exactly one dispreferred item.
    assertEquals(j.preferred, (want - 1) / want, response);
    imperfect++;
  }
  const rate = imperfect / world.instructions.length;
  assert(rate > 0.25 && rate < 0.35, `dispreferred rate ${rate}`);
  const clean = generateWorld({
    instructions: 300,
    preferences: 0,
    proseParagraphs: 0,
    dispreferredRate: 0,
  });
  for (const { prompt, response } of clean.instructions) {
    assertEquals(judge(prompt, response).score, 1);
  }
});

Deno.test("preferences: chosen scores 1 and above rejected, which breaks the named rule", () => {
  const seen = new Set<string>();
  for (const { prompt, chosen, rejected, broken } of world.preferences) {
    seen.add(broken);
    const c = judge(prompt, chosen);
    const r = judge(prompt, rejected);
    assertEquals(c.score, 1, `${prompt}\n${chosen}\n${c.details}`);
    assert(r.score < c.score, `${broken}: ${prompt}\n${rejected}`);
    const failed = {
      off_topic: r.onTopic < 1,
      wrong_count: !r.count && r.format,
      dispreferred: r.preferred < 1 && r.onTopic === 1,
      repetition: r.distinct < 1,
      rambling: !r.clean && r.format && r.count,
      no_numbering: !r.format,
    }[broken];
    assert(failed, `${broken} not detected: ${prompt}\n${rejected}\n${r.details}`);
  }
  assertEquals([...seen].sort(), [...BROKEN_RULES].sort());
});

Deno.test("the world's vocabulary stays small", () => {
  const vocab = worldVocabulary(generateWorld());
  console.log(`distinct words in the default world: ${vocab.size}`);
  assert(vocab.size < 700, `${vocab.size} distinct words`);
});

Deno.test("generateWorld rejects bad counts", () => {
  let message = "";
  try {
    generateWorld({ instructions: -1 });
  } catch (e) {
    message = (e as Error).message;
  }
  assert(/instructions must be a non-negative integer/.test(message), message);
});

Deno.test("open prompts name no topic and get a list of the requested count, in words of their own", () => {
  assertEquals(world.open.length, 200);
  assertEquals(generateWorld({ instructions: 0, preferences: 0, open: 7 }).open.length, 7);
  const vocab = worldVocabulary(world);
  const wordings = new Set<string>();
  for (const { prompt, response } of world.open) {
    assertEquals(parsePrompt(prompt), undefined, prompt);
    assert(!/France/.test(prompt), prompt);
    const want = /^(List|Name) (\d)/.exec(prompt)?.[2];
    const lines = response.split("\n");
    assertEquals(lines.length, want ? Number(want) : 3, prompt);
    lines.forEach((l, i) => assert(l.startsWith(`${i + 1}. `), l));
    assertEquals(new Set(lines).size, lines.length, response);
    const subject = prompt.match(/[A-Z][a-z]+/g)!.slice(1).filter((w) => w !== "The");
    for (const word of subject) assert(!vocab.has(word.toLowerCase()), `${word} in the world`);
    wordings.add(prompt.split(" ").slice(0, 2).join(" "));
  }
  assert(wordings.size >= 8, [...wordings].join(", "));
});

Deno.test("open answers use the world's words", () => {
  const vocab = worldVocabulary(generateWorld());
  for (const tip of OPEN_TIPS) {
    for (const w of tip.toLowerCase().match(/[a-z]+/g)!) assert(vocab.has(w), `${w}: ${tip}`);
  }
});
