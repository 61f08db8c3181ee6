import type { ClaimedEvent, ClaimParams } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { idList, intLiteral, micros, text } from '../encode.js';
import { CLAIM_COLUMNS, claimedEvent } from '../rows.js';
import { type Row, type StoreContext, select, transact } from '../run.js';

/**
 * `QueueStore.claim`: one READ COMMITTED transaction of two statements, a locking read that
 * returns the rows and an update of them by primary key.
 */
export async function claim(ctx: StoreContext, params: ClaimParams): Promise<ClaimedEvent[]> {
  return transact(ctx, 'claim', (tx) => claimIn(tx, ctx, params));
}

/** The plain claim's two statements in `tx`: also the limited claim's, for a queue without limits. */
export async function claimIn(tx: MySqlTx, ctx: StoreContext, params: ClaimParams): Promise<ClaimedEvent[]> {
  // The locking read must walk claim_idx in order and stop at LIMIT: a plan that sorts reads,
  // and FOR UPDATE locks, every available row of the queue, and concurrent claimers then skip
  // them all. claim_idx is (queue, locked_until, priority, scheduled_at, id): for one queue's
  // unleased rows it is already in claim order, and FORCE INDEX keeps the optimizer off
  // locked_until_idx whatever the statistics say (a test checks the plan). The read returns
  // the rows themselves, so the update by primary key is the only other statement (neither
  // server has UPDATE … RETURNING, and MariaDB refuses LIMIT in an IN subquery).
  const rows = await select(tx, readyRowsQuery(ctx, params, params.limit, sql``, CLAIM_COLUMNS));
  if (rows.length === 0) return [];
  await leaseRows(tx, ctx, params, rows);
  return rows.map(claimedEvent);
}

/**
 * The plain claim's locking read: up to `limit` due, unleased rows of the queue and handlers in
 * claim order, with `extra` conditions, returning `columns`. Shared with the limited claim's
 * `readyRows`, so both read the same rows the same way.
 */
export function readyRowsQuery(
  ctx: StoreContext,
  params: ClaimParams,
  limit: number,
  extra: SQL,
  columns: SQL,
): SQL {
  // The handler filter is checked on the rows the scan reads (handler_name is not in the index:
  // it would break the claim order across handlers). A row of another handler is read, locked
  // and passed over; MariaDB keeps that lock until this transaction commits, so a concurrent
  // claim for that handler skips the row for one poll (never leased, attempts unchanged).
  // As bytes: utf8mb4_bin pads, and `h` must not claim `h `.
  return sql`SELECT ${columns} FROM ${ctx.events} FORCE INDEX (claim_idx)
      WHERE queue = ${text(params.queue)} AND locked_until IS NULL AND scheduled_at <= UTC_TIMESTAMP(6)
        AND ${handlersFilter(params)}${extra}
      ORDER BY priority, scheduled_at, id
      LIMIT ${intLiteral(limit)}
      FOR UPDATE SKIP LOCKED`;
}

/** `handler_name` is one of the claim's handlers, compared as bytes (utf8mb4_bin pads). */
export function handlersFilter(params: ClaimParams): SQL {
  return sql`CAST(handler_name AS BINARY) IN (${sql.join(params.handlers.map(text), sql`, `)})`;
}

/** Leases rows the transaction holds (read with `row_id`): holder, lease end, attempts + 1, by primary key. */
export async function leaseRows(
  tx: MySqlTx,
  ctx: StoreContext,
  params: ClaimParams,
  rows: readonly Row[],
): Promise<void> {
  await tx.execute(
    sql`UPDATE ${ctx.events}
        SET attempts = attempts + 1, locked_by = ${text(params.workerId)},
            locked_until = UTC_TIMESTAMP(6) + INTERVAL ${micros(params.leaseMs)} MICROSECOND
        WHERE id IN (${idList(rows.map((r) => String(r.row_id)))})`,
  );
}
