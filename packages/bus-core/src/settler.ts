import { CONTRACT_LIMITS } from './contract/limits.js';
import type { SettleOutcome } from './contract/settle.js';
import type { QueueStore } from './contract/store.js';
import { describeError } from './errors.js';
import type { Logger } from './logger.js';
import { prepareOutcomes } from './store-params.js';
import { isConflict, retryConflicts } from './store-retry.js';

const MAX_BATCH = CONTRACT_LIMITS.maxBatch;
// Tries after a failure that is not a conflict (a lost connection, an outage); conflicts are
// retried inside retryConflicts and not again here.
const MAX_TRIES = 5;

interface Pending {
  outcome: SettleOutcome;
  done: (applied: boolean) => void;
}

/**
 * The only caller of `store.settle`. Groups outcomes into batched calls: a flush starts as soon
 * as one is not already running, and whatever arrives meanwhile goes into the next, so batches
 * grow under load with no added latency. Transactional completions settle through
 * `inTransaction`, in the handler's own transaction.
 */
export class Settler {
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #writing = 0;

  constructor(
    private readonly store: QueueStore<unknown>,
    private readonly workerId: string,
    private readonly logger: Logger,
  ) {}

  /** Queues an outcome; resolves with whether its fence held. */
  add(outcome: SettleOutcome): Promise<boolean> {
    return new Promise((done) => {
      this.#queue.push({ outcome, done });
      this.#flushing ??= this.#drain();
    });
  }

  /**
   * Runs `fn` in a store transaction with a `settle` that writes one outcome in it and tells
   * whether its fence held: a transactional handler's writes and its completion commit together.
   */
  inTransaction<T>(
    fn: (tx: unknown, settle: (outcome: SettleOutcome) => Promise<boolean>) => Promise<T>,
  ): Promise<T> {
    return this.store.transaction((tx) =>
      fn(tx, async (outcome) => {
        // No conflict retry inside the handler's transaction: a conflict rolled back its writes too.
        const { outcomes } = prepareOutcomes([outcome]);
        const { settled } = await this.store.settle({ workerId: this.workerId, tx, outcomes });
        return settled.includes(outcome.id);
      }),
    );
  }

  /** Outcomes queued or being written. */
  get pending(): number {
    return this.#queue.length + this.#writing;
  }

  /** Resolves when the flush now running (if any) ends: claimers wait on it when `pending` is high. */
  async progress(): Promise<void> {
    await this.#flushing;
  }

  /** Resolves once every queued outcome has been written (or given up on). */
  async idle(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async #drain(): Promise<void> {
    // Let the rest of a synchronous burst of completions join this batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        this.#writing = batch.length;
        await this.#write(batch);
        this.#writing = 0;
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  async #write(batch: Pending[]): Promise<void> {
    // An id twice in one batch (never expected) settles once: its first outcome; the later one
    // resolves as refused rather than reaching the store.
    const { outcomes, duplicates } = prepareOutcomes(batch.map((p) => p.outcome));
    for (let attempt = 1; ; attempt++) {
      try {
        const { settled } = await retryConflicts(() =>
          this.store.settle({ workerId: this.workerId, outcomes }),
        );
        const applied = new Set(settled);
        for (const p of batch) {
          const ok = applied.has(p.outcome.id) && !duplicates.includes(p.outcome);
          if (!ok) {
            this.logger.warn('settle refused: the row is no longer leased to this worker for this attempt', {
              id: p.outcome.id,
              attempt: p.outcome.attempt,
              outcome: p.outcome.kind,
            });
          }
          p.done(ok);
        }
        return;
      } catch (error) {
        if (attempt >= MAX_TRIES || isConflict(error)) {
          // The rows keep their lease until it expires; the rescuer then makes them due again.
          this.logger.error('settle failed; the rows will run again after their lease expires', {
            error: describeError(error),
            rows: batch.length,
          });
          for (const p of batch) p.done(false);
          return;
        }
        this.logger.warn('settle failed, retrying', { error: describeError(error), attempt });
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 2000)));
      }
    }
  }
}
