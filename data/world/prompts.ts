/**
 * Prompt wordings of the instruction world, the (topic, wording, count) combinations they span,
 * the held-out combinations, and {@link parsePrompt}, which reads a prompt back into its topic and
 * requested count.
 *
 * @module
 */

import { Rng } from "../rng.ts";
import { type Topic, TOPICS } from "./phrases.ts";

/** The count a wording without a number asks for. */
export const DEFAULT_COUNT = 3;

/** The counts a numbered wording can ask for. */
export const COUNTS: readonly number[] = [1, 2, 3, 4, 5];

const NUMBER_WORDS = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
];

interface Fill {
  /** The topic phrase (a verb phrase or a noun phrase, as the wording needs). */
  phrase: string;
  /** The count as written ("3" or "three"). */
  num: string;
  /** The count as a number. */
  n: number;
}

/** One way of asking for tips. */
export interface Wording {
  /** Identifier, e.g. "list_ways". */
  id: string;
  /** Whether the wording states a count; if not it asks for {@link DEFAULT_COUNT} items. */
  numbered: boolean;
  /** Whether the wording takes a topic noun phrase (else a verb phrase). */
  noun: boolean;
  /** Renders the prompt. */
  render(fill: Fill): string;
}

const plural = (n: number, one: string, many: string) => n === 1 ? one : many;

/** The wordings. */
export const WORDINGS: readonly Wording[] = [
  {
    id: "give_tips_for",
    numbered: true,
    noun: true,
    render: ({ phrase, num, n }) => `Give ${num} ${plural(n, "tip", "tips")} for ${phrase}`,
  },
  {
    id: "list_ways",
    numbered: true,
    noun: false,
    render: ({ phrase, num, n }) => `List ${num} ${plural(n, "way", "ways")} to ${phrase}`,
  },
  {
    id: "what_are_ways",
    numbered: true,
    noun: false,
    render: ({ phrase, num, n }) =>
      `What ${plural(n, "is", "are")} ${num} ${plural(n, "way", "ways")} to ${phrase}?`,
  },
  {
    id: "give_me_tips_to",
    numbered: true,
    noun: false,
    render: ({ phrase, num, n }) => `Give me ${num} ${plural(n, "tip", "tips")} to ${phrase}`,
  },
  {
    id: "name_things",
    numbered: true,
    noun: false,
    render: ({ phrase, num, n }) =>
      `Name ${num} ${plural(n, "thing", "things")} I can do to ${phrase}`,
  },
  {
    id: "i_want_to",
    numbered: true,
    noun: false,
    render: ({ phrase, num, n }) =>
      `I want to ${phrase}. What ${plural(n, "is", "are")} ${num} ${
        plural(n, "thing", "things")
      } I can do?`,
  },
  { id: "how_to", numbered: false, noun: false, render: ({ phrase }) => `How to ${phrase}` },
  { id: "how_can_i", numbered: false, noun: false, render: ({ phrase }) => `How can I ${phrase}?` },
  { id: "tips_for", numbered: false, noun: true, render: ({ phrase }) => `Tips for ${phrase}` },
  {
    id: "what_should_i_do",
    numbered: false,
    noun: false,
    render: ({ phrase }) => `What should I do to ${phrase}?`,
  },
];

/** A (topic, wording, count) combination. Held-out evaluation prompts are whole combinations. */
export interface Combo {
  topic: Topic;
  wording: Wording;
  count: number;
}

/** A stable key for a combination, e.g. "sleep/list_ways/3". */
export function comboKey(c: Combo): string {
  return `${c.topic.id}/${c.wording.id}/${c.count}`;
}

/** Every combination of the world, in a fixed order. */
export function allCombos(): Combo[] {
  const out: Combo[] = [];
  for (const topic of TOPICS) {
    for (const wording of WORDINGS) {
      for (const count of wording.numbered ? COUNTS : [DEFAULT_COUNT]) {
        out.push({ topic, wording, count });
      }
    }
  }
  return out;
}

