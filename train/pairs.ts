/**
 * The order in which a trainer visits preference pairs: shuffled, reshuffled at each pass, with a
 * state that a checkpoint saves so that a resumed run draws the same pairs.
 *
 * @module
 */
import { Rng } from "../data/rng.ts";
import { UsageError } from "../stages/cli.ts";

/** Where a shuffled pass over the training pairs stands. */
export interface PairOrderState {
  /** The RNG state (u32). */
  rng: number;
  /** The next position in `order`. */
  cursor: number;
  /** This pass's order of the pair indices. */
  order: number[];
}

/** The indices of `n` training pairs in a shuffled order, reshuffled at each pass. */
export class PairOrder {
  #rng: Rng;
  #order: number[];
  #cursor = 0;

  /** An order of `n` pairs drawn with `seed`. */
  constructor(n: number, seed: number) {
    this.#rng = new Rng(seed);
    this.#order = this.#rng.shuffle([...Array(n).keys()]);
  }

  /** The index of the next pair. */
  next(): number {
    if (this.#cursor === this.#order.length) {
      this.#rng.shuffle(this.#order);
      this.#cursor = 0;
    }
    return this.#order[this.#cursor++];
  }

  /** Its position, for a checkpoint. */
  get state(): PairOrderState {
    return { rng: this.#rng.state, cursor: this.#cursor, order: [...this.#order] };
  }

  set state(s: PairOrderState) {
    if (s?.order?.length !== this.#order.length) {
      throw new UsageError(
        `--resume: the checkpoint was trained on ${s?.order?.length} preference pairs, this ` +
          `run has ${this.#order.length}: pass the same --data`,
      );
    }
    this.#rng.state = s.rng;
    this.#cursor = s.cursor;
    this.#order = [...s.order];
  }
}
