/**
 * Every failure bus raises is a `BusError` with a stable string `code`, so callers can
 * branch on the code instead of parsing messages.
 */
export type BusErrorCode =
  | 'INVALID_CONFIG'
  | 'INVALID_QUEUE_CONFIG'
  | 'DUPLICATE_QUEUE'
  | 'QUEUE_NOT_CONFIGURED'
  | 'INVALID_EVENT'
  | 'DUPLICATE_EVENT'
  | 'INVALID_HANDLER'
  | 'DUPLICATE_HANDLER'
  | 'NO_HANDLER'
  | 'NOT_INITIALIZED'
  | 'SHUT_DOWN'
  | 'ENCODE_FAILED'
  | 'DECODE_FAILED'
  | 'UNKNOWN_HANDLER'
  | 'UNKNOWN_EVENT'
  | 'HANDLER_FAILED'
  | 'HANDLER_TIMEOUT'
  | 'HANDLER_ABORTED'
  | 'FACTORY_FAILED'
  | 'LEASE_EXPIRED'
  | 'LEASE_LOST'
  | 'RETRIES_EXHAUSTED'
  | 'PUBLISH_FAILED'
  | 'STORE_FAILED'
  | 'STORE_CONFLICT'
  | 'SCHEMA_MISSING'
  | 'MIGRATION_FAILED'
  | 'UNSUPPORTED'
  | 'INVALID_IDENTIFIER'
  | 'INVALID_ARGUMENT'
  | 'DISCARDED'
  | 'CANCELLED'
  | 'SNOOZE_LIMIT'
  | 'UNKNOWN_QUEUE'
  | 'PUBLISH_OUTCOME_UNKNOWN'
  | 'STORE_TIMEOUT'
  | 'POOL_TOO_SMALL'
  | 'DUPLICATE_PUBLISH'
  | 'INVALID_SCHEDULE'
  | 'UNKNOWN_SCHEDULE'
  | 'INVALID_LIMITS'
  | 'INVALID_PARTITION_KEY';

const BUS_ERROR_BRAND = Symbol.for('bus.BusError');

/**
 * The one error class of bus: a `code` that names the problem, the offending `value`, and the
 * original `cause` when there is one.
 *
 * @example
 * try { await bus.publish(UnhandledEvent, {}); }
 * catch (e) { if (isBusError(e, 'NO_HANDLER')) console.error(e.value); }
 */
export class BusError extends Error {
  /** Stable machine-readable code. */
  readonly code: BusErrorCode;
  /** The offending value (config field, event name, payload …), when there is one. */
  readonly value: unknown;

  constructor(code: BusErrorCode, message: string, options: { cause?: unknown; value?: unknown } = {}) {
    super(`[${code}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BusError';
    this.code = code;
    this.value = options.value;
    Object.defineProperty(this, BUS_ERROR_BRAND, { value: true });
  }
}

/**
 * Tells whether `error` is a `BusError` (optionally with a given code). Works across duplicated
 * installs of bus-core, where `instanceof` would fail.
 *
 * @example
 * if (isBusError(err, 'SHUT_DOWN')) return;
 */
export function isBusError(error: unknown, code?: BusErrorCode): error is BusError {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as Record<symbol, unknown>)[BUS_ERROR_BRAND] !== true) return false;
  return code === undefined || (error as BusError).code === code;
}

/** Renders anything thrown (an Error or not) as text for the `last_error` column. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    // Not shortened here: what reaches a store is cut once, by truncateError (store-params.ts).
    return error.stack ?? `${error.name}: ${error.message}`;
  }
  let text: string;
  try {
    text = typeof error === 'string' ? error : JSON.stringify(error);
  } catch {
    text = String(error);
  }
  return `non-Error thrown: ${text ?? String(error)}`;
}

/** The first line of `describeError(error)`: the error's name and message, for one-line messages. */
export function firstLine(error: unknown): string {
  return describeError(error).split('\n', 1)[0]!;
}
