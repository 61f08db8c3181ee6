import { BusError, isBusError } from 'bus-core';

/** The fields of a mysql2 error that matter here. */
export interface MySqlErrorInfo {
  errno: number | undefined;
  code: string | undefined;
  message: string;
  error: unknown;
}

/** ER_LOCK_DEADLOCK: InnoDB rolled the whole transaction back; retrying it is safe. */
export const ER_LOCK_DEADLOCK = 1213;
/** ER_LOCK_WAIT_TIMEOUT: the statement was rolled back; rolling back and retrying is safe. */
export const ER_LOCK_WAIT_TIMEOUT = 1205;
/** ER_NET_PACKET_TOO_LARGE. */
export const ER_NET_PACKET_TOO_LARGE = 1153;
/** ER_WARN_ALLOWED_PACKET_OVERFLOWED (FROM_BASE64 result over max_allowed_packet). */
export const ER_WARN_ALLOWED_PACKET_OVERFLOWED = 1301;

/**
 * Finds the driver error under Drizzle's `DrizzleQueryError` wrapper (whose message repeats the
 * whole query and its parameters, megabytes for a large payload).
 */
export function mysqlErrorInfo(error: unknown): MySqlErrorInfo {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const e = current as { errno?: unknown; code?: unknown; message?: unknown; cause?: unknown };
    if (typeof e.errno === 'number' || (typeof e.code === 'string' && e.cause === undefined)) {
      return {
        errno: typeof e.errno === 'number' ? e.errno : undefined,
        code: typeof e.code === 'string' ? e.code : undefined,
        message: typeof e.message === 'string' ? e.message : String(current),
        error: current,
      };
    }
    if (e.cause === undefined) break;
    current = e.cause;
  }
  const message = error instanceof Error ? error.message.split('\nparams:', 1)[0]! : String(error);
  return { errno: undefined, code: undefined, message: message.slice(0, 2000), error };
}

/** Whether a failed transaction can simply be run again (deadlock, lock-wait timeout). */
export function isRetryable(error: unknown): boolean {
  const { errno } = mysqlErrorInfo(error);
  return errno === ER_LOCK_DEADLOCK || errno === ER_LOCK_WAIT_TIMEOUT;
}

const CONNECTION_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'ER_CONNECTION_KILLED',
  'ER_SERVER_SHUTDOWN',
]);
// 1053 server shutdown, 1927 connection killed (MariaDB), 2006 server gone, 2013 lost during query.
const CONNECTION_ERRNOS = new Set([1053, 1927, 2006, 2013]);

/** Whether the connection itself failed (killed, reset, closed) rather than the statement. */
export function isConnectionError(error: unknown): boolean {
  const { errno, code, message } = mysqlErrorInfo(error);
  return (
    (code !== undefined && CONNECTION_CODES.has(code)) ||
    (errno !== undefined && CONNECTION_ERRNOS.has(errno)) ||
    /connection is in closed state|connection lost/i.test(message)
  );
}

/** Wraps a driver error as `STORE_FAILED` with a short message; bus errors pass through. */
export function storeError(
  operation: string,
  error: unknown,
  busCode: 'STORE_FAILED' | 'MIGRATION_FAILED' = 'STORE_FAILED',
): BusError {
  if (isBusError(error)) return error;
  const info = mysqlErrorInfo(error);
  const tag = [info.code, info.errno].filter((x) => x !== undefined).join(' ');
  return new BusError(busCode, `${operation} failed: ${info.message}${tag ? ` (${tag})` : ''}`, {
    cause: info.error,
  });
}

/** Waits a random 1-`cap` ms, growing with `attempt`, so colliding transactions drift apart. */
export function jitter(attempt: number): Promise<void> {
  const cap = Math.min(5 * 2 ** attempt, 250);
  return new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * cap));
}

const ID = /^(0|[1-9][0-9]{0,19})$/;
const MAX_ID = 18446744073709551615n;

/** Whether `id` can be a row id (an unsigned 64-bit decimal); others match no row. */
export function isRowId(id: unknown): id is string {
  return typeof id === 'string' && ID.test(id) && (id.length < 20 || BigInt(id) <= MAX_ID);
}

/** Parses a `DATETIME(6)` text value, which this package always writes in UTC. */
export function parseUtc(value: unknown): Date {
  if (value instanceof Date) return value;
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/.exec(String(value));
  if (!m) throw new BusError('STORE_FAILED', `unexpected DATETIME value from the database: ${String(value)}`);
  const ms = m[7] ? Math.floor(Number(m[7].padEnd(6, '0')) / 1000) : 0;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, ms));
}

/** Like `parseUtc`, keeping NULL. */
export function parseUtcOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : parseUtc(value);
}

