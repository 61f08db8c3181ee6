import { sql } from 'drizzle-orm';

// PostgreSQL array literals built by bus itself, sent as one text parameter and cast in SQL
// (`$1::int8[]`). Drivers serialize JS arrays only with type information: postgres.js needs the
// array types it fetches on every new connection (`fetch_types`, which bus turns off on its
// client, see `guardPostgresJs`), and without them it sends `1,2,3`, a malformed array literal.
// A string travels the same way on every driver, and one parameter keeps the statement text
// independent of the batch size, so prepared statements are reused.

const SPECIAL = /["\\]/g;

/**
 * The array literal of `values`: numbers as they print (digits, sign, `.`, `e`, `NaN`,
 * `Infinity`: nothing that needs quoting), strings double-quoted with `"` and `\` escaped (so
 * commas, braces, whitespace, empty strings and the word NULL stay data), null as NULL.
 *
 * @example
 * pgArray(['a', null, 'b"c']); // '{"a",NULL,"b\\"c"}'
 */
export function pgArray(values: readonly (string | number | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const value = values[i];
    if (value === null || value === undefined) out += 'NULL';
    else if (typeof value === 'number') out += String(value);
    else out += `"${value.replace(SPECIAL, '\\$&')}"`;
  }
  return `${out}}`;
}

/**
 * The array literal of strings that need no escaping (hex text, decimal ids, kinds): no scan per
 * element.
 *
 * @example
 * plainTextArray(['1', '2']); // '{"1","2"}'
 */
export function plainTextArray(values: readonly string[]): string {
  return values.length === 0 ? '{}' : `{"${values.join('","')}"}`;
}

/**
 * Text as a PostgreSQL `text` value can hold it: U+0000 (which no PostgreSQL text can contain,
 * and which a handler's error message may) becomes U+FFFD, so a settle never fails on it.
 *
 * @example
 * storableText('a\u0000b'); // 'a\uFFFDb'
 */
export function storableText(value: string): string {
  return value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
}

/**
 * The hex text of bytes, as `decode(…, 'hex')` reads it back into `bytea`.
 *
 * @example
 * hexOf(new Uint8Array([1, 255])); // '01ff'
 */
export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** `n * MS` is n milliseconds as an interval: durations in params become the database's time. */
export const MS = sql.raw(`interval '1 millisecond'`);
