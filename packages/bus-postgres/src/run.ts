import { BusError, type BusErrorCode, isBusError } from 'bus-core';
import type { SeenLimits } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import {
  capReconnectBackoff,
  guardPostgresJs,
  type PgTx,
  postgresJsOf,
  type ReservedPostgresJs,
  reservableOf,
  reservedTx,
} from './client.js';
import { isLostInFlight, isOversized, pgFailure } from './errors.js';
import type { StoreTables } from './options.js';

/** What every operation of `src/sql/` runs with: the statements, the tables and the store's options. */
export interface StoreContext {
  readonly statements: Statements;
  readonly tables: StoreTables;
  /** The NOTIFY channel `insert` signals. */
  readonly channel: string;
  /** Whether `insert` writes the JSON column. */
  readonly jsonPayload: boolean;
  /** Per queue, the limits and key cursor its last limited claim saw (src/sql/claim-limited.ts). */
  readonly limitsSeen: Map<string, SeenLimits>;
}

/**
 * One value of a result row: postgres.js hands the raw bytes of each value's text (`raw()`),
 * other drivers the string (every column is text in SQL, see rows.ts).
 */
export type Cell = Buffer | Uint8Array | string | null;

/** How `Statements.rows` names a failure whose cause says more than `STORE_FAILED`. */
export interface FailureCodes {
  /** The code for a statement too large to send or run (default `STORE_FAILED`). */
  oversized?: BusErrorCode;
  /**
   * The code for a statement that was sent and then lost (the connection died, or the timeout
   * elapsed while it ran): it may have committed. Default `STORE_FAILED` (`STORE_TIMEOUT` for a
   * timeout).
   */
  lostInFlight?: BusErrorCode;
}

/** A result row as its cells, in the order of the statement's select list. */
export type Row = Cell[];

/** The rows of a `db.execute` result: postgres.js returns an array, PGlite and node-postgres `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  const rows = (result as { rows?: unknown } | null)?.rows;
  return Array.isArray(rows) ? (rows as T[]) : [];
}

// The failure of a statement whose connection died after it was sent, saying what that means.
function lostInFlight(failure: BusError): BusError {
  const message = failure.message.replace(/^\[[A-Z_]+\] /, '');
  return new BusError(
    failure.code,
    `${message}; the connection was lost after the statement was sent, so it may have committed`,
    { cause: failure.cause },
  );
}

/** What `settleWithin` returns when the time ran out first. */
const TIMED_OUT: unique symbol = Symbol('timed out');

// `work`'s value, or TIMED_OUT when it has not settled within `ms` (its timer cleared either way);
// a rejection within `ms` passes through. What became of late work is the caller's to decide.
async function settleWithin<T>(work: PromiseLike<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const elapsed = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([work, elapsed]);
  } finally {
    clearTimeout(timer);
  }
}

// The store's own dialect turns its SQL into text and parameters for postgres.js; it holds no
// state of the user's database.
const dialect = new PgDialect();

/**
 * A condition that always holds and binds one parameter, for a statement that would bind none
 * (`Statements.rows` refuses those: see there why).
 */
export const ALWAYS = sql`${true}`;

/**
 * How the store's statements reach the database: through the Drizzle database it was given, or
 * the caller's transaction. Every failure becomes a one-line `BusError` (see `pgFailure`).
 */
export class Statements {
  readonly #db: PgTx;
  readonly #timeout: number | undefined;
  #guard: Promise<void> | undefined;
  #guardPassed = false;

  /** `statementTimeout`: ms a postgres.js statement may take, waiting for its connection included. */
  constructor(db: PgTx, statementTimeout?: number) {
    this.#db = db;
    this.#timeout = statementTimeout;
    capReconnectBackoff((db as { $client?: unknown }).$client);
  }

