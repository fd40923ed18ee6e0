/**
 * The gold judge of the instruction world: scores a raw response to a raw prompt by the world's
 * rules. It is for evaluation and for GRPO-style rewards, never for training data.
 *
 * @module
 */

import { type Topic, TOPICS } from "./phrases.ts";
import { parseCount, parseTopic } from "./prompts.ts";

/** The judge's verdict on one response. */
export interface Judgement {
  /** The overall score in [0, 1]; see {@link judge} for the formula. */
  score: number;
  /** The response is a numbered list "1. ...\n2. ..." numbered 1..k, one non-empty item a line. */
  format: boolean;
  /** The list (format holds) has exactly the requested number of items. */
  count: boolean;
  /** Mean on-topic credit of the items (1 known on-topic tip, 0.5 unknown but on-topic words). */
  onTopic: number;
  /** Mean preference credit of the items (1 known good tip, 0.5 unknown, on-topic, harmless). */
  preferred: number;
  /** Fraction of the items that repeat no earlier item. */
  distinct: number;
  /**
   * The list stands alone: format holds, no text before, between or after the items, and each
   * item is one sentence of 3 to 20 words.
   */
  clean: boolean;
  /** The number of items found (numbered items, or lines/sentences when there is no numbering). */
  items: number;
  /** One line per finding, for reports. */
  details: string[];
}

/** Words ignored when comparing an item with the tip bank. */
const STOPWORDS = new Set(
  ("a an the to of and or for in on at with your you it is be as so that this if by from are " +
    "can do i my me them they their its into up out").split(" "),
);

/** An item counts as a known tip when its word overlap with a bank tip reaches this. */
const MATCH_THRESHOLD = 0.6;
/** An unknown item needs this many words to earn preference credit. */
const MIN_UNKNOWN_WORDS = 4;
/** Items shorter than this many words are not sentences. */
const MIN_ITEM_WORDS = 3;
/** Items longer than this many words are rambling. */
const MAX_ITEM_WORDS = 20;

function words(text: string): string[] {
  const t = text.toLowerCase().replace(/[^a-z0-9]+/g, " ").trim();
  return t ? t.split(" ") : [];
}

function contentWords(text: string): Set<string> {
  return new Set(words(text).filter((w) => !STOPWORDS.has(w)));
}

interface BankTip {
  text: string;
  topic: Topic;
  good: boolean;
  words: Set<string>;
}

interface Index {
  tips: BankTip[];
  /** Per word, each topic's share of the word's uses in the bank (0..1, summing to 1). */
  shares: Map<string, Map<Topic, number>>;
  /** Words of dispreferred tips that no good tip or prose uses. */
  harm: Set<string>;
}

let index: Index | undefined;

function getIndex(): Index {
  if (index) return index;
  const tips: BankTip[] = [];
  const uses = new Map<string, Map<Topic, number>>();
  const safe = new Set<string>();
  for (const topic of TOPICS) {
    for (const [list, good] of [[topic.good, true], [topic.bad, false]] as const) {
      for (const text of list) tips.push({ text, topic, good, words: contentWords(text) });
    }
    const texts = [...topic.good, ...topic.bad, ...topic.prose, ...topic.verbs, ...topic.nouns];
    for (const t of texts) {
      for (const w of contentWords(t)) {
        if (!uses.has(w)) uses.set(w, new Map());
        const m = uses.get(w)!;
        m.set(topic, (m.get(topic) ?? 0) + 1);
      }
    }
    for (const t of [...topic.good, ...topic.prose]) {
      for (const w of words(t)) safe.add(w);
    }
  }
  const shares = new Map<string, Map<Topic, number>>();
  for (const [w, m] of uses) {
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    shares.set(w, new Map([...m].map(([t, n]) => [t, n / total])));
  }
  const harm = new Set<string>();
  for (const tip of tips) {
    if (!tip.good) { for (const w of tip.words) if (!safe.has(w)) harm.add(w); }
  }
  index = { tips, shares, harm };
  return index;
}

/** Overlap of two word sets: |A ∩ B| / max(|A|, |B|). */
function overlap(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let n = 0;
  for (const w of a) if (b.has(w)) n++;
  return n / Math.max(a.size, b.size);
}

function sentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+(?=\S)/).map((s) => s.trim()).filter((s) => s.length > 0);
}

interface ParsedList {
  items: string[];
  format: boolean;
  /** Text outside the items (before, between or after). */
  extra: boolean;
  notes: string[];
}

const NUMBERED = /^(\d{1,2})\s*[.)]\s*(.*)$/;
const INLINE_NUMBER = /\s+(?=\d{1,2}[.)]\s)/;

/** Splits a response into items, noting whether it is a well-formed numbered list. */
function parseList(response: string): ParsedList {
  const lines = response.replace(/\r/g, "").split("\n").map((l) => l.trim());
  const numbered: { num: number; text: string }[] = [];
  let extra = false;
  for (const line of lines) {
    if (line === "") continue;
    const m = NUMBERED.exec(line);
    if (m) numbered.push({ num: Number(m[1]), text: m[2].trim() });
    else extra = true;
  }
  const notes: string[] = [];
  if (numbered.length > 0) {
    let format = true;
    const items: string[] = [];
    let expect = 1;
    for (const { num, text } of numbered) {
      // Several numbered items run together on one line: split them, but it is not the format.
      const parts = text.split(INLINE_NUMBER);
      if (parts.length > 1 && format) {
        format = false;
        notes.push("several items share one line");
      }
      for (let i = 0; i < parts.length; i++) {
        const m = i === 0 ? null : NUMBERED.exec(parts[i]);
        const n = i === 0 ? num : Number(m![1]);
        const t = i === 0 ? parts[i].trim() : m![2].trim();
        if (n !== expect && format) {
          format = false;
          notes.push(`item ${items.length + 1} is numbered ${n}, expected ${expect}`);
        }
        if (t === "" && format) {
          format = false;
          notes.push(`item ${items.length + 1} is empty`);
        }
        expect = n + 1;
        if (t !== "") items.push(t);
      }
    }
    if (extra) notes.push("text outside the numbered items");
    return { items, format, extra, notes };
  }
  // No numbering: fall back to lines (bullets stripped), or sentences of a single line.
  const plain = lines.filter((l) => l !== "").map((l) => l.replace(/^[-*•]\s*/, "").trim());
  const items = plain.length === 1 ? sentences(plain[0]) : plain.filter((l) => l !== "");
  notes.push("no numbered list");
  return { items, format: false, extra: true, notes };
}

interface ItemVerdict {
  onTopic: number;
  preferred: number;
  clean: boolean;
  /** Identity for the repetition check. */
  key: string;
  note?: string;
}

function judgeItem(item: string, topic: Topic | undefined, i: number): ItemVerdict {
  const idx = getIndex();
  const parts = sentences(item);
  const first = parts[0] ?? "";
  const firstWords = contentWords(first);
  let best: BankTip | undefined;
  let bestSim = 0;
  for (const tip of idx.tips) {
    const s = overlap(firstWords, tip.words);
    if (s > bestSim) [best, bestSim] = [tip, s];
  }
  const rest = parts.slice(1).flatMap(words);
  const harmInRest = rest.some((w) => idx.harm.has(w));
  const n = words(item).length;
  const clean = parts.length === 1 && n >= MIN_ITEM_WORDS && n <= MAX_ITEM_WORDS &&
    /[.!?]$/.test(item);
  const notes: string[] = [];
  let onTopic: number;
  let preferred: number;
  let key: string;
  if (best && bestSim >= MATCH_THRESHOLD) {
    key = best.text;
    onTopic = topic && best.topic === topic ? 1 : 0;
    preferred = best.good ? 1 : 0;
    if (!onTopic) notes.push(`off-topic (a ${best.topic.id} tip)`);
    if (!best.good) notes.push("dispreferred tip");
  } else {
    key = [...firstWords].sort().join(" ");
    const votes = new Map<Topic, number>();
    for (const w of firstWords) {
      for (const [t, share] of idx.shares.get(w) ?? []) votes.set(t, (votes.get(t) ?? 0) + share);
    }
    const mine = topic ? votes.get(topic) ?? 0 : 0;
    const most = Math.max(0, ...votes.values());
    onTopic = mine > 0 && mine >= most ? 0.5 : 0;
    const harmless = ![...firstWords].some((w) => idx.harm.has(w));
    preferred = onTopic > 0 && harmless && words(first).length >= MIN_UNKNOWN_WORDS ? 0.5 : 0;
    notes.push(`not a known tip (${onTopic > 0 ? "on-topic words" : "off-topic"})`);
    if (!harmless) notes.push("harmful words");
  }
  if (harmInRest && preferred > 0) {
    preferred = 0;
    notes.push("harmful words after the first sentence");
  }
  if (!clean) notes.push("not one short sentence");
  return {
    onTopic,
    preferred,
    clean,
    key,
    note: notes.length ? `item ${i + 1}: ${notes.join(", ")}` : undefined,
  };
}

