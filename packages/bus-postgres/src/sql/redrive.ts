import type { RedriveParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { PgTx } from '../client.js';
import { textOf } from '../rows.js';
import type { StoreContext } from '../run.js';
import { rowConditions } from './filter.js';

/**
 * `StoreAdmin.redrive` in one statement (in `params.tx` when given): lock up to `limit` matching
 * archived rows in id order (skipping rows a prune is deleting), delete them from the archive and
 * insert them into the hot table under their own ids (`OVERRIDING SYSTEM VALUE`: the identity
 * column takes the archived id), with fresh attempts and snoozes, due at now, last error kept;
 * then one NOTIFY per queue, delivered at commit like `insert`'s.
 *
 * @example
 * const ids = await redrive(ctx, { filter: { queue: 'email' }, statuses: ['failed'], limit: 1000 });
 */
export async function redrive(ctx: StoreContext, params: RedriveParams<PgTx>): Promise<string[]> {
  const { events, archive } = ctx.tables;
  const conditions = rowConditions({ ...params.filter, ids: params.ids, statuses: params.statuses });
  // The picked ids reach the DELETE as an array, one primary-key probe each (as in cancel).
  const query = sql`WITH moved AS (
  DELETE FROM ${archive} a
  WHERE a.id = ANY(ARRAY(
    SELECT id FROM ${archive}
    WHERE ${conditions}
    ORDER BY id
    LIMIT ${params.limit}::int4
    FOR UPDATE SKIP LOCKED))
  RETURNING a.id, a.queue, a.event_name, a.handler_name, a.payload, a.payload_json, a.max_retries, a.priority,
    a.last_error, a.created_at, a.trace_context, a.partition_key
), ins AS (
  INSERT INTO ${events} (id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority,
    scheduled_at, last_error, created_at, trace_context, snoozes, partition_key)
  OVERRIDING SYSTEM VALUE
  SELECT id, queue, event_name, handler_name, payload, payload_json, 0, max_retries, priority, now(), last_error,
    created_at, trace_context, 0, partition_key
  FROM moved
  RETURNING id, queue
), woken AS (
  SELECT count(pg_notify(${ctx.channel}::text, d.queue)) AS n FROM (SELECT DISTINCT queue FROM ins) d
)
SELECT ins.id::text AS id FROM ins, woken ORDER BY ins.id`;
  const rows = await ctx.statements.rows('redrive', query, params.tx);
  return rows.map((r) => textOf(r[0], 'id'));
}
