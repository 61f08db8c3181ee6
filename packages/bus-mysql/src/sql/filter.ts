import type { ArchiveStatus, LiveState, RowFilter } from 'bus-core/driver';
import { type SQL, type SQLWrapper, sql } from 'drizzle-orm';
import type { MySqlTx } from '../client.js';
import { idList, intLiteral, text } from '../encode.js';
import { select } from '../run.js';

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

/**
 * Locks up to `limit` rows of `table` matching `conditions` (and `ids` when given), lowest id
 * first, skipping rows another transaction holds (a later call takes them); returns their ids.
 * The target of cancel and redrive.
 *
 * Not one `FOR UPDATE SKIP LOCKED` scan over the filter: MariaDB keeps every row a locking read
 * passes over locked until commit, and the optimizer reads a filter such as `state: 'available'`
 * through locked_until_idx (every unleased row of every queue), or sorts every match, so the scan
 * would lock far more than it takes (the claims of every queue found nothing while a cancel ran).
 * Instead, without ids: a plain read (no locks) of the next candidate ids in id order, then a
 * locking read of just those by primary key with the conditions checked again, repeated after the
 * last candidate until `limit` rows are locked or the candidates run out, so a short result still
 * means "nothing more matches" (the core's loop stops on it).
 */
export async function lockMatching(
  db: MySqlTx,
  table: SQLWrapper,
  conditions: readonly SQL[],
  ids: readonly string[] | undefined,
  limit: number,
): Promise<string[]> {
  // By primary key only: with a state condition beside the ids the optimizer may otherwise pick
  // locked_until_idx, and lock what that walks.
  const lock = async (batch: readonly string[]) =>
    (
      await select(
        db,
        sql`SELECT CAST(id AS CHAR) AS row_id FROM ${table} FORCE INDEX (PRIMARY)
            ${whereAll([...conditions, sql`id IN (${idList(batch)})`])}
            ORDER BY id LIMIT ${intLiteral(limit)}
            FOR UPDATE SKIP LOCKED`,
      )
    ).map((r) => String(r.row_id));
  if (ids !== undefined) return lock(ids);
  const locked: string[] = [];
  let after: string | undefined;
  while (locked.length < limit) {
    const want = limit - locked.length;
    const candidates = await select(
      db,
      sql`SELECT CAST(id AS CHAR) AS row_id FROM ${table}
          ${whereAll(after === undefined ? conditions : [...conditions, sql`id > ${idList([after])}`])}
          ORDER BY id LIMIT ${intLiteral(want)}`,
    );
    if (candidates.length === 0) break;
    const batch = candidates.map((r) => String(r.row_id));
    locked.push(...(await lock(batch)));
    after = batch[batch.length - 1];
    if (candidates.length < want) break;
  }
  return locked;
}
