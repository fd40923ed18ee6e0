/**
 * The learning-rate schedule of every trainer: a linear warm-up, then a cosine decay to a floor.
 *
 * @example
 * ```ts
 * import { learningRate } from "./schedule.ts";
 *
 * const schedule = { steps: 100, warmup: 10, minLr: 0.1 };
 * learningRate(3e-3, 5, schedule); // 1.5e-3: halfway through the warm-up
 * learningRate(3e-3, 100, schedule); // 3e-4: the floor, 0.1 of the peak
 * ```
 *
 * @module
 */

/** The shape of a run's learning-rate schedule. */
export interface Schedule {
  /** Steps of the run: the cosine reaches its floor at the last one. */
  steps: number;
  /** Steps of linear warm-up from 0 to the peak (0: none). */
  warmup: number;
  /** The floor as a fraction of the peak. */
  minLr: number;
}

/** Learning rate at `step` (1-based) of a run whose peak is `peak`. */
export function learningRate(peak: number, step: number, schedule: Schedule): number {
  const floor = peak * schedule.minLr;
  if (schedule.warmup > 0 && step <= schedule.warmup) return (peak * step) / schedule.warmup;
  const span = Math.max(1, schedule.steps - schedule.warmup);
  const progress = Math.min(1, (step - schedule.warmup) / span);
  return floor + 0.5 * (peak - floor) * (1 + Math.cos(Math.PI * progress));
}
