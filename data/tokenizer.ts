/**
 * Tokenizers: GPT-2 byte-level BPE, a compact GPT-2 variant with a dense vocabulary that holds only
 * the tokens a corpus uses, and plain UTF-8 bytes.
 *
 * Every tokenizer is described by a JSON-serialisable {@linkcode TokenizerSpec} (saved in checkpoints
 * as `tokenizer.json`), and {@linkcode createTokenizer} rebuilds the same tokenizer from it.
 *
 * `encode` never parses special tokens out of text: the string `"<|endoftext|>"` in a text is encoded
 * as ordinary characters. `decode` turns the end-of-text id into the string `"<|endoftext|>"` for
 * every kind, and decodes invalid UTF-8 (for example a lone byte token) as U+FFFD replacement
 * characters instead of throwing.
 *
 * The GPT-2 merges come from the `js-tiktoken` package's GPT-2 ranks; the BPE itself runs here, with a
 * cache of encoded pieces, so that tokenizing a corpus is fast.
 *
 * @example
 * ```ts
 * import { buildTokenizer, createTokenizer } from "./tokenizer.ts";
 *
 * const tok = buildTokenizer("gpt2-compact", ["Hello world"]);
 * const ids = tok.encode("Hello there");
 * console.assert(tok.decode(ids) === "Hello there");
 * const again = createTokenizer(JSON.parse(JSON.stringify(tok.spec)));
 * console.assert(again.encode("Hello there").join() === ids.join());
 * ```
 *
 * @module
 */

import { DataError } from "./errors.ts";
import gpt2Ranks from "js-tiktoken/ranks/gpt2";

/** The tokenizer families. */
export type TokenizerKind = "gpt2" | "gpt2-compact" | "bytes";

/** The kinds accepted by {@linkcode createTokenizer} and {@linkcode buildTokenizer}. */
export const TOKENIZER_KINDS: readonly TokenizerKind[] = ["gpt2", "gpt2-compact", "bytes"];

/**
 * JSON-serialisable description of a tokenizer, saved in checkpoints (`tokenizer.json`).
 *
 * - `"gpt2"`: `{ kind, vocabSize: 50257, eot: 50256 }`.
 * - `"bytes"`: `{ kind, vocabSize: 257, eot: 256 }`.
 * - `"gpt2-compact"`: `{ kind, vocabSize, eot: vocabSize - 1, ids }` where `ids[denseId]` is the GPT-2
 *   id of dense token `denseId` (`ids.length === vocabSize`).
 */
export interface TokenizerSpec {
  kind: TokenizerKind;
  vocabSize: number;
  /** The end-of-text token id. */
  eot: number;
  /** `"gpt2-compact"` only: `ids[denseId] = gpt2Id`, without duplicates. */
  ids?: number[];
}

/** Encodes text to token ids and back. */
export interface Tokenizer {
  /** The description to save next to a model; {@linkcode createTokenizer} rebuilds this tokenizer. */
  readonly spec: TokenizerSpec;
  /** Number of token ids, `0 <= id < vocabSize`. */
  readonly vocabSize: number;
  /** The end-of-text id (document separator). */
  readonly eot: number;
  /** Token ids of `text`; special tokens are never parsed from the text. */
  encode(text: string): number[];
  /**
   * Text of `ids`. The end-of-text id decodes to `"<|endoftext|>"`; invalid UTF-8 decodes to U+FFFD.
   * Throws a RangeError for an id outside `[0, vocabSize)`.
   */
  decode(ids: ArrayLike<number>): string;
  /**
   * The UTF-8 bytes of `ids` (what {@linkcode Tokenizer.decode} decodes), for streaming output
   * where one character may be split over several tokens.
   */
  decodeBytes(ids: ArrayLike<number>): Uint8Array;
}

/** Text that the end-of-text id decodes to. */
export const EOT_TEXT = "<|endoftext|>";

/** GPT-2 vocabulary size (50,256 BPE tokens plus `<|endoftext|>`). */
export const GPT2_VOCAB_SIZE = 50257;
/** GPT-2 end-of-text id. */
export const GPT2_EOT = 50256;

