import { BusError } from 'bus-core';
import type { BusTableNames } from 'bus-core/driver';
import type { SQL, SQLWrapper } from 'drizzle-orm';
import type { MySqlTransactionConfig } from 'drizzle-orm/mysql-core';
import type { MySqlTx, ServerInfoCache } from './client.js';
import { isConnectionError, mysqlFailure } from './errors.js';

/** What every operation of `src/sql/` runs with: the database, the tables and the store's options. */
export interface StoreContext {
  readonly db: MySqlTx;
  readonly tables: Readonly<Required<BusTableNames>>;
  /** The hot table's quoted name. */
  readonly events: SQLWrapper;
  /** The archive's quoted name. */
  readonly archive: SQLWrapper;
  /** Whether `insert` writes the JSON column. */
  readonly jsonPayload: boolean;
  readonly server: ServerInfoCache;
}

/** A cell as the store reads it: text, or the raw bytes of a column named `payload`. */
export type Cell = string | Buffer | null;

/** A row as the store reads it, by column alias. */
export type Row = Record<string, Cell>;

/** The part of a mysql2 promise pool or connection the store reads rows through. */
interface Mysql2Client {
  query(options: Record<string, unknown>, values: unknown[]): Promise<[unknown, unknown]>;
}

interface DialectLike {
  sqlToQuery(query: SQL): { sql: string; params: unknown[] };
}

/** The mysql2 client (pool, or a transaction's connection) and dialect under a Drizzle database. */
function mysql2Of(db: unknown): { client: Mysql2Client; dialect: DialectLike } | undefined {
  const client = (db as { session?: { client?: { query?: unknown } } } | null)?.session?.client;
  const dialect = (db as { dialect?: { sqlToQuery?: unknown } } | null)?.dialect;
  if (typeof client?.query !== 'function' || typeof dialect?.sqlToQuery !== 'function') return undefined;
  return { client: client as unknown as Mysql2Client, dialect: dialect as unknown as DialectLike };
}

// Every value as its raw bytes, whatever the pool's typeCast, date, number or JSON options say.
const RAW = (field: { buffer(): Buffer | null }) => field.buffer();

/**
 * Runs a SELECT (or a statement with RETURNING) and returns its rows by column alias: every value
 * as UTF-8 text except `payload`, which stays bytes. The statement's own options override the
 * pool's row options (see `assertDatabase`).
 */
export async function select(db: MySqlTx, query: SQL): Promise<Row[]> {
  const mysql2 = mysql2Of(db);
  if (mysql2 === undefined) {
    throw new BusError(
      'INVALID_CONFIG',
      'mysqlStore needs a Drizzle database on mysql2 (drizzle-orm/mysql2)',
    );
  }
  const { sql, params } = mysql2.dialect.sqlToQuery(query);
  // Sent past Drizzle's session (whose typeCast and row handling are its own), so log it the way
  // Drizzle would: `drizzle(pool, { logger })` still shows every statement of the store.
  (
    db as { session?: { logger?: { logQuery?(sql: string, params: unknown[]): void } } }
  ).session?.logger?.logQuery?.(sql, params);
  const [rows, fields] = await mysql2.client.query(
    { sql, rowsAsArray: true, typeCast: RAW, nestTables: false, namedPlaceholders: false },
    params,
  );
  if (!Array.isArray(rows)) return [];
  const names = Array.isArray(fields) ? fields.map((f: { name?: unknown }) => String(f.name)) : [];
  return rows.map((row: (Buffer | null)[]) => {
    const out: Row = {};
    for (let i = 0; i < names.length; i++) {
      const value = row[i] ?? null;
      const name = names[i]!;
      out[name] = value === null ? null : name === 'payload' ? value : value.toString('utf8');
    }
    return out;
  });
}

/** Runs a statement that returns no rows; resolves with mysql2's result header. */
export async function write(
  db: MySqlTx,
  query: SQL,
): Promise<{ affectedRows: number; insertId: number | string }> {
  const [header] = (await db.execute(query)) as unknown as [
    { affectedRows: number; insertId: number | string },
  ];
  return header;
}

const READ_COMMITTED: MySqlTransactionConfig = { isolationLevel: 'read committed' };

/** Dead pooled connections skipped per call (each failed use removes one from the pool). */
const STALE_CONNECTION_RETRIES = 3;

/**
 * Runs `fn` in a READ COMMITTED transaction (under REPEATABLE READ, InnoDB's default, locking
 * reads take gap locks and concurrent claimers deadlock). Errors become `mapError`'s BusError:
 * a deadlock or lock-wait timeout is `STORE_CONFLICT`, for the core to run the call again.
 *
 * One case is taken again here, as mechanics rather than a retry: the pool handed out a
 * connection that was already dead (the server killed it while idle), so the failure came before
 * `fn` ran and nothing was sent.
 */
export async function transact<T>(
  ctx: StoreContext,
  operation: string,
  fn: (tx: MySqlTx) => Promise<T>,
  mapError: (error: unknown, phase: TransactPhase) => BusError = (error) => mysqlFailure(operation, error),
): Promise<T> {
  for (let dead = 0; ; dead++) {
    let entered = false;
    let committing = false;
    try {
      return await ctx.db.transaction(async (tx) => {
        entered = true;
        const result = await fn(tx);
        committing = true;
        return result;
      }, READ_COMMITTED);
    } catch (error) {
      if (!entered && dead < STALE_CONNECTION_RETRIES && isConnectionError(error)) continue;
      throw mapError(error, { committing });
    }
  }
}

/**
 * Where a transaction was when it failed. `committing`: every statement had succeeded and
 * COMMIT was sent, so a lost connection leaves the outcome unknown (Drizzle's ROLLBACK on the
 * dead connection then fails too, and its error is the one thrown: this flag is what tells).
 */
export interface TransactPhase {
  committing: boolean;
}

/** A read outside a transaction: again when the connection was dead (reading twice is harmless). */
export async function read<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  for (let dead = 0; ; dead++) {
    try {
      return await fn();
    } catch (error) {
      if (dead < STALE_CONNECTION_RETRIES && isConnectionError(error)) continue;
      throw mysqlFailure(operation, error);
    }
  }
}
