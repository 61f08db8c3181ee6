import { BusError } from 'bus-core';
import { type InsertParams, type NewEventRow, payloadJsonOf } from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { MySqlTx, ServerInfo } from '../client.js';
import { bytesLiteral, formatUtc, micros, quote, quotedBytes } from '../encode.js';
import { formatBytes, insertFailure, isConnectionError } from '../errors.js';
import { type StoreContext, select, transact, write } from '../run.js';

const MAX_ROWS_PER_STATEMENT = 1000;
const TARGET_STATEMENT_BYTES = 4 * 1024 * 1024;
const STATEMENT_OVERHEAD = 512;
const PACKET_MARGIN = 1024;

interface PreparedRow {
  /** The row's `(…)` of the VALUES list as SQL text, every value a literal. */
  values: string;
  /** What the text takes in the statement, at most. */
  bytes: number;
  eventName: string;
}

/**
 * The rows as literal SQL text. One text chunk per row, not a Drizzle fragment per value:
 * building 9 000 fragments for a 1 000-row insert cost more CPU than the database spent on it.
 * With `jsonPayload`, the JSON text is made once per payload array (the rows of one event share
 * one).
 */
function prepareRows(rows: readonly NewEventRow[], jsonPayload: boolean): PreparedRow[] {
  const json = new Map<Uint8Array, string>();
  return rows.map((row) => {
    let text: string | null = null;
    if (jsonPayload) {
      text = json.get(row.payload) ?? null;
      if (text === null) {
        text = payloadJsonOf(row.payload);
        json.set(row.payload, text);
      }
    }
    return prepareRow(row, text);
  });
}

function prepareRow(row: NewEventRow, json: string | null): PreparedRow {
  const payload = bytesLiteral(row.payload);
  let due: string;
  let dueBytes = 20;
  if (row.due instanceof Date) {
    due = quote(formatUtc(row.due));
    dueBytes = 30;
  } else if (row.due > 0) {
    due = `UTC_TIMESTAMP(6) + INTERVAL ${micros(Number(row.due))} MICROSECOND`;
    dueBytes = 60;
  } else {
    due = 'UTC_TIMESTAMP(6)';
  }
  const queue = String(row.queue);
  const eventName = String(row.eventName);
  const handlerName = String(row.handlerName);
  // Stored exactly as given (the column holds any text, NUL included): the core validates it.
  const trace = row.traceContext === undefined || row.traceContext === null ? null : String(row.traceContext);
  const key = row.partitionKey === undefined || row.partitionKey === null ? null : String(row.partitionKey);
  // Numbers through Number(): whatever a caller passed, it can only fail the statement.
  const values = `(${quote(queue)}, ${quote(eventName)}, ${quote(handlerName)}, ${payload}, ${
    json === null ? 'NULL' : quote(json)
  }, ${Number(row.maxRetries)}, ${Number(row.priority)}, ${due}, UTC_TIMESTAMP(6), ${
    trace === null ? 'NULL' : quote(trace)
  }, ${key === null ? 'NULL' : quote(key)})`;
  const bytes =
    120 +
    dueBytes +
    payload.length +
    quotedBytes(queue) +
    quotedBytes(eventName) +
    quotedBytes(handlerName) +
    (json === null ? 4 : quotedBytes(json)) +
    (trace === null ? 4 : quotedBytes(trace)) +
    (key === null ? 4 : quotedBytes(key));
  return { values, bytes, eventName };
}

