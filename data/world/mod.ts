/**
 * The instruction world: a small, deterministic, seeded world of everyday advice (topics, tips,
 * prose) that yields pretraining prose, instruction/response pairs, preference pairs and held-out
 * prompts, plus the gold {@link judge} that scores a response by the world's rules.
 *
 * @example
 * ```ts
 * import { generateWorld, judge } from "./mod.ts";
 *
 * const world = generateWorld({ seed: 1, instructions: 10, preferences: 10, proseParagraphs: 2 });
 * const { prompt, chosen, rejected } = world.preferences[0];
 * console.log(judge(prompt, chosen).score > judge(prompt, rejected).score); // true
 * ```
 *
 * @module
 */

export {
  BROKEN_RULES,
  type BrokenRule,
  generateWorld,
  type InstructionPair,
  numbered,
  type PreferencePair,
  type World,
  type WorldOptions,
  worldVocabulary,
} from "./generate.ts";
export { judge, type Judgement } from "./judge.ts";
export { type Topic, TOPICS } from "./phrases.ts";
export {
  allCombos,
  type Combo,
  comboKey,
  comboPrompts,
  DEFAULT_COUNT,
  heldOutCombos,
  parsePrompt,
  trainingCombos,
  type Wording,
  WORDINGS,
} from "./prompts.ts";