const utf8Encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF, so that decode(encode(x)) === x for every string.
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const EOT_BYTES = utf8Encoder.encode(EOT_TEXT);

// ---------------------------------------------------------------------------------------------
// GPT-2 byte-level BPE

/** The parsed GPT-2 tables, built once on first use. */
interface Gpt2Tables {
  /** Token bytes (as a binary string, one char per byte) -> GPT-2 id. */
  ranks: Map<string, number>;
  /** GPT-2 id -> token bytes; `bytes[GPT2_EOT]` is the text `<|endoftext|>`. */
  bytes: Uint8Array[];
  /** Byte value -> GPT-2 id of the single-byte token. */
  byteToken: Int32Array;
  /** The pre-tokenizer pattern (GPT-2's regex). */
  pattern: RegExp;
}

let gpt2Tables: Gpt2Tables | undefined;

function loadGpt2(): Gpt2Tables {
  if (gpt2Tables) return gpt2Tables;
  const ranks = new Map<string, number>();
  const bytes: Uint8Array[] = new Array(GPT2_VOCAB_SIZE);
  // Each line of bpe_ranks: "<tag> <first rank> <base64 token> <base64 token> ...".
  for (const line of gpt2Ranks.bpe_ranks.split("\n")) {
    if (line.length === 0) continue;
    const fields = line.split(" ");
    const first = Number.parseInt(fields[1], 10);
    for (let i = 2; i < fields.length; i++) {
      const binary = atob(fields[i]);
      const rank = first + i - 2;
      ranks.set(binary, rank);
      const b = new Uint8Array(binary.length);
      for (let j = 0; j < binary.length; j++) b[j] = binary.charCodeAt(j);
      bytes[rank] = b;
    }
  }
  bytes[GPT2_EOT] = EOT_BYTES;
  const byteToken = new Int32Array(256);
  for (let v = 0; v < 256; v++) {
    const id = ranks.get(String.fromCharCode(v));
    if (id === undefined) throw new DataError(`GPT-2 ranks lack the single-byte token ${v}`);
    byteToken[v] = id;
  }
  for (let id = 0; id < GPT2_VOCAB_SIZE; id++) {
    if (!bytes[id]) throw new DataError(`GPT-2 ranks lack token ${id}`);
  }
  gpt2Tables = { ranks, bytes, byteToken, pattern: new RegExp(gpt2Ranks.pat_str, "gu") };
  return gpt2Tables;
}

/** A binary string (one char per byte) of the UTF-8 encoding of `s`. */
function utf8Binary(s: string): string {
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(s)) return s;
  const b = utf8Encoder.encode(s);
  let out = "";
  for (let i = 0; i < b.length; i++) out += String.fromCharCode(b[i]);
  return out;
}

/**
 * Byte-pair merge of one pre-tokenized piece: repeatedly merges the adjacent pair with the lowest
 * rank (the leftmost on ties) until no adjacent pair is a token (of a rank below `below`).
 */
function bytePairEncode(
  piece: string,
  ranks: Map<string, number>,
  out: number[],
  below = Infinity,
): void {
  const whole = ranks.get(piece);
  if (whole !== undefined && whole < below) {
    out.push(whole);
    return;
  }
  const n = piece.length;
  // starts[i] is where part i begins; starts[parts] === n.
  const starts: number[] = new Array(n + 1);
  for (let i = 0; i <= n; i++) starts[i] = i;
  const pairRank = (i: number): number => {
    if (i + 2 >= starts.length) return Infinity;
    const rank = ranks.get(piece.slice(starts[i], starts[i + 2])) ?? Infinity;
    return rank < below ? rank : Infinity;
  };
  // pair[i]: rank of merging part i with part i + 1.
  const pair: number[] = new Array(n - 1);
  for (let i = 0; i < n - 1; i++) pair[i] = pairRank(i);
  while (pair.length > 0) {
    let best = 0;
    for (let i = 1; i < pair.length; i++) if (pair[i] < pair[best]) best = i;
    if (pair[best] === Infinity) break;
    starts.splice(best + 1, 1);
    pair.splice(best, 1);
    if (best < pair.length) pair[best] = pairRank(best);
    if (best > 0) pair[best - 1] = pairRank(best - 1);
  }
  for (let i = 0; i + 1 < starts.length; i++) {
    out.push(ranks.get(piece.slice(starts[i], starts[i + 1]))!);
  }
}

