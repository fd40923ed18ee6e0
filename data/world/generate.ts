/**
 * The generator of the instruction world: pretraining prose, instruction/response pairs,
 * preference pairs and held-out prompts, all drawn from the phrase bank with a seeded {@link Rng}.
 *
 * Data rules:
 * - Prose: paragraphs of everyday-advice prose on one topic, sometimes followed by a second; good
 *   tips appear as prose ("Many people find it helps to ..."), dispreferred ones as warnings
 *   ("Some people skip sleep ..., but this often does more harm than good."). No numbered lists
 *   and no instruction wording.
 * - Instructions: a prompt from a training combination (see {@link trainingCombos}) and a numbered
 *   list "1. ...\n2. ..." of exactly the requested count of distinct good tips of the topic. In a
 *   fraction `dispreferredRate` (default 0.3) of the pairs one item is replaced by a dispreferred
 *   tip of the same topic: the response is still correct (format, count, on-topic) but not
 *   preference-perfect, which leaves RLHF something to improve.
 * - Preferences: chosen follows every rule (judge score 1); rejected is chosen with exactly one
 *   rule broken, named in `broken` (see {@link BROKEN_RULES}).
 * - Held-out prompts: every prompt string of the held-out combinations; none of them occurs in
 *   the instructions or preferences.
 * - Open instructions: prompts outside the world's topics, answered with a numbered list of how
 *   to find the answer out (see open.ts), kept apart from `instructions` (RLHF and the judge see
 *   only the world's topics; SFT trains on both).
 *
 * @module
 */

import { Rng } from "../rng.ts";
import {
  CLOSERS,
  GOOD_OPENERS,
  PAIR_FRAMES,
  type Topic,
  TOPICS,
  TRANSITIONS,
  WARNING_FRAMES,
} from "./phrases.ts";
import { type Combo, comboPrompts, heldOutCombos, trainingCombos } from "./prompts.ts";
import { openInstruction } from "./open.ts";

/** One instruction/response pair (raw strings, no chat template). */
export interface InstructionPair {
  prompt: string;
  response: string;
}

/** The rules a rejected response can break. */
export const BROKEN_RULES = [
  "off_topic",
  "wrong_count",
  "dispreferred",
  "repetition",
  "rambling",
  "no_numbering",
] as const;

/** The rule a rejected response breaks. */
export type BrokenRule = typeof BROKEN_RULES[number];

/** One preference pair: `chosen` follows every rule, `rejected` breaks `broken`. */
export interface PreferencePair {
  prompt: string;
  chosen: string;
  rejected: string;
  broken: BrokenRule;
}

/** The generated world. */
export interface World {
  /** Pretraining paragraphs (join with a blank line for a text file). */
  prose: string[];
  instructions: InstructionPair[];
  preferences: PreferencePair[];
  /** Prompts of combinations that no training data uses, for evaluation. */
  heldOutPrompts: string[];
  /** Prompts outside the world's topics, each answered with a list (see open.ts). */
  open: InstructionPair[];
}

/** Options of {@link generateWorld}. */
export interface WorldOptions {
  /** Seed of everything but the held-out choice (which is fixed). Default 1. */
  seed?: number;
  /** Number of prose paragraphs. Default 360 (about 150 KB). */
  proseParagraphs?: number;
  /** Number of instruction pairs. Default 4000. */
  instructions?: number;
  /** Number of preference pairs. Default 3000. */
  preferences?: number;
  /** Maximum number of held-out prompts (a seeded sample when fewer than all). Default all. */
  heldOut?: number;
  /** Fraction of instruction responses with one dispreferred tip. Default 0.3. */
  dispreferredRate?: number;
  /** Number of open instruction pairs (prompts outside the topics). Default 200. */
  open?: number;
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)];

/** `k` distinct items of `items` in random order. */
function sample<T>(rng: Rng, items: readonly T[], k: number): T[] {
  return rng.shuffle([...items]).slice(0, k);
}

const lowerFirst = (s: string) => s[0].toLowerCase() + s.slice(1);
const upperFirst = (s: string) => s[0].toUpperCase() + s.slice(1);
const stripPeriod = (s: string) => s.replace(/[.!?]$/, "");

/** An imperative tip as a clause: "Skip sleep to work." → "skip sleep to work". */
function clause(tip: string): string {
  return lowerFirst(stripPeriod(tip));
}

/** An imperative tip in the third person plural: "Keep your worries" → "keep their worries". */
function theyClause(tip: string): string {
  return clause(tip)
    .replace(/\byourself\b/g, "themselves")
    .replace(/\byour\b/g, "their")
    .replace(/\byou\b/g, "they");
}

function fill(frame: string, values: Record<string, string>): string {
  return frame.replace(/\{(\w+)\}/g, (_, k: string) => values[k]);
}

/** The sentences of one topic's part of a paragraph. */
function topicSentences(rng: Rng, topic: Topic, intro: boolean): string[] {
  const out: string[] = [];
  if (intro) out.push(pick(rng, topic.prose));
  const tips = sample(rng, topic.good, 5);
  const openers = sample(rng, GOOD_OPENERS, 3);
  const nTips = 2 + rng.int(2);
  for (let i = 0; i < nTips; i++) out.push(`${openers[i]} ${clause(tips[i])}.`);
  if (rng.random() < 0.35) {
    out.push(fill(pick(rng, PAIR_FRAMES), { a: theyClause(tips[3]), b: theyClause(tips[4]) }));
  }
  if (rng.random() < 0.5) {
    const bad = pick(rng, topic.bad);
    out.push(fill(pick(rng, WARNING_FRAMES), { tip: clause(bad), they: theyClause(bad) }));
  }
  if (rng.random() < 0.4) {
    const more = pick(rng, topic.prose);
    if (!out.includes(more)) out.push(more);
  }
  return out;
}

