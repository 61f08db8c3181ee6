import type { ArchivedEventRow, EventRow } from 'bus-core';
import type { LiveState, PauseRow, RowFilter, StoredLimits, WorkerRow } from 'bus-core/driver';

/**
 * A live row as the in-memory store keeps it: the JSON column as text (parsed afresh on every
 * read, as a database hands out new objects) and the payload as the store's own copy.
 */
export interface LiveRow extends Omit<EventRow, 'payloadJson' | 'traceContext' | 'partitionKey'> {
  payloadJson: string | null;
  /** The `trace_context` column: the text inserted, exactly, or `null`. */
  traceContext: string | null;
  /** The `partition_key` column: the key inserted, or `null`. */
  partitionKey: string | null;
}

/** An archived row as the in-memory store keeps it. */
export interface ArchivedRow extends Omit<ArchivedEventRow, 'payloadJson' | 'traceContext' | 'partitionKey'> {
  payloadJson: string | null;
  /** Copied from the live row when it was archived. */
  traceContext: string | null;
  /** Copied from the live row when it was archived. */
  partitionKey: string | null;
}

/** A row of the limits table: a queue's flow-control limits, its key cursor and signature. */
export interface LimitsEntry extends StoredLimits {
  queue: string;
  /** The key the next round-robin claim starts after (`null`: from the first key). */
  keyCursor: string | null;
  /** The signature of the configuration the limits came from (`null`: written without one). */
  signature: string | null;
  updatedAt: Date;
}

/** Starts a limited claim recorded: `n` rows of partition key `key` (`null`: none) at `at` (clock ms). */
export interface StartEntry {
  key: string | null;
  at: number;
  n: number;
}

/** The tables of the in-memory store, keyed by id (pauses by queue and handler), and their id sequence. */
export class MemoryTables {
  readonly live = new Map<string, LiveRow>();
  readonly archive = new Map<string, ArchivedRow>();
  /** Keyed by `pauseKey`. */
  readonly pauses = new Map<string, PauseRow>();
  readonly workers = new Map<string, WorkerRow>();
  /** The limits table, by queue. */
  readonly limits = new Map<string, LimitsEntry>();
  /** The starts table: each queue's recorded starts, oldest first. */
  readonly starts = new Map<string, StartEntry[]>();
  /**
   * Per queue, the end of the last limited claim begun: the next one waits for it, as a claim
   * waits for the lock on the queue's limits row.
   */
  readonly limitedClaims = new Map<string, Promise<void>>();
  /**
   * Row ids (live or archived) an open transaction's cancel, redrive or run-now has taken, and
   * by which transaction: another call skips them, as `SKIP LOCKED` skips locked rows.
   */
  readonly locks = new Map<string, { tx: { readonly open: boolean }; gone: boolean }>();
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

/** The key of a pause: the queue, and the handler (`''`: the whole queue, as the SQL tables store it). */
export function pauseKey(queue: string, handlerName: string | null | undefined): string {
  return `${queue}\u0000${handlerName ?? ''}`;
}

/** A live row's state at `now`: leased rows run, whether or not the lease has ended. */
export function liveStateOf(row: LiveRow, now: Date): LiveState {
  if (row.lockedUntil !== null) return 'running';
  return row.scheduledAt <= now ? 'available' : 'scheduled';
}

/** Whether a row matches every given field of a row filter (`errorContains` as plain, case-sensitive text). */
export function matchesFilter(
  row: { queue: string; eventName: string; handlerName: string; lastError: string | null },
  filter: RowFilter,
): boolean {
  return (
    (filter.queue === undefined || row.queue === filter.queue) &&
    (filter.eventName === undefined || row.eventName === filter.eventName) &&
    (filter.handlerName === undefined || row.handlerName === filter.handlerName) &&
    (filter.errorContains === undefined || row.lastError?.includes(filter.errorContains) === true)
  );
}
