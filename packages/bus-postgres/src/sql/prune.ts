import type { PruneParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import { MS } from '../encode.js';
import { intOf } from '../rows.js';
import type { StoreContext } from '../run.js';

/**
 * `QueueStore.prune`: deletes the oldest finished archive rows past the age, skipping rows
 * another prune is deleting, and returns how many went.
 *
 * @example
 * const deleted = await prune(ctx, { olderThanMs: 7 * 86_400_000, limit: 1000 });
 */
export async function prune(ctx: StoreContext, params: PruneParams): Promise<number> {
  const { archive } = ctx.tables;
  // The picked ids reach the DELETE as an array (`id = ANY(ARRAY(…))`), so it probes the
  // primary key once per row; `DELETE … USING old` was planned as a hash join over a sequential
  // scan of the whole archive (seen in test/plans.test.ts), which at millions of archived rows
  // is a full read per prune.
  const query = sql`WITH pruned AS (
  DELETE FROM ${archive}
  WHERE id = ANY(ARRAY(
    SELECT id FROM ${archive}
    WHERE finished_at < now() - ${params.olderThanMs}::float8 * ${MS}
    ORDER BY finished_at
    LIMIT ${params.limit}::int4
    FOR UPDATE SKIP LOCKED))
  RETURNING 1
)
SELECT count(*)::text AS n FROM pruned`;
  const [row] = await ctx.statements.rows('prune', query);
  return row === undefined ? 0 : intOf(row[0], 'count');
}
