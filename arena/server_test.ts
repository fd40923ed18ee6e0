/**
 * The arena's HTTP API over a real socket, with a scripted answerer (no GPU): the status of every
 * bad request, 200 concurrent votes, the streaming battle, and a generation failure answered 503
 * while the server goes on serving.
 */
import { assert, assertEquals, assertMatch } from "../tests/_assert.ts";
import { pool } from "../tests/_run.ts";
import { GpuError } from "../gpu/device.ts";
import { parseVote, type Vote } from "../data/votes.ts";
import type { Answerer } from "./answer.ts";
import { Arena, type ArenaServer, LIMITS, serveArena } from "./server.ts";
import { VoteLog } from "./vote_log.ts";

const NAMES = ["runs/one", "runs/two", "runs/three"];

/**
 * Answers "<prompt> / <seed>" in two pieces; a prompt with "boom" fails like a lost GPU, and
 * `hold` (when given) keeps every answer after its first piece until it resolves.
 */
function scripted(hold?: Promise<void>): Answerer {
  return {
    checkpoints: NAMES.map((name, i) => ({ name, run: `run-${i}`, context: 64 })),
    async answer(req, onText) {
      await new Promise((r) => setTimeout(r, 1));
      if (req.prompt.includes("boom")) throw new GpuError("device lost while generating");
      const text = `${req.prompt} / ${req.settings.seed}`;
      const half = Math.floor(text.length / 2);
      onText?.(text.slice(0, half));
      await hold;
      req.signal?.throwIfAborted();
      onText?.(text.slice(half));
      return { text, tokens: 2, finished: true };
    },
    close() {},
  };
}

