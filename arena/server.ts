/**
 * The arena's HTTP server: one page, and the JSON API it uses (documented in the README).
 *
 * | request                                   | answer                                             |
 * | ----------------------------------------- | -------------------------------------------------- |
 * | `GET /`                                   | the page (`/app.js`, `/style.css` beside it)       |
 * | `GET /api/settings`                       | the defaults and limits of the page's settings     |
 * | `POST /api/battle {"prompt", ...}`        | `{"id", "prompt", "a", "b"}`, answers complete     |
 * | `POST /api/battle/stream {"prompt", ...}` | NDJSON events: the battle, the answers' text       |
 * | `POST /api/vote {"id", "winner"}`         | `{"a": checkpoint, "b": checkpoint}`               |
 * | `GET /api/leaderboard`                    | `[{checkpoint, run, rating, low, high, votes, …}]` |
 *
 * Errors answer `{"error": "..."}` with 400 (malformed JSON, a bad field), 403 (a foreign Host or
 * Origin), 404 (an unknown battle or path), 405, 409 (a battle voted again, or still generating),
 * 413 (a body over 16 KiB), 415 (not JSON), 429 (too many battles generating) or 503 (generation
 * failed, e.g. a GPU error: the server goes on serving).
 *
 * @module
 */
import { Rng } from "../data/rng.ts";
import { type Vote, type VoteSide, type Winner, WINNERS } from "../data/votes.ts";
import { comboPrompts, heldOutCombos } from "../data/world/mod.ts";
import type { Answer, Answerer, AnswerSettings } from "./answer.ts";
import { leaderboard, type Standing } from "./rating.ts";
import type { VoteLog } from "./vote_log.ts";

/** Caps on what a client may ask. */
export const LIMITS = {
  /** Bytes of a request body. */
  body: 16 * 1024,
  /** Characters of a prompt. */
  prompt: 2000,
  /** Tokens of an answer. */
  maxTokens: 512,
  /** Battles generating at once. */
  generating: 32,
  /** Battles kept in memory for a vote (the oldest are forgotten). */
  battles: 1000,
} as const;

/** Options of {@linkcode Arena}. */
export interface ArenaOptions {
  answerer: Answerer;
  votes: VoteLog;
  /** Prompts drawn for an empty prompt box. Default: the instruction world's held-out prompts. */
  prompts?: readonly string[];
  /** Default temperature of the page. Default 0.7. */
  temperature?: number;
  /** Default maximum tokens of an answer. Default 80. */
  maxTokens?: number;
  /** Seed of the pairings, the sides and the sampling seeds. Default: the clock. */
  seed?: number;
  /** Where a failed generation or vote is reported (one line). Default: console.error. */
  log?: (line: string) => void;
}

type Side = "a" | "b";

interface Battle {
  id: string;
  prompt: string;
  /** Indices into the answerer's checkpoints. */
  players: [number, number];
  settings: AnswerSettings;
  state: "generating" | "ready" | "voted";
  answers: Partial<Record<Side, Answer>>;
}

/** A request that gets an error status. */
class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; " +
    "frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8" },
  });
}

