/**
 * The error raised for bad data (a missing or malformed corpus, shard, record or tokenizer
 * description). Its message is one line naming the thing and the fix; the stages print it as is
 * and exit with code 2.
 *
 * @module
 */

/** Bad input data. */
export class DataError extends Error {
  override name = "DataError";
}
