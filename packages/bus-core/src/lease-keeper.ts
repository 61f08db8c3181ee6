import { CONTRACT_LIMITS } from './contract/limits.js';
import type { QueueStore } from './contract/store.js';
import { BusError, describeError } from './errors.js';
import { abortRun, type HeldRow } from './held-row.js';
import type { Logger } from './logger.js';
import { inBatches, retryConflicts } from './store-retry.js';

/** What the lease keeper of one queue needs. */
export interface LeaseKeeperDeps {
  store: QueueStore<unknown>;
  workerId: string;
  queueName: string;
  leaseMs: number;
  logger: Logger;
  /** Every row the queue holds now: buffered and running. */
  held(): Iterable<HeldRow>;
  /** A row whose lease was found taken: drop it from the buffer, or let its run end unwritten. */
  lost(held: HeldRow): void;
}

/**
 * Keeps the leases of a queue's rows alive (buffered and running alike) by extending them every
 * third of the lease, so an expired lease means a dead process, not a slow handler. A row whose
 * lease another worker took is detached and its run aborted with `LEASE_LOST`.
 */
export class LeaseKeeper {
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly deps: LeaseKeeperDeps) {}

  /** Starts the heartbeat. */
  start(): void {
    this.#timer = setInterval(() => void this.extend(), Math.floor(this.deps.leaseMs / 3));
  }

  /** Stops the heartbeat. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** One heartbeat: extends every held row's lease, and detaches those another worker took. */
  async extend(): Promise<void> {
    const held = [...this.deps.held()].filter((h) => !h.detached);
    if (held.length === 0) return;
    const sentAt = Date.now();
    try {
      const kept = new Set<string>();
      for (const batch of inBatches(held, CONTRACT_LIMITS.maxBatch)) {
        const ids = await retryConflicts(() =>
          this.deps.store.extendLeases({
            workerId: this.deps.workerId,
            events: batch.map((h) => ({ id: h.row.id, attempt: h.row.attempts })),
            leaseMs: this.deps.leaseMs,
          }),
        );
        for (const id of ids) kept.add(id);
      }
      for (const h of held) {
        if (h.detached) continue;
        if (kept.has(h.row.id)) {
          h.leaseUntil = sentAt + this.deps.leaseMs;
          continue;
        }
        h.detached = true;
        abortRun(
          h,
          new BusError('LEASE_LOST', `row ${h.row.id} lost its lease; another worker may run it`, {
            value: h.row.id,
          }),
        );
        this.deps.lost(h);
      }
    } catch (error) {
      this.deps.logger.warn('heartbeat failed', { queue: this.deps.queueName, error: describeError(error) });
    }
  }
}
