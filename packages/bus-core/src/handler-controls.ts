import { CONTRACT_LIMITS } from './contract/limits.js';
import { BusError } from './errors.js';

const SNOOZE_BRAND = Symbol.for('bus.Snooze');
const { maxDelayMs, maxErrorChars } = CONTRACT_LIMITS;

/**
 * What `snooze(delayMs)` returns for a handler to throw: the row runs again after `delayMs`
 * without using an attempt. An Error, so a rethrow keeps a stack, and recognised across
 * duplicated installs of bus-core (`isSnooze`), as `BusError` is.
 */
export class Snooze extends Error {
  /** Milliseconds until the row is due again (database time). */
  readonly delayMs: number;

  constructor(delayMs: number) {
    super(`snoozed for ${delayMs} ms`);
    this.name = 'Snooze';
    this.delayMs = delayMs;
    Object.defineProperty(this, SNOOZE_BRAND, { value: true });
  }
}

/**
 * Tells whether `error` is a `Snooze` (from this or another install of bus-core).
 *
 * @example
 * if (isSnooze(err)) console.log(`put off by ${err.delayMs} ms`);
 */
export function isSnooze(error: unknown): error is Snooze {
  return (
    typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[SNOOZE_BRAND] === true
  );
}

/**
 * Puts the row off without using an attempt: `throw snooze(60_000)` makes it due again in a
 * minute, its attempt given back. Bounded by the handler's `maxSnoozes` (default 100): one more
 * snooze fails the row for good with `SNOOZE_LIMIT`, so a row cannot snooze forever unnoticed.
 * A delay that is not an integer number of ms from 0 to about 100 years is `INVALID_ARGUMENT`
 * (thrown here, so the attempt fails with it instead of snoozing).
 *
 * @example
 * if (!(await provider.isUp())) throw snooze(30_000);
 */
export function snooze(delayMs: number): Snooze {
  if (typeof delayMs !== 'number' || !Number.isInteger(delayMs) || delayMs < 0 || delayMs > maxDelayMs) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `snooze needs an integer number of ms from 0 to ${maxDelayMs} (got ${String(delayMs)})`,
      { value: delayMs },
    );
  }
  return new Snooze(delayMs);
}

/**
 * Fails the row for good at once, whatever retries it has left: `throw discard('no such user')`.
 * The row is archived per the queue's policy for failures, its last error the `DISCARDED` error
 * with the reason.
 *
 * @example
 * if (!user) throw discard(`user ${event.userId} does not exist`);
 */
export function discard(reason = 'discarded by the handler'): BusError {
  return new BusError('DISCARDED', checkReason(reason, 'discard'), { value: reason });
}

/**
 * Ends the row as cancelled from inside its handler: `throw cancelRun('order withdrawn')`. It
 * does not run again; the archive keeps it with status `cancelled` and the reason as its last
 * error when the queue's policy keeps failures (`all`, `failed`).
 *
 * @example
 * if (order.withdrawn) throw cancelRun('order withdrawn');
 */
export function cancelRun(reason = 'cancelled by the handler'): BusError {
  return new BusError('CANCELLED', checkReason(reason, 'cancelRun'), { value: reason });
}

/** A reason as an operator or handler gives it: 1 to `maxErrorChars` characters, no U+0000. */
export function checkReason(reason: unknown, what: string): string {
  if (typeof reason !== 'string' || reason.length === 0 || reason.length > maxErrorChars) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `${what}: the reason must be a string of 1 to ${maxErrorChars} characters (got ${typeof reason === 'string' ? `${reason.length} characters` : String(reason)})`,
      { value: reason },
    );
  }
  if (reason.includes('\u0000')) {
    throw new BusError('INVALID_ARGUMENT', `${what}: the reason must not contain U+0000`, { value: reason });
  }
  return reason;
}
