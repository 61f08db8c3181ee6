import { type ArchivePolicy, shouldArchive } from './archive-policy.js';
import type { ClaimedEvent } from './contract/claim.js';
import type { SettleOutcome } from './contract/settle.js';
import { BusError, describeError } from './errors.js';
import { defaultBackoff } from './handler.js';
import type { RegisteredHandler } from './registry.js';

/**
 * The retry decision for a failed attempt: retry while `attempts <= maxRetries` with the
 * handler's backoff, else fail for good (archived when the queue's policy keeps failures).
 */
export function failureOutcome(
  row: ClaimedEvent,
  error: unknown,
  policy: ArchivePolicy,
  handler: RegisteredHandler | undefined,
  onBadBackoff: (value: unknown) => void,
): SettleOutcome {
  const text = describeError(error);
  if (row.attempts <= row.maxRetries) {
    return {
      kind: 'retry',
      id: row.id,
      attempt: row.attempts,
      delayMs: retryDelay(row.attempts, handler, onBadBackoff),
      error: text,
    };
  }
  return {
    kind: 'failed',
    id: row.id,
    attempt: row.attempts,
    archive: shouldArchive(policy, 'failed'),
    error: text,
  };
}

/** The outcome of a successful attempt. */
export function completedOutcome(row: ClaimedEvent, policy: ArchivePolicy): SettleOutcome {
  return {
    kind: 'completed',
    id: row.id,
    attempt: row.attempts,
    archive: shouldArchive(policy, 'completed'),
  };
}

/**
 * A row claimed more times than it has tries (its workers kept dying mid-run) fails without
 * running again, so a poison row cannot crash workers forever.
 */
export function exhaustedByCrashes(row: ClaimedEvent): BusError | undefined {
  if (row.attempts <= row.maxRetries + 1) return undefined;
  return new BusError(
    'RETRIES_EXHAUSTED',
    `row ${row.id} was claimed ${row.attempts} times with ${row.maxRetries} retries allowed; earlier attempts lost their lease (worker crash or stall)`,
    { value: row.id },
  );
}

function retryDelay(
  retry: number,
  handler: RegisteredHandler | undefined,
  onBad: (value: unknown) => void,
): number {
  if (handler === undefined) return defaultBackoff(retry);
  let delay: unknown;
  try {
    delay = handler.calculateScheduledAt(retry);
  } catch (error) {
    onBad(error);
    return defaultBackoff(retry);
  }
  if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
    onBad(delay);
    return defaultBackoff(retry);
  }
  return Math.round(delay);
}
