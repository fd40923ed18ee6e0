/**
 * GPT-2's tokenizer in Hugging Face's files: `vocab.json` + `merges.txt` (what `GPT2Tokenizer` and
 * `GPT2TokenizerFast` read, byte for byte OpenAI's `encoder.json` and `vocab.bpe`) and
 * `tokenizer.json` (the `tokenizers` library's single file).
 *
 * Both are written from js-tiktoken's GPT-2 ranks ({@linkcode gpt2VocabJson},
 * {@linkcode gpt2MergesTxt}), and reading them ({@linkcode readHfTokenizer}) checks every token and
 * every merge against those ranks: a directory downloaded from Hugging Face loads with our GPT-2
 * tokenizer when its files are GPT-2's, and is refused in one line naming the first difference
 * otherwise (another vocabulary would need its own BPE).
 *
 * @module
 */
import { DataError } from "./errors.ts";
import {
  EOT_TEXT,
  GPT2_EOT,
  GPT2_VOCAB_SIZE,
  gpt2Merges,
  gpt2TokenBytes,
  type TokenizerSpec,
} from "./tokenizer.ts";

/**
 * GPT-2's map of bytes to printable characters (`bytes_to_unicode`): the printable Latin-1 bytes
 * stand for themselves, the others for U+0100 onwards in byte order.
 */
export const BYTE_CHARS: readonly string[] = (() => {
  const out: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    out[b] = String.fromCharCode(printable ? b : next++);
  }
  return out;
})();

/** The token strings of GPT-2's files by id (bytes spelled with {@linkcode BYTE_CHARS}). */
function gpt2TokenStrings(): string[] {
  const bytes = gpt2TokenBytes();
  const out: string[] = new Array(GPT2_VOCAB_SIZE);
  for (let id = 0; id < GPT2_VOCAB_SIZE; id++) {
    out[id] = id === GPT2_EOT ? EOT_TEXT : Array.from(bytes[id], (b) => BYTE_CHARS[b]).join("");
  }
  return out;
}

let tokenStrings: string[] | undefined;
let mergeLines: string[] | undefined;

function strings(): string[] {
  return tokenStrings ??= gpt2TokenStrings();
}

function merges(): string[] {
  const s = strings();
  return mergeLines ??= gpt2Merges().map(([a, b]) => `${s[a]} ${s[b]}`);
}

/** A JSON string as Python's `json.dumps` writes it (`ensure_ascii`: non-ASCII as `\uXXXX`). */
function pythonJsonString(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** GPT-2's `vocab.json`: token string → id, in id order, as OpenAI's `encoder.json`. */
export function gpt2VocabJson(): string {
  return `{${strings().map((t, id) => `${pythonJsonString(t)}: ${id}`).join(", ")}}`;
}

/** GPT-2's `merges.txt`: a version line, then one merge a line in rank order. */
export function gpt2MergesTxt(): string {
  return `#version: 0.2\n${merges().join("\n")}\n`;
}

const SUPPORTED = "only GPT-2's byte-level BPE is supported";

function fail(file: string, why: string): never {
  throw new DataError(`${file}: ${why}: ${SUPPORTED}`);
}

/** Checks a vocabulary (token string → id) against GPT-2's; throws naming the first difference. */
function checkVocab(vocab: unknown, file: string): void {
  if (typeof vocab !== "object" || vocab === null || Array.isArray(vocab)) {
    fail(file, "the vocabulary is not an object of token strings to ids");
  }
  const map = vocab as Record<string, unknown>;
  const size = Object.keys(map).length;
  if (size !== GPT2_VOCAB_SIZE) {
    fail(file, `the vocabulary has ${size} tokens, GPT-2's has ${GPT2_VOCAB_SIZE}`);
  }
  const want = strings();
  for (let id = 0; id < GPT2_VOCAB_SIZE; id++) {
    if (map[want[id]] !== id) {
      fail(
        file,
        `token ${JSON.stringify(want[id])} is ${JSON.stringify(map[want[id]])} in the file, ` +
          `${id} in GPT-2's vocabulary`,
      );
    }
  }
}

/** Checks merges ("a b" strings or [a, b] pairs) against GPT-2's; throws naming the first. */
function checkMerges(list: unknown[], file: string): void {
  const want = merges();
  if (list.length !== want.length) {
    fail(file, `${list.length} merges, GPT-2 has ${want.length}`);
  }
  for (let i = 0; i < want.length; i++) {
    const m = list[i];
    const line = Array.isArray(m) ? m.join(" ") : m;
    if (line !== want[i]) {
      fail(file, `merge ${i + 1} is ${JSON.stringify(m)}, GPT-2's is ${JSON.stringify(want[i])}`);
    }
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

function parseJson(text: string, file: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v;
  } catch { /* reported below */ }
  throw new DataError(`${file} is not a JSON object: the file is damaged; download it again`);
}

/** Checks a `tokenizers` library `tokenizer.json` (a BPE model) against GPT-2's tokenizer. */
export function checkHfTokenizerJson(json: Record<string, unknown>, file: string): void {
  const model = json.model as Record<string, unknown> | undefined;
  if (model?.type !== "BPE") fail(file, `the model is ${JSON.stringify(model?.type)}, not BPE`);
  const vocab = { ...(model.vocab as Record<string, unknown>) };
  // The end-of-text token may be listed only among the added tokens.
  for (const t of Array.isArray(json.added_tokens) ? json.added_tokens : []) {
    if (t?.content === EOT_TEXT && !(EOT_TEXT in vocab)) vocab[EOT_TEXT] = t.id;
  }
  checkVocab(vocab, file);
  if (!Array.isArray(model.merges)) fail(file, "the BPE model has no merges list");
  checkMerges(model.merges, file);
}

/**
 * The tokenizer of a Hugging Face directory: `vocab.json` + `merges.txt`, else a `tokenizer.json`
 * of the `tokenizers` library (`model.type` "BPE"). Returns GPT-2's spec when the files are
 * GPT-2's tokenizer, undefined when the directory has neither; throws a DataError naming the file
 * and the first difference otherwise.
 */
export async function readHfTokenizer(dir: string): Promise<TokenizerSpec | undefined> {
  const gpt2: TokenizerSpec = { kind: "gpt2", vocabSize: GPT2_VOCAB_SIZE, eot: GPT2_EOT };
  const vocabFile = `${dir}/vocab.json`, mergesFile = `${dir}/merges.txt`;
  const vocab = await readText(vocabFile);
  if (vocab !== undefined) {
    const text = await readText(mergesFile);
    if (text === undefined) {
      throw new DataError(`${mergesFile} is missing beside vocab.json: download it too`);
    }
    checkVocab(parseJson(vocab, vocabFile), vocabFile);
    const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
    checkMerges(
      lines.filter((l, i) => l !== "" && !(i === 0 && l.startsWith("#version"))),
      mergesFile,
    );
    return gpt2;
  }
  const file = `${dir}/tokenizer.json`;
  const text = await readText(file);
  if (text === undefined) return undefined;
  checkHfTokenizerJson(parseJson(text, file), file);
  return gpt2;
}
