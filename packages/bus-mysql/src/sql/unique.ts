import { BusError } from 'bus-core';
import type {
  InsertUniqueParams,
  PruneKeysParams,
  UniqueInsertResult,
  UniqueNewEventRow,
} from 'bus-core/driver';
import { payloadJsonOf } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { bytesLiteral, formatUtc, intLiteral, micros, quote, text } from '../encode.js';
import { mysqlFailure } from '../errors.js';
import { parseUtc } from '../rows.js';
import { type StoreContext, select, transact, write } from '../run.js';

/**
 * `StoreUnique.insert`: row by row in one transaction (the caller's, or a READ COMMITTED one of
 * its own). MySQL has no partial index, so keys live in the keys table only, never in an index
 * of the hot table (rows without a key pay nothing): one row per (handler, stored key) with its
 * live holder (`live_id`) and, for `holdMs` keys, a hold (`held_id` until `expires_at`). The
 * key row's primary key and lock decide: an insert creates it, or locks it (waiting for a
 * transaction that holds it, and creating it afresh when that one rolled back). Under the lock,
 * a locking read of the live holder's row tells whether it is still in the hot table (it waits
 * for a settle in flight and sees the latest commit whatever the caller's isolation level).
 * Concurrent inserters waiting on a holder that rolls back may deadlock in InnoDB: one is
 * rolled back with `STORE_CONFLICT`.
 *
 * @example
 * const results = await insertUnique(ctx, { rows });
 */
export async function insertUnique(
  ctx: StoreContext,
  params: InsertUniqueParams<MySqlTx>,
): Promise<UniqueInsertResult[]> {
  const run = async (db: MySqlTx) => {
    const nowMs = params.rows.some((r) => r.unique.bucketMs !== null)
      ? parseUtc((await select(db, sql`SELECT UTC_TIMESTAMP(6) AS now`))[0]?.now).getTime()
      : 0;
    const results: UniqueInsertResult[] = [];
    for (const row of params.rows) results.push(await insertOne(ctx, db, row, storedKey(row, nowMs)));
    return results;
  };
  if (params.tx === undefined) return transact(ctx, 'unique insert', run);
  try {
    return await run(params.tx);
  } catch (error) {
    throw mysqlFailure('unique insert', error);
  }
}

function storedKey(row: UniqueNewEventRow, nowMs: number): string {
  const { key, bucketMs } = row.unique;
  return bucketMs === null ? key : `${key}@${Math.floor(nowMs / bucketMs)}`;
}

function keysOf(ctx: StoreContext) {
  return sql.identifier(ctx.tables.keysTable);
}

async function insertOne(
  ctx: StoreContext,
  db: MySqlTx,
  row: UniqueNewEventRow,
  key: string,
): Promise<UniqueInsertResult> {
  const keys = keysOf(ctx);
  const { holdMs } = row.unique;
  const where = sql`handler_name = ${text(row.handlerName)} AND unique_key = ${text(key)}`;
  const id = String((await write(db, insertStatement(ctx, row))).insertId);
  const hold =
    holdMs === null
      ? sql.raw('NULL')
      : sql`UTC_TIMESTAMP(6) + INTERVAL ${intLiteral(micros(holdMs))} MICROSECOND`;
  const heldId = holdMs === null ? sql.raw('NULL') : sql.raw(id);
  // Creates the key, or locks the one there (waiting for a transaction that holds it: decided
  // when it ends, and created afresh if it rolled back). The no-op assignment only takes the lock.
  await write(
    db,
    sql`INSERT INTO ${keys} (handler_name, unique_key, live_id, held_id, expires_at)
VALUES (${text(row.handlerName)}, ${text(key)}, ${sql.raw(id)}, ${heldId}, ${hold})
ON DUPLICATE KEY UPDATE live_id = live_id`,
  );
  const [current] = await select(
    db,
    sql`SELECT CAST(live_id AS CHAR) AS live, CAST(held_id AS CHAR) AS held,
  CAST(expires_at > UTC_TIMESTAMP(6) AS CHAR) AS holding FROM ${keys} WHERE ${where} FOR UPDATE`,
  );
  if (current === undefined)
    throw new BusError('STORE_FAILED', 'unique insert: the key row vanished under its lock');
  if (String(current.live) === id) return { id, duplicate: false };
  // The key row is ours until commit. Its live holder still holds it while its row is in the hot
  // table: a locking read, which waits for a settle in flight and sees the latest commit.
  const live = String(current.live);
  const [holder] = await select(
    db,
    sql`SELECT CAST(id AS CHAR) AS id FROM ${ctx.events} WHERE id = ${sql.raw(live)} LOCK IN SHARE MODE`,
  );
  let duplicateOf: string | undefined;
  if (holder !== undefined) duplicateOf = live;
  else if (holdMs !== null && String(current.holding) === '1' && current.held !== null)
    duplicateOf = String(current.held);
  if (duplicateOf !== undefined) {
    // Our row never existed for anyone else.
    await write(db, sql`DELETE FROM ${ctx.events} WHERE id = ${sql.raw(id)}`);
    return { id: duplicateOf, duplicate: true };
  }
  // A live-only key leaves a hold of an earlier row as it is (that hold covers held keys only).
  await write(
    db,
    holdMs === null
      ? sql`UPDATE ${keys} SET live_id = ${sql.raw(id)} WHERE ${where}`
      : sql`UPDATE ${keys} SET live_id = ${sql.raw(id)}, held_id = ${sql.raw(id)}, expires_at = ${hold} WHERE ${where}`,
  );
  return { id, duplicate: false };
}

