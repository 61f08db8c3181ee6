import type { ArchivedEventRow, EventRow } from 'bus-core';

/**
 * A live row as the in-memory store keeps it: the JSON column as text (parsed afresh on every
 * read, as a database hands out new objects) and the payload as the store's own copy.
 */
export interface LiveRow extends Omit<EventRow, 'payloadJson' | 'traceContext'> {
  payloadJson: string | null;
  /** The `trace_context` column: the text inserted, exactly, or `null`. */
  traceContext: string | null;
}

/** An archived row as the in-memory store keeps it. */
export interface ArchivedRow extends Omit<ArchivedEventRow, 'payloadJson' | 'traceContext'> {
  payloadJson: string | null;
  /** Copied from the live row when it was archived. */
  traceContext: string | null;
}

/** The two tables of the in-memory store, keyed by id, and their id sequence. */
export class MemoryTables {
  readonly live = new Map<string, LiveRow>();
  readonly archive = new Map<string, ArchivedRow>();
  #next: bigint;

  constructor(firstId = 1n) {
    this.#next = firstId;
  }

  /** The next row id: ids are never reused, as a database sequence's are not. */
  nextId(): string {
    return String(this.#next++);
  }
}

/** Row ids in numeric order (ids are decimal text without leading zeros: length first). */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** A live row as `listEvents` returns it: copies, so a caller cannot change the table. */
export function eventRowOf(row: LiveRow): EventRow {
  return {
    ...row,
    payload: Uint8Array.from(row.payload),
    payloadJson: row.payloadJson === null ? null : JSON.parse(row.payloadJson),
  };
}

/** An archived row as `listArchive` returns it. */
export function archivedRowOf(row: ArchivedRow): ArchivedEventRow {
  return {
    ...row,
    payload: Uint8Array.from(row.payload),
    payloadJson: row.payloadJson === null ? null : JSON.parse(row.payloadJson),
  };
}