/** Statements of at most 1 000 rows / 4 MiB, each under the server's max_allowed_packet. */
function chunk(rows: PreparedRow[], info: ServerInfo): PreparedRow[][] {
  const packet = info.maxAllowedPacket - PACKET_MARGIN;
  const target = Math.min(TARGET_STATEMENT_BYTES, packet);
  const chunks: PreparedRow[][] = [];
  let current: PreparedRow[] = [];
  let bytes = STATEMENT_OVERHEAD;
  for (const row of rows) {
    if (row.bytes + STATEMENT_OVERHEAD > packet) {
      throw new BusError(
        'PUBLISH_FAILED',
        `a row of event ${row.eventName} needs a statement of about ${formatBytes(row.bytes + STATEMENT_OVERHEAD)} ` +
          `(payloads above 64 KiB are sent base64-encoded), larger than the server's max_allowed_packet of ` +
          `${formatBytes(info.maxAllowedPacket)}; raise max_allowed_packet on the server or publish a smaller payload`,
        { value: row.bytes },
      );
    }
    if (current.length > 0 && (bytes + row.bytes > target || current.length >= MAX_ROWS_PER_STATEMENT)) {
      chunks.push(current);
      current = [];
      bytes = STATEMENT_OVERHEAD;
    }
    current.push(row);
    bytes += row.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

async function insertChunk(
  db: MySqlTx,
  ctx: StoreContext,
  rows: PreparedRow[],
  info: ServerInfo,
): Promise<string[]> {
  const values = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) values[i] = rows[i]!.values;
  const statement = sql.raw(
    `INSERT INTO \`${ctx.tables.eventsTable}\` (queue, event_name, handler_name, payload, payload_json, max_retries, priority, scheduled_at, created_at, trace_context, partition_key) VALUES ${values.join(', ')}`,
  );
  if (info.mariadb) {
    // RETURNING gives the ids in VALUES order whatever innodb_autoinc_lock_mode is.
    const returned = await select(db, sql`${statement} RETURNING CAST(id AS CHAR) AS row_id`);
    if (returned.length !== rows.length) {
      throw new BusError('STORE_FAILED', `insert returned ${returned.length} ids for ${rows.length} rows`);
    }
    return returned.map((r) => String(r.row_id));
  }
  // MySQL has no INSERT … RETURNING. A multi-row INSERT … VALUES is a "simple insert": InnoDB
  // reserves its ids in one block in every innodb_autoinc_lock_mode (gaps only occur in bulk
  // inserts such as INSERT … SELECT), so they are insertId, insertId + step, …
  const result = await write(db, statement);
  if (result.affectedRows !== rows.length) {
    throw new BusError('STORE_FAILED', `insert wrote ${result.affectedRows} rows for ${rows.length}`);
  }
  const first = BigInt(result.insertId);
  const step = BigInt(info.autoIncrementIncrement);
  return rows.map((_, i) => String(first + BigInt(i) * step));
}

/**
 * `QueueStore.insert`: one multi-row statement per chunk; several chunks run in one transaction
 * (the caller's when given), so the rows commit all or none.
 */
export async function insert(ctx: StoreContext, params: InsertParams<MySqlTx>): Promise<string[]> {
  const prepared = prepareRows(params.rows, ctx.jsonPayload);
  try {
    return await insertPrepared(ctx, prepared, params.tx);
  } catch (error) {
    throw await explainOversize(ctx, error, prepared);
  }
}

async function insertPrepared(
  ctx: StoreContext,
  rows: PreparedRow[],
  tx: MySqlTx | undefined,
): Promise<string[]> {
  // Inside the caller's transaction ask through it: its connection may be the last one free.
  const info = await ctx.server.get(tx);
  const chunks = chunk(rows, info);
  const run = async (db: MySqlTx): Promise<string[]> => {
    const ids: string[] = [];
    for (const c of chunks) ids.push(...(await insertChunk(db, ctx, c, info)));
    return ids;
  };
  const mapError = (error: unknown, stage: 'unsent' | 'autocommit' | 'committing'): BusError => {
    const mapped = insertFailure(error, stage);
    // The server's max_allowed_packet was lowered since it was read: read it again next time.
    if (mapped.message.includes('max_allowed_packet')) ctx.server.forget();
    return mapped;
  };
  if (tx !== undefined || chunks.length === 1) {
    try {
      return await run(tx ?? ctx.db);
    } catch (error) {
      // In the caller's transaction nothing commits before the caller's COMMIT (which a lost
      // connection rules out); a single statement outside one commits by itself.
      throw mapError(error, tx === undefined ? 'autocommit' : 'unsent');
    }
  }
  return transact(ctx, 'insert', run, (error, phase) =>
    mapError(error, phase.committing ? 'committing' : 'unsent'),
  );
}

/**
 * A statement over max_allowed_packet can also end in a reset connection instead of error 1153
 * (the server hangs up while the client is still sending): check the fresh limit before
 * reporting a bare connection error.
 */
async function explainOversize(ctx: StoreContext, error: unknown, rows: PreparedRow[]): Promise<unknown> {
  if (!isConnectionError(error)) return error;
  ctx.server.forget();
  let packet: number;
  try {
    packet = (await ctx.server.get()).maxAllowedPacket - PACKET_MARGIN;
  } catch {
    return error;
  }
  const largest = rows.reduce((max, row) => Math.max(max, row.bytes + STATEMENT_OVERHEAD), 0);
  if (largest <= packet) return error;
  return new BusError(
    'PUBLISH_FAILED',
    `the server closed the connection on an insert of about ${formatBytes(largest)}, larger than its ` +
      `max_allowed_packet of ${formatBytes(packet + PACKET_MARGIN)}; raise max_allowed_packet on the server or publish smaller payloads`,
    { cause: error, value: largest },
  );
}
