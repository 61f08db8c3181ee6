import type { CancelParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { PgTx } from '../client.js';
import { storableText } from '../encode.js';
import { textOf } from '../rows.js';
import type { StoreContext } from '../run.js';
import { rowConditions } from './filter.js';

/**
 * `StoreAdmin.cancel` in one statement (in `params.tx` when given): lock up to `limit` matching
 * live rows in id order, skipping rows another transaction holds (a claim in flight, a settle),
 * delete them, leased or not, and archive them as `cancelled` when the core says so. A holder of a
 * removed row finds no row for its fence: its settle, lease and check calls leave it out.
 *
 * @example
 * const ids = await cancel(ctx, { filter: { queue: 'email' }, limit: 1000, archive: true, reason: 'bad batch' });
 */
export async function cancel(ctx: StoreContext, params: CancelParams<PgTx>): Promise<string[]> {
  const { events, archive } = ctx.tables;
  const conditions = rowConditions({ ...params.filter, ids: params.ids });
  // The picked ids reach the DELETE as an array (`id = ANY(ARRAY(…))`, as in claim), so it probes
  // the primary key once per row: `DELETE … USING picked` gets a hash join over a sequential scan.
  const query = sql`WITH removed AS (
  DELETE FROM ${events} e
  WHERE e.id = ANY(ARRAY(
    SELECT id FROM ${events}
    WHERE ${conditions}
    ORDER BY id
    LIMIT ${params.limit}::int4
    FOR UPDATE SKIP LOCKED))
  RETURNING e.id, e.queue, e.event_name, e.handler_name, e.payload, e.payload_json, e.attempts, e.max_retries,
    e.priority, e.created_at, e.trace_context, e.partition_key
), archived AS (
  INSERT INTO ${archive} (id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries,
    priority, status, last_error, created_at, finished_at, trace_context, partition_key)
  SELECT id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority, 'cancelled',
    ${storableText(params.reason)}::text, created_at, now(), trace_context, partition_key
  FROM removed WHERE ${params.archive ? 1 : 0}::int4 = 1
  ON CONFLICT (id) DO NOTHING
)
SELECT id::text AS id FROM removed ORDER BY removed.id`;
  const rows = await ctx.statements.rows('cancel', query, params.tx);
  return rows.map((r) => textOf(r[0], 'id'));
}
