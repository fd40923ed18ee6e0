/**
 * The arena's votes file: one JSON object a line, appended by `deno task arena` each time a person
 * compares two anonymous answers, and read back as preference data by the reward model and DPO
 * (`deno task rlhf --data votes.jsonl`).
 *
 * ```json
 * {"time": "2026-11-30T10:12:03.512Z", "battle": "5f0c…", "prompt": "Give 3 tips for better sleep",
 *  "winner": "a",
 *  "a": {"checkpoint": "checkpoints/rlhf", "run": "m3x…", "answer": "1. …", "tokens": 31,
 *        "finished": true},
 *  "b": {"checkpoint": "checkpoints/sft", "run": "m3w…", "answer": "1. …", "tokens": 40,
 *        "finished": true},
 *  "settings": {"temperature": 0.7, "max_tokens": 80, "top_k": 0, "top_p": 1, "seed": 912}}
 * ```
 *
 * `winner` is `"a"`, `"b"`, `"tie"` or `"bad"` (both answers are bad). As preferences, `a` or `b`
 * makes that side's answer `chosen` and the other `rejected`; ties, both-bad votes and votes between
 * two identical answers carry no preference and are skipped (and counted). An answer may be empty
 * (the model stopped at once): a person may well prefer any answer to none.
 *
 * @module
 */
import { DataError } from "./errors.ts";

/** The four verdicts of a vote. */
export const WINNERS = ["a", "b", "tie", "bad"] as const;

/** A vote's verdict. */
export type Winner = typeof WINNERS[number];

/** One side of a vote: who answered, and what. */
export interface VoteSide {
  /** The checkpoint directory as the arena was given it (e.g. "checkpoints/sft"). */
  checkpoint: string;
  /** The checkpoint's run id (`run_id` in its state.json), null when it has none. */
  run: string | null;
  /** The answer's text (the response only, trimmed). */
  answer: string;
  /** Tokens generated (end-of-text not counted). */
  tokens: number;
  /** Whether the answer ended by itself (end-of-text or a new instruction), not at the cap. */
  finished: boolean;
}

/** The sampling settings both answers of a vote were generated with. */
export interface VoteSettings {
  temperature: number;
  max_tokens: number;
  top_k: number;
  top_p: number;
  /** Seed of the first answer's sampler; the second uses seed + 1. */
  seed: number;
}

/** One line of the votes file. */
export interface Vote {
  /** When the vote was cast (ISO 8601, UTC). */
  time: string;
  /** The battle's id. */
  battle: string;
  prompt: string;
  winner: Winner;
  a: VoteSide;
  b: VoteSide;
  settings: VoteSettings;
}

/** Why a vote gives no preference pair. */
export type VoteSkip = "tie" | "bad" | "identical";

function fail(where: string, what: string): never {
  throw new DataError(`${where}: ${what}: fix the line or remove it (a vote of deno task arena)`);
}

function side(v: unknown, key: "a" | "b", where: string): VoteSide {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(where, `"${key}" is no object`);
  const o = v as Record<string, unknown>;
  if (typeof o.checkpoint !== "string" || o.checkpoint === "") {
    fail(where, `"${key}.checkpoint" is not a non-empty string`);
  }
  if (typeof o.answer !== "string") fail(where, `"${key}.answer" is not a string`);
  if (o.run !== undefined && o.run !== null && typeof o.run !== "string") {
    fail(where, `"${key}.run" is neither a string nor null`);
  }
  return {
    checkpoint: o.checkpoint,
    run: typeof o.run === "string" ? o.run : null,
    answer: o.answer,
    tokens: typeof o.tokens === "number" ? o.tokens : 0,
    finished: o.finished === true,
  };
}

/** Whether a parsed JSON record is a vote (it has a `winner`). */
export function isVote(record: Record<string, unknown>): boolean {
  return "winner" in record;
}

/**
 * Validates one parsed line of a votes file. `where` names the file and line in the
 * {@linkcode DataError} raised for a bad record.
 */
export function parseVote(record: unknown, where: string): Vote {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    fail(where, "expected a JSON object");
  }
  const o = record as Record<string, unknown>;
  if (!WINNERS.includes(o.winner as Winner)) {
    fail(where, `"winner" is ${JSON.stringify(o.winner)}, not one of ${WINNERS.join(", ")}`);
  }
  if (typeof o.prompt !== "string" || o.prompt.trim() === "") {
    fail(where, `"prompt" is missing or empty`);
  }
  const s = (typeof o.settings === "object" && o.settings !== null ? o.settings : {}) as Record<
    string,
    unknown
  >;
  const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) ? v : d);
  return {
    time: typeof o.time === "string" ? o.time : "",
    battle: typeof o.battle === "string" ? o.battle : "",
    prompt: o.prompt,
    winner: o.winner as Winner,
    a: side(o.a, "a", where),
    b: side(o.b, "b", where),
    settings: {
      temperature: num(s.temperature, 1),
      max_tokens: num(s.max_tokens, 0),
      top_k: num(s.top_k, 0),
      top_p: num(s.top_p, 1),
      seed: num(s.seed, 0),
    },
  };
}

/**
 * The preference a vote expresses: the winner's answer `chosen`, the other `rejected`; or why it
 * expresses none.
 */
export function votePreference(
  vote: Vote,
): { prompt: string; chosen: string; rejected: string } | VoteSkip {
  if (vote.winner === "tie" || vote.winner === "bad") return vote.winner;
  const [win, lose] = vote.winner === "a" ? [vote.a, vote.b] : [vote.b, vote.a];
  if (win.answer.trim() === lose.answer.trim()) return "identical";
  return { prompt: vote.prompt, chosen: win.answer, rejected: lose.answer };
}

/** One line about the votes a preference file skipped, e.g. "2 ties and 1 both-bad vote". */
export function describeSkips(counts: Readonly<Record<VoteSkip, number>>): string {
  const parts: string[] = [];
  const add = (n: number, one: string, many: string) => {
    if (n > 0) parts.push(`${n} ${n === 1 ? one : many}`);
  };
  add(counts.tie, "tie", "ties");
  add(counts.bad, "both-bad vote", "both-bad votes");
  add(counts.identical, "vote between identical answers", "votes between identical answers");
  if (parts.length === 0) return "no votes skipped";
  const last = parts.pop()!;
  return `${parts.length ? `${parts.join(", ")} and ` : ""}${last} skipped (no preference)`;
}
