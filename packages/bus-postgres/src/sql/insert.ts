import { BusError } from 'bus-core';
import type { InsertParams, NewEventRow } from 'bus-core/driver';
import { payloadJsonOf } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import type { PgTx } from '../client.js';
import { hexOf, MS, pgArray, plainTextArray, storableText } from '../encode.js';
import { isOversized, pgFailure } from '../errors.js';
import { textOf } from '../rows.js';
import type { StoreContext } from '../run.js';

// One statement carries at most this much payload (hex doubles it: well inside PostgreSQL's
// 1 GB message and V8's ~512 M characters per string) and this many rows; a larger batch is
// split into several statements in one transaction. Trace contexts are not counted: at most
// 1000 characters a row, 50 000 rows add at most 100 M characters escaped (150 MB of UTF-8),
// inside both limits too.
const CHUNK_PAYLOAD_BYTES = 32 * 1024 * 1024;
const CHUNK_ROWS = 50_000;

/**
 * `QueueStore.insert`: the rows in one statement per chunk (one chunk for any ordinary batch),
 * all in `params.tx` or a transaction of their own, with one NOTIFY per queue that has rows due
 * at once (delivered at commit, so no listener wakes before the rows are visible).
 *
 * @example
 * const ids = await insert(ctx, { rows });
 */
export async function insert(ctx: StoreContext, params: InsertParams<PgTx>): Promise<string[]> {
  const chunks = chunksOf(params.rows);
  if (chunks.length === 1) return insertChunk(ctx, chunks[0]!, params.tx);
  return ctx.statements.transaction(
    async (tx) => {
      const ids: string[] = [];
      for (const chunk of chunks) ids.push(...(await insertChunk(ctx, chunk, tx)));
      return ids;
    },
    params.tx,
    params.tx === undefined ? { lostInFlight: 'PUBLISH_OUTCOME_UNKNOWN' } : {},
  );
}

