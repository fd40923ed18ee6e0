/**
 * The error of a training step whose loss or gradient norm is not finite.
 *
 * @module
 */

/** Raised when the loss or the gradient norm stops being finite (one line, exit code 2). */
export class NonFiniteError extends Error {
  /** Printed as one line by the command lines, exit code 2. */
  override name = "DataError";
}

/**
 * The error of a step (`what`: "Step 7", "DPO step 7") whose loss or gradient norm is not finite:
 * names the checkpoint that is kept (`kept`, or none written yet) and the flags that help
 * (`remedy`, then --skip-nonfinite).
 */
export function nonFiniteError(
  what: string,
  stats: { loss: number; gradNorm: number },
  kept: { step: number; dir: string } | undefined,
  remedy: string,
): NonFiniteError {
  return new NonFiniteError(
    `${what}: the loss (${stats.loss}) or gradient norm (${stats.gradNorm}) is not finite; ` +
      `the update was skipped and ${
        kept !== undefined
          ? `the checkpoint of step ${kept.step} in ${kept.dir} is kept`
          : `no checkpoint was written (--save-every writes them along the way)`
      }: ${remedy}, or pass --skip-nonfinite`,
  );
}
