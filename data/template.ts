/**
 * The chat template: one plain-text format, defined here once and used identically by SFT, the
 * reward model, RLHF, `sample`, `chat` and evaluation.
 *
 * ```text
 * ### Instruction:
 * Give 3 tips for better sleep
 *
 * ### Response:
 * 1. Keep the same bedtime every night.
 * 2. ...<|endoftext|>
 * ```
 *
 * An optional input goes in an `### Input:` block after the instruction; earlier turns of a chat
 * are earlier Instruction/Response pairs, each response ended by end-of-text. Every response ends
 * with the end-of-text token, so the model learns to stop.
 *
 * Truncation rule (the same everywhere): an example longer than the context keeps the end of its
 * prompt (the most recent turn) and the start of its response; the prompt keeps at least half the
 * context when the response is long.
 *
 * @module
 */
import type { Tokenizer } from "./tokenizer.ts";

/** Text that opens an instruction. */
export const INSTRUCTION_HEADER = "### Instruction:\n";
/** Text that opens an optional input. */
export const INPUT_HEADER = "### Input:\n";
/** Text that opens the response: the prompt ends with it. */
export const RESPONSE_HEADER = "### Response:\n";

/** One turn of a conversation. */
export interface Turn {
  /** The instruction. */
  instruction: string;
  /** Further input (Alpaca's `input`). */
  input?: string;
  /** The response (absent for the turn being asked). */
  response?: string;
}

/** The prompt text of one instruction (ends with the response header). */
export function formatPrompt(instruction: string, input?: string): string {
  let text = INSTRUCTION_HEADER + instruction.trim() + "\n\n";
  if (input && input.trim() !== "") text += INPUT_HEADER + input.trim() + "\n\n";
  return text + RESPONSE_HEADER;
}

/**
 * Token ids of a conversation whose last turn is being answered: earlier turns with their responses
 * and end-of-text, then the last prompt.
 */
export function encodeConversation(tokenizer: Tokenizer, turns: readonly Turn[]): number[] {
  const ids: number[] = [];
  turns.forEach((turn, i) => {
    ids.push(...tokenizer.encode(formatPrompt(turn.instruction, turn.input)));
    if (i < turns.length - 1) {
      ids.push(...tokenizer.encode(turn.response ?? ""), tokenizer.eot);
      ids.push(...tokenizer.encode("\n"));
    }
  });
  return ids;
}

/** A tokenized prompt/response example. */
export interface EncodedExample {
  /** Prompt ids, then response ids, then end-of-text. */
  ids: number[];
  /** Number of leading prompt ids (loss weight 0 there). */
  promptLength: number;
  /** Whether the truncation rule cut anything. */
  truncated: boolean;
}

/**
 * Tokenizes one example with the template and applies the truncation rule so that it fits
 * `maxTokens` ids (the context plus one, since targets are the inputs shifted by one).
 */
export function encodeExample(
  tokenizer: Tokenizer,
  prompt: readonly number[],
  response: string,
  maxTokens: number,
): EncodedExample {
  let p = [...prompt];
  let r = [...tokenizer.encode(response), tokenizer.eot];
  let truncated = false;
  if (p.length + r.length > maxTokens) {
    truncated = true;
    const keepPrompt = Math.min(p.length, Math.max(Math.ceil(maxTokens / 2), maxTokens - r.length));
    p = p.slice(p.length - keepPrompt);
    r = r.slice(0, maxTokens - p.length);
  }
  return { ids: [...p, ...r], promptLength: p.length, truncated };
}

/** The response text of a generated continuation: up to end-of-text or the next instruction. */
export function extractResponse(text: string): string {
  let end = text.length;
  for (const stop of ["<|endoftext|>", INSTRUCTION_HEADER.trim()]) {
    const i = text.indexOf(stop);
    if (i >= 0 && i < end) end = i;
  }
  return text.slice(0, end).trim();
}
