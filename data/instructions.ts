/**
 * Instruction data for supervised fine-tuning: dataset formats, parsing with one-line errors, the
 * deterministic validation split, and batches of template-encoded examples with the prompt masked.
 *
 * Formats (detected from the first record, or forced):
 * - `alpaca`: a JSON array or JSON Lines of `{instruction, input?, output}`.
 * - `prompt-completion`: JSON Lines of `{prompt, completion}` (the prompt is the raw instruction;
 *   the chat template is applied here).
 * - `chat`: JSON Lines of `{messages: [{role, content}]}` with alternating `user` / `assistant`
 *   turns and an optional leading `system` message, which is put in front of the first
 *   instruction. The conversation must end with an assistant turn; the loss is on that LAST
 *   assistant turn only, the earlier turns are context (masked like the prompt).
 * - `self-instruct`: JSON Lines of `{instruction, instances: [{input, output}]}` (the Self-Instruct
 *   seed-task format); each instance is one example.
 *
 * Every parsed record becomes an {@linkcode InstructionExample}. Responses are trimmed and must not
 * be empty. Any problem raises a {@linkcode DataError} naming the file and the line of the record.
 *
 * Tokenizer mismatch rule: examples are encoded with the tokenizer of the model being fine-tuned.
 * A `gpt2-compact` tokenizer spells a GPT-2 token that its corpus never used with single-byte
 * tokens, and `gpt2` and `bytes` cover all text, so any text is encodable; words the pretraining
 * corpus never saw just cost more tokens.
 *
 * @example
 * ```ts
 * import { buildTokenizer } from "./tokenizer.ts";
 * import { encodeInstructions, InstructionBatches, parseInstructions } from "./instructions.ts";
 *
 * const { examples } = parseInstructions(
 *   '{"instruction": "Say hi", "output": "Hi!"}\n',
 *   "data.jsonl",
 * );
 * const tok = buildTokenizer("bytes");
 * const batches = new InstructionBatches(encodeInstructions(tok, examples, 64), {
 *   T: 63,
 *   pad: tok.eot,
 * });
 * const { inputs, targets, weights } = batches.nextBatch(1); // weights 0 on the prompt
 * ```
 *
 * @module
 */
import { DataError } from "./errors.ts";
import { Rng } from "./rng.ts";
import { encodeConversation, encodeExample, type Turn } from "./template.ts";
import type { Tokenizer } from "./tokenizer.ts";
import { generateWorld } from "./world/mod.ts";

export { DataError };

/** The dataset formats. */
export const DATA_FORMATS = ["alpaca", "prompt-completion", "chat", "self-instruct"] as const;

/** A dataset format. */
export type DataFormat = typeof DATA_FORMATS[number];

/** One training example: an instruction (with optional input), its response, earlier turns. */
export interface InstructionExample {
  /** The instruction. */
  instruction: string;
  /** Further input of the instruction (Alpaca's `input`). */
  input?: string;
  /** The response the model learns (the loss is on it and on the end-of-text after it). */
  response: string;
  /** Earlier turns of a conversation, each with its response (context only, no loss). */
  history?: Turn[];
}

/** The result of parsing a dataset. */
export interface ParsedInstructions {
  /** The format the records were read as. */
  format: DataFormat;
  /** The examples read. */
  examples: InstructionExample[];
  /** Number of records read (a self-instruct record may hold several examples). */
  records: number;
}

/** One raw record with the line it starts on. */
interface RawRecord {
  value: unknown;
  line: number;
}

const FIX = "fix the record or pass --format";

/** 1-based line of character `offset` in `text`. */
function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** The line of a JSON.parse error, from its "position N" (or "line N") when the engine gives it. */
function parseErrorLine(message: string, text: string, base: number): number {
  const line = /\(line (\d+) column \d+\)/.exec(message);
  if (line) return base + Number(line[1]) - 1;
  const pos = /at position (\d+)/.exec(message);
  if (pos) return base + lineAt(text, Number(pos[1])) - 1;
  return base;
}

/** The message of a JSON.parse error without its engine-specific position suffix. */
function parseErrorText(message: string): string {
  return message.replace(/\s*\(line \d+ column \d+\)/, "").replace(/ in JSON at position \d+/, "")
    .split("\n")[0];
}