function chunksOf(rows: readonly NewEventRow[]): NewEventRow[][] {
  const chunks: NewEventRow[][] = [];
  let chunk: NewEventRow[] = [];
  let bytes = 0;
  let last: Uint8Array | undefined;
  for (const row of rows) {
    // Rows of one event share their payload array: it travels once per statement.
    const size = row.payload === last ? 0 : row.payload.byteLength;
    if (chunk.length > 0 && (chunk.length >= CHUNK_ROWS || bytes + size > CHUNK_PAYLOAD_BYTES)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(row);
    bytes += chunk.length === 1 ? row.payload.byteLength : size;
    last = row.payload;
  }
  chunks.push(chunk);
  return chunks;
}

/**
 * The columns of one statement. Rows of one publish share queue, names, retries, priority and
 * due time (fan-out gives one such variant per handler) and rows of one event share their
 * payload, so variants and payloads travel once each and a row is two numbers: far fewer array
 * elements for the driver to serialize and the server to parse.
 */
class InsertColumns {
  readonly queues: string[] = [];
  readonly eventNames: string[] = [];
  readonly handlerNames: string[] = [];
  readonly maxRetries: number[] = [];
  readonly priorities: number[] = [];
  readonly delays: (number | null)[] = [];
  readonly runAts: (string | null)[] = [];
  readonly payloads: string[] = [];
  readonly jsons: string[] = [];
  readonly rowVariants: number[] = [];
  readonly rowPayloads: number[] = [];
  readonly rowTraces: (string | null)[] = [];
  readonly rowKeys: (string | null)[] = [];
  /** Whether any row has a trace context (else the trace array is sent as NULL). */
  traced = false;
  /** Whether any row has a partition key (else the key array is sent as NULL). */
  keyed = false;
  readonly #variants = new Map<string, number>();
  readonly #payloads = new Map<Uint8Array, number>();
  #last: NewEventRow | undefined;
  #lastVariant = 0;

  constructor(rows: readonly NewEventRow[], jsonPayload: boolean) {
    for (const row of rows) {
      if (this.#last === undefined || !sameVariant(row, this.#last)) {
        this.#lastVariant = this.#variant(row);
        this.#last = row;
      }
      this.rowVariants.push(this.#lastVariant);
      let payload = this.#payloads.get(row.payload);
      if (payload === undefined) {
        payload = this.payloads.push(hexOf(row.payload));
        if (jsonPayload) this.jsons.push(payloadJsonOf(row.payload));
        this.#payloads.set(row.payload, payload);
      }
      this.rowPayloads.push(payload);
      const trace = row.traceContext ?? null;
      if (trace !== null) this.traced = true;
      // PostgreSQL text cannot hold U+0000 (the whole publish would fail on a trace header):
      // it becomes U+FFFD, as in error text. Anything else is stored exactly.
      this.rowTraces.push(trace === null ? null : storableText(trace));
      // The core checked the key (no U+0000): stored exactly.
      const key = row.partitionKey ?? null;
      if (key !== null) this.keyed = true;
      this.rowKeys.push(key);
    }
  }

  #variant(row: NewEventRow): number {
    const due = typeof row.due === 'number' ? `+${row.due}` : row.due.toISOString();
    const key = `${row.queue}\u0000${row.eventName}\u0000${row.handlerName}\u0000${row.maxRetries}\u0000${row.priority}\u0000${due}`;
    let variant = this.#variants.get(key);
    if (variant === undefined) {
      variant = this.queues.push(row.queue);
      this.#variants.set(key, variant);
      this.eventNames.push(row.eventName);
      this.handlerNames.push(row.handlerName);
      this.maxRetries.push(row.maxRetries);
      this.priorities.push(row.priority);
      this.delays.push(typeof row.due === 'number' ? row.due : null);
      this.runAts.push(typeof row.due === 'number' ? null : row.due.toISOString());
    }
    return variant;
  }
}

function sameVariant(a: NewEventRow, b: NewEventRow): boolean {
  return (
    a.queue === b.queue &&
    a.eventName === b.eventName &&
    a.handlerName === b.handlerName &&
    a.maxRetries === b.maxRetries &&
    a.priority === b.priority &&
    (a.due === b.due ||
      (a.due instanceof Date && b.due instanceof Date && a.due.getTime() === b.due.getTime()))
  );
}

async function insertChunk(ctx: StoreContext, rows: NewEventRow[], tx?: PgTx): Promise<string[]> {
  let query: SQL;
  try {
    query = insertStatement(ctx, rows);
  } catch (error) {
    // A payload too large for one string of hex text (V8 caps strings near 512 M characters).
    throw pgFailure('insert', error, isOversized(error) ? 'PUBLISH_FAILED' : undefined);
  }
  // Outside a caller's transaction the statement commits by itself: a connection lost after it
  // was sent leaves unknown whether it did. In a caller's transaction nothing commits here.
  const result = await ctx.statements.rows('insert', query, tx, {
    oversized: 'PUBLISH_FAILED',
    ...(tx === undefined ? { lostInFlight: 'PUBLISH_OUTCOME_UNKNOWN' as const } : {}),
  });
  if (result.length !== rows.length) {
    throw new BusError(
      'STORE_FAILED',
      `postgres insert returned ${result.length} ids for ${rows.length} rows`,
    );
  }
  return result.map((r) => textOf(r[0], 'id'));
}

function insertStatement(ctx: StoreContext, rows: NewEventRow[]): SQL {
  const { events } = ctx.tables;
  const c = new InsertColumns(rows, ctx.jsonPayload);
  // Without the JSON column, or without any trace context or partition key, a NULL array stands
  // for NULLs: a multi-array unnest pads it (the same statement text either way).
  const jsons = ctx.jsonPayload ? pgArray(c.jsons) : null;
  const traces = c.traced ? pgArray(c.rowTraces) : null;
  const keys = c.keyed ? pgArray(c.rowKeys) : null;
  // Identity values follow the insert order, so ORDER BY id gives the ids in input order.
  return sql`WITH variant AS (
  SELECT * FROM unnest(${pgArray(c.queues)}::text[], ${pgArray(c.eventNames)}::text[], ${pgArray(c.handlerNames)}::text[],
    ${pgArray(c.maxRetries)}::int4[], ${pgArray(c.priorities)}::int4[], ${pgArray(c.delays)}::float8[],
    ${pgArray(c.runAts)}::text[])
    WITH ORDINALITY AS v(queue, event_name, handler_name, max_retries, priority, delay_ms, run_at, k)
), payload AS (
  SELECT * FROM unnest(${plainTextArray(c.payloads)}::text[], ${jsons}::text[]) WITH ORDINALITY AS p(payload, payload_json, k)
), input AS (
  SELECT * FROM unnest(${pgArray(c.rowVariants)}::int8[], ${pgArray(c.rowPayloads)}::int8[], ${traces}::text[],
    ${keys}::text[])
    WITH ORDINALITY AS i(v, p, trace_context, partition_key, ord)
), ins AS (
  INSERT INTO ${events} (queue, event_name, handler_name, payload, payload_json, max_retries, priority, scheduled_at,
    trace_context, partition_key)
  SELECT v.queue, v.event_name, v.handler_name, decode(p.payload, 'hex'), p.payload_json::jsonb, v.max_retries,
    v.priority, coalesce(v.run_at::timestamptz, now() + v.delay_ms * ${MS}), i.trace_context, i.partition_key
  FROM input i JOIN variant v ON v.k = i.v JOIN payload p ON p.k = i.p ORDER BY i.ord
  RETURNING id, queue, scheduled_at
), woken AS (
  SELECT count(pg_notify(${ctx.channel}::text, d.queue)) AS n
  FROM (SELECT DISTINCT queue FROM ins WHERE scheduled_at <= now()) d
)
SELECT ins.id::text AS id FROM ins, woken ORDER BY ins.id`;
}