  /**
   * Runs `query` (in `tx` when given) and returns its rows as arrays of cells in select-list
   * order. On postgres.js the statement is sent prepared and the rows come raw (`raw()`): no
   * parser, custom type or value/column transform of the client touches them. Other drivers
   * return objects, read by position (the store's aliases are distinct). `codes` name the
   * failures that say more than `STORE_FAILED`. On postgres.js a statement that has not answered
   * within the store's `statementTimeout` rejects with `STORE_TIMEOUT` (or `codes.lostInFlight`
   * when it had been sent).
   */
  async rows(operation: string, query: SQL, tx?: PgTx, codes: FailureCodes = {}): Promise<Row[]> {
    const db = tx ?? this.#db;
    try {
      const postgresJs = postgresJsOf(db);
      if (postgresJs !== undefined) {
        // Only the first statements wait for the guard: from then on a statement is handed to
        // its connection in the same turn as the call, so statements go out in call order
        // (pipelinedTransaction's COMMIT relies on it).
        if (!this.#guardPassed) await this.#guarded();
        // Drizzle's `execute` sends through postgres.js `unsafe(text, params)` unprepared, so
        // postgres.js describes every parameterized statement first: two round trips per query.
        // Prepared (unless the client has `prepare: false`), it is one once cached.
        const { sql: text, params } = dialect.sqlToQuery(query);
        // Every statement binds a parameter. postgres.js pipelines the next statement onto a
        // connection whose statement binds none; a pooler that does not track a describe
        // (PgBouncer before 1.21 in transaction mode, Supavisor) then hands the server connection
        // back when the first one ends, and the next is stranded: it never answers.
        if (params.length === 0) {
          throw new BusError(
            'STORE_FAILED',
            `postgres ${operation}: internal error, the statement binds no parameter (every store statement must bind one)`,
          );
        }
        const rows = await this.#timed(
          operation,
          postgresJs.unsafe(text, params, { prepare: true }).raw().execute(),
          codes,
        );
        return Array.isArray(rows) ? (rows as Row[]) : [];
      }
      return rowsOf<Record<string, Cell>>(await db.execute(query)).map((r) => Object.values(r));
    } catch (error) {
      if (isBusError(error)) throw error;
      if (codes.oversized !== undefined && isOversized(error))
        throw pgFailure(operation, error, codes.oversized);
      if (codes.lostInFlight !== undefined && isLostInFlight(error)) {
        throw lostInFlight(pgFailure(operation, error, codes.lostInFlight));
      }
      throw pgFailure(operation, error);
    }
  }

