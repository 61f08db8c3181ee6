import type { PauseParams, PauseRow } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { PgTx } from '../client.js';
import { PAUSE_COLUMNS, pauseRow } from '../rows.js';
import { ALWAYS, type StoreContext } from '../run.js';

// The whole queue is stored as handler '' (a primary key column cannot be NULL).
const handlerOf = (params: PauseParams<PgTx>) => params.handlerName ?? '';

/**
 * `StoreAdmin.pause`: one row per paused queue or handler; pausing again keeps the first time.
 * Returns whether it was not paused before.
 *
 * @example
 * const paused = await pause(ctx, { queue: 'email' });
 */
export async function pause(ctx: StoreContext, params: PauseParams<PgTx>): Promise<boolean> {
  const query = sql`INSERT INTO ${ctx.tables.pauses} (queue, handler_name, paused_at)
VALUES (${params.queue}::text, ${handlerOf(params)}::text, now())
ON CONFLICT (queue, handler_name) DO NOTHING
RETURNING queue::text AS queue`;
  return (await ctx.statements.rows('pause', query, params.tx)).length > 0;
}

/**
 * `StoreAdmin.resume`: removes exactly that pause and, when there was one, wakes the queue's
 * listeners (delivered at commit). Returns whether it was paused.
 *
 * @example
 * const resumed = await resume(ctx, { queue: 'email' });
 */
export async function resume(ctx: StoreContext, params: PauseParams<PgTx>): Promise<boolean> {
  const query = sql`WITH removed AS (
  DELETE FROM ${ctx.tables.pauses} WHERE queue = ${params.queue}::text AND handler_name = ${handlerOf(params)}::text
  RETURNING queue
)
SELECT pg_notify(${ctx.channel}::text, queue)::text AS n FROM removed`;
  return (await ctx.statements.rows('resume', query, params.tx)).length > 0;
}

/**
 * `StoreInspection.listPauses`: every pause, in (queue, handler) order with the whole queue
 * before its handlers, sorted here so the order is the same in every store (an SQL `ORDER BY`
 * would follow the database's collation).
 *
 * @example
 * const pauses = await listPauses(ctx);
 */
export async function listPauses(ctx: StoreContext): Promise<PauseRow[]> {
  const query = sql`SELECT ${PAUSE_COLUMNS} FROM ${ctx.tables.pauses} WHERE ${ALWAYS}`;
  const rows = (await ctx.statements.rows('listPauses', query)).map(pauseRow);
  return rows.sort((a, b) => compare(a.queue, b.queue) || compare(a.handlerName ?? '', b.handlerName ?? ''));
}

// Code-unit order, as JavaScript's default sort.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
