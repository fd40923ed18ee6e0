/**
 * Token shards: a small binary file format for tokenized corpora, written atomically and read in
 * windows (seek + read), so a shard is never loaded whole.
 *
 * Layout (little-endian), a fixed 64-byte header followed by the tokens:
 *
 * | offset | size | field                                                    |
 * | -----: | ---: | -------------------------------------------------------- |
 * |      0 |    8 | magic `"IGPUTOKS"` (ASCII)                               |
 * |      8 |    4 | version, u32 = 1                                         |
 * |     12 |    4 | bytes per token, u32: 2 if vocab size <= 65536, else 4   |
 * |     16 |    4 | vocab size, u32                                          |
 * |     20 |    4 | reserved, 0                                              |
 * |     24 |    8 | token count, u64                                         |
 * |     32 |   32 | reserved, 0                                              |
 * |     64 |  ... | tokens, u16 or u32 each                                  |
 *
 * @module
 */

import { DataError } from "./errors.ts";

/** The 8-byte magic at the start of every shard. */
export const SHARD_MAGIC = "IGPUTOKS";
/** The format version this module writes and reads. */
export const SHARD_VERSION = 1;
/** Header size in bytes. */
export const SHARD_HEADER_BYTES = 64;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes per token for a vocabulary: 2 when every id fits in a u16, else 4. */
export function bytesPerToken(vocabSize: number): 2 | 4 {
  return vocabSize <= 65536 ? 2 : 4;
}

/** Swaps the byte order of each `size`-byte element of `bytes` in place (big-endian hosts only). */
function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

function writeAll(file: Deno.FsFile, data: Uint8Array): void {
  let at = 0;
  while (at < data.length) at += file.writeSync(data.subarray(at));
}

/**
 * Writes `tokens` as a shard at `path`, atomically: the data goes to `path + ".tmp"`, which is then
 * renamed over `path`. Throws a RangeError if `vocabSize` is not in `[1, 2^32)` or a token is not an
 * integer in `[0, vocabSize)`.
 */
export function writeShard(
  path: string,
  tokens: Uint16Array | Uint32Array | readonly number[],
  vocabSize: number,
): void {
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > 0xffffffff) {
    throw new RangeError(`Shard vocab size must be an integer in [1, 2^32), got ${vocabSize}`);
  }
  const width = bytesPerToken(vocabSize);
  const n = tokens.length;
  const body = width === 2 ? new Uint16Array(n) : new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const t = tokens[i];
    if (!(Number.isInteger(t) && t >= 0 && t < vocabSize)) {
      throw new RangeError(
        `Token ${t} at index ${i} is outside the vocabulary [0, ${vocabSize}) of shard ${path}: check the tokenizer`,
      );
    }
    body[i] = t;
  }
  const bodyBytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (!LITTLE_ENDIAN) swapBytes(bodyBytes, width);

  const header = new Uint8Array(SHARD_HEADER_BYTES);
  const view = new DataView(header.buffer);
  for (let i = 0; i < 8; i++) header[i] = SHARD_MAGIC.charCodeAt(i);
  view.setUint32(8, SHARD_VERSION, true);
  view.setUint32(12, width, true);
  view.setUint32(16, vocabSize, true);
  view.setBigUint64(24, BigInt(n), true);

  const tmp = `${path}.tmp`;
  const file = Deno.openSync(tmp, { write: true, create: true, truncate: true });
  try {
    writeAll(file, header);
    writeAll(file, bodyBytes);
  } catch (e) {
    file.close();
    Deno.removeSync(tmp);
    throw e;
  }
  file.close();
  Deno.renameSync(tmp, path);
}

/** A shard opened for reading token windows. Close it when done. */
export class ShardReader {
  /** The shard's path (used in error messages). */
  readonly path: string;
  /** Number of tokens in the shard. */
  readonly count: number;
  /** The vocabulary size recorded in the header. */
  readonly vocabSize: number;
  /** Bytes per token on disk (2 or 4). */
  readonly bytesPerToken: 2 | 4;
  #file: Deno.FsFile | undefined;

