/**
 * `deno task arena` end to end with tiny checkpoints: bad input stops it with one line; a scripted
 * client votes twenty times, the reward model and DPO train on the votes file, and the DPO policy
 * joins the arena (a restart appends to the same file); Ctrl-C during a burst of votes leaves only
 * whole lines, every acknowledged vote among them.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { waitUntil } from "./_browser.ts";
import { exists, refusal, runScript, tinyCheckpoint } from "./_run.ts";
import { buildTokenizer } from "../data/tokenizer.ts";
import { generateWorld } from "../data/world/mod.ts";
import { parseVote, type Vote } from "../data/votes.ts";

const SCRIPT = "scripts/arena.ts";
const ROOT = new URL("../", import.meta.url).pathname;

/** A running arena child process. */
interface Running {
  url: string;
  /** Everything it printed so far. */
  out: () => string;
  /** Sends a signal and waits for the exit code. */
  stop: (signal?: Deno.Signal) => Promise<number>;
}

async function startArena(args: string[]): Promise<Running> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, "--port", "0", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let out = "";
  const collect = async (s: ReadableStream<Uint8Array>) => {
    for await (const t of s.pipeThrough(new TextDecoderStream())) out += t;
  };
  const done = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  child.status.then(() => (exited = true));
  const url = await waitUntil("the arena's address", () => {
    if (exited) throw new Error(`the arena exited:\n${out}`);
    return out.match(/^arena: (http:\/\/\S+)$/m)?.[1] ?? "";
  }, 120_000);
  return {
    url,
    out: () => out,
    stop: async (signal = "SIGINT") => {
      child.kill(signal);
      const { code } = await child.status;
      await done;
      return code;
    },
  };
}

