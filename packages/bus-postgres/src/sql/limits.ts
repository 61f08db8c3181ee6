import type { LimitsRow, SetLimitsParams } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { PgTx } from '../client.js';
import { LIMITS_COLUMNS, limitsRow } from '../rows.js';
import { ALWAYS, type StoreContext } from '../run.js';

/**
 * `StoreAdmin.setLimits` in one statement (in `params.tx` when given). `null` limits delete the
 * queue's row. Otherwise an upsert on the queue's primary key: a new row gets the signature given
 * (or none) and no key cursor; an existing one gets the limits and updated at = now, keeps its
 * key cursor, and with a signature given changes only when its stored signature differs (without
 * one it always changes and keeps the stored signature). One statement text for both cases, so
 * the prepared statement is shared. Returns whether it wrote.
 *
 * @example
 * const wrote = await setLimits(ctx, { queue: 'email', limits: { concurrency: 5, keyConcurrency: null, rateLimit: null, ratePeriodMs: null, keyRateLimit: null, keyRatePeriodMs: null, fair: false }, signature: 'cfg-1' });
 */
export async function setLimits(ctx: StoreContext, params: SetLimitsParams<PgTx>): Promise<boolean> {
  const { limits: table } = ctx.tables;
  const { queue, limits } = params;
  if (limits === null) {
    const query = sql`DELETE FROM ${table} WHERE queue = ${queue}::text RETURNING queue::text AS queue`;
    return (await ctx.statements.rows('setLimits', query, params.tx)).length > 0;
  }
  const signature = params.signature ?? null;
  const query = sql`INSERT INTO ${table} AS l (queue, concurrency, key_concurrency, rate_limit, rate_period_ms,
  key_rate_limit, key_rate_period_ms, fair, signature, updated_at)
VALUES (${queue}::text, ${limits.concurrency}::int4, ${limits.keyConcurrency}::int4, ${limits.rateLimit}::int4,
  ${limits.ratePeriodMs}::int4, ${limits.keyRateLimit}::int4, ${limits.keyRatePeriodMs}::int4, ${limits.fair}::boolean,
  ${signature}::text, now())
ON CONFLICT (queue) DO UPDATE SET concurrency = EXCLUDED.concurrency, key_concurrency = EXCLUDED.key_concurrency,
  rate_limit = EXCLUDED.rate_limit, rate_period_ms = EXCLUDED.rate_period_ms, key_rate_limit = EXCLUDED.key_rate_limit,
  key_rate_period_ms = EXCLUDED.key_rate_period_ms, fair = EXCLUDED.fair,
  signature = coalesce(EXCLUDED.signature, l.signature), updated_at = now()
WHERE EXCLUDED.signature IS NULL OR l.signature IS DISTINCT FROM EXCLUDED.signature
RETURNING l.queue::text AS queue`;
  return (await ctx.statements.rows('setLimits', query, params.tx)).length > 0;
}

/**
 * `StoreInspection.listLimits`: every queue's limits, sorted by queue here so the order is the
 * same in every store (an SQL `ORDER BY` would follow the database's collation).
 *
 * @example
 * const rows = await listLimits(ctx);
 */
export async function listLimits(ctx: StoreContext): Promise<LimitsRow[]> {
  // ALWAYS: every statement binds a parameter (see `Statements.rows`).
  const query = sql`SELECT ${LIMITS_COLUMNS} FROM ${ctx.tables.limits} WHERE ${ALWAYS}`;
  const rows = (await ctx.statements.rows('listLimits', query)).map(limitsRow);
  return rows.sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
}