  private constructor(
    path: string,
    file: Deno.FsFile,
    count: number,
    vocabSize: number,
    width: 2 | 4,
  ) {
    this.path = path;
    this.#file = file;
    this.count = count;
    this.vocabSize = vocabSize;
    this.bytesPerToken = width;
  }

  /**
   * Opens a shard and checks its header. Throws an Error naming the file when it is missing, has a
   * bad magic or version, an inconsistent header, or a size that does not match its token count.
   */
  static open(path: string): ShardReader {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new DataError(`Token shard ${path} does not exist: prepare the corpus again`);
      }
      throw new DataError(`Cannot open token shard ${path}: ${(e as Error).message}`);
    }
    try {
      const size = file.statSync().size;
      const bad = (problem: string): never => {
        throw new DataError(
          `Token shard ${path} is malformed: ${problem}; delete it and prepare the corpus again`,
        );
      };
      if (size < SHARD_HEADER_BYTES) bad(`it has ${size} bytes, less than the 64-byte header`);
      const header = new Uint8Array(SHARD_HEADER_BYTES);
      readExactly(file, header, 0, path);
      const view = new DataView(header.buffer);
      const magic = String.fromCharCode(...header.subarray(0, 8));
      if (magic !== SHARD_MAGIC) {
        bad(`bad magic ${JSON.stringify(magic)}, expected "${SHARD_MAGIC}"`);
      }
      const version = view.getUint32(8, true);
      if (version !== SHARD_VERSION) {
        bad(`unsupported version ${version}, expected ${SHARD_VERSION}`);
      }
      const width = view.getUint32(12, true);
      const vocabSize = view.getUint32(16, true);
      if (vocabSize < 1) bad("vocab size 0");
      if (width !== bytesPerToken(vocabSize)) {
        bad(`${width} bytes per token for vocab size ${vocabSize}`);
      }
      const count64 = view.getBigUint64(24, true);
      if (count64 > BigInt(Number.MAX_SAFE_INTEGER)) bad(`token count ${count64} is too large`);
      const count = Number(count64);
      const expected = SHARD_HEADER_BYTES + count * width;
      if (size < expected) {
        bad(
          `truncated: the header says ${count} tokens (${expected} bytes) but the file has ${size}`,
        );
      }
      if (size > expected) {
        bad(`${size - expected} unexpected bytes after its ${count} tokens`);
      }
      return new ShardReader(path, file, count, vocabSize, width as 2 | 4);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Tokens `[start, start + n)` as a new Uint32Array. Throws a RangeError outside the shard. */
  read(start: number, n: number): Uint32Array {
    const out = new Uint32Array(n);
    this.readInto(out, start);
    return out;
  }

  /** Reads tokens `[start, start + out.length)` into `out`. Throws a RangeError outside the shard. */
  readInto(out: Uint32Array, start: number): void {
    const n = out.length;
    if (!Number.isInteger(start) || start < 0 || start + n > this.count) {
      throw new RangeError(
        `Window [${start}, ${
          start + n
        }) is outside token shard ${this.path} of ${this.count} tokens`,
      );
    }
    const file = this.#file;
    if (!file) throw new DataError(`Token shard ${this.path} is closed`);
    if (n === 0) return;
    const width = this.bytesPerToken;
    const bytes = new Uint8Array(n * width);
    readExactly(file, bytes, SHARD_HEADER_BYTES + start * width, this.path);
    if (!LITTLE_ENDIAN) swapBytes(bytes, width);
    if (width === 4) {
      out.set(new Uint32Array(bytes.buffer));
    } else {
      out.set(new Uint16Array(bytes.buffer));
    }
  }

  /** Closes the file; later reads throw. Closing twice is harmless. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Reads exactly `into.length` bytes at `offset`, or throws naming the file. */
function readExactly(file: Deno.FsFile, into: Uint8Array, offset: number, path: string): void {
  file.seekSync(offset, Deno.SeekMode.Start);
  let at = 0;
  while (at < into.length) {
    const got = file.readSync(into.subarray(at));
    if (got === null || got === 0) {
      throw new DataError(
        `Token shard ${path} ended early at byte ${
          offset + at
        }: the file changed while reading; prepare the corpus again`,
      );
    }
    at += got;
  }
}
