/**
 * Corpus preparation: text files to token shards (train and val), streaming, or small in-memory
 * corpora to token arrays.
 *
 * Rules shared by {@linkcode prepareCorpus}, {@linkcode tokenizeTexts} and
 * {@linkcode corpusTexts}, so that they produce the same tokens from the same text:
 *
 * - **Files.** Inputs are files or folders; folders are walked recursively for `*.txt` and `*.md`
 *   files (case-insensitive, hidden entries skipped), and all files are taken in sorted path order,
 *   each once.
 * - **Train/val split.** The files (or texts), in order, form one stream of `N` UTF-8 bytes, cut
 *   into `ceil(N / splitBlock)` equal blocks (`splitBlock` is 64 KiB by default). Each line goes to
 *   the split of the byte it starts at: val when that byte lies in the last `valFraction` of its
 *   block, train otherwise. So about `valFraction` of the text, spread over the whole corpus in
 *   stretches of whole lines, is validation text, whether the corpus is one big file or many small
 *   ones. A corpus smaller than one block gives its last lines to val.
 * - **Documents.** A run is a maximal stretch of consecutive lines of one file that go to the same
 *   split. Each split's token stream is, in corpus order, `eot` followed by the tokens of each of its
 *   runs: every document (a file, or a part of one) starts with `<|endoftext|>`, as sampling does.
 * - **Pieces.** A run is tokenized paragraph by paragraph: it is cut before every whitespace run
 *   that holds a blank line (two line breaks). Cutting there gives exactly the tokens of encoding the
 *   whole run at once with GPT-2 BPE, while bounding memory. A paragraph longer than 1 Mi
 *   characters is cut at its last whitespace within that length.
 *
 * @module
 */

import { DataError } from "./errors.ts";
import { writeShard } from "./shards.ts";
import type { Tokenizer, TokenizerSpec } from "./tokenizer.ts";
import {
  cutPieces,
  documentRuns,
  fileParts,
  joinPath,
  listCorpusFiles,
  measureFiles,
  type Split,
  type SplitOptions,
  splitOptions,
  SplitPlan,
} from "./corpus_split.ts";

export { listCorpusFiles, type Split, type SplitOptions } from "./corpus_split.ts";

/** Options of {@linkcode prepareCorpus}. */
export interface PrepareCorpusOptions extends SplitOptions {
  /** Maximum tokens per shard. Default 2^24. */
  shardTokens?: number;
  /** Called after each file with its path and the tokens it gave (both splits, with eot). */
  onFile?: (path: string, tokens: number) => void;
}

/** What {@linkcode prepareCorpus} wrote. */
export interface PreparedCorpus {
  /** Train shard paths, in order. */
  train: string[];
  /** Val shard paths, in order (empty when `valFraction` is 0 or no line starts in a val tail). */
  val: string[];
  /** Total tokens written (train + val, eot included). */
  tokens: number;
  /** Tokens of the train split. */
  trainTokens: number;
  /** Tokens of the validation split. */
  valTokens: number;
}

/** Contents of `corpus.json`, written by {@linkcode prepareCorpus} next to the shards. */
export interface CorpusManifest {
  version: 1;
  tokenizer: TokenizerSpec;
  files: string[];
  valFraction: number;
  splitBlock: number;
  shardTokens: number;
  /** Shard file names (relative to the manifest's folder). */
  train: string[];
  val: string[];
  trainTokens: number;
  valTokens: number;
}

/**
 * The text pieces that {@linkcode prepareCorpus} tokenizes (every run of every file, paragraph by
 * paragraph), streaming. Pass it to `buildTokenizer("gpt2-compact", ...)` so that the compact
 * vocabulary holds exactly the tokens the corpus will use.
 */
export function* corpusTexts(
  inputs: readonly string[],
  options: SplitOptions = {},
): Generator<string> {
  const { valFraction, splitBlock } = splitOptions(options);
  const { files, total } = measureFiles(listCorpusFiles(inputs));
  const plan = new SplitPlan(total, valFraction, splitBlock);
  for (const file of files) {
    for (const part of fileParts(file, plan)) yield* part.pieces;
  }
}