const PIECE_CACHE_LIMIT = 200_000;

/** GPT-2 encoder with a cache of encoded pieces (shared by all GPT-2 tokenizers). */
class Gpt2Encoder {
  readonly tables = loadGpt2();
  #cache = new Map<string, number[]>();

  encode(text: string): number[] {
    const out: number[] = [];
    const { ranks, pattern } = this.tables;
    for (const match of text.matchAll(pattern)) {
      const piece = match[0];
      const hit = this.#cache.get(piece);
      if (hit) {
        for (let i = 0; i < hit.length; i++) out.push(hit[i]);
        continue;
      }
      const start = out.length;
      bytePairEncode(utf8Binary(piece), ranks, out);
      if (piece.length <= 64) {
        if (this.#cache.size >= PIECE_CACHE_LIMIT) this.#cache.clear();
        this.#cache.set(piece, out.slice(start));
      }
    }
    return out;
  }
}

let sharedGpt2Encoder: Gpt2Encoder | undefined;
function gpt2Encoder(): Gpt2Encoder {
  return sharedGpt2Encoder ??= new Gpt2Encoder();
}

/** The bytes of every GPT-2 token by id (`<|endoftext|>` as its text). */
export function gpt2TokenBytes(): readonly Uint8Array[] {
  return loadGpt2().bytes;
}

let gpt2MergeList: [number, number][] | undefined;

/**
 * GPT-2's merges in rank order, as the ids of the two tokens each one joins: merge `i` makes
 * token `256 + i` (GPT-2's ranks are its ids). Derived from the ranks by encoding each token with
 * only the tokens ranked before it, which leaves exactly the pair its merge joins.
 */
export function gpt2Merges(): readonly [number, number][] {
  if (gpt2MergeList) return gpt2MergeList;
  const { ranks, bytes } = loadGpt2();
  const merges: [number, number][] = [];
  const parts: number[] = [];
  for (let id = 256; id < GPT2_EOT; id++) {
    parts.length = 0;
    bytePairEncode(String.fromCharCode(...bytes[id]), ranks, parts, id);
    if (parts.length !== 2) throw new DataError(`GPT-2 token ${id} is not one merge of two tokens`);
    merges.push([parts[0], parts[1]]);
  }
  return gpt2MergeList = merges;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer implementations

function checkId(id: number, vocabSize: number): void {
  if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
    throw new RangeError(
      `Token id ${id} is outside the vocabulary [0, ${vocabSize}): decode only ids this tokenizer produced`,
    );
  }
}

/** Concatenates the byte strings of `ids` looked up through `bytesOf`. */
function joinBytes(
  ids: ArrayLike<number>,
  vocabSize: number,
  bytesOf: (id: number) => Uint8Array,
): Uint8Array {
  const parts: Uint8Array[] = new Array(ids.length);
  let total = 0;
  for (let i = 0; i < ids.length; i++) {
    checkId(ids[i], vocabSize);
    parts[i] = bytesOf(ids[i]);
    total += parts[i].length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

abstract class BaseTokenizer implements Tokenizer {
  abstract readonly spec: TokenizerSpec;
  get vocabSize(): number {
    return this.spec.vocabSize;
  }
  get eot(): number {
    return this.spec.eot;
  }
  abstract encode(text: string): number[];
  abstract decodeBytes(ids: ArrayLike<number>): Uint8Array;
  decode(ids: ArrayLike<number>): string {
    return utf8Decoder.decode(this.decodeBytes(ids));
  }
}

class BytesTokenizer extends BaseTokenizer {
  readonly spec: TokenizerSpec = { kind: "bytes", vocabSize: 257, eot: 256 };
  encode(text: string): number[] {
    return Array.from(utf8Encoder.encode(text));
  }
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === 256) return joinBytes(ids, 257, (id) => id === 256 ? EOT_BYTES : BYTE[id]);
      checkId(ids[i], 257);
    }
    return Uint8Array.from(ids as ArrayLike<number>);
  }
}

