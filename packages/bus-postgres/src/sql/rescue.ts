import type { ExpiredEvent, ListExpiredParams, RescueParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { pgArray } from '../encode.js';
import { EXPIRED_COLUMNS, expiredEvent } from '../rows.js';
import type { StoreContext } from '../run.js';
import { applyOutcomes } from './settle.js';

/**
 * `QueueStore.listExpired`: leased rows of `queues` whose lease ended, oldest lease end first,
 * read through the lease index without locking anything.
 *
 * @example
 * const expired = await listExpired(ctx, { queues: ['email'], limit: 1000 });
 */
export async function listExpired(ctx: StoreContext, params: ListExpiredParams): Promise<ExpiredEvent[]> {
  // `t.id`: a bare `id` would name the select list's `id::text` and sort as text.
  const query = sql`SELECT ${EXPIRED_COLUMNS} FROM ${ctx.tables.events} t
WHERE t.locked_until < now() AND t.queue = ANY(${pgArray(params.queues)}::text[])
ORDER BY t.locked_until, t.id
LIMIT ${params.limit}::int4`;
  return (await ctx.statements.rows('listExpired', query)).map(expiredEvent);
}

/**
 * `QueueStore.rescue`: the core's decisions about expired rows, applied by the SQL of `settle`
 * with each decision's holder and the lease still past its end.
 *
 * @example
 * const applied = await rescue(ctx, { decisions: [{ kind: 'retry', id: '1', attempt: 1, delayMs: 0, error: 'lease expired', workerId: 'w1' }] });
 */
export function rescue(ctx: StoreContext, params: RescueParams): Promise<string[]> {
  const { decisions } = params;
  const fence = { holders: decisions.map((d) => d.workerId), expired: true as const };
  return applyOutcomes(ctx, 'rescue', decisions, fence);
}
