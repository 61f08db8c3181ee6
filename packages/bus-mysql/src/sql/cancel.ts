import type { CancelParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { idList, intLiteral, text } from '../encode.js';
import { mysqlFailure } from '../errors.js';
import { type StoreContext, select, transact } from '../run.js';
import { filterConditions, whereAll } from './filter.js';

/**
 * `StoreAdmin.cancel`: in one transaction (the caller's when given), a locking read of the
 * matching rows, lowest id first, that skips rows another transaction holds (a claim or a settle
 * in flight: a later call takes them), then the archive copy and the delete by primary key. A
 * worker running a removed row finds it gone at its next `checkLeases`, and its settle is fenced
 * out.
 */
export async function cancel(ctx: StoreContext, params: CancelParams<MySqlTx>): Promise<string[]> {
  const run = async (db: MySqlTx): Promise<string[]> => {
    const conditions = filterConditions(params.filter ?? {});
    if (params.ids !== undefined) conditions.push(sql`id IN (${idList(params.ids)})`);
    const rows = await select(
      db,
      sql`SELECT CAST(id AS CHAR) AS row_id FROM ${ctx.events} ${whereAll(conditions)}
          ORDER BY id LIMIT ${intLiteral(params.limit)}
          FOR UPDATE SKIP LOCKED`,
    );
    if (rows.length === 0) return [];
    const ids = rows.map((r) => String(r.row_id));
    if (params.archive) {
      await db.execute(
        sql`INSERT INTO ${ctx.archive}
              (id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority,
               status, last_error, created_at, finished_at, trace_context)
            SELECT id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority,
                   'cancelled', ${text(params.reason)}, created_at, UTC_TIMESTAMP(6), trace_context
            FROM ${ctx.events} WHERE id IN (${idList(ids)})`,
      );
    }
    await db.execute(sql`DELETE FROM ${ctx.events} WHERE id IN (${idList(ids)})`);
    return ids;
  };
  if (params.tx === undefined) return transact(ctx, 'cancel', run);
  try {
    return await run(params.tx);
  } catch (error) {
    throw mysqlFailure('cancel', error);
  }
}
