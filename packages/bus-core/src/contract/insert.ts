import type { StoreTx } from './store.js';

/**
 * A row for `insert`, already fanned out (one row per handler of the event), encoded and
 * validated by the core.
 */
export interface NewEventRow {
  /** The handler's queue: 1 to `maxNameLength` characters. */
  queue: string;
  /** The event's name: 1 to `maxNameLength` characters. */
  eventName: string;
  /** The handler's name: 1 to `maxNameLength` characters. */
  handlerName: string;
  /** The msgpack-encoded payload. Rows of one event share one array: a store must not change it. */
  payload: Uint8Array;
  /** Retries allowed after the first attempt: an integer from 0 to 1000. */
  maxRetries: number;
  /** Lower runs first: an integer within a 32-bit signed range. */
  priority: number;
  /**
   * When the row becomes due. A number: that many ms after the database's now at insert (0: due
   * at once; an integer from 0 to `maxDelayMs`). A Date: that instant (between `minDueTime` and
   * `maxDueTime`), which may be in the past.
   */
  due: number | Date;
  /**
   * The publisher's trace context (W3C `traceparent`/`tracestate` as JSON text, at most
   * `maxTraceContextChars`, well-formed text without U+0000: the core writes JSON of W3C header
   * values), written to the row's `trace_context` column; absent or `null` when no span was
   * active. Stored as given: the core validates it when it reads it back.
   */
  traceContext?: string | null;
  /**
   * The row's partition key for flow control (docs/flow-control.md): 1 to `maxPartitionKeyChars`
   * characters of well-formed text without U+0000; absent or `null` when it has none. Kept with
   * the row through retries, the archive and redrive.
   */
  partitionKey?: string | null;
}

/** Params of `QueueStore.insert`. */
export interface InsertParams<TTx = StoreTx> {
  /** At least one row; any number (a store splits a batch its database cannot take in one statement). */
  rows: NewEventRow[];
  /** The caller's transaction: the rows commit or roll back with it. */
  tx?: TTx;
}
