import { BusError, type BusErrorCode, isBusError } from '../errors.js';

/**
 * The driver's own error under Drizzle's `DrizzleQueryError` (whose message repeats the whole
 * query and its parameters: megabytes for a large payload), or `error` itself.
 *
 * @example
 * const pgError = unwrapDriverError(caught);
 */
export function unwrapDriverError(error: unknown): unknown {
  let current = error;
  // Matched by shape, not instanceof: two drizzle-orm installs have two classes.
  for (let depth = 0; depth < 4; depth++) {
    if (
      current instanceof Error &&
      'query' in current &&
      'params' in current &&
      current.message.startsWith('Failed query:') &&
      current.cause !== undefined
    ) {
      current = current.cause;
      continue;
    }
    break;
  }
  return current;
}

/**
 * The `BusError` a store rejects with when a statement failed: `STORE_CONFLICT` when the driver
 * says the database rolled the work back on a conflict (the core retries it), else `code`
 * (default `STORE_FAILED`), with the operation, the driver's code and its one-line message.
 * A BusError passes through.
 *
 * @example
 * throw storeFailure('claim', error, { driver: 'postgres', code: error.code, conflict: error.code === '40P01' });
 */
export function storeFailure(
  operation: string,
  error: unknown,
  info: { driver: string; code?: string | number; conflict: boolean; busCode?: BusErrorCode },
): BusError {
  if (isBusError(error)) return error;
  const cause = unwrapDriverError(error);
  const message = (cause instanceof Error ? cause.message : String(cause)).split('\n', 1)[0]!.slice(0, 500);
  const tag = info.code === undefined ? '' : ` (${info.code})`;
  return new BusError(
    info.conflict ? 'STORE_CONFLICT' : (info.busCode ?? 'STORE_FAILED'),
    `${info.driver} ${operation} failed: ${message}${tag}`,
    { cause },
  );
}
