import type {
  ArchivedEventRow,
  EventRow,
  ListArchiveParams,
  ListEventsParams,
  QueueCounts,
  StoreInspection,
} from 'bus-core/driver';
import { QueueCountsTally } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
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
import { idOrder, rowConditions } from './filter.js';
import { listLimits } from './limits.js';
import { listPauses } from './pauses.js';
import { listWorkers } from './workers.js';

/**
 * `StoreInspection.listEvents`: live rows matching the filters, in id order (descending for `newestFirst`).
 *
 * @example
 * const rows = await listEvents(ctx, { queue: 'email', limit: 100 });
 */
export async function listEvents(ctx: StoreContext, params: ListEventsParams): Promise<EventRow[]> {
  const query = sql`SELECT ${EVENT_COLUMNS} FROM ${ctx.tables.events} t
WHERE ${rowConditions(params)} ORDER BY ${idOrder(params.newestFirst)} LIMIT ${params.limit}::int8`;
  return (await ctx.statements.rows('listEvents', query)).map(eventRow);
}

/**
 * `StoreInspection.listArchive`: archived rows matching the filters, in id order (descending for `newestFirst`).
 *
 * @example
 * const failed = await listArchive(ctx, { status: 'failed', limit: 100 });
 */
export async function listArchive(ctx: StoreContext, params: ListArchiveParams): Promise<ArchivedEventRow[]> {
  const query = sql`SELECT ${ARCHIVE_COLUMNS} FROM ${ctx.tables.archive} t
WHERE ${rowConditions(params)} ORDER BY ${idOrder(params.newestFirst)} LIMIT ${params.limit}::int8`;
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
  const query = sql`SELECT ${'live'}::text AS source, queue::text AS queue,
  count(*) FILTER (WHERE locked_until IS NULL AND scheduled_at <= now())::text AS a,
  count(*) FILTER (WHERE locked_until IS NULL AND scheduled_at > now())::text AS b,
  count(*) FILTER (WHERE locked_until IS NOT NULL)::text AS c,
  count(*) FILTER (WHERE last_error IS NOT NULL)::text AS d,
  ${oldest} AS e
FROM ${events} GROUP BY queue
UNION ALL
SELECT ${'archive'}::text, queue::text, count(*) FILTER (WHERE status = 'completed')::text,
  count(*) FILTER (WHERE status = 'failed')::text, count(*) FILTER (WHERE status = 'cancelled')::text, '0', NULL
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
      counts.archivedCancelled += intOf(r[4], 'cancelled');
    }
  }
  return tally.list();
}

/**
 * `QueueStore.inspect`: the read-only views bound to one store.
 *
 * @example
 * const rows = await inspection(ctx).listEvents({ limit: 10 });
 */
export function inspection(ctx: StoreContext): StoreInspection {
  return {
    listEvents: (params) => listEvents(ctx, params),
    listArchive: (params) => listArchive(ctx, params),
    countByQueue: () => countByQueue(ctx),
    listPauses: () => listPauses(ctx),
    listLimits: () => listLimits(ctx),
    listWorkers: (params) => listWorkers(ctx, params),
  };
}
