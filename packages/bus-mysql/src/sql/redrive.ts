import type { RedriveParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { idList, text } from '../encode.js';
import { mysqlFailure } from '../errors.js';
import { type StoreContext, transact } from '../run.js';
import { filterConditions, lockMatching } from './filter.js';

/**
 * `StoreAdmin.redrive`: in one transaction (the caller's when given), the matching archive rows
 * are locked (`lockMatching`: only those, lowest id first, skipping rows another redrive or prune
 * holds); then `INSERT … SELECT` back into the hot table under the same ids (an explicit value
 * below the AUTO_INCREMENT counter leaves the counter alone), fresh attempts and snoozes, due
 * now, last error kept; then the delete from the archive, and the keys those ids held let go. No wake-up: MySQL has no notify, and
 * pollers find the rows at their next claim.
 */
export async function redrive(ctx: StoreContext, params: RedriveParams<MySqlTx>): Promise<string[]> {
  const run = async (db: MySqlTx): Promise<string[]> => {
    const conditions = filterConditions(params.filter ?? {});
    conditions.push(sql`status IN (${sql.join(params.statuses.map(text), sql`, `)})`);
    const ids = await lockMatching(db, ctx.archive, conditions, params.ids, params.limit);
    if (ids.length === 0) return [];
    await db.execute(
      sql`INSERT INTO ${ctx.events}
            (id, queue, event_name, handler_name, payload, payload_json, attempts, max_retries, priority,
             scheduled_at, locked_until, locked_by, last_error, created_at, trace_context, snoozes, partition_key)
          SELECT id, queue, event_name, handler_name, payload, payload_json, 0, max_retries, priority,
                 UTC_TIMESTAMP(6), NULL, NULL, last_error, created_at, trace_context, 0, partition_key
          FROM ${ctx.archive} WHERE id IN (${idList(ids)})`,
    );
    await db.execute(sql`DELETE FROM ${ctx.archive} WHERE id IN (${idList(ids)})`);
    // A redriven row comes back without its key, as on PostgreSQL (whose archive keeps none): a
    // key whose live holder is one of these ids no longer names it (0 is no row's id). The keys
    // table has no index on live_id, so this reads it whole: one pass per redrive batch.
    await db.execute(
      sql`UPDATE ${sql.identifier(ctx.tables.keysTable)} SET live_id = 0 WHERE live_id IN (${idList(ids)})`,
    );
    return ids;
  };
  if (params.tx === undefined) return transact(ctx, 'redrive', run);
  try {
    return await run(params.tx);
  } catch (error) {
    throw mysqlFailure('redrive', error);
  }
}
