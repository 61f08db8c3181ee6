import { BusError } from 'bus-core';
import type { SQL } from 'drizzle-orm';
import type { PgTx } from './sql.js';

/** A query of postgres.js: a lazy promise whose `raw()` turns rows into arrays of Buffers. */
interface PostgresJsQuery extends PromiseLike<unknown> {
  raw(): PromiseLike<unknown>;
}

/** The part of a postgres.js `Sql` (or transaction) the store runs its statements through. */
export interface PostgresJsLike {
  unsafe(text: string, params?: unknown[], options?: { prepare?: boolean }): PostgresJsQuery;
}

/** The options of a root postgres.js client that bus reads or changes. */
interface PostgresJsOptions {
  fetch_types?: boolean;
  transform?: { row?: { from?: unknown } };
  shared?: { typeArrayMap?: Record<string, unknown> };
}

interface DialectLike {
  sqlToQuery(query: SQL): { sql: string; params: unknown[] };
}

/** The postgres.js client (or transaction) under a Drizzle postgres-js database, with its dialect. */
export function postgresJsOf(db: PgTx): { client: PostgresJsLike; dialect: DialectLike } | undefined {
  const client = (db as unknown as { session?: { client?: { unsafe?: unknown } } }).session?.client;
  const dialect = (db as unknown as { dialect?: { sqlToQuery?: unknown } }).dialect;
  if (typeof client?.unsafe !== 'function' || typeof dialect?.sqlToQuery !== 'function') return undefined;
  return { client: client as unknown as PostgresJsLike, dialect: dialect as unknown as DialectLike };
}

/** The root postgres.js `Sql` of a Drizzle database (the one with `options`), else undefined. */
function rootOptions(db: PgTx): PostgresJsOptions | undefined {
  const root: unknown = (db as { $client?: unknown }).$client;
  // A postgres.js `Sql` is a function with `unsafe` and `options`; PGlite and node-postgres are not.
  if (typeof root !== 'function') return undefined;
  const { unsafe, options } = root as unknown as { unsafe?: unknown; options?: unknown };
  if (typeof unsafe !== 'function') return undefined;
  return typeof options === 'object' && options !== null ? (options as PostgresJsOptions) : undefined;
}

/**
 * Refuses client options the store cannot read its rows through. The store reads rows as raw
 * arrays (`raw()`), which bypasses parsers, custom `types`, `transform.column` and
 * `transform.value`, but postgres.js still hands every row to `transform.row`.
 */
export function assertUsableClient(db: PgTx): void {
  const options = rootOptions(db);
  if (options === undefined) return;
  if (typeof options.transform?.row?.from === 'function') {
    throw new BusError(
      'INVALID_CONFIG',
      'postgresStore cannot use a postgres.js client with transform.row (it rewrites the rows the store reads); give the store a client without it',
      { value: 'transform.row' },
    );
  }
}

/**
 * Guards a postgres.js client against its 3.4 connection bug: with `fetch_types` on, every new
 * connection fetches the array types from its ReadyForQuery handler without catching, so a
 * connection cut while it connects (pg_terminate_backend, a failover, a proxy restart) rejects
 * with nobody listening and Node ends the process. The first query on the client waits for that
 * fetch; the parsers and serializers it adds live in the client's shared options and outlive the
 * connection, so after it `fetch_types` is turned off and reconnecting connections skip the fetch.
 * The user's own array parameters keep working; bus itself does not need the fetched types.
 */
export async function guardPostgresJs(db: PgTx): Promise<void> {
  const options = rootOptions(db);
  if (options === undefined || options.fetch_types !== true) return;
  const fetched = Object.keys(options.shared?.typeArrayMap ?? {}).length > 0;
  if (!fetched) {
    const root = (db as { $client?: unknown }).$client as PostgresJsLike;
    await root.unsafe('SELECT 1');
  }
  options.fetch_types = false;
}
