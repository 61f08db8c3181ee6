import { type BusErrorCode, isBusError } from 'bus-core';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { guardPostgresJs, type PgTx, postgresJsOf } from './client.js';
import { isOversized, pgFailure } from './errors.js';
import type { StoreTables } from './options.js';

/** What every operation of `src/sql/` runs with: the statements, the tables and the store's options. */
export interface StoreContext {
  readonly statements: Statements;
  readonly tables: StoreTables;
  /** The NOTIFY channel `insert` signals. */
  readonly channel: string;
  /** Whether `insert` writes the JSON column. */
  readonly jsonPayload: boolean;
}

/**
 * One value of a result row: postgres.js hands the raw bytes of each value's text (`raw()`),
 * other drivers the string (every column is text in SQL, see rows.ts).
 */
export type Cell = Buffer | Uint8Array | string | null;

/** A result row as its cells, in the order of the statement's select list. */
export type Row = Cell[];

/** The rows of a `db.execute` result: postgres.js returns an array, PGlite and node-postgres `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  const rows = (result as { rows?: unknown } | null)?.rows;
  return Array.isArray(rows) ? (rows as T[]) : [];
}

// The store's own dialect turns its SQL into text and parameters for postgres.js; it holds no
// state of the user's database.
const dialect = new PgDialect();

/**
 * How the store's statements reach the database: through the Drizzle database it was given, or
 * the caller's transaction. Every failure becomes a one-line `BusError` (see `pgFailure`).
 */
export class Statements {
  readonly #db: PgTx;
  #guard: Promise<void> | undefined;

  constructor(db: PgTx) {
    this.#db = db;
  }

  /**
   * Runs `query` (in `tx` when given) and returns its rows as arrays of cells in select-list
   * order. On postgres.js the statement is sent prepared and the rows come raw (`raw()`): no
   * parser, custom type or value/column transform of the client touches them. Other drivers
   * return objects, read by position (the store's aliases are distinct). `oversized` is the code
   * of the BusError for a statement too large to send or run (default `STORE_FAILED`).
   */
  async rows(operation: string, query: SQL, tx?: PgTx, oversized?: BusErrorCode): Promise<Row[]> {
    const db = tx ?? this.#db;
    try {
      const postgresJs = postgresJsOf(db);
      if (postgresJs !== undefined) {
        await this.#guarded();
        // Drizzle's `execute` sends through postgres.js `unsafe(text, params)` unprepared, so
        // postgres.js describes every parameterized statement first: two round trips per query.
        // Prepared (unless the client has `prepare: false`), it is one once cached.
        const { sql: text, params } = dialect.sqlToQuery(query);
        const rows = await postgresJs.unsafe(text, params, { prepare: true }).raw();
        return Array.isArray(rows) ? (rows as Row[]) : [];
      }
      return rowsOf<Record<string, Cell>>(await db.execute(query)).map((r) => Object.values(r));
    } catch (error) {
      throw pgFailure(
        operation,
        error,
        oversized !== undefined && isOversized(error) ? oversized : undefined,
      );
    }
  }

  /**
   * Runs `fn` inside `tx` when given, else in a transaction of its own. A failure to begin or
   * commit is a `BusError` (`STORE_CONFLICT` for a serialization failure at commit); what `fn`
   * throws passes through unchanged.
   */
  async transaction<T>(fn: (tx: PgTx) => Promise<T>, tx?: PgTx): Promise<T> {
    if (tx !== undefined) return fn(tx);
    let thrown: { error: unknown } | undefined;
    try {
      if (postgresJsOf(this.#db) !== undefined) await this.#guarded();
      return await this.#db.transaction(async (own) => {
        try {
          return await fn(own as PgTx);
        } catch (error) {
          thrown = { error };
          throw error;
        }
      });
    } catch (error) {
      if ((thrown !== undefined && error === thrown.error) || isBusError(error)) throw error;
      throw pgFailure('transaction', error);
    }
  }

  // Once per store; a failure (database unreachable) is tried again on the next statement.
  #guarded(): Promise<void> {
    if (this.#guard === undefined) {
      this.#guard = guardPostgresJs(this.#db).catch((error: unknown) => {
        this.#guard = undefined;
        throw error;
      });
    }
    return this.#guard;
  }
}
