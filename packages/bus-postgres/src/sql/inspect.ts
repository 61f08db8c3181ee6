import type {
  ArchivedEventRow,
  EventRow,
  ListArchiveParams,
  ListEventsParams,
  QueueCounts,
  StoreInspection,
} from 'bus-core/driver';
import { QueueCountsTally } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import { plainTextArray } from '../encode.js';
import {
  ARCHIVE_COLUMNS,
  archivedEventRow,
  dateOrNull,
  EVENT_COLUMNS,
  epochMs,
  eventRow,
  intOf,
  textOf,
} from '../rows.js';
import type { StoreContext } from '../run.js';

// Rows are ordered by `t.id`: a bare `id` would name the select list's `id::text` and sort as text.

/**
 * Only the filters that are set, so each combination is its own statement text: a prepared
 * statement's generic plan then still probes the primary key for `ids` and `afterId` (a
 * `$1 IS NULL OR …` condition would scan the whole table).
 */
function where(params: ListArchiveParams): SQL {
  const conditions: SQL[] = [sql`TRUE`];
  if (params.queue !== undefined) conditions.push(sql`queue = ${params.queue}::text`);
  if (params.ids !== undefined) conditions.push(sql`id = ANY(${plainTextArray(params.ids)}::int8[])`);
  if (params.afterId !== undefined) conditions.push(sql`id > ${params.afterId}::int8`);
  if (params.status !== undefined) conditions.push(sql`status = ${params.status}::text`);
  return sql.join(conditions, sql.raw(' AND '));
}

/**
 * `StoreInspection.listEvents`: live rows matching the filters, in id order.
 *
 * @example
 * const rows = await listEvents(ctx, { queue: 'email', limit: 100 });
 */
export async function listEvents(ctx: StoreContext, params: ListEventsParams): Promise<EventRow[]> {
  const query = sql`SELECT ${EVENT_COLUMNS} FROM ${ctx.tables.events} t
WHERE ${where(params)} ORDER BY t.id LIMIT ${params.limit}::int8`;
  return (await ctx.statements.rows('listEvents', query)).map(eventRow);
}

/**
 * `StoreInspection.listArchive`: archived rows matching the filters, in id order.
 *
 * @example
 * const failed = await listArchive(ctx, { status: 'failed', limit: 100 });
 */
export async function listArchive(ctx: StoreContext, params: ListArchiveParams): Promise<ArchivedEventRow[]> {
  const query = sql`SELECT ${ARCHIVE_COLUMNS} FROM ${ctx.tables.archive} t
WHERE ${where(params)} ORDER BY t.id LIMIT ${params.limit}::int8`;
  return (await ctx.statements.rows('listArchive', query)).map(archivedEventRow);
}

/**
 * `StoreInspection.countByQueue`: both tables counted in one statement (one `now()`, so the
 * oldest available row's due time agrees with the available count), merged and sorted by the
 * shared tally, so queues come in the same order in every store (an SQL `ORDER BY` would follow
 * the database's collation).
 *
 * @example
 * const counts = await countByQueue(ctx);
 */
export async function countByQueue(ctx: StoreContext): Promise<QueueCounts[]> {
  const { events, archive } = ctx.tables;
  const oldest = epochMs('min(scheduled_at) FILTER (WHERE locked_until IS NULL AND scheduled_at <= now())');
  const query = sql`SELECT 'live' AS source, queue::text AS queue,
  count(*) FILTER (WHERE locked_until IS NULL AND scheduled_at <= now())::text AS a,
  count(*) FILTER (WHERE locked_until IS NULL AND scheduled_at > now())::text AS b,
  count(*) FILTER (WHERE locked_until IS NOT NULL)::text AS c,
  count(*) FILTER (WHERE last_error IS NOT NULL)::text AS d,
  ${oldest} AS e
FROM ${events} GROUP BY queue
UNION ALL
SELECT 'archive', queue::text, count(*) FILTER (WHERE status = 'completed')::text,
  count(*) FILTER (WHERE status = 'failed')::text, '0', '0', NULL
FROM ${archive} GROUP BY queue`;
  const tally = new QueueCountsTally();
  // Every queue gets the field: null until its live row says otherwise (archive-only queues stay null).
  const of = (queue: string) => {
    const counts = tally.of(queue);
    counts.oldestAvailableAt ??= null;
    return counts;
  };
  for (const r of await ctx.statements.rows('countByQueue', query)) {
    const counts = of(textOf(r[1], 'queue'));
    if (textOf(r[0], 'source') === 'live') {
      counts.available += intOf(r[2], 'available');
      counts.scheduled += intOf(r[3], 'scheduled');
      counts.running += intOf(r[4], 'running');
      counts.retrying += intOf(r[5], 'retrying');
      counts.oldestAvailableAt = dateOrNull(r[6], 'oldest available scheduled_at');
    } else {
      counts.archivedCompleted += intOf(r[2], 'completed');
      counts.archivedFailed += intOf(r[3], 'failed');
    }
  }
  return tally.list();
}

/**
 * `QueueStore.inspect`: the three read-only views bound to one store.
 *
 * @example
 * const rows = await inspection(ctx).listEvents({ limit: 10 });
 */
export function inspection(ctx: StoreContext): StoreInspection {
  return {
    listEvents: (params) => listEvents(ctx, params),
    listArchive: (params) => listArchive(ctx, params),
    countByQueue: () => countByQueue(ctx),
  };
}