/** Start offsets of the top-level elements of a JSON array text (assumed to be valid JSON). */
function arrayElementOffsets(text: string): number[] {
  const out: number[] = [];
  let depth = 0, inString = false, escaped = false, expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === " " || c === "\n" || c === "\r" || c === "\t") continue;
    if (depth === 1 && expectElement && c !== "]") {
      out.push(i);
      expectElement = false;
    }
    if (c === '"') inString = true;
    else if (c === "[" || c === "{") {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (c === "]" || c === "}") depth--;
    else if (c === "," && depth === 1) expectElement = true;
  }
  return out;
}

/** Splits a file's text into raw records: a JSON array, or JSON Lines (blank lines skipped). */
function readRecords(text: string, file: string): RawRecord[] {
  const start = text.search(/\S/);
  if (start < 0) {
    throw new DataError(`${file} is empty: give instruction records (JSON Lines or a JSON array)`);
  }
  if (text[start] === "[") {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      const msg = (e as Error).message;
      throw new DataError(
        `${file} line ${parseErrorLine(msg, text, 1)}: invalid JSON (${
          parseErrorText(msg)
        }): fix the file`,
      );
    }
    const items = value as unknown[];
    if (items.length === 0) {
      throw new DataError(`${file} is an empty JSON array: give instruction records`);
    }
    const offsets = arrayElementOffsets(text);
    return items.map((v, i) => ({ value: v, line: lineAt(text, offsets[i] ?? start) }));
  }
  const out: RawRecord[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return;
    try {
      out.push({ value: JSON.parse(line), line: i + 1 });
    } catch (e) {
      throw new DataError(
        `${file} line ${i + 1}: invalid JSON (${
          parseErrorText((e as Error).message)
        }): fix the line (JSON Lines hold one record a line)`,
      );
    }
  });
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The format of a record from its keys, or undefined. */
export function detectFormat(record: unknown): DataFormat | undefined {
  if (!isObject(record)) return undefined;
  if ("messages" in record) return "chat";
  if ("instances" in record) return "self-instruct";
  if ("prompt" in record && "completion" in record) return "prompt-completion";
  if ("instruction" in record) return "alpaca";
  return undefined;
}

/** Reads and checks the fields of records, raising errors that name the line. */
class RecordReader {
  constructor(readonly file: string, readonly format: DataFormat) {}

  fail(line: number, what: string): never {
    throw new DataError(`${this.file} line ${line}: ${what} (${this.format} record): ${FIX}`);
  }

  object(r: RawRecord): Record<string, unknown> {
    if (!isObject(r.value)) this.fail(r.line, `expected a JSON object, got ${describe(r.value)}`);
    return r.value;
  }

  /** A string field; `required` strings must not be blank. */
  string(
    obj: Record<string, unknown>,
    key: string,
    line: number,
    required: boolean,
    where = "",
  ): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (required) this.fail(line, `missing "${key}"${where}`);
      return undefined;
    }
    if (typeof v !== "string") {
      this.fail(line, `"${key}"${where} must be a string, got ${describe(v)}`);
    }
    if (required && v.trim() === "") this.fail(line, `"${key}"${where} is empty`);
    return v;
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return "a string";
  return `a ${typeof v}`;
}

function example(instruction: string, input: string | undefined, response: string) {
  const ex: InstructionExample = { instruction: instruction.trim(), response: response.trim() };
  if (input !== undefined && input.trim() !== "") ex.input = input.trim();
  return ex;
}

