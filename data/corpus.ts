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

/** Which split a piece of text belongs to. */
export type Split = "train" | "val";

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

/** Bytes read from a file at a time. */
const READ_CHUNK = 1 << 20;
/** Longest piece (in UTF-16 code units) handed to the tokenizer. */
const MAX_PIECE = 1 << 20;
const CORPUS_EXTENSIONS = /\.(txt|md)$/i;

function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + name : `${dir}/${name}`;
}

// ---------------------------------------------------------------------------------------------
// Files

/**
 * The corpus files named by `inputs` (files, or folders walked recursively for `*.txt` / `*.md`),
 * deduplicated and sorted. Throws an Error naming a missing or unreadable input.
 */
export function listCorpusFiles(inputs: readonly string[]): string[] {
  const files = new Set<string>();
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch (e) {
      throw new DataError(
        `Cannot read corpus folder ${dir}: ${(e as Error).message}; check its permissions`,
      );
    }
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (const entry of entries) {
      if (entry.name.startsWith(".")) continue;
      const path = joinPath(dir, entry.name);
      let isDir = entry.isDirectory, isFile = entry.isFile;
      if (entry.isSymlink) {
        try {
          const info = Deno.statSync(path);
          isDir = false; // symlinked folders are not followed (no cycles)
          isFile = info.isFile;
        } catch {
          continue; // dangling link
        }
      }
      if (isDir) walk(path);
      else if (isFile && CORPUS_EXTENSIONS.test(entry.name)) files.add(path);
    }
  };
  for (const input of inputs) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(input);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new DataError(
          `Corpus input ${input} does not exist: check the path or pass an existing file or folder`,
        );
      }
      throw new DataError(`Cannot read corpus input ${input}: ${(e as Error).message}`);
    }
    if (info.isDirectory) walk(input.replace(/(.)[\\/]+$/, "$1"));
    else files.add(input);
  }
  return [...files].sort();
}

// ---------------------------------------------------------------------------------------------
// Paragraph pieces

// A cut point: after a non-whitespace code point that is followed by a whitespace run holding two
// line breaks. Pieces never cross a non-space -> space boundary in GPT-2's pre-tokenizer, so
// encoding piece by piece equals encoding the whole text.
const PARAGRAPH_CUT = /\S(?=[^\S\n]*\n[^\S\n]*\n)/gu;
const WHITESPACE = /\s/u;

/** Cuts streamed text into paragraph pieces (see the module documentation). */
class PieceCutter {
  #buf = "";

  /** Appends `text` and returns the pieces that are complete. */
  push(text: string): string[] {
    this.#buf += text;
    return this.#take(false);
  }

  /** Returns the remaining pieces at the end of the text. */
  finish(): string[] {
    const out = this.#take(true);
    this.#buf = "";
    return out;
  }

  #take(final: boolean): string[] {
    const out: string[] = [];
    const buf = this.#buf;
    let start = 0;
    PARAGRAPH_CUT.lastIndex = 0;
    for (;;) {
      const m = PARAGRAPH_CUT.exec(buf);
      const cut = m ? m.index + m[0].length : -1;
      if (m && cut - start <= MAX_PIECE) {
        out.push(buf.slice(start, cut));
        start = cut;
        continue;
      }
      if (buf.length - start > MAX_PIECE) {
        const forced = forcedCut(buf, start);
        out.push(buf.slice(start, forced));
        start = forced;
        PARAGRAPH_CUT.lastIndex = start;
        continue;
      }
      break;
    }
    if (final && start < buf.length) {
      out.push(buf.slice(start));
      start = buf.length;
    }
    this.#buf = buf.slice(start);
    return out;
  }
}

/** Cut of an over-long paragraph: after its last non-space before whitespace, within MAX_PIECE. */
function forcedCut(buf: string, start: number): number {
  const limit = start + MAX_PIECE;
  for (let i = limit; i > start + 1; i--) {
    if (WHITESPACE.test(buf[i]) && !WHITESPACE.test(buf[i - 1])) return i;
  }
  const c = buf.charCodeAt(limit - 1);
  return c >= 0xd800 && c < 0xdc00 ? limit - 1 : limit; // do not split a surrogate pair
}

/** Paragraph pieces of a whole text. */
function cutPieces(text: string): string[] {
  const cutter = new PieceCutter();
  return [...cutter.push(text), ...cutter.finish()];
}

// ---------------------------------------------------------------------------------------------
// Train/val split

/** Options shared by everything that splits a corpus. */
export interface SplitOptions {
  /** Fraction of the corpus bytes (rounded to whole lines) that goes to val. Default 0.1. */
  valFraction?: number;
  /** Size in bytes of the blocks whose tails go to val. Default 65536. */
  splitBlock?: number;
}

/** The split of a corpus of `total` bytes into blocks. */
class SplitPlan {
  readonly blocks: number;
  readonly #blockBytes: number;

  constructor(readonly total: number, readonly valFraction: number, splitBlock: number) {
    this.blocks = Math.max(1, Math.ceil(total / splitBlock));
    this.#blockBytes = total / this.blocks;
  }

