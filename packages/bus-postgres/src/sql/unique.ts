import { BusError } from 'bus-core';
import type {
  InsertUniqueParams,
  PruneKeysParams,
  UniqueInsertResult,
  UniqueNewEventRow,
} from 'bus-core/driver';
import { payloadJsonOf } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { PgTx } from '../client.js';
import { hexOf, MS, storableText } from '../encode.js';
import { epochMs, intOf, textOf } from '../rows.js';
import { ALWAYS, type StoreContext } from '../run.js';

// A duplicate whose holder left the hot table between our insert and our look-up is inserted
// again; this bounds how often (each round means another row took and released the key).
const TRIES = 10;

/**
 * `StoreUnique.insert`: row by row in one transaction (the caller's or one of its own). The
 * partial unique index on (handler_name, unique_key) decides live duplicates (`ON CONFLICT DO
 * NOTHING` waits for an uncommitted holder, then inserts if it rolled back); for `holdMs` keys
 * the keys table's primary key decides, an expired key being taken over by `ON CONFLICT DO
 * UPDATE … WHERE expires_at <= now()` on the locked row. A look-up after a conflict runs as a
 * statement of its own, so it sees the holder that committed while the insert waited.
 *
 * @example
 * const results = await insertUnique(ctx, { rows });
 */
export function insertUnique(
  ctx: StoreContext,
  params: InsertUniqueParams<PgTx>,
): Promise<UniqueInsertResult[]> {
  const [only] = params.rows;
  if (
    params.tx === undefined &&
    params.rows.length === 1 &&
    only!.unique.holdMs === null &&
    only!.unique.bucketMs === null
  ) {
    // One live-only row: its insert is one atomic statement (the look-up after a conflict needs no
    // transaction either), so no BEGIN/COMMIT round trips.
    return insertOne(ctx, only!, only!.unique.key, undefined).then((r) => [r]);
  }
  return ctx.statements.transaction(
    async (tx) => {
      const nowMs = params.rows.some((r) => r.unique.bucketMs !== null) ? await dbNowMs(ctx, tx) : 0;
      const results: UniqueInsertResult[] = [];
      for (const row of params.rows) results.push(await insertOne(ctx, row, storedKey(row, nowMs), tx));
      return results;
    },
    params.tx,
    params.tx === undefined ? { lostInFlight: 'PUBLISH_OUTCOME_UNKNOWN' } : {},
  );
}

function storedKey(row: UniqueNewEventRow, nowMs: number): string {
  const { key, bucketMs } = row.unique;
  return bucketMs === null ? key : `${key}@${Math.floor(nowMs / bucketMs)}`;
}

async function dbNowMs(ctx: StoreContext, tx: PgTx): Promise<number> {
  const [r] = await ctx.statements.rows(
    'unique insert',
    sql`SELECT ${epochMs('now()')} AS now WHERE ${ALWAYS}`,
    tx,
  );
  return intOf(r?.[0], 'now()');
}

