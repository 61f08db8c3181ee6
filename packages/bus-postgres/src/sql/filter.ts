import type { ArchiveStatus, LiveState, RowFilter } from 'bus-core/driver';
import { type SQL, sql } from 'drizzle-orm';
import { plainTextArray, storableText } from '../encode.js';

/** Every filter field a list, `cancel` or `redrive` may set (the core has checked each value). */
export interface RowConditions extends RowFilter {
  ids?: string[];
  /** Keyset paging: ids after this one in list order (see `newestFirst`). */
  afterId?: string;
  newestFirst?: boolean;
  /** Live rows only: judged against the database's now. */
  state?: LiveState;
  /** Archived rows only: one status. */
  status?: ArchiveStatus;
  /** Archived rows only: any of these statuses. */
  statuses?: readonly ArchiveStatus[];
}

// The live states as conditions on the hot table, the same as countByQueue counts them.
const STATES: Record<LiveState, SQL> = {
  available: sql.raw('locked_until IS NULL AND scheduled_at <= now()'),
  scheduled: sql.raw('locked_until IS NULL AND scheduled_at > now()'),
  running: sql.raw('locked_until IS NOT NULL'),
};

/**
 * The WHERE clause of the filters that are set, so each combination is its own statement text: a
 * prepared statement's generic plan then still probes the primary key for `ids` and `afterId` (a
 * `$1 IS NULL OR …` condition would scan the whole table). `errorContains` is plain text through
 * `strpos` (no LIKE pattern, so `%`, `_` and `\` need no escaping), case-sensitive; stored error
 * text has U+FFFD where the error had U+0000, and so does the filter.
 *
 * @example
 * sql`SELECT id FROM t WHERE ${rowConditions({ queue: 'email', state: 'available' })}`;
 */
export function rowConditions(filter: RowConditions): SQL {
  const conditions: SQL[] = [sql`TRUE`];
  if (filter.queue !== undefined) conditions.push(sql`queue = ${filter.queue}::text`);
  if (filter.eventName !== undefined) conditions.push(sql`event_name = ${filter.eventName}::text`);
  if (filter.handlerName !== undefined) conditions.push(sql`handler_name = ${filter.handlerName}::text`);
  if (filter.errorContains !== undefined) {
    conditions.push(sql`strpos(last_error, ${storableText(filter.errorContains)}::text) > 0`);
  }
  if (filter.ids !== undefined) conditions.push(sql`id = ANY(${plainTextArray(filter.ids)}::int8[])`);
  if (filter.afterId !== undefined) {
    conditions.push(
      filter.newestFirst === true ? sql`id < ${filter.afterId}::int8` : sql`id > ${filter.afterId}::int8`,
    );
  }
  if (filter.state !== undefined) conditions.push(STATES[filter.state]);
  const statuses = filter.statuses ?? (filter.status === undefined ? undefined : [filter.status]);
  if (statuses !== undefined) {
    conditions.push(
      statuses.length === 1
        ? sql`status = ${statuses[0]}::text`
        : sql`status = ANY(${plainTextArray(statuses)}::text[])`,
    );
    // Spelled out so the planner may use the partial index of failed and cancelled rows.
    if (!statuses.includes('completed')) conditions.push(sql.raw(`status <> 'completed'`));
  }
  return sql.join(conditions, sql.raw(' AND '));
}

/** The list order: ascending ids, or descending for `newestFirst`. */
export function idOrder(newestFirst: boolean | undefined): SQL {
  // `t.id`: a bare `id` would name a select list's `id::text` and sort as text.
  return sql.raw(newestFirst === true ? 't.id DESC' : 't.id');
}
