import type { PruneParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { idList, intLiteral, micros } from '../encode.js';
import { type StoreContext, select, transact, write } from '../run.js';

/**
 * `QueueStore.prune`: deletes up to `limit` archive rows finished before now - `olderThanMs`,
 * oldest first. The rows are picked with `SKIP LOCKED` and deleted by primary key, so two prunes
 * (two processes) split the old rows between them instead of one waiting for the other.
 */
export async function prune(ctx: StoreContext, params: PruneParams): Promise<number> {
  return transact(ctx, 'prune', async (tx) => {
    const rows = await select(
      tx,
      sql`SELECT CAST(id AS CHAR) AS row_id FROM ${ctx.archive} FORCE INDEX (finished_at_idx)
          WHERE finished_at < UTC_TIMESTAMP(6) - INTERVAL ${micros(params.olderThanMs)} MICROSECOND
          ORDER BY finished_at
          LIMIT ${intLiteral(params.limit)}
          FOR UPDATE SKIP LOCKED`,
    );
    if (rows.length === 0) return 0;
    const result = await write(
      tx,
      sql`DELETE FROM ${ctx.archive} WHERE id IN (${idList(rows.map((r) => String(r.row_id)))})`,
    );
    return result.affectedRows;
  });
}