const BYTE: Uint8Array[] = Array.from({ length: 256 }, (_, v) => Uint8Array.of(v));

class Gpt2Tokenizer extends BaseTokenizer {
  readonly spec: TokenizerSpec = { kind: "gpt2", vocabSize: GPT2_VOCAB_SIZE, eot: GPT2_EOT };
  readonly #encoder = gpt2Encoder();
  encode(text: string): number[] {
    return this.#encoder.encode(text);
  }
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const bytes = this.#encoder.tables.bytes;
    return joinBytes(ids, GPT2_VOCAB_SIZE, (id) => bytes[id]);
  }
}

class Gpt2CompactTokenizer extends BaseTokenizer {
  readonly spec: TokenizerSpec;
  readonly #encoder = gpt2Encoder();
  readonly #ids: Int32Array;
  /** GPT-2 id -> dense id, or -1 when the GPT-2 token is not in the compact vocabulary. */
  readonly #dense = new Int32Array(GPT2_VOCAB_SIZE).fill(-1);

  constructor(ids: readonly number[]) {
    super();
    this.#ids = Int32Array.from(ids);
    for (let d = 0; d < ids.length; d++) this.#dense[ids[d]] = d;
    this.spec = {
      kind: "gpt2-compact",
      vocabSize: ids.length,
      eot: this.#dense[GPT2_EOT],
      ids: [...ids],
    };
  }

  encode(text: string): number[] {
    const gpt2 = this.#encoder.encode(text);
    const { bytes, byteToken } = this.#encoder.tables;
    const dense = this.#dense;
    const out: number[] = [];
    for (let i = 0; i < gpt2.length; i++) {
      const d = dense[gpt2[i]];
      if (d >= 0) {
        out.push(d);
      } else {
        // Not in the compact vocabulary: spell the token with single-byte tokens.
        const b = bytes[gpt2[i]];
        for (let j = 0; j < b.length; j++) out.push(dense[byteToken[b[j]]]);
      }
    }
    return out;
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const bytes = this.#encoder.tables.bytes;
    const map = this.#ids;
    return joinBytes(ids, map.length, (d) => bytes[map[d]]);
  }
}

// ---------------------------------------------------------------------------------------------
// Construction and validation

function fail(message: string): never {
  throw new DataError(message);
}

const REBUILD = "re-create tokenizer.json with the tokenizer that prepared the data";

/**
 * Rebuilds a tokenizer from a saved spec (for example a checkpoint's `tokenizer.json`).
 * Throws an Error with one line naming the problem and the fix when the spec is malformed: an
 * unknown kind, sizes that do not match the kind, or a compact id list of the wrong length, with
 * duplicates, out-of-range ids, or missing byte / end-of-text tokens.
 */
