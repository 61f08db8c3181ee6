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
  /**
   * Runs whose outcome bus refused to record because this worker had lost the row's lease in the
   * meantime (another worker may have it now): the row runs again, so they count as nothing here.
   */
  refused: number;
}

function emptyTally(): QueueTally {
  return { completed: 0, failedAttempts: 0, failedForGood: 0, handedBack: 0, refused: 0 };
}

type Outcome = 'completed' | 'retry' | 'failed';

/** Outcomes remembered for `refused`, at most this many (oldest forgotten first). */
const REMEMBERED = 100_000;

/**
 * The demo's own counters. Archive policies `none` and `failed` keep no completed rows, so the
 * database alone cannot say how many rows completed; the handlers count them here.
 */
export class Tally {
  readonly #queues = new Map<string, QueueTally>();
  readonly #outcomes = new Map<string, { queue: string; outcome: Outcome }>();

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
    this.#remember(ctx, 'completed');
  }

  /**
   * bus refused to record the outcome of run (`id`, `attempt`): the worker had lost the lease.
   * Takes that run's count back, so the numbers keep adding up.
   */
  refused(id: string, attempt: number): void {
    const key = `${id}:${attempt}`;
    const run = this.#outcomes.get(key);
    if (run === undefined) return;
    this.#outcomes.delete(key);
    const tally = this.of(run.queue);
    tally.refused++;
    if (run.outcome === 'completed') tally.completed--;
    else tally.failedAttempts--;
    if (run.outcome === 'failed') tally.failedForGood--;
  }

  #failed(ctx: HandlerContext): void {
    const tally = this.of(ctx.queue);
    const reason: unknown = ctx.signal.aborted ? ctx.signal.reason : undefined;
    if (isBusError(reason, 'HANDLER_ABORTED') || isBusError(reason, 'LEASE_LOST')) {
      tally.handedBack++;
      return;
    }
    tally.failedAttempts++;
    const final = ctx.attempt > ctx.maxRetries;
    if (final) tally.failedForGood++;
    this.#remember(ctx, final ? 'failed' : 'retry');
  }

  #remember(ctx: HandlerContext, outcome: Outcome): void {
    this.#outcomes.set(`${ctx.id}:${ctx.attempt}`, { queue: ctx.queue, outcome });
    if (this.#outcomes.size > REMEMBERED) this.#outcomes.delete(this.#outcomes.keys().next().value!);
  }
}
