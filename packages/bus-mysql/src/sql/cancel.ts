import type { CancelParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { idList, intLiteral, text } from '../encode.js';
import { mysqlFailure } from '../errors.js';
import { type StoreContext, select, transact } from '../run.js';
import { filterConditions, whereAll } from './filter.js';

/**
 * `StoreAdmin.cancel`: in one transaction (the caller's when given), the rows to remove are locked
 * (see `lockTargets`), then copied to the archive and deleted by primary key. A worker running a
 * removed row finds it gone at its next `checkLeases`, and its settle is fenced out.
 */
export async function cancel(ctx: StoreContext, params: CancelParams<MySqlTx>): Promise<string[]> {
  const run = async (db: MySqlTx): Promise<string[]> => {
    const ids = await lockTargets(db, ctx, params);
    if (ids.length === 0) return [];
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

/**
 * Locks up to `limit` live rows matching the target, lowest id first, skipping rows another
 * transaction holds (a claim or a settle in flight: a later call takes them). MariaDB keeps every
 * row a locking read passes over locked until commit, and the optimizer reads a filter such as
 * `state: 'available'` through locked_until_idx (every unleased row of every queue), so a single
 * `FOR UPDATE SKIP LOCKED` scan would stall the claims of every queue while the cancel runs.
 * Instead, without ids: a plain read (no locks) of the next candidate ids in id order, then a
 * locking read of just those by primary key with the filter checked again, repeated after the
 * last candidate until `limit` rows are locked or the candidates run out, so a short result
 * still means "nothing more matches" (the core's loop stops on it).
 */
async function lockTargets(db: MySqlTx, ctx: StoreContext, params: CancelParams<MySqlTx>): Promise<string[]> {
  const conditions = filterConditions(params.filter ?? {});
  // By primary key only: with a state condition beside the ids the optimizer may otherwise pick
  // locked_until_idx, and lock what that walks.
  const lock = (ids: readonly string[]) =>
    select(
      db,
      sql`SELECT CAST(id AS CHAR) AS row_id FROM ${ctx.events} FORCE INDEX (PRIMARY)
          ${whereAll([...conditions, sql`id IN (${idList(ids)})`])}
          ORDER BY id LIMIT ${intLiteral(params.limit)}
          FOR UPDATE SKIP LOCKED`,
    );
  if (params.ids !== undefined) return (await lock(params.ids)).map((r) => String(r.row_id));
  const locked: string[] = [];
  let after: string | undefined;
  while (locked.length < params.limit) {
    const want = params.limit - locked.length;
    const candidates = await select(
      db,
      sql`SELECT CAST(id AS CHAR) AS row_id FROM ${ctx.events}
          ${whereAll(after === undefined ? conditions : [...conditions, sql`id > ${idList([after])}`])}
          ORDER BY id LIMIT ${intLiteral(want)}`,
    );
    if (candidates.length === 0) break;
    const ids = candidates.map((r) => String(r.row_id));
    locked.push(...(await lock(ids)).map((r) => String(r.row_id)));
    after = ids[ids.length - 1];
    if (candidates.length < want) break;
  }
  return locked;
}