async function withArena(
  fn: (server: ArenaServer, post: (path: string, body: unknown) => Promise<Response>) => unknown,
  options: { hold?: Promise<void>; log?: string[] } = {},
): Promise<string> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/votes.jsonl`;
  const arena = new Arena({
    answerer: scripted(options.hold),
    votes: await VoteLog.open(path),
    seed: 1,
    log: (line) => options.log?.push(line),
  });
  const server = await serveArena(arena, { port: 0 });
  const post = (p: string, body: unknown) =>
    fetch(server.url + p, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  try {
    await fn(server, post);
  } finally {
    await server.shutdown();
  }
  const text = await Deno.readTextFile(path);
  await Deno.remove(dir, { recursive: true });
  return text;
}

/** A raw HTTP/1.1 request (fetch sets the Host header itself). */
async function raw(url: string, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(url).port) });
  await conn.write(new TextEncoder().encode(`${head}\r\nConnection: close\r\n\r\n`));
  const out = await new Response(conn.readable).text();
  return out.split("\r\n")[0];
}

Deno.test("the API: the page, a battle, its vote, and the status of each bad request", async () => {
  const text = await withArena(async (server, post) => {
    const page = await fetch(server.url + "/");
    assertEquals(page.status, 200);
    assertMatch(page.headers.get("content-type")!, /^text\/html/);
    assertMatch(page.headers.get("content-security-policy")!, /script-src 'self'/);
    assertMatch(await page.text(), /<script src="\/app\.js"/);
    for (const asset of ["/app.js", "/style.css"]) {
      const r = await fetch(server.url + asset);
      assertEquals(r.status, 200, asset);
      await r.body?.cancel();
    }

    const battle = await post("/api/battle", { prompt: "  Give 2 tips for sleep " });
    assertEquals(battle.status, 200);
    const b = await battle.json();
    assertEquals(Object.keys(b), ["id", "prompt", "a", "b"]);
    assertEquals(b.prompt, "Give 2 tips for sleep");
    assertMatch(b.a, /^Give 2 tips for sleep \/ \d+$/);

    const expect = async (r: Promise<Response>, status: number, pattern: RegExp) => {
      const res = await r;
      const body = await res.json();
      assertEquals(res.status, status, JSON.stringify(body));
      assertMatch(body.error, pattern);
    };
    await expect(post("/api/vote", { id: b.id, winner: "c" }), 400, /"winner" must be one of/);
    await expect(post("/api/vote", '{"id": "x", "winner": '), 400, /^malformed JSON/);
    await expect(post("/api/vote", "[1]"), 400, /a JSON object/);
    await expect(post("/api/vote", { winner: "a" }), 400, /"id" must be/);
    await expect(post("/api/vote", { id: "nope", winner: "a" }), 404, /no battle nope/);
    const vote = await post("/api/vote", { id: b.id, winner: "b" });
    assertEquals(vote.status, 200);
    const names = await vote.json();
    assert(NAMES.includes(names.a) && NAMES.includes(names.b) && names.a !== names.b, names);
    await expect(post("/api/vote", { id: b.id, winner: "a" }), 409, /has its vote already/);

    const big = JSON.stringify({ prompt: "x".repeat(LIMITS.body) });
    await expect(post("/api/battle", big), 413, /over the limit of 16384 bytes/);
    const long = { prompt: "x".repeat(LIMITS.prompt + 1) };
    await expect(post("/api/battle", long), 400, /2001 characters; the limit is 2000/);
    await expect(post("/api/battle", { prompt: 3 }), 400, /"prompt" must be a string/);
    await expect(post("/api/battle", { temperature: 9 }), 400, /"temperature"/);
    await expect(post("/api/battle", { max_tokens: 0.5 }), 400, /"max_tokens"/);
    const plain = fetch(server.url + "/api/vote", { method: "POST", body: "{}" });
    await expect(plain, 415, /Content-Type: application\/json/);
    await expect(fetch(server.url + "/api/nothing"), 404, /no such page/);
    await expect(fetch(server.url + "/api/vote"), 405, /GET is not allowed/);
    const foreign = fetch(server.url + "/api/leaderboard", {
      headers: { origin: "http://evil.example" },
    });
    await expect(foreign, 403, /evil\.example are refused/);
    // DNS rebinding: another host name that resolves to this machine is refused.
    const port = new URL(server.url).port;
    assertEquals(
      await raw(server.url, `GET /api/leaderboard HTTP/1.1\r\nHost: evil.example:${port}`),
      "HTTP/1.1 403 Forbidden",
    );
    assertEquals(
      await raw(server.url, `GET /api/leaderboard HTTP/1.1\r\nHost: localhost:${port}`),
      "HTTP/1.1 200 OK",
    );

    const board = await (await fetch(server.url + "/api/leaderboard")).json();
    assertEquals(board.length, 3);
    assertEquals(Object.keys(board[0]).slice(0, 5), ["checkpoint", "run", "rating", "low", "high"]);
    assert(board.every((r: { votes: number }) => "votes" in r), "votes");
    assertEquals(board.map((r: { votes: number }) => r.votes).sort(), [0, 1, 1]);
  });
  const lines = text.trim().split("\n");
  assertEquals(lines.length, 1);
  const v = parseVote(JSON.parse(lines[0]), "line 1");
  assertEquals([v.prompt, v.winner], ["Give 2 tips for sleep", "b"]);
  assertEquals(v.a.answer, `Give 2 tips for sleep / ${v.settings.seed}`);
  assertEquals(v.b.answer, `Give 2 tips for sleep / ${v.settings.seed + 1}`);
  assertEquals(v.settings.max_tokens, 80);
});

Deno.test("200 concurrent votes give 200 valid lines, one per battle", async () => {
  const ids: string[] = [];
  const text = await withArena(async (_server, post) => {
    const battles = await pool(Array.from({ length: 200 }, (_, i) => i), 16, async (i) => {
      const r = await post("/api/battle", { prompt: `prompt ${i}`, max_tokens: 4 });
      assertEquals(r.status, 200);
      return (await r.json()).id as string;
    });
    ids.push(...battles);
    const winners = ["a", "b", "tie", "bad"];
    const votes = await Promise.all(
      battles.map((id, i) => post("/api/vote", { id, winner: winners[i % 4] })),
    );
    assertEquals(votes.map((r) => r.status), battles.map(() => 200));
    await Promise.all(votes.map((r) => r.body?.cancel()));
  });
  assert(text.endsWith("\n"), "whole lines");
  const votes: Vote[] = text.trim().split("\n").map((l, i) => parseVote(JSON.parse(l), `${i}`));
  assertEquals(votes.length, 200);
  assertEquals(new Set(votes.map((v) => v.battle)), new Set(ids));
});

Deno.test("the streaming battle sends the text of both answers as it grows", async () => {
  await withArena(async (_server, post) => {
    const r = await post("/api/battle/stream", { prompt: "", temperature: 0, max_tokens: 8 });
    assertEquals(r.status, 200);
    assertMatch(r.headers.get("content-type")!, /^application\/x-ndjson/);
    const events = (await r.text()).trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(events[0].type, "battle");
    assert(events[0].prompt.length > 0, "an empty prompt gets a held-out prompt of the world");
    assertEquals(events[events.length - 1], { type: "done" });
    for (const side of ["a", "b"]) {
      const pieces = events.filter((e) => e.type === "text" && e.side === side);
      const answer = events.find((e) => e.type === "answer" && e.side === side);
      assertEquals(pieces.length, 2);
      assertEquals(pieces.map((e) => e.text).join(""), answer.text);
      assertMatch(answer.text, new RegExp(`^${events[0].prompt.replace(/[?.]/g, "\\$&")} / \\d+`));
    }
    const vote = await post("/api/vote", { id: events[0].id, winner: "tie" });
    assertEquals(vote.status, 200);
    await vote.body?.cancel();
  });
});

Deno.test("a vote before the answers are complete is 409; then it counts", async () => {
  const hold = Promise.withResolvers<void>();
  const text = await withArena(async (_server, post) => {
    const r = await post("/api/battle/stream", { prompt: "Hi" });
    const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
    let received = "";
    while (!received.includes("\n")) received += (await reader.read()).value;
    const id = JSON.parse(received.split("\n")[0]).id;
    const early = await post("/api/vote", { id, winner: "a" });
    assertEquals(early.status, 409);
    assertMatch((await early.json()).error, /still being generated/);
    hold.resolve();
    for (;;) if ((await reader.read()).done) break;
    const vote = await post("/api/vote", { id, winner: "a" });
    assertEquals(vote.status, 200);
    await vote.body?.cancel();
  }, { hold: hold.promise });
  assertEquals(text.trim().split("\n").length, 1);
});

Deno.test("a GPU error while generating answers 503, and the server goes on serving", async () => {
  const log: string[] = [];
  const text = await withArena(async (server, post) => {
    for (const path of ["/api/battle", "/api/battle/stream"]) {
      const r = await post(path, { prompt: "boom" });
      assertEquals(r.status, 503, path);
      assertMatch((await r.json()).error, /generating the answers failed \(device lost/);
    }
    const ok = await post("/api/battle", { prompt: "Hi" });
    assertEquals(ok.status, 200);
    const { id } = await ok.json();
    const vote = await post("/api/vote", { id, winner: "a" });
    assertEquals(vote.status, 200);
    await vote.body?.cancel();
    assertEquals((await fetch(server.url + "/api/leaderboard")).status, 200);
  }, { log });
  assertEquals(text.trim().split("\n").length, 1);
  assertEquals(log.length, 2, log.join("\n"));
  assertMatch(log[0], /^arena: generating an answer of runs\/\w+ failed: device lost/);
});
