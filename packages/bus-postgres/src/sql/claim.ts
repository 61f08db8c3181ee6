import type { ClaimedEvent, ClaimParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { MS, pgArray } from '../encode.js';
import { CLAIM_COLUMNS, claimedEvent } from '../rows.js';
import type { StoreContext } from '../run.js';

/**
 * `QueueStore.claim` in one statement: pick due, unleased rows of the given handlers through the
 * partial claim index, skipping rows other claimers hold, lease them, and hand them back in claim
 * order. Rows of other handlers are passed over in the index walk (a filter, not a sort), so the
 * plan stays an ordered index scan that stops at LIMIT.
 *
 * @example
 * const rows = await claim(ctx, { queue: 'email', limit: 10, workerId: 'w1', leaseMs: 30_000, handlers: ['send'] });
 */
export async function claim(ctx: StoreContext, params: ClaimParams): Promise<ClaimedEvent[]> {
  const { events } = ctx.tables;
  const { queue, limit, workerId, leaseMs, handlers } = params;
  // The picked ids reach the UPDATE as an array (`id = ANY(ARRAY(…))`), so it probes the primary
  // key once per row; `UPDATE … FROM picked` gets a hash join over a sequential scan of the
  // whole table once it holds some 40k rows.
  const query = sql`WITH claimed AS (
  UPDATE ${events} e
  SET attempts = e.attempts + 1, locked_by = ${workerId}::text, locked_until = now() + ${leaseMs}::float8 * ${MS}
  WHERE e.id = ANY(ARRAY(
    SELECT id FROM ${events}
    WHERE queue = ${queue}::text AND locked_until IS NULL AND scheduled_at <= now()
      AND handler_name = ANY(${pgArray(handlers)}::text[])
    ORDER BY priority, scheduled_at, id
    LIMIT ${limit}::int4
    FOR UPDATE SKIP LOCKED))
  RETURNING e.id, e.queue, e.event_name, e.handler_name, e.payload, e.attempts, e.max_retries, e.priority,
    e.scheduled_at, e.created_at, e.trace_context, e.snoozes, e.partition_key
)
SELECT ${CLAIM_COLUMNS} FROM claimed ORDER BY claimed.priority, claimed.scheduled_at, claimed.id`;
  return (await ctx.statements.rows('claim', query)).map(claimedEvent);
}
