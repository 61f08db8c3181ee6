import type { CheckLeasesParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { pgArray, plainTextArray } from '../encode.js';
import { textOf } from '../rows.js';
import type { StoreContext } from '../run.js';

/**
 * `QueueStore.checkLeases`: which held rows still pass the fence, read without locking (the core
 * calls it about every second while rows run, to notice cancelled ones): one primary-key probe
 * per row.
 *
 * @example
 * const held = await checkLeases(ctx, { workerId: 'w1', events: [{ id: '1', attempt: 1 }] });
 */
export async function checkLeases(ctx: StoreContext, params: CheckLeasesParams): Promise<string[]> {
  const ids = plainTextArray(params.events.map((e) => e.id));
  const attempts = pgArray(params.events.map((e) => e.attempt));
  const query = sql`SELECT e.id::text AS id
FROM unnest(${ids}::int8[], ${attempts}::int4[]) AS i(id, attempt)
JOIN ${ctx.tables.events} e ON e.id = i.id
WHERE e.id = ANY(${ids}::int8[]) AND e.locked_by = ${params.workerId}::text AND e.attempts = i.attempt
  AND e.locked_until IS NOT NULL`;
  const rows = await ctx.statements.rows('checkLeases', query);
  return rows.map((r) => textOf(r[0], 'id'));
}