function client(url: string) {
  const post = async (path: string, body: unknown) => {
    const r = await fetch(url + path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  return { post };
}

async function readVotes(path: string): Promise<Vote[]> {
  const text = await Deno.readTextFile(path);
  assert(text.endsWith("\n"), "the votes file ends with a whole line");
  return text.trim().split("\n").map((l, i) => parseVote(JSON.parse(l), `line ${i + 1}`));
}

/** Two tiny untrained policies sharing a tokenizer that covers the instruction world. */
async function tinyPolicies(dir: string): Promise<void> {
  const world = generateWorld({ seed: 1, proseParagraphs: 20, instructions: 100, preferences: 0 });
  const tokenizer = buildTokenizer("gpt2-compact", [
    world.prose.join("\n\n"),
    ...world.instructions.map((p) =>
      `### Instruction:\n${p.prompt}\n\n### Response:\n${p.response}`
    ),
    ...world.heldOutPrompts,
  ]);
  await tinyCheckpoint(`${dir}/sft`, { tokenizer, context: 64, seed: 1 });
  await tinyCheckpoint(`${dir}/rlhf`, { tokenizer, context: 64, seed: 2 });
}

Deno.test("arena: bad input stops it with one line and exit code 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await tinyCheckpoint(`${dir}/one`);
    await tinyCheckpoint(`${dir}/two`, { seed: 4 });
    const ok = `${dir}/one,${dir}/two`;
    await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"winner": "a"}\n');
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = String((taken.addr as Deno.NetAddr).port);
    const cases: [string[], RegExp][] = [
      [[], /--checkpoints needs two or more checkpoint directories/],
      [["--checkpoints", `${dir}/one`], /needs two or more .*\(got 1\)/],
      [["--checkpoints", `${dir}/one,${dir}/one/`], /names .*\/one twice/],
      [["--checkpoints", `${dir}/one,${dir}/none`], /none does not exist/],
      [["--checkpoints", ok, "--votes", `${dir}/bad.jsonl`], /bad\.jsonl: line 1: "prompt"/],
      [["--checkpoints", ok, "--port", port], new RegExp(`port ${port} on 127.0.0.1 is in use`)],
      [["--checkpoints", ok, "--host", "256.1.1.1"], /cannot listen on 256\.1\.1\.1:8000/],
      [["--checkpoints", ok, "--port", "70000"], /--port must be <= 65535/],
    ];
    try {
      for (const [args, pattern] of cases) {
        const r = await runScript(SCRIPT, args);
        const why = refusal(r, pattern);
        assert(why === undefined, `${args.join(" ")}: ${why}`);
      }
    } finally {
      taken.close();
    }
    assert(!(await exists(`${dir}/votes.jsonl`)), "no votes file is created by a refused start");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const FAST = [
  "--rm-steps",
  "2",
  "--rm-batch",
  "2",
  "--steps",
  "2",
  "--batch",
  "2",
  "--max-tokens",
  "4",
  "--eval-prompts",
  "2",
  "--quiet",
];

Deno.test("arena: twenty votes train the reward model and DPO, and the DPO policy joins", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await tinyPolicies(dir);
    const votesPath = `${dir}/votes.jsonl`; // the default: beside the first checkpoint
    const first = await startArena([
      "--checkpoints",
      `${dir}/sft,${dir}/rlhf`,
      "--max-tokens",
      "6",
    ]);
    const { post } = client(first.url);
    // 16 votes for a side, 2 ties and 2 both-bad votes; half the prompts left to the arena.
    const winners = [..."abababababababab".split(""), "tie", "bad", "tie", "bad"];
    for (const [i, winner] of winners.entries()) {
      const battle = await post("/api/battle", { prompt: i % 2 ? "" : `Give ${1 + i % 4} tips` });
      assertEquals(battle.status, 200, JSON.stringify(battle.body));
      const vote = await post("/api/vote", { id: battle.body.id, winner });
      assertEquals(vote.status, 200, JSON.stringify(vote.body));
      assertEquals([vote.body.a, vote.body.b].sort(), [`${dir}/rlhf`, `${dir}/sft`]);
    }
    assertEquals(await first.stop(), 0, first.out());
    assertMatch(first.out(), /arena: stopped; 20 votes in .*votes\.jsonl/);
    const votes = await readVotes(votesPath);
    assertEquals(votes.map((v) => v.winner), winners);
    assert(votes.every((v) => v.settings.max_tokens === 6), "the settings are recorded");

    const common = ["--init", `${dir}/sft`, "--data", votesPath, "--reward-out", `${dir}/reward`];
    const rm = await runScript("stages/rlhf.ts", [...common, "--stage", "rm", ...FAST]);
    assertEquals(rm.code, 0, rm.stderr);
    const note = "arena votes: 16 pairs; 2 ties and 2 both-bad votes skipped (no preference)";
    assert(rm.stdout.includes(note), rm.stdout);
    assert(await exists(`${dir}/reward/model.safetensors`), "the reward model");
    const dpo = await runScript("stages/rlhf.ts", [
      ...common,
      "--stage",
      "policy",
      "--algo",
      "dpo",
      "--out",
      `${dir}/dpo`,
      ...FAST,
    ]);
    assertEquals(dpo.code, 0, dpo.stderr);
    assert(dpo.stdout.includes(note), dpo.stdout);

    // The new checkpoint has no votes yet, so it is in the next battle.
    const second = await startArena([
      "--checkpoints",
      `${dir}/sft,${dir}/rlhf,${dir}/dpo`,
      "--max-tokens",
      "6",
    ]);
    assertMatch(second.out(), /3 checkpoints .*; 20 votes in /);
    const again = client(second.url);
    const battle = await again.post("/api/battle", { prompt: "" });
    const vote = await again.post("/api/vote", { id: battle.body.id, winner: "a" });
    assert([vote.body.a, vote.body.b].includes(`${dir}/dpo`), JSON.stringify(vote.body));
    const board = await (await fetch(second.url + "/api/leaderboard")).json();
    const row = board.find((r: { checkpoint: string }) => r.checkpoint === `${dir}/dpo`);
    assertEquals(row.votes, 1);
    assertEquals(await second.stop("SIGTERM"), 0, second.out());
    assertEquals((await readVotes(votesPath)).length, 21);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("arena: Ctrl-C during a burst of votes leaves whole lines, every acknowledged vote", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await tinyCheckpoint(`${dir}/one`);
    await tinyCheckpoint(`${dir}/two`, { seed: 4 });
    const votesPath = `${dir}/votes.jsonl`;
    await Deno.writeTextFile(votesPath, "");
    const arena = await startArena(["--checkpoints", `${dir}/one,${dir}/two`]);
    const { post } = client(arena.url);
    const ids = [];
    for (let i = 0; i < 60; i++) {
      const b = await post("/api/battle", { prompt: `p${i}`, max_tokens: 1 });
      assertEquals(b.status, 200);
      ids.push(b.body.id as string);
    }
    const acknowledged: string[] = [];
    let stopping: Promise<number> | undefined;
    await Promise.all(ids.map(async (id) => {
      try {
        const r = await post("/api/vote", { id, winner: "a" });
        if (r.status === 200) acknowledged.push(id);
        // Stop the server once a third of the votes are in, with the rest in flight.
        if (acknowledged.length === 20) stopping = arena.stop("SIGINT");
      } catch { /* the server stopped before answering */ }
    }));
    assertEquals(await stopping, 0, arena.out());
    const written = (await readVotes(votesPath)).map((v) => v.battle);
    assert(acknowledged.every((id) => written.includes(id)), "every acknowledged vote is on disk");
    assert(written.length >= 20 && written.length <= 60, `${written.length} votes`);
    assertEquals(new Set(written).size, written.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
