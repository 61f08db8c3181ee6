import type { QueueCounts } from '../contract/index.js';

/**
 * Collects `QueueCounts` per queue for a store's `countByQueue`, so every store reports the same
 * shape (zeroes for what it did not see, queues sorted by name).
 *
 * @example
 * const tally = new QueueCountsTally();
 * tally.of('email').available += 1;
 * return tally.list();
 */
export class QueueCountsTally {
  readonly #counts = new Map<string, QueueCounts>();

  /** The counts of `queue`, created at zero on first use. */
  of(queue: string): QueueCounts {
    let counts = this.#counts.get(queue);
    if (counts === undefined) {
      counts = {
        queue,
        available: 0,
        scheduled: 0,
        running: 0,
        retrying: 0,
        archivedCompleted: 0,
        archivedFailed: 0,
        archivedCancelled: 0,
      };
      this.#counts.set(queue, counts);
    }
    return counts;
  }

  /** Every queue's counts, sorted by queue name. */
  list(): QueueCounts[] {
    return [...this.#counts.values()].sort((a, b) => a.queue.localeCompare(b.queue));
  }
}