function parseRecord(reader: RecordReader, r: RawRecord): InstructionExample[] {
  const obj = reader.object(r);
  const line = r.line;
  switch (reader.format) {
    case "alpaca": {
      const instruction = reader.string(obj, "instruction", line, true)!;
      const input = reader.string(obj, "input", line, false);
      const output = reader.string(obj, "output", line, true)!;
      return [example(instruction, input, output)];
    }
    case "prompt-completion": {
      const prompt = reader.string(obj, "prompt", line, true)!;
      const completion = reader.string(obj, "completion", line, true)!;
      return [example(prompt, undefined, completion)];
    }
    case "self-instruct": {
      const instruction = reader.string(obj, "instruction", line, true)!;
      const instances = obj.instances;
      if (instances === undefined) reader.fail(line, `missing "instances"`);
      if (!Array.isArray(instances)) {
        reader.fail(line, `"instances" must be an array, got ${describe(instances)}`);
      }
      if (instances.length === 0) reader.fail(line, `"instances" is empty`);
      return instances.map((inst, i) => {
        const where = ` in instance ${i + 1}`;
        if (!isObject(inst)) {
          reader.fail(line, `instance ${i + 1} must be an object, got ${describe(inst)}`);
        }
        const input = reader.string(inst, "input", line, false, where);
        const output = reader.string(inst, "output", line, true, where)!;
        return example(instruction, input, output);
      });
    }
    case "chat":
      return [parseChat(reader, obj, line)];
  }
}

function parseChat(
  reader: RecordReader,
  obj: Record<string, unknown>,
  line: number,
): InstructionExample {
  const messages = obj.messages;
  if (messages === undefined) reader.fail(line, `missing "messages"`);
  if (!Array.isArray(messages)) {
    reader.fail(line, `"messages" must be an array, got ${describe(messages)}`);
  }
  if (messages.length === 0) reader.fail(line, `"messages" is empty`);
  let system = "";
  const turns: Turn[] = [];
  messages.forEach((m, i) => {
    const where = ` in message ${i + 1}`;
    if (!isObject(m)) reader.fail(line, `message ${i + 1} must be an object, got ${describe(m)}`);
    const role = reader.string(m, "role", line, true, where)!;
    const content = reader.string(m, "content", line, role === "assistant", where) ?? "";
    if (role === "system") {
      if (i !== 0) reader.fail(line, `a "system" message must come first (message ${i + 1})`);
      system = content.trim();
    } else if (role === "user") {
      const last = turns[turns.length - 1];
      if (last && last.response === undefined) {
        reader.fail(line, `two "user" messages in a row (message ${i + 1}): turns must alternate`);
      }
      if (content.trim() === "") reader.fail(line, `"content"${where} is empty`);
      turns.push({ instruction: content.trim() });
    } else if (role === "assistant") {
      const last = turns[turns.length - 1];
      if (!last || last.response !== undefined) {
        reader.fail(
          line,
          `an "assistant" message without a "user" message before it (message ${i + 1})`,
        );
      }
      last.response = content.trim();
    } else {
      reader.fail(line, `unknown role "${role}"${where}: use system, user or assistant`);
    }
  });
  const last = turns[turns.length - 1];
  if (!last) reader.fail(line, `no "user" message`);
  if (last.response === undefined) {
    reader.fail(line, `the last message must be an "assistant" turn (the one trained on)`);
  }
  if (system !== "") turns[0].instruction = `${system}\n\n${turns[0].instruction}`;
  const ex: InstructionExample = { instruction: last.instruction, response: last.response };
  if (turns.length > 1) ex.history = turns.slice(0, -1);
  return ex;
}

/**
 * Parses the text of a dataset file. `format` forces a format; without it the format is detected
 * from the first record. Throws a DataError naming `file` and the line of the first bad record.
 */
export function parseInstructions(
  text: string,
  file: string,
  format?: DataFormat,
): ParsedInstructions {
  const records = readRecords(text, file);
  if (records.length === 0) {
    throw new DataError(`${file} holds no records: give instruction records`);
  }
  let fmt = format;
  if (!fmt) {
    fmt = detectFormat(records[0].value);
    if (!fmt) {
      const keys = isObject(records[0].value)
        ? `keys ${Object.keys(records[0].value).map((k) => `"${k}"`).join(", ") || "none"}`
        : describe(records[0].value);
      throw new DataError(
        `${file} line ${records[0].line}: cannot tell the format (${keys}): expected ` +
          `{instruction, input?, output}, {prompt, completion}, {messages} or ` +
          `{instruction, instances}: ${FIX}`,
      );
    }
  }
  const reader = new RecordReader(file, fmt);
  const examples: InstructionExample[] = [];
  for (const r of records) examples.push(...parseRecord(reader, r));
  return { format: fmt, examples, records: records.length };
}