function insertStatement(ctx: StoreContext, row: UniqueNewEventRow) {
  const json = ctx.jsonPayload ? payloadJsonOf(row.payload) : null;
  let due: string;
  if (row.due instanceof Date) due = quote(formatUtc(row.due));
  else if (row.due > 0) due = `UTC_TIMESTAMP(6) + INTERVAL ${micros(Number(row.due))} MICROSECOND`;
  else due = 'UTC_TIMESTAMP(6)';
  const trace = row.traceContext === undefined || row.traceContext === null ? null : String(row.traceContext);
  const key = row.partitionKey === undefined || row.partitionKey === null ? null : String(row.partitionKey);
  const values = `(${quote(row.queue)}, ${quote(row.eventName)}, ${quote(row.handlerName)}, ${bytesLiteral(row.payload)}, ${
    json === null ? 'NULL' : quote(json)
  }, ${Number(row.maxRetries)}, ${Number(row.priority)}, ${due}, UTC_TIMESTAMP(6), ${
    trace === null ? 'NULL' : quote(trace)
  }, ${key === null ? 'NULL' : quote(key)})`;
  return sql`INSERT INTO ${ctx.events} (queue, event_name, handler_name, payload, payload_json, max_retries, priority,
  scheduled_at, created_at, trace_context, partition_key) VALUES ${sql.raw(values)}`;
}

/**
 * `StoreUnique.prune`: deletes up to `limit` keys that hold nothing any more (no hold, or one
 * that expired, and a live holder that left the hot table), skipping locked ones: a SELECT …
 * SKIP LOCKED then a DELETE of those keys, in a short transaction. (An expired hold whose live
 * holder is still queued stays: it still holds the key while live.)
 *
 * @example
 * const deleted = await pruneKeys(ctx, { limit: 1000 });
 */
export async function pruneKeys(ctx: StoreContext, params: PruneKeysParams): Promise<number> {
  const keys = keysOf(ctx);
  return transact(ctx, 'unique prune', async (db) => {
    const rows = await select(
      db,
      sql`SELECT HEX(k.handler_name) AS h, HEX(k.unique_key) AS k FROM ${keys} k
WHERE (k.expires_at IS NULL OR k.expires_at < UTC_TIMESTAMP(6))
  AND NOT EXISTS (SELECT 1 FROM ${ctx.events} e WHERE e.id = k.live_id)
ORDER BY k.expires_at LIMIT ${intLiteral(params.limit)} FOR UPDATE SKIP LOCKED`,
    );
    if (rows.length === 0) return 0;
    const pairs = rows.map((r) => `(X'${String(r.h)}', X'${String(r.k)}')`).join(', ');
    const header = await write(
      db,
      sql`DELETE FROM ${keys} WHERE (handler_name, unique_key) IN (${sql.raw(pairs)})`,
    );
    return header.affectedRows;
  });
}
