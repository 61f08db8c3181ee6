import type { LimitsRow, SetLimitsParams, StoredLimits } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { text } from '../encode.js';
import { mysqlFailure } from '../errors.js';
import { parseUtc } from '../rows.js';
import { type Cell, type Row, read, type StoreContext, select, transact, write } from '../run.js';

/** The limits table's quoted name. */
export function limitsOf(ctx: StoreContext): SQL {
  return sql`${sql.identifier(ctx.tables.limitsTable)}`;
}

/** What `listLimits` and the limited claim read of a limits row (`storedLimits`). */
export const LIMITS_COLUMNS = sql.raw(
  'queue, concurrency, key_concurrency, rate_limit, rate_period_ms, key_rate_limit, key_rate_period_ms, ' +
    'CAST(fair AS CHAR) AS fair, key_cursor, updated_at',
);

function intOrNull(value: Cell | undefined): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** The limits of a row read with `LIMITS_COLUMNS`. */
export function storedLimits(r: Row): StoredLimits {
  return {
    concurrency: intOrNull(r.concurrency),
    keyConcurrency: intOrNull(r.key_concurrency),
    rateLimit: intOrNull(r.rate_limit),
    ratePeriodMs: intOrNull(r.rate_period_ms),
    keyRateLimit: intOrNull(r.key_rate_limit),
    keyRatePeriodMs: intOrNull(r.key_rate_period_ms),
    fair: String(r.fair) === '1',
  };
}

// Numbers through Number() (the core validated them): anything else can only fail the statement.
function intSql(value: number | null): SQL {
  return sql.raw(value === null ? 'NULL' : String(Number(value)));
}

/**
 * `StoreInspection.listLimits`: the whole (small) table in primary key order, which is the
 * queue names' byte order.
 */
export async function listLimits(ctx: StoreContext): Promise<LimitsRow[]> {
  const rows = await read('listLimits', () =>
    select(ctx.db, sql`SELECT ${LIMITS_COLUMNS} FROM ${limitsOf(ctx)} ORDER BY queue`),
  );
  return rows.map((r) => ({ queue: String(r.queue), ...storedLimits(r), updatedAt: parseUtc(r.updated_at) }));
}

/**
 * `StoreAdmin.setLimits`, in the caller's transaction or a short one of its own. Deleting is one
 * DELETE. Storing is two statements: an INSERT of the row that, when it is there already, only
 * locks it (`ON DUPLICATE KEY UPDATE queue = queue`, an exclusive lock: concurrent first writes
 * of a queue wait on each other instead of deadlocking, as shared locks taken on a duplicate key
 * would), then the UPDATE of the values (with a signature: only where the stored one differs,
 * which a new row's NULL does). The UPDATE's count decides, not the INSERT's, which mysql2's
 * FOUND_ROWS flag makes the same for "inserted" and "found". The key cursor is never written
 * here: an update keeps it, a new row starts without one.
 */
export async function setLimits(ctx: StoreContext, params: SetLimitsParams<MySqlTx>): Promise<boolean> {
  const queue = text(params.queue);
  const { signature, limits } = params;
  // `<=>` is MySQL's IS NOT DISTINCT FROM: a NULL stored signature differs from any given one.
  const differs = signature === undefined ? sql`` : sql` AND NOT (signature <=> ${text(signature)})`;
  const run = async (db: MySqlTx): Promise<boolean> => {
    if (limits === null) {
      return (
        (await write(db, sql`DELETE FROM ${limitsOf(ctx)} WHERE queue = ${queue}${differs}`)).affectedRows > 0
      );
    }
    const fair = sql.raw(limits.fair ? 'TRUE' : 'FALSE');
    await write(
      db,
      sql`INSERT INTO ${limitsOf(ctx)} (queue, concurrency, key_concurrency, rate_limit, rate_period_ms,
            key_rate_limit, key_rate_period_ms, fair, updated_at)
          VALUES (${queue}, ${intSql(limits.concurrency)}, ${intSql(limits.keyConcurrency)},
            ${intSql(limits.rateLimit)}, ${intSql(limits.ratePeriodMs)}, ${intSql(limits.keyRateLimit)},
            ${intSql(limits.keyRatePeriodMs)}, ${fair}, UTC_TIMESTAMP(6))
          ON DUPLICATE KEY UPDATE queue = queue`,
    );
    const update = await write(
      db,
      sql`UPDATE ${limitsOf(ctx)}
          SET concurrency = ${intSql(limits.concurrency)}, key_concurrency = ${intSql(limits.keyConcurrency)},
            rate_limit = ${intSql(limits.rateLimit)}, rate_period_ms = ${intSql(limits.ratePeriodMs)},
            key_rate_limit = ${intSql(limits.keyRateLimit)}, key_rate_period_ms = ${intSql(limits.keyRatePeriodMs)},
            fair = ${fair}, updated_at = UTC_TIMESTAMP(6)
            ${signature === undefined ? sql`` : sql`, signature = ${text(signature)}`}
          WHERE queue = ${queue}${differs}`,
    );
    // With a signature, a row the UPDATE matches changes (its signature does), so the count says
    // whether it wrote under any client flags; without one the write always happens.
    return signature === undefined || update.affectedRows > 0;
  };
  if (params.tx === undefined) return transact(ctx, 'setLimits', run);
  try {
    return await run(params.tx);
  } catch (error) {
    throw mysqlFailure('setLimits', error);
  }
}
