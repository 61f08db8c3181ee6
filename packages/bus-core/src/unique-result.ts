import { BusError } from './errors.js';

/** One fanned-out row of a publish: its id (the holder's for a duplicate) and whether it was one. */
export interface PublishedRow {
  id: string;
  handlerName: string;
  /** The key was held already: nothing was inserted for this handler, `id` is the holder's row. */
  duplicate: boolean;
}

/** What `publishUnique` resolves with. */
export interface UniquePublishResult {
  /** The row ids, one per handler (for a duplicate, the existing row's). */
  ids: string[];
  /** Whether every handler's row was a duplicate (nothing was inserted). */
  duplicate: boolean;
  /** Each handler's row. */
  rows: PublishedRow[];
}

/**
 * The result object of one unique publish.
 *
 * @example
 * uniqueResultOf([{ id: '1', handlerName: 'h', duplicate: true }]).duplicate; // true
 */
export function uniqueResultOf(rows: PublishedRow[]): UniquePublishResult {
  return {
    ids: rows.map((r) => r.id),
    duplicate: rows.length > 0 && rows.every((r) => r.duplicate),
    rows,
  };
}

/**
 * Rejects with `DUPLICATE_PUBLISH` when any row was a duplicate (`onDuplicate: 'throw'`); the
 * rows that were new stay inserted (each handler's row is unique on its own).
 *
 * @example
 * throwOnDuplicate('order.charge', rows);
 */
export function throwOnDuplicate(eventName: string, rows: readonly PublishedRow[]): void {
  const duplicates = rows.filter((r) => r.duplicate);
  if (duplicates.length === 0) return;
  throw new BusError(
    'DUPLICATE_PUBLISH',
    `publishing ${eventName}: the unique key is held already by row ${duplicates[0]!.id} (handler ${duplicates[0]!.handlerName})`,
    { value: duplicates.map((d) => d.id) },
  );
}
