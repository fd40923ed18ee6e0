/**
 * Preference data for the reward model and DPO: reading, validation and tokenization.
 *
 * A preference file is JSON Lines (optionally gzip-compressed, `.gz`), one record a line, each in
 * one of three formats (detected per line):
 *
 * - `{"prompt": "...", "chosen": "...", "rejected": "..."}` (optional `"input"`; other keys, e.g.
 *   the world's `"broken"`, are ignored): one pair for one instruction;
 * - Anthropic hh-rlhf: `{"chosen": "\n\nHuman: ...\n\nAssistant: ...", "rejected": "..."}`, two full
 *   dialogues that share everything up to the last assistant reply. They are split after the
 *   shared prefix's last `Assistant:`; the earlier turns become turns of our chat template
 *   (Human → instruction, Assistant → response). Pairs whose two replies are identical (the public
 *   data has a few) are skipped and counted;
 * - ranked lists: `{"prompt": "...", "responses": ["best", ..., "worst"]}` → every pair (i < j);
 * - the votes of `deno task arena` (data/votes.ts), told apart by their `"winner"`: the winner's
 *   answer is chosen; ties and both-bad votes are skipped and counted in `notes`.
 *
 * A bad file (invalid JSON or gzip, a missing or empty field, identical chosen and rejected) raises
 * a {@linkcode DataFileError} naming the file and line, before anything is trained or written.
 *
 * @module
 */
import type { Tokenizer } from "./tokenizer.ts";
import { encodeConversation, type EncodedExample, encodeExample, type Turn } from "./template.ts";
import type { PreferencePair } from "./world/mod.ts";
import { describeSkips, isVote, parseVote, votePreference, type VoteSkip } from "./votes.ts";

/** One preference: the conversation so far (the last turn is being answered) and two replies. */
export interface Preference {
  /** Earlier turns with their responses, then the turn being answered (no response). */
  turns: Turn[];
  chosen: string;
  rejected: string;
}

/** A preference file that cannot be used; the message names the file and line. */
export class DataFileError extends Error {
  override name = "DataFileError";
}

/** What {@linkcode loadPreferences} read. */
export interface PreferenceData {
  pairs: Preference[];
  /** hh-rlhf pairs skipped because their two replies are identical. */
  skipped: number;
  /** The formats seen, e.g. ["prompt/chosen/rejected"]. */
  formats: string[];
  /** Lines worth printing about what was read (e.g. how many arena votes were ties). */
  notes: string[];
}

const HUMAN = "\n\nHuman:";
const ASSISTANT = "\n\nAssistant:";

function str(v: unknown): v is string {
  return typeof v === "string" && v.trim() !== "";
}

/** Turns of the chat template from an hh-rlhf dialogue prefix that ends with "Assistant:". */
export function dialogueTurns(prefix: string, where: string): Turn[] {
  const text = prefix.startsWith("\n\n") ? prefix : "\n\n" + prefix;
  const parts = text.split(/\n\n(Human|Assistant):/);
  // parts: ["", role, text, role, text, ...]
  const turns: Turn[] = [];
  let current: Turn | undefined;
  for (let i = 1; i < parts.length; i += 2) {
    const role = parts[i], body = parts[i + 1].trim();
    if (role === "Human") {
      if (current && current.response === undefined) {
        current.instruction = `${current.instruction}\n${body}`.trim();
      } else {
        current = { instruction: body };
        turns.push(current);
      }
    } else if (current) {
      current.response = current.response === undefined ? body : `${current.response}\n${body}`;
    } else {
      throw new DataFileError(`${where}: the dialogue starts with an assistant turn`);
    }
  }
  const last = turns[turns.length - 1];
  if (!last || last.instruction === "") {
    throw new DataFileError(`${where}: the dialogue has no human turn before the reply`);
  }
  delete last.response;
  return turns;
}

/** Splits two hh-rlhf dialogues after their shared prefix into turns and two replies. */
export function splitDialogues(chosen: string, rejected: string, where: string): Preference {
  let i = 0;
  const n = Math.min(chosen.length, rejected.length);
  while (i < n && chosen[i] === rejected[i]) i++;
  const k = chosen.lastIndexOf(ASSISTANT, i - ASSISTANT.length);
  if (k < 0 || i < ASSISTANT.length) {
    throw new DataFileError(
      `${where}: "chosen" and "rejected" share no dialogue up to an "Assistant:" turn`,
    );
  }
  const cut = k + ASSISTANT.length;
  const c = chosen.slice(cut).trim(), r = rejected.slice(cut).trim();
  if (c.includes(HUMAN) || r.includes(HUMAN)) {
    throw new DataFileError(
      `${where}: the two dialogues differ before their last assistant reply`,
    );
  }
  return { turns: dialogueTurns(chosen.slice(0, cut), where), chosen: c, rejected: r };
}

/**
 * The preferences of one parsed record (see the module docs for the formats). `where` names the
 * file and line in errors. Returns null for an hh-rlhf pair with identical replies (skipped).
 */
