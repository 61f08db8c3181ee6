import { BusError } from 'bus-core';
import type {
  ArchivedEventRow,
  ArchiveStatus,
  ClaimedEvent,
  EventRow,
  ExpiredEvent,
  LimitsRow,
  PauseRow,
  WorkerRow,
} from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import type { Cell, Row } from './run.js';

// Every column the store reads is text in SQL (`::text`, `encode(…, 'hex')`, epoch ms), so
// neither the driver's parsers nor a client's custom types, `bigint` mode or date parsers decide
// what comes back. Aliases are single lower-case words, which no column-name transform changes;
// rows are read by position.

const MS_OF = (column: string) => `floor(extract(epoch FROM ${column}) * 1000)::int8::text`;

/** A timestamp column as epoch milliseconds, an exact integer in text (read with `dateOf`). */
export function epochMs(column: string): SQL {
  return sql.raw(MS_OF(column));
}

// The nine columns the live and the archive table share (see storedFields).
const STORED =
  'id::text AS id, queue::text AS queue, event_name::text AS event, handler_name::text AS handler, ' +
  "encode(payload, 'hex') AS payload, payload_json::text AS json, attempts::text AS attempts, " +
  'max_retries::text AS retries, priority::text AS priority';

/** What `claim` reads of each leased row (from its `RETURNING`), for `claimedEvent`. */
export const CLAIM_COLUMNS = sql.raw(
  "id::text AS id, queue::text AS queue, event_name::text AS event, handler_name::text AS handler, encode(payload, 'hex') AS payload, " +
    `attempts::text AS attempts, max_retries::text AS retries, priority::text AS priority, ${MS_OF('created_at')} AS created, ` +
    'trace_context::text AS trace, snoozes::text AS snoozes, partition_key::text AS pkey',
);
/** What `listEvents` reads of each row, for `eventRow`. */
export const EVENT_COLUMNS = sql.raw(
  `${STORED}, ${MS_OF('scheduled_at')} AS scheduled, ${MS_OF('locked_until')} AS lockeduntil, ` +
    `locked_by::text AS lockedby, last_error::text AS error, ${MS_OF('created_at')} AS created, ` +
    'trace_context::text AS trace, snoozes::text AS snoozes, partition_key::text AS pkey',
);
/** What `listArchive` reads of each row, for `archivedEventRow`. */
export const ARCHIVE_COLUMNS = sql.raw(
  `${STORED}, status::text AS status, last_error::text AS error, ${MS_OF('created_at')} AS created, ` +
    `${MS_OF('finished_at')} AS finished, trace_context::text AS trace, partition_key::text AS pkey`,
);
/** What `listExpired` reads of each row, for `expiredEvent`. */
export const EXPIRED_COLUMNS = sql.raw(
  'id::text AS id, queue::text AS queue, event_name::text AS event, handler_name::text AS handler, ' +
    "attempts::text AS attempts, max_retries::text AS retries, coalesce(locked_by, '')::text AS holder",
);

/** The text of a cell, or `null`: postgres.js gives the raw bytes of the text, other drivers the string. */
export function text(cell: Cell | undefined): string | null {
  if (cell === null || cell === undefined) return null;
  if (typeof cell === 'string') return cell;
  return Buffer.from(cell.buffer, cell.byteOffset, cell.byteLength).toString('utf8');
}

/** The text of a cell that SQL never returns NULL for. */
export function textOf(cell: Cell | undefined, column: string): string {
  const value = text(cell);
  if (value === null) throw new BusError('STORE_FAILED', `the ${column} column came back NULL`);
  return value;
}

/** A number sent as text, or `null` for a NULL cell. */
export function intOrNull(cell: Cell | undefined, column: string): number | null {
  return cell === null || cell === undefined ? null : intOf(cell, column);
}

/** A number sent as text (`::text` of an integer). */
export function intOf(cell: Cell | undefined, column: string): number {
  const value = Number(textOf(cell, column));
  if (!Number.isFinite(value)) {
    throw new BusError('STORE_FAILED', `the ${column} column came back as ${text(cell)}, not a number`);
  }
  return value;
}

/** An instant sent as epoch milliseconds in text (see `epochMs`). */
export function dateOf(cell: Cell | undefined, column: string): Date {
  return new Date(intOf(cell, column));
}

/** An instant sent as epoch milliseconds in text, or `null` for a NULL cell. */
export function dateOrNull(cell: Cell | undefined, column: string): Date | null {
  return cell === null || cell === undefined ? null : dateOf(cell, column);
}

function jsonOf(cell: Cell | undefined): unknown {
  const value = text(cell);
  return value === null ? null : JSON.parse(value);
}

// A `bytea` column sent as `encode(…, 'hex')`: a plain `Uint8Array`, whatever the driver.
function bytesOf(cell: Cell | undefined): Uint8Array {
  const hex = cell !== null && cell !== undefined && typeof cell !== 'string' ? text(cell) : cell;
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) {
    throw new BusError('STORE_FAILED', 'the payload column did not come back as hex text', { value: hex });
  }
  const bytes = Buffer.from(hex, 'hex');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function storedFields(r: Row) {
  return {
    id: textOf(r[0], 'id'),
    queue: textOf(r[1], 'queue'),
    eventName: textOf(r[2], 'event_name'),
    handlerName: textOf(r[3], 'handler_name'),
    payload: bytesOf(r[4]),
    payloadJson: jsonOf(r[5]),
    attempts: intOf(r[6], 'attempts'),
    maxRetries: intOf(r[7], 'max_retries'),
    priority: intOf(r[8], 'priority'),
  };
}

