import type {
  RecordTickParams,
  ScheduleRow,
  SetSchedulePausedParams,
  SyncSchedulesParams,
} from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { formatUtc, quote, text } from '../encode.js';
import { mysqlFailure } from '../errors.js';
import { parseUtc, parseUtcOrNull } from '../rows.js';
import { read, type StoreContext, select, transact, write } from '../run.js';

function schedulesOf(ctx: StoreContext) {
  return sql.identifier(ctx.tables.schedulesTable);
}

/**
 * `StoreSchedules.sync`: one upsert; an existing row changes only when its signature differs
 * (then the anchor moves to now; the anchor is assigned first, while `signature` still holds the
 * old value).
 *
 * @example
 * await syncSchedules(ctx, { schedules: [{ name: 'nightly', signature: 'cron 0 0 3 * * * UTC' }] });
 */
export async function syncSchedules(ctx: StoreContext, params: SyncSchedulesParams): Promise<void> {
  if (params.schedules.length === 0) return;
  const values = params.schedules
    .map((s) => `(${quote(s.name)}, ${quote(s.signature)}, UTC_TIMESTAMP(6))`)
    .join(', ');
  await transact(ctx, 'schedules sync', (db) =>
    write(
      db,
      sql`INSERT INTO ${schedulesOf(ctx)} (name, signature, anchor_at) VALUES ${sql.raw(values)}
ON DUPLICATE KEY UPDATE
  anchor_at = IF(signature <> VALUES(signature), VALUES(anchor_at), anchor_at),
  signature = VALUES(signature)`,
    ),
  );
}

/**
 * `StoreSchedules.list`: every row, sorted by name here (not by the database's collation).
 *
 * @example
 * const rows = await listSchedules(ctx);
 */
export async function listSchedules(ctx: StoreContext): Promise<ScheduleRow[]> {
  const rows = await read('schedules list', () =>
    select(
      ctx.db,
      sql`SELECT CONVERT(name USING utf8mb4) AS name, signature, CAST(paused AS CHAR) AS paused, anchor_at, last_tick_at, next_tick_at
FROM ${schedulesOf(ctx)}`,
    ),
  );
  return rows
    .map((r) => ({
      name: String(r.name),
      signature: String(r.signature),
      paused: String(r.paused) === '1',
      anchorAt: parseUtc(r.anchor_at),
      lastTickAt: parseUtcOrNull(r.last_tick_at),
      nextTickAt: parseUtcOrNull(r.next_tick_at),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * `StoreSchedules.recordTick`: a compare-and-set UPDATE; a concurrent recorder waits on the row
 * lock and then reads the committed last tick (an UPDATE reads the latest version).
 *
 * @example
 * const recorded = await recordTick(ctx, { name, tickAt, nextTickAt, signature, tx });
 */
export async function recordTick(ctx: StoreContext, params: RecordTickParams<MySqlTx>): Promise<boolean> {
  const tick = quote(formatUtc(params.tickAt));
  const next = params.nextTickAt === null ? 'NULL' : quote(formatUtc(params.nextTickAt));
  const statement = sql`UPDATE ${schedulesOf(ctx)} SET last_tick_at = ${sql.raw(tick)}, next_tick_at = ${sql.raw(next)}
WHERE name = ${text(params.name)} AND NOT paused AND signature = ${text(params.signature)}
  AND (last_tick_at IS NULL OR last_tick_at < ${sql.raw(tick)})`;
  const run = async (db: MySqlTx) => (await write(db, statement)).affectedRows > 0;
  if (params.tx === undefined) return transact(ctx, 'schedules recordTick', run);
  try {
    return await run(params.tx);
  } catch (error) {
    throw mysqlFailure('schedules recordTick', error);
  }
}

/**
 * `StoreSchedules.setPaused`: found rows count (mysql2's FOUND_ROWS flag), so setting the
 * current value still says the schedule exists.
 *
 * @example
 * await setSchedulePaused(ctx, { name: 'nightly', paused: true });
 */
export async function setSchedulePaused(
  ctx: StoreContext,
  params: SetSchedulePausedParams,
): Promise<boolean> {
  return transact(ctx, 'schedules setPaused', async (db) => {
    const found = await select(
      db,
      sql`SELECT 1 AS found FROM ${schedulesOf(ctx)} WHERE name = ${text(params.name)} FOR UPDATE`,
    );
    if (found.length === 0) return false;
    await write(
      db,
      sql`UPDATE ${schedulesOf(ctx)} SET paused = ${sql.raw(params.paused ? 'TRUE' : 'FALSE')} WHERE name = ${text(params.name)}`,
    );
    return true;
  });
}