export function parseRecord(
  record: unknown,
  where: string,
): { pairs: Preference[]; format: string; skip?: VoteSkip } | null {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new DataFileError(`${where}: expected a JSON object`);
  }
  const o = record as Record<string, unknown>;
  if (isVote(o)) {
    const p = votePreference(parseVote(o, where));
    if (typeof p === "string") return { pairs: [], format: "arena votes", skip: p };
    const pair = { turns: [{ instruction: p.prompt }], chosen: p.chosen, rejected: p.rejected };
    return { pairs: [pair], format: "arena votes" };
  }
  const input = str(o.input) ? o.input : undefined;
  if (Array.isArray(o.responses)) {
    if (!str(o.prompt)) throw new DataFileError(`${where}: "prompt" is missing or empty`);
    const rs = o.responses;
    if (rs.length < 2) {
      throw new DataFileError(`${where}: "responses" needs at least two ranked responses`);
    }
    rs.forEach((r, j) => {
      if (!str(r)) throw new DataFileError(`${where}: responses[${j}] is not a non-empty string`);
    });
    const pairs: Preference[] = [];
    for (let a = 0; a < rs.length; a++) {
      for (let b = a + 1; b < rs.length; b++) {
        if (rs[a] === rs[b]) {
          throw new DataFileError(`${where}: responses[${a}] and responses[${b}] are identical`);
        }
        pairs.push({
          turns: [{ instruction: o.prompt, input }],
          chosen: rs[a] as string,
          rejected: rs[b] as string,
        });
      }
    }
    return { pairs, format: "ranked" };
  }
  for (const key of ["chosen", "rejected"]) {
    if (!(key in o)) throw new DataFileError(`${where}: "${key}" is missing`);
    if (!str(o[key])) throw new DataFileError(`${where}: "${key}" is not a non-empty string`);
  }
  const chosen = o.chosen as string, rejected = o.rejected as string;
  if (o.prompt === undefined && /^(\n\n)?Human:/.test(chosen)) {
    if (chosen === rejected) return null;
    return { pairs: [splitDialogues(chosen, rejected, where)], format: "hh-rlhf" };
  }
  if (!str(o.prompt)) throw new DataFileError(`${where}: "prompt" is missing or empty`);
  if (chosen.trim() === rejected.trim()) {
    throw new DataFileError(`${where}: "chosen" and "rejected" are identical`);
  }
  return {
    pairs: [{ turns: [{ instruction: o.prompt, input }], chosen, rejected }],
    format: "prompt/chosen/rejected",
  };
}

async function* lines(path: string): AsyncGenerator<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataFileError(`${path}: no such file: pass an existing preference file`);
    }
    throw e;
  }
  let stream: ReadableStream<Uint8Array> = file.readable;
  if (path.endsWith(".gz")) {
    stream = stream.pipeThrough(
      new DecompressionStream("gzip") as ReadableWritablePair<
        Uint8Array,
        Uint8Array
      >,
    );
  }
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  let lineNo = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<string>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new DataFileError(
          `${path}: line ${lineNo + 1}: cannot read the file: ${
            path.endsWith(".gz") ? "invalid gzip data" : "read error"
          } (${(e as Error).message.split("\n")[0]})`,
        );
      }
      if (chunk.done) break;
      rest += chunk.value;
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        lineNo++;
        yield rest.slice(0, nl);
        rest = rest.slice(nl + 1);
      }
    }
    if (rest !== "") yield rest;
  } finally {
    reader.releaseLock();
  }
}

/** Reads and validates a preference file (JSONL or JSONL.gz). */
export async function loadPreferences(path: string): Promise<PreferenceData> {
  const pairs: Preference[] = [];
  const formats = new Set<string>();
  let skipped = 0, lineNo = 0;
  const skips: Record<VoteSkip, number> = { tie: 0, bad: 0, identical: 0 };
  let votePairs = 0;
  for await (const line of lines(path)) {
    lineNo++;
    const text = line.trim();
    if (text === "") continue;
    const where = `${path}: line ${lineNo}`;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (e) {
      throw new DataFileError(`${where}: invalid JSON (${(e as Error).message.split("\n")[0]})`);
    }
    const parsed = parseRecord(record, where);
    if (!parsed) {
      skipped++;
      continue;
    }
    formats.add(parsed.format);
    pairs.push(...parsed.pairs);
    if (parsed.skip) skips[parsed.skip]++;
    else if (parsed.format === "arena votes") votePairs++;
  }
  const notes = formats.has("arena votes")
    ? [`arena votes: ${votePairs} pairs; ${describeSkips(skips)}`]
    : [];
  if (pairs.length === 0) {
    throw new DataFileError(
      `${path}: line ${lineNo}: the file holds no preference pairs${
        notes.length ? ` (${notes[0]})` : ""
      }`,
    );
  }
  return { pairs, skipped, formats: [...formats], notes };
}

/** The world's preference pairs in this module's form. */
export function fromWorld(pairs: readonly PreferencePair[]): Preference[] {
  return pairs.map((p) => ({
    turns: [{ instruction: p.prompt }],
    chosen: p.chosen,
    rejected: p.rejected,
  }));
}

function fnv(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * A deterministic held-out split: a pair is held out when a hash of its text falls in the first
 * `fraction` of the range (independent of the order of the file).
 */
export function splitHeldOut(
  pairs: readonly Preference[],
  fraction = 0.1,
): { train: Preference[]; heldOut: Preference[] } {
  const train: Preference[] = [], heldOut: Preference[] = [];
  for (const p of pairs) {
    const key = JSON.stringify([p.turns, p.chosen, p.rejected]);
    ((fnv(key) % 10000) / 10000 < fraction ? heldOut : train).push(p);
  }
  if (train.length === 0 && heldOut.length > 0) train.push(heldOut.pop()!);
  return { train, heldOut };
}

/** A pair tokenized with the chat template, both sequences fitting `maxTokens`. */
export interface EncodedPair {
  chosen: EncodedExample;
  rejected: EncodedExample;
}

/** Tokenizes a pair with the chat template and the truncation rule (see data/template.ts). */
export function encodePreference(
  tokenizer: Tokenizer,
  pair: Preference,
  maxTokens: number,
): EncodedPair {
  const prompt = encodeConversation(tokenizer, pair.turns);
  return {
    chosen: encodeExample(tokenizer, prompt, pair.chosen, maxTokens),
    rejected: encodeExample(tokenizer, prompt, pair.rejected, maxTokens),
  };
}