/** Formats a Date as a UTC `DATETIME(6)` literal; the column's range is years 1000-9999. */
export function formatUtc(date: Date): string {
  const year = date.getUTCFullYear();
  if (Number.isNaN(date.getTime()) || year < 1000 || year > 9999) {
    throw new BusError(
      'INVALID_ARGUMENT',
      `runAt must be a date between the years 1000 and 9999 (got ${String(date)})`,
      {
        value: date,
      },
    );
  }
  return date.toISOString().slice(0, 23).replace('T', ' ');
}

/** A BLOB value from mysql2 (a Buffer) as a plain Uint8Array of its own. */
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

/** Formats a byte count for messages. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** The part of a mysql2 promise pool or connection the store reads rows through. */
interface Mysql2Client {
  query(options: Record<string, unknown>, values: unknown[]): Promise<[unknown, unknown]>;
}

interface DialectLike {
  sqlToQuery(query: SQLLike): { sql: string; params: unknown[] };
}

// drizzle-orm's SQL, kept structural so this file needs no drizzle import.
type SQLLike = object;

/** The mysql2 client (pool, or a transaction's connection) and dialect under a Drizzle database. */
export function mysql2Of(db: unknown): { client: Mysql2Client; dialect: DialectLike } | undefined {
  const client = (db as { session?: { client?: { query?: unknown } } } | null)?.session?.client;
  const dialect = (db as { dialect?: { sqlToQuery?: unknown } } | null)?.dialect;
  if (typeof client?.query !== 'function' || typeof dialect?.sqlToQuery !== 'function') return undefined;
  return { client: client as unknown as Mysql2Client, dialect: dialect as unknown as DialectLike };
}

/** The connection options of the mysql2 pool or connection under a Drizzle database. */
function mysql2Config(db: unknown): Record<string, unknown> | undefined {
  const client = (db as { session?: { client?: unknown } } | null)?.session?.client as
    | {
        pool?: { config?: { connectionConfig?: unknown } };
        connection?: { config?: unknown };
        config?: { connectionConfig?: unknown };
      }
    | undefined;
  const config =
    client?.pool?.config?.connectionConfig ?? client?.connection?.config ?? client?.config?.connectionConfig;
  return typeof config === 'object' && config !== null ? (config as Record<string, unknown>) : undefined;
}

/**
 * Refuses pool options the store cannot work through. Rows are read with per-statement options
 * (arrays, every value as raw bytes) that override `rowsAsArray`, `typeCast`, `dateStrings`,
 * `supportBigNumbers`/`bigNumberStrings`, `decimalNumbers`, `jsonStrings` and `timezone`, and
 * values always travel as an array, which `namedPlaceholders` leaves alone; but a custom
 * `queryFormat` rewrites every statement the store sends.
 */
export function assertUsablePool(db: unknown): void {
  const config = mysql2Config(db);
  if (typeof config?.queryFormat === 'function') {
    throw new BusError(
      'INVALID_CONFIG',
      'mysqlStore cannot use a mysql2 pool with a custom queryFormat (it rewrites the statements the store sends); give the store a pool without it',
      { value: 'queryFormat' },
    );
  }
}

/** A cell as the store reads it: text, or the raw bytes of a column named `payload`. */
export type Cell = string | Buffer | null;

// Every value as its raw bytes, whatever the pool's typeCast, date, number or JSON options say.
const RAW = (field: { buffer(): Buffer | null }) => field.buffer();

/**
 * Runs a SELECT (or a statement with RETURNING) and returns its rows by column alias: every value
 * as UTF-8 text except `payload`, which stays bytes. The statement's own options override the
 * pool's row options (see `assertUsablePool`).
 */
export async function selectRows(
  db: { execute(query: never): Promise<unknown> },
  query: SQLLike,
): Promise<Record<string, Cell>[]> {
  const mysql2 = mysql2Of(db);
  if (mysql2 === undefined) {
    throw new BusError(
      'INVALID_CONFIG',
      'mysqlStore needs a Drizzle database on mysql2 (drizzle-orm/mysql2)',
    );
  }
  const { sql, params } = mysql2.dialect.sqlToQuery(query);
  // Sent past Drizzle's session (whose typeCast and row handling are its own), so log it the way
  // Drizzle would: `drizzle(pool, { logger })` still shows every statement of the store.
  (
    db as { session?: { logger?: { logQuery?(sql: string, params: unknown[]): void } } }
  ).session?.logger?.logQuery?.(sql, params);
  const [rows, fields] = await mysql2.client.query(
    { sql, rowsAsArray: true, typeCast: RAW, nestTables: false, namedPlaceholders: false },
    params,
  );
  if (!Array.isArray(rows)) return [];
  const names = Array.isArray(fields) ? fields.map((f: { name?: unknown }) => String(f.name)) : [];
  return rows.map((row: (Buffer | null)[]) => {
    const out: Record<string, Cell> = {};
    for (let i = 0; i < names.length; i++) {
      const value = row[i] ?? null;
      const name = names[i]!;
      out[name] = value === null ? null : name === 'payload' ? value : value.toString('utf8');
    }
    return out;
  });
}