/** Every prompt string of a combination: each topic phrase, and for numbers digits and words. */
export function comboPrompts(c: Combo): string[] {
  const phrases = c.wording.noun ? c.topic.nouns : c.topic.verbs;
  const nums = c.wording.numbered ? [String(c.count), NUMBER_WORDS[c.count]] : [String(c.count)];
  const out: string[] = [];
  for (const phrase of phrases) {
    for (const num of nums) out.push(c.wording.render({ phrase, num, n: c.count }));
  }
  return out;
}

/** Seed of the held-out choice: fixed, so every world seed shares the same evaluation set. */
const HOLDOUT_SEED = 20240611;
/** Held-out combinations per topic. */
const HOLDOUT_PER_TOPIC = 4;

/**
 * The held-out combinations: per topic, {@link HOLDOUT_PER_TOPIC} combinations picked with a fixed
 * seed, never from the "how_to" wording (so the showcase prompts such as "How to be productive"
 * stay in training). Each held-out combination pairs a topic, a wording and a count that training
 * shows separately but never together.
 */
export function heldOutCombos(): Combo[] {
  const rng = new Rng(HOLDOUT_SEED);
  const out: Combo[] = [];
  for (const topic of TOPICS) {
    const pool = allCombos().filter((c) => c.topic === topic && c.wording.id !== "how_to");
    out.push(...rng.shuffle(pool).slice(0, HOLDOUT_PER_TOPIC));
  }
  return out;
}

/** The combinations that training data (SFT and preferences) may use. */
export function trainingCombos(): Combo[] {
  const held = new Set(heldOutCombos().map(comboKey));
  return allCombos().filter((c) => !held.has(comboKey(c)));
}

/** Lower case, letters and digits only, single spaces. */
export function normalize(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, " ").trim();
}

interface PhraseEntry {
  phrase: string;
  topic: Topic;
}

let phraseIndex: PhraseEntry[] | undefined;

function phrases(): PhraseEntry[] {
  if (!phraseIndex) {
    phraseIndex = [];
    for (const topic of TOPICS) {
      for (const p of [...topic.verbs, ...topic.nouns, topic.field, topic.id]) {
        phraseIndex.push({ phrase: normalize(p), topic });
      }
    }
    // Longest first, so "get better sleep" wins over "sleep".
    phraseIndex.sort((a, b) => b.phrase.length - a.phrase.length);
  }
  return phraseIndex;
}

/**
 * Reads the requested count of a prompt: the first digit group or number word ("one" to "nine",
 * also "a single"); {@link DEFAULT_COUNT} when the prompt names none.
 */
export function parseCount(prompt: string): number {
  const words = normalize(prompt).split(" ");
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (/^\d+$/.test(w)) return Number(w);
    const k = NUMBER_WORDS.indexOf(w);
    if (k > 0) return k;
    if (w === "single" && words[i - 1] === "a") return 1;
  }
  return DEFAULT_COUNT;
}

/**
 * The topic of a prompt: the topic whose phrase (verb, noun, field or id) occurs in it as whole
 * words, longest phrase first; `undefined` when none does.
 */
export function parseTopic(prompt: string): Topic | undefined {
  const text = ` ${normalize(prompt)} `;
  for (const e of phrases()) {
    if (text.includes(` ${e.phrase} `)) return e.topic;
  }
  return undefined;
}

/**
 * Reads a raw prompt (no chat template) back into its topic id and requested count, or
 * `undefined` when no topic of the world is named. Works on the world's own wordings and on
 * free variations that name a topic phrase ("any advice on saving money" → money, 3).
 */
export function parsePrompt(prompt: string): { topic: string; count: number } | undefined {
  const topic = parseTopic(prompt);
  return topic ? { topic: topic.id, count: parseCount(prompt) } : undefined;
}