/** Reads and parses a dataset file (see {@linkcode parseInstructions}). */
export async function loadInstructions(
  path: string,
  format?: DataFormat,
): Promise<ParsedInstructions> {
  let text: string;
  try {
    if ((await Deno.stat(path)).isDirectory) {
      throw new DataError(`${path} is a directory: pass a .json or .jsonl file`);
    }
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataError(`${path} does not exist: pass a .json or .jsonl instruction file`);
    }
    throw e;
  }
  return parseInstructions(text, path, format);
}

/** The instruction pairs of the embedded instruction world, as examples. */
export function worldInstructions(seed = 1): InstructionExample[] {
  const world = generateWorld({ seed, preferences: 0, proseParagraphs: 0 });
  return [...world.instructions, ...world.open].map((p) => ({
    instruction: p.prompt,
    response: p.response,
  }));
}

/** A tokenized example: template ids and where the response starts. */
export interface EncodedInstruction {
  /** Prompt ids, response ids, end-of-text (at most `maxTokens`). */
  ids: number[];
  /** Leading ids of the prompt (and earlier turns): no loss there. */
  promptLength: number;
  /** Whether the example was cut to fit. */
  truncated: boolean;
}

/**
 * Encodes examples with the chat template (earlier turns, then the prompt, then the response and
 * end-of-text), truncated to `maxTokens` ids (the context plus one) by the template's rule.
 */
export function encodeInstructions(
  tokenizer: Tokenizer,
  examples: readonly InstructionExample[],
  maxTokens: number,
): EncodedInstruction[] {
  return examples.map((ex) => {
    const prompt = encodeConversation(tokenizer, [
      ...(ex.history ?? []),
      { instruction: ex.instruction, input: ex.input },
    ]);
    return encodeExample(tokenizer, prompt, ex.response, maxTokens);
  });
}

/**
 * Splits examples into train and validation sets: a deterministic `fraction` (at least one when
 * there are two or more examples) chosen with a fixed seed, so every run holds out the same ones.
 * With a single example, validation reuses it.
 */
export function splitExamples<T>(
  examples: readonly T[],
  fraction = 0.05,
  seed = 20240611,
): { train: T[]; val: T[] } {
  if (examples.length < 2) return { train: [...examples], val: [...examples] };
  const nVal = Math.min(examples.length - 1, Math.max(1, Math.round(examples.length * fraction)));
  const order = new Rng(seed).shuffle([...examples.keys()]);
  const isVal = new Uint8Array(examples.length);
  for (const i of order.slice(0, nVal)) isVal[i] = 1;
  return {
    train: examples.filter((_, i) => !isVal[i]),
    val: examples.filter((_, i) => isVal[i]),
  };
}

/** The position in an epoch-shuffled pass over examples; JSON-serialisable. */
export interface InstructionBatchState {
  /** RNG state at the start of the current epoch (the epoch's order is drawn from it). */
  rng: number;
  /** Completed epochs. */
  epoch: number;
  /** Next example of the epoch's order. */
  index: number;
  /** Number of examples (checked on restore). */
  examples: number;
}

/** A micro-batch with per-position loss weights. */
export interface WeightedBatch {
  /** (B, T) input ids. */
  inputs: Uint32Array;
  /** (B, T) next-token ids. */
  targets: Uint32Array;
  /** (B, T) loss weights: 1 on response tokens and the final end-of-text, 0 elsewhere. */
  weights: Float32Array;
}

/** Options of {@linkcode InstructionBatches}. */
export interface InstructionBatchesOptions {
  /** Sequence length of a row (the model's context). */
  T: number;
  /** Id of padding positions (weight 0), usually end-of-text. */
  pad: number;
  /** Shuffle seed. Default 1337. */
  seed?: number;
  /** Loss on the whole sequence (prompt too), not just the response. Default false. */
  fullSequence?: boolean;
}

/**
 * Batches of encoded examples, one example per row padded to T: inputs = ids[0:T],
 * targets = ids[1:T+1], weights 0 on prompt and padding positions. Each epoch visits every example
 * once in a seeded random order; {@linkcode InstructionBatches.state} continues exactly.
 */
