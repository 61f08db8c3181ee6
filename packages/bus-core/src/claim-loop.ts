import type { ClaimedEvent } from './contract/claim.js';
import type { QueueStore } from './contract/store.js';
import { describeError } from './errors.js';
import type { Logger } from './logger.js';
import type { ResolvedQueueConfig } from './queue-config.js';
import type { Settler } from './settler.js';
import { retryConflicts } from './store-retry.js';

const EXPECT_COMMIT_MS = 2000;
// After a failed claim the loop waits 200 ms, doubling up to this: a database that restarts (or
// fails over) is claimed from again within a second of answering; one that stays down sees one
// claim per queue a second.
const CLAIM_RETRY_MAX_MS = 1000;
// A queue with flow-control limits polls at least this often while it finds no room: another
// process's finished row, or a rate window moving on, frees room that nothing announces.
const LIMITED_POLL_MS = 100;
// Failed claims in a row are logged at the first and then every this many (about every 30 s), so
// a long outage is a line per queue every half minute, not one a second.
const CLAIM_FAILURE_LOG_EVERY = 30;

/** What the claim loop of one queue needs. */
export interface ClaimLoopDeps {
  store: QueueStore<unknown>;
  workerId: string;
  config: ResolvedQueueConfig;
  logger: Logger;
  settler: Settler;
  /** How many rows to claim now; 0 waits until `nudge` says room was made. */
  room(): number;
  /**
   * The handler names to claim rows of: those registered in this process for the queue, minus
   * paused ones. Empty: the queue does not claim at all (it waits for `wake`/`nudge`).
   */
  handlers(): readonly string[];
  /** Whether the queue has flow-control limits stored (the claim then goes through them). */
  limited(): boolean;
  /** Ids of this queue's rows whose handlers ended and whose outcomes are not yet written. */
  finished(): string[];
  /** Takes the rows of a claim, leased until `leaseUntil` (local ms). */
  accept(rows: ClaimedEvent[], leaseUntil: number): void;
}

/**
 * Claims rows for one queue whenever its worker has room, one claim at a time, and sleeps when the
 * queue is empty until the poll interval passes or a wake-up arrives. Settles never wait for it:
 * the next claim is in flight while the last batch's outcomes are written. Rows are never claimed
 * faster than their outcomes are stored (the settler's backlog bounds it), so leases do not run
 * out on rows that wait to be settled.
 */
export class ClaimLoop {
  #stopping = false;
  #woken = false;
  #expectUntil = 0;
  #expectDelay = 2;
  #nudge: (() => void) | undefined;

  constructor(private readonly deps: ClaimLoopDeps) {}

  /**
   * Ends the current idle sleep: rows may have arrived. `afterCommit` means they may become
   * visible only a little later (a transaction not yet committed): poll again soon for a second.
   */
  wake(afterCommit = false): void {
    if (afterCommit) {
      this.#expectUntil = Date.now() + EXPECT_COMMIT_MS;
      this.#expectDelay = 2;
    }
    this.#woken = true;
    this.#nudge?.();
  }

  /** Room may have been made (a row finished or left the buffer): look again, without polling. */
  nudge(): void {
    this.#nudge?.();
  }

  /** Stops claiming; a claim in flight hands its rows back. */
  stop(): void {
    this.#stopping = true;
    this.#nudge?.();
  }

  /** The loop; resolves once stopped. */
  async run(): Promise<void> {
    const { store, workerId, logger, settler, config } = this.deps;
    const { queueName, workers, batchSize, leaseDuration } = config;
    let failures = 0;
    while (!this.#stopping) {
      const room = this.deps.room();
      if (room <= 0) {
        await this.#sleep(Number.POSITIVE_INFINITY);
        continue;
      }
      if (settler.pending > workers + batchSize) {
        await settler.progress();
        continue;
      }
      const handlers = this.deps.handlers();
      if (handlers.length === 0) {
        await this.#sleep(Number.POSITIVE_INFINITY);
        continue;
      }
      const limit = Math.min(batchSize, room);
      const limited = this.deps.limited();
      this.#woken = false;
      const sentAt = Date.now();
      let rows: ClaimedEvent[];
      try {
        rows = await retryConflicts(() =>
          store.claim({
            queue: queueName,
            limit,
            workerId,
            leaseMs: leaseDuration,
            handlers: handlers as string[],
            ...(limited ? { limited: true, finished: this.deps.finished() } : {}),
          }),
        );
        if (failures > 0) logger.info('claims resumed', { queue: queueName, failures });
        failures = 0;
      } catch (error) {
        failures++;
        if (failures === 1 || failures % CLAIM_FAILURE_LOG_EVERY === 0) {
          logger.error('claim failed; retrying', { queue: queueName, error: describeError(error), failures });
        }
        await this.#sleep(Math.min(100 * 2 ** Math.min(failures, 10), CLAIM_RETRY_MAX_MS));
        continue;
      }
      if (this.#stopping && rows.length > 0) {
        await retryConflicts(() =>
          store.release({ workerId, events: rows.map((r) => ({ id: r.id, attempt: r.attempts })) }),
        ).catch((error: unknown) =>
          logger.warn('release after stop failed', { error: describeError(error) }),
        );
        break;
      }
      if (rows.length > 0) this.deps.accept(rows, sentAt + leaseDuration);
      if (rows.length < limit && !this.#woken) {
        await this.#sleep(
          limited ? Math.min(LIMITED_POLL_MS, this.#idleDelay(rows.length)) : this.#idleDelay(rows.length),
        );
      }
    }
  }

  // Sleep after a short claim: the queue's interval, unless a commit is expected soon, then a
  // short doubling delay so a transactional publish is picked up within milliseconds.
  #idleDelay(claimed: number): number {
    const { sleepInterval } = this.deps.config;
    if (claimed > 0 || Date.now() >= this.#expectUntil) return sleepInterval;
    const delay = Math.min(this.#expectDelay, sleepInterval);
    this.#expectDelay = Math.min(this.#expectDelay * 2, 250);
    return delay;
  }

  // One sleeper at a time (the loop): `#nudge` ends it early. A chain of earlier sleepers' wake
  // functions must not build up, or every nudge would walk all of them.
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        if (this.#nudge === wake) this.#nudge = undefined;
        resolve();
      };
      const timer = ms === Number.POSITIVE_INFINITY ? undefined : setTimeout(wake, ms);
      this.#nudge?.();
      this.#nudge = wake;
    });
  }
}
