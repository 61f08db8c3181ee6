import { type HandlerContext, isBusError } from 'bus-core';

/** What the demo's handlers saw in one queue, counted by the handlers themselves. */
export interface QueueTally {
  /** Runs that succeeded. */
  completed: number;
  /** Runs that failed (each is retried while tries are left). */
  failedAttempts: number;
  /** Runs that failed on their last try: the row is now failed for good. */
  failedForGood: number;
  /** Runs cut short by shutdown or a lost lease: the row went back unsettled and runs again. */
  handedBack: number;
}

function emptyTally(): QueueTally {
  return { completed: 0, failedAttempts: 0, failedForGood: 0, handedBack: 0 };
}

/**
 * The demo's own counters. Archive policies `none` and `failed` keep no completed rows, so the
 * database alone cannot say how many rows completed; the handlers count them here.
 */
export class Tally {
  readonly #queues = new Map<string, QueueTally>();

  /** The counters of `queue` (zero when nothing ran there). */
  of(queue: string): QueueTally {
    let tally = this.#queues.get(queue);
    if (tally === undefined) {
      tally = emptyTally();
      this.#queues.set(queue, tally);
    }
    return tally;
  }

  /** A copy of the counters of `queue`. */
  snapshot(queue: string): QueueTally {
    return { ...this.of(queue) };
  }

  /**
   * Runs one handler's work and counts how it ended. Rethrows failures so bus retries or archives
   * the row.
   */
  async track(ctx: HandlerContext, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.#failed(ctx);
      throw error;
    }
    // bus already gave up on this run (timeout, shutdown, lost lease): it is not a completion.
    if (ctx.signal.aborted) {
      this.#failed(ctx);
      throw ctx.signal.reason;
    }
    this.of(ctx.queue).completed++;
  }

  #failed(ctx: HandlerContext): void {
    const tally = this.of(ctx.queue);
    const reason: unknown = ctx.signal.aborted ? ctx.signal.reason : undefined;
    if (isBusError(reason, 'HANDLER_ABORTED') || isBusError(reason, 'LEASE_LOST')) {
      tally.handedBack++;
      return;
    }
    tally.failedAttempts++;
    if (ctx.attempt > ctx.maxRetries) tally.failedForGood++;
  }
}
