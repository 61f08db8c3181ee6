import {
  type ArchivedEventRow,
  type EventRow,
  type ListArchiveParams,
  type ListEventsParams,
  type ListWorkersParams,
  type QueueCounts,
  QueueCountsTally,
  type StoreInspection,
} from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import { idList, intLiteral } from '../encode.js';
import { ARCHIVE_COLUMNS, archivedEventRow, EVENT_COLUMNS, eventRow, parseUtcOrNull } from '../rows.js';
import { read, type StoreContext, select } from '../run.js';
import { filterConditions, whereAll } from './filter.js';
import { listLimits } from './limits.js';
import { listPauses } from './pauses.js';
import { listWorkers } from './workers.js';

/**
 * The WHERE and ORDER BY of a listing: every given filter, ids inlined as literals, keyset paging
 * on the primary key in either direction (its order: no sort).
 */
function listing(params: ListEventsParams | ListArchiveParams): SQL {
  const conditions = filterConditions(params);
  if (params.ids !== undefined) conditions.push(sql`id IN (${idList(params.ids)})`);
  if (params.afterId !== undefined) {
    conditions.push(sql`id ${params.newestFirst === true ? sql`<` : sql`>`} ${idList([params.afterId])}`);
  }
  return sql`${whereAll(conditions)} ORDER BY id ${params.newestFirst === true ? sql`DESC` : sql``}
    LIMIT ${intLiteral(params.limit)}`;
}

/** `StoreInspection.listEvents`: live rows in id order, ascending or (newestFirst) descending. */
export async function listEvents(ctx: StoreContext, params: ListEventsParams): Promise<EventRow[]> {
  const query = sql`SELECT ${EVENT_COLUMNS} FROM ${ctx.events} ${listing(params)}`;
  return (await read('listEvents', () => select(ctx.db, query))).map(eventRow);
}

/** `StoreInspection.listArchive`: archived rows in id order, ascending or (newestFirst) descending. */
export async function listArchive(ctx: StoreContext, params: ListArchiveParams): Promise<ArchivedEventRow[]> {
  const query = sql`SELECT ${ARCHIVE_COLUMNS} FROM ${ctx.archive} ${listing(params)}`;
  return (await read('listArchive', () => select(ctx.db, query))).map(archivedEventRow);
}

/**
 * `StoreInspection.countByQueue`: one grouped read of each table, judged against the database's
 * now; the oldest available row's due time comes from the same read as the available count.
 */
export async function countByQueue(ctx: StoreContext): Promise<QueueCounts[]> {
  const [live, archived] = await read('countByQueue', async () => [
    await select(
      ctx.db,
      sql`SELECT queue,
                 SUM(locked_until IS NULL AND scheduled_at <= UTC_TIMESTAMP(6)) AS available,
                 SUM(locked_until IS NULL AND scheduled_at > UTC_TIMESTAMP(6)) AS scheduled,
                 SUM(locked_until IS NOT NULL) AS running,
                 SUM(last_error IS NOT NULL) AS retrying,
                 MIN(CASE WHEN locked_until IS NULL AND scheduled_at <= UTC_TIMESTAMP(6) THEN scheduled_at END)
                   AS oldest_available
          FROM ${ctx.events} GROUP BY queue`,
    ),
    await select(ctx.db, sql`SELECT queue, status, COUNT(*) AS n FROM ${ctx.archive} GROUP BY queue, status`),
  ]);
  const tally = new QueueCountsTally();
  // Every queue gets the field: null unless its live rows say otherwise (archive-only queues stay null).
  const of = (queue: string) => {
    const c = tally.of(queue);
    c.oldestAvailableAt ??= null;
    return c;
  };
  for (const r of live) {
    const c = of(String(r.queue));
    c.available = Number(r.available);
    c.scheduled = Number(r.scheduled);
    c.running = Number(r.running);
    c.retrying = Number(r.retrying);
    c.oldestAvailableAt = parseUtcOrNull(r.oldest_available);
  }
  for (const r of archived) {
    const c = of(String(r.queue));
    if (r.status === 'completed') c.archivedCompleted = Number(r.n);
    else if (r.status === 'cancelled') c.archivedCancelled = Number(r.n);
    else c.archivedFailed = Number(r.n);
  }
  return tally.list();
}

/** The store's `inspect` member: the functions above (and the pause, limits and worker reads) on one context. */
export function inspection(ctx: StoreContext): StoreInspection {
  return Object.freeze({
    listEvents: (params: ListEventsParams) => listEvents(ctx, params),
    listArchive: (params: ListArchiveParams) => listArchive(ctx, params),
    countByQueue: () => countByQueue(ctx),
    listPauses: () => listPauses(ctx),
    listLimits: () => listLimits(ctx),
    listWorkers: (params: ListWorkersParams) => listWorkers(ctx, params),
  });
}
