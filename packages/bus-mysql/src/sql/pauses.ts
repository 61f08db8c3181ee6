import type { PauseParams, PauseRow } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { text } from '../encode.js';
import { mysqlErrorInfo, mysqlFailure } from '../errors.js';
import { PAUSE_COLUMNS, pauseRow } from '../rows.js';
import { read, type StoreContext, select, transact, write } from '../run.js';

/** ER_DUP_ENTRY: the pause is there already. */
const ER_DUP_ENTRY = 1062;

function pausesOf(ctx: StoreContext) {
  return sql.identifier(ctx.tables.pausesTable);
}

// The whole queue is stored as handler '' (a primary key column cannot be NULL).
function handlerOf(params: PauseParams<MySqlTx>): string {
  return params.handlerName ?? '';
}

/**
 * `StoreAdmin.pause`: one INSERT. A duplicate key means paused already: the first time stays, and
 * the statement's failure rolls back only itself, so the caller's transaction goes on. (No
 * `INSERT IGNORE`, which would turn every other error into a warning; no `ON DUPLICATE KEY`,
 * whose affected-row count mysql2's FOUND_ROWS flag makes the same for "found" and "inserted".)
 */
export async function pause(ctx: StoreContext, params: PauseParams<MySqlTx>): Promise<boolean> {
  const statement = sql`INSERT INTO ${pausesOf(ctx)} (queue, handler_name, paused_at)
      VALUES (${text(params.queue)}, ${text(handlerOf(params))}, UTC_TIMESTAMP(6))`;
  const run = async (db: MySqlTx) => {
    try {
      await write(db, statement);
      return true;
    } catch (error) {
      if (mysqlErrorInfo(error).errno === ER_DUP_ENTRY) return false;
      throw error;
    }
  };
  if (params.tx !== undefined) {
    try {
      return await run(params.tx);
    } catch (error) {
      throw mysqlFailure('pause', error);
    }
  }
  // A short transaction of its own: the store's one path that takes another connection when the
  // pool's was dead before anything was sent (a write is never sent twice).
  return transact(ctx, 'pause', run);
}

/**
 * `StoreAdmin.resume`: deletes exactly that key (resuming a handler leaves its queue's own pause).
 * No wake-up to send: MySQL has no notify, and workers read the pauses about every second.
 */
export async function resume(ctx: StoreContext, params: PauseParams<MySqlTx>): Promise<boolean> {
  const statement = sql`DELETE FROM ${pausesOf(ctx)}
      WHERE queue = ${text(params.queue)} AND handler_name = ${text(handlerOf(params))}`;
  const run = async (db: MySqlTx) => (await write(db, statement)).affectedRows > 0;
  if (params.tx === undefined) return transact(ctx, 'resume', run);
  try {
    return await run(params.tx);
  } catch (error) {
    throw mysqlFailure('resume', error);
  }
}

/** `StoreInspection.listPauses`: the whole (small) table in primary key order: (queue, handler). */
export async function listPauses(ctx: StoreContext): Promise<PauseRow[]> {
  const rows = await read('listPauses', () =>
    select(ctx.db, sql`SELECT ${PAUSE_COLUMNS} FROM ${pausesOf(ctx)} ORDER BY queue, handler_name`),
  );
  return rows.map(pauseRow);
}
