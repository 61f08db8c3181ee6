import { BusError } from 'bus-core';
import { type BusTableNames, resolveTableNames } from 'bus-core/driver';

/** Options of `mysqlStore`. */
export interface MySqlStoreOptions extends BusTableNames {
  /**
   * Also write each payload as JSON into the `payload_json` column (default false), for reading
   * rows with SQL or a dashboard; costs a decode and a JSON text per published row.
   */
  jsonPayload?: boolean;
  /**
   * How long (ms, default 30 000) a store call may take, the wait for a pooled connection
   * included: past it the call rejects with `STORE_TIMEOUT`, and a publish with
   * `PUBLISH_OUTCOME_UNKNOWN` (mysql2 cannot take a statement back, so it may still commit).
   * Bounds what a hung server or a black-holed connection costs; `false` waits as long as mysql2
   * and the operating system do.
   */
  statementTimeout?: number | false;
}

/** The options as the store uses them. */
export interface ResolvedOptions {
  tables: Readonly<Required<BusTableNames>>;
  jsonPayload: boolean;
  /** Milliseconds, or undefined for none. */
  statementTimeout: number | undefined;
}

/**
 * Checks `mysqlStore`'s options and applies the defaults; a mistake is an `INVALID_CONFIG` (or,
 * for a table name, `INVALID_IDENTIFIER`) BusError naming the option.
 */
export function resolveOptions(options: MySqlStoreOptions | null | undefined): ResolvedOptions {
  if (options !== undefined && options !== null && typeof options !== 'object') {
    throw new BusError('INVALID_CONFIG', `mysqlStore options must be an object (got ${String(options)})`, {
      value: options,
    });
  }
  if (options != null && 'deadlockRetries' in options) {
    // Retries after a conflict happen in one place, with one budget: bus-core's (the store
    // rejects with STORE_CONFLICT). A silently ignored option would hide that change.
    throw new BusError(
      'INVALID_CONFIG',
      'mysqlStore no longer takes deadlockRetries: deadlocks and lock-wait timeouts are retried by bus-core (the store reports them as STORE_CONFLICT); remove the option',
      { value: (options as { deadlockRetries?: unknown }).deadlockRetries },
    );
  }
  const jsonPayload = options?.jsonPayload ?? false;
  if (typeof jsonPayload !== 'boolean') {
    throw new BusError('INVALID_CONFIG', `jsonPayload must be a boolean (got ${String(jsonPayload)})`, {
      value: jsonPayload,
    });
  }
  const timeout = options?.statementTimeout ?? 30_000;
  if (timeout !== false && (!Number.isInteger(timeout) || timeout < 1 || timeout > 3_600_000)) {
    throw new BusError(
      'INVALID_CONFIG',
      `statementTimeout must be false or an integer from 1 to 3600000 ms (got ${String(timeout)})`,
      { value: timeout },
    );
  }
  return {
    tables: Object.freeze(resolveTableNames(options)),
    jsonPayload,
    statementTimeout: timeout === false ? undefined : timeout,
  };
}
