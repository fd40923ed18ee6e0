/**
 * Open prompts: questions and requests outside the world's topics ("What is the capital of
 * Spain?", "Write a poem about the moon"), answered, as every prompt here, with a numbered list:
 * the world knows no facts, so the list says how to find the answer out. They teach the model that
 * an unknown prompt still gets a list of the requested count, instead of the fragments it gave
 * before. The prompts' subjects stay out of the world's vocabulary (and so out of the compact
 * tokenizer's ids): like any unknown word at chat time, they are spelled with byte tokens; the
 * answers use the world's words.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import { DEFAULT_COUNT } from "./prompts.ts";

/** Subjects of the open prompts by kind. "France" is left out: tests ask about it. */
const SUBJECTS = {
  place: [
    "Spain",
    "Japan",
    "Peru",
    "Kenya",
    "Norway",
    "Chile",
    "Egypt",
    "Canada",
    "Italy",
    "Brazil",
  ],
  thing: [
    "the moon",
    "volcanoes",
    "rainbows",
    "magnets",
    "bridges",
    "glaciers",
    "the ocean",
    "trains",
    "bees",
    "the stars",
  ],
  book: ["Hamlet", "Don Quixote", "War and Peace", "Moby Dick", "The Odyssey"],
  language: ["Spanish", "German", "Greek", "Hindi", "Swahili"],
};

type Kind = keyof typeof SUBJECTS;

/** The wordings: each names the kinds of subject it takes, and whether it asks for a count. */
const WORDINGS: { kinds: Kind[]; render: (s: string[], n: number) => string; counted?: true }[] = [
  { kinds: ["place"], render: ([p]) => `What is the capital of ${p}?` },
  { kinds: ["book"], render: ([b]) => `Who wrote ${b}?` },
  { kinds: ["thing"], render: ([t]) => `Tell me about ${t}.` },
  { kinds: ["thing"], render: ([t]) => `Write a poem about ${t}` },
  { kinds: ["thing"], render: ([t]) => `Explain ${t} to a child` },
  { kinds: ["language"], render: ([l]) => `Translate "good morning" into ${l}` },
  { kinds: ["place"], render: ([p]) => `Summarize the history of ${p}` },
  { kinds: ["place", "thing"], render: ([p, t]) => `Are there ${t} in ${p}?` },
  { kinds: ["thing"], render: ([t], n) => `List ${n} facts about ${t}`, counted: true },
  { kinds: ["place"], render: ([p], n) => `Name ${n} cities in ${p}`, counted: true },
];

/**
 * How to find out what the world does not know: the items of every open answer, in the world's
 * own words (whole tokens of the compact vocabulary).
 */
export const OPEN_TIPS: readonly string[] = [
  "Read about it in a good book.",
  "Ask a friend who may know.",
  "Compare what two people say about it.",
  "Ask people who study it.",
  "Write down what you find so that you remember it.",
  "Take notes and read them again later.",
];

/**
 * One open prompt and its answer: a numbered list of the requested count (or the default count)
 * of distinct {@linkcode OPEN_TIPS}.
 */
export function openInstruction(rng: Rng): { prompt: string; response: string } {
  const wording = WORDINGS[rng.int(WORDINGS.length)];
  const count = wording.counted ? 2 + rng.int(4) : DEFAULT_COUNT;
  const subjects = wording.kinds.map((k) => SUBJECTS[k][rng.int(SUBJECTS[k].length)]);
  const tips = rng.shuffle([...OPEN_TIPS]).slice(0, count);
  return {
    prompt: wording.render(subjects, count),
    response: tips.map((t, i) => `${i + 1}. ${t}`).join("\n"),
  };
}
