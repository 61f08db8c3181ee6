import { BusError } from 'bus-core';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/**
 * Any Drizzle PostgreSQL database or transaction, whatever the driver (postgres.js, PGlite,
 * node-postgres, …) and schema. A Drizzle MySQL database or transaction is not one.
 */
export type PgTx = PgDatabase<PgQueryResultHKT, any, any>;

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

function isPostgresJs(client: unknown): client is PostgresJsLike {
  // A postgres.js `Sql` (and its transactions) is a function with `unsafe`; PGlite and pg are not.
  return typeof client === 'function' && typeof (client as { unsafe?: unknown }).unsafe === 'function';
}

/**
 * The postgres.js client a Drizzle database or transaction runs on, or `undefined` on any other
 * driver. Only what drizzle-orm declares public is read: a database's `$client`, and for a
 * transaction the `client` of its session (`_.session`, a `PostgresJsSession`), which is the
 * postgres.js transaction that Drizzle's `begin` opened.
 */
export function postgresJsOf(db: PgTx): PostgresJsLike | undefined {
  const root: unknown = (db as { $client?: unknown }).$client;
  if (root !== undefined) return isPostgresJs(root) ? root : undefined;
  const client: unknown = (db as { _?: { session?: { client?: unknown } } })._?.session?.client;
  return isPostgresJs(client) ? client : undefined;
}

/** The options of the root postgres.js `Sql` of a Drizzle database, else undefined. */
function rootOptions(db: PgTx): PostgresJsOptions | undefined {
  const root: unknown = (db as { $client?: unknown }).$client;
  if (!isPostgresJs(root)) return undefined;
  const options = (root as unknown as { options?: unknown }).options;
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
  if (!fetched) await (db as unknown as { $client: PostgresJsLike }).$client.unsafe('SELECT 1');
  options.fetch_types = false;
}
