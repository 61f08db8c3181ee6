import type { ListWorkersParams, RecordWorkerParams, WorkerRow } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { micros, text } from '../encode.js';
import { WORKER_COLUMNS, workerRow } from '../rows.js';
import { read, type StoreContext, select, transact, write } from '../run.js';

function workersOf(ctx: StoreContext) {
  return sql.identifier(ctx.tables.workersTable);
}

/**
 * `StoreAdmin.recordWorker`: one upsert. The new values are repeated as literals in the update
 * rather than read with `VALUES(col)`, which MySQL 8.0.20+ deprecates (and MariaDB lacks the
 * `AS new` alias that replaces it).
 */
export async function recordWorker(ctx: StoreContext, params: RecordWorkerParams): Promise<void> {
  const queues = text(JSON.stringify(params.queues.map(String)));
  const info = text(params.info);
  await transact(ctx, 'recordWorker', (tx) =>
    write(
      tx,
      sql`INSERT INTO ${workersOf(ctx)} (worker_id, queues, info, started_at, last_seen_at)
          VALUES (${text(params.workerId)}, ${queues}, ${info}, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))
          ON DUPLICATE KEY UPDATE queues = ${queues}, info = ${info}, last_seen_at = UTC_TIMESTAMP(6)`,
    ),
  );
}

/** `StoreAdmin.removeWorker`: deletes the record by its key. */
export async function removeWorker(ctx: StoreContext, params: { workerId: string }): Promise<void> {
  await transact(ctx, 'removeWorker', (tx) =>
    write(tx, sql`DELETE FROM ${workersOf(ctx)} WHERE worker_id = ${text(params.workerId)}`),
  );
}

/**
 * `StoreInspection.listWorkers`: workers seen within the window (a range of last_seen_at_idx), by
 * worker id.
 */
export async function listWorkers(ctx: StoreContext, params: ListWorkersParams): Promise<WorkerRow[]> {
  const rows = await read('listWorkers', () =>
    select(
      ctx.db,
      sql`SELECT ${WORKER_COLUMNS} FROM ${workersOf(ctx)}
          WHERE last_seen_at >= UTC_TIMESTAMP(6) - INTERVAL ${micros(params.seenWithinMs)} MICROSECOND
          ORDER BY worker_id`,
    ),
  );
  return rows.map(workerRow);
}
