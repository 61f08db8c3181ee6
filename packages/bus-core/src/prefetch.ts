import type { StoredLimits } from './contract/flow.js';

/** How much handler time `'auto'` lets a row wait in the buffer, at the measured handler speed. */
const HORIZON_MS = 100;
const SMOOTHING = 0.2;

/**
 * How many rows a queue may hold claimed beyond its free slots. A fixed `prefetch` is used as
 * given; `'auto'` keeps about `HORIZON_MS` of work for the slots (`workers × 100 ms ÷ mean
 * handler time`, at most two batches), so fast handlers get whole batches from memory while slow
 * ones hold nothing another process could run sooner. Two batches, because the next full claim
 * starts when one batch of room is free and the slots still have the other one to work on while
 * it is in flight. Until a handler has finished, it holds none.
 */
export class PrefetchTarget {
  #meanMs: number | undefined;

  constructor(
    private readonly setting: number | 'auto',
    private readonly workers: number,
    private readonly batchSize: number,
  ) {}

  /** Records how long one handler run took. */
  observe(durationMs: number): void {
    if (this.setting !== 'auto') return;
    const ms = Math.max(durationMs, 0.001);
    this.#meanMs = this.#meanMs === undefined ? ms : this.#meanMs + SMOOTHING * (ms - this.#meanMs);
  }

  /** Rows to hold beyond the free slots now. */
  get rows(): number {
    if (this.setting !== 'auto') return this.setting;
    if (this.#meanMs === undefined) return 0;
    return Math.min(2 * this.batchSize, Math.floor((this.workers * HORIZON_MS) / this.#meanMs));
  }
}

/**
 * The rows a queue under flow-control `limits` may hold ahead of its free slots, of the
 * `target` its prefetch asks for. All of them with no limits. With limits on one key's
 * concurrency only, at most two sets of slots (`2 × workers`): a buffered row holds nothing but
 * its own key's slot, which that key's next row waits for anyway. Two, as for the batches of an
 * unlimited queue: the next claim starts when one set's worth is free, and the slots work
 * through the other while it is out. A per-key claim costs about the same per row whatever its
 * size, so fewer, fuller claims are what keep up; more than two sets only lengthen the wait.
 * None under a global `concurrency` (the row would hold one of the queue's few slots while others
 * sit free), a rate (its start is counted at the claim, not when it runs) or `fair` alone (a big
 * key's buffered rows would sit ahead of a new key's row).
 *
 * @example
 * rowsAheadWithin(storedLimitsOf('sync', { keyConcurrency: 1 }), 120, 24); // 48
 */
export function rowsAheadWithin(limits: StoredLimits | null, target: number, workers: number): number {
  if (limits === null) return target;
  const keyConcurrencyOnly =
    limits.keyConcurrency !== null &&
    limits.concurrency === null &&
    limits.rateLimit === null &&
    limits.keyRateLimit === null;
  return keyConcurrencyOnly ? Math.min(target, 2 * workers) : 0;
}
