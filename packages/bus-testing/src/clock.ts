/** Where the in-memory store reads "database time". */
export interface Clock {
  now(): Date;
}

/** The real clock. */
export const systemClock: Clock = Object.freeze({ now: () => new Date() });

/**
 * A clock tests move by hand, so delayed publishes and retry backoffs can be checked without
 * waiting.
 *
 * @example
 * const clock = new ManualClock();
 * const store = memoryStore({ clock });
 * clock.advance(60_000); // the retry scheduled in a minute is due now
 */
export class ManualClock implements Clock {
  #ms: number;

  constructor(start: Date = new Date()) {
    this.#ms = start.getTime();
  }

  now(): Date {
    return new Date(this.#ms);
  }

  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError(`advance needs a non-negative number (got ${ms})`);
    this.#ms += ms;
  }

  /** Jumps to `date` (forward only, as a database clock would). */
  set(date: Date): void {
    if (date.getTime() < this.#ms) throw new RangeError('ManualClock only moves forward');
    this.#ms = date.getTime();
  }
}
