import type { ExtendLeasesParams, HeldEvent, ReleaseParams } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import { MS, pgArray, plainTextArray } from '../encode.js';
import { textOf } from '../rows.js';
import type { StoreContext } from '../run.js';

/**
 * `QueueStore.extendLeases`: a new lease end for every held row whose fence holds.
 *
 * @example
 * const kept = await extendLeases(ctx, { workerId: 'w1', events: [{ id: '1', attempt: 1 }], leaseMs: 30_000 });
 */
export function extendLeases(ctx: StoreContext, params: ExtendLeasesParams): Promise<string[]> {
  const set = sql`locked_until = now() + ${params.leaseMs}::float8 * ${MS}`;
  return updateHeld(ctx, 'extendLeases', params.workerId, params.events, set);
}

/**
 * `QueueStore.release`: held rows back to available at once, their claim's attempt uncounted.
 *
 * @example
 * const released = await release(ctx, { workerId: 'w1', events: [{ id: '1', attempt: 1 }] });
 */
export function release(ctx: StoreContext, params: ReleaseParams): Promise<string[]> {
  const set = sql.raw('locked_until = NULL, locked_by = NULL, attempts = h.attempt - 1');
  return updateHeld(ctx, 'release', params.workerId, params.events, set);
}

// Locks the fenced rows in id order (two calls never deadlock on each other's rows), then sets `set`.
async function updateHeld(
  ctx: StoreContext,
  operation: string,
  workerId: string,
  events: readonly HeldEvent[],
  set: SQL,
): Promise<string[]> {
  const { events: table } = ctx.tables;
  const ids = plainTextArray(events.map((e) => e.id));
  const attempts = pgArray(events.map((e) => e.attempt));
  // No `locked_until IS NOT NULL`: a row has a holder exactly when it has a lease (the claim sets
  // both, every hand-back clears both), so the holder check is the lease check, and that clause
  // would let the planner read a partial index over leased rows whole for each id when its
  // statistics saw none leased (test/plans.test.ts, "probes by id").
  // One primary-key probe per held row, in id order (LATERAL, as in settle): joined, the generic
  // plan scans the whole lease index instead, every running row of every queue.
  const query = sql`WITH input AS (
  SELECT * FROM unnest(${ids}::int8[], ${attempts}::int4[]) AS i(id, attempt)
), held AS (
  SELECT e.id, i.attempt FROM (SELECT * FROM input ORDER BY id) i
  CROSS JOIN LATERAL (
    SELECT e.id FROM ${table} e
    WHERE e.id = i.id AND e.locked_by = ${workerId}::text AND e.attempts = i.attempt
    FOR UPDATE
  ) e
)
UPDATE ${table} e SET ${set}
FROM held h WHERE e.id = h.id
RETURNING e.id::text AS id`;
  const rows = await ctx.statements.rows(operation, query);
  return rows.map((r) => textOf(r[0], 'id'));
}