  /**
   * `query` bounded by the statement timeout. A statement still queued for a connection (the pool
   * is busy or reconnecting) is taken out of the queue: it never runs, `STORE_TIMEOUT`. One that
   * was sent is left to finish or fail on its connection (a cancel request would need a new
   * connection to a server that may be unreachable) and rejects at once: `codes.lostInFlight`
   * when given, since it may still commit, else `STORE_TIMEOUT`.
   */
  async #timed(operation: string, query: PromiseLike<unknown>, codes: FailureCodes): Promise<unknown> {
    const ms = this.#timeout;
    if (ms === undefined) return query;
    const first = await settleWithin(query, ms);
    if (first !== TIMED_OUT) return first;
    // postgres.js sets `state` (the backend's pid and key) once the statement is on a connection.
    const pending = query as { state?: unknown; cancel?: () => unknown };
    const sent = pending.state !== undefined && pending.state !== null;
    if (!sent) {
      // Not on a connection yet: postgres.js drops it from its queue and rejects it (57014).
      pending.cancel?.();
      throw new BusError(
        'STORE_TIMEOUT',
        `postgres ${operation} timed out: no connection answered within ${ms} ms (statementTimeout); the statement was not sent`,
        { value: ms },
      );
    }
    const code = codes.lostInFlight ?? 'STORE_TIMEOUT';
    throw new BusError(
      code,
      `postgres ${operation} timed out: no answer within ${ms} ms (statementTimeout) after the statement was sent${code === 'STORE_TIMEOUT' ? '' : '; it may still commit'}`,
      { value: ms },
    );
  }

  /**
   * Runs `fn` inside `tx` when given, else in a transaction of its own. A failure to begin or
   * commit is a `BusError` (`STORE_CONFLICT` for a serialization failure at commit,
   * `codes.lostInFlight` when given for a connection lost at BEGIN or COMMIT: it may have
   * committed); what `fn` throws passes through unchanged.
   */
  async transaction<T>(fn: (tx: PgTx) => Promise<T>, tx?: PgTx, codes: FailureCodes = {}): Promise<T> {
    if (tx !== undefined) return fn(tx);
    let thrown: { error: unknown } | undefined;
    // Set when the statement timeout passed before a connection took the BEGIN: the transaction
    // may still start later (postgres.js cannot take it out of its queue), and then does nothing.
    let abandoned = false;
    try {
      const postgresJs = postgresJsOf(this.#db) !== undefined;
      if (postgresJs) await this.#guarded();
      let began!: () => void;
      const beginning = new Promise<void>((resolve) => {
        began = resolve;
      });
      const run = this.#db.transaction(async (own) => {
        if (abandoned) throw new Error('abandoned: the statement timeout passed before BEGIN');
        began();
        try {
          return await fn(own as PgTx);
        } catch (error) {
          thrown = { error };
          throw error;
        }
      });
      if (postgresJs && this.#timeout !== undefined) {
        await this.#begun(run, beginning, () => {
          abandoned = true;
        });
      }
      return await run;
    } catch (error) {
      if ((thrown !== undefined && error === thrown.error) || isBusError(error)) throw error;
      if (codes.lostInFlight !== undefined && isLostInFlight(error)) {
        throw lostInFlight(pgFailure('transaction', error, codes.lostInFlight));
      }
      throw pgFailure('transaction', error);
    }
  }

  /**
   * `transaction` for a few statements that must hold a lock between them (the limited claim),
   * with its BEGIN sent in the same round trip as `fn`'s first statements: on postgres.js (3.4
   * and later) a connection is reserved, BEGIN is written without waiting for its answer, and
   * `fn`'s statements follow it on that connection in order, as `Statements.rows` writes them.
   * `transaction` waits for BEGIN's answer before `fn` starts; a short transaction is a round trip
   * shorter this way. Each statement still runs after the one before it ended (one connection),
   * so what `fn` reads after a lock is what committed before the lock was granted. On any other
   * driver it is `transaction`. `fn` may call `commitNow` once it has sent its last statement:
   * COMMIT then follows it at once. A failure of `fn` rolls back and passes through; a failure
   * of BEGIN or COMMIT is a `BusError`.
   */
  async pipelinedTransaction<T>(fn: (tx: PgTx, commitNow: () => void) => Promise<T>): Promise<T> {
    const root = reservableOf(this.#db);
    if (root === undefined) return this.transaction((tx) => fn(tx, () => {}));
    await this.#guarded();
    const reserved = await this.#reserve(root);
    let open = true;
    let thrown: { error: unknown } | undefined;
    let commit: Promise<unknown> | undefined;
    // `fn` may have COMMIT sent behind its last statement, before that statement answers: one
    // round trip fewer again. A statement that fails aborts the transaction, and this COMMIT
    // then ends it as a rollback (its answer is no error): `fn` still throws that failure.
    const commitNow = () => {
      if (commit !== undefined) return;
      commit = Promise.resolve(this.#timed('transaction', reserved.unsafe('commit').execute(), {}));
      commit.catch(() => {});
    };
    try {
      const begin = Promise.resolve(this.#timed('transaction', reserved.unsafe('begin').execute(), {}));
      // BEGIN's own failure is the one to report; fn's statements then fail after it.
      begin.catch(() => {});
      let result: T;
      try {
        [, result] = await Promise.all([begin, fn(reservedTx(reserved), commitNow)]);
      } catch (error) {
        // After a COMMIT sent early the transaction is over; a ROLLBACK then only warns.
        await Promise.resolve(reserved.unsafe('rollback')).then(
          () => undefined,
          () => undefined,
        );
        open = false;
        try {
          await begin;
        } catch (beginError) {
          throw isBusError(beginError) ? beginError : pgFailure('transaction', beginError);
        }
        thrown = { error };
        throw error;
      }
      open = false;
      commitNow();
      await commit;
      return result;
    } catch (error) {
      if ((thrown !== undefined && error === thrown.error) || isBusError(error)) throw error;
      throw pgFailure('transaction', error);
    } finally {
      // A transaction left open (COMMIT never sent: the handle is dropped on a failure before it)
      // must not reach the next user of the connection.
      if (open) await Promise.resolve(reserved.unsafe('rollback')).catch(() => undefined);
      reserved.release();
    }
  }

  // A connection of the pool for `pipelinedTransaction`, waited for at most the statement timeout
  // (a connection that comes later is handed back at once).
  async #reserve(root: { reserve(): Promise<ReservedPostgresJs> }): Promise<ReservedPostgresJs> {
    const reserving = root.reserve();
    const ms = this.#timeout;
    if (ms === undefined) return reserving;
    const first = await settleWithin(reserving, ms);
    if (first !== TIMED_OUT) return first;
    reserving.then(
      (late) => late.release(),
      () => undefined,
    );
    throw new BusError(
      'STORE_TIMEOUT',
      `postgres transaction timed out: no connection was free within ${this.#timeout} ms (statementTimeout); nothing was written`,
      { value: ms },
    );
  }

  /**
   * Waits until `run`'s BEGIN has a connection, at most the statement timeout: else `abandon`
   * is called and the wait ends with `STORE_TIMEOUT` (nothing of the transaction is written).
   */
  async #begun(run: Promise<unknown>, beginning: Promise<void>, abandon: () => void): Promise<void> {
    const ms = this.#timeout!;
    const first = await settleWithin(Promise.race([beginning, run.then(() => undefined)]), ms);
    if (first !== TIMED_OUT) return;
    abandon();
    // It ends with the abandoned error if it ever starts; nobody waits for it any more.
    run.catch(() => {});
    throw new BusError(
      'STORE_TIMEOUT',
      `postgres transaction timed out: no connection took its BEGIN within ${ms} ms (statementTimeout); nothing was written`,
      { value: ms },
    );
  }

  // Once per store; a failure (database unreachable) is tried again on the next statement.
  #guarded(): Promise<void> {
    if (this.#guard === undefined) {
      this.#guard = guardPostgresJs(this.#db).then(
        () => {
          this.#guardPassed = true;
        },
        (error: unknown) => {
          this.#guard = undefined;
          throw error;
        },
      );
    }
    return this.#guard;
  }
}