/** One paragraph of pretraining prose. */
export function proseParagraph(rng: Rng): string {
  const first = pick(rng, TOPICS);
  const sentences = topicSentences(rng, first, true);
  if (rng.random() < 0.35) {
    let second = pick(rng, TOPICS);
    while (second === first) second = pick(rng, TOPICS);
    sentences.push(upperFirst(fill(pick(rng, TRANSITIONS), { field: second.field })));
    sentences.push(...topicSentences(rng, second, false));
  }
  if (rng.random() < 0.6) sentences.push(pick(rng, CLOSERS));
  return sentences.join(" ");
}

/** A numbered list "1. a\n2. b". */
export function numbered(items: readonly string[]): string {
  return items.map((t, i) => `${i + 1}. ${t}`).join("\n");
}

function promptOf(rng: Rng, combo: Combo): string {
  return pick(rng, comboPrompts(combo));
}

function instruction(rng: Rng, combo: Combo, dispreferredRate: number): InstructionPair {
  const items = sample(rng, combo.topic.good, combo.count);
  if (rng.random() < dispreferredRate) items[rng.int(items.length)] = pick(rng, combo.topic.bad);
  return { prompt: promptOf(rng, combo), response: numbered(items) };
}

function preference(rng: Rng, combo: Combo): PreferencePair {
  const { topic, count } = combo;
  const prompt = promptOf(rng, combo);
  const pool = rng.shuffle([...topic.good]);
  const items = pool.slice(0, count);
  const chosen = numbered(items);
  const rules = BROKEN_RULES.filter((r) => r !== "repetition" || count >= 2);
  const broken = pick(rng, rules);
  const bad = [...items];
  let rejected: string;
  switch (broken) {
    case "off_topic": {
      let other = pick(rng, TOPICS);
      while (other === topic) other = pick(rng, TOPICS);
      bad[rng.int(count)] = pick(rng, other.good);
      rejected = numbered(bad);
      break;
    }
    case "wrong_count":
      if (count === 1 || rng.random() < 0.5) bad.push(pool[count]);
      else bad.splice(rng.int(count), 1);
      rejected = numbered(bad);
      break;
    case "dispreferred":
      bad[rng.int(count)] = pick(rng, topic.bad);
      rejected = numbered(bad);
      break;
    case "repetition": {
      const from = rng.int(count);
      let to = rng.int(count);
      while (to === from) to = rng.int(count);
      bad[to] = bad[from];
      rejected = numbered(bad);
      break;
    }
    case "rambling":
      if (rng.random() < 0.5) {
        rejected = `${numbered(bad)}\n${pick(rng, CLOSERS)} ${pick(rng, topic.prose)}`;
      } else {
        const i = rng.int(count);
        bad[i] = `${bad[i]} ${pick(rng, topic.prose)}`;
        rejected = numbered(bad);
      }
      break;
    case "no_numbering":
      rejected = rng.random() < 0.5 ? bad.join(" ") : bad.map((t) => `- ${t}`).join("\n");
      break;
  }
  return { prompt, chosen, rejected, broken };
}

/**
 * Generates the world. Deterministic: the same options give the same world. The held-out
 * combinations do not depend on the seed.
 */
export function generateWorld(options: WorldOptions = {}): World {
  const {
    seed = 1,
    proseParagraphs = 360,
    instructions = 4000,
    preferences = 3000,
    heldOut,
    dispreferredRate = 0.3,
    open = 200,
  } = options;
  for (const [name, v] of Object.entries({ proseParagraphs, instructions, preferences, open })) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
    }
  }
  if (heldOut !== undefined && (!Number.isInteger(heldOut) || heldOut < 0)) {
    throw new RangeError(`heldOut must be a non-negative integer, got ${heldOut}`);
  }
  // Separate streams, so changing one count leaves the other parts unchanged.
  const proseRng = new Rng(seed * 4 + 0);
  const sftRng = new Rng(seed * 4 + 1);
  const prefRng = new Rng(seed * 4 + 2);
  const heldRng = new Rng(seed * 4 + 3);
  const openRng = new Rng(seed * 4 + 1_000_003);
  const combos = trainingCombos();
  const prose = Array.from({ length: proseParagraphs }, () => proseParagraph(proseRng));
  const pairs = Array.from(
    { length: instructions },
    () => instruction(sftRng, pick(sftRng, combos), dispreferredRate),
  );
  const prefs = Array.from(
    { length: preferences },
    () => preference(prefRng, pick(prefRng, combos)),
  );
  let held = heldOutCombos().flatMap(comboPrompts);
  if (heldOut !== undefined && heldOut < held.length) held = sample(heldRng, held, heldOut);
  const opens = Array.from({ length: open }, () => openInstruction(openRng));
  return { prose, instructions: pairs, preferences: prefs, heldOutPrompts: held, open: opens };
}

/** The distinct lower-case words of every text of a world (prose, prompts, responses). */
export function worldVocabulary(world: World): Set<string> {
  const vocab = new Set<string>();
  const add = (s: string) => {
    for (const w of s.toLowerCase().match(/[a-z]+/g) ?? []) vocab.add(w);
  };
  world.prose.forEach(add);
  for (const p of world.instructions) [p.prompt, p.response].forEach(add);
  for (const p of world.preferences) [p.prompt, p.chosen, p.rejected].forEach(add);
  world.heldOutPrompts.forEach(add);
  return vocab;
}