  /** First byte of block `k` (`k === blocks` gives the total). */
  blockStart(k: number): number {
    return k >= this.blocks ? this.total : Math.floor(k * this.#blockBytes);
  }

  /** First byte of block `k`'s val tail. */
  valStart(k: number): number {
    const a = this.blockStart(k), b = this.blockStart(k + 1);
    return a + Math.ceil((b - a) * (1 - this.valFraction));
  }

  /** The block holding byte `at`. */
  blockOf(at: number): number {
    let k = Math.min(this.blocks - 1, Math.floor(at / this.#blockBytes));
    while (k + 1 < this.blocks && this.blockStart(k + 1) <= at) k++;
    while (k > 0 && this.blockStart(k) > at) k--;
    return k;
  }

  /** The split of a line that starts at byte `at`. */
  splitAt(at: number): Split {
    return this.valFraction > 0 && at >= this.valStart(this.blockOf(at)) ? "val" : "train";
  }

  /** The byte offsets in `(from, to)` where the split may change, ascending. */
  changes(from: number, to: number): number[] {
    const out: number[] = [];
    if (this.valFraction === 0 || to <= from) return out;
    for (let k = this.blockOf(from); k < this.blocks && this.blockStart(k) < to; k++) {
      for (const at of [this.blockStart(k), this.valStart(k)]) {
        if (at > from && at < to && at !== out[out.length - 1]) out.push(at);
      }
    }
    return out;
  }
}

/** A stretch `[from, to)` of a document's bytes that goes to one split. */
interface Run {
  split: Split;
  from: number;
  to: number;
}

/**
 * The runs of a document (a file or a text) of `size` bytes that starts at corpus byte `offset`:
 * each line goes to the split of the byte it starts at. `findNewline(from)` returns the document
 * offset of the first "\n" at or after `from`, or -1.
 */
function documentRuns(
  plan: SplitPlan,
  offset: number,
  size: number,
  findNewline: (from: number) => number,
): Run[] {
  if (size === 0) return [];
  // Cut at the first line start at or after each place where the split may change.
  const cuts = [0];
  for (const at of plan.changes(offset, offset + size)) {
    const nl = findNewline(at - offset - 1);
    const cut = nl < 0 ? size : nl + 1;
    if (cut > cuts[cuts.length - 1] && cut < size) cuts.push(cut);
  }
  cuts.push(size);
  const runs: Run[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const split = plan.splitAt(offset + cuts[i]);
    const last = runs[runs.length - 1];
    if (last?.split === split) last.to = cuts[i + 1];
    else runs.push({ split, from: cuts[i], to: cuts[i + 1] });
  }
  return runs;
}

function findNewlineInFile(file: Deno.FsFile, from: number): number {
  const buf = new Uint8Array(64 * 1024);
  file.seekSync(from, Deno.SeekMode.Start);
  let at = from;
  for (;;) {
    const n = file.readSync(buf);
    if (n === null || n === 0) return -1;
    const i = buf.subarray(0, n).indexOf(10);
    if (i >= 0) return at + i;
    at += n;
  }
}

/** One run of a file: its split and a generator of its text pieces. */
interface Part {
  split: Split;
  pieces: Iterable<string>;
}

function* readPieces(file: Deno.FsFile, path: string, from: number, to: number): Generator<string> {
  // A byte-order mark is dropped only at the very start of a file.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: from !== 0 });
  const cutter = new PieceCutter();
  const buf = new Uint8Array(Math.min(READ_CHUNK, to - from));
  file.seekSync(from, Deno.SeekMode.Start);
  let at = from;
  while (at < to) {
    let n: number | null;
    try {
      n = file.readSync(buf.subarray(0, Math.min(READ_CHUNK, to - at)));
    } catch (e) {
      throw new DataError(`Cannot read corpus file ${path}: ${(e as Error).message}`);
    }
    if (n === null || n === 0) break; // the file shrank while reading: take what is there
    at += n;
    yield* cutter.push(decoder.decode(buf.subarray(0, n), { stream: true }));
  }
  yield* cutter.push(decoder.decode());
  yield* cutter.finish();
}

function openCorpusFile(path: string): Deno.FsFile {
  try {
    return Deno.openSync(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataError(`Corpus file ${path} disappeared: check the inputs and run again`);
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new DataError(
        `Cannot read corpus file ${path}: permission denied; fix its permissions or leave it out`,
      );
    }
    throw new DataError(`Cannot read corpus file ${path}: ${(e as Error).message}`);
  }
}

/** A corpus file with its size and its first byte in the corpus. */
interface CorpusFile {
  path: string;
  size: number;
  offset: number;
}

/** Sizes and corpus offsets of `paths` (in order). */
function measureFiles(paths: readonly string[]): { files: CorpusFile[]; total: number } {
  let total = 0;
  const files = paths.map((path) => {
    let size: number;
    try {
      size = Deno.statSync(path).size;
    } catch (e) {
      throw new DataError(`Cannot read corpus file ${path}: ${(e as Error).message}`);
    }
    const file = { path, size, offset: total };
    total += size;
    return file;
  });
  return { files, total };
}

/** The runs of a file, in order, streaming. Consume each run's pieces before the next run. */
function* fileParts(file: CorpusFile, plan: SplitPlan): Generator<Part> {
  const handle = openCorpusFile(file.path);
  try {
    const runs = documentRuns(plan, file.offset, file.size, (from) => {
      try {
        return findNewlineInFile(handle, from);
      } catch (e) {
        throw new DataError(`Cannot read corpus file ${file.path}: ${(e as Error).message}`);
      }
    });
    for (const { split, from, to } of runs) {
      yield { split, pieces: readPieces(handle, file.path, from, to) };
    }
  } finally {
    handle.close();
  }
}

function splitOptions(options: SplitOptions): { valFraction: number; splitBlock: number } {
  const { valFraction = 0.1, splitBlock = 1 << 16 } = options;
  if (!(typeof valFraction === "number" && valFraction >= 0 && valFraction < 1)) {
    throw new RangeError(`Val fraction must be in [0, 1), got ${valFraction}: fix --val-fraction`);
  }
  if (!Number.isInteger(splitBlock) || splitBlock < 1) {
    throw new RangeError(`Split block must be a positive integer of bytes, got ${splitBlock}`);
  }
  return { valFraction, splitBlock };
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
