import type { RunNowParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { PgTx } from '../client.js';
import { plainTextArray } from '../encode.js';
import { textOf } from '../rows.js';
import type { StoreContext } from '../run.js';

/**
 * `StoreAdmin.runNow` in one statement (in `params.tx` when given): the unleased rows of `ids`,
 * locked in id order (waiting for a claim or settle in flight, then judged again), due at now
 * when they were due later; one NOTIFY per queue, delivered at commit.
 *
 * @example
 * const ids = await runNow(ctx, { ids: ['42'] });
 */
export async function runNow(ctx: StoreContext, params: RunNowParams<PgTx>): Promise<string[]> {
  const { events } = ctx.tables;
  const query = sql`WITH target AS (
  SELECT id, queue, scheduled_at FROM ${events}
  WHERE id = ANY(${plainTextArray(params.ids)}::int8[]) AND locked_until IS NULL
  ORDER BY id
  FOR UPDATE
), moved AS (
  UPDATE ${events} e SET scheduled_at = now()
  WHERE e.id = ANY(ARRAY(SELECT t.id FROM target t WHERE t.scheduled_at > now()))
  RETURNING e.id
), woken AS (
  SELECT count(pg_notify(${ctx.channel}::text, d.queue)) AS n FROM (SELECT DISTINCT queue FROM target) d
)
SELECT target.id::text AS id FROM target, woken ORDER BY target.id`;
  const rows = await ctx.statements.rows('runNow', query, params.tx);
  return rows.map((r) => textOf(r[0], 'id'));
}
