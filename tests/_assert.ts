/**
 * Assertions for tests, behind one module so that switching to `@std/assert` is a one-file change.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts that `condition` is truthy. */
export function assert(condition: unknown, message?: string): asserts condition {
  nodeAssert.ok(condition, message);
}

/** Asserts deep equality. */
export function assertEquals<T>(actual: unknown, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts that `fn` throws (or rejects) with an error whose message matches `pattern`. */
export async function assertRejects(
  fn: () => unknown,
  pattern?: RegExp,
  message?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (pattern && !pattern.test((e as Error).message)) {
      throw new Error(
        `${message ?? "error message"}: "${(e as Error).message}" does not match ${pattern}`,
      );
    }
    return e as Error;
  }
  throw new Error(message ?? "expected an error, none was thrown");
}

/** Asserts that `actual` matches `pattern`. */
export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  nodeAssert.match(actual, pattern, message);
}
