import { assertEquals, assertRejects } from "../tests/_assert.ts";
import { loadPreferences } from "./preferences.ts";
import { describeSkips, parseVote, type Vote, votePreference, type Winner } from "./votes.ts";

/** A vote line as the arena writes it. */
function voteRecord(winner: Winner, a = "1. Sleep early.", b = "Eat cake."): Vote {
  const side = (checkpoint: string, answer: string) => ({
    checkpoint,
    run: `run-${checkpoint}`,
    answer,
    tokens: 4,
    finished: true,
  });
  return {
    time: "2026-11-30T10:00:00.000Z",
    battle: crypto.randomUUID(),
    prompt: "Give 1 tip for better sleep",
    winner,
    a: side("checkpoints/sft", a),
    b: side("checkpoints/rlhf", b),
    settings: { temperature: 0.7, max_tokens: 80, top_k: 0, top_p: 1, seed: 5 },
  };
}

Deno.test("a vote for a side makes its answer chosen; ties, both-bad and identical give none", () => {
  assertEquals(votePreference(voteRecord("a")), {
    prompt: "Give 1 tip for better sleep",
    chosen: "1. Sleep early.",
    rejected: "Eat cake.",
  });
  assertEquals(votePreference(voteRecord("b")), {
    prompt: "Give 1 tip for better sleep",
    chosen: "Eat cake.",
    rejected: "1. Sleep early.",
  });
  assertEquals(votePreference(voteRecord("tie")), "tie");
  assertEquals(votePreference(voteRecord("bad")), "bad");
  assertEquals(votePreference(voteRecord("a", "same", " same ")), "identical");
  // An empty answer is a real outcome (the model stopped at once), and can lose.
  assertEquals(votePreference(voteRecord("a", "1. Rest.", "")), {
    prompt: "Give 1 tip for better sleep",
    chosen: "1. Rest.",
    rejected: "",
  });
});

Deno.test("parseVote names the file, line and field of a bad vote", async () => {
  const good = voteRecord("a");
  assertEquals(parseVote(JSON.parse(JSON.stringify(good)), "f"), good);
  const cases: [unknown, RegExp][] = [
    [{ ...good, winner: "c" }, /^v\.jsonl: line 3: "winner" is "c", not one of a, b, tie, bad/],
    [{ ...good, prompt: " " }, /"prompt" is missing or empty/],
    [{ ...good, a: "x" }, /"a" is no object/],
    [{ ...good, b: { ...good.b, answer: 3 } }, /"b\.answer" is not a string/],
    [{ ...good, a: { ...good.a, checkpoint: "" } }, /"a\.checkpoint" is not a non-empty string/],
    [[1], /expected a JSON object/],
  ];
  for (const [record, pattern] of cases) {
    const e = await assertRejects(() => parseVote(record, "v.jsonl: line 3"), pattern);
    assertEquals(e.name, "DataError");
  }
});

Deno.test("describeSkips counts what the votes file skipped", () => {
  assertEquals(describeSkips({ tie: 0, bad: 0, identical: 0 }), "no votes skipped");
  assertEquals(describeSkips({ tie: 1, bad: 0, identical: 0 }), "1 tie skipped (no preference)");
  assertEquals(
    describeSkips({ tie: 2, bad: 1, identical: 3 }),
    "2 ties, 1 both-bad vote and 3 votes between identical answers skipped (no preference)",
  );
});

Deno.test("loadPreferences reads a votes file: pairs from a/b, ties and both-bad counted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const votes = [
      voteRecord("a"),
      voteRecord("tie"),
      voteRecord("b", "1. Nap.", "1. Walk."),
      voteRecord("bad"),
      voteRecord("tie"),
    ];
    const path = `${dir}/votes.jsonl`;
    await Deno.writeTextFile(path, votes.map((v) => JSON.stringify(v) + "\n").join(""));
    const data = await loadPreferences(path);
    assertEquals(data.formats, ["arena votes"]);
    assertEquals(data.pairs.map((p) => [p.turns[0].instruction, p.chosen, p.rejected]), [
      ["Give 1 tip for better sleep", "1. Sleep early.", "Eat cake."],
      ["Give 1 tip for better sleep", "1. Walk.", "1. Nap."],
    ]);
    assertEquals(data.notes, [
      "arena votes: 2 pairs; 2 ties and 1 both-bad vote skipped (no preference)",
    ]);

    // Only ties: no pairs, and the error says why.
    const ties = `${dir}/ties.jsonl`;
    await Deno.writeTextFile(ties, JSON.stringify(voteRecord("tie")) + "\n");
    await assertRejects(
      () => loadPreferences(ties),
      /holds no preference pairs \(arena votes: 0 pairs; 1 tie skipped/,
    );
    // A damaged vote stops the load, naming the line.
    const bad = `${dir}/bad.jsonl`;
    await Deno.writeTextFile(bad, `${JSON.stringify(votes[0])}\n{"winner": "x"}\n`);
    await assertRejects(() => loadPreferences(bad), /bad\.jsonl: line 2: "winner" is "x"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
