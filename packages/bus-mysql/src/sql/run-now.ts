import type { RunNowParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { idList } from '../encode.js';
import { mysqlFailure } from '../errors.js';
import { type StoreContext, select, transact } from '../run.js';

/**
 * `StoreAdmin.runNow`: in one transaction (the caller's when given), lock the unleased rows of
 * `ids` (waiting for a claim in flight, whose commit then leases the row and leaves it out), then
 * move their due time to now unless it is earlier already. Neither server has `UPDATE …
 * RETURNING`, hence the locking read for the ids.
 */
export async function runNow(ctx: StoreContext, params: RunNowParams<MySqlTx>): Promise<string[]> {
  const run = async (db: MySqlTx): Promise<string[]> => {
    const rows = await select(
      db,
      sql`SELECT CAST(id AS CHAR) AS row_id FROM ${ctx.events}
          WHERE id IN (${idList(params.ids)}) AND locked_until IS NULL
          ORDER BY id FOR UPDATE`,
    );
    if (rows.length === 0) return [];
    const ids = rows.map((r) => String(r.row_id));
    await db.execute(
      sql`UPDATE ${ctx.events} SET scheduled_at = LEAST(scheduled_at, UTC_TIMESTAMP(6))
          WHERE id IN (${idList(ids)})`,
    );
    return ids;
  };
  if (params.tx === undefined) return transact(ctx, 'runNow', run);
  try {
    return await run(params.tx);
  } catch (error) {
    throw mysqlFailure('runNow', error);
  }
}
