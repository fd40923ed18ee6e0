/**
 * How a corpus is read and split (the rules are data/corpus.ts's): the files of the inputs, the
 * train/val plan of blocks, the runs of a file and their paragraph pieces, streaming.
 *
 * @module
 */

import { DataError } from "./errors.ts";

/** Which split a piece of text belongs to. */
export type Split = "train" | "val";

/** Bytes read from a file at a time. */
const READ_CHUNK = 1 << 20;
/** Longest piece (in UTF-16 code units) handed to the tokenizer. */
const MAX_PIECE = 1 << 20;
const CORPUS_EXTENSIONS = /\.(txt|md)$/i;

export function joinPath(dir: string, name: string): string {
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
export function cutPieces(text: string): string[] {
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
export class SplitPlan {
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
export interface Run {
  split: Split;
  from: number;
  to: number;
}

/**
 * The runs of a document (a file or a text) of `size` bytes that starts at corpus byte `offset`:
 * each line goes to the split of the byte it starts at. `findNewline(from)` returns the document
 * offset of the first "\n" at or after `from`, or -1.
 */
export function documentRuns(
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
export interface Part {
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
export interface CorpusFile {
  path: string;
  size: number;
  offset: number;
}

/** Sizes and corpus offsets of `paths` (in order). */
export function measureFiles(paths: readonly string[]): { files: CorpusFile[]; total: number } {
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
export function* fileParts(file: CorpusFile, plan: SplitPlan): Generator<Part> {
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

export function splitOptions(options: SplitOptions): { valFraction: number; splitBlock: number } {
  const { valFraction = 0.1, splitBlock = 1 << 16 } = options;
  if (!(typeof valFraction === "number" && valFraction >= 0 && valFraction < 1)) {
    throw new RangeError(`Val fraction must be in [0, 1), got ${valFraction}: fix --val-fraction`);
  }
  if (!Number.isInteger(splitBlock) || splitBlock < 1) {
    throw new RangeError(`Split block must be a positive integer of bytes, got ${splitBlock}`);
  }
  return { valFraction, splitBlock };
}
