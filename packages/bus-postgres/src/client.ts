import { BusError } from 'bus-core';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/**
 * Any Drizzle PostgreSQL database or transaction, whatever the driver (postgres.js, PGlite,
 * node-postgres, …) and schema. A Drizzle MySQL database or transaction is not one.
 */
export type PgTx = PgDatabase<PgQueryResultHKT, any, any>;

/** A query of postgres.js: a lazy promise whose `raw()` turns rows into arrays of Buffers. */
interface PostgresJsQuery extends PromiseLike<unknown> {
  raw(): PostgresJsQuery;
  /** Hands the query to its connection now (postgres.js sends it a microtask later, in order). */
  execute(): PostgresJsQuery;
}

/** The part of a postgres.js `Sql` (or transaction) the store runs its statements through. */
export interface PostgresJsLike {
  unsafe(text: string, params?: unknown[], options?: { prepare?: boolean }): PostgresJsQuery;
}

/** A postgres.js connection taken out of the pool (`sql.reserve()`, postgres.js 3.4 and later). */
export interface ReservedPostgresJs extends PostgresJsLike {
  release(): void;
}

/**
 * The root postgres.js client of a Drizzle database when it can reserve a connection (postgres.js
 * 3.4 and later), else `undefined` (another driver, an older postgres.js, a transaction).
 */
export function reservableOf(db: PgTx): { reserve(): Promise<ReservedPostgresJs> } | undefined {
  const root: unknown = (db as { $client?: unknown }).$client;
  if (!isPostgresJs(root)) return undefined;
  const reserve = (root as { reserve?: unknown }).reserve;
  return typeof reserve === 'function'
    ? (root as unknown as { reserve(): Promise<ReservedPostgresJs> })
    : undefined;
}

/**
 * A transaction handle over a reserved postgres.js connection, for `Statements.rows`: it reads a
 * handle's postgres.js client only (`postgresJsOf`: the `$client`), so the statements of the
 * transaction go to that connection, pipelined. Nothing else may take it for a Drizzle database.
 */
export function reservedTx(reserved: ReservedPostgresJs): PgTx {
  return { $client: reserved } as unknown as PgTx;
}

/** The options of a root postgres.js client that bus reads or changes. */
interface PostgresJsOptions {
  fetch_types?: boolean;
  max?: unknown;
  backoff?: unknown;
  transform?: { row?: { from?: unknown } };
  shared?: { typeArrayMap?: Record<string, unknown>; retries?: number };
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
  return optionsOf((db as { $client?: unknown }).$client);
}

function optionsOf(client: unknown): PostgresJsOptions | undefined {
  if (!isPostgresJs(client)) return undefined;
  const options = (client as unknown as { options?: unknown }).options;
  return typeof options === 'object' && options !== null ? (options as PostgresJsOptions) : undefined;
}

/**
 * The pool size of the postgres.js client under a Drizzle database (its `max`), or `undefined`
 * when the driver does not say (PGlite, node-postgres, a transaction).
 */
export function poolSizeOf(db: PgTx): number | undefined {
  const max = rootOptions(db)?.max;
  return typeof max === 'number' && Number.isInteger(max) ? max : undefined;
}

// postgres.js waits backoff(n) seconds before reconnecting after the n-th failed connection in a
// row, and its default backoff grows to 20 s: after a restart of a few seconds, workers and
// publishers sat idle for 10 s and more after the server was back. Capping the count at 4 keeps
// the default's first steps (30, 90, 270 ms) and then retries every 0.4 to 0.8 s.
const RETRIES_CAP = 4;
const capped = new WeakSet<object>();

/**
 * Bounds the reconnect delay of a postgres.js client that uses the default `backoff` (a client
 * given its own `backoff` keeps it): the failure count the default reads is capped, so a client
 * reconnects within a second of its server answering again, however long the outage was.
 */
export function capReconnectBackoff(client: unknown): void {
  const options = optionsOf(client);
  const shared = options?.shared;
  if (options === undefined || shared === undefined || capped.has(shared)) return;
  const backoff = options.backoff;
  if (
    typeof backoff !== 'function' ||
    backoff.name !== 'backoff' ||
    !String(backoff).includes('3 ** retries')
  )
    return;
  capped.add(shared);
  let retries = Math.min(shared.retries ?? 0, RETRIES_CAP);
  Object.defineProperty(shared, 'retries', {
    configurable: true,
    enumerable: true,
    get: () => retries,
    set: (value: number) => {
      retries = Math.min(value, RETRIES_CAP);
    },
  });
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
  capReconnectBackoff((db as { $client?: unknown }).$client);
  const options = rootOptions(db);
  if (options === undefined || options.fetch_types !== true) return;
  const fetched = Object.keys(options.shared?.typeArrayMap ?? {}).length > 0;
  // Binds a parameter, as every store statement does (see `Statements.rows`).
  if (!fetched) await (db as unknown as { $client: PostgresJsLike }).$client.unsafe('SELECT $1::int', [1]);
  options.fetch_types = false;
}
