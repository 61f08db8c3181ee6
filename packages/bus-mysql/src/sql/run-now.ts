import type { RunNowParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { idList } from '../encode.js';
import { mysqlFailure } from '../errors.js';
import { type StoreContext, select, transact } from '../run.js';

/**
 * `StoreAdmin.runNow`: in one transaction (the caller's when given), lock the rows of `ids`
 * (waiting for a claim in flight, whose commit then leases the row and leaves it out), then move
 * the unleased ones' due time to now unless it is earlier already. Neither server has `UPDATE …
 * RETURNING`, hence the locking read for the ids.
 */
export async function runNow(ctx: StoreContext, params: RunNowParams<MySqlTx>): Promise<string[]> {
  const run = async (db: MySqlTx): Promise<string[]> => {
    // Only the primary key in the WHERE: with `locked_until IS NULL` there the optimizer may
    // read through locked_until_idx, and FOR UPDATE would then lock every unleased row it reads
    // (claims would skip them). The lease is checked on the locked rows instead.
    const rows = await select(
      db,
      sql`SELECT CAST(id AS CHAR) AS row_id, locked_until FROM ${ctx.events}
          WHERE id IN (${idList(params.ids)})
          ORDER BY id FOR UPDATE`,
    );
    const ids = rows.filter((r) => r.locked_until === null).map((r) => String(r.row_id));
    if (ids.length === 0) return [];
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
