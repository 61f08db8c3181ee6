import type { ArchiveStatus, LiveState, RowFilter } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import { text } from '../encode.js';

/** The filters the lists, cancel and redrive share: the live table's `state`, the archive's `status`. */
export interface RowConditions extends RowFilter {
  state?: LiveState;
  status?: ArchiveStatus;
}

/**
 * One SQL condition per given filter, judged with the database's now. Names compare as bytes
 * (`CAST(… AS BINARY)`, not the `BINARY` operator MySQL 8.0.27 deprecates): the name columns are utf8mb4_bin, a PAD SPACE collation for which `h` and `h `
 * are equal, and the contract matches names exactly. `errorContains` is a byte search (`INSTR`)
 * rather than a `LIKE` pattern, so `%`, `_` and `\` are plain text with nothing to escape, the
 * match is case-sensitive, and a UTF-8 needle can only match at a character boundary.
 */
export function filterConditions(filter: RowConditions): SQL[] {
  const conditions: SQL[] = [];
  // The queue column is varbinary already: compared exactly, and usable by the indexes.
  if (filter.queue !== undefined) conditions.push(sql`queue = ${text(filter.queue)}`);
  if (filter.eventName !== undefined)
    conditions.push(sql`CAST(event_name AS BINARY) = ${text(filter.eventName)}`);
  if (filter.handlerName !== undefined)
    conditions.push(sql`CAST(handler_name AS BINARY) = ${text(filter.handlerName)}`);
  if (filter.errorContains !== undefined) {
    conditions.push(
      sql`INSTR(CAST(last_error AS BINARY), CAST(${text(filter.errorContains)} AS BINARY)) > 0`,
    );
  }
  if (filter.state === 'available') {
    conditions.push(sql`locked_until IS NULL AND scheduled_at <= UTC_TIMESTAMP(6)`);
  } else if (filter.state === 'scheduled') {
    conditions.push(sql`locked_until IS NULL AND scheduled_at > UTC_TIMESTAMP(6)`);
  } else if (filter.state === 'running') {
    conditions.push(sql`locked_until IS NOT NULL`);
  }
  if (filter.status !== undefined) conditions.push(sql`status = ${text(filter.status)}`);
  return conditions;
}

/** `WHERE a AND b …`, or nothing without conditions. */
export function whereAll(conditions: readonly SQL[]): SQL {
  return conditions.length === 0 ? sql`` : sql`WHERE ${sql.join([...conditions], sql` AND `)}`;
}
