import { BusError } from 'bus-core';
import type {
  ArchivedEventRow,
  ArchiveStatus,
  ClaimedEvent,
  EventRow,
  ExpiredEvent,
  PauseRow,
  WorkerRow,
} from 'bus-core/driver';
import { sql } from 'drizzle-orm';
import type { Cell, Row } from './run.js';

// Ids are read as text (exact beyond 2^53 whatever mysql2's bigNumber options are) under another
// name: an alias `id` would make `ORDER BY id` sort by the text, with a filesort.

/** What `claim` reads of each row. */
export const CLAIM_COLUMNS = sql.raw(
  'CAST(id AS CHAR) AS row_id, queue, event_name, handler_name, payload, attempts, max_retries, priority, created_at, ' +
    'trace_context, snoozes, partition_key',
);
/** What `listEvents` reads of each row. */
export const EVENT_COLUMNS = sql.raw(
  'CAST(id AS CHAR) AS row_id, queue, event_name, handler_name, payload, CAST(payload_json AS CHAR) AS payload_json, ' +
    'attempts, max_retries, priority, scheduled_at, locked_until, locked_by, last_error, created_at, trace_context, snoozes, ' +
    'partition_key',
);
/** What `listArchive` reads of each row. */
export const ARCHIVE_COLUMNS = sql.raw(
  'CAST(id AS CHAR) AS row_id, queue, event_name, handler_name, payload, CAST(payload_json AS CHAR) AS payload_json, ' +
    'attempts, max_retries, priority, status, last_error, created_at, finished_at, trace_context, partition_key',
);
/** What `listExpired` reads of each row. */
export const EXPIRED_COLUMNS = sql.raw(
  'CAST(id AS CHAR) AS row_id, queue, event_name, handler_name, attempts, max_retries, locked_by',
);

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

/** Parses a `DATETIME(6)` text value, which this package always writes in UTC. */
export function parseUtc(value: unknown): Date {
  if (value instanceof Date) return value;
  const m = DATETIME.exec(String(value));
  if (!m) throw new BusError('STORE_FAILED', `unexpected DATETIME value from the database: ${String(value)}`);
  const ms = m[7] ? Math.floor(Number(m[7].padEnd(6, '0')) / 1000) : 0;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, ms));
}

/** A `DATETIME(6)` text value (see `parseUtc`), or `null` for NULL. */
export function parseUtcOrNull(value: Cell | undefined): Date | null {
  return value === null || value === undefined ? null : parseUtc(value);
}

/** A BLOB value (raw bytes) as a plain Uint8Array of its own. */
export function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (typeof value === 'string') return new Uint8Array(Buffer.from(value, 'binary'));
  throw new BusError('STORE_FAILED', `unexpected payload value from the database: ${typeof value}`);
}

/** JSON column text (MariaDB: LONGTEXT, MySQL: JSON cast to text) as a value. */
export function parseJson(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A text cell, or `null` for NULL. */
export function textOrNull(value: Cell | undefined): string | null {
  return value === null || value === undefined ? null : String(value);
}

/** A row read with `CLAIM_COLUMNS` before the claim's update, which counted this attempt. */
export function claimedEvent(r: Row): ClaimedEvent {
  return {
    id: String(r.row_id),
    queue: String(r.queue),
    eventName: String(r.event_name),
    handlerName: String(r.handler_name),
    payload: toBytes(r.payload),
    attempts: Number(r.attempts) + 1,
    maxRetries: Number(r.max_retries),
    priority: Number(r.priority),
    snoozes: Number(r.snoozes),
    createdAt: parseUtc(r.created_at),
    traceContext: textOrNull(r.trace_context),
    partitionKey: textOrNull(r.partition_key),
  };
}

// The columns the live and the archive table share, as read back by listEvents/listArchive.
function storedFields(r: Row) {
  return {
    id: String(r.row_id),
    queue: String(r.queue),
    eventName: String(r.event_name),
    handlerName: String(r.handler_name),
    payload: toBytes(r.payload),
    payloadJson: parseJson(r.payload_json),
    attempts: Number(r.attempts),
    maxRetries: Number(r.max_retries),
    priority: Number(r.priority),
  };
}

/** A row read with `EVENT_COLUMNS`. */
export function eventRow(r: Row): EventRow {
  return {
    ...storedFields(r),
    scheduledAt: parseUtc(r.scheduled_at),
    lockedUntil: parseUtcOrNull(r.locked_until),
    lockedBy: textOrNull(r.locked_by),
    lastError: textOrNull(r.last_error),
    snoozes: Number(r.snoozes),
    createdAt: parseUtc(r.created_at),
    traceContext: textOrNull(r.trace_context),
    partitionKey: textOrNull(r.partition_key),
  };
}

/** A row read with `ARCHIVE_COLUMNS`. */
export function archivedEventRow(r: Row): ArchivedEventRow {
  return {
    ...storedFields(r),
    status: String(r.status) as ArchiveStatus,
    lastError: textOrNull(r.last_error),
    createdAt: parseUtc(r.created_at),
    finishedAt: parseUtc(r.finished_at),
    traceContext: textOrNull(r.trace_context),
    partitionKey: textOrNull(r.partition_key),
  };
}

/** What `listPauses` reads of each row. */
export const PAUSE_COLUMNS = sql.raw('queue, handler_name, paused_at');

/** A row read with `PAUSE_COLUMNS`: the stored `''` handler (the whole queue) is `null`. */
export function pauseRow(r: Row): PauseRow {
  const handler = String(r.handler_name ?? '');
  return {
    queue: String(r.queue),
    handlerName: handler === '' ? null : handler,
    pausedAt: parseUtc(r.paused_at),
  };
}

/** What `listWorkers` reads of each row. */
export const WORKER_COLUMNS = sql.raw('worker_id, queues, info, started_at, last_seen_at');

/** A row read with `WORKER_COLUMNS`; `queues` is the JSON array `recordWorker` wrote. */
export function workerRow(r: Row): WorkerRow {
  const queues = parseJson(r.queues);
  return {
    workerId: String(r.worker_id),
    queues: Array.isArray(queues) ? queues.map(String) : [],
    info: String(r.info ?? ''),
    startedAt: parseUtc(r.started_at),
    lastSeenAt: parseUtc(r.last_seen_at),
  };
}

/** A row read with `EXPIRED_COLUMNS`. */
export function expiredEvent(r: Row): ExpiredEvent {
  return {
    id: String(r.row_id),
    queue: String(r.queue),
    eventName: String(r.event_name),
    handlerName: String(r.handler_name),
    attempts: Number(r.attempts),
    maxRetries: Number(r.max_retries),
    workerId: String(r.locked_by),
  };
}
