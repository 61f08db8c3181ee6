import { BusError, type BusErrorCode, isBusError } from 'bus-core';
import { storeFailure } from 'bus-core/driver';

/** The fields of a mysql2 error that matter here. */
export interface MySqlErrorInfo {
  errno: number | undefined;
  code: string | undefined;
  message: string;
  /** The mysql2 error itself (under Drizzle's wrapper), or what was thrown. */
  error: unknown;
}

/** ER_LOCK_DEADLOCK: InnoDB rolled the whole transaction back, so running it again is safe. */
export const ER_LOCK_DEADLOCK = 1213;
/** ER_LOCK_WAIT_TIMEOUT: the store's transactions then roll back, so running them again is safe. */
export const ER_LOCK_WAIT_TIMEOUT = 1205;
/** ER_NET_PACKET_TOO_LARGE: a statement over `max_allowed_packet`. */
export const ER_NET_PACKET_TOO_LARGE = 1153;
/** ER_WARN_ALLOWED_PACKET_OVERFLOWED: a `FROM_BASE64` result over `max_allowed_packet`. */
export const ER_WARN_ALLOWED_PACKET_OVERFLOWED = 1301;

/**
 * Finds the mysql2 error under Drizzle's `DrizzleQueryError` wrapper (whose message repeats the
 * whole query and its parameters, megabytes for a large payload).
 */
export function mysqlErrorInfo(error: unknown): MySqlErrorInfo {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const e = current as { errno?: unknown; code?: unknown; message?: unknown; cause?: unknown };
    if (typeof e.errno === 'number' || (typeof e.code === 'string' && e.cause === undefined)) {
      return {
        errno: typeof e.errno === 'number' ? e.errno : undefined,
        code: typeof e.code === 'string' ? e.code : undefined,
        message: typeof e.message === 'string' ? e.message : String(current),
        error: current,
      };
    }
    if (e.cause === undefined) break;
    current = e.cause;
  }
  const message = error instanceof Error ? error.message.split('\nparams:', 1)[0]! : String(error);
  return { errno: undefined, code: undefined, message: message.slice(0, 2000), error };
}

/** Whether InnoDB rolled the work back on a conflict (deadlock, lock-wait timeout): the core retries it. */
export function isConflict(error: unknown): boolean {
  const { errno } = mysqlErrorInfo(error);
  return errno === ER_LOCK_DEADLOCK || errno === ER_LOCK_WAIT_TIMEOUT;
}

const CONNECTION_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'ER_CONNECTION_KILLED',
  'ER_SERVER_SHUTDOWN',
]);
// 1053 server shutdown, 1927 connection killed (MariaDB), 2006 server gone, 2013 lost during query.
const CONNECTION_ERRNOS = new Set([1053, 1927, 2006, 2013]);

/** Whether the connection itself failed (killed, reset, closed) rather than the statement. */
export function isConnectionError(error: unknown): boolean {
  const { errno, code, message } = mysqlErrorInfo(error);
  return (
    (code !== undefined && CONNECTION_CODES.has(code)) ||
    (errno !== undefined && CONNECTION_ERRNOS.has(errno)) ||
    /connection is in closed state|connection lost/i.test(message)
  );
}

/**
 * The BusError a store call rejects with: `STORE_CONFLICT` for a deadlock or lock-wait timeout
 * (the core runs the call again), else `busCode` (default `STORE_FAILED`), with a one-line
 * message, the server's code and the mysql2 error as cause. A BusError passes through.
 */
export function mysqlFailure(operation: string, error: unknown, busCode?: BusErrorCode): BusError {
  if (isBusError(error)) return error;
  const info = mysqlErrorInfo(error);
  const code = [info.code, info.errno].filter((x) => x !== undefined).join(' ');
  return storeFailure(operation, info.error, {
    driver: 'mysql',
    ...(code === '' ? {} : { code }),
    conflict: isConflict(error),
    ...(busCode === undefined ? {} : { busCode }),
  });
}

// The connection broke while a statement was on its way or being run (the server may have
// executed it), as opposed to a connection refused, or one mysql2 knew was closed and never used.
const IN_FLIGHT_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE']);

/** Whether the connection was lost with a statement in flight: the server may have run it. */
export function isLostInFlight(error: unknown): boolean {
  const { errno, code } = mysqlErrorInfo(error);
  return (code !== undefined && IN_FLIGHT_CODES.has(code)) || errno === 2013;
}

/**
 * An insert's failure: `PUBLISH_OUTCOME_UNKNOWN` when the connection died after the rows (or the
 * COMMIT) were sent, so they may have committed; `PUBLISH_FAILED` naming `max_allowed_packet`
 * when the server found it too large; else as `mysqlFailure` (the core makes it PUBLISH_FAILED).
 * `stage` says how far the insert had gone: `unsent` (a caller's transaction, which can no longer
 * commit, or a transaction before its COMMIT), `autocommit` (one statement that commits by itself:
 * unknown if the connection broke with it in flight), `committing` (COMMIT sent: unknown on any
 * connection error, since Drizzle's ROLLBACK on the dead connection fails too and hides the first).
 */
export function insertFailure(
  error: unknown,
  stage: 'unsent' | 'autocommit' | 'committing' = 'unsent',
): BusError {
  if (isBusError(error)) return error;
  const info = mysqlErrorInfo(error);
  const unknown =
    (stage === 'autocommit' && isLostInFlight(error)) || (stage === 'committing' && isConnectionError(error));
  if (unknown) {
    return new BusError(
      'PUBLISH_OUTCOME_UNKNOWN',
      `the connection was lost after the insert was sent (${info.message.split('\n', 1)[0]}): the rows may have committed; ` +
        'publishing again may duplicate them unless the publish carries a unique key',
      { cause: info.error, value: info.code ?? info.errno },
    );
  }
  if (info.errno === ER_NET_PACKET_TOO_LARGE || info.errno === ER_WARN_ALLOWED_PACKET_OVERFLOWED) {
    return new BusError(
      'PUBLISH_FAILED',
      `the server refused the insert as larger than its max_allowed_packet (${info.message.split('\n', 1)[0]}); ` +
        'raise max_allowed_packet on the server or publish smaller payloads',
      { cause: info.error, value: info.errno },
    );
  }
  return mysqlFailure('insert', error);
}

/** Formats a byte count for messages. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
