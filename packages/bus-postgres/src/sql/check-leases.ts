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
  // No `locked_until IS NOT NULL`: a row has a holder exactly when it has a lease (the claim sets
  // both, every hand-back clears both), so the holder check is the lease check, and that clause
  // would let the planner read a partial index over leased rows whole for each id when its
  // statistics saw none leased (test/plans.test.ts, "probes by id").
  // LATERAL keeps the held rows on the outer side, one primary-key probe each (as settle does);
  // OFFSET 0 keeps the planner from flattening it into a join, whose generic plan scans the whole
  // lease index instead: every running row of every queue, every second, in every process.
  const query = sql`SELECT e.id::text AS id
FROM unnest(${ids}::int8[], ${attempts}::int4[]) AS i(id, attempt)
CROSS JOIN LATERAL (
  SELECT e.id FROM ${ctx.tables.events} e
  WHERE e.id = i.id AND e.locked_by = ${params.workerId}::text AND e.attempts = i.attempt
  OFFSET 0
) e`;
  const rows = await ctx.statements.rows('checkLeases', query);
  return rows.map((r) => textOf(r[0], 'id'));
}