const STATIC: Record<string, [string, string]> = {
  "/": ["page.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
};

/** Reads a JSON object body of at most LIMITS.body bytes. */
async function readJson(req: Request): Promise<Record<string, unknown>> {
  const type = req.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(415, "send the body as JSON (Content-Type: application/json)");
  }
  const tooLarge = () => new HttpError(413, `the body is over the limit of ${LIMITS.body} bytes`);
  if (Number(req.headers.get("content-length") ?? 0) > LIMITS.body) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    for await (const chunk of req.body) {
      size += chunk.length;
      if (size > LIMITS.body) throw tooLarge();
      chunks.push(chunk);
    }
  }
  const bytes = new Uint8Array(size);
  chunks.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new HttpError(400, `malformed JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "the body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/** The arena: battles in memory, votes on disk, and the request handler. */
export class Arena {
  readonly answerer: Answerer;
  readonly votes: VoteLog;
  /** Host headers accepted (host:port); undefined accepts any (see serveArena). */
  allowedHosts?: Set<string>;
  readonly #prompts: readonly string[];
  readonly #defaults: { temperature: number; maxTokens: number };
  readonly #rng: Rng;
  readonly #log: (line: string) => void;
  readonly #battles = new Map<string, Battle>();
  readonly #stopping = new AbortController();
  #generating = 0;
  #board?: { votes: number; rows: Standing[] };
  #pages = new Map<string, string>();

  constructor(options: ArenaOptions) {
    this.answerer = options.answerer;
    this.votes = options.votes;
    if (this.answerer.checkpoints.length < 2) {
      throw new RangeError("the arena needs at least two checkpoints");
    }
    this.#prompts = options.prompts ?? heldOutCombos().flatMap(comboPrompts);
    this.#defaults = {
      temperature: options.temperature ?? 0.7,
      maxTokens: options.maxTokens ?? 80,
    };
    this.#rng = new Rng(options.seed ?? Date.now());
    this.#log = options.log ?? ((line) => console.error(line));
  }

  /** Aborts every generation in flight (their requests answer 503). */
  stop(): void {
    this.#stopping.abort(new Error("the arena is stopping"));
  }

  /** Answers one request; never throws. */
  async handle(req: Request): Promise<Response> {
    try {
      const url = new URL(req.url);
      this.#checkOrigin(req);
      const route = `${req.method} ${url.pathname}`;
      if (req.method === "GET" && url.pathname in STATIC) return await this.#static(url.pathname);
      switch (route) {
        case "GET /api/settings":
          return json({
            temperature: this.#defaults.temperature,
            max_tokens: this.#defaults.maxTokens,
            limits: { prompt: LIMITS.prompt, max_tokens: LIMITS.maxTokens, body: LIMITS.body },
            checkpoints: this.answerer.checkpoints.length,
          });
        case "GET /api/leaderboard":
          return json(this.leaderboard());
        case "POST /api/battle":
          return await this.#battle(await readJson(req), req.signal);
        case "POST /api/battle/stream":
          return await this.#stream(await readJson(req));
        case "POST /api/vote":
          return await this.#vote(await readJson(req));
      }
      const known = Object.keys(STATIC).includes(url.pathname) ||
        ["/api/settings", "/api/leaderboard", "/api/battle", "/api/battle/stream", "/api/vote"]
          .includes(url.pathname);
      throw known
        ? new HttpError(405, `${req.method} is not allowed on ${url.pathname}`)
        : new HttpError(404, `no such page: ${url.pathname}`);
    } catch (e) {
      if (e instanceof HttpError) return json({ error: e.message }, e.status);
      this.#log(`arena: ${req.method} ${req.url}: ${(e as Error)?.stack ?? e}`);
      return json({ error: `internal error: ${(e as Error)?.message ?? e}` }, 500);
    }
  }

  /** The leaderboard of the votes so far (recomputed when a vote arrives). */
  leaderboard(): Standing[] {
    const n = this.votes.votes.length;
    if (this.#board?.votes !== n) {
      this.#board = { votes: n, rows: leaderboard(this.votes.votes, this.answerer.checkpoints) };
    }
    return this.#board.rows;
  }

  /** Refuses requests through another host name (DNS rebinding) or from another site. */
  #checkOrigin(req: Request): void {
    if (!this.allowedHosts) return;
    const host = req.headers.get("host") ?? "";
    if (!this.allowedHosts.has(host)) {
      throw new HttpError(403, `requests must name the arena's own host, not "${host}"`);
    }
    const origin = req.headers.get("origin");
    if (origin !== null && URL.parse(origin)?.host !== host) {
      throw new HttpError(403, `requests from ${origin} are refused`);
    }
  }

  async #static(path: string): Promise<Response> {
    const [file, type] = STATIC[path];
    let text = this.#pages.get(file);
    if (text === undefined) {
      text = await Deno.readTextFile(new URL(`./${file}`, import.meta.url));
      this.#pages.set(file, text);
    }
    return new Response(text, { headers: { ...SECURITY_HEADERS, "content-type": type } });
  }

  /** Validates a battle request and sets the battle up (not yet generating). */
  #newBattle(body: Record<string, unknown>): Battle {
    const { prompt: rawPrompt = "", temperature = this.#defaults.temperature } = body;
    const maxTokens = body.max_tokens ?? this.#defaults.maxTokens;
    if (typeof rawPrompt !== "string") throw new HttpError(400, `"prompt" must be a string`);
    if (rawPrompt.length > LIMITS.prompt) {
      throw new HttpError(
        400,
        `the prompt has ${rawPrompt.length} characters; the limit is ${LIMITS.prompt}`,
      );
    }
    if (typeof temperature !== "number" || !(temperature >= 0 && temperature <= 2)) {
      throw new HttpError(400, `"temperature" must be a number from 0 to 2`);
    }
    if (
      typeof maxTokens !== "number" || !Number.isInteger(maxTokens) || maxTokens < 1 ||
      maxTokens > LIMITS.maxTokens
    ) {
      throw new HttpError(400, `"max_tokens" must be an integer from 1 to ${LIMITS.maxTokens}`);
    }
    if (this.#generating >= LIMITS.generating) {
      throw new HttpError(429, `${LIMITS.generating} battles are generating: try again soon`);
    }
    const prompt = rawPrompt.trim() || this.#prompts[this.#rng.int(this.#prompts.length)];
    const battle: Battle = {
      id: crypto.randomUUID(),
      prompt,
      players: this.#pair(),
      settings: { temperature, maxTokens, topK: 0, topP: 1, seed: this.#rng.int(2 ** 31) },
      state: "generating",
      answers: {},
    };
    this.#battles.set(battle.id, battle);
    for (const [id, b] of this.#battles) {
      if (this.#battles.size <= LIMITS.battles) break;
      if (b.state !== "generating") this.#battles.delete(id);
    }
    return battle;
  }

  /**
   * Two different checkpoints in random order: the one with the fewest votes and battles so far
   * (ties broken at random), and any other, so that a new checkpoint is compared first.
   */
  #pair(): [number, number] {
    const served = this.answerer.checkpoints;
    const count = served.map((c) =>
      this.votes.votes.filter((v) =>
        [v.a, v.b].some((s) => s.checkpoint === c.name && s.run === c.run)
      ).length
    );
    for (const b of this.#battles.values()) {
      if (b.state !== "voted") b.players.forEach((i) => count[i]++);
    }
    const fewest = Math.min(...count);
    const low = count.flatMap((n, i) => (n === fewest ? [i] : []));
    const first = low[this.#rng.int(low.length)];
    let second = this.#rng.int(served.length - 1);
    if (second >= first) second++;
    return this.#rng.random() < 0.5 ? [first, second] : [second, first];
  }

  /** Generates both answers; `emit` receives the text as it grows. Rejects with a 503. */
  async #generate(
    battle: Battle,
    emit: (event: Record<string, unknown>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    this.#generating++;
    const abort = new AbortController();
    const stop = AbortSignal.any([signal, abort.signal, this.#stopping.signal]);
    try {
      await Promise.all((["a", "b"] as const).map(async (side, k) => {
        const checkpoint = this.answerer.checkpoints[battle.players[k]].name;
        try {
          const answer = await this.answerer.answer({
            checkpoint,
            prompt: battle.prompt,
            settings: { ...battle.settings, seed: battle.settings.seed + k },
            signal: stop,
          }, (text) => emit({ type: "text", side, text }));
          battle.answers[side] = answer;
          emit({ type: "answer", side, ...answer });
        } catch (e) {
          if (!stop.aborted) {
            abort.abort(e); // the other side stops too
            this.#log(`arena: generating an answer of ${checkpoint} failed: ${oneLine(e)}`);
          }
          throw e;
        }
      }));
      battle.state = "ready";
    } catch (e) {
      this.#battles.delete(battle.id);
      const why = this.#stopping.signal.aborted ? "the arena is stopping" : oneLine(e);
      throw new HttpError(503, `generating the answers failed (${why}): try again`);
    } finally {
      this.#generating--;
    }
  }

  async #battle(body: Record<string, unknown>, client: AbortSignal): Promise<Response> {
    const battle = this.#newBattle(body);
    await this.#generate(battle, () => {}, client);
    const { id, prompt, answers } = battle;
    return json({ id, prompt, a: answers.a!.text, b: answers.b!.text });
  }

  /**
   * The streaming battle: NDJSON, one event a line: `{"type": "battle", "id", "prompt"}`, then
   * `{"type": "text", "side", "text"}` pieces, `{"type": "answer", "side", "text", "tokens",
   * "finished"}` for each side, and `{"type": "done"}`; a failure after the first piece ends the
   * stream with `{"type": "error", "status": 503, "error"}`. A failure before it answers 503.
   */
  async #stream(body: Record<string, unknown>): Promise<Response> {
    const battle = this.#newBattle(body);
    const enc = new TextEncoder();
    const client = new AbortController();
    let out!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => void (out = c),
      cancel: () => client.abort(new Error("the client went away")),
    });
    const send = (event: Record<string, unknown>) => {
      if (!client.signal.aborted) out.enqueue(enc.encode(JSON.stringify(event) + "\n"));
    };
    send({ type: "battle", id: battle.id, prompt: battle.prompt });
    let started!: () => void, sentText = false, failed: HttpError | undefined;
    const firstEvent = new Promise<void>((resolve) => (started = resolve));
    const run = this.#generate(battle, (event) => {
      send(event);
      sentText = true;
      started();
    }, client.signal).catch((e: HttpError) => {
      failed = e;
      throw e;
    });
    // A failure before any text answers with its status; a later one ends the stream.
    await Promise.race([firstEvent, run.catch(() => {})]);
    if (failed && !sentText) throw failed;
    run.then(() => send({ type: "done" }), (e: HttpError) => {
      send({ type: "error", status: e.status, error: e.message });
    }).finally(() => {
      if (!client.signal.aborted) out.close();
    });
    return new Response(stream, {
      headers: { ...SECURITY_HEADERS, "content-type": "application/x-ndjson; charset=utf-8" },
    });
  }

  async #vote(body: Record<string, unknown>): Promise<Response> {
    const { id, winner } = body;
    if (typeof id !== "string") throw new HttpError(400, `"id" must be a battle's id (a string)`);
    if (!WINNERS.includes(winner as Winner)) {
      throw new HttpError(
        400,
        `"winner" must be one of ${WINNERS.map((w) => `"${w}"`).join(", ")}`,
      );
    }
    const battle = this.#battles.get(id);
    if (!battle) {
      throw new HttpError(404, `no battle ${id} (a restarted arena forgets its battles)`);
    }
    if (battle.state === "generating") {
      throw new HttpError(409, "the answers are still being generated: vote once both are done");
    }
    if (battle.state === "voted") throw new HttpError(409, `battle ${id} has its vote already`);
    battle.state = "voted";
    const side = (k: 0 | 1): VoteSide => {
      const c = this.answerer.checkpoints[battle.players[k]];
      const a = battle.answers[k ? "b" : "a"]!;
      return {
        checkpoint: c.name,
        run: c.run,
        answer: a.text,
        tokens: a.tokens,
        finished: a.finished,
      };
    };
    const s = battle.settings;
    const vote: Vote = {
      time: new Date().toISOString(),
      battle: id,
      prompt: battle.prompt,
      winner: winner as Winner,
      a: side(0),
      b: side(1),
      settings: {
        temperature: s.temperature,
        max_tokens: s.maxTokens,
        top_k: s.topK,
        top_p: s.topP,
        seed: s.seed,
      },
    };
    try {
      await this.votes.append(vote);
    } catch (e) {
      battle.state = "ready";
      this.#log(`arena: writing a vote to ${this.votes.path} failed: ${oneLine(e)}`);
      throw new HttpError(500, `the vote could not be written (${oneLine(e)}): try again`);
    }
    return json({ a: vote.a.checkpoint, b: vote.b.checkpoint });
  }
}

function oneLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}

/** Options of {@linkcode serveArena}. */
export interface ServeOptions {
  /** Default 127.0.0.1 (loopback only). */
  hostname?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
}

/** A running arena server. */
export interface ArenaServer {
  arena: Arena;
  /** e.g. http://127.0.0.1:8000 */
  url: string;
  /** Stops accepting, aborts generation, waits for the requests in flight and the votes file. */
  shutdown(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/**
 * Serves an arena. On a loopback address only requests naming it (127.0.0.1, localhost or [::1]
 * with the port) are answered, against DNS rebinding.
 */
export async function serveArena(
  arena: Arena,
  options: ServeOptions = {},
): Promise<ArenaServer> {
  const { hostname = "127.0.0.1", port = 8000 } = options;
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname,
    port,
    onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
    onError: (e) => json({ error: `internal error: ${oneLine(e)}` }, 500),
  }, (req) => arena.handle(req));
  const addr = await listening.promise;
  const shown = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  if (LOOPBACK.has(hostname)) {
    arena.allowedHosts = new Set(
      ["127.0.0.1", "localhost", "[::1]"].map((h) => `${h}:${addr.port}`),
    );
  }
  return {
    arena,
    url: `http://${shown}:${addr.port}`,
    async shutdown() {
      arena.stop();
      await server.shutdown();
      await arena.votes.close();
    },
  };
}