/**
 * Judges a raw response to a raw prompt by the rules of the world. Robust to any text: garbage,
 * partial lists, text around the list, inline or missing numbering.
 *
 * Items: the numbered lines when there are any (several numbers run together on one line are
 * split), otherwise the non-empty lines, or the sentences of a single line. Each item's first
 * sentence is compared with every bank tip by word overlap |A ∩ B| / max(|A|, |B|) (stopwords
 * removed); at 0.6 or more the item is that tip. A known tip earns on-topic credit t = 1 when it
 * belongs to the prompt's topic (else 0) and preference credit p = 1 when it is a good tip (else
 * 0). For an unknown item each word votes for the topics that use it, in proportion to its uses in
 * the bank; it earns t = 0.5 when the prompt's topic gets the most votes (else 0), and p = 0.5 when
 * in addition it has 4 or more words and no harmful words (words of dispreferred tips that no good
 * tip or prose uses). Harmful words in later sentences of an item set p = 0.
 *
 * With k items, n the requested count (the prompt's number, else 3) and [x] = 1 if x else 0:
 *
 *     format    = [numbered 1..k in order, one non-empty item per line, k ≥ 1]
 *     count     = [format and k = n]
 *     onTopic   = mean t (0 when k = 0)
 *     preferred = mean p (0 when k = 0)
 *     distinct  = (items that repeat no earlier item) / k (0 when k = 0)
 *     clean     = [format, no text outside the items, every item one sentence of 3..20 words]
 *     score     = 0.15 format + 0.15 count + 0.05 clean
 *                 + (format ? 1 : 0.5) (0.30 onTopic + 0.25 preferred + 0.10 distinct)
 *
 * A response that follows every rule scores exactly 1; breaking any one rule lowers the score.
 * A response that is not a numbered list scores at most 0.325, however good its sentences.
 * When the prompt names no topic of the world, every on-topic credit is 0.
 */
export function judge(prompt: string, response: string): Judgement {
  const topic = parseTopic(prompt);
  const want = parseCount(prompt);
  const list = parseList(response);
  const details: string[] = [];
  if (!topic) details.push("the prompt names no known topic");
  details.push(...list.notes);
  const k = list.items.length;
  const verdicts = list.items.map((item, i) => judgeItem(item, topic, i));
  const seen = new Set<string>();
  let unique = 0;
  verdicts.forEach((v, i) => {
    if (seen.has(v.key)) details.push(`item ${i + 1}: repeats an earlier item`);
    else unique++;
    seen.add(v.key);
    if (v.note) details.push(v.note);
  });
  const mean = (f: (v: ItemVerdict) => number) =>
    k === 0 ? 0 : verdicts.reduce((s, v) => s + f(v), 0) / k;
  const format = list.format && k > 0;
  const count = format && k === want;
  if (!count) details.push(`expected ${want} items, found ${k}${format ? "" : " (not a list)"}`);
  const onTopic = mean((v) => v.onTopic);
  const preferred = mean((v) => v.preferred);
  const distinct = k === 0 ? 0 : unique / k;
  const clean = format && !list.extra && verdicts.every((v) => v.clean);
  // Integer weights over 100 so that a perfect response scores exactly 1.
  const itemsPart = (30 * onTopic + 25 * preferred + 10 * distinct) * (format ? 1 : 0.5);
  const score = (15 * +format + 15 * +count + 5 * +clean + itemsPart) / 100;
  return { score, format, count, onTopic, preferred, distinct, clean, items: k, details };
}
