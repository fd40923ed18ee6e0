/**
 * The votes file on disk: every vote appended as one whole JSON line and fsynced before it is
 * acknowledged. Appends are queued, so concurrent votes land one line each; a failed write is cut
 * back off the file; opening the file again appends to it (an earlier process killed in the middle
 * of a write leaves a partial last line, which is removed, with a note). The file and its folder
 * are created at the first vote.
 *
 * @module
 */
import { DataError } from "../data/errors.ts";
import { parseVote, type Vote } from "../data/votes.ts";

const enc = new TextEncoder();

/** An open votes file. */
export class VoteLog {
  /** The file's path. */
  readonly path: string;
  /** Every vote in the file, oldest first (read at open, then appended to). */
  readonly votes: Vote[];
  /** What opening repaired, if anything (one line). */
  readonly note?: string;
  #file?: Deno.FsFile;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(path: string, file: Deno.FsFile | undefined, votes: Vote[], note?: string) {
    this.path = path;
    this.#file = file;
    this.votes = votes;
    this.note = note;
  }

  /**
   * Opens (or creates) a votes file and reads its votes. A line that is not a vote throws a
   * one-line DataError naming the file and line; a partial last line is removed.
   */
  static async open(path: string): Promise<VoteLog> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      bytes = new Uint8Array(0);
    }
    const end = bytes.lastIndexOf(10) + 1;
    const text = new TextDecoder().decode(bytes.subarray(0, end));
    const votes: Vote[] = [];
    text.split("\n").forEach((line, i) => {
      if (line.trim() === "") return;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        throw new DataError(
          `${path}: line ${i + 1}: invalid JSON: fix the line or pass another --votes file`,
        );
      }
      votes.push(parseVote(record, `${path}: line ${i + 1}`));
    });
    let note: string | undefined;
    let tail: Vote | undefined;
    if (end < bytes.length) {
      try {
        tail = parseVote(JSON.parse(new TextDecoder().decode(bytes.subarray(end))), "");
      } catch { /* a partial line */ }
    }
    let file: Deno.FsFile | undefined;
    if (end < bytes.length) {
      file = await Deno.open(path, { append: true });
      try {
        if (tail) {
          votes.push(tail);
          await writeAll(file, enc.encode("\n"));
        } else {
          await file.truncate(end);
          note = `${path}: removed a partial last line (${
            bytes.length - end
          } bytes of a write that was cut off)`;
        }
        await file.syncData();
      } catch (e) {
        file.close();
        throw e;
      }
    }
    return new VoteLog(path, file, votes, note);
  }

  /**
   * Appends one vote as a line and fsyncs; resolves once it is on disk. A failed write is cut back
   * off the file (and rejects): the file never keeps part of a line.
   */
  append(vote: Vote): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`${this.path} is closed`));
    const line = enc.encode(JSON.stringify(vote) + "\n");
    const run = this.#queue.then(async () => {
      // Append mode: every write goes to the end of the file, even with another writer.
      if (!this.#file) {
        const parent = this.path.slice(0, this.path.lastIndexOf("/") + 1);
        if (parent) await Deno.mkdir(parent, { recursive: true });
        this.#file = await Deno.open(this.path, { append: true, create: true });
      }
      const file = this.#file;
      const size = (await file.stat()).size;
      try {
        await writeAll(file, line);
        await file.syncData();
      } catch (e) {
        await file.truncate(size).catch(() => {});
        throw e;
      }
      this.votes.push(vote);
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Waits for the appends in flight, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    this.#file?.close();
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
}