/** A row read with `CLAIM_COLUMNS`. */
export function claimedEvent(r: Row): ClaimedEvent {
  return {
    id: textOf(r[0], 'id'),
    queue: textOf(r[1], 'queue'),
    eventName: textOf(r[2], 'event_name'),
    handlerName: textOf(r[3], 'handler_name'),
    payload: bytesOf(r[4]),
    attempts: intOf(r[5], 'attempts'),
    maxRetries: intOf(r[6], 'max_retries'),
    priority: intOf(r[7], 'priority'),
    createdAt: dateOf(r[8], 'created_at'),
    traceContext: text(r[9]),
    snoozes: intOf(r[10], 'snoozes'),
    partitionKey: text(r[11]),
  };
}

/** A row read with `EVENT_COLUMNS`. */
export function eventRow(r: Row): EventRow {
  return {
    ...storedFields(r),
    scheduledAt: dateOf(r[9], 'scheduled_at'),
    lockedUntil: dateOrNull(r[10], 'locked_until'),
    lockedBy: text(r[11]),
    lastError: text(r[12]),
    createdAt: dateOf(r[13], 'created_at'),
    traceContext: text(r[14]),
    snoozes: intOf(r[15], 'snoozes'),
    partitionKey: text(r[16]),
  };
}

/** A row read with `ARCHIVE_COLUMNS`. */
export function archivedEventRow(r: Row): ArchivedEventRow {
  return {
    ...storedFields(r),
    status: textOf(r[9], 'status') as ArchiveStatus,
    lastError: text(r[10]),
    createdAt: dateOf(r[11], 'created_at'),
    finishedAt: dateOf(r[12], 'finished_at'),
    traceContext: text(r[13]),
    partitionKey: text(r[14]),
  };
}

/** A row read with `EXPIRED_COLUMNS`. */
export function expiredEvent(r: Row): ExpiredEvent {
  return {
    id: textOf(r[0], 'id'),
    queue: textOf(r[1], 'queue'),
    eventName: textOf(r[2], 'event_name'),
    handlerName: textOf(r[3], 'handler_name'),
    attempts: intOf(r[4], 'attempts'),
    maxRetries: intOf(r[5], 'max_retries'),
    workerId: textOf(r[6], 'locked_by'),
  };
}

/** What `listPauses` reads of each row, for `pauseRow`. */
export const PAUSE_COLUMNS = sql.raw(
  `queue::text AS queue, handler_name::text AS handler, ${MS_OF('paused_at')} AS paused`,
);

/** A row read with `PAUSE_COLUMNS`: the stored `''` handler (the whole queue) is `null`. */
export function pauseRow(r: Row): PauseRow {
  const handlerName = textOf(r[1], 'handler_name');
  return {
    queue: textOf(r[0], 'queue'),
    handlerName: handlerName === '' ? null : handlerName,
    pausedAt: dateOf(r[2], 'paused_at'),
  };
}

/** What `listWorkers` reads of each row, for `workerRow`. */
export const WORKER_COLUMNS = sql.raw(
  `worker_id::text AS worker, queues::text AS queues, info::text AS info, ${MS_OF('started_at')} AS started, ` +
    `${MS_OF('last_seen_at')} AS seen`,
);

/** A row read with `WORKER_COLUMNS`; `queues` holds the JSON array `recordWorker` wrote. */
export function workerRow(r: Row): WorkerRow {
  const queues = textOf(r[1], 'queues');
  let parsed: unknown;
  try {
    parsed = JSON.parse(queues);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((q) => typeof q === 'string')) {
    throw new BusError('STORE_FAILED', 'the queues column of a worker row is not a JSON array of names', {
      value: queues,
    });
  }
  return {
    workerId: textOf(r[0], 'worker_id'),
    queues: parsed,
    info: textOf(r[2], 'info'),
    startedAt: dateOf(r[3], 'started_at'),
    lastSeenAt: dateOf(r[4], 'last_seen_at'),
  };
}

/** What `listLimits` reads of each row, for `limitsRow`. */
export const LIMITS_COLUMNS = sql.raw(
  'queue::text AS queue, concurrency::text AS c, key_concurrency::text AS kc, rate_limit::text AS r, ' +
    'rate_period_ms::text AS rp, key_rate_limit::text AS kr, key_rate_period_ms::text AS krp, ' +
    `fair::text AS fair, ${MS_OF('updated_at')} AS updated`,
);

/** A row read with `LIMITS_COLUMNS`. */
export function limitsRow(r: Row): LimitsRow {
  return {
    queue: textOf(r[0], 'queue'),
    concurrency: intOrNull(r[1], 'concurrency'),
    keyConcurrency: intOrNull(r[2], 'key_concurrency'),
    rateLimit: intOrNull(r[3], 'rate_limit'),
    ratePeriodMs: intOrNull(r[4], 'rate_period_ms'),
    keyRateLimit: intOrNull(r[5], 'key_rate_limit'),
    keyRatePeriodMs: intOrNull(r[6], 'key_rate_period_ms'),
    fair: textOf(r[7], 'fair') === 'true',
    updatedAt: dateOf(r[8], 'updated_at'),
  };
}