async function insertOne(
  ctx: StoreContext,
  row: UniqueNewEventRow,
  key: string,
  tx: PgTx | undefined,
): Promise<UniqueInsertResult> {
  const { events, keys } = ctx.tables;
  for (let attempt = 1; ; attempt++) {
    const inserted = await ctx.statements.rows(
      'unique insert',
      insertStatement(ctx, row, key),
      tx,
      // Without a transaction the statement commits by itself: lost in flight, it may have.
      {
        oversized: 'PUBLISH_FAILED',
        ...(tx === undefined ? { lostInFlight: 'PUBLISH_OUTCOME_UNKNOWN' as const } : {}),
      },
    );
    const id = inserted[0] === undefined ? undefined : textOf(inserted[0][0], 'id');
    if (id === undefined) {
      const holder = await ctx.statements.rows(
        'unique insert',
        sql`SELECT id::text AS id FROM ${events} WHERE handler_name = ${row.handlerName}::text AND unique_key = ${key}::text`,
        tx,
      );
      if (holder[0] !== undefined) return { id: textOf(holder[0][0], 'id'), duplicate: true };
      if (attempt >= TRIES) {
        throw new BusError(
          'STORE_CONFLICT',
          `unique insert: the key of handler ${row.handlerName} kept changing hands`,
        );
      }
      continue;
    }
    const { holdMs } = row.unique;
    if (holdMs === null) return { id, duplicate: false };
    const taken = await ctx.statements.rows(
      'unique insert',
      sql`INSERT INTO ${keys} AS k (handler_name, unique_key, event_id, expires_at)
VALUES (${row.handlerName}::text, ${key}::text, ${id}::int8, now() + ${holdMs}::float8 * ${MS})
ON CONFLICT (handler_name, unique_key) DO UPDATE SET event_id = EXCLUDED.event_id, expires_at = EXCLUDED.expires_at
WHERE k.expires_at <= now()
RETURNING k.event_id::text AS id`,
      tx,
    );
    if (taken[0] !== undefined) return { id, duplicate: false };
    // The key is held (by an archived row): our row never existed for anyone else.
    await ctx.statements.rows(
      'unique insert',
      sql`DELETE FROM ${events} WHERE id = ${id}::int8 RETURNING id::text AS id`,
      tx,
    );
    const holder = await ctx.statements.rows(
      'unique insert',
      sql`SELECT event_id::text AS id FROM ${keys} WHERE handler_name = ${row.handlerName}::text AND unique_key = ${key}::text`,
      tx,
    );
    if (holder[0] !== undefined) return { id: textOf(holder[0][0], 'id'), duplicate: true };
    if (attempt >= TRIES) {
      throw new BusError(
        'STORE_CONFLICT',
        `unique insert: the key of handler ${row.handlerName} kept changing hands`,
      );
    }
  }
}

function insertStatement(ctx: StoreContext, row: UniqueNewEventRow, key: string) {
  const { events } = ctx.tables;
  const delay = typeof row.due === 'number' ? row.due : null;
  const runAt = typeof row.due === 'number' ? null : row.due.toISOString();
  const json = ctx.jsonPayload ? payloadJsonOf(row.payload) : null;
  const trace =
    row.traceContext === undefined || row.traceContext === null ? null : storableText(row.traceContext);
  return sql`WITH ins AS (
  INSERT INTO ${events} (queue, event_name, handler_name, payload, payload_json, max_retries, priority, scheduled_at,
    trace_context, unique_key, partition_key)
  VALUES (${row.queue}::text, ${row.eventName}::text, ${row.handlerName}::text, decode(${hexOf(row.payload)}::text, 'hex'),
    ${json}::jsonb, ${row.maxRetries}::int4, ${row.priority}::int4,
    coalesce(${runAt}::timestamptz, now() + ${delay}::float8 * ${MS}), ${trace}::text, ${key}::text,
    ${row.partitionKey ?? null}::text)
  ON CONFLICT (handler_name, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
  RETURNING id, queue, scheduled_at
), woken AS (
  SELECT count(pg_notify(${ctx.channel}::text, queue)) AS n FROM ins WHERE scheduled_at <= now()
)
SELECT ins.id::text AS id FROM ins, woken`;
}

/**
 * `StoreUnique.prune`: deletes up to `limit` expired keys, oldest first, skipping locked ones.
 *
 * @example
 * const deleted = await pruneKeys(ctx, { limit: 1000 });
 */
export async function pruneKeys(ctx: StoreContext, params: PruneKeysParams): Promise<number> {
  const { keys } = ctx.tables;
  const rows = await ctx.statements.rows(
    'unique prune',
    sql`WITH gone AS (
  DELETE FROM ${keys} WHERE (handler_name, unique_key) IN (
    SELECT handler_name, unique_key FROM ${keys} WHERE expires_at < now()
    ORDER BY expires_at LIMIT ${params.limit}::int4 FOR UPDATE SKIP LOCKED)
  RETURNING 1
)
SELECT count(*)::text AS n FROM gone`,
  );
  return intOf(rows[0]?.[0], 'n');
}
