import type { BusError, BusErrorCode } from 'bus-core';
import { storeFailure, unwrapDriverError } from 'bus-core/driver';

// SQLSTATEs of work PostgreSQL rolled back on a conflict, which is safe to run again:
// serialization_failure, deadlock_detected, lock_not_available (lock_timeout).
const CONFLICTS = new Set(['40001', '40P01', '55P03']);

/** The SQLSTATE (or postgres.js's own code, e.g. `CONNECTION_CLOSED`) of a driver error. */
export function pgCode(error: unknown): string | undefined {
  const code = (unwrapDriverError(error) as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The `BusError` of a failed statement: `STORE_CONFLICT` for a serialization failure, deadlock
 * or lock timeout (the core runs the call again), else `busCode` (default `STORE_FAILED`), with
 * PostgreSQL's one-line reason and SQLSTATE. A BusError passes through.
 *
 * @example
 * throw pgFailure('claim', error);
 */
export function pgFailure(operation: string, error: unknown, busCode?: BusErrorCode): BusError {
  const code = pgCode(error);
  return storeFailure(operation, error, {
    driver: 'postgres',
    code,
    conflict: code !== undefined && CONFLICTS.has(code),
    busCode,
  });
}

// How a connection can die under a statement that was sent: the statement may have committed.
// postgres.js's CONNECTION_CLOSED/DESTROYED (the socket closed with the statement in flight), a
// reset or broken socket, a session terminated by the server (admin shutdown on a restart or
// pg_terminate_backend, crash shutdown) and the connection-exception class 08, whose 08007 is
// literally "transaction resolution unknown". Failures before a statement is sent (refused,
// CONNECT_TIMEOUT, 57P03 "starting up", authentication) are not among them: nothing ran.
const LOST_IN_FLIGHT = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  '57P01',
  '57P02',
]);

/**
 * Whether the connection died under a statement that had been sent, so whether it committed is
 * unknown (a publish outside a transaction then rejects with `PUBLISH_OUTCOME_UNKNOWN`).
 */
export function isLostInFlight(error: unknown): boolean {
  const code = pgCode(error);
  return code !== undefined && (LOST_IN_FLIGHT.has(code) || code.startsWith('08'));
}

/**
 * Whether a statement failed for its size: a string past V8's limit while it was built
 * (`RangeError`, Node's `ERR_STRING_TOO_LONG`), or PostgreSQL's program_limit_exceeded class
 * (54: a value or message over 1 GB).
 */
export function isOversized(error: unknown): boolean {
  const code = pgCode(error);
  return (
    unwrapDriverError(error) instanceof RangeError ||
    code === 'ERR_STRING_TOO_LONG' ||
    code?.startsWith('54') === true
  );
}
