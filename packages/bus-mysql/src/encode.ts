import { BusError } from 'bus-core';
import { isRowId } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';

// Literals that no `sql_mode` can misread (backslash escaping, as mysql2 does, breaks under
// NO_BACKSLASH_ESCAPES): a string without backslashes or NULs only needs its quotes doubled;
// anything else travels as its UTF-8 bytes in base64.
const PLAIN_TEXT = /^[^\\\0]*$/;

/** A string as an SQL literal that means the same under any `sql_mode`. */
export function quote(value: string): string {
  if (PLAIN_TEXT.test(value)) return `'${value.replaceAll("'", "''")}'`;
  return `CONVERT(FROM_BASE64('${Buffer.from(value, 'utf8').toString('base64')}') USING utf8mb4)`;
}

/**
 * A string as an SQL fragment holding its literal (see `quote`). The store sends no string
 * parameters: mysql2 escapes them with backslashes, which mean nothing under NO_BACKSLASH_ESCAPES.
 */
export function text(value: string): SQL {
  return sql.raw(quote(String(value)));
}

/** Bytes `quote(value)` takes in the statement, at most (to size statements under max_allowed_packet). */
export function quotedBytes(value: string): number {
  return 2 * Buffer.byteLength(value, 'utf8') + 40;
}

const HEX_LIMIT = 64 * 1024;

/**
 * Bytes as an SQL literal: hex for small payloads (no function call on the server), base64 for
 * large ones (4/3 of the size where hex doubles it, so a 10 MB payload fits MariaDB's default
 * 16 MiB max_allowed_packet).
 */
export function bytesLiteral(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.byteLength <= HEX_LIMIT) return `X'${buffer.toString('hex')}'`;
  return `FROM_BASE64('${buffer.toString('base64')}')`;
}

/** A Date as the text of a UTC `DATETIME(6)` value (the core passes years 1970 to 9999). */
export function formatUtc(date: Date): string {
  return date.toISOString().slice(0, 23).replace('T', ' ');
}

/**
 * A number inlined as a literal (LIMIT takes no expression; integers from the core). `Number`
 * keeps anything else from becoming SQL text: it can only fail the statement.
 */
export function intLiteral(value: number): SQL {
  return sql.raw(String(Number(value)));
}

/**
 * Ids inlined as integer literals: exact for 64-bit values (a bound string would compare as a
 * double) and readable in the query log. The core passes row ids only; anything else would be
 * SQL injection here, so it is refused with `INVALID_ARGUMENT` before a statement is sent.
 */
export function idList(ids: Iterable<string>): SQL {
  const list = [...ids];
  for (const id of list) {
    if (!isRowId(id)) {
      throw new BusError('INVALID_ARGUMENT', `not a row id: ${JSON.stringify(id)?.slice(0, 60)}`, {
        value: id,
      });
    }
  }
  return sql.raw(list.join(', '));
}

/** A duration in ms as the microseconds of `INTERVAL … MICROSECOND`. */
export function micros(ms: number): number {
  return Math.round(ms * 1000);
}
