import { sql } from 'drizzle-orm';
import { dateOf, epochMs } from '../rows.js';
import { ALWAYS, type StoreContext } from '../run.js';

/**
 * `QueueStore.now`: the database's clock, to the millisecond.
 *
 * @example
 * const dbNow = await now(ctx);
 */
export async function now(ctx: StoreContext): Promise<Date> {
  const [row] = await ctx.statements.rows('now', sql`SELECT ${epochMs('now()')} AS now WHERE ${ALWAYS}`);
  return dateOf(row?.[0], 'now()');
}
