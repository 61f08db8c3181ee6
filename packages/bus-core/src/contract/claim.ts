/** Params of `QueueStore.claim`. */
export interface ClaimParams {
  /** One queue name. */
  queue: string;
  /** Rows to take at most: an integer from 1 to `maxBatch`. */
  limit: number;
  /** The claiming worker, recorded as the lease holder (1 to `maxWorkerIdLength` characters). */
  workerId: string;
  /** The lease: an integer number of ms (at least 1; the core passes 1000 or more) after the database's now. */
  leaseMs: number;
  /**
   * Only rows whose handler is one of these (1 to `maxHandlers` names, each once): the handlers
   * registered in this process for `queue`, minus the paused ones. A row of any other handler is
   * left alone (not leased, attempts unchanged), so an old process in a rolling deploy never
   * burns the attempts of a handler it does not know.
   */
  handlers: string[];
  /**
   * The core saw flow-control limits stored for `queue` (it re-reads them about every second).
   * When set, the store claims through `claimWithLimits` (bus-core/driver) in one transaction,
   * which honours the limits row as it is at the claim, and claims as usual when the queue has
   * no row. When absent, the store claims as usual without reading the limits.
   */
  limited?: boolean;
  /**
   * With `limited`: ids of rows leased to `workerId` whose handlers have ended and whose outcomes
   * are being written (0 to `maxIds` valid row ids). The limited claim does not count them as
   * running, so a worker's next claim need not wait for its last settle.
   */
  finished?: string[];
}

/** A row handed to a worker by `claim`. */
export interface ClaimedEvent {
  id: string;
  queue: string;
  eventName: string;
  handlerName: string;
  payload: Uint8Array;
  /** Attempts including this one (the claim counted it): the fence of every later call. */
  attempts: number;
  maxRetries: number;
  priority: number;
  /** Times the row was snoozed (`SnoozeOutcome`) since it was published or redriven. */
  snoozes: number;
  createdAt: Date;
  /** The row's `trace_context` as inserted; `null` or absent when none. */
  traceContext?: string | null;
  /** The row's partition key (docs/flow-control.md); `null` or absent when it has none. */
  partitionKey?: string | null;
}
