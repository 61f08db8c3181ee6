import type { ExpiredEvent, ListExpiredParams, RescueParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { intLiteral, text } from '../encode.js';
import { EXPIRED_COLUMNS, expiredEvent } from '../rows.js';
import { read, type StoreContext, select, transact } from '../run.js';
import { applyOutcomes } from './settle.js';

/**
 * `QueueStore.listExpired`: a plain read (no lock) of rows whose lease ended, walking
 * locked_until_idx from the oldest lease end (its entries are in (locked_until, id) order, so
 * there is no sort), stopping at `limit`.
 */
export async function listExpired(ctx: StoreContext, params: ListExpiredParams): Promise<ExpiredEvent[]> {
  const queues = sql.join(params.queues.map(text), sql`, `);
  const rows = await read('listExpired', () =>
    select(
      ctx.db,
      sql`SELECT ${EXPIRED_COLUMNS} FROM ${ctx.events} FORCE INDEX (locked_until_idx)
          WHERE locked_until < UTC_TIMESTAMP(6) AND queue IN (${queues})
          ORDER BY locked_until, id
          LIMIT ${intLiteral(params.limit)}`,
    ),
  );
  return rows.map(expiredEvent);
}

/**
 * `QueueStore.rescue`: the core's decisions applied by settle's own path, each fenced on the
 * holder it names, and only while the lease is still past its end.
 */
export async function rescue(ctx: StoreContext, params: RescueParams): Promise<string[]> {
  return transact(ctx, 'rescue', (tx) => applyOutcomes(tx, ctx, params.decisions, (d) => d.workerId, true));
}
