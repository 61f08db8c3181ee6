import type { ListWorkersParams, RecordWorkerParams, WorkerRow } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { MS, storableText } from '../encode.js';
import { WORKER_COLUMNS, workerRow } from '../rows.js';
import type { StoreContext } from '../run.js';

/**
 * `StoreAdmin.recordWorker`: one upsert; the first heartbeat sets `started_at`, every one sets
 * the queues, info and `last_seen_at` (the database's now).
 *
 * @example
 * await recordWorker(ctx, { workerId: 'w1', queues: ['email'], info: 'host-a pid 42' });
 */
export async function recordWorker(ctx: StoreContext, params: RecordWorkerParams): Promise<void> {
  const queues = storableText(JSON.stringify(params.queues));
  const query = sql`INSERT INTO ${ctx.tables.workers} (worker_id, queues, info, started_at, last_seen_at)
VALUES (${params.workerId}::text, ${queues}::text, ${storableText(params.info)}::text, now(), now())
ON CONFLICT (worker_id) DO UPDATE SET queues = excluded.queues, info = excluded.info, last_seen_at = now()
RETURNING worker_id::text AS worker`;
  await ctx.statements.rows('recordWorker', query);
}

/**
 * `StoreAdmin.removeWorker`: deletes the worker's record (a clean stop).
 *
 * @example
 * await removeWorker(ctx, { workerId: 'w1' });
 */
export async function removeWorker(ctx: StoreContext, params: { workerId: string }): Promise<void> {
  const query = sql`DELETE FROM ${ctx.tables.workers} WHERE worker_id = ${params.workerId}::text
RETURNING worker_id::text AS worker`;
  await ctx.statements.rows('removeWorker', query);
}

/**
 * `StoreInspection.listWorkers`: workers seen within `seenWithinMs` of the database's now (through
 * the last-seen index), by worker id, sorted here so the order is the same in every store.
 *
 * @example
 * const workers = await listWorkers(ctx, { seenWithinMs: 30_000 });
 */
export async function listWorkers(ctx: StoreContext, params: ListWorkersParams): Promise<WorkerRow[]> {
  const query = sql`SELECT ${WORKER_COLUMNS} FROM ${ctx.tables.workers}
WHERE last_seen_at >= now() - ${params.seenWithinMs}::float8 * ${MS}`;
  const rows = (await ctx.statements.rows('listWorkers', query)).map(workerRow);
  return rows.sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0));
}
