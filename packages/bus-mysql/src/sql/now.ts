import { sql } from 'drizzle-orm';
import { parseUtc } from '../rows.js';
import { read, type StoreContext, select } from '../run.js';

/** `QueueStore.now`: the database's UTC clock, whatever the session's time zone. */
export async function now(ctx: StoreContext): Promise<Date> {
  const [row] = await read('now', () => select(ctx.db, sql`SELECT UTC_TIMESTAMP(6) AS now`));
  return parseUtc(row?.now);
}
