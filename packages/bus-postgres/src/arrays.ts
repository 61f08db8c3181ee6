/**
 * PostgreSQL array literals built by bus itself, sent as one text parameter and cast in SQL
 * (`$1::int8[]`). Drivers serialize JS arrays only with type information: postgres.js needs the
 * array types it fetches on every new connection (`fetch_types`, which bus turns off on its client,
 * see `guardPostgresJs`), and without them it sends `1,2,3`, a malformed array literal. A string
 * travels the same way on every driver, and one parameter keeps the statement text independent
 * of the batch size, so prepared statements are reused.
 */

const SPECIAL = /["\\]/g;

/**
 * The array literal of `values`: numbers as they print (digits, sign, `.`, `e`, `NaN`,
 * `Infinity`: nothing that needs quoting), strings double-quoted with `"` and `\` escaped (so
 * commas, braces, whitespace, empty strings and the word NULL stay data), null as NULL.
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

/** The array literal of strings that need no escaping (hex text, decimal ids): no scan per element. */
export function plainTextArray(values: readonly string[]): string {
  return values.length === 0 ? '{}' : `{"${values.join('","')}"}`;
}
