import type { CancelParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { idList, text } from '../encode.js';
import { mysqlFailure } from '../errors.js';
import { type StoreContext, transact } from '../run.js';
import { filterConditions, lockMatching } from './filter.js';

/**
 * `StoreAdmin.cancel`: in one transaction (the caller's when given), the rows to remove are locked
 * (`lockMatching`: only those, skipping rows another transaction holds), then copied to the
 * archive and deleted by primary key. A worker running a
 * removed row finds it gone at its next `checkLeases`, and its settle is fenced out.
 */
export async function cancel(ctx: StoreContext, params: CancelParams<MySqlTx>): Promise<string[]> {
  const run = async (db: MySqlTx): Promise<string[]> => {
    const conditions = filterConditions(params.filter ?? {});
    const ids = await lockMatching(db, ctx.events, conditions, params.ids, params.limit);
    if (ids.length === 0) return [];
    if (params.archive) {
      await db.execute(
        sql`INSERT INTO ${ctx.archive}
              (id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority,
               status, last_error, created_at, finished_at, trace_context, partition_key)
            SELECT id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority,
                   'cancelled', ${text(params.reason)}, created_at, UTC_TIMESTAMP(6), trace_context, partition_key
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
