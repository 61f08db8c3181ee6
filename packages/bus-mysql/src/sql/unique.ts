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
import { mysqlErrorInfo, mysqlFailure } from '../errors.js';
import { parseUtc } from '../rows.js';
import { type StoreContext, select, transact, write } from '../run.js';

/** ER_DUP_ENTRY: the unique index holds the key already. */
const ER_DUP_ENTRY = 1062;
// A duplicate whose holder left the hot table between our insert and our look-up is inserted
// again; this bounds how often (each round means another row took and released the key).
const TRIES = 10;

/**
 * `StoreUnique.insert`: row by row in one transaction (the caller's, or a READ COMMITTED one of
 * its own). The hot table's unique index on (unique_key, handler_name) decides live duplicates:
 * a plain INSERT waits for an uncommitted holder and fails with ER_DUP_ENTRY when it committed
 * (the failure rolls back only that statement). For `holdMs` keys the keys table's primary key
 * decides, an expired key being taken over in `ON DUPLICATE KEY UPDATE` on the locked row.
 * Look-ups after a conflict are locking reads, which see the latest committed holder whatever
 * the caller's isolation level. Concurrent inserters of one key that wait on a holder which rolls
 * back may deadlock in InnoDB: one is rolled back with `STORE_CONFLICT`.
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
  const [only] = params.rows;
  if (
    params.tx === undefined &&
    params.rows.length === 1 &&
    only!.unique.holdMs === null &&
    only!.unique.bucketMs === null
  ) {
    // One live-only row: its INSERT is one atomic statement and the look-up after a duplicate a
    // plain read of the latest commit, so no transaction round trips.
    try {
      return [await insertOne(ctx, ctx.db, only!, only!.unique.key)];
    } catch (error) {
      throw mysqlFailure('unique insert', error);
    }
  }
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
  const tooMany = () =>
    new BusError(
      'STORE_CONFLICT',
      `unique insert: the key of handler ${row.handlerName} kept changing hands`,
    );
  for (let attempt = 1; ; attempt++) {
    let id: string | undefined;
    try {
      id = String((await write(db, insertStatement(ctx, row, key))).insertId);
    } catch (error) {
      if (mysqlErrorInfo(error).errno !== ER_DUP_ENTRY) throw error;
    }
    if (id === undefined) {
      const [holder] = await select(
        db,
        sql`SELECT CAST(id AS CHAR) AS id FROM ${ctx.events}
WHERE unique_key = ${text(key)} AND handler_name = ${text(row.handlerName)} LOCK IN SHARE MODE`,
      );
      if (holder?.id) return { id: String(holder.id), duplicate: true };
      if (attempt >= TRIES) throw tooMany();
      continue;
    }
    const { holdMs } = row.unique;
    if (holdMs === null) return { id, duplicate: false };
    // Assignments run left to right on the old values: expires_at is compared before it changes.
    await write(
      db,
      sql`INSERT INTO ${keys} (handler_name, unique_key, event_id, expires_at)
VALUES (${text(row.handlerName)}, ${text(key)}, ${sql.raw(id)}, UTC_TIMESTAMP(6) + INTERVAL ${intLiteral(micros(holdMs))} MICROSECOND)
ON DUPLICATE KEY UPDATE
  event_id = IF(expires_at <= UTC_TIMESTAMP(6), VALUES(event_id), event_id),
  expires_at = IF(expires_at <= UTC_TIMESTAMP(6), VALUES(expires_at), expires_at)`,
    );
    const [holder] = await select(
      db,
      sql`SELECT CAST(event_id AS CHAR) AS id FROM ${keys}
WHERE handler_name = ${text(row.handlerName)} AND unique_key = ${text(key)} FOR UPDATE`,
    );
    if (holder?.id === id) return { id, duplicate: false };
    // The key is held (by an archived row): our row never existed for anyone else.
    await write(db, sql`DELETE FROM ${ctx.events} WHERE id = ${sql.raw(id)}`);
    if (holder?.id) return { id: String(holder.id), duplicate: true };
    if (attempt >= TRIES) throw tooMany();
  }
}

function insertStatement(ctx: StoreContext, row: UniqueNewEventRow, key: string) {
  const json = ctx.jsonPayload ? payloadJsonOf(row.payload) : null;
  let due: string;
  if (row.due instanceof Date) due = quote(formatUtc(row.due));
  else if (row.due > 0) due = `UTC_TIMESTAMP(6) + INTERVAL ${micros(Number(row.due))} MICROSECOND`;
  else due = 'UTC_TIMESTAMP(6)';
  const trace = row.traceContext === undefined || row.traceContext === null ? null : String(row.traceContext);
  const values = `(${quote(row.queue)}, ${quote(row.eventName)}, ${quote(row.handlerName)}, ${bytesLiteral(row.payload)}, ${
    json === null ? 'NULL' : quote(json)
  }, ${Number(row.maxRetries)}, ${Number(row.priority)}, ${due}, UTC_TIMESTAMP(6), ${
    trace === null ? 'NULL' : quote(trace)
  }, ${quote(key)})`;
  return sql`INSERT INTO ${ctx.events} (queue, event_name, handler_name, payload, payload_json, max_retries, priority,
  scheduled_at, created_at, trace_context, unique_key) VALUES ${sql.raw(values)}`;
}

/**
 * `StoreUnique.prune`: deletes up to `limit` expired keys, oldest first, skipping locked ones
 * (a SELECT … SKIP LOCKED then a DELETE of those keys, in a short transaction).
 *
 * @example
 * const deleted = await pruneKeys(ctx, { limit: 1000 });
 */
export async function pruneKeys(ctx: StoreContext, params: PruneKeysParams): Promise<number> {
  const keys = keysOf(ctx);
  return transact(ctx, 'unique prune', async (db) => {
    const rows = await select(
      db,
      sql`SELECT HEX(handler_name) AS h, HEX(unique_key) AS k FROM ${keys} WHERE expires_at < UTC_TIMESTAMP(6)
ORDER BY expires_at LIMIT ${intLiteral(params.limit)} FOR UPDATE SKIP LOCKED`,
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
