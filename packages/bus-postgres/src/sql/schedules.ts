import type {
  RecordTickParams,
  ScheduleRow,
  SetSchedulePausedParams,
  SyncSchedulesParams,
} from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { PgTx } from '../client.js';
import { pgArray } from '../encode.js';
import { dateOf, dateOrNull, epochMs, textOf } from '../rows.js';
import { ALWAYS, type StoreContext } from '../run.js';

/**
 * `StoreSchedules.sync`: one upsert; an existing row changes only when its signature differs
 * (then the anchor moves to now).
 *
 * @example
 * await syncSchedules(ctx, { schedules: [{ name: 'nightly', signature: 'cron 0 0 3 * * * UTC' }] });
 */
export async function syncSchedules(ctx: StoreContext, params: SyncSchedulesParams): Promise<void> {
  if (params.schedules.length === 0) return;
  const { schedules } = ctx.tables;
  const names = params.schedules.map((s) => s.name);
  const signatures = params.schedules.map((s) => s.signature);
  await ctx.statements.rows(
    'schedules sync',
    sql`INSERT INTO ${schedules} AS s (name, signature, anchor_at)
SELECT n, sig, now() FROM unnest(${pgArray(names)}::text[], ${pgArray(signatures)}::text[]) AS i(n, sig)
ON CONFLICT (name) DO UPDATE SET signature = EXCLUDED.signature, anchor_at = now()
WHERE s.signature <> EXCLUDED.signature
RETURNING s.name::text AS name`,
  );
}

/**
 * `StoreSchedules.list`: every row, sorted by name here (not by the database's collation).
 *
 * @example
 * const rows = await listSchedules(ctx);
 */
export async function listSchedules(ctx: StoreContext): Promise<ScheduleRow[]> {
  const rows = await ctx.statements.rows(
    'schedules list',
    sql`SELECT name::text AS name, signature::text AS signature, paused::text AS paused, ${epochMs('anchor_at')} AS anchor,
  ${epochMs('last_tick_at')} AS last, ${epochMs('next_tick_at')} AS next FROM ${ctx.tables.schedules} WHERE ${ALWAYS}`,
  );
  return rows
    .map((r) => ({
      name: textOf(r[0], 'name'),
      signature: textOf(r[1], 'signature'),
      paused: textOf(r[2], 'paused') === 'true',
      anchorAt: dateOf(r[3], 'anchor_at'),
      lastTickAt: dateOrNull(r[4], 'last_tick_at'),
      nextTickAt: dateOrNull(r[5], 'next_tick_at'),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * `StoreSchedules.recordTick`: a compare-and-set on the schedule's row; a concurrent recorder
 * waits on the row lock and then re-checks the condition against the committed last tick.
 *
 * @example
 * const recorded = await recordTick(ctx, { name, tickAt, nextTickAt, signature, tx });
 */
export async function recordTick(ctx: StoreContext, params: RecordTickParams<PgTx>): Promise<boolean> {
  const tick = params.tickAt.toISOString();
  const next = params.nextTickAt === null ? null : params.nextTickAt.toISOString();
  const rows = await ctx.statements.rows(
    'schedules recordTick',
    sql`UPDATE ${ctx.tables.schedules} SET last_tick_at = ${tick}::timestamptz, next_tick_at = ${next}::timestamptz
WHERE name = ${params.name}::text AND NOT paused AND signature = ${params.signature}::text
  AND (last_tick_at IS NULL OR last_tick_at < ${tick}::timestamptz)
RETURNING name::text AS name`,
    params.tx,
  );
  return rows.length > 0;
}

/**
 * `StoreSchedules.setPaused`.
 *
 * @example
 * await setSchedulePaused(ctx, { name: 'nightly', paused: true });
 */
export async function setSchedulePaused(
  ctx: StoreContext,
  params: SetSchedulePausedParams,
): Promise<boolean> {
  const rows = await ctx.statements.rows(
    'schedules setPaused',
    sql`UPDATE ${ctx.tables.schedules} SET paused = ${params.paused}::boolean WHERE name = ${params.name}::text
RETURNING name::text AS name`,
  );
  return rows.length > 0;
}
