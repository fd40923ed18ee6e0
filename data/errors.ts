/**
 * The error raised for bad data (a missing or malformed corpus, shard, record or tokenizer
 * description). Its message is one line naming the thing and the fix; the stages print it as is
 * and exit with code 2.
 *
 * @module
 */

/** Bad input data. */
export class DataError extends Error {
  /** Printed as one line by the command lines, exit code 2. */
  override name = "DataError";
}