export function createTokenizer(spec: TokenizerSpec): Tokenizer {
  if (spec === null || typeof spec !== "object") {
    fail(`Tokenizer spec must be an object with a kind, got ${JSON.stringify(spec)}: ${REBUILD}`);
  }
  const { kind, vocabSize, eot } = spec;
  if (!TOKENIZER_KINDS.includes(kind)) {
    fail(
      `Unknown tokenizer kind ${JSON.stringify(kind)}: use one of ${
        TOKENIZER_KINDS.map((k) => `"${k}"`).join(", ")
      } (${REBUILD})`,
    );
  }
  const expectSizes = (v: number, e: number) => {
    if (vocabSize !== v || eot !== e) {
      fail(
        `Tokenizer "${kind}" must have vocabSize ${v} and eot ${e}, got vocabSize ${vocabSize} and eot ${eot}: ${REBUILD}`,
      );
    }
  };
  if (kind === "bytes") {
    expectSizes(257, 256);
    return new BytesTokenizer();
  }
  if (kind === "gpt2") {
    expectSizes(GPT2_VOCAB_SIZE, GPT2_EOT);
    return new Gpt2Tokenizer();
  }
  // gpt2-compact
  const ids = spec.ids;
  if (!Array.isArray(ids)) {
    fail(`Tokenizer "gpt2-compact" needs an ids array (dense id -> GPT-2 id): ${REBUILD}`);
  }
  if (!Number.isInteger(vocabSize) || ids.length !== vocabSize) {
    fail(
      `Tokenizer "gpt2-compact" has ${ids.length} ids but vocabSize ${vocabSize}: they must be equal (${REBUILD})`,
    );
  }
  const seen = new Int32Array(GPT2_VOCAB_SIZE).fill(-1);
  for (let d = 0; d < ids.length; d++) {
    const id = ids[d];
    if (!Number.isInteger(id) || id < 0 || id >= GPT2_VOCAB_SIZE) {
      fail(
        `Tokenizer "gpt2-compact" id ${
          JSON.stringify(id)
        } at index ${d} is not a GPT-2 id in [0, ${GPT2_VOCAB_SIZE}): ${REBUILD}`,
      );
    }
    if (seen[id] >= 0) {
      fail(
        `Tokenizer "gpt2-compact" lists GPT-2 id ${id} twice (indices ${
          seen[id]
        } and ${d}): ids must be unique (${REBUILD})`,
      );
    }
    seen[id] = d;
  }
  const { byteToken } = loadGpt2();
  for (let v = 0; v < 256; v++) {
    if (seen[byteToken[v]] < 0) {
      fail(
        `Tokenizer "gpt2-compact" lacks the single-byte GPT-2 token ${
          byteToken[v]
        }: every byte token must be present (${REBUILD})`,
      );
    }
  }
  if (seen[GPT2_EOT] < 0 || seen[GPT2_EOT] !== eot) {
    fail(
      `Tokenizer "gpt2-compact" eot ${eot} must be the index of GPT-2 id ${GPT2_EOT} in ids (${
        seen[GPT2_EOT] < 0 ? "absent" : seen[GPT2_EOT]
      }): ${REBUILD}`,
    );
  }
  return new Gpt2CompactTokenizer(ids);
}

/**
 * Builds a tokenizer of the given kind.
 *
 * `"gpt2-compact"` needs `texts` (the training corpus, in the same pieces that will be encoded, for
 * example `corpusTexts` from `corpus.ts`): its vocabulary is the set of GPT-2 ids that GPT-2 BPE
 * produces on those texts, plus the 256 single-byte GPT-2 tokens, plus `<|endoftext|>`, sorted by
 * GPT-2 id and numbered densely from 0 (so `ids[denseId] = gpt2Id` and, as 50256 is the largest
 * GPT-2 id, `eot === vocabSize - 1`). Any text can still be encoded: a GPT-2 token outside the
 * compact vocabulary is spelled with the single-byte tokens of its UTF-8 bytes, so
 * `decode(encode(x)) === x` for every string, at the cost of longer encodings of unseen text.
 * A small model then pays for a head of a few thousand rows instead of 50,257.
 *
 * `texts` is ignored for the other kinds.
 */
export function buildTokenizer(kind: TokenizerKind, texts?: Iterable<string>): Tokenizer {
  if (kind === "bytes") return createTokenizer({ kind, vocabSize: 257, eot: 256 });
  if (kind === "gpt2") return createTokenizer({ kind, vocabSize: GPT2_VOCAB_SIZE, eot: GPT2_EOT });
  if (kind !== "gpt2-compact") {
    fail(
      `Unknown tokenizer kind ${JSON.stringify(kind)}: use one of ${
        TOKENIZER_KINDS.map((k) => `"${k}"`).join(", ")
      }`,
    );
  }
  if (texts === undefined) {
    fail(`Tokenizer "gpt2-compact" needs the corpus texts to choose its vocabulary: pass texts`);
  }
  const encoder = gpt2Encoder();
  const used = new Uint8Array(GPT2_VOCAB_SIZE);
  for (const v of encoder.tables.byteToken) used[v] = 1;
  used[GPT2_EOT] = 1;
  for (const text of texts) {
    for (const id of encoder.encode(text)) used[id] = 1;
  }
  const ids: number[] = [];
  for (let id = 0; id < GPT2_VOCAB_SIZE; id++) if (used[id]) ids.push(id);
  return new Gpt2CompactTokenizer(ids);
}
