import { type ArchivePolicy, shouldArchive } from './archive-policy.js';
import type { ClaimedEvent } from './contract/claim.js';
import type { SettleOutcome } from './contract/settle.js';
import { BusError, describeError, isBusError } from './errors.js';
import { defaultBackoff } from './handler.js';
import { isSnooze } from './handler-controls.js';
import type { RegisteredHandler } from './registry.js';

/**
 * The retry decision for a failed attempt: what the handler asked for when it threw `snooze`,
 * `discard` or `cancelRun`; else retry while `attempts <= maxRetries` with the handler's
 * backoff, else fail for good (archived when the queue's policy keeps failures).
 */
export function failureOutcome(
  row: ClaimedEvent,
  error: unknown,
  policy: ArchivePolicy,
  handler: RegisteredHandler | undefined,
  onBadBackoff: (value: unknown) => void,
): SettleOutcome {
  const control = controlOutcome(row, error, policy, handler);
  if (control !== undefined) return control;
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

/** Snoozes a handler may ask for per row (since published or redriven) unless it sets `maxSnoozes`. */
export const DEFAULT_MAX_SNOOZES = 100;

/**
 * What a handler asked for by throwing `snooze`, `discard` or `cancelRun` (undefined for any
 * other error): a snooze beyond `maxSnoozes` fails the row for good with `SNOOZE_LIMIT`.
 */
function controlOutcome(
  row: ClaimedEvent,
  error: unknown,
  policy: ArchivePolicy,
  handler: RegisteredHandler | undefined,
): SettleOutcome | undefined {
  if (handler === undefined) return undefined;
  if (isSnooze(error)) {
    const limit = handler.settings.maxSnoozes ?? DEFAULT_MAX_SNOOZES;
    if (row.snoozes < limit) {
      return { kind: 'snooze', id: row.id, attempt: row.attempts, delayMs: error.delayMs };
    }
    const over = new BusError(
      'SNOOZE_LIMIT',
      `handler ${row.handlerName} snoozed row ${row.id} ${row.snoozes} times, its maxSnoozes; failing it for good`,
      { value: row.snoozes },
    );
    return failedOutcome(row, describeError(over), policy);
  }
  if (isBusError(error, 'DISCARDED')) return failedOutcome(row, describeError(error), policy);
  if (isBusError(error, 'CANCELLED')) {
    return {
      kind: 'cancelled',
      id: row.id,
      attempt: row.attempts,
      archive: shouldArchive(policy, 'cancelled'),
      error: typeof error.value === 'string' ? error.value : error.message,
    };
  }
  return undefined;
}

function failedOutcome(row: ClaimedEvent, text: string, policy: ArchivePolicy): SettleOutcome {
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