export class InstructionBatches {
  /** The encoded examples. */
  readonly examples: readonly EncodedInstruction[];
  /** Tokens per row. */
  readonly T: number;
  /** The id that pads rows. */
  readonly pad: number;
  /** Whether the loss covers the prompt too. */
  readonly fullSequence: boolean;
  #rng: Rng;
  #epochStart: number;
  #epoch = 0;
  #index = 0;
  #order: number[];

  /** Batches of `examples` (each at most T + 1 ids). */
  constructor(examples: readonly EncodedInstruction[], options: InstructionBatchesOptions) {
    if (examples.length === 0) throw new DataError("No examples to train on: add records");
    this.examples = examples;
    this.T = options.T;
    this.pad = options.pad;
    this.fullSequence = options.fullSequence ?? false;
    for (const ex of examples) {
      if (ex.ids.length > this.T + 1) {
        throw new RangeError(`An example holds ${ex.ids.length} ids; rows take ${this.T + 1}`);
      }
    }
    this.#rng = new Rng(options.seed ?? 1337);
    this.#epochStart = this.#rng.state;
    this.#order = this.#shuffle();
  }

  #shuffle(): number[] {
    return this.#rng.shuffle([...this.examples.keys()]);
  }

  /** Completed epochs plus the fraction of the current one. */
  get epochs(): number {
    return this.#epoch + this.#index / this.examples.length;
  }

  /** The state to save in a checkpoint; setting it continues with exactly the same batches. */
  get state(): InstructionBatchState {
    return {
      rng: this.#epochStart,
      epoch: this.#epoch,
      index: this.#index,
      examples: this.examples.length,
    };
  }

  set state(s: InstructionBatchState) {
    if (
      !s || !Number.isInteger(s.rng) || !Number.isInteger(s.epoch) || !Number.isInteger(s.index) ||
      s.examples !== this.examples.length || s.index < 0 || s.index > this.examples.length
    ) {
      throw new DataError(
        `Batch state ${JSON.stringify(s)} does not fit ${this.examples.length} examples: ` +
          `resume with the same --data, or start a new run with another --out`,
      );
    }
    this.#rng.state = s.rng >>> 0;
    this.#epochStart = this.#rng.state;
    this.#order = this.#shuffle();
    this.#epoch = s.epoch;
    this.#index = s.index;
  }

  /** Fills row `row` of a batch with example `ex`. */
  #fill(batch: WeightedBatch, row: number, ex: EncodedInstruction): void {
    const T = this.T, o = row * T, ids = ex.ids;
    for (let t = 0; t < T; t++) {
      const real = t + 1 < ids.length;
      batch.inputs[o + t] = t < ids.length ? ids[t] : this.pad;
      batch.targets[o + t] = real ? ids[t + 1] : this.pad;
      // Position t predicts ids[t+1]: a response token when t+1 >= promptLength.
      batch.weights[o + t] = real && (this.fullSequence || t + 1 >= ex.promptLength) ? 1 : 0;
    }
  }

  /** An empty (all padding, weight 0) batch of B rows. */
  #empty(B: number): WeightedBatch {
    const n = B * this.T;
    return {
      inputs: new Uint32Array(n).fill(this.pad),
      targets: new Uint32Array(n).fill(this.pad),
      weights: new Float32Array(n),
    };
  }

  /** The next B examples of the shuffled pass (a new epoch starts with a new order). */
  nextBatch(B: number): WeightedBatch {
    const batch = this.#empty(B);
    for (let b = 0; b < B; b++) {
      if (this.#index >= this.examples.length) {
        this.#epoch++;
        this.#index = 0;
        this.#epochStart = this.#rng.state;
        this.#order = this.#shuffle();
      }
      this.#fill(batch, b, this.examples[this.#order[this.#index++]]);
    }
    return batch;
  }

  /**
   * Batches of the examples in order (for validation): the last batch has padding rows of
   * weight 0. At most `maxBatches` batches.
   */
  sequentialBatches(B: number, maxBatches = Infinity): WeightedBatch[] {
    const out: WeightedBatch[] = [];
    for (let i = 0; i < this.examples.length && out.length < maxBatches; i += B) {
      const batch = this.#empty(B);
      for (let b = 0; b < B && i + b < this.examples.length; b++) {
        this.#fill(batch, b, this.examples[i + b]);
      }
      out.push(batch);
    }
    return out;
  }
}