// ---------------------------------------------------------------------------------------------
// Shards

/** Collects one split's tokens and writes a shard each time `shardTokens` are buffered. */
class SplitWriter {
  readonly paths: string[] = [];
  tokens = 0;
  #buf: Uint32Array;
  #used = 0;

  constructor(
    readonly split: Split,
    readonly outDir: string,
    readonly shardTokens: number,
    readonly vocabSize: number,
  ) {
    this.#buf = new Uint32Array(Math.min(shardTokens, 1 << 16));
  }

  push(ids: ArrayLike<number>): void {
    let i = 0;
    while (i < ids.length) {
      if (this.#used === this.#buf.length) {
        if (this.#used === this.shardTokens) this.#flush();
        else this.#grow();
      }
      const n = Math.min(ids.length - i, this.#buf.length - this.#used);
      for (let j = 0; j < n; j++) this.#buf[this.#used + j] = ids[i + j];
      this.#used += n;
      i += n;
    }
    this.tokens += ids.length;
  }

  finish(): void {
    if (this.#used > 0) this.#flush();
  }

  #grow(): void {
    const next = new Uint32Array(Math.min(this.shardTokens, this.#buf.length * 2));
    next.set(this.#buf);
    this.#buf = next;
  }

  #flush(): void {
    const name = `${this.split}_${String(this.paths.length).padStart(6, "0")}.bin`;
    const path = joinPath(this.outDir, name);
    writeShard(path, this.#buf.subarray(0, this.#used), this.vocabSize);
    this.paths.push(path);
    this.#used = 0;
  }
}

const utf8Encoder = new TextEncoder();

const SHARD_NAME = /^(train|val)_\d{6}\.bin$/;

/**
 * Tokenizes text files (or folders of `*.txt` / `*.md` files) into token shards in `outDir`:
 * `train_000000.bin`, `train_000001.bin`, ..., `val_000000.bin`, ... of at most `shardTokens` tokens
 * each, and a `corpus.json` manifest ({@linkcode CorpusManifest}). Files are read in 1 MiB chunks and
 * tokenized paragraph by paragraph, so memory stays bounded by one shard. See the module
 * documentation for the split rule and the documents' eot tokens. Shards of an earlier preparation
 * in `outDir` that this run did not write are removed.
 *
 * Throws an Error with one line naming the path and the fix for a missing input, an unreadable
 * file, or a corpus without text.
 */
export function prepareCorpus(
  inputs: readonly string[],
  tokenizer: Tokenizer,
  outDir: string,
  options: PrepareCorpusOptions = {},
): PreparedCorpus {
  const { valFraction, splitBlock } = splitOptions(options);
  const shardTokens = options.shardTokens ?? 1 << 24;
  if (!Number.isInteger(shardTokens) || shardTokens < 1) {
    throw new RangeError(`Shard size must be a positive integer of tokens, got ${shardTokens}`);
  }
  const { files, total } = measureFiles(listCorpusFiles(inputs));
  const plan = new SplitPlan(total, valFraction, splitBlock);
  const where = inputs.join(", ");
  if (files.length === 0) {
    throw new DataError(
      `Corpus is empty: no .txt or .md files under ${where}; add text files or check the paths`,
    );
  }
  Deno.mkdirSync(outDir, { recursive: true });
  const writers = {
    train: new SplitWriter("train", outDir, shardTokens, tokenizer.vocabSize),
    val: new SplitWriter("val", outDir, shardTokens, tokenizer.vocabSize),
  };
  let textTokens = 0;
  for (const file of files) {
    const before = writers.train.tokens + writers.val.tokens;
    for (const { split, pieces } of fileParts(file, plan)) {
      const writer = writers[split];
      writer.push([tokenizer.eot]);
      for (const piece of pieces) {
        const ids = tokenizer.encode(piece);
        textTokens += ids.length;
        writer.push(ids);
      }
    }
    options.onFile?.(file.path, writers.train.tokens + writers.val.tokens - before);
  }
  if (textTokens === 0) {
    throw new DataError(
      `Corpus is empty: the ${files.length} file(s) under ${where} hold no text; add text to them`,
    );
  }
  writers.train.finish();
  writers.val.finish();
  const written = new Set([...writers.train.paths, ...writers.val.paths].map(baseName));
  for (const entry of Deno.readDirSync(outDir)) {
    if (entry.isFile && SHARD_NAME.test(entry.name) && !written.has(entry.name)) {
      Deno.removeSync(joinPath(outDir, entry.name));
    }
  }
  const manifest: CorpusManifest = {
    version: 1,
    tokenizer: tokenizer.spec,
    files: files.map((f) => f.path),
    valFraction,
    splitBlock,
    shardTokens,
    train: writers.train.paths.map(baseName),
    val: writers.val.paths.map(baseName),
    trainTokens: writers.train.tokens,
    valTokens: writers.val.tokens,
  };
  const manifestPath = joinPath(outDir, "corpus.json");
  Deno.writeTextFileSync(`${manifestPath}.tmp`, JSON.stringify(manifest, null, 2) + "\n");
  Deno.renameSync(`${manifestPath}.tmp`, manifestPath);
  return {
    train: writers.train.paths,
    val: writers.val.paths,
    tokens: writers.train.tokens + writers.val.tokens,
    trainTokens: writers.train.tokens,
    valTokens: writers.val.tokens,
  };
}

function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
}

/**
 * Reads `corpus.json` from a folder written by {@linkcode prepareCorpus} and returns it with the
 * shard names resolved to paths. Throws an Error naming the file when it is missing or malformed.
 */
export function readCorpusManifest(outDir: string): CorpusManifest {
  const path = joinPath(outDir, "corpus.json");
  let manifest: CorpusManifest;
  try {
    manifest = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    throw new DataError(
      `Cannot read corpus manifest ${path}: ${(e as Error).message}; prepare the corpus again`,
    );
  }
  if (manifest?.version !== 1 || !Array.isArray(manifest.train) || !Array.isArray(manifest.val)) {
    throw new DataError(`Corpus manifest ${path} is malformed: prepare the corpus again`);
  }
  return {
    ...manifest,
    train: manifest.train.map((n) => joinPath(outDir, n)),
    val: manifest.val.map((n) => joinPath(outDir, n)),
  };
}

// ---------------------------------------------------------------------------------------------
// In memory

/**
 * Tokenizes a small in-memory corpus (each text plays the part of one file) with the same rules as
 * {@linkcode prepareCorpus}: the same split, eot before every run, the same pieces.
 * Throws an Error if the texts hold no text at all.
 */
export function tokenizeTexts(
  texts: readonly string[],
  tokenizer: Tokenizer,
  options: SplitOptions = {},
): { train: Uint32Array; val: Uint32Array } {
  const { valFraction, splitBlock } = splitOptions(options);
  const encoded = texts.map((t) => utf8Encoder.encode(t));
  const plan = new SplitPlan(encoded.reduce((n, b) => n + b.length, 0), valFraction, splitBlock);
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const out = { train: [] as number[], val: [] as number[] };
  let textTokens = 0;
  let offset = 0;
  for (const bytes of encoded) {
    const runs = documentRuns(plan, offset, bytes.length, (from) => bytes.indexOf(10, from));
    for (const { split, from, to } of runs) {
      const ids = out[split];
      ids.push(tokenizer.eot);
      for (const piece of cutPieces(decoder.decode(bytes.subarray(from, to)))) {
        const pieceIds = tokenizer.encode(piece);
        textTokens += pieceIds.length;
        for (const id of pieceIds) ids.push(id);
      }
    }
    offset += bytes.length;
  }
  if (textTokens === 0) {
    throw new DataError(`Corpus is empty: the ${texts.length} text(s) hold no text; add text`);
  }
  return { train: Uint32Array.from(out.train), val: Uint32Array.from(out.val) };
}
