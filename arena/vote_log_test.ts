import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import type { Vote } from "../data/votes.ts";
import { VoteLog } from "./vote_log.ts";

function vote(i: number): Vote {
  const side = (checkpoint: string) => ({
    checkpoint,
    run: null,
    answer: `answer ${i} of ${checkpoint}\n${"x".repeat(i % 7)}`,
    tokens: i,
    finished: true,
  });
  return {
    time: new Date(0).toISOString(),
    battle: `battle-${i}`,
    prompt: `prompt ${i}`,
    winner: (["a", "b", "tie", "bad"] as const)[i % 4],
    a: side("one"),
    b: side("two"),
    settings: { temperature: 0.7, max_tokens: 8, top_k: 0, top_p: 1, seed: i },
  };
}

async function lines(path: string): Promise<unknown[]> {
  const text = await Deno.readTextFile(path);
  assert(text === "" || text.endsWith("\n"), "the file ends with a whole line");
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("concurrent appends land as whole lines; reopening appends after them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sub/votes.jsonl`;
    await Deno.mkdir(`${dir}/sub`);
    const log = await VoteLog.open(path);
    assertEquals(log.votes, []);
    await Promise.all(Array.from({ length: 200 }, (_, i) => log.append(vote(i))));
    await log.close();
    await assertRejects(() => log.append(vote(0)), /closed/);
    const first = await lines(path);
    assertEquals(first.length, 200);
    assertEquals(new Set(first.map((v) => (v as Vote).battle)).size, 200);

    const again = await VoteLog.open(path);
    assertEquals(again.votes.length, 200);
    assertEquals(again.note, undefined);
    await again.append(vote(200));
    await again.close();
    const all = await lines(path);
    assertEquals(all.length, 201);
    assertEquals(all.slice(0, 200), first);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a partial last line is cut off at open; a whole one without its newline is kept", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/votes.jsonl`;
    const whole = JSON.stringify(vote(1)) + "\n";
    await Deno.writeTextFile(path, whole + JSON.stringify(vote(2)).slice(0, 40));
    const log = await VoteLog.open(path);
    assertEquals(log.votes.length, 1);
    assert(log.note?.includes("removed a partial last line (40 bytes"), log.note);
    await log.append(vote(3));
    await log.close();
    assertEquals((await lines(path)).map((v) => (v as Vote).battle), ["battle-1", "battle-3"]);

    await Deno.writeTextFile(path, whole + JSON.stringify(vote(4)));
    const kept = await VoteLog.open(path);
    assertEquals(kept.votes.map((v) => v.battle), ["battle-1", "battle-4"]);
    await kept.append(vote(5));
    await kept.close();
    assertEquals((await lines(path)).length, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a votes file with a line that is no vote is refused, naming the line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/votes.jsonl`;
    await Deno.writeTextFile(path, `${JSON.stringify(vote(1))}\nnot json\n`);
    const e = await assertRejects(() => VoteLog.open(path), /votes\.jsonl: line 2: invalid JSON/);
    assertEquals(e.name, "DataError");
    await Deno.writeTextFile(path, `{"prompt": "p", "chosen": "a", "rejected": "b"}\n`);
    await assertRejects(() => VoteLog.open(path), /line 1: "winner" is undefined/);
    assertEquals(
      await Deno.readTextFile(path),
      `{"prompt": "p", "chosen": "a", "rejected": "b"}\n`,
      "a refused file is left as it was",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
