import { BusError } from 'bus-core';
import { DrizzleQueryError } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/**
 * Any Drizzle PostgreSQL database or transaction, whatever the driver (postgres.js, PGlite,
 * node-postgres, …) and schema. A Drizzle MySQL database or transaction is not one.
 */
export type PgTx = PgDatabase<PgQueryResultHKT, any, any>;

/** The rows of a `db.execute` result: postgres.js returns an array, PGlite and node-postgres `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  const rows = (result as { rows?: unknown } | null)?.rows;
  return Array.isArray(rows) ? (rows as T[]) : [];
}

/**
 * Drizzle wraps driver errors in a `DrizzleQueryError` whose message is the whole query and its
 * parameters (megabytes for a big payload). This returns a `STORE_FAILED` BusError that names the
 * operation and carries the driver's own message, with the driver error as `cause`.
 */
export function storeError(
  operation: string,
  error: unknown,
  busCode: 'STORE_FAILED' | 'MIGRATION_FAILED' = 'STORE_FAILED',
): BusError {
  const driverError = isDrizzleQueryError(error) && error.cause !== undefined ? error.cause : error;
  const code = (driverError as { code?: unknown } | null)?.code;
  const message = driverError instanceof Error ? driverError.message : String(driverError);
  return new BusError(
    busCode,
    `postgres ${operation} failed: ${typeof code === 'string' ? `${code} ` : ''}${message}`,
    { cause: driverError },
  );
}

// `instanceof` fails across duplicated drizzle-orm installs; the shape does not.
function isDrizzleQueryError(error: unknown): error is Error {
  return (
    error instanceof DrizzleQueryError ||
    (error instanceof Error &&
      'query' in error &&
      'params' in error &&
      error.message.startsWith('Failed query:'))
  );
}
