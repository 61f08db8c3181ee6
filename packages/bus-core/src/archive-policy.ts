import { BusError } from './errors.js';

/** Which finished rows a queue keeps in the archive table (the guide's `ArchiveType`). */
export type ArchivePolicy = 'all' | 'none' | 'failed' | 'completed';

/** The four policies, for validation and docs. */
export const ARCHIVE_POLICIES: readonly ArchivePolicy[] = Object.freeze([
  'all',
  'none',
  'failed',
  'completed',
]);

/**
 * The archive decision: does a row that ended with `status` go to the archive under `policy`?
 * A cancelled row is kept where failures are kept (`all`, `failed`): both are rows that did not
 * complete, and an operator looking for what did not run looks there.
 *
 * @example
 * shouldArchive('failed', 'completed'); // false
 * shouldArchive('failed', 'cancelled'); // true
 */
export function shouldArchive(policy: ArchivePolicy, status: 'completed' | 'failed' | 'cancelled'): boolean {
  if (policy === 'all') return true;
  return policy === (status === 'cancelled' ? 'failed' : status);
}

/** Throws `INVALID_QUEUE_CONFIG` unless `value` is one of the four policies. */
export function assertArchivePolicy(value: unknown, queueName: string): asserts value is ArchivePolicy {
  if (!ARCHIVE_POLICIES.includes(value as ArchivePolicy)) {
    throw new BusError(
      'INVALID_QUEUE_CONFIG',
      `queue ${queueName}: archivePolicy must be one of ${ARCHIVE_POLICIES.join(', ')} (got ${JSON.stringify(value)})`,
      { value },
    );
  }
}
