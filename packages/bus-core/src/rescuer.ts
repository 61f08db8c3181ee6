import { type ArchivePolicy, shouldArchive } from './archive-policy.js';
import { CONTRACT_LIMITS } from './contract/limits.js';
import type { ExpiredEvent, RescueDecision } from './contract/rescue.js';
import type { QueueStore } from './contract/store.js';
import { recordRescued } from './otel/metrics.js';
import { prepareOutcomes } from './store-params.js';
import { retryConflicts } from './store-retry.js';

const BATCH = CONTRACT_LIMITS.maxBatch;

/**
 * The core's rule for a row whose lease expired (its worker crashed, stalled or lost the
 * database): while it has tries left it is due again at once (the lost attempt stays counted; no
 * backoff, since the handler did not fail); on its last try it fails for good, archived when the
 * queue keeps failures, so a row that kills its workers cannot crash-loop.
 *
 * @example
 * rescueDecision(expired, 'failed'); // { kind: 'retry', delayMs: 0, … } while tries remain
 */
export function rescueDecision(row: ExpiredEvent, policy: ArchivePolicy): RescueDecision {
  const lost = `lease expired on attempt ${row.attempts}: worker ${row.workerId} stopped heartbeating (crashed or stalled)`;
  if (row.attempts <= row.maxRetries) {
    return {
      kind: 'retry',
      id: row.id,
      attempt: row.attempts,
      workerId: row.workerId,
      delayMs: 0,
      error: `[LEASE_EXPIRED] ${lost}`,
    };
  }
  return {
    kind: 'failed',
    id: row.id,
    attempt: row.attempts,
    workerId: row.workerId,
    archive: shouldArchive(policy, 'failed'),
    error: `[RETRIES_EXHAUSTED] ${lost}, and it had no tries left (${row.maxRetries} retries allowed)`,
  };
}

/**
 * Finds the expired rows of this process's queues and applies `rescueDecision` to each, in
 * batches, the way River's job rescuer does: the store reads and writes, the core decides.
 */
export class Rescuer {
  constructor(
    private readonly store: QueueStore<unknown>,
    /** The queues this process works, with their archive policies. */
    private readonly policies: ReadonlyMap<string, ArchivePolicy>,
  ) {}

  /** One pass; `keepGoing` is asked between batches. Resolves with the rows rescued or failed. */
  async run(keepGoing: () => boolean): Promise<{ retried: number; failed: number }> {
    const queues = [...this.policies.keys()];
    const total = { retried: 0, failed: 0 };
    if (queues.length === 0) return total;
    for (;;) {
      const expired = await retryConflicts(() => this.store.listExpired({ queues, limit: BATCH }));
      if (expired.length === 0) break;
      const { outcomes } = prepareOutcomes(
        expired.map((row) => rescueDecision(row, this.policies.get(row.queue) ?? 'all')),
      );
      const applied = new Set(await retryConflicts(() => this.store.rescue({ decisions: outcomes })));
      const rows = new Map(expired.map((row) => [row.id, row]));
      for (const d of outcomes) {
        if (!applied.has(d.id)) continue;
        if (d.kind === 'retry') total.retried++;
        else total.failed++;
        recordRescued(rows.get(d.id)!, d.kind);
      }
      if (expired.length < BATCH || !keepGoing()) break;
    }
    return total;
  }
}
